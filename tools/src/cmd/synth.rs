//! `bemm synth`: write a synthetic twin of BigEarthNet-MM in the real on-disk
//! format of v1.0 (default) or v2.0 (`--layout v2`).

use std::path::PathBuf;

/// Arguments of `bemm synth`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of S1/S2 pairs.
    #[arg(long)]
    pub pairs: u64,
    /// Output folder (v1: BigEarthNet-v1.0/, BigEarthNet-S1-v1.0/ and the list
    /// files; v2: BigEarthNet-S2/, BigEarthNet-S1/ and the two metadata parquet files).
    #[arg(long)]
    pub out: PathBuf,
    /// On-disk layout: v1 (BigEarthNet v1.0) or v2 (v2.0 / reBEN).
    #[arg(long, value_enum, default_value_t = crate::synth::Layout::V1)]
    pub layout: crate::synth::Layout,
    /// Random seed: the same seed writes the same twin.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Replace an earlier twin in --out (a folder holding anything else is always refused).
    #[arg(long)]
    pub force: bool,
}

/// Run `bemm synth`.
pub fn run(a: Args) -> anyhow::Result<()> {
    crate::synth::out_dir::prepare(&a.out, a.force)?;
    let s = crate::synth::write_twin_as(&a.out, a.pairs, a.seed, !a.json, a.layout)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let v2 = a.layout == crate::synth::Layout::V2;
        let name = |v1: &str, v2name: &str| if v2 { v2name.to_string() } else { v1.to_string() };
        let rows = vec![
            vec!["".to_string(), "pairs".to_string()],
            vec!["written".into(), s.pairs.to_string()],
            vec![name("train.csv", "train (metadata.parquet)"), s.train.to_string()],
            vec![name("val.csv", "validation (metadata.parquet)"), s.val.to_string()],
            vec![name("test.csv", "test (metadata.parquet)"), s.test.to_string()],
            vec![name("seasonal snow list", "seasonal snow (second parquet)"), s.seasonal_snow.to_string()],
            vec![name("cloud/shadow list", "cloud/shadow (second parquet)"), s.cloud_or_shadow.to_string()],
            vec![name("no 19-class target list", "no 19-class target (left out)"), s.no_19_class_targets.to_string()],
        ];
        print!("{}", crate::report::table(&rows));
        let (s2, s1) = if v2 {
            (crate::synth::v2::S2_DIR, crate::synth::v2::S1_DIR)
        } else {
            (crate::synth::S2_DIR, crate::synth::S1_DIR)
        };
        println!("S2: {}\nS1: {}", a.out.join(s2).display(), a.out.join(s1).display());
    }
    Ok(())
}
