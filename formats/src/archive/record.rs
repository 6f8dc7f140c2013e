//! The fixed-size per-patch record shared by patch and feature archives.

use bytemuck::{Pod, Zeroable};

/// Bytes reserved for each name (UTF-8, NUL-padded).
pub const NAME_LEN: usize = 64;
/// `PatchRecord::flags` bit: patch fully covered by seasonal snow.
pub const FLAG_SEASONAL_SNOW: u8 = 1;
/// `PatchRecord::flags` bit: patch covered by cloud or cloud shadow.
pub const FLAG_CLOUD_OR_SHADOW: u8 = 2;

/// The official split a patch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Split {
    /// Not in any split list.
    Unassigned = 0,
    /// Training split.
    Train = 1,
    /// Validation split.
    Validation = 2,
    /// Test split.
    Test = 3,
}

impl Split {
    /// Decode a stored split byte (unknown values read as `Unassigned`).
    pub fn from_u8(v: u8) -> Split {
        match v {
            1 => Split::Train,
            2 => Split::Validation,
            3 => Split::Test,
            _ => Split::Unassigned,
        }
    }
    /// Lower-case name as used on the command line (`train`, `validation`, `test`, `unassigned`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Unassigned => "unassigned",
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
    /// Parse a split name; accepts `val` for `validation`.
    pub fn parse(s: &str) -> Option<Split> {
        Some(match s {
            "train" => Split::Train,
            "validation" | "val" => Split::Validation,
            "test" => Split::Test,
            "unassigned" => Split::Unassigned,
            _ => return None,
        })
    }
    /// All splits.
    pub const ALL: [Split; 4] = [Split::Train, Split::Validation, Split::Test, Split::Unassigned];
}

/// One patch's record (144 bytes, little-endian).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct PatchRecord {
    /// S2 patch name, UTF-8, NUL-padded.
    pub s2_name: [u8; NAME_LEN],
    /// S1 patch name, UTF-8, NUL-padded.
    pub s1_name: [u8; NAME_LEN],
    /// 43-class CLC bitmask (bit i = `labels::CLC_NAMES[i]`).
    pub labels43: u64,
    /// 19-class bitmask (bit i = `labels::CLASS_NAMES[i]`).
    pub labels19: u32,
    /// [`Split`] as `u8`.
    pub split: u8,
    /// [`FLAG_SEASONAL_SNOW`] | [`FLAG_CLOUD_OR_SHADOW`].
    pub flags: u8,
    /// Reserved, zero.
    pub reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<PatchRecord>() == 144);

/// A name as a fixed NUL-padded field; `None` when longer than [`NAME_LEN`].
pub fn name_bytes(name: &str) -> Option<[u8; NAME_LEN]> {
    let b = name.as_bytes();
    if b.len() > NAME_LEN {
        return None;
    }
    let mut out = [0u8; NAME_LEN];
    out[..b.len()].copy_from_slice(b);
    Some(out)
}

fn field_str(f: &[u8; NAME_LEN]) -> &str {
    let end = f.iter().position(|b| *b == 0).unwrap_or(NAME_LEN);
    match core::str::from_utf8(&f[..end]) {
        Ok(s) => s,
        // Fall back to the longest valid prefix rather than panicking on bad bytes.
        Err(e) => core::str::from_utf8(&f[..e.valid_up_to()]).unwrap_or(""),
    }
}

impl PatchRecord {
    /// S2 name (the patch's primary key).
    pub fn s2(&self) -> &str {
        field_str(&self.s2_name)
    }
    /// S1 name.
    pub fn s1(&self) -> &str {
        field_str(&self.s1_name)
    }
    /// Split.
    pub fn split(&self) -> Split {
        Split::from_u8(self.split)
    }
    /// Whether the patch is flagged as covered by seasonal snow.
    pub fn snow(&self) -> bool {
        self.flags & FLAG_SEASONAL_SNOW != 0
    }
    /// Whether the patch is flagged as covered by cloud or shadow.
    pub fn cloud(&self) -> bool {
        self.flags & FLAG_CLOUD_OR_SHADOW != 0
    }
}
