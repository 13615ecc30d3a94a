//! Runs plain loops compiled for the widest vector registers the CPU has.
//!
//! The workspace builds for baseline x86-64 (SSE2, 4 floats per register), so a plain
//! element-wise loop vectorises only 4 wide. [`widest`] calls a closure from a function
//! compiled with AVX-512F (16 floats) or AVX2 (8 floats) enabled, chosen once per call by
//! run-time detection; the closure, called once, is inlined there and its loops vectorise at
//! that width. The result is the same computation: lane width changes which values share a
//! register, not the order of any sum written as a loop over one accumulator per element.

/// `f()`, compiled for AVX-512F or AVX2 when the CPU has them (tested below: crate-private,
/// so no doctest).
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked).
            return unsafe { with_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked).
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_closure_and_returns_its_value() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let sum = widest(|| {
            v.iter_mut().for_each(|x| *x *= 2.0);
            v.iter().map(|&x| f64::from(x)).sum::<f64>()
        });
        assert_eq!(sum, 999.0 * 1000.0);
        assert!(v.iter().enumerate().all(|(i, &x)| x == 2.0 * i as f32));
    }
}
