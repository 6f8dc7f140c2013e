//! PyTorch parity of `bemm import`: the committed fixtures of
//! `tests/fixtures/torch/make_fixture.py` (torchvision ResNet-18 and
//! VGG-16-BN with 12-band stems, random weights, PyTorch's own sigmoid
//! outputs) are imported through the CLI and run by the engine; the
//! probabilities must match PyTorch's within fp16 tolerance. Also the
//! importer's errors on missing, mis-shaped and unknown tensors.

use bemm_engine::arch::{build, Arch, BatchNorm, RandomWeights, WeightSource};
use bemm_engine::Model;
use bemm_formats::bands::BAND_NAMES;
use bemm_formats::labels::CLASS_NAMES;
use bemm_formats::model::OwnedMeta;
use half::f16;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/torch").join(name)
}

/// Model bytes in u64 storage (the engine wants them aligned).
fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut v = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

fn f32s(st: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).expect(name);
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    (t.shape().to_vec(), t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Max abs differences of one fixture's probabilities.
#[derive(Debug)]
struct Parity {
    /// bemm vs PyTorch (f32 weights, batch norm unfolded).
    torch: f32,
    /// The same in logit space.
    torch_logit: f32,
    /// bemm vs PyTorch running the weights a model file holds (BN folded, f16).
    folded: f32,
    /// That PyTorch run vs the f32 one: the error fp16 storage costs anyone.
    storage: f32,
}

/// Import fixture `name` with its config and compare with PyTorch.
fn parity(name: &str, arch: &str) -> Parity {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join(format!("{name}.safetensors"));
    let mut gz =
        flate2::read::GzDecoder::new(std::fs::File::open(fixture(&format!("{name}.safetensors.gz"))).expect("fixture"));
    let mut raw = Vec::new();
    gz.read_to_end(&mut raw).expect("gunzip");
    std::fs::write(&weights, &raw).expect("write weights");
    let out = dir.path().join(format!("{name}.bemm"));
    let config = fixture(&format!("{name}_import.json"));
    bemm_tools::cli::run_args([
        "import".as_ref(),
        weights.as_os_str(),
        "--arch".as_ref(),
        arch.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect("bemm import");

    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config")).expect("json");
    let src_bands: Vec<String> =
        cfg["band_order"].as_array().expect("bands").iter().map(|b| b.as_str().expect("band").to_string()).collect();
    let src_classes: Vec<String> = cfg["class_order"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|b| b.as_str().expect("class").to_string())
        .collect();

    let bytes = std::fs::read(&out).expect("model");
    let words = aligned(&bytes);
    let model = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).expect("load");
    assert_eq!(model.meta().bands.as_slice(), BAND_NAMES.as_slice());

    let io_bytes = std::fs::read(fixture(&format!("{name}_io.safetensors"))).expect("io fixture");
    let io = SafeTensors::deserialize(&io_bytes).expect("io");
    let x = io.tensor("input").expect("input");
    assert_eq!(x.dtype(), Dtype::F16);
    let (n, c, hw) = (x.shape()[0], x.shape()[1], x.shape()[2] * x.shape()[3]);
    let src: Vec<f16> = x.data().chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect();
    // The fixture's inputs are in the source's band order; ours differs.
    let mut input = vec![f16::ZERO; src.len()];
    for s in 0..n {
        for (ours, band) in BAND_NAMES.iter().enumerate() {
            let from = src_bands.iter().position(|b| b == band).expect("band in source");
            input[(s * c + ours) * hw..(s * c + ours + 1) * hw]
                .copy_from_slice(&src[(s * c + from) * hw..(s * c + from + 1) * hw]);
        }
    }
    let recorded = format!("source band order [{}]", src_bands.join(","));
    assert!(model.meta().provenance.preprocessing.contains(&recorded), "{}", model.meta().provenance.preprocessing);
    let (shape, torch_probs) = f32s(&io, "probs");
    assert_eq!(shape, [n, 19]);
    let (_, folded_probs) = f32s(&io, "probs_fp16_folded");
    let mut scratch = vec![0f32; model.scratch_len(n)];
    let mut probs = vec![0f32; n * model.num_classes()];
    model.infer(&input, n, &mut scratch, &mut probs, &mut []).expect("infer");
    let mut r = Parity { torch: 0.0, torch_logit: 0.0, folded: 0.0, storage: 0.0 };
    let logit = |p: f32| (p / (1.0 - p)).ln();
    for s in 0..n {
        for (i, class) in CLASS_NAMES.iter().enumerate() {
            let row = src_classes.iter().position(|c| c == class).expect("class in source");
            let (ours, theirs, folded) = (probs[s * 19 + i], torch_probs[s * 19 + row], folded_probs[s * 19 + row]);
            r.torch = r.torch.max((ours - theirs).abs());
            r.torch_logit = r.torch_logit.max((logit(ours) - logit(theirs)).abs());
            r.folded = r.folded.max((ours - folded).abs());
            r.storage = r.storage.max((folded - theirs).abs());
        }
    }
    println!(
        "{name}: {n} inputs, max |p_bemm - p_torch| = {:.2e} (logit {:.2e}); vs PyTorch with fp16 folded weights {:.2e}; \
         fp16 storage error of PyTorch itself {:.2e}",
        r.torch, r.torch_logit, r.folded, r.storage
    );
    r
}

/// The engine must compute what PyTorch computes from the same (folded,
/// f16) weights up to f32 summation order (measured: 1.8e-5 ResNet-18,
/// 1.2e-4 VGG-16-BN; the bound allows other SIMD summation orders), and be
/// within fp16 tolerance of the f32 PyTorch model (fp16 storage alone costs
/// 7.9e-4 and 6.8e-3 here).
fn assert_parity(r: &Parity) {
    assert!(r.folded < 5e-4, "{r:?}");
    assert!(r.torch < 1e-2, "{r:?}");
}

#[test]
fn imported_torchvision_resnet18_matches_pytorch_with_permuted_bands_and_classes() {
    assert_parity(&parity("resnet18", "resnet18"));
}

#[test]
fn imported_torchvision_vgg16_bn_matches_pytorch_under_a_model_prefix() {
    assert_parity(&parity("vgg16_bn", "vgg16"));
}

/// Random tiny-network weights recorded under their torchvision names, as a
/// PyTorch state dict would hold them.
struct Recorder {
    rng: RandomWeights,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    stem_in: usize,
}

impl WeightSource for Recorder {
    type Error = std::convert::Infallible;
    fn conv(
        &mut self,
        name: &str,
        out_c: usize,
        in_c: usize,
        k: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), Self::Error> {
        let in_c = if self.tensors.is_empty() { self.stem_in } else { in_c };
        let (w, _) = self.rng.conv(name, out_c, in_c, k)?;
        self.tensors.insert(format!("{name}.weight"), (vec![out_c, in_c, k, k], w.clone()));
        Ok((w, None))
    }
    fn batch_norm(&mut self, name: &str, c: usize) -> Result<BatchNorm, Self::Error> {
        let bn = self.rng.batch_norm(name, c)?;
        for (s, v) in [("weight", &bn.gamma), ("bias", &bn.beta), ("running_mean", &bn.mean), ("running_var", &bn.var)]
        {
            self.tensors.insert(format!("{name}.{s}"), (vec![c], v.clone()));
        }
        Ok(bn)
    }
    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), Self::Error> {
        let (w, b) = self.rng.linear(name, out, inp)?;
        self.tensors.insert(format!("{name}.weight"), (vec![out, inp], w.clone()));
        self.tensors.insert(format!("{name}.bias"), (vec![out], b.clone()));
        Ok((w, b))
    }
}

fn tiny_state(stem_in: usize) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut r = Recorder { rng: RandomWeights::new(7), tensors: BTreeMap::new(), stem_in };
    // Built only to walk the architecture, at the stem's own width.
    build(Arch::Tiny, stem_in, 120, 19, &mut r, OwnedMeta::bigearthnet("tiny", &(0..stem_in).collect::<Vec<_>>()))
        .expect("walk");
    r.tensors
}

fn write_state(path: &Path, state: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
    let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = state
        .iter()
        .map(|(k, (s, v))| (k.clone(), s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(k, s, b)| (k.clone(), safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).expect("view")))
        .collect();
    let bytes = safetensors::serialize(views, None).expect("serialize");
    std::fs::write(path, bytes).expect("write");
}

fn import_tiny(
    dir: &Path,
    state: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    extra: &[&str],
) -> Result<Vec<u8>, String> {
    let weights = dir.join("w.safetensors");
    write_state(&weights, state);
    let out = dir.join("tiny.bemm");
    let mut args: Vec<String> = vec![
        "import".into(),
        weights.display().to_string(),
        "--arch".into(),
        "tiny".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    bemm_tools::cli::run_args(args).map_err(|e| format!("{e:#}"))?;
    std::fs::read(&out).map_err(|e| e.to_string())
}

#[test]
fn importer_names_missing_misshaped_and_unknown_tensors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = tiny_state(12);
    assert!(import_tiny(dir.path(), &good, &[]).is_ok());

    let mut missing = good.clone();
    missing.remove("block.bn1.running_var");
    let e = import_tiny(dir.path(), &missing, &[]).unwrap_err();
    assert!(e.contains("`block.bn1.running_var` is missing") && e.contains("w.safetensors"), "{e}");

    let mut misshaped = good.clone();
    misshaped.insert("conv2.weight".into(), (vec![32, 16, 1, 9], vec![0.0; 32 * 16 * 9]));
    let e = import_tiny(dir.path(), &misshaped, &[]).unwrap_err();
    assert!(e.contains("`conv2.weight` has shape [32, 16, 1, 9], expected [32, 16, 3, 3]"), "{e}");

    let mut unknown = good.clone();
    unknown.insert("aux_head.weight".into(), (vec![2, 2], vec![0.0; 4]));
    let e = import_tiny(dir.path(), &unknown, &[]).unwrap_err();
    assert!(e.contains("`aux_head.weight`") && e.contains("not used"), "{e}");

    let e = import_tiny(dir.path(), &good, &["--band-order", "B02,B03"]).unwrap_err();
    assert!(e.contains("names 2 bands but the stem `conv1.weight` has 12"), "{e}");
    let e = import_tiny(dir.path(), &good, &["--class-order", "/nonexistent/classes.txt"]).unwrap_err();
    assert!(e.contains("/nonexistent/classes.txt"), "{e}");
}

#[test]
fn imported_weights_give_the_same_model_as_building_from_them_directly() {
    // Identity import (our bands, official classes) must equal the model
    // built straight from the same weights; a class permutation must permute
    // the outputs exactly.
    let dir = tempfile::tempdir().expect("tempdir");
    let state = tiny_state(12);
    let bytes = import_tiny(dir.path(), &state, &[]).expect("import");
    let direct = build(
        Arch::Tiny,
        12,
        120,
        19,
        &mut RandomWeights::new(7),
        OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>()),
    )
    .expect("build")
    .to_bytes()
    .expect("bytes");
    let input: Vec<f16> =
        (0..12 * 120 * 120).map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 500.0 - 1.0)).collect();
    let run = |b: &[u8]| {
        let w = aligned(b);
        let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&w)[..b.len()]).expect("load");
        let mut scratch = vec![0f32; m.scratch_len(1)];
        let mut p = vec![0f32; 19];
        m.infer(&input, 1, &mut scratch, &mut p, &mut []).expect("infer");
        p
    };
    let p_import = run(&bytes);
    assert_eq!(p_import, run(&direct));

    // Rows stored alphabetically: declaring that order must restore ours.
    let mut sorted: Vec<&str> = CLASS_NAMES.to_vec();
    sorted.sort();
    let mut alpha = state.clone();
    for key in ["fc.weight", "fc.bias"] {
        let (shape, v) = state[key].clone();
        let per = v.len() / 19;
        let mut nv = Vec::with_capacity(v.len());
        for name in &sorted {
            let i = CLASS_NAMES.iter().position(|c| c == name).expect("class");
            nv.extend_from_slice(&v[i * per..(i + 1) * per]);
        }
        alpha.insert(key.into(), (shape, nv));
    }
    let bytes = import_tiny(dir.path(), &alpha, &["--class-order", "alphabetical"]).expect("import alphabetical");
    assert_eq!(run(&bytes), p_import);
}

#[test]
fn an_imagenet_rgb_stem_is_widened_to_twelve_bands_and_narrowed_to_s1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = tiny_state(3);
    let bytes = import_tiny(dir.path(), &state, &["--json"]).expect("widen to 12");
    let w = aligned(&bytes);
    let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&w)[..bytes.len()]).expect("load");
    assert_eq!(m.input_shape().c, 12);
    assert!(m.meta().provenance.preprocessing.contains("widened from RGB"), "{}", m.meta().provenance.preprocessing);
    let bytes = import_tiny(dir.path(), &state, &["--bands", "s1"]).expect("narrow to s1");
    let w = aligned(&bytes);
    let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&w)[..bytes.len()]).expect("load");
    assert_eq!(m.input_shape().c, 2);
    assert_eq!(m.meta().bands.as_slice(), ["VV", "VH"]);
}
