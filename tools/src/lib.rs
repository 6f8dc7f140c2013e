//! Library behind the `bemm` command line: one module per subcommand under
//! [`cmd`], shared terminal output helpers in [`report`].

pub mod cli;
pub mod cmd;
pub mod import;
pub mod ingest;
pub mod report;
pub mod synth;
