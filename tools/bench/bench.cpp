#include "bench.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "baselines.h"
#include "machine.h"
#include "normforge/normforge.h"
#include "timing.h"

namespace nfbench {

std::vector<std::string> default_shapes() {
    return {"1x4096", "64x4096", "4096x4096", "65536x4096"};
}
std::vector<std::string> quick_shapes() { return {"1x4096", "64x4096", "4096x4096"}; }

namespace {

struct AlignedBuffer {
    std::unique_ptr<uint8_t, void (*)(void *)> p{nullptr, std::free};
    explicit AlignedBuffer(size_t bytes)
        : p(static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), std::free) {}
    uint8_t *get() const { return p.get(); }
};

double load_value(Dtype d, const uint8_t *base, int64_t i) {
    if (d == Dtype::F32) { float f; std::memcpy(&f, base + 4 * i, 4); return f; }
    uint16_t h; std::memcpy(&h, base + 2 * i, 2);
    uint32_t u = uint32_t(h) << 16; float f; std::memcpy(&f, &u, 4);
    return f;
}

void store_value(Dtype d, uint8_t *base, int64_t i, float v) {
    if (d == Dtype::F32) { std::memcpy(base + 4 * i, &v, 4); return; }
    uint32_t u; std::memcpy(&u, &v, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    uint16_t h = uint16_t(u >> 16);
    std::memcpy(base + 2 * i, &h, 2);
}

// Checks rows first/middle/last of y against a float64 reference. Returns "" or what is wrong.
std::string check_output(Dtype d, const uint8_t *x, const uint8_t *w, const uint8_t *y,
                         int64_t rows, int64_t cols, float eps) {
    const double tol = d == Dtype::F32 ? 1e-5 : 1.6e-2;
    for (int64_t r : {int64_t(0), rows / 2, rows - 1}) {
        double ss = 0;
        for (int64_t c = 0; c < cols; c++) ss += std::pow(load_value(d, x, r * cols + c), 2);
        double inv = 1.0 / std::sqrt(ss / double(cols) + eps);
        for (int64_t c = 0; c < cols; c++) {
            double want = load_value(d, x, r * cols + c) * inv * load_value(d, w, c);
            double got = load_value(d, y, r * cols + c);
            if (!(std::fabs(got - want) <= tol * std::fabs(want) + 1e-6)) {
                std::ostringstream os;
                os << "y(" << r << "," << c << ")=" << got << " want " << want;
                return os.str();
            }
        }
    }
    return "";
}

struct Impl {
    std::string name;
    std::function<void()> run;
    bool is_norm;  // produces y = rms_norm(x) (checked); the copy is not
};

struct Result {
    std::string name, status;  // status: "ok", "wrong: ...", "n/a"
    Stats stats;
};

bool parse_shape(const std::string &s, int64_t &rows, int64_t &cols) {
    char sep = 0;
    std::istringstream is(s);
    return (is >> rows >> sep >> cols) && sep == 'x' && rows > 0 && cols > 0 && is.eof();
}

std::string fmt(double v, int prec) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

}  // namespace

int run_bench(const BenchOptions &opt) {
    const float eps = 1e-6f;
    nf_set_num_threads(opt.threads);
    const char *isa = simd_isa();
    Machine m = describe_machine();
    std::printf("NormForge %s | kernel variant %s | %s, %d cores | threads %d | median of %d reps\n",
                nf_version(), nf_cpu_variant(), m.cpu_model.c_str(), m.cores, opt.threads, opt.reps);
    std::printf("GB/s = (bytes of x read + y written) / median time; ratios are time ratios in this run.\n\n");
    std::printf("SIMD = hand-written %s intrinsics; memcpy = glibc; ntcopy = copy with streaming stores.\n\n",
                isa ? isa : "(none on this CPU)");
    std::printf("%-11s %-5s %9s %9s %9s %9s %9s %10s %9s %8s %8s %10s\n", "shape", "dtype", "NormForge",
                "memcpy", "ntcopy", "naive", "SIMD", "NF/memcpy", "NF/ntcopy", "NF/SIMD", "NF/naive",
                "NF us/call");

    std::ostringstream json;
    json << "{\n  \"machine\": " << machine_json(m) << ",\n  \"normforge_version\": \"" << nf_version()
         << "\",\n  \"kernel_variant\": \"" << nf_cpu_variant() << "\",\n  \"threads\": " << opt.threads
         << ",\n  \"reps\": " << opt.reps << ",\n  \"date\": \"" << utc_date() << "\",\n  \"cases\": [";
    int exit_code = 0;
    bool first_case = true;

    for (const std::string &shape : opt.shapes) {
        int64_t rows = 0, cols = 0;
        if (!parse_shape(shape, rows, cols)) {
            std::fprintf(stderr, "bench: bad shape '%s' (want ROWSxCOLS, e.g. 64x4096)\n", shape.c_str());
            return 2;
        }
        for (const std::string &dt : opt.dtypes) {
            if (dt != "f32" && dt != "bf16") {
                std::fprintf(stderr, "bench: dtype '%s' not benchmarked (f32, bf16)\n", dt.c_str());
                return 2;
            }
            const Dtype d = dt == "f32" ? Dtype::F32 : Dtype::BF16;
            const nf_dtype nd = dt == "f32" ? NF_F32 : NF_BF16;
            const size_t es = d == Dtype::F32 ? 4 : 2;
            const size_t bytes = size_t(rows * cols) * es;
            AlignedBuffer x(bytes), y(bytes), w(size_t(cols) * es);
            uint32_t state = 2024;
            for (int64_t i = 0; i < rows * cols; i++) {
                state = state * 1664525u + 1013904223u;
                store_value(d, x.get(), i, float(state >> 8) / 16777216.0f * 2.0f - 1.0f);
            }
            for (int64_t c = 0; c < cols; c++) store_value(d, w.get(), c, 0.5f + float(c % 7) * 0.1f);
            std::memset(y.get(), 0, bytes);

            nf_matrix xm{x.get(), nd, rows, cols, cols}, ym{y.get(), nd, rows, cols, cols};
            nf_norm_params p{eps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
            std::vector<Impl> impls = {
                {"normforge", [&] { nf_rms_norm(&xm, w.get(), &p, &ym, nullptr); }, true},
                {"memcpy", [&] { std::memcpy(y.get(), x.get(), bytes); }, false},
                {"ntcopy", [&] { stream_copy(y.get(), x.get(), bytes); }, false},
                {"naive", [&] { naive_rms_norm(d, x.get(), w.get(), y.get(), rows, cols, eps); }, true},
            };
            if (isa)
                impls.push_back({"simd", [&] { simd_rms_norm(d, x.get(), w.get(), y.get(), rows, cols, eps); }, true});

            std::vector<Result> results;
            std::vector<std::function<void()>> timed;
            std::vector<size_t> timed_index;
            for (const Impl &im : impls) {
                Result r{im.name, "ok", {}};
                if (im.is_norm) {
                    std::memset(y.get(), 0xFF, bytes);
                    im.run();
                    std::string err = check_output(d, x.get(), w.get(), y.get(), rows, cols, eps);
                    if (!err.empty()) {
                        r.status = "wrong: " + err;
                        exit_code = 1;
                    }
                }
                if (r.status == "ok") {
                    timed.push_back(im.run);
                    timed_index.push_back(results.size());
                }
                results.push_back(r);
            }
            if (!isa) results.push_back({"simd", "n/a: no AVX2/AVX-512", {}});
            std::vector<Stats> stats = time_interleaved(timed, opt.reps, opt.batch_s);
            for (size_t i = 0; i < timed.size(); i++) results[timed_index[i]].stats = stats[i];

            auto get = [&](const std::string &n) -> const Result & {
                for (auto &r : results) if (r.name == n) return r;
                return results[0];
            };
            auto gbs = [&](const Result &r) {
                return r.status == "ok" ? fmt(2.0 * double(bytes) / r.stats.median_s / 1e9, 2) : std::string("-");
            };
            auto ratio = [&](const Result &base) {
                const Result &nf = get("normforge");
                if (nf.status != "ok" || base.status != "ok") return std::string("-");
                return fmt(base.stats.median_s / nf.stats.median_s, 2);
            };
            const Result &nf = get("normforge");
            std::printf("%-11s %-5s %9s %9s %9s %9s %9s %10s %9s %8s %8s %10s\n", shape.c_str(), dt.c_str(),
                        gbs(nf).c_str(), gbs(get("memcpy")).c_str(), gbs(get("ntcopy")).c_str(),
                        gbs(get("naive")).c_str(), gbs(get("simd")).c_str(), ratio(get("memcpy")).c_str(),
                        ratio(get("ntcopy")).c_str(), ratio(get("simd")).c_str(), ratio(get("naive")).c_str(),
                        nf.status == "ok" ? fmt(nf.stats.median_s * 1e6, 2).c_str() : "-");
            for (auto &r : results)
                if (r.status.rfind("wrong", 0) == 0)
                    std::printf("    %s output is WRONG (not timed): %s\n", r.name.c_str(), r.status.c_str());
            std::fflush(stdout);

            json << (first_case ? "\n" : ",\n") << "    {\"shape\": \"" << shape << "\", \"rows\": " << rows
                 << ", \"cols\": " << cols << ", \"dtype\": \"" << dt << "\", \"bytes_moved\": " << 2 * bytes
                 << ", \"results\": [";
            first_case = false;
            for (size_t i = 0; i < results.size(); i++) {
                const Result &r = results[i];
                json << (i ? ", " : "") << "{\"impl\": \"" << r.name << "\", \"status\": \"" << r.status << "\"";
                if (r.status == "ok")
                    json << ", \"median_s\": " << r.stats.median_s << ", \"min_s\": " << r.stats.min_s
                         << ", \"max_s\": " << r.stats.max_s
                         << ", \"gbps\": " << 2.0 * double(bytes) / r.stats.median_s / 1e9;
                json << "}";
            }
            json << "]}";
        }
    }
    json << "\n  ]\n}\n";
    if (!opt.json_path.empty()) {
        std::ofstream f(opt.json_path);
        f << json.str();
        if (!f) {
            std::fprintf(stderr, "bench: cannot write %s\n", opt.json_path.c_str());
            return 2;
        }
        std::printf("\nwrote %s\n", opt.json_path.c_str());
    }
    return exit_code;
}

}  // namespace nfbench
