#![no_main]
//! `manifest.json` decoding and `Manifest::check` on arbitrary bytes.
use bemm_formats::archive::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        if m.check().is_ok() {
            let _ = m.total();
            // What passes the check re-encodes and decodes to itself.
            let text = serde_json::to_string(&m).expect("a decoded manifest encodes");
            let back: Manifest = serde_json::from_str(&text).expect("an encoded manifest decodes");
            assert_eq!(back.shards, m.shards);
        }
    }
});
