// Library-wide queries and settings: version, CPU variant, threads, the compiled kernel list.
#include <pthread.h>

#include "HalideRuntime.h"
#include "errors.h"
#include "kernel_table.h"
#include "normforge/normforge.h"

using namespace normforge;

extern "C" const char *nf_version(void) { return NF_VERSION_STRING; }

namespace {

const char *g_cpu_variant = "unknown";
pthread_once_t g_cpu_variant_once = PTHREAD_ONCE_INIT;

void probe_cpu_variant() {
    install_halide_handlers();
    switch (run_cpu_probe()) {
    case 4: g_cpu_variant = "avx512_sapphirerapids"; break;
    case 3: g_cpu_variant = "avx512_zen4"; break;
    case 2: g_cpu_variant = "avx512_skylake"; break;
    case 1: g_cpu_variant = "avx2"; break;
    case 0: g_cpu_variant = "sse41"; break;
    default: break;
    }
}

}  // namespace

extern "C" const char *nf_cpu_variant(void) {
    pthread_once(&g_cpu_variant_once, &probe_cpu_variant);
    return g_cpu_variant;
}

extern "C" void nf_set_num_threads(int n) {
    if (n < 0) {
        fail(NF_INVALID_ARGUMENT,
             "nf_set_num_threads: n = %d is negative (use 0 for all cores); threads unchanged", n);
        return;
    }
    halide_set_num_threads(n);
}

extern "C" int nf_get_kernel_info(int index, nf_kernel_info *out) {
    if (index < 0 || static_cast<size_t>(index) >= kNumKernels || out == nullptr) return 0;
    out->name = kKernels[index].name;
    out->db_entry = kKernels[index].db_entry;
    out->knobs = kKernels[index].knobs;
    return 1;
}

extern "C" const char *nf_compiled_targets(void) { return kCompiledTargets; }
