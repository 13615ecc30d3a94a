//! A run asked for by names, as the CLI and the Python package ask for one: a built-in
//! dataset, a campaign with its parameters, a loop configuration, a seed and a run directory.
//! One function, so both shells check and run it identically.

use crate::config::{ContinualParams, ContinualSpec};
use crate::{campaign, ContinualError, Outcome, Result, RunRequest};
use mithridate_core::ParamGuard;
use mithridate_data::DataHome;
use std::path::PathBuf;

/// Everything a named run needs.
#[derive(Debug, Clone)]
pub struct NamedRun {
    /// Built-in image dataset (`mnist`, `fashion-mnist`).
    pub data: String,
    /// Campaign registry name.
    pub campaign: String,
    /// Campaign parameters (a JSON object, kebab-case keys; `{}`: defaults).
    pub params: serde_json::Value,
    pub spec: ContinualSpec,
    pub seed: u64,
    /// Run directory (a checkpoint there is resumed).
    pub dir: PathBuf,
    /// Stop after this many steps of this call (`None`: run to the end).
    pub max_steps: Option<usize>,
}

/// The loop configuration from TOML text (a `continual.toml`), with `batches` overridden when
/// given.
///
/// ```
/// let spec = mithridate_continual::named::spec_from_toml("batches = 4\n", Some(6))?;
/// assert_eq!(spec.params().batches, 6);
/// assert!(mithridate_continual::named::spec_from_toml("", Some(0)).is_err());
/// # Ok::<(), mithridate_continual::ContinualError>(())
/// ```
pub fn spec_from_toml(text: &str, batches: Option<usize>) -> Result<ContinualSpec> {
    override_batches(
        ContinualParams::from_toml_str(text)?.params().clone(),
        batches,
    )
}

/// The loop configuration from a TOML file (`--config`, Python's `config_file`), with `batches`
/// overridden when given; errors name the file.
pub fn spec_from_file(path: &std::path::Path, batches: Option<usize>) -> Result<ContinualSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        // Bytes that are not text are the input's fault, not the environment's.
        std::io::ErrorKind::InvalidData => {
            ContinualError::invalid(format!("{}: not UTF-8 text", path.display()))
        }
        _ => crate::error::io_err(path)(e),
    })?;
    spec_from_toml(&text, batches)
        .map_err(|e| ContinualError::invalid(format!("{}: {e}", path.display())))
}

/// The loop configuration from a JSON object of `continual.toml` keys (`{}`: the defaults),
/// with `batches` overridden when given.
///
/// ```
/// let spec = mithridate_continual::named::spec_from_json(&serde_json::json!({"retrain": "finetune"}), None)?;
/// assert_eq!(spec.params().retrain, mithridate_continual::Retrain::Finetune);
/// let typo = mithridate_continual::named::spec_from_json(&serde_json::json!({"batchez": 2}), None);
/// assert!(typo.unwrap_err().to_string().contains("batchez"));
/// # Ok::<(), mithridate_continual::ContinualError>(())
/// ```
pub fn spec_from_json(config: &serde_json::Value, batches: Option<usize>) -> Result<ContinualSpec> {
    let config = match config {
        serde_json::Value::Null => serde_json::json!({}),
        other => other.clone(),
    };
    let params: ContinualParams = serde_json::from_value(config)
        .map_err(|e| ContinualError::invalid(format!("continual config: {e}")))?;
    override_batches(params, batches)
}

fn override_batches(mut params: ContinualParams, batches: Option<usize>) -> Result<ContinualSpec> {
    if let Some(b) = batches {
        params.batches = b;
    }
    params.check()
}

/// Checks the names and runs (or resumes) the loop on the dataset's full splits.
pub fn run(home: &DataHome, run: NamedRun) -> Result<Outcome> {
    let campaign = campaign::build(&run.campaign, &run.params)?;
    if !mithridate_pipeline::data::is_builtin(&run.data) {
        return Err(ContinualError::invalid(format!(
            "data '{}': the continual loop runs on a built-in image dataset (mnist, fashion-mnist)",
            run.data
        )));
    }
    let (train, test) = mithridate_pipeline::data::train_and_test(home, &run.data, None, run.seed)?;
    crate::run(
        RunRequest {
            data: run.data,
            seed: run.seed,
            spec: run.spec,
            campaign: campaign.into(),
            dir: run.dir,
            max_steps: run.max_steps,
        },
        &train,
        &test,
    )
}
