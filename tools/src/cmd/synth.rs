//! `bemm synth`: write a synthetic twin of BigEarthNet-MM v1.0 in the real on-disk format.

use std::path::PathBuf;

/// Arguments of `bemm synth`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of S1/S2 pairs.
    #[arg(long)]
    pub pairs: u64,
    /// Output folder (gets BigEarthNet-v1.0/, BigEarthNet-S1-v1.0/ and the list files).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed writes the same twin.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `bemm synth`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let s = crate::synth::write_twin(&a.out, a.pairs, a.seed, !a.json)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let rows = vec![
            vec!["".to_string(), "pairs".to_string()],
            vec!["written".into(), s.pairs.to_string()],
            vec!["train.csv".into(), s.train.to_string()],
            vec!["val.csv".into(), s.val.to_string()],
            vec!["test.csv".into(), s.test.to_string()],
            vec!["seasonal snow list".into(), s.seasonal_snow.to_string()],
            vec!["cloud/shadow list".into(), s.cloud_or_shadow.to_string()],
            vec![
                "no 19-class target list".into(),
                s.no_19_class_targets.to_string(),
            ],
        ];
        print!("{}", crate::report::table(&rows));
        println!(
            "S2: {}\nS1: {}",
            a.out.join(crate::synth::S2_DIR).display(),
            a.out.join(crate::synth::S1_DIR).display()
        );
    }
    Ok(())
}
