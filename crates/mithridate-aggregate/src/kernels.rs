//! Dense kernels shared by the rules: row reductions, weighted row sums, the f64 Gram matrix.
//!
//! Every reduction has a fixed summation order that does not depend on the number of threads,
//! so results are bit-for-bit reproducible. Hot loops are compiled three times (baseline, AVX2,
//! AVX-512) and picked at run time ([`multiversioned!`]); LLVM does not contract `a * b + c` into FMA
//! without fast-math, so all versions round identically.

use crate::updates::Updates;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Columns per parallel task for column-blocked kernels (fixed, so results do not depend on
/// the thread count).
pub(crate) const COLUMN_TASK: usize = 16 * 1024;

/// Defines a function whose body is compiled for the baseline target, with AVX2 + FMA and
/// with AVX-512 enabled, choosing the widest the CPU has at run time (the default x86-64
/// target only has SSE2).
macro_rules! multiversioned {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])* $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports these AVX-512 subsets and FMA (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use multiversioned;

/// What [`lane_sums`] accumulates per element pair `(x, y)`, both widened to f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sum {
    /// `x y`
    Dot,
    /// `(x - y)^2` (the difference in f64, so exact for near-duplicates)
    SqDist,
    /// `x^2` and `x y`
    SqNormAndDot,
}

/// Sums over 8 f64 lanes (element `k` of the 8-aligned prefix feeds lane `k % 8`; product,
/// difference and sum each rounded in f64, no FMA), then the lanes in order, then the tail in
/// order. Every instruction-set path follows this order, so all give the same bits. Returns
/// `(sum, 0)` or, for [`Sum::SqNormAndDot`], `(sum x^2, sum x y)`.
fn lane_sums(a: &[f32], b: &[f32], kind: Sum) -> (f64, f64) {
    debug_assert_eq!(a.len(), b.len());
    let body = a.len() - a.len() % 8;
    let (p, q) = lane_sums_body(&a[..body], &b[..body], kind);
    let (mut s, mut t) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    for (x, y) in a[body..].iter().zip(&b[body..]) {
        accumulate(kind, *x, *y, &mut s, &mut t);
    }
    (s, t)
}

/// Adds one element pair's terms to the accumulators `s` (and `t`), as [`Sum`] defines them.
#[inline(always)]
fn accumulate(kind: Sum, x: f32, y: f32, s: &mut f64, t: &mut f64) {
    let (x, y) = (x as f64, y as f64);
    match kind {
        Sum::Dot => *s += x * y,
        Sum::SqDist => *s += (x - y) * (x - y),
        Sum::SqNormAndDot => {
            *s += x * x;
            *t += x * y;
        }
    }
}

/// The 8-lane accumulators of [`lane_sums`] over whole chunks of 8 (`a.len() % 8 == 0`).
///
/// Explicit AVX-512 / AVX2 conversions and arithmetic: written portably, LLVM's SLP
/// vectorizer turned the f32 -> f64 widening into 128-bit inserts and shuffles (measured
/// 3-4x slower than one read pass).
fn lane_sums_body(a: &[f32], b: &[f32], kind: Sum) -> ([f64; 8], [f64; 8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked); the callee reads whole chunks of 8
            // within both slices.
            return unsafe { lane_sums_avx512(a, b, kind) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked); as above.
            return unsafe { lane_sums_avx2(a, b, kind) };
        }
    }
    let (mut p, mut q) = ([0.0f64; 8], [0.0f64; 8]);
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            accumulate(kind, x[k], y[k], &mut p[k], &mut q[k]);
        }
    }
    (p, q)
}

/// # Safety
/// AVX-512F must be available and `a.len() == b.len()`, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lane_sums_avx512(a: &[f32], b: &[f32], kind: Sum) -> ([f64; 8], [f64; 8]) {
    use std::arch::x86_64::*;
    let (mut p, mut q) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    for k in (0..a.len()).step_by(8) {
        // SAFETY (caller): k + 8 <= len for both slices.
        let (x, y) = unsafe {
            (
                _mm512_cvtps_pd(_mm256_loadu_ps(a.as_ptr().add(k))),
                _mm512_cvtps_pd(_mm256_loadu_ps(b.as_ptr().add(k))),
            )
        };
        match kind {
            Sum::Dot => p = _mm512_add_pd(p, _mm512_mul_pd(x, y)),
            Sum::SqDist => {
                let t = _mm512_sub_pd(x, y);
                p = _mm512_add_pd(p, _mm512_mul_pd(t, t));
            }
            Sum::SqNormAndDot => {
                p = _mm512_add_pd(p, _mm512_mul_pd(x, x));
                q = _mm512_add_pd(q, _mm512_mul_pd(x, y));
            }
        }
    }
    let (mut ps, mut qs) = ([0.0f64; 8], [0.0f64; 8]);
    // SAFETY: both arrays hold 8 f64.
    unsafe {
        _mm512_storeu_pd(ps.as_mut_ptr(), p);
        _mm512_storeu_pd(qs.as_mut_ptr(), q);
    }
    (ps, qs)
}

/// # Safety
/// AVX2 must be available and `a.len() == b.len()`, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lane_sums_avx2(a: &[f32], b: &[f32], kind: Sum) -> ([f64; 8], [f64; 8]) {
    use std::arch::x86_64::*;
    // Lanes 0-3 and 4-7 of the 8-lane accumulators.
    let zero = _mm256_setzero_pd();
    let (mut p, mut q) = ([zero; 2], [zero; 2]);
    for k in (0..a.len()).step_by(8) {
        for h in 0..2 {
            // SAFETY (caller): k + 8 <= len for both slices.
            let (x, y) = unsafe {
                (
                    _mm256_cvtps_pd(_mm_loadu_ps(a.as_ptr().add(k + 4 * h))),
                    _mm256_cvtps_pd(_mm_loadu_ps(b.as_ptr().add(k + 4 * h))),
                )
            };
            match kind {
                Sum::Dot => p[h] = _mm256_add_pd(p[h], _mm256_mul_pd(x, y)),
                Sum::SqDist => {
                    let t = _mm256_sub_pd(x, y);
                    p[h] = _mm256_add_pd(p[h], _mm256_mul_pd(t, t));
                }
                Sum::SqNormAndDot => {
                    p[h] = _mm256_add_pd(p[h], _mm256_mul_pd(x, x));
                    q[h] = _mm256_add_pd(q[h], _mm256_mul_pd(x, y));
                }
            }
        }
    }
    let (mut ps, mut qs) = ([0.0f64; 8], [0.0f64; 8]);
    // SAFETY: both arrays hold 8 f64; each store writes 4.
    unsafe {
        for h in 0..2 {
            _mm256_storeu_pd(ps.as_mut_ptr().add(4 * h), p[h]);
            _mm256_storeu_pd(qs.as_mut_ptr().add(4 * h), q[h]);
        }
    }
    (ps, qs)
}

/// `(||x_i||^2, x_i . v)` for every row in one pass over the data.
pub(crate) fn row_sq_norms_and_dots(u: &Updates, v: &[f32]) -> Vec<(f64, f64)> {
    (0..u.n())
        .into_par_iter()
        .map(|i| lane_sums(u.row(i), v, Sum::SqNormAndDot))
        .collect()
}

/// Squared L2 norm of every row, in f64.
pub(crate) fn row_sq_norms(u: &Updates) -> Vec<f64> {
    (0..u.n())
        .into_par_iter()
        .map(|i| lane_sums(u.row(i), u.row(i), Sum::Dot).0)
        .collect()
}

/// `x_i . v` for every row, in f64.
pub(crate) fn row_dots(u: &Updates, v: &[f32]) -> Vec<f64> {
    (0..u.n())
        .into_par_iter()
        .map(|i| lane_sums(u.row(i), v, Sum::Dot).0)
        .collect()
}

/// `||x_i - v||^2` for every row, in f64.
pub(crate) fn row_sq_distances(u: &Updates, v: &[f32]) -> Vec<f64> {
    (0..u.n())
        .into_par_iter()
        .map(|i| lane_sums(u.row(i), v, Sum::SqDist).0)
        .collect()
}

/// `out = offset_scale * offset + sum_i w_i x_i`, accumulated per coordinate in f64 over rows
/// in index order; rows with zero weight are skipped (not read).
pub(crate) fn weighted_row_sum(u: &Updates, w: &[f64], offset: Option<(f64, &[f32])>) -> Vec<f32> {
    weighted_row_sum_impl(u, w, offset, false).0
}

/// [`weighted_row_sum`] plus `||x_i - out||^2` for every row, in the same pass: each block of
/// the result is compared with every row while the rows are still in cache, so an iterative
/// rule (centered clipping) reads the matrix once per iteration instead of twice. Distances
/// are summed per block and then over blocks in a fixed order (thread-count independent).
pub(crate) fn weighted_row_sum_and_sq_distances(
    u: &Updates,
    w: &[f64],
    offset: Option<(f64, &[f32])>,
) -> (Vec<f32>, Vec<f64>) {
    weighted_row_sum_impl(u, w, offset, true)
}

fn weighted_row_sum_impl(
    u: &Updates,
    w: &[f64],
    offset: Option<(f64, &[f32])>,
    distances: bool,
) -> (Vec<f32>, Vec<f64>) {
    let d = u.d();
    let active: Vec<(usize, f64)> = w
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, wi)| *wi != 0.0)
        .collect();
    // One distance slot per row, or none: `weighted_sum_task` skips the distances then.
    let slots = if distances { u.n() } else { 0 };
    let mut out = vec![0.0f32; d];
    let partials: Vec<Vec<f64>> = out
        .par_chunks_mut(COLUMN_TASK)
        .enumerate()
        .map(|(task, out_chunk)| {
            let mut part = vec![0.0f64; slots];
            weighted_sum_task(u, &active, offset, task * COLUMN_TASK, out_chunk, &mut part);
            part
        })
        .collect();
    let mut sq = vec![0.0f64; slots];
    for part in &partials {
        for (s, p) in sq.iter_mut().zip(part) {
            *s += p;
        }
    }
    (out, sq)
}

multiversioned! {
/// Columns `c0..c0 + out.len()` of [`weighted_row_sum`]; when `sq_dist` is non-empty (one
/// slot per row), adds each row's squared distance to the result over these columns.
fn weighted_sum_task(
    u: &Updates,
    active: &[(usize, f64)],
    offset: Option<(f64, &[f32])>,
    c0: usize,
    out: &mut [f32],
    sq_dist: &mut [f64],
) {
    // Sub-blocks whose f64 accumulator (16 KiB) stays in L1 while the rows stream past.
    const SUB: usize = 2048;
    let mut acc = [0.0f64; SUB];
    for (s, out) in out.chunks_mut(SUB).enumerate() {
        let (c0, width) = (c0 + s * SUB, out.len());
        let acc = &mut acc[..width];
        match offset {
            Some((scale, v)) => {
                for (a, x) in acc.iter_mut().zip(&v[c0..c0 + width]) {
                    *a = scale * *x as f64;
                }
            }
            None => acc.fill(0.0),
        }
        // Four rows per sweep over the accumulator: a quarter of the accumulator loads/stores.
        // The per-coordinate order of additions stays row order, so results do not change.
        let mut groups = active.chunks_exact(4);
        for g in &mut groups {
            let (r0, r1, r2, r3) = (
                &u.row(g[0].0)[c0..c0 + width],
                &u.row(g[1].0)[c0..c0 + width],
                &u.row(g[2].0)[c0..c0 + width],
                &u.row(g[3].0)[c0..c0 + width],
            );
            let (w0, w1, w2, w3) = (g[0].1, g[1].1, g[2].1, g[3].1);
            for j in 0..width {
                acc[j] = acc[j] + w0 * r0[j] as f64 + w1 * r1[j] as f64 + w2 * r2[j] as f64 + w3 * r3[j] as f64;
            }
        }
        for &(i, wi) in groups.remainder() {
            let row = &u.row(i)[c0..c0 + width];
            for (a, x) in acc.iter_mut().zip(row) {
                *a += wi * *x as f64;
            }
        }
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o = *a as f32;
        }
        for (i, s) in sq_dist.iter_mut().enumerate() {
            *s += lane_sums(&u.row(i)[c0..c0 + width], out, Sum::SqDist).0;
        }
    }
}
}

multiversioned! {
/// Copies columns `b0..b0 + width` of `rows` into `block` (row-major `n x width`) as f64.
fn block_to_f64(rows: &[&[f32]], b0: usize, width: usize, block: &mut [f64]) {
    for (i, row) in rows.iter().enumerate() {
        let src = &row[b0..b0 + width];
        for (dst, x) in block[i * width..(i + 1) * width].iter_mut().zip(src) {
            *dst = *x as f64;
        }
    }
}
}

multiversioned! {
/// Sum of a slice (16 f32 lanes, fixed order).
fn sum_f32(chunk: &[f32]) -> f64 {
    let mut acc = [0.0f32; 16];
    let (body, tail) = chunk.split_at(chunk.len() - chunk.len() % 16);
    for c in body.chunks_exact(16) {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    acc.iter().map(|x| *x as f64).sum::<f64>() + tail.iter().map(|x| *x as f64).sum::<f64>()
}
}

/// The `n x n` Gram matrix `G = X X^T` (row-major, symmetric), accumulated in f64.
///
/// f32 Gram entries lose near-duplicate distances entirely (`||a||^2 + ||b||^2 - 2 a.b` cancels),
/// and colluding attackers send near-duplicates on purpose. Columns are converted to f64 a block
/// at a time and multiplied with faer's GEMM (lower triangle only), so the extra memory is one
/// `n x 512` f64 block per thread; per-task partial Grams are summed in task order.
pub(crate) fn gram(u: &Updates) -> Vec<f64> {
    let rows: Vec<&[f32]> = (0..u.n()).map(|i| u.row(i)).collect();
    gram_rows(&rows, u.d())
}

/// [`gram`] over separately stored rows of length `d` each.
pub(crate) fn gram_rows(rows: &[&[f32]], d: usize) -> Vec<f64> {
    const BLOCK: usize = 512;
    let n = rows.len();
    let tasks = d.div_ceil(COLUMN_TASK);
    let partials: Vec<Vec<f64>> = (0..tasks)
        .into_par_iter()
        .map(|task| {
            let c0 = task * COLUMN_TASK;
            let c1 = (c0 + COLUMN_TASK).min(d);
            let mut g = vec![0.0f64; n * n];
            let mut block = vec![0.0f64; n * BLOCK];
            let mut b0 = c0;
            while b0 < c1 {
                let width = BLOCK.min(c1 - b0);
                block_to_f64(rows, b0, width, &mut block);
                let x = MatRef::from_row_major_slice(&block[..n * width], n, width);
                let gm = MatMut::from_row_major_slice_mut(&mut g, n, n);
                tri_matmul(
                    gm,
                    BlockStructure::TriangularLower,
                    Accum::Add,
                    x,
                    BlockStructure::Rectangular,
                    x.transpose(),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
                b0 += width;
            }
            g
        })
        .collect();
    let mut g = vec![0.0f64; n * n];
    for p in &partials {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    for i in 0..n {
        for j in 0..i {
            g[j * n + i] = g[i * n + j];
        }
    }
    g
}

/// Pairwise squared distances `D_ij = G_ii + G_jj - 2 G_ij` (clamped at 0), row-major `n x n`.
pub(crate) fn sq_distances_from_gram(g: &[f64], n: usize) -> Vec<f64> {
    let mut dist = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                dist[i * n + j] = (g[i * n + i] + g[j * n + j] - 2.0 * g[i * n + j]).max(0.0);
            }
        }
    }
    dist
}

/// Pairwise squared distances of the rows (f64-accurate for near-duplicates).
pub(crate) fn pairwise_sq_distances(u: &Updates) -> Vec<f64> {
    sq_distances_from_gram(&gram(u), u.n())
}

/// The median of a slice of finite values (mean of the two middle values for even length).
pub(crate) fn median_f64(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len();
    if m == 0 {
        return 0.0;
    }
    if m % 2 == 1 {
        v[m / 2]
    } else {
        0.5 * (v[m / 2 - 1] + v[m / 2])
    }
}

/// Indices of the `k` smallest values, ties broken by lower index.
pub(crate) fn k_smallest(values: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|a, b| values[*a].total_cmp(&values[*b]).then(a.cmp(b)));
    idx.truncate(k);
    idx
}

/// One read pass over the matrix (sum of all values): the memory-bandwidth floor that any
/// rule reading every value once must pay. Exposed for the benchmark.
pub fn read_pass(u: &Updates) -> f64 {
    let partials: Vec<f64> = u
        .as_slice()
        .par_chunks(COLUMN_TASK * 16)
        .map(sum_f32)
        .collect();
    partials.iter().sum()
}
