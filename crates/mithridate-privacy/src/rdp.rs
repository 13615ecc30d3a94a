//! Rényi-DP of one step of the Poisson-subsampled Gaussian mechanism.
//!
//! Mironov (2017), "Rényi Differential Privacy", defines the RDP of order `alpha`;
//! Mironov, Talwar & Zhang (2019), "Rényi Differential Privacy of the Sampled Gaussian
//! Mechanism" (arXiv:1908.10530), compute it for a mechanism that includes each record
//! independently with probability `q` (Poisson sampling) and adds `N(0, sigma^2)` noise to a
//! sum of contributions with L2 sensitivity 1 (add/remove-one neighbouring relation):
//!
//! `RDP(alpha) = ln(A_alpha) / (alpha - 1)`, `A_alpha = E_{z ~ mu0} [(mu(z) / mu0(z))^alpha]`,
//! with `mu0 = N(0, sigma^2)` and `mu = (1 - q) mu0 + q N(1, sigma^2)`.
//!
//! * Integer `alpha` (their Sec. 3.2): the binomial expansion is finite,
//!   `A_alpha = sum_{i=0..alpha} C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i) / (2 sigma^2))`.
//! * Fractional `alpha` (their Sec. 3.3): the integral is split at
//!   `z0 = sigma^2 ln(1/q - 1) + 1/2`, and each half is an infinite series of generalised
//!   binomial terms weighted by Gaussian tails, `erfc((i - z0) / (sqrt 2 sigma)) / 2` and
//!   `erfc((z0 - j) / (sqrt 2 sigma)) / 2` with `j = alpha - i`. As in `dp-accounting` 0.6.0 the
//!   series adds the terms' absolute values, which can only raise `A_alpha` (an upper bound,
//!   so the guarantee stays sound), and it stops once both terms decrease and lie `e^30` below
//!   the total; a series that has not converged in 1,000 terms gives `+inf` (the order is then
//!   useless but harmless: the conversion takes a minimum over orders).

use crate::logmath::{log_abs_binomial, log_add, log_erfc};

/// The most terms the fractional-order series may take before the order is given up (`+inf`).
const MAX_FRACTIONAL_TERMS: u32 = 1000;

/// RDP at `order` of one step with noise multiplier `sigma` (noise std / sensitivity) and
/// Poisson sampling rate `q`. Assumes `sigma > 0`, `0 <= q <= 1`, `order > 1` (checked by the
/// accountant); `q = 0` costs nothing and `q = 1` is the plain Gaussian, `alpha / (2 sigma^2)`.
pub fn poisson_subsampled_gaussian(sigma: f64, q: f64, order: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if order.is_infinite() {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return order / (2.0 * sigma * sigma);
    }
    let log_a = if order.fract() == 0.0 {
        log_a_integer(q, sigma, order)
    } else {
        log_a_fractional(q, sigma, order)
    };
    log_a / (order - 1.0)
}

/// `ln A_alpha` for integer `alpha`: the finite binomial sum, every term positive.
fn log_a_integer(q: f64, sigma: f64, alpha: f64) -> f64 {
    let log_q = q.ln();
    let log_1mq = (-q).ln_1p();
    let two_var = 2.0 * sigma * sigma;
    let mut log_a = f64::NEG_INFINITY;
    let mut i = 0.0;
    while i <= alpha {
        let log_term =
            log_abs_binomial(alpha, i) + i * log_q + (alpha - i) * log_1mq + (i * i - i) / two_var;
        log_a = log_add(log_a, log_term);
        i += 1.0;
    }
    log_a
}

/// `ln A_alpha` for fractional `alpha`: the two half-line series of Mironov et al. Sec. 3.3.
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let log_q = q.ln();
    let log_1mq = (-q).ln_1p();
    let two_var = 2.0 * sigma * sigma;
    let tail_scale = std::f64::consts::SQRT_2 * sigma;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let (mut last_s0, mut last_s1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for step in 0..MAX_FRACTIONAL_TERMS {
        let i = f64::from(step);
        let j = alpha - i;
        let log_coef = log_abs_binomial(alpha, i);
        let log_t0 = log_coef + i * log_q + j * log_1mq;
        let log_t1 = log_coef + j * log_q + i * log_1mq;
        let log_e0 = 0.5f64.ln() + log_erfc((i - z0) / tail_scale);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / tail_scale);
        let log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        log_a0 = log_add(log_a0, log_s0);
        log_a1 = log_add(log_a1, log_s1);
        let total = log_add(log_a0, log_a1);
        if log_s0 < last_s0 && log_s1 < last_s1 && log_s0.max(log_s1) < total - 30.0 {
            return total;
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    f64::INFINITY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batch_is_the_gaussian_mechanism() {
        // Mironov 2017, Proposition 7: RDP(alpha) of N(0, sigma^2) with sensitivity 1.
        assert_eq!(poisson_subsampled_gaussian(2.0, 1.0, 3.0), 3.0 / 8.0);
        assert_eq!(poisson_subsampled_gaussian(2.0, 0.0, 3.0), 0.0);
    }

    #[test]
    fn order_two_has_a_closed_form() {
        // alpha = 2: A = (1-q)^2 + 2q(1-q) + q^2 e^(1/sigma^2) = 1 + q^2 (e^(1/sigma^2) - 1).
        let (sigma, q) = (1.3f64, 0.02f64);
        let expected = (q * q * (1.0 / (sigma * sigma)).exp_m1()).ln_1p();
        let got = poisson_subsampled_gaussian(sigma, q, 2.0);
        assert!(
            (got - expected).abs() < 1e-12 * expected,
            "{got} vs {expected}"
        );
    }

    #[test]
    fn fractional_orders_interpolate_their_integer_neighbours() {
        // RDP is non-decreasing in alpha (Mironov 2017, Proposition 9), so an order between two
        // integers lies between their values; both code paths must agree on this.
        let (sigma, q) = (1.1, 0.01);
        let (lo, mid, hi) = (
            poisson_subsampled_gaussian(sigma, q, 7.0),
            poisson_subsampled_gaussian(sigma, q, 7.5),
            poisson_subsampled_gaussian(sigma, q, 8.0),
        );
        assert!(lo <= mid && mid <= hi, "{lo} {mid} {hi}");
        // and subsampling only helps: below the full-batch Gaussian mechanism.
        assert!(mid < 7.5 / (2.0 * sigma * sigma));
    }
}
