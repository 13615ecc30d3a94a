//! FLAME-style clustering, clipping and noising.

use crate::error::AggregateError;
use crate::error::{check_finite_at_least_zero, Result};
use crate::kernels::{gram, median_f64, weighted_row_sum};
use crate::registry::{params, RuleBuilder, FILTERS_MODEL_POISONING};
use crate::rules::{add_gaussian_noise, honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `flame[:noise-factor=<lambda>]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "flame",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "majority core of the cosine single-linkage tree, median-norm clipping, Gaussian noise lambda S; noise-factor lambda (default 0.001)",
    paper: "Nguyen et al. 2022",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: FlameParams = params("flame", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`Flame`]; `.check()` validates them once. As JSON: `noise-factor`;
/// `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FlameParams {
    /// Byzantine clients to withstand (`n > 2f`).
    #[serde(skip)]
    pub byzantine: usize,
    /// Noise level `lambda`: the aggregate gets `N(0, (lambda S)^2)` per coordinate, `S` the
    /// clipping bound. The paper uses 0.001 for image classification, 0.01 for NLP.
    pub noise_factor: f64,
}

impl FlameParams {
    /// Defaults: the paper's image-classification noise level `lambda = 0.001`.
    pub fn new(byzantine: usize) -> Self {
        FlameParams {
            byzantine,
            noise_factor: 0.001,
        }
    }
}

impl Default for FlameParams {
    fn default() -> Self {
        FlameParams::new(0)
    }
}

impl ParamGuard for FlameParams {
    type Checked = Flame;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        check_finite_at_least_zero("noise_factor", self.noise_factor, false)
    }
    fn build(self) -> Flame {
        Flame { params: self }
    }
}

/// FLAME (Nguyen, Rieger, Chen, Yalame, Möllering, Fereidooni, Marchal, Miettinen, Mirhoseini,
/// Zeitouni, Koushanfar, Sadeghi, Schneider 2022, "FLAME: Taming Backdoors in Federated
/// Learning"), FLAME-style: the paper's three steps, with its HDBSCAN step made explicit.
///
/// 1. **Cluster.** Cosine distances `c_ij = 1 - cos(x_i, x_j)` between the updates (the paper
///    compares local models; their common part, the global model, cancels in updates). The
///    paper runs HDBSCAN with `min_cluster_size = n/2 + 1` and `min_samples = 1`; with those
///    settings the mutual-reachability distance is `c` itself, no split can leave two
///    clusters of the minimum size, and the single cluster is the majority core of the
///    single-linkage tree. Here the admitted set is exactly that core: the connected component
///    that first reaches `floor(n/2) + 1` members as the distance threshold rises (edges
///    added in order of `(c_ij, i, j)`, so ties are deterministic). Clients outside get
///    weight 0. (HDBSCAN's own labelling may admit a few more points of the core's fringe.)
/// 2. **Clip.** `S = median_i ||x_i||` over all `n` updates (the paper's median Euclidean
///    distance between local and global models); each admitted update is scaled by
///    `min(1, S / ||x_i||)`.
/// 3. **Average and noise.** `g = mean_{i in A} x_i min(1, S/||x_i||) + N(0, (lambda S)^2)`
///    per coordinate, drawn from ChaCha8 seeded with the round's seed.
///
/// Tolerance `n > 2f` (the honest majority must form the core and own the median norm).
/// Client weights are not used. `weights` are the linear coefficients
/// `min(1, S/||x_i||) / |A|` (0 outside `A`); `scores` are each client's single-linkage
/// distance to the admitted core (0 inside it; larger = more suspicious).
///
/// Cost: one `n x n` Gram matrix (GEMM, `O(n^2 d)`), `O(n^2 log n)` for the tree, one
/// weighted pass `O(nd)`.
///
/// ```
/// use mithridate_aggregate::{Aggregator, FlameParams, ParamGuard, Round, RoundState, Updates};
/// // Three similar updates and one boosted update pointing elsewhere.
/// let rows = [1.0, 0.1, 1.0, -0.1, 0.9, 0.0, -50.0, 40.0];
/// let u = Updates::new(&rows, 4, 2).unwrap();
/// let mut p = FlameParams::new(1);
/// p.noise_factor = 0.0;
/// let out = p.check().unwrap().aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert_eq!(out.selected, vec![true, true, true, false]);
/// assert!((out.aggregate[0] - (1.0 + 1.0 + 0.9) / 3.0).abs() < 1e-3);
/// ```
#[derive(Debug, Clone)]
pub struct Flame {
    params: FlameParams,
}

impl Aggregator for Flame {
    fn name(&self) -> &'static str {
        "flame"
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let n = u.n();
        self.check_clients(n)?;
        let g = gram(u);
        let norms: Vec<f64> = (0..n).map(|i| g[i * n + i].max(0.0).sqrt()).collect();
        let distance = |i: usize, j: usize| {
            if norms[i] == 0.0 || norms[j] == 0.0 {
                1.0 // no direction: as far as orthogonal
            } else {
                (1.0 - g[i * n + j] / (norms[i] * norms[j])).clamp(0.0, 2.0)
            }
        };
        let (admitted, scores) = majority_core(n, distance);
        let bound = median_f64(&norms);
        let size = admitted.iter().filter(|a| **a).count() as f64;
        let weights: Vec<f64> = (0..n)
            .map(|i| match admitted[i] {
                false => 0.0,
                true if norms[i] > bound => bound / norms[i] / size,
                true => 1.0 / size,
            })
            .collect();
        let mut aggregate = weighted_row_sum(u, &weights, None);
        let sigma = self.params.noise_factor * bound;
        add_gaussian_noise(&mut aggregate, sigma, round.seed(), "noise_factor")?;
        let mut out = Aggregation::from_weights(aggregate, weights, Some(scores));
        // An admitted zero update has weight 0 but was kept by the clustering.
        out.selected = admitted;
        Ok(out)
    }
}

/// The component of the single-linkage tree that first reaches `floor(n/2) + 1` members as the
/// threshold rises (Kruskal with union-find); per client, the threshold at which it joins that
/// component afterwards (0 for members), i.e. its single-linkage distance to the core.
fn majority_core(n: usize, distance: impl Fn(usize, usize) -> f64) -> (Vec<bool>, Vec<f64>) {
    let mut edges: Vec<(f64, usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| (distance(i, j), i, j))
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut parent: Vec<usize> = (0..n).collect();
    let mut size = vec![1usize; n];
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let need = n / 2 + 1;
    // A single client (need = 1) is its own core from the start.
    let mut core_root = (need == 1).then_some(0);
    let mut joined = vec![f64::INFINITY; n];
    for (c, i, j) in edges {
        let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
        if ri == rj {
            continue;
        }
        if let Some(root) = core_root {
            let root = find(&mut parent, root);
            if ri == root || rj == root {
                // A component merging into the core joins at this threshold.
                let other = if ri == root { rj } else { ri };
                for (k, slot) in joined.iter_mut().enumerate() {
                    if find(&mut parent, k) == other {
                        *slot = c;
                    }
                }
            }
        }
        let (big, small) = if size[ri] >= size[rj] {
            (ri, rj)
        } else {
            (rj, ri)
        };
        parent[small] = big;
        size[big] += size[small];
        if core_root.is_none() && size[big] >= need {
            core_root = Some(big);
        }
    }
    let root = core_root.map(|r| find(&mut parent, r));
    let members: Vec<bool> = match root {
        // The core as it was when it first reached the majority: clients that joined later
        // carry a finite joining threshold.
        Some(_) => joined.iter().map(|t| t.is_infinite()).collect(),
        None => vec![true; n],
    };
    let scores = joined
        .iter()
        .map(|t| if t.is_infinite() { 0.0 } else { *t })
        .collect();
    (members, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_is_the_first_majority_component() {
        // Points on a line: 0, 1, 2 close together, 3 and 4 far away (and 4 reaches the core
        // only through 3, so its single-linkage distance is the 2-3 gap).
        let x = [0.0f64, 0.1, 0.25, 5.0, 9.0];
        let (core, scores) = majority_core(5, |i, j| (x[i] - x[j]).abs());
        assert_eq!(core, vec![true, true, true, false, false]);
        assert_eq!(&scores[..3], &[0.0, 0.0, 0.0]);
        assert!((scores[3] - 4.75).abs() < 1e-12 && (scores[4] - 4.75).abs() < 1e-12);
    }

    #[test]
    fn single_client_is_its_own_core() {
        let (core, scores) = majority_core(1, |_, _| 0.0);
        assert_eq!((core, scores), (vec![true], vec![0.0]));
    }
}
