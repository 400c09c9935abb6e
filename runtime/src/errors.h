// Error state: the per-thread last-error message and the per-call context that Halide's error
// handler writes into (so a kernel error is captured, never printed, never aborts).
// The runtime uses no C++ standard library that needs libstdc++ at link time, so C programs
// link libnormforge.a with a C linker and only -lpthread -ldl -lm.
#pragma once

#include <pthread.h>

#include "normforge/normforge.h"

namespace normforge {

constexpr int kMessageSize = 512;

// Passed to every kernel as its user_context. Only the message's first byte is cleared: one is
// built on every call, and clearing all of it showed in a decode row's per-call time.
struct CallContext {
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;  // workers may report concurrently
    char halide_error[kMessageSize];                    // first Halide error message ("": none)
    CallContext() { halide_error[0] = '\0'; }
};

// Installs NormForge's Halide hooks once (idempotent, thread-safe): the error handler, and the
// feature-level cap (nf_limit_cpu_variant / NF_MAX_CPU_VARIANT) on multi-target dispatch.
void install_halide_handlers();
void install_cpu_variant_cap();

// Records a printf-style message as this thread's last error and returns `status`.
nf_status fail(nf_status status, const char *format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace normforge
