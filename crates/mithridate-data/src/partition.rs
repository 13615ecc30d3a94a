//! Seeded partitioners that split one dataset among federated clients.
//!
//! Every scheme assigns every row to exactly one client and leaves no client empty; each
//! client's rows come back in ascending order. The same `(labels, clients, scheme, seed)`
//! always gives the same partition (ChaCha8 RNG).

use crate::{DataError, Result};
use mithridate_core::ParamGuard;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

/// How rows are distributed among clients.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum Partition {
    /// Uniformly random, near-equal sizes (sizes differ by at most one).
    Iid,
    /// Dirichlet label skew after Hsu, Qi & Brown (2019), "Measuring the Effects of
    /// Non-Identical Data Distribution for Federated Visual Classification", in the per-class
    /// form used by most FL benchmarks (e.g. Li et al. 2022, NIID-Bench): for each class `c`,
    /// proportions `p_c ~ Dir(alpha * 1_clients)`, and client `k` receives the rows of class
    /// `c` (shuffled) between cut points `round(n_c * sum_{j<k} p_{c,j})` and
    /// `round(n_c * sum_{j<=k} p_{c,j})`. Small `alpha` (0.1) is highly skewed, large (100)
    /// is close to IID. Client sizes are not controlled, as in the original.
    Dirichlet { alpha: f64 },
    /// Pathological non-IID shards of McMahan et al. (2017), "Communication-Efficient
    /// Learning of Deep Networks from Decentralized Data": rows sorted by label are cut into
    /// `clients * per_client` equal contiguous shards, dealt out at random, `per_client` each,
    /// so each client sees only about `per_client` classes.
    Shards { per_client: usize },
}

impl std::str::FromStr for Partition {
    type Err = DataError;

    /// Parses `iid`, `dirichlet:ALPHA` (ALPHA > 0) or `shards:PER_CLIENT` (>= 1).
    fn from_str(s: &str) -> Result<Partition> {
        let bad = |why: &str| {
            DataError::invalid(format!(
                "invalid partition '{s}': {why} (expected iid, dirichlet:ALPHA or shards:N)"
            ))
        };
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let partition = match (kind, arg) {
            ("iid", None) => Partition::Iid,
            ("dirichlet", Some(a)) => Partition::Dirichlet {
                alpha: a.parse().map_err(|_| bad("ALPHA is not a number"))?,
            },
            ("shards", Some(a)) => Partition::Shards {
                per_client: a.parse().map_err(|_| bad("N is not a whole number"))?,
            },
            _ => return Err(bad("unknown scheme")),
        };
        partition.check()
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partition::Iid => write!(f, "iid"),
            Partition::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Partition::Shards { per_client } => write!(f, "shards:{per_client}"),
        }
    }
}

/// A scheme's own parameter is checked once (`"dirichlet:0".parse()` is an error);
/// `partition` re-checks a hand-built value.
///
/// ```
/// use mithridate_core::ParamGuard;
/// use mithridate_data::partition::Partition;
/// assert!(Partition::Dirichlet { alpha: 0.5 }.check().is_ok());
/// assert!(Partition::Shards { per_client: 0 }.check().is_err());
/// ```
impl ParamGuard for Partition {
    type Checked = Partition;
    type Error = DataError;
    /// Dirichlet's `alpha` must be finite and `> 0`; shards per client at least 1.
    fn check_ref(&self) -> Result<()> {
        match *self {
            Partition::Dirichlet { alpha } if !(alpha.is_finite() && alpha > 0.0) => {
                Err(DataError::invalid(format!(
                    "Dirichlet alpha must be finite and > 0, got {alpha}"
                )))
            }
            Partition::Shards { per_client: 0 } => {
                Err(DataError::invalid("shards per client must be at least 1"))
            }
            _ => Ok(()),
        }
    }
    fn build(self) -> Partition {
        self
    }
}

/// Dirichlet draws per class before falling back to the fix-up that moves single rows into
/// empty clients.
const DIRICHLET_ATTEMPTS: usize = 100;

/// Splits the rows `0..labels.len()` among `clients` clients by `scheme`, seeded.
/// Returns one ascending row list per client; every row appears exactly once and no client
/// is empty. Errors for `clients == 0`, more clients than rows, labels `>= num_classes`,
/// `alpha <= 0`, `per_client == 0`, or more shards than rows.
///
/// Dirichlet partitions are re-drawn (up to 100 times) until no client is empty; if that
/// still fails (tiny `alpha`, many clients), each empty client receives one row taken from
/// the currently largest client, so the label skew is preserved except for those rows.
///
/// ```
/// use mithridate_data::partition::{partition, Partition};
/// let labels: Vec<u32> = (0..100).map(|i| (i % 10) as u32).collect();
/// let parts = partition(&labels, 10, 4, &"dirichlet:0.5".parse().unwrap(), 7).unwrap();
/// let mut all: Vec<usize> = parts.concat();
/// all.sort();
/// assert_eq!(all, (0..100).collect::<Vec<_>>());
/// assert!(parts.iter().all(|p| !p.is_empty()));
/// ```
pub fn partition(
    labels: &[u32],
    num_classes: usize,
    clients: usize,
    scheme: &Partition,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    scheme.check_ref()?;
    let n = labels.len();
    if clients == 0 {
        return Err(DataError::invalid(
            "the number of clients must be at least 1",
        ));
    }
    if clients > n {
        return Err(DataError::invalid(format!(
            "{clients} clients but only {n} samples: every client needs at least one"
        )));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= num_classes) {
        return Err(DataError::invalid(format!(
            "label {bad} is not below {num_classes} classes"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = match *scheme {
        Partition::Iid => iid(n, clients, &mut rng),
        Partition::Dirichlet { alpha } => dirichlet(labels, num_classes, clients, alpha, &mut rng)?,
        Partition::Shards { per_client } => shards(labels, clients, per_client, &mut rng)?,
    };
    for part in &mut parts {
        part.sort_unstable();
    }
    Ok(parts)
}

/// Cuts `0..n` into `parts` contiguous ranges whose sizes differ by at most one.
fn even_bounds(n: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..parts).map(move |i| i * n / parts..(i + 1) * n / parts)
}

fn iid(n: usize, clients: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(rng);
    even_bounds(n, clients).map(|r| rows[r].to_vec()).collect()
}

/// One draw from `Dir(alpha * 1_k)`: normalised independent `Gamma(alpha, 1)` draws. When
/// every draw underflows to zero (tiny alpha), the limit is a one-hot vector on a uniformly
/// chosen client, which is what is returned.
fn dirichlet_draw(gamma: &Gamma<f64>, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let draws: Vec<f64> = (0..k).map(|_| gamma.sample(rng)).collect();
    let sum: f64 = draws.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        draws.into_iter().map(|g| g / sum).collect()
    } else {
        let mut one_hot = vec![0.0; k];
        one_hot[rng.random_range(0..k)] = 1.0;
        one_hot
    }
}

fn dirichlet(
    labels: &[u32],
    num_classes: usize,
    clients: usize,
    alpha: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<usize>>> {
    let gamma = Gamma::new(alpha, 1.0)
        .map_err(|e| DataError::invalid(format!("Dirichlet alpha {alpha}: {e}")))?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (row, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(row);
    }
    let mut parts = Vec::new();
    for _ in 0..DIRICHLET_ATTEMPTS {
        parts = vec![Vec::new(); clients];
        for rows in &by_class {
            if rows.is_empty() {
                continue;
            }
            let mut rows = rows.clone();
            rows.shuffle(rng);
            let p = dirichlet_draw(&gamma, clients, rng);
            // Cut points at round(cumulative share * n_c); the last one is exactly n_c.
            let mut start = 0;
            let mut cumulative = 0.0;
            for (client, share) in p.iter().enumerate() {
                cumulative += share;
                let end = if client + 1 == clients {
                    rows.len()
                } else {
                    ((cumulative * rows.len() as f64).round() as usize).clamp(start, rows.len())
                };
                parts[client].extend_from_slice(&rows[start..end]);
                start = end;
            }
        }
        if parts.iter().all(|p| !p.is_empty()) {
            return Ok(parts);
        }
    }
    // Fix-up: give each empty client one row from the currently largest client.
    for empty in 0..clients {
        if parts[empty].is_empty() {
            let largest = (0..clients)
                .max_by_key(|&c| (parts[c].len(), std::cmp::Reverse(c)))
                .unwrap_or(0);
            if let Some(row) = parts[largest].pop() {
                parts[empty].push(row);
            }
        }
    }
    Ok(parts)
}

fn shards(
    labels: &[u32],
    clients: usize,
    per_client: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<usize>>> {
    let n = labels.len();
    let num_shards = clients
        .checked_mul(per_client)
        .filter(|&s| s <= n)
        .ok_or_else(|| {
            DataError::invalid(format!(
                "{clients} clients x {per_client} shards is more shards than the {n} samples"
            ))
        })?;
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by_key(|&r| (labels[r], r));
    let shard_rows: Vec<std::ops::Range<usize>> = even_bounds(n, num_shards).collect();
    let mut order: Vec<usize> = (0..num_shards).collect();
    order.shuffle(rng);
    Ok(order
        .chunks(per_client)
        .map(|shard_ids| {
            shard_ids
                .iter()
                .flat_map(|&s| sorted[shard_rows[s].clone()].iter().copied())
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(classes: u32, per_class: usize) -> Vec<u32> {
        (0..classes as usize * per_class)
            .map(|i| (i % classes as usize) as u32)
            .collect()
    }

    fn assert_exact_cover(parts: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every row exactly once");
        assert!(parts.iter().all(|p| !p.is_empty()), "no empty client");
        assert!(parts.iter().all(|p| p.windows(2).all(|w| w[0] < w[1])));
    }

    fn distinct_labels(labels: &[u32], part: &[usize]) -> usize {
        let mut l: Vec<u32> = part.iter().map(|&r| labels[r]).collect();
        l.sort_unstable();
        l.dedup();
        l.len()
    }

    #[test]
    fn every_scheme_covers_every_row_once_and_is_deterministic() {
        let labels = balanced(10, 50);
        for scheme in [
            "iid",
            "dirichlet:0.05",
            "dirichlet:0.5",
            "dirichlet:100",
            "shards:2",
            "shards:1",
        ] {
            let scheme: Partition = scheme.parse().unwrap();
            for clients in [1, 7, 20, 100] {
                let a = partition(&labels, 10, clients, &scheme, 3).unwrap();
                assert_eq!(a.len(), clients);
                assert_exact_cover(&a, labels.len());
                assert_eq!(a, partition(&labels, 10, clients, &scheme, 3).unwrap());
            }
        }
    }

    #[test]
    fn iid_sizes_differ_by_at_most_one() {
        let parts = partition(&balanced(3, 11), 3, 4, &Partition::Iid, 0).unwrap();
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }

    #[test]
    fn dirichlet_alpha_controls_label_skew() {
        let labels = balanced(10, 200);
        let mean_classes = |alpha: f64| {
            let parts = partition(&labels, 10, 10, &Partition::Dirichlet { alpha }, 1).unwrap();
            parts
                .iter()
                .map(|p| distinct_labels(&labels, p))
                .sum::<usize>() as f64
                / 10.0
        };
        // Near-IID: every client sees (almost) every class; strongly skewed: few classes.
        assert!(mean_classes(1000.0) > 9.5);
        assert!(mean_classes(0.05) < 4.0);
    }

    #[test]
    fn dirichlet_fix_up_fills_empty_clients() {
        // 20 rows of one class, 20 clients, tiny alpha: draws nearly always one-hot.
        let labels = vec![0u32; 20];
        let parts = partition(&labels, 1, 20, &Partition::Dirichlet { alpha: 1e-4 }, 5).unwrap();
        assert_exact_cover(&parts, 20);
    }

    #[test]
    fn shards_limit_classes_per_client() {
        let labels = balanced(10, 20); // 200 rows
        let parts = partition(&labels, 10, 10, &Partition::Shards { per_client: 2 }, 4).unwrap();
        // 20 shards of 10 rows, each shard a single class: at most 2 classes per client.
        for p in &parts {
            assert_eq!(p.len(), 20);
            assert!(distinct_labels(&labels, p) <= 2);
        }
    }

    #[test]
    fn rejects_impossible_requests() {
        let labels = balanced(2, 5);
        let err = |clients, scheme: Partition| {
            partition(&labels, 2, clients, &scheme, 0)
                .unwrap_err()
                .to_string()
        };
        assert!(err(0, Partition::Iid).contains("at least 1"));
        assert!(err(11, Partition::Iid).contains("only 10 samples"));
        assert!(err(2, Partition::Dirichlet { alpha: 0.0 }).contains("alpha"));
        assert!(err(2, Partition::Dirichlet { alpha: f64::NAN }).contains("alpha"));
        assert!(err(2, Partition::Shards { per_client: 0 }).contains("at least 1"));
        assert!(err(6, Partition::Shards { per_client: 2 }).contains("more shards"));
        assert!(partition(&[0, 3], 2, 1, &Partition::Iid, 0)
            .unwrap_err()
            .to_string()
            .contains("label 3"));
        for bad in [
            "",
            "iid:2",
            "dirichlet",
            "dirichlet:x",
            "dirichlet:-1",
            "shards:0",
            "shards:1.5",
            "zipf:2",
        ] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        assert_eq!(
            "dirichlet:0.5".parse::<Partition>().unwrap().to_string(),
            "dirichlet:0.5"
        );
    }
}
