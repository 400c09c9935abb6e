// The schedule knobs: plain data. The same record is what the build passes to the generator
// (as generator params), what schedules/db/*.json stores, and what a tuner searches.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace normforge {

struct CpuKnobs {
    int vec_mult = 1;       // vector width = vec_mult x the target's natural fp32 width (<= 64 lanes)
    int rows_per_task = 4;  // rows computed by one parallel task (many-rows kernels)
    int parallel = 1;       // 1: rows run on the thread pool; 0: the calling thread only
    int unroll = 1;         // unroll of the per-element loops (normalize pass)
    int stream_rows = 0;    // runtime knob: > 0 = tiles of this many rows are normalized into a
                            // cache-resident buffer and streamed to y (the runtime then runs the
                            // tiles on the thread pool, so the kernel itself is serial)
    int prefetch = 0;       // 1: the output pass prefetches the next row of x (x86 RMSNorm only:
                            // schedules/next_row_prefetch.h); set by hand in the db, not searched
                            // by the tuner (its kernels skip the build's prefetcht0 rewrite)
    int hoist_weight = 1;   // 1: the bf16 pair kernels compute their fp32 weight operands once per
                            // task of rows_per_task >= 2 rows (schedules/row_statistic.h), 0: in
                            // every row (the operands take twice the weight's bytes, and next to a
                            // row of x and of y they may not fit a 32 KiB L1); set by hand
};

// The CUDA family's knobs (schedules/cuda.h): one row per warp.
struct GpuKnobs {
    int rows_per_block = 4;  // warps (= rows) per thread block
    int unroll = 4;          // unroll of the chunk loop of the row sum (loads in flight per thread)
    int stage = 0;           // 1: each warp copies its row into shared memory first, and both
                             // passes read it there (x read from global memory exactly once)
    int out_unroll = 1;      // unroll of the output pass (16-byte vectors in flight per thread)
    int aligned = 1;         // 1: rows start on 8-byte boundaries (wide loads and stores; the
                             // runtime checks the pointers and strides), 0: any alignment
    int warps_per_row = 1;   // > 1: one row per block of this many warps, staged in shared
                             // memory by all of them (rows_per_block and stage are then 1)
    int split_chunks = 0;    // with warps_per_row > 1 (RMSNorm): 1 = the warps share the row
                             // sum's chunks, 0 = every warp sums the whole row
};

inline bool valid_gpu_knobs(const GpuKnobs &k) {
    return k.rows_per_block >= 1 && k.rows_per_block <= 32 && k.unroll >= 1 && k.unroll <= 16 &&
           (k.stage == 0 || k.stage == 1) && k.out_unroll >= 1 && k.out_unroll <= 8 &&
           (k.aligned == 0 || k.aligned == 1) && k.warps_per_row >= 1 && k.warps_per_row <= 32 &&
           (k.warps_per_row == 1 || (k.rows_per_block == 1 && k.stage == 1)) &&
           (k.split_chunks == 0 || k.split_chunks == 1);
}

// One knob's name, allowed values, and the generator param it maps to.
struct KnobDomain {
    std::string name;
    std::vector<int> values;
};

// The x86 family's search space; restrictions are checked by valid_cpu_knobs().
inline std::vector<KnobDomain> x86_knob_space() {
    return {{"vec_mult", {1, 2, 4}},
            {"rows_per_task", {1, 2, 4, 8, 16, 32}},
            {"parallel", {0, 1}},
            {"unroll", {1, 2, 4}},
            {"stream_rows", {0, 4, 8, 16, 32}}};
}

// The AArch64 family's search space: no streaming-store path (stream_rows stays 0).
inline std::vector<KnobDomain> arm_knob_space() {
    return {{"vec_mult", {1, 2, 4}},
            {"rows_per_task", {1, 2, 4, 8, 16, 32}},
            {"parallel", {0, 1}},
            {"unroll", {1, 2, 4}},
            {"stream_rows", {0}}};
}

// Restrictions between knobs: the vector (natural_lanes * vec_mult) must divide the 64 lanes
// of the fixed summation order, so a knob never changes how partial sums combine; streaming
// tiles are run by the runtime on its own threads, so they need a serial kernel.
inline bool valid_cpu_knobs(const CpuKnobs &k, int natural_lanes) {
    int w = natural_lanes * k.vec_mult;
    return k.vec_mult >= 1 && w <= 64 && 64 % w == 0 && k.rows_per_task >= 1 &&
           (k.parallel == 0 || k.parallel == 1) && k.unroll >= 1 && k.unroll <= 8 &&
           k.stream_rows >= 0 && (k.stream_rows == 0 || k.parallel == 0) && (k.prefetch == 0 || k.prefetch == 1) &&
           (k.hoist_weight == 0 || k.hoist_weight == 1);
}

inline int *knob_field(CpuKnobs &k, const std::string &name) {
    if (name == "vec_mult") return &k.vec_mult;
    if (name == "rows_per_task") return &k.rows_per_task;
    if (name == "parallel") return &k.parallel;
    if (name == "unroll") return &k.unroll;
    if (name == "stream_rows") return &k.stream_rows;
    if (name == "prefetch") return &k.prefetch;
    if (name == "hoist_weight") return &k.hoist_weight;
    return nullptr;
}

// Knobs that differ per x86 feature level: a db entry's "avx512" / "avx2" / "sse41" member
// overrides its knobs on that level's targets, and an "avx512_skylake" / "avx512_zen4" /
// "avx512_sapphirerapids" member (Halide's AVX-512 flavours, one compiled kernel each) overrides
// them again on that flavour's target only (a CPU vendor's choice: the next-row prefetch was
// measured faster on an Intel Xeon and slower on a Zen 4). The build passes them to the
// generator as one param, level_knobs = "LEVEL:knob:value:knob:value" groups joined by '+', e.g.
// "avx512:vec_mult:2:unroll:1+avx512_zen4:prefetch:0". Only the knobs that change the kernel's
// code may differ (kPerLevelKnobs: vec_mult, rows_per_task, unroll, which the tuner searches per
// level; kHandLevelKnobs: prefetch and hoist_weight, set by hand, which a level may only turn
// off, so that the build knows every kernel that prefetches from its family-wide knobs):
// parallel and stream_rows are what the runtime relies on, the same at every level.
inline const char *const kKnobLevels[] = {"avx512", "avx2", "sse41", "avx512_skylake", "avx512_zen4",
                                          "avx512_sapphirerapids"};
inline const char *const kAvx512Flavours[] = {"avx512_skylake", "avx512_zen4", "avx512_sapphirerapids"};
inline const char *const kPerLevelKnobs[] = {"vec_mult", "rows_per_task", "unroll"};
inline const char *const kHandLevelKnobs[] = {"prefetch", "hoist_weight"};

// The knobs the tuner searches and writes for each class (prefetch and hoist_weight are set by
// hand in the db and kept by the tuner's writer).
inline const char *const kSearchedKnobs[] = {"vec_mult", "rows_per_task", "parallel", "unroll", "stream_rows"};

// The level of an x86 target by its natural fp32 vector width: 16 lanes avx512 (every AVX-512
// flavour), 8 avx2, 4 sse41.
inline const char *knob_level_of_lanes(int natural_fp32_lanes) {
    return natural_fp32_lanes >= 16 ? "avx512" : natural_fp32_lanes == 8 ? "avx2" : "sse41";
}

// s split at each sep (empty parts kept).
inline std::vector<std::string> split_at(const std::string &s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t end = s.find(sep, start);
        out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

// The AVX-512 flavour a Halide target string names ("x86-64-linux-avx512_zen4-..." ->
// "avx512_zen4"), or "" (other levels, other architectures).
inline std::string knob_flavour_of_target(const std::string &target) {
    for (const std::string &feature : split_at(target, '-'))
        for (const char *f : kAvx512Flavours)
            if (feature == f) return feature;
    return "";
}

// The level of a Halide x86 target string, as knob_level_of_lanes gives it for the targets the
// build compiles (an AVX-512 flavour or avx512: "avx512"; avx2: "avx2"; other x86: "sse41"), ""
// for other architectures.
inline std::string knob_level_of_target(const std::string &target) {
    if (target.rfind("x86-", 0) != 0) return "";
    std::string level = "sse41";
    for (const std::string &feature : split_at(target, '-')) {
        if (feature == "avx512" || feature.rfind("avx512_", 0) == 0) return "avx512";
        if (feature == "avx2") level = "avx2";
    }
    return level;
}

// Applies the groups of `spec` named `level` to k; false (and *err) if spec is malformed, names
// an unknown level or a knob that may not differ per level.
inline bool apply_level_knobs(CpuKnobs &k, const std::string &spec, const std::string &level, std::string *err) {
    if (spec.empty()) return true;
    for (const std::string &group : split_at(spec, '+')) {
        std::vector<std::string> t = split_at(group, ':');
        bool known = false;
        for (const char *l : kKnobLevels) known = known || t[0] == l;
        if (!known) return *err = "unknown level '" + t[0] + "' in level_knobs '" + spec + "'", false;
        if (t.size() < 3 || t.size() % 2 == 0)
            return *err = "level_knobs group '" + group + "' is not LEVEL:knob:value[:knob:value...]", false;
        for (size_t i = 1; i < t.size(); i += 2) {
            bool per_level = false, flag = false;
            std::string allowed;
            for (const char *name : kPerLevelKnobs) {
                per_level = per_level || t[i] == name;
                allowed += (allowed.empty() ? "" : ", ") + std::string(name);
            }
            for (const char *name : kHandLevelKnobs) {
                flag = flag || t[i] == name;
                allowed += ", " + std::string(name);
            }
            if (!per_level && !flag)
                return *err = "knob '" + t[i] + "' may not differ per level (only " + allowed + ")", false;
            char *end = nullptr;
            long v = std::strtol(t[i + 1].c_str(), &end, 10);
            if (flag && (t[i + 1].empty() || *end != '\0' || v != 0))
                return *err = "level_knobs value '" + t[i + 1] + "' of " + t[i] + " is not 0 (a level may only turn it off)",
                       false;
            if (!flag && (t[i + 1].empty() || *end != '\0' || v < 1 || v > 1024))
                return *err = "level_knobs value '" + t[i + 1] + "' of " + t[i] + " is not a positive integer", false;
            if (t[0] == level) *knob_field(k, t[i]) = int(v);
        }
    }
    return true;
}

// The knobs of a target: k with the groups of its level (knob_level_of_lanes), then those of its
// AVX-512 flavour (knob_flavour_of_target), applied; `level` "" = none (AArch64).
inline bool apply_target_knobs(CpuKnobs &k, const std::string &spec, const std::string &level,
                               const std::string &target, std::string *err) {
    if (!apply_level_knobs(k, spec, level, err)) return false;
    const std::string flavour = level.empty() ? "" : knob_flavour_of_target(target);
    return flavour.empty() || apply_level_knobs(k, spec, flavour, err);
}

// Every point of the space that satisfies the restrictions, in a fixed order (what the tuner
// searches; tests/test_knob_space.cpp checks the restrictions hold for each).
inline std::vector<CpuKnobs> enumerate_cpu_knobs(const std::vector<KnobDomain> &space, int natural_lanes) {
    std::vector<CpuKnobs> out;
    std::vector<size_t> idx(space.size(), 0);
    for (;;) {
        CpuKnobs k;
        for (size_t d = 0; d < space.size(); d++) *knob_field(k, space[d].name) = space[d].values[idx[d]];
        if (valid_cpu_knobs(k, natural_lanes)) out.push_back(k);
        size_t d = 0;
        while (d < space.size() && ++idx[d] == space[d].values.size()) idx[d++] = 0;
        if (d == space.size()) break;
    }
    return out;
}

}  // namespace normforge
