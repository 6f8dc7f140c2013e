//! The one error type of every parser in this crate.
//!
//! Each variant says what is wrong and where: which structure (`what`), which
//! field, at which byte offset, and what was expected. Parsers never panic and
//! never allocate from an unchecked field.

use thiserror::Error;

/// A malformed or unsupported file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The bytes end before a structure does.
    #[error("{what}: truncated: {needed} bytes needed at offset {offset}, but the input holds {len}")]
    Truncated {
        /// Structure being read.
        what: &'static str,
        /// Byte offset where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Length of the input.
        len: u64,
    },
    /// The file does not start with the expected magic bytes.
    #[error("{what}: bad magic: expected {expected:?}, found {found:?}")]
    BadMagic {
        /// Structure being read.
        what: &'static str,
        /// Expected magic.
        expected: [u8; 8],
        /// Found bytes.
        found: [u8; 8],
    },
    /// A major version this reader does not understand.
    #[error("{what}: format version {major}.{minor} is not supported (this reader reads {supported}.x)")]
    UnsupportedVersion {
        /// Structure being read.
        what: &'static str,
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
        /// Major version this reader supports.
        supported: u16,
    },
    /// A stored checksum does not match the bytes.
    #[error("{what}: checksum mismatch over {region}: stored {stored:#018x}, computed {computed:#018x}")]
    Checksum {
        /// Structure being read.
        what: &'static str,
        /// Which bytes the checksum covers.
        region: &'static str,
        /// Stored value.
        stored: u64,
        /// Computed value.
        computed: u64,
    },
    /// A field holds a value outside what the format allows.
    #[error("{what}: field `{field}` is {value}, expected {expected}")]
    Invalid {
        /// Structure being read (with index where there are many).
        what: &'static str,
        /// Field name as in SPEC.md.
        field: &'static str,
        /// Value found.
        value: u64,
        /// What the format requires.
        expected: &'static str,
    },
    /// A region is not aligned as the format requires.
    #[error("{what}: `{field}` at offset {offset} is not aligned to {align} bytes")]
    Misaligned {
        /// Structure being read.
        what: &'static str,
        /// Field or region.
        field: &'static str,
        /// Offending offset (relative to the start of the input).
        offset: u64,
        /// Required alignment.
        align: u64,
    },
    /// A layer of a model graph is inconsistent.
    #[error("model graph: layer {layer}: {problem} (found {value})")]
    Graph {
        /// Index of the offending layer.
        layer: u32,
        /// What is wrong.
        problem: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The postcard-encoded model metadata is malformed or inconsistent.
    #[error("model metadata: {problem}")]
    Meta {
        /// What is wrong.
        problem: &'static str,
    },
}

/// Result alias of this crate's parsers.
pub type Result<T> = core::result::Result<T, FormatError>;
