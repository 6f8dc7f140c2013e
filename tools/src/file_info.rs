//! `bemm info FILE`: what a model file or a feature archive holds. A file
//! that is neither is named by what its first bytes say it is (a PNG, a
//! GeoTIFF, a patch shard, ...).

use crate::report::table;
use anyhow::{bail, Context};
use bemm_engine::OwnedModel;
use bemm_formats::features::FEATURE_MAGIC;
use bemm_formats::model::MAGIC;
use serde_json::json;
use std::io::Read;
use std::path::Path;

/// Describe the model or feature archive at `path` (table, or JSON).
pub fn describe(path: &Path, json: bool) -> anyhow::Result<()> {
    let mut magic = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if n == 8 && magic == FEATURE_MAGIC {
        return describe_features(path, json);
    }
    if n == 8 && magic != MAGIC {
        // The model parser's error names the magic and what the file is.
        bemm_formats::model::ModelFile::parse(&magic_padded(&magic)).map(drop).with_context(|| {
            format!("{}: not a model file, feature archive or patch archive folder", path.display())
        })?;
    }
    if n < 8 {
        bail!("{}: {n} bytes; not a model file, feature archive or patch archive folder", path.display());
    }
    describe_model(path, json)
}

/// 64 bytes starting with `magic` (enough for the parser to reach its magic check).
fn magic_padded(magic: &[u8; 8]) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    v[..8].copy_from_slice(magic);
    v
}

fn describe_model(path: &Path, json: bool) -> anyhow::Result<()> {
    let owned = OwnedModel::open(path)?;
    let m = owned.model();
    let file = m.file();
    let meta = m.meta();
    let shape = m.input_shape();
    let params: u64 = file.tensors().iter().map(|t| t.elements).sum();
    let bytes = file.bytes().len();
    let p = &meta.provenance;
    let scores: Vec<(String, f32)> = p.scores.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    if json {
        let v = json!({
            "kind": "model",
            "path": path.display().to_string(),
            "architecture": p.arch,
            "classes": meta.classes.iter().collect::<Vec<_>>(),
            "thresholds": meta.thresholds.iter().collect::<Vec<_>>(),
            "bands": meta.bands.iter().collect::<Vec<_>>(),
            "mean": meta.mean.iter().collect::<Vec<_>>(),
            "std": meta.std.iter().collect::<Vec<_>>(),
            "input": {"channels": shape.c, "height": shape.h, "width": shape.w},
            "layers": file.layers().len(),
            "parameters": params,
            "feature_length": m.feature_len(),
            "bytes": bytes,
            "checksum": format!("{:016x}", file.checksum()),
            "provenance": {"training_data": p.training_data, "epochs": p.epochs, "preprocessing": p.preprocessing,
                "scores": scores.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()},
            "kernel": m.kernel().name,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let join = |v: Vec<String>| v.join(" ");
    let mut rows = vec![
        vec!["model file".to_string(), path.display().to_string()],
        vec!["architecture".into(), p.arch.to_string()],
        vec!["classes".into(), meta.classes.len().to_string()],
        vec!["bands".into(), join(meta.bands.iter().map(|b| b.to_string()).collect())],
        vec!["normalisation mean".into(), join(meta.mean.iter().map(|v| format!("{v:.2}")).collect())],
        vec!["normalisation std".into(), join(meta.std.iter().map(|v| format!("{v:.2}")).collect())],
        vec!["input".into(), format!("{} x {} x {} (channels x height x width)", shape.c, shape.h, shape.w)],
        vec!["layers".into(), file.layers().len().to_string()],
        vec!["parameters".into(), params.to_string()],
        vec!["feature length".into(), m.feature_len().to_string()],
        vec!["bytes".into(), bytes.to_string()],
        vec!["checksum (XXH64)".into(), format!("{:016x} (verified)", file.checksum())],
        vec!["training data".into(), p.training_data.to_string()],
        vec!["epochs".into(), p.epochs.to_string()],
        vec!["preprocessing".into(), p.preprocessing.to_string()],
    ];
    for (k, v) in &scores {
        rows.push(vec![format!("score: {k}"), format!("{v:.4}")]);
    }
    rows.push(vec!["kernel here".into(), m.kernel().name.to_string()]);
    print!("{}", table(&rows));
    let mut cls = vec![vec!["class".to_string(), "threshold".to_string()]];
    for (c, t) in meta.classes.iter().zip(meta.thresholds.iter()) {
        cls.push(vec![c.to_string(), format!("{t:.3}")]);
    }
    print!("\n{}", table(&cls));
    Ok(())
}

fn describe_features(path: &Path, json: bool) -> anyhow::Result<()> {
    let f = crate::cmd::search::FeatureFile::open(path)?;
    let a = f.archive()?;
    let model = a.header().model_checksum;
    if json {
        let v = json!({
            "kind": "features", "path": path.display().to_string(), "vectors": a.len(), "dim": a.dim(),
            "description": a.header().description(), "model_checksum": format!("{model:016x}"),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!(
            "{}",
            table(&[
                vec!["feature archive".to_string(), path.display().to_string()],
                vec!["vectors".into(), a.len().to_string()],
                vec!["dimension".into(), a.dim().to_string()],
                vec!["description".into(), a.header().description().to_string()],
                vec!["model checksum".into(), format!("{model:016x}")],
            ])
        );
    }
    Ok(())
}
