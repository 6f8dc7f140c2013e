//! Per-pair problems: why a pair was skipped, with the folder, file and cause.

use std::fmt;
use std::path::PathBuf;

/// Why a pair did not make it into the archive. The `Error*` kinds are input
/// errors (fatal under `--strict`); the rest are the documented drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// A band file or metadata file does not exist.
    MissingFile,
    /// A band file that cannot be read or decoded.
    UnreadableBand,
    /// A band of the wrong size.
    WrongSize,
    /// A band of the wrong sample type.
    WrongSampleType,
    /// Metadata that is not JSON, or misses a needed field (labels, S2 partner).
    BadMetadata,
    /// A label name that is not one of the 43 CLC (v1) or 19 (v2) names.
    UnknownLabel,
    /// An S1 folder whose S2 partner folder does not exist.
    MissingPartner,
    /// An S2 patch whose S1 partner folder does not exist (v1: no S1 folder
    /// names it; v2: the metadata's S1 folder is missing).
    MissingS1Partner,
    /// An S1 folder claiming an S2 patch another S1 folder already claims
    /// (the pair is stored once, with the first S1 folder by name).
    DuplicatePair,
    /// No label of the 19-class nomenclature (dropped as in the paper).
    NoClassLabel,
    /// Listed as covered by seasonal snow (left out unless `--keep-excluded`).
    ExcludedSnow,
    /// Listed as covered by cloud or shadow (left out unless `--keep-excluded`).
    ExcludedCloud,
}

impl SkipReason {
    /// All reasons, in summary order.
    pub const ALL: [SkipReason; 12] = [
        SkipReason::MissingFile,
        SkipReason::UnreadableBand,
        SkipReason::WrongSize,
        SkipReason::WrongSampleType,
        SkipReason::BadMetadata,
        SkipReason::UnknownLabel,
        SkipReason::MissingPartner,
        SkipReason::MissingS1Partner,
        SkipReason::DuplicatePair,
        SkipReason::NoClassLabel,
        SkipReason::ExcludedSnow,
        SkipReason::ExcludedCloud,
    ];

    /// Stable snake_case key used in JSON output and the manifest.
    pub fn key(self) -> &'static str {
        match self {
            SkipReason::MissingFile => "missing_file",
            SkipReason::UnreadableBand => "unreadable_band",
            SkipReason::WrongSize => "wrong_size",
            SkipReason::WrongSampleType => "wrong_sample_type",
            SkipReason::BadMetadata => "bad_metadata",
            SkipReason::UnknownLabel => "unknown_label",
            SkipReason::MissingPartner => "missing_s2_partner",
            SkipReason::MissingS1Partner => "missing_s1_partner",
            SkipReason::DuplicatePair => "duplicate_s2_claim",
            SkipReason::NoClassLabel => "no_19_class_label",
            SkipReason::ExcludedSnow => "excluded_seasonal_snow",
            SkipReason::ExcludedCloud => "excluded_cloud_or_shadow",
        }
    }

    /// Whether this is an input error (as opposed to a documented drop).
    pub fn is_error(self) -> bool {
        !matches!(self, SkipReason::NoClassLabel | SkipReason::ExcludedSnow | SkipReason::ExcludedCloud)
    }
}

/// One skipped pair: reason, where, and what exactly.
#[derive(Debug, Clone)]
pub struct PairProblem {
    /// Category for counting.
    pub reason: SkipReason,
    /// The patch folder concerned.
    pub folder: PathBuf,
    /// The file inside it, when one is concerned.
    pub file: Option<String>,
    /// Human-readable cause.
    pub detail: String,
}

impl PairProblem {
    /// A problem with `file` inside `folder`.
    pub fn new(
        reason: SkipReason,
        folder: impl Into<PathBuf>,
        file: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        PairProblem { reason, folder: folder.into(), file, detail: detail.into() }
    }
}

impl fmt::Display for PairProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: file {}: {}", self.folder.display(), file, self.detail),
            None => write!(f, "{}: {}", self.folder.display(), self.detail),
        }
    }
}

impl std::error::Error for PairProblem {}
