//! What detectors read: the training set, an optional trained model (Mithridate's own or an
//! imported ONNX classifier), the training recipe for detectors that train their own models, and
//! the embeddings (computed once, shared).

use crate::detection::Rows;
use crate::{DetectError, Result};
use mithridate_data::Dataset;
use mithridate_engine::{Architecture, Classifier, TrainConfig};
use mithridate_onnx::OnnxClassifier;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Row-major sample representations (e.g. penultimate activations) with their labels and ids.
///
/// ```
/// use mithridate_detect::Embeddings;
/// let e = Embeddings::new(&[0.0, 1.0, 2.0, 3.0], 2, &[0, 1], &[7, 8], 2)?;
/// assert_eq!((e.len(), e.row(1)), (2, &[2.0f32, 3.0][..]));
/// assert!(Embeddings::new(&[0.0; 3], 2, &[0, 1], &[7, 8], 2).is_err());
/// # Ok::<(), mithridate_detect::DetectError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Embeddings<'a> {
    values: &'a [f32],
    dim: usize,
    labels: &'a [u32],
    ids: &'a [u64],
    num_classes: usize,
}

impl<'a> Embeddings<'a> {
    /// Validates shapes (`values.len() == labels.len() * dim`, one id per row, `dim > 0`),
    /// labels `< num_classes` and finite values. An empty set is an error.
    pub fn new(
        values: &'a [f32],
        dim: usize,
        labels: &'a [u32],
        ids: &'a [u64],
        num_classes: usize,
    ) -> Result<Self> {
        let n = labels.len();
        if n == 0 {
            return Err(DetectError::input("no samples to scan"));
        }
        if dim == 0 || values.len() != n * dim || ids.len() != n {
            return Err(DetectError::input(format!(
                "{} values and {} ids for {n} samples of dimension {dim}",
                values.len(),
                ids.len()
            )));
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= num_classes) {
            return Err(DetectError::input(format!(
                "label {y} is not a class (classes 0..{num_classes})"
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(DetectError::input("embeddings contain non-finite values"));
        }
        Ok(Embeddings {
            values,
            dim,
            labels,
            ids,
            num_classes,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn labels(&self) -> &'a [u32] {
        self.labels
    }

    pub fn ids(&self) -> &'a [u64] {
        self.ids
    }

    /// Row `r`'s representation.
    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.values[r * self.dim..(r + 1) * self.dim]
    }

    /// Row indices of each class, in row order.
    pub fn class_rows(&self) -> Vec<Vec<usize>> {
        class_rows(self.labels, self.num_classes)
    }

    pub(crate) fn rows(&self) -> Rows<'a> {
        Rows {
            ids: self.ids,
            labels: self.labels,
            num_classes: self.num_classes,
        }
    }
}

pub(crate) fn class_rows(labels: &[u32], num_classes: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); num_classes];
    for (r, &y) in labels.iter().enumerate() {
        rows[y as usize].push(r);
    }
    rows
}

/// How detectors that train their own models (confident learning's cross-validation, the
/// early-loss detector) train: the architecture and a checked configuration.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub architecture: Architecture,
    pub config: TrainConfig,
}

/// The model a scan reads: one trained by Mithridate (embeddings: its penultimate
/// activations), or a user's ONNX classifier (embeddings: the output of the graph value
/// `layer`, flattened per sample). Detectors see both the same way: embeddings and
/// predictions; none reads a given model's parameters or retrains it (detectors that train
/// use the [`TrainSpec`]).
#[derive(Debug, Clone, Copy)]
pub enum ScanModel<'a> {
    Mithridate(&'a Classifier),
    Onnx {
        model: &'a OnnxClassifier,
        layer: &'a str,
    },
}

impl<'a> From<&'a Classifier> for ScanModel<'a> {
    fn from(model: &'a Classifier) -> Self {
        ScanModel::Mithridate(model)
    }
}

fn onnx_error(e: mithridate_onnx::OnnxError) -> DetectError {
    DetectError::input(e.to_string())
}

impl ScanModel<'_> {
    /// Errors unless `data` fits the model's input and has as many classes as it outputs.
    pub fn check_compatible(&self, data: &Dataset) -> Result<()> {
        match self {
            ScanModel::Mithridate(m) => Ok(m.check_compatible(data)?),
            ScanModel::Onnx { model, .. } => model.check_compatible(data).map_err(onnx_error),
        }
    }

    /// Arg-max class of every sample.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        match self {
            ScanModel::Mithridate(m) => Ok(m.predict(data)?),
            ScanModel::Onnx { model, .. } => model.predict(data).map_err(onnx_error),
        }
    }

    /// Every sample's representation, `(values row-major, width)`.
    pub fn embeddings(&self, data: &Dataset) -> Result<(Vec<f32>, usize)> {
        match self {
            ScanModel::Mithridate(m) => Ok(m.embeddings(data)?),
            ScanModel::Onnx { model, layer } => model.layer_output(data, layer).map_err(onnx_error),
        }
    }
}

/// The inputs of one scan. Embeddings are computed on first use and cached, so running
/// several detectors costs one forward pass over the data; so are the other intermediate
/// results detectors share ([`ScanContext::shared`]): a detector's whole detection (`auto`
/// reads its members' and the input check's from a scan that also runs them on their own) and
/// the k-NN graph over the embeddings (`knn` and `auto`'s flips vote).
pub struct ScanContext<'a> {
    data: &'a Dataset,
    model: Option<ScanModel<'a>>,
    clean_set: Option<&'a Dataset>,
    train: TrainSpec,
    seed: u64,
    embeddings: OnceLock<(Vec<f32>, usize)>,
    shared: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl<'a> ScanContext<'a> {
    /// A context over `data` (non-empty). `train` is used by detectors that train; `seed`
    /// seeds everything stochastic.
    pub fn new(data: &'a Dataset, train: TrainSpec, seed: u64) -> Result<Self> {
        if data.is_empty() {
            return Err(DetectError::input("the dataset to scan is empty"));
        }
        Ok(ScanContext {
            data,
            model: None,
            clean_set: None,
            train,
            seed,
            embeddings: OnceLock::new(),
            shared: Mutex::new(HashMap::new()),
        })
    }

    /// Adds the model trained on `data` (errors if its modality or class count differ).
    pub fn with_model(mut self, model: &'a Classifier) -> Result<Self> {
        model.check_compatible(self.data)?;
        self.model = Some(ScanModel::Mithridate(model));
        Ok(self)
    }

    /// Adds a user's ONNX classifier trained on `data`, whose graph value `layer` (a node
    /// output, e.g. the input of the last `Gemm`) gives the embeddings. Errors if `data` does
    /// not fit the model or `layer` is not a value of its graph (naming a few that are).
    pub fn with_onnx_model(mut self, model: &'a OnnxClassifier, layer: &'a str) -> Result<Self> {
        model.check_compatible(self.data).map_err(onnx_error)?;
        let names = model.value_names();
        if !names.iter().any(|n| n == layer) {
            // The values nearest the output are the likely embedding layers.
            let shown = model.last_value_names(8);
            return Err(DetectError::input(format!(
                "layer '{layer}' is not a value of the ONNX graph; its last values: {} ({} in all)",
                shown.join(", "),
                names.len()
            )));
        }
        self.model = Some(ScanModel::Onnx { model, layer });
        Ok(self)
    }

    /// Adds the defender's trusted clean samples (a few hundred to a few thousand, labelled
    /// correctly, none of them in `data`), read by detectors that require a clean set
    /// (confusion training). Errors if their modality or class count differ from `data`'s or
    /// the set is empty.
    pub fn with_clean_set(mut self, clean: &'a Dataset) -> Result<Self> {
        if clean.is_empty() {
            return Err(DetectError::input("the trusted clean set is empty"));
        }
        if clean.modality() != self.data.modality() {
            return Err(DetectError::input(format!(
                "the trusted clean set's samples ({:?}) differ from the scanned data's ({:?})",
                clean.modality().sample_shape(),
                self.data.modality().sample_shape()
            )));
        }
        if clean.num_classes() > self.data.num_classes() {
            return Err(DetectError::input(format!(
                "the trusted clean set has {} classes, the scanned data {}",
                clean.num_classes(),
                self.data.num_classes()
            )));
        }
        self.clean_set = Some(clean);
        Ok(self)
    }

    /// The trusted clean samples, when given ([`ScanContext::with_clean_set`]).
    pub fn clean_set(&self) -> Option<&'a Dataset> {
        self.clean_set
    }

    /// The trusted clean samples that `detector` needs, or the one-line error saying how to
    /// give them.
    pub fn require_clean_set(&self, detector: &str) -> Result<&'a Dataset> {
        self.clean_set.ok_or_else(|| {
            DetectError::input(format!(
                "{detector} needs trusted clean samples (scan data --clean-set; in assess.toml, clean-set = N)"
            ))
        })
    }

    pub fn data(&self) -> &'a Dataset {
        self.data
    }

    /// The given model when Mithridate trained it (`None` for an ONNX model: see
    /// [`ScanContext::scan_model`]).
    pub fn model(&self) -> Option<&'a Classifier> {
        match self.model {
            Some(ScanModel::Mithridate(m)) => Some(m),
            _ => None,
        }
    }

    /// The given model, of either kind.
    pub fn scan_model(&self) -> Option<ScanModel<'a>> {
        self.model
    }

    pub fn train_spec(&self) -> &TrainSpec {
        &self.train
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The embeddings' width once a detector computed them (`None` before: asking does not
    /// run the model).
    pub fn embedding_dim(&self) -> Option<usize> {
        self.embeddings.get().map(|&(_, dim)| dim)
    }

    /// The model's penultimate activations of every sample (an ONNX model's chosen layer),
    /// computed once.
    pub fn embeddings(&self) -> Result<Embeddings<'_>> {
        let model = self
            .model
            .ok_or_else(|| DetectError::input("this detector needs a trained model"))?;
        if self.embeddings.get().is_none() {
            let computed = model.embeddings(self.data)?;
            // A concurrent caller may have won the race; both computed the same values.
            let _ = self.embeddings.set(computed);
        }
        let (values, dim) = self
            .embeddings
            .get()
            .ok_or_else(|| DetectError::input("embeddings unavailable"))?;
        Embeddings::new(
            values,
            *dim,
            self.data.labels(),
            self.data.ids(),
            self.data.num_classes(),
        )
    }
}

impl ScanContext<'_> {
    /// The value computed by `compute` under `key`, computed at most once per context: later
    /// calls with the same key (from any detector) get the first result. The key must name
    /// everything the value depends on besides the context (parameters, `k`, ...); a key
    /// already holding a value of another type is an error. Errors are not cached.
    ///
    /// ```
    /// use mithridate_data::{Dataset, Features, Modality};
    /// use mithridate_detect::{ScanContext, TrainSpec};
    /// use mithridate_engine::{Architecture, TrainParams};
    /// let x = Features::Dense(vec![0.0, 1.0]);
    /// let data = Dataset::new(Modality::Tabular { features: 1 }, x, vec![0, 1], vec![1, 2], 2, vec![])?;
    /// let config = TrainParams::default_for(Architecture::LogReg).check()?;
    /// let train = TrainSpec { architecture: Architecture::LogReg, config };
    /// let ctx = ScanContext::new(&data, train, 0)?;
    /// let mut runs = 0;
    /// for _ in 0..3 {
    ///     let v = ctx.shared("answer".into(), || { runs += 1; Ok(42u32) })?;
    ///     assert_eq!(*v, 42);
    /// }
    /// assert_eq!(runs, 1);
    /// assert!(ctx.shared("answer".into(), || Ok(1.5f64)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared<T: Any + Send + Sync>(
        &self,
        key: String,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let downcast = |value: Arc<dyn Any + Send + Sync>| {
            value.downcast::<T>().map_err(|_| {
                DetectError::input(format!("shared scan result {key:?} has another type"))
            })
        };
        // The lock is not held while computing: a computation may itself ask for shared
        // values (auto's members), and detectors of one scan run one after another.
        if let Some(value) = self.lock_shared().get(&key).cloned() {
            return downcast(value);
        }
        let value: Arc<dyn Any + Send + Sync> = Arc::new(compute()?);
        let value = self
            .lock_shared()
            .entry(key.clone())
            .or_insert(value)
            .clone();
        downcast(value)
    }

    fn lock_shared(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn Any + Send + Sync>>> {
        // A panic while holding the lock only interrupted an insert; the map is still valid.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `detector`'s detection on this context, computed once per (name, parameters): a scan
    /// running several detectors that `auto` also runs computes each once.
    pub fn detection(&self, detector: &dyn crate::Detector) -> Result<crate::Detection> {
        let key = format!("detection {} {}", detector.name(), detector.parameters());
        Ok((*self.shared(key, || detector.scan(self))?).clone())
    }

    /// The `k` nearest other rows of every row in embedding space (see
    /// [`crate::knn::nearest_neighbours`]), computed once per `k`.
    pub fn embedding_neighbours(&self, k: usize) -> Result<Arc<Vec<Vec<usize>>>> {
        let emb = self.embeddings()?;
        self.shared(format!("embedding neighbours {k}"), || {
            Ok(crate::knn::all_neighbours(&emb, k))
        })
    }
}

/// Out-of-sample predicted probabilities by stratified `folds`-fold cross-validation: each
/// sample's row comes from a model trained (architecture and config of `spec`, seed
/// `seed + fold`) on the other folds. Returns `n * num_classes` values, row-major.
///
/// Folds are dealt class by class from a seeded shuffle, continuing round-robin across classes,
/// so every fold has `floor(n/folds)` or `ceil(n/folds)` samples and each class is spread evenly.
/// Errors: `folds < 2` or more folds than samples. Cost: `folds` trainings on `(folds-1)/folds`
/// of the data.
pub fn cross_val_probabilities(
    data: &Dataset,
    spec: &TrainSpec,
    folds: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    if folds < 2 {
        return Err(DetectError::param(format!(
            "cross-validation needs at least 2 folds, got {folds}"
        )));
    }
    if data.len() < folds {
        return Err(DetectError::input(format!(
            "{} samples cannot be split into {folds} folds",
            data.len()
        )));
    }
    let k = data.num_classes();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; data.len()];
    let mut next = 0usize;
    for mut rows in class_rows(data.labels(), k) {
        rows.shuffle(&mut rng);
        for r in rows {
            fold_of[r] = next % folds;
            next += 1;
        }
    }
    let mut probs = vec![0f32; data.len() * k];
    for fold in 0..folds {
        let (held, kept): (Vec<usize>, Vec<usize>) =
            (0..data.len()).partition(|&r| fold_of[r] == fold);
        let train = data.select(&kept)?;
        let fold_seed = seed.wrapping_add(fold as u64);
        let mut model = Classifier::new(spec.architecture, data.modality(), k, fold_seed)?;
        model.fit(&train, &spec.config, fold_seed, &mut |_| {})?;
        let p = model.predict_proba(&data.select(&held)?)?;
        for (i, &r) in held.iter().enumerate() {
            probs[r * k..(r + 1) * k].copy_from_slice(&p[i * k..(i + 1) * k]);
        }
    }
    Ok(probs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::{Features, Modality};
    use mithridate_engine::TrainParams;
    use mithridate_onnx::InputOptions;

    /// Six MNIST-shaped images of a fixed pattern, labels 0..5 of 10 classes.
    fn images() -> Dataset {
        let n = 6;
        let x: Vec<f32> = (0..n * 784)
            .map(|i| ((i * 37 % 101) as f32) / 100.0)
            .collect();
        let modality = Modality::Image {
            channels: 1,
            height: 28,
            width: 28,
        };
        let labels = (0..n as u32).collect();
        let ids = (100..100 + n as u64).collect();
        Dataset::new(modality, Features::Dense(x), labels, ids, 10, vec![]).unwrap()
    }

    fn spec() -> TrainSpec {
        let config = TrainParams::default_for(Architecture::Mlp).check().unwrap();
        TrainSpec {
            architecture: Architecture::Mlp,
            config,
        }
    }

    /// make_fixtures.py's MLP 784-32-10 exported by PyTorch's dynamo exporter.
    fn mlp() -> OnnxClassifier {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../mithridate-onnx/tests/fixtures/mlp_dynamo.onnx");
        OnnxClassifier::load(&path, InputOptions::default()).unwrap()
    }

    #[test]
    fn an_onnx_models_named_value_gives_the_embeddings_and_its_logits_the_predictions() {
        let data = images();
        let model = mlp();
        let ctx = ScanContext::new(&data, spec(), 0)
            .unwrap()
            .with_onnx_model(&model, "relu")
            .unwrap();
        assert!(ctx.model().is_none(), "not a Mithridate model");
        assert_eq!(
            ctx.embedding_dim(),
            None,
            "not computed before a detector asks"
        );
        let emb = ctx.embeddings().unwrap();
        let (want, dim) = model.layer_output(&data, "relu").unwrap();
        assert_eq!((emb.dim(), emb.len()), (32, 6));
        assert_eq!(ctx.embedding_dim(), Some(32));
        for r in 0..6 {
            assert_eq!(emb.row(r), &want[r * dim..(r + 1) * dim]);
            assert!(emb.row(r).iter().all(|&v| v >= 0.0), "a ReLU's output");
        }
        let scan_model = ctx.scan_model().unwrap();
        assert_eq!(
            scan_model.predict(&data).unwrap(),
            model.predict(&data).unwrap()
        );
    }

    #[test]
    fn an_unknown_layer_or_an_incompatible_set_is_refused() {
        let data = images();
        let model = mlp();
        let err = ScanContext::new(&data, spec(), 0)
            .unwrap()
            .with_onnx_model(&model, "fc9")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("layer 'fc9'") && err.contains("relu"), "{err}");
        let tabular = Dataset::new(
            Modality::Tabular { features: 3 },
            Features::Dense(vec![0.0; 6]),
            vec![0, 1],
            vec![1, 2],
            10,
            vec![],
        )
        .unwrap();
        let ctx = ScanContext::new(&tabular, spec(), 0).unwrap();
        assert!(ctx.with_onnx_model(&model, "relu").is_err());
    }
}
