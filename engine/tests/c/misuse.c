/*
 * misuse.c: the C interface under misuse, as firmware might call it.
 *
 *   misuse MODEL.bemm
 *
 * Every case of bemm.h's contract: NULL pointers, short or misaligned
 * storage, model bytes at 2, 4 and 6 mod 8, broken models, lengths past
 * PTRDIFF_MAX, a zero-length features buffer, NaN and infinite inputs, the
 * snprintf-style message length, closed and foreign handles, the kernel
 * name, and two threads sharing one handle. Buffers the library writes or
 * reads end at a PROT_NONE guard page, so a byte past the stated length
 * faults even though the Rust side is not instrumented; the C side runs
 * under -fsanitize=address,undefined (see .ci/capi_check.sh). Prints one
 * line per check and "misuse: N checks passed"; exits 1 at the first
 * failure.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bemm.h"

static int checks;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            char m_[BEMM_MESSAGE_MAX];                                               \
            bemm_last_error_message(m_, sizeof m_);                                  \
            fprintf(stderr, "FAIL %s:%d: %s\n  ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n  last error %s: %s\n", bemm_status_name(bemm_last_error()), m_); \
            exit(1);                                                                 \
        }                                                                            \
        checks++;                                                                    \
    } while (0)

/* rc must be `want`, and the last error must say so with a message holding `needle`. */
static void expect(const char *what, int32_t rc, int32_t want, const char *needle) {
    char msg[BEMM_MESSAGE_MAX];
    bemm_last_error_message(msg, sizeof msg);
    CHECK(rc == want, "%s: got %s, want %s", what, bemm_status_name(rc), bemm_status_name(want));
    if (want != BEMM_OK) {
        CHECK(bemm_last_error() == want, "%s: last error %s", what, bemm_status_name(bemm_last_error()));
        CHECK(needle == NULL || strstr(msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, needle);
        printf("ok %-58s %s: %s\n", what, bemm_status_name(rc), msg);
    } else {
        printf("ok %-58s BEMM_OK\n", what);
    }
}

/* `size` bytes whose last byte is followed by an unmapped guard page; the
 * start is `size` rounded up to `align` below the guard. Freed with unguard. */
static void *guarded(size_t size, size_t align) {
    long page = sysconf(_SC_PAGESIZE);
    size_t span = (size + align - 1) / align * align;
    size_t pages = (span + (size_t)page - 1) / (size_t)page + 1;
    uint8_t *base = mmap(NULL, pages * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    uint8_t *guard = base + (pages - 1) * (size_t)page;
    if (mprotect(guard, (size_t)page, PROT_NONE) != 0) {
        perror("mprotect");
        exit(1);
    }
    return guard - span;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The model file at an 8-byte aligned address ending at a guard page (file
 * lengths are multiples of 8). */
static const uint8_t *model_copy(const uint8_t *file, size_t len) {
    uint8_t *at = guarded(len, 8);
    memcpy(at, file, len);
    return at;
}

static uint8_t *storage(void) {
    return guarded(bemm_model_storage_size(), bemm_model_storage_align() > 64 ? bemm_model_storage_align() : 64);
}

struct sizes {
    size_t input_len, classes, feature_len, scratch1, scratch2;
};

static uint16_t *make_input(size_t n) {
    float *f = malloc(n * sizeof(float));
    uint16_t *h = guarded(n * sizeof(uint16_t), 64);
    for (size_t i = 0; i < n; i++) f[i] = (float)((int)(i % 7) - 3) / 3.0f;
    CHECK(bemm_f32_to_f16(f, h, n) == BEMM_OK, "f32_to_f16");
    free(f);
    return h;
}

struct job {
    const bemm_model *model;
    const uint16_t *input;
    struct sizes s;
    float probs[2 * 64];
    int32_t rc;
};

static void *predict_job(void *arg) {
    struct job *j = arg;
    float *scratch = malloc(j->s.scratch2 * sizeof(float));
    for (int rep = 0; rep < 20 && scratch; rep++) {
        j->rc = bemm_predict(j->model, j->input, 2, scratch, j->s.scratch2, j->probs, 2 * j->s.classes, NULL);
        if (j->rc != BEMM_OK) break;
    }
    free(scratch);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.bemm\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    uint8_t *file = read_file(argv[1], &len);
    CHECK(len % 8 == 0, "model length %zu", len);
    const uint8_t *bytes = model_copy(file, len);
    uint8_t *store = storage();
    size_t store_len = bemm_model_storage_size();
    bemm_model *m = NULL;

    /* ---- opening ---- */
    expect("open: NULL storage", bemm_model_open(NULL, store_len, bytes, len, &m), BEMM_ERR_NULL, "must not be null");
    expect("open: NULL bytes", bemm_model_open(store, store_len, NULL, len, &m), BEMM_ERR_NULL, NULL);
    expect("open: NULL out", bemm_model_open(store, store_len, bytes, len, NULL), BEMM_ERR_NULL, NULL);
    expect("open: storage one byte short", bemm_model_open(store, store_len - 1, bytes, len, &m), BEMM_ERR_STORAGE,
           "need");
    {
        uint8_t *big = guarded(store_len + 64, 64);
        expect("open: misaligned storage", bemm_model_open(big + 1, store_len + 8, bytes, len, &m), BEMM_ERR_STORAGE,
               "aligned to");
    }
    for (size_t shift = 2; shift < 8; shift += 2) {
        uint8_t *at = (uint8_t *)guarded(len + 8, 8) + shift; /* ends 8 - shift bytes before the guard */
        memcpy(at, file, len);
        char what[64], needle[64];
        snprintf(what, sizeof what, "open: model at %zu mod 8", shift);
        snprintf(needle, sizeof needle, "%zu bytes past a multiple of 8", shift);
        expect(what, bemm_model_open(store, store_len, at, len, &m), BEMM_ERR_ALIGN, needle);
    }
    expect("open: truncated model", bemm_model_open(store, store_len, bytes, len - 8, &m), BEMM_ERR_MODEL, NULL);
    expect("open: empty model", bemm_model_open(store, store_len, bytes, 0, &m), BEMM_ERR_MODEL, NULL);
    {
        uint8_t *bad = guarded(len, 8);
        memcpy(bad, file, len);
        bad[len / 2] ^= 0x40;
        expect("open: one flipped bit", bemm_model_open(store, store_len, bad, len, &m), BEMM_ERR_MODEL, "checksum");
        for (size_t i = 0; i < len; i++) bad[i] = (uint8_t)(i * 2654435761u >> 13);
        expect("open: random bytes", bemm_model_open(store, store_len, bad, len, &m), BEMM_ERR_MODEL, NULL);
    }
    expect("open: len past PTRDIFF_MAX", bemm_model_open(store, store_len, bytes, SIZE_MAX, &m), BEMM_ERR_MODEL,
           "larger than any buffer");
    {
        bemm_model *z = (bemm_model *)guarded(store_len, 64);
        size_t n = 0;
        expect("zeroed storage used as a handle", bemm_scratch_len(z, 1, &n), BEMM_ERR_HANDLE, "not an open handle");
        expect("close of zeroed storage", bemm_model_close(z), BEMM_ERR_HANDLE, NULL);
    }
    expect("open", bemm_model_open(store, store_len, bytes, len, &m), BEMM_OK, NULL);
    CHECK((uint8_t *)m == store, "handle lies in the storage");

    /* ---- describing ---- */
    struct sizes s;
    expect("info: NULL model", bemm_model_info(NULL, &s.input_len, NULL, NULL, NULL, NULL, NULL), BEMM_ERR_NULL, NULL);
    expect("info", bemm_model_info(m, &s.input_len, &s.classes, &s.feature_len, NULL, NULL, NULL), BEMM_OK, NULL);
    CHECK(s.input_len == 3 * 32 * 32 && s.classes == 19 && s.classes <= 64, "sizes %zu %zu", s.input_len, s.classes);
    expect("scratch_len: batch 0", bemm_scratch_len(m, 0, &s.scratch1), BEMM_ERR_BATCH, NULL);
    expect("scratch_len: NULL out", bemm_scratch_len(m, 1, NULL), BEMM_ERR_NULL, NULL);
    /* Batches run a chunk of samples at a time, so even this is finite. */
    expect("scratch_len: batch SIZE_MAX", bemm_scratch_len(m, SIZE_MAX, &s.scratch1), BEMM_OK, NULL);
    expect("scratch_len(1)", bemm_scratch_len(m, 1, &s.scratch1), BEMM_OK, NULL);
    expect("scratch_len(2)", bemm_scratch_len(m, 2, &s.scratch2), BEMM_OK, NULL);
    {
        char *name = guarded(BEMM_KERNEL_NAME_MAX, 1);
        expect("kernel_name", bemm_model_kernel_name(m, name, BEMM_KERNEL_NAME_MAX), BEMM_OK, NULL);
        size_t n = strlen(name);
        CHECK(n > 0 && n < BEMM_KERNEL_NAME_MAX, "name length %zu", n);
        printf("kernel %s\n", name);
        char *exact = guarded(n + 1, 1);
        expect("kernel_name: exact buffer", bemm_model_kernel_name(m, exact, n + 1), BEMM_OK, NULL);
        CHECK(strcmp(exact, name) == 0, "%s vs %s", exact, name);
        char *shortbuf = guarded(n, 1);
        expect("kernel_name: buffer one byte short", bemm_model_kernel_name(m, shortbuf, n), BEMM_ERR_OUTPUT,
               "the name needs");
        CHECK(shortbuf[n - 1] == 0 && strncmp(shortbuf, name, n - 1) == 0, "cut copy");
        expect("kernel_name: NULL buf", bemm_model_kernel_name(m, NULL, 8), BEMM_ERR_NULL, NULL);

        /* Pinning: by kernel name and by ISA name; failures keep the kernel. */
        expect("set_kernel(\"scalar-4x8\")", bemm_model_set_kernel(m, "scalar-4x8"), BEMM_OK, NULL);
        char pinned[BEMM_KERNEL_NAME_MAX];
        CHECK(bemm_model_kernel_name(m, pinned, sizeof pinned) == BEMM_OK && strcmp(pinned, "scalar-4x8") == 0, "%s",
              pinned);
        expect("set_kernel(unknown)", bemm_model_set_kernel(m, "no-such-kernel"), BEMM_ERR_UNSUPPORTED,
               "no-such-kernel");
        char *longname = guarded(2 * BEMM_KERNEL_NAME_MAX, 1);
        memset(longname, 'a', 2 * BEMM_KERNEL_NAME_MAX - 1);
        longname[2 * BEMM_KERNEL_NAME_MAX - 1] = 0;
        expect("set_kernel(64-byte name)", bemm_model_set_kernel(m, longname), BEMM_ERR_INPUT, "no NUL within");
        expect("set_kernel(NULL)", bemm_model_set_kernel(m, NULL), BEMM_ERR_NULL, NULL);
        CHECK(bemm_model_kernel_name(m, pinned, sizeof pinned) == BEMM_OK && strcmp(pinned, "scalar-4x8") == 0, "%s",
              pinned);
        expect("set_kernel(back to the first)", bemm_model_set_kernel(m, name), BEMM_OK, NULL);
        CHECK(bemm_model_kernel_name(m, pinned, sizeof pinned) == BEMM_OK && strcmp(pinned, name) == 0, "%s", pinned);
    }

    /* ---- inference, buffers exact and guarded ---- */
    uint16_t *input = make_input(2 * s.input_len);
    size_t scratch_cap = s.scratch2;
    float *scratch = guarded(scratch_cap * sizeof(float), 64);
    float *probs = guarded(2 * s.classes * sizeof(float), 64);
    float *features = guarded(2 * s.feature_len * sizeof(float), 64);
    uint64_t *labels = guarded(2 * sizeof(uint64_t), 8);
    size_t np = 2 * s.classes, nf = 2 * s.feature_len;
    expect("predict", bemm_predict(m, input, 2, scratch, s.scratch2, probs, np, labels), BEMM_OK, NULL);
    float want[2 * 64];
    memcpy(want, probs, np * sizeof(float));
    for (size_t i = 0; i < np; i++) CHECK(probs[i] >= 0.0f && probs[i] <= 1.0f, "probs[%zu] = %g", i, probs[i]);
    expect("extract_features", bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, nf),
           BEMM_OK, NULL);
    CHECK(memcmp(want, probs, np * sizeof(float)) == 0, "same probabilities with features");

    expect("predict: NULL input", bemm_predict(m, NULL, 2, scratch, s.scratch2, probs, np, NULL), BEMM_ERR_NULL, NULL);
    expect("predict: NULL scratch", bemm_predict(m, input, 2, NULL, s.scratch2, probs, np, NULL), BEMM_ERR_NULL, NULL);
    expect("predict: NULL probs", bemm_predict(m, input, 2, scratch, s.scratch2, NULL, np, NULL), BEMM_ERR_NULL, NULL);
    expect("predict: NULL model", bemm_predict(NULL, input, 2, scratch, s.scratch2, probs, np, NULL), BEMM_ERR_NULL,
           NULL);
    expect("predict: batch 0", bemm_predict(m, input, 0, scratch, s.scratch2, probs, np, NULL), BEMM_ERR_BATCH, NULL);
    expect("predict: scratch one float short", bemm_predict(m, input, 2, scratch, s.scratch2 - 1, probs, np, NULL),
           BEMM_ERR_SCRATCH, "bemm_predict: scratch holds");
    expect("predict: probs one float short", bemm_predict(m, input, 2, scratch, s.scratch2, probs, np - 1, NULL),
           BEMM_ERR_OUTPUT, "probs buffer");
    expect("predict: misaligned input",
           bemm_predict(m, (const uint16_t *)((const uint8_t *)input + 1), 1, scratch, s.scratch2, probs, s.classes,
                        NULL),
           BEMM_ERR_INPUT, "aligned");
    expect("predict: misaligned scratch",
           bemm_predict(m, input, 1, (float *)((uint8_t *)scratch + 2), s.scratch1, probs, s.classes, NULL),
           BEMM_ERR_INPUT, "aligned");

    /* Lengths past what one buffer can hold: errors before any access. */
    expect("predict: batch SIZE_MAX / input_len",
           bemm_predict(m, input, SIZE_MAX / s.input_len, scratch, s.scratch2, probs, np, NULL), BEMM_ERR_BATCH,
           "larger than any buffer");
    expect("predict: batch just past PTRDIFF_MAX bytes",
           bemm_predict(m, input, (size_t)PTRDIFF_MAX / 2 / s.input_len + 1, scratch, s.scratch2, probs, np, NULL),
           BEMM_ERR_BATCH, "larger than any buffer");
    expect("predict: batch SIZE_MAX", bemm_predict(m, input, SIZE_MAX, scratch, s.scratch2, probs, np, NULL),
           BEMM_ERR_BATCH, NULL);
    expect("predict: scratch_len SIZE_MAX", bemm_predict(m, input, 2, scratch, SIZE_MAX, probs, np, NULL),
           BEMM_ERR_SCRATCH, "larger than any buffer");
    expect("predict: scratch_len PTRDIFF_MAX / 4 + 1",
           bemm_predict(m, input, 2, scratch, (size_t)PTRDIFF_MAX / 4 + 1, probs, np, NULL), BEMM_ERR_SCRATCH,
           "larger than any buffer");
    expect("predict: scratch wrapping the address space",
           bemm_predict(m, input, 2, (float *)(uintptr_t)(UINTPTR_MAX - 63), 1 << 20, probs, np, NULL),
           BEMM_ERR_SCRATCH, "larger than any buffer");
    expect("predict: probs_len SIZE_MAX", bemm_predict(m, input, 2, scratch, s.scratch2, probs, SIZE_MAX, NULL),
           BEMM_ERR_OUTPUT, "probs_len");
    expect("extract_features: features_len SIZE_MAX",
           bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, SIZE_MAX), BEMM_ERR_OUTPUT,
           "features_len");
    {
        float src[4] = {1, 2, 3, 4};
        uint16_t dst[4] = {0};
        expect("f32_to_f16: n SIZE_MAX", bemm_f32_to_f16(src, dst, SIZE_MAX), BEMM_ERR_INPUT, "larger than any buffer");
        CHECK(dst[0] == 0, "nothing converted");
        expect("f32_to_f16: NULL", bemm_f32_to_f16(NULL, dst, 4), BEMM_ERR_NULL, NULL);
        expect("f32_to_f16: n 0", bemm_f32_to_f16(src, dst, 0), BEMM_OK, NULL);
    }

    /* Features asked for but no room: an error, not a silent skip. */
    for (size_t i = 0; i < nf; i++) features[i] = 7.0f;
    expect("extract_features: features_len 0",
           bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, 0), BEMM_ERR_OUTPUT,
           "features_len is 0");
    expect("extract_features: NULL features",
           bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, NULL, nf), BEMM_ERR_NULL, NULL);
    expect("extract_features: features one float short",
           bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, nf - 1), BEMM_ERR_OUTPUT, NULL);
    for (size_t i = 0; i < nf; i++) CHECK(features[i] == 7.0f, "features untouched on failure");

    /* Non-finite input: reported, nothing computed, labels untouched. */
    {
        const uint16_t bad[3] = {0x7e00 /* NaN */, 0x7c00 /* +inf */, 0xfc00 /* -inf */};
        const size_t at[3] = {0, s.input_len + 5, 2 * s.input_len - 1};
        for (int k = 0; k < 3; k++) {
            uint16_t keep = input[at[k]];
            input[at[k]] = bad[k];
            labels[0] = labels[1] = UINT64_MAX;
            char what[64], needle[64];
            snprintf(what, sizeof what, "predict: f16 0x%04x at %zu", bad[k], at[k]);
            snprintf(needle, sizeof needle, "sample %zu value %zu is not finite", at[k] / s.input_len,
                     at[k] % s.input_len);
            expect(what, bemm_predict(m, input, 2, scratch, s.scratch2, probs, np, labels), BEMM_ERR_NONFINITE,
                   needle);
            CHECK(labels[0] == UINT64_MAX && labels[1] == UINT64_MAX, "labels untouched");
            expect("extract_features: non-finite input",
                   bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, nf),
                   BEMM_ERR_NONFINITE, NULL);
            input[at[k]] = keep;
        }
        float f[2] = {NAN, INFINITY};
        uint16_t h[2];
        CHECK(bemm_f32_to_f16(f, h, 2) == BEMM_OK && (h[0] & 0x7c00) == 0x7c00 && h[1] == 0x7c00, "converted");
    }

    /* ---- the message contract (snprintf-style) ---- */
    {
        expect("set_gemm_blocks: odd kc", bemm_model_set_gemm_blocks(m, 63, 64), BEMM_ERR_INPUT, "GEMM block");
        size_t full = bemm_last_error_message(NULL, 0);
        CHECK(full > 8 && full < BEMM_MESSAGE_MAX, "length query %zu", full);
        char *exact = guarded(full + 1, 1);
        CHECK(bemm_last_error_message(exact, full + 1) == full && strlen(exact) == full, "exact fit");
        char *cut = guarded(8, 1);
        size_t n = bemm_last_error_message(cut, 8);
        CHECK(n == full && n >= 8, "returns the whole length %zu, not the copied one", n);
        CHECK(strlen(cut) == 7 && strncmp(cut, exact, 7) == 0, "cut copy \"%s\"", cut);
        char one = 'x';
        CHECK(bemm_last_error_message(&one, 1) == full && one == 0, "a 1-byte buffer gets the NUL");
        char *page_end = guarded(full + 1, 1);
        CHECK(bemm_last_error_message(page_end, SIZE_MAX) == full && strcmp(page_end, exact) == 0,
              "a len of SIZE_MAX writes only the message and its NUL");
        printf("ok %-58s length %zu\n", "last_error_message: snprintf contract", full);
    }

    /* ---- small GEMM panels: less scratch, same labels ---- */
    {
        uint64_t l2[2];
        float p2[2 * 64];
        expect("set_gemm_blocks: NULL", bemm_model_set_gemm_blocks(NULL, 64, 64), BEMM_ERR_NULL, NULL);
        expect("set_gemm_blocks(64, 64)", bemm_model_set_gemm_blocks(m, 64, 64), BEMM_OK, NULL);
        size_t small = 0;
        expect("scratch_len after set_gemm_blocks", bemm_scratch_len(m, 2, &small), BEMM_OK, NULL);
        CHECK(small < s.scratch2, "%zu < %zu", small, s.scratch2);
        expect("predict with small panels", bemm_predict(m, input, 2, scratch, small, p2, np, l2), BEMM_OK, NULL);
        for (size_t i = 0; i < np; i++) CHECK(fabsf(p2[i] - want[i]) < 1e-5f, "%g vs %g", p2[i], want[i]);
        /* back to the default panels for the thread check */
        expect("set_gemm_blocks back", bemm_model_set_gemm_blocks(m, 256, 2048), BEMM_OK, NULL);
        CHECK(bemm_scratch_len(m, 2, &small) == BEMM_OK && small <= s.scratch2, "scratch %zu", small);
        s.scratch2 = small;
    }

    /* ---- two threads share the handle: bitwise the results of one ---- */
    {
        expect("predict (reference)", bemm_predict(m, input, 2, scratch, s.scratch2, want, np, NULL), BEMM_OK, NULL);
        struct job a = {m, input, s, {0}, -100}, b = {m, input, s, {0}, -100};
        pthread_t ta, tb;
        CHECK(pthread_create(&ta, NULL, predict_job, &a) == 0 && pthread_create(&tb, NULL, predict_job, &b) == 0,
              "threads");
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        CHECK(a.rc == BEMM_OK && b.rc == BEMM_OK, "%d %d", a.rc, b.rc);
        CHECK(memcmp(a.probs, want, np * sizeof(float)) == 0 && memcmp(b.probs, want, np * sizeof(float)) == 0,
              "bitwise equal across threads");
        printf("ok %-58s bitwise equal\n", "two threads, one handle");
    }

    /* ---- closing poisons the handle ---- */
    expect("close", bemm_model_close(m), BEMM_OK, NULL);
    {
        size_t n = 0;
        char name[BEMM_KERNEL_NAME_MAX];
        expect("scratch_len after close", bemm_scratch_len(m, 1, &n), BEMM_ERR_HANDLE, "was closed");
        expect("info after close", bemm_model_info(m, &n, NULL, NULL, NULL, NULL, NULL), BEMM_ERR_HANDLE, "was closed");
        expect("predict after close", bemm_predict(m, input, 2, scratch, s.scratch2, probs, np, labels),
               BEMM_ERR_HANDLE, "was closed");
        expect("extract_features after close",
               bemm_extract_features(m, input, 2, scratch, s.scratch2, probs, np, features, nf), BEMM_ERR_HANDLE,
               NULL);
        expect("kernel_name after close", bemm_model_kernel_name(m, name, sizeof name), BEMM_ERR_HANDLE, NULL);
        expect("set_gemm_blocks after close", bemm_model_set_gemm_blocks(m, 64, 64), BEMM_ERR_HANDLE, NULL);
        expect("set_kernel after close", bemm_model_set_kernel(m, "scalar"), BEMM_ERR_HANDLE, NULL);
        expect("double close", bemm_model_close(m), BEMM_ERR_HANDLE, "was closed");
        expect("close(NULL)", bemm_model_close(NULL), BEMM_OK, NULL);
        expect("reopen in the same storage", bemm_model_open(store, store_len, bytes, len, &m), BEMM_OK, NULL);
        expect("scratch_len after reopen", bemm_scratch_len(m, 2, &n), BEMM_OK, NULL);
        CHECK(n <= scratch_cap, "%zu <= %zu", n, scratch_cap);
        expect("predict after reopen", bemm_predict(m, input, 2, scratch, n, probs, np, NULL), BEMM_OK, NULL);
        CHECK(memcmp(probs, want, np * sizeof(float)) == 0, "same probabilities after reopen");
        expect("close again", bemm_model_close(m), BEMM_OK, NULL);
    }

    CHECK(strcmp(bemm_status_name(BEMM_ERR_HANDLE), "BEMM_ERR_HANDLE") == 0, "status name");
    CHECK(strcmp(bemm_status_name(12345), "BEMM_ERR_UNKNOWN") == 0, "unknown status name");
    free(file);
    printf("misuse: %d checks passed\n", checks);
    return 0;
}
