//! The unit of work: one S1/S2 pair, discovered from the folder trees (v1)
//! or the metadata (v2), and loaded into a record and a tensor.

use super::lists::{hashed_split, Splits};
use super::problem::{PairProblem, SkipReason};
use super::stack::{build_stack, StackScratch};
use super::v1;
use super::v2::{self, V2Row};
use bemm_formats::archive::{name_bytes, PatchRecord, FLAG_CLOUD_OR_SHADOW, FLAG_SEASONAL_SNOW};
use bemm_formats::labels::clc_mask_to_classes;
use half::f16;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Where a pair's labels, split and partner come from.
#[derive(Debug, Clone)]
pub enum PairSource {
    /// v1.0: S1 folder name and the S2 partner its JSON names; labels from the S2 JSON.
    V1 {
        /// S1 folder name.
        s1_name: String,
        /// S2 folder name (`corresponding_s2_patch` of the S1 metadata).
        s2_name: String,
    },
    /// v2.0: one metadata row.
    V2(V2Row),
    /// A pair whose problem is known from discovery (unreadable S1 metadata,
    /// a second S1 folder claiming the same S2 patch, an S2 folder no S1
    /// folder claims): counted like any other skipped pair.
    Known(PairProblem),
}

/// One pair to ingest. Jobs are sorted by [`PairJob::key`] (the S1 folder
/// name for v1, the S2 patch id for v2) so chunking is deterministic.
#[derive(Debug, Clone)]
pub struct PairJob {
    /// Sort key and identity.
    pub key: String,
    /// Source of metadata.
    pub source: PairSource,
}

/// Everything a worker needs besides the job.
pub struct Context {
    /// S2 root folder.
    pub s2_root: PathBuf,
    /// S1 root folder.
    pub s1_root: PathBuf,
    /// Official splits (v1, when given).
    pub splits: Option<Splits>,
    /// Seasonal-snow list (v1).
    pub snow: HashSet<String>,
    /// Cloud/shadow list (v1).
    pub cloud: HashSet<String>,
    /// Keep excluded patches (flagged) instead of leaving them out.
    pub keep_excluded: bool,
}

/// A pair ready for the shard writer.
pub struct LoadedPair {
    /// Its record.
    pub record: PatchRecord,
    /// Its tensor (CHW f16, normalised).
    pub tensor: Vec<f16>,
}

fn name_field(name: &str, folder: &Path) -> Result<[u8; bemm_formats::archive::NAME_LEN], PairProblem> {
    name_bytes(name).ok_or_else(|| {
        PairProblem::new(
            SkipReason::BadMetadata,
            folder,
            None,
            format!("patch name {name:?} is longer than {} bytes", bemm_formats::archive::NAME_LEN),
        )
    })
}

/// Load one pair: metadata, drops, then the 12 bands.
pub fn load(job: &PairJob, ctx: &Context, scratch: &mut StackScratch) -> Result<LoadedPair, PairProblem> {
    let (s1_name, s1_dir, s2_name, s2_dir, labels43, labels19, split, flags) = match &job.source {
        PairSource::Known(p) => return Err(p.clone()),
        PairSource::V1 { s1_name, s2_name } => {
            let s1_dir = ctx.s1_root.join(s1_name);
            let s2_name = s2_name.clone();
            let s2_dir = ctx.s2_root.join(&s2_name);
            if !s2_dir.is_dir() {
                return Err(PairProblem::new(
                    SkipReason::MissingPartner,
                    &s1_dir,
                    Some(v1::metadata_file(s1_name)),
                    format!("S2 partner folder {} does not exist", s2_dir.display()),
                ));
            }
            let labels43 = v1::read_clc_labels(&s2_dir, &s2_name)?;
            let labels19 = clc_mask_to_classes(labels43);
            let split = match &ctx.splits {
                Some(s) => s.get(&s2_name),
                None => hashed_split(&s2_name),
            };
            let mut flags = 0u8;
            if ctx.snow.contains(&s2_name) {
                flags |= FLAG_SEASONAL_SNOW;
            }
            if ctx.cloud.contains(&s2_name) {
                flags |= FLAG_CLOUD_OR_SHADOW;
            }
            (s1_name.clone(), s1_dir, s2_name, s2_dir, labels43, labels19, split, flags)
        }
        PairSource::V2(row) => {
            let s2_dir = v2::s2_folder(&ctx.s2_root, &row.patch_id);
            let s1_dir = v2::s1_folder(&ctx.s1_root, &row.s1_name);
            if let Some(l) = &row.unknown_label {
                return Err(PairProblem::new(
                    SkipReason::UnknownLabel,
                    &s2_dir,
                    None,
                    format!("metadata label {l:?} is not one of the 19 class names"),
                ));
            }
            if !s2_dir.is_dir() {
                return Err(PairProblem::new(
                    SkipReason::MissingFile,
                    &s2_dir,
                    None,
                    "S2 patch folder listed in the metadata does not exist",
                ));
            }
            if !s1_dir.is_dir() {
                return Err(PairProblem::new(
                    SkipReason::MissingS1Partner,
                    &s1_dir,
                    None,
                    format!("S1 partner folder of {} listed in the metadata does not exist", row.patch_id),
                ));
            }
            let mut flags = 0u8;
            if row.snow {
                flags |= FLAG_SEASONAL_SNOW;
            }
            if row.cloud {
                flags |= FLAG_CLOUD_OR_SHADOW;
            }
            (row.s1_name.clone(), s1_dir, row.patch_id.clone(), s2_dir, 0u64, row.labels19, row.split, flags)
        }
    };
    if labels19 == 0 {
        return Err(PairProblem::new(SkipReason::NoClassLabel, &s2_dir, None, "no label of the 19-class nomenclature"));
    }
    if !ctx.keep_excluded {
        if flags & FLAG_SEASONAL_SNOW != 0 {
            return Err(PairProblem::new(
                SkipReason::ExcludedSnow,
                &s2_dir,
                None,
                "listed as covered by seasonal snow",
            ));
        }
        if flags & FLAG_CLOUD_OR_SHADOW != 0 {
            return Err(PairProblem::new(
                SkipReason::ExcludedCloud,
                &s2_dir,
                None,
                "listed as covered by cloud or shadow",
            ));
        }
    }
    let record = PatchRecord {
        s2_name: name_field(&s2_name, &s2_dir)?,
        s1_name: name_field(&s1_name, &s1_dir)?,
        labels43,
        labels19,
        split: split as u8,
        flags,
        reserved: [0; 2],
    };
    let tensor = build_stack(&s1_dir, &s1_name, &s2_dir, &s2_name, scratch)?;
    Ok(LoadedPair { record, tensor })
}

/// v1 jobs: every folder under the S1 root with the S2 partner its metadata
/// names, plus one [`PairSource::Known`] job for each S1 folder whose
/// metadata cannot be read, each second claim of an S2 patch, and each S2
/// folder no S1 folder claims; sorted by key (S1 name, or S2 name for the
/// unclaimed). Reads every S1 JSON once, in parallel.
pub fn discover_v1(s1_root: &Path, s2_root: &Path) -> std::io::Result<Vec<PairJob>> {
    use rayon::prelude::*;
    let s1_names = v1::list_folders(s1_root)?;
    let s2_names = v1::list_folders(s2_root)?;
    let partners: Vec<Result<String, PairProblem>> =
        s1_names.par_iter().map(|n| v1::read_s2_partner(&s1_root.join(n), n)).collect();
    // First claimant (by S1 name) of each S2 name.
    let mut claimed: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut jobs = Vec::with_capacity(s1_names.len());
    for (s1, partner) in s1_names.iter().zip(&partners) {
        let source = match partner {
            Err(p) => PairSource::Known(p.clone()),
            Ok(s2) => match claimed.get(s2.as_str()) {
                Some(first) => PairSource::Known(PairProblem::new(
                    SkipReason::DuplicatePair,
                    s1_root.join(s1),
                    Some(v1::metadata_file(s1)),
                    format!("names S2 patch {s2} as its partner, which S1 folder {first} already claims; the pair is stored once, with {first}"),
                )),
                None => {
                    claimed.insert(s2, s1);
                    PairSource::V1 { s1_name: s1.clone(), s2_name: s2.clone() }
                }
            },
        };
        jobs.push(PairJob { key: s1.clone(), source });
    }
    for s2 in s2_names.iter().filter(|n| !claimed.contains_key(n.as_str())) {
        let problem = PairProblem::new(
            SkipReason::MissingS1Partner,
            s2_root.join(s2),
            None,
            format!("no S1 folder under {} names this S2 patch as its partner", s1_root.display()),
        );
        jobs.push(PairJob { key: s2.clone(), source: PairSource::Known(problem) });
    }
    jobs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(jobs)
}

/// S2 names of the jobs that are real pairs (v1: claimed partners; v2: metadata rows).
pub fn s2_names(jobs: &[PairJob]) -> HashSet<&str> {
    jobs.iter()
        .filter_map(|j| match &j.source {
            PairSource::V1 { s2_name, .. } => Some(s2_name.as_str()),
            PairSource::V2(r) => Some(r.patch_id.as_str()),
            PairSource::Known(_) => None,
        })
        .collect()
}

/// v2 jobs: metadata rows sorted by patch id (duplicates kept once).
pub fn discover_v2(rows: Vec<V2Row>) -> Vec<PairJob> {
    let mut jobs: Vec<PairJob> =
        rows.into_iter().map(|r| PairJob { key: r.patch_id.clone(), source: PairSource::V2(r) }).collect();
    jobs.sort_by(|a, b| a.key.cmp(&b.key));
    jobs.dedup_by(|a, b| a.key == b.key);
    jobs
}
