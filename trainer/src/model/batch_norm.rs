//! Batch norm over `[N, C, H, W]` with the parameters and running statistics
//! of burn's [`BatchNorm`] module, computed on `[N*C, H*W]` rows.
//!
//! burn's own forward broadcasts `[1, C, 1, 1]` statistics against the
//! activation. burn-flex has SIMD paths only for a broadcast row or a
//! per-row scalar, so that shape (and its gradients) fell to a scalar
//! strided walk: about half of a tiny-network training step on the CPU. Here
//! every per-channel value is first repeated to one value per `(sample,
//! channel)` row (`N*C` values, negligible), so each full-size operation is a
//! per-row scalar broadcast or an element-wise one, in the forward and the
//! backward pass alike.
//!
//! Same arithmetic as burn's (and PyTorch's) training mode: batch mean,
//! biased batch variance, `(x - mean) * gamma / sqrt(var + eps) + beta`, and
//! the running statistics move by `momentum` towards the batch's. Without
//! autodiff (validation, export checks) the running statistics are used.

use burn::nn::BatchNorm;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `bn` applied to `x` (`[N, C, H, W]` f32, any backend); in training mode
/// (an autodiff backend) it also updates `bn`'s running statistics.
pub fn forward<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let rows = x.reshape([n * c, h * w]);
    let (centred, var) = if B::ad_enabled(&rows.device()) {
        // Per-channel mean: per-row means, then the mean over samples.
        let mean = rows.clone().mean_dim(1).reshape([n, c]).mean_dim(0);
        let centred = rows - per_row(mean.clone(), n);
        let var = centred.clone().square().mean_dim(1).reshape([n, c]).mean_dim(0);
        update(bn, mean.reshape([c]), var.clone().reshape([c]));
        (centred, var)
    } else {
        let mean = bn.running_mean.value().reshape([1, c]);
        let var = bn.running_var.value().reshape([1, c]);
        (rows - per_row(mean, n), var)
    };
    let scale = bn.gamma.val().reshape([1, c]) / (var + bn.epsilon).sqrt();
    let y = centred * per_row(scale, n) + per_row(bn.beta.val().reshape([1, c]), n);
    y.reshape([n, c, h, w])
}

/// `[1, C]` per-channel values as one value per `(sample, channel)` row:
/// `[N*C, 1]`, contiguous, so a full-size operand sees a per-row scalar.
fn per_row<B: Backend>(v: Tensor<B, 2>, n: usize) -> Tensor<B, 2> {
    let c = v.dims()[1];
    v.expand([n, c]).reshape([n * c, 1])
}

/// Moves the running statistics by `momentum` towards the batch's (`[C]`).
fn update<B: Backend>(bn: &BatchNorm<B>, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
    let m = bn.momentum;
    let device = mean.device();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(running_mean.mul_scalar(1.0 - m).add(mean.detach().mul_scalar(m)).detach());
    bn.running_var.update(running_var.mul_scalar(1.0 - m).add(var.detach().mul_scalar(m)).detach());
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Distribution, TensorData};

    type A = Autodiff<Flex>;

    fn close(a: TensorData, b: TensorData, tol: f32, what: &str) {
        let (a, b) = (a.to_vec::<f32>().expect("f32"), b.to_vec::<f32>().expect("f32"));
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0f32, f32::max);
        assert!(worst <= tol, "{what}: worst relative difference {worst}");
    }

    /// A BN with non-trivial gamma, beta and running statistics.
    fn bn_of<B: Backend>(c: usize, dev: &B::Device) -> BatchNorm<B> {
        let mut bn = BatchNormConfig::new(c).init::<B>(dev);
        let ramp = |a: f32, b: f32| Tensor::<B, 1>::from_data(TensorData::new((0..c).map(|i| a + b * i as f32).collect::<Vec<_>>(), [c]), dev);
        bn.gamma = burn::module::Param::from_tensor(ramp(0.5, 0.25));
        bn.beta = burn::module::Param::from_tensor(ramp(-0.3, 0.1));
        bn.running_mean = burn::module::RunningState::new(ramp(0.2, -0.05));
        bn.running_var = burn::module::RunningState::new(ramp(0.7, 0.2));
        bn
    }

    #[test]
    fn training_forward_gradients_and_running_statistics_match_burns_batch_norm() {
        let dev = Default::default();
        let (n, c, h, w) = (3, 5, 4, 7);
        let x = Tensor::<A, 4>::random([n, c, h, w], Distribution::Normal(1.5, 2.0), &dev);
        let up = Tensor::<A, 4>::random([n, c, h, w], Distribution::Default, &dev);
        let (ours, theirs) = (bn_of::<A>(c, &dev), bn_of::<A>(c, &dev));
        let mut grads = Vec::new();
        for (i, bn) in [&ours, &theirs].into_iter().enumerate() {
            let xi = x.clone().detach().require_grad();
            let y = if i == 0 { forward(bn, xi.clone()) } else { bn.forward(xi.clone()) };
            // A non-uniform upstream gradient: a plain sum has zero gradient through BN.
            let g = (y.clone() * up.clone()).sum().backward();
            grads.push((y.into_data(), xi.grad(&g).expect("x grad").into_data(), bn.gamma.grad(&g).expect("gamma grad").into_data(), bn.beta.grad(&g).expect("beta grad").into_data()));
        }
        let (a, b) = (&grads[0], &grads[1]);
        close(a.0.clone(), b.0.clone(), 1e-5, "output");
        close(a.1.clone(), b.1.clone(), 1e-4, "input gradient");
        close(a.2.clone(), b.2.clone(), 1e-4, "gamma gradient");
        close(a.3.clone(), b.3.clone(), 1e-5, "beta gradient");
        close(ours.running_mean.value_sync().into_data(), theirs.running_mean.value_sync().into_data(), 1e-6, "running mean");
        close(ours.running_var.value_sync().into_data(), theirs.running_var.value_sync().into_data(), 1e-6, "running var");
        // The statistics really moved (two stale ones would also be equal).
        let moved = (ours.running_mean.value_sync() - bn_of::<A>(c, &dev).running_mean.value_sync()).abs().max().into_scalar();
        assert!(moved > 1e-3, "running mean did not move ({moved})");
    }

    #[test]
    fn inference_uses_the_running_statistics_like_burns_batch_norm() {
        let dev = Default::default();
        let (n, c, h, w) = (2, 6, 3, 5);
        let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(-0.5, 3.0), &dev);
        let bn = bn_of::<Flex>(c, &dev);
        close(forward(&bn, x.clone()).into_data(), bn.forward(x).into_data(), 1e-5, "inference output");
    }
}
