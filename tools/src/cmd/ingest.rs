//! `bemm ingest` (not implemented yet).

/// Arguments of `bemm ingest`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm ingest`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm ingest` is not implemented yet")
}
