#![no_main]
//! `FeatureArchive::parse` on arbitrary bytes, raw and with the checksum
//! repaired; a parsed archive must give every vector and record.
use bemm_formats::features::FeatureArchive;
use bemm_formats_fuzz::{aligned, bytes, fix_features};
use libfuzzer_sys::fuzz_target;

fn exercise(b: &[u8]) {
    if let Ok(f) = FeatureArchive::parse(b) {
        for i in 0..f.len() {
            let v = f.vector(i).expect("every vector of a parsed archive is readable");
            assert_eq!(v.len(), f.dim());
            let r = f.record(i).expect("every record is readable");
            let _ = (r.s2(), r.s1(), r.split());
        }
        assert!(f.vector(f.len()).is_none());
        assert!(f.vector(usize::MAX).is_none());
        let _ = f.header().description();
        assert_eq!(f.rows().len(), f.len() * f.row_elems());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut a = aligned(data);
    exercise(bytes(&a));
    let n = a.1;
    fix_features(&mut bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut a.0)[..n]);
    exercise(bytes(&a));
});
