//! From Rényi-DP to (epsilon, delta)-DP.
//!
//! A mechanism that is `(alpha, r)`-RDP is `(epsilon, delta)`-DP for
//!
//! `epsilon = r + ln(1 - 1/alpha) - ln(delta * alpha) / (alpha - 1)`,
//!
//! the improved conversion of Canonne, Kamath & Steinke (2020), "The Discrete Gaussian for
//! Differential Privacy", Proposition 12 (arXiv:2004.00010 v4; also Asoodeh et al. 2020,
//! eq. 20). It is tighter than Mironov's (2017, Proposition 3) `r + ln(1/delta) / (alpha - 1)`
//! by `ln(1 - 1/alpha) - ln(alpha) / (alpha - 1) < 0`. Like `dp-accounting` (0.6.0,
//! `rdp_privacy_accountant.compute_epsilon`), whose numbers this module reproduces:
//!
//! * an order `r` with `delta^2 >= 1 - e^-r` gives `epsilon = 0` (the KL bound
//!   `delta <= sqrt(1 - e^-KL)` already covers delta; Pinsker-type, see dp-accounting);
//! * orders `alpha <= 1.01` are skipped (`+inf`): the formula is numerically unstable there
//!   and never the minimum in practice;
//! * the result is the minimum over orders, clamped at 0, with the order that attains it.

/// `(epsilon, order)`: the smallest epsilon over `orders` for the accumulated `rdp` values.
/// Assumes `0 < delta < 1`, equal lengths, every order > 1 and every `rdp` >= 0 (the
/// accountant guarantees all four).
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, orders.first().copied().unwrap_or(f64::NAN));
    for (&alpha, &r) in orders.iter().zip(rdp) {
        let epsilon = if delta * delta + (-r).exp_m1() > 0.0 {
            0.0
        } else if alpha > 1.01 {
            r + (-1.0 / alpha).ln_1p() - (delta * alpha).ln() / (alpha - 1.0)
        } else {
            f64::INFINITY
        };
        // Strict `<`: ties keep the first (smallest) order, as numpy's argmin does.
        if epsilon < best.0 {
            best = (epsilon, alpha);
        }
    }
    (best.0.max(0.0), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_order_is_the_formula() {
        let (alpha, r, delta) = (10.0f64, 0.5f64, 1e-5f64);
        let expected = r + (1.0 - 1.0 / alpha).ln() - (delta * alpha).ln() / (alpha - 1.0);
        let (eps, order) = epsilon_from_rdp(&[alpha], &[r], delta);
        assert!((eps - expected).abs() < 1e-14);
        assert_eq!(order, alpha);
        // Tighter than Mironov's Proposition 3.
        assert!(eps < r + (1.0 / delta).ln() / (alpha - 1.0));
    }

    #[test]
    fn minimum_over_orders_and_zero_cost() {
        let orders = [2.0, 8.0, 64.0];
        let rdp: Vec<f64> = orders.iter().map(|a| a / 8.0).collect(); // Gaussian, sigma = 2
        let (eps, order) = epsilon_from_rdp(&orders, &rdp, 1e-5);
        let each: Vec<f64> = orders
            .iter()
            .zip(&rdp)
            .map(|(&a, &r)| epsilon_from_rdp(&[a], &[r], 1e-5).0)
            .collect();
        assert_eq!(eps, each.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(order, 8.0);
        assert_eq!(epsilon_from_rdp(&orders, &[0.0; 3], 1e-5).0, 0.0);
        // Infinite RDP at every order: no guarantee.
        assert_eq!(
            epsilon_from_rdp(&orders, &[f64::INFINITY; 3], 1e-5).0,
            f64::INFINITY
        );
    }
}
