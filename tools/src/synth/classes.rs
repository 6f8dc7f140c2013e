//! What each of the 19 classes looks like in the synthetic twin: how often it
//! occurs, its Sentinel-2 reflectance signature, its Sentinel-1 backscatter
//! and its texture.
//!
//! Four pairs of classes share their S2 appearance exactly and differ only in
//! S1 (urban/industrial, coniferous/mixed forest, inland/coastal wetlands,
//! inland/marine waters): a model must use S1 to tell them apart.

use bemm_formats::labels::NUM_CLASSES;

/// Spatial pattern of a class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Texture {
    /// No pattern beyond noise.
    Smooth,
    /// Parallel stripes (fields): period in px, angle in radians.
    Stripes(f32, f32),
    /// Blocks of the given side in px with random brightness (parcels, buildings).
    Blocks(f32),
    /// Strong pixel-level variation.
    Speckle,
}

/// Appearance of one class.
#[derive(Debug, Clone, Copy)]
pub struct ClassLook {
    /// Relative frequency (thousands of patches in the real archive, roughly).
    pub weight: f32,
    /// Reflectance x 10000 for the S2 bands in `bands::BAND_NAMES` order (B02..B12, 10 values).
    pub s2: [f32; 10],
    /// S2 texture and its relative amplitude.
    pub s2_texture: (Texture, f32),
    /// Mean VV and VH backscatter, dB.
    pub s1: [f32; 2],
    /// S1 texture and its amplitude in dB.
    pub s1_texture: (Texture, f32),
}

const URBAN_S2: [f32; 10] = [900., 1000., 1100., 1800., 1300., 1600., 1700., 1900., 2200., 1900.];
const CONIFER_S2: [f32; 10] = [200., 400., 250., 2400., 600., 1700., 2100., 2400., 1200., 550.];
const WETLAND_S2: [f32; 10] = [350., 550., 450., 1800., 700., 1300., 1600., 1800., 1200., 700.];
const WATER_S2: [f32; 10] = [400., 500., 350., 200., 300., 200., 200., 180., 120., 90.];

/// The look of each class, indexed like `labels::CLASS_NAMES`.
pub const LOOKS: [ClassLook; NUM_CLASSES] = [
    // Urban fabric
    ClassLook {
        weight: 75.,
        s2: URBAN_S2,
        s2_texture: (Texture::Blocks(6.), 0.15),
        s1: [-6., -13.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Industrial or commercial units: urban in S2, much brighter and speckled in S1
    ClassLook {
        weight: 12.,
        s2: URBAN_S2,
        s2_texture: (Texture::Blocks(6.), 0.15),
        s1: [0., -6.],
        s1_texture: (Texture::Speckle, 3.),
    },
    // Arable land
    ClassLook {
        weight: 197.,
        s2: [600., 900., 900., 3000., 1300., 2400., 2800., 3100., 2600., 1600.],
        s2_texture: (Texture::Stripes(10., 0.3), 0.2),
        s1: [-10., -17.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Permanent crops
    ClassLook {
        weight: 28.,
        s2: [500., 800., 700., 2300., 1100., 1900., 2200., 2400., 2300., 1500.],
        s2_texture: (Texture::Stripes(4., 1.2), 0.2),
        s1: [-9., -16.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Pastures
    ClassLook {
        weight: 95.,
        s2: [400., 750., 500., 3600., 1000., 2900., 3400., 3700., 2300., 1200.],
        s2_texture: (Texture::Smooth, 0.),
        s1: [-11., -18.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Complex cultivation patterns
    ClassLook {
        weight: 104.,
        s2: [700., 950., 1000., 2700., 1350., 2100., 2500., 2800., 2900., 1900.],
        s2_texture: (Texture::Blocks(10.), 0.25),
        s1: [-10., -17.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Land principally occupied by agriculture, with significant areas of natural vegetation
    ClassLook {
        weight: 142.,
        s2: [450., 700., 600., 3100., 1000., 2500., 2900., 3200., 2000., 1100.],
        s2_texture: (Texture::Blocks(16.), 0.2),
        s1: [-10.5, -17.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Agro-forestry areas
    ClassLook {
        weight: 31.,
        s2: [550., 750., 800., 2500., 1150., 1900., 2200., 2450., 2700., 1800.],
        s2_texture: (Texture::Speckle, 0.2),
        s1: [-9.5, -16.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Broad-leaved forest
    ClassLook {
        weight: 151.,
        s2: [300., 550., 300., 4200., 800., 3200., 3900., 4300., 1900., 900.],
        s2_texture: (Texture::Smooth, 0.),
        s1: [-8., -14.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Coniferous forest
    ClassLook {
        weight: 212.,
        s2: CONIFER_S2,
        s2_texture: (Texture::Speckle, 0.08),
        s1: [-5., -10.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Mixed forest: coniferous in S2, darker in S1
    ClassLook {
        weight: 217.,
        s2: CONIFER_S2,
        s2_texture: (Texture::Speckle, 0.08),
        s1: [-12., -19.5],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Natural grassland and sparsely vegetated areas
    ClassLook {
        weight: 13.,
        s2: [800., 1100., 1300., 2300., 1600., 1900., 2100., 2300., 3300., 2600.],
        s2_texture: (Texture::Smooth, 0.),
        s1: [-13., -21.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Moors, heathland and sclerophyllous vegetation
    ClassLook {
        weight: 16.,
        s2: [450., 650., 700., 1700., 950., 1400., 1600., 1750., 2100., 1400.],
        s2_texture: (Texture::Speckle, 0.15),
        s1: [-12., -19.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Transitional woodland, shrub
    ClassLook {
        weight: 156.,
        s2: [350., 600., 450., 2900., 900., 2200., 2700., 3000., 1600., 800.],
        s2_texture: (Texture::Blocks(4.), 0.15),
        s1: [-9., -15.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Beaches, dunes, sands
    ClassLook {
        weight: 2.,
        s2: [1800., 2000., 2200., 2500., 2300., 2400., 2500., 2600., 3200., 2800.],
        s2_texture: (Texture::Stripes(12., 0.8), 0.1),
        s1: [-15., -24.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Inland wetlands
    ClassLook {
        weight: 24.,
        s2: WETLAND_S2,
        s2_texture: (Texture::Blocks(8.), 0.15),
        s1: [-14., -21.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Coastal wetlands: inland wetlands in S2, darker and striped in S1
    ClassLook {
        weight: 2.,
        s2: WETLAND_S2,
        s2_texture: (Texture::Blocks(8.), 0.15),
        s1: [-18., -26.],
        s1_texture: (Texture::Stripes(6., 0.5), 2.),
    },
    // Inland waters
    ClassLook {
        weight: 68.,
        s2: WATER_S2,
        s2_texture: (Texture::Smooth, 0.),
        s1: [-22., -29.],
        s1_texture: (Texture::Smooth, 0.),
    },
    // Marine waters: inland waters in S2, wind-roughened (brighter, waves) in S1
    ClassLook {
        weight: 82.,
        s2: WATER_S2,
        s2_texture: (Texture::Smooth, 0.),
        s1: [-12., -19.],
        s1_texture: (Texture::Stripes(7., 2.1), 2.5),
    },
];

/// Relative frequency of 1..=12 labels per pair (index 0 = one label).
pub const LABEL_COUNT_WEIGHTS: [f32; 12] = [14., 24., 23., 16., 10., 6., 3.5, 1.8, 1., 0.5, 0.3, 0.2];

/// Look of a CLC label that has no 19-class counterpart (roads, mines, ...):
/// drawn as a bright, rough line; ingest drops the label itself.
pub const DROPPED_LOOK: ClassLook = ClassLook {
    weight: 0.,
    s2: [1200., 1300., 1400., 1700., 1500., 1650., 1700., 1800., 2600., 2300.],
    s2_texture: (Texture::Smooth, 0.),
    s1: [-4., -11.],
    s1_texture: (Texture::Speckle, 2.),
};

/// Snow cover (visible bright, SWIR dark).
pub const SNOW_S2: [f32; 10] = [8500., 8400., 8300., 7600., 8000., 7800., 7700., 7500., 1200., 900.];
/// Thick cloud (bright everywhere).
pub const CLOUD_S2: [f32; 10] = [6500., 6400., 6500., 6800., 6600., 6700., 6800., 6800., 5200., 4000.];

/// The S2 signature actually drawn for a look: its hand-set reflectances plus
/// a fingerprint of up to +-1.2 band standard deviations per band, derived
/// from the reflectances themselves (so S2 twins stay identical). It spreads
/// the similar vegetation classes apart enough for a small CNN to learn them
/// from a thousand pairs, while a patch-mean rule still confuses mixtures.
pub fn s2_signature(look: &ClassLook) -> [f32; 10] {
    use bemm_formats::bands::{BAND_RESOLUTION, BAND_STD, CHANNELS};
    let key: Vec<u8> = look.s2.iter().flat_map(|v| v.to_le_bytes()).collect();
    let h = bemm_formats::checksum::xxh64(&key);
    let stds = (0..CHANNELS)
        .filter(|&c| BAND_RESOLUTION[c] != bemm_formats::bands::Resolution::S1)
        .map(|c| BAND_STD[c] as f32);
    let mut out = look.s2;
    for (b, std) in stds.enumerate() {
        let code = ((h >> (3 * b)) & 7) as f32; // 0..7
        let step = (code - 3.5) / 3.5 * 1.2; // -1.2 ..= 1.2
        out[b] = (out[b] + step * std).max(60.0);
    }
    out
}
