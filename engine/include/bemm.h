/*
 * bemm.h: C interface of bemm-engine (build with the `capi` feature).
 *
 * Memory. No call allocates: the caller owns the handle storage, the model
 * bytes (which must stay valid and unchanged until bemm_model_close),
 * scratch, inputs and outputs.
 *
 * Alignment. The model file's first byte must lie at a BEMM_MODEL_ALIGN (8)
 * byte aligned address (BEMM_ERR_ALIGN otherwise): the engine reads its
 * tables and f16 weights in place. malloc, memory maps and
 * `_Alignas(8)` / `__attribute__((aligned(8)))` arrays qualify; in flash,
 * place the model with the linker script's ALIGN(8). The handle storage
 * needs bemm_model_storage_align() bytes (BEMM_ERR_STORAGE), f16 input
 * buffers 2 and float buffers 4 (BEMM_ERR_INPUT); labels and size_t outs
 * may be unaligned.
 *
 * Lengths. Every length is a count of elements of the pointer's type, never
 * bytes (except the model's `len` and `storage_len`). A buffer is at most
 * PTRDIFF_MAX bytes and must not wrap past the end of the address space: a
 * length beyond that is an error code (BEMM_ERR_BATCH for the input,
 * BEMM_ERR_SCRATCH, BEMM_ERR_OUTPUT, BEMM_ERR_MODEL, BEMM_ERR_INPUT for
 * bemm_f32_to_f16), checked before the buffer is touched. Within that, the
 * caller must really own the stated number of elements.
 *
 * Status. Every function that can fail returns BEMM_OK (0) or a negative
 * BEMM_ERR_*; a failed call writes no output except as stated.
 * bemm_last_error and bemm_last_error_message give the last failure's code
 * and a message naming the function, the value and what was expected; a
 * successful call leaves them unchanged. With Rust's std (the default
 * staticlib) they are per thread, like errno. In no_std builds they are
 * process-wide, and a failure that happens while another thread reads or
 * writes the record is not recorded (nothing blocks).
 *
 * Threads. An open handle may be used by any number of threads at once in
 * bemm_model_info, bemm_model_kernel_name, bemm_scratch_len, bemm_predict
 * and bemm_extract_features, each call with its own scratch and outputs
 * (results are bitwise those of one thread). bemm_model_set_gemm_blocks,
 * bemm_model_set_kernel and bemm_model_close need the handle to themselves.
 *
 * Handles. bemm_model_close marks the storage closed: while the storage is
 * not reused, any later call with that handle, a second close included,
 * returns BEMM_ERR_HANDLE; so does storage that never held an open handle.
 * A handle whose storage was freed or reused is undefined behaviour, as in
 * any C API.
 *
 * Inputs are f16 bit patterns (uint16_t), CHW per sample, samples back to
 * back, normalised as the model's metadata says ((x - mean) / std per band;
 * bemm_f32_to_f16 converts). A NaN or infinite value is BEMM_ERR_NONFINITE
 * and nothing is computed. Outputs are f32, sample-major.
 *
 * Checked against engine/src/capi/ by tests/tests/interop_capi.rs; every
 * case above is exercised from C by engine/tests/c/misuse.c.
 */
#ifndef BEMM_H
#define BEMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BEMM_OK 0
#define BEMM_ERR_NULL (-1)        /* a required pointer is NULL */
#define BEMM_ERR_MODEL (-2)       /* not a valid model file, or beyond the engine's limits */
#define BEMM_ERR_STORAGE (-3)     /* handle storage too small or misaligned */
#define BEMM_ERR_INPUT (-4)       /* wrong input length or alignment, or a parameter out of range */
#define BEMM_ERR_SCRATCH (-5)     /* scratch too small, or its length beyond PTRDIFF_MAX bytes */
#define BEMM_ERR_OUTPUT (-6)      /* an output buffer's length is wrong */
#define BEMM_ERR_BATCH (-7)       /* batch 0, or so large that sizes overflow */
#define BEMM_ERR_UNSUPPORTED (-8) /* the CPU lacks what a kernel needs, or no kernel has that name */
#define BEMM_ERR_INTERNAL (-9)    /* an engine bug, reported instead of crashing */
#define BEMM_ERR_NONFINITE (-10)  /* an input value is NaN or infinite */
#define BEMM_ERR_ALIGN (-11)      /* the model bytes are not BEMM_MODEL_ALIGN-byte aligned */
#define BEMM_ERR_HANDLE (-12)     /* the handle was closed, or never opened */

/* Alignment in bytes of the model file's first byte. */
#define BEMM_MODEL_ALIGN 8
/* A message buffer of this many bytes always receives the whole message. */
#define BEMM_MESSAGE_MAX 256
/* A buffer of this many bytes always receives the whole kernel name. */
#define BEMM_KERNEL_NAME_MAX 32

/* Opaque model handle, placed by bemm_model_open in caller storage. */
typedef struct bemm_model bemm_model;

/* Static name of a status code, e.g. "BEMM_ERR_MODEL" ("BEMM_ERR_UNKNOWN"
 * for a value that is none). */
const char *bemm_status_name(int32_t code);
/* Code of the last failure (BEMM_OK if none yet); see "Status" above. */
int32_t bemm_last_error(void);
/* Like snprintf: copy the last failure's message into buf, cut to len - 1
 * bytes and NUL-terminated, and return the length of the whole message
 * without the NUL. A return >= len means buf holds a cut copy. buf may be
 * NULL with len 0 to ask for the length. Messages are at most
 * BEMM_MESSAGE_MAX - 1 bytes (a longer one is recorded cut at a UTF-8
 * character and ending in "..."); 0 when there was no failure. */
size_t bemm_last_error_message(char *buf, size_t len);

/* Bytes and alignment the handle storage needs. */
size_t bemm_model_storage_size(void);
size_t bemm_model_storage_align(void);

/* Parse and validate the model file bytes[0..len] (first byte
 * BEMM_MODEL_ALIGN-aligned; bytes after the file's own length are ignored)
 * into a handle placed in `storage`; *out receives the handle. Opening into
 * storage that holds an open handle replaces it. */
int32_t bemm_model_open(uint8_t *storage, size_t storage_len, const uint8_t *bytes, size_t len, bemm_model **out);
/* Release a handle: its storage and the model bytes may be reused after.
 * BEMM_ERR_HANDLE for a closed or never-opened handle; NULL is ignored
 * (BEMM_OK), like free(NULL). */
int32_t bemm_model_close(bemm_model *model);

/* Use GEMM panels of kc depth (even, 2..4096) and nc columns (a multiple of
 * 32, 32..65536): smaller panels shrink the fixed part of the scratch (64 x 64:
 * 40 KB instead of 2.2 MB) for firmware with little RAM; ask bemm_scratch_len
 * again afterwards. BEMM_ERR_INPUT for invalid sizes. */
int32_t bemm_model_set_gemm_blocks(bemm_model *model, size_t kc, size_t nc);

/* Pin the GEMM micro-kernel by name: a kernel name as bemm_model_kernel_name
 * writes it ("avx512-12x32", "scalar-4x8") or an instruction-set name ("avx2":
 * its best kernel); the precision follows the kernel (bf16 kernels are the
 * fast path). BEMM_ERR_UNSUPPORTED for an unknown name or a kernel this CPU
 * cannot run; BEMM_ERR_INPUT for a name of BEMM_KERNEL_NAME_MAX bytes or more
 * (at most that many are read) or not UTF-8. Ask bemm_scratch_len again
 * afterwards. The BEMM_KERNEL environment variable pins the same way at
 * bemm_model_open (std builds). */
int32_t bemm_model_set_kernel(bemm_model *model, const char *name);

/* Sizes: f16 values per input sample (C*H*W), classes, feature values per
 * sample, input channels, height, width. NULL out pointers are skipped. */
int32_t bemm_model_info(const bemm_model *model, size_t *input_len, size_t *num_classes, size_t *feature_len,
                        size_t *channels, size_t *height, size_t *width);
/* Name of the GEMM micro-kernel the model runs (e.g. "avx512-12x32"),
 * NUL-terminated, into buf (len bytes; BEMM_KERNEL_NAME_MAX always
 * suffice). BEMM_ERR_OUTPUT when len cannot hold the name and its NUL (buf
 * then holds a cut copy when len > 0). */
int32_t bemm_model_kernel_name(const bemm_model *model, char *buf, size_t len);
/* f32 values of scratch needed for `batch` samples (batches run a few samples
 * at a time, so this stops growing past a model-dependent chunk). */
int32_t bemm_scratch_len(const bemm_model *model, size_t batch, size_t *out);

/* Classify `batch` samples: input holds batch * input_len f16 values;
 * probs_len must equal batch * num_classes; scratch_len at least
 * bemm_scratch_len(batch); labels (nullable, batch values) receives one bit
 * mask per sample (bit j = class j at or above the model's threshold).
 * Nothing is written to labels on failure. */
int32_t bemm_predict(const bemm_model *model, const uint16_t *input, size_t batch, float *scratch, size_t scratch_len,
                     float *probs, size_t probs_len, uint64_t *labels);
/* As bemm_predict, and write the retrieval features: features must not be
 * NULL and features_len must equal batch * feature_len (0 is
 * BEMM_ERR_OUTPUT, never a silent skip). */
int32_t bemm_extract_features(const bemm_model *model, const uint16_t *input, size_t batch, float *scratch,
                              size_t scratch_len, float *probs, size_t probs_len, float *features, size_t features_len);

/* Convert n floats to f16 bit patterns (round to nearest even; any
 * alignment). */
int32_t bemm_f32_to_f16(const float *src, uint16_t *dst, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* BEMM_H */
