//! Argument parsing and dispatch. Each subcommand owns its `Args` and `run`
//! in `cmd/<name>.rs`; this file only lists them.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

/// bemm: multi-modal, multi-label land-cover classification and retrieval on BigEarthNet-MM.
#[derive(Parser, Debug)]
#[command(name = "bemm", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// All subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a synthetic twin of the archive in the real on-disk format.
    Synth(crate::cmd::synth::Args),
    /// Turn the real BigEarthNet-MM (v1.0 or v2.0) folder trees into a patch archive.
    Ingest(crate::cmd::ingest::Args),
    /// Summarise an existing patch archive.
    Info(crate::cmd::info::Args),
    /// Train a ResNet/VGG on a patch archive.
    Train(crate::cmd::train::Args),
    /// Export a trained run to the engine's model file.
    Export(crate::cmd::export::Args),
    /// Late fusion: mean of an S1 model's and an S2 model's predicted probabilities.
    Fuse(crate::cmd::fuse::Args),
    /// Import PyTorch/timm safetensors weights into a model file.
    Import(crate::cmd::import::Args),
    /// Classify the patches of an archive with a model file.
    Predict(crate::cmd::predict::Args),
    /// Extract compact retrieval features of an archive into a feature archive.
    Features(crate::cmd::features::Args),
    /// Evaluate predictions against the truth with the paper's metrics.
    Eval(crate::cmd::eval::Args),
    /// Find the nearest patches to a query in a feature archive.
    Search(crate::cmd::search::Args),
    /// Retrieval metrics (precision@k, recall@k, mAP@k, NDCG@k) of a feature archive.
    RetrievalEval(crate::cmd::retrieval_eval::Args),
    /// Run the whole pipeline end to end on data it makes itself.
    Demo(crate::cmd::demo::Args),
}

/// Run one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    use crate::cmd::*;
    match cli.command {
        Command::Synth(a) => synth::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Info(a) => info::run(a),
        Command::Train(a) => train::run(a),
        Command::Export(a) => export::run(a),
        Command::Fuse(a) => fuse::run(a),
        Command::Import(a) => import::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Features(a) => features::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Search(a) => search::run(a),
        Command::RetrievalEval(a) => retrieval_eval::run(a),
        Command::Demo(a) => demo::run(a),
    }
}

/// Parse `args` (program name first) and run; errors go to stderr as a
/// one-paragraph chain (no backtrace), exit code 1. Used by `main`.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each cause once: many library
/// errors already print their cause in their own message (`PATH: CAUSE`), and
/// a chain that repeats it would say everything twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Run `bemm ARGS...` in-process and return its result (for tests).
pub fn run_args<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut v: Vec<OsString> = vec!["bemm".into()];
    v.extend(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(v).map_err(|e| anyhow::anyhow!("{e}"))?;
    run(cli)
}
