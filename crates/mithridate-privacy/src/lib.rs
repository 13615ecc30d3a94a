//! Differential-privacy accounting for DP-SGD (Abadi et al. 2016) and DP-FedAvg
//! (McMahan et al. 2018): how much privacy `T` steps of the Poisson-subsampled Gaussian
//! mechanism spend, as `(epsilon, delta)`.
//!
//! The accountant is Rényi-DP (Mironov 2017): each step's RDP at a set of orders `alpha`
//! (Mironov, Talwar & Zhang 2019, [`rdp`]), composed over steps by addition (Mironov 2017,
//! Proposition 1), then turned into `epsilon` for a given `delta` with the conversion of
//! Canonne, Kamath & Steinke 2020 ([`conversion`]), minimised over the orders.
//!
//! Assumptions: add/remove-one neighbouring datasets; every record is sampled independently
//! with probability `q` at each step (Poisson sampling, not shuffling or fixed-size batches);
//! each record's contribution is clipped to L2 norm `C` and the noise is `N(0, (S C)^2)` for
//! noise multiplier `S`. The default orders are those of Google's `dp-accounting` (0.6.0,
//! `RdpAccountant`), whose epsilons these reproduce (`tests/dp_accounting_reference.rs`:
//! agreement within 1e-9 relative on a grid and on held-out random points).
//!
//! ```
//! use mithridate_privacy::epsilon_for_poisson_gaussian;
//! // MNIST with lots of 256 out of 60,000, noise multiplier 1.1, 60 epochs, delta = 1e-5.
//! let q = 256.0 / 60_000.0;
//! let steps = (60.0 / q) as u64; // 14,062
//! let bound = epsilon_for_poisson_gaussian(1.1, q, steps, 1e-5).unwrap();
//! // dp-accounting 0.6.0's RdpAccountant: epsilon 2.5965558697943036 at order 8.1.
//! assert!((bound.epsilon - 2.5965558697943036).abs() < 1e-9 * 2.6, "{}", bound.epsilon);
//! assert_eq!(bound.order, 8.1);
//! // Bad input is an error, not a panic.
//! assert!(epsilon_for_poisson_gaussian(0.0, q, steps, 1e-5).is_err());
//! ```

pub mod calibrate;
pub mod conversion;
mod logmath;
pub mod rdp;

pub use calibrate::noise_multiplier_for_epsilon;

/// A parameter outside its domain, with a message naming it and its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PrivacyError(pub String);

/// The `(epsilon, delta)` guarantee and the RDP order that gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsilonBound {
    pub epsilon: f64,
    pub delta: f64,
    /// The order `alpha` at which the conversion was tightest (at an end of
    /// [`RdpAccountant::orders`] the grid may be too narrow for this budget).
    pub order: f64,
}

/// `dp-accounting`'s default orders: 1.1, 1.2, ..., 10.9, then 11..=63, 128, 256, 512, 1024.
pub fn default_orders() -> Vec<f64> {
    let fine = (1..100).map(|x| 1.0 + f64::from(x) / 10.0);
    let integers = (11..64).map(f64::from);
    fine.chain(integers)
        .chain([128.0, 256.0, 512.0, 1024.0])
        .collect()
}

/// Accumulates RDP over the steps of one or more Poisson-subsampled Gaussian mechanisms.
#[derive(Debug, Clone)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    rdp: Vec<f64>,
}

impl Default for RdpAccountant {
    fn default() -> Self {
        let orders = default_orders();
        let rdp = vec![0.0; orders.len()];
        RdpAccountant { orders, rdp }
    }
}

impl RdpAccountant {
    /// An accountant over `dp-accounting`'s default orders.
    pub fn new() -> Self {
        Self::default()
    }

    /// An accountant over the given orders (each finite and > 1).
    pub fn with_orders(orders: Vec<f64>) -> Result<Self, PrivacyError> {
        if orders.is_empty() {
            return Err(PrivacyError("RDP orders: none given".into()));
        }
        if let Some(bad) = orders.iter().find(|a| !(a.is_finite() && **a > 1.0)) {
            return Err(PrivacyError(format!(
                "RDP order must be finite and > 1, got {bad}"
            )));
        }
        let rdp = vec![0.0; orders.len()];
        Ok(RdpAccountant { orders, rdp })
    }

    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// The accumulated RDP at each of [`Self::orders`].
    pub fn rdp(&self) -> &[f64] {
        &self.rdp
    }

    /// Adds `steps` steps of the Gaussian mechanism with noise multiplier `noise_multiplier`
    /// on a Poisson sample of rate `sampling_rate`; composition adds RDP order by order.
    pub fn compose_poisson_gaussian(
        &mut self,
        noise_multiplier: f64,
        sampling_rate: f64,
        steps: u64,
    ) -> Result<&mut Self, PrivacyError> {
        check_noise_and_rate(noise_multiplier, sampling_rate)?;
        let count = steps as f64;
        for (total, &order) in self.rdp.iter_mut().zip(&self.orders) {
            *total +=
                count * rdp::poisson_subsampled_gaussian(noise_multiplier, sampling_rate, order);
        }
        Ok(self)
    }

    /// The smallest epsilon over the orders at which everything composed so far is
    /// `(epsilon, delta)`-DP.
    pub fn epsilon(&self, delta: f64) -> Result<EpsilonBound, PrivacyError> {
        if !(delta > 0.0 && delta < 1.0) {
            return Err(PrivacyError(format!(
                "delta must lie in (0, 1), got {delta}"
            )));
        }
        let (epsilon, order) = conversion::epsilon_from_rdp(&self.orders, &self.rdp, delta);
        Ok(EpsilonBound {
            epsilon,
            delta,
            order,
        })
    }
}

/// Epsilon of `steps` steps of DP-SGD (noise multiplier, Poisson sampling rate) at `delta`,
/// over the default orders.
pub fn epsilon_for_poisson_gaussian(
    noise_multiplier: f64,
    sampling_rate: f64,
    steps: u64,
    delta: f64,
) -> Result<EpsilonBound, PrivacyError> {
    let mut accountant = RdpAccountant::new();
    accountant.compose_poisson_gaussian(noise_multiplier, sampling_rate, steps)?;
    accountant.epsilon(delta)
}

fn check_noise_and_rate(noise_multiplier: f64, sampling_rate: f64) -> Result<(), PrivacyError> {
    if !(noise_multiplier.is_finite() && noise_multiplier > 0.0) {
        return Err(PrivacyError(format!(
            "noise multiplier must be finite and > 0, got {noise_multiplier}"
        )));
    }
    if !(0.0..=1.0).contains(&sampling_rate) {
        return Err(PrivacyError(format!(
            "sampling rate must lie in [0, 1], got {sampling_rate}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_orders_are_dp_accountings() {
        let orders = default_orders();
        assert_eq!(orders.len(), 99 + 53 + 4);
        assert_eq!(orders[0], 1.1);
        assert_eq!(orders[9], 2.0);
        assert_eq!(orders[98], 10.9);
        assert_eq!(orders[99], 11.0);
        assert_eq!(*orders.last().unwrap(), 1024.0);
    }

    #[test]
    fn bad_parameters_are_errors_naming_them() {
        let err = |r: Result<EpsilonBound, PrivacyError>| r.unwrap_err().0;
        assert!(err(epsilon_for_poisson_gaussian(-1.0, 0.1, 10, 1e-5)).contains("noise multiplier"));
        assert!(err(epsilon_for_poisson_gaussian(f64::NAN, 0.1, 10, 1e-5)).contains("noise"));
        assert!(err(epsilon_for_poisson_gaussian(1.0, 1.5, 10, 1e-5)).contains("sampling rate"));
        assert!(err(epsilon_for_poisson_gaussian(1.0, f64::NAN, 10, 1e-5)).contains("sampling"));
        for delta in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(err(epsilon_for_poisson_gaussian(1.0, 0.1, 10, delta)).contains("delta"));
        }
        assert!(RdpAccountant::with_orders(vec![1.0]).is_err());
        assert!(RdpAccountant::with_orders(vec![]).is_err());
    }

    #[test]
    fn more_steps_or_less_noise_cost_more_and_nothing_costs_nothing() {
        let eps = |s, q, t| epsilon_for_poisson_gaussian(s, q, t, 1e-5).unwrap().epsilon;
        assert!(eps(1.0, 0.01, 1000) < eps(1.0, 0.01, 2000));
        assert!(eps(2.0, 0.01, 1000) < eps(1.0, 0.01, 1000));
        assert!(eps(1.0, 0.01, 1000) < eps(1.0, 0.02, 1000));
        assert_eq!(eps(1.0, 0.01, 0), 0.0);
        assert_eq!(eps(1.0, 0.0, 1000), 0.0);
    }

    #[test]
    fn composition_is_additive() {
        // Two calls of T steps are one call of 2T steps (Mironov 2017, Proposition 1).
        let mut twice = RdpAccountant::new();
        twice.compose_poisson_gaussian(1.3, 0.05, 50).unwrap();
        twice.compose_poisson_gaussian(1.3, 0.05, 50).unwrap();
        let mut once = RdpAccountant::new();
        once.compose_poisson_gaussian(1.3, 0.05, 100).unwrap();
        for (a, b) in twice.rdp().iter().zip(once.rdp()) {
            assert!((a - b).abs() <= 1e-12 * b.abs());
        }
    }
}
