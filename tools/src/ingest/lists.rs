//! The official list files: train/validation/test splits and the seasonal
//! snow and cloud/shadow exclusion lists.
//!
//! Split files (`train.csv`, `val.csv`, `test.csv`; no header) hold either
//! `S2name,S1name` per line (BigEarthNet-MM) or one S2 name per line (the
//! S2-only copies); exclusion lists hold one S2 name per line. Names are
//! matched by S2 folder name; blank lines and surrounding spaces are ignored.

use anyhow::{bail, Context, Result};
use bemm_formats::archive::Split;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The S2 name of each non-empty line: the first field, or the second when
/// the line is `S1name,S2name` (columns in the other order: the first field
/// starts with `S1` and the second with `S2`). A UTF-8 byte-order mark is
/// ignored (spreadsheet programs write one).
pub fn read_names(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read list file", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(',').map(|f| f.trim().trim_matches('"').trim());
            let first = fields.next().unwrap_or("");
            let second = fields.next().unwrap_or("");
            let name = if first.starts_with("S1") && second.starts_with("S2") { second } else { first };
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect())
}

/// Split membership by S2 name.
#[derive(Debug, Default, Clone)]
pub struct Splits {
    by_name: HashMap<String, Split>,
    /// The file each split was read from.
    files: Vec<(Split, PathBuf)>,
}

impl Splits {
    /// Read `train.csv`, `val.csv` (or `validation.csv`) and `test.csv` from `dir`.
    /// A name in two files is an error naming both.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let find = |names: &[&str]| -> Option<PathBuf> { names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) };
        let mut files = Vec::new();
        for (split, names) in [
            (Split::Train, &["train.csv"][..]),
            (Split::Validation, &["val.csv", "validation.csv"][..]),
            (Split::Test, &["test.csv"][..]),
        ] {
            match find(names) {
                Some(p) => files.push((split, p)),
                None => bail!("{}: no {} split file (looked for {})", dir.display(), split.name(), names.join(", ")),
            }
        }
        let mut by_name = HashMap::new();
        for (split, path) in &files {
            let split = *split;
            for name in read_names(path)? {
                if let Some(prev) = by_name.insert(name.clone(), split) {
                    if prev != split {
                        bail!("{}: patch {name} is also in the {} split", path.display(), prev.name());
                    }
                }
            }
        }
        Ok(Splits { by_name, files })
    }

    /// Per split file: (file, names listed, names that are not in `present`).
    pub fn unmatched(&self, present: &HashSet<&str>) -> Vec<(PathBuf, u64, u64)> {
        self.files
            .iter()
            .map(|(split, path)| {
                let (mut listed, mut missing) = (0u64, 0u64);
                for (name, s) in &self.by_name {
                    if s == split {
                        listed += 1;
                        missing += !present.contains(name.as_str()) as u64;
                    }
                }
                (path.clone(), listed, missing)
            })
            .collect()
    }

    /// The split of an S2 patch (`Unassigned` when in no file).
    pub fn get(&self, s2: &str) -> Split {
        self.by_name.get(s2).copied().unwrap_or(Split::Unassigned)
    }

    /// Names listed.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no name is listed.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A set of S2 names read from an exclusion list.
pub fn read_set(path: &Path) -> Result<HashSet<String>> {
    Ok(read_names(path)?.into_iter().collect())
}

/// The split assigned when no split files are given: XXH64 (seed 0) of the
/// S2 name, modulo 100: 0-51 train, 52-75 validation, 76-99 test — close to
/// the official 52/24/24 proportions, stable across runs and machines, and
/// independent of which other patches are present.
pub fn hashed_split(s2: &str) -> Split {
    match bemm_formats::checksum::xxh64(s2.as_bytes()) % 100 {
        0..=51 => Split::Train,
        52..=75 => Split::Validation,
        _ => Split::Test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_split_file_formats_and_conflicts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("train.csv"), "S2A_a_1_2,S1A_x_1_2\n\nS2A_b_1_3,S1A_x_1_3\n").unwrap();
        std::fs::write(d.path().join("val.csv"), " S2A_c_1_4 \r\n").unwrap();
        std::fs::write(d.path().join("test.csv"), "").unwrap();
        let s = Splits::from_dir(d.path()).unwrap();
        assert_eq!(
            (s.get("S2A_a_1_2"), s.get("S2A_b_1_3"), s.get("S2A_c_1_4")),
            (Split::Train, Split::Train, Split::Validation)
        );
        assert_eq!(s.get("S2A_zzz"), Split::Unassigned);
        // A byte-order mark and the columns in the order S1,S2.
        std::fs::write(d.path().join("test.csv"), "\u{feff}S1A_y_1_9,S2A_d_1_9\nS2A_e_1_8,S1A_y_1_8\n").unwrap();
        let s = Splits::from_dir(d.path()).unwrap();
        assert_eq!((s.get("S2A_d_1_9"), s.get("S2A_e_1_8")), (Split::Test, Split::Test));
        let present: HashSet<&str> = ["S2A_a_1_2", "S2A_d_1_9"].into_iter().collect();
        let u = s.unmatched(&present);
        assert_eq!(u.iter().map(|(_, l, m)| (*l, *m)).collect::<Vec<_>>(), vec![(2, 1), (1, 1), (2, 1)]);
        std::fs::write(d.path().join("test.csv"), "S2A_a_1_2\n").unwrap();
        let e = Splits::from_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("test.csv") && e.contains("S2A_a_1_2") && e.contains("train"), "{e}");
    }
}
