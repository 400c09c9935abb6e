#include "large_calls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "normforge/normforge.h"

using namespace normforge;

namespace {

enum Mode { kAuto = 0, kPipelined = 1, kTwoPass = 2, kTwoPassStreamed = 3 };
const char *const kModeNames[] = {"auto", "pipelined", "two_pass", "two_pass_streamed"};

int g_mode = kAuto;

// NULL or "" = auto; -1 if not a mode name.
int mode_index(const char *name) {
    if (name == nullptr || name[0] == '\0') return kAuto;
    for (int i = 0; i < int(sizeof kModeNames / sizeof kModeNames[0]); i++)
        if (strcmp(name, kModeNames[i]) == 0) return i;
    return -1;
}

pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

// NF_LARGE_CALLS sets the start-up mode (an unknown value is ignored, as NF_MAX_CPU_VARIANT's).
void read_env() {
    const int mode = mode_index(getenv("NF_LARGE_CALLS"));
    if (mode >= 0) __atomic_store_n(&g_mode, mode, __ATOMIC_RELAXED);
}

// The mode in effect: auto resolved for this CPU and feature level (large_calls.h says why).
int effective_mode() {
    pthread_once(&g_env_once, &read_env);
    const int mode = __atomic_load_n(&g_mode, __ATOMIC_RELAXED);
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
    pthread_once(&g_env_once, &read_env);
    const int m = mode_index(mode);
    if (m < 0)
        return fail(NF_INVALID_ARGUMENT, "nf_set_large_calls: '%s' is not one of auto, pipelined, two_pass, two_pass_streamed",
                    mode);
    __atomic_store_n(&g_mode, m, __ATOMIC_RELAXED);
    return NF_OK;
}

extern "C" const char *nf_large_calls(void) { return kModeNames[effective_mode()]; }
