//! Ingest throughput: pairs/s of `bemm ingest` on a synthetic twin whose files
//! are in the page cache, against two peers measured in the same run:
//! - the I/O floor: reading every file ingest reads (12 GeoTIFFs + 2 JSON per pair);
//! - a PyTorch pipeline (`ingest_peer.py`: tifffile + `F.interpolate(bicubic)` +
//!   normalise + float16), when python3 with torch and tifffile is available.
//!
//! Usage: `cargo run --release -p bemm-benches --bin ingest_bench -- [PAIRS] [THREADS]`
//! (defaults 2000 pairs, 2 threads).

use anyhow::{Context, Result};
use bemm_tools::ingest::{self, Options};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files_of(twin: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for root in [bemm_tools::synth::S2_DIR, bemm_tools::synth::S1_DIR] {
        for e in std::fs::read_dir(twin.join(root))? {
            for f in std::fs::read_dir(e?.path())? {
                let p = f?.path();
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // ingest never opens B01/B09
                if !n.ends_with("_B01.tif") && !n.ends_with("_B09.tif") {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

fn read_all(files: &[PathBuf]) -> u64 {
    files.par_iter().map(|f| std::fs::read(f).map(|b| b.len() as u64).unwrap_or(0)).sum()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let pairs: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let threads: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let tmp = tempfile::tempdir()?;
    let twin = tmp.path().join("twin");
    eprintln!("writing a twin of {pairs} pairs ...");
    bemm_tools::synth::write_twin(&twin, pairs, 1, false)?;
    let files = files_of(&twin)?;
    let bytes = read_all(&files); // warm the page cache

    let runs = 3;
    let mut floor = Vec::new();
    let mut ours = Vec::new();
    for r in 0..runs {
        let t = Instant::now();
        pool.install(|| read_all(&files));
        floor.push(t.elapsed().as_secs_f64());
        let out = tmp.path().join(format!("archive{r}"));
        // keep_excluded: every pair is decoded and written.
        let o = Options { keep_excluded: true, ..Options::for_twin(&twin, out.clone()) };
        let t = Instant::now();
        let s = pool.install(|| ingest::run(&o))?;
        ours.push(t.elapsed().as_secs_f64());
        eprintln!("run {r}: {} pairs written", s.patches);
        std::fs::remove_dir_all(&out)?;
    }
    let best = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
    let mut rows = vec![vec!["pipeline".to_string(), "pairs/s".into(), "input MB/s".into(), "s (best of 3)".into()]];
    let mb = bytes as f64 / 1e6;
    for (name, t) in [("read files only (I/O floor)", best(&floor)), ("bemm ingest", best(&ours))] {
        rows.push(vec![name.into(), format!("{:.0}", pairs as f64 / t), format!("{:.0}", mb / t), format!("{t:.3}")]);
    }
    // Peer: a PyTorch pipeline over the same files (single process; torch uses `threads` threads).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ingest_peer.py");
    let peer = std::process::Command::new("python3")
        .arg(&script)
        .arg(&twin)
        .arg(threads.to_string())
        .output()
        .context("running python3");
    match peer {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            if let Some(t) =
                text.lines().find_map(|l| l.strip_prefix("seconds ")).and_then(|s| s.trim().parse::<f64>().ok())
            {
                let n = text
                    .lines()
                    .find_map(|l| l.strip_prefix("pairs "))
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .unwrap_or(pairs as f64);
                rows.push(vec![
                    "PyTorch peer (tifffile + F.interpolate)".into(),
                    format!("{:.0}", n / t),
                    format!("{:.0}", mb * n / pairs as f64 / t),
                    format!("{t:.3}"),
                ]);
            }
        }
        Ok(o) => {
            eprintln!("PyTorch peer skipped: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("failed"))
        }
        Err(e) => eprintln!("PyTorch peer skipped: {e:#}"),
    }
    println!("ingest benchmark: {pairs} pairs ({mb:.0} MB of input in page cache), {threads} threads");
    print!("{}", bemm_tools::report::table(&rows));
    Ok(())
}
