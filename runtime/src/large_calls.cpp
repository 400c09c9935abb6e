#include "large_calls.h"

#include "errors.h"
#include "normforge/normforge.h"
#include "process_mode.h"

using namespace normforge;

namespace {

enum Mode { kAuto = 0, kPipelined = 1, kTwoPass = 2, kTwoPassStreamed = 3 };
const char *const kModeNames[] = {"auto", "pipelined", "two_pass", "two_pass_streamed"};

ProcessMode g_mode(kModeNames, 4, "NF_LARGE_CALLS");

// The mode in effect: auto resolved for this CPU and feature level (large_calls.h says why).
int effective_mode() {
    const int mode = g_mode.get();
    if (mode != kAuto) return mode;
    if (!avx512_level()) return kPipelined;
    return intel_cpu() ? kTwoPassStreamed : kTwoPass;
}

}  // namespace

namespace normforge {
bool pipelined_large_call(bool two_pass_gain) {
    const int mode = effective_mode();
    return mode == kPipelined || (mode == kTwoPassStreamed && !two_pass_gain);
}
}  // namespace normforge

extern "C" nf_status nf_set_large_calls(const char *mode) {
    if (!g_mode.set(mode))
        return fail(NF_INVALID_ARGUMENT, "nf_set_large_calls: '%s' is not one of auto, pipelined, two_pass, two_pass_streamed",
                    mode);
    return NF_OK;
}

extern "C" const char *nf_large_calls(void) { return g_mode.name(effective_mode()); }
