//! SPEC.md is enough to read a model file in another language: an
//! independent Python reader (`python/read_model.py`, standard library only,
//! with its own XXH64 and postcard decoding) must see exactly what
//! `ModelFile::parse` sees. Skips, saying so, when python3 is missing.

mod common;

use bemm_formats::model::ModelFile;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn run_reader(path: &Path) -> Option<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_model.py");
    let out = Command::new("python3").arg(script).arg(path).output().ok()?;
    assert!(out.status.success(), "read_model.py failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn python_reader_written_from_the_spec_agrees_with_the_parser() {
    let bytes = model_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.bemm");
    std::fs::write(&path, &bytes).unwrap();
    let Some(v) = run_reader(&path) else {
        // CI sets BEMM_REQUIRE_ALL: there a missing tool fails instead of skipping.
        assert!(std::env::var_os("BEMM_REQUIRE_ALL").is_none(), "python3 not found");
        println!("SKIPPED python_model_reader: python3 not found");
        return;
    };
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();
    let h = m.header();

    assert_eq!(v["checksum_ok"], true);
    assert_eq!(v["checksum"].as_u64().unwrap(), m.checksum());
    assert_eq!(v["header"]["version"], serde_json::json!([h.version_major, h.version_minor]));
    assert_eq!(v["header"]["input"], serde_json::json!([h.input_c, h.input_h, h.input_w]));
    assert_eq!(v["header"]["output_layer"], h.output_layer);
    assert_eq!(v["header"]["feature_layer"], h.feature_layer);
    assert_eq!(v["header"]["num_classes"], h.num_classes);
    assert_eq!(v["header"]["file_len"], h.file_len);

    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), m.layers().len());
    for (got, l) in layers.iter().zip(m.layers()) {
        let want: Vec<u32> = bytemuck::cast_slice::<_, u32>(core::slice::from_ref(l)).to_vec();
        assert_eq!(got, &serde_json::json!(want));
    }
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), m.tensors().len());
    for (k, (got, t)) in tensors.iter().zip(m.tensors()).enumerate() {
        assert_eq!(got["offset"], t.offset);
        assert_eq!(got["elements"], t.elements);
        assert_eq!(got["dims"], serde_json::json!(t.dims[..t.rank as usize]));
        let vals: Vec<f64> = got["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let want: Vec<f64> = m.tensor(k as u32).unwrap().iter().map(|x| x.to_f64()).collect();
        assert_eq!(vals, want, "tensor {k}");
    }

    let meta = m.meta();
    let f32s = |x: &Value| -> Vec<f32> { x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect() };
    assert_eq!(v["meta"]["classes"], serde_json::json!(meta.classes.as_slice()));
    assert_eq!(f32s(&v["meta"]["thresholds"]), meta.thresholds.as_slice());
    assert_eq!(v["meta"]["bands"], serde_json::json!(meta.bands.as_slice()));
    assert_eq!(f32s(&v["meta"]["mean"]), meta.mean.as_slice());
    assert_eq!(f32s(&v["meta"]["std"]), meta.std.as_slice());
    assert_eq!(v["meta"]["arch"], meta.provenance.arch);
    assert_eq!(v["meta"]["training_data"], meta.provenance.training_data);
    assert_eq!(v["meta"]["epochs"], meta.provenance.epochs);
    assert_eq!(v["meta"]["preprocessing"], meta.provenance.preprocessing);
    let scores = v["meta"]["scores"].as_array().unwrap();
    assert_eq!(scores.len(), meta.provenance.scores.len());
    for (got, (name, val)) in scores.iter().zip(&meta.provenance.scores) {
        assert_eq!(got[0], *name);
        assert_eq!(got[1].as_f64().unwrap() as f32, *val);
    }

    // The Python XXH64 notices a flipped weight byte, as the parser does.
    let mut bad = bytes.clone();
    let k = bad.len() - 20;
    bad[k] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    assert_eq!(run_reader(&path).unwrap()["checksum_ok"], false);
    assert!(ModelFile::parse(Aligned::new(&bad).bytes()).is_err());
}

#[test]
fn python_reader_reads_the_int8_tensors_of_version_1_1() {
    let bytes = quant_model_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quant.bemm");
    std::fs::write(&path, &bytes).unwrap();
    let Some(v) = run_reader(&path) else {
        assert!(std::env::var_os("BEMM_REQUIRE_ALL").is_none(), "python3 not found");
        println!("SKIPPED python_model_reader: python3 not found");
        return;
    };
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();
    assert_eq!(v["checksum_ok"], true);
    assert_eq!(v["header"]["version"], serde_json::json!([1, 1]));
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), m.tensors().len());
    for (k, (got, t)) in tensors.iter().zip(m.tensors()).enumerate() {
        assert_eq!(got["dtype"], t.dtype);
        let idx = k as u32;
        let want: Vec<f64> = match (m.tensor(idx), m.tensor_i8(idx), m.tensor_i32(idx), m.tensor_f32(idx)) {
            (Some(d), ..) => d.iter().map(|x| x.to_f64()).collect(),
            (_, Some(d), ..) => d.iter().map(|&x| x as f64).collect(),
            (_, _, Some(d), _) => d.iter().map(|&x| x as f64).collect(),
            (.., Some(d)) => d.iter().map(|&x| x as f64).collect(),
            _ => panic!("tensor {k} has no typed view"),
        };
        let vals: Vec<f64> = got["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(vals, want, "tensor {k}");
    }
}
