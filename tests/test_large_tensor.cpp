// A tensor of more than 2^31 elements (bf16, in place: 4 GiB), normalized in one call: rows
// past element 2^31 come out right, so no 32-bit offset is hiding anywhere. Rows of 4096
// elements (8 KiB) run the pipelined kernel, one call per row; rows of 2048 the large class's
// kernel, whose calls span many rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "reference.h"

using namespace nftest;

namespace {

void normalize_over_2g_elements(int64_t cols) {
    SCOPED_TRACE("cols=" + std::to_string(cols));
    const int64_t rows = ((int64_t(1) << 31) / cols) + 3;  // 2^31 + 3 rows' elements
    const size_t n = size_t(rows * cols);
    auto *x = static_cast<uint16_t *>(std::malloc(n * sizeof(uint16_t)));
    if (x == nullptr) GTEST_SKIP() << "cannot allocate 4 GiB on this machine";
    // A cheap pattern that differs per row: x(r, c) = (1 + (r mod 7)) * (c mod 13 - 6) / 8.
    for (int64_t r = 0; r < rows; r++) {
        const float scale = float(1 + r % 7) / 8.0f;
        uint16_t *row = x + r * cols;
        for (int64_t c = 0; c < cols; c++) row[c] = float_to_bf16(scale * float(c % 13 - 6));
    }
    nf_matrix m{x, NF_BF16, rows, cols, cols};
    nf_norm_params p{1e-6f, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    ASSERT_EQ(nf_rms_norm(&m, nullptr, &p, &m, nullptr), NF_OK) << nf_last_error();
    for (int64_t r : {int64_t(0), int64_t(1), rows / 2, rows - 3, rows - 2, rows - 1}) {
        const float scale = float(1 + r % 7) / 8.0f;
        double ss = 0;
        for (int64_t c = 0; c < cols; c++) {
            double v = bf16_to_float(float_to_bf16(scale * float(c % 13 - 6)));
            ss += v * v;
        }
        const double inv = 1.0 / std::sqrt(ss / double(cols) + 1e-6);
        for (int64_t c = 0; c < cols; c++) {
            double want = bf16_to_float(float_to_bf16(scale * float(c % 13 - 6))) * inv;
            ASSERT_TRUE(close(bf16_to_float(x[r * cols + c]), want, NF_BF16)) << "row " << r << " col " << c;
        }
    }
    std::free(x);
}

}  // namespace

TEST(LargeTensor, MoreThan2To31ElementsInPlaceBf16Pipelined) { normalize_over_2g_elements(4096); }

TEST(LargeTensor, MoreThan2To31ElementsInPlaceBf16LargeKernel) { normalize_over_2g_elements(2048); }
