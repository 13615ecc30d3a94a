//! DP-FedAvg: client-level clipping (fixed or adaptive) and server-side Gaussian noise.

use crate::error::{check_finite_at_least_zero, AggregateError, Result};
use crate::registry::{params, RuleBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::sum_form::{clipped_sum, SumForm};
use crate::rules::{add_gaussian_noise, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// Registry entry: `dp-fedavg:clip=<C>,noise-multiplier=<z>[,adaptive=true,target-quantile=<g>,clip-lr=<eta>,count-noise=<sigma_b>]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "dp-fedavg",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "user-level DP: clip each client update to norm C (clip, default 1; adaptive=true tracks a norm quantile), sum, add N(0, (z C)^2) (noise-multiplier z, default 1), divide by the round size",
    paper: "McMahan, Ramage, Talwar, Zhang 2018; Andrew, Thakkar, McMahan, Ramaswamy 2021",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: DpFedAvgParams = params("dp-fedavg", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`DpFedAvg`]. As JSON: `clip`, `noise-multiplier`,
/// `adaptive`, `target-quantile`, `clip-lr`, `count-noise`; every one has a default.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DpFedAvgParams {
    /// Byzantine clients the scenario has (DP-FedAvg bounds each one's influence; it does not
    /// need a majority), from the scenario.
    #[serde(skip)]
    pub byzantine: usize,
    /// Clip norm `C` (the initial one when adaptive), `> 0` (default 1).
    #[serde(default = "one")]
    pub clip: f64,
    /// Noise multiplier `z >= 0`: the privacy-relevant ratio of noise std to clip norm
    /// (0: clipping only, no privacy).
    #[serde(default = "one")]
    pub noise_multiplier: f64,
    /// Adaptive clipping (Andrew et al. 2021): `C` follows the `target-quantile` of the
    /// update norms.
    #[serde(default)]
    pub adaptive: bool,
    /// Adaptive: the norm quantile `gamma` in `(0, 1)` that `C` tracks (default 0.5).
    #[serde(default = "half")]
    pub target_quantile: f64,
    /// Adaptive: the geometric learning rate `eta_C > 0` (default 0.2).
    #[serde(default = "clip_lr")]
    pub clip_lr: f64,
    /// Adaptive: std `sigma_b` of the noise on the within-clip count (default: round size / 20,
    /// the paper's choice, but at least `z`, so that small rounds keep the split possible);
    /// must exceed `z / 2`.
    #[serde(default)]
    pub count_noise: Option<f64>,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn clip_lr() -> f64 {
    0.2
}

impl DpFedAvgParams {
    /// Fixed clipping at `clip` with noise multiplier `z`.
    pub fn new(clip: f64, noise_multiplier: f64) -> Self {
        DpFedAvgParams {
            byzantine: 0,
            clip,
            noise_multiplier,
            adaptive: false,
            target_quantile: 0.5,
            clip_lr: 0.2,
            count_noise: None,
        }
    }
}

impl ParamGuard for DpFedAvgParams {
    type Checked = DpFedAvg;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        check_finite_at_least_zero("clip", self.clip, true)?;
        check_finite_at_least_zero("noise-multiplier", self.noise_multiplier, false)?;
        if !(self.target_quantile > 0.0 && self.target_quantile < 1.0) {
            return Err(AggregateError::Param {
                name: "target-quantile",
                reason: format!("must be in (0, 1), got {}", self.target_quantile),
            });
        }
        check_finite_at_least_zero("clip-lr", self.clip_lr, true)?;
        if let Some(s) = self.count_noise {
            check_finite_at_least_zero("count-noise", s, true)?;
            if self.adaptive {
                count_noise_split(self.noise_multiplier, s)?;
            }
        }
        Ok(())
    }
    fn build(self) -> DpFedAvg {
        DpFedAvg { params: self }
    }
}

/// The update's noise multiplier `z_delta = (z^-2 - (2 sigma_b)^-2)^-1/2` when the count
/// also takes noise `sigma_b` (Andrew et al. 2021, Theorem 1: together they cost what noise
/// `z` alone costs). Needs `sigma_b > z / 2`.
fn count_noise_split(z: f64, sigma_b: f64) -> Result<f64> {
    if z == 0.0 {
        return Ok(0.0);
    }
    let inv = z.powi(-2) - (2.0 * sigma_b).powi(-2);
    if inv <= 0.0 {
        return Err(AggregateError::Param {
            name: "count-noise",
            reason: format!(
                "must exceed noise-multiplier / 2 = {} for the privacy split, got {sigma_b}",
                z / 2.0
            ),
        });
    }
    Ok(inv.powf(-0.5))
}

/// DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private
/// Recurrent Language Models", ICLR) with optional adaptive clipping (Andrew, Thakkar,
/// McMahan, Ramaswamy 2021, "Differentially Private Learning with Adaptive Clipping",
/// NeurIPS).
///
/// Each of the round's `m` clients clips its update, `x_i min(1, C / ||x_i||)`; the server
/// adds `N(0, (z C)^2)` per coordinate to the sum and divides by `m` (the fixed-denominator
/// estimator with uniform weights: one client moves the aggregate by at most `C / m`, and with
/// Poisson sampling at rate `q` over `N` users, `T` rounds are `(epsilon, delta)`-DP at user
/// level, by the RDP accountant of the sampled Gaussian mechanism with noise multiplier `z`).
/// Adaptive: with `b = #{i : ||x_i|| <= C}` and `b~ = (b + N(0, sigma_b^2)) / m`, the next
/// round's `C <- C exp(-eta_C (b~ - gamma))` (kept in the [`RoundState`]), and the update's
/// noise is `z_delta C` with `z_delta = (z^-2 - (2 sigma_b)^-2)^-1/2`, so the pair costs
/// what `z` costs. As a backdoor defence (Sun et al. 2019), clipping bounds a boosted
/// update's pull and noise drowns what is left. It needs only the clipped sum and the count,
/// so it runs under secure aggregation ([`SumForm`]). `weights[i]` are the linear
/// coefficients `min(1, C/||x_i||) / m`; `scores` the client norms.
///
/// ```
/// use mithridate_aggregate::{Aggregator, DpFedAvgParams, ParamGuard, Round, RoundState, Updates};
/// let u = Updates::new(&[3.0, 4.0, 0.0, 1.0], 2, 2).unwrap();
/// let rule = DpFedAvgParams::new(1.0, 0.0).check().unwrap(); // clipping only
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// // ((0.6, 0.8) + (0, 1)) / 2
/// assert!((out.aggregate[0] - 0.3).abs() < 1e-6 && (out.aggregate[1] - 0.9).abs() < 1e-6);
/// assert!(DpFedAvgParams::new(0.0, 1.0).check().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct DpFedAvg {
    params: DpFedAvgParams,
}

impl DpFedAvg {
    /// The clip norm in force this round: the state's (adaptive, after the first round) or
    /// the configured one.
    pub fn clip(&self, state: &RoundState) -> f64 {
        match (self.params.adaptive, state.clip_norm) {
            (true, Some(c)) => c,
            _ => self.params.clip,
        }
    }

    /// The count noise `sigma_b` for a round of `m` clients.
    fn count_noise(&self, m: usize) -> f64 {
        self.params.count_noise.unwrap_or(
            (m as f64 / 20.0)
                .max(self.params.noise_multiplier)
                .max(1e-3),
        )
    }
}

impl Aggregator for DpFedAvg {
    fn name(&self) -> &'static str {
        "dp-fedavg"
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    /// Bounds every client's influence, needs no honest majority.
    fn max_byzantine(&self, n: usize) -> usize {
        n
    }
    fn tolerance(&self) -> &'static str {
        "any f: each client's pull is bounded by C / n"
    }
    fn noise_multiplier(&self) -> Option<f64> {
        Some(self.params.noise_multiplier)
    }
    fn sum_form(&self) -> Option<&dyn SumForm> {
        Some(self)
    }
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let n = round.updates().n();
        let clip = self.clip(state);
        let (sum, within, factors) = clipped_sum(round, Some(clip));
        let norms: Vec<f64> = (0..n)
            .map(|i| {
                let row = round.updates().row(i);
                row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        let aggregate = self.finish(&sum, within, n, n, round.seed(), state)?;
        let weights = factors.iter().map(|c| c / n as f64).collect();
        Ok(Aggregation::from_weights(aggregate, weights, Some(norms)))
    }
}

impl SumForm for DpFedAvg {
    fn client_clip(&self, state: &RoundState) -> Option<f64> {
        Some(self.clip(state))
    }
    fn finish(
        &self,
        sum: &[f64],
        within_clip: f64,
        _contributors: usize,
        planned: usize,
        seed: u64,
        state: &mut RoundState,
    ) -> Result<Vec<f32>> {
        let p = &self.params;
        let m = planned.max(1) as f64;
        let clip = self.clip(state);
        let sigma_b = self.count_noise(planned);
        let z_update = if p.adaptive {
            count_noise_split(p.noise_multiplier, sigma_b)?
        } else {
            p.noise_multiplier
        };
        let mut noisy: Vec<f32> = sum.iter().map(|s| *s as f32).collect();
        add_gaussian_noise(&mut noisy, z_update * clip, seed, "noise-multiplier")?;
        let aggregate = noisy.iter().map(|s| (*s as f64 / m) as f32).collect();
        if p.adaptive {
            let noise = if p.noise_multiplier > 0.0 {
                let normal = Normal::new(0.0, sigma_b).map_err(|e| AggregateError::Param {
                    name: "count-noise",
                    reason: e.to_string(),
                })?;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ COUNT_STREAM);
                normal.sample(&mut rng)
            } else {
                0.0
            };
            let fraction = (within_clip + noise) / m;
            state.clip_norm = Some(clip * (-p.clip_lr * (fraction - p.target_quantile)).exp());
        }
        Ok(aggregate)
    }
}

/// Seed tweak of the count noise's stream ("clipcnt"), independent of the update noise.
const COUNT_STREAM: u64 = 0x0063_6c69_7063_6e74;
