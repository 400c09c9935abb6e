// Peers that may be installed (`make bench-peers`): oneDNN's RMS layer normalization (linked
// when found at configure time) and ONNX Runtime (driven through tools/bench/peer_onnxruntime.py).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baselines.h"
#include "timing.h"

namespace nfbench {

// oneDNN -------------------------------------------------------------------------------------
// "" when oneDNN was found at build time, else why it is not available.
std::string onednn_status();
std::string onednn_version();
// Sets up what oneDNN needs before its first use (call once, early).
void prepare_onednn();
// A primitive for one shape, created outside the timing; run() executes it once (and waits).
struct OnednnRmsNorm {
    virtual ~OnednnRmsNorm() = default;
    virtual void run(const void *x, void *y) = 0;
};
// weight: cols floats. bias: NULL for RMSNorm (the rms_norm flag), else cols floats: LayerNorm
// with scale and shift. Returns nullptr and sets *why when the primitive cannot be created.
std::unique_ptr<OnednnRmsNorm> make_onednn_norm(Dtype d, int64_t rows, int64_t cols, const float *weight,
                                                const float *bias, float eps, std::string *why);

// ONNX Runtime -------------------------------------------------------------------------------
struct OrtResult {
    std::string status;  // "ok", "wrong: ...", "unsupported: ...", "not installed: ..."
    Stats stats;
};
struct OrtRun {
    std::string status;   // "ok" or why ONNX Runtime did not run at all
    std::string version;
    // key: "ROWSxCOLS/dtype"
    std::vector<std::pair<std::string, OrtResult>> results;
};
// Runs the Python driver once for all cases (same method: warm-up, interleaved repetitions,
// median; output checked against float64 before timing).
// op: rms_norm (SimplifiedLayerNormalization) or layer_norm (LayerNormalization, with bias).
OrtRun run_onnxruntime(const std::string &op, const std::vector<std::string> &shapes, const std::vector<std::string> &dtypes,
                       int threads, int reps, double batch_s, int64_t min_elements);

}  // namespace nfbench
