//! Reading one single-band BigEarthNet GeoTIFF (S2: uint16 reflectance x 10000,
//! S1: float32 backscatter in dB) and checking its size and sample type.

use std::io::Cursor;
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::ColorType;

/// Why a band file could not be used. The caller adds the folder and file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BandError {
    /// The file does not exist.
    #[error("band file is missing")]
    Missing,
    /// I/O error or not a TIFF the decoder understands.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// Width/height differ from the expected side.
    #[error("band is {width}x{height} px, expected {expected}x{expected}")]
    WrongSize {
        /// Found width.
        width: u32,
        /// Found height.
        height: u32,
        /// Expected side.
        expected: usize,
    },
    /// Sample type other than the expected one.
    #[error("sample type is {found}, expected {expected}")]
    WrongSampleType {
        /// What the file holds.
        found: String,
        /// What BigEarthNet uses for this band.
        expected: &'static str,
    },
}

/// Decode `bytes` as a single-band image of side `side`, returning the decoder
/// result (whatever its sample type) after the size check.
fn decode(bytes: &[u8], side: usize) -> Result<DecodingResult, BandError> {
    let mut dec = Decoder::new(Cursor::new(bytes)).map_err(|e| BandError::Unreadable(e.to_string()))?;
    let (w, h) = dec.dimensions().map_err(|e| BandError::Unreadable(e.to_string()))?;
    if w as usize != side || h as usize != side {
        return Err(BandError::WrongSize { width: w, height: h, expected: side });
    }
    match dec.colortype() {
        Ok(ColorType::Gray(_)) => {}
        Ok(other) => {
            return Err(BandError::WrongSampleType { found: format!("{other:?}"), expected: "one sample per pixel" })
        }
        Err(e) => return Err(BandError::Unreadable(e.to_string())),
    }
    dec.read_image().map_err(|e| BandError::Unreadable(e.to_string()))
}

fn sample_name(r: &DecodingResult) -> &'static str {
    match r {
        DecodingResult::U8(_) => "uint8",
        DecodingResult::U16(_) => "uint16",
        DecodingResult::U32(_) => "uint32",
        DecodingResult::U64(_) => "uint64",
        DecodingResult::F16(_) => "float16",
        DecodingResult::F32(_) => "float32",
        DecodingResult::F64(_) => "float64",
        DecodingResult::I8(_) => "int8",
        DecodingResult::I16(_) => "int16",
        DecodingResult::I32(_) => "int32",
        DecodingResult::I64(_) => "int64",
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, BandError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BandError::Missing,
        _ => BandError::Unreadable(e.to_string()),
    })
}

/// Read a Sentinel-2 band: uint16, `side` x `side`, row-major.
pub fn read_s2_band(path: &Path, side: usize) -> Result<Vec<u16>, BandError> {
    match decode(&read_bytes(path)?, side)? {
        DecodingResult::U16(v) if v.len() == side * side => Ok(v),
        DecodingResult::U16(v) => {
            Err(BandError::Unreadable(format!("decoded {} samples, expected {}", v.len(), side * side)))
        }
        other => Err(BandError::WrongSampleType { found: sample_name(&other).into(), expected: "uint16" }),
    }
}

/// Read a Sentinel-1 band: float32 dB, `side` x `side`, row-major.
pub fn read_s1_band(path: &Path, side: usize) -> Result<Vec<f32>, BandError> {
    match decode(&read_bytes(path)?, side)? {
        DecodingResult::F32(v) if v.len() == side * side => Ok(v),
        DecodingResult::F32(v) => {
            Err(BandError::Unreadable(format!("decoded {} samples, expected {}", v.len(), side * side)))
        }
        other => Err(BandError::WrongSampleType { found: sample_name(&other).into(), expected: "float32" }),
    }
}
