//! Trainer behaviour users rely on: every architecture matches the engine's
//! layer graph, export folds BN exactly, and an interrupted run resumes to
//! the same weights as an uninterrupted one.

use bemm_engine::arch::{Arch, RandomWeights};
use bemm_formats::archive::{name_bytes, Manifest, PatchRecord, ShardEntry, ShardWriter, Split};
use bemm_formats::model::OwnedMeta;
use bemm_trainer::export::model_bytes;
use bemm_trainer::model::Net;
use bemm_trainer::weights::{load_weights, BurnWeights};
use bemm_trainer::{Bands, DeviceSpec, Quiet, TrainConfig};
use burn::backend::Flex;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Tensor, TensorData};
use half::f16;
use std::path::Path;

type B = Flex;

fn input(n: usize, c: usize, side: usize, seed: u64) -> Vec<f16> {
    let mut s = seed;
    (0..n * c * side * side)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            f16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
        })
        .collect()
}

#[test]
fn every_architecture_has_the_engine_graph_and_19_outputs() {
    let dev = Default::default();
    // 32x32 keeps the deep nets cheap; every stage still has >= 1 pixel.
    for arch in Arch::ALL {
        let net = Net::<B>::new(arch, 12, 32, 19, 1, &dev);
        let x = Tensor::<B, 4>::from_data(TensorData::new(vec![0.1f32; 2 * 12 * 32 * 32], [2, 12, 32, 32]), &dev);
        assert_eq!(net.forward(x, None).dims(), [2, 19], "{arch:?}");
        // build() asks for every tensor by torchvision name and checks its shape.
        let meta = OwnedMeta::bigearthnet(arch.name(), &(0..12).collect::<Vec<_>>());
        model_bytes(&net, arch, &(0..12).collect::<Vec<_>>(), 32, 19, meta).unwrap_or_else(|e| panic!("{arch:?}: {e}"));
    }
    // The S1-only variant takes 2 channels.
    let net = Net::<B>::new(Arch::ResNet18, 2, 32, 19, 1, &dev);
    let x = Tensor::<B, 4>::from_data(TensorData::new(vec![0.0f32; 2 * 32 * 32], [1, 2, 32, 32]), &dev);
    assert_eq!(net.forward(x, None).dims(), [1, 19]);
}

#[test]
fn initial_weights_depend_only_on_the_seed() {
    let dev = Default::default();
    let a = Net::<B>::new(Arch::Tiny, 12, 120, 19, 5, &dev);
    let b = Net::<B>::new(Arch::Tiny, 12, 120, 19, 5, &dev);
    let c = Net::<B>::new(Arch::Tiny, 12, 120, 19, 6, &dev);
    let w = |n: &Net<B>| {
        let mut s = BurnWeights::new(n);
        bemm_engine::arch::WeightSource::conv(&mut s, "conv1", 16, 12, 3).map(|x| x.0).unwrap_or_default()
    };
    assert_eq!(w(&a), w(&b));
    assert_ne!(w(&a), w(&c));
}

/// Exported (BN folded, fp16) graph through the engine vs burn's own forward
/// pass in inference mode, with non-trivial BN statistics.
#[test]
fn exported_tiny_model_matches_burn_through_the_engine() {
    let dev = Default::default();
    for (arch, side) in [(Arch::Tiny, 120usize), (Arch::ResNet18, 64)] {
        let mut net = Net::<B>::new(arch, 12, side, 19, 3, &dev);
        load_weights(&mut net, &mut RandomWeights::new(11), &dev).expect("load random weights");
        let meta = OwnedMeta::bigearthnet(arch.name(), &(0..12).collect::<Vec<_>>());
        let bytes = model_bytes(&net, arch, &(0..12).collect::<Vec<_>>(), side, 19, meta).expect("export");
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        let model = bemm_engine::Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()])
            .expect("engine loads it");
        let n = 4;
        let x16 = input(n, 12, side, 9);
        let mut probs = vec![0f32; n * 19];
        let mut scratch = vec![0f32; model.scratch_len(n)];
        model.infer(&x16, n, &mut scratch, &mut probs, &mut []).expect("infer");
        let x32: Vec<f32> = x16.iter().map(|v| v.to_f32()).collect();
        let xt = Tensor::<B, 4>::from_data(TensorData::new(x32, [n, 12, side, side]), &dev);
        let burn: Vec<f32> = sigmoid(net.forward(xt, None)).into_data().into_vec::<f32>().expect("f32");
        let max = probs.iter().zip(&burn).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max < 2e-2, "{arch:?}: max |p_engine - p_burn| = {max}");
        let spread = burn.iter().fold(0f32, |m, p| m.max((p - 0.5).abs()));
        assert!(spread > 0.05, "{arch:?}: outputs should not all sit at 0.5 (spread {spread})");
    }
}

/// A small archive of `side x side` patches: class c is present when channel
/// c % 12 is bright, so there is something to learn.
fn write_archive(dir: &Path, side: usize, per_split: &[(Split, usize)]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut m = Manifest::new(1024);
    m.height = side as u32;
    m.width = side as u32;
    let bands: Vec<&str> = m.bands.iter().map(|s| s.as_str()).collect();
    let file = "shard-00000.bemmshard";
    let mut w =
        ShardWriter::create(&dir.join(file), &bands, &m.mean, &m.std, side as u32, side as u32).expect("create shard");
    let mut k = 0u64;
    for &(split, n) in per_split {
        for _ in 0..n {
            k += 1;
            let labels = (k * 2654435761 % 7 + 1) as u32 | 1 << (k % 19) as u32;
            let mut patch = input(1, 12, side, k);
            for c in 0..12 {
                if labels >> c & 1 == 1 {
                    for v in &mut patch[c * side * side..(c + 1) * side * side] {
                        *v = f16::from_f32(v.to_f32() * 0.25 + 1.5);
                    }
                }
            }
            let rec = PatchRecord {
                s2_name: name_bytes(&format!("S2_{k}")).expect("name"),
                s1_name: name_bytes(&format!("S1_{k}")).expect("name"),
                labels43: 0,
                labels19: labels & ((1 << 19) - 1),
                split: split as u8,
                flags: 0,
                reserved: [0; 2],
            };
            w.push(&rec, &patch).expect("push");
        }
    }
    let (count, bytes) = w.finish().expect("finish");
    m.shards.push(ShardEntry { file: file.into(), chunk: 0, count, bytes });
    m.save(dir).expect("manifest");
}

fn cfg(archive: &Path, run: &Path, epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::paper(archive.to_path_buf(), run.to_path_buf(), Arch::Tiny);
    c.epochs = epochs;
    c.batch_size = 8;
    c.augment = true;
    c.seed = 42;
    c.device = DeviceSpec::Cpu;
    c.bands = Bands::All;
    c
}

/// Every weight and BN statistic of a network, by layer, in order.
fn all_weights(net: &mut Net<B>) -> Vec<(String, Vec<f32>)> {
    use bemm_trainer::model::LayerMut;
    let mut out = Vec::new();
    let v = |t: Vec<f32>| t;
    net.for_each_layer(&mut |name, layer| match layer {
        LayerMut::Conv(c) => {
            out.push((name.to_string(), v(c.weight.val().into_data().into_vec::<f32>().unwrap_or_default())))
        }
        LayerMut::Bn(b) => {
            let mut x = b.gamma.val().into_data().into_vec::<f32>().unwrap_or_default();
            x.extend(b.beta.val().into_data().into_vec::<f32>().unwrap_or_default());
            x.extend(b.running_mean.value().into_data().into_vec::<f32>().unwrap_or_default());
            x.extend(b.running_var.value().into_data().into_vec::<f32>().unwrap_or_default());
            out.push((name.to_string(), x));
        }
        LayerMut::Linear(l) => {
            out.push((name.to_string(), v(l.weight.val().into_data().into_vec::<f32>().unwrap_or_default())))
        }
    });
    out
}

#[test]
fn interrupted_run_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("archive");
    write_archive(&archive, 32, &[(Split::Train, 40), (Split::Validation, 16)]);
    let straight = tmp.path().join("straight");
    let split = tmp.path().join("split");
    let a = bemm_trainer::train(&cfg(&archive, &straight, 3), &mut Quiet).expect("straight run");
    let first = bemm_trainer::train(&cfg(&archive, &split, 1), &mut Quiet).expect("first part");
    assert_eq!(first.state.epochs_done, 1);
    let b = bemm_trainer::train(&cfg(&archive, &split, 3), &mut Quiet).expect("resumed part");
    assert_eq!(b.resumed_after, Some(1));
    assert_eq!(a.state.history.len(), 3);
    for (x, y) in a.state.history.iter().zip(&b.state.history) {
        assert_eq!(x.train_loss, y.train_loss, "epoch {} loss", x.epoch);
        assert_eq!(x.val, y.val, "epoch {} validation", x.epoch);
    }
    let dev = Default::default();
    let (_, mut na) = bemm_trainer::checkpoint::load_net::<B>(&straight.join("last.ckpt"), &dev).expect("load");
    let (_, mut nb) = bemm_trainer::checkpoint::load_net::<B>(&split.join("last.ckpt"), &dev).expect("load");
    let (wa, wb) = (all_weights(&mut na), all_weights(&mut nb));
    assert_eq!(wa.len(), 11, "5 convs + 5 BN layers (with running stats) + fc");
    assert!(wa == wb, "weights differ after resume");
    for f in ["metrics.csv", "metrics.jsonl", "loss.svg", "scores.svg", "best.ckpt"] {
        assert!(split.join(f).exists(), "{f} missing");
    }
    let csv = std::fs::read_to_string(split.join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 4, "header + 3 epochs:\n{csv}");

    // Resuming with other settings is refused with a clear message.
    let mut other = cfg(&archive, &split, 4);
    other.lr = 0.1;
    let e = bemm_trainer::train(&other, &mut Quiet).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("resuming needs the same settings"), "{e}");
}

#[test]
fn corrupted_checkpoint_is_refused_with_its_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("archive");
    write_archive(&archive, 32, &[(Split::Train, 8), (Split::Validation, 4)]);
    let run = tmp.path().join("run");
    bemm_trainer::train(&cfg(&archive, &run, 1), &mut Quiet).expect("run");
    let p = run.join("last.ckpt");
    let mut bytes = std::fs::read(&p).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).expect("write");
    let e = bemm_trainer::train(&cfg(&archive, &run, 2), &mut Quiet).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("last.ckpt") && e.contains("checksum"), "{e}");
}

#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("archive");
    write_archive(&archive, 32, &[(Split::Train, 4), (Split::Validation, 2)]);
    let mut c = cfg(&archive, &tmp.path().join("run"), 1);
    c.device = DeviceSpec::Cuda(vec![0]);
    match bemm_trainer::train(&c, &mut Quiet) {
        // A machine with a working GPU and the cuda feature trains; nothing to check here.
        Ok(_) => {}
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("no usable CUDA GPU found: "), "{msg}");
        }
    }
}

/// The multi-device path (batch shards on separate model copies, gradients
/// accumulated by burn's `step_multi`) trains like one device: on the CPU the
/// "devices" are the same, so only batch-norm statistics (per shard) differ.
#[test]
fn sharded_data_parallel_step_trains_like_one_device() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("archive");
    write_archive(&archive, 32, &[(Split::Train, 48), (Split::Validation, 16)]);
    let one = bemm_trainer::train(&cfg(&archive, &tmp.path().join("one"), 2), &mut Quiet).expect("one device");
    let mut c = cfg(&archive, &tmp.path().join("two"), 2);
    c.cpu_shards = 2;
    let two = bemm_trainer::train(&c, &mut Quiet).expect("two shards");
    for (a, b) in one.state.history.iter().zip(&two.state.history) {
        assert!(b.train_loss.is_finite());
        let rel = (a.train_loss - b.train_loss).abs() / a.train_loss;
        assert!(rel < 0.1, "epoch {}: loss {} on one device, {} in two shards", a.epoch, a.train_loss, b.train_loss);
    }
    assert!(
        two.state.history[1].train_loss < two.state.history[0].train_loss,
        "sharded training does not learn: {:?}",
        two.state.history
    );
}
