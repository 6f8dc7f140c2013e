//! [`RunArgs`]: the options every command that runs the engine over an
//! archive shares (`predict`, `features`, `search`).

/// Options shared by the commands that run the engine over an archive.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Worker threads (default: all cores; never more than the cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Patches per thread per engine call.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Allow reduced-precision kernels (bf16 products where the CPU has them); kept only where
    /// measured faster than exact on this CPU.
    #[arg(long)]
    pub fast: bool,
    /// Run this kernel or instruction set (e.g. `avx512`, `avx2-6x16`, `scalar`) instead of the
    /// measured choice; the environment variable `BEMM_KERNEL` does the same.
    #[arg(long)]
    pub kernel: Option<String>,
}

impl RunArgs {
    /// Worker threads: `--threads` or all cores, never more than the cores
    /// ([`crate::threads::workers`]; the engine caps them too).
    pub fn threads(&self) -> usize {
        crate::threads::workers(self.threads, usize::MAX)
    }
}
