//! The smallest noise multiplier that keeps `T` steps of the Poisson-subsampled Gaussian
//! mechanism within a target `(epsilon, delta)`: what DP-SGD needs to be configured for a budget
//! (as `dp_accounting.calibrate_dp_mechanism` does for its accountants).
//!
//! Epsilon decreases as the noise grows (each order's RDP does, Mironov et al. 2019), so a
//! bracket is grown by doubling and then bisected on the noise multiplier; the answer is the
//! bracket's upper end, whose epsilon is at most the target (never the lower end, which spends
//! more). The bracket is narrowed to a relative width of `1e-6`.

use crate::{epsilon_for_poisson_gaussian, PrivacyError};

/// Noise multipliers are searched in `[MIN_NOISE, MAX_NOISE]`; beyond 1e4 a budget is not
/// reachable in any practical training run.
const MIN_NOISE: f64 = 1e-3;
const MAX_NOISE: f64 = 1e4;
const RELATIVE_WIDTH: f64 = 1e-6;

/// The noise multiplier (within a relative `1e-6`, rounded up) for which `steps` steps at
/// Poisson sampling rate `sampling_rate` spend at most `epsilon` at `delta`.
pub fn noise_multiplier_for_epsilon(
    epsilon: f64,
    sampling_rate: f64,
    steps: u64,
    delta: f64,
) -> Result<f64, PrivacyError> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(PrivacyError(format!(
            "target epsilon must be finite and > 0, got {epsilon}"
        )));
    }
    if !(sampling_rate > 0.0 && sampling_rate <= 1.0) {
        return Err(PrivacyError(format!(
            "sampling rate must lie in (0, 1] to need noise, got {sampling_rate}"
        )));
    }
    if steps == 0 {
        return Err(PrivacyError(
            "steps must be >= 1 to need noise, got 0".into(),
        ));
    }
    let spend = |noise: f64| -> Result<f64, PrivacyError> {
        Ok(epsilon_for_poisson_gaussian(noise, sampling_rate, steps, delta)?.epsilon)
    };
    let mut high = 1.0;
    while spend(high)? > epsilon {
        high *= 2.0;
        if high > MAX_NOISE {
            return Err(PrivacyError(format!(
                "epsilon {epsilon} at delta {delta} needs a noise multiplier above {MAX_NOISE} \
                 for {steps} steps at sampling rate {sampling_rate}"
            )));
        }
    }
    let mut low = high / 2.0;
    while spend(low)? <= epsilon {
        high = low;
        low /= 2.0;
        if low < MIN_NOISE {
            return Ok(high);
        }
    }
    while high - low > RELATIVE_WIDTH * high {
        let mid = 0.5 * (low + high);
        if spend(mid)? <= epsilon {
            high = mid;
        } else {
            low = mid;
        }
    }
    Ok(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_noise_meets_the_budget_tightly() {
        let (q, steps, delta) = (256.0 / 60_000.0, 14_062, 1e-5);
        // The accountant's own point: sigma 1.1 spends 2.59656 (dp-accounting 0.6.0).
        let target = epsilon_for_poisson_gaussian(1.1, q, steps, delta)
            .unwrap()
            .epsilon;
        let noise = noise_multiplier_for_epsilon(target, q, steps, delta).unwrap();
        assert!((noise - 1.1).abs() < 2e-6, "{noise}");
        assert!(
            noise >= 1.1 - 1e-12,
            "rounded up, so within budget: {noise}"
        );
        let spent = epsilon_for_poisson_gaussian(noise, q, steps, delta)
            .unwrap()
            .epsilon;
        assert!(spent <= target, "{spent} > {target}");
        // A slightly smaller noise overspends.
        let less = epsilon_for_poisson_gaussian(noise * (1.0 - 1e-5), q, steps, delta).unwrap();
        assert!(less.epsilon > target);
    }

    #[test]
    fn tighter_budgets_need_more_noise_and_impossible_ones_are_errors() {
        let noise = |eps| noise_multiplier_for_epsilon(eps, 0.01, 1000, 1e-5).unwrap();
        assert!(noise(1.0) > noise(3.0) && noise(3.0) > noise(8.0));
        assert!(noise_multiplier_for_epsilon(0.0, 0.01, 1000, 1e-5).is_err());
        assert!(noise_multiplier_for_epsilon(1.0, 0.0, 1000, 1e-5).is_err());
        assert!(noise_multiplier_for_epsilon(1.0, 0.01, 0, 1e-5).is_err());
        assert!(noise_multiplier_for_epsilon(1.0, 0.01, 1000, 2.0).is_err());
        let unreachable = noise_multiplier_for_epsilon(1e-9, 1.0, 1_000_000, 1e-5).unwrap_err();
        assert!(unreachable.0.contains("above"), "{unreachable}");
    }
}
