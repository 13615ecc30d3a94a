//! One round of the protocol between `n` simulated clients and the server, with dropouts,
//! counting every byte sent and the time each side computes.

use crate::crypto::{agree, expand, keystream_xor, KeyPair};
use crate::field::{self, CHUNKS, ELEMENT_BYTES};
use crate::graph::neighbours;
use crate::{SecAgg, SecAggError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use std::time::Instant;

/// Bytes of a client id on the wire.
const ID_BYTES: usize = 4;
/// Bytes of one encrypted share message's payload: the two secrets' shares.
const SHARE_PAYLOAD: usize = 2 * CHUNKS * ELEMENT_BYTES;

/// Communication and computation of one round. Client figures are means over the clients
/// that took part in the step (`client_sent_bytes` over every client that started).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    pub clients: usize,
    pub dropped: usize,
    /// Neighbours per client (`n - 1` for the complete graph).
    pub degree: usize,
    /// Shares needed to reconstruct a client's secret.
    pub threshold: usize,
    pub client_sent_bytes: f64,
    pub client_received_bytes: f64,
    pub server_sent_bytes: u64,
    pub server_received_bytes: u64,
    /// Mean compute seconds per client (key generation, sharing, masking, unmasking answers).
    pub client_seconds: f64,
    /// Server compute seconds (routing, reconstruction, removing masks).
    pub server_seconds: f64,
}

/// What the server ends with.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `sum_{u survived} x_u` in `Z_{2^32}`.
    pub sum: Vec<u32>,
    /// Clients whose input is in the sum, ascending.
    pub survivors: Vec<usize>,
    /// The masked inputs the server received, in `survivors` order: all it sees of any single
    /// client's vector.
    pub masked: Vec<Vec<u32>>,
    pub cost: Cost,
}

/// A client's secrets for the round.
struct ClientKeys {
    /// `c_u`: agrees the keys that encrypt shares.
    share_keys: KeyPair,
    /// `s_u`: agrees the pairwise mask seeds.
    mask_keys: KeyPair,
    /// `b_u`: seeds the self mask.
    self_seed: [u8; 32],
}

/// The shares client `v` holds of client `u`'s two secrets (`x = v + 1`).
#[derive(Clone, Copy)]
struct HeldShares {
    mask_key: [u64; CHUNKS],
    self_seed: [u64; CHUNKS],
}

impl SecAgg {
    /// Runs one round on the clients' encoded inputs (`inputs[u]`, all of length `d`);
    /// `dropped[u]` clients complete the key exchange and the sharing, then drop out before
    /// sending their masked input (the case that needs recovery). `round` names the round in
    /// errors; `seed` makes every key and the graph reproducible.
    ///
    /// Steps (Bonawitz et al. 2017, Figure 4, semi-honest server; SecAgg+ restricts every
    /// step to the graph's neighbours): 0. each client sends two X25519 public keys
    /// `(c_u, s_u)`, the server relays them to the neighbours; 1. each client draws a
    /// self-mask seed `b_u`, Shamir-shares `s_u`'s secret key and `b_u` t-of-k among its
    /// neighbours, each share encrypted under the key agreed from the `c` keys and relayed by
    /// the server; 2. each surviving client sends `y_u = x_u + PRG(b_u) + sum_{v in N(u), u < v}
    /// PRG(s_uv) - sum_{v in N(u), v < u} PRG(s_uv)` (mod 2^32), `s_uv` agreed from the `s`
    /// keys; 3. told who survived, each survivor answers, per neighbour, the share of `b_v`
    /// (survivor) or of `s_v`'s secret key (dropped) — never both; the server reconstructs
    /// from `t` shares, removes the self masks of survivors and the dangling pairwise masks
    /// of dropped clients, and is left with the sum.
    pub fn aggregate(
        &self,
        round: usize,
        inputs: &[Vec<u32>],
        dropped: &[bool],
        seed: u64,
    ) -> Result<Outcome, SecAggError> {
        let n = inputs.len();
        let protocol = |reason: String| SecAggError::Protocol { round, reason };
        if n < 2 {
            return Err(protocol(format!("needs at least 2 clients, got {n}")));
        }
        if dropped.len() != n {
            return Err(protocol(format!(
                "{} dropout flags for {n} clients",
                dropped.len()
            )));
        }
        let d = inputs[0].len();
        if let Some(u) = inputs.iter().position(|x| x.len() != d) {
            return Err(protocol(format!(
                "client {u}'s input has {} words, client 0's {d}",
                inputs[u].len()
            )));
        }
        let graph = neighbours(n, self.neighbours, stream_seed(seed, GRAPH_STREAM, 0));
        let degree = graph[0].len();
        let t = self.threshold_for(degree);
        let mut client_seconds = vec![0.0f64; n];
        let mut cost = Cost {
            clients: n,
            dropped: dropped.iter().filter(|x| **x).count(),
            degree,
            threshold: t,
            ..Cost::default()
        };
        let mut client_sent = vec![0usize; n];
        let mut client_received = vec![0usize; n];

        // Step 0: keys.
        let keys: Vec<ClientKeys> = (0..n)
            .into_par_iter()
            .map(|u| {
                let mut rng = ChaCha20Rng::seed_from_u64(stream_seed(seed, KEY_STREAM, u));
                let share_keys = KeyPair::generate(&mut rng);
                let mask_keys = KeyPair::generate(&mut rng);
                let mut self_seed = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rng, &mut self_seed);
                ClientKeys {
                    share_keys,
                    mask_keys,
                    self_seed,
                }
            })
            .collect();
        for u in 0..n {
            client_sent[u] += ID_BYTES + 64;
            client_received[u] += graph[u].len() * (ID_BYTES + 64);
        }

        // Step 1: Shamir shares of (s_u secret key, b_u), encrypted to each neighbour.
        let start = Instant::now();
        let ciphertexts: Vec<Vec<(usize, Vec<u8>)>> = (0..n)
            .into_par_iter()
            .map(|u| {
                let mut rng = ChaCha20Rng::seed_from_u64(stream_seed(seed, SHARE_STREAM, u));
                let xs: Vec<u64> = graph[u].iter().map(|&v| v as u64 + 1).collect();
                let mut per_chunk_mask = Vec::with_capacity(CHUNKS);
                let mut per_chunk_seed = Vec::with_capacity(CHUNKS);
                let mask_elements = field::to_elements(&keys[u].mask_keys.secret);
                let seed_elements = field::to_elements(&keys[u].self_seed);
                for c in 0..CHUNKS {
                    per_chunk_mask.push(field::share(mask_elements[c], t, &xs, &mut rng));
                    per_chunk_seed.push(field::share(seed_elements[c], t, &xs, &mut rng));
                }
                graph[u]
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let mut bytes = Vec::with_capacity(SHARE_PAYLOAD);
                        for chunk in &per_chunk_mask {
                            bytes.extend(chunk[i].to_le_bytes());
                        }
                        for chunk in &per_chunk_seed {
                            bytes.extend(chunk[i].to_le_bytes());
                        }
                        let key = agree(&keys[u].share_keys, &keys[v].share_keys.public, b"share")
                            .ok_or_else(|| {
                                protocol(format!("client {v}'s share key is of low order"))
                            })?;
                        keystream_xor(&key, u as u32, v as u32, &mut bytes);
                        Ok((v, bytes))
                    })
                    .collect::<Result<Vec<_>, SecAggError>>()
            })
            .collect::<Result<_, _>>()?;
        let sharing = start.elapsed().as_secs_f64() / n as f64;
        // The server relays; each recipient decrypts what it holds.
        let mut held: Vec<Vec<Option<HeldShares>>> = vec![vec![None; n]; n];
        for (u, messages) in ciphertexts.into_iter().enumerate() {
            client_seconds[u] += sharing;
            for (v, mut bytes) in messages {
                client_sent[u] += 2 * ID_BYTES + bytes.len();
                client_received[v] += 2 * ID_BYTES + bytes.len();
                let start = Instant::now();
                let key = agree(&keys[v].share_keys, &keys[u].share_keys.public, b"share")
                    .ok_or_else(|| protocol(format!("client {u}'s share key is of low order")))?;
                keystream_xor(&key, u as u32, v as u32, &mut bytes);
                let word = |k: usize| {
                    u64::from_le_bytes(bytes[k * 8..k * 8 + 8].try_into().expect("8 bytes"))
                };
                let mut shares = HeldShares {
                    mask_key: [0; CHUNKS],
                    self_seed: [0; CHUNKS],
                };
                for c in 0..CHUNKS {
                    shares.mask_key[c] = word(c);
                    shares.self_seed[c] = word(CHUNKS + c);
                }
                held[v][u] = Some(shares);
                client_seconds[v] += start.elapsed().as_secs_f64();
            }
        }

        // Step 2: masked inputs from the survivors.
        let survivors: Vec<usize> = (0..n).filter(|&u| !dropped[u]).collect();
        let masked: Vec<(Vec<u32>, f64)> = survivors
            .par_iter()
            .map(|&u| {
                let start = Instant::now();
                let mut y = inputs[u].clone();
                add_assign(&mut y, &expand(&keys[u].self_seed, d));
                for &v in &graph[u] {
                    let s_uv = agree(&keys[u].mask_keys, &keys[v].mask_keys.public, b"mask")
                        .ok_or_else(|| {
                            protocol(format!("client {v}'s mask key is of low order"))
                        })?;
                    let mask = expand(&s_uv, d);
                    if u < v {
                        add_assign(&mut y, &mask);
                    } else {
                        sub_assign(&mut y, &mask);
                    }
                }
                Ok((y, start.elapsed().as_secs_f64()))
            })
            .collect::<Result<_, SecAggError>>()?;
        for (&u, (_, secs)) in survivors.iter().zip(&masked) {
            client_seconds[u] += secs;
            client_sent[u] += ID_BYTES + 4 * d;
            client_received[u] += ID_BYTES * survivors.len();
        }
        let masked: Vec<Vec<u32>> = masked.into_iter().map(|(y, _)| y).collect();

        // Step 3: unmasking. Survivors answer per neighbour; the server reconstructs.
        let alive = |v: usize| !dropped[v];
        for &u in &survivors {
            client_sent[u] += graph[u].len() * (ID_BYTES + CHUNKS * ELEMENT_BYTES);
        }
        let server_start = Instant::now();
        let mut sum = vec![0u32; d];
        for y in &masked {
            add_assign(&mut sum, y);
        }
        let collect = |v: usize, what: &'static str| -> Result<[u8; 32], SecAggError> {
            let answers: Vec<usize> = graph[v].iter().copied().filter(|&w| alive(w)).collect();
            if answers.len() < t {
                return Err(SecAggError::TooManyDropouts {
                    round,
                    client: v,
                    secret: what,
                    got: answers.len(),
                    threshold: t,
                    degree,
                    dropped: cost.dropped,
                    clients: n,
                });
            }
            let mut elements = [0u64; CHUNKS];
            for (c, e) in elements.iter_mut().enumerate() {
                let points: Vec<(u64, u64)> = answers[..t]
                    .iter()
                    .map(|&w| {
                        let s = held[w][v].expect("every neighbour received its shares");
                        let y = if what == SELF_SEED {
                            s.self_seed[c]
                        } else {
                            s.mask_key[c]
                        };
                        (w as u64 + 1, y)
                    })
                    .collect();
                *e = field::reconstruct(&points);
            }
            field::from_elements(&elements)
                .ok_or_else(|| protocol(format!("client {v}'s {what} did not reconstruct")))
        };
        let self_seeds: Vec<[u8; 32]> = survivors
            .iter()
            .map(|&u| collect(u, SELF_SEED))
            .collect::<Result<_, _>>()?;
        let self_masks: Vec<Vec<u32>> = self_seeds.par_iter().map(|b| expand(b, d)).collect();
        for m in &self_masks {
            sub_assign(&mut sum, m);
        }
        for v in (0..n).filter(|&v| dropped[v]) {
            let secret = collect(v, MASK_KEY)?;
            let recovered = KeyPair::from_secret(secret);
            if recovered.public != keys[v].mask_keys.public {
                return Err(protocol(format!(
                    "client {v}'s reconstructed mask key does not match its public key"
                )));
            }
            let dangling: Vec<(usize, Vec<u32>)> = graph[v]
                .par_iter()
                .filter(|&&u| alive(u))
                .map(|&u| {
                    let s_uv =
                        agree(&recovered, &keys[u].mask_keys.public, b"mask").ok_or_else(|| {
                            protocol(format!("client {u}'s mask key is of low order"))
                        })?;
                    Ok((u, expand(&s_uv, d)))
                })
                .collect::<Result<_, SecAggError>>()?;
            for (u, mask) in dangling {
                // u added +mask if u < v, -mask otherwise: undo it.
                if u < v {
                    sub_assign(&mut sum, &mask);
                } else {
                    add_assign(&mut sum, &mask);
                }
            }
        }
        cost.server_seconds = server_start.elapsed().as_secs_f64();
        let total_sent: usize = client_sent.iter().sum();
        let total_received: usize = client_received.iter().sum();
        cost.server_received_bytes = total_sent as u64;
        cost.server_sent_bytes = total_received as u64;
        cost.client_sent_bytes = total_sent as f64 / n as f64;
        cost.client_received_bytes = total_received as f64 / n as f64;
        cost.client_seconds = client_seconds.iter().sum::<f64>() / n as f64;
        Ok(Outcome {
            sum,
            survivors,
            masked,
            cost,
        })
    }
}

const SELF_SEED: &str = "self-mask seed";
const MASK_KEY: &str = "mask key";
/// Seed tweaks of the graph, key and sharing streams.
const GRAPH_STREAM: u64 = 1;
const KEY_STREAM: u64 = 2;
const SHARE_STREAM: u64 = 3;

/// An independent seed per (round seed, stream, client): SplitMix64's finaliser over each.
fn stream_seed(seed: u64, stream: u64, client: usize) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(mix(mix(seed) ^ stream.wrapping_add(0x9e37_79b9_7f4a_7c15)) ^ client as u64)
}

fn add_assign(acc: &mut [u32], x: &[u32]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a = a.wrapping_add(*b);
    }
}

fn sub_assign(acc: &mut [u32], x: &[u32]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a = a.wrapping_sub(*b);
    }
}
