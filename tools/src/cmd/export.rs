//! `bemm export` (not implemented yet).

/// Arguments of `bemm export`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm export`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm export` is not implemented yet")
}
