#include "output_stores.h"

#include "errors.h"
#include "normforge/normforge.h"
#include "process_mode.h"

using namespace normforge;

namespace {
const char *const kStoreModes[] = {"auto", "streaming"};
ProcessMode g_stores(kStoreModes, 2, "NF_OUTPUT_STORES");
}  // namespace

namespace normforge {
bool stream_every_output() { return g_stores.get() == 1; }
}  // namespace normforge

extern "C" nf_status nf_set_output_stores(const char *mode) {
    if (!g_stores.set(mode))
        return fail(NF_INVALID_ARGUMENT, "nf_set_output_stores: '%s' is not one of auto, streaming", mode);
    return NF_OK;
}

extern "C" const char *nf_output_stores(void) { return g_stores.name(g_stores.get()); }
