//! The loop's configuration: what the stream looks like, how retraining, screening, gating
//! and monitoring are done. Read from TOML (every key optional, unknown keys rejected) and
//! checked once into a [`ContinualSpec`].

use crate::{ContinualError, Result};
use mithridate_core::ParamGuard;
use mithridate_engine::Architecture;
use mithridate_gate::{CheckedPolicy, GatePolicy};
use serde::{Deserialize, Serialize};

/// How a candidate model is produced at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retrain {
    /// A fresh model trained on every accepted sample so far plus the new batch.
    Scratch,
    /// The deployed model trained further on the new batch only (continual learning).
    Finetune,
}

/// Unchecked configuration, as written in a `continual.toml` (see the crate README for the
/// reasoning behind each default). Every rate is a fraction in `[0, 1]`.
///
/// ```
/// use mithridate_continual::ContinualParams;
/// let spec = ContinualParams::from_toml_str("batches = 4\n[gate]\nmax_flip_rate = 0.1\n")?;
/// assert_eq!(spec.params().batches, 4);
/// assert_eq!(spec.gate().params().max_flip_rate, 0.1);
/// assert!(ContinualParams::from_toml_str("batchez = 4\n").is_err());
/// assert!(ContinualParams::from_toml_str("[gate]\nmax_flip_rate = 2.0\n").is_err());
/// assert!(ContinualParams::from_toml_str("gate_headroom = 0.5\n").is_err());
/// assert_eq!(ContinualParams::from_toml_str("")?.params().gate_twins, 3);
/// assert!(ContinualParams::from_toml_str("gate_twins = 1000000\n").is_err());
/// # Ok::<(), mithridate_continual::ContinualError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContinualParams {
    /// Time-ordered batches after the bootstrap set.
    pub batches: usize,
    /// Samples per batch (before a campaign adds any).
    pub batch_size: usize,
    /// Trusted samples the first deployed model is trained on.
    pub bootstrap: usize,
    /// Trusted holdout the gate compares models on (from the test split).
    pub holdout: usize,
    /// Serving requests the monitors see per step (from the rest of the test split).
    pub traffic: usize,
    /// Model family: `mlp`, `cnn` or `logreg`.
    pub model: String,
    /// Epochs of a from-scratch retrain (default: the engine's policy of >= 1,000 steps).
    pub epochs: Option<usize>,
    pub retrain: Retrain,
    /// Epochs of a fine-tuning retrain on the new batch.
    pub finetune_epochs: usize,
    /// Natural drift: class `c`'s weight in batch `t` is `1 + a sin(2 pi (t / period + c / K))`.
    pub drift_amplitude: f64,
    pub drift_period: usize,
    /// Natural label noise: this share of every batch gets a uniformly drawn wrong label.
    pub label_noise: f64,
    /// Family-wise false-alarm rate of the ingestion screen per batch (Bonferroni over classes).
    pub screen_alpha: f64,
    /// A sample is contradicted when the deployed model gives another class at least this probability.
    pub screen_confidence: f64,
    /// Whether the screen also tests each class's contradicted samples for a shared
    /// perturbation (the cohesion test, `cohesion.rs`; image and tabular batches).
    pub screen_cohesion: bool,
    /// Per monitor and step false-alarm rate the serving thresholds are calibrated to.
    pub false_alarm_rate: f64,
    /// Share of serving traffic carrying the campaign's trigger once poisoning has started.
    pub triggered_traffic: f64,
    /// Clean overlays per STRIP input.
    pub strip_overlays: usize,
    /// Bootstrap windows of clean traffic used to calibrate the distribution monitors.
    pub calibration_windows: usize,
    /// Training-set detectors (mithridate-detect registry names) run on every new batch with
    /// the deployed model; their flags are recorded and named in incidents.
    pub detectors: Vec<String>,
    /// Clean twins of the bootstrap model (other shuffle orders) the gate's churn thresholds
    /// are calibrated on (`gate_calibration.rs`); 0 applies the `[gate]` policy as written.
    pub gate_twins: usize,
    /// Each churn threshold becomes at least this many times the largest twin churn.
    pub gate_headroom: f64,
    /// The retraining gate's thresholds (mithridate-gate policy keys).
    pub gate: GatePolicy,
}

impl Default for ContinualParams {
    fn default() -> Self {
        ContinualParams {
            batches: 10,
            batch_size: 2000,
            bootstrap: 4000,
            holdout: 2000,
            traffic: 1000,
            model: "mlp".into(),
            epochs: None,
            retrain: Retrain::Scratch,
            finetune_epochs: 2,
            drift_amplitude: 0.5,
            drift_period: 8,
            label_noise: 0.01,
            screen_alpha: 1e-3,
            screen_confidence: 0.99,
            screen_cohesion: true,
            false_alarm_rate: 0.01,
            triggered_traffic: 0.05,
            strip_overlays: 16,
            calibration_windows: 200,
            detectors: Vec::new(),
            gate_twins: 3,
            gate_headroom: 1.5,
            gate: continual_gate_policy(),
        }
    }
}

/// The gate policy of the loop: the gate crate's defaults, with the accuracy, per-class recall
/// and churn thresholds widened to what clean MLP retrains on the drifting stream move (with
/// the gate's defaults, 4 of 10 clean retrains of seed 0 failed on a 5-10 point recall drop of
/// one class or a 1.4 point accuracy drop; see the README).
pub fn continual_gate_policy() -> GatePolicy {
    GatePolicy {
        max_accuracy_drop: 0.02,
        max_class_recall_drop: 0.12,
        max_flip_rate: 0.08,
        max_negative_flip_rate: 0.03,
        ..GatePolicy::default()
    }
}

/// The most clean twins the gate calibration may train.
pub const MAX_GATE_TWINS: usize = 16;

/// A checked [`ContinualParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContinualSpec {
    params: ContinualParams,
    architecture: Architecture,
    gate: CheckedPolicy,
}

impl ContinualSpec {
    pub fn params(&self) -> &ContinualParams {
        &self.params
    }
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }
    /// The ingestion screen's parameters.
    pub fn screen_params(&self) -> crate::screen::ScreenParams {
        crate::screen::ScreenParams {
            alpha: self.params.screen_alpha,
            confidence: self.params.screen_confidence,
            cohesion: self
                .params
                .screen_cohesion
                .then(crate::cohesion::CohesionParams::default),
        }
    }

    pub fn gate(&self) -> &CheckedPolicy {
        &self.gate
    }
    /// The configuration as JSON (recorded in the run's state and audit log).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }
}

fn fraction(key: &str, value: f64, open_low: bool, open_high: bool) -> Result<()> {
    let low_ok = if open_low { value > 0.0 } else { value >= 0.0 };
    let high_ok = if open_high { value < 1.0 } else { value <= 1.0 };
    if value.is_finite() && low_ok && high_ok {
        return Ok(());
    }
    let (l, h) = (
        if open_low { "(" } else { "[" },
        if open_high { ")" } else { "]" },
    );
    Err(ContinualError::invalid(format!(
        "continual config: {key} must lie in {l}0, 1{h}, got {value}"
    )))
}

fn at_least(key: &str, value: usize, min: usize) -> Result<()> {
    if value < min {
        return Err(ContinualError::invalid(format!(
            "continual config: {key} must be at least {min}, got {value}"
        )));
    }
    Ok(())
}

impl ParamGuard for ContinualParams {
    type Checked = ContinualSpec;
    type Error = ContinualError;

    fn check_ref(&self) -> Result<()> {
        at_least("batches", self.batches, 1)?;
        at_least("batch_size", self.batch_size, 50)?;
        at_least("bootstrap", self.bootstrap, 100)?;
        at_least("holdout", self.holdout, 100)?;
        at_least("traffic", self.traffic, 100)?;
        at_least("finetune_epochs", self.finetune_epochs, 1)?;
        at_least("drift_period", self.drift_period, 1)?;
        at_least("strip_overlays", self.strip_overlays, 1)?;
        at_least("calibration_windows", self.calibration_windows, 20)?;
        if self.epochs == Some(0) {
            return Err(ContinualError::invalid(
                "continual config: epochs must be at least 1",
            ));
        }
        fraction("drift_amplitude", self.drift_amplitude, false, true)?;
        fraction("label_noise", self.label_noise, false, false)?;
        if self.label_noise > 0.5 {
            return Err(ContinualError::invalid(format!(
                "continual config: label_noise {} above 0.5 leaves more wrong labels than right ones",
                self.label_noise
            )));
        }
        // Each twin is one more training of the bootstrap model before the first batch.
        if self.gate_twins > MAX_GATE_TWINS {
            return Err(ContinualError::invalid(format!(
                "continual config: gate_twins must be at most {MAX_GATE_TWINS} (each is a full \
                 training of the bootstrap model), got {}",
                self.gate_twins
            )));
        }
        if !(self.gate_headroom.is_finite() && self.gate_headroom >= 1.0) {
            return Err(ContinualError::invalid(format!(
                "continual config: gate_headroom must be a finite number >= 1, got {}",
                self.gate_headroom
            )));
        }
        fraction("screen_alpha", self.screen_alpha, true, true)?;
        fraction("screen_confidence", self.screen_confidence, true, true)?;
        if self.screen_confidence < 0.5 {
            return Err(ContinualError::invalid(format!(
                "continual config: screen_confidence must be at least 0.5 (a confident other class), got {}",
                self.screen_confidence
            )));
        }
        fraction("false_alarm_rate", self.false_alarm_rate, true, true)?;
        if self.false_alarm_rate * self.calibration_windows as f64 <= 1.0 {
            return Err(ContinualError::invalid(format!(
                "continual config: false_alarm_rate {} needs more than {} calibration_windows \
                 (at least one clean window above the threshold)",
                self.false_alarm_rate, self.calibration_windows
            )));
        }
        fraction("triggered_traffic", self.triggered_traffic, false, false)?;
        parse_architecture(&self.model)?;
        for d in &self.detectors {
            mithridate_detect::registry::detector(d).map_err(|e| {
                ContinualError::invalid(format!("continual config: detectors: {e}"))
            })?;
        }
        self.gate.clone().check()?;
        Ok(())
    }

    fn build(self) -> ContinualSpec {
        // Both checked in check_ref.
        let architecture = parse_architecture(&self.model).unwrap_or(Architecture::Mlp);
        let gate = self
            .gate
            .clone()
            .check()
            .unwrap_or_else(|_| unreachable_policy());
        ContinualSpec {
            params: self,
            architecture,
            gate,
        }
    }
}

fn unreachable_policy() -> CheckedPolicy {
    // check_ref validated the policy before build; the default always checks.
    GatePolicy::default()
        .check()
        .expect("the default gate policy is valid")
}

fn parse_architecture(name: &str) -> Result<Architecture> {
    let arch: Architecture = name
        .parse()
        .map_err(|e| ContinualError::invalid(format!("continual config: model: {e}")))?;
    if matches!(arch, Architecture::Text) {
        return Err(ContinualError::invalid(
            "continual config: model 'text' does not apply to image streams",
        ));
    }
    Ok(arch)
}

impl ContinualParams {
    /// Parses a TOML configuration and checks it; errors name the key (and line for syntax).
    pub fn from_toml_str(text: &str) -> Result<ContinualSpec> {
        let params: ContinualParams = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            });
            let message = e.message().trim().replace('\n', " ");
            match line {
                Some(l) => ContinualError::invalid(format!("continual config line {l}: {message}")),
                None => ContinualError::invalid(format!("continual config: {message}")),
            }
        })?;
        params.check()
    }
}
