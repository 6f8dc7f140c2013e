//! Library behind the `bemm` command line: one module per subcommand under
//! [`cmd`], shared terminal output helpers in [`report`].

pub mod archive_input;
pub mod class_csv;
pub mod cli;
pub mod cmd;
pub mod file_info;
pub mod import;
pub mod ingest;
pub mod output_guard;
pub mod quantize;
pub mod report;
pub mod synth;
pub mod threads;
