/* Normalizes a batch of token vectors the way a Llama decoder layer does before attention:
 * y = x / rms(x) * w, in bf16 storage with fp32 statistics. Plain C, links libnormforge.a. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <normforge/normforge.h>

enum { TOKENS = 8, HIDDEN = 4096 };

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double row_rms(const uint16_t *row, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)from_bf16(row[i]) * from_bf16(row[i]);
    return sqrt(ss / n);
}

int main(void) {
    static uint16_t x[TOKENS * HIDDEN], y[TOKENS * HIDDEN], w[HIDDEN];
    float inv_rms[TOKENS];
    uint32_t state = 12345;
    for (int t = 0; t < TOKENS; t++) {
        float scale = 0.25f * (float)(t + 1); /* tokens with different magnitudes */
        for (int i = 0; i < HIDDEN; i++) {
            state = state * 1664525u + 1013904223u;
            x[t * HIDDEN + i] = to_bf16(scale * ((float)(state >> 8) / 16777216.0f - 0.5f));
        }
    }
    for (int i = 0; i < HIDDEN; i++) w[i] = to_bf16(1.0f);

    nf_matrix xm = {x, NF_BF16, TOKENS, HIDDEN, HIDDEN};
    nf_matrix ym = {y, NF_BF16, TOKENS, HIDDEN, HIDDEN};
    nf_norm_params p = {1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};

    printf("NormForge %s, CPU variant %s\n", nf_version(), nf_cpu_variant());
    nf_status s = nf_rms_norm(&xm, w, &p, &ym, inv_rms);
    if (s != NF_OK) {
        fprintf(stderr, "nf_rms_norm failed: %s\n", nf_last_error());
        return 1;
    }
    printf("normalized %d tokens x %d hidden (bf16, weight=1):\n", TOKENS, HIDDEN);
    int ok = 1;
    for (int t = 0; t < TOKENS; t++) {
        double before = row_rms(x + t * HIDDEN, HIDDEN), after = row_rms(y + t * HIDDEN, HIDDEN);
        printf("  token %d: rms %.4f -> %.4f   inv_rms %.4f\n", t, before, after, inv_rms[t]);
        if (fabs(after - 1.0) > 0.01) ok = 0;
    }

    /* Bad input is reported, never a crash: a negative eps. */
    p.eps = -1.0f;
    s = nf_rms_norm(&xm, w, &p, &ym, NULL);
    printf("bad call -> status %d: %s\n", (int)s, nf_last_error());
    if (s != NF_INVALID_ARGUMENT) ok = 0;

    /* The CUDA entry points link without a CUDA toolkit; without a GPU they say so. */
    if (nf_cuda_available()) {
        printf("CUDA: available (nf_cuda_rms_norm takes device pointers)\n");
    } else {
        nf_matrix none = {NULL, NF_BF16, 0, HIDDEN, HIDDEN};
        p.eps = 1e-6f;
        s = nf_cuda_rms_norm(&none, w, &p, &none, NULL, NULL);
        printf("CUDA: not available -> status %d: %s\n", (int)s, nf_last_error());
        if (s != NF_DEVICE_ERROR) ok = 0;
    }

    printf("%s\n", ok ? "example OK" : "example FAILED");
    return ok ? 0 : 1;
}
