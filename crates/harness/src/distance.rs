//! The distance kernel: squared L2 and inner product over `f32` slices.
//!
//! A naive `zip().map().sum()` is one long dependency chain of additions that LLVM may not
//! reorder (floating-point addition is not associative), so it runs at one add per cycle.
//! Here each loop iteration feeds [`LANES`] independent accumulators, which LLVM turns into
//! several SIMD registers: the chains overlap and the loop runs at the throughput of the
//! vector unit instead of the latency of one add.
//!
//! On x86-64 an AVX2 version of the same lanes, written with intrinsics, is chosen at run
//! time when the CPU has it (`is_x86_feature_detected!`, which caches its answer). Both
//! paths perform the same additions in the same order (no FMA contraction), so they return
//! bit-identical results: a build is reproducible whichever path ran.

/// Number of independent accumulators per loop iteration (four AVX2 registers, eight
/// 4-wide ones).
pub const LANES: usize = 32;

/// The portable kernels: [`LANES`] accumulators held as eight 4-wide vectors of the
/// `wide` crate, which compiles them to SSE2 on x86-64, NEON on aarch64, SIMD128 on
/// wasm and scalar code elsewhere.
///
/// The same lanes written as a plain `[f32; 32]` loop (kept as `tests::lanes` to check
/// against) were
/// left to LLVM's SLP vectoriser, which chose 2-wide vectors on both x86-64 (SSE2: `movsd`
/// pairs, 136 ns per 384-d distance) and aarch64 (`ldp d` pairs, `fsub v.2s`, read from
/// the assembly). Register `j` lane `i` is accumulator `4 j + i`; each lane does the same
/// subtraction, multiplication and addition in the same order, and `reduce` adds them
/// pairwise in the order of the AVX2 path, so every path returns bit-identical results
/// (tested).
mod portable {
    use wide::f32x4;

    use super::LANES;

    /// The eight 4-lane vectors of one 32-float chunk.
    #[inline(always)]
    fn load(chunk: &[f32]) -> [f32x4; 8] {
        let chunk: &[f32; LANES] = chunk.try_into().unwrap_or_else(|_| {
            unreachable!("chunks_exact({LANES}) yields chunks of {LANES} floats")
        });
        std::array::from_fn(|j| {
            f32x4::from([
                chunk[4 * j],
                chunk[4 * j + 1],
                chunk[4 * j + 2],
                chunk[4 * j + 3],
            ])
        })
    }

    /// Pairwise reduction of the 32 lanes: widths 16, 8, 4, 2, 1, as `acc[i] +=
    /// acc[i + width]`.
    #[inline(always)]
    fn reduce(r: [f32x4; 8]) -> f32 {
        let r16 = [r[0] + r[4], r[1] + r[5], r[2] + r[6], r[3] + r[7]];
        let r8 = [r16[0] + r16[2], r16[1] + r16[3]];
        let v = (r8[0] + r8[1]).to_array();
        let (v0, v1) = (v[0] + v[2], v[1] + v[3]);
        v0 + v1
    }

    /// Squared L2 (`SQUARED_DIFF`) or inner product over the common prefix.
    #[inline(always)]
    pub(super) fn fold<const SQUARED_DIFF: bool>(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut ca = a[..n].chunks_exact(LANES);
        let mut cb = b[..n].chunks_exact(LANES);
        let mut acc = [f32x4::ZERO; 8];
        for (x, y) in (&mut ca).zip(&mut cb) {
            let (x, y) = (load(x), load(y));
            for j in 0..8 {
                let term = if SQUARED_DIFF {
                    let d = x[j] - y[j];
                    d * d
                } else {
                    x[j] * y[j]
                };
                acc[j] += term;
            }
        }
        reduce(acc) + super::tail::<SQUARED_DIFF>(ca.remainder(), cb.remainder())
    }
}

/// The elements after the last whole chunk, summed in order on one accumulator (every
/// path adds them the same way).
#[inline(always)]
fn tail<const SQUARED_DIFF: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut tail = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        tail += if SQUARED_DIFF {
            (x - y) * (x - y)
        } else {
            x * y
        };
    }
    tail
}

#[inline(always)]
fn l2_body(a: &[f32], b: &[f32]) -> f32 {
    portable::fold::<true>(a, b)
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    portable::fold::<false>(a, b)
}

/// The AVX2 kernels, written with intrinsics.
///
/// Compiling [`l2_body`] with AVX2 enabled is not enough: LLVM's SLP vectoriser turns the
/// 32 accumulators into sixteen 2-wide registers plus stack spills, which ran at 138 ns
/// per 384-d distance against 32 ns for these four 8-wide registers
/// (`cargo bench -p hnswtune-bench-harness --bench kernel`, before and after; see
/// docs/harness-benchmarks.md). The lanes are the same as
/// [`l2_body`]'s (register `j` lane `i` is `acc[8 j + i]`), each lane does the same
/// subtraction, multiplication and addition in the same order (no FMA), and the final
/// reduction repeats the portable path's pairwise order, so the results are bit-identical to the
/// portable path (tested over many lengths).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps, _mm_shuffle_ps,
        _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_loadu_ps,
        _mm256_mul_ps, _mm256_setzero_ps, _mm256_sub_ps,
    };

    use super::LANES;

    /// The four 8-lane registers of one 32-float chunk (`chunks_exact(LANES)` yields
    /// exactly 32 floats; the slice is cut to 32 first, so a shorter one could only panic,
    /// never read out of bounds).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(chunk: &[f32]) -> [__m256; 4] {
        let chunk = &chunk[..LANES];
        #[allow(unsafe_code, reason = "unaligned 8-float loads from a 32-float slice")]
        // SAFETY: `chunk` holds 32 floats, so each load of 8 floats at 0, 8, 16 and 24 is
        // in bounds; `loadu` has no alignment requirement; AVX2 is enabled on every caller.
        unsafe {
            [
                _mm256_loadu_ps(chunk.as_ptr()),
                _mm256_loadu_ps(chunk.as_ptr().add(8)),
                _mm256_loadu_ps(chunk.as_ptr().add(16)),
                _mm256_loadu_ps(chunk.as_ptr().add(24)),
            ]
        }
    }

    /// The pairwise reduction of the 32 lanes of `s` (widths 16, 8, 4, 2, 1), in the
    /// portable path's order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce(s: [__m256; 4]) -> f32 {
        let v16a = _mm256_add_ps(s[0], s[2]);
        let v16b = _mm256_add_ps(s[1], s[3]);
        let v8 = _mm256_add_ps(v16a, v16b);
        let v4 = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps::<1>(v8));
        let v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
        let v1 = _mm_add_ss(v2, _mm_shuffle_ps::<0b01>(v2, v2));
        _mm_cvtss_f32(v1)
    }

    /// Squared L2 (`SQUARED_DIFF`) or inner product over the common prefix, one shape for
    /// both so their lanes and reductions cannot drift apart.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fold<const SQUARED_DIFF: bool>(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut ca = a[..n].chunks_exact(LANES);
        let mut cb = b[..n].chunks_exact(LANES);
        let mut s = [_mm256_setzero_ps(); 4];
        for (x, y) in (&mut ca).zip(&mut cb) {
            let (x, y) = (load(x), load(y));
            for j in 0..4 {
                let term = if SQUARED_DIFF {
                    let d = _mm256_sub_ps(x[j], y[j]);
                    _mm256_mul_ps(d, d)
                } else {
                    _mm256_mul_ps(x[j], y[j])
                };
                s[j] = _mm256_add_ps(s[j], term);
            }
        }
        reduce(s) + super::tail::<SQUARED_DIFF>(ca.remainder(), cb.remainder())
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn l2(a: &[f32], b: &[f32]) -> f32 {
        fold::<true>(a, b)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        fold::<false>(a, b)
    }
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
        return unsafe { avx2::l2(a, b) };
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
        return unsafe { avx2::dot(a, b) };
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

    /// The lanes as a plain scalar loop: 32 accumulators, `acc[i] += term` for element
    /// `32 c + i`, then `acc[i] += acc[i + width]` for widths 16, 8, 4, 2, 1, plus the
    /// tail. Every kernel must return exactly this.
    fn lanes(a: &[f32], b: &[f32], squared_diff: bool) -> f32 {
        let n = a.len().min(b.len());
        let term = |x: f32, y: f32| {
            if squared_diff {
                (x - y) * (x - y)
            } else {
                x * y
            }
        };
        let mut acc = [0.0f32; LANES];
        let full = n / LANES * LANES;
        for c in (0..full).step_by(LANES) {
            for i in 0..LANES {
                acc[i] += term(a[c + i], b[c + i]);
            }
        }
        let mut tail = 0.0f32;
        for k in full..n {
            tail += term(a[k], b[k]);
        }
        let mut width = LANES / 2;
        while width > 0 {
            for i in 0..width {
                acc[i] += acc[i + width];
            }
            width /= 2;
        }
        acc[0] + tail
    }

    /// Values whose sums round differently in another order, so a kernel that added in
    /// another order (or fused multiply and add) fails the bit-for-bit checks.
    fn order_sensitive(n: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..n).map(|i| (i as f32 * 0.37).sin() * 1.7).collect();
        let b = (0..n).map(|i| (i as f32 * 0.11).cos() / 3.0).collect();
        (a, b)
    }

    const LENGTHS: [usize; 14] = [0, 1, 5, 31, 32, 33, 63, 64, 95, 100, 383, 384, 385, 1536];

    #[test]
    fn portable_kernels_are_bit_identical_to_the_scalar_lanes() {
        for n in LENGTHS {
            let (a, b) = order_sensitive(n);
            assert_eq!(
                l2_body(&a, &b).to_bits(),
                lanes(&a, &b, true).to_bits(),
                "l2, n={n}"
            );
            assert_eq!(
                dot_body(&a, &b).to_bits(),
                lanes(&a, &b, false).to_bits(),
                "dot, n={n}"
            );
        }
        // The check itself tells orders apart: a one-accumulator sum differs somewhere.
        let (a, b) = order_sensitive(1536);
        assert_ne!(
            l2_squared_naive(&a, &b).to_bits(),
            lanes(&a, &b, true).to_bits()
        );
    }

    #[test]
    fn dispatched_kernels_are_bit_identical_to_the_portable_lanes() {
        for n in LENGTHS {
            let (a, b) = order_sensitive(n);
            assert_eq!(
                l2_squared(&a, &b).to_bits(),
                l2_body(&a, &b).to_bits(),
                "l2, n={n}"
            );
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_body(&a, &b).to_bits(),
                "dot, n={n}"
            );
            // Unequal lengths use the common prefix.
            assert_eq!(
                l2_squared(&a, &b[..n / 2]).to_bits(),
                l2_body(&a[..n / 2], &b[..n / 2]).to_bits()
            );
        }
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
