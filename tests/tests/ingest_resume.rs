//! Resume: an interrupted ingest continues where it stopped, leaves finished
//! shards untouched, ignores half-written or unlisted shard files, and ends
//! with the same archive as an uninterrupted run.

mod ingest_common;

use bemm_formats::archive::{Manifest, PatchArchive};
use ingest_common::*;
use std::os::unix::fs::MetadataExt;

fn identity(path: &std::path::Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(path).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn interrupted_ingest_resumes_to_the_same_archive() {
    let twin = Twin::new(30, 4);
    let full = tempfile::tempdir().unwrap();
    let part = tempfile::tempdir().unwrap();
    let mut o = twin.options(full.path());
    o.shard_size = 7;
    let uninterrupted = ingest(&o);

    // First run stops after two shards, as if killed.
    let mut o = twin.options(part.path());
    o.shard_size = 7;
    o.stop_after_shards = Some(2);
    let first = ingest(&o);
    assert_eq!(first.shards, 2);
    assert_eq!(first.complete, Some(false));
    let m = Manifest::load(part.path()).unwrap();
    assert_eq!(m.shards.iter().map(|s| s.chunk).collect::<Vec<_>>(), vec![0, 1]);
    // The partial archive is readable and holds exactly the finished shards.
    assert_eq!(PatchArchive::open(part.path()).unwrap().len() as u64, m.total());
    let before: Vec<_> = m.shards.iter().map(|s| identity(&part.path().join(&s.file))).collect();

    // What a kill can leave: a half-written temp shard, and a complete shard
    // renamed into place whose manifest update never happened.
    std::fs::write(part.path().join("shard-000002.bemp.tmp"), b"BEMPATCH half written").unwrap();
    std::fs::write(part.path().join("shard-000003.bemp"), b"garbage from a previous crash").unwrap();
    assert_eq!(PatchArchive::open(part.path()).unwrap().len() as u64, m.total());

    o.stop_after_shards = None;
    let second = ingest(&o);
    assert_eq!(second.complete, Some(true));
    let m2 = Manifest::load(part.path()).unwrap();
    for (s, id) in m2.shards.iter().take(2).zip(&before) {
        assert_eq!(identity(&part.path().join(&s.file)), *id, "{} was rewritten", s.file);
    }
    // Same archive as the uninterrupted run: manifest entries, records, tensors, summary.
    let mf = Manifest::load(full.path()).unwrap();
    assert_eq!(m2.shards, mf.shards);
    let (a, b) = (PatchArchive::open(part.path()).unwrap(), PatchArchive::open(full.path()).unwrap());
    a.verify().unwrap();
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        assert_eq!(a.record(i), b.record(i));
        assert_eq!(a.patch(i), b.patch(i));
    }
    assert_eq!(second.to_json(), uninterrupted.to_json());
    // The stale temp file was overwritten and renamed into a real shard.
    assert!(!part.path().join("shard-000002.bemp.tmp").exists());

    // A re-run of a complete archive writes nothing.
    let ids: Vec<_> = m2.shards.iter().map(|s| identity(&part.path().join(&s.file))).collect();
    ingest(&o);
    let m3 = Manifest::load(part.path()).unwrap();
    assert_eq!(m3.shards.iter().map(|s| identity(&part.path().join(&s.file))).collect::<Vec<_>>(), ids);
}

#[test]
fn resuming_with_other_input_or_options_is_refused() {
    let twin = Twin::new(12, 8);
    let out = tempfile::tempdir().unwrap();
    let mut o = twin.options(out.path());
    o.shard_size = 5;
    o.stop_after_shards = Some(1);
    ingest(&o);
    let mut other = o.clone();
    other.keep_excluded = true;
    let e = format!("{:#}", bemm_tools::ingest::run(&other).unwrap_err());
    assert!(e.contains("other input or options"), "{e}");
    let mut other = o.clone();
    other.shard_size = 6;
    assert!(bemm_tools::ingest::run(&other).is_err());
    // The original options still resume.
    o.stop_after_shards = None;
    assert_eq!(ingest(&o).complete, Some(true));
}
