//! `bemm train` (not implemented yet).

/// Arguments of `bemm train`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm train`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm train` is not implemented yet")
}
