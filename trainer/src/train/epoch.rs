//! One epoch's training pass: batches streamed from the archive, one Adam
//! step each, on one device or sharded over several (data parallel).

use crate::data::{Batch, BatchPlan};
use crate::model::Net;
use crate::rng::SplitMix64;
use burn::module::Module;
use burn::optim::{GradientsParams, MultiGradientsParams, Optimizer};
use burn::prelude::DeviceOps;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};

use super::config::Observer;

/// Stream id separating dropout masks from the other uses of the run seed.
const DROPOUT_STREAM: u64 = 0xd20f_0a7c_5eed_0001;

/// Mean binary cross-entropy over all (sample, class) pairs, computed from
/// logits in the numerically stable form `(1 - y) x - log_sigmoid(x)`.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    ((targets.neg() + 1.0) * logits.clone() - log_sigmoid(logits)).mean()
}

/// What an epoch's pass gives back.
pub(super) struct Pass<B: AutodiffBackend> {
    /// The network after the epoch's steps (`None` if the stream stopped
    /// without handing it back).
    pub net: Option<Net<B>>,
    /// Mean training loss over the epoch's patches (NaN without any).
    pub loss: f64,
    /// Patches trained on.
    pub seen: usize,
}

/// Train `net` for one pass over `plan` with `optim` at learning rate `lr`;
/// `devices[0]` holds the model, every device takes a shard of each batch.
/// Dropout masks come from `(seed, epoch, batch)`. `workers` threads
/// assemble the batches.
pub(super) fn train_pass<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    plan: &BatchPlan<'_>,
    net: Net<B>,
    optim: &mut O,
    lr: f64,
    devices: &[B::Device],
    workers: usize,
    obs: &mut dyn Observer,
) -> Pass<B> {
    let total = plan.order.len();
    let side = plan.archive.manifest().height as usize;
    let mut steps = Steps { plan, optim, lr, side };
    let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut loss_read = 0.0f64;
    let mut seen = 0usize;
    let mut batches = 0usize;
    let mut model = Some(net);
    plan.stream(workers, 2, |b, batch| {
        let Some(m) = model.take() else { return false };
        let n = batch.n;
        let mut drop_rng = SplitMix64::derive(plan.seed ^ DROPOUT_STREAM, plan.epoch, b as u64);
        model = Some(match devices {
            [device] => steps.one(m, batch, device, &mut drop_rng, &mut loss_sum),
            _ => steps.sharded(m, batch, devices, &mut drop_rng, &mut loss_sum),
        });
        seen += n;
        batches += 1;
        // Reading the loss synchronises the device: do it every few batches only.
        if batches.is_multiple_of(8) || seen == total {
            if let Some(s) = &loss_sum {
                loss_read = s.clone().into_scalar().elem::<f64>() / (seen as f64);
            }
            obs.batch(seen, loss_read);
        }
        true
    });
    let loss = loss_sum.map(|s| s.into_scalar().elem::<f64>() / seen.max(1) as f64).unwrap_or(f64::NAN);
    Pass { net: model, loss, seen }
}

/// Adds `loss` to the running sum `sum`.
fn accumulate<B: Backend>(sum: &mut Option<Tensor<B, 1>>, loss: Tensor<B, 1>) {
    *sum = Some(match sum.take() {
        Some(s) => s + loss,
        None => loss,
    });
}

/// What every step of a pass shares: the plan (bands, classes), the
/// optimiser and its learning rate, the patch side.
struct Steps<'a, O> {
    plan: &'a BatchPlan<'a>,
    optim: &'a mut O,
    lr: f64,
    side: usize,
}

impl<O> Steps<'_, O> {
    /// One step on one device; returns the updated network and adds the
    /// batch's summed loss (mean times patches), detached, to `loss_sum`.
    fn one<B: AutodiffBackend>(
        &mut self,
        m: Net<B>,
        batch: Batch,
        device: &B::Device,
        drop_rng: &mut SplitMix64,
        loss_sum: &mut Option<Tensor<B::InnerBackend, 1>>,
    ) -> Net<B>
    where
        O: Optimizer<Net<B>, B>,
    {
        let (n, c, classes, side) = (batch.n, self.plan.channels.len(), self.plan.classes, self.side);
        let y32: Vec<f32> = batch.y.iter().map(|&v| v as f32).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(batch.x, [n, c, side, side]), device);
        let y = Tensor::<B, 2>::from_data(TensorData::new(y32, [n, classes]), device);
        let loss = bce_with_logits(m.forward(x, Some(drop_rng)), y);
        accumulate(loss_sum, loss.clone().inner() * (n as f32));
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        self.optim.step(self.lr, m, grads)
    }

    /// One data-parallel step: the batch sharded over `devices`, one model
    /// copy per device, and burn's `step_multi` accumulating the per-device
    /// gradients. Each shard's loss is weighted by its share of the batch,
    /// so the sum is the full batch's mean. Returns and sums the loss as
    /// [`Steps::one`] (on `devices[0]`).
    fn sharded<B: AutodiffBackend>(
        &mut self,
        m: Net<B>,
        batch: Batch,
        devices: &[B::Device],
        drop_rng: &mut SplitMix64,
        loss_sum: &mut Option<Tensor<B::InnerBackend, 1>>,
    ) -> Net<B>
    where
        O: Optimizer<Net<B>, B>,
    {
        let (n, c, classes, side) = (batch.n, self.plan.channels.len(), self.plan.classes, self.side);
        let y32: Vec<f32> = batch.y.iter().map(|&v| v as f32).collect();
        let per = c * side * side;
        let shards = devices.len().min(n);
        let mut multi = MultiGradientsParams::default();
        let mut lo = 0usize;
        for (k, dev) in devices.iter().take(shards).enumerate() {
            let hi = n * (k + 1) / shards;
            let ns = hi - lo;
            let mk = if k == 0 { m.clone() } else { m.clone().fork(dev) };
            let x = Tensor::<B, 4>::from_data(
                TensorData::new(batch.x[lo * per..hi * per].to_vec(), [ns, c, side, side]),
                dev,
            );
            let y = Tensor::<B, 2>::from_data(
                TensorData::new(y32[lo * classes..hi * classes].to_vec(), [ns, classes]),
                dev,
            );
            let loss = bce_with_logits(mk.forward(x, Some(drop_rng)), y) * (ns as f32 / n as f32);
            accumulate(loss_sum, loss.clone().inner().to_device(&devices[0]) * (n as f32));
            multi.grads.push((GradientsParams::from_grads(loss.backward(), &mk), dev.to_id()));
            lo = hi;
        }
        self.optim.step_multi(self.lr, m, multi)
    }
}
