//! BigEarthNet v2.0 (reBEN): `metadata.parquet` and the two-level folder layout.
//!
//! Only the columns needed are read (`patch_id`, `labels`, `split`, `s1_name`,
//! `contains_seasonal_snow`, `contains_cloud_or_shadow`); extra columns are
//! ignored. Labels are already 19-class names; v2 has no 43-class labels, so
//! `labels43` stays 0 for v2 pairs.

use anyhow::{bail, Context, Result};
use bemm_formats::archive::Split;
use bemm_formats::labels::class_index;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One row of a v2 metadata file.
#[derive(Debug, Clone, PartialEq)]
pub struct V2Row {
    /// S2 patch id (e.g. `S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43`).
    pub patch_id: String,
    /// S1 partner name.
    pub s1_name: String,
    /// 19-class bitmask of the names that were recognised.
    pub labels19: u32,
    /// First label name that is not one of the 19 classes, if any.
    pub unknown_label: Option<String>,
    /// Official split.
    pub split: Split,
    /// `contains_seasonal_snow`.
    pub snow: bool,
    /// `contains_cloud_or_shadow`.
    pub cloud: bool,
}

const NEEDED: [&str; 4] = ["patch_id", "labels", "split", "s1_name"];
const OPTIONAL: [&str; 2] = ["contains_seasonal_snow", "contains_cloud_or_shadow"];

fn as_str<'a>(f: &'a Field, path: &Path, row: usize, col: &str) -> Result<&'a str> {
    match f {
        Field::Str(s) => Ok(s),
        other => bail!("{}: row {row}, column `{col}`: expected a string, found {other}", path.display()),
    }
}

fn as_bool(f: &Field) -> bool {
    match f {
        Field::Bool(b) => *b,
        Field::Int(v) => *v != 0,
        Field::Long(v) => *v != 0,
        _ => false,
    }
}

/// Read every row of a v2 metadata parquet file (`metadata.parquet` or
/// `metadata_for_patches_with_snow_cloud_or_shadow.parquet`).
pub fn read_metadata(path: &Path) -> Result<Vec<V2Row>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open metadata", path.display()))?;
    let reader = SerializedFileReader::new(file).with_context(|| format!("{}: not a parquet file", path.display()))?;
    let schema = reader.metadata().file_metadata().schema();
    let fields = schema.get_fields();
    let has = |n: &str| fields.iter().any(|f| f.name() == n);
    for n in NEEDED {
        if !has(n) {
            let found: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            bail!("{}: no column `{n}` (found: {})", path.display(), found.join(", "));
        }
    }
    // Project onto the columns we use: the record API then skips the rest.
    let proj_fields: Vec<_> = fields
        .iter()
        .filter(|f| NEEDED.contains(&f.name()) || OPTIONAL.contains(&f.name()))
        .cloned()
        .collect::<Vec<Arc<_>>>();
    let proj = parquet::schema::types::Type::group_type_builder(schema.name())
        .with_fields(proj_fields)
        .build()
        .with_context(|| format!("{}: cannot project the schema", path.display()))?;
    let rows = reader.get_row_iter(Some(proj)).with_context(|| format!("{}: cannot read rows", path.display()))?;
    let mut out = Vec::with_capacity(reader.metadata().file_metadata().num_rows().max(0) as usize);
    for (i, row) in rows.enumerate() {
        let row = row.with_context(|| format!("{}: row {i} is unreadable", path.display()))?;
        let mut r = V2Row {
            patch_id: String::new(),
            s1_name: String::new(),
            labels19: 0,
            unknown_label: None,
            split: Split::Unassigned,
            snow: false,
            cloud: false,
        };
        for (name, field) in row.get_column_iter() {
            match name.as_str() {
                "patch_id" => r.patch_id = as_str(field, path, i, name)?.to_string(),
                "s1_name" => r.s1_name = as_str(field, path, i, name)?.to_string(),
                "split" => {
                    let s = as_str(field, path, i, name)?;
                    r.split = Split::parse(s).with_context(|| {
                        format!("{}: row {i}, column `split`: {s:?} is not train, validation or test", path.display())
                    })?;
                }
                "labels" => match field {
                    Field::ListInternal(list) => {
                        for e in list.elements() {
                            let l = as_str(e, path, i, name)?;
                            match class_index(l) {
                                Some(c) => r.labels19 |= 1 << c,
                                None if r.unknown_label.is_none() => r.unknown_label = Some(l.to_string()),
                                None => {}
                            }
                        }
                    }
                    other => {
                        bail!("{}: row {i}, column `labels`: expected a list of names, found {other}", path.display())
                    }
                },
                "contains_seasonal_snow" => r.snow = as_bool(field),
                "contains_cloud_or_shadow" => r.cloud = as_bool(field),
                _ => {}
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// The product folder of a v2 S2 patch id: the id without its last two
/// `_`-separated parts.
pub fn s2_product(patch_id: &str) -> &str {
    strip_parts(patch_id, 2)
}

/// The product folder of a v2 S1 name: the name without its last three parts.
pub fn s1_product(s1_name: &str) -> &str {
    strip_parts(s1_name, 3)
}

fn strip_parts(name: &str, n: usize) -> &str {
    let mut end = name.len();
    for _ in 0..n {
        match name[..end].rfind('_') {
            Some(p) => end = p,
            None => return name,
        }
    }
    &name[..end]
}

/// Folder of an S2 patch under a v2 S2 root.
pub fn s2_folder(root: &Path, patch_id: &str) -> PathBuf {
    root.join(s2_product(patch_id)).join(patch_id)
}

/// Folder of an S1 patch under a v2 S1 root.
pub fn s1_folder(root: &Path, s1_name: &str) -> PathBuf {
    root.join(s1_product(s1_name)).join(s1_name)
}

/// Whether `s2_root` looks like a v2 tree: a child folder that itself holds
/// a folder named `<child>_<a>_<b>`.
pub fn looks_like_v2(s2_root: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(s2_root) else {
        return false;
    };
    for e in rd.flatten().take(16) {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        let Some(prod) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if let Ok(inner) = std::fs::read_dir(&p) {
            for f in inner.flatten().take(4) {
                if let Some(n) = f.file_name().to_str() {
                    if f.path().is_dir() && s2_product(n) == prod && n != prod {
                        return true;
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn product_folders() {
        assert_eq!(
            s2_product("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"),
            "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
        );
        assert_eq!(s1_product("S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48"), "S1A_IW_GRDH_1SDV_20170613T165043");
    }
}
