//! The panel convolution against burn's own, and its pieces.

use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{Distribution, Tensor, TensorData};

use super::flex::forward;
use super::geometry::Geo;
use super::panel::{panel_backward, panel_forward_in, transpose, Budget};

type Ad = Autodiff<Flex>;

fn close(a: TensorData, b: TensorData, tol: f32, what: &str) {
    let (a, b) = (a.to_vec::<f32>().expect("f32"), b.to_vec::<f32>().expect("f32"));
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale;
    assert!(worst <= tol, "{what}: worst difference {worst} of the largest value");
}

/// Output and all gradients against burn's own convolution, for
/// strides 1-3, paddings 0-3, odd sizes, more or fewer outputs than
/// panel rows (both GEMM orientations), with and without bias.
#[test]
fn gradients_match_burns_convolution() {
    let dev = Default::default();
    // (n, c, h, w, o, k, stride, pad)
    for (n, c, h, w, o, k, s, p) in [
        (2, 3, 9, 7, 4, 3, 1, 1),
        (3, 5, 11, 10, 6, 3, 2, 1),
        (2, 12, 15, 15, 8, 7, 2, 3),
        (4, 6, 8, 8, 5, 1, 1, 0),
        (2, 4, 9, 9, 3, 1, 2, 0),
        (2, 2, 10, 9, 3, 4, 3, 2),
        (1, 3, 5, 5, 2, 3, 1, 0),
        (3, 2, 6, 7, 9, 1, 1, 0),
        (2, 3, 8, 8, 32, 3, 2, 1),
        (1, 2, 3, 1, 2, 5, 1, 2),
        (2, 2, 4, 2, 3, 5, 2, 2),
    ] {
        for bias in [false, true] {
            let conv = burn::nn::conv::Conv2dConfig::new([c, o], [k, k])
                .with_stride([s, s])
                .with_padding(burn::nn::PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(bias)
                .init::<Ad>(&dev);
            let x = Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let mut results = Vec::new();
            for ours in [true, false] {
                let xi = x.clone().detach().require_grad();
                // The panel op itself, not a silent fall-back to burn's layer.
                let y = if ours {
                    forward(&conv, &xi).expect("an Autodiff<Flex> layer takes the panels")
                } else {
                    conv.forward(xi.clone())
                };
                let up = Tensor::<Ad, 4>::from_data(
                    TensorData::new(
                        (0..y.dims().iter().product::<usize>())
                            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
                            .collect::<Vec<_>>(),
                        y.dims(),
                    ),
                    &dev,
                );
                let g = (y.clone() * up).sum().backward();
                let gb = conv.bias.as_ref().map(|b| b.grad(&g).expect("bias grad").into_data());
                results.push((
                    y.into_data(),
                    xi.grad(&g).expect("x grad").into_data(),
                    conv.weight.grad(&g).expect("w grad").into_data(),
                    gb,
                ));
            }
            let what = format!("n{n} c{c} {h}x{w} o{o} k{k} s{s} p{p} bias {bias}");
            close(results[0].0.clone(), results[1].0.clone(), 1e-5, &format!("{what}: output"));
            close(results[0].1.clone(), results[1].1.clone(), 1e-5, &format!("{what}: input gradient"));
            close(results[0].2.clone(), results[1].2.clone(), 1e-5, &format!("{what}: weight gradient"));
            if let (Some(a), Some(b)) = (results[0].3.clone(), results[1].3.clone()) {
                close(a, b, 1e-5, &format!("{what}: bias gradient"));
            }
        }
    }
}

/// Blocks cover every output pixel of a chunk once, in panel column
/// order.
/// The tiled transpose on shapes that are not whole tiles.
#[test]
fn transpose_moves_every_value() {
    for (rows, cols) in [(1, 1), (3, 70), (70, 3), (33, 65), (64, 32)] {
        let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let t = transpose(&m, rows, cols);
        assert!((0..rows).all(|r| (0..cols).all(|c| t[c * rows + r] == m[r * cols + c])), "{rows}x{cols}");
    }
}

#[test]
fn blocks_cover_each_pixel_once() {
    let geo = Geo { h: 9, w: 9, wq: 9, kh: 3, kw: 3, oh: 7, ow: 5, stride: [1, 1], pad: [0, 0] };
    for (nb, columns) in [(3, 1), (3, 10), (3, 34), (3, 35), (3, 70), (4, 105), (2, 1000)] {
        let mut next = 0;
        for b in geo.blocks(nb, columns) {
            let c0 = b.first_sample * 35 + b.rows.start * 5;
            assert_eq!(c0, next, "nb {nb}, columns {columns}: blocks follow each other");
            assert!(b.cols(5) <= columns.max(5), "nb {nb}, columns {columns}: block of {}", b.cols(5));
            next = c0 + b.cols(5);
        }
        assert_eq!(next, nb * 35, "nb {nb}, columns {columns}: all pixels");
    }
}

/// Inference (`Flex`, no autodiff) takes the panels too and gives
/// burn's output, with and without bias.
#[test]
fn inference_matches_burns_convolution() {
    let dev = Default::default();
    for bias in [false, true] {
        let conv = burn::nn::conv::Conv2dConfig::new([5, 7], [3, 3])
            .with_stride([2, 2])
            .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(bias)
            .init::<Flex>(&dev);
        let x = Tensor::<Flex, 4>::random([3, 5, 13, 11], Distribution::Normal(0.0, 1.0), &dev);
        let ours = forward(&conv, &x).expect("a plain Flex layer takes the panels");
        close(ours.into_data(), conv.forward(x).into_data(), 1e-5, &format!("inference, bias {bias}"));
    }
}

/// Chunks of samples give the whole batch's output and gradients,
/// for a strided, padded layer whose last chunk is short.
#[test]
fn chunked_panels_give_the_whole_batch_results() {
    let dev = Default::default();
    // Fewer outputs than panel rows (27) and more: both dW orientations.
    for o in [4, 30] {
        let (n, c, h, w) = (5, 3, 7, 6);
        let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
        let wt =
            Tensor::<Flex, 4>::random([o, c, 3, 3], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
        let b = Tensor::<Flex, 1>::random([o], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
        let options = ConvOptions::new([2, 1], [1, 1], [1, 1], 1);
        let y = Flex::conv2d(x.clone(), wt.clone(), Some(b.clone()), options.clone());
        let g = Tensor::<Flex, 4>::random(y.layout().shape().to_vec(), Distribution::Normal(0.0, 1.0), &dev)
            .into_primitive()
            .tensor();
        let want_dx = Flex::conv2d_x_backward(x.clone(), wt.clone(), g.clone(), options.clone()).into_data();
        let want_dw = Flex::conv2d_weight_backward(x.clone(), wt.clone(), g.clone(), options.clone()).into_data();
        // A sample's panel is 27 x (4*6) values and its dY' o x (4*6):
        // budgets of 1, 2 and all 5 samples; blocks of 1 and 2 rows, 1,
        // 2 and all samples.
        for per in [1usize, 2, 5] {
            let panel_values = per * 27.max(o) * 24;
            for block_columns in [5, 12, 24, 48, 4096] {
                let budget = Budget { panel_values, block_columns };
                let what = format!("{o} outputs, chunks of {per} samples, blocks of {block_columns}");
                let got = panel_forward_in(x.clone(), wt.clone(), Some(b.clone()), &options, budget).into_data();
                close(got, y.clone().into_data(), 1e-5, &format!("output, {what}"));
                let (dx, dw) = panel_backward(x.clone(), wt.clone(), g.clone(), &options, true, true, budget);
                close(dx.expect("dx").into_data(), want_dx.clone(), 1e-5, &format!("input gradient, {what}"));
                close(dw.expect("dw").into_data(), want_dw.clone(), 1e-5, &format!("weight gradient, {what}"));
            }
        }
        // Only what is asked for is computed.
        let (dx, dw) = panel_backward(x.clone(), wt.clone(), g.clone(), &options, false, true, Budget::DEFAULT);
        assert!(dx.is_none() && dw.is_some());
        let (dx, dw) = panel_backward(x, wt, g, &options, true, false, Budget::DEFAULT);
        assert!(dx.is_some() && dw.is_none());
    }
}
