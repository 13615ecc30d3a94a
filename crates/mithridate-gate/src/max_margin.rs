//! MM-BD: a model-level backdoor detector that assumes nothing about the trigger's shape.
//!
//! Wang, Xiang, Miller & Kesidis (2024), "MM-BD: Post-Training Detection of Backdoor Attacks
//! with Arbitrary Backdoor Pattern Types Using a Maximum Margin Statistic", IEEE S&P. A
//! backdoor teaches the network one input feature (the trigger, of any shape: a patch, a
//! blended image, a warp) that overrides everything else for the target class, so the
//! *largest logit margin* the network can produce for that class,
//!
//! `r_c = max_{x in [0, 1]^d} ( z_c(x) - max_{j != c} z_j(x) )`,
//!
//! is abnormally large compared with the other classes'. No clean data is needed: `r_c` is
//! estimated by gradient ascent from `starts` random inputs per class (the largest margin met
//! along every path), with `x = sigmoid(u)` keeping the search in the box and Adam on `u`.
//! The statistics of the other classes form the null: a Gamma distribution fitted to the
//! `K - 1` smallest by maximum likelihood (Minka's closed-form shape), and the largest one's
//! order-statistic p-value is `p = 1 - F(r_max)^(K - 1)`. That plug-in p-value is
//! anti-conservative (the null is fitted to the smallest `K - 1` of `K` values, from 9 values
//! for ten classes), so by default it is calibrated by the parametric bootstrap
//! ([`calibrated_p_value`]; `calibration_draws = 0` keeps the paper's). The model is flagged,
//! with the class of `r_max` as the target, when `p < threshold` (the paper's 0.05) and the
//! largest statistic is also at least `min_effect` times the classes' median statistic
//! (default 1.5; 1 = significance alone). Why an effect-size floor: the null is fitted to
//! the other classes' statistics, so when they are unusually uniform (MNIST MLPs whose nine
//! ratios lie within 0.72-0.79) it is so narrow that a top class only 1.2-1.4 times the
//! median is "significant". Measured on clean and trojaned model zoos (onnx README, "Stop
//! 36"): every false positive of the p-value alone had an effect of 1.2-1.42, every detected
//! backdoor a larger one.
//!
//! By default the statistics are first divided by clean reference models' margins, class by
//! class ([`crate::margin_reference`]): the paper's exchangeability of the classes' margins
//! fails on data where some classes are naturally easier to push (Fashion-MNIST's sandals),
//! and the ratio `r_c / r̄_c` restores it. `reference_models = 0` keeps the paper's raw
//! statistics, which need no trusted sample.
//!
//! Assumptions: inputs in `[0, 1]`; one target class (all-to-one); at least 3 classes (the
//! null needs two values). Tolerance: the ascent is a local search, so `r_c` is a lower
//! bound; more starts and steps tighten it. Cost: `K * starts * steps` forward and backward
//! passes of one input each (batched), a few times less than Neural Cleanse's default.
//!
//! ```
//! use mithridate_gate::max_margin::{gamma_null_p_value, MarginParams};
//! use mithridate_gate::ParamGuard;
//! // Nine similar statistics and one far larger: a small p-value.
//! let stats = [3.1, 2.8, 3.3, 2.9, 3.0, 3.4, 2.7, 3.2, 3.0, 12.0];
//! let (p, _, _) = gamma_null_p_value(&stats).unwrap();
//! assert!(p < 1e-3);
//! // A largest value among its peers: no detection.
//! let (p, _, _) = gamma_null_p_value(&stats[..9]).unwrap();
//! assert!(p > 0.05);
//! assert!(MarginParams { starts: 0, ..MarginParams::default() }.check().is_err());
//! assert!(MarginParams { reference_models: 1, ..MarginParams::default() }.check().is_err());
//! ```

use crate::margin_reference::{
    reference_margins, reference_ratios, MarginReference, ReferenceArchitecture,
};
use crate::model_scan::GradientModel;
use crate::optimiser::Adam;
use crate::reverse::layout;
use crate::{GateError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Gamma};

/// Unchecked settings of [`max_margin_scan`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarginParams {
    /// Adam steps of every ascent.
    pub steps: usize,
    /// Random starting inputs per class.
    pub starts: usize,
    /// Adam learning rate on the input logits `u`.
    pub learning_rate: f64,
    /// Flag the model when the largest statistic's p-value is below this.
    pub p_threshold: f64,
    /// ... and the largest statistic is at least this multiple of the classes' median
    /// statistic (effect size, `>= 1`; 1 keeps significance alone).
    pub min_effect: f64,
    /// Parametric-bootstrap draws that calibrate the p-value ([`calibrated_p_value`]);
    /// 0 keeps the paper's plug-in p-value.
    pub calibration_draws: usize,
    /// Clean reference models trained on the trusted set whose margins divide the model's,
    /// class by class ([`crate::margin_reference`]); 0 keeps the paper's raw statistics.
    pub reference_models: usize,
    /// The references' family.
    pub reference_architecture: ReferenceArchitecture,
    /// Seed of the random starts (and of the calibration draws and the references).
    pub seed: u64,
}

impl Default for MarginParams {
    fn default() -> Self {
        MarginParams {
            steps: 300,
            starts: 8,
            learning_rate: 0.1,
            p_threshold: 0.05,
            min_effect: 1.5,
            calibration_draws: 2000,
            reference_models: 3,
            reference_architecture: ReferenceArchitecture::Auto,
            seed: 0,
        }
    }
}

/// [`MarginParams`] checked by [`ParamGuard::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedMargin(MarginParams);

impl CheckedMargin {
    pub fn params(&self) -> &MarginParams {
        &self.0
    }
}

impl ParamGuard for MarginParams {
    type Checked = CheckedMargin;
    type Error = GateError;

    /// Steps and starts at least 1; learning rate positive; threshold in (0, 1); reference
    /// models 0 or 2 to 32 (one reference is no estimate of the clean level's spread
    /// across models).
    fn check_ref(&self) -> Result<()> {
        let bad = |m: &str| Err(GateError::Input(format!("max-margin: {m}")));
        if self.steps == 0 || self.starts == 0 {
            return bad("steps and starts must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if !(self.p_threshold > 0.0 && self.p_threshold < 1.0) {
            return bad("p_threshold must be in (0, 1)");
        }
        if !(self.min_effect.is_finite() && self.min_effect >= 1.0) {
            return bad("min_effect must be a finite number >= 1");
        }
        if self.calibration_draws > 1_000_000 {
            return bad("calibration_draws must be at most 1000000");
        }
        if self.reference_models == 1 || self.reference_models > 32 {
            return bad("reference_models must be 0 (none) or between 2 and 32");
        }
        Ok(())
    }

    fn build(self) -> CheckedMargin {
        CheckedMargin(self)
    }
}

/// One class's maximum-margin statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMargin {
    pub class: usize,
    pub max_margin: f64,
    /// The clean references' level for this class (`r̄_c`) and the tested ratio
    /// `max_margin / r̄_c`, when references were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_margin: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// The outcome of [`max_margin_scan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginScan {
    pub classes: Vec<ClassMargin>,
    /// The class with the largest statistic and its order-statistic p-value under the null,
    /// calibrated by the parametric bootstrap unless `calibration_draws` is 0 (the decision's
    /// p-value), and the paper's plug-in p-value.
    pub top_class: usize,
    pub p_value: f64,
    pub plug_in_p_value: f64,
    /// The fitted null Gamma's shape and scale.
    pub null_shape: f64,
    pub null_scale: f64,
    /// The largest statistic over the classes' median statistic.
    pub effect: f64,
    /// `[top_class]` when `p_value < p_threshold` and `effect >= min_effect`, else empty.
    pub target_classes: Vec<usize>,
    /// The clean reference models, when `reference_models > 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<MarginReference>,
    pub params: MarginParams,
}

/// MM-BD on `model` with the clean `trusted` set: its modality and classes shape the search,
/// and its samples train the reference models (none is used when `reference_models` is 0).
/// See the [module documentation](self).
pub fn max_margin_scan(
    model: &dyn GradientModel,
    trusted: &Dataset,
    params: &CheckedMargin,
) -> Result<MarginScan> {
    let cfg = params.params();
    let margins = class_margins(model, trusted, params)?;
    let reference = match cfg.reference_models {
        0 => None,
        count => {
            let family = cfg
                .reference_architecture
                .resolve(model.reference_architecture(), trusted.modality());
            Some(reference_margins(family, trusted, count, params)?)
        }
    };
    let ratios = reference
        .as_ref()
        .map(|r| reference_ratios(&margins, &r.margins));
    let stats = ratios.clone().unwrap_or_else(|| margins.clone());
    let classes: Vec<ClassMargin> = margins
        .iter()
        .enumerate()
        .map(|(c, &m)| ClassMargin {
            class: c,
            max_margin: m,
            reference_margin: reference.as_ref().map(|r| r.margins[c]),
            ratio: ratios.as_ref().map(|r| r[c]),
        })
        .collect();
    let k = stats.len();
    let top_class = (0..k)
        .max_by(|&a, &b| stats[a].total_cmp(&stats[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    let (plug_in_p_value, null_shape, null_scale) = gamma_null_p_value(&stats)?;
    let p_value = if cfg.calibration_draws == 0 {
        plug_in_p_value
    } else {
        calibrated_p_value(&stats, cfg.calibration_draws, cfg.seed)?
    };
    let effect = effect_size(&stats);
    Ok(MarginScan {
        classes,
        top_class,
        p_value,
        plug_in_p_value,
        null_shape,
        null_scale,
        effect,
        target_classes: if p_value < cfg.p_threshold && effect >= cfg.min_effect {
            vec![top_class]
        } else {
            vec![]
        },
        reference,
        params: *cfg,
    })
}

/// The largest statistic over the median of all of them (the middle two averaged for an even
/// count); `1` when the median is not positive (no scale to compare with).
///
/// ```
/// use mithridate_gate::max_margin::effect_size;
/// assert_eq!(effect_size(&[1.0, 2.0, 2.0, 3.0, 6.0]), 3.0);
/// assert_eq!(effect_size(&[1.0, 3.0, 5.0, 6.0]), 1.5); // median (3 + 5) / 2 = 4
/// assert_eq!(effect_size(&[0.0, 0.0, 2.0]), 1.0);
/// ```
pub fn effect_size(stats: &[f64]) -> f64 {
    let median = crate::model_scan::median(stats);
    let top = stats.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if median > 0.0 && median.is_finite() {
        top / median
    } else {
        1.0
    }
}

/// Every class's maximum logit margin over the input box (MM-BD's `r_c`), by Adam ascent
/// from `starts` seeded random inputs per class; the largest margin met along every path.
pub fn class_margins(
    model: &dyn GradientModel,
    template: &Dataset,
    params: &CheckedMargin,
) -> Result<Vec<f64>> {
    let cfg = params.params();
    let k = template.num_classes();
    if k < 3 {
        return Err(GateError::Input(format!(
            "MM-BD compares classes' largest margins and needs at least 3 classes, not {k}"
        )));
    }
    let per = match template.modality() {
        m @ Modality::Image { .. } => {
            let (channels, positions) = layout(m)?;
            channels * positions
        }
        Modality::Tabular { features } => *features,
        Modality::Text { .. } => {
            return Err(GateError::Input(
                "MM-BD searches continuous inputs; text token ids are discrete".into(),
            ))
        }
    };
    let rows = k * cfg.starts;
    let classes: Vec<u32> = (0..rows).map(|r| (r / cfg.starts) as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    // Starts uniform in [0.05, 0.95], as logits.
    let mut u: Vec<f64> = (0..rows * per)
        .map(|_| {
            let x: f64 = rng.random_range(0.05..0.95);
            (x / (1.0 - x)).ln()
        })
        .collect();
    let mut adam = Adam::new(u.len(), cfg.learning_rate);
    let mut best = vec![f64::NEG_INFINITY; rows];
    for _ in 0..cfg.steps {
        let x: Vec<f32> = u.iter().map(|&z| sigmoid(z) as f32).collect();
        let batch = Dataset::new(
            template.modality().clone(),
            Features::Dense(x),
            vec![0; rows],
            (0..rows as u64).collect(),
            k,
            vec![],
        )
        .map_err(|e| GateError::Input(e.to_string()))?;
        let (grads, margins) = model.margin_gradients(&batch, &classes)?;
        for (b, &m) in best.iter_mut().zip(&margins) {
            *b = b.max(f64::from(m));
        }
        // Ascent on the margin is descent on its negative, through x = sigmoid(u).
        let descent: Vec<f64> = grads
            .iter()
            .zip(&u)
            .map(|(&g, &z)| {
                let s = sigmoid(z);
                -f64::from(g) * s * (1.0 - s)
            })
            .collect();
        adam.step(&mut u, &descent);
    }
    Ok((0..k)
        .map(|c| {
            best[c * cfg.starts..(c + 1) * cfg.starts]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect())
}

/// Statistics (and margins) at or below this count as this: the Gamma null lives on
/// `(0, inf)`, and a class that never wins can have a negative margin.
pub(crate) const STATISTIC_FLOOR: f64 = 1e-6;

/// MM-BD's null test of the largest of `stats`: a Gamma fitted by maximum likelihood to the
/// others (values below a small positive floor are raised to it: the Gamma lives on
/// `(0, inf)`), and `p = 1 - F(max)^(n - 1)`, the chance that the largest of `n - 1` null
/// draws exceeds it. Returns `(p, shape, scale)`; errors on fewer than 3 values or a non-finite one.
pub fn gamma_null_p_value(stats: &[f64]) -> Result<(f64, f64, f64)> {
    if stats.len() < 3 || stats.iter().any(|s| !s.is_finite()) {
        return Err(GateError::Input(format!(
            "MM-BD's null needs at least 3 finite statistics, got {stats:?}"
        )));
    }
    let mut sorted: Vec<f64> = stats.iter().map(|s| s.max(STATISTIC_FLOOR)).collect();
    sorted.sort_by(f64::total_cmp);
    let top = sorted.pop().unwrap_or(STATISTIC_FLOOR);
    let (shape, scale) = fit_gamma(&sorted);
    let gamma = Gamma::new(shape, 1.0 / scale)
        .map_err(|e| GateError::Input(format!("MM-BD's null Gamma: {e}")))?;
    // 1 - F^(n-1) through the survival function: exact for far outliers, where F rounds to 1.
    let p = -((sorted.len() as f64) * (-gamma.sf(top)).ln_1p()).exp_m1();
    Ok((p.clamp(0.0, 1.0), shape, scale))
}

/// [`gamma_null_p_value`] calibrated by the parametric bootstrap (Davison & Hinkley 1997,
/// ch. 4): the plug-in p-value is anti-conservative here, because its null is fitted to the
/// `n - 1` *smallest* of `n` statistics, which understates the null's spread, and from only
/// `n - 1` values (9 for ten classes), whose estimation error it ignores. So: draw `draws`
/// sets of `n` values from the fitted null Gamma, compute each set's plug-in p-value
/// exactly as for the real statistics (refit on its `n - 1` smallest), and return
/// `p = (1 + #{p*_b <= p_obs}) / (draws + 1)`, the share of null sets at least as extreme.
/// Under the null the result is uniform up to the bootstrap's error, so a threshold of 0.05
/// flags about 5% of clean models; the smallest value it can return is `1 / (draws + 1)`.
/// Deterministic in `seed`.
///
/// ```
/// use mithridate_gate::max_margin::{calibrated_p_value, gamma_null_p_value};
/// let stats = [3.1, 2.8, 3.3, 2.9, 3.0, 3.4, 2.7, 3.2, 3.0, 4.0];
/// let plug_in = gamma_null_p_value(&stats).unwrap().0;
/// let calibrated = calibrated_p_value(&stats, 2000, 7).unwrap();
/// assert!(calibrated > plug_in);
/// // A far outlier stays at the bootstrap's floor.
/// let far = [3.1, 2.8, 3.3, 2.9, 3.0, 3.4, 2.7, 3.2, 3.0, 40.0];
/// assert_eq!(calibrated_p_value(&far, 999, 7).unwrap(), 1.0 / 1000.0);
/// ```
pub fn calibrated_p_value(stats: &[f64], draws: usize, seed: u64) -> Result<f64> {
    let (observed, shape, scale) = gamma_null_p_value(stats)?;
    let null = rand_distr::Gamma::new(shape, scale)
        .map_err(|e| GateError::Input(format!("MM-BD's null Gamma: {e}")))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6d_6264_6e75_6c6c);
    let mut sample = vec![0.0; stats.len()];
    let mut as_extreme = 0usize;
    for _ in 0..draws {
        for v in sample.iter_mut() {
            *v = rng.sample(null);
        }
        if gamma_null_p_value(&sample)?.0 <= observed {
            as_extreme += 1;
        }
    }
    Ok((1 + as_extreme) as f64 / (draws + 1) as f64)
}

/// Maximum-likelihood Gamma `(shape, scale)` of positive values, with Minka's (2002)
/// closed-form approximation of the shape, `(3 - s + sqrt((s - 3)^2 + 24 s)) / (12 s)` for
/// `s = ln(mean) - mean(ln x)` (within 1.5% of the exact MLE); identical values (`s = 0`)
/// get a very peaked Gamma.
fn fit_gamma(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let mean_ln = values.iter().map(|v| v.ln()).sum::<f64>() / n;
    let s = (mean.ln() - mean_ln).max(1e-12);
    let shape = ((3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s)).min(1e9);
    (shape, mean / shape)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_fit_recovers_a_known_gamma() {
        // Quantiles of Gamma(shape 4, scale 0.5): the fit lands near (4, 0.5).
        let g = Gamma::new(4.0, 2.0).unwrap();
        let values: Vec<f64> = (1..200)
            .map(|i| g.inverse_cdf(f64::from(i) / 200.0))
            .collect();
        let (shape, scale) = fit_gamma(&values);
        assert!((shape - 4.0).abs() < 0.3, "shape {shape}");
        assert!((scale - 0.5).abs() < 0.05, "scale {scale}");
    }

    #[test]
    fn p_value_is_the_order_statistic_tail() {
        // A top value in line with the others' spread: the largest of 5 null draws often
        // exceeds it; a far outlier: a p-value near 0.
        let (p, _, _) = gamma_null_p_value(&[3.0, 5.0, 4.0, 6.0, 2.0, 4.5]).unwrap();
        assert!(p > 0.05, "{p}");
        let (p, shape, scale) = gamma_null_p_value(&[5.0, 5.1, 4.9, 50.0]).unwrap();
        assert!(p < 1e-6, "{p}");
        assert!(shape > 100.0 && (shape * scale - 5.0).abs() < 0.01);
        assert!(gamma_null_p_value(&[1.0, 2.0]).is_err());
        assert!(gamma_null_p_value(&[1.0, f64::NAN, 2.0]).is_err());
    }

    /// Ten statistics drawn from one Gamma (a clean model, under MM-BD's null): the share of
    /// sets flagged at 0.05 is what a clean model's false-positive rate would be.
    fn null_flag_rates(shape: f64, sets: usize) -> (f64, f64) {
        let null = rand_distr::Gamma::new(shape, 1.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut plug_in, mut calibrated) = (0usize, 0usize);
        for i in 0..sets {
            let stats: Vec<f64> = (0..10).map(|_| rng.sample(null)).collect();
            plug_in += usize::from(gamma_null_p_value(&stats).unwrap().0 < 0.05);
            calibrated += usize::from(calibrated_p_value(&stats, 400, i as u64).unwrap() < 0.05);
        }
        (
            plug_in as f64 / sets as f64,
            calibrated as f64 / sets as f64,
        )
    }

    #[test]
    fn calibration_brings_the_null_flag_rate_to_the_threshold() {
        for shape in [2.0, 8.0, 40.0] {
            let (plug_in, calibrated) = null_flag_rates(shape, 600);
            eprintln!("Gamma shape {shape}: flagged at 0.05, plug-in {plug_in:.3}, calibrated {calibrated:.3}");
            // 600 sets: a binomial(600, 0.05) share stays within 0.05 +- 0.027 (3 sigma).
            assert!((calibrated - 0.05).abs() < 0.027, "calibrated {calibrated}");
            assert!(plug_in > calibrated, "plug-in {plug_in} vs {calibrated}");
        }
        // Same statistics and seed, same p; the floor is 1 / (draws + 1).
        let stats = [1.0, 1.2, 0.9, 1.1, 1.3, 0.8, 1.0, 1.05, 0.95, 1.25];
        assert_eq!(
            calibrated_p_value(&stats, 300, 5).unwrap(),
            calibrated_p_value(&stats, 300, 5).unwrap()
        );
        assert!(calibrated_p_value(&[1.0, f64::INFINITY, 2.0], 10, 0).is_err());
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use mithridate_engine::{Architecture, Classifier};

    /// A 10-class logistic regression on 6 features with small seeded weights; `implant`
    /// gives class 3 a large weight on feature 5, a "trigger feature" only it responds to.
    fn logreg(implant: bool) -> (Classifier, Dataset) {
        let modality = Modality::Tabular { features: 6 };
        let mut model = Classifier::new(Architecture::LogReg, &modality, 10, 3).unwrap();
        let mut w = model.flat_parameters().unwrap();
        if implant {
            // Weight (10, 6) row-major, then the bias.
            w[3 * 6 + 5] = 40.0;
        }
        model.set_flat_parameters(&w).unwrap();
        let template = Dataset::new(
            modality,
            Features::Dense(vec![0.5; 6]),
            vec![0],
            vec![0],
            10,
            vec![],
        )
        .unwrap();
        (model, template)
    }

    #[test]
    fn an_implanted_trigger_feature_is_found_and_a_plain_model_passes() {
        // The template has one sample: the paper's raw statistics, no references.
        let params = MarginParams {
            steps: 200,
            reference_models: 0,
            ..MarginParams::default()
        }
        .check()
        .unwrap();
        let (bad, template) = logreg(true);
        let scan = max_margin_scan(&bad, &template, &params).unwrap();
        assert_eq!(scan.target_classes, vec![3], "{scan:?}");
        // A linear model's margin is concave in x: its maximum over the box is at least the
        // margin at the corner the implant points to (feature 5 on, the rest where class 3's
        // row beats the runner-up), which the ascent must reach.
        assert!(scan.classes[3].max_margin > 30.0, "{scan:?}");
        let (plain, template) = logreg(false);
        let scan = max_margin_scan(&plain, &template, &params).unwrap();
        assert!(scan.target_classes.is_empty(), "{scan:?}");
        // Same seed, same statistics.
        let again = max_margin_scan(&plain, &template, &params).unwrap();
        assert_eq!(scan, again);
    }

    #[test]
    fn a_significant_but_small_top_statistic_fails_the_effect_floor() {
        // Nine unusually uniform ratios (a clean MNIST MLP of the zoo had 0.72-0.79) and a top
        // class at 0.95: the narrow null makes it "significant", the effect is only ~1.26.
        let stats = [0.72, 0.73, 0.74, 0.75, 0.75, 0.76, 0.77, 0.78, 0.79, 0.95];
        let (p, _, _) = gamma_null_p_value(&stats).unwrap();
        assert!(p < 0.05, "plug-in p {p}");
        let effect = effect_size(&stats);
        assert!(
            (effect - 0.95 / 0.755).abs() < 1e-12 && effect < 1.5,
            "{effect}"
        );
        // A backdoor-sized top class passes both.
        let mut trojaned = stats;
        trojaned[9] = 2.4;
        assert!(gamma_null_p_value(&trojaned).unwrap().0 < 0.05 && effect_size(&trojaned) >= 1.5);
        for bad in [0.99, f64::NAN, f64::INFINITY] {
            let params = MarginParams {
                min_effect: bad,
                ..MarginParams::default()
            };
            assert!(params.check().is_err(), "min_effect {bad}");
        }
    }
}
