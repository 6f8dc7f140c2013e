//! The convolution on burn-flex: a custom autodiff op on `Autodiff<Flex>`
//! (training) and a plain call on `Flex` (validation, export checks), both
//! computed by the panel products of `panel.rs`; the bias gradient here.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{ConvOptions, FloatTensor, FloatTensorOps};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};

use super::choice::symmetric_padding;
use super::panel::{panel_backward, panel_forward, Budget};
use crate::model::downcast::cast;
use crate::model::on_flex::contiguous;

type Ad = Autodiff<Flex>;

/// The convolution through the panels when `B` is `Autodiff<Flex>`
/// (training: [`conv2d`]) or `Flex` (validation and export checks:
/// [`panel_forward`]) and the layer is an ungrouped, undilated,
/// symmetrically padded one; `None` otherwise.
pub(super) fn forward<B: Backend>(conv: &Conv2d<B>, x: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
    if conv.dilation != [1, 1] {
        return None;
    }
    let options = ConvOptions::new(conv.stride, symmetric_padding(conv)?, [1, 1], 1);
    let (w, b) = (conv.weight.val(), conv.bias.as_ref().map(|b| b.val()));
    if let Some(x) = cast::<_, Tensor<Ad, 4>>(x) {
        let b = match &b {
            Some(b) => Some(cast::<_, Tensor<Ad, 1>>(b)?),
            None => None,
        };
        return cast(&conv2d(x, cast(&w)?, b, options));
    }
    let x = cast::<_, Tensor<Flex, 4>>(x)?;
    let b = match &b {
        Some(b) => Some(cast::<_, Tensor<Flex, 1>>(b)?.into_primitive().tensor()),
        None => None,
    };
    let w = cast::<_, Tensor<Flex, 4>>(&w)?.into_primitive().tensor();
    let y = panel_forward(x.into_primitive().tensor(), w, b, &options);
    cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(y)))
}

/// The convolution as a custom autodiff op: [`panel_forward`] forward,
/// [`panel_backward`] for the input and weight gradients.
pub(super) fn conv2d(
    x: Tensor<Ad, 4>,
    weight: Tensor<Ad, 4>,
    bias: Option<Tensor<Ad, 1>>,
    options: ConvOptions<2>,
) -> Tensor<Ad, 4> {
    let x = x.into_primitive().tensor();
    let w = weight.into_primitive().tensor();
    let out = match bias.map(|b| b.into_primitive().tensor()) {
        None => match NoBias.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                prep.finish((xs, ws, options.clone()), panel_forward(x.primitive, w.primitive, None, &options))
            }
            OpsKind::UnTracked(prep) => prep.finish(panel_forward(x.primitive, w.primitive, None, &options)),
        },
        Some(b) => match WithBias
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                prep.finish(
                    (xs, ws, options.clone()),
                    panel_forward(x.primitive, w.primitive, Some(b.primitive), &options),
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(panel_forward(x.primitive, w.primitive, Some(b.primitive), &options))
            }
        },
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct NoBias;
#[derive(Debug)]
struct WithBias;

type State = (NodeId, NodeId, ConvOptions<2>);

impl Backward<Flex, 2> for NoBias {
    type State = State;

    fn backward(self, ops: Ops<State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        input_and_weight_grads(node_x.map(|n| n.id), node_w.map(|n| n.id), ops.state, &grad, grads, checkpointer);
    }
}

impl Backward<Flex, 3> for WithBias {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        input_and_weight_grads(node_x.map(|n| n.id), node_w.map(|n| n.id), ops.state, &grad, grads, checkpointer);
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, bias_grad(grad));
        }
    }
}

/// Registers the input and weight gradients ([`panel_backward`]) for the
/// parents that need them.
fn input_and_weight_grads(
    node_x: Option<NodeId>,
    node_w: Option<NodeId>,
    state: State,
    grad: &FloatTensor<Flex>,
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
) {
    let (xs, ws, options) = state;
    let x = checkpointer.retrieve_node_output::<FlexTensor>(xs);
    let w = checkpointer.retrieve_node_output::<FlexTensor>(ws);
    let (dx, dw) = panel_backward(x, w, grad.clone(), &options, node_x.is_some(), node_w.is_some(), Budget::DEFAULT);
    if let (Some(id), Some(dx)) = (node_x, dx) {
        grads.register::<Flex>(id, dx);
    }
    if let (Some(id), Some(dw)) = (node_w, dw) {
        grads.register::<Flex>(id, dw);
    }
}

/// The bias gradient: the output gradient summed over samples and pixels.
fn bias_grad(grad: FlexTensor) -> FlexTensor {
    let d = grad.layout().shape().to_vec();
    let (n, o, l) = (d[0], d[1], d[2] * d[3]);
    let grad = contiguous(&grad);
    match (grad.dtype(), grad.as_slice::<f32>()) {
        (DType::F32, Some(g)) => {
            let mut sums = vec![0f32; o];
            for (i, plane) in g.chunks_exact(l.max(1)).take(n * o).enumerate() {
                sums[i % o] += plane.iter().sum::<f32>();
            }
            FlexTensor::from_data(TensorData::new(sums, [o]))
        }
        _ => {
            let summed = Flex::float_sum_dim(Flex::float_sum_dim(Flex::float_reshape(grad, [n, o, l].into()), 2), 0);
            Flex::float_reshape(summed, [o].into())
        }
    }
}
