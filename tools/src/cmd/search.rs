//! `bemm search` (not implemented yet).

/// Arguments of `bemm search`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm search`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm search` is not implemented yet")
}
