//! What the trainer's burn-flex layers (`conv.rs`, `batch_norm.rs`) share:
//! the downcast that finds out whether a generic backend is burn-flex, and
//! checked f32 views of burn-flex tensors.

use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use std::any::Any;

/// `t` as a `U` when `T` is `U` (a clone: burn and burn-flex tensors share
/// their data): how a layer generic over the backend takes its burn-flex
/// path, `Tensor<B, D>` as `Tensor<Autodiff<Flex>, D>`, and back.
pub(super) fn cast<T: Any, U: Any + Clone>(t: &T) -> Option<U> {
    (t as &dyn Any).downcast_ref::<U>().cloned()
}

/// `t` with row-major strides: a shared clone when it has them, a copy when
/// it is a strided view.
pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The values of a contiguous `t` when it holds `len` f32; `None` for any
/// other type or size, so loops indexed by a shape never read past them.
pub(super) fn f32s(t: &FlexTensor, len: usize) -> Option<&[f32]> {
    if t.dtype() != DType::F32 {
        return None;
    }
    t.as_slice::<f32>().filter(|v| v.len() == len)
}
