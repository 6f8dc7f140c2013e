//! `bemm synth`: a synthetic twin of BigEarthNet-MM v1.0 in the real on-disk
//! format, so tests, the demo and benchmarks go through `bemm ingest` exactly
//! like real data.
//!
//! Layout written under `--out`:
//! `BigEarthNet-v1.0/<S2 name>/<S2 name>_B01.tif ... _B12.tif, _labels_metadata.json`,
//! `BigEarthNet-S1-v1.0/<S1 name>/<S1 name>_VV.tif, _VH.tif, _labels_metadata.json`,
//! `train.csv`, `val.csv`, `test.csv` (`S2name,S1name` per line),
//! `patches_with_seasonal_snow.csv`, `patches_with_cloud_and_shadow.csv`,
//! `patches_with_no_19_class_targets.csv` (one S2 name per line).
//! Pair i depends only on (seed, i): the twin is identical for a seed,
//! whatever the thread count.
//!
//! With [`Layout::V2`] the same pairs are written as BigEarthNet v2.0:
//! `BigEarthNet-S2/<product>/<patch id>/..._B02.tif`, `BigEarthNet-S1/<product>/<S1 name>/...`,
//! `metadata.parquet` (clean pairs with a 19-class label) and
//! `metadata_for_patches_with_snow_cloud_or_shadow.parquet`, no JSON (see [`v2`]).

pub mod classes;
pub mod out_dir;
pub mod rng;
pub mod scene;
pub mod tiffwrite;
pub mod v2;

use anyhow::{Context, Result};
use bemm_formats::labels::{clc_mask_to_classes, CLASS_NAMES, CLC_NAMES};
use rayon::prelude::*;
use rng::Rng;
use scene::{generate, Cover};
use serde_json::json;
use std::path::{Path, PathBuf};
use tiffwrite::{f32_tiff, u16_tiff, Geo};

/// S2 root folder name inside the twin.
pub const S2_DIR: &str = "BigEarthNet-v1.0";
/// S1 root folder name inside the twin.
pub const S1_DIR: &str = "BigEarthNet-S1-v1.0";

/// Acquisitions the twin's names are drawn from: (S2 product time, S1 product time, MGRS tile, EPSG).
/// One S2 time has five digits, as some real names do.
/// The lists a v1 twin writes beside its patch folders: the three splits,
/// then the snow, cloud and no-target lists.
pub const V1_LISTS: [&str; 6] = [
    "train.csv",
    "val.csv",
    "test.csv",
    "patches_with_seasonal_snow.csv",
    "patches_with_cloud_and_shadow.csv",
    "patches_with_no_19_class_targets.csv",
];

const ACQUISITIONS: [(&str, &str, &str, &str, u16); 6] = [
    ("S2A", "20170613T101031", "S1A", "20170613T165043", 32633),
    ("S2B", "20170924T93020", "S1B", "20170925T053325", 32629),
    ("S2A", "20171221T112501", "S1A", "20171220T180020", 32629),
    ("S2B", "20180204T94160", "S1B", "20180205T051540", 32634),
    ("S2A", "20180417T102021", "S1A", "20180417T164425", 32632),
    ("S2A", "20180527T093041", "S1A", "20180526T161833", 32635),
];
const TILES: [&str; 6] = ["33UUP", "29SND", "29TNE", "34VFM", "32TNS", "35VLG"];

/// Which BigEarthNet release the twin imitates on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum Layout {
    /// v1.0: one folder per patch, JSON labels, CSV split and exclusion lists.
    #[default]
    V1,
    /// v2.0 (reBEN): product/patch folders, parquet metadata.
    V2,
}

/// Names of pair `i` in `layout`: (S2 name, S1 name, acquisition index, row, col).
/// The S1 name is the same in both releases.
pub fn pair_names_in(layout: Layout, i: u64) -> (String, String, usize, u32, u32) {
    let (s2, s1, a, row, col) = pair_names(i);
    match layout {
        Layout::V1 => (s2, s1, a, row, col),
        Layout::V2 => {
            let (sat, time, ..) = ACQUISITIONS[a];
            (v2::s2_id(sat, time, TILES[a], row, col), s1, a, row, col)
        }
    }
}

/// Names of pair `i` (v1): (S2 name, S1 name, acquisition index, row, col).
pub fn pair_names(i: u64) -> (String, String, usize, u32, u32) {
    let a = (i % ACQUISITIONS.len() as u64) as usize;
    let j = i / ACQUISITIONS.len() as u64;
    let (row, col) = ((j / 100) as u32, (j % 100) as u32);
    let (s2sat, s2t, s1sat, s1t, _) = ACQUISITIONS[a];
    (
        format!("{s2sat}_MSIL2A_{s2t}_{row}_{col}"),
        format!("{s1sat}_IW_GRDH_1SDV_{s1t}_{}_{row}_{col}", TILES[a]),
        a,
        row,
        col,
    )
}

/// What one pair contributed to the list files (v1) or metadata (v2).
struct Listed {
    s2: String,
    s1: String,
    split: Option<&'static str>,
    /// The split drawn for the pair whatever its cover (v2 lists snow and
    /// cloud patches with a split too).
    drawn: &'static str,
    cover: Cover,
    no_target: bool,
    labels19: Vec<&'static str>,
}

fn write_pair(out: &Path, seed: u64, i: u64, layout: Layout) -> Result<Listed> {
    let (s2, s1, a, row, col) = pair_names_in(layout, i);
    let scene = generate(seed, i);
    let (_, s2t, _, s1t, epsg) = ACQUISITIONS[a];
    let ulx = 300_000.0 + col as f64 * 1200.0;
    let uly = 5_900_000.0 - row as f64 * 1200.0;
    let (s2dir, s1dir) = match layout {
        Layout::V1 => (out.join(S2_DIR).join(&s2), out.join(S1_DIR).join(&s1)),
        Layout::V2 => (
            crate::ingest::v2::s2_folder(&out.join(v2::S2_DIR), &s2),
            crate::ingest::v2::s1_folder(&out.join(v2::S1_DIR), &s1),
        ),
    };
    std::fs::create_dir_all(&s2dir).with_context(|| format!("{}: cannot create", s2dir.display()))?;
    std::fs::create_dir_all(&s1dir).with_context(|| format!("{}: cannot create", s1dir.display()))?;
    for (band, side, data) in &scene.s2 {
        let geo = Geo { ulx, uly, pixel: 1200.0 / *side as f64, epsg };
        let bytes = u16_tiff(*side as u32, data, geo).with_context(|| format!("{s2}: cannot encode {band}"))?;
        std::fs::write(s2dir.join(format!("{s2}_{band}.tif")), bytes)?;
    }
    for (band, data) in ["VV", "VH"].iter().zip(&scene.s1) {
        let bytes = f32_tiff(120, data, Geo { ulx, uly, pixel: 10.0, epsg })
            .with_context(|| format!("{s1}: cannot encode {band}"))?;
        std::fs::write(s1dir.join(format!("{s1}_{band}.tif")), bytes)?;
    }
    let labels: Vec<&str> = scene.clc.iter().map(|&c| CLC_NAMES[c]).collect();
    let coords = json!({ "ulx": ulx, "uly": uly, "lrx": ulx + 1200.0, "lry": uly - 1200.0 });
    let projection =
        format!("PROJCS[\"WGS 84 / UTM zone {}N\",GEOGCS[\"WGS 84\"],AUTHORITY[\"EPSG\",\"{epsg}\"]]", epsg - 32600);
    // Product times are `YYYYMMDDTHHMMSS`, some with a five-digit time (leading zero dropped).
    let date = |t: &str| {
        let time = format!("{:0>6}", &t[9..]);
        format!("{}-{}-{} {}:{}:{}", &t[0..4], &t[4..6], &t[6..8], &time[0..2], &time[2..4], &time[4..6])
    };
    let s2meta = json!({
        "labels": labels, "coordinates": coords, "projection": projection,
        "tile_source": format!("S2A_MSIL1C_{s2t}_N0205_R022_T{}_{s2t}", TILES[a]),
        "acquisition_date": date(s2t),
    });
    let s1meta = json!({
        "labels": labels, "coordinates": coords, "projection": projection,
        "corresponding_s2_patch": s2, "scene_source": format!("S1A_IW_GRDH_1SDV_{s1t}"),
        "acquisition_time": date(s1t),
    });
    if layout == Layout::V1 {
        std::fs::write(s2dir.join(format!("{s2}_labels_metadata.json")), serde_json::to_vec_pretty(&s2meta)?)?;
        std::fs::write(s1dir.join(format!("{s1}_labels_metadata.json")), serde_json::to_vec_pretty(&s1meta)?)?;
    }
    let mask: u64 = scene.clc.iter().map(|&c| 1u64 << c).sum();
    let classes = clc_mask_to_classes(mask);
    let no_target = classes == 0;
    let mut r = Rng::new(seed ^ 0x5EED_5971, i);
    let drawn = match r.unit() {
        u if u < 0.52 => "train",
        u if u < 0.76 => "val",
        _ => "test",
    };
    let split = (!no_target && scene.cover == Cover::Clear).then_some(drawn);
    let labels19 = (0..CLASS_NAMES.len()).filter(|&c| classes >> c & 1 == 1).map(|c| CLASS_NAMES[c]).collect();
    Ok(Listed { s2, s1, split, drawn, cover: scene.cover, no_target, labels19 })
}

/// Counts of a written twin.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SynthSummary {
    /// Pairs written.
    pub pairs: u64,
    /// Per split file.
    pub train: u64,
    /// See `train`.
    pub val: u64,
    /// See `train`.
    pub test: u64,
    /// In the snow list.
    pub seasonal_snow: u64,
    /// In the cloud list.
    pub cloud_or_shadow: u64,
    /// In the no-19-class-target list.
    pub no_19_class_targets: u64,
    /// Output folder.
    pub out: PathBuf,
}

/// Write a v1 twin of `pairs` pairs under `out`.
pub fn write_twin(out: &Path, pairs: u64, seed: u64, progress: bool) -> Result<SynthSummary> {
    write_twin_as(out, pairs, seed, progress, Layout::V1)
}

/// Write a twin of `pairs` pairs under `out` in `layout`.
pub fn write_twin_as(out: &Path, pairs: u64, seed: u64, progress: bool, layout: Layout) -> Result<SynthSummary> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let pb = crate::report::progress(pairs, "synth");
    if !progress {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let listed: Vec<Listed> = (0..pairs)
        .into_par_iter()
        .map(|i| {
            let r = write_pair(out, seed, i, layout);
            pb.inc(1);
            r
        })
        .collect::<Result<_>>()?;
    pb.finish_and_clear();
    let mut s = SynthSummary { pairs, out: out.to_path_buf(), ..Default::default() };
    if layout == Layout::V2 {
        return write_v2_metadata(out, &listed, s);
    }
    let mut files: [(&str, String); 6] = Default::default();
    for (f, n) in files.iter_mut().zip(V1_LISTS) {
        f.0 = n;
    }
    for l in &listed {
        match l.split {
            Some("train") => {
                files[0].1 += &format!("{},{}\n", l.s2, l.s1);
                s.train += 1;
            }
            Some("val") => {
                files[1].1 += &format!("{},{}\n", l.s2, l.s1);
                s.val += 1;
            }
            Some(_) => {
                files[2].1 += &format!("{},{}\n", l.s2, l.s1);
                s.test += 1;
            }
            None => {}
        }
        match l.cover {
            Cover::Snow => {
                files[3].1 += &format!("{}\n", l.s2);
                s.seasonal_snow += 1;
            }
            Cover::Cloud => {
                files[4].1 += &format!("{}\n", l.s2);
                s.cloud_or_shadow += 1;
            }
            Cover::Clear => {}
        }
        if l.no_target {
            files[5].1 += &format!("{}\n", l.s2);
            s.no_19_class_targets += 1;
        }
    }
    for (name, text) in &files {
        bemm_formats::fsutil::write_atomic(&out.join(name), text.as_bytes())
            .with_context(|| format!("{}: cannot write {name}", out.display()))?;
    }
    Ok(s)
}

/// v2: pairs without a 19-class label are left out (the real release has
/// none); snow and cloud pairs go to their own file, with a split.
fn write_v2_metadata(out: &Path, listed: &[Listed], mut s: SynthSummary) -> Result<SynthSummary> {
    let (mut clean, mut flagged) = (Vec::new(), Vec::new());
    for l in listed {
        if l.no_target {
            s.no_19_class_targets += 1;
            continue;
        }
        let row = v2::MetaRow {
            patch_id: l.s2.clone(),
            labels: l.labels19.clone(),
            split: if l.drawn == "val" { "validation" } else { l.drawn },
            s1_name: l.s1.clone(),
            snow: l.cover == Cover::Snow,
            cloud: l.cover == Cover::Cloud,
        };
        match l.cover {
            Cover::Clear => {
                match l.drawn {
                    "train" => s.train += 1,
                    "val" => s.val += 1,
                    _ => s.test += 1,
                }
                clean.push(row);
            }
            Cover::Snow => {
                s.seasonal_snow += 1;
                flagged.push(row);
            }
            Cover::Cloud => {
                s.cloud_or_shadow += 1;
                flagged.push(row);
            }
        }
    }
    v2::write_metadata(&out.join(v2::METADATA), &clean)?;
    v2::write_metadata(&out.join(v2::SNOW_CLOUD_METADATA), &flagged)?;
    Ok(s)
}
