//! Pinning a kernel: by name, by ISA and through `BEMM_KERNEL`. A kernel the
//! CPU lacks or an unknown name is an error, never an illegal instruction.
//! One test, because it sets a process-wide environment variable.

mod common;

use bemm_engine::{kernels, EngineError, Isa, Model, Precision};
use bemm_formats::model::GraphBuilder;
use common::{run, with_head, Aligned, Rng};

#[test]
fn pinned_kernels_are_checked_and_run_bit_identical_to_their_defaults() {
    let mut rng = Rng(0x9e1);
    let mut g = GraphBuilder::new(4, 9, 9);
    let conv = g.conv(GraphBuilder::INPUT, 8, 3, 1, 1, rng.vec(8 * 4 * 9, 0.3), rng.vec(8, 0.5), true).unwrap();
    let bytes = with_head(g, conv, &mut rng);
    let buf = Aligned::new(&bytes);
    let input = rng.input(Model::from_bytes(buf.bytes()).unwrap().input_len());

    std::env::remove_var("BEMM_KERNEL");
    let base = Model::from_bytes(buf.bytes()).unwrap();
    assert!(std::ptr::eq(base.kernel(), kernels::best(true)));
    for &isa in Isa::ALL {
        match base.clone().with_isa(isa) {
            Ok(m) => {
                assert!(isa.available() && m.kernel().isa == isa);
                // The same kernel by name, by ISA name and through the
                // environment computes the same bits.
                let by_name = base.clone().with_kernel_name(m.kernel().name).unwrap();
                std::env::set_var("BEMM_KERNEL", isa.name());
                let pinned = Model::from_bytes(buf.bytes()).unwrap();
                assert!(std::ptr::eq(pinned.kernel(), m.kernel()), "{}", isa.name());
                // A pinned kernel stays whatever precision is asked for.
                let fast = pinned.clone().with_precision(Precision::Fast);
                assert!(std::ptr::eq(fast.kernel(), m.kernel()));
                std::env::remove_var("BEMM_KERNEL");
                let want = run(&m, &input, 1);
                for other in [&by_name, &pinned, &fast] {
                    assert_eq!(run(other, &input, 1), want, "{}", isa.name());
                }
            }
            // An int8-only level (`avx512vnni`, `avxvnni`, `neon-dot`) has no
            // float kernel; through the environment it pins the int8 kernel
            // and leaves the float default.
            // (One the CPU lacks is the error of any missing level, below.)
            Err(e) if isa.int8_only().is_some() && isa.available() => {
                assert!(matches!(e, EngineError::NoFloatKernel { .. }), "{e}");
                assert!(e.to_string().contains(isa.name()), "{e}");
                std::env::set_var("BEMM_KERNEL", isa.name());
                let pinned = Model::from_bytes(buf.bytes());
                std::env::remove_var("BEMM_KERNEL");
                // (`neon-i8mm` has no int8 kernel yet: an error like a level of
                // another architecture.)
                if isa.available() && kernels::int8::int8_only_name(isa.name()) {
                    let m = pinned.unwrap();
                    assert!(std::ptr::eq(m.kernel(), kernels::best(true)), "{}", isa.name());
                    assert_eq!(m.int8_kernel().isa, isa);
                    assert_eq!(run(&m, &input, 1), run(&base, &input, 1), "{}", isa.name());
                } else {
                    let e = pinned.unwrap_err();
                    assert!(
                        matches!(e, EngineError::KernelUnavailable { .. } | EngineError::NoFloatKernel { .. }),
                        "{e}"
                    );
                }
            }
            Err(e) => {
                assert!(!isa.available(), "{}: {e}", isa.name());
                assert!(matches!(e, EngineError::KernelUnavailable { .. }), "{e}");
                std::env::set_var("BEMM_KERNEL", isa.name());
                let e = Model::from_bytes(buf.bytes()).unwrap_err();
                assert!(matches!(e, EngineError::KernelUnavailable { .. }), "{e}");
                std::env::remove_var("BEMM_KERNEL");
            }
        }
    }

    std::env::set_var("BEMM_KERNEL", "avx9000");
    let e = Model::from_bytes(buf.bytes()).unwrap_err();
    assert!(matches!(&e, EngineError::UnknownKernel { name, .. } if name == "avx9000"), "{e}");
    assert!(e.to_string().contains("scalar-4x8"), "{e}");
    std::env::set_var("BEMM_KERNEL", "");
    assert!(std::ptr::eq(Model::from_bytes(buf.bytes()).unwrap().kernel(), kernels::best(true)));
    std::env::remove_var("BEMM_KERNEL");
    assert!(matches!(base.with_kernel_name("avx2-6x17"), Err(EngineError::UnknownKernel { .. })));
}
