// nf_cuda_bench: GB/s of nf_cuda_rms_norm (the kernel it picks, and the one that re-reads x)
// and of nf_cuda_rms_norm_backward (bench_backward)
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

// nf_cuda_rms_norm_backward (dx and dweight, and dx alone) at large shapes against the forward
// call and a copy in the same run; the outputs are first checked against the CPU function
// (dweight bit for bit, dx within the dtype's rounding). Bandwidth counts the three passes a
// backward pass needs at least (read dy and x, write dx). Prints a table; false if wrong.
bool bench_backward(CUstream stream, int reps, std::string *json) {
    const Shape shapes[] = {{4096, 4096}, {16384, 8192}};
    std::printf("\nNormForge CUDA RMSNorm backward (weight): GB/s = 3 x matrix bytes (dy, x read, dx written) / "
                "median time;\ncopy = cuMemcpyDtoDAsync of one matrix in the same run; forward = nf_cuda_rms_norm "
                "on the same x.\n\n");
    std::printf("| dtype | shape | dx + dweight us | dx only us | GB/s (3 passes) | copy GB/s | NF / copy | forward us "
                "| backward / forward | dweight = CPU bits |\n|---|---|---|---|---|---|---|---|---|---|\n");
    bool ok = true;
    for (nf_dtype dt : {NF_BF16, NF_F32}) {
        const size_t es = dt == NF_F32 ? 4 : 2;
        for (const Shape &sh : shapes) {
            const size_t n = size_t(sh.rows * sh.cols), bytes = n * es;
            std::vector<uint8_t> xh(bytes), dyh(bytes), wh(size_t(sh.cols) * es), dxc(bytes), dxg(bytes);
            uint32_t seed = 7;
            auto fill = [&](std::vector<uint8_t> &b, size_t count, float lo, float span) {
                for (size_t i = 0; i < count; i++) {
                    seed = seed * 1664525u + 1013904223u;
                    float v = lo + (float(seed >> 8) / 16777216.0f) * span;
                    if (es == 4) std::memcpy(&b[i * 4], &v, 4);
                    else {
                        uint16_t h = float_to_bf16(v);
                        std::memcpy(&b[i * 2], &h, 2);
                    }
                }
            };
            fill(xh, n, -2.0f, 4.0f);
            fill(dyh, n, -1.0f, 2.0f);
            fill(wh, size_t(sh.cols), 0.5f, 1.0f);
            std::vector<float> inv(size_t(sh.rows)), dwc(size_t(sh.cols)), dwg(size_t(sh.cols));
            nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
            nf_matrix hx{xh.data(), dt, sh.rows, sh.cols, sh.cols}, hdy{dyh.data(), dt, sh.rows, sh.cols, sh.cols},
                hdx{dxc.data(), dt, sh.rows, sh.cols, sh.cols};
            if (nf_rms_norm(&hx, wh.data(), &p, &hdx, inv.data()) != NF_OK ||
                nf_rms_norm_backward(&hdy, &hx, wh.data(), &p, inv.data(), &hdx, dwc.data()) != NF_OK) {
                std::fprintf(stderr, "CPU backward failed: %s\n", nf_last_error());
                return false;
            }
            CUdeviceptr gx, gdy, gdx, gw, ginv, gdw;
            CHECK_CU(D->cuMemAlloc(&gx, bytes));
            CHECK_CU(D->cuMemAlloc(&gdy, bytes));
            CHECK_CU(D->cuMemAlloc(&gdx, bytes));
            CHECK_CU(D->cuMemAlloc(&gw, wh.size()));
            CHECK_CU(D->cuMemAlloc(&ginv, inv.size() * 4));
            CHECK_CU(D->cuMemAlloc(&gdw, dwg.size() * 4));
            CHECK_CU(D->cuMemcpyHtoD(gx, xh.data(), bytes));
            CHECK_CU(D->cuMemcpyHtoD(gdy, dyh.data(), bytes));
            CHECK_CU(D->cuMemcpyHtoD(gw, wh.data(), wh.size()));
            CHECK_CU(D->cuMemcpyHtoD(ginv, inv.data(), inv.size() * 4));
            nf_matrix x{reinterpret_cast<void *>(gx), dt, sh.rows, sh.cols, sh.cols};
            nf_matrix dy{reinterpret_cast<void *>(gdy), dt, sh.rows, sh.cols, sh.cols};
            nf_matrix dx{reinterpret_cast<void *>(gdx), dt, sh.rows, sh.cols, sh.cols};
            void *w = reinterpret_cast<void *>(gw);
            float *ginvp = reinterpret_cast<float *>(ginv), *gdwp = reinterpret_cast<float *>(gdw);
            auto backward = [&](float *dw) {
                if (nf_cuda_rms_norm_backward(&dy, &x, w, &p, ginvp, &dx, dw, stream) != NF_OK) {
                    std::fprintf(stderr, "nf_cuda_rms_norm_backward failed: %s\n", nf_last_error());
                    std::exit(2);
                }
            };
            backward(gdwp);
            CHECK_CU(D->cuStreamSynchronize(stream));
            CHECK_CU(D->cuMemcpyDtoH(dxg.data(), gdx, bytes));
            CHECK_CU(D->cuMemcpyDtoH(dwg.data(), gdw, dwg.size() * 4));
            const bool dw_bits = std::memcmp(dwg.data(), dwc.data(), dwg.size() * 4) == 0;
            double err2 = 0, ref2 = 0;
            for (size_t i = 0; i < n; i++) {
                double g, c;
                if (es == 4) {
                    float a, b;
                    std::memcpy(&a, &dxg[i * 4], 4);
                    std::memcpy(&b, &dxc[i * 4], 4);
                    g = a, c = b;
                } else {
                    uint16_t a, b;
                    std::memcpy(&a, &dxg[i * 2], 2);
                    std::memcpy(&b, &dxc[i * 2], 2);
                    g = bf16_to_float(a), c = bf16_to_float(b);
                }
                err2 += (g - c) * (g - c);
                ref2 += c * c;
            }
            const double rel = std::sqrt(err2 / ref2);
            double dw_rel = 0;
            for (size_t c = 0; c < dwg.size(); c++)
                dw_rel = std::max(dw_rel, std::fabs(double(dwg[c]) - dwc[c]) / (std::fabs(double(dwc[c])) + 1e-3));
            const bool correct = std::isfinite(rel) && rel < (es == 4 ? 1e-5 : 4e-3) && dw_rel < 1e-4;
            std::fprintf(stderr, "  backward %s %lldx%lld: dx rel. error vs CPU %.2e, dweight %s%s\n",
                         es == 4 ? "f32" : "bf16", (long long)sh.rows, (long long)sh.cols, rel,
                         dw_bits ? "same bits as the CPU" : "differs from the CPU", correct ? "" : "  WRONG: not timed");
            const char *dts = es == 4 ? "f32" : "bf16";
            if (!correct) {
                std::printf("| %s | %lldx%lld | WRONG | - | - | - | - | - | - | - |\n", dts, (long long)sh.rows,
                            (long long)sh.cols);
                ok = false;
            } else {
                const int batch = 10;
                auto with_dw = [&](int) { backward(gdwp); };
                auto dx_only = [&](int) { backward(nullptr); };
                auto forward = [&](int) {
                    if (nf_cuda_rms_norm(&x, w, &p, &dx, nullptr, stream) != NF_OK) std::exit(2);
                };
                auto copy = [&](int) { CHECK_CU(D->cuMemcpyDtoDAsync(gdx, gx, bytes, stream)); };
                time_batches(stream, 2, batch, with_dw);
                const double t_bw = median(time_batches(stream, reps, batch, with_dw));
                const double t_dx = median(time_batches(stream, reps, batch, dx_only));
                time_batches(stream, 2, batch, forward);
                const double t_fw = median(time_batches(stream, reps, batch, forward));
                time_batches(stream, 2, batch, copy);
                const double t_cp = median(time_batches(stream, reps, batch, copy));
                const double gbs = 3.0 * double(bytes) / 1e9 / (t_bw / 1e3), copy_gbs = 2.0 * double(bytes) / 1e9 / (t_cp / 1e3);
                std::printf("| %s | %lldx%lld | %.1f | %.1f | %.0f | %.0f | %.2f | %.1f | %.2f | %s |\n", dts,
                            (long long)sh.rows, (long long)sh.cols, t_bw * 1e3, t_dx * 1e3, gbs, copy_gbs,
                            gbs / copy_gbs, t_fw * 1e3, t_bw / t_fw, dw_bits ? "yes" : "no");
                char line[512];
                std::snprintf(line, sizeof line,
                              "%s  {\"dtype\": \"%s\", \"shape\": \"%lldx%lld\", \"backward_ms\": %.6f, \"dx_only_ms\": "
                              "%.6f, \"forward_ms\": %.6f, \"copy_ms\": %.6f, \"dweight_cpu_bits\": %s}",
                              json->empty() ? "" : ",\n", dts, (long long)sh.rows, (long long)sh.cols, t_bw, t_dx,
                              t_fw, t_cp, dw_bits ? "true" : "false");
                *json += line;
            }
            for (CUdeviceptr ptr : {gx, gdy, gdx, gw, ginv, gdw}) D->cuMemFree(ptr);
        }
    }
    return ok;
}

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
    std::string backward_json;
    const bool backward_ok = bench_backward(stream, reps, &backward_json);
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
            std::fprintf(j, "], \"backward\": [\n%s\n]}\n", backward_json.c_str());
            std::fclose(j);
        }
    }
    bool all_ok = backward_ok;
    for (const Result &r : results) all_ok = all_ok && r.correct;
    return all_ok ? 0 : 1;
}
