//! The stem's input channels mapped from the source's bands to the ones
//! the imported model reads: permuted, narrowed, or widened from RGB.

use super::ImportError;

/// Map the stem's input channels `[out, src_c, kk]` from `src` bands to
/// `target` bands. A target band present in the source takes its channel;
/// when `widen` (an RGB source), a missing band takes the mean of the
/// source channels and every channel is scaled by `src_c / target_c` (timm's
/// `adapt_input_conv` rule: the response to an input equal in every band
/// keeps its size). Returns
/// the weights and whether any band was synthesised.
pub fn map_stem_channels(
    w: &[f32],
    out: usize,
    kk: usize,
    src: &[String],
    target: &[&str],
    widen: bool,
) -> Result<(Vec<f32>, bool), ImportError> {
    let src_c = src.len();
    let mut pick = Vec::with_capacity(target.len());
    let mut widened = false;
    for t in target {
        match src.iter().position(|s| s == t) {
            Some(i) => pick.push(Some(i)),
            None if widen => {
                widened = true;
                pick.push(None);
            }
            None => {
                return Err(ImportError::Bands {
                    problem: format!("band {t} is not among the source's bands [{}]", src.join(", ")),
                })
            }
        }
    }
    let scale = if widen { src_c as f32 / target.len() as f32 } else { 1.0 };
    let mut r = Vec::with_capacity(out * target.len() * kk);
    for o in 0..out {
        let block = &w[o * src_c * kk..(o + 1) * src_c * kk];
        for p in &pick {
            match p {
                Some(i) => r.extend(block[i * kk..(i + 1) * kk].iter().map(|v| v * scale)),
                None => r.extend((0..kk).map(|j| {
                    let m = (0..src_c).map(|i| block[i * kk + j]).sum::<f32>() / src_c as f32;
                    m * scale
                })),
            }
        }
    }
    Ok((r, widened))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stem_channels_are_permuted_narrowed_and_widened_by_name() {
        let src: Vec<String> = ["B04", "B03", "B02"].iter().map(|s| s.to_string()).collect();
        // 1 output, 1x1 kernel: weights R=3, G=6, B=9.
        let w = [3.0f32, 6.0, 9.0];
        let (r, widened) = map_stem_channels(&w, 1, 1, &src, &["B02", "B03"], true).expect("narrow");
        assert!(!widened);
        assert_eq!(r, [9.0 * 1.5, 6.0 * 1.5]);
        let (r, widened) = map_stem_channels(&w, 1, 1, &src, &["VV", "B02", "B03", "B04"], true).expect("widen");
        assert!(widened);
        assert_eq!(r, [6.0 * 0.75, 9.0 * 0.75, 6.0 * 0.75, 3.0 * 0.75]);
        let e = map_stem_channels(&w, 1, 1, &src, &["VV"], false).unwrap_err().to_string();
        assert!(e.contains("VV") && e.contains("B04, B03, B02"), "{e}");
    }
}
