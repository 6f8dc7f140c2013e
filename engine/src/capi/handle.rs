//! The model handle: a [`Model`] placed in caller storage behind a magic
//! word, and the calls that open, close, configure and describe it.
//!
//! The magic word makes misuse of a handle an error code instead of
//! undefined behaviour where that can be detected cheaply: a closed handle
//! (its storage still untouched) and a pointer to storage that never held
//! an open handle both fail with `BEMM_ERR_HANDLE`.

use super::codes::*;
use super::last_error::{engine_fail, fail};
use crate::model::Model;
use core::ffi::c_char;

/// The magic word of an open handle ("bemmOPEN").
const OPEN: u64 = u64::from_le_bytes(*b"bemmOPEN");
/// The magic word a closed handle keeps ("bemmSHUT").
const SHUT: u64 = u64::from_le_bytes(*b"bemmSHUT");

/// The opaque handle (`bemm_model` in C): the magic word, then the model.
#[repr(C)]
pub struct BemmModel {
    /// [`OPEN`] while the handle may be used, [`SHUT`] after close.
    magic: u64,
    /// Valid only while `magic` is [`OPEN`].
    pub(super) model: Model<'static>,
}

/// The model of an open handle, or the status code of a null, misaligned,
/// closed or foreign one (recorded, with `what` naming the C function).
///
/// # Safety
/// `h` must be null or point at readable storage of at least
/// `bemm_model_storage_size()` bytes that holds a handle placed by
/// [`bemm_model_open`] or is not used as one elsewhere.
pub(super) unsafe fn open_ref<'a>(h: *const BemmModel, what: &str) -> Result<&'a Model<'static>, i32> {
    // SAFETY: forwarded caller contract.
    unsafe { check(h, what)? };
    // SAFETY: `check` saw the OPEN magic of a handle from `bemm_model_open`.
    Ok(unsafe { &(*h).model })
}

/// Check a handle pointer: non-null, aligned, magic word [`OPEN`].
///
/// # Safety
/// As for [`open_ref`].
unsafe fn check(h: *const BemmModel, what: &str) -> Result<(), i32> {
    if h.is_null() {
        return Err(fail(BEMM_ERR_NULL, format_args!("{what}: model is null")));
    }
    if !h.is_aligned() {
        return Err(fail(BEMM_ERR_HANDLE, format_args!("{what}: model {h:p} is not a handle (misaligned)")));
    }
    // SAFETY: non-null and aligned; readable per the contract. Only the
    // magic word is read, never the (maybe dropped) model.
    let magic = unsafe { core::ptr::addr_of!((*h).magic).read() };
    match magic {
        OPEN => Ok(()),
        SHUT => Err(fail(BEMM_ERR_HANDLE, format_args!("{what}: model {h:p} was closed"))),
        _ => Err(fail(
            BEMM_ERR_HANDLE,
            format_args!("{what}: model {h:p} is not an open handle (never opened, or its storage was overwritten)"),
        )),
    }
}

/// Bytes of storage a model handle needs.
#[no_mangle]
pub extern "C" fn bemm_model_storage_size() -> usize {
    core::mem::size_of::<BemmModel>()
}

/// Alignment in bytes the handle storage needs.
#[no_mangle]
pub extern "C" fn bemm_model_storage_align() -> usize {
    core::mem::align_of::<BemmModel>()
}

/// Parse and validate the model file `bytes[0..len]` and place the handle
/// in `storage` (`storage_len` bytes, see [`bemm_model_storage_size`] and
/// [`bemm_model_storage_align`]). `bytes` must start at a
/// [`BEMM_MODEL_ALIGN`]-byte aligned address (else `BEMM_ERR_ALIGN`) and
/// stay valid and unchanged until the handle is closed; bytes after the
/// file's own length are ignored. On success `*out` points into `storage`.
///
/// # Safety
/// `storage` must point at `storage_len` writable bytes and `bytes` at `len`
/// readable bytes, both outliving the handle; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_open(
    storage: *mut u8,
    storage_len: usize,
    bytes: *const u8,
    len: usize,
    out: *mut *mut BemmModel,
) -> i32 {
    const WHAT: &str = "bemm_model_open";
    if storage.is_null() || bytes.is_null() || out.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("{WHAT}: storage, bytes and out must not be null"));
    }
    if storage_len < bemm_model_storage_size() || !storage.cast::<BemmModel>().is_aligned() {
        return fail(
            BEMM_ERR_STORAGE,
            format_args!(
                "{WHAT}: storage of {storage_len} bytes at {storage:p}; need {} bytes aligned to {}",
                bemm_model_storage_size(),
                bemm_model_storage_align()
            ),
        );
    }
    let misalign = bytes as usize % BEMM_MODEL_ALIGN;
    if misalign != 0 {
        return fail(
            BEMM_ERR_ALIGN,
            format_args!(
                "{WHAT}: model bytes at {bytes:p} lie {misalign} bytes past a multiple of {BEMM_MODEL_ALIGN}; \
                 the model file must start at an address that is a multiple of {BEMM_MODEL_ALIGN}"
            ),
        );
    }
    if len > isize::MAX as usize || (bytes as usize).checked_add(len).is_none() {
        return fail(
            BEMM_ERR_MODEL,
            format_args!("{WHAT}: len {len} at {bytes:p} is larger than any buffer (PTRDIFF_MAX bytes)"),
        );
    }
    // SAFETY: caller promises `len` readable bytes that outlive the handle,
    // which is what the 'static lifetime stands for here; `len` fits a
    // slice and the range does not wrap (checked above).
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(bytes, len) };
    match Model::from_bytes(bytes) {
        Ok(model) => {
            let slot = storage.cast::<BemmModel>();
            // SAFETY: `storage` is non-null, large enough and aligned (checked above).
            unsafe {
                slot.write(BemmModel { magic: OPEN, model });
                *out = slot;
            }
            BEMM_OK
        }
        Err(e) => engine_fail(WHAT, e),
    }
}

/// Close a handle: its storage and the model bytes may be reused after.
/// The storage keeps a "closed" mark, so while it is not reused, using or
/// closing the handle again returns `BEMM_ERR_HANDLE`. A null handle is
/// ignored (`BEMM_OK`), like `free(NULL)`.
///
/// # Safety
/// `model` must be null or point at handle storage (see [`open_ref`]), not
/// used by another thread during this call.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_close(model: *mut BemmModel) -> i32 {
    if model.is_null() {
        return BEMM_OK;
    }
    // SAFETY: forwarded caller contract.
    if let Err(c) = unsafe { check(model, "bemm_model_close") } {
        return c;
    }
    // SAFETY: an open handle written by `bemm_model_open`, ours alone for
    // this call; the model is dropped once, then the mark says so.
    unsafe {
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*model).model));
        core::ptr::addr_of_mut!((*model).magic).write(SHUT);
    }
    BEMM_OK
}

/// Use GEMM panels of `kc` depth and `nc` columns (`kc` even, 2..=4096;
/// `nc` a multiple of 32, 32..=65536): smaller panels shrink the fixed part
/// of the scratch (64 x 64: 40 KB instead of 2.2 MB) for firmware with
/// little RAM. Ask `bemm_scratch_len` again afterwards.
///
/// # Safety
/// `model` as for [`bemm_model_close`].
#[no_mangle]
pub unsafe extern "C" fn bemm_model_set_gemm_blocks(model: *mut BemmModel, kc: usize, nc: usize) -> i32 {
    const WHAT: &str = "bemm_model_set_gemm_blocks";
    // SAFETY: forwarded caller contract.
    if let Err(c) = unsafe { check(model, WHAT) } {
        return c;
    }
    // SAFETY: an open handle, exclusively ours for this call (contract).
    let m = unsafe { &mut (*model).model };
    match m.clone().with_gemm_blocks(kc, nc) {
        Ok(updated) => {
            *m = updated;
            BEMM_OK
        }
        Err(e) => engine_fail(WHAT, e),
    }
}

/// Pin the GEMM micro-kernel by name: a kernel name as
/// [`bemm_model_kernel_name`] writes it (`"avx512-12x32"`, `"scalar-4x8"`)
/// or an instruction-set name (`"avx2"`: that set's best kernel). The
/// precision follows the kernel (bf16 kernels are the fast path).
/// `BEMM_ERR_UNSUPPORTED` for an unknown name or a kernel this CPU cannot
/// run; `BEMM_ERR_INPUT` for a name of [`BEMM_KERNEL_NAME_MAX`] bytes or
/// more, or not UTF-8. Ask `bemm_scratch_len` again afterwards.
///
/// # Safety
/// `model` as for [`bemm_model_close`]; `name` must be null or a
/// NUL-terminated string (at most [`BEMM_KERNEL_NAME_MAX`] bytes are read).
#[no_mangle]
pub unsafe extern "C" fn bemm_model_set_kernel(model: *mut BemmModel, name: *const c_char) -> i32 {
    const WHAT: &str = "bemm_model_set_kernel";
    // SAFETY: forwarded caller contract.
    if let Err(c) = unsafe { check(model, WHAT) } {
        return c;
    }
    if name.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("{WHAT}: name is null"));
    }
    let mut buf = [0u8; BEMM_KERNEL_NAME_MAX];
    let mut n = 0;
    loop {
        if n == buf.len() {
            return fail(
                BEMM_ERR_INPUT,
                format_args!(
                    "{WHAT}: name has no NUL within {BEMM_KERNEL_NAME_MAX} bytes; no kernel name is that long"
                ),
            );
        }
        // SAFETY: the string is NUL-terminated (contract) and no byte past
        // the first NUL is read.
        let b = unsafe { name.add(n).cast::<u8>().read() };
        if b == 0 {
            break;
        }
        buf[n] = b;
        n += 1;
    }
    let Ok(name) = core::str::from_utf8(&buf[..n]) else {
        return fail(BEMM_ERR_INPUT, format_args!("{WHAT}: name is not UTF-8"));
    };
    // SAFETY: an open handle, exclusively ours for this call (contract).
    let m = unsafe { &mut (*model).model };
    match m.clone().with_kernel_name(name) {
        Ok(updated) => {
            *m = updated;
            BEMM_OK
        }
        Err(e) => engine_fail(WHAT, e),
    }
}

/// Write the model's sizes: f16 values per input sample (C*H*W), classes,
/// feature values per sample, input channels, height, width. Any out
/// pointer may be null.
///
/// # Safety
/// `model` as for [`open_ref`]; non-null out pointers must be writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_info(
    model: *const BemmModel,
    input_len: *mut usize,
    num_classes: *mut usize,
    feature_len: *mut usize,
    channels: *mut usize,
    height: *mut usize,
    width: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    let m = match unsafe { open_ref(model, "bemm_model_info") } {
        Ok(m) => m,
        Err(c) => return c,
    };
    let s = m.input_shape();
    for (p, v) in [
        (input_len, m.input_len()),
        (num_classes, m.num_classes()),
        (feature_len, m.feature_len()),
        (channels, s.c as usize),
        (height, s.h as usize),
        (width, s.w as usize),
    ] {
        if !p.is_null() {
            // SAFETY: caller promises non-null pointers are writable.
            unsafe { p.write_unaligned(v) };
        }
    }
    BEMM_OK
}

/// Write the name of the GEMM micro-kernel the model runs (e.g.
/// `"avx512-12x32"`), NUL-terminated, into `buf` (`len` bytes;
/// [`BEMM_KERNEL_NAME_MAX`] always suffice). `BEMM_ERR_OUTPUT` when `len`
/// cannot hold the name and its NUL; `buf` then gets a cut copy if `len > 0`.
///
/// # Safety
/// `model` as for [`open_ref`]; `buf` must be null or point at `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_kernel_name(model: *const BemmModel, buf: *mut c_char, len: usize) -> i32 {
    const WHAT: &str = "bemm_model_kernel_name";
    // SAFETY: forwarded caller contract.
    let m = match unsafe { open_ref(model, WHAT) } {
        Ok(m) => m,
        Err(c) => return c,
    };
    if buf.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("{WHAT}: buf is null"));
    }
    let name = m.kernel().name.as_bytes();
    if len > 0 {
        let n = name.len().min(len - 1);
        // SAFETY: `n + 1 <= len` bytes, writable per the contract.
        let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n + 1) };
        out[..n].copy_from_slice(&name[..n]);
        out[n] = 0;
    }
    if len <= name.len() {
        return fail(
            BEMM_ERR_OUTPUT,
            format_args!("{WHAT}: buffer of {len} bytes; the name needs {} with its NUL", name.len() + 1),
        );
    }
    BEMM_OK
}

/// f32 values of scratch a call with `batch` samples needs, into `*out`.
///
/// # Safety
/// `model` as for [`open_ref`]; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_scratch_len(model: *const BemmModel, batch: usize, out: *mut usize) -> i32 {
    const WHAT: &str = "bemm_scratch_len";
    // SAFETY: forwarded caller contract.
    let m = match unsafe { open_ref(model, WHAT) } {
        Ok(m) => m,
        Err(c) => return c,
    };
    if out.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("{WHAT}: out is null"));
    }
    if batch == 0 {
        return fail(BEMM_ERR_BATCH, format_args!("{WHAT}: batch must be at least 1"));
    }
    let n = m.scratch_len(batch);
    if n == usize::MAX || n > isize::MAX as usize / core::mem::size_of::<f32>() {
        return fail(BEMM_ERR_BATCH, format_args!("{WHAT}: batch {batch} makes the scratch larger than any buffer"));
    }
    // SAFETY: non-null, caller promises writable.
    unsafe { out.write_unaligned(n) };
    BEMM_OK
}
