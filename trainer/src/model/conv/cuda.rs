//! The trainer's convolution on burn-cuda without fusion (`--features
//! cuda-base`) when `BEMM_CUDA_CONV=implicit-gemm` asks for it: burn-cubecl's
//! implicit-GEMM kernels for the output and both gradients, without
//! autotuning. Otherwise, and for any layer those kernels refuse
//! (`ConvSetupError`), burn's own `Conv2d` runs.
//!
//! Why: without autotuning, burn-cubecl 0.21 convolves with
//! `ConvStrategy::Direct` (a loop per output element, no tensor cores) and
//! fallback kernels for the gradients. On an H200 that was 3.1 s a ResNet50
//! step at batch 256, 35x slower than PyTorch in fp32. Autotuning chooses
//! among implicit-GEMM and other kernels, but compiling and timing its
//! candidates did not finish ResNet50's first step in 535 s. Naming the
//! algorithm leaves no candidates to compile and time.
//!
//! Opt-in, not the default, because it has not yet been measured on a GPU.
//! `benches/train/gpu.sh` measures it beside burn's default
//! (`CUDA_CONVS="burn implicit-gemm"`).
//!
//! Under `--features cuda` (fusion) the backend's tensors are fusion
//! handles, not `CubeTensor`s, and this module is not compiled.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::Autodiff;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive};
use burn_cubecl::cubecl::cuda::CudaRuntime;
use burn_cubecl::kernel::conv::{conv_data_backward, conv_forward, conv_weight_backward, ConvStrategy};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeBackend, FloatElement};
use std::sync::OnceLock;

use super::choice::{symmetric_padding, CudaConv};
use crate::model::downcast::cast;

/// burn-cuda without fusion, as `burn::backend::Cuda<F>` is under `cuda-base`.
type Inner<F> = CubeBackend<CudaRuntime, F, i32, u8>;
type Ad<F> = Autodiff<Inner<F>>;
type Cube = CubeTensor<CudaRuntime>;

/// The algorithm `BEMM_CUDA_CONV` names, read once. An unknown name is said
/// on stderr once and leaves burn's own convolution.
fn chosen() -> CudaConv {
    static CHOSEN: OnceLock<CudaConv> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        CudaConv::from_env().unwrap_or_else(|message| {
            eprintln!("{message}; using burn's convolution");
            CudaConv::Burn
        })
    })
}

/// `conv` applied to `x` through the implicit-GEMM kernels when they are
/// chosen, `B` is burn-cuda (f32, bf16 or f16; training or not) and the
/// layer is ungrouped and symmetrically padded; `None` otherwise.
pub(super) fn forward<B: Backend>(conv: &Conv2d<B>, x: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
    if chosen() != CudaConv::ImplicitGemm {
        return None;
    }
    let options = ConvOptions::new(conv.stride, symmetric_padding(conv)?, conv.dilation, 1);
    let y = on::<B, f32>(conv, x, &options)
        .or_else(|| on::<B, half::bf16>(conv, x, &options))
        .or_else(|| on::<B, half::f16>(conv, x, &options))?;
    // The bias (VGG's layers; ResNet's have none) through burn's own ops,
    // which also give its gradient.
    Some(match &conv.bias {
        Some(b) => {
            let o = b.dims()[0];
            y + b.val().reshape([1, o, 1, 1])
        }
        None => y,
    })
}

/// The bias-free convolution when `B` is `Autodiff<Inner<F>>` (training)
/// or `Inner<F>` (validation, export checks).
fn on<B: Backend, F: FloatElement>(
    conv: &Conv2d<B>,
    x: &Tensor<B, 4>,
    options: &ConvOptions<2>,
) -> Option<Tensor<B, 4>> {
    let w = conv.weight.val();
    if let Some(x) = cast::<_, Tensor<Ad<F>, 4>>(x) {
        return cast(&conv2d::<F>(x, cast(&w)?, options.clone()));
    }
    let x = cast::<_, Tensor<Inner<F>, 4>>(x)?.into_primitive().tensor();
    let w = cast::<_, Tensor<Inner<F>, 4>>(&w)?.into_primitive().tensor();
    cast(&Tensor::<Inner<F>, 4>::from_primitive(TensorPrimitive::Float(output::<F>(x, w, options))))
}

/// The convolution as a custom autodiff op: [`output`] forward,
/// [`input_grad`] and [`weight_grad`] backward.
fn conv2d<F: FloatElement>(x: Tensor<Ad<F>, 4>, weight: Tensor<Ad<F>, 4>, options: ConvOptions<2>) -> Tensor<Ad<F>, 4> {
    let x = x.into_primitive().tensor();
    let w = weight.into_primitive().tensor();
    let prep = Backward::<Inner<F>, 2>::prepare::<NoCheckpointing>(ImplicitGemmConv, [x.node.clone(), w.node.clone()]);
    let out = match prep.compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
            prep.finish((xs, ws, options.clone()), output::<F>(x.primitive, w.primitive, &options))
        }
        OpsKind::UnTracked(prep) => prep.finish(output::<F>(x.primitive, w.primitive, &options)),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct ImplicitGemmConv;

impl<F: FloatElement> Backward<Inner<F>, 2> for ImplicitGemmConv {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Inner<F>>(&ops.node);
        let (xs, ws, options) = ops.state;
        let x: Cube = checkpointer.retrieve_node_output(xs);
        let w: Cube = checkpointer.retrieve_node_output(ws);
        if let Some(node) = node_w {
            grads.register::<Inner<F>>(node.id, weight_grad::<F>(x.clone(), w.clone(), grad.clone(), &options));
        }
        if let Some(node) = node_x {
            grads.register::<Inner<F>>(node.id, input_grad::<F>(x, w, grad, &options));
        }
    }
}

/// `conv2d(x, w)`, `[N, C, H, W]` -> `[N, O, oh, ow]`.
fn output<F: FloatElement>(x: Cube, w: Cube, options: &ConvOptions<2>) -> Cube {
    conv_forward::<CudaRuntime, 2>(x.clone(), w.clone(), None, options.clone(), ConvStrategy::ImplicitGemm)
        .unwrap_or_else(|_| <Inner<F> as ModuleOps<Inner<F>>>::conv2d(x, w, None, options.clone()))
}

/// The gradient of `x` (`[N, C, H, W]`) from the output's, `dy`.
fn input_grad<F: FloatElement>(x: Cube, w: Cube, dy: Cube, options: &ConvOptions<2>) -> Cube {
    conv_data_backward::<CudaRuntime, 2>(dy.clone(), w.clone(), x.shape(), options.clone(), ConvStrategy::ImplicitGemm)
        .unwrap_or_else(|_| <Inner<F> as ModuleOps<Inner<F>>>::conv2d_x_backward(x, w, dy, options.clone()))
}

/// The gradient of `w` (`[O, C, kh, kw]`) from the output's, `dy`.
fn weight_grad<F: FloatElement>(x: Cube, w: Cube, dy: Cube, options: &ConvOptions<2>) -> Cube {
    conv_weight_backward::<CudaRuntime, 2>(
        x.clone(),
        dy.clone(),
        w.shape(),
        options.clone(),
        ConvStrategy::ImplicitGemm,
    )
    .unwrap_or_else(|_| <Inner<F> as ModuleOps<Inner<F>>>::conv2d_weight_backward(x, w, dy, options.clone()))
}
