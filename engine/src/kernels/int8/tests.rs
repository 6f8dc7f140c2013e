//! Every int8 kernel against the scalar reference, bit for bit.

use super::{QKernel, QPackA, QTile, QREGISTRY};
use crate::cpu::Cpu;
use crate::lcg::Lcg;

/// Pack a row-major `rows x k` i8 matrix in `layout` (zero padding), as
/// bytes; [`QPackA::Rows`] rows are [`ROWS_LDA_EXTRA`] bytes longer than
/// `4 * k4`, the extra bytes garbage (returns the panel and its `lda`).
fn pack_a(a: &[i8], rows: usize, k: usize, mr: usize, layout: QPackA) -> (Vec<u8>, usize) {
    let k4 = k.div_ceil(4);
    if layout == QPackA::Rows {
        let lda = 4 * k4 + ROWS_LDA_EXTRA;
        let mut out = vec![0x5au8; mr * lda];
        for r in 0..mr {
            for kk in 0..4 * k4 {
                out[r * lda + kk] = if r < rows && kk < k { a[r * k + kk] as u8 } else { 0 };
            }
        }
        return (out, lda);
    }
    let mut out = vec![0i16; k4 * mr * 4];
    for r in 0..rows {
        for kk in 0..k {
            out[((kk / 4) * mr + r) * 4 + kk % 4] = i16::from(a[r * k + kk]);
        }
    }
    (values(&out, layout == QPackA::WideGroups), 0)
}

/// Garbage bytes after each row of a [`QPackA::Rows`] test panel: a kernel
/// that ignored `lda` would read them.
const ROWS_LDA_EXTRA: usize = 12;

/// Pack a row-major `k x cols` u8 matrix into `[k4][nr][4]` (zero padding).
fn pack_b(b: &[u8], k: usize, cols: usize, nr: usize) -> Vec<u8> {
    let k4 = k.div_ceil(4);
    let mut out = vec![0u8; k4 * nr * 4];
    for kk in 0..k {
        for c in 0..cols {
            out[((kk / 4) * nr + c) * 4 + kk % 4] = b[kk * cols + c];
        }
    }
    out
}

/// Packed weights as a panel: each a byte, or an i16 (2 bytes) when `wide`.
fn values(v: &[i16], wide: bool) -> Vec<u8> {
    if wide {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    } else {
        v.iter().map(|&x| x as u8).collect()
    }
}

/// Run `kern` on random operands of `rows x k x cols` (extremes included,
/// weights within its [`QKernel::max_weight`])
/// and return C, starting from `init` when accumulating.
fn run(kern: &QKernel, rows: usize, k: usize, cols: usize, accumulate: bool, seed: u64) -> (Vec<i32>, Vec<i32>) {
    let mut rng = Lcg::new(seed as u32);
    // Weights over the kernel's whole range, its extremes included.
    let top = i16::from(kern.max_weight);
    let a: Vec<i8> = (0..rows * k)
        .map(|i| match i % 7 {
            0 => -top,
            3 => top.min(127),
            _ => i16::from((rng.next_u32() >> 24) as u8 as i8).clamp(-top, top),
        } as i8)
        .collect();
    let b: Vec<u8> = (0..k * cols).map(|i| if i % 5 == 0 { 255 } else { (rng.next_u32() >> 24) as u8 }).collect();
    let ldc = kern.nr + 3;
    let init: Vec<i32> = (0..kern.mr * ldc).map(|i| i as i32 * 1000 - 7).collect();
    let mut want = init.clone();
    for r in 0..rows {
        for c in 0..cols {
            let dot: i64 = (0..k).map(|kk| i64::from(a[r * k + kk]) * i64::from(b[kk * cols + c])).sum();
            let base = if accumulate { i64::from(init[r * ldc + c]) } else { 0 };
            want[r * ldc + c] = (base + dot) as i32;
        }
    }
    let (pa, lda) = pack_a(&a, rows, k, kern.mr, kern.a);
    let pb = pack_b(&b, k, cols, kern.nr);
    let mut got = init;
    let a = pa.as_ptr() as *const i8;
    let t = QTile { k4: k.div_ceil(4), a, lda, b: pb.as_ptr(), c: got.as_mut_ptr(), ldc, rows, cols, accumulate };
    assert!(Cpu::detect().supports(kern.isa));
    // SAFETY: the ISA was checked; the panels and C were sized for this kernel's tile above.
    unsafe { (kern.run)(&t) };
    (got, want)
}

#[test]
fn every_available_int8_kernel_matches_the_exact_product() {
    for kern in QREGISTRY.iter().filter(|k| k.isa.available()) {
        for (i, &(rows, k, cols)) in
            [(kern.mr, 64, kern.nr), (1, 1, 1), (kern.mr, 3, 1), (1, 257, kern.nr), (kern.mr - 1, 4608, kern.nr - 1)]
                .iter()
                .enumerate()
        {
            for accumulate in [false, true] {
                let (got, want) = run(kern, rows.max(1), k, cols.max(1), accumulate, 11 + i as u64);
                assert_eq!(got, want, "{} rows {rows} k {k} cols {cols} accumulate {accumulate}", kern.name);
            }
        }
    }
}

#[test]
fn the_scalar_reference_is_last_and_always_available() {
    assert_eq!(super::scalar().name, "scalar-4x8");
    assert!(super::best().isa.available());
}

#[test]
fn an_int8_kernel_the_cpu_lacks_is_an_error_naming_the_missing_features() {
    let cpu = Cpu::detect();
    for kern in QREGISTRY.iter().filter(|k| cpu.supports(k.isa)) {
        for &f in kern.isa.features() {
            let err = super::by_name_on(kern.name, cpu.without(f)).expect_err("feature removed");
            assert!(err.to_string().contains(f.name()), "{}: {err}", kern.name);
        }
    }
}

#[test]
fn every_available_int8_kernel_matches_on_random_edge_tiles() {
    let mut rng = Lcg::new(77);
    for kern in QREGISTRY.iter().filter(|k| k.isa.available()) {
        for case in 0..60u64 {
            // Every partial tile shape, depths that are not multiples of 4.
            let rows = 1 + (rng.next_u32() as usize) % kern.mr;
            let cols = 1 + (rng.next_u32() as usize) % kern.nr;
            let k = 1 + (rng.next_u32() as usize) % 300;
            let accumulate = case % 2 == 1;
            let (got, want) = run(kern, rows, k, cols, accumulate, 1000 + case);
            assert_eq!(got, want, "{} rows {rows} k {k} cols {cols} accumulate {accumulate}", kern.name);
        }
    }
}

#[test]
fn a_kernel_limited_to_small_weights_hands_larger_ones_to_a_kernel_of_its_isa() {
    for kern in QREGISTRY {
        let full = super::any_weight(kern);
        assert!(full.fits(128), "{} -> {}", kern.name, full.name);
        assert_eq!(full.isa, kern.isa, "{} -> {}", kern.name, full.name);
        assert_eq!(core::ptr::eq(full, kern), kern.fits(128), "{}", kern.name);
    }
    // The context switches kernels per layer on the layer's largest weight.
    let ctx = |q: &'static QKernel| crate::ctx::Ctx {
        kern: crate::kernels::scalar(),
        qkern: q,
        blocks: crate::ctx::Blocks::DEFAULT,
        winograd: true,
        fork: None,
    };
    for kern in QREGISTRY.iter().filter(|k| !k.fits(128)) {
        assert!(core::ptr::eq(ctx(kern).for_int8_weights(kern.max_weight).qkern, kern));
        let big = ctx(kern).for_int8_weights(kern.max_weight + 1).qkern;
        assert!(core::ptr::eq(big, super::any_weight(kern)), "{}", kern.name);
    }
}
