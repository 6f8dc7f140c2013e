//! The C interface: `engine/include/bemm.h` must declare exactly the
//! `extern "C"` functions and status codes of `engine/src/capi/`, and the
//! example C program, compiled with the system C compiler against the
//! engine's staticlib, must classify a patch exactly as the Rust API does.

use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_engine::Model;
use bemm_formats::model::OwnedMeta;
use half::f16;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A C type as tokens: identifiers and `*` (e.g. `const char *` -> [const, char, *]).
fn c_tokens(t: &str) -> Vec<String> {
    t.replace('*', " * ").split_whitespace().map(str::to_string).collect()
}

/// The C spelling of a Rust FFI type used in engine/src/capi/.
fn rust_to_c(t: &str) -> Vec<String> {
    let t = t.trim();
    let c = match t {
        "" => "void".to_string(),
        "i32" => "int32_t".into(),
        "usize" => "size_t".into(),
        "u64" => "uint64_t".into(),
        _ => {
            let (constness, inner) = if let Some(r) = t.strip_prefix("*const ") {
                ("const ", r)
            } else if let Some(r) = t.strip_prefix("*mut ") {
                ("", r)
            } else {
                panic!("engine/src/capi/ uses Rust type `{t}` that this check does not know")
            };
            if inner.starts_with('*') {
                return [rust_to_c(inner), vec!["*".to_string()]].concat();
            }
            let base = match inner {
                "c_char" => "char",
                "u8" => "uint8_t",
                "u16" => "uint16_t",
                "u64" => "uint64_t",
                "f32" => "float",
                "usize" => "size_t",
                "BemmModel" => "bemm_model",
                other => {
                    panic!("engine/src/capi/ points at Rust type `{other}` that this check does not know")
                }
            };
            format!("{constness}{base} *")
        }
    };
    c_tokens(&c)
}

type Sigs = BTreeMap<String, (Vec<String>, Vec<Vec<String>>)>;

fn rust_signatures(src: &str) -> Sigs {
    let mut out = Sigs::new();
    let mut rest = src;
    while let Some(i) = rest.find("extern \"C\" fn ") {
        rest = &rest[i + "extern \"C\" fn ".len()..];
        let open = rest.find('(').expect("(");
        let name = rest[..open].trim().to_string();
        let close = rest.find(')').expect(")");
        let params: Vec<Vec<String>> = rest[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| rust_to_c(p.split_once(':').expect("name: type").1))
            .collect();
        let brace = rest.find('{').expect("{");
        let ret = rest[close + 1..brace].trim().trim_start_matches("->").trim();
        out.insert(name, (rust_to_c(ret), params));
    }
    out
}

fn header_signatures(h: &str) -> Sigs {
    // Drop comments and preprocessor lines.
    let mut text = String::new();
    let mut rest = h;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").expect("comment end") + 2..];
    }
    text.push_str(rest);
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.contains("extern \"C\"") && l.trim() != "}")
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Sigs::new();
    for decl in text.split(';').map(str::trim).filter(|d| d.contains('(') && !d.starts_with("typedef")) {
        let open = decl.find('(').expect("(");
        let mut head = c_tokens(&decl[..open]);
        let name = head.pop().expect("function name");
        let params: Vec<Vec<String>> = decl[open + 1..decl.rfind(')').expect(")")]
            .split(',')
            .map(c_tokens)
            .filter(|t| !(t.is_empty() || t == &["void"]))
            .map(|mut t| {
                t.pop(); // the parameter's name
                t
            })
            .collect();
        out.insert(name, (head, params));
    }
    out
}

/// `BEMM_*` constants: `#define NAME VALUE /* comment */` lines of the
/// header, or `pub const NAME: i32|usize = VALUE;` lines of the Rust side
/// (a Rust value that is not a literal is looked up in `resolve`).
fn constants(src: &str, prefix: &str, resolve: &BTreeMap<&str, i64>) -> BTreeMap<String, i64> {
    src.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix(prefix)?;
            let l = l.split("/*").next()?;
            let (name, value) = if prefix == "#define " {
                l.split_once(' ')?
            } else {
                l.split_once(": i32 =").or_else(|| l.split_once(": usize ="))?
            };
            let v = value.trim().trim_end_matches(';').trim_matches(|c| c == '(' || c == ')' || c == ' ');
            let v = v.parse().ok().or_else(|| resolve.get(v).copied());
            Some((name.trim().to_string(), v.unwrap_or_else(|| panic!("{name}: value `{value}` not understood"))))
        })
        .filter(|(n, _)| n.starts_with("BEMM_") && n != "BEMM_H")
        .collect()
}

/// Every `.rs` file of the C ABI (`engine/src/capi/`), concatenated.
fn capi_sources() -> String {
    let dir = repo().join("engine/src/capi");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("engine/src/capi").map(|e| e.expect("entry").path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("tests.rs"));
    files.sort();
    assert!(files.len() >= 3, "engine/src/capi holds only {files:?}");
    files.iter().map(|p| std::fs::read_to_string(p).expect("read")).collect::<Vec<_>>().join("\n")
}

#[test]
fn header_declares_exactly_the_exported_functions_and_codes() {
    let rs = capi_sources();
    let h = std::fs::read_to_string(repo().join("engine/include/bemm.h")).expect("bemm.h");
    let (rust, header) = (rust_signatures(&rs), header_signatures(&h));
    assert!(rust.len() >= 12, "found only {} exported functions", rust.len());
    for (name, sig) in &rust {
        assert_eq!(header.get(name), Some(sig), "bemm.h disagrees with engine/src/capi/ on `{name}`");
    }
    for name in header.keys() {
        assert!(rust.contains_key(name), "bemm.h declares `{name}`, which engine/src/capi/ does not export");
    }
    // Rust constants defined by another crate's constant.
    let resolve = BTreeMap::from([("bemm_formats::model::MODEL_ALIGN", bemm_formats::model::MODEL_ALIGN as i64)]);
    let (rc, hc) = (constants(&rs, "pub const ", &resolve), constants(&h, "#define ", &resolve));
    assert!(rc.len() >= 16, "{rc:?}");
    assert_eq!(rc, hc, "status codes differ between engine/src/capi/ and bemm.h");
}

/// Build the engine as a staticlib with the `capi` feature. A separate
/// target dir under `target/tmp` keeps the nested cargo off the lock the
/// running `cargo test` holds (and is reused, so reruns are incremental).
fn staticlib() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi-staticlib");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo())
        .args([
            "rustc",
            "-p",
            "bemm-engine",
            "--lib",
            "--features",
            "capi",
            "--crate-type",
            "staticlib",
            "--target-dir",
        ])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the bemm-engine staticlib failed");
    target.join("debug/libbemm_engine.a")
}

#[test]
fn c_example_links_the_staticlib_and_predicts_like_the_rust_api() {
    let cc_ok = Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(cc_ok, "no system C compiler `cc` on PATH: install one (apt-get install gcc) to test the C interface");
    let lib = staticlib();
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("predict");
    let out = Command::new("cc")
        .args(["-std=c11", "-O1", "-Wall", "-Werror", "-I"])
        .arg(repo().join("engine/include"))
        .arg(repo().join("engine/examples/c/predict.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-o"])
        .arg(&exe)
        .output()
        .expect("run cc");
    assert!(out.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&out.stderr));

    // A 12-band model and a normalised patch.
    let channels: Vec<usize> = (0..12).collect();
    let bytes = build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(11), OwnedMeta::bigearthnet("tiny", &channels))
        .expect("build")
        .to_bytes()
        .expect("bytes");
    let patch: Vec<f32> = (0..12 * 120 * 120).map(|i| ((i * 37 % 997) as f32 / 498.5 - 1.0) * 1.5).collect();
    let (model_path, patch_path) = (dir.path().join("m.bemm"), dir.path().join("p.f32"));
    std::fs::write(&model_path, &bytes).expect("write model");
    std::fs::write(&patch_path, patch.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write patch");
    let run = Command::new(&exe).arg(&model_path).arg(&patch_path).output().expect("run predict");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "predict failed:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("expected error BEMM_ERR_SCRATCH: bemm_predict: scratch holds"), "{stdout}");

    // The same prediction through the Rust API.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).expect("load");
    let input: Vec<f16> = patch.iter().map(|v| f16::from_f32(*v)).collect();
    let mut scratch = vec![0f32; m.scratch_len(1)];
    let (mut probs, mut feats) = (vec![0f32; 19], vec![0f32; m.feature_len()]);
    m.infer(&input, 1, &mut scratch, &mut probs, &mut feats).expect("infer");

    let (mut seen, mut seen_kernel) = (0, false);
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["labels", mask] => {
                assert_eq!(u64::from_str_radix(mask.trim_start_matches("0x"), 16).expect("mask"), m.predicted(&probs))
            }
            ["kernel", name] => {
                assert_eq!(*name, m.kernel().name);
                seen_kernel = true;
            }
            ["feature0", v] => {
                assert!((v.parse::<f32>().expect("f") - feats[0]).abs() <= 1e-6 * feats[0].abs().max(1.0))
            }
            [j, p] if j.parse::<usize>().is_ok() => {
                let (j, p) = (j.parse::<usize>().expect("j"), p.parse::<f32>().expect("p"));
                assert!((p - probs[j]).abs() <= 1e-6, "class {j}: C {p}, Rust {}", probs[j]);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 19, "{stdout}");
    assert!(seen_kernel, "no `kernel NAME` line:\n{stdout}");
}
