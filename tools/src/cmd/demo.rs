//! `bemm demo` (not implemented yet).

/// Arguments of `bemm demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `bemm demo`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bemm demo` is not implemented yet")
}
