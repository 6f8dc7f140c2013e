//! The on-disk cache of measured kernel choices: one small text file per
//! (engine version, CPU, model checksum, batch, threads, precision) under
//! `$XDG_CACHE_HOME/bemm` (else `~/.cache/bemm`). Safe to delete at any time.
//!
//! A file repeats every part of its key, so that an entry found under a name
//! that happens to match (a hash collision, a file copied from another
//! machine, a model rewritten in place) is recognised as stale; anything
//! that does not parse exactly is ignored and measured again. Files are
//! written to a unique temporary name and renamed into place, so a reader
//! never sees half an entry and concurrent writers never interleave.

use crate::model::Precision;
use std::io::Write;
use std::path::{Path, PathBuf};

/// First line of every entry (the format's version).
const MAGIC: &str = "bemm kernel choice 1";

/// What a choice depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `CpuId::describe()` of the CPU it was measured on.
    pub cpu: String,
    /// The model file's stored XXH64 checksum.
    pub checksum: u64,
    /// Samples per engine call.
    pub batch: usize,
    /// Threads per engine call.
    pub threads: usize,
    /// Requested precision (a `Fast` request may still choose an exact kernel).
    pub precision: Precision,
}

/// What was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Registered kernel name ([`crate::kernels::MicroKernel::name`]).
    pub kernel: String,
    /// Whether Winograd is allowed ([`crate::Model::with_winograd`]).
    pub winograd: bool,
    /// The int8 kernel of a model with `QConv` layers
    /// ([`crate::kernels::int8::QKernel::name`]), `None` for float models.
    pub int8: Option<String>,
}

/// The result of looking a key up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A valid entry for exactly this key.
    Hit(Entry),
    /// No entry.
    Miss,
    /// An entry that is corrupt or belongs to another key (the reason):
    /// ignored, to be measured again and overwritten.
    Invalid(String),
}

/// The default cache folder: `$XDG_CACHE_HOME/bemm` when that is an
/// absolute path, else `$HOME/.cache/bemm`; `None` without either.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Some(x.join("bemm"));
    }
    std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute()).map(|h| h.join(".cache").join("bemm"))
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Exact => "exact",
        Precision::Fast => "fast",
    }
}

impl Key {
    /// The key's lines, as stored at the top of its entry.
    fn header(&self) -> String {
        format!(
            "{MAGIC}\nengine {}\ncpu {}\nmodel {:016x}\nbatch {}\nthreads {}\nprecision {}\n",
            env!("CARGO_PKG_VERSION"),
            self.cpu.replace('\n', " "),
            self.checksum,
            self.batch,
            self.threads,
            precision_name(self.precision)
        )
    }

    /// The entry's file under `dir`: named by the model checksum and a hash
    /// of the whole key (FNV-1a), so that one folder serves many CPUs
    /// (a shared home directory) and models.
    pub fn path(&self, dir: &Path) -> PathBuf {
        let h =
            self.header().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        dir.join(format!("{:016x}-{h:016x}.choice", self.checksum))
    }
}

/// Look `key` up under `dir`.
pub fn read(dir: &Path, key: &Key) -> Lookup {
    let path = key.path(dir);
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
        Err(e) => return Lookup::Invalid(format!("{}: {e}", path.display())),
    };
    match parse(&text, key) {
        Ok(e) => Lookup::Hit(e),
        Err(why) => Lookup::Invalid(format!("{}: {why}", path.display())),
    }
}

/// Parse an entry, requiring its key lines to equal `key`'s.
fn parse(bytes: &[u8], key: &Key) -> Result<Entry, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let header = key.header();
    let Some(rest) = text.strip_prefix(header.as_str()) else {
        // Name the first line that differs: the usual cause is a CPU or
        // model change, or an older engine.
        let line = text.lines().zip(header.lines()).find(|(a, b)| a != b).map(|(a, _)| a);
        return Err(match line {
            Some(l) => format!("stale or corrupt entry (line {l:?} does not match this CPU, model or engine)"),
            None => "truncated entry".to_string(),
        });
    };
    let mut lines = rest.lines();
    let kernel = lines.next().and_then(|l| l.strip_prefix("kernel ")).ok_or("no kernel line")?;
    let winograd = match lines.next().and_then(|l| l.strip_prefix("winograd ")) {
        Some("on") => true,
        Some("off") => false,
        _ => return Err("no winograd on|off line".to_string()),
    };
    let mut next = lines.next();
    let int8 = match next.and_then(|l| l.strip_prefix("int8 ")) {
        Some(k) => {
            next = lines.next();
            Some(k)
        }
        None => None,
    };
    if next != Some("end") || lines.next().is_some() || !rest.ends_with("end\n") {
        return Err("truncated entry (no end line)".to_string());
    }
    for k in [Some(kernel), int8].into_iter().flatten() {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("bad kernel name {k:?}"));
        }
    }
    Ok(Entry { kernel: kernel.to_string(), winograd, int8: int8.map(str::to_string) })
}

/// The bytes of `entry` under `key`.
pub fn encode(key: &Key, entry: &Entry) -> String {
    let int8 = entry.int8.as_ref().map_or(String::new(), |k| format!("int8 {k}\n"));
    let winograd = if entry.winograd { "on" } else { "off" };
    format!("{}kernel {}\nwinograd {winograd}\n{int8}end\n", key.header(), entry.kernel)
}

/// Store `entry` under `key` in `dir` (created if missing), atomically: a
/// unique temporary file in the same folder, synced, then renamed over the
/// entry. Returns the entry's path.
pub fn write(dir: &Path, key: &Key, entry: &Entry) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let path = key.path(dir);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(encode(key, entry).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            cpu: "Test CPU (GenuineIntel family 6 model 207 stepping 2)".into(),
            checksum: 0xfeed,
            batch: 16,
            threads: 2,
            precision: Precision::Fast,
        }
    }

    #[test]
    fn an_entry_round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = Entry { kernel: "avx512-12x32".into(), winograd: false, int8: None };
        assert_eq!(read(dir.path(), &key()), Lookup::Miss);
        let p = write(dir.path(), &key(), &e).unwrap();
        assert_eq!(read(dir.path(), &key()), Lookup::Hit(e.clone()));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().path()).collect();
        assert_eq!(names, vec![p]);
        // Overwriting is a rename over the old entry.
        let e2 = Entry { kernel: "avx2-6x16".into(), winograd: true, int8: Some("avx512vnni-12x32".into()) };
        write(dir.path(), &key(), &e2).unwrap();
        assert_eq!(read(dir.path(), &key()), Lookup::Hit(e2));
    }

    #[test]
    fn every_key_field_changes_the_file_and_is_checked_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = Entry { kernel: "scalar-4x8".into(), winograd: true, int8: None };
        write(dir.path(), &key(), &e).unwrap();
        let others = [
            Key { cpu: "Other CPU".into(), ..key() },
            Key { checksum: 0xbeef, ..key() },
            Key { batch: 1, ..key() },
            Key { threads: 1, ..key() },
            Key { precision: Precision::Exact, ..key() },
        ];
        for k in &others {
            assert_ne!(k.path(dir.path()), key().path(dir.path()));
            assert_eq!(read(dir.path(), k), Lookup::Miss, "{k:?}");
            // The same bytes planted under the other key's name are stale.
            std::fs::copy(key().path(dir.path()), k.path(dir.path())).unwrap();
            assert!(matches!(read(dir.path(), k), Lookup::Invalid(_)), "{k:?}");
        }
    }

    #[test]
    fn truncated_garbage_and_edited_entries_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode(&key(), &Entry { kernel: "avx512-12x32".into(), winograd: true, int8: None });
        let path = key().path(dir.path());
        let mut bad: Vec<Vec<u8>> = (0..good.len()).map(|n| good.as_bytes()[..n].to_vec()).collect();
        bad.push(vec![0xff, 0xfe, 0x00, 0x41]);
        bad.push(good.replace("winograd on", "winograd maybe").into_bytes());
        bad.push(good.replace("kernel avx512-12x32", "kernel ../../etc").into_bytes());
        bad.push(good.replace("end\n", "end\nextra\n").into_bytes());
        bad.push(good.replace("cpu Test CPU", "cpu Test CPV").into_bytes());
        bad.push(good.replace("engine ", "engine 0").into_bytes());
        for b in bad {
            std::fs::write(&path, &b).unwrap();
            assert!(matches!(read(dir.path(), &key()), Lookup::Invalid(_)), "{:?}", String::from_utf8_lossy(&b));
        }
        std::fs::write(&path, &good).unwrap();
        assert!(matches!(read(dir.path(), &key()), Lookup::Hit(_)));
    }
}
