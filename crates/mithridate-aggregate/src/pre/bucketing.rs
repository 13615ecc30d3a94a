//! Bucketing (pre-aggregation).

use crate::error::{AggregateError, Result};
use crate::pre::{Mixed, PreAggregator};
use crate::registry::{params, PreBuilder, MITIGATES_MODEL_POISONING};
use crate::updates::Updates;
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

/// Registry entry: `bucketing[:s=2]`.
pub const ENTRY: Entry<PreBuilder> = Entry {
    name: "bucketing",
    role: Role::PreAggregator,
    modalities: &[],
    summary: "bucketing: average the updates in seeded random buckets of s (default s = 2) before the rule",
    paper: "Karimireddy, He, Jaggi 2022",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |_f, p| Ok(Box::new(params::<BucketingParams>("bucketing", p)?.check()?)),
};

/// Hyperparameters of [`Bucketing`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BucketingParams {
    /// Bucket size `s >= 1` (the paper uses 2; 1 is the identity up to a permutation).
    pub s: usize,
}

impl Default for BucketingParams {
    fn default() -> Self {
        BucketingParams { s: 2 }
    }
}

impl ParamGuard for BucketingParams {
    type Checked = Bucketing;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        if self.s == 0 {
            return Err(AggregateError::Param {
                name: "s",
                reason: "bucket size must be at least 1".into(),
            });
        }
        Ok(())
    }
    fn build(self) -> Bucketing {
        Bucketing { size: self.s }
    }
}

/// Bucketing (Karimireddy, He, Jaggi 2022, "Byzantine-Robust Learning on Heterogeneous
/// Datasets via Bucketing", ICLR).
///
/// Permute the `n` updates at random (ChaCha8 seeded by the round's seed, so the same seed
/// gives the same buckets), cut the permuted list into `ceil(n/s)` consecutive buckets of `s`
/// (the last may be smaller) and send each bucket's mean `y_k = (1/|B_k|) sum_{i in B_k} x_i`
/// (summed in f64) to the rule. Averaging shrinks the heterogeneity of honest updates by about
/// `s`, at the price that `f` Byzantine clients can spoil up to `f` of the `ceil(n/s)` buckets:
/// the rule after it must tolerate `f` among `ceil(n/s)` (checked by
/// [`PreAggregated`](crate::pre::PreAggregated)); the paper takes `s <= n / (2f)`.
///
/// ```
/// use mithridate_aggregate::pre::{bucketing::BucketingParams, PreAggregator};
/// use mithridate_aggregate::{ParamGuard, Updates};
/// let u = Updates::new(&[1.0, 2.0, 3.0, 10.0], 4, 1).unwrap();
/// let mixed = BucketingParams { s: 2 }.check().unwrap().apply(&u, 7).unwrap();
/// assert_eq!(mixed.m, 2);
/// // Whatever the permutation, the two bucket means sum to (1 + 2 + 3 + 10) / 2.
/// assert_eq!(mixed.rows.iter().sum::<f32>(), 8.0);
/// ```
#[derive(Debug, Clone)]
pub struct Bucketing {
    size: usize,
}

/// Mixed into the round's seed so the permutation is independent of rule noise.
const BUCKETING_STREAM: u64 = 0x6275_636b_6574_7321;

impl Bucketing {
    /// The buckets for `n` clients: client indices, in permuted order.
    pub fn buckets(&self, n: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ BUCKETING_STREAM);
        order.shuffle(&mut rng);
        order.chunks(self.size).map(<[usize]>::to_vec).collect()
    }
}

impl PreAggregator for Bucketing {
    fn name(&self) -> &'static str {
        "bucketing"
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n
    }
    fn tolerance(&self) -> &'static str {
        "the rule's bound for f among ceil(n/s) buckets"
    }
    fn outputs(&self, n: usize) -> usize {
        n.div_ceil(self.size)
    }
    fn apply(&self, u: &Updates<'_>, seed: u64) -> Result<Mixed> {
        let (n, d) = (u.n(), u.d());
        let buckets = self.buckets(n, seed);
        let m = buckets.len();
        let mut matrix = vec![0.0f64; m * n];
        for (k, bucket) in buckets.iter().enumerate() {
            for &i in bucket {
                matrix[k * n + i] = 1.0 / bucket.len() as f64;
            }
        }
        let mut rows = vec![0.0f32; m * d];
        rows.par_chunks_mut(d)
            .zip(&buckets)
            .for_each(|(out, bucket)| {
                for (j, y) in out.iter_mut().enumerate() {
                    let sum: f64 = bucket.iter().map(|&i| u.row(i)[j] as f64).sum();
                    *y = (sum / bucket.len() as f64) as f32;
                }
            });
        Ok(Mixed { rows, m, matrix })
    }
}
