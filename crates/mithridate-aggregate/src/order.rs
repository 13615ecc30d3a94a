//! Per-coordinate order statistics without transposing or fully sorting per coordinate.
//!
//! The columns are processed in blocks of [`LANES`] adjacent coordinates: the block's `m`
//! values per coordinate are gathered into `m` lane vectors that sit in L1, and a comparator
//! network (Batcher's odd-even merge sort, pruned to the output positions the rule reads) is
//! applied lane-wise with branch-free min/max, so each comparator handles `LANES` coordinates
//! at once in SIMD registers. The result per coordinate is the mean of a *window* of sorted
//! positions `[a, b)`: median, trimmed mean and Bulyan's "closest to the median" are all windows.

use crate::kernels::{multiversioned, COLUMN_TASK};
use crate::updates::Updates;
use rayon::prelude::*;

/// Coordinates handled together by one comparator (two AVX2 registers of f32).
pub(crate) const LANES: usize = 16;

type Lane = [f32; LANES];

/// Lines sorted together in registers by the AVX-512 path (16 of the 32 vector registers).
const GROUP: usize = 16;

/// Lines to allocate for an `m`-line network: `m` rounded up to whole groups. The padding
/// lines must hold `+inf` (see [`padded_lines`]).
fn padded_len(m: usize) -> usize {
    m.div_ceil(GROUP) * GROUP
}

/// A zeroed line buffer for an `m`-line network, with the padding lines set to `+inf`.
fn padded_lines(m: usize) -> Vec<Lane> {
    let mut lines = vec![[0.0; LANES]; padded_len(m)];
    lines[m..].fill([f32::INFINITY; LANES]);
    lines
}

/// A comparator network on `m` lines: after applying it, every line in `needed` holds the
/// value a full sort would put there.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    lines: usize,
    /// Comparators `(i, j)` with `i < j < lines`.
    pairs: Vec<(u32, u32)>,
    /// `pairs[..tail]` are the first merge levels, which only sort each aligned group of
    /// [`GROUP`] lines; `pairs[tail..]` merge the sorted groups.
    tail: usize,
}

impl Network {
    /// Batcher's odd-even merge sort for `m` lines, keeping only comparators that influence
    /// the lines in `needed`.
    ///
    /// Built for the next power of two `p >= m` with lines `m..p` imagined as `+inf`: a
    /// comparator `(i, j)`, `i < j`, touching such a line never moves anything (the `+inf` is
    /// already on the max side), so dropping those comparators sorts `m` lines exactly.
    pub(crate) fn sorting(m: usize, needed: std::ops::Range<usize>) -> Self {
        let p = m.next_power_of_two();
        // (i, j, span of the merge level)
        let mut pairs = Vec::new();
        let mut span = 1;
        while span < p {
            let mut k = span;
            while k >= 1 {
                let mut j = k % span;
                while j + k < p {
                    for i in 0..k.min(p - j - k) {
                        if (i + j) / (2 * span) == (i + j + k) / (2 * span) && i + j + k < m {
                            pairs.push(((i + j) as u32, (i + j + k) as u32, span));
                        }
                    }
                    j += 2 * k;
                }
                k /= 2;
            }
            span *= 2;
        }
        // Backward pass: a comparator matters iff one of its outputs is needed later.
        let mut live = vec![false; m];
        for line in needed {
            live[line] = true;
        }
        let mut kept = Vec::with_capacity(pairs.len());
        for &(i, j, span) in pairs.iter().rev() {
            if live[i as usize] || live[j as usize] {
                live[i as usize] = true;
                live[j as usize] = true;
                kept.push((i, j, span));
            }
        }
        kept.reverse();
        // Levels come in increasing span, so the group-local ones are a prefix.
        let tail = kept.iter().take_while(|(_, _, span)| *span < GROUP).count();
        Network {
            lines: m,
            pairs: kept.into_iter().map(|(i, j, _)| (i, j)).collect(),
            tail,
        }
    }

    /// Number of comparators.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Sorts every lane of `lines` (as far as the needed lines are concerned). `lines` is a
    /// [`padded_lines`] buffer: `padded_len(m)` lines, the ones past `m` holding `+inf`.
    #[inline(always)]
    fn apply(&self, lines: &mut [Lane]) {
        assert_eq!(
            lines.len(),
            padded_len(self.lines),
            "network applied to the wrong number of lines"
        );
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F is available (checked); `lines` is padded (asserted).
                unsafe { self.apply_grouped_avx512(lines) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available (checked), and every comparator index is below
                // `self.lines <= lines.len()` by construction.
                unsafe { apply_avx2(&self.pairs, lines) };
                return;
            }
        }
        apply_portable(&self.pairs, lines);
    }

    /// The AVX-512 path of [`apply`](Network::apply): every group sorted in registers, then
    /// the merge levels (`pairs[tail..]`).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and `lines` must be a [`padded_lines`] buffer for this
    /// network.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn apply_grouped_avx512(&self, lines: &mut [Lane]) {
        for group in lines.chunks_exact_mut(GROUP) {
            // SAFETY (caller): AVX-512F; chunks_exact gives whole groups.
            unsafe { sort_group_avx512(group) };
        }
        // SAFETY (caller): every comparator index is below `self.lines <= lines.len()`.
        unsafe { apply_avx512(&self.pairs[self.tail..], lines) };
    }

    /// Sorts a plain slice with the network (testing aid).
    #[cfg(test)]
    pub(crate) fn sort_one(&self, values: &[f32]) -> Vec<f32> {
        let mut lines = padded_lines(values.len());
        for (line, v) in lines.iter_mut().zip(values) {
            *line = [*v; LANES];
        }
        self.apply(&mut lines);
        lines[..values.len()].iter().map(|l| l[0]).collect()
    }
}

/// The comparator loop without SIMD intrinsics (any CPU).
fn apply_portable(pairs: &[(u32, u32)], lines: &mut [Lane]) {
    for &(i, j) in pairs {
        let a = lines[i as usize];
        let b = lines[j as usize];
        let mut lo = [0.0f32; LANES];
        let mut hi = [0.0f32; LANES];
        for l in 0..LANES {
            // Inputs are finite (validated), so no NaN subtleties.
            lo[l] = if a[l] < b[l] { a[l] } else { b[l] };
            hi[l] = if a[l] < b[l] { b[l] } else { a[l] };
        }
        lines[i as usize] = lo;
        lines[j as usize] = hi;
    }
}

/// The comparator loop with explicit AVX2 min/max. Written with intrinsics because LLVM turns
/// the portable version into masked stores, which defeat store-to-load forwarding between
/// consecutive comparators sharing a line (measured ~10x slower).
///
/// # Safety
/// The CPU must support AVX2 and every index in `pairs` must be `< lines.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_avx2(pairs: &[(u32, u32)], lines: &mut [Lane]) {
    use std::arch::x86_64::{_mm256_loadu_ps, _mm256_max_ps, _mm256_min_ps, _mm256_storeu_ps};
    const _: () = assert!(LANES == 16);
    let base = lines.as_mut_ptr() as *mut f32;
    for &(i, j) in pairs {
        // SAFETY (caller): i, j < lines.len(), so both 16-float lines are in bounds.
        unsafe {
            let pi = base.add(i as usize * LANES);
            let pj = base.add(j as usize * LANES);
            let a0 = _mm256_loadu_ps(pi);
            let a1 = _mm256_loadu_ps(pi.add(8));
            let b0 = _mm256_loadu_ps(pj);
            let b1 = _mm256_loadu_ps(pj.add(8));
            _mm256_storeu_ps(pi, _mm256_min_ps(a0, b0));
            _mm256_storeu_ps(pi.add(8), _mm256_min_ps(a1, b1));
            _mm256_storeu_ps(pj, _mm256_max_ps(a0, b0));
            _mm256_storeu_ps(pj.add(8), _mm256_max_ps(a1, b1));
        }
    }
}

/// Sorts one group of [`GROUP`] lines lane-wise entirely in registers (Batcher's 63
/// comparators for 16 lines): the merge levels below span 16, which make up ~40% of a
/// 100-line network, cost 16 loads and 16 stores instead of two stores per comparator.
/// Padding lines hold `+inf` and stay last.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sort_group_avx512(group: &mut [Lane]) {
    use std::arch::x86_64::{
        __m512, _mm512_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_storeu_ps,
    };
    const _: () = assert!(GROUP == 16 && LANES == 16);
    let group: &mut [Lane; GROUP] = group.try_into().expect("a whole group");
    let base = group.as_mut_ptr() as *mut f32;
    // SAFETY: `group` is GROUP lines of LANES floats, so every offset is in bounds.
    let mut r: [__m512; GROUP] =
        std::array::from_fn(|k| unsafe { _mm512_loadu_ps(base.add(k * LANES)) });
    macro_rules! compare_exchange {
        ($($i:literal $j:literal),* $(,)?) => {$(
            let lo = _mm512_min_ps(r[$i], r[$j]);
            r[$j] = _mm512_max_ps(r[$i], r[$j]);
            r[$i] = lo;
        )*};
    }
    compare_exchange!(
        0 1, 2 3, 4 5, 6 7, 8 9, 10 11, 12 13, 14 15, 0 2, 1 3, 4 6, 5 7, 8 10, 9 11, 12 14,
        13 15, 1 2, 5 6, 9 10, 13 14, 0 4, 1 5, 2 6, 3 7, 8 12, 9 13, 10 14, 11 15, 2 4, 3 5,
        10 12, 11 13, 1 2, 3 4, 5 6, 9 10, 11 12, 13 14, 0 8, 1 9, 2 10, 3 11, 4 12, 5 13,
        6 14, 7 15, 4 8, 5 9, 6 10, 7 11, 2 4, 3 5, 6 8, 7 9, 10 12, 11 13, 1 2, 3 4, 5 6,
        7 8, 9 10, 11 12, 13 14,
    );
    for (k, v) in r.iter().enumerate() {
        // SAFETY: as for the loads.
        unsafe { _mm512_storeu_ps(base.add(k * LANES), *v) };
    }
}

/// [`apply_avx2`] with one AVX-512 register per line: half the loads, stores and min/max.
///
/// # Safety
/// The CPU must support AVX-512F and every index in `pairs` must be `< lines.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn apply_avx512(pairs: &[(u32, u32)], lines: &mut [Lane]) {
    use std::arch::x86_64::{_mm512_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_storeu_ps};
    let base = lines.as_mut_ptr() as *mut f32;
    for &(i, j) in pairs {
        // SAFETY (caller): i, j < lines.len(), so both 16-float lines are in bounds.
        unsafe {
            let pi = base.add(i as usize * LANES);
            let pj = base.add(j as usize * LANES);
            let a = _mm512_loadu_ps(pi);
            let b = _mm512_loadu_ps(pj);
            _mm512_storeu_ps(pi, _mm512_min_ps(a, b));
            _mm512_storeu_ps(pj, _mm512_max_ps(a, b));
        }
    }
}

/// Which sorted positions a rule averages, per coordinate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Window {
    /// The same positions `[a, b)` for every coordinate (median, trimmed mean).
    Fixed(usize, usize),
    /// The `beta` values closest to the coordinate's median, chosen outwards from the
    /// middle; at equal distance the smaller value wins (Bulyan).
    ClosestToMedian(usize),
}

impl Window {
    fn needed(&self, m: usize) -> std::ops::Range<usize> {
        match *self {
            Window::Fixed(a, b) => a..b,
            Window::ClosestToMedian(_) => 0..m,
        }
    }
}

/// For sorted `v` (length `m`), the window of the `beta` values closest to the median,
/// ties going to the smaller value. Values below the median are non-increasing in distance
/// walking left from the lower middle, values above non-decreasing walking right, so a greedy
/// two-pointer merge picks exactly the `beta` closest.
pub(crate) fn closest_to_median_window(v: &[f32], beta: usize) -> (usize, usize) {
    let m = v.len();
    let median = if m % 2 == 1 {
        v[m / 2] as f64
    } else {
        0.5 * (v[m / 2 - 1] as f64 + v[m / 2] as f64)
    };
    // `left` is the next candidate on the left (inclusive), `right` on the right.
    let mut left = (m - 1) / 2;
    let mut right = left + 1;
    let mut left_open = true;
    for _ in 0..beta {
        let take_left =
            left_open && (right >= m || median - v[left] as f64 <= v[right] as f64 - median);
        if take_left {
            if left == 0 {
                left_open = false;
            } else {
                left -= 1;
            }
        } else {
            right += 1;
        }
    }
    let a = if left_open { left + 1 } else { 0 };
    (a, right)
}

/// Per coordinate, the mean of the sorted values at the window's positions, over the rows in
/// `rows`; plus each row's average per-coordinate share (see [`coordinatewise`]'s doc).
pub(crate) struct Coordinatewise {
    pub(crate) aggregate: Vec<f32>,
    /// Per entry of `rows`: the average over coordinates of the row's share of that
    /// coordinate's window (the shares of one coordinate sum to 1).
    pub(crate) shares: Vec<f64>,
}

/// Mean of a window of per-coordinate order statistics over the given rows.
///
/// Shares: a value strictly inside the window's value range `(lo, hi)` gets `1/k` (`k` the
/// window size); values equal to a boundary value split the window slots holding that value
/// equally among all rows carrying it (ties are indistinguishable by value, so any split gives
/// the same aggregate; an equal split is the symmetric choice).
pub(crate) fn coordinatewise(u: &Updates, rows: &[usize], window: Window) -> Coordinatewise {
    let m = rows.len();
    let d = u.d();
    let network = Network::sorting(m, window.needed(m));
    let mut aggregate = vec![0.0f32; d];
    let partials: Vec<Vec<f64>> = aggregate
        .par_chunks_mut(COLUMN_TASK)
        .enumerate()
        .map(|(task, out)| coordinatewise_task(u, rows, &network, window, task * COLUMN_TASK, out))
        .collect();
    let mut shares = vec![0.0f64; m];
    for p in &partials {
        for (s, x) in shares.iter_mut().zip(p) {
            *s += x;
        }
    }
    for s in &mut shares {
        *s /= d as f64;
    }
    Coordinatewise { aggregate, shares }
}

multiversioned! {
/// Columns `c0..c0 + out.len()` of [`coordinatewise`]; returns the rows' summed shares.
fn coordinatewise_task(
    u: &Updates,
    rows: &[usize],
    network: &Network,
    window: Window,
    c0: usize,
    out: &mut [f32],
) -> Vec<f64> {
    let m = rows.len();
    // Per row and lane running shares (reduced over lanes once at the end), in f64; the
    // blocks of one tile accumulate in f32 first (one vector update per row and block).
    let mut lane_shares: Vec<[f64; LANES]> = vec![[0.0; LANES]; m];
    let mut tile_shares: Vec<Lane> = vec![[0.0; LANES]; m];
    let mut lines = padded_lines(m);
    let mut column = vec![0.0f32; m];
    // A tile of TILE columns of every row, copied contiguously first: reading 16 floats from
    // each of ~100 rows per block would be ~100 concurrent streams, more than the hardware
    // prefetchers follow; 2 KiB runs per row stream well, and the tile stays in L2. The
    // unsorted values of a block are read back from the tile for the shares.
    const TILE: usize = 512;
    const _: () = assert!(TILE.is_multiple_of(LANES));
    let mut tile = vec![0.0f32; m * TILE];
    let mut b0 = 0;
    while b0 < out.len() {
        if b0 % TILE == 0 {
            let tile_width = TILE.min(out.len() - b0);
            for (dst, &r) in tile.chunks_exact_mut(TILE).zip(rows) {
                dst[..tile_width].copy_from_slice(&u.row(r)[c0 + b0..c0 + b0 + tile_width]);
            }
        }
        let t0 = b0 % TILE;
        let width = LANES.min(out.len() - b0);
        for (line, src_row) in lines.iter_mut().zip(tile.chunks_exact(TILE)) {
            let src = &src_row[t0..t0 + width];
            if let Ok(full) = <&Lane>::try_from(src) {
                *line = *full; // fixed-size copy: no memmove call
            } else {
                line[..width].copy_from_slice(src);
                line[width..].fill(0.0);
            }
        }
        network.apply(&mut lines);
        // Per lane: window mean, boundary values and how many window slots hold them.
        let mut mean = [0.0f64; LANES];
        let mut lo = [0.0f32; LANES];
        let mut hi = [0.0f32; LANES];
        let mut kept_lo = [0.0f32; LANES];
        let mut kept_hi = [0.0f32; LANES];
        let mut size = [1.0f32; LANES];
        match window {
            Window::Fixed(a, b) => {
                // Lane-parallel (vectorised) for the common fixed windows.
                lo = lines[a];
                hi = lines[b - 1];
                let mut sum = [0.0f64; LANES];
                for line in &lines[a..b] {
                    for l in 0..LANES {
                        sum[l] += line[l] as f64;
                        kept_lo[l] += if line[l] == lo[l] { 1.0 } else { 0.0 };
                        kept_hi[l] += if line[l] == hi[l] { 1.0 } else { 0.0 };
                    }
                }
                for l in 0..LANES {
                    mean[l] = sum[l] / (b - a) as f64;
                }
                size = [(b - a) as f32; LANES];
            }
            Window::ClosestToMedian(beta) => {
                for l in 0..width {
                    for (c, line) in column.iter_mut().zip(&lines) {
                        *c = line[l];
                    }
                    let (a, b) = closest_to_median_window(&column, beta);
                    let kept = &column[a..b];
                    lo[l] = kept[0];
                    hi[l] = kept[kept.len() - 1];
                    mean[l] = kept.iter().map(|x| *x as f64).sum::<f64>() / kept.len() as f64;
                    kept_lo[l] = kept.iter().filter(|x| **x == lo[l]).count() as f32;
                    kept_hi[l] = kept.iter().filter(|x| **x == hi[l]).count() as f32;
                    size[l] = kept.len() as f32;
                }
            }
        }
        for l in 0..width {
            out[b0 + l] = mean[l] as f32;
        }
        // The block's unsorted values, straight from the tile (lanes past `width` hold stale
        // but finite values, and `add_shares` gives them weight 0).
        let original = tile
            .chunks_exact(TILE)
            .map(|row| <&Lane>::try_from(&row[t0..t0 + LANES]).expect("TILE is whole lanes"));
        add_shares(original, width, &lo, &hi, &kept_lo, &kept_hi, &size, &mut tile_shares);
        b0 += width;
        if b0 % TILE == 0 || b0 == out.len() {
            for (total, part) in lane_shares.iter_mut().zip(&mut tile_shares) {
                for l in 0..LANES {
                    total[l] += part[l] as f64;
                }
                *part = [0.0; LANES];
            }
        }
    }
    lane_shares.iter().map(|s| s.iter().sum()).collect()
}
}

/// Adds one block's shares to every row's running total, lane-parallel. Padding lanes
/// (`l >= width`) contribute nothing.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn add_shares<'t>(
    original: impl Iterator<Item = &'t Lane> + Clone,
    width: usize,
    lo: &Lane,
    hi: &Lane,
    kept_lo: &Lane,
    kept_hi: &Lane,
    size: &Lane,
    shares: &mut [Lane],
) {
    let mut total_lo = [0.0f32; LANES];
    let mut total_hi = [0.0f32; LANES];
    for line in original.clone() {
        for l in 0..LANES {
            total_lo[l] += if line[l] == lo[l] { 1.0 } else { 0.0 };
            total_hi[l] += if line[l] == hi[l] { 1.0 } else { 0.0 };
        }
    }
    let mut inside = [0.0f32; LANES];
    let mut at_lo = [0.0f32; LANES];
    let mut at_hi = [0.0f32; LANES];
    for l in 0..width {
        inside[l] = 1.0 / size[l];
        // Every boundary value occurs at least once in `original`, so no division by zero.
        at_lo[l] = kept_lo[l] / (total_lo[l] * size[l]);
        at_hi[l] = kept_hi[l] / (total_hi[l] * size[l]);
    }
    for (s, line) in shares.iter_mut().zip(original) {
        for l in 0..LANES {
            let x = line[l];
            let strictly_inside = if x > lo[l] && x < hi[l] {
                inside[l]
            } else {
                0.0
            };
            let on_lo = if x == lo[l] { at_lo[l] } else { 0.0 };
            // When lo == hi both boundary terms describe the same slots: count them once.
            let on_hi = if x == hi[l] && hi[l] != lo[l] {
                at_hi[l]
            } else {
                0.0
            };
            s[l] += strictly_inside + on_lo + on_hi;
        }
    }
}

#[cfg(test)]
mod tests;
