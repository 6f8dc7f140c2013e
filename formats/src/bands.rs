//! The model input: a 12-band 120x120 stack, its band order and normalisation.
//!
//! This module is the single place that defines the channel order
//! (`VV, VH, B02, B03, B04, B08, B05, B06, B07, B8A, B11, B12`), the patch
//! size and the per-band statistics of REFERENCE.md.

/// Number of input channels of a full S1+S2 stack.
pub const CHANNELS: usize = 12;
/// Patch height and width in pixels (10 m grid).
pub const SIZE: usize = 120;
/// Pixels per band (`SIZE * SIZE`).
pub const PIXELS: usize = SIZE * SIZE;
/// Elements of one patch tensor (`CHANNELS * SIZE * SIZE`, CHW).
pub const PATCH_LEN: usize = CHANNELS * PIXELS;

/// Channel order of every patch tensor (CHW, channel index = position here).
pub const BAND_NAMES: [&str; CHANNELS] =
    ["VV", "VH", "B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12"];

/// Per-band mean used for normalisation, `(x - mean) / std`, same order as [`BAND_NAMES`].
/// S1 bands in dB, S2 bands in surface reflectance x 10000.
pub const BAND_MEAN: [f64; CHANNELS] = [
    -12.619993741972035,
    -19.29044597721542,
    429.9430203,
    614.21682446,
    590.23569706,
    2218.94553375,
    950.68368468,
    1792.46290469,
    2075.46795189,
    2266.46036911,
    1594.42694882,
    1009.32729131,
];

/// Per-band standard deviation used for normalisation, same order as [`BAND_NAMES`].
pub const BAND_STD: [f64; CHANNELS] = [
    5.115911777546365,
    5.464428464912864,
    572.41639287,
    582.87945694,
    675.88746967,
    1365.45589904,
    729.89827633,
    1096.01480586,
    1273.45393088,
    1356.13789355,
    1079.19066363,
    818.86747235,
];

/// Native resolution class of a band, which decides its size on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Sentinel-1 backscatter, float32 dB, 120x120.
    S1,
    /// Sentinel-2 10 m band, uint16, 120x120.
    S2TenMetre,
    /// Sentinel-2 20 m band, uint16, 60x60 (resampled bicubically to 120x120).
    S2TwentyMetre,
}

impl Resolution {
    /// Side length in pixels of a band of this resolution as stored in the GeoTIFF.
    pub const fn side(self) -> usize {
        match self {
            Resolution::S1 | Resolution::S2TenMetre => 120,
            Resolution::S2TwentyMetre => 60,
        }
    }
}

/// Resolution of each channel, same order as [`BAND_NAMES`].
pub const BAND_RESOLUTION: [Resolution; CHANNELS] = [
    Resolution::S1,
    Resolution::S1,
    Resolution::S2TenMetre,
    Resolution::S2TenMetre,
    Resolution::S2TenMetre,
    Resolution::S2TenMetre,
    Resolution::S2TwentyMetre,
    Resolution::S2TwentyMetre,
    Resolution::S2TwentyMetre,
    Resolution::S2TwentyMetre,
    Resolution::S2TwentyMetre,
    Resolution::S2TwentyMetre,
];

/// Channel indices of the Sentinel-1 bands (`VV`, `VH`).
pub const S1_CHANNELS: [usize; 2] = [0, 1];
/// Channel indices of the ten Sentinel-2 bands.
pub const S2_CHANNELS: [usize; 10] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// Index of a band name in [`BAND_NAMES`].
pub fn band_index(name: &str) -> Option<usize> {
    BAND_NAMES.iter().position(|b| *b == name)
}

/// Normalise a raw value of channel `c`: `(x - mean) / std`.
#[inline]
pub fn normalise(c: usize, x: f64) -> f64 {
    (x - BAND_MEAN[c]) / BAND_STD[c]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn s1_and_s2_channels_partition_the_stack() {
        let mut seen = [false; CHANNELS];
        for c in S1_CHANNELS.iter().chain(S2_CHANNELS.iter()) {
            assert!(!seen[*c]);
            seen[*c] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(band_index("B8A"), Some(9));
        assert_eq!(BAND_RESOLUTION[band_index("B11").unwrap()].side(), 60);
    }
}
