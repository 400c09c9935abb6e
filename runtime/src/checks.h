// Argument checks shared by every entry point. Each returns NF_OK, or records a message that
// names the argument (via fail()) and returns the status to hand back to the caller.
#pragma once

#include <cstddef>
#include <cstdint>

#include "normforge/normforge.h"

namespace normforge {

// Bytes per element of a valid dtype (0 for an unknown one). (The small helpers here are inline:
// a decode row's call runs each several times.)
inline size_t dtype_size(nf_dtype d) {
    switch (d) {
    case NF_F32: return 4;
    case NF_F16: return 2;
    case NF_BF16: return 2;
    }
    return 0;
}
const char *dtype_name(nf_dtype d);

// A byte range [begin, end) a buffer argument spans; empty when begin == end.
struct Span {
    const char *begin = nullptr;
    const char *end = nullptr;
    bool overlaps(const Span &o) const { return begin < o.end && o.begin < end; }
};

// m: not NULL, known dtype, rows >= 0, cols > 0 when rows > 0, row_stride >= cols, data not NULL
// when rows > 0, total size representable. `fn` and `name` prefix the message.
nf_status check_matrix(const char *fn, const char *name, const nf_matrix *m);
// out has x's dtype and shape.
nf_status check_same_shape(const char *fn, const char *name, const nf_matrix *out,
                           const nf_matrix *x);
nf_status check_params(const char *fn, const nf_norm_params *p);
// eps >= 0 and finite.
nf_status check_eps(const char *fn, float eps);
// Limits of one kernel call that the library does not split itself.
nf_status check_limits(const char *fn, const char *name, const nf_matrix *m);

inline Span matrix_span(const nf_matrix *m) {
    Span s;
    if (m == nullptr || m->rows <= 0 || m->data == nullptr) return s;
    s.begin = static_cast<const char *>(m->data);
    s.end = s.begin + ((m->rows - 1) * m->row_stride + m->cols) * static_cast<int64_t>(dtype_size(m->dtype));
    return s;
}

inline Span vector_span(const void *p, int64_t count, size_t elem_size) {
    Span s;
    if (p == nullptr || count <= 0) return s;
    s.begin = static_cast<const char *>(p);
    s.end = s.begin + count * static_cast<int64_t>(elem_size);
    return s;
}

// out may be exactly `in` (same data, same row_stride) or disjoint from it; anything else fails.
nf_status check_in_place_or_disjoint(const char *fn, const char *out_name, const nf_matrix *out,
                                     const char *in_name, const nf_matrix *in);
// Two arguments that must not share any byte.
nf_status check_disjoint(const char *fn, const char *a_name, Span a, const char *b_name, Span b);

// All checks of an RMSNorm-style call. with_residual: the fused op, whose residual has x's
// shape and dtype and is read and written (it must not overlap x, y, weight or inv_rms).
nf_status check_norm_call(const char *fn, const nf_matrix *x, bool with_residual,
                          const nf_matrix *residual, const void *weight, const nf_norm_params *p,
                          const nf_matrix *y, const float *inv_rms);

// All checks of a LayerNorm call (weight, bias, mean, inv_std each optional).
nf_status check_layer_norm_call(const char *fn, const nf_matrix *x, const void *weight, const void *bias,
                                float eps, const nf_matrix *y, const float *mean, const float *inv_std);

// Every check of nf_rms_norm_backward's arguments (and of its CUDA twin's); NF_OK early when
// dy has no rows (then only shapes and params are checked).
nf_status check_backward_call(const char *fn, const nf_matrix *dy, const nf_matrix *x, const void *weight,
                              const nf_norm_params *p, const float *inv_rms, const nf_matrix *dx,
                              const float *dweight);

}  // namespace normforge
