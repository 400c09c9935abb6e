#include "compile.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "compile_manifest.h"

namespace fs = std::filesystem;

namespace nftools {
namespace {

bool starts_with(const std::string &s, const std::string &p) { return s.rfind(p, 0) == 0; }

std::string quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs a shell command; its output goes to `log`. Returns true on exit status 0.
bool run(const std::string &cmd, const fs::path &log, bool verbose) {
    if (verbose) std::fprintf(stderr, "+ %s\n", cmd.c_str());
    int rc = std::system((cmd + " >> " + quote(log.string()) + " 2>&1").c_str());
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

bool on_path(const std::string &tool) {
    return std::system(("command -v " + quote(tool) + " > /dev/null 2>&1").c_str()) == 0;
}

}  // namespace

int run_compile(const CompileOptions &opt) {
    std::string family;
    if (starts_with(opt.target, "x86-64-linux")) family = "x86-64";
    if (starts_with(opt.target, "arm-64-linux")) family = "arm-64";
    if (family.empty()) {
        std::fprintf(stderr, "compile: target '%s' is not supported (x86-64-linux[-features] or "
                             "arm-64-linux[-features])\n", opt.target.c_str());
        return 2;
    }
    const fs::path generator = NF_GENERATOR_PATH, gengen = NF_GENGEN_PATH;
    if (!fs::exists(generator) || !fs::exists(gengen)) {
        std::fprintf(stderr, "compile: needs the generators of the build tree (%s) and Halide's "
                             "gengen (%s); run it from a NormForge build\n",
                     generator.c_str(), gengen.c_str());
        return 2;
    }
    const fs::path out = opt.out_dir;
    if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out))) {
        std::fprintf(stderr, "compile: %s exists and is not an empty directory\n", out.c_str());
        return 2;
    }
    std::error_code ec;
    const fs::path parent = fs::absolute(out).parent_path();
    fs::create_directories(parent, ec);
    const fs::path work = parent / (".normforge-compile-" + std::to_string(getpid()));
    fs::remove_all(work, ec);
    if (!fs::create_directories(work, ec)) {
        std::fprintf(stderr, "compile: cannot create %s: %s\n", work.c_str(), ec.message().c_str());
        return 2;
    }
    const fs::path log = work / "compile.log";
    auto give_up = [&](const std::string &what) {
        std::fprintf(stderr, "compile: %s failed; log:\n", what.c_str());
        std::ifstream l(log);
        std::fprintf(stderr, "%s", std::string(std::istreambuf_iterator<char>(l), {}).c_str());
        fs::remove_all(work, ec);
        return 1;
    };

    std::string base = opt.target;
    if (base.find("large_buffers") == std::string::npos) base += "-large_buffers";
    std::vector<std::string> libs, headers;
    size_t n = 0, total = 0;
    for (size_t i = 0; i < kManifestSize; i++) total += family == kManifest[i].family;
    for (size_t i = 0; i < kManifestSize; i++) {
        const ManifestEntry &e = kManifest[i];
        if (family != e.family) continue;
        std::fprintf(stderr, "\r[%zu/%zu] %-48s", ++n, total, e.name);
        // The next-row prefetch needs the build's hint rewrite (tools/gen_prefetch_t0.cpp), which
        // a static library from the generators does not get: those kernels are compiled without
        // it (the hint Halide emits measured slower than none).
        std::string params = e.params;
        for (size_t p = params.find("prefetch=1"); p != std::string::npos; p = params.find("prefetch=1", p))
            params.replace(p, 10, "prefetch=0");
        std::string cmd = quote(generator.string()) + " -g " + e.generator + " -f " + e.name + " -n " +
                          e.name + " -e static_library,c_header -o " + quote(work.string()) +
                          " target=" + quote(base + "-no_runtime") + " " + params;
        if (!run(cmd, log, opt.verbose)) return give_up(std::string("generating ") + e.name);
        libs.push_back(std::string(e.name) + ".a");
        headers.push_back(std::string(e.name) + ".h");
    }
    std::fprintf(stderr, "\n");
    if (!run(quote(gengen.string()) + " -r nf_halide_runtime -e static_library -o " + quote(work.string()) +
                 " target=" + quote(base),
             log, opt.verbose))
        return give_up("generating the Halide runtime");
    libs.push_back("nf_halide_runtime.a");

    // One archive for everything, with the binutils of the target when installed.
    std::string ar = "ar";
    if (family == "arm-64" && on_path("aarch64-linux-gnu-ar")) ar = "aarch64-linux-gnu-ar";
    {
        std::ofstream mri(work / "merge.mri");
        mri << "CREATE libnormforge_kernels.a\n";
        for (auto &l : libs) mri << "ADDLIB " << l << "\n";
        mri << "SAVE\nEND\n";
    }
    if (!run("cd " + quote(work.string()) + " && " + ar + " -M < merge.mri", log, opt.verbose))
        return give_up("merging the archives with " + ar);
    {
        std::ofstream h(work / "normforge_kernels.h");
        h << "// The NormForge kernels for " << opt.target << " (generated by normforge compile).\n"
          << "// Each kernel's signature is in its own header (halide_buffer_t arguments); see README.\n"
          << "#pragma once\n#include \"HalideRuntime.h\"\n";
        for (auto &hd : headers) h << "#include \"" << hd << "\"\n";
    }
    fs::copy_file(fs::path(NF_HALIDE_INCLUDE_DIR) / "HalideRuntime.h", work / "HalideRuntime.h", ec);
    if (ec) return give_up("copying HalideRuntime.h");

    // Success: move the results into place (nothing was written there before this point).
    fs::create_directories(out, ec);
    for (const std::string &f : headers) fs::rename(work / f, out / f, ec);
    for (const char *f : {"libnormforge_kernels.a", "normforge_kernels.h", "HalideRuntime.h"})
        fs::rename(work / f, out / f, ec);
    fs::remove_all(work, ec);
    if (ec) {
        std::fprintf(stderr, "compile: moving results into %s: %s\n", out.c_str(), ec.message().c_str());
        return 1;
    }
    std::printf("wrote %s/libnormforge_kernels.a (%zu kernels + Halide runtime, target %s) and headers\n",
                out.c_str(), headers.size(), opt.target.c_str());
    return 0;
}

}  // namespace nftools
