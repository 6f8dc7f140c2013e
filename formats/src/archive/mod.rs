//! The patch archive: a directory with a `manifest.json` and shard files.
//!
//! A shard ([`Shard`]) holds N patches as 12x120x120 f16 normalised tensors
//! (CHW, band order of [`crate::bands`]) plus one fixed-size [`PatchRecord`]
//! per patch. Patch `i` is a `&[f16]` in O(1), without copying.
//!
//! Under `std`, [`PatchArchive`] memory-maps every shard listed in the
//! manifest and [`ShardWriter`] writes shards atomically (temp name, fsync,
//! rename), so an interrupted write never leaves a shard that reads as valid.

#[cfg(feature = "std")]
mod manifest;
#[cfg(feature = "std")]
mod reader;
mod record;
mod shard;
#[cfg(feature = "std")]
mod writer;

#[cfg(feature = "std")]
pub use manifest::{Manifest, ShardEntry, MANIFEST_FILE};
#[cfg(feature = "std")]
pub use reader::{ArchiveError, PatchArchive};
pub use record::{name_bytes, PatchRecord, Split, FLAG_CLOUD_OR_SHADOW, FLAG_SEASONAL_SNOW, NAME_LEN};
pub use shard::{Shard, ShardHeader, SHARD_HEADER_SIZE, SHARD_MAGIC, SHARD_VERSION_MAJOR, SHARD_VERSION_MINOR};
#[cfg(feature = "std")]
pub use writer::ShardWriter;
