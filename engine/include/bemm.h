/*
 * bemm.h: C interface of bemm-engine (build with the `capi` feature).
 *
 * No call allocates: the caller owns the handle storage, the model bytes
 * (which must stay valid until bemm_model_close), scratch, inputs and
 * outputs. Every function that can fail returns a status code: BEMM_OK (0)
 * or a negative BEMM_ERR_*; bemm_last_error / bemm_last_error_message give
 * the last failure's code and a detailed message (per thread when the
 * library is built with Rust's std, process-wide in no_std builds).
 *
 * Inputs are f16 bit patterns (uint16_t), CHW per sample, samples back to
 * back, normalised as the model's metadata says ((x - mean) / std per band;
 * bemm_f32_to_f16 converts). Outputs are f32, sample-major.
 *
 * Checked against engine/src/capi.rs by tests/tests/interop_capi.rs.
 */
#ifndef BEMM_H
#define BEMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BEMM_OK 0
#define BEMM_ERR_NULL (-1)
#define BEMM_ERR_MODEL (-2)
#define BEMM_ERR_STORAGE (-3)
#define BEMM_ERR_INPUT (-4)
#define BEMM_ERR_SCRATCH (-5)
#define BEMM_ERR_OUTPUT (-6)
#define BEMM_ERR_BATCH (-7)
#define BEMM_ERR_UNSUPPORTED (-8)
#define BEMM_ERR_INTERNAL (-9)

/* Opaque model handle, placed by bemm_model_open in caller storage. */
typedef struct bemm_model bemm_model;

/* Static name of a status code, e.g. "BEMM_ERR_MODEL". */
const char *bemm_status_name(int32_t code);
/* Code of the last failure (BEMM_OK if none yet): this thread's calls when
 * the library is built with std, any call's in no_std builds. */
int32_t bemm_last_error(void);
/* Copy the last failure's message (NUL-terminated, truncated to len - 1);
 * returns its length without the NUL. */
size_t bemm_last_error_message(char *buf, size_t len);

/* Bytes and alignment the handle storage needs. */
size_t bemm_model_storage_size(void);
size_t bemm_model_storage_align(void);

/* Parse and validate a model file (bytes at least 2-byte aligned) into a
 * handle placed in `storage`; *out receives the handle. */
int32_t bemm_model_open(uint8_t *storage, size_t storage_len, const uint8_t *bytes, size_t len, bemm_model **out);
/* Release a handle (null is ignored). */
void bemm_model_close(bemm_model *model);

/* Use GEMM panels of kc depth (even, 2..4096) and nc columns (a multiple of
 * 32, 32..65536): smaller panels shrink the fixed part of the scratch (64 x 64:
 * 40 KB instead of 2.2 MB) for firmware with little RAM; ask bemm_scratch_len
 * again afterwards. BEMM_ERR_INPUT for invalid sizes. */
int32_t bemm_model_set_gemm_blocks(bemm_model *model, size_t kc, size_t nc);

/* Sizes: f16 values per input sample (C*H*W), classes, feature values per
 * sample, input channels, height, width. Null out pointers are skipped. */
int32_t bemm_model_info(const bemm_model *model, size_t *input_len, size_t *num_classes, size_t *feature_len,
                        size_t *channels, size_t *height, size_t *width);
/* f32 values of scratch needed for `batch` samples (batches run a few samples
 * at a time, so this stops growing past a model-dependent chunk). */
int32_t bemm_scratch_len(const bemm_model *model, size_t batch, size_t *out);

/* Classify `batch` samples: probs_len must equal batch * num_classes;
 * labels (nullable) receives one bit mask per sample (bit j = class j at or
 * above the model's threshold). */
int32_t bemm_predict(const bemm_model *model, const uint16_t *input, size_t batch, float *scratch, size_t scratch_len,
                     float *probs, size_t probs_len, uint64_t *labels);
/* As bemm_predict, and write the retrieval features
 * (features_len = batch * feature_len). */
int32_t bemm_extract_features(const bemm_model *model, const uint16_t *input, size_t batch, float *scratch,
                              size_t scratch_len, float *probs, size_t probs_len, float *features, size_t features_len);

/* Convert n floats to f16 bit patterns (round to nearest even). */
int32_t bemm_f32_to_f16(const float *src, uint16_t *dst, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* BEMM_H */
