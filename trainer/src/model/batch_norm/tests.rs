//! The fused op and the row operations against burn's `BatchNorm`.

use super::flex;
use super::rows::rows_forward;
use super::{forward, forward_add_relu, forward_relu};
use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNorm;
use burn::nn::BatchNormConfig;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
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
    let ramp = |a: f32, b: f32| {
        Tensor::<B, 1>::from_data(TensorData::new((0..c).map(|i| a + b * i as f32).collect::<Vec<_>>(), [c]), dev)
    };
    bn.gamma = burn::module::Param::from_tensor(ramp(0.5, 0.25));
    bn.beta = burn::module::Param::from_tensor(ramp(-0.3, 0.1));
    bn.running_mean = burn::module::RunningState::new(ramp(0.2, -0.05));
    bn.running_var = burn::module::RunningState::new(ramp(0.7, 0.2));
    bn
}

/// `(bn, x, residual) -> y`: one of ours, or burn's layers composed.
type Variant = fn(&BatchNorm<A>, Tensor<A, 4>, Tensor<A, 4>) -> Tensor<A, 4>;

/// Every variant and both implementations, the fused op on
/// `Autodiff<Flex>` and the burn operations other backends take, give
/// the output, gradients (of `x`, gamma, beta and the residual) and
/// running statistics of burn's `BatchNorm` followed by burn's add and
/// ReLU. Plane sizes below, at and above the 16 sum lanes.
#[test]
fn training_forward_gradients_and_running_statistics_match_burns_batch_norm() {
    let dev = Default::default();
    let cases: [(&str, Variant, Variant); 4] = [
        ("fused", |bn, x, _| forward(bn, x), |bn, x, _| bn.forward(x)),
        ("rows", |bn, x, _| rows_forward(bn, x), |bn, x, _| bn.forward(x)),
        ("fused+relu", |bn, x, _| forward_relu(bn, x), |bn, x, _| relu(bn.forward(x))),
        ("fused+add+relu", forward_add_relu, |bn, x, r| relu(bn.forward(x) + r)),
    ];
    for (n, c, h, w) in [(3, 5, 4, 7), (2, 3, 2, 4), (2, 4, 6, 9)] {
        let x = Tensor::<A, 4>::random([n, c, h, w], Distribution::Normal(1.5, 2.0), &dev);
        let r = Tensor::<A, 4>::random([n, c, h, w], Distribution::Normal(-0.2, 1.0), &dev);
        let up = Tensor::<A, 4>::random([n, c, h, w], Distribution::Default, &dev);
        // The fused op itself runs on Autodiff<Flex>, not a silent fall-back to the rows.
        assert!(
            flex::forward(&bn_of::<A>(c, &dev), &x, Some(&r), true).is_some(),
            "Autodiff<Flex> takes the fused batch norm"
        );
        for (name, ours_forward, reference) in cases {
            let name = format!("{name} {:?}", [n, c, h, w]);
            let (ours, theirs) = (bn_of::<A>(c, &dev), bn_of::<A>(c, &dev));
            let mut grads = Vec::new();
            for (bn, f) in [(&ours, ours_forward), (&theirs, reference)] {
                let (xi, ri) = (x.clone().detach().require_grad(), r.clone().detach().require_grad());
                let y = f(bn, xi.clone(), ri.clone());
                // A non-uniform upstream gradient: a plain sum has zero gradient through BN.
                let g = (y.clone() * up.clone()).sum().backward();
                let dr = ri.grad(&g).map(|d| d.into_data());
                grads.push((
                    y.into_data(),
                    xi.grad(&g).expect("x grad").into_data(),
                    bn.gamma.grad(&g).expect("gamma grad").into_data(),
                    bn.beta.grad(&g).expect("beta grad").into_data(),
                    dr,
                ));
            }
            let (a, b) = (&grads[0], &grads[1]);
            close(a.0.clone(), b.0.clone(), 1e-5, &format!("{name}: output"));
            close(a.1.clone(), b.1.clone(), 1e-4, &format!("{name}: input gradient"));
            close(a.2.clone(), b.2.clone(), 1e-4, &format!("{name}: gamma gradient"));
            close(a.3.clone(), b.3.clone(), 1e-5, &format!("{name}: beta gradient"));
            match (&a.4, &b.4) {
                (Some(da), Some(db)) => close(da.clone(), db.clone(), 1e-6, &format!("{name}: residual gradient")),
                (None, None) => {}
                (da, db) => {
                    panic!("{name}: residual gradient present in ours {} and burn's {}", da.is_some(), db.is_some())
                }
            }
            close(
                ours.running_mean.value_sync().into_data(),
                theirs.running_mean.value_sync().into_data(),
                1e-6,
                &format!("{name}: running mean"),
            );
            close(
                ours.running_var.value_sync().into_data(),
                theirs.running_var.value_sync().into_data(),
                1e-6,
                &format!("{name}: running var"),
            );
            // The statistics really moved (two stale ones would also be equal).
            let moved = (ours.running_mean.value_sync() - bn_of::<A>(c, &dev).running_mean.value_sync())
                .abs()
                .max()
                .into_scalar();
            assert!(moved > 1e-3, "{name}: running mean did not move ({moved})");
            if name.contains("relu") {
                // The ReLU really cuts: a good share of the outputs is zero.
                let zeros = a.0.to_vec::<f32>().expect("f32").iter().filter(|&&v| v == 0.0).count();
                assert!(zeros * 5 > n * c * h * w, "{name}: only {zeros} zero outputs");
            }
        }
    }
}

#[test]
fn inference_uses_the_running_statistics_like_burns_batch_norm() {
    let dev = Default::default();
    let (n, c, h, w) = (2, 6, 3, 5);
    let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(-0.5, 3.0), &dev);
    let bn = bn_of::<Flex>(c, &dev);
    close(forward(&bn, x.clone()).into_data(), bn.forward(x).into_data(), 1e-5, "inference output");
}
