//! Band and class orders of foreign weights, and the permutations that bring
//! them into ours (bands: `bemm_formats::bands::BAND_NAMES`; classes: the
//! official order of `bemm_formats::labels::CLASS_NAMES`).

use super::ImportError;
use bemm_formats::bands::{band_index, BAND_NAMES, S1_CHANNELS, S2_CHANNELS};
use bemm_formats::labels::{class_index, CLASS_NAMES};
use std::path::Path;

/// Which of our bands the imported model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandSet {
    /// All 12 bands (S1 + S2).
    All,
    /// Sentinel-1 only (`VV`, `VH`).
    S1,
    /// Sentinel-2 only (10 bands).
    S2,
}

impl BandSet {
    /// Parse `all`, `s1` or `s2`.
    pub fn parse(s: &str) -> Result<Self, ImportError> {
        match s.to_ascii_lowercase().as_str() {
            "all" | "s1s2" | "mm" => Ok(BandSet::All),
            "s1" => Ok(BandSet::S1),
            "s2" => Ok(BandSet::S2),
            _ => Err(ImportError::Option { option: "--bands", problem: format!("`{s}` is not one of all, s1, s2") }),
        }
    }

    /// Channel indices into our 12-band stack, in stack order.
    pub fn channels(self) -> Vec<usize> {
        match self {
            BandSet::All => (0..BAND_NAMES.len()).collect(),
            BandSet::S1 => S1_CHANNELS.to_vec(),
            BandSet::S2 => S2_CHANNELS.to_vec(),
        }
    }
}

/// Parse a band list like `B02,B03,B04` (also accepts `B8A`/`B08A`, `B2`
/// for `B02`, any case) into our canonical band names.
pub fn parse_band_list(s: &str) -> Result<Vec<String>, ImportError> {
    s.split(',').map(str::trim).filter(|b| !b.is_empty()).map(canonical_band).collect()
}

/// Our canonical name of a band written in any of the usual spellings.
pub fn canonical_band(b: &str) -> Result<String, ImportError> {
    let up = b.trim().to_ascii_uppercase();
    let fixed = match up.as_str() {
        "B08A" => "B8A".to_string(),
        s if s.len() == 2 && s.starts_with('B') => format!("B0{}", &s[1..]),
        s => s.to_string(),
    };
    match band_index(&fixed) {
        Some(i) => Ok(BAND_NAMES[i].to_string()),
        None => Err(ImportError::Option {
            option: "--band-order",
            problem: format!("unknown band `{b}` (expected one of {})", BAND_NAMES.join(", ")),
        }),
    }
}

/// The order of the classifier's rows in the source weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassOrder {
    /// The official BigEarthNet 19-class order (ours).
    Official,
    /// The 19 names sorted by byte value, as ConfigILM and the BIFOLD
    /// BigEarthNet v2.0 models order them.
    Alphabetical,
    /// An explicit list of class names, one per classifier row.
    Names(Vec<String>),
}

impl ClassOrder {
    /// Parse `official`, `alphabetical`, or a path to a file holding the
    /// names (a JSON list of strings, or one name per line).
    pub fn parse(s: &str) -> Result<Self, ImportError> {
        match s.to_ascii_lowercase().as_str() {
            "official" => return Ok(ClassOrder::Official),
            "alphabetical" | "sorted" => return Ok(ClassOrder::Alphabetical),
            _ => {}
        }
        let path = Path::new(s);
        let text =
            std::fs::read_to_string(path).map_err(|e| ImportError::Io { path: path.to_path_buf(), source: e })?;
        let names: Vec<String> = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text).map_err(|e| ImportError::Config {
                path: path.to_path_buf(),
                problem: format!("expected a JSON list of class names: {e}"),
            })?
        } else {
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
        };
        Ok(ClassOrder::Names(names))
    }

    /// The class name of each source row.
    pub fn names(&self) -> Vec<String> {
        match self {
            ClassOrder::Official => CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            ClassOrder::Alphabetical => {
                let mut v: Vec<String> = CLASS_NAMES.iter().map(|s| s.to_string()).collect();
                v.sort();
                v
            }
            ClassOrder::Names(v) => v.clone(),
        }
    }

    /// For each official class `i`, the source row that holds it. Every
    /// official class must appear exactly once; extra names are an error.
    pub fn rows_for_official(&self) -> Result<Vec<usize>, ImportError> {
        let names = self.names();
        let mut rows = vec![usize::MAX; CLASS_NAMES.len()];
        for (row, name) in names.iter().enumerate() {
            let Some(i) = class_index(name.trim()) else {
                return Err(ImportError::ClassOrder {
                    problem: format!("row {row}: `{name}` is not one of the 19 BigEarthNet classes"),
                });
            };
            if rows[i] != usize::MAX {
                return Err(ImportError::ClassOrder {
                    problem: format!("class `{name}` appears twice (rows {} and {row})", rows[i]),
                });
            }
            rows[i] = row;
        }
        if let Some(i) = rows.iter().position(|&r| r == usize::MAX) {
            return Err(ImportError::ClassOrder {
                problem: format!("class `{}` is missing from the source's class order", CLASS_NAMES[i]),
            });
        }
        Ok(rows)
    }

    /// Short description for the model file's provenance.
    pub fn describe(&self) -> String {
        match self {
            ClassOrder::Official => "official".into(),
            ClassOrder::Alphabetical => "alphabetical".into(),
            ClassOrder::Names(_) => "explicit list".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabetical_order_maps_every_official_class_to_its_sorted_row() {
        let rows = ClassOrder::Alphabetical.rows_for_official().expect("rows");
        let sorted = ClassOrder::Alphabetical.names();
        assert_eq!(sorted[0], "Agro-forestry areas");
        assert_eq!(sorted[18], "Urban fabric");
        for (i, &r) in rows.iter().enumerate() {
            assert_eq!(sorted[r], CLASS_NAMES[i]);
        }
        assert_eq!(ClassOrder::Official.rows_for_official().expect("rows"), (0..19).collect::<Vec<_>>());
    }

    #[test]
    fn class_lists_with_unknown_duplicate_or_missing_names_are_rejected() {
        let mut names = ClassOrder::Official.names();
        names[3] = "Vineyards".into();
        let e = ClassOrder::Names(names.clone()).rows_for_official().unwrap_err().to_string();
        assert!(e.contains("Vineyards"), "{e}");
        names[3] = names[4].clone();
        let e = ClassOrder::Names(names).rows_for_official().unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e =
            ClassOrder::Names(ClassOrder::Official.names()[..18].to_vec()).rows_for_official().unwrap_err().to_string();
        assert!(e.contains("Marine waters"), "{e}");
    }

    #[test]
    fn band_spellings_are_canonicalised() {
        assert_eq!(parse_band_list("b2, B03,B08A,vv").expect("parse"), ["B02", "B03", "B8A", "VV"]);
        assert!(parse_band_list("B10").is_err());
        assert_eq!(BandSet::parse("S2").expect("s2").channels().len(), 10);
    }
}
