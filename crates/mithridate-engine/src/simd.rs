//! Plain loops compiled for the widest vector registers the CPU has.
//!
//! The workspace builds for baseline x86-64 (SSE2, 4 floats per register), so a plain
//! element-wise loop vectorises only 4 wide. [`widest_fn!`] defines a function that calls an
//! `#[inline(always)]` function from a copy compiled with AVX-512F (16 floats) or AVX2
//! (8 floats) enabled, chosen per call by run-time detection, so the inlined loops vectorise
//! at that width. (A closure passed to such a copy is not reliably inlined, hence a macro over
//! a named function.) The arithmetic is the same in every copy: lane width changes which values
//! share a register, not the order of any sum written with one accumulator per element.

/// `$vis fn $name(args) -> ret` running the `#[inline(always)]` function `$inner(args)` compiled
/// for AVX-512F or AVX2 when the CPU has them, else for the baseline.
macro_rules! widest_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $inner:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// # Safety
                /// The CPU must support AVX-512F.
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                /// # Safety
                /// The CPU must support AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F is available (checked).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 is available (checked).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}
pub(crate) use widest_fn;

#[cfg(test)]
mod tests {
    #[inline(always)]
    fn double_and_sum(v: &mut [f32]) -> f64 {
        v.iter_mut().for_each(|x| *x *= 2.0);
        v.iter().map(|&x| f64::from(x)).sum()
    }

    super::widest_fn!(fn doubled(v: &mut [f32]) -> f64 = double_and_sum;);

    #[test]
    fn runs_the_function_and_returns_its_value() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(doubled(&mut v), 999.0 * 1000.0);
        assert!(v.iter().enumerate().all(|(i, &x)| x == 2.0 * i as f32));
    }
}
