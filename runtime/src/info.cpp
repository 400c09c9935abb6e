// Library-wide queries and settings: version, CPU variant, threads, the compiled kernel list.
#include "HalideRuntime.h"
#include "errors.h"
#include "halide_call.h"
#include "kernel_table.h"
#include "normforge/normforge.h"

using namespace normforge;

extern "C" const char *nf_version(void) { return NF_VERSION_STRING; }

extern "C" void nf_set_num_threads(int n) {
    if (n < 0) {
        fail(NF_INVALID_ARGUMENT,
             "nf_set_num_threads: n = %d is negative (use 0 for all cores); threads unchanged", n);
        return;
    }
    halide_set_num_threads(n);
    set_thread_count(n);
}

extern "C" int nf_get_kernel_info(int index, nf_kernel_info *out) {
    if (index < 0 || static_cast<size_t>(index) >= kNumKernels || out == nullptr) return 0;
    out->name = kKernels[index].name;
    out->db_entry = kKernels[index].db_entry;
    out->knobs = kKernels[index].knobs;
    return 1;
}

extern "C" const char *nf_compiled_targets(void) { return kCompiledTargets; }
