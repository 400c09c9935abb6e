// The RMSNorm-style variant matrix the parameterized suites run: every dtype x weight mode x
// rounding order, with readable test names (f16_one_plus_llama, ...).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "reference.h"

namespace nftest {

using Variant = std::tuple<nf_dtype, nf_weight_mode, nf_rounding>;

inline auto all_variants() {
    return ::testing::Combine(::testing::Values(NF_F32, NF_F16, NF_BF16),
                              ::testing::Values(NF_WEIGHT_NONE, NF_WEIGHT_SCALE, NF_WEIGHT_ONE_PLUS),
                              ::testing::Values(NF_ROUND_ONCE, NF_ROUND_LLAMA));
}

inline std::string variant_name(const ::testing::TestParamInfo<Variant> &info) {
    return std::string(dtype_str(std::get<0>(info.param))) + "_" + mode_str(std::get<1>(info.param)) +
           (std::get<2>(info.param) == NF_ROUND_LLAMA ? "_llama" : "_once");
}

}  // namespace nftest
