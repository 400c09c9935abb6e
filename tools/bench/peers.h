// Peers that may be installed (`make bench-peers`): oneDNN's RMS layer normalization (linked
// when found at configure time) and ONNX Runtime (driven through tools/bench/peer_onnxruntime.py).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
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
// The ONNX Runtime contenders of one bench op: the driver's --op and the table column.
struct OrtPeer {
    const char *driver_op;
    const char *column;
};
inline std::vector<OrtPeer> ort_peers(const std::string &op) {
    if (op == "rms_norm") return {{"rms_norm", "onnxruntime"}, {"rms_norm23", "ort-rmsnorm23"}};
    if (op == "layer_norm") return {{"layer_norm", "onnxruntime"}};
    // com.microsoft SkipSimplifiedLayerNormalization: y and the new residual, like the fused op.
    if (op == "rms_norm_residual") return {{"rms_norm_residual", "onnxruntime"}};
    return {};
}

// A running ONNX Runtime driver (tools/bench/peer_onnxruntime.py in the project's Python), one
// process per ONNX op for the whole bench: the bench asks it for batches between the other
// implementations' batches, so all are timed interleaved. driver_op: rms_norm
// (SimplifiedLayerNormalization), rms_norm23 (opset 23's RMSNormalization), layer_norm
// (LayerNormalization, with bias) or rms_norm_residual (SkipSimplifiedLayerNormalization). It
// inherits the bench's CPU pinning; its calls run through preallocated IOBindings.
class OrtDriver {
public:
    // corrupt: test hook, the driver perturbs its first output before checking it.
    OrtDriver(const std::string &driver_op, int threads, bool corrupt = false);
    ~OrtDriver();
    OrtDriver(const OrtDriver &) = delete;
    OrtDriver &operator=(const OrtDriver &) = delete;
    // "ok", or why ONNX Runtime does not run at all (not installed, ...).
    const std::string &status() const { return status_; }
    const std::string &version() const { return version_; }
    // Builds the session and `sets` input buffers for one case, runs it once and checks y
    // against float64: "ok", "wrong: ...", "unsupported: ..." or "failed: ...".
    std::string prepare(int64_t rows, int64_t cols, const std::string &dtype, int sets);
    // Runs `iters` calls of the prepared case: seconds per call by the driver's clock (Python's
    // call overhead included), or < 0 when the driver did not answer.
    double batch(int iters);

private:
    std::vector<std::string> ask(const std::string &command);
    std::vector<std::string> read_line();
    std::string status_, version_, last_line_;
    pid_t pid_ = -1;
    FILE *in_ = nullptr, *out_ = nullptr;
};

}  // namespace nfbench
