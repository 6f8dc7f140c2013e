//! How a layer generic over the backend takes a backend-specific path: the
//! burn-flex layers on the CPU (`conv.rs`, `batch_norm.rs`) and the
//! convolution on burn-cuda (`conv_cuda.rs`).

use std::any::Any;

/// `t` as a `U` when `T` is `U` (a clone: burn tensors share their data):
/// `Tensor<B, D>` as `Tensor<Autodiff<Flex>, D>`, and back.
pub(super) fn cast<T: Any, U: Any + Clone>(t: &T) -> Option<U> {
    (t as &dyn Any).downcast_ref::<U>().cloned()
}
