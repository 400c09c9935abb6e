// The tuner's search spaces (schedules/knobs.h): every enumerated candidate satisfies the
// restrictions, for every natural vector width the families compile for, and nothing valid is
// left out.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "schedules/knobs.h"

using namespace normforge;

namespace {

std::string key(const CpuKnobs &k) {
    return std::to_string(k.vec_mult) + "/" + std::to_string(k.rows_per_task) + "/" + std::to_string(k.parallel) +
           "/" + std::to_string(k.unroll) + "/" + std::to_string(k.stream_rows);
}

TEST(KnobSpace, EveryCandidateSatisfiesTheRestrictions) {
    struct Family {
        const char *name;
        std::vector<KnobDomain> space;
        std::vector<int> widths;  // natural fp32 lanes of the family's targets
    };
    const Family families[] = {{"x86-64", x86_knob_space(), {4, 8, 16}}, {"arm-64", arm_knob_space(), {4}}};
    for (const Family &f : families)
        for (int natural : f.widths) {
            SCOPED_TRACE(std::string(f.name) + " natural=" + std::to_string(natural));
            std::vector<CpuKnobs> all = enumerate_cpu_knobs(f.space, natural);
            ASSERT_FALSE(all.empty());
            std::set<std::string> seen;
            for (const CpuKnobs &k : all) {
                const int w = natural * k.vec_mult;
                EXPECT_TRUE(w <= 64 && 64 % w == 0) << key(k) << ": the vector must divide the 64 lanes";
                EXPECT_TRUE(k.stream_rows == 0 || k.parallel == 0) << key(k) << ": streaming needs a serial kernel";
                EXPECT_TRUE(k.parallel == 0 || k.parallel == 1);
                EXPECT_GE(k.rows_per_task, 1);
                EXPECT_TRUE(seen.insert(key(k)).second) << key(k) << " enumerated twice";
                for (const KnobDomain &d : f.space) {  // every value comes from its domain
                    CpuKnobs c = k;
                    const int v = *knob_field(c, d.name);
                    EXPECT_NE(std::find(d.values.begin(), d.values.end(), v), d.values.end()) << d.name;
                }
            }
            // Nothing valid is left out: the product of the domains, filtered, has the same size.
            size_t product = 1;
            for (const KnobDomain &d : f.space) product *= d.values.size();
            size_t valid = 0;
            std::vector<size_t> idx(f.space.size(), 0);
            for (size_t n = 0; n < product; n++) {
                CpuKnobs k;
                size_t rest = n;
                for (const KnobDomain &d : f.space) {
                    *knob_field(k, d.name) = d.values[rest % d.values.size()];
                    rest /= d.values.size();
                }
                valid += valid_cpu_knobs(k, natural);
            }
            EXPECT_EQ(valid, all.size());
        }
}

TEST(KnobSpace, RestrictionsRejectWhatTheGeneratorsReject) {
    EXPECT_FALSE(valid_cpu_knobs(CpuKnobs{8, 1, 0, 1, 0}, 16));  // 128 lanes > 64
    EXPECT_FALSE(valid_cpu_knobs(CpuKnobs{3, 1, 0, 1, 0}, 4));   // 12 does not divide 64
    EXPECT_FALSE(valid_cpu_knobs(CpuKnobs{1, 1, 1, 1, 4}, 16));  // streaming with a parallel kernel
    EXPECT_FALSE(valid_cpu_knobs(CpuKnobs{1, 0, 0, 1, 0}, 16));  // no rows per task
    EXPECT_TRUE(valid_cpu_knobs(CpuKnobs{4, 4, 1, 2, 0}, 16));
}

}  // namespace

namespace {

// The db's per-level knobs (apply_level_knobs): only the named level's groups apply, only
// vec_mult, rows_per_task and unroll may differ, and a malformed spec is refused with a reason.
TEST(KnobSpace, PerLevelKnobs) {
    const std::string spec = "avx512:vec_mult:2:unroll:4+avx2:rows_per_task:8";
    CpuKnobs base;
    base.vec_mult = 4, base.rows_per_task = 1, base.unroll = 1, base.parallel = 0, base.stream_rows = 2;
    std::string err;
    CpuKnobs k = base;
    ASSERT_TRUE(apply_level_knobs(k, spec, "avx512", &err)) << err;
    EXPECT_EQ(k.vec_mult, 2);
    EXPECT_EQ(k.unroll, 4);
    EXPECT_EQ(k.rows_per_task, 1);
    EXPECT_EQ(k.parallel, 0);
    EXPECT_EQ(k.stream_rows, 2);
    k = base;
    ASSERT_TRUE(apply_level_knobs(k, spec, "avx2", &err)) << err;
    EXPECT_EQ(k.vec_mult, 4);
    EXPECT_EQ(k.rows_per_task, 8);
    k = base;
    ASSERT_TRUE(apply_level_knobs(k, spec, "sse41", &err)) << err;
    EXPECT_EQ(key(k), key(base));
    ASSERT_TRUE(apply_level_knobs(k, spec, "", &err)) << err;  // AArch64: no level
    EXPECT_EQ(key(k), key(base));
    ASSERT_TRUE(apply_level_knobs(k, "", "avx512", &err));
    EXPECT_EQ(key(k), key(base));
    // A target's level by its natural fp32 lanes (what the generators and the tuner use).
    EXPECT_STREQ(knob_level_of_lanes(16), "avx512");
    EXPECT_STREQ(knob_level_of_lanes(8), "avx2");
    EXPECT_STREQ(knob_level_of_lanes(4), "sse41");
    for (const char *bad : {"avx999:vec_mult:2", "avx512:parallel:1", "avx512:stream_rows:4", "avx512:vec_mult",
                            "avx512:vec_mult:0", "avx512:vec_mult:x", "avx512:vec_mult:2:unroll", "avx512",
                            "avx512:vec_mult:2+"}) {
        err.clear();
        k = base;
        EXPECT_FALSE(apply_level_knobs(k, bad, "avx512", &err)) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
}

// An AVX-512 flavour's members (apply_target_knobs): the level's group, then the flavour's, on
// that flavour's target only; prefetch and hoist_weight may only be turned off there.
TEST(KnobSpace, FlavourKnobs) {
    EXPECT_EQ(knob_flavour_of_target("x86-64-linux-avx512_zen4-large_buffers-user_context"), "avx512_zen4");
    EXPECT_EQ(knob_flavour_of_target("x86-64-linux-avx512_sapphirerapids"), "avx512_sapphirerapids");
    EXPECT_EQ(knob_flavour_of_target("x86-64-linux-avx512_skylake-no_runtime"), "avx512_skylake");
    EXPECT_EQ(knob_flavour_of_target("x86-64-linux-avx2-fma-f16c"), "");
    EXPECT_EQ(knob_flavour_of_target("arm-64-linux-arm_dot_prod"), "");
    EXPECT_EQ(knob_level_of_target("x86-64-linux-avx512_zen4-large_buffers"), "avx512");
    EXPECT_EQ(knob_level_of_target("x86-64-linux-avx2-fma-f16c-large_buffers"), "avx2");
    EXPECT_EQ(knob_level_of_target("x86-64-linux-sse41"), "sse41");
    EXPECT_EQ(knob_level_of_target("arm-64-linux"), "");

    const std::string spec = "avx512:vec_mult:2:unroll:4+avx512_zen4:unroll:2:prefetch:0";
    CpuKnobs base;
    base.vec_mult = 4, base.unroll = 1, base.prefetch = 1;
    std::string err;
    CpuKnobs k = base;
    ASSERT_TRUE(apply_target_knobs(k, spec, "avx512", "x86-64-linux-avx512_zen4-large_buffers", &err)) << err;
    EXPECT_EQ(k.vec_mult, 2);  // the level's
    EXPECT_EQ(k.unroll, 2);    // the flavour's, over the level's
    EXPECT_EQ(k.prefetch, 0);
    k = base;
    ASSERT_TRUE(apply_target_knobs(k, spec, "avx512", "x86-64-linux-avx512_sapphirerapids", &err)) << err;
    EXPECT_EQ(k.vec_mult, 2);
    EXPECT_EQ(k.unroll, 4);
    EXPECT_EQ(k.prefetch, 1);
    k = base;
    ASSERT_TRUE(apply_target_knobs(k, spec, "avx2", "x86-64-linux-avx2-fma-f16c", &err)) << err;
    EXPECT_EQ(key(k), key(base));
    EXPECT_EQ(k.prefetch, 1);
    k = base;
    ASSERT_TRUE(apply_target_knobs(k, "avx512_zen4:hoist_weight:0", "avx512", "x86-64-linux-avx512_zen4", &err)) << err;
    EXPECT_EQ(k.hoist_weight, 0);
    EXPECT_EQ(k.prefetch, 1);
    for (const char *bad : {"avx512_zen4:prefetch:1", "avx512_zen4:prefetch:2", "avx512_zen5:prefetch:0",
                            "avx512_zen4:hoist_weight:1",
                            "avx512_zen4:parallel:0", "avx512:prefetch:x"}) {
        err.clear();
        k = base;
        EXPECT_FALSE(apply_target_knobs(k, bad, "avx512", "x86-64-linux-avx512_zen4", &err)) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
}

}  // namespace
