//! No command writes over one of its own inputs or into an input archive.
//!
//! Paths are compared after resolving links and `..` (an output that does
//! not exist yet is resolved through its nearest existing ancestor), so
//! `--out ./m/../model.bemm` is recognised as `model.bemm`.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// `path` made absolute and free of links and `..`, as far as it exists.
fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return rest.iter().rev().fold(c, |p, n| p.join(n));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuse `out` (given as `out_flag`) when it is one of `inputs`
/// (`(flag, path)`), or lies inside an input that is a folder.
pub fn check(out_flag: &str, out: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let o = resolve(out);
    for (flag, input) in inputs {
        let i = resolve(input);
        if o == i {
            bail!(
                "{out_flag} {}: this is also the input {flag}; refusing to write over an input (choose another output path)",
                out.display()
            );
        }
        if input.is_dir() && o.starts_with(&i) {
            bail!(
                "{out_flag} {}: this is inside the input folder {flag} {}; refusing to write into an input (choose a path outside it)",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Refuse `out` when it is an existing folder (a file is expected).
pub fn not_a_folder(out_flag: &str, out: &Path) -> Result<()> {
    if out.is_dir() {
        bail!("{out_flag} {}: is a folder; expected a file name", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_and_inside_folder_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let model = d.path().join("m.bemm");
        std::fs::write(&model, b"x").unwrap();
        let arch = d.path().join("arch");
        std::fs::create_dir(&arch).unwrap();
        let inputs = [("MODEL", model.as_path()), ("ARCHIVE", arch.as_path())];
        let e = check("--out", &d.path().join("arch/../m.bemm"), &inputs).unwrap_err().to_string();
        assert!(e.contains("input MODEL"), "{e}");
        let e = check("--out", &arch.join("manifest.json"), &inputs).unwrap_err().to_string();
        assert!(e.contains("inside the input folder ARCHIVE"), "{e}");
        check("--out", &d.path().join("new/pred.csv"), &inputs).unwrap();
    }
}
