//! Tests of the kernel choice: candidates, the fast-path rule, the cache's
//! corruption handling, pins and budgets.

use super::*;
use crate::arch::{self, Arch, RandomWeights};
use bemm_formats::model::OwnedMeta;

/// A small random-weights ResNet-like model's bytes (12 bands, 32x32, 19 classes).
fn tiny_model() -> Vec<u8> {
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    arch::build(Arch::Tiny, 12, 32, 19, &mut RandomWeights::new(7), meta).unwrap().to_bytes().unwrap()
}

fn tuning(dir: &std::path::Path, precision: Precision) -> Tuning {
    // A generous budget: the tests must not depend on the machine's load.
    Tuning { cache: Some(dir.to_path_buf()), budget: Duration::from_secs(60), ..Tuning::new(4, 1, precision) }
}

/// A kernel record named `name`, exact unless the name starts with
/// `reduced`, running the scalar reference (only `pick` sees it).
fn fake(name: &'static str) -> &'static MicroKernel {
    let s = kernels::scalar();
    Box::leak(Box::new(MicroKernel {
        name,
        isa: Isa::Scalar,
        mr: s.mr,
        nr: s.nr,
        format: s.format,
        exact: !name.starts_with("reduced"),
        run: s.run,
        narrow: None,
        taps: None,
    }))
}

fn trial(name: &'static str, seconds: f64) -> Trial {
    let kernel = fake(name);
    Trial { candidate: Candidate { kernel, winograd: true }, seconds: Some(seconds), runs: 1 }
}

#[test]
fn candidates_are_registered_available_and_match_the_precision() {
    for p in [Precision::Exact, Precision::Fast] {
        let c = candidates(p);
        assert!(!c.is_empty());
        for cand in &c {
            assert!(kernels::available().any(|k| core::ptr::eq(k, cand.kernel)));
            assert!(cand.kernel.isa.available(), "{}", cand.kernel.name);
            assert!(cand.kernel.exact || p == Precision::Fast);
        }
        // Both algorithms of every kernel.
        assert_eq!(c.iter().filter(|c| c.winograd).count(), c.iter().filter(|c| !c.winograd).count());
    }
    assert!(candidates(Precision::Fast).len() >= candidates(Precision::Exact).len());
}

#[test]
fn the_fast_path_keeps_a_reduced_kernel_only_when_it_clearly_beats_exact() {
    // Stand-ins: `pick` reads only the times and the `exact` flags.
    let (reduced, exact, slower_exact) = ("reduced", "exact", "slower-exact");
    // Reduced 20 % faster: kept under Fast, never under Exact.
    let t = [trial(exact, 1.0), trial(reduced, 0.8), trial(slower_exact, 2.0)];
    assert_eq!(pick(&t, Precision::Fast), Some(1));
    assert_eq!(pick(&t, Precision::Exact), Some(0));
    // Reduced slower, or within the noise margin: exact.
    for r in [1.5, 1.0, 1.0 - FAST_MARGIN / 2.0] {
        let t = [trial(exact, 1.0), trial(reduced, r), trial(slower_exact, 2.0)];
        assert_eq!(pick(&t, Precision::Fast), Some(0), "reduced at {r}");
    }
    // The fastest exact one wins among exact ones.
    assert_eq!(pick(&[trial(exact, 3.0), trial(slower_exact, 2.0)], Precision::Exact), Some(1));
    // Nothing measured: no pick.
    let mut none = trial(exact, 1.0);
    none.seconds = None;
    assert_eq!(pick(&[none], Precision::Fast), None);
}

#[test]
fn a_choice_is_measured_once_then_read_from_the_cache() {
    let bytes = tiny_model();
    let m = Model::from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for p in [Precision::Exact, Precision::Fast] {
        let t = tuning(dir.path(), p);
        let first = choose(&m, &t).unwrap();
        assert_eq!(first.source, Source::Measured);
        assert!(first.notes.is_empty(), "{:?}", first.notes);
        assert!(candidates(p).contains(&first.chosen), "{}", first.describe());
        assert!(first.trials[0].seconds.is_some());
        let second = choose(&m, &t).unwrap();
        assert!(matches!(second.source, Source::Cached(_)), "{:?}", second.source);
        assert_eq!(second.chosen, first.chosen);
        // The choice runs.
        let run = second.apply(&m).unwrap();
        assert!(core::ptr::eq(run.kernel(), first.chosen.kernel));
        assert_eq!(second.fast_fell_back(), p == Precision::Fast && first.chosen.kernel.exact);
    }
}

#[test]
fn corrupt_and_stale_cache_entries_are_ignored_and_rebuilt() {
    let bytes = tiny_model();
    let m = Model::from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = tuning(dir.path(), Precision::Exact);
    let good = choose(&m, &t).unwrap();
    let key = cache::Key {
        cpu: cpu_id::CpuId::current().describe(),
        checksum: m.file().checksum(),
        batch: t.batch,
        threads: t.threads,
        precision: t.precision,
    };
    let path = key.path(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let entry = |k: &str| cache::Entry { kernel: k.to_string(), winograd: true, int8: None };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", text.as_bytes()[..text.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", (0..200u32).map(|i| (i * 37 % 251) as u8).collect()),
        (
            "wrong CPU",
            cache::encode(&cache::Key { cpu: "Another CPU".into(), ..key.clone() }, &entry("avx2-6x16")).into_bytes(),
        ),
        (
            "wrong checksum",
            cache::encode(&cache::Key { checksum: !key.checksum, ..key.clone() }, &entry("avx2-6x16")).into_bytes(),
        ),
        ("unknown kernel", cache::encode(&key, &entry("avx9000-64x64")).into_bytes()),
        (
            "reduced kernel for exact",
            match kernels::available().find(|k| !k.exact) {
                Some(k) => cache::encode(&key, &entry(k.name)).into_bytes(),
                None => b"x".to_vec(),
            },
        ),
    ];
    for (what, b) in bad {
        std::fs::write(&path, &b).unwrap();
        let c = choose(&m, &t).unwrap();
        assert_eq!(c.source, Source::Measured, "{what}");
        assert!(c.notes.iter().any(|n| n.contains("ignored the cached choice")), "{what}: {:?}", c.notes);
        assert!(candidates(Precision::Exact).contains(&c.chosen), "{what}");
        // Rebuilt: the file is a valid entry again.
        assert!(matches!(cache::read(dir.path(), &key), cache::Lookup::Hit(_)), "{what}");
    }
    // A folder where the cache file should be: measured, noted, no error.
    let blocked = tempfile::tempdir().unwrap();
    std::fs::create_dir(key.path(blocked.path())).unwrap();
    let c = choose(&m, &tuning(blocked.path(), Precision::Exact)).unwrap();
    assert_eq!(c.source, Source::Measured);
    assert!(c.notes.len() == 2, "{:?}", c.notes);
    let _ = good;
}

#[test]
fn a_pin_skips_measuring() {
    // Pins come from the checked constructors (`kernels::by_name`), so a pin
    // of a kernel the CPU lacks cannot be made; `kernel_choice_env.rs` tests
    // the errors of unknown names.
    let bytes = tiny_model();
    let m = Model::from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for k in kernels::available() {
        let t = Tuning { pin: Some((k, "test".into())), ..tuning(dir.path(), Precision::Fast) };
        let c = choose(&m, &t).unwrap();
        assert_eq!(c.source, Source::Pinned("test".into()));
        assert!(core::ptr::eq(c.chosen.kernel, k) && c.trials.is_empty());
    }
    // Nothing was measured, so nothing was cached.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn without_a_cache_folder_nothing_is_stored() {
    let bytes = tiny_model();
    let m = Model::from_bytes(&bytes).unwrap();
    let t = Tuning { cache: None, budget: Duration::from_secs(60), ..Tuning::new(1, 2, Precision::Fast) };
    let c = choose(&m, &t).unwrap();
    assert_eq!(c.source, Source::Measured);
    assert!(c.notes.is_empty());
    assert!(c.describe().contains(c.chosen.kernel.name));
}

#[test]
fn a_spent_budget_keeps_the_ranked_kernel_and_caches_nothing() {
    let bytes = tiny_model();
    let m = Model::from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for p in [Precision::Exact, Precision::Fast] {
        let t = Tuning { budget: Duration::ZERO, ..tuning(dir.path(), p) };
        let c = choose(&m, &t).unwrap();
        assert_eq!(c.source, Source::Measured);
        assert!(c.trials.iter().all(|t| t.seconds.is_none() && t.runs == 0));
        assert!(core::ptr::eq(c.chosen.kernel, kernels::best(p == Precision::Exact)));
        assert!(c.notes.iter().any(|n| n.contains("0 of") && n.contains("not cached")), "{:?}", c.notes);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_fast_candidates_start_with_the_exact_and_reduced_leaders() {
    let c = candidates(Precision::Fast);
    assert!(c[0].kernel.exact && c[0].winograd);
    if let Some(r) = kernels::available().find(|k| !k.exact) {
        assert!(core::ptr::eq(c[1].kernel, r) && c[1].winograd);
    }
}

#[test]
fn the_fast_fallback_says_why() {
    let exact = Trial { candidate: Candidate { kernel: fake("exact"), winograd: true }, seconds: Some(1.0), runs: 1 };
    let reduced =
        |seconds| Trial { candidate: Candidate { kernel: fake("reduced"), winograd: true }, seconds, runs: 1 };
    let choice = |source, trials| Choice {
        chosen: Candidate { kernel: fake("exact"), winograd: true },
        source,
        requested: Precision::Fast,
        trials,
        cost: Duration::from_millis(5),
        notes: Vec::new(),
        int8: None,
        int8_trials: Vec::new(),
    };
    let lost = choice(Source::Measured, vec![exact.clone(), reduced(Some(1.2))]);
    assert!(lost.fast_fell_back() && lost.describe().contains("no reduced-precision kernel beat exact"));
    let unmeasured = choice(Source::Measured, vec![exact.clone(), reduced(None)]);
    assert!(unmeasured.describe().contains("no reduced-precision kernel ran within the budget"));
    let pinned = choice(Source::Pinned("--kernel".into()), Vec::new());
    assert!(pinned.describe().contains("the pinned kernel is exact"), "{}", pinned.describe());
    let exact_asked = Choice { requested: Precision::Exact, ..lost };
    assert!(!exact_asked.fast_fell_back() && !exact_asked.describe().contains("--fast"));
}

#[test]
fn an_int8_model_also_gets_its_int8_kernel_measured_then_cached() {
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    let mut b = arch::build(Arch::Tiny, 12, 32, 19, &mut RandomWeights::new(7), meta).unwrap();
    let convs = b.graph.quantizable();
    assert!(!convs.is_empty());
    for i in convs {
        b.graph.quantize(i, 0.05, 0, bemm_formats::model::WeightBits::Eight).unwrap();
    }
    let bytes = b.to_bytes().unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    assert!(m.is_quantized());
    let dir = tempfile::tempdir().unwrap();
    let t = tuning(dir.path(), Precision::Exact);
    let first = choose(&m, &t).unwrap();
    let k = first.int8.expect("an int8 kernel is chosen");
    assert!(int8_candidates().iter().any(|c| core::ptr::eq(*c, k)));
    assert_eq!(first.int8_trials.len(), int8_candidates().len());
    assert!(first.describe().contains(k.name), "{}", first.describe());
    let second = choose(&m, &t).unwrap();
    assert!(matches!(second.source, Source::Cached(_)), "{:?}", second.source);
    assert!(core::ptr::eq(second.int8.unwrap(), k) && second.int8_trials.is_empty());
    assert!(core::ptr::eq(second.apply(&m).unwrap().int8_kernel(), k));
    // A float model's choice has none.
    let float_bytes = tiny_model();
    let float = Model::from_bytes(&float_bytes).unwrap();
    assert!(choose(&float, &t).unwrap().int8.is_none());
}
