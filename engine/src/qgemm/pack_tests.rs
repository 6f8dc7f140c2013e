//! Tests of the int8 packing: weight panels (every [`QPackA`] layout)
//! against the documented layout, the short im2col copies, the four-row
//! interleave.

use super::{copy_short, fill_short, in_place, interleave, pack_a};
use crate::kernels::int8::QPackA;
use crate::lcg::Lcg;

#[test]
fn weight_panels_of_every_layout_hold_the_same_values_in_the_documented_layout() {
    let mut rng = Lcg::new(5);
    // Depths below, at and past the 16-byte runs, not multiples of 4;
    // row counts that leave a partial strip.
    for &(m, k, ic, mc, pc, kc, mr) in &[
        (7usize, 37usize, 1usize, 6usize, 3usize, 33usize, 4usize),
        (13, 64, 0, 13, 0, 64, 6),
        (12, 70, 2, 9, 5, 65, 12),
        (3, 5, 0, 3, 1, 3, 8),
        (14, 24, 1, 13, 4, 16, 6),
    ] {
        let w: Vec<i8> = (0..m * k).map(|i| if i % 9 == 0 { -128 } else { rng.next_u32() as u8 as i8 }).collect();
        let k4 = kc.div_ceil(4);
        let strips = mc.div_ceil(mr);
        let mut narrow = vec![0xAAu8; strips * k4 * mr * 4];
        let mut wide = vec![0xAAu8; strips * k4 * mr * 8];
        let mut rows = vec![0xAAu8; strips * k4 * mr * 4];
        pack_a(&w, k, ic, mc, pc, kc, mr, QPackA::Groups, &mut narrow);
        pack_a(&w, k, ic, mc, pc, kc, mr, QPackA::WideGroups, &mut wide);
        pack_a(&w, k, ic, mc, pc, kc, mr, QPackA::Rows, &mut rows);
        for s in 0..strips {
            for g in 0..k4 {
                for r in 0..mr {
                    for j in 0..4 {
                        // The documented layout: row `s * mr + r` of the block, K step `4g + j`, or 0 past it.
                        let (row, kk) = (s * mr + r, 4 * g + j);
                        let v = if row < mc && kk < kc { w[(ic + row) * k + pc + kk] } else { 0 };
                        let at = ((s * k4 + g) * mr + r) * 4 + j;
                        assert_eq!(narrow[at] as i8, v, "narrow m {m} k {k} strip {s} group {g} row {r} step {j}");
                        let got = i16::from_le_bytes([wide[2 * at], wide[2 * at + 1]]);
                        assert_eq!(got, i16::from(v), "wide m {m} k {k} strip {s} group {g} row {r} step {j}");
                        // Rows: `[mr][4 * k4]` per strip, untouched where read in place.
                        let at = (s * mr + r) * 4 * k4 + kk;
                        let want = if in_place(QPackA::Rows, mc, kc, mr, s) { 0xAA } else { v as u8 };
                        assert_eq!(rows[at], want, "rows m {m} k {k} strip {s} group {g} row {r} step {j}");
                    }
                }
            }
        }
    }
}

#[test]
fn short_copies_and_fills_write_exactly_their_slice() {
    let src: Vec<u8> = (0..48).map(|i| 100 + i as u8).collect();
    for n in 0..=40 {
        for at in [0, 3] {
            let mut dst = [7u8; 48];
            copy_short(&mut dst[at..at + n], &src[5..5 + n]);
            assert_eq!(&dst[at..at + n], &src[5..5 + n], "copy of {n} at {at}");
            assert!(dst[..at].iter().chain(&dst[at + n..]).all(|&b| b == 7), "copy of {n} at {at} wrote outside");
            let mut dst = [7u8; 48];
            fill_short(&mut dst[at..at + n], 9);
            assert!(dst[at..at + n].iter().all(|&b| b == 9), "fill of {n} at {at}");
            assert!(dst[..at].iter().chain(&dst[at + n..]).all(|&b| b == 7), "fill of {n} at {at} wrote outside");
        }
    }
}

#[test]
fn interleaving_four_rows_gives_each_column_its_four_bytes_for_every_strip_width() {
    let rows: Vec<Vec<u8>> = (0..4u8).map(|r| (0..40u8).map(|j| r * 64 + j).collect()).collect();
    for nr in [1, 4, 8, 12, 16, 32] {
        let mut dst = vec![0xAAu8; 4 * nr + 8];
        interleave([&rows[0], &rows[1], &rows[2], &rows[3]], nr, &mut dst);
        for j in 0..nr {
            let want: Vec<u8> = (0..4).map(|r| rows[r][j]).collect();
            assert_eq!(&dst[4 * j..4 * j + 4], &want[..], "nr {nr} column {j}");
        }
        assert!(dst[4 * nr..].iter().all(|&b| b == 0xAA), "nr {nr} wrote past its strip");
    }
}
