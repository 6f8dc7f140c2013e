//! Shared test helpers: a straightforward f64 reference interpreter of model
//! files (per sample, CHW, no blocking, no reuse: an independent reading of
//! the format's semantics), random data, and model builders.
#![allow(dead_code)]

use bemm_engine::{Isa, Model};
use bemm_formats::model::{GraphBuilder, LayerKind, ModelBuilder, ModelFile, OwnedMeta, INPUT};
use half::f16;

/// xorshift64 in [-1, 1).
pub struct Rng(pub u64);
impl Rng {
    pub fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn u(&mut self, lo: u32, hi: u32) -> u32 {
        lo + ((self.f() + 1.0) * 0.5 * (hi - lo + 1) as f32) as u32 % (hi - lo + 1)
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f() * scale).collect()
    }
    pub fn input(&mut self, n: usize) -> Vec<f16> {
        (0..n).map(|_| f16::from_f32(self.f() * 2.0)).collect()
    }
}

/// Metadata for `c` input channels and `nc` classes (names `class0..`).
pub fn meta(c: usize, nc: usize) -> OwnedMeta {
    let mut m = OwnedMeta::bigearthnet("test", &(0..c.min(12)).collect::<Vec<_>>());
    m.bands = (0..c).map(|i| format!("band{i}")).collect();
    m.mean = vec![0.0; c];
    m.std = vec![1.0; c];
    m.classes = (0..nc).map(|i| format!("class{i}")).collect();
    m.thresholds = (0..nc).map(|i| 0.3 + 0.4 * (i as f32 / nc.max(1) as f32)).collect();
    m
}

/// Finish a graph whose layer `feature` is under test: a GAP + linear head
/// gives a 3-class output, the layer itself is the feature layer.
pub fn with_head(mut g: GraphBuilder, feature: u32, rng: &mut Rng) -> Vec<u8> {
    let c = g.shape(GraphBuilder::INPUT).unwrap().c as usize;
    let gap = g.global_avg_pool(feature).unwrap();
    let n = g.shape(gap).unwrap().c as usize;
    let out = g.linear(gap, 3, rng.vec(3 * n, 0.5), rng.vec(3, 0.1), false).unwrap();
    ModelBuilder { graph: g, output: out, feature, meta: meta(c, 3) }.to_bytes().unwrap()
}

/// 64-byte aligned copy of model bytes (what a memory map gives).
pub struct Aligned(Vec<u64>, usize);
impl Aligned {
    pub fn new(b: &[u8]) -> Self {
        let mut v = vec![0u64; b.len().div_ceil(8) + 8];
        bytemuck::cast_slice_mut::<u64, u8>(&mut v)[..b.len()].copy_from_slice(b);
        Aligned(v, b.len())
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

/// Every layer's output for one sample, in f64, CHW.
pub fn reference(m: &ModelFile<'_>, input: &[f16]) -> Vec<Vec<f64>> {
    let x: Vec<f64> = input.iter().map(|v| v.to_f64()).collect();
    let mut outs: Vec<Vec<f64>> = Vec::new();
    for l in m.layers() {
        let src = |id: u32| -> &[f64] {
            if id == INPUT {
                &x
            } else {
                &outs[id as usize]
            }
        };
        let a = src(l.input);
        let (ic, ih, iw) = (l.in_c as usize, l.in_h as usize, l.in_w as usize);
        let (oc, oh, ow) = (l.out_c as usize, l.out_h as usize, l.out_w as usize);
        let (kh, kw, s, p) = (l.kernel_h as usize, l.kernel_w as usize, l.stride as usize, l.pad as isize);
        let w: Vec<f64> = m.tensor(l.weight).map(|t| t.iter().map(|v| v.to_f64()).collect()).unwrap_or_default();
        let b: Vec<f64> =
            m.tensor(l.bias).map(|t| t.iter().map(|v| v.to_f64()).collect()).unwrap_or_else(|| vec![0.0; oc]);
        let at = |c: usize, y: isize, xx: isize| -> Option<f64> {
            (y >= 0 && xx >= 0 && (y as usize) < ih && (xx as usize) < iw)
                .then(|| a[(c * ih + y as usize) * iw + xx as usize])
        };
        let mut o = vec![0f64; oc * oh * ow];
        match l.layer_kind().unwrap() {
            LayerKind::Conv => {
                for co in 0..oc {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut acc = b[co];
                            for c in 0..ic {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let v =
                                            at(c, (y * s + ky) as isize - p, (xx * s + kx) as isize - p).unwrap_or(0.0);
                                        acc += v * w[((co * ic + c) * kh + ky) * kw + kx];
                                    }
                                }
                            }
                            o[(co * oh + y) * ow + xx] = acc;
                        }
                    }
                }
            }
            LayerKind::QConv => {
                // SPEC 1.8: the input quantized to u8 (rounded as the engine
                // documents: x * (1 / scale) + zp in f32, half up), padding =
                // the zero point, exact integer sums, then dequantized.
                let q = m.quant(outs.len()).unwrap();
                let wq = m.tensor_i8(l.weight).unwrap();
                let bq = m.tensor_i32(l.bias);
                let (inv, zp) = (1.0 / q.input_scale, q.input_zero_point as f32);
                let xq: Vec<i64> =
                    a.iter().map(|&v| (((v as f32) * inv + zp).clamp(0.0, 255.0) + 0.5) as u8 as i64).collect();
                let zp = q.input_zero_point as i64;
                for co in 0..oc {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut acc: i64 = bq.map_or(0, |b| b[co] as i64);
                            for c in 0..ic {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let (iy, ix) = ((y * s + ky) as isize - p, (xx * s + kx) as isize - p);
                                        let inside = iy >= 0 && ix >= 0 && (iy as usize) < ih && (ix as usize) < iw;
                                        let v = if inside { xq[(c * ih + iy as usize) * iw + ix as usize] } else { zp };
                                        acc += (v - zp) * wq[((co * ic + c) * kh + ky) * kw + kx] as i64;
                                    }
                                }
                            }
                            o[(co * oh + y) * ow + xx] = acc as f64 * q.input_scale as f64 * q.weight_scales[co] as f64;
                        }
                    }
                }
            }
            k @ (LayerKind::MaxPool | LayerKind::AvgPool) => {
                for c in 0..oc {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let vals: Vec<f64> = (0..kh)
                                .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
                                .filter_map(|(ky, kx)| at(c, (y * s + ky) as isize - p, (xx * s + kx) as isize - p))
                                .collect();
                            o[(c * oh + y) * ow + xx] = if k == LayerKind::MaxPool {
                                vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                            } else {
                                vals.iter().sum::<f64>() / vals.len() as f64
                            };
                        }
                    }
                }
            }
            LayerKind::Add => {
                let b2 = src(l.input2);
                for i in 0..o.len() {
                    o[i] = a[i] + b2[i];
                }
            }
            LayerKind::Relu => o.iter_mut().zip(a).for_each(|(o, v)| *o = v.max(0.0)),
            LayerKind::Sigmoid => o.iter_mut().zip(a).for_each(|(o, v)| *o = 1.0 / (1.0 + (-v).exp())),
            LayerKind::GlobalAvgPool => {
                let hw = ih * iw;
                for c in 0..ic {
                    o[c] = a[c * hw..(c + 1) * hw].iter().sum::<f64>() / hw as f64;
                }
            }
            LayerKind::Linear => {
                let n = l.in_c as usize;
                for j in 0..oc {
                    o[j] = b[j] + (0..n).map(|i| w[j * n + i] * a[i]).sum::<f64>();
                }
            }
        }
        if l.relu() {
            o.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        outs.push(o);
    }
    outs
}

/// Run `m` on `batch` samples; returns (probs, features).
pub fn run(m: &Model<'_>, input: &[f16], batch: usize) -> (Vec<f32>, Vec<f32>) {
    let mut scratch = vec![f32::NAN; m.scratch_len(batch)];
    let mut probs = vec![0f32; batch * m.num_classes()];
    let mut feats = vec![0f32; batch * m.feature_len()];
    m.infer(input, batch, &mut scratch, &mut probs, &mut feats).unwrap();
    (probs, feats)
}

/// Largest |a - b| relative to the largest |b| (or 1, whichever is larger).
pub fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((*x as f64 - y).abs())) / scale
}

/// The instruction sets with float kernels this CPU offers, exact ones first.
pub fn isas() -> Vec<Isa> {
    Isa::ALL.iter().copied().filter(|i| i.available() && i.int8_only().is_none()).collect()
}

/// Tolerance of a kernel family against the f64 reference.
pub fn tol(isa: Isa) -> f64 {
    if matches!(isa, Isa::Avx512Bf16 | Isa::NeonFp16) {
        3e-2
    } else {
        2e-5
    }
}

/// Check a model on `batch` random samples under every ISA against the
/// reference, features and probabilities; returns the worst relative error per ISA.
pub fn check_model(bytes: &[u8], batch: usize, rng: &mut Rng, tol_scale: f64) -> Vec<(Isa, f64)> {
    let buf = Aligned::new(bytes);
    let base = Model::from_bytes(buf.bytes()).unwrap();
    let n = base.input_len();
    let input = rng.input(batch * n);
    let refs: Vec<Vec<Vec<f64>>> = (0..batch).map(|b| reference(base.file(), &input[b * n..(b + 1) * n])).collect();
    let h = base.file().header();
    let mut want_f = Vec::new();
    let mut want_p = Vec::new();
    for r in &refs {
        want_f.extend_from_slice(&r[h.feature_layer as usize]);
        want_p.extend(r[h.output_layer as usize].iter().map(|v| 1.0 / (1.0 + (-v).exp())));
    }
    let mut out = Vec::new();
    for isa in isas() {
        let m = base.clone().with_isa(isa).unwrap();
        let (p, f) = run(&m, &input, batch);
        let (ef, ep) = (rel_err(&f, &want_f), rel_err(&p, &want_p));
        assert!(
            ef <= tol(isa) * tol_scale && ep <= tol(isa) * tol_scale,
            "{}: feature error {ef:e}, prob error {ep:e}",
            isa.name()
        );
        out.push((isa, ef.max(ep)));
    }
    out
}

/// The int8 twin of a float model: every convolution that does not read
/// the graph input becomes a `QConv`, its input scale and zero point
/// calibrated on the reference outputs of `calib` samples (asymmetric
/// min/max; zero point 0 for non-negative inputs).
pub fn quantized(builder: &ModelBuilder, calib: &[f16]) -> ModelBuilder {
    let bytes = builder.to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();
    let n = m.input_shape().len();
    let outs: Vec<Vec<Vec<f64>>> = calib.chunks(n).map(|x| reference(&m, x)).collect();
    let mut q = builder.clone();
    for (i, l) in m.layers().iter().enumerate() {
        if l.layer_kind() != Some(LayerKind::Conv) || l.input == INPUT {
            continue;
        }
        let vals = outs.iter().flat_map(|o| o[l.input as usize].iter().copied());
        let (lo, hi) = vals.fold((0f64, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let scale = (((hi - lo) / 255.0) as f32).max(1e-6);
        let zp = (-lo / scale as f64).round().clamp(0.0, 255.0) as u8;
        q.graph.quantize(i as u32, scale, zp, bemm_formats::model::WeightBits::Eight).unwrap();
    }
    q
}
