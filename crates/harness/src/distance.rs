//! The distance kernel: squared L2 and inner product over `f32` slices.
//!
//! A naive `zip().map().sum()` is one long dependency chain of additions that LLVM may not
//! reorder (floating-point addition is not associative), so it runs at one add per cycle.
//! Here each loop iteration feeds [`LANES`] independent accumulators, which LLVM turns into
//! several SIMD registers: the chains overlap and the loop runs at the throughput of the
//! vector unit instead of the latency of one add.
//!
//! On x86-64 the same body is also compiled with AVX2 enabled and chosen at run time when
//! the CPU has it (`is_x86_feature_detected!`, which caches its answer). Both paths perform
//! the same additions in the same order (no FMA contraction), so they return bit-identical
//! results: a build is reproducible whichever path ran.

/// Number of independent accumulators per loop iteration (four AVX2 registers).
pub const LANES: usize = 32;

#[inline(always)]
fn l2_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    reduce(acc) + tail
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    reduce(acc) + tail
}

/// Pairwise reduction of the accumulators (a fixed order, so results are reproducible).
#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    l2_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
///
/// ```
/// assert_eq!(hnswtune_harness::distance::l2_squared(&[0.0, 3.0], &[4.0, 0.0]), 25.0);
/// ```
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(
            unsafe_code,
            reason = "calling a target_feature function after detecting the feature"
        )]
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { l2_avx2(a, b) };
    }
    l2_body(a, b)
}

/// Inner product over the common prefix of `a` and `b`.
///
/// ```
/// assert_eq!(hnswtune_harness::distance::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(
            unsafe_code,
            reason = "calling a target_feature function after detecting the feature"
        )]
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { dot_avx2(a, b) };
    }
    dot_body(a, b)
}

/// Asks the CPU to start loading every cache line of `row` now.
///
/// A graph search computes distances to rows scattered over a base that does not fit in
/// cache, so most rows come from memory. The kernel's loads are independent, but a 384-d
/// row is 24 cache lines and the kernel's instruction stream for it is longer than the
/// out-of-order window, so the later lines are requested only as the earlier ones retire.
/// Prefetching every line first puts all of them in flight at once. On other
/// architectures this does nothing. Prefetches never fault and change no result.
#[inline(always)]
pub fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = std::mem::size_of_val(row);
        if bytes == 0 {
            return;
        }
        let base = row.as_ptr().cast::<i8>();
        #[allow(
            unsafe_code,
            reason = "calling an SSE intrinsic; SSE is part of every x86-64 CPU"
        )]
        // SAFETY: SSE is in the x86-64 baseline, so the instruction exists; a prefetch reads
        // nothing into the program and never faults, and every address is inside `row`.
        unsafe {
            let mut offset = 0;
            while offset < bytes {
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(offset));
                offset += 64;
            }
            // The row need not start on a line boundary: cover its last line too.
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(bytes - 1));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// The portable path without run-time dispatch, for benchmarks and cross-checks.
pub fn l2_squared_portable(a: &[f32], b: &[f32]) -> f32 {
    l2_body(a, b)
}

/// The naive one-accumulator form, kept as the benchmark baseline.
pub fn l2_squared_naive(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum()
    }

    #[test]
    fn kernels_match_f64_reference_for_many_lengths() {
        for n in [0usize, 1, 7, 31, 32, 33, 64, 100, 384, 385] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32) * 0.25 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32) * 0.5 - 1.5).collect();
            let want = reference_l2(&a, &b);
            let got = l2_squared(&a, &b);
            assert!(
                (f64::from(got) - want).abs() <= 1e-4 * want.max(1.0),
                "n={n}"
            );
            assert_eq!(
                got,
                l2_squared_portable(&a, &b),
                "dispatch changed the result"
            );
            let want_dot: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!((f64::from(dot(&a, &b)) - want_dot).abs() <= 1e-4 * want_dot.abs().max(1.0));
        }
    }
}
