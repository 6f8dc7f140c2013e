/*
 * predict.c: classify one patch with a bemm model through the C API.
 *
 *   predict MODEL.bemm PATCH.f32
 *
 * PATCH.f32 holds the model's input for one sample: C*H*W little-endian
 * f32, CHW, already normalised ((x - mean) / std per band). Prints one line
 * per class, "<index> <probability>", then "labels 0x<mask>", the first
 * feature value ("feature0 <value>") and the GEMM micro-kernel the model
 * ran ("kernel <name>", e.g. "kernel avx512-12x32"). Build (see
 * docs/readme/60-interop.md):
 *
 *   cargo rustc -p bemm-engine --lib --release --features capi --crate-type staticlib
 *   cc -O2 -I engine/include engine/examples/c/predict.c \
 *      target/release/libbemm_engine.a -lpthread -ldl -lm -o predict
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bemm.h"

/* The handle lives in static storage: no heap for the model itself. */
static _Alignas(64) uint8_t handle_storage[64 * 1024];

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* malloc returns memory aligned for any type: enough for the model
     * (BEMM_MODEL_ALIGN, 8 bytes). */
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int fail(const char *what, int32_t rc) {
    char msg[256];
    bemm_last_error_message(msg, sizeof msg);
    fprintf(stderr, "%s failed: %s: %s\n", what, bemm_status_name(rc), msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.bemm PATCH.f32\n", argv[0]);
        return 2;
    }
    size_t model_len = 0, patch_len = 0;
    uint8_t *model_bytes = read_file(argv[1], &model_len);
    float *patch = read_file(argv[2], &patch_len);
    if (!model_bytes || !patch) return 1;

    if (bemm_model_storage_size() > sizeof handle_storage) {
        fprintf(stderr, "handle needs %zu bytes\n", bemm_model_storage_size());
        return 1;
    }
    bemm_model *model = NULL;
    int32_t rc = bemm_model_open(handle_storage, sizeof handle_storage, model_bytes, model_len, &model);
    if (rc != BEMM_OK) return fail("bemm_model_open", rc);

    size_t input_len, classes, feature_len, scratch_len;
    if ((rc = bemm_model_info(model, &input_len, &classes, &feature_len, NULL, NULL, NULL)) != BEMM_OK)
        return fail("bemm_model_info", rc);
    if (patch_len != input_len * sizeof(float)) {
        fprintf(stderr, "%s: %zu bytes, the model reads %zu f32 values\n", argv[2], patch_len, input_len);
        return 1;
    }
    if ((rc = bemm_scratch_len(model, 1, &scratch_len)) != BEMM_OK) return fail("bemm_scratch_len", rc);

    uint16_t *input = malloc(input_len * sizeof(uint16_t));
    float *scratch = malloc(scratch_len * sizeof(float));
    float *probs = malloc(classes * sizeof(float));
    float *features = malloc(feature_len * sizeof(float));
    if (!input || !scratch || !probs || !features) return 1;
    if ((rc = bemm_f32_to_f16(patch, input, input_len)) != BEMM_OK) return fail("bemm_f32_to_f16", rc);

    /* A too-small scratch is reported, not a crash. */
    rc = bemm_predict(model, input, 1, scratch, scratch_len - 1, probs, classes, NULL);
    if (rc == BEMM_OK) return 1;
    char msg[256];
    bemm_last_error_message(msg, sizeof msg);
    printf("expected error %s: %s\n", bemm_status_name(bemm_last_error()), msg);

    uint64_t labels = 0;
    if ((rc = bemm_predict(model, input, 1, scratch, scratch_len, probs, classes, &labels)) != BEMM_OK)
        return fail("bemm_predict", rc);
    for (size_t j = 0; j < classes; j++) printf("%zu %.9g\n", j, probs[j]);
    printf("labels 0x%llx\n", (unsigned long long)labels);

    if ((rc = bemm_extract_features(model, input, 1, scratch, scratch_len, probs, classes, features, feature_len)) != BEMM_OK)
        return fail("bemm_extract_features", rc);
    printf("feature0 %.9g\n", features[0]);

    char kernel[BEMM_KERNEL_NAME_MAX];
    if ((rc = bemm_model_kernel_name(model, kernel, sizeof kernel)) != BEMM_OK) return fail("bemm_model_kernel_name", rc);
    printf("kernel %s\n", kernel);

    if ((rc = bemm_model_close(model)) != BEMM_OK) return fail("bemm_model_close", rc);
    free(input); free(scratch); free(probs); free(features); free(patch); free(model_bytes);
    return 0;
}
