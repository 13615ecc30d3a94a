//! Fine-pruning (Liu, Dolan-Gavitt & Garg, 2018): remove the penultimate units clean data
//! leaves dormant, then fine-tune.

use crate::{
    accuracy, check_inputs, params, FineTune, Repair, RepairEntry, RepairError, Repaired, Result,
};
use mithridate_core::registry::Role;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use serde::{Deserialize, Serialize};

pub const ENTRY: RepairEntry = RepairEntry {
    name: "fine-pruning",
    role: Role::Repair,
    modalities: &[],
    summary: "prunes penultimate units dormant on clean data until trusted accuracy drops by max-accuracy-drop=0.04 (at most max-fraction=0.9 of them), then fine-tunes (epochs=10, learning-rate=0.001, batch-size=64)",
    paper: "Liu, Dolan-Gavitt & Garg 2018 (Fine-Pruning, RAID)",
    taxonomy: crate::MODEL_REPAIR,
    requires: &[],
    provides: &[],
    build: |p| Ok(Box::new(FinePruning::new(params("fine-pruning", p)?)?)),
};

/// Parameters of [`FinePruning`] (kebab-case keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FinePruningParams {
    /// Pruning stops before the trusted accuracy falls more than this below the unpruned one.
    pub max_accuracy_drop: f64,
    /// At most this share of the penultimate units is pruned.
    pub max_fraction: f64,
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl Default for FinePruningParams {
    fn default() -> Self {
        let d = FineTune::DEFAULT;
        FinePruningParams {
            max_accuracy_drop: 0.04,
            max_fraction: 0.9,
            epochs: d.epochs,
            learning_rate: d.learning_rate,
            batch_size: d.batch_size,
        }
    }
}

/// Fine-pruning (Liu, Dolan-Gavitt & Garg, 2018, "Fine-Pruning: Defending Against
/// Backdooring Attacks on Deep Neural Networks", RAID).
///
/// A backdoor tends to live in units that clean inputs leave dormant. With `a_j` the mean
/// activation of penultimate unit `j` over the trusted set, units are pruned in increasing
/// order of `a_j` (ties by index) for as long as the trusted accuracy stays at least
/// `acc_0 - max_accuracy_drop` (the paper stops at a 4% drop), and at most
/// `max_fraction` of them; a pruned unit's incoming weights and bias and its outgoing column
/// are zeroed, so its activation is 0 for every input. The pruned network is then
/// fine-tuned on the trusted set. The accuracy after each pruning step is computed from the
/// cached activations `h` as `argmax_c (b_c + Σ_{j unpruned} W_cj h_j)`, exactly what the
/// pruned network computes, so the search costs one forward pass.
///
/// Assumptions: the model has a hidden layer (not `logreg`); ReLU activations (a zeroed unit
/// outputs 0, and with ReLU's zero gradient at 0 the engine's dense training keeps it at
/// 0; the mask is applied again after fine-tuning for the text model, whose autodiff ReLU
/// passes gradient at 0). Adaptive attacks that spread the backdoor over active units defeat
/// the pruning step (Liu et al.'s pruning-aware attack); fine-tuning then does the work.
///
/// ```
/// use mithridate_repair::fine_pruning::{FinePruning, FinePruningParams};
/// let ok = FinePruning::new(FinePruningParams::default());
/// assert!(ok.is_ok());
/// let bad = FinePruningParams { max_fraction: 1.5, ..Default::default() };
/// assert!(FinePruning::new(bad).is_err());
/// ```
pub struct FinePruning {
    max_accuracy_drop: f64,
    max_fraction: f64,
    tune: FineTune,
}

impl FinePruning {
    pub fn new(p: FinePruningParams) -> Result<Self> {
        if !(p.max_accuracy_drop.is_finite() && (0.0..=1.0).contains(&p.max_accuracy_drop)) {
            return Err(RepairError::InvalidParameter(format!(
                "fine-pruning: max-accuracy-drop must be in [0, 1], not {}",
                p.max_accuracy_drop
            )));
        }
        if !(p.max_fraction.is_finite() && p.max_fraction > 0.0 && p.max_fraction < 1.0) {
            return Err(RepairError::InvalidParameter(format!(
                "fine-pruning: max-fraction must be in (0, 1) (pruning every unit leaves no model), not {}",
                p.max_fraction
            )));
        }
        let tune = FineTune {
            epochs: p.epochs,
            learning_rate: p.learning_rate,
            batch_size: p.batch_size,
        };
        tune.check("fine-pruning")?;
        Ok(FinePruning {
            max_accuracy_drop: p.max_accuracy_drop,
            max_fraction: p.max_fraction,
            tune,
        })
    }
}

/// Where the penultimate layer (`hidden` units) and the output layer sit in the flat
/// parameter vector: offsets of the penultimate weight `(hidden, fan_in)`, its bias, the
/// output weight `(classes, hidden)` and its bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadLayout {
    pub hidden: usize,
    pub fan_in: usize,
    pub classes: usize,
    pub penultimate_weight: usize,
    pub penultimate_bias: usize,
    pub output_weight: usize,
    pub output_bias: usize,
}

impl HeadLayout {
    /// The layout of `model`'s last two linear layers; an error for models without a
    /// hidden layer.
    pub fn of(model: &Classifier) -> Result<HeadLayout> {
        let shapes = model.parameter_shapes();
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut at = 0;
        for (_, shape) in &shapes {
            offsets.push(at);
            at += shape.iter().product::<usize>();
        }
        let n = shapes.len();
        let no_hidden = || {
            RepairError::Incompatible(format!(
                "pruning needs a hidden layer before the output; a '{}' model has none",
                model.architecture()
            ))
        };
        if n < 4 {
            return Err(no_hidden());
        }
        let (w1, b1, w2, b2) = (
            &shapes[n - 4],
            &shapes[n - 3],
            &shapes[n - 2],
            &shapes[n - 1],
        );
        let linear = w1.0.ends_with(".weight")
            && b1.0.ends_with(".bias")
            && w1.1.len() == 2
            && b1.1 == [w1.1[0]]
            && w2.1.len() == 2
            && w2.1[1] == w1.1[0]
            && b2.1 == [w2.1[0]];
        if !linear || w1.1[0] != model.embedding_dim() {
            return Err(no_hidden());
        }
        Ok(HeadLayout {
            hidden: w1.1[0],
            fan_in: w1.1[1],
            classes: w2.1[0],
            penultimate_weight: offsets[n - 4],
            penultimate_bias: offsets[n - 3],
            output_weight: offsets[n - 2],
            output_bias: offsets[n - 1],
        })
    }

    /// Zeroes unit `j`'s incoming weights, bias and outgoing column in `flat`.
    pub fn prune(&self, flat: &mut [f32], j: usize) {
        let row = self.penultimate_weight + j * self.fan_in;
        flat[row..row + self.fan_in].fill(0.0);
        flat[self.penultimate_bias + j] = 0.0;
        for c in 0..self.classes {
            flat[self.output_weight + c * self.hidden + j] = 0.0;
        }
    }
}

/// Trusted accuracy after pruning the first `p` units of `order`, for every `p` in
/// `0..=order.len()`, from the activations `h` (`n x hidden`) and the output layer.
pub fn accuracy_curve(
    h: &[f32],
    labels: &[u32],
    layout: &HeadLayout,
    flat: &[f32],
    order: &[usize],
) -> Vec<f64> {
    let (k, hidden) = (layout.classes, layout.hidden);
    let n = labels.len();
    let w = &flat[layout.output_weight..layout.output_weight + k * hidden];
    let b = &flat[layout.output_bias..layout.output_bias + k];
    let mut logits: Vec<f64> = (0..n * k)
        .map(|ic| {
            let (i, c) = (ic / k, ic % k);
            f64::from(b[c])
                + (0..hidden)
                    .map(|j| f64::from(w[c * hidden + j]) * f64::from(h[i * hidden + j]))
                    .sum::<f64>()
        })
        .collect();
    let acc = |logits: &[f64]| {
        let correct = logits
            .chunks(k)
            .zip(labels)
            .filter(|(row, &y)| argmax(row) == y as usize)
            .count();
        correct as f64 / n.max(1) as f64
    };
    let mut curve = vec![acc(&logits)];
    for &j in order {
        for i in 0..n {
            let a = f64::from(h[i * hidden + j]);
            for c in 0..k {
                logits[i * k + c] -= f64::from(w[c * hidden + j]) * a;
            }
        }
        curve.push(acc(&logits));
    }
    curve
}

/// Index of the largest value (the first on ties), as the engine predicts.
fn argmax(row: &[f64]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}

impl Repair for FinePruning {
    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "max_accuracy_drop": self.max_accuracy_drop,
            "max_fraction": self.max_fraction,
            "fine_tune": self.tune,
        })
    }

    fn repair(&self, model: &Classifier, trusted: &Dataset, seed: u64) -> Result<Repaired> {
        check_inputs(model, trusted)?;
        let layout = HeadLayout::of(model)?;
        let (h, dim) = model.embeddings(trusted)?;
        debug_assert_eq!(dim, layout.hidden);
        let n = trusted.len();
        let mean: Vec<f64> = (0..dim)
            .map(|j| (0..n).map(|i| f64::from(h[i * dim + j])).sum::<f64>() / n as f64)
            .collect();
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]).then(a.cmp(&b)));
        let max_units = ((self.max_fraction * dim as f64).floor() as usize).min(dim - 1);
        order.truncate(max_units);
        let mut flat = model.flat_parameters()?;
        let curve = accuracy_curve(&h, trusted.labels(), &layout, &flat, &order);
        let floor = curve[0] - self.max_accuracy_drop;
        // Sequential, as in the paper: stop at the first step that falls below the floor.
        let pruned = curve[1..].iter().take_while(|&&a| a >= floor).count();
        for &j in &order[..pruned] {
            layout.prune(&mut flat, j);
        }
        let mut repaired = model.try_clone()?;
        repaired.set_flat_parameters(&flat)?;
        let after_pruning = accuracy(&repaired, trusted)?;
        self.tune.run(&mut repaired, trusted, seed)?;
        let mut tuned = repaired.flat_parameters()?;
        for &j in &order[..pruned] {
            layout.prune(&mut tuned, j);
        }
        repaired.set_flat_parameters(&tuned)?;
        Ok(Repaired {
            details: serde_json::json!({
                "units": dim,
                "pruned": pruned,
                "pruned_fraction": pruned as f64 / dim as f64,
                "pruned_units": &order[..pruned],
                "trusted_accuracy_before": curve[0],
                "trusted_accuracy_after_pruning": after_pruning,
                "trusted_accuracy_after_fine_tuning": accuracy(&repaired, trusted)?,
            }),
            model: repaired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::{Features, Modality};
    use mithridate_engine::Architecture;

    fn tabular(n: usize, seed: u64) -> Dataset {
        // Two noisy clusters in 6 features, class = which cluster.
        let mut x = Vec::with_capacity(n * 6);
        let mut labels = Vec::with_capacity(n);
        let mut s = seed;
        for i in 0..n {
            let y = (i % 2) as u32;
            for f in 0..6 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
                x.push(if (f % 2) as u32 == y { 1.0 } else { 0.0 } + noise);
            }
            labels.push(y);
        }
        Dataset::new(
            Modality::Tabular { features: 6 },
            Features::Dense(x),
            labels,
            (0..n as u64).collect(),
            2,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn curve_equals_the_pruned_networks_accuracy() {
        let data = tabular(200, 3);
        let mut model = Classifier::new(Architecture::Mlp, data.modality(), 2, 1).unwrap();
        FineTune {
            epochs: 3,
            ..FineTune::DEFAULT
        }
        .run(&mut model, &data, 0)
        .unwrap();
        let layout = HeadLayout::of(&model).unwrap();
        assert_eq!((layout.hidden, layout.classes), (128, 2));
        let (h, _) = model.embeddings(&data).unwrap();
        let flat = model.flat_parameters().unwrap();
        let order: Vec<usize> = (0..120).rev().collect();
        let curve = accuracy_curve(&h, data.labels(), &layout, &flat, &order);
        for p in [0, 1, 40, 100, 120] {
            let mut pruned = flat.clone();
            for &j in &order[..p] {
                layout.prune(&mut pruned, j);
            }
            let mut m = model.try_clone().unwrap();
            m.set_flat_parameters(&pruned).unwrap();
            let direct = accuracy(&m, &data).unwrap();
            assert!(
                (direct - curve[p]).abs() < 1e-9,
                "p {p}: {direct} vs {}",
                curve[p]
            );
        }
    }

    #[test]
    fn pruned_units_stay_dead_through_fine_tuning() {
        let data = tabular(200, 5);
        let mut model = Classifier::new(Architecture::Mlp, data.modality(), 2, 2).unwrap();
        let layout = HeadLayout::of(&model).unwrap();
        let mut flat = model.flat_parameters().unwrap();
        for j in 0..64 {
            layout.prune(&mut flat, j);
        }
        model.set_flat_parameters(&flat).unwrap();
        FineTune {
            epochs: 2,
            ..FineTune::DEFAULT
        }
        .run(&mut model, &data, 0)
        .unwrap();
        let tuned = model.flat_parameters().unwrap();
        for j in 0..64 {
            assert_eq!(tuned[layout.penultimate_bias + j], 0.0);
            for c in 0..2 {
                assert_eq!(tuned[layout.output_weight + c * 128 + j], 0.0);
            }
        }
        assert!(
            tuned[layout.penultimate_bias + 64..layout.penultimate_bias + 128]
                .iter()
                .any(|&v| v != 0.0)
        );
    }

    #[test]
    fn logreg_has_no_unit_to_prune() {
        let data = tabular(20, 1);
        let model = Classifier::new(Architecture::LogReg, data.modality(), 2, 1).unwrap();
        let err = FinePruning::new(FinePruningParams::default())
            .unwrap()
            .repair(&model, &data, 0)
            .err()
            .unwrap();
        assert!(err.to_string().contains("hidden layer"), "{err}");
    }
}
