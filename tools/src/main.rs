//! The `bemm` command line. All logic lives in the `bemm_tools` library so
//! integration tests can drive the same code paths.

fn main() -> std::process::ExitCode {
    bemm_tools::cli::main_with_args(std::env::args_os())
}
