//! Adversarial inputs, one module per command family. Each case is a row of
//! a table: a bad input or invocation and the substring its error (or
//! warning) must contain; every case also checks the inputs are left
//! byte-identical. To add a case, add a row to the family's table (or a
//! module for a new family, listed here).

#[path = "../ingest_common/mod.rs"]
mod ingest_common;

mod archives;
mod common;
mod ingest;
mod messages;
mod outputs;
mod quantize;
mod values;
