//! Rules that need only the sum of the clients' vectors, so they can run under secure
//! aggregation (the server learns the sum and nothing else).
//!
//! A rule has a [`SumForm`] when its aggregate is a function of `sum_i clip(x_i)` (each client
//! clipping its own update before it is summed) plus, for adaptive clipping, the number of
//! clients whose update was within the clip (summed the same way, as one more coordinate).
//! FedAvg (uniform weights), norm bounding with a fixed bound and DP-FedAvg have one; every
//! rule that looks at individual updates (order statistics, distances, similarities, norms
//! relative to each other, a root update) does not, and
//! [`Aggregator::sum_form`](crate::Aggregator::sum_form) returns `None` for it.

use crate::error::Result;
use crate::rules::RoundState;
use crate::updates::Round;

/// The rule's computation split between clients (clip) and server (finish on the sum).
pub trait SumForm: Send + Sync {
    /// The norm every client clips its own update to before it is summed (`None`: sent as is).
    fn client_clip(&self, state: &RoundState) -> Option<f64>;
    /// The aggregate from the sum of the `contributors` clients' clipped updates (`sum`, f64)
    /// and how many of them were within the clip (`within_clip`, as summed). `planned` is the
    /// round's sampled participant count (dropouts make `contributors < planned`); `seed` the
    /// round's seed for any noise.
    fn finish(
        &self,
        sum: &[f64],
        within_clip: f64,
        contributors: usize,
        planned: usize,
        seed: u64,
        state: &mut RoundState,
    ) -> Result<Vec<f32>>;
}

/// Every client's update clipped to `clip` (if any), summed in f64 in client order, and the
/// count of clients whose norm was at most `clip`: what the server would learn under secure
/// aggregation (before quantisation), computed in the clear.
pub fn clipped_sum(round: &Round<'_>, clip: Option<f64>) -> (Vec<f64>, f64, Vec<f64>) {
    let u = round.updates();
    let mut sum = vec![0.0f64; u.d()];
    let mut within = 0.0;
    let mut factors = Vec::with_capacity(u.n());
    for i in 0..u.n() {
        let row = u.row(i);
        let factor = clip_factor(row, clip);
        if factor >= 1.0 {
            within += 1.0;
        }
        for (s, x) in sum.iter_mut().zip(row) {
            *s += *x as f64 * factor;
        }
        factors.push(factor);
    }
    (sum, within, factors)
}

/// `min(1, clip / ||x||)` (1 without a clip or for a zero vector).
pub fn clip_factor(x: &[f32], clip: Option<f64>) -> f64 {
    let Some(c) = clip else { return 1.0 };
    let norm = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    if norm > c {
        c / norm
    } else {
        1.0
    }
}
