//! Writers go through a temporary name: an interrupted write never leaves a
//! file under the final name, and the archive keeps opening with the old
//! manifest.

mod common;

use bemm_formats::archive::{PatchArchive, Shard, ShardWriter};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD, PATCH_LEN};
use bemm_formats::fsutil::{temp_path, write_atomic};
use common::*;

#[test]
fn dropped_shard_writer_leaves_no_shard_and_the_archive_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_archive(dir.path(), &[2]);
    let next = dir.path().join("shard-00001.bin");
    {
        let mut w = ShardWriter::create(&next, &BAND_NAMES, &BAND_MEAN, &BAND_STD, 120, 120).unwrap();
        for i in 2..5 {
            w.push(&record(i), &patch(i, PATCH_LEN)).unwrap();
        }
        assert_eq!(w.len(), 3);
        // Dropped here without finish(): the process "died" mid-shard.
    }
    assert!(!next.exists(), "an unfinished shard appeared under its final name");
    let tmp = temp_path(&next);
    assert!(tmp.exists(), "the partial data stays under the temporary name");
    // Even if someone renamed the partial file, it would not read as a shard:
    // the header (magic, counts, checksums) is written last.
    let partial = std::fs::read(&tmp).unwrap();
    assert!(partial.len() > 3 * PATCH_LEN, "the patches were written");
    assert!(Shard::parse(Aligned::new(&partial).bytes()).is_err());

    let a = PatchArchive::open(dir.path()).unwrap();
    assert_eq!(a.manifest(), &before);
    assert_eq!(a.len(), 2);
    assert_eq!(a.patch(1).unwrap(), patch(1, PATCH_LEN).as_slice());
    a.verify().unwrap();

    // A later, complete attempt replaces the temporary file and is picked up
    // once it is in the manifest.
    write_shard(&next, &BAND_NAMES, 120, 120, 2, 3);
    assert!(!tmp.exists());
    let mut m = before.clone();
    let bytes = std::fs::metadata(&next).unwrap().len();
    m.shards.push(bemm_formats::archive::ShardEntry { file: "shard-00001.bin".into(), chunk: 1, count: 3, bytes });
    m.save(dir.path()).unwrap();
    let a = PatchArchive::open(dir.path()).unwrap();
    assert_eq!(a.len(), 5);
    assert_eq!(a.patch(4).unwrap(), patch(4, PATCH_LEN).as_slice());
}

#[test]
fn write_atomic_replaces_whole_files_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.bemm");
    write_atomic(&p, &model_bytes()).unwrap();
    write_atomic(&p, b"second").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"second");
    assert!(!temp_path(&p).exists());
    assert_eq!(temp_path(&p).file_name().unwrap(), "model.bemm.tmp");
}

#[test]
fn shard_writer_rejects_wrong_patch_sizes_and_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.bin");
    let mut w = ShardWriter::create(&p, &["VV"], &[0.0], &[1.0], 4, 4).unwrap();
    let e = w.push(&record(0), &patch(0, 15)).unwrap_err();
    assert!(e.to_string().contains("15 elements"), "{e}");
    drop(w);
    assert!(ShardWriter::create(&p, &["VV"], &[0.0], &[1.0], 0, 4).is_err());
    assert!(ShardWriter::create(&p, &["VV"], &[0.0], &[1.0], 4, 5000).is_err());
    assert!(ShardWriter::create(&p, &[], &[], &[], 4, 4).is_err());
    assert!(!p.exists());
}
