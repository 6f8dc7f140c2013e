//! `bemm synth` (not implemented yet).

/// Arguments of `bemm synth`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm synth`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm synth` is not implemented yet")
}
