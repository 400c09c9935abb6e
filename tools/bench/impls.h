// The implementations `normforge bench` times for one case, over rotating buffer sets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baselines.h"

namespace nfbench {

struct AlignedBuffer {
    std::unique_ptr<uint8_t, void (*)(void *)> p{nullptr, std::free};
    explicit AlignedBuffer(size_t bytes);
    uint8_t *get() const { return p.get(); }
};

// Inputs and outputs of one case: `sets` copies of x and y (rotated so that small shapes are
// not timed with a warm cache), one weight and (LayerNorm) one bias (in the dtype, and as
// floats for oneDNN).
struct CaseData {
    Dtype dtype;
    int64_t rows, cols;
    bool fused_residual;  // the op is rms_norm_residual (x + residual -> residual, y)
    bool layer_norm;      // the op is layer_norm (with weight and bias)
    size_t bytes;  // of one x (= one y, one residual)
    std::vector<AlignedBuffer> xs, ys, residuals;
    std::unique_ptr<AlignedBuffer> residual0;  // the residual values before any call
    std::unique_ptr<AlignedBuffer> w, b;
    std::vector<float> w_float, b_float;
    // op: rms_norm, rms_norm_residual or layer_norm.
    CaseData(Dtype d, int64_t rows, int64_t cols, int sets, const std::string &op);
    // Bytes the op must move: x read + y written (+ residual read and written).
    size_t bytes_moved() const { return (fused_residual ? 4 : 2) * bytes; }
    // Puts buffer set 0's residual back to its initial values (before a checked run).
    void reset_residual();
};

struct Impl {
    std::string name;
    std::string group;   // normforge, floor, baseline, autoscheduler, peer
    bool is_norm = true; // output checked against the reference (the copies are not)
    std::string status = "ok";  // otherwise why it is not timed ("not installed: ...")
    std::function<void(int set)> run;
    // For kernels called directly: the error of the last failed call ("" if none).
    std::shared_ptr<std::string> error = std::make_shared<std::string>();
};

// Every implementation for this case, in table order. `levels`: NormForge at each lower level;
// `other_large_calls`: NormForge in each large-call mode (nf_set_large_calls) it does not run in.
// For rms_norm_residual: the fused call, add + nf_rms_norm, and the copy floor. For layer_norm:
// NormForge's LayerNorm, NormForge's RMSNorm on the same data (the comparison), the floors,
// the naive loop, the autoschedulers and the peers' LayerNorm.
std::vector<Impl> make_impls(CaseData &data, float eps, bool levels, bool other_large_calls, bool streaming,
                             const std::string &corrupt);

// "" when y (buffer set 0) matches the float64 reference on the first, middle and last rows.
std::string check_output(const CaseData &data, float eps);

}  // namespace nfbench
