//! One module per attack; shared plumbing (seeded sample choice, the dirty-label backdoor
//! recipe shared by BadNets, Blended, text and tabular triggers) lives here.

pub mod badnets;
pub mod blend;
pub mod clean_label;
pub mod feature_collision;
pub mod label_flip_greedy;
pub mod label_flip_random;
pub mod label_flip_targeted;
pub mod narcissus;
pub mod sig;
pub mod tabular_trigger;
pub mod text_trigger;
pub mod wanet;

use crate::edit::{Edits, Record};
use crate::trigger::{Mapping, Trigger};
use crate::truth::{BudgetRecord, Goal};
use crate::{check_class, rng, AttackError, AttackInput, Poisoned, Result, Surrogate, Taxonomy};
use mithridate_data::{Dataset, Features};

/// `sign(g)` with `sign(0) = 0` (Rust's `signum` gives 1 for +0): the step of the
/// signed-gradient (PGD) updates of the surrogate-driven attacks.
pub(crate) fn sign(g: f32) -> f32 {
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The surrogate's `d CE(f(x_i), labels_i) / d x_i` for the dense rows `x` (samples shaped
/// like `template`'s), checked to hold one value per input value.
pub(crate) fn loss_gradients(
    surrogate: &dyn Surrogate,
    template: &Dataset,
    x: Vec<f32>,
    labels: &[u32],
) -> Result<Vec<f32>> {
    let per = template.modality().sample_len();
    let batch = Dataset::new(
        template.modality().clone(),
        Features::Dense(x),
        labels.to_vec(),
        (0..labels.len() as u64).collect(),
        template.num_classes(),
        Vec::new(),
    )?;
    let grad = surrogate.loss_input_gradients(&batch, labels)?;
    if grad.len() != labels.len() * per {
        return Err(AttackError::Surrogate(format!(
            "returned {} gradient values for {} samples of {per}",
            grad.len(),
            labels.len()
        )));
    }
    Ok(grad)
}

/// `count` rows drawn uniformly without replacement from `pool`, in ascending row order.
pub(crate) fn choose(pool: &[usize], count: usize, seed: u64) -> Vec<usize> {
    let mut r = rng::stream(seed, rng::SELECT);
    let mut rows: Vec<usize> = rand::seq::index::sample(&mut r, pool.len(), count)
        .into_iter()
        .map(|i| pool[i])
        .collect();
    rows.sort_unstable();
    rows
}

/// `(channels, height, width)` of image data, or an incompatibility error naming `what`
/// (e.g. "a patch trigger") and the modality it got.
pub(crate) fn image_shape(
    modality: &mithridate_data::Modality,
    what: &str,
) -> Result<(usize, usize, usize)> {
    match *modality {
        mithridate_data::Modality::Image {
            channels,
            height,
            width,
        } => Ok((channels, height, width)),
        _ => Err(AttackError::incompatible(format!(
            "{what} needs image data, not {} data",
            modality.name()
        ))),
    }
}

/// Rows of `data` whose label satisfies `keep`.
pub(crate) fn rows_where(data: &Dataset, keep: impl Fn(u32) -> bool) -> Vec<usize> {
    (0..data.len())
        .filter(|&r| keep(data.labels()[r]))
        .collect()
}

/// Which labels triggered inputs should get, as users spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingKind {
    /// Every triggered input to `target` (Gu et al. 2017 "single target").
    #[default]
    AllToOne,
    /// Class `y` to `(y + 1) mod K` (Gu et al. 2017 "all-to-all").
    AllToAll,
}

/// Resolves `mapping` + `target` into a [`Mapping`] for `data`.
pub(crate) fn mapping(kind: MappingKind, target: Option<u32>, data: &Dataset) -> Result<Mapping> {
    if data.num_classes() < 2 {
        return Err(AttackError::incompatible(
            "a backdoor needs a dataset with at least two classes",
        ));
    }
    match (kind, target) {
        (MappingKind::AllToOne, Some(t)) => {
            check_class(data, t, "target")?;
            Ok(Mapping::AllToOne { target: t })
        }
        (MappingKind::AllToOne, None) => Err(AttackError::param(
            "an all-to-one backdoor needs a target class (target)",
        )),
        (MappingKind::AllToAll, None) => Ok(Mapping::AllToAll { shift: 1 }),
        (MappingKind::AllToAll, Some(_)) => Err(AttackError::param(
            "an all-to-all backdoor maps y to y+1 and takes no target class",
        )),
    }
}

/// The dirty-label backdoor recipe (Gu et al. 2017): poison `budget` of the training set,
/// drawn uniformly from the samples the mapping moves (for all-to-one: those not already in
/// the target class); stamp the trigger and relabel per the mapping. With `append`, poisoned
/// copies are added under fresh ids and the originals stay untouched.
pub(crate) struct DirtyLabel<'a> {
    pub attack: &'static str,
    pub parameters: serde_json::Value,
    pub trigger: Trigger,
    pub mapping: Mapping,
    pub append: bool,
    pub taxonomy: Taxonomy,
    pub input: &'a AttackInput<'a>,
}

impl DirtyLabel<'_> {
    pub fn run(self) -> Result<Poisoned> {
        let data = self.input.train;
        self.trigger.check(data.modality())?;
        let k = data.num_classes();
        let count = self.input.budget.resolve(data.len(), "training set")?;
        let eligible = rows_where(data, |y| self.mapping.target_for(y, k).is_some());
        if count > eligible.len() {
            return Err(AttackError::param(format!(
                "a budget of {count} samples exceeds the {} samples outside the target class",
                eligible.len()
            )));
        }
        let rows = choose(&eligible, count, self.input.seed);
        let mut edits = Edits::new(data);
        for &row in &rows {
            let Some(label) = self.mapping.target_for(data.labels()[row], k) else {
                continue;
            };
            let at = if self.append {
                edits.append_copy(row)?
            } else {
                row
            };
            let id = edits.id(at);
            stamp(&mut edits, &self.trigger, data, at, id)?;
            edits.set_label(at, label);
        }
        edits.finish(Record {
            attack: self.attack,
            parameters: self.parameters,
            seed: self.input.seed,
            budget: BudgetRecord {
                requested: self.input.budget,
                pool: "training set".into(),
                pool_size: data.len(),
                selected: rows.len(),
            },
            taxonomy: self.taxonomy,
            goal: Goal::Backdoor {
                trigger: self.trigger,
                mapping: self.mapping,
            },
        })
    }
}

/// Applies `trigger` to row `at` of `edits`, as sample `id`.
pub(crate) fn stamp(
    edits: &mut Edits,
    trigger: &Trigger,
    data: &Dataset,
    at: usize,
    id: u64,
) -> Result<()> {
    match trigger {
        Trigger::Tokens { .. } => trigger.apply_tokens(edits.tokens_row_mut(at)?, id),
        _ => trigger.apply_dense(data.modality(), edits.dense_row_mut(at)?, id),
    }
    Ok(())
}
