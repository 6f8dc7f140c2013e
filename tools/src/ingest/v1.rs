//! BigEarthNet v1.0: one folder per patch under the S2 and S1 roots, with a
//! `<name>_labels_metadata.json` beside the band files.
//!
//! Only the needed fields are read: `labels` (S2, CLC Level-3 names) and
//! `corresponding_s2_patch` (S1). Field names are matched after lower-casing
//! and dropping non-alphanumerics, so `Labels` or `corresponding-S2-patch`
//! are accepted; extra fields are ignored.

use super::problem::{PairProblem, SkipReason};
use bemm_formats::labels::{clc_index, CLC_NAMES};
use serde_json::Value;
use std::path::Path;

/// File name of a patch's metadata JSON.
pub fn metadata_file(patch: &str) -> String {
    format!("{patch}_labels_metadata.json")
}

fn canon(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, wanted: &str) -> Option<&'a Value> {
    obj.get(wanted).or_else(|| {
        let w = canon(wanted);
        obj.iter().find(|(k, _)| canon(k) == w).map(|(_, v)| v)
    })
}

/// Read a metadata JSON object from `folder/file`.
fn read_object(folder: &Path, file: &str) -> Result<serde_json::Map<String, Value>, PairProblem> {
    let path = folder.join(file);
    let text = std::fs::read(&path).map_err(|e| {
        let reason =
            if e.kind() == std::io::ErrorKind::NotFound { SkipReason::MissingFile } else { SkipReason::BadMetadata };
        PairProblem::new(reason, folder, Some(file.into()), format!("cannot read metadata: {e}"))
    })?;
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(PairProblem::new(
            SkipReason::BadMetadata,
            folder,
            Some(file.into()),
            "metadata is JSON but not an object",
        )),
        Err(e) => Err(PairProblem::new(
            SkipReason::BadMetadata,
            folder,
            Some(file.into()),
            format!("metadata is not valid JSON: {e}"),
        )),
    }
}

/// The S2 partner named by an S1 folder's `corresponding_s2_patch`.
pub fn read_s2_partner(s1_folder: &Path, s1_name: &str) -> Result<String, PairProblem> {
    let file = metadata_file(s1_name);
    let obj = read_object(s1_folder, &file)?;
    match field(&obj, "corresponding_s2_patch") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(other) => Err(PairProblem::new(
            SkipReason::BadMetadata,
            s1_folder,
            Some(file),
            format!("field `corresponding_s2_patch` is {other}, expected an S2 folder name"),
        )),
        None => Err(PairProblem::new(
            SkipReason::BadMetadata,
            s1_folder,
            Some(file),
            "no field `corresponding_s2_patch` (the S2 partner)",
        )),
    }
}

/// The 43-class CLC bitmask of an S2 folder's `labels`.
pub fn read_clc_labels(s2_folder: &Path, s2_name: &str) -> Result<u64, PairProblem> {
    let file = metadata_file(s2_name);
    let obj = read_object(s2_folder, &file)?;
    let bad = |d: String| PairProblem::new(SkipReason::BadMetadata, s2_folder, Some(file.clone()), d);
    let list = match field(&obj, "labels") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("field `labels` is {other}, expected a list of CLC names"))),
        None => return Err(bad("no field `labels`".into())),
    };
    if list.is_empty() {
        return Err(bad("field `labels` is an empty list".into()));
    }
    let mut mask = 0u64;
    for v in list {
        let Value::String(name) = v else {
            return Err(bad(format!("label {v} is not a string")));
        };
        let name = name.trim();
        let idx = clc_index(name).or_else(|| CLC_NAMES.iter().position(|c| c.eq_ignore_ascii_case(name)));
        match idx {
            Some(i) => mask |= 1u64 << i,
            None => {
                return Err(PairProblem::new(
                    SkipReason::UnknownLabel,
                    s2_folder,
                    Some(file.clone()),
                    format!("unknown label {name:?} (not one of the 43 CLC Level-3 names)"),
                ))
            }
        }
    }
    Ok(mask)
}

/// Names of the patch folders directly under `root`, sorted.
pub fn list_folders(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}
