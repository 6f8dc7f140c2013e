//! The calibration archive's patches as a model's inputs: the calibration
//! set (train split, else unassigned, spread evenly over it) and the
//! held-out set (test split, else validation), never overlapping.

use anyhow::{bail, Context, Result};
use bemm_engine::{first_non_finite, Model};
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::f16;
use std::path::{Path, PathBuf};

/// Open the calibration archive `path` (the `--calibrate` value) and check
/// it holds patches: done before any long work so a bad path fails fast.
pub fn open_archive(path: &Path) -> Result<PatchArchive> {
    // The archive's own errors name its folder.
    let a = crate::archive_input::open(path, false).context("--calibrate")?;
    if a.is_empty() {
        bail!("--calibrate {}: the archive holds no patches (calibration needs at least one)", path.display());
    }
    Ok(a)
}

/// Calibration and held-out patches of one archive for one model.
pub struct Patches {
    /// The archive read.
    pub archive: PatchArchive,
    /// Its folder, for messages.
    pub path: PathBuf,
    /// Offset (f16 values) of the model's first band inside a patch.
    first: usize,
    /// f16 values per model input.
    len: usize,
    /// Archive indices the activation ranges come from.
    pub calibration: Vec<usize>,
    /// Archive indices the int8 model is verified on (disjoint from `calibration`).
    pub heldout: Vec<usize>,
    /// The split `heldout` comes from.
    pub heldout_split: &'static str,
}

/// `n` indices spread evenly over `idx` (all of them when `n >= len`).
fn spread(idx: &[usize], n: usize) -> Vec<usize> {
    if n >= idx.len() {
        return idx.to_vec();
    }
    (0..n).map(|k| idx[k * idx.len() / n]).collect()
}

impl Patches {
    /// Select up to `calibration` calibration and `heldout` held-out patches
    /// of `archive` (at `path`) for `model`, skipping patches with a
    /// non-finite value; errors name the archive and what is missing.
    pub fn select(
        archive: PatchArchive,
        path: &Path,
        model: &Model<'_>,
        calibration: usize,
        heldout: usize,
    ) -> Result<Self> {
        let first = crate::cmd::predict::input_offset(model, archive.manifest(), path)
            .with_context(|| format!("--calibrate {}: not the model's band layout", path.display()))?;
        let hw = model.input_shape().h as usize * model.input_shape().w as usize;
        let mut p = Patches {
            path: path.to_path_buf(),
            first: first * hw,
            len: model.input_len(),
            calibration: Vec::new(),
            heldout: Vec::new(),
            heldout_split: "test",
            archive,
        };
        let finite = |p: &Patches, v: Vec<usize>| -> Vec<usize> {
            v.into_iter().filter(|&i| p.sample(i).is_ok_and(|s| first_non_finite(s).is_none())).collect()
        };
        let mut held = p.archive.indices(Some(Split::Test));
        if held.is_empty() {
            held = p.archive.indices(Some(Split::Validation));
            p.heldout_split = "validation";
        }
        if held.is_empty() {
            bail!(
                "--calibrate {}: no test or validation patches to verify the int8 model on (calibration uses the train split, verification needs patches it did not see)",
                path.display()
            );
        }
        p.heldout = finite(&p, spread(&held, heldout));
        let mut cal = p.archive.indices(Some(Split::Train));
        if cal.is_empty() {
            cal = p.archive.indices(Some(Split::Unassigned));
        }
        p.calibration = finite(&p, spread(&cal, calibration));
        if p.calibration.is_empty() || p.heldout.is_empty() {
            bail!(
                "--calibrate {}: {} usable calibration patches (train or unassigned split) and {} held-out ({} split); both must be non-empty",
                path.display(),
                p.calibration.len(),
                p.heldout.len(),
                p.heldout_split
            );
        }
        Ok(p)
    }

    /// The model's input view of archive patch `i` (no copy).
    pub fn sample(&self, i: usize) -> Result<&[f16]> {
        let p = self.archive.patch(i).with_context(|| format!("{}: patch {i} is missing", self.path.display()))?;
        p.get(self.first..self.first + self.len)
            .with_context(|| format!("{}: patch {i} is shorter than the model input", self.path.display()))
    }

    /// Views of `indices`.
    pub fn samples(&self, indices: &[usize]) -> Result<Vec<&[f16]>> {
        indices.iter().map(|&i| self.sample(i)).collect()
    }

    /// True label masks of `indices`.
    pub fn truth(&self, indices: &[usize]) -> Result<Vec<u64>> {
        indices
            .iter()
            .map(|&i| {
                self.archive
                    .record(i)
                    .map(|r| u64::from(r.labels19))
                    .with_context(|| format!("{}: record {i} is missing", self.path.display()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_picks_evenly_and_never_repeats() {
        let idx: Vec<usize> = (100..110).collect();
        assert_eq!(spread(&idx, 3), vec![100, 103, 106]);
        assert_eq!(spread(&idx, 50), idx);
        assert!(spread(&idx, 0).is_empty());
    }
}
