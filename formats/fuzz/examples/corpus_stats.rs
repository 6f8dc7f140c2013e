//! How deep a corpus reaches: for each fuzz target's corpus, how many inputs
//! parse (as given / with checksums repaired) and which errors the rest hit.
//! `cargo run --example corpus_stats` after fuzzing.
use bemm_engine::{EngineError, Model};
use bemm_formats::archive::Shard;
use bemm_formats::features::FeatureArchive;
use bemm_formats::model::ModelFile;
use bemm_formats::FormatError;
use bemm_formats_fuzz::{aligned, bytes, fix_features, fix_model, fix_shard};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn kind(e: &FormatError) -> String {
    match e {
        FormatError::Truncated { what, .. } => format!("Truncated({what})"),
        FormatError::TooShort { what, .. } => format!("TooShort({what})"),
        FormatError::BadMagic { .. } => "BadMagic".into(),
        FormatError::UnsupportedVersion { .. } => "UnsupportedVersion".into(),
        FormatError::Checksum { region, .. } => format!("Checksum({region})"),
        FormatError::Invalid { field, .. } => format!("Invalid({field})"),
        FormatError::Misaligned { field, .. } => format!("Misaligned({field})"),
        FormatError::Graph { problem, .. } => format!("Graph({problem})"),
        FormatError::Meta { problem } => format!("Meta({problem})"),
        FormatError::NonFinite { role, .. } => format!("NonFinite({role})"),
        FormatError::MetaValue { field, .. } => format!("MetaValue({field})"),
        FormatError::Quant { field, .. } => format!("Quant({field})"),
    }
}

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    type Check = fn(&mut [u8]) -> Result<(), FormatError>;
    let targets: [(&str, Check); 3] = [
        ("model_file", |b| {
            fix_model(b);
            let a = aligned(b);
            ModelFile::parse(bytes(&a)).map(|_| ())
        }),
        ("patch_shard", |b| {
            fix_shard(b);
            let a = aligned(b);
            Shard::parse(bytes(&a)).and_then(|s| s.verify_tensors())
        }),
        ("feature_archive", |b| {
            fix_features(b);
            let a = aligned(b);
            FeatureArchive::parse(bytes(&a)).map(|_| ())
        }),
    ];
    for (name, check) in targets {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
        let mut hist: BTreeMap<String, usize> = BTreeMap::new();
        let mut total = 0;
        for e in dir {
            let mut data = std::fs::read(e?.path())?;
            total += 1;
            let k = match check(&mut data) {
                Ok(()) => "OK (parses)".to_string(),
                Err(e) => kind(&e),
            };
            *hist.entry(k).or_default() += 1;
        }
        println!("{name}: {total} inputs (checksums repaired)");
        let mut rows: Vec<_> = hist.into_iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        for (k, n) in rows {
            println!("  {n:6}  {k}");
        }
    }
    inference(&root)
}

/// How far the `inference` corpus gets: models that open, and of those the
/// ones that run (all samples finite) or stop at a non-finite input.
fn inference(root: &Path) -> std::io::Result<()> {
    let Ok(dir) = std::fs::read_dir(root.join("inference")) else { return Ok(()) };
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    for e in dir {
        let data = std::fs::read(e?.path())?;
        total += 1;
        let Some((&opts, rest)) = data.split_first() else { continue };
        let mut rest = rest.to_vec();
        fix_model(&mut rest);
        let a = aligned(&rest);
        let k = match Model::from_bytes(bytes(&a)) {
            Err(EngineError::Format(e)) => format!("does not open: {}", kind(&e)),
            Err(e) => format!("does not open: {e}"),
            Ok(m) => {
                let batch = (opts & 3) as usize + 1;
                let per = m.input_len();
                let raw = &rest[m.file().bytes().len()..];
                let keep = opts & 64 != 0;
                let vals: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                let nonfinite = keep
                    && (0..batch * per).any(|i| vals.get(i % vals.len().max(1)).is_some_and(|b| b & 0x7c00 == 0x7c00));
                format!(
                    "opens ({} MACs/sample {}){}",
                    if m.macs_per_sample() <= 1 << 20 { "<=" } else { ">" },
                    "2^20",
                    if nonfinite { ", non-finite input" } else { ", runs" }
                )
            }
        };
        *hist.entry(k).or_default() += 1;
    }
    println!("inference: {total} inputs (checksums repaired)");
    let mut rows: Vec<_> = hist.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (k, n) in rows {
        println!("  {n:6}  {k}");
    }
    Ok(())
}
