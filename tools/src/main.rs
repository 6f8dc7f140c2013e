//! The `bemm` command line. All logic lives in the `bemm_tools` library so
//! integration tests can drive the same code paths.

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    bemm_tools::cli::main_with_args(std::env::args_os())
}

/// Rust ignores SIGPIPE, so `bemm info archive | head` would make `println!`
/// panic on the closed pipe. Restoring the default makes the process end
/// quietly instead, like any Unix filter.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any thread exists; setting
    // a signal disposition to SIG_DFL has no other preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
