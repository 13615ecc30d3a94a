//! Who shares secrets with whom: the complete graph (SecAgg, Bonawitz et al. 2017) or the
//! sparse random k-regular Harary graph of SecAgg+ (Bell et al. 2020).

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Every client's neighbours, ascending. In the complete graph a client's neighbours are all
/// the others. `Harary(k)` (SecAgg+, Bell, Bonawitz, Gascón, Lepoint, Raykova 2020, "Secure
/// Single-Server Aggregation with (Poly)Logarithmic Overhead", Section 3): the clients are
/// placed on a ring in a seeded random order and each is joined to the `k / 2` nearest on
/// either side, so every client has exactly `k` neighbours (`k` even, `k < n`); the server,
/// which picks the order, must do so before learning anything, as here from the round's seed.
///
/// ```
/// use mithridate_secagg::graph::neighbours;
/// let g = neighbours(6, Some(2), 7);
/// assert!(g.iter().all(|nb| nb.len() == 2));
/// // Symmetric: j is i's neighbour iff i is j's.
/// for (i, nb) in g.iter().enumerate() {
///     for &j in nb {
///         assert!(g[j].contains(&i));
///     }
/// }
/// assert!(neighbours(4, None, 0).iter().all(|nb| nb.len() == 3));
/// ```
pub fn neighbours(n: usize, k: Option<usize>, seed: u64) -> Vec<Vec<usize>> {
    match k {
        Some(k) if k < n.saturating_sub(1) => {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            let mut out = vec![Vec::with_capacity(k); n];
            for (pos, &client) in order.iter().enumerate() {
                for step in 1..=k / 2 {
                    out[client].push(order[(pos + step) % n]);
                    out[client].push(order[(pos + n - step) % n]);
                }
            }
            for nb in &mut out {
                nb.sort_unstable();
                nb.dedup();
            }
            out
        }
        _ => (0..n)
            .map(|i| (0..n).filter(|&j| j != i).collect())
            .collect(),
    }
}
