//! How deep a corpus reaches: for each fuzz target's corpus, how many inputs
//! parse (as given / with checksums repaired) and which errors the rest hit.
//! `cargo run --example corpus_stats` after fuzzing.
use bemm_formats::archive::Shard;
use bemm_formats::features::FeatureArchive;
use bemm_formats::model::ModelFile;
use bemm_formats::FormatError;
use bemm_formats_fuzz::{aligned, bytes, fix_features, fix_model, fix_shard};
use std::collections::BTreeMap;
use std::path::Path;

fn kind(e: &FormatError) -> String {
    match e {
        FormatError::Truncated { what, .. } => format!("Truncated({what})"),
        FormatError::BadMagic { .. } => "BadMagic".into(),
        FormatError::UnsupportedVersion { .. } => "UnsupportedVersion".into(),
        FormatError::Checksum { region, .. } => format!("Checksum({region})"),
        FormatError::Invalid { field, .. } => format!("Invalid({field})"),
        FormatError::Misaligned { field, .. } => format!("Misaligned({field})"),
        FormatError::Graph { problem, .. } => format!("Graph({problem})"),
        FormatError::Meta { problem } => format!("Meta({problem})"),
        FormatError::NonFinite { role, .. } => format!("NonFinite({role})"),
        FormatError::MetaValue { field, .. } => format!("MetaValue({field})"),
    }
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
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
        rows.sort_by(|a, b| b.1.cmp(&a.1));
        for (k, n) in rows {
            println!("  {n:6}  {k}");
        }
    }
    Ok(())
}
