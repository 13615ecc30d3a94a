//! The cohesion screen: do the labels the deployed model contradicts in one class share a
//! perturbation?
//!
//! Why: a dirty-label backdoor's poisons are inputs of many classes carrying one trigger and
//! the attacker's label. The deployed model, trained before they arrived, places each in its
//! true class, so the confident-learning screen ([`crate::screen`]) contradicts them; but at
//! 0.5% of a batch they are about as many as the natural noisy labels of their class, and the
//! count test cannot tell them apart. What sets them apart even when few is that they share
//! the trigger. Once what their predicted class explains is removed, their residuals point
//! the same way; noisy labels' residuals are independent draws of natural variation. That
//! poisons leave a common direction is the observation behind spectral signatures (Tran, Li &
//! Madry, NeurIPS 2018); here it is tested in input space on the handful of samples the count
//! screen already suspects, so it has power at a few poisons.
//!
//! Statistic, for class `c` with suspects `S` (samples labelled `c` that the deployed model
//! places in another class, `m = |S| >= min_suspects`, at most `max_suspects` of them drawn at
//! random):
//!
//! - `mu_j`: the mean input of the batch's samples labelled and predicted `j` (the agreed);
//! - `s`: each dimension's pooled within-class standard deviation over the agreed, floored at
//!   `spread_floor` times its root mean square. Dividing by it makes a pattern in a region
//!   clean inputs leave alone (an image's border) count for what it is: rare;
//! - `P`: the projection onto the orthogonal complement of `span{mu_1 / s, .., mu_K / s}`
//!   (what tells classes apart on average is left out);
//! - `u_i = P(x_i / s - mu_{yhat_i} / s)`, normalised to length 1, `yhat_i` the model's class;
//! - `T = lambda_max(G)`, the largest eigenvalue of the suspects' Gram matrix `G = [<u_i,
//!   u_i'>]`. A group of `g` suspects whose directions have pairwise cosine `rho` gives `T ~
//!   1 + (g - 1) rho` whatever the other suspects do, so a few poisons are not diluted by the
//!   class's natural errors as a mean would dilute them.
//!
//! Null: the suspects are clean samples of their predicted classes with wrong labels. Each
//! draw replaces every suspect by a distinct random agreed sample of its predicted class (from
//! at most `pool_per_class` per class); `p = (1 + #{T* >= T}) / (N + 1)` over `N = 2 / limit`
//! draws (stopping once `p` cannot reach `limit`; the null mean is over the first 2,000). Natural errors are less typical than agreed
//! samples and share a little more than the null expects (on clean MNIST streams `p` reached
//! 5e-5 for a clean class with `T` 1.5 above its null mean), so the class alarms only when
//! `p < limit` **and** `T` exceeds the null mean by at least `min_excess`: a group worth that
//! many perfectly aligned samples. A group whose direction many samples the model keeps in
//! the class share as well is a style of the class, not a trigger, and does not alarm
//! (`Alignment::is_class_style`; clean Fashion-MNIST's T-shirts reached an excess of 5).
//!
//! Naming: an alarmed class's suspects are named by the screen; so are the samples the model
//! keeps in the class whose residual direction lies far out along the group's (poisons the
//! deployed model already places in the attacker's class).
//!
//! Assumptions and tolerance: the trigger adds, stamps or blends one pattern onto every poison
//! (patches, blended images or noise, periodic signals). Sample-specific triggers (WaNet's
//! warps, a patch at a random position) share no direction and are not caught here; neither
//! is a trigger drawn in the region where the classes' own strokes vary most, which the
//! spread divides down. Cost: `O(n K d)` for the spreads and residuals, `O(r^2 d)` for the
//! Gram matrix of the `r <= K pool_per_class + suspects` rows used, and per tested class
//! `O(N m^2)` power-iteration steps (most classes stop after a few draws).
//!
//! ```
//! use mithridate_continual::cohesion::{cohesion, CohesionParams};
//! // 4 classes x 60 samples in 64 dimensions: class j is a bump at coordinate j plus noise.
//! // Six samples of classes 1-3 carry the same trigger (coordinates 60-63 set to 3) and
//! // label 0; the model places them in their true class.
//! let (k, d, per) = (4usize, 64usize, 60usize);
//! let mut x = Vec::new();
//! let (mut labels, mut predicted, mut suspect) = (Vec::new(), Vec::new(), Vec::new());
//! let mut state = 7u64;
//! let mut noise = || {
//!     state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!     ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
//! };
//! for j in 0..k {
//!     for i in 0..per {
//!         let poison = j > 0 && i < 2;
//!         let mut row: Vec<f32> = (0..d).map(|_| noise()).collect();
//!         row[j] += 4.0;
//!         if poison {
//!             row[60..64].iter_mut().for_each(|v| *v = 3.0);
//!         }
//!         x.extend(row);
//!         labels.push(if poison { 0 } else { j as u32 });
//!         predicted.push(j as u32);
//!         suspect.push(poison);
//!     }
//! }
//! let params = CohesionParams::default();
//! let tests = cohesion(&x, d, &labels, &predicted, &suspect, k, 1e-3, &params, 1);
//! assert_eq!(tests.len(), 1);
//! assert_eq!((tests[0].class, tests[0].suspects), (0, 6));
//! assert!(tests[0].alarm && tests[0].cohesion > 3.0);
//! ```

use crate::stats::round9;
use alignment::alignment;
use faer::Mat;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The cohesion screen's sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohesionParams {
    /// Fewest suspects in a class for it to be tested (pairs need at least 2; 3 keeps one
    /// coincidental pair from deciding).
    pub min_suspects: usize,
    /// Most suspects a test uses (drawn at random beyond): bounds the `O(N m^2)` draws.
    pub max_suspects: usize,
    /// Agreed samples per class the null draws from.
    pub pool_per_class: usize,
    /// Least excess of the statistic over its null mean for an alarm: a group worth this many
    /// perfectly aligned samples beyond chance (3: at most 1.5 was seen on natural errors of
    /// 50 clean MNIST batches, 5.4-7.8 on 0.5% BadNets and blended MNIST poisons; see the
    /// README).
    pub min_excess: f64,
    /// Floor of a dimension's within-class spread, as a share of its root mean square over
    /// dimensions (residuals are divided by the spread).
    pub spread_floor: f64,
}

impl Default for CohesionParams {
    fn default() -> Self {
        CohesionParams {
            min_suspects: 3,
            max_suspects: 64,
            pool_per_class: 256,
            spread_floor: 0.05,
            min_excess: 3.0,
        }
    }
}

/// Most suspect rows, and most pool rows, one screen puts in its Gram matrix (about 105 MB
/// with both kinds at their cap; ten classes get the default 256 pool rows each).
const MAX_ROWS: usize = 2560;

/// One class's cohesion test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCohesion {
    pub class: u32,
    /// Suspects tested.
    pub suspects: usize,
    /// The statistic `T`: the largest eigenvalue of their residual directions' Gram matrix.
    pub cohesion: f64,
    /// Mean of `T` over the null draws.
    pub null_mean: f64,
    pub p_value: f64,
    pub alarm: bool,
    /// Rows (of the screened batch) labelled `class` that the model keeps in it but that lie
    /// along the alarmed group's direction; empty unless `alarm`.
    #[serde(skip)]
    pub aligned: Vec<usize>,
}

/// Tests every class with at least `min_suspects` suspects; `x` is `n * d` row-major,
/// `suspect[i]` marks the contradicted samples, `limit` is the per-class alarm level.
#[allow(clippy::too_many_arguments)]
pub fn cohesion(
    x: &[f32],
    d: usize,
    labels: &[u32],
    predicted: &[u32],
    suspect: &[bool],
    k: usize,
    limit: f64,
    params: &CohesionParams,
    seed: u64,
) -> Vec<ClassCohesion> {
    let n = labels.len();
    let shapes_agree =
        d > 0 && n > 0 && x.len() == n * d && predicted.len() == n && suspect.len() == n;
    let classes_in_range = labels.iter().chain(predicted).all(|&c| (c as usize) < k);
    if !shapes_agree || !classes_in_range {
        return Vec::new();
    }
    // The Gram matrix holds every suspect and pool row: at most `MAX_ROWS` of each kind, so
    // its memory stays under 2 * MAX_ROWS^2 * 4 bytes whatever the number of classes.
    let max_suspects = params
        .max_suspects
        .min((MAX_ROWS / k).max(params.min_suspects));
    let pool_per_class = params.pool_per_class.min((MAX_ROWS / k).max(8));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let agreed = |i: usize| !suspect[i] && labels[i] == predicted[i];
    let means = class_means(x, d, k, predicted, &agreed);
    let scale = inverse_spread(x, d, predicted, &means, &agreed, params.spread_floor);
    let means: Vec<Option<Vec<f64>>> = means
        .into_iter()
        .map(|m| m.map(|m| m.iter().zip(&scale).map(|(v, s)| v * s).collect()))
        .collect();
    let basis = orthonormal_basis(&means, d);

    // Rows used: each tested class's suspects, then each class's pool of agreed samples.
    let mut tested: Vec<(u32, Vec<usize>)> = Vec::new();
    for c in 0..k as u32 {
        let mut rows: Vec<usize> = (0..n).filter(|&i| suspect[i] && labels[i] == c).collect();
        if rows.len() < params.min_suspects.max(2) {
            continue;
        }
        if rows.len() > max_suspects {
            let mut kept: Vec<usize> = sample(&mut rng, rows.len(), max_suspects).into_vec();
            kept.sort_unstable();
            rows = kept.into_iter().map(|r| rows[r]).collect();
        }
        tested.push((c, rows));
    }
    if tested.is_empty() {
        return Vec::new();
    }
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (j, pool) in pools.iter_mut().enumerate() {
        let all: Vec<usize> = (0..n)
            .filter(|&i| agreed(i) && predicted[i] as usize == j)
            .collect();
        *pool = if all.len() > pool_per_class {
            let mut kept: Vec<usize> = sample(&mut rng, all.len(), pool_per_class).into_vec();
            kept.sort_unstable();
            kept.into_iter().map(|r| all[r]).collect()
        } else {
            all
        };
    }
    let mut rows: Vec<usize> = tested.iter().flat_map(|(_, r)| r.iter().copied()).collect();
    let pool_start = rows.len();
    for pool in &pools {
        rows.extend(pool.iter().copied());
    }
    let residuals = Residuals {
        d,
        means,
        basis,
        scale,
    };
    let u = residuals.directions(x, &rows, predicted);
    let gram = &u * u.transpose();
    let pool_index: Vec<Vec<usize>> = {
        let mut at = pool_start;
        pools
            .iter()
            .map(|p| {
                let idx = (at..at + p.len()).collect();
                at += p.len();
                idx
            })
            .collect()
    };
    let draws = ((2.0 / limit).ceil() as usize).clamp(1000, 1_000_000);
    let mut at = 0;
    tested
        .into_iter()
        .map(|(class, members)| {
            let own: Vec<usize> = (at..at + members.len()).collect();
            at += members.len();
            let (observed, eigenvector) = top_eigen(&gram, &own);
            let mut need = vec![0usize; k];
            for &i in &members {
                need[predicted[i] as usize] += 1;
            }
            let feasible = need
                .iter()
                .zip(&pool_index)
                .all(|(&want, pool)| want <= pool.len());
            let (null_mean, p_value) = if feasible {
                null_p(&gram, &need, &pool_index, observed, draws, limit, &mut rng)
            } else {
                (f64::NAN, 1.0)
            };
            let mut alarm = p_value < limit && observed - null_mean >= params.min_excess;
            let mut aligned = Vec::new();
            if alarm {
                match alignment(
                    x,
                    class,
                    labels,
                    predicted,
                    &residuals,
                    &u,
                    &own,
                    &eigenvector,
                ) {
                    Some(found) if found.is_class_style() => alarm = false,
                    Some(found) => aligned = found.aligned_rows(),
                    None => {}
                }
            }
            ClassCohesion {
                class,
                suspects: members.len(),
                cohesion: round9(observed),
                null_mean: if null_mean.is_finite() {
                    round9(null_mean)
                } else {
                    0.0
                },
                p_value: round9(p_value),
                alarm,
                aligned,
            }
        })
        .collect()
}

/// Mean of the agreed samples of each predicted class (`None` for a class with none).
fn class_means(
    x: &[f32],
    d: usize,
    k: usize,
    predicted: &[u32],
    agreed: &dyn Fn(usize) -> bool,
) -> Vec<Option<Vec<f64>>> {
    let mut sums = vec![vec![0.0f64; d]; k];
    let mut counts = vec![0usize; k];
    for (i, row) in x.chunks_exact(d).enumerate() {
        let j = predicted[i] as usize;
        if j < k && agreed(i) {
            counts[j] += 1;
            sums[j]
                .iter_mut()
                .zip(row)
                .for_each(|(s, &v)| *s += f64::from(v));
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(mut s, c)| {
            (c > 0).then(|| {
                s.iter_mut().for_each(|v| *v /= c as f64);
                s
            })
        })
        .collect()
}

/// `1 / s_c` per input dimension, `s_c` the pooled within-class standard deviation of the
/// agreed samples (around their class's mean), floored at `floor` times its root mean square
/// over dimensions so that dimensions clean data never uses (an image's corners) get a large
/// but finite weight.
fn inverse_spread(
    x: &[f32],
    d: usize,
    predicted: &[u32],
    means: &[Option<Vec<f64>>],
    agreed: &dyn Fn(usize) -> bool,
    floor: f64,
) -> Vec<f64> {
    let mut variance = vec![0.0f64; d];
    let mut count = 0usize;
    for (i, row) in x.chunks_exact(d).enumerate() {
        let Some(Some(mean)) = means.get(predicted[i] as usize) else {
            continue;
        };
        if agreed(i) {
            count += 1;
            for ((v, &value), m) in variance.iter_mut().zip(row).zip(mean) {
                let r = f64::from(value) - m;
                *v += r * r;
            }
        }
    }
    let count = count.max(1) as f64;
    variance.iter_mut().for_each(|v| *v /= count);
    let rms = (variance.iter().sum::<f64>() / d as f64).sqrt();
    let least = (floor * rms).max(f64::MIN_POSITIVE);
    variance.iter().map(|v| 1.0 / v.sqrt().max(least)).collect()
}

/// Orthonormal basis of the class means' span (modified Gram-Schmidt; directions already
/// spanned to 1e-9 of their length are dropped).
fn orthonormal_basis(means: &[Option<Vec<f64>>], d: usize) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mean in means.iter().flatten() {
        let mut v = mean.clone();
        let length = norm(&v);
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, c)| a * c).sum();
            v.iter_mut().zip(b).for_each(|(a, c)| *a -= dot * c);
        }
        let left = norm(&v);
        if left > 1e-9 * length.max(f64::MIN_POSITIVE) && basis.len() < d {
            v.iter_mut().for_each(|a| *a /= left);
            basis.push(v);
        }
    }
    basis
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// What a residual direction is measured against: the whitened class means, an orthonormal
/// basis of their span and the per-dimension `1 / s`.
struct Residuals {
    d: usize,
    means: Vec<Option<Vec<f64>>>,
    basis: Vec<Vec<f64>>,
    scale: Vec<f64>,
}

impl Residuals {
    /// Unit residual directions `P(x_i / s - mu_{yhat_i} / s)` of `rows`, one per matrix row
    /// (a zero residual stays zero, so it is orthogonal to everything).
    pub(super) fn directions(&self, x: &[f32], rows: &[usize], predicted: &[u32]) -> Mat<f32> {
        let d = self.d;
        let mut u = Mat::<f32>::zeros(rows.len(), d);
        let mut r = vec![0.0f64; d];
        for (out, &i) in rows.iter().enumerate() {
            let row = &x[i * d..(i + 1) * d];
            let mean = self
                .means
                .get(predicted[i] as usize)
                .and_then(Option::as_ref);
            for (c, value) in r.iter_mut().enumerate() {
                *value = f64::from(row[c]) * self.scale[c] - mean.map_or(0.0, |m| m[c]);
            }
            for b in &self.basis {
                let dot: f64 = r.iter().zip(b).map(|(a, c)| a * c).sum();
                r.iter_mut().zip(b).for_each(|(a, c)| *a -= dot * c);
            }
            let length = norm(&r);
            if length > 0.0 {
                for (c, &value) in r.iter().enumerate() {
                    u[(out, c)] = (value / length) as f32;
                }
            }
        }
        u
    }
}

/// Largest eigenvalue of `gram` restricted to `members`, by power iteration.
fn top_eigenvalue(gram: &Mat<f32>, members: &[usize]) -> f64 {
    top_eigen(gram, members).0
}

/// Largest eigenvalue of `gram` restricted to `members` and its unit eigenvector.
fn top_eigen(gram: &Mat<f32>, members: &[usize]) -> (f64, Vec<f64>) {
    let m = members.len();
    let mut v = vec![1.0 / (m as f64).sqrt(); m];
    let mut w = vec![0.0f64; m];
    let mut lambda = 0.0;
    for _ in 0..100 {
        for (a, &i) in members.iter().enumerate() {
            w[a] = members
                .iter()
                .zip(&v)
                .map(|(&j, x)| f64::from(gram[(i, j)]) * x)
                .sum();
        }
        let length = norm(&w);
        if length == 0.0 {
            return (0.0, v);
        }
        let next: f64 = w.iter().zip(&v).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(&w).for_each(|(x, y)| *x = y / length);
        if (next - lambda).abs() <= 1e-9 * next.abs() {
            return (next, v);
        }
        lambda = next;
    }
    (lambda, v)
}

/// The null's mean (over the first `MEAN_DRAWS` draws) and the exceedance p-value of
/// `observed` over `draws` stratified draws (`need[j]` distinct rows from `pools[j]` each);
/// stops early once `p` cannot fall below `limit`. After the first `MEAN_DRAWS`, a draw whose
/// Gershgorin bound (the largest absolute row sum, never below the largest eigenvalue) is
/// under `observed` cannot exceed it and skips the power iteration: the exceedance count is
/// exact, and a strong group no longer costs `draws` eigenvalue computations.
fn null_p(
    gram: &Mat<f32>,
    need: &[usize],
    pools: &[Vec<usize>],
    observed: f64,
    draws: usize,
    limit: f64,
    rng: &mut impl Rng,
) -> (f64, f64) {
    let mut members = Vec::with_capacity(need.iter().sum());
    let (mut exceed, mut total, mut done) = (0usize, 0.0f64, 0usize);
    let enough = (limit * (draws + 1) as f64).ceil() as usize;
    while done < draws {
        members.clear();
        for (pool, &want) in pools.iter().zip(need) {
            if want > 0 {
                members.extend(sample(rng, pool.len(), want).into_iter().map(|r| pool[r]));
            }
        }
        let exceeds = if done < MEAN_DRAWS {
            let t = top_eigenvalue(gram, &members);
            total += t;
            t >= observed
        } else {
            gershgorin_bound(gram, &members) >= observed
                && top_eigenvalue(gram, &members) >= observed
        };
        done += 1;
        if exceeds {
            exceed += 1;
            if exceed >= enough {
                break;
            }
        }
    }
    (
        total / done.min(MEAN_DRAWS) as f64,
        (1 + exceed) as f64 / (done + 1) as f64,
    )
}

/// Draws the null mean is taken over.
const MEAN_DRAWS: usize = 2000;

/// The largest absolute row sum of `gram` over `members`: an upper bound on its largest
/// eigenvalue (Gershgorin's circle theorem).
fn gershgorin_bound(gram: &Mat<f32>, members: &[usize]) -> f64 {
    members
        .iter()
        .map(|&i| {
            members
                .iter()
                .map(|&j| f64::from(gram[(i, j)]).abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

mod alignment;
#[cfg(test)]
mod tests;
