#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "HalideRuntime.h"

namespace normforge {
namespace {

thread_local char t_last_error[kMessageSize] = {0};

void halide_error_to_context(void *user_context, const char *msg) {
    // Called on whichever thread hit the error; the message goes to that call's context.
    // Calls without a context (the CPU probe) have nothing to report to.
    if (user_context == nullptr) return;
    auto *ctx = static_cast<CallContext *>(user_context);
    pthread_mutex_lock(&ctx->mutex);
    if (ctx->halide_error[0] == '\0')
        snprintf(ctx->halide_error, sizeof ctx->halide_error, "%s", msg ? msg : "unknown error");
    pthread_mutex_unlock(&ctx->mutex);
}

pthread_once_t g_handlers_once = PTHREAD_ONCE_INIT;

void install_once() { halide_set_error_handler(&halide_error_to_context); }

}  // namespace

void install_halide_handlers() {
    pthread_once(&g_handlers_once, &install_once);
    install_cpu_variant_cap();
}

nf_status fail(nf_status status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(t_last_error, sizeof t_last_error, format, args);
    va_end(args);
    return status;
}

}  // namespace normforge

extern "C" const char *nf_last_error(void) { return normforge::t_last_error; }
