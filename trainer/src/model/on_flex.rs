//! What the trainer's burn-flex layers (`conv.rs`, `batch_norm.rs`) share:
//! checked f32 views of burn-flex tensors (`downcast.rs` finds out whether a
//! generic backend is burn-flex).

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData};

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

/// `t` as a contiguous f32 tensor of exactly `len` values at offset 0 that
/// no other tensor shares, so `storage_mut` writes in place without a
/// copy-on-write: `t` itself when it is one, else a copy. `None` for other
/// types or sizes. For a gradient an op consumes and overwrites with its
/// own result.
pub(super) fn owned(t: FlexTensor, len: usize) -> Option<FlexTensor> {
    let t = if t.is_contiguous() { t } else { t.to_contiguous() };
    let values = f32s(&t, len)?;
    if t.is_unique() && t.storage::<f32>().len() == len {
        return Some(t);
    }
    let copy = values.to_vec();
    Some(FlexTensor::from_data(TensorData::new(copy, t.layout().shape().to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    /// A unique tensor is taken as it is; a shared, a strided or an offset
    /// one is copied, so writing into the result never changes another
    /// tensor; a wrong type or size is refused.
    #[test]
    fn owned_writes_never_reach_another_tensor() {
        let values: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut unique = owned(tensor(values.clone(), [2, 3]), 6).expect("unique");
        unique.storage_mut::<f32>()[0] = 9.0;
        assert_eq!(f32s(&unique, 6).expect("f32")[..2], [9.0, 1.0]);

        let shared = tensor(values.clone(), [2, 3]);
        let mut mine = owned(shared.clone(), 6).expect("shared");
        // Unique, so `storage_mut` below writes in place, with no copy-on-write.
        assert!(mine.is_unique());
        mine.storage_mut::<f32>().fill(-1.0);
        assert_eq!(f32s(&shared, 6).expect("f32"), &values[..], "the shared tensor changed");

        let strided = owned(tensor(values.clone(), [2, 3]).transpose(0, 1), 6).expect("strided");
        assert_eq!(f32s(&strided, 6).expect("f32"), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);

        let base = tensor(values.clone(), [2, 3]);
        let mut row = owned(base.narrow(0, 1, 1), 3).expect("offset");
        assert_eq!(f32s(&row, 3).expect("f32"), &[3.0, 4.0, 5.0]);
        row.storage_mut::<f32>().fill(0.0);
        assert_eq!(f32s(&base, 6).expect("f32"), &values[..], "the viewed tensor changed");

        // Unique but a view past the start of its buffer: copied, so that
        // `storage_mut` (the whole buffer) is exactly the values.
        let view = tensor(values.clone(), [2, 3]).narrow(0, 1, 1);
        assert!(view.is_unique());
        let tail = owned(view, 3).expect("unique offset");
        assert_eq!(tail.storage::<f32>(), &[3.0, 4.0, 5.0]);

        assert!(owned(tensor(values.clone(), [2, 3]), 5).is_none(), "wrong size");
        assert!(owned(FlexTensor::from_data(TensorData::new(vec![1.0f64; 6], [2, 3])), 6).is_none(), "wrong type");
    }
}
