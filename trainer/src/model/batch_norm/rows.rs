//! Batch norm as burn tensor operations on `[N*C, H*W]` rows: what every
//! backend but `Autodiff<Flex>` runs (module doc of `batch_norm`).

use burn::nn::BatchNorm;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `batch_norm::forward` as burn tensor operations on `[N*C, H*W]` rows.
pub(super) fn rows_forward<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
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
pub(super) fn update<B: Backend>(bn: &BatchNorm<B>, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
    let m = bn.momentum;
    let device = mean.device();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(running_mean.mul_scalar(1.0 - m).add(mean.detach().mul_scalar(m)).detach());
    bn.running_var.update(running_var.mul_scalar(1.0 - m).add(var.detach().mul_scalar(m)).detach());
}
