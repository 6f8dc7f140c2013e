//! Weight conversion between a burn network and `bemm_engine::arch::WeightSource`.
//!
//! [`BurnWeights`] implements `WeightSource` over a network's layers, keyed by
//! torchvision name (conv weights OIHW, BN gamma/beta/running stats/eps,
//! linear weights transposed from burn's `[in, out]` to `[out, in]`): what
//! export builds the engine's graph from. [`load_weights`] is the reverse
//! direction: any `WeightSource` (a PyTorch state dict through the importer,
//! say) becomes the weights of a burn network.

use crate::error::TrainError;
use crate::model::{LayerMut, Net};
use bemm_engine::arch::{Arch, BatchNorm, WeightSource};
use burn::module::{Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Stored {
    Conv { w: Vec<f32>, dims: [usize; 4], bias: Option<Vec<f32>> },
    Bn(BatchNorm),
    Linear { w: Vec<f32>, out: usize, inp: usize, bias: Vec<f32> },
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default()
}

/// The weights of a burn network by torchvision name.
#[derive(Debug, Clone)]
pub struct BurnWeights {
    layers: HashMap<String, Stored>,
}

impl BurnWeights {
    /// Copy every layer's weights out of `net` (to host f32).
    pub fn new<B: Backend>(net: &Net<B>) -> Self {
        let mut layers = HashMap::new();
        let mut net = net.clone();
        net.for_each_layer(&mut |name, layer| {
            let s = match layer {
                LayerMut::Conv(c) => {
                    let w = c.weight.val();
                    let dims = w.dims();
                    Stored::Conv { w: to_vec(w), dims, bias: c.bias.as_ref().map(|b| to_vec(b.val())) }
                }
                LayerMut::Bn(b) => Stored::Bn(BatchNorm {
                    gamma: to_vec(b.gamma.val()),
                    beta: to_vec(b.beta.val()),
                    mean: to_vec(b.running_mean.value()),
                    var: to_vec(b.running_var.value()),
                    eps: b.epsilon as f32,
                }),
                LayerMut::Linear(l) => {
                    let w = l.weight.val();
                    let [inp, out] = w.dims();
                    // burn stores [in, out]; the engine wants [out, in].
                    let w = to_vec(w.transpose());
                    let bias = l.bias.as_ref().map(|b| to_vec(b.val())).unwrap_or_else(|| vec![0.0; out]);
                    Stored::Linear { w, out, inp, bias }
                }
            };
            layers.insert(name.to_string(), s);
        });
        BurnWeights { layers }
    }

    /// Drain `src` (e.g. the importer's safetensors source) for the layers of
    /// `arch`, by name and shape, into a backend-independent map: the initial
    /// weights of a run (`TrainConfig::init_weights`).
    pub fn from_source<S: WeightSource>(
        arch: Arch,
        in_c: usize,
        size: usize,
        classes: usize,
        src: &mut S,
    ) -> Result<Self, TrainError>
    where
        S::Error: std::fmt::Display,
    {
        let device = Default::default();
        let mut net = Net::<CpuBackend>::new(arch, in_c, size, classes, 0, &device);
        load_weights(&mut net, src, &device)?;
        Ok(BurnWeights::new(&net))
    }
}

/// The CPU backend used for export and weight conversion.
#[cfg(feature = "flex")]
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend used for export and weight conversion.
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub type CpuBackend = burn::backend::NdArray;

impl WeightSource for BurnWeights {
    type Error = String;

    fn conv(
        &mut self,
        name: &str,
        out_c: usize,
        in_c: usize,
        k: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), String> {
        match self.layers.get(name) {
            Some(Stored::Conv { w, dims, bias }) if *dims == [out_c, in_c, k, k] => Ok((w.clone(), bias.clone())),
            Some(Stored::Conv { dims, .. }) => {
                Err(format!("conv {name}: burn has shape {dims:?}, the architecture expects {:?}", [out_c, in_c, k, k]))
            }
            _ => Err(format!("conv {name}: no such layer in the burn network")),
        }
    }

    fn batch_norm(&mut self, name: &str, c: usize) -> Result<BatchNorm, String> {
        match self.layers.get(name) {
            Some(Stored::Bn(b)) if b.gamma.len() == c => Ok(b.clone()),
            Some(Stored::Bn(b)) => {
                Err(format!("batch norm {name}: burn has {} channels, the architecture expects {c}", b.gamma.len()))
            }
            _ => Err(format!("batch norm {name}: no such layer in the burn network")),
        }
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
        match self.layers.get(name) {
            Some(Stored::Linear { w, out: o, inp: i, bias }) if (*o, *i) == (out, inp) => Ok((w.clone(), bias.clone())),
            Some(Stored::Linear { out: o, inp: i, .. }) => {
                Err(format!("linear {name}: burn has [{o}, {i}], the architecture expects [{out}, {inp}]"))
            }
            _ => Err(format!("linear {name}: no such layer in the burn network")),
        }
    }
}

/// Replace `net`'s weights by those of `src` (by torchvision name; shapes
/// must match). The hook for `--init` from a PyTorch state dict.
pub fn load_weights<B: Backend, S: WeightSource>(
    net: &mut Net<B>,
    src: &mut S,
    device: &B::Device,
) -> Result<(), TrainError>
where
    S::Error: std::fmt::Display,
{
    let mut err: Option<String> = None;
    net.for_each_layer(&mut |name, layer| {
        if err.is_some() {
            return;
        }
        let r: Result<(), String> = (|| {
            match layer {
                LayerMut::Conv(c) => {
                    let d = c.weight.val().dims();
                    let (w, b) = src.conv(name, d[0], d[1], d[2]).map_err(|e| e.to_string())?;
                    c.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, d), device));
                    if c.bias.is_some() {
                        let b = b.unwrap_or_else(|| vec![0.0; d[0]]);
                        c.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [d[0]]), device)));
                    }
                }
                LayerMut::Bn(bn) => {
                    let n = bn.gamma.val().dims()[0];
                    let s = src.batch_norm(name, n).map_err(|e| e.to_string())?;
                    let t = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [n]), device);
                    bn.gamma = Param::from_tensor(t(s.gamma));
                    bn.beta = Param::from_tensor(t(s.beta));
                    bn.running_mean = RunningState::new(t(s.mean));
                    bn.running_var = RunningState::new(t(s.var));
                    bn.epsilon = f64::from(s.eps);
                }
                LayerMut::Linear(l) => {
                    let [inp, out] = l.weight.val().dims();
                    let (w, b) = src.linear(name, out, inp).map_err(|e| e.to_string())?;
                    let w = Tensor::<B, 2>::from_data(TensorData::new(w, [out, inp]), device).transpose();
                    l.weight = Param::from_tensor(w);
                    if l.bias.is_some() {
                        l.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [out]), device)));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            err = Some(e);
        }
    });
    err.map_or(Ok(()), |e| Err(TrainError::Config(format!("initial weights: {e}"))))
}
