//! The C ABI driven from Rust: every check the C harness
//! (`engine/tests/c/misuse.c`) makes from C, plus results against the Rust API.

use super::*;
use crate::arch::{build, Arch, RandomWeights};
use crate::model::Model;
use bemm_formats::model::OwnedMeta;
use core::ffi::c_char;
use core::ptr::{null, null_mut};
use half::f16;
use std::vec::Vec;

/// A tiny 3-band 32x32 model, 19 classes.
fn model_bytes() -> Vec<u8> {
    let meta = OwnedMeta::bigearthnet("tiny", &[0, 1, 2]);
    build(Arch::Tiny, 3, 32, 19, &mut RandomWeights::new(3), meta).expect("build").to_bytes().expect("bytes")
}

/// 8-byte aligned storage holding `bytes` from byte `shift` on.
fn placed(bytes: &[u8], shift: usize) -> Vec<u64> {
    let mut words = std::vec![0u64; (bytes.len() + shift).div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[shift..shift + bytes.len()].copy_from_slice(bytes);
    words
}

fn message() -> std::string::String {
    let mut msg = [0 as c_char; BEMM_MESSAGE_MAX];
    // SAFETY: msg holds BEMM_MESSAGE_MAX writable bytes.
    let n = unsafe { bemm_last_error_message(msg.as_mut_ptr(), msg.len()) };
    msg[..n].iter().map(|&c| c as u8 as char).collect()
}

/// An open handle over the tiny model, with the buffers it owns.
struct Open {
    _words: Vec<u64>,
    _storage: Vec<u64>,
    h: *mut BemmModel,
    il: usize,
    nc: usize,
    fl: usize,
}

fn open() -> Open {
    let bytes = model_bytes();
    let words = placed(&bytes, 0);
    let mut storage = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
    let mut h = null_mut();
    // SAFETY: buffers of the stated sizes, kept alive in `Open`.
    let rc = unsafe {
        bemm_model_open(storage.as_mut_ptr().cast(), storage.len() * 8, words.as_ptr().cast(), bytes.len(), &mut h)
    };
    assert_eq!(rc, BEMM_OK, "{}", message());
    let (mut il, mut nc, mut fl) = (0, 0, 0);
    // SAFETY: an open handle and writable outs.
    let rc = unsafe { bemm_model_info(h, &mut il, &mut nc, &mut fl, null_mut(), null_mut(), null_mut()) };
    assert_eq!(rc, BEMM_OK);
    Open { _words: words, _storage: storage, h, il, nc, fl }
}

fn input(n: usize) -> Vec<u16> {
    (0..n).map(|i| f16::from_f32(((i % 7) as f32 - 3.0) / 3.0).to_bits()).collect()
}

#[test]
fn open_predict_and_errors_through_the_c_abi() {
    let bytes = model_bytes();
    let words = placed(&bytes, 0);
    let mut storage = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
    let mut h: *mut BemmModel = null_mut();
    // SAFETY: buffers live for the whole test.
    unsafe {
        let rc = bemm_model_open(storage.as_mut_ptr().cast(), 8, words.as_ptr().cast(), bytes.len(), &mut h);
        assert_eq!(rc, BEMM_ERR_STORAGE);
        assert_eq!(bemm_last_error(), BEMM_ERR_STORAGE);
        let st = storage.as_mut_ptr().cast();
        let rc = bemm_model_open(st, storage.len() * 8, words.as_ptr().cast(), bytes.len() - 8, &mut h);
        assert_eq!(rc, BEMM_ERR_MODEL);
        let mut msg = [0 as c_char; 64];
        let n = bemm_last_error_message(msg.as_mut_ptr(), msg.len());
        assert!(n > 0, "a message was recorded");
        assert_eq!(bemm_model_open(st, storage.len() * 8, words.as_ptr().cast(), bytes.len(), &mut h), BEMM_OK);
        let (mut il, mut nc, mut fl) = (0usize, 0usize, 0usize);
        assert_eq!(bemm_model_info(h, &mut il, &mut nc, &mut fl, null_mut(), null_mut(), null_mut()), BEMM_OK);
        assert_eq!((il, nc), (3 * 32 * 32, 19));
        let mut sl = 0usize;
        assert_eq!(bemm_scratch_len(h, 2, &mut sl), BEMM_OK);
        let input = input(2 * il);
        let mut scratch = std::vec![0f32; sl];
        let mut probs = std::vec![0f32; 2 * nc];
        let mut feats = std::vec![0f32; 2 * fl];
        let mut labels = [0u64; 2];
        let (ip, sp, pp, lp) = (input.as_ptr(), scratch.as_mut_ptr(), probs.as_mut_ptr(), labels.as_mut_ptr());
        assert_eq!(bemm_predict(h, ip, 2, sp, sl - 1, pp, 2 * nc, lp), BEMM_ERR_SCRATCH);
        assert!(message().starts_with("bemm_predict: scratch holds"), "{}", message());
        assert_eq!(bemm_predict(h, ip, 2, sp, sl, pp, 2 * nc, lp), BEMM_OK);
        let m: &Model<'static> = &(*h).model;
        let input16: Vec<f16> = input.iter().map(|b| f16::from_bits(*b)).collect();
        let mut want = std::vec![0f32; 2 * nc];
        m.infer(&input16, 2, &mut scratch, &mut want, &mut []).expect("infer");
        assert_eq!(probs, want);
        assert_eq!(labels[1], m.predicted(&want[nc..]));
        let fp = feats.as_mut_ptr();
        let pp = probs.as_mut_ptr();
        assert_eq!(bemm_extract_features(h, ip, 2, sp, sl, pp, 2 * nc, fp, 2 * fl - 1), BEMM_ERR_OUTPUT);
        assert_eq!(bemm_extract_features(h, ip, 2, sp, sl, pp, 2 * nc, fp, 2 * fl), BEMM_OK);
        assert!(feats.iter().any(|v| *v != 0.0));
        // Small GEMM panels: less scratch, the same labels.
        assert_eq!(bemm_model_set_gemm_blocks(h, 63, 64), BEMM_ERR_INPUT);
        assert_eq!(bemm_model_set_gemm_blocks(null_mut(), 64, 64), BEMM_ERR_NULL);
        assert_eq!(bemm_model_set_gemm_blocks(h, 64, 64), BEMM_OK);
        let mut small = 0usize;
        assert_eq!(bemm_scratch_len(h, 2, &mut small), BEMM_OK);
        assert!(small < sl, "{small} vs {sl}");
        let mut probs2 = std::vec![0f32; 2 * nc];
        let mut labels2 = [0u64; 2];
        let rc = bemm_predict(h, ip, 2, sp, small, probs2.as_mut_ptr(), 2 * nc, labels2.as_mut_ptr());
        assert_eq!(rc, BEMM_OK);
        assert_eq!(labels2, labels);
        for (a, b) in probs2.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(bemm_model_close(h), BEMM_OK);
    }
}

#[test]
fn lengths_past_what_a_slice_may_hold_are_errors() {
    let o = open();
    let mut sl = 0usize;
    // SAFETY: an open handle; the huge lengths are rejected before any slice is made.
    unsafe {
        assert_eq!(bemm_scratch_len(o.h, 1, &mut sl), BEMM_OK);
        let inp = input(o.il);
        let mut scratch = std::vec![0f32; sl];
        let mut probs = std::vec![0f32; o.nc];
        let mut feats = std::vec![0f32; o.fl];
        let (ip, sp, pp, fp) = (inp.as_ptr(), scratch.as_mut_ptr(), probs.as_mut_ptr(), feats.as_mut_ptr());
        let nc = o.nc;
        for batch in [usize::MAX / o.il, isize::MAX as usize / 2 / o.il + 1, usize::MAX] {
            assert_eq!(bemm_predict(o.h, ip, batch, sp, sl, pp, nc, null_mut()), BEMM_ERR_BATCH, "batch {batch}");
            assert!(message().contains("larger than any buffer"), "{}", message());
        }
        assert_eq!(bemm_predict(o.h, ip, 1, sp, usize::MAX, pp, nc, null_mut()), BEMM_ERR_SCRATCH);
        assert_eq!(bemm_predict(o.h, ip, 1, sp, isize::MAX as usize / 4 + 1, pp, nc, null_mut()), BEMM_ERR_SCRATCH);
        assert_eq!(bemm_predict(o.h, ip, 1, sp, sl, pp, usize::MAX, null_mut()), BEMM_ERR_OUTPUT);
        assert_eq!(bemm_extract_features(o.h, ip, 1, sp, sl, pp, nc, fp, usize::MAX), BEMM_ERR_OUTPUT);
        assert!(message().contains("features_len"), "{}", message());
        // A length that fits a slice but wraps the address space.
        let end = (usize::MAX - 63) as *mut f32;
        assert_eq!(bemm_predict(o.h, ip, 1, end.cast(), 1 << 20, pp, nc, null_mut()), BEMM_ERR_SCRATCH);
        let mut half = [0u16; 4];
        let src = [1f32; 4];
        assert_eq!(bemm_f32_to_f16(src.as_ptr(), half.as_mut_ptr(), usize::MAX), BEMM_ERR_INPUT);
        assert_eq!(half, [0; 4], "nothing converted");
        // Batches run a chunk of samples at a time: the scratch stays finite.
        assert_eq!(bemm_scratch_len(o.h, usize::MAX, &mut sl), BEMM_OK);
        bemm_model_close(o.h);
    }
}

#[test]
fn empty_features_buffer_and_non_finite_input_are_errors() {
    let o = open();
    let mut sl = 0usize;
    // SAFETY: an open handle and buffers of the stated lengths.
    unsafe {
        assert_eq!(bemm_scratch_len(o.h, 2, &mut sl), BEMM_OK);
        let mut inp = input(2 * o.il);
        let mut scratch = std::vec![0f32; sl];
        let mut probs = std::vec![0f32; 2 * o.nc];
        let mut feats = std::vec![7f32; 2 * o.fl];
        let (sp, pp, fp) = (scratch.as_mut_ptr(), probs.as_mut_ptr(), feats.as_mut_ptr());
        let nc = 2 * o.nc;
        assert_eq!(bemm_extract_features(o.h, inp.as_ptr(), 2, sp, sl, pp, nc, fp, 0), BEMM_ERR_OUTPUT);
        assert!(message().contains("features_len is 0"), "{}", message());
        assert!(feats.iter().all(|v| *v == 7.0));
        for (at, bad) in [(0, f16::NAN), (o.il + 5, f16::INFINITY), (2 * o.il - 1, f16::NEG_INFINITY)] {
            inp[at] = bad.to_bits();
            let mut labels = [u64::MAX; 2];
            let rc = bemm_predict(o.h, inp.as_ptr(), 2, sp, sl, pp, nc, labels.as_mut_ptr());
            assert_eq!(rc, BEMM_ERR_NONFINITE);
            assert_eq!(labels, [u64::MAX; 2], "no labels on failure");
            let msg = message();
            assert!(msg.contains(&std::format!("sample {} value {}", at / o.il, at % o.il)), "{msg}");
            let rc = bemm_extract_features(o.h, inp.as_ptr(), 2, sp, sl, pp, nc, fp, 2 * o.fl);
            assert_eq!(rc, BEMM_ERR_NONFINITE);
            inp[at] = f16::from_f32(0.5).to_bits();
        }
        assert_eq!(bemm_predict(o.h, inp.as_ptr(), 2, sp, sl, pp, nc, null_mut()), BEMM_OK);
        bemm_model_close(o.h);
    }
}

#[test]
fn model_bytes_must_be_8_byte_aligned_and_say_so() {
    let bytes = model_bytes();
    let mut storage = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
    for shift in [0, 2, 4, 6] {
        let words = placed(&bytes, shift);
        let at = bytemuck::cast_slice::<u64, u8>(&words)[shift..].as_ptr();
        let mut h = null_mut();
        // SAFETY: `bytes.len()` readable bytes at `at`; storage sized as asked.
        let rc = unsafe { bemm_model_open(storage.as_mut_ptr().cast(), storage.len() * 8, at, bytes.len(), &mut h) };
        if shift == 0 {
            assert_eq!(rc, BEMM_OK);
            // SAFETY: the handle just opened.
            assert_eq!(unsafe { bemm_model_close(h) }, BEMM_OK);
        } else {
            assert_eq!(rc, BEMM_ERR_ALIGN, "model at {shift} mod 8");
            let msg = message();
            assert!(msg.contains(&std::format!("{shift} bytes past a multiple of 8")), "{msg}");
            // The Rust API states the same requirement.
            let Err(e) = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[shift..shift + bytes.len()]) else {
                panic!("a model at {shift} mod 8 opened");
            };
            let e = e.to_string();
            assert!(e.contains("aligned to 8 bytes"), "{e}");
        }
    }
    assert_eq!(BEMM_MODEL_ALIGN, 8);
}

#[test]
fn message_length_is_reported_in_full_like_snprintf() {
    // SAFETY: null pointers are the case under test; nothing is dereferenced.
    let rc = unsafe { bemm_model_open(null_mut(), 0, null(), 0, null_mut()) };
    assert_eq!(rc, BEMM_ERR_NULL);
    let full = message();
    // SAFETY: a null buffer with length 0 only asks for the length.
    assert_eq!(unsafe { bemm_last_error_message(null_mut(), 0) }, full.len());
    let mut small = [b'x' as c_char; 8];
    // SAFETY: 8 writable bytes.
    let n = unsafe { bemm_last_error_message(small.as_mut_ptr(), small.len()) };
    assert_eq!(n, full.len(), "the whole length, not the copied one");
    assert!(n >= small.len(), "so the caller can tell the copy was cut");
    assert_eq!(small[7], 0);
    assert_eq!(small[..7].iter().map(|&c| c as u8 as char).collect::<std::string::String>(), full[..7]);
    // A huge `len` with a short real buffer is fine: only the message and NUL are written.
    let mut big = [0 as c_char; BEMM_MESSAGE_MAX];
    // SAFETY: the message and its NUL fit in `big` (BEMM_MESSAGE_MAX bytes).
    assert_eq!(unsafe { bemm_last_error_message(big.as_mut_ptr(), usize::MAX) }, full.len());

    // A message longer than a record keeps: cut at a character, marked.
    let long = "é".repeat(300);
    last_error::fail(BEMM_ERR_INTERNAL, format_args!("{long}"));
    let mut buf = [0 as c_char; 2 * BEMM_MESSAGE_MAX];
    // SAFETY: buf holds its length in writable bytes.
    let n = unsafe { bemm_last_error_message(buf.as_mut_ptr(), buf.len()) };
    assert!(n < BEMM_MESSAGE_MAX, "{n}");
    let kept: Vec<u8> = buf[..n].iter().map(|&c| c as u8).collect();
    let kept = std::str::from_utf8(&kept).expect("whole characters");
    assert!(kept.ends_with("é..."), "{kept}");
}

#[test]
fn a_closed_or_foreign_handle_is_an_error() {
    let o = open();
    let mut sl = 0usize;
    let mut name = [0 as c_char; BEMM_KERNEL_NAME_MAX];
    // SAFETY: the handle's storage stays alive (in `o`) after close, so
    // reading its mark is defined; the foreign storage is zeroed memory.
    unsafe {
        assert_eq!(bemm_model_close(o.h), BEMM_OK);
        assert_eq!(bemm_scratch_len(o.h, 1, &mut sl), BEMM_ERR_HANDLE);
        assert!(message().contains("was closed"), "{}", message());
        let inp = input(o.il);
        let mut scratch = std::vec![0f32; 1 << 16];
        let mut probs = std::vec![0f32; o.nc];
        let rc =
            bemm_predict(o.h, inp.as_ptr(), 1, scratch.as_mut_ptr(), 1 << 16, probs.as_mut_ptr(), o.nc, null_mut());
        assert_eq!(rc, BEMM_ERR_HANDLE);
        assert_eq!(
            bemm_model_info(o.h, &mut sl, null_mut(), null_mut(), null_mut(), null_mut(), null_mut()),
            BEMM_ERR_HANDLE
        );
        assert_eq!(bemm_model_kernel_name(o.h, name.as_mut_ptr(), name.len()), BEMM_ERR_HANDLE);
        assert_eq!(bemm_model_set_gemm_blocks(o.h, 64, 64), BEMM_ERR_HANDLE);
        assert_eq!(bemm_model_close(o.h), BEMM_ERR_HANDLE, "double close");
        assert_eq!(bemm_model_close(null_mut()), BEMM_OK, "like free(NULL)");
        let mut zeroed = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
        let foreign = zeroed.as_mut_ptr().cast::<BemmModel>();
        assert_eq!(bemm_scratch_len(foreign, 1, &mut sl), BEMM_ERR_HANDLE);
        assert!(message().contains("not an open handle"), "{}", message());
        assert_eq!(bemm_model_close(foreign), BEMM_ERR_HANDLE);
        let odd = zeroed.as_mut_ptr().cast::<u8>().add(1).cast::<BemmModel>();
        assert_eq!(bemm_scratch_len(odd, 1, &mut sl), BEMM_ERR_HANDLE);
    }
}

#[test]
fn kernel_name_is_the_models_kernel() {
    let o = open();
    // SAFETY: an open handle; buffers of the stated lengths.
    unsafe {
        let want = (*o.h).model.kernel().name;
        let mut buf = [0x55 as c_char; BEMM_KERNEL_NAME_MAX];
        assert_eq!(bemm_model_kernel_name(o.h, buf.as_mut_ptr(), buf.len()), BEMM_OK);
        let got: std::string::String = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect();
        assert_eq!(got, want);
        let mut short = [0x55 as c_char; 4];
        assert_eq!(bemm_model_kernel_name(o.h, short.as_mut_ptr(), short.len()), BEMM_ERR_OUTPUT);
        assert_eq!(short[3], 0);
        assert_eq!(bemm_model_kernel_name(o.h, null_mut(), 8), BEMM_ERR_NULL);
        bemm_model_close(o.h);
    }
    // Every name in the kernel registry (private to `kernels`, so read from its source).
    let registry = include_str!("../kernels/mod.rs");
    let names: Vec<&str> =
        registry.split("MicroKernel { name: \"").skip(1).filter_map(|r| r.split('"').next()).collect();
    assert!(names.len() >= 4, "{names:?}");
    for n in names {
        assert!(n.len() < BEMM_KERNEL_NAME_MAX, "{n} needs a larger BEMM_KERNEL_NAME_MAX");
    }
}

#[test]
fn kernel_can_be_pinned_by_name() {
    let o = open();
    let name = |h| {
        let mut buf = [0 as c_char; BEMM_KERNEL_NAME_MAX];
        // SAFETY: an open handle; buf holds its length.
        assert_eq!(unsafe { bemm_model_kernel_name(h, buf.as_mut_ptr(), buf.len()) }, BEMM_OK);
        buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect::<std::string::String>()
    };
    let mut sl = 0usize;
    // SAFETY: an open handle, NUL-terminated names, buffers of the stated lengths.
    unsafe {
        assert_eq!(bemm_model_set_kernel(o.h, c"scalar-4x8".as_ptr()), BEMM_OK);
        assert_eq!(name(o.h), "scalar-4x8");
        assert_eq!(bemm_model_set_kernel(o.h, c"scalar".as_ptr()), BEMM_OK, "an ISA name");
        assert_eq!(name(o.h), "scalar-4x8");
        assert_eq!(bemm_scratch_len(o.h, 1, &mut sl), BEMM_OK);
        let inp = input(o.il);
        let mut scratch = std::vec![0f32; sl];
        let mut probs = std::vec![0f32; o.nc];
        let rc = bemm_predict(o.h, inp.as_ptr(), 1, scratch.as_mut_ptr(), sl, probs.as_mut_ptr(), o.nc, null_mut());
        assert_eq!(rc, BEMM_OK);
        assert_eq!(bemm_model_set_kernel(o.h, c"no-such-kernel".as_ptr()), BEMM_ERR_UNSUPPORTED);
        assert!(message().contains("no-such-kernel"), "{}", message());
        assert_eq!(name(o.h), "scalar-4x8", "a failed pin keeps the kernel");
        let long = [b'a' as c_char; 2 * BEMM_KERNEL_NAME_MAX];
        assert_eq!(bemm_model_set_kernel(o.h, long.as_ptr()), BEMM_ERR_INPUT);
        assert_eq!(bemm_model_set_kernel(o.h, c"\xff".as_ptr()), BEMM_ERR_INPUT);
        assert_eq!(bemm_model_set_kernel(o.h, null()), BEMM_ERR_NULL);
        bemm_model_close(o.h);
        assert_eq!(bemm_model_set_kernel(o.h, c"scalar".as_ptr()), BEMM_ERR_HANDLE);
    }
}

#[test]
fn last_error_is_per_thread() {
    let storage_ok = [0u64; 4];
    // SAFETY: null pointers are the case under test; nothing is dereferenced.
    let rc = unsafe { bemm_model_open(null_mut(), 0, storage_ok.as_ptr().cast(), 8, null_mut()) };
    assert_eq!(rc, BEMM_ERR_NULL);
    assert_eq!(bemm_last_error(), BEMM_ERR_NULL);
    // Another thread's failure neither shows here nor sees ours.
    let other = std::thread::spawn(|| {
        let before = bemm_last_error();
        let mut h: *mut BemmModel = null_mut();
        let mut store = [0u64; 1];
        let bytes = [0u64; 2];
        // SAFETY: a 0-byte storage area behind a valid pointer: rejected before use.
        let rc = unsafe { bemm_model_open(store.as_mut_ptr().cast(), 0, bytes.as_ptr().cast(), 16, &mut h) };
        (before, rc, bemm_last_error(), message())
    })
    .join()
    .expect("thread");
    assert_eq!(other.0, BEMM_OK);
    assert_eq!(other.1, BEMM_ERR_STORAGE);
    assert_eq!(other.2, BEMM_ERR_STORAGE);
    assert!(other.3.contains("storage of 0 bytes"), "{}", other.3);
    assert_eq!(bemm_last_error(), BEMM_ERR_NULL);
    assert!(message().contains("must not be null"), "{}", message());
}

#[test]
fn an_int8_model_runs_through_the_c_abi_unchanged_for_the_caller() {
    let meta = OwnedMeta::bigearthnet("tiny", &[0, 1, 2]);
    let mut b = build(Arch::Tiny, 3, 32, 19, &mut RandomWeights::new(3), meta).expect("build");
    let convs = b.graph.quantizable();
    for i in convs {
        b.graph.quantize(i, 0.05, 0, bemm_formats::model::WeightBits::Eight).expect("quantize");
    }
    let bytes = b.to_bytes().expect("bytes");
    let words = placed(&bytes, 0);
    let mut storage = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
    let mut h: *mut BemmModel = null_mut();
    // SAFETY: buffers live for the whole test.
    unsafe {
        let st = storage.as_mut_ptr().cast();
        assert_eq!(bemm_model_open(st, storage.len() * 8, words.as_ptr().cast(), bytes.len(), &mut h), BEMM_OK);
        assert!((*h).model.is_quantized());
        let (mut il, mut nc, mut fl) = (0usize, 0usize, 0usize);
        assert_eq!(bemm_model_info(h, &mut il, &mut nc, &mut fl, null_mut(), null_mut(), null_mut()), BEMM_OK);
        let mut sl = 0usize;
        assert_eq!(bemm_scratch_len(h, 2, &mut sl), BEMM_OK);
        assert!(sl >= (*h).model.int8_scratch_len(2).expect("fits") + (*h).model.workspace_len());
        let input = input(2 * il);
        let mut scratch = std::vec![0f32; sl];
        let mut probs = std::vec![0f32; 2 * nc];
        let mut feats = std::vec![0f32; 2 * fl];
        let (ip, sp, pp, fp) = (input.as_ptr(), scratch.as_mut_ptr(), probs.as_mut_ptr(), feats.as_mut_ptr());
        assert_eq!(bemm_predict(h, ip, 2, sp, sl - 1, pp, 2 * nc, null_mut()), BEMM_ERR_SCRATCH);
        assert_eq!(bemm_extract_features(h, ip, 2, sp, sl, pp, 2 * nc, fp, 2 * fl), BEMM_OK);
        let m: &Model<'static> = &(*h).model;
        let input16: Vec<f16> = input.iter().map(|b| f16::from_bits(*b)).collect();
        let (mut want, mut want_f) = (std::vec![0f32; 2 * nc], std::vec![0f32; 2 * fl]);
        m.infer(&input16, 2, &mut scratch, &mut want, &mut want_f).expect("infer");
        assert_eq!((&probs, &feats), (&want, &want_f));
        // Pinning another int8 kernel by name: the same results (bit-identical
        // when only the int8 kernel changes; `scalar-4x8` also pins the float
        // stem's kernel, which rounds differently).
        let other = crate::kernels::int8::available()
            .find(|k| k.name != m.int8_kernel().name && crate::kernels::int8::int8_only_name(k.name))
            .unwrap_or(crate::kernels::int8::scalar());
        let name = std::ffi::CString::new(other.name).expect("name");
        assert_eq!(bemm_model_set_kernel(h, name.as_ptr()), BEMM_OK);
        assert_eq!((*h).model.int8_kernel().name, other.name);
        let pp = probs.as_mut_ptr();
        assert_eq!(bemm_predict(h, ip, 2, scratch.as_mut_ptr(), sl, pp, 2 * nc, null_mut()), BEMM_OK);
        if crate::kernels::int8::int8_only_name(other.name) {
            assert_eq!(probs, want);
        } else {
            assert!(probs.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{probs:?} vs {want:?}");
        }
        assert_eq!(bemm_model_close(h), BEMM_OK);
    }
}
