//! Which distance kernel a search uses: the one `BEMM_KERNEL` pins, or the
//! fastest of the available ones timed on the data at first use.
//!
//! Timing: each candidate computes the distances from the database's first
//! row to its first [`SAMPLE_ROWS`] rows (1 MiB of 128-d f16 rows, warm in
//! cache, so the kernels' arithmetic is what differs), best of [`RUNS`]
//! passes after one warm-up. The winner is cached per (metric, pin) for the
//! life of the process: a few milliseconds once, dominated by the scalar
//! kernel's passes.
//!
//! Pinning (`BEMM_KERNEL`): an instruction-set name (`scalar`, `avx2`,
//! `avx512`, `avx512bf16` (its search kernels are AVX-512F's), `neon`)
//! restricts the timed choice to that set's kernels; a search kernel's name
//! ([`Kernel::name`], e.g. `avx512-rcp`) uses exactly that kernel; an
//! inference micro-kernel's name (`avx512-12x32`) pins its set. Unknown
//! names and kernels this CPU lacks are errors, never a silent fallback.

use super::distance::{Kernel, Metric};
use super::search::Database;
use std::sync::Mutex;
use std::time::Instant;

/// The environment variable that pins kernels.
pub const ENV: &str = "BEMM_KERNEL";
/// Rows each candidate is timed on.
pub const SAMPLE_ROWS: usize = 4096;
/// Timed passes per candidate (the best one counts).
pub const RUNS: usize = 5;
/// Below this many rows nothing is timed: the preferred candidate is used.
pub const MIN_ROWS_TO_TIME: usize = 256;

/// Why no kernel could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelChoiceError {
    /// `BEMM_KERNEL` names nothing known.
    #[error(
        "{ENV}={value}: unknown kernel; expected an instruction set (scalar, avx2, avx512, avx512bf16, neon) \
         or a search kernel ({known})"
    )]
    Unknown {
        /// The variable's value.
        value: String,
        /// The search kernels' names.
        known: String,
    },
    /// `BEMM_KERNEL` names a kernel or instruction set this CPU lacks.
    #[error("{ENV}={value}: this CPU (or build target) cannot run {what}")]
    Unavailable {
        /// The variable's value.
        value: String,
        /// What is missing.
        what: String,
    },
}

/// How [`choose`] picked its kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Pinned by name, one kernel left: used as given.
    Pinned,
    /// Timed among the candidates (all available, or one instruction set's).
    Measured,
    /// One candidate, or too few rows to time: the preferred candidate.
    Preferred,
}

impl Selection {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Selection::Pinned => "pinned",
            Selection::Measured => "measured",
            Selection::Preferred => "preferred",
        }
    }
}

/// The kernels a `BEMM_KERNEL` value allows, preferred first; `None` (unset
/// or empty) allows every available kernel. A search-kernel name gives one.
pub fn candidates(pin: Option<&str>) -> Result<Vec<Kernel>, KernelChoiceError> {
    let Some(value) = pin.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Kernel::available_kernels().collect());
    };
    let unavailable = |what: &str| KernelChoiceError::Unavailable { value: value.to_string(), what: what.to_string() };
    if let Some(k) = Kernel::by_name(value) {
        return if k.available() { Ok(std::vec![k]) } else { Err(unavailable(k.name())) };
    }
    // An inference micro-kernel's name pins its instruction set here too.
    let inference = crate::kernels::REGISTRY.iter().find(|k| k.name == value).map(|k| k.isa.name());
    let isa = match inference.unwrap_or(value) {
        "avx512bf16" | "avx512-bf16" => "avx512",
        v @ ("scalar" | "avx2" | "avx512" | "neon") => v,
        _ => {
            let known = Kernel::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
            return Err(KernelChoiceError::Unknown { value: value.to_string(), known });
        }
    };
    let of_isa: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.isa_name() == isa).collect();
    let here: Vec<Kernel> = of_isa.iter().copied().filter(|k| k.available()).collect();
    if here.is_empty() {
        return Err(unavailable(&std::format!("the {isa} search kernels")));
    }
    // avx512bf16 also needs the BF16 extension to be honoured as a pin.
    #[cfg(target_arch = "x86_64")]
    if isa == "avx512" && inference.unwrap_or(value).contains("bf16") && !std::is_x86_feature_detected!("avx512bf16") {
        return Err(unavailable("AVX512-BF16"));
    }
    Ok(here)
}

/// The fastest of `candidates` computing `metric` distances from row 0 to
/// rows `0..SAMPLE_ROWS` of `db` (best of [`RUNS`] passes each); the first
/// candidate when there is only one or `db` is too small to time.
pub fn fastest(candidates: &[Kernel], metric: Metric, db: &Database<'_>) -> (Kernel, Selection) {
    let first = candidates.first().copied().unwrap_or(Kernel::Scalar);
    let n = db.len().min(SAMPLE_ROWS);
    let Some(row0) = db.row(0) else { return (first, Selection::Preferred) };
    if candidates.len() < 2 || n < MIN_ROWS_TO_TIME {
        return (first, Selection::Preferred);
    }
    let query: Vec<f32> = row0.iter().map(|v| v.to_f32()).collect();
    let rows = &db.rows()[..n * db.stride()];
    let mut out = std::vec![0f32; n];
    let mut best = (f64::INFINITY, first);
    for &k in candidates {
        k.distances(metric, &query, rows, db.stride(), &mut out);
        let t = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                k.distances(metric, &query, rows, db.stride(), &mut out);
                std::hint::black_box(&out);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        if t < best.0 {
            best = (t, k);
        }
    }
    (best.1, Selection::Measured)
}

/// Timed choices so far: (metric, pin value) -> kernel.
static CHOSEN: Mutex<Vec<(Metric, String, Kernel)>> = Mutex::new(Vec::new());

/// The kernel for `metric` searches over `db`: pinned by `BEMM_KERNEL`, or
/// timed on `db` at the first call for this metric and pin, then reused.
pub fn choose(metric: Metric, db: &Database<'_>) -> Result<(Kernel, Selection), KernelChoiceError> {
    let pin = std::env::var(ENV).unwrap_or_default();
    let cands = candidates(Some(&pin))?;
    if cands.len() == 1 {
        let how = if pin.trim().is_empty() { Selection::Preferred } else { Selection::Pinned };
        return Ok((cands[0], how));
    }
    // A poisoned lock only means another thread panicked mid-update of a cache.
    let mut cache = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, _, k)) = cache.iter().find(|(m, p, _)| *m == metric && *p == pin) {
        return Ok((k, Selection::Measured));
    }
    let (k, how) = fastest(&cands, metric, db);
    if how == Selection::Measured {
        cache.push((metric, pin, k));
    }
    Ok((k, how))
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn pins_by_kernel_and_instruction_set_names() {
        assert_eq!(candidates(None).unwrap(), Kernel::available_kernels().collect::<Vec<_>>());
        assert_eq!(candidates(Some("  ")).unwrap(), candidates(None).unwrap());
        assert_eq!(candidates(Some("scalar")).unwrap(), std::vec![Kernel::Scalar]);
        for k in Kernel::ALL {
            match candidates(Some(k.name())) {
                Ok(c) => assert!(k.available() && c == std::vec![k]),
                Err(e) => {
                    assert!(!k.available());
                    assert!(matches!(e, KernelChoiceError::Unavailable { .. }), "{e}");
                    assert!(e.to_string().contains(k.name()), "{e}");
                }
            }
        }
        for isa in ["avx2", "avx512", "neon"] {
            match candidates(Some(isa)) {
                Ok(c) => assert!(!c.is_empty() && c.iter().all(|k| k.isa_name() == isa && k.available())),
                Err(e) => assert!(Kernel::ALL.iter().all(|k| k.isa_name() != isa || !k.available()), "{e}"),
            }
        }
        #[cfg(target_arch = "x86_64")]
        assert!(matches!(candidates(Some("neon")), Err(KernelChoiceError::Unavailable { .. })));
        #[cfg(target_arch = "aarch64")]
        assert!(matches!(candidates(Some("avx512")), Err(KernelChoiceError::Unavailable { .. })));
        let e = candidates(Some("avx1024")).unwrap_err();
        assert!(matches!(e, KernelChoiceError::Unknown { .. }));
        assert!(e.to_string().contains("BEMM_KERNEL=avx1024") && e.to_string().contains("avx512-rcp"), "{e}");
    }

    #[test]
    fn timing_picks_an_available_candidate_and_small_data_is_not_timed() {
        let rows: Vec<f16> = (0..1000 * 32).map(|i| f16::from_f32((i % 13) as f32)).collect();
        let db = Database::new(&rows, 32).unwrap();
        let cands: Vec<Kernel> = Kernel::available_kernels().collect();
        for metric in Metric::ALL {
            let (k, how) = fastest(&cands, metric, &db);
            assert!(cands.contains(&k));
            assert_eq!(how, if cands.len() > 1 { Selection::Measured } else { Selection::Preferred });
        }
        let small = Database::new(&rows[..100 * 32], 32).unwrap();
        assert_eq!(fastest(&cands, Metric::ChiSquare, &small), (cands[0], Selection::Preferred));
        assert_eq!(fastest(&[Kernel::Scalar], Metric::ChiSquare, &db), (Kernel::Scalar, Selection::Preferred));
    }
}
