//! `bemm info` (not implemented yet).

/// Arguments of `bemm info`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm info`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm info` is not implemented yet")
}
