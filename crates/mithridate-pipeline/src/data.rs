//! Loading train/test data and seeded subsets: the *dataset* stage as every experiment uses it.

use crate::error::{PipelineError, Result, WithContext};
use mithridate_data::{DataHome, Dataset, Split};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Share of a file's rows held out as its test set when it has no test split of its own.
pub const FILE_TEST_SHARE: f64 = 0.2;

/// The training set of `source` and its test set: `test` when given (its test split), else a
/// built-in dataset's test split, else a seeded stratified 20% hold-out of the file (returned
/// with the remaining training rows).
pub fn train_and_test(
    home: &DataHome,
    source: &str,
    test: Option<&str>,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    let train = mithridate_data::load(home, source, Split::Train)
        .context_with(|| format!("loading training data '{source}'"))?;
    let test_source = test.or_else(|| is_builtin(source).then_some(source));
    if let Some(t) = test_source {
        let test_set = mithridate_data::load(home, t, Split::Test)
            .context_with(|| format!("loading test data '{t}'"))?;
        return Ok((train, test_set));
    }
    Ok(mithridate_data::split_stratified(
        &train,
        FILE_TEST_SHARE,
        seed,
    )?)
}

/// Whether `source` names a built-in dataset (with its own test split) rather than a file.
pub fn is_builtin(source: &str) -> bool {
    mithridate_data::registry::find(source).is_some()
}

/// A seeded stratified subset of at most `max` rows (all of them when `max` is `None` or not
/// smaller than the set).
///
/// ```
/// use mithridate_data::{Dataset, Features, Modality};
/// let d = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0; 10]),
///                      vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1], (0..10).collect(), 2, vec![])?;
/// assert_eq!(mithridate_pipeline::data::subsample(d.clone(), Some(4), 0)?.len(), 4);
/// assert_eq!(mithridate_pipeline::data::subsample(d.clone(), None, 0)?.len(), 10);
/// assert!(mithridate_pipeline::data::subsample(d, Some(0), 0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn subsample(data: Dataset, max: Option<usize>, seed: u64) -> Result<Dataset> {
    match max {
        Some(0) => Err(PipelineError::invalid(
            "a subset size (--max-train / --max-test) must be at least 1",
        )),
        Some(max) if max < data.len() => {
            let fraction = 1.0 - max as f64 / data.len() as f64;
            Ok(mithridate_data::split_stratified(&data, fraction, seed)?.0)
        }
        _ => Ok(data),
    }
}

/// Refuses an empty set, naming its source.
pub fn non_empty(data: Dataset, source: &str) -> Result<Dataset> {
    if data.is_empty() {
        return Err(PipelineError::invalid(format!(
            "the dataset '{source}' is empty"
        )));
    }
    Ok(data)
}

/// A defender's trusted clean samples for a scan of `scanned`: `source`'s test split (a
/// built-in name) or the file, a seeded stratified subset of at most `max` (>= 1) samples,
/// refused when empty or when it shares a sample id with `scanned` (a clean set drawn from the
/// scanned data would vouch for its poisons).
pub fn trusted_clean_set(
    home: &DataHome,
    source: &str,
    max: usize,
    seed: u64,
    scanned: &Dataset,
) -> Result<Dataset> {
    if max == 0 {
        return Err(PipelineError::invalid("--max-clean must be at least 1"));
    }
    let clean = mithridate_data::load(home, source, Split::Test)
        .context_with(|| format!("loading the clean set '{source}'"))?;
    let clean = non_empty(subsample(clean, Some(max), seed)?, source)?;
    // Ids are compared only between samples of one kind: another dataset's positional ids
    // say nothing, and the scan context names the shape mismatch instead.
    if clean.modality() != scanned.modality() {
        return Ok(clean);
    }
    let ids: std::collections::HashSet<u64> = scanned.ids().iter().copied().collect();
    if let Some(shared) = clean.ids().iter().find(|i| ids.contains(i)) {
        return Err(PipelineError::invalid(format!(
            "--clean-set shares sample id {shared} with --data; trusted samples must be held out"
        )));
    }
    Ok(clean)
}

/// Loaded (training, test) sets by (source, hold-out seed).
type Loaded = HashMap<(String, u64), Arc<(Dataset, Dataset)>>;

/// Loaded (training, test) sets by source and hold-out seed, shared by the cells of a run
/// (MNIST is loaded once, not once per cell).
pub struct DataCache {
    home: DataHome,
    loaded: Mutex<Loaded>,
}

impl DataCache {
    pub fn new(home: DataHome) -> DataCache {
        DataCache {
            home,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub fn home(&self) -> &DataHome {
        &self.home
    }

    /// The full training and test sets of `source` (a file's hold-out depends on `seed`).
    pub fn full(&self, source: &str, seed: u64) -> Result<Arc<(Dataset, Dataset)>> {
        let seed = if is_builtin(source) { 0 } else { seed };
        let key = (source.to_string(), seed);
        if let Some(d) = self.lock().get(&key) {
            return Ok(d.clone());
        }
        let loaded = Arc::new(train_and_test(&self.home, source, None, seed)?);
        Ok(self.lock().entry(key).or_insert(loaded).clone())
    }

    /// Seeded subsets of the full sets of `source`.
    pub fn split(
        &self,
        source: &str,
        max_train: Option<usize>,
        max_test: Option<usize>,
        seed: u64,
    ) -> Result<(Dataset, Dataset)> {
        let full = self.full(source, seed)?;
        Ok((
            subsample(full.0.clone(), max_train, seed)?,
            subsample(full.1.clone(), max_test, seed)?,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}
