//! `bemm demo`: the main job, from nothing to a trained, exported, evaluated
//! and searchable model, with a report.
//!
//! - `args`: the flags;
//! - `steps`: how a step runs: a subcommand's `Args` parsed from the flags a
//!   user would type (shown on stderr), then its typed `run`;
//! - `pipeline`: the steps in order and the output layout;
//! - `report`: the figures gathered into `report.md` and the terminal summary;
//! - `thumbnails`: the example query's contact sheet.

mod args;
mod layout;
mod pipeline;
mod report;
mod steps;
mod thumbnails;

pub use args::Args;
pub use layout::Layout;
pub use report::Report;

/// Run `bemm demo`.
pub fn run(a: Args) -> anyhow::Result<()> {
    pipeline::run(&a)
}
