//! `bemm ingest`: BigEarthNet-MM folder trees (v1.0 with per-patch JSON, or
//! v2.0 with `metadata.parquet`) to a patch archive.
//!
//! Pipeline: discover and sort the pairs ([`pairs`]), cut them into chunks of
//! `shard_size`, and for each chunk without a finished shard ([`resume`])
//! load batches of pairs in parallel (rayon) while the previous batch is
//! written, so memory is bounded by two batches whatever the archive size.

pub mod bicubic;
pub mod geotiff;
pub mod lists;
pub mod pairs;
pub mod problem;
pub mod resume;
pub mod stack;
pub mod summary;
pub mod v1;
pub mod v2;

use anyhow::{bail, Context as _, Result};
use bemm_formats::archive::{PatchArchive, ShardWriter};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD, SIZE};
use pairs::{Context, LoadedPair, PairJob};
use problem::PairProblem;
use rayon::prelude::*;
use resume::{ArchiveState, ChunkStats, IngestSource};
use stack::StackScratch;
use std::collections::HashSet;
use std::path::PathBuf;
use summary::Summary;

/// Pairs loaded in parallel per batch; two batches are in memory at a time
/// (~345 KiB per pair).
const BATCH: usize = 128;
/// Problems printed in full before only counting.
const MAX_PRINTED: usize = 50;

/// Which on-disk layout to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// BigEarthNet-S1/S2 v1.0: flat folders with JSON metadata.
    V1,
    /// BigEarthNet v2.0: two-level folders with parquet metadata.
    V2,
}

/// Everything `bemm ingest` needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// S2 root.
    pub s2: PathBuf,
    /// S1 root.
    pub s1: PathBuf,
    /// Output archive folder.
    pub out: PathBuf,
    /// v1: folder with train.csv, val.csv, test.csv.
    pub splits: Option<PathBuf>,
    /// v1: seasonal snow list.
    pub snow: Option<PathBuf>,
    /// v1: cloud/shadow list.
    pub cloud: Option<PathBuf>,
    /// v2: metadata.parquet.
    pub metadata: Option<PathBuf>,
    /// v2: metadata_for_patches_with_snow_cloud_or_shadow.parquet.
    pub snow_cloud_metadata: Option<PathBuf>,
    /// Force a layout (otherwise detected).
    pub layout: Option<Layout>,
    /// Keep excluded patches, flagged.
    pub keep_excluded: bool,
    /// Pairs per shard.
    pub shard_size: usize,
    /// Make the first input error fatal.
    pub strict: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop after writing this many new shards (simulates an interrupt; for tests).
    pub stop_after_shards: Option<usize>,
}

impl Options {
    /// Defaults for `--s2 S2 --s1 S1 --out OUT` and nothing else: detected
    /// layout, hashed splits, no exclusion lists, shards of 8192, lenient.
    pub fn new(s2: impl Into<PathBuf>, s1: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Options {
            s2: s2.into(),
            s1: s1.into(),
            out: out.into(),
            splits: None,
            snow: None,
            cloud: None,
            metadata: None,
            snow_cloud_metadata: None,
            layout: None,
            keep_excluded: false,
            shard_size: 8192,
            strict: false,
            progress: false,
            stop_after_shards: None,
        }
    }

    /// Options for a twin written by `bemm synth` into `twin`: its folders,
    /// split files and exclusion lists.
    pub fn for_twin(twin: &std::path::Path, out: impl Into<PathBuf>) -> Self {
        Options {
            splits: Some(twin.to_path_buf()),
            snow: Some(twin.join("patches_with_seasonal_snow.csv")),
            cloud: Some(twin.join("patches_with_cloud_and_shadow.csv")),
            ..Options::new(twin.join(crate::synth::S2_DIR), twin.join(crate::synth::S1_DIR), out)
        }
    }
}

fn detect_layout(o: &Options) -> Layout {
    if let Some(l) = o.layout {
        return l;
    }
    if o.metadata.is_some() || v2::looks_like_v2(&o.s2) {
        Layout::V2
    } else {
        Layout::V1
    }
}

/// Jobs, worker context, a description of the options for the fingerprint,
/// and the list-file names (splits, exclusion lists) that match no patch.
fn plan(o: &Options, layout: Layout) -> Result<(Vec<PairJob>, Context, String, Unmatched)> {
    let mut ctx = Context {
        s2_root: o.s2.clone(),
        s1_root: o.s1.clone(),
        splits: None,
        snow: HashSet::new(),
        cloud: HashSet::new(),
        keep_excluded: o.keep_excluded,
    };
    for (what, p) in [("--s2", &o.s2), ("--s1", &o.s1)] {
        if !p.is_dir() {
            bail!("{what} {}: not a folder", p.display());
        }
    }
    let jobs = match layout {
        Layout::V1 => {
            if let Some(d) = &o.splits {
                ctx.splits = Some(lists::Splits::from_dir(d)?);
            }
            if let Some(f) = &o.snow {
                ctx.snow = lists::read_set(f)?;
            }
            if let Some(f) = &o.cloud {
                ctx.cloud = lists::read_set(f)?;
            }
            check_not_swapped(o)?;
            pairs::discover_v1(&o.s1, &o.s2)
                .with_context(|| format!("{}, {}: cannot list the patch folders", o.s1.display(), o.s2.display()))?
        }
        Layout::V2 => {
            let meta = match &o.metadata {
                Some(m) => m.clone(),
                None => {
                    let guess = [
                        o.s2.join("metadata.parquet"),
                        o.s2.parent().map(|p| p.join("metadata.parquet")).unwrap_or_default(),
                    ];
                    guess.into_iter().find(|p| p.is_file()).with_context(|| {
                        format!(
                            "{}: looks like BigEarthNet v2.0 but no metadata.parquet beside it; pass --metadata",
                            o.s2.display()
                        )
                    })?
                }
            };
            let mut rows = v2::read_metadata(&meta)?;
            if let Some(sc) = &o.snow_cloud_metadata {
                rows.extend(v2::read_metadata(sc)?);
            }
            pairs::discover_v2(rows)
        }
    };
    if jobs.is_empty() {
        bail!(
            "no pairs to ingest: {} (--s1) holds no patch folder{}",
            o.s1.display(),
            if layout == Layout::V2 { " and the metadata lists no patch" } else { "" }
        );
    }
    let present = pairs::s2_names(&jobs);
    let mut unmatched: Unmatched = match &ctx.splits {
        Some(splits) => splits
            .unmatched(&present)
            .into_iter()
            .map(|(file, listed, missing)| (file.display().to_string(), listed, missing))
            .collect(),
        None => Vec::new(),
    };
    // Exclusion lists: a name that matches no patch excludes nothing (a list
    // of another archive version, or names mangled by a spreadsheet).
    for (file, set) in [(&o.snow, &ctx.snow), (&o.cloud, &ctx.cloud)] {
        if let Some(f) = file {
            let missing = set.iter().filter(|n| !present.contains(n.as_str())).count() as u64;
            unmatched.push((f.display().to_string(), set.len() as u64, missing));
        }
    }
    unmatched.retain(|(_, _, missing)| *missing > 0);
    let desc = format!(
        "layout={layout:?};splits={};snow={};cloud={};meta={:?};sc={:?};keep_excluded={}",
        ctx.splits.as_ref().map_or(0, |s| s.len()),
        ctx.snow.len(),
        ctx.cloud.len(),
        o.metadata,
        o.snow_cloud_metadata,
        o.keep_excluded
    );
    Ok((jobs, ctx, desc, unmatched))
}

/// List-file names (split files, snow and cloud/shadow lists) that match no
/// S2 patch: (file, names listed, names unmatched).
type Unmatched = Vec<(String, u64, u64)>;

/// v1: refuse S1 and S2 roots given the other way round (the S1 root would
/// hold S2 patch folders, `S2A_...`/`S2B_...`), which would otherwise skip
/// every pair as bad metadata.
fn check_not_swapped(o: &Options) -> Result<()> {
    let first = |root: &std::path::Path| -> Option<String> {
        v1::list_folders(root).ok().and_then(|v| v.into_iter().find(|n| n.starts_with("S1") || n.starts_with("S2")))
    };
    if let (Some(a), Some(b)) = (first(&o.s1), first(&o.s2)) {
        if a.starts_with("S2") && b.starts_with("S1") {
            bail!(
                "--s1 {} holds S2 patch folders ({a}) and --s2 {} holds S1 patch folders ({b}): are --s1 and --s2 swapped?",
                o.s1.display(),
                o.s2.display()
            );
        }
    }
    Ok(())
}

/// Run an ingest; returns the summary of the resulting archive.
pub fn run(o: &Options) -> Result<Summary> {
    if o.shard_size == 0 {
        bail!("--shard-size must be at least 1");
    }
    let layout = detect_layout(o);
    crate::output_guard::check("--out", &o.out, &[("--s2", o.s2.as_path()), ("--s1", o.s1.as_path())])?;
    let (jobs, ctx, desc, unmatched) = plan(o, layout)?;
    let mut warnings = Vec::new();
    for (file, listed, missing) in &unmatched {
        warnings.push(format!(
            "{} of {listed} names in {file} matched an S2 patch; the other {missing} are not in the input",
            listed - missing
        ));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let chunks: Vec<&[PairJob]> = jobs.chunks(o.shard_size).collect();
    let fresh = IngestSource {
        tool: "bemm ingest".into(),
        layout: match layout {
            Layout::V1 => "v1".into(),
            Layout::V2 => "v2".into(),
        },
        s2: o.s2.display().to_string(),
        s1: o.s1.display().to_string(),
        fingerprint: resume::fingerprint(jobs.iter().map(|j| j.key.as_str()), &desc),
        pairs: jobs.len() as u64,
        chunks: chunks.len() as u64,
        complete: chunks.is_empty(),
        chunk_stats: Default::default(),
    };
    let mut state = ArchiveState::open(&o.out, o.shard_size as u64, fresh)?;
    let todo: Vec<usize> = (0..chunks.len()).filter(|k| !state.is_done(*k as u64)).collect();
    let todo_pairs: u64 = todo.iter().map(|k| chunks[*k].len() as u64).sum();
    let pb = crate::report::progress(todo_pairs, "ingest");
    if !o.progress {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut printed = 0usize;
    for (new_shards, &k) in todo.iter().enumerate() {
        if o.stop_after_shards.is_some_and(|n| new_shards >= n) {
            pb.finish_and_clear();
            eprintln!("stopped after {new_shards} new shard(s) as asked; re-run the same command to continue");
            break;
        }
        let path = state.shard_path(k as u64);
        let mut writer = ShardWriter::create(&path, &BAND_NAMES, &BAND_MEAN, &BAND_STD, SIZE as u32, SIZE as u32)
            .with_context(|| format!("{}: cannot create shard", path.display()))?;
        let mut stats = ChunkStats::default();
        let mut write = |batch: Vec<Result<LoadedPair, PairProblem>>| -> Result<()> {
            for r in batch {
                stats.read += 1;
                match r {
                    Ok(p) => {
                        writer
                            .push(&p.record, &p.tensor)
                            .with_context(|| format!("{}: cannot write shard", path.display()))?;
                        stats.written += 1;
                    }
                    Err(p) => {
                        if o.strict && p.reason.is_error() {
                            bail!("{p} (--strict)");
                        }
                        if p.reason.is_error() {
                            if printed < MAX_PRINTED {
                                pb.suspend(|| eprintln!("skipped: {p}"));
                            } else if printed == MAX_PRINTED {
                                pb.suspend(|| eprintln!("skipped: ... (further problems only counted)"));
                            }
                            printed += 1;
                        }
                        *stats.skipped.entry(p.reason.key().to_string()).or_default() += 1;
                    }
                }
                pb.inc(1);
            }
            Ok(())
        };
        let load = |batch: &[PairJob]| -> Vec<Result<LoadedPair, PairProblem>> {
            batch.par_iter().map_init(StackScratch::default, |s, j| pairs::load(j, &ctx, s)).collect()
        };
        // Write batch b while loading batch b+1.
        let mut pending: Option<Vec<_>> = None;
        let mut result: Result<()> = Ok(());
        for batch in chunks[k].chunks(BATCH) {
            let prev = pending.take();
            let (w, loaded) = rayon::join(|| prev.map_or(Ok(()), &mut write), || load(batch));
            if let Err(e) = w {
                result = Err(e);
                break;
            }
            pending = Some(loaded);
        }
        if result.is_ok() {
            if let Some(last) = pending.take() {
                result = write(last);
            }
        }
        if let Err(e) = result {
            drop(writer);
            let _ = std::fs::remove_file(bemm_formats::fsutil::temp_path(&path));
            return Err(e);
        }
        let (count, bytes) = writer.finish().with_context(|| format!("{}: cannot finish shard", path.display()))?;
        state.finish_chunk(k as u64, count, bytes, stats)?;
    }
    pb.finish_and_clear();
    let archive =
        PatchArchive::open(&o.out).with_context(|| format!("{}: cannot reopen the archive", o.out.display()))?;
    let mut summary = Summary::of(&archive);
    if summary.complete == Some(true) && archive.is_empty() {
        let why = summary.ingest.as_ref().map(|i| {
            let reasons: Vec<String> = i.skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!("{} pairs read, none written (skipped: {})", i.read, reasons.join(", "))
        });
        remove_empty_archive(&o.out, &archive);
        bail!(
            "{}: {}; nothing was written. {}",
            o.out.display(),
            why.unwrap_or_else(|| "no pair written".into()),
            match layout {
                Layout::V1 =>
                    "Check --s1/--s2 (S1 folders name their S2 partner) and that this is a v1.0 tree (v2.0: --metadata)",
                Layout::V2 =>
                    "Check that the folders the metadata names exist under --s2/--s1 (a v1.0 tree: --layout v1)",
            }
        );
    }
    summary.list_names_unmatched = unmatched.iter().map(|(f, _, m)| (f.clone(), *m)).collect();
    summary.warnings = warnings;
    Ok(summary)
}

/// Remove the manifest and the (empty) shards of an archive that holds no
/// patch, and its folder when nothing else is in it.
fn remove_empty_archive(dir: &std::path::Path, archive: &PatchArchive) {
    for e in &archive.manifest().shards {
        let _ = std::fs::remove_file(dir.join(&e.file));
    }
    let _ = std::fs::remove_file(dir.join(bemm_formats::archive::MANIFEST_FILE));
    let _ = std::fs::remove_dir(dir);
}
