//! Small exact statistics the screens and monitors share.

/// `ln(i!)` for `i = 0..=n`.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    out.push(0.0);
    let mut acc = 0.0;
    for i in 1..=n {
        acc += (i as f64).ln();
        out.push(acc);
    }
    out
}

/// Upper tail `P(X >= k)` of `X ~ Binomial(n, p)`, summed exactly in log space.
///
/// ```
/// use mithridate_continual::stats::binomial_upper_tail;
/// assert!((binomial_upper_tail(2, 2, 0.5) - 0.25).abs() < 1e-12);
/// assert!((binomial_upper_tail(1, 2, 0.5) - 0.75).abs() < 1e-12);
/// assert_eq!(binomial_upper_tail(0, 10, 0.3), 1.0);
/// assert_eq!(binomial_upper_tail(11, 10, 0.3), 0.0);
/// // 10 heads in 10 fair tosses: 1/1024.
/// assert!((binomial_upper_tail(10, 10, 0.5) - 1.0 / 1024.0).abs() < 1e-15);
/// ```
pub fn binomial_upper_tail(k: usize, n: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let lf = ln_factorials(n);
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let sum: f64 = (k..=n)
        .map(|i| (lf[n] - lf[i] - lf[n - i] + i as f64 * lp + (n - i) as f64 * lq).exp())
        .sum();
    sum.min(1.0)
}

/// The `q`-quantile of `values` (the value at sorted index `floor(q * (len - 1))`, rounded up).
///
/// ```
/// use mithridate_continual::stats::quantile;
/// assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0, 5.0], 0.5), 3.0);
/// assert_eq!(quantile(&[3.0, 1.0, 2.0], 1.0), 3.0);
/// assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.0), 1.0);
/// ```
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).ceil() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Total variation distance `(1/2) sum_c |a_c - b_c|` between two share vectors.
///
/// ```
/// use mithridate_continual::stats::total_variation;
/// assert_eq!(total_variation(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
/// assert_eq!(total_variation(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
/// assert!((total_variation(&[0.6, 0.4], &[0.5, 0.5]) - 0.1).abs() < 1e-12);
/// ```
pub fn total_variation(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0
}

/// Shares of each of `k` classes among `predictions`.
pub fn shares(predictions: &[u32], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &p in predictions {
        if (p as usize) < k {
            counts[p as usize] += 1;
        }
    }
    let n = predictions.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// Rounds to 9 decimals so a value survives the audit log's print-parse round trip
/// (see `mithridate_gate::audit::audit_number`).
pub fn round9(x: f64) -> f64 {
    mithridate_gate::audit::audit_number(x)
}
