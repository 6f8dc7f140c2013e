//! `bemm import` (not implemented yet).

/// Arguments of `bemm import`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm import`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm import` is not implemented yet")
}
