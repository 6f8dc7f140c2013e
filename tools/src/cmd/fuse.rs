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

/// Split CSV text into records (RFC 4180: quoted fields, `""`, CRLF or LF),
/// each with its 1-based line number.
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut rec, mut field, mut quoted, mut line, mut start) = (Vec::new(), String::new(), false, 1usize, 1usize);
    let mut it = text.strip_prefix('\u{feff}').unwrap_or(text).chars().peekable();
    while let Some(c) = it.next() {
        match (quoted, c) {
            (true, '"') if it.peek() == Some(&'"') => {
                it.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, ch) => {
                if ch == '\n' {
                    line += 1;
                }
                field.push(ch);
            }
            (false, '"') => quoted = true,
            (false, ',') => rec.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                rec.push(std::mem::take(&mut field));
                if !(rec.len() == 1 && rec[0].is_empty()) {
                    out.push((start, std::mem::take(&mut rec)));
                }
                rec.clear();
                line += 1;
                start = line;
            }
            (false, ch) => field.push(ch),
        }
    }
    if !field.is_empty() || !rec.is_empty() {
        rec.push(field);
        out.push((start, rec));
    }
    out
}

/// Read a predictions CSV: names in file order and their probabilities (official class order).
pub fn read_predictions(path: &Path) -> anyhow::Result<Vec<(String, [f32; NUM_CLASSES])>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("{file}: cannot read"))?;
    let recs = records(&text);
    let Some(((_, header), body)) = recs.split_first() else {
        bail!("{file}: empty; expected a header `name,<19 class names>`")
    };
    let name_col = header
        .iter()
        .position(|h| h.trim() == "name")
        .with_context(|| format!("{file}: header has no `name` column"))?;
    let mut cols = [0usize; NUM_CLASSES];
    for (c, class) in CLASS_NAMES.iter().enumerate() {
        cols[c] = header
            .iter()
            .position(|h| h.trim() == *class)
            .with_context(|| format!("{file}: header lacks the class column {class:?}"))?;
    }
    let mut rows = Vec::with_capacity(body.len());
    for (line, r) in body {
        if r.len() < header.len() {
            bail!("{file}: line {line}: {} fields, the header has {}", r.len(), header.len());
        }
        let mut p = [0f32; NUM_CLASSES];
        for (c, &i) in cols.iter().enumerate() {
            let s = r[i].trim();
            p[c] = s.parse::<f32>().ok().filter(|x| (0.0..=1.0).contains(x)).with_context(|| {
                format!("{file}: line {line}, column {:?}: {s:?} is not a probability in [0, 1]", CLASS_NAMES[c])
            })?;
        }
        rows.push((r[name_col].trim().to_string(), p));
    }
    Ok(rows)
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

    #[test]
    fn quoted_class_names_parse() {
        let r = records("name,\"Moors, heathland\"\r\nA,0.5\n");
        assert_eq!(r[0].1, ["name", "Moors, heathland"]);
        assert_eq!(r[1], (2, vec!["A".to_string(), "0.5".to_string()]));
    }
}
