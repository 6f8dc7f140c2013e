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
    /// The whole input is shorter than its fixed header, or than the length
    /// its header declares: a truncated or partly copied file.
    #[error("{what}: too short: the input holds {len} bytes, expected at least {needed} (a truncated or partly copied file?)")]
    TooShort {
        /// Kind of file.
        what: &'static str,
        /// Length of the input.
        len: u64,
        /// Bytes the header needs, or the file length it declares.
        needed: u64,
    },
    /// The file does not start with the expected magic bytes.
    #[error("{what}: bad magic: expected {}, found {}{}", MagicText(.expected), MagicText(.found), recognise(.found))]
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
    /// A model tensor holds a value that is not finite (NaN or infinity):
    /// the network would give every input the same meaningless output.
    #[error("model tensor {tensor} (layer {layer} {role}): element {index} is {value}, expected a finite number")]
    NonFinite {
        /// Index of the tensor in the tensor table.
        tensor: u32,
        /// Layer that uses it.
        layer: u32,
        /// Its role in the layer (`weight`, `bias`, ...).
        role: &'static str,
        /// Element index inside the tensor.
        index: u64,
        /// The value as text (`NaN`, `inf`, `-inf`).
        value: &'static str,
    },
    /// A metadata number outside its range: `field` names it with its index.
    #[error("model metadata: {field}[{index}] is {}, expected {expected}", f32_of(.value_bits))]
    MetaValue {
        /// Field name (`thresholds`, `mean`, `std`).
        field: &'static str,
        /// Entry index (the class or band).
        index: u32,
        /// Value found, as `f32::to_bits` (so the error stays `Eq`).
        value_bits: u32,
        /// What is required.
        expected: &'static str,
    },
    /// A quantization parameter of a `QConv` layer outside its range: a
    /// scale that is not finite and positive, or a zero point that is not
    /// an integer in 0..=255 (either would make the layer's output garbage).
    #[error("model layer {layer}: quantization parameter {field}[{index}] is {}, expected {expected}", f32_of(.value_bits))]
    Quant {
        /// Index of the `QConv` layer.
        layer: u32,
        /// `input_scale`, `input_zero_point` or `weight_scale`.
        field: &'static str,
        /// Entry index (the output channel for `weight_scale`, else 0).
        index: u32,
        /// Value found, as `f32::to_bits` (so the error stays `Eq`).
        value_bits: u32,
        /// What is required.
        expected: &'static str,
    },
    /// The postcard-encoded model metadata is malformed or inconsistent.
    #[error("model metadata: {problem}")]
    Meta {
        /// What is wrong.
        problem: &'static str,
    },
}

fn f32_of(bits: &u32) -> f32 {
    f32::from_bits(*bits)
}

/// Eight magic bytes as text: printable ASCII as is, other bytes as `\xNN`.
struct MagicText<'a>(&'a [u8; 8]);

impl core::fmt::Display for MagicText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else if let Some(e) = match b {
                b'\r' => Some("\\r"),
                b'\n' => Some("\\n"),
                b'\t' => Some("\\t"),
                0 => Some("\\0"),
                _ => None,
            } {
                f.write_str(e)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// What a file starting with `magic` is, when it is a common wrong input.
fn recognise(magic: &[u8; 8]) -> &'static str {
    let kinds: [(&[u8], &str); 10] = [
        (b"BEMMODEL", " (this is a bemm model file)"),
        (b"BEMPATCH", " (this is a patch archive shard)"),
        (b"BEMFEATS", " (this is a feature archive)"),
        (b"\x89PNG\r\n\x1a\n", " (this is a PNG image)"),
        (b"II*\0", " (this is a TIFF / GeoTIFF image)"),
        (b"MM\0*", " (this is a TIFF / GeoTIFF image)"),
        (b"II+\0", " (this is a BigTIFF image)"),
        (b"PK\x03\x04", " (this is a zip archive, e.g. a PyTorch .pt checkpoint)"),
        (b"PAR1", " (this is a parquet file)"),
        (b"\x1f\x8b", " (this is a gzip file)"),
    ];
    if let Some((_, k)) = kinds.iter().find(|(m, _)| magic.starts_with(m)) {
        return k;
    }
    // safetensors: a little-endian u64 header length, then the JSON header.
    let n = u64::from_le_bytes(*magic);
    if n > 1 && n < 100_000_000 && magic[6] == 0 && magic[7] == 0 {
        return " (this looks like a safetensors file: import it with `bemm import`)";
    }
    if magic[0] == b'{' || magic[0] == b'[' {
        return " (this is a JSON file)";
    }
    ""
}

/// Result alias of this crate's parsers.
pub type Result<T> = core::result::Result<T, FormatError>;
