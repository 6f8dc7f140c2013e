//! The trainer's 2-D convolution. On the CPU backend (`Flex`, and
//! `Autodiff<Flex>` in training) the output and both gradients are GEMMs
//! over an im2col panel that spans a chunk of samples (`flex.rs`, with the
//! products in `panel.rs` and the index arithmetic in `geometry.rs`);
//! burn-cuda runs burn's own `Conv2d`, or with `BEMM_CUDA_CONV=implicit-gemm`
//! burn-cubecl's implicit-GEMM kernels (`cuda.rs`); burn-ndarray runs
//! burn's own. Groups, dilation and asymmetric padding (none of which the
//! bemm networks use), and non-f32 tensors, take burn's path
//! (`choice.rs`).

mod choice;
#[cfg(all(feature = "cuda-base", not(feature = "cuda")))]
mod cuda;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod geometry;
#[cfg(feature = "flex")]
mod panel;
#[cfg(all(test, feature = "flex"))]
mod tests;

pub use choice::CudaConv;

use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `conv` applied to `x` (`[N, C, H, W]` -> `[N, O, oh, ow]`), as
/// `conv.forward(x)` computes it.
pub fn forward<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(conv, &x) {
        return y;
    }
    #[cfg(all(feature = "cuda-base", not(feature = "cuda")))]
    if let Some(y) = cuda::forward(conv, &x) {
        return y;
    }
    conv.forward(x)
}
