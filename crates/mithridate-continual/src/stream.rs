//! The time-ordered stream: a trusted bootstrap set, `B` batches with natural drift, the
//! gate's trusted holdout and the serving traffic pool, all from one real dataset.
//!
//! Natural drift (so clean retrains are not identical): the class mix of batch `t` follows
//! `w_c(t) = 1 + a sin(2 pi (t / P + c / K))` (amplitude `a`, period `P`, `K` classes),
//! normalised to the batch size by largest remainders; and a share `label_noise` of every
//! batch gets a uniformly drawn wrong label. Samples are drawn without replacement from the
//! training split, so no sample id appears in two batches.

use crate::config::ContinualSpec;
use crate::{ContinualError, Result};
use mithridate_data::{Dataset, Features};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seed streams, so each use of the run's seed is independent of the others.
pub(crate) fn derive_seed(seed: u64, purpose: &str, step: u64) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"mithridate-continual seed\0");
    h.update(&seed.to_le_bytes());
    h.update(purpose.as_bytes());
    h.update(&step.to_le_bytes());
    let bytes = h.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// Class counts of one batch of `size` under the drift formula (largest remainders).
///
/// ```
/// use mithridate_continual::stream::drift_counts;
/// // No drift: an even split.
/// assert_eq!(drift_counts(100, 4, 0.0, 8, 3), vec![25, 25, 25, 25]);
/// let c = drift_counts(1000, 10, 0.5, 8, 2);
/// assert_eq!(c.iter().sum::<usize>(), 1000);
/// assert!(c.iter().max().unwrap() > &140 && c.iter().min().unwrap() < &60);
/// ```
pub fn drift_counts(
    size: usize,
    classes: usize,
    amplitude: f64,
    period: usize,
    step: usize,
) -> Vec<usize> {
    let weights: Vec<f64> = (0..classes)
        .map(|c| {
            let phase = step as f64 / period as f64 + c as f64 / classes as f64;
            1.0 + amplitude * (2.0 * std::f64::consts::PI * phase).sin()
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / total * size as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let missing = size - counts.iter().sum::<usize>();
    for &c in order.iter().take(missing) {
        counts[c] += 1;
    }
    counts
}

/// `data` with new labels (same features and ids).
pub(crate) fn with_labels(data: &Dataset, labels: Vec<u32>) -> Result<Dataset> {
    let (modality, features, _, ids, k, names) = data.clone().into_parts();
    Ok(Dataset::new(modality, features, labels, ids, k, names)?)
}

/// Concatenation of datasets of one modality and class count (ids must stay unique).
pub fn concat(parts: &[&Dataset]) -> Result<Dataset> {
    let first = parts
        .first()
        .ok_or_else(|| ContinualError::invalid("nothing to concatenate"))?;
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    for p in parts {
        if p.modality() != first.modality() || p.num_classes() != first.num_classes() {
            return Err(ContinualError::invalid(
                "batches of different modality or class count cannot be combined",
            ));
        }
        match p.features() {
            Features::Dense(v) => values.extend_from_slice(v),
            Features::Tokens(_) => {
                return Err(ContinualError::invalid(
                    "the continual loop runs on image data",
                ))
            }
        }
        labels.extend_from_slice(p.labels());
        ids.extend_from_slice(p.ids());
    }
    Ok(Dataset::new(
        first.modality().clone(),
        Features::Dense(values),
        labels,
        ids,
        first.num_classes(),
        first.class_names(),
    )?)
}

/// One clean batch as the feed delivers it, with the ids it relabelled by natural noise.
#[derive(Debug, Clone)]
pub struct FeedBatch {
    pub data: Dataset,
    pub noisy_ids: Vec<u64>,
}

/// The whole stream of one run.
#[derive(Debug, Clone)]
pub struct Stream {
    pub bootstrap: Dataset,
    batches: Vec<Vec<usize>>,
    train: Dataset,
    label_noise: f64,
    seed: u64,
    /// Trusted holdout for the gate (test split).
    pub holdout: Dataset,
    /// The serving pool (rest of the test split): traffic and the measured accuracy / ASR.
    pub serving: Dataset,
}

impl Stream {
    /// Lays out the stream over `train` and `test` (a built-in dataset's splits).
    pub fn new(train: &Dataset, test: &Dataset, spec: &ContinualSpec, seed: u64) -> Result<Stream> {
        let layout = Layout::new(train, test, spec, seed)?;
        Ok(Stream {
            bootstrap: train.select(&layout.bootstrap)?,
            batches: layout.batches,
            train: train.clone(),
            label_noise: spec.params().label_noise,
            seed,
            holdout: test.select(&layout.holdout)?,
            serving: test.select(&layout.serving)?,
        })
    }

    /// Whether a stream of `spec` fits `train` and `test` (image data, enough samples of
    /// every class for the bootstrap set and every batch, enough test samples), without
    /// copying any data.
    pub fn check(train: &Dataset, test: &Dataset, spec: &ContinualSpec) -> Result<()> {
        Layout::new(train, test, spec, 0).map(|_| ())
    }
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Batch `t` as the feed delivers it (drifted class mix, natural label noise).
    pub fn batch(&self, t: usize) -> Result<FeedBatch> {
        let rows = self
            .batches
            .get(t)
            .ok_or_else(|| ContinualError::invalid(format!("no batch {t}")))?;
        let data = self.train.select(rows)?;
        let k = data.num_classes() as u32;
        let noisy = (self.label_noise * data.len() as f64).round() as usize;
        let picked = mithridate_data::seeded_sample(
            data.len(),
            noisy,
            derive_seed(self.seed, "label-noise", t as u64),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, "noise-class", t as u64));
        let mut labels = data.labels().to_vec();
        let mut noisy_ids = Vec::with_capacity(picked.len());
        for row in picked {
            labels[row] = (labels[row] + rng.random_range(1..k)) % k;
            noisy_ids.push(data.ids()[row]);
        }
        Ok(FeedBatch {
            data: with_labels(&data, labels)?,
            noisy_ids,
        })
    }

    /// The serving requests of step `t`: `size` inputs drawn from the serving pool.
    pub fn traffic(&self, t: usize, size: usize) -> Result<Dataset> {
        let rows = mithridate_data::seeded_sample(
            self.serving.len(),
            size,
            derive_seed(self.seed, "traffic", t as u64),
        );
        Ok(self.serving.select(&rows)?)
    }
}

/// Row indices of the stream's parts.
struct Layout {
    bootstrap: Vec<usize>,
    batches: Vec<Vec<usize>>,
    holdout: Vec<usize>,
    serving: Vec<usize>,
}

impl Layout {
    fn new(train: &Dataset, test: &Dataset, spec: &ContinualSpec, seed: u64) -> Result<Layout> {
        let p = spec.params();
        if !matches!(train.modality(), mithridate_data::Modality::Image { .. }) {
            return Err(ContinualError::invalid(format!(
                "the continual loop needs image data (its campaigns stamp image triggers), got {}",
                train.modality().name()
            )));
        }
        let k = train.num_classes();
        let mut pools: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (row, &y) in train.labels().iter().enumerate() {
            pools[y as usize].push(row);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "pools", 0));
        for pool in &mut pools {
            pool.shuffle(&mut rng);
        }
        let mut next = vec![0usize; k];
        let mut take = |counts: &[usize], what: &str| -> Result<Vec<usize>> {
            let mut rows = Vec::new();
            for (c, &n) in counts.iter().enumerate() {
                if next[c] + n > pools[c].len() {
                    return Err(ContinualError::invalid(format!(
                        "{what} needs more class-{c} samples than the training split has \
                         ({} left): lower batches, batch_size or bootstrap",
                        pools[c].len() - next[c]
                    )));
                }
                rows.extend_from_slice(&pools[c][next[c]..next[c] + n]);
                next[c] += n;
            }
            rows.sort_unstable();
            Ok(rows)
        };
        let bootstrap_rows = take(
            &drift_counts(p.bootstrap, k, 0.0, 1, 0),
            "the bootstrap set",
        )?;
        let mut batches = Vec::with_capacity(p.batches);
        for t in 0..p.batches {
            let counts = drift_counts(p.batch_size, k, p.drift_amplitude, p.drift_period, t);
            batches.push(take(&counts, &format!("batch {t}"))?);
        }
        if p.holdout + p.traffic > test.len() {
            return Err(ContinualError::invalid(format!(
                "holdout ({}) + traffic ({}) exceed the {} test samples",
                p.holdout,
                p.traffic,
                test.len()
            )));
        }
        let mut test_rows: Vec<usize> = (0..test.len()).collect();
        test_rows.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(seed, "test", 0)));
        let (holdout_rows, serving_rows) = test_rows.split_at(p.holdout);
        let mut holdout_rows = holdout_rows.to_vec();
        let mut serving_rows = serving_rows.to_vec();
        holdout_rows.sort_unstable();
        serving_rows.sort_unstable();
        Ok(Layout {
            bootstrap: bootstrap_rows,
            batches,
            holdout: holdout_rows,
            serving: serving_rows,
        })
    }
}
