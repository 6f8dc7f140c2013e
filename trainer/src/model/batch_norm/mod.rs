//! Batch norm over `[N, C, H, W]` with the parameters and running statistics
//! of burn's [`BatchNorm`] module.
//!
//! Two implementations of the same arithmetic as burn's (and PyTorch's)
//! training mode: batch mean, biased batch variance,
//! `(x - mean) * gamma / sqrt(var + eps) + beta`, and the running statistics
//! move by `momentum` towards the batch's. Without autodiff (validation,
//! export checks) the running statistics are used.
//!
//! - On `Autodiff<Flex>` (CPU training), one fused autodiff op (`flex.rs`)
//!   that also takes the ReLU after BN and a residual block's add
//!   ([`forward_relu`], [`forward_add_relu`]): three passes over the
//!   activation forward, two backward. It took a ResNet50 step at
//!   batch 16 from 870 to 732 ms, and with the ReLU, the add and
//!   vectorised sums from 732 to 694 ms.
//! - Elsewhere (burn-cuda, inference), burn operations on `[N*C, H*W]` rows
//!   (`rows.rs`). burn's own forward broadcasts `[1, C, 1, 1]`
//!   statistics against the activation; burn-flex has SIMD paths only for a
//!   broadcast row or a per-row scalar, so that shape (and its gradients)
//!   fell to a scalar strided walk, about half of a tiny-network step. Every
//!   per-channel value is first repeated to one value per `(sample,
//!   channel)` row (`N*C` values), so each full-size operation is a per-row
//!   scalar broadcast or an element-wise one.

#[cfg(feature = "flex")]
mod flex;
mod rows;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::nn::BatchNorm;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use rows::rows_forward;

/// `bn` applied to `x` (`[N, C, H, W]` f32, any backend); in training mode
/// (an autodiff backend) it also updates `bn`'s running statistics.
pub fn forward<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(bn, &x, None, false) {
        return y;
    }
    rows_forward(bn, x)
}

/// `relu(bn(x))`: [`forward`] and the ReLU after it, one fused op on
/// `Autodiff<Flex>` (the ReLU costs no pass of its own there).
pub fn forward_relu<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(bn, &x, None, true) {
        return y;
    }
    relu(rows_forward(bn, x))
}

/// `relu(bn(x) + residual)`, a residual block's last step; `residual` has
/// `x`'s shape. One fused op on `Autodiff<Flex>`.
pub fn forward_add_relu<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>, residual: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(bn, &x, Some(&residual), true) {
        return y;
    }
    relu(rows_forward(bn, x) + residual)
}
