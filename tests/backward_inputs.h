// What the backward test files share: the forward pass's inv_rms for an input, as a training
// step would have it (from nf_rms_norm itself), and where dx goes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "reference.h"

namespace nftest {

inline std::vector<float> forward_inv_rms(Matrix &x, float eps) {
    std::vector<float> inv(size_t(std::max<int64_t>(x.rows, 1)));
    Matrix y(x.dtype, x.rows, x.cols);
    nf_matrix xv = x.view(), yv = y.view();
    nf_norm_params p{eps, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    EXPECT_EQ(nf_rms_norm(&xv, nullptr, &p, &yv, inv.data()), NF_OK) << nf_last_error();
    return inv;
}

// dx in its own buffer, or exactly over dy or x.
enum class InPlace { No, OverDy, OverX };

}  // namespace nftest
