//! Assembling one pair's model input: the 12 bands in the order of
//! `bemm_formats::bands::BAND_NAMES`, 20 m bands resampled bicubically to
//! 120x120, normalised per band and stored as f16 (CHW).

use super::bicubic::Bicubic;
use super::geotiff::{read_s1_band, read_s2_band, BandError};
use super::problem::{PairProblem, SkipReason};
use bemm_formats::bands::{
    Resolution, BAND_MEAN, BAND_NAMES, BAND_RESOLUTION, BAND_STD, CHANNELS, PATCH_LEN, PIXELS, SIZE,
};
use half::f16;
use std::path::Path;

/// Per-thread scratch for [`build_stack`].
pub struct StackScratch {
    bicubic: Bicubic,
    raw: Vec<f32>,
    up: Vec<f32>,
}

impl Default for StackScratch {
    fn default() -> Self {
        let side = Resolution::S2TwentyMetre.side();
        StackScratch {
            bicubic: Bicubic::new(side, side, SIZE, SIZE),
            raw: Vec::with_capacity(PIXELS),
            up: vec![0.0; PIXELS],
        }
    }
}

/// File name of band `band` of patch `patch`.
pub fn band_file(patch: &str, band: &str) -> String {
    format!("{patch}_{band}.tif")
}

fn band_problem(folder: &Path, file: String, e: BandError) -> PairProblem {
    let reason = match e {
        BandError::Missing => SkipReason::MissingFile,
        BandError::Unreadable(_) => SkipReason::UnreadableBand,
        BandError::WrongSize { .. } => SkipReason::WrongSize,
        BandError::WrongSampleType { .. } => SkipReason::WrongSampleType,
    };
    PairProblem::new(reason, folder, Some(file), e.to_string())
}

/// Read the 12 bands of a pair and return the normalised f16 tensor
/// (`CHANNELS x SIZE x SIZE`, CHW).
pub fn build_stack(
    s1_folder: &Path,
    s1_name: &str,
    s2_folder: &Path,
    s2_name: &str,
    scratch: &mut StackScratch,
) -> Result<Vec<f16>, PairProblem> {
    let mut out = vec![f16::ZERO; PATCH_LEN];
    for c in 0..CHANNELS {
        let band = BAND_NAMES[c];
        let res = BAND_RESOLUTION[c];
        let (folder, patch) = match res {
            Resolution::S1 => (s1_folder, s1_name),
            _ => (s2_folder, s2_name),
        };
        let file = band_file(patch, band);
        let path = folder.join(&file);
        scratch.raw.clear();
        match res {
            Resolution::S1 => {
                let v = read_s1_band(&path, res.side()).map_err(|e| band_problem(folder, file, e))?;
                scratch.raw.extend_from_slice(&v);
            }
            _ => {
                let v = read_s2_band(&path, res.side()).map_err(|e| band_problem(folder, file, e))?;
                scratch.raw.extend(v.iter().map(|&x| x as f32));
            }
        }
        let values: &[f32] = if res == Resolution::S2TwentyMetre {
            scratch.bicubic.run(&scratch.raw, &mut scratch.up);
            &scratch.up
        } else {
            &scratch.raw
        };
        let mean = BAND_MEAN[c] as f32;
        let inv = (1.0 / BAND_STD[c]) as f32;
        for (o, &x) in out[c * PIXELS..(c + 1) * PIXELS].iter_mut().zip(values) {
            *o = f16::from_f32((x - mean) * inv);
        }
    }
    Ok(out)
}
