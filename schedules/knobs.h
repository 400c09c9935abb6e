// The schedule knobs: plain data. The same record is what the build passes to the generator
// (as generator params), what schedules/db/*.json stores, and what a tuner searches.
#pragma once

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
           k.stream_rows >= 0 && (k.stream_rows == 0 || k.parallel == 0);
}

inline int *knob_field(CpuKnobs &k, const std::string &name) {
    if (name == "vec_mult") return &k.vec_mult;
    if (name == "rows_per_task") return &k.rows_per_task;
    if (name == "parallel") return &k.parallel;
    if (name == "unroll") return &k.unroll;
    if (name == "stream_rows") return &k.stream_rows;
    return nullptr;
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
