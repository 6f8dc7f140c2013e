//! `bemm eval` (not implemented yet).

/// Arguments of `bemm eval`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm eval`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm eval` is not implemented yet")
}
