//! `bemm fuse`: late fusion of an S1 model's and an S2 model's predictions
//! (the mean of their class probabilities), as the paper's transfer-learning
//! baseline fuses separately fine-tuned S1 and S2 networks.
//!
//! Inputs and output are prediction CSVs as `bemm predict` writes them: a
//! header `name,<19 official class names>[,predicted]`, one row per patch.
//! Columns are matched by class name; rows by patch name (both files must
//! hold the same patches).

use crate::report::table;
use anyhow::{bail, Context};
use bemm_formats::fsutil::write_atomic;
use bemm_formats::labels::{CLASS_NAMES, NUM_CLASSES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `bemm fuse`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Predictions CSV of the Sentinel-1 model.
    #[arg(long)]
    pub s1: PathBuf,
    /// Predictions CSV of the Sentinel-2 model.
    #[arg(long)]
    pub s2: PathBuf,
    /// Fused predictions CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A class is predicted when its fused probability is >= this.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Read a predictions CSV: names in file order and their probabilities
/// (official class order), validated by [`crate::class_csv::read_class_csv`].
pub fn read_predictions(path: &Path) -> anyhow::Result<Vec<(String, [f32; NUM_CLASSES])>> {
    Ok(crate::class_csv::read_class_csv(path, false)?.rows)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Fuse two prediction tables (mean of probabilities), rows in `a`'s order.
pub fn fuse(
    a: &[(String, [f32; NUM_CLASSES])],
    b: &[(String, [f32; NUM_CLASSES])],
    a_name: &str,
    b_name: &str,
) -> anyhow::Result<Vec<(String, [f32; NUM_CLASSES])>> {
    let index: HashMap<&str, usize> = b.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
    if index.len() != b.len() {
        bail!("{b_name}: a patch name appears twice");
    }
    if a.len() != b.len() {
        bail!("{a_name} has {} patches, {b_name} has {}: both must predict the same patches", a.len(), b.len());
    }
    a.iter()
        .map(|(name, pa)| {
            let j = *index
                .get(name.as_str())
                .with_context(|| format!("patch {name:?} is in {a_name} but not in {b_name}"))?;
            let pb = &b[j].1;
            let mut p = [0f32; NUM_CLASSES];
            for c in 0..NUM_CLASSES {
                p[c] = 0.5 * (pa[c] + pb[c]);
            }
            Ok((name.clone(), p))
        })
        .collect()
}

/// Run `bemm fuse`.
pub fn run(a: Args) -> anyhow::Result<()> {
    crate::class_csv::check_threshold(a.threshold)?;
    crate::output_guard::not_a_folder("--out", &a.out)?;
    crate::output_guard::check("--out", &a.out, &[("--s1", a.s1.as_path()), ("--s2", a.s2.as_path())])?;
    let s1 = read_predictions(&a.s1)?;
    let s2 = read_predictions(&a.s2)?;
    let fused = fuse(&s1, &s2, &a.s1.display().to_string(), &a.s2.display().to_string())?;
    let mut csv = String::from("name");
    for c in CLASS_NAMES.iter() {
        csv.push(',');
        csv.push_str(&csv_field(c));
    }
    csv.push_str(",predicted\n");
    for (name, p) in &fused {
        csv.push_str(&csv_field(name));
        for v in p {
            csv.push_str(&format!(",{v:.6}"));
        }
        let labels: Vec<&str> = (0..NUM_CLASSES).filter(|&c| p[c] >= a.threshold).map(|c| CLASS_NAMES[c]).collect();
        csv.push(',');
        csv.push_str(&csv_field(&labels.join(";")));
        csv.push('\n');
    }
    write_atomic(&a.out, csv.as_bytes()).with_context(|| format!("{}: cannot write", a.out.display()))?;
    if a.json {
        println!("{}", serde_json::json!({ "patches": fused.len(), "out": a.out }));
    } else {
        print!(
            "{}",
            table(&[
                vec!["fused patches".into(), "out".into()],
                vec![fused.len().to_string(), a.out.display().to_string()]
            ])
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_is_the_mean_and_matches_rows_by_name() {
        let mut p1 = [0.0f32; NUM_CLASSES];
        let mut p2 = [1.0f32; NUM_CLASSES];
        p1[3] = 0.8;
        p2[3] = 0.4;
        let a = vec![("x".to_string(), p1), ("y".to_string(), p2)];
        let b = vec![("y".to_string(), p1), ("x".to_string(), p2)];
        let f = fuse(&a, &b, "a", "b").expect("fuse");
        assert_eq!(f[0].0, "x");
        assert!((f[0].1[3] - 0.6).abs() < 1e-6 && (f[0].1[0] - 0.5).abs() < 1e-6);
        let c = vec![("z".to_string(), p1), ("x".to_string(), p2)];
        let e = fuse(&a, &c, "a", "c").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("\"y\" is in a but not in c"), "{e}");
    }
}
