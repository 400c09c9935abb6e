// nf_cuda_bench: GB/s of nf_cuda_rms_norm (the kernel it picks, and the one that re-reads x)
// against a device-to-device copy of the same bytes (the
// memory floor) and torch.nn.functional.rms_norm (when PyTorch is installed), in one run, with
// one timing method: CUDA events around batches of calls, rotating over 512 MiB of inputs so
// small shapes are not served from L2, median of repetitions. Each output is checked against the
// float64 reference before its time counts. Run by tools/gpu_check.sh.
//   nf_cuda_bench [--reps N] [--json FILE] [--torch-script PATH] [--python PYTHON]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_driver.h"
#include "normforge/normforge.h"

using namespace normforge;

namespace {

struct Shape {
    int64_t rows, cols;
};

const CudaDriver *D = nullptr;

#define CHECK_CU(call)                                                                        \
    do {                                                                                      \
        CUresult r_ = (call);                                                                 \
        if (r_ != 0) {                                                                        \
            std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cuda_error_name(r_)); \
            std::exit(2);                                                                     \
        }                                                                                     \
    } while (0)

float bf16_to_float(uint16_t h) {
    uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint16_t float_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return uint16_t(u >> 16);
}

// Per-call times (ms) of `reps` batches of `batch` calls, each batch between two events.
template <typename F>
std::vector<double> time_batches(CUstream s, int reps, int batch, F call) {
    CUevent a, b;
    CHECK_CU(D->cuEventCreate(&a, 0));
    CHECK_CU(D->cuEventCreate(&b, 0));
    std::vector<double> out;
    for (int r = 0; r < reps; r++) {
        CHECK_CU(D->cuEventRecord(a, s));
        for (int i = 0; i < batch; i++) call(r * batch + i);
        CHECK_CU(D->cuEventRecord(b, s));
        CHECK_CU(D->cuEventSynchronize(b));
        float ms = 0;
        CHECK_CU(D->cuEventElapsedTime(&ms, a, b));
        out.push_back(double(ms) / batch);
    }
    D->cuEventDestroy(a);
    D->cuEventDestroy(b);
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Result {
    std::string dtype, shape;
    double bytes = 0, nf_ms = 0, nf_lo = 0, nf_hi = 0, reread_ms = 0, copy_ms = 0, torch_ms = -1;
    bool correct = false;
    std::string torch_note;
};

}  // namespace

int main(int argc, char **argv) {
    int reps = 21;
    std::string json_path, torch_script, python = "python3";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
        else if (a == "--torch-script" && i + 1 < argc) torch_script = argv[++i];
        else if (a == "--python" && i + 1 < argc) python = argv[++i];
        else {
            std::fprintf(stderr, "usage: nf_cuda_bench [--reps N] [--json FILE] [--torch-script PATH] [--python PYTHON]\n");
            return 2;
        }
    }
    const char *why = nullptr;
    D = cuda_driver(&why);
    if (D == nullptr || !nf_cuda_available()) {
        std::printf("nf_cuda_bench: no GPU: %s\n", why ? why : "");
        return 3;
    }
    CUdevice dev;
    CUcontext ctx;
    CHECK_CU(D->cuDeviceGet(&dev, 0));
    CHECK_CU(D->cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK_CU(D->cuCtxSetCurrent(ctx));
    char gpu[256] = {0};
    D->cuDeviceGetName(gpu, sizeof gpu, dev);
    CUstream stream;
    CHECK_CU(D->cuStreamCreate(&stream, 1));

    const size_t kPool = size_t(512) << 20;  // rotating inputs: several times the L2
    CUdeviceptr xpool, ypool, wdev, invpool;
    CHECK_CU(D->cuMemAlloc(&xpool, kPool));
    CHECK_CU(D->cuMemAlloc(&ypool, kPool));
    CHECK_CU(D->cuMemAlloc(&wdev, 16384 * 4));
    CHECK_CU(D->cuMemAlloc(&invpool, size_t(64) << 20));

    const Shape shapes[] = {{1, 4096}, {64, 4096}, {16384, 8192}};
    std::vector<Result> results;
    uint32_t seed = 1;
    for (nf_dtype dt : {NF_BF16, NF_F32}) {
        const size_t es = dt == NF_F32 ? 4 : 2;
        for (const Shape &sh : shapes) {
            Result res;
            res.dtype = dt == NF_F32 ? "f32" : "bf16";
            res.shape = std::to_string(sh.rows) + "x" + std::to_string(sh.cols);
            const size_t bytes = size_t(sh.rows * sh.cols) * es;
            res.bytes = double(bytes);
            const int sets = int(std::max<size_t>(1, kPool / bytes));
            // Fill the whole pool with pseudo-random values (never zeros), and the weight.
            std::vector<uint8_t> host(kPool);
            for (size_t i = 0; i < kPool / es; i++) {
                seed = seed * 1664525u + 1013904223u;
                float v = (float(seed >> 8) / 16777216.0f) * 4.0f - 2.0f;
                if (es == 4) std::memcpy(&host[i * 4], &v, 4);
                else {
                    uint16_t h = float_to_bf16(v);
                    std::memcpy(&host[i * 2], &h, 2);
                }
            }
            CHECK_CU(D->cuMemcpyHtoD(xpool, host.data(), kPool));
            std::vector<uint8_t> w(size_t(sh.cols) * es);
            for (int64_t c = 0; c < sh.cols; c++) {
                float v = 0.5f + float(c % 17) / 16.0f;
                if (es == 4) std::memcpy(&w[c * 4], &v, 4);
                else {
                    uint16_t h = float_to_bf16(v);
                    std::memcpy(&w[c * 2], &h, 2);
                }
            }
            CHECK_CU(D->cuMemcpyHtoD(wdev, w.data(), w.size()));
            nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
            auto nf_call = [&](int i) {
                const size_t off = size_t(i % sets) * bytes;
                nf_matrix x{reinterpret_cast<void *>(xpool + off), dt, sh.rows, sh.cols, sh.cols};
                nf_matrix y{reinterpret_cast<void *>(ypool + off), dt, sh.rows, sh.cols, sh.cols};
                float *inv = reinterpret_cast<float *>(invpool + (size_t(i % 64) * sh.rows * 4) % (size_t(63) << 20));
                if (nf_cuda_rms_norm(&x, reinterpret_cast<void *>(wdev), &p, &y, inv, stream) != NF_OK) {
                    std::fprintf(stderr, "nf_cuda_rms_norm failed: %s\n", nf_last_error());
                    std::exit(2);
                }
            };
            // Correctness of set 0 against float64 (every row of small shapes, a sample of large).
            nf_call(0);
            CHECK_CU(D->cuStreamSynchronize(stream));
            std::vector<uint8_t> yh(bytes);
            CHECK_CU(D->cuMemcpyDtoH(yh.data(), ypool, bytes));
            auto val = [&](const std::vector<uint8_t> &b, size_t i) {
                if (es == 4) {
                    float f;
                    std::memcpy(&f, &b[i * 4], 4);
                    return double(f);
                }
                uint16_t h;
                std::memcpy(&h, &b[i * 2], 2);
                return double(bf16_to_float(h));
            };
            double err2 = 0, ref2 = 0;
            const int64_t row_step = sh.rows > 256 ? 97 : 1;
            for (int64_t r = 0; r < sh.rows; r += row_step) {
                double ss = 0;
                for (int64_t c = 0; c < sh.cols; c++) ss += val(host, r * sh.cols + c) * val(host, r * sh.cols + c);
                double inv = 1.0 / std::sqrt(ss / double(sh.cols) + 1e-6);
                for (int64_t c = 0; c < sh.cols; c++) {
                    double ref = val(host, r * sh.cols + c) * inv * val(w, c);
                    double got = val(yh, r * sh.cols + c);
                    err2 += (got - ref) * (got - ref);
                    ref2 += ref * ref;
                }
            }
            const double rel = std::sqrt(err2 / ref2);
            res.correct = rel < (es == 4 ? 1e-6 : 4e-3) && std::isfinite(rel);
            if (res.correct) {
                // Batch size: about 2 ms of calls per event pair.
                std::vector<double> probe = time_batches(stream, 3, 4, nf_call);
                const int batch = int(std::clamp(2.0 / std::max(median(probe), 1e-4), 1.0, 2000.0));
                std::vector<double> t = time_batches(stream, reps, batch, nf_call);
                res.nf_ms = median(t);
                res.nf_lo = *std::min_element(t.begin(), t.end());
                res.nf_hi = *std::max_element(t.begin(), t.end());
                // The kernel that re-reads x instead of staging rows in shared memory (the one
                // used anyway when rows do not fit), same method.
                setenv("NF_CUDA_STAGE", "0", 1);
                time_batches(stream, 2, batch, nf_call);
                res.reread_ms = median(time_batches(stream, reps, batch, nf_call));
                unsetenv("NF_CUDA_STAGE");
                auto copy_call = [&](int i) {
                    const size_t off = size_t(i % sets) * bytes;
                    CHECK_CU(D->cuMemcpyDtoDAsync(ypool + off, xpool + off, bytes, stream));
                };
                time_batches(stream, 2, batch, copy_call);
                res.copy_ms = median(time_batches(stream, reps, batch, copy_call));
            }
            std::fprintf(stderr, "  %s %s: rel. error %.2e%s\n", res.dtype.c_str(), res.shape.c_str(), rel,
                         res.correct ? "" : "  WRONG: not timed");
            results.push_back(res);
        }
    }
    D->cuMemFree(xpool);
    D->cuMemFree(ypool);
    D->cuMemFree(wdev);
    D->cuMemFree(invpool);

    // torch.nn.functional.rms_norm, same shapes, same method (in its own process).
    if (!torch_script.empty()) {
        std::string cmd = python + " " + torch_script + " --reps " + std::to_string(reps) + " 2>&1";
        FILE *f = popen(cmd.c_str(), "r");
        char line[512];
        std::string all;
        while (f && std::fgets(line, sizeof line, f)) {
            all += line;
            char dt[8], shape[32], status[32];
            double ms;
            if (std::sscanf(line, "TORCH %7s %31s %31s %lf", dt, shape, status, &ms) == 4) {
                for (Result &r : results)
                    if (r.dtype == dt && r.shape == shape) {
                        if (std::string(status) == "ok") r.torch_ms = ms;
                        else r.torch_note = status;
                    }
            }
        }
        int rc = f ? pclose(f) : -1;
        if (rc != 0 || all.find("TORCH") == std::string::npos) {
            std::string note = all.find("No module named") != std::string::npos ? "not installed" : "failed";
            for (Result &r : results)
                if (r.torch_ms < 0 && r.torch_note.empty()) r.torch_note = note;
            std::fprintf(stderr, "torch: %s\n%s", note.c_str(), all.c_str());
        }
    }

    std::printf("\nNormForge CUDA RMSNorm (weight, eps 1e-6) on %s: GB/s = (bytes read + written) / median time;\n"
                "copy = cuMemcpyDtoDAsync of the same bytes in the same run; %d repetitions.\n\n", gpu, reps);
    std::printf("| dtype | shape | NormForge GB/s | us/call (min-max) | re-read kernel GB/s | copy GB/s | NF / copy | torch GB/s | NF vs torch |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const Result &r : results) {
        if (!r.correct) {
            std::printf("| %s | %s | WRONG | - | - | - | - | - | - |\n", r.dtype.c_str(), r.shape.c_str());
            continue;
        }
        const double gb = 2 * r.bytes / 1e9;
        char torch_col[64], ratio_col[64];
        if (r.torch_ms > 0) {
            std::snprintf(torch_col, sizeof torch_col, "%.0f", gb / (r.torch_ms / 1e3));
            std::snprintf(ratio_col, sizeof ratio_col, "%.2fx", r.torch_ms / r.nf_ms);
        } else {
            std::snprintf(torch_col, sizeof torch_col, "%s", r.torch_note.empty() ? "not run" : r.torch_note.c_str());
            std::snprintf(ratio_col, sizeof ratio_col, "-");
        }
        std::printf("| %s | %s | %.0f | %.1f (%.1f-%.1f) | %.0f | %.0f | %.2f | %s | %s |\n", r.dtype.c_str(),
                    r.shape.c_str(), gb / (r.nf_ms / 1e3), r.nf_ms * 1e3, r.nf_lo * 1e3, r.nf_hi * 1e3,
                    gb / (r.reread_ms / 1e3), gb / (r.copy_ms / 1e3), r.copy_ms / r.nf_ms, torch_col, ratio_col);
    }
    if (!json_path.empty()) {
        FILE *j = std::fopen(json_path.c_str(), "w");
        if (j) {
            std::fprintf(j, "{\"gpu\": \"%s\", \"normforge\": \"%s\", \"reps\": %d, \"cases\": [\n", gpu, nf_version(), reps);
            for (size_t i = 0; i < results.size(); i++) {
                const Result &r = results[i];
                std::fprintf(j,
                             "  {\"dtype\": \"%s\", \"shape\": \"%s\", \"bytes\": %.0f, \"correct\": %s, "
                             "\"normforge_ms\": %.6f, \"normforge_min_ms\": %.6f, \"normforge_max_ms\": %.6f, "
                             "\"reread_kernel_ms\": %.6f, \"copy_ms\": %.6f, \"torch_ms\": %.6f, \"torch_note\": \"%s\"}%s\n",
                             r.dtype.c_str(), r.shape.c_str(), r.bytes, r.correct ? "true" : "false", r.nf_ms, r.nf_lo,
                             r.nf_hi, r.reread_ms, r.copy_ms, r.torch_ms, r.torch_note.c_str(), i + 1 < results.size() ? "," : "");
            }
            std::fprintf(j, "]}\n");
            std::fclose(j);
        }
    }
    bool all_ok = true;
    for (const Result &r : results) all_ok = all_ok && r.correct;
    return all_ok ? 0 : 1;
}
