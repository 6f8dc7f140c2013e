//! Registry tests: naming and CPU checks, and every kernel variant against an f64 product or its full kernel.

use super::*;
use crate::cpu::Feature;
use std::string::ToString;
use std::vec::Vec;

#[test]
fn by_name_finds_every_kernel_and_isa_the_cpu_has() {
    for kern in REGISTRY.iter() {
        match by_name(kern.name) {
            Ok(k) => assert!(core::ptr::eq(k, kern) && kern.isa.available(), "{}", kern.name),
            Err(e) => assert!(!kern.isa.available(), "{}: {e}", kern.name),
        }
    }
    for &isa in Isa::ALL {
        let got = by_name(isa.name()).map(|k| k.name);
        assert_eq!(got.ok(), REGISTRY.iter().find(|k| k.isa == isa && isa.available()).map(|k| k.name));
    }
    assert_eq!(by_name("scalar").unwrap().name, "scalar-4x8");
    assert_eq!(by_name("scalar-4x8").unwrap().name, "scalar-4x8");
}

#[test]
fn an_unknown_name_is_an_error_listing_the_known_ones() {
    for name in ["", "avx512-bf16", "Scalar", "avx512-12x16", "a name far longer than thirty-two bytes"] {
        let e = by_name(name).unwrap_err();
        let EngineError::UnknownKernel { name: shown, .. } = &e else { panic!("{name:?}: {e}") };
        assert!(name.starts_with(shown.as_str()), "{name:?} shown as {shown:?}");
        let text = e.to_string();
        for known in REGISTRY.iter().map(|k| k.name).chain(Isa::ALL.iter().map(|i| i.name())) {
            assert!(text.contains(known), "{text}");
        }
    }
}

#[test]
fn a_kernel_the_cpu_lacks_is_an_error_naming_the_missing_features() {
    // Every SIMD kernel on a CPU without one of its features: the error
    // names the kernel and exactly the features taken away.
    let cpu = Cpu::detect();
    let mut checked_any = false;
    for kern in REGISTRY.iter().filter(|k| k.isa.available()) {
        assert!(core::ptr::eq(by_name_on(kern.name, cpu).unwrap(), kern));
        for &f in kern.isa.features() {
            let e = by_name_on(kern.name, cpu.without(f)).unwrap_err();
            let EngineError::KernelUnavailable { kernel, needs, missing } = &e else { panic!("{e}") };
            assert_eq!((*kernel, *needs), (kern.name, kern.isa.needs()));
            assert_eq!(missing.iter().collect::<Vec<_>>(), [f]);
            assert!(e.to_string().contains(f.name()) && e.to_string().contains(kern.name), "{e}");
            assert!(matches!(for_isa_on(kern.isa, cpu.without(f)), Err(EngineError::KernelUnavailable { .. })));
            checked_any = true;
        }
    }
    let simd = Isa::ALL.iter().any(|&i| i != Isa::Scalar && i.available());
    assert_eq!(checked_any, simd, "a SIMD kernel is available but none was checked");
    let bare = Feature::ALL.iter().fold(cpu, |c, &f| c.without(f));
    assert_eq!(by_name_on("scalar", bare).unwrap().name, "scalar-4x8");
    let e = by_name_on("avx512bf16", bare).unwrap_err();
    assert!(e.to_string().ends_with("this CPU lacks f16c, avx512f, avx512bf16"), "{e}");
    let e = by_name_on("neon-fp16", bare).unwrap_err();
    assert!(e.to_string().ends_with("this CPU lacks neon, fp16"), "{e}");
}

#[test]
fn taps_kernels_over_a_packed_panel_equal_the_kernel() {
    // With taps[d] = 32d the in-place B reads are exactly a packed panel:
    // every row count (4-, 8-, 12-row loops) and column count (16- and
    // 32-wide loops) must give the registered kernel's bits.
    let mut lcg = crate::lcg::Lcg::new(99);
    let mut next = || lcg.unit();
    for kern in REGISTRY.iter().filter(|k| k.taps.is_some() && k.isa.available()) {
        let Some(taps_fn) = kern.taps else { continue };
        let pairs = kern.format == PackFormat::Bf16Pairs;
        for (kc, rows, cols) in [(9usize, 12usize, 32usize), (588, 4, 28), (30, 7, 16), (2, 11, 1), (64, 8, 17)] {
            let depth = if pairs { kc.div_ceil(2) } else { kc };
            let mut value = || if pairs { convert::bf16_pair(next(), next()) } else { next() };
            let a: Vec<f32> = (0..12 * depth).map(|_| value()).collect();
            let b: Vec<f32> = (0..32 * depth).map(|_| value()).collect();
            let bias: Vec<f32> = (0..12).map(|_| next()).collect();
            let res: Vec<f32> = (0..12 * 40).map(|_| next()).collect();
            let taps: Vec<u32> = (0..depth as u32).map(|d| 32 * d).collect();
            let (mut want, mut got) = (vec![7f32; 12 * 40], vec![7f32; 12 * 40]);
            for (c, is_taps) in [(&mut want, false), (&mut got, true)] {
                let t = Tile {
                    kc,
                    a: a.as_ptr(),
                    b: b.as_ptr(),
                    c: c.as_mut_ptr(),
                    ldc: 40,
                    rows,
                    cols,
                    accumulate: false,
                    bias: bias.as_ptr(),
                    relu: true,
                    res: res.as_ptr(),
                };
                // SAFETY: the kernel's ISA is available (filtered above); A holds
                // 12 * depth, B 32 * depth (every tap reads 32 slots inside it),
                // C and the residual 12 rows of ldc 40 >= cols.
                unsafe {
                    if is_taps {
                        taps_fn(&t, &taps)
                    } else {
                        (kern.run)(&t)
                    }
                };
            }
            assert_eq!(want, got, "{} kc {kc} rows {rows} cols {cols}", kern.name);
        }
    }
}

#[test]
fn f32_format_kernels_match_an_f64_product_on_every_edge() {
    // Every available kernel packed as F32 or F32RowsA against the f64
    // sum of the same panels: full and partial tiles (the 4-, 8- and
    // 12-row loops, narrow columns), K across the FP16 kernel's chunks,
    // with and without accumulate, bias, residual and ReLU.
    let mut lcg = crate::lcg::Lcg::new(2024);
    let mut next = || lcg.unit();
    let f32_kernels = REGISTRY.iter().filter(|k| k.format != PackFormat::Bf16Pairs && k.isa.available());
    for kern in f32_kernels {
        let (mr, nr) = (kern.mr, kern.nr);
        // f32 sums: summation order only. f16 operands (2^-11 relative
        // each) and 16-step f16 partial sums: typically 1e-3 of the sum
        // of |products|, bounded well below 1e-2; a wrong lane or row
        // would be off by the size of the sum itself.
        let tol = if kern.exact { 1e-5 } else { 1e-2 };
        for (kc, rows, cols) in [(1usize, mr, nr), (17, mr, nr), (100, 3, nr), (33, 5, 1), (64, 8, nr / 2), (5, 9, 3)] {
            let (rows, cols) = (rows.min(mr), cols.min(nr));
            let a: Vec<f32> = (0..mr * kc).map(|_| next()).collect();
            let b: Vec<f32> = (0..nr * kc).map(|_| next()).collect();
            let bias: Vec<f32> = (0..mr).map(|_| next()).collect();
            let ldc = nr + 3;
            let res: Vec<f32> = (0..mr * ldc).map(|_| next()).collect();
            let start: Vec<f32> = (0..mr * ldc).map(|_| next()).collect();
            let a_at = |r: usize, k: usize| match kern.format {
                PackFormat::F32RowsA => a[r * kc + k],
                _ => a[k * mr + r],
            };
            for (accumulate, relu, extras) in [(false, false, false), (true, true, true), (true, false, true)] {
                let mut c = start.clone();
                let t = Tile {
                    kc,
                    a: a.as_ptr(),
                    b: b.as_ptr(),
                    c: c.as_mut_ptr(),
                    ldc,
                    rows,
                    cols,
                    accumulate,
                    bias: if extras { bias.as_ptr() } else { core::ptr::null() },
                    relu,
                    res: if extras { res.as_ptr() } else { core::ptr::null() },
                };
                // SAFETY: the kernel's ISA is available (filtered above); A holds
                // mr * kc, B nr * kc values, C and the residual mr rows of ldc >= cols.
                unsafe { kern.call(&t) };
                for r in 0..mr {
                    for j in 0..ldc {
                        let got = c[r * ldc + j];
                        if r >= rows || j >= cols {
                            assert_eq!(got.to_bits(), start[r * ldc + j].to_bits(), "{} wrote outside", kern.name);
                            continue;
                        }
                        let (mut want, mut mag) = (0f64, 0f64);
                        for k in 0..kc {
                            let p = a_at(r, k) as f64 * b[k * nr + j] as f64;
                            want += p;
                            mag += p.abs();
                        }
                        if accumulate {
                            want += start[r * ldc + j] as f64;
                        }
                        if extras {
                            want += bias[r] as f64 + res[r * ldc + j] as f64;
                        }
                        if relu {
                            want = want.max(0.0);
                        }
                        let err = (got as f64 - want).abs();
                        assert!(
                            err <= tol * (mag + 3.0),
                            "{} kc {kc} rows {rows} cols {cols} at ({r}, {j}): {got} vs {want}",
                            kern.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn narrow_variants_equal_the_full_kernels_on_their_columns() {
    let mut lcg = crate::lcg::Lcg::new(12345);
    let mut next = || lcg.unit();
    for kern in REGISTRY.iter().filter(|k| k.narrow.is_some() && k.isa.available()) {
        let Some(narrow) = kern.narrow else { continue };
        for (kc, rows, cols) in [(1usize, 12usize, 16usize), (7, 5, 1), (64, 12, 9), (33, 3, 16)] {
            // The narrow variant's contract: at most NR/2 columns.
            let (rows, cols) = (rows.min(kern.mr), cols.min(kern.nr / 2));
            // Pair-packed panels hold ceil(kc/2) slots; f32 panels kc.
            let pairs = kern.format == PackFormat::Bf16Pairs;
            let depth = if pairs { kc.div_ceil(2) } else { kc };
            let mut value = || if pairs { convert::bf16_pair(next(), next()) } else { next() };
            let a: Vec<f32> = (0..kern.mr * depth).map(|_| value()).collect();
            let b: Vec<f32> = (0..kern.nr * depth).map(|_| value()).collect();
            let bias: Vec<f32> = (0..kern.mr).map(|_| next()).collect();
            let ldc = 40;
            let start: Vec<f32> = (0..kern.mr * ldc).map(|_| next()).collect();
            for (accumulate, relu, with_bias) in [(false, false, false), (true, true, true)] {
                let (mut full, mut half) = (start.clone(), start.clone());
                for (c, f) in [(&mut full, kern.run), (&mut half, narrow)] {
                    let t = Tile {
                        kc,
                        a: a.as_ptr(),
                        b: b.as_ptr(),
                        c: c.as_mut_ptr(),
                        ldc,
                        rows,
                        cols,
                        accumulate,
                        bias: if with_bias { bias.as_ptr() } else { core::ptr::null() },
                        relu,
                        res: core::ptr::null(),
                    };
                    // SAFETY: the kernel's ISA is available (filtered above); the
                    // panels hold depth * MR / NR values, C holds MR rows of ldc >= cols.
                    unsafe { f(&t) };
                }
                assert_eq!(full, half, "{} kc {kc} rows {rows} cols {cols}", kern.name);
            }
        }
    }
}
