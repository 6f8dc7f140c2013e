//! `bemm predict`: run a model over (a split of) a patch archive and write
//! one CSV row per patch: S2 name, 19 probabilities, predicted labels.
//! Also home of the batch runner `bemm features` shares.

use crate::cmd::run_args::RunArgs;
use crate::report::{progress, table};
use anyhow::{bail, Context};
use bemm_engine::tune::Choice;
use bemm_engine::{first_non_finite, OwnedModel};
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::f16;
use bemm_formats::fsutil::write_atomic;
use bemm_formats::labels::CLASS_NAMES;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `bemm predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the commands that run a model over an archive read (`predict`,
/// `features`): `MODEL ARCHIVE [--split NAME]`.
#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    /// Model file (`.bemm`).
    pub model: PathBuf,
    /// Patch archive folder.
    pub archive: PathBuf,
    /// Only this split (`train`, `validation`, `test`, `unassigned`); default: every patch.
    #[arg(long)]
    pub split: Option<String>,
    /// Use the finished part of an archive whose ingest was interrupted.
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// Where a model's input starts in the archive's patches (in bands): the
/// patches must have the model's size and the model's input bands must be a
/// contiguous run of the archive's `man` bands with the same normalisation
/// (`archive` names the folder in errors).
pub(crate) fn input_offset(
    m: &bemm_engine::Model<'_>,
    man: &bemm_formats::archive::Manifest,
    archive: &Path,
) -> anyhow::Result<usize> {
    let shape = m.input_shape();
    if (shape.h, shape.w) != (man.height, man.width) {
        bail!(
            "the model expects {}x{} pixels, the archive {} holds {}x{}",
            shape.h,
            shape.w,
            archive.display(),
            man.height,
            man.width
        );
    }
    let meta = m.meta();
    let bands = &meta.bands;
    let first =
        man.bands.windows(bands.len()).position(|w| w.iter().zip(bands.iter()).all(|(a, b)| a == b)).with_context(
            || {
                format!(
                    "{}: the model's input bands {:?} are not a contiguous run of the archive's bands {:?}",
                    archive.display(),
                    bands.as_slice(),
                    man.bands
                )
            },
        )?;
    for (j, b) in bands.iter().enumerate() {
        let (mm, ms) = (meta.mean[j] as f64, meta.std[j] as f64);
        let (am, asd) = (man.mean[first + j], man.std[first + j]);
        if (mm - am).abs() > 1e-4 * am.abs().max(1.0) || (ms - asd).abs() > 1e-4 * asd.abs().max(1.0) {
            bail!(
                "{}: band {b}: the model expects normalisation mean {mm} std {ms}, the archive used mean {am} std {asd}",
                archive.display()
            );
        }
    }
    Ok(first)
}

/// A model and an archive checked against each other.
pub(crate) struct Runner {
    pub model: OwnedModel,
    /// How the model's kernel was chosen, and what it cost at start-up.
    pub choice: Choice,
    pub archive: PatchArchive,
    /// Offset (f16 values) of the model's first band inside a patch.
    first: usize,
    /// Archive indices to run, in archive order.
    pub indices: Vec<usize>,
}

impl Runner {
    /// Open both and check that the model's input bands are a contiguous run
    /// of the archive's, with the same size and normalisation.
    pub fn open(
        model: &Path,
        archive: &Path,
        split: Option<&str>,
        ra: &RunArgs,
        allow_incomplete: bool,
    ) -> anyhow::Result<Self> {
        let (model, choice) = crate::cmd::kernel_choice::open(model, ra)?;
        let arch = crate::archive_input::open(archive, allow_incomplete)?;
        let (m, man) = (model.model(), arch.manifest());
        let shape = m.input_shape();
        let first = input_offset(m, man, archive)?;
        let split = match split {
            None | Some("all") => None,
            Some(s) => Some(
                Split::parse(s)
                    .with_context(|| format!("--split {s}: expected train, validation, test, unassigned or all"))?,
            ),
        };
        let indices = arch.indices(split);
        let hw = (shape.h * shape.w) as usize;
        Ok(Runner { model, choice, archive: arch, first: first * hw, indices })
    }

    /// [`Runner::open`] for a command that writes `out` (a file): refused
    /// when `out` is a folder, one of the inputs or inside the archive.
    pub fn for_output(source: &Source, out: &Path, ra: &RunArgs) -> anyhow::Result<Self> {
        crate::output_guard::not_a_folder("--out", out)?;
        crate::output_guard::check(
            "--out",
            out,
            &[("MODEL", source.model.as_path()), ("ARCHIVE", source.archive.as_path())],
        )?;
        Runner::open(&source.model, &source.archive, source.split.as_deref(), ra, source.allow_incomplete)
    }

    /// The model's input view of archive patch `i` (no copy).
    fn sample(&self, i: usize) -> anyhow::Result<&[f16]> {
        let p = self.archive.patch(i).with_context(|| format!("patch {i} is missing from the archive"))?;
        let n = self.model.model().input_len();
        p.get(self.first..self.first + n).with_context(|| format!("patch {i} is shorter than the model input"))
    }

    /// Run every selected patch; `sink(indices, probs, features)` gets each
    /// chunk in order. A patch holding a non-finite value (NaN or infinity:
    /// a damaged shard) is not run: it is reported on stderr, its
    /// probabilities and features are NaN, and it is counted.
    /// Returns (patches, seconds, patches with non-finite input).
    pub fn run(
        &self,
        ra: &RunArgs,
        want_features: bool,
        mut sink: impl FnMut(&[usize], &[f32], &[f32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<(usize, f64, usize)> {
        let m = self.model.model();
        let threads = ra.threads();
        let chunk = ra.batch.max(1) * threads;
        let pb = progress(self.indices.len() as u64, "inference");
        let start = Instant::now();
        let (nc, nf) = (m.num_classes(), m.feature_len());
        let mut non_finite = 0usize;
        for idx in self.indices.chunks(chunk) {
            let all = idx.iter().map(|&i| self.sample(i)).collect::<anyhow::Result<Vec<_>>>()?;
            let bad: Vec<bool> = all.iter().map(|s| first_non_finite(s).is_some()).collect();
            let samples: Vec<&[f16]> = all.iter().zip(&bad).filter(|(_, b)| !**b).map(|(s, _)| *s).collect();
            let mut probs = vec![f32::NAN; idx.len() * nc];
            let mut feats = if want_features { vec![f32::NAN; idx.len() * nf] } else { Vec::new() };
            if !samples.is_empty() {
                let mut p = vec![0f32; samples.len() * nc];
                let mut f = if want_features { vec![0f32; samples.len() * nf] } else { Vec::new() };
                m.infer_parallel(&samples, threads, &mut p, &mut f)?;
                // Scatter the results to the rows of the patches that ran.
                for (k, row) in (0..idx.len()).filter(|&k| !bad[k]).enumerate() {
                    probs[row * nc..(row + 1) * nc].copy_from_slice(&p[k * nc..(k + 1) * nc]);
                    if want_features {
                        feats[row * nf..(row + 1) * nf].copy_from_slice(&f[k * nf..(k + 1) * nf]);
                    }
                }
            }
            for (k, &i) in idx.iter().enumerate().filter(|(k, _)| bad[*k]) {
                non_finite += 1;
                if non_finite <= MAX_REPORTED {
                    let name = self.archive.record(i).map_or(String::new(), |r| r.s2().to_string());
                    let at = first_non_finite(all[k]).unwrap_or(0);
                    pb.suspend(|| {
                        eprintln!(
                            "warning: patch {name} (archive index {i}): input value {at} is not finite (a damaged shard?); \
                             no prediction, its row holds NaN"
                        )
                    });
                } else if non_finite == MAX_REPORTED + 1 {
                    pb.suspend(|| eprintln!("warning: ... further patches with non-finite input only counted"));
                }
            }
            sink(idx, &probs, &feats)?;
            pb.inc(idx.len() as u64);
        }
        pb.finish_and_clear();
        Ok((self.indices.len(), start.elapsed().as_secs_f64(), non_finite))
    }
}

/// Patches with non-finite input reported in full before only counting.
const MAX_REPORTED: usize = 20;

/// Quote a CSV field per RFC 4180 when it holds a comma, quote or newline.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Print the run summary as a table or JSON.
pub(crate) fn summary(
    json: bool,
    what: &str,
    runner: &Runner,
    patches: usize,
    secs: f64,
    non_finite: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let m = runner.model.model();
    let rate = patches as f64 / secs.max(1e-9);
    if json {
        let v = serde_json::json!({
            "command": what, "patches": patches, "seconds": secs, "patches_per_second": rate,
            "kernel": m.kernel().name, "out": out.display().to_string(),
            "kernel_choice": crate::cmd::kernel_choice::json(&runner.choice),
            "int8_kernels": crate::cmd::kernel_choice::int8_json(m),
            "non_finite_input_patches": non_finite,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let rows = vec![
            vec!["patches".to_string(), "seconds".into(), "patches/s".into(), "kernel".into(), "output".into()],
            vec![
                patches.to_string(),
                format!("{secs:.2}"),
                format!("{rate:.1}"),
                m.kernel().name.to_string(),
                out.display().to_string(),
            ],
        ];
        print!("{}", table(&rows));
        println!("{}", runner.choice.describe());
        if let Some(line) = crate::cmd::kernel_choice::int8_line(m) {
            println!("{line}");
        }
        if non_finite > 0 {
            println!("{non_finite} patch(es) with non-finite input were not run (see the warnings above)");
        }
    }
    Ok(())
}

/// Run `bemm predict`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let runner = Runner::for_output(&a.source, &a.out, &a.run)?;
    let m = runner.model.model();
    // Columns in the official class order, mapped by name from the model's order.
    let classes = &m.meta().classes;
    let cols: Vec<usize> = CLASS_NAMES
        .iter()
        .map(|name| {
            classes
                .iter()
                .position(|c| c == name)
                .with_context(|| format!("{}: the model has no output for class {name:?}", a.source.model.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut csv = String::from("name");
    for name in CLASS_NAMES.iter() {
        csv.push(',');
        csv.push_str(&csv_field(name));
    }
    csv.push_str(",predicted\n");
    let nc = m.num_classes();
    let (patches, secs, non_finite) = runner.run(&a.run, false, |idx, probs, _| {
        for (k, &i) in idx.iter().enumerate() {
            let p = &probs[k * nc..(k + 1) * nc];
            let rec = runner.archive.record(i).with_context(|| format!("record {i} is missing"))?;
            csv.push_str(&csv_field(rec.s2()));
            for &c in &cols {
                csv.push_str(&format!(",{:.6}", p[c]));
            }
            // No decision for a patch that was not run (NaN probabilities).
            let mask = if p.iter().any(|x| x.is_nan()) { 0 } else { m.predicted(p) };
            let labels: Vec<&str> =
                cols.iter().enumerate().filter(|(_, &c)| mask >> c & 1 == 1).map(|(j, _)| CLASS_NAMES[j]).collect();
            csv.push(',');
            csv.push_str(&csv_field(&labels.join(";")));
            csv.push('\n');
        }
        Ok(())
    })?;
    write_atomic(&a.out, csv.as_bytes())
        .with_context(|| format!("{}: cannot write the predictions", a.out.display()))?;
    summary(a.json, "predict", &runner, patches, secs, non_finite, &a.out)
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_per_rfc4180() {
        assert_eq!(csv_field("Arable land"), "Arable land");
        assert_eq!(csv_field("Moors, heathland"), "\"Moors, heathland\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
