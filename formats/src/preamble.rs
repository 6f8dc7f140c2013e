//! The first check of every bemm binary file (patch shard, feature archive,
//! model file): its magic, then its major version, so that a foreign or a
//! newer file is named as such before any other field is trusted.

use crate::error::{FormatError, Result};

/// `Ok` when a header's `magic` is `expected` and its major version is
/// `supported`; else the error naming `what`, the magic found, or the
/// version found (`major.minor`).
pub(crate) fn check_magic_and_version(
    what: &'static str,
    magic: [u8; 8],
    expected: [u8; 8],
    major: u16,
    minor: u16,
    supported: u16,
) -> Result<()> {
    if magic != expected {
        return Err(FormatError::BadMagic { what, expected, found: magic });
    }
    if major != supported {
        return Err(FormatError::UnsupportedVersion { what, major, minor, supported });
    }
    Ok(())
}
