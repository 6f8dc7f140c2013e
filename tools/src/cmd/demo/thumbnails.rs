//! The example query as a picture: true-colour thumbnails (B04, B03, B02) of
//! the query and its results side by side, written as a PNG.

use crate::cmd::search::SearchOutput;
use anyhow::Context;
use bemm_formats::archive::PatchArchive;
use bemm_formats::bands::{band_index, BAND_MEAN, BAND_STD, PIXELS, SIZE};
use std::path::Path;

/// Gap between thumbnails, pixels.
const GAP: usize = 8;
/// Reflectance (x 10000) shown as full brightness; typical land is 0..2500.
const WHITE: f32 = 2500.0;

/// Write `out`: the query then each hit, 120x120 each, on a dark background.
/// The query gets a white frame; a hit sharing no label with it a red one.
pub fn contact_sheet(archive: &Path, q: &SearchOutput, out: &Path) -> anyhow::Result<()> {
    let arch =
        PatchArchive::open(archive).with_context(|| format!("{}: cannot open the archive", archive.display()))?;
    let mut tiles: Vec<(usize, [u8; 3])> = Vec::new();
    let qi = arch.find(&q.query).with_context(|| format!("{}: no patch named {}", archive.display(), q.query))?;
    tiles.push((qi, [255, 255, 255]));
    for h in &q.hits {
        if let Some(i) = arch.find(&h.name) {
            let frame = if h.labels & q.query_labels != 0 { [40, 160, 60] } else { [200, 40, 40] };
            tiles.push((i, frame));
        }
    }
    let w = tiles.len() * (SIZE + GAP) + GAP;
    let h = SIZE + 2 * GAP;
    let mut img = vec![24u8; w * h * 3];
    let rgb = ["B04", "B03", "B02"].map(|b| band_index(b).unwrap_or(0));
    for (t, (idx, frame)) in tiles.iter().enumerate() {
        let x0 = GAP + t * (SIZE + GAP);
        let patch = arch.patch(*idx).context("patch out of range")?;
        for y in 0..SIZE + 4 {
            for x in 0..SIZE + 4 {
                let (px, py) = (x0 + x - 2, GAP + y - 2);
                let inside = (2..SIZE + 2).contains(&x) && (2..SIZE + 2).contains(&y);
                let o = (py * w + px) * 3;
                if !inside {
                    img[o..o + 3].copy_from_slice(frame);
                    continue;
                }
                let p = (y - 2) * SIZE + (x - 2);
                for (k, &c) in rgb.iter().enumerate() {
                    let v = patch[c * PIXELS + p].to_f32() as f64 * BAND_STD[c] + BAND_MEAN[c];
                    img[o + k] = ((v as f32 / WHITE).clamp(0.0, 1.0).powf(1.0 / 1.6) * 255.0) as u8;
                }
            }
        }
    }
    let tmp = bemm_formats::fsutil::temp_path(out);
    {
        let f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().context("png header")?;
        wr.write_image_data(&img).context("png data")?;
    }
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
