//! One synthetic pair: labels, a region map, and the rasters at native
//! resolution (S2 uint16 reflectance, S1 float32 dB).

use super::classes::{s2_signature, ClassLook, Texture, CLOUD_S2, DROPPED_LOOK, LABEL_COUNT_WEIGHTS, LOOKS, SNOW_S2};
use super::rng::Rng;
use bemm_formats::bands::{Resolution, BAND_NAMES, BAND_RESOLUTION, CHANNELS, PIXELS, SIZE};
use bemm_formats::labels::{CLC_TO_CLASS, NUM_CLASSES, NUM_CLC};

/// What a pair is covered by, beyond its land cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// Clear view.
    Clear,
    /// Fully covered by seasonal snow (listed, excluded by default).
    Snow,
    /// Covered by cloud or cloud shadow (listed, excluded by default).
    Cloud,
}

/// A generated pair.
pub struct Scene {
    /// CLC label indices (0..43), as written to the metadata JSON.
    pub clc: Vec<usize>,
    /// Snow / cloud.
    pub cover: Cover,
    /// Bands by name, native size, row-major: S2 as uint16.
    pub s2: Vec<(&'static str, usize, Vec<u16>)>,
    /// VV and VH, 120x120, dB.
    pub s1: [Vec<f32>; 2],
}

/// CLC labels mapping to each class.
fn clc_of(class: usize) -> Vec<usize> {
    (0..NUM_CLC).filter(|&i| CLC_TO_CLASS[i] == Some(class as u8)).collect()
}

fn dropped_clc() -> Vec<usize> {
    (0..NUM_CLC).filter(|&i| CLC_TO_CLASS[i].is_none()).collect()
}

/// Draw the labels of a pair: 1 to 12 distinct classes with skewed
/// frequencies, each as one of its CLC names; sometimes an extra dropped
/// label, rarely only dropped labels (a pair with no 19-class target).
fn draw_labels(rng: &mut Rng) -> (Vec<usize>, Vec<ClassLook>) {
    let dropped = dropped_clc();
    if rng.unit() < 0.005 {
        let c = dropped[rng.below(dropped.len())];
        return (vec![c], vec![DROPPED_LOOK]);
    }
    let k = rng.weighted(&LABEL_COUNT_WEIGHTS) + 1;
    let mut weights: Vec<f32> = LOOKS.iter().map(|l| l.weight).collect();
    let mut clc = Vec::with_capacity(k + 1);
    let mut looks = Vec::with_capacity(k + 1);
    for _ in 0..k.min(NUM_CLASSES) {
        let c = rng.weighted(&weights);
        weights[c] = 0.0;
        let options = clc_of(c);
        clc.push(options[rng.below(options.len())]);
        looks.push(LOOKS[c]);
    }
    if rng.unit() < 0.08 {
        clc.push(dropped[rng.below(dropped.len())]);
        looks.push(DROPPED_LOOK);
    }
    (clc, looks)
}

/// The CLC labels pair `index` of a twin with seed `seed` gets (cheap: no pixels).
pub fn labels_of(seed: u64, index: u64) -> Vec<usize> {
    draw_labels(&mut Rng::new(seed, index)).0
}

/// Smooth random field in [-1, 1] (bilinear value noise on a `cells` grid).
fn value_noise(rng: &mut Rng, cells: usize) -> Vec<f32> {
    let g = cells + 1;
    let grid: Vec<f32> = (0..g * g).map(|_| rng.range(-1.0, 1.0)).collect();
    let mut out = vec![0.0; PIXELS];
    let step = SIZE as f32 / cells as f32;
    for y in 0..SIZE {
        let fy = y as f32 / step;
        let (gy, ty) = (fy.floor() as usize, fy.fract());
        for x in 0..SIZE {
            let fx = x as f32 / step;
            let (gx, tx) = (fx.floor() as usize, fx.fract());
            let a = grid[gy * g + gx] * (1.0 - tx) + grid[gy * g + gx + 1] * tx;
            let b = grid[(gy + 1) * g + gx] * (1.0 - tx) + grid[(gy + 1) * g + gx + 1] * tx;
            out[y * SIZE + x] = a * (1.0 - ty) + b * ty;
        }
    }
    out
}

/// Region map: pixel -> index into the label list (warped, weighted Voronoi
/// cells, one or two seeds per label, so each label covers a sizeable area).
fn regions(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut seeds = Vec::new();
    for l in 0..n {
        let k = if n <= 4 { 1 + rng.below(2) } else { 1 };
        for _ in 0..k {
            seeds.push((rng.range(4.0, 116.0), rng.range(4.0, 116.0), rng.range(0.8, 1.25), l as u8));
        }
    }
    let warp_x = value_noise(rng, 4);
    let warp_y = value_noise(rng, 4);
    let mut out = vec![0u8; PIXELS];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let i = y * SIZE + x;
            let px = x as f32 + 9.0 * warp_x[i];
            let py = y as f32 + 9.0 * warp_y[i];
            let mut best = (f32::MAX, 0u8);
            for &(sx, sy, w, l) in &seeds {
                let d = ((px - sx).powi(2) + (py - sy).powi(2)) * w;
                if d < best.0 {
                    best = (d, l);
                }
            }
            out[i] = best.1;
        }
    }
    out
}

/// Texture value in about [-1, 1] at (x, y); `cell_rand` gives per-block randomness.
fn texture(t: Texture, x: usize, y: usize, salt: u64, rng: &mut Rng) -> f32 {
    match t {
        Texture::Smooth => 0.0,
        Texture::Stripes(period, angle) => {
            let p = x as f32 * angle.cos() + y as f32 * angle.sin();
            (core::f32::consts::TAU * p / period).sin()
        }
        Texture::Blocks(side) => {
            let bx = (x as f32 / side) as u64;
            let by = (y as f32 / side) as u64;
            let h = bemm_formats::checksum::xxh64(&[bx.to_le_bytes(), by.to_le_bytes(), salt.to_le_bytes()].concat());
            (h % 2001) as f32 / 1000.0 - 1.0
        }
        Texture::Speckle => rng.range(-1.0, 1.0),
    }
}

/// Generate pair `index` of a twin with seed `seed`.
pub fn generate(seed: u64, index: u64) -> Scene {
    let mut rng = Rng::new(seed, index);
    let (clc, looks) = draw_labels(&mut rng);
    let cover = match rng.unit() {
        u if u < 0.03 => Cover::Snow,
        u if u < 0.045 => Cover::Cloud,
        _ => Cover::Clear,
    };
    let map = regions(&mut rng, looks.len());
    let sigs: Vec<[f32; 10]> = looks.iter().map(s2_signature).collect();
    let illum = rng.range(0.9, 1.1);
    let s1_offset = rng.normal() * 0.5;
    let salt = rng.next_u64();
    let cloud_mask = value_noise(&mut rng, 3);

    // S2 at 10 m for every used band, then 20 m bands averaged 2x2.
    let s2_idx: Vec<usize> = (0..CHANNELS).filter(|&c| BAND_RESOLUTION[c] != Resolution::S1).collect();
    let mut s2_full = vec![vec![0f32; PIXELS]; s2_idx.len()];
    let mut s1 = [vec![0f32; PIXELS], vec![0f32; PIXELS]];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let i = y * SIZE + x;
            let l = map[i] as usize;
            let look = &looks[l];
            let t2 = texture(look.s2_texture.0, x, y, salt ^ l as u64, &mut rng) * look.s2_texture.1;
            let t1 = texture(look.s1_texture.0, x, y, salt ^ (l as u64 + 99), &mut rng) * look.s1_texture.1;
            let cover_sig = match cover {
                Cover::Snow => Some((&SNOW_S2, 0.95f32)),
                Cover::Cloud if cloud_mask[i] > -0.6 => Some((&CLOUD_S2, 0.9f32)),
                _ => None,
            };
            for (b, band) in s2_full.iter_mut().enumerate() {
                let mut v = sigs[l][b] * illum * (1.0 + t2) * (1.0 + 0.02 * rng.normal());
                if let Some((sig, a)) = cover_sig {
                    v = v * (1.0 - a) + sig[b] * a;
                }
                band[i] = v;
            }
            for (p, band) in s1.iter_mut().enumerate() {
                band[i] = look.s1[p] + s1_offset + t1 + 0.8 * rng.normal();
            }
        }
    }
    let to_u16 = |v: f32| v.round().clamp(1.0, 20000.0) as u16;
    let mut s2 = Vec::new();
    for (b, &c) in s2_idx.iter().enumerate() {
        let side = BAND_RESOLUTION[c].side();
        s2.push((BAND_NAMES[c], side, downsample(&s2_full[b], SIZE / side).into_iter().map(to_u16).collect()));
    }
    // B01 (coastal aerosol) and B09 (water vapour), 60 m: unused by models but present on disk.
    let b02 = &s2_full[0];
    let b8a = &s2_full[s2_idx.iter().position(|&c| BAND_NAMES[c] == "B8A").unwrap_or(0)];
    s2.push(("B01", 20, downsample(b02, 6).into_iter().map(|v| to_u16(v * 0.9 + 100.0)).collect()));
    s2.push(("B09", 20, downsample(b8a, 6).into_iter().map(|v| to_u16(v * 0.3)).collect()));
    Scene { clc, cover, s2, s1 }
}

/// Average `f x f` blocks of a 120x120 band.
fn downsample(src: &[f32], f: usize) -> Vec<f32> {
    if f == 1 {
        return src.to_vec();
    }
    let side = SIZE / f;
    let mut out = vec![0f32; side * side];
    for y in 0..SIZE {
        for x in 0..SIZE {
            out[(y / f) * side + x / f] += src[y * SIZE + x];
        }
    }
    let n = (f * f) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    out
}
