//! Opening a model for `predict` / `features` with its kernel chosen by
//! measurement, a cached measurement, or the user's pin (`--kernel` or
//! `BEMM_KERNEL`); see `bemm_engine::tune`.

use crate::cmd::run_args::RunArgs;
use anyhow::Context;
use bemm_engine::tune::{self, Choice, Tuning};
use bemm_engine::{kernels, OwnedModel, Precision};
use std::path::Path;

/// Open `path` and choose its kernel for `ra`'s batch, threads and precision.
/// Notes about the cache (an entry ignored, a folder not writable) go to stderr.
pub(crate) fn open(path: &Path, ra: &RunArgs) -> anyhow::Result<(OwnedModel, Choice)> {
    let model = OwnedModel::open(path)?;
    let threads = ra.threads();
    let precision = if ra.fast { Precision::Fast } else { Precision::Exact };
    let mut t = Tuning::new(ra.batch.max(1) * threads, threads, precision);
    // An int8 kernel or int8-only level pins the int8 layers only; a level
    // both registries have (`avx2`, `scalar`) pins both.
    t.pin = match &ra.kernel {
        Some(name) if kernels::int8::int8_only_name(name) => None,
        Some(name) => Some((kernels::by_name(name).with_context(|| format!("--kernel {name}"))?, "--kernel".into())),
        None => kernels::from_env()?.map(|k| (k, "BEMM_KERNEL".into())),
    };
    if let Some(name) = &ra.kernel {
        if let Some(k) = kernels::int8::named(name) {
            t.int8_pin = Some((k.with_context(|| format!("--kernel {name}"))?, "--kernel".into()));
        }
    }
    let choice = tune::choose(model.model(), &t)?;
    for n in &choice.notes {
        eprintln!("note: {n}");
    }
    let model = model.with_choice(&choice)?;
    Ok((model, choice))
}

/// The choice as JSON for `--json` summaries.
pub(crate) fn json(c: &Choice) -> serde_json::Value {
    let source = match &c.source {
        tune::Source::Measured => "measured".to_string(),
        tune::Source::Cached(p) => format!("cached {}", p.display()),
        tune::Source::Pinned(by) => format!("pinned by {by}"),
    };
    serde_json::json!({
        "kernel": c.chosen.kernel.name,
        "winograd": c.chosen.winograd,
        "exact": c.chosen.kernel.exact,
        "int8_kernel": c.int8.map(|k| k.name),
        "source": source,
        "startup_ms": c.cost.as_secs_f64() * 1e3,
        "fast_requested": c.requested == Precision::Fast,
        "fast_runs_exact": c.fast_fell_back(),
        "trials": c.trials.iter().map(|t| serde_json::json!({
            "candidate": t.candidate.label(), "ms": t.seconds.map(|s| s * 1e3), "runs": t.runs,
        })).collect::<Vec<_>>(),
    })
}

/// The int8 kernels a model's `QConv` layers run on, as `[{"kernel",
/// "layers"}]` (empty for a float model): a kernel limited to small weights
/// runs only the layers whose weights it fits, its fallback the others.
pub(crate) fn int8_json(m: &bemm_engine::Model<'_>) -> serde_json::Value {
    m.int8_kernels_used().iter().map(|(k, n)| serde_json::json!({ "kernel": k.name, "layers": n })).collect()
}

/// One line naming the int8 kernels the layers run on, for a quantized
/// model: `int8 layers: 52 on avx2-6x8`.
pub(crate) fn int8_line(m: &bemm_engine::Model<'_>) -> Option<String> {
    let used = m.int8_kernels_used();
    if used.is_empty() {
        return None;
    }
    let parts: Vec<String> = used.iter().map(|(k, n)| format!("{n} on {}", k.name)).collect();
    Some(format!("int8 layers: {}", parts.join(", ")))
}
