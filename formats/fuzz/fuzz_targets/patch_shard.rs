#![no_main]
//! `Shard::parse` + `verify_tensors` on arbitrary bytes, raw and with all three
//! checksums repaired; a shard that parses must give every patch and record.
use bemm_formats::archive::Shard;
use bemm_formats_fuzz::{aligned, bytes, fix_shard};
use libfuzzer_sys::fuzz_target;

fn exercise(b: &[u8]) {
    if let Ok(s) = Shard::parse(b) {
        let _ = s.verify_tensors();
        let h = *s.header();
        for i in 0..s.len() {
            let p = s.patch(i).expect("every patch of a parsed shard is readable");
            assert_eq!(p.len() as u64 * 2, h.patch_bytes());
            let r = s.record(i).expect("every record is readable");
            let _ = (r.s2(), r.s1(), r.split(), r.snow(), r.cloud());
        }
        assert!(s.patch(s.len()).is_none());
        for c in 0..h.channels as usize {
            let _ = h.band_name(c);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut a = aligned(data);
    exercise(bytes(&a));
    let n = a.1;
    fix_shard(&mut bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut a.0)[..n]);
    exercise(bytes(&a));
});
