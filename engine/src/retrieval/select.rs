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
//! Pinning, checked like the inference kernels' (typed errors, never a
//! silent fallback):
//! - `BEMM_KERNEL` (shared with inference, [`crate::kernels::by_name`]): an
//!   instruction-set name (`scalar`, `avx2`, `avx512`, `avx512bf16`) or an
//!   inference kernel's name (`avx512-12x32`) restricts the timed choice to
//!   that set's search kernels (AVX512-BF16's are AVX-512F's);
//! - `BEMM_SEARCH_KERNEL` (search only, wins over `BEMM_KERNEL`): a search
//!   kernel's name ([`Kernel::name`], e.g. `avx512-rcp`) uses exactly that
//!   kernel; `scalar`, `avx2`, `avx512` or `neon` restricts to that set.

use super::bound::BoundKernel;
use super::distance::{Kernel, Metric};
use crate::cpu::Isa;
use crate::error::EngineError;
use half::f16;
use std::sync::Mutex;
use std::time::Instant;

/// The engine-wide kernel pin (instruction set or inference kernel name).
pub const ENV: &str = "BEMM_KERNEL";
/// The search-only pin (search kernel or instruction set name).
pub const SEARCH_ENV: &str = "BEMM_SEARCH_KERNEL";
/// Rows each candidate is timed on.
pub const SAMPLE_ROWS: usize = 4096;
/// Timed passes per candidate (the best one counts).
pub const RUNS: usize = 5;
/// Below this many rows nothing is timed: the preferred candidate is used.
pub const MIN_ROWS_TO_TIME: usize = 256;

/// Why no kernel could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelChoiceError {
    /// A pin names nothing known.
    #[error("{var}={value}: unknown kernel; expected one of {known}")]
    Unknown {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// The names it accepts.
        known: String,
    },
    /// A pin names a kernel or instruction set this CPU lacks.
    #[error("{var}={value}: this CPU (or build target) cannot run {what}")]
    Unavailable {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is missing.
        what: String,
    },
}

/// How [`choose`] picked its kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Pinned, one kernel left: used as given.
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

/// The search instruction sets, as [`Kernel::isa_name`] spells them.
const SEARCH_ISAS: [&str; 4] = ["scalar", "avx2", "avx512", "neon"];

/// The available search kernels of instruction set `isa` (a
/// [`Kernel::isa_name`]), or why there is none.
fn of_isa(isa: &str, var: &'static str, value: &str) -> Result<Vec<Kernel>, KernelChoiceError> {
    let here: Vec<Kernel> = Kernel::available_kernels().filter(|k| k.isa_name() == isa).collect();
    if here.is_empty() {
        return Err(KernelChoiceError::Unavailable {
            var,
            value: value.to_string(),
            what: std::format!("the {isa} search kernels"),
        });
    }
    Ok(here)
}

/// The kernels the pins allow, preferred first: `search` is
/// `BEMM_SEARCH_KERNEL`'s value, `engine` `BEMM_KERNEL`'s (unset or empty:
/// no pin). With neither, every available kernel.
pub fn candidates(search: Option<&str>, engine: Option<&str>) -> Result<Vec<Kernel>, KernelChoiceError> {
    if let Some(value) = search.map(str::trim).filter(|v| !v.is_empty()) {
        if let Some(k) = Kernel::by_name(value) {
            if !k.available() {
                let what = k.name().to_string();
                return Err(KernelChoiceError::Unavailable { var: SEARCH_ENV, value: value.to_string(), what });
            }
            return Ok(std::vec![k]);
        }
        if SEARCH_ISAS.contains(&value) {
            return of_isa(value, SEARCH_ENV, value);
        }
        let known = Kernel::ALL.iter().map(|k| k.name()).chain(SEARCH_ISAS).collect::<Vec<_>>().join(", ");
        return Err(KernelChoiceError::Unknown { var: SEARCH_ENV, value: value.to_string(), known });
    }
    let Some(value) = engine.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Kernel::available_kernels().collect());
    };
    // An int8-only level or kernel name pins its float neighbour's search kernels too.
    let int8 = crate::kernels::int8::by_name_on(value, crate::cpu::Cpu::detect()).map(|k| k.isa);
    let pinned = match Isa::parse(value) {
        Some(isa) if isa.available() => Ok(isa),
        _ => crate::kernels::by_name(value).map(|k| k.isa).or(int8),
    };
    match pinned {
        Ok(isa) => of_isa(search_level(isa).name(), ENV, value),
        // An instruction set of another architecture (no kernel of it is built here).
        Err(EngineError::UnknownKernel { .. }) if Isa::parse(value).is_some() => Err(KernelChoiceError::Unavailable {
            var: ENV,
            value: value.to_string(),
            what: std::format!("the {value} kernels (not built for this target)"),
        }),
        Err(EngineError::UnknownKernel { known, .. }) => {
            Err(KernelChoiceError::Unknown { var: ENV, value: value.to_string(), known: known.to_string() })
        }
        Err(e) => Err(KernelChoiceError::Unavailable { var: ENV, value: value.to_string(), what: e.to_string() }),
    }
}

/// The instruction set whose search kernels serve an inference kernel's:
/// AVX512-BF16 and Armv8.2 FP16 add nothing a distance uses, so their search
/// kernels are AVX-512F's and NEON's; the int8 levels' are those of the
/// float level they extend.
fn search_level(isa: Isa) -> Isa {
    match isa {
        Isa::Avx512Bf16 | Isa::Avx512Vnni => Isa::Avx512,
        Isa::AvxVnni => Isa::Avx2,
        Isa::NeonFp16 | Isa::NeonDot | Isa::NeonI8mm => Isa::Neon,
        other => other,
    }
}

/// The fastest of `candidates` computing `metric` distances from row 0 to
/// rows `0..SAMPLE_ROWS` of `rows` (rows of `stride` f16 values, row-major;
/// best of [`RUNS`] passes each); the first candidate when there is only
/// one or too few rows to time.
pub fn fastest(candidates: &[Kernel], metric: Metric, rows: &[f16], stride: usize) -> (Kernel, Selection) {
    let first = candidates.first().copied().unwrap_or(Kernel::Scalar);
    let n = rows.len().checked_div(stride).unwrap_or(0).min(SAMPLE_ROWS);
    let Some(row0) = rows.get(..stride).filter(|_| n > 0) else { return (first, Selection::Preferred) };
    if candidates.len() < 2 || n < MIN_ROWS_TO_TIME {
        return (first, Selection::Preferred);
    }
    let query: Vec<f32> = row0.iter().map(|v| v.to_f32()).collect();
    let rows = &rows[..n * stride];
    let mut out = std::vec![0f32; n];
    let mut best = (f64::INFINITY, first);
    for &k in candidates {
        k.distances(metric, &query, rows, stride, &mut out);
        let t = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                k.distances(metric, &query, rows, stride, &mut out);
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

/// The chi-square bound kernel for searches whose distance kernel is
/// `kernel`: with a pin (`BEMM_SEARCH_KERNEL` or `BEMM_KERNEL` set), the
/// bound of the pinned kernel's instruction set
/// ([`BoundKernel::for_kernel`]; none for the scalar kernel); otherwise the
/// widest this CPU runs ([`BoundKernel::detect`]), whatever the timing
/// picked for the exact checks: the bound has no division, which is what
/// makes a wide distance kernel lose on some cores.
pub fn bound_for(kernel: Kernel) -> Option<BoundKernel> {
    if pinned() {
        BoundKernel::for_kernel(kernel)
    } else {
        BoundKernel::detect()
    }
}

/// Whether `BEMM_SEARCH_KERNEL` or `BEMM_KERNEL` pins the kernel (set and not blank).
fn pinned() -> bool {
    [SEARCH_ENV, ENV].iter().any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// Timed choices so far: (metric, pins) -> kernel.
static CHOSEN: Mutex<Vec<(Metric, String, Kernel)>> = Mutex::new(Vec::new());

/// The kernel for `metric` searches over `rows` (of `stride` f16 values):
/// pinned by `BEMM_SEARCH_KERNEL` / `BEMM_KERNEL`, or timed on `rows` at the first call
/// for this metric and these pins, then reused.
pub fn choose(metric: Metric, rows: &[f16], stride: usize) -> Result<(Kernel, Selection), KernelChoiceError> {
    let search = std::env::var(SEARCH_ENV).unwrap_or_default();
    let engine = std::env::var(ENV).unwrap_or_default();
    let cands = candidates(Some(&search), Some(&engine))?;
    let pinned = !search.trim().is_empty() || !engine.trim().is_empty();
    if cands.len() == 1 {
        return Ok((cands[0], if pinned { Selection::Pinned } else { Selection::Preferred }));
    }
    let key = std::format!("{search}\u{0}{engine}");
    // A poisoned lock only means another thread panicked mid-update of a cache.
    let mut cache = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, _, k)) = cache.iter().find(|(m, p, _)| *m == metric && *p == key) {
        return Ok((k, Selection::Measured));
    }
    let (k, how) = fastest(&cands, metric, rows, stride);
    if how == Selection::Measured {
        cache.push((metric, key, k));
    }
    Ok((k, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_pin_takes_kernel_and_instruction_set_names() {
        let all: Vec<Kernel> = Kernel::available_kernels().collect();
        assert_eq!(candidates(None, None).unwrap(), all);
        assert_eq!(candidates(Some("  "), Some("")).unwrap(), all);
        assert_eq!(candidates(Some("scalar"), None).unwrap(), std::vec![Kernel::Scalar]);
        for k in Kernel::ALL {
            match candidates(Some(k.name()), Some("scalar")) {
                Ok(c) => assert!(k.available() && c == std::vec![k]),
                Err(e) => {
                    assert!(!k.available());
                    assert!(matches!(e, KernelChoiceError::Unavailable { var: SEARCH_ENV, .. }), "{e}");
                    assert!(e.to_string().contains(k.name()), "{e}");
                }
            }
        }
        for isa in SEARCH_ISAS {
            match candidates(Some(isa), None) {
                Ok(c) => assert!(!c.is_empty() && c.iter().all(|k| k.isa_name() == isa && k.available())),
                Err(e) => assert!(Kernel::ALL.iter().all(|k| k.isa_name() != isa || !k.available()), "{e}"),
            }
        }
        #[cfg(target_arch = "x86_64")]
        assert!(matches!(candidates(Some("neon"), None), Err(KernelChoiceError::Unavailable { .. })));
        #[cfg(target_arch = "aarch64")]
        assert!(matches!(candidates(Some("avx512"), None), Err(KernelChoiceError::Unavailable { .. })));
        let e = candidates(Some("avx1024"), None).unwrap_err();
        assert!(matches!(e, KernelChoiceError::Unknown { .. }));
        assert!(e.to_string().contains("BEMM_SEARCH_KERNEL=avx1024") && e.to_string().contains("avx512-rcp"), "{e}");
    }

    #[test]
    fn engine_pin_restricts_to_the_instruction_set_of_its_name() {
        assert_eq!(candidates(None, Some("scalar")).unwrap(), std::vec![Kernel::Scalar]);
        assert_eq!(candidates(None, Some("scalar-4x8")).unwrap(), std::vec![Kernel::Scalar]);
        for &isa in Isa::ALL {
            let level = search_level(isa).name();
            match candidates(None, Some(isa.name())) {
                Ok(c) => {
                    assert!(isa.available(), "{}", isa.name());
                    assert!(!c.is_empty() && c.iter().all(|k| k.isa_name() == level && k.available()));
                }
                Err(e) => {
                    assert!(!isa.available() || Kernel::available_kernels().all(|k| k.isa_name() != level), "{e}");
                    assert!(matches!(e, KernelChoiceError::Unavailable { var: ENV, .. }), "{e}");
                }
            }
        }
        for mk in crate::kernels::REGISTRY {
            let got = candidates(None, Some(mk.name));
            assert_eq!(got.is_ok(), mk.isa.available(), "{}", mk.name);
        }
        let e = candidates(None, Some("avx512-rcp")).unwrap_err();
        assert!(matches!(e, KernelChoiceError::Unknown { var: ENV, .. }), "{e}");
        assert!(e.to_string().contains("BEMM_KERNEL=avx512-rcp") && e.to_string().contains("avx2"), "{e}");
    }

    #[test]
    fn the_bound_is_the_widest_unless_a_pin_names_an_instruction_set() {
        for k in Kernel::available_kernels() {
            let want = if pinned() { BoundKernel::for_kernel(k) } else { BoundKernel::detect() };
            assert_eq!(bound_for(k), want, "{}", k.name());
            if let Some(b) = bound_for(k) {
                assert!(b.available() && b != BoundKernel::Scalar, "{}", b.name());
            }
        }
    }

    #[test]
    fn timing_picks_an_available_candidate_and_small_data_is_not_timed() {
        let rows: Vec<f16> = (0..1000 * 32).map(|i| f16::from_f32((i % 13) as f32)).collect();
        let cands: Vec<Kernel> = Kernel::available_kernels().collect();
        for metric in Metric::ALL {
            let (k, how) = fastest(&cands, metric, &rows, 32);
            assert!(cands.contains(&k));
            assert_eq!(how, if cands.len() > 1 { Selection::Measured } else { Selection::Preferred });
        }
        assert_eq!(fastest(&cands, Metric::ChiSquare, &rows[..100 * 32], 32), (cands[0], Selection::Preferred));
        assert_eq!(fastest(&[Kernel::Scalar], Metric::ChiSquare, &rows, 32), (Kernel::Scalar, Selection::Preferred));
        assert_eq!(fastest(&cands, Metric::ChiSquare, &rows, 0), (cands[0], Selection::Preferred));
    }
}
