//! `bemm retrieval-eval` (not implemented yet).

/// Arguments of `bemm retrieval-eval`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm retrieval-eval`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm retrieval-eval` is not implemented yet")
}
