//! Watching a float model's activations while it runs (calibration of
//! int8 models): [`Model::infer_samples_observed`](crate::Model::infer_samples_observed)
//! hands every layer output it computes to an [`Observer`]. The ordinary
//! `infer*` calls run the same interpreter with [`NoObserver`], whose empty
//! inlined method compiles away, so they pay nothing for this.

/// Receives layer outputs as the interpreter produces them.
pub trait Observer {
    /// Layer `layer` (file order) has run on a chunk of `batch` samples;
    /// `values` is its output, `[C][batch][H*W]` f32 (CNHW, `C`, `H`, `W`
    /// from the layer record). Called in file order for each chunk. A
    /// convolution whose residual add the planner fused into it never
    /// materialises its own output: it is not reported, and the `Add` after
    /// it is (with the sum). Graph-input values are never reported.
    fn layer_output(&mut self, layer: usize, batch: usize, values: &[f32]);
}

/// The observer of the ordinary inference calls: ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    #[inline(always)]
    fn layer_output(&mut self, _layer: usize, _batch: usize, _values: &[f32]) {}
}

impl<O: Observer + ?Sized> Observer for &mut O {
    #[inline(always)]
    fn layer_output(&mut self, layer: usize, batch: usize, values: &[f32]) {
        (**self).layer_output(layer, batch, values)
    }
}
