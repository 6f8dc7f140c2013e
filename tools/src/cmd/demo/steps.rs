//! How the demo runs a step: the subcommand's `Args` parsed by clap from the
//! flags a user would type (so defaults live in one place and the step is
//! shown as a command line to copy), then its typed `run`, timed.

use anyhow::Context;
use clap::Parser;
use std::ffi::{OsStr, OsString};
use std::time::Instant;

/// Parses a subcommand's `Args` from flags.
#[derive(Parser)]
struct Wrap<T: clap::Args> {
    #[command(flatten)]
    inner: T,
}

/// A subcommand's `Args` from its flags (without the subcommand's name).
pub(super) fn parse_args<T: clap::Args>(args: &[OsString]) -> anyhow::Result<T> {
    let v = std::iter::once(OsString::from("bemm")).chain(args.iter().cloned());
    Ok(Wrap::<T>::try_parse_from(v).map_err(|e| anyhow::anyhow!("{e}"))?.inner)
}

/// Flags as owned strings.
pub(super) fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// The numbered, timed steps of one demo run.
pub(super) struct Steps {
    /// Steps started so far.
    pub n: usize,
    /// Steps in all.
    pub total: usize,
    /// `(step, seconds)` of each finished step.
    pub timings: Vec<(String, f64)>,
}

impl Steps {
    /// Steps numbered out of `total`.
    pub fn new(total: usize) -> Self {
        Steps { n: 0, total, timings: Vec::new() }
    }

    /// Runs `bemm NAME ARGS...` as `run(Args)`, with `Args` parsed from
    /// `args` (the subcommand's flags), and returns what `run` returns.
    pub fn run<A: clap::Args, T>(
        &mut self,
        name: &str,
        args: Vec<OsString>,
        run: impl FnOnce(A) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.n += 1;
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        eprintln!("\n== [{}/{}] {name}: bemm {name} {}", self.n, self.total, shown.join(" "));
        let t = Instant::now();
        let out = parse_args::<A>(&args).and_then(run).with_context(|| format!("demo step `{name}` failed"))?;
        self.timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(out)
    }
}
