//! The summary printed by `bemm ingest` and `bemm info`: pairs read, written,
//! skipped by reason, per split, flags and label frequencies, as a table or JSON.

use super::problem::SkipReason;
use super::resume::{ChunkStats, IngestSource};
use crate::report::table;
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::labels::{mask_indices, CLASS_NAMES, NUM_CLASSES};
use serde_json::{json, Value};

/// Summary of an archive (and of the ingest that made it, when known).
#[derive(Debug, Clone)]
pub struct Summary {
    /// Ingest counts (sum over finished chunks), when the archive came from ingest.
    pub ingest: Option<ChunkStats>,
    /// Layout ingested (`v1`/`v2`), when known.
    pub layout: Option<String>,
    /// Whether every chunk is done (None when not from ingest).
    pub complete: Option<bool>,
    /// Shards.
    pub shards: usize,
    /// Patches in the archive.
    pub patches: usize,
    /// Patches per split, in [`Split::ALL`] order.
    pub per_split: [u64; 4],
    /// Patches flagged seasonal snow / cloud or shadow.
    pub snow: u64,
    /// See `snow`.
    pub cloud: u64,
    /// Patches per 19-class label.
    pub labels: [u64; NUM_CLASSES],
    /// List files (split files, snow and cloud/shadow lists) with names that
    /// match no S2 patch of the input: (file, unmatched names).
    pub list_names_unmatched: Vec<(String, u64)>,
    /// Warnings of the ingest that made this summary.
    pub warnings: Vec<String>,
}

impl Summary {
    /// Compute from an opened archive.
    pub fn of(archive: &PatchArchive) -> Self {
        let src = IngestSource::from_manifest(archive.manifest());
        let mut s = Summary {
            ingest: src.as_ref().map(|s| s.totals()),
            layout: src.as_ref().map(|s| s.layout.clone()),
            complete: src.as_ref().map(|s| s.complete),
            shards: archive.manifest().shards.len(),
            patches: archive.len(),
            per_split: [0; 4],
            snow: 0,
            cloud: 0,
            labels: [0; NUM_CLASSES],
            list_names_unmatched: Vec::new(),
            warnings: Vec::new(),
        };
        for r in archive.records() {
            let k = Split::ALL.iter().position(|x| *x == r.split()).unwrap_or(3);
            s.per_split[k] += 1;
            s.snow += r.snow() as u64;
            s.cloud += r.cloud() as u64;
            for c in mask_indices(r.labels19 as u64) {
                if c < NUM_CLASSES {
                    s.labels[c] += 1;
                }
            }
        }
        s
    }

    /// JSON form (stable keys, for scripts).
    pub fn to_json(&self) -> Value {
        let splits: serde_json::Map<String, Value> =
            Split::ALL.iter().zip(self.per_split).map(|(s, n)| (s.name().to_string(), json!(n))).collect();
        let labels: serde_json::Map<String, Value> =
            CLASS_NAMES.iter().zip(self.labels).map(|(c, n)| (c.to_string(), json!(n))).collect();
        let ingest = self.ingest.as_ref().map(|i| {
            let skipped: serde_json::Map<String, Value> = SkipReason::ALL
                .iter()
                .map(|r| (r.key().to_string(), json!(i.skipped.get(r.key()).copied().unwrap_or(0))))
                .collect();
            json!({ "pairs_read": i.read, "pairs_written": i.written, "skipped": skipped })
        });
        json!({
            "layout": self.layout,
            "complete": self.complete,
            "shards": self.shards,
            "patches": self.patches,
            "ingest": ingest,
            "splits": splits,
            "flags": { "seasonal_snow": self.snow, "cloud_or_shadow": self.cloud },
            "labels": labels,
            "list_names_unmatched": self.list_names_unmatched.iter().map(|(f, n)| (f.clone(), json!(n))).collect::<serde_json::Map<String, Value>>(),
            "warnings": self.warnings,
        })
    }

    /// Human-readable tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let mut rows = vec![vec!["".to_string(), "pairs".to_string()]];
        if let Some(i) = &self.ingest {
            rows.push(vec!["read".into(), i.read.to_string()]);
            rows.push(vec!["written".into(), i.written.to_string()]);
            for r in SkipReason::ALL {
                let n = i.skipped.get(r.key()).copied().unwrap_or(0);
                if n > 0 {
                    rows.push(vec![format!("skipped: {}", r.key()), n.to_string()]);
                }
            }
        }
        rows.push(vec!["in archive".into(), self.patches.to_string()]);
        for (s, n) in Split::ALL.iter().zip(self.per_split) {
            rows.push(vec![format!("split: {}", s.name()), n.to_string()]);
        }
        rows.push(vec!["flag: seasonal snow".into(), self.snow.to_string()]);
        rows.push(vec!["flag: cloud or shadow".into(), self.cloud.to_string()]);
        out.push_str(&table(&rows));
        out.push('\n');
        let mut rows = vec![vec!["label".to_string(), "patches".to_string(), "%".to_string()]];
        for (c, n) in CLASS_NAMES.iter().zip(self.labels) {
            let pct = if self.patches > 0 { 100.0 * n as f64 / self.patches as f64 } else { 0.0 };
            rows.push(vec![c.to_string(), n.to_string(), format!("{pct:.1}")]);
        }
        out.push_str(&table(&rows));
        if let Some(false) = self.complete {
            out.push_str("\nincomplete: some chunks have no shard yet; re-run the same `bemm ingest` to finish\n");
        }
        out.push_str(&format!("{} shard(s)\n", self.shards));
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
