//! `BEMM_KERNEL` and int8 models: an int8 kernel or int8-only level pins
//! the int8 layers' kernel and leaves the float default; a level both
//! registries have pins both; results stay bit-identical. One test, because
//! it sets a process-wide variable.

mod common;

use bemm_engine::kernels::{self, int8};
use bemm_engine::Model;
use bemm_formats::model::{quantize_conv, GraphBuilder};
use common::*;

#[test]
fn bemm_kernel_pins_the_int8_kernel_and_keeps_the_float_default() {
    let mut rng = Rng(31);
    let mut g = GraphBuilder::new(4, 9, 9);
    let c0 = g.conv(GraphBuilder::INPUT, 16, 3, 1, 1, rng.vec(16 * 4 * 9, 0.3), rng.vec(16, 0.1), true).unwrap();
    let q =
        quantize_conv(&rng.vec(24 * 16 * 9, 0.3), &rng.vec(24, 0.1), 0.02, 0, bemm_formats::model::WeightBits::Eight);
    let c1 = g.qconv(c0, 24, 3, 2, 1, q, true).unwrap();
    let bytes = with_head(g, c1, &mut rng);
    let buf = Aligned::new(&bytes);
    std::env::remove_var("BEMM_KERNEL");
    let base = Model::from_bytes(buf.bytes()).unwrap();
    assert_eq!(base.int8_kernel().name, int8::best().name);
    let input = rng.input(2 * base.input_len());
    let want = run(&base, &input, 2);
    for k in int8::available() {
        // By kernel name, and by level name where the level is int8-only.
        let mut names = vec![k.name];
        if k.isa.available() && int8::int8_only_name(k.isa.name()) {
            names.push(k.isa.name());
        }
        for name in names {
            std::env::set_var("BEMM_KERNEL", name);
            let m = Model::from_bytes(buf.bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let int8_level = int8::int8_only_name(name);
            assert_eq!(m.int8_kernel().isa, k.isa, "{name}");
            if int8_level {
                assert_eq!(m.kernel().name, kernels::best(true).name, "{name}: the float default stays");
            } else {
                // A name both registries know (`scalar-4x8`, `avx2`) pins both.
                assert_eq!(m.kernel().isa, k.isa, "{name}");
            }
            let got = run(&m, &input, 2);
            if int8_level {
                assert_eq!(got, want, "{name}");
            }
        }
    }
    // A float-only pin leaves the int8 default.
    let f = kernels::available().find(|k| int8::named(k.name).is_none()).unwrap();
    std::env::set_var("BEMM_KERNEL", f.name);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    assert_eq!((m.kernel().name, m.int8_kernel().name), (f.name, int8::best().name));
    // Unknown names still fail.
    std::env::set_var("BEMM_KERNEL", "no-such-kernel");
    assert!(Model::from_bytes(buf.bytes()).is_err());
    std::env::remove_var("BEMM_KERNEL");
}
