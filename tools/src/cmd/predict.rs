//! `bemm predict` (not implemented yet).

/// Arguments of `bemm predict`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm predict`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm predict` is not implemented yet")
}
