//! The BigEarthNet v2.0 (reBEN) side of the twin: v2 names, the two-level
//! folder layout, and `metadata.parquet` /
//! `metadata_for_patches_with_snow_cloud_or_shadow.parquet` with the columns
//! `bemm ingest` reads (the real files have more: country, ...).

use anyhow::{Context, Result};
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::path::Path;
use std::sync::Arc;

/// S2 root folder name of a v2 twin.
pub const S2_DIR: &str = "BigEarthNet-S2";
/// S1 root folder name of a v2 twin.
pub const S1_DIR: &str = "BigEarthNet-S1";
/// Clean patches.
pub const METADATA: &str = "metadata.parquet";
/// Patches with seasonal snow, cloud or shadow.
pub const SNOW_CLOUD_METADATA: &str = "metadata_for_patches_with_snow_cloud_or_shadow.parquet";

/// The v2 S2 patch id of a pair: the product (with processing baseline,
/// relative orbit and tile, as in `S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP`)
/// followed by the patch row and column.
pub fn s2_id(sat: &str, time: &str, tile: &str, row: u32, col: u32) -> String {
    format!("{sat}_MSIL2A_{time}_N9999_R022_T{tile}_{row}_{col}")
}

/// One row of a v2 metadata file.
pub struct MetaRow {
    /// S2 patch id.
    pub patch_id: String,
    /// 19-class label names.
    pub labels: Vec<&'static str>,
    /// `train`, `validation` or `test`.
    pub split: &'static str,
    /// S1 partner name.
    pub s1_name: String,
    /// Seasonal snow.
    pub snow: bool,
    /// Cloud or shadow.
    pub cloud: bool,
}

/// Write `rows` as a v2 metadata parquet file (atomically: a temporary
/// name, then a rename). `labels` is a standard three-level list of strings.
pub fn write_metadata(path: &Path, rows: &[MetaRow]) -> Result<()> {
    let schema = parse_message_type(
        "message schema {
            required binary patch_id (UTF8);
            optional group labels (LIST) { repeated group list { optional binary element (UTF8); } }
            required binary split (UTF8);
            required binary s1_name (UTF8);
            required boolean contains_seasonal_snow;
            required boolean contains_cloud_or_shadow;
        }",
    )
    .context("the v2 metadata schema")?;
    let tmp = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(WriterProperties::builder().build()))
        .with_context(|| format!("{}: cannot start a parquet file", tmp.display()))?;
    let strings = |f: &dyn Fn(&MetaRow) -> &str| {
        rows.iter().map(|r| ByteArray::from(f(r).as_bytes().to_vec())).collect::<Vec<_>>()
    };
    // labels: one value per name; definition 3 = present element, 1 = empty
    // list; repetition 0 starts a row, 1 continues its list.
    let (mut label_values, mut label_def, mut label_rep) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        if r.labels.is_empty() {
            label_def.push(1);
            label_rep.push(0);
        }
        for (j, l) in r.labels.iter().enumerate() {
            label_values.push(ByteArray::from(l.as_bytes().to_vec()));
            label_def.push(3);
            label_rep.push(if j == 0 { 0 } else { 1 });
        }
    }
    {
        let mut group = writer.next_row_group().context("parquet row group")?;
        let mut index = 0;
        while let Some(mut col) = group.next_column().context("parquet column")? {
            use parquet::column::writer::ColumnWriter::*;
            match (index, col.untyped()) {
                (0, ByteArrayColumnWriter(w)) => w.write_batch(&strings(&|r| &r.patch_id), None, None).map(|_| ()),
                (1, ByteArrayColumnWriter(w)) => {
                    w.write_batch(&label_values, Some(&label_def), Some(&label_rep)).map(|_| ())
                }
                (2, ByteArrayColumnWriter(w)) => w.write_batch(&strings(&|r| r.split), None, None).map(|_| ()),
                (3, ByteArrayColumnWriter(w)) => w.write_batch(&strings(&|r| &r.s1_name), None, None).map(|_| ()),
                (4, BoolColumnWriter(w)) => {
                    w.write_batch(&rows.iter().map(|r| r.snow).collect::<Vec<_>>(), None, None).map(|_| ())
                }
                (5, BoolColumnWriter(w)) => {
                    w.write_batch(&rows.iter().map(|r| r.cloud).collect::<Vec<_>>(), None, None).map(|_| ())
                }
                _ => anyhow::bail!("{}: unexpected column {index} in the v2 schema", path.display()),
            }
            .with_context(|| format!("{}: cannot write column {index}", tmp.display()))?;
            col.close().with_context(|| format!("{}: cannot close column {index}", tmp.display()))?;
            index += 1;
        }
        group.close().context("parquet row group")?;
    }
    writer.close().with_context(|| format!("{}: cannot finish", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}
