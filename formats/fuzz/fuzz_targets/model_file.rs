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
            let _ = (m.tensor(l.weight), m.tensor(l.bias), m.tensor_i8(l.weight), m.tensor_i32(l.bias));
            if let Some(q) = m.quant(i) {
                assert!(q.input_scale.is_finite() && q.input_scale > 0.0);
                assert!(q.weight_scales.iter().all(|s| s.is_finite() && *s > 0.0));
                assert_eq!(q.weight_scales.len(), l.out_c as usize);
            }
        }
        for i in 0..m.tensors().len() {
            // Exactly one typed view of a validated tensor reads it, whole.
            let t = i as u32;
            let lens = [
                m.tensor(t).map(|d| d.len()),
                m.tensor_i8(t).map(|d| d.len()),
                m.tensor_i32(t).map(|d| d.len()),
                m.tensor_f32(t).map(|d| d.len()),
            ];
            let mut found = lens.iter().flatten();
            assert_eq!(found.next().map(|&n| n as u64), Some(m.tensors()[i].elements));
            assert!(found.next().is_none());
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
