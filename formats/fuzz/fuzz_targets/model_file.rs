#![no_main]
//! `ModelFile::parse` on arbitrary bytes, raw and with the checksum repaired;
//! a file that parses must be fully usable without panics.
use bemm_formats::model::{ModelFile, OwnedMeta};
use bemm_formats_fuzz::{aligned, bytes, fix_model};
use libfuzzer_sys::fuzz_target;

fn exercise(b: &[u8]) {
    if let Ok(m) = ModelFile::parse(b) {
        for (i, l) in m.layers().iter().enumerate() {
            let _ = m.layer_shape(i);
            let _ = (l.layer_kind(), l.in_len(), l.out_len(), l.relu());
            let _ = (m.tensor(l.weight), m.tensor(l.bias));
        }
        for i in 0..m.tensors().len() {
            let t = m.tensor(i as u32).expect("a validated tensor is readable");
            assert_eq!(t.len() as u64, m.tensors()[i].elements);
        }
        let _ = (m.feature_len(), m.num_classes(), m.input_shape());
        let owned = OwnedMeta::from_meta(m.meta());
        assert_eq!(owned.classes.len(), m.num_classes());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut a = aligned(data);
    exercise(bytes(&a));
    let n = a.1;
    fix_model(&mut bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut a.0)[..n]);
    exercise(bytes(&a));
});
