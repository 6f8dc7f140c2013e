//! `BEMM_KERNEL` through the measured choice (`bemm_engine::tune::choose`):
//! every available kernel forced through the variable is taken without
//! measuring and predicts the labels of the scalar reference; an unknown
//! name is an error. One test, because it sets a process-wide variable.

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::tune::{self, Source, Tuning};
use bemm_engine::{kernels, EngineError, Isa, Model, Precision};
use bemm_formats::model::OwnedMeta;
use half::f16;

fn labels(m: &Model<'_>, x: &[f16], n: usize) -> Vec<u64> {
    let per = m.input_len();
    let samples: Vec<&[f16]> = x.chunks(per).take(n).collect();
    let mut probs = vec![0f32; n * m.num_classes()];
    m.infer_parallel(&samples, 2, &mut probs, &mut []).unwrap();
    probs.chunks(m.num_classes()).map(|p| m.predicted(p)).collect()
}

#[test]
fn each_kernel_forced_through_the_variable_gives_the_reference_labels() {
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    let bytes = arch::build(Arch::Tiny, 12, 40, 19, &mut RandomWeights::new(11), meta).unwrap().to_bytes().unwrap();
    // A memory map is page-aligned; a Vec<u64> copy is at least 8-byte aligned.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()];
    std::env::remove_var("BEMM_KERNEL");
    let base = Model::from_bytes(aligned).unwrap();
    let n = 32;
    let mut s = 0x1234_5678u64;
    let x: Vec<f16> = (0..n * base.input_len())
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            f16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
        })
        .collect();
    let want = labels(&base.clone().with_isa(Isa::Scalar).unwrap(), &x, n);
    // The labels vary between samples, so agreeing is not trivial.
    assert!(want.iter().any(|&l| l != want[0]), "every sample predicts {:#x}", want[0]);
    let dir = tempfile::tempdir().unwrap();
    let mut forced = 0;
    for name in kernels::names() {
        std::env::set_var("BEMM_KERNEL", name);
        for p in [Precision::Exact, Precision::Fast] {
            let t = Tuning { cache: Some(dir.path().to_path_buf()), ..Tuning::new(n, 2, p) };
            let c = match tune::choose(&base, &t) {
                Ok(c) => c,
                Err(e) => {
                    assert!(kernels::available().all(|k| k.name != name), "{name}: {e}");
                    assert!(matches!(e, EngineError::KernelUnavailable { .. }), "{e}");
                    continue;
                }
            };
            let k = c.chosen.kernel;
            assert_eq!(c.source, Source::Pinned("BEMM_KERNEL".into()));
            assert_eq!(k.name, name);
            let got = labels(&c.apply(&base).unwrap(), &x, n);
            let differ: u32 = got.iter().zip(&want).map(|(a, b)| (a ^ b).count_ones()).sum();
            // Exact kernels differ from the reference only in f32 summation
            // order; reduced-precision ones may flip a decision near a threshold.
            let allowed = if k.exact { 0 } else { (n * 19) as u32 / 200 };
            assert!(differ <= allowed, "{}: {differ} of {} decisions differ", k.name, n * 19);
            forced += 1;
        }
    }
    assert!(forced >= 2, "no kernel could be forced");
    // Pins neither measure nor write the cache.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    std::env::set_var("BEMM_KERNEL", "avx9000");
    let e = tune::choose(&base, &Tuning::new(1, 1, Precision::Exact)).unwrap_err();
    assert!(matches!(&e, EngineError::UnknownKernel { name, .. } if name == "avx9000"), "{e}");
    std::env::remove_var("BEMM_KERNEL");
}
