//! `bemm features` (not implemented yet).

/// Arguments of `bemm features`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm features`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm features` is not implemented yet")
}
