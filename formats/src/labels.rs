//! The label nomenclatures: 43 CLC Level-3 classes and the 19-class nomenclature
//! of BigEarthNet, in their official orders, and the mapping between them.
//!
//! This module is the single place that defines class lists. Bitmasks in the
//! archive use bit `i` for the class at index `i` of these lists.

/// Number of classes of the 19-class nomenclature.
pub const NUM_CLASSES: usize = 19;
/// Number of CLC Level-3 labels of the original nomenclature.
pub const NUM_CLC: usize = 43;

/// The 19 classes in their official order (index 0..18).
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
];

/// The 43 CLC Level-3 labels in their original order (index 0..42).
pub const CLC_NAMES: [&str; NUM_CLC] = [
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Industrial or commercial units",
    "Road and rail networks and associated land",
    "Port areas",
    "Airports",
    "Mineral extraction sites",
    "Dump sites",
    "Construction sites",
    "Green urban areas",
    "Sport and leisure facilities",
    "Non-irrigated arable land",
    "Permanently irrigated land",
    "Rice fields",
    "Vineyards",
    "Fruit trees and berry plantations",
    "Olive groves",
    "Pastures",
    "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland",
    "Moors and heathland",
    "Sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Bare rock",
    "Sparsely vegetated areas",
    "Burnt areas",
    "Inland marshes",
    "Peatbogs",
    "Salt marshes",
    "Salines",
    "Intertidal flats",
    "Water courses",
    "Water bodies",
    "Coastal lagoons",
    "Estuaries",
    "Sea and ocean",
];

/// For each CLC label (index 0..42), its 19-class index, or `None` where the label is dropped.
pub const CLC_TO_CLASS: [Option<u8>; NUM_CLC] = [
    Some(0),
    Some(0),
    Some(1),
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    Some(2),
    Some(2),
    Some(2),
    Some(3),
    Some(3),
    Some(3),
    Some(4),
    Some(3),
    Some(5),
    Some(6),
    Some(7),
    Some(8),
    Some(9),
    Some(10),
    Some(11),
    Some(12),
    Some(12),
    Some(13),
    Some(14),
    None,
    Some(11),
    None,
    Some(15),
    Some(15),
    Some(16),
    Some(16),
    None,
    Some(17),
    Some(17),
    Some(18),
    Some(18),
    Some(18),
];

/// Index of a 19-class name (exact match).
pub fn class_index(name: &str) -> Option<usize> {
    CLASS_NAMES.iter().position(|c| *c == name)
}

/// Index of a CLC Level-3 name (exact match).
pub fn clc_index(name: &str) -> Option<usize> {
    CLC_NAMES.iter().position(|c| *c == name)
}

/// Map a 43-class bitmask to the 19-class bitmask (dropped labels vanish).
pub fn clc_mask_to_classes(clc_mask: u64) -> u32 {
    let mut out = 0u32;
    for (i, m) in CLC_TO_CLASS.iter().enumerate() {
        if clc_mask & (1u64 << i) != 0 {
            if let Some(c) = m {
                out |= 1 << c;
            }
        }
    }
    out
}

/// Iterate over the set bit indices of a class bitmask, lowest first.
pub fn mask_indices(mask: u64) -> impl Iterator<Item = usize> {
    (0..64).filter(move |i| mask & (1u64 << i) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn every_class_is_reachable_from_clc() {
        let all = clc_mask_to_classes((1u64 << NUM_CLC) - 1);
        assert_eq!(all, (1u32 << NUM_CLASSES) - 1);
    }
    #[test]
    fn mapping_examples_from_reference() {
        let m = |name: &str| CLC_TO_CLASS[clc_index(name).unwrap()];
        assert_eq!(m("Rice fields"), Some(2));
        assert_eq!(m("Annual crops associated with permanent crops"), Some(3));
        assert_eq!(m("Sparsely vegetated areas"), Some(11));
        assert_eq!(m("Intertidal flats"), None);
        assert_eq!(m("Estuaries"), Some(18));
        assert_eq!(class_index("Marine waters"), Some(18));
    }
}
