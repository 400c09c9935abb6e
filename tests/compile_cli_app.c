/* Links the kernels written by `normforge compile` directly (no NormForge runtime): one
 * fp32 row through nf_k_rms_norm_f32_none_once_small, checked against a float64 result. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "normforge_kernels.h"

int main(void) {
    enum { C = 37 };
    float x[C], y[C], w[1] = {0}, inv = 0;
    for (int i = 0; i < C; i++) x[i] = (float)(i % 5) - 1.5f;
    halide_dimension_t xd[2] = {{0, C, 1, 0}, {0, 1, C, 0}}, yd[2] = {{0, C, 1, 0}, {0, 1, C, 0}};
    halide_dimension_t wd = {0, 1, 1, 0}, id = {0, 1, 1, 0};
    halide_buffer_t xb, yb, wb, ib;
    memset(&xb, 0, sizeof xb), memset(&yb, 0, sizeof yb), memset(&wb, 0, sizeof wb), memset(&ib, 0, sizeof ib);
    xb.host = (uint8_t *)x, xb.type.code = halide_type_float, xb.type.bits = 32, xb.type.lanes = 1, xb.dimensions = 2, xb.dim = xd;
    yb = xb, yb.host = (uint8_t *)y, yb.dim = yd;
    wb = xb, wb.host = (uint8_t *)w, wb.dimensions = 1, wb.dim = &wd;
    ib = wb, ib.host = (uint8_t *)&inv, ib.dim = &id;
    int rc = nf_k_rms_norm_f32_none_once_small(1e-6f, &xb, &wb, &ib, &yb);
    double ss = 0;
    for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
    double want_inv = 1.0 / sqrt(ss / C + 1e-6);
    int ok = rc == 0 && fabs(inv - want_inv) < 1e-5 * want_inv;
    for (int i = 0; i < C; i++) ok = ok && fabs(y[i] - x[i] * want_inv) < 1e-5 * (fabs(x[i] * want_inv) + 1e-6);
    printf("rc=%d inv_rms=%g (want %g): %s\n", rc, inv, want_inv, ok ? "kernels OK" : "WRONG");
    return ok ? 0 : 1;
}
