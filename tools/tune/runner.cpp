// The tuner's runner: linked (by `normforge tune`, at run time) with one candidate kernel named
// nf_tune_kernel and the Halide runtime, for the host or a cross target. For each case it builds
// buffers from the kernel's own metadata, checks the output against a float64 reference, then
// times it (warm-up, batches, repetitions, median; rotating buffer sets unless --warm). Prints
// one line per case:  ok <median_s> <min_s> <max_s>  |  wrong <what>  |  failed <what>
// Usage: runner --op rms_norm|rms_norm_pipelined|rms_norm_residual|layer_norm|rms_norm_backward|rms_norm_dweight
//               --threads N --reps R [--warm] [--corrupt] [--whole] --case ROWSxCOLS:STREAM_ROWS ...
// STREAM_ROWS > 0 runs the kernel the way the NormForge runtime runs large calls: tiles of that
// many rows normalized into a scratch buffer, then copied out with streaming stores. The fused
// op's residual is updated in place and its (serial) kernel runs on blocks of rows, as
// nf_rms_norm_residual does. The backward kernels (dx, and
// the weight gradient dw) run as nf_rms_norm_backward runs them: blocks of 128 rows on the
// thread pool, each in sub-blocks of at most 256 KiB of dy and x, dw summed per block. The
// pipelined RMSNorm kernel (one row per call) runs chained over the rows as nf_rms_norm runs it
// (row_blocks.h: pipelined_chain).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "HalideRuntime.h"
#include "bench/timing.h"
#include "row_blocks.h"
#include "stream_copy.h"

extern "C" int nf_tune_kernel_argv(void **args);
extern "C" const struct halide_filter_metadata_t *nf_tune_kernel_metadata();

namespace {

using normforge::kDweightBlockRows;

bool g_whole = false;  // --whole: one call over all rows (autoscheduled pipelines)
std::string g_error;  // the kernel's last error (from Halide's error handler)
extern "C" void tune_error_handler(void *, const char *msg) {
    if (g_error.empty()) g_error = msg;
}

float load(const halide_type_t &t, const void *p, int64_t i) {
    if (t.bits == 32) return static_cast<const float *>(p)[i];
    uint16_t h = static_cast<const uint16_t *>(p)[i];
    if (t.code == halide_type_bfloat) {
        uint32_t u = uint32_t(h) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    uint32_t sign = uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0) return (sign ? -1.0f : 1.0f) * std::ldexp(float(m), -24);
    uint32_t u = e == 0x1F ? (sign | 0x7F800000 | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

void store(const halide_type_t &t, void *p, int64_t i, float v) {
    if (t.bits == 32) {
        static_cast<float *>(p)[i] = v;
        return;
    }
    uint32_t u;
    std::memcpy(&u, &v, 4);
    uint16_t h;
    if (t.code == halide_type_bfloat) {
        u += 0x7FFF + ((u >> 16) & 1);
        h = uint16_t(u >> 16);
    } else {  // fp16 (the values used here are finite and below 65504), round to nearest even
        const uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7FFFFFFF;
        if (a < 0x38800000) {  // below 2^-14: a subnormal (or zero) in fp16, in units of 2^-24
            float m;
            std::memcpy(&m, &a, 4);
            h = uint16_t(sign | uint32_t(std::nearbyint(m * 16777216.0f)));  // 1024 = the least normal
        } else {
            const uint32_t r = a + 0xFFF + ((a >> 13) & 1);
            h = uint16_t(sign | ((((r >> 23) - 112) << 10) | ((r >> 13) & 0x3FF)));
        }
    }
    static_cast<uint16_t *>(p)[i] = h;
}

size_t type_bytes(const halide_type_t &t) { return (t.bits + 7) / 8; }

struct Arg {
    const halide_filter_argument_t *meta;
    std::string role;  // x, residual, weight, bias, eps, y, y2 (the residual, in place), stat;
                       // backward: dy, x, weight, inv_rms, dx | dy, x, inv_rms, dw_in, dw
};

// Where each argument of the pipelined kernel is in its argument list.
struct PipelinedSlots {
    int eps = 0, x = 0, x_next = 0, inv_in = 0, weight = 0, y = 0, inv_next = 0;
};

// One case's buffers (`sets` rotating copies of everything the kernel touches per call).
struct Case {
    int64_t rows = 0, cols = 0, stream_rows = 0;
    std::vector<Arg> args;
    halide_type_t dtype{};
    int sets = 1;
    std::vector<std::vector<uint8_t>> x, residual, y;
    std::vector<uint8_t> residual0;  // the residual before the first call (for the check)
    // --whole (autoscheduled pipelines): the new residual goes to its own buffers, since Halide
    // assumes outputs do not alias inputs and an autoscheduler may re-evaluate a vector's tail.
    std::vector<std::vector<uint8_t>> y2;
    std::vector<uint8_t> weight, bias;
    std::vector<std::vector<float>> stats;  // one per per-row output
    // Backward: dy (rotating like x), the forward's inv_rms (rows), dw per 128-row block.
    std::vector<std::vector<uint8_t>> dy;
    std::vector<float> inv;
    std::vector<std::vector<float>> dw_blocks;
    float eps = 1e-5f;
    bool pipelined = false;  // the pipelined RMSNorm kernel: chained one-row calls
    PipelinedSlots slots;
};

struct Views {
    halide_dimension_t d2[8][2], d1[8];
    halide_buffer_t bufs[16];
    void *argv[16];
};

// --pairs: the kernel is a bf16 pair kernel (generators/bf16_pairs.h); the case's data stays bf16
// and each bf16 buffer is passed as fp32 pairs (half the columns and stride).
bool g_pairs = false;

halide_buffer_t make_buf(void *data, halide_type_t t, int dims, int64_t rows, int64_t cols, int64_t stride,
                         halide_dimension_t *d) {
    if (g_pairs && t.code == halide_type_bfloat) {
        t = halide_type_t(halide_type_float, 32);
        if (dims == 2) cols /= 2, stride /= 2;
        else rows /= 2;  // a vector's extent
    }
    halide_buffer_t b{};
    b.host = static_cast<uint8_t *>(data);
    b.type = t;
    b.dimensions = dims;
    d[0] = {0, int32_t(dims == 2 ? cols : rows), 1, 0};
    if (dims == 2) d[1] = {0, int32_t(rows), int32_t(stride), 0};
    b.dim = d;
    return b;
}

// Calls the kernel on rows [r0, r0 + n) of buffer set s; y goes to `yd` with row stride `ys`
// elements, the fused op's new residual over its input.
int call(Case &c, int s, int64_t r0, int64_t n, uint8_t *yd, int64_t ys) {
    Views v;
    const size_t es = type_bytes(c.dtype);
    int n2 = 0, n1 = 0, stat = 0;
    for (size_t i = 0; i < c.args.size(); i++) {
        const Arg &a = c.args[i];
        if (a.role == "eps") {
            v.argv[i] = &c.eps;
            continue;
        }
        halide_buffer_t &b = v.bufs[i];
        if (a.role == "x" || a.role == "residual" || a.role == "y2") {
            uint8_t *p = (a.role == "x"                        ? c.x[s].data()
                          : a.role == "y2" && !c.y2.empty() ? c.y2[s].data()
                                                             : c.residual[s].data()) +
                         size_t(r0 * c.cols) * es;
            b = make_buf(p, c.dtype, 2, n, c.cols, c.cols, v.d2[n2++]);
        } else if (a.role == "y") {
            b = make_buf(yd, c.dtype, 2, n, c.cols, ys, v.d2[n2++]);
        } else if (a.role == "weight" || a.role == "bias") {
            b = make_buf(a.role == "weight" ? c.weight.data() : c.bias.data(), c.dtype, 1, c.cols, 0, 1, &v.d1[n1++]);
        } else {  // a per-row float output
            b = make_buf(c.stats[size_t(stat++)].data() + r0, halide_type_t(halide_type_float, 32), 1, n, 0, 1,
                         &v.d1[n1++]);
        }
        v.argv[i] = &b;
    }
    return nf_tune_kernel_argv(v.argv);
}

// The pipelined kernel's call (row indices as in normforge::pipelined_chain; -1 = the scratch
// row, or a dropped statistic). The argument slots of each role are found once per case.
int call_pipelined(Case &c, int s, int64_t xr, int64_t in, int64_t nr, int64_t yr, int64_t out,
                   uint8_t *scratch) {
    halide_dimension_t d2[3][2], d1[3];
    halide_buffer_t bufs[6];
    void *argv[7];
    const size_t row_bytes = size_t(c.cols) * type_bytes(c.dtype);
    const halide_type_t f32(halide_type_float, 32);
    float dropped = 0.0f;
    float *inv = c.stats[0].data();
    auto row = [&](std::vector<std::vector<uint8_t>> &m, int64_t r) {
        return r < 0 ? scratch : m[size_t(s)].data() + size_t(r) * row_bytes;
    };
    const PipelinedSlots &k = c.slots;
    bufs[0] = make_buf(row(c.x, xr), c.dtype, 2, 1, c.cols, c.cols, d2[0]);
    bufs[1] = make_buf(row(c.x, nr), c.dtype, 2, 1, c.cols, c.cols, d2[1]);
    bufs[2] = make_buf(row(c.y, yr), c.dtype, 2, 1, c.cols, c.cols, d2[2]);
    bufs[3] = make_buf(c.weight.data(), c.dtype, 1, c.cols, 0, 1, &d1[0]);
    bufs[4] = make_buf(in < 0 ? &dropped : inv + in, f32, 1, 1, 0, 1, &d1[1]);
    bufs[5] = make_buf(out < 0 ? &dropped : inv + out, f32, 1, 1, 0, 1, &d1[2]);
    argv[k.eps] = &c.eps;
    argv[k.x] = &bufs[0];
    argv[k.x_next] = &bufs[1];
    argv[k.y] = &bufs[2];
    argv[k.weight] = &bufs[3];
    argv[k.inv_in] = &bufs[4];
    argv[k.inv_next] = &bufs[5];
    return nf_tune_kernel_argv(argv);
}

struct ChainJob {
    Case *c;
    int s;
    int64_t rows_per_chain;
};

int chain_task(void *, int task, uint8_t *closure) {
    ChainJob &j = *reinterpret_cast<ChainJob *>(closure);
    Case &c = *j.c;
    thread_local std::vector<uint8_t> scratch;  // one row, reused (the runtime's thread_scratch)
    scratch.resize(size_t(c.cols) * type_bytes(c.dtype));
    const int64_t first = int64_t(task) * j.rows_per_chain, end = std::min(c.rows, first + j.rows_per_chain);
    return normforge::pipelined_chain(first, end, [&](int64_t xr, int64_t in, int64_t nr, int64_t yr, int64_t out) {
        return call_pipelined(c, j.s, xr, in, nr, yr, out, scratch.data());
    });
}

struct TileJob {
    Case *c;
    int s;
    int64_t tile_rows, tiles_per_task;
    bool stream;  // y through the tile and streaming stores; false: the kernel writes y
};

int tile_task(void *, int task, uint8_t *closure) {
    TileJob &j = *reinterpret_cast<TileJob *>(closure);
    Case &c = *j.c;
    const size_t es = type_bytes(c.dtype), row_bytes = size_t(c.cols) * es;
    const bool two = !c.residual.empty();
    const int64_t first = task * j.tiles_per_task * j.tile_rows;
    const int64_t end = std::min(c.rows, first + j.tiles_per_task * j.tile_rows);
    if (!j.stream) {
        for (int64_t r0 = first; r0 < end; r0 += j.tile_rows)
            if (int rc = call(c, j.s, r0, std::min(j.tile_rows, end - r0),
                              c.y[size_t(j.s)].data() + size_t(r0) * row_bytes, c.cols))
                return rc;
        return 0;
    }
    std::vector<uint8_t> buf(size_t(j.tile_rows) * row_bytes);
    for (int64_t r0 = first; r0 < end; r0 += j.tile_rows) {
        const int64_t n = std::min(j.tile_rows, end - r0);
        if (int rc = call(c, j.s, r0, n, buf.data(), c.cols)) return rc;
        for (int64_t i = 0; i < n; i++) {
            const bool pf = r0 + n + i < end;
            const uint8_t *xp = pf ? c.x[size_t(j.s)].data() + size_t(r0 + n + i) * row_bytes : nullptr;
            const uint8_t *p2 = pf && two ? c.residual[size_t(j.s)].data() + size_t(r0 + n + i) * row_bytes : nullptr;
            normforge::stream_copy(c.y[size_t(j.s)].data() + size_t(r0 + i) * row_bytes, buf.data() + i * row_bytes,
                                   row_bytes, xp, xp ? row_bytes : 0, p2, p2 ? row_bytes : 0);
        }
    }
    normforge::stream_fence();
    return 0;
}

// The backward kernels on rows [r0, r0 + n) of buffer set s; `acc`: the block's dw (dweight).
int call_backward(Case &c, int s, int64_t r0, int64_t n, float *acc) {
    Views v;
    const size_t es = type_bytes(c.dtype), off = size_t(r0 * c.cols) * es;
    const halide_type_t f32(halide_type_float, 32);
    int n2 = 0, n1 = 0;
    for (size_t i = 0; i < c.args.size(); i++) {
        const std::string &role = c.args[i].role;
        halide_buffer_t &b = v.bufs[i];
        if (role == "dy" || role == "x" || role == "dx") {
            uint8_t *p = (role == "dy" ? c.dy : role == "x" ? c.x : c.y)[size_t(s)].data() + off;
            b = make_buf(p, c.dtype, 2, n, c.cols, c.cols, v.d2[n2++]);
        } else if (role == "weight") {
            b = make_buf(c.weight.data(), c.dtype, 1, c.cols, 0, 1, &v.d1[n1++]);
        } else if (role == "inv_rms") {
            b = make_buf(c.inv.data() + r0, f32, 1, n, 0, 1, &v.d1[n1++]);
        } else {  // dw_in, dw: the block's accumulator, updated in place
            b = make_buf(acc, f32, 1, c.cols, 0, 1, &v.d1[n1++]);
        }
        v.argv[i] = &b;
    }
    return nf_tune_kernel_argv(v.argv);
}

struct BackwardJob {
    Case *c;
    int s;
    int64_t sub_rows;
};

int backward_block(void *, int block, uint8_t *closure) {
    BackwardJob &j = *reinterpret_cast<BackwardJob *>(closure);
    Case &c = *j.c;
    const int64_t first = int64_t(block) * kDweightBlockRows, end = std::min(c.rows, first + kDweightBlockRows);
    float *acc = c.dw_blocks.empty() ? nullptr : c.dw_blocks[size_t(block)].data();
    if (acc) std::fill(acc, acc + c.cols, 0.0f);
    for (int64_t r0 = first; r0 < end; r0 += j.sub_rows)
        if (int rc = call_backward(c, j.s, r0, std::min(j.sub_rows, end - r0), acc)) return rc;
    return 0;
}

bool is_backward(const std::string &op) { return op == "rms_norm_backward" || op == "rms_norm_dweight"; }

int g_threads = 1;  // --threads

int run_once(Case &c, int s) {
    if (c.pipelined) {
        ChainJob j{&c, s, normforge::pipelined_rows_per_chain(c.rows, g_threads)};
        const int tasks = int((c.rows + j.rows_per_chain - 1) / j.rows_per_chain);
        if (tasks == 1) return chain_task(nullptr, 0, reinterpret_cast<uint8_t *>(&j));
        return halide_do_par_for(nullptr, chain_task, 0, tasks, reinterpret_cast<uint8_t *>(&j));
    }
    if (!c.dy.empty()) {
        const int64_t es = int64_t(type_bytes(c.dtype));
        BackwardJob j{&c, s, normforge::backward_sub_rows(c.cols * es)};
        const int blocks = int((c.rows + kDweightBlockRows - 1) / kDweightBlockRows);
        return halide_do_par_for(nullptr, backward_block, 0, blocks, reinterpret_cast<uint8_t *>(&j));
    }
    // The fused op always runs on blocks of rows, as nf_rms_norm_residual runs it (row_blocks.h);
    // an autoscheduler's pipeline on the whole shape (--whole).
    const bool blocks = !c.residual.empty() && !g_whole;
    if (c.stream_rows <= 0 && !blocks) return call(c, s, 0, c.rows, c.y[size_t(s)].data(), c.cols);
    const int64_t tile_rows =
        c.stream_rows > 0 ? c.stream_rows : normforge::fused_block_rows(c.cols * int64_t(type_bytes(c.dtype)));
    const int64_t tiles = (c.rows + tile_rows - 1) / tile_rows;
    TileJob j{&c, s, tile_rows, std::max<int64_t>(1, tiles / 64), c.stream_rows > 0};
    const int tasks = int((tiles + j.tiles_per_task - 1) / j.tiles_per_task);
    if (tasks == 1) return tile_task(nullptr, 0, reinterpret_cast<uint8_t *>(&j));
    return halide_do_par_for(nullptr, tile_task, 0, tasks, reinterpret_cast<uint8_t *>(&j));
}

// Backward: "" when set 0's dx (first, middle and last rows) or dw (every column, the blocks
// added in double) matches the float64 gradient.
std::string check_backward(const Case &c, const std::string &op) {
    const halide_type_t t = c.dtype;
    const double tol = t.bits == 32 ? 1e-5 : t.code == halide_type_bfloat ? 1.6e-2 : 2e-3;
    char msg[160];
    if (op == "rms_norm_dweight") {
        for (int64_t k = 0; k < c.cols; k++) {
            double want = 0, mag = 0, got = 0;
            for (int64_t r = 0; r < c.rows; r++) {
                const double term = double(load(t, c.dy[0].data(), r * c.cols + k)) *
                                    double(load(t, c.x[0].data(), r * c.cols + k)) * double(c.inv[size_t(r)]);
                want += term, mag += std::fabs(term);
            }
            for (const auto &b : c.dw_blocks) got += b[size_t(k)];
            if (!(std::fabs(got - want) <= 1e-5 * mag + 1e-6)) {
                std::snprintf(msg, sizeof msg, "dw(%lld)=%g want %g", (long long)k, got, want);
                return msg;
            }
        }
        return "";
    }
    for (int64_t r : {int64_t(0), c.rows / 2, c.rows - 1}) {
        const double inv = c.inv[size_t(r)];
        double dot = 0;
        for (int64_t k = 0; k < c.cols; k++)
            dot += double(load(t, c.dy[0].data(), r * c.cols + k)) * load(t, c.weight.data(), k) *
                   load(t, c.x[0].data(), r * c.cols + k);
        for (int64_t k = 0; k < c.cols; k++) {
            const double g = double(load(t, c.dy[0].data(), r * c.cols + k)) * load(t, c.weight.data(), k);
            const double a = inv * g, b = double(load(t, c.x[0].data(), r * c.cols + k)) * inv * inv * inv * dot /
                                          double(c.cols);
            const double got = load(t, c.y[0].data(), r * c.cols + k);
            if (!(std::fabs(got - (a - b)) <= tol * (std::fabs(a) + std::fabs(b)) + 1e-6)) {
                std::snprintf(msg, sizeof msg, "dx(%lld,%lld)=%g want %g", (long long)r, (long long)k, got, a - b);
                return msg;
            }
        }
    }
    return "";
}

// "" when buffer set 0's y matches the float64 reference on the first, middle and last rows.
std::string check(const Case &c, const std::string &op) {
    if (is_backward(op)) return check_backward(c, op);
    const halide_type_t t = c.dtype;
    const double tol = t.bits == 32 ? 1e-5 : t.code == halide_type_bfloat ? 1.6e-2 : 2e-3;
    for (int64_t r : {int64_t(0), c.rows / 2, c.rows - 1}) {
        std::vector<double> in(size_t(c.cols));
        for (int64_t k = 0; k < c.cols; k++) {
            double v = load(t, c.x[0].data(), r * c.cols + k);
            if (op == "rms_norm_residual") {
                float s = float(v + double(load(t, c.residual0.data(), r * c.cols + k)));
                std::vector<uint8_t> tmp(4);
                store(t, tmp.data(), 0, s);
                v = load(t, tmp.data(), 0);
                const uint8_t *stored = c.y2.empty() ? c.residual[0].data() : c.y2[0].data();
                if (load(t, stored, r * c.cols + k) != float(v)) return "the stored residual is not x + residual";
            }
            in[size_t(k)] = v;
        }
        double mean = 0, ss = 0;
        if (op == "layer_norm") {
            for (double v : in) mean += v;
            mean /= double(c.cols);
        }
        for (double v : in) ss += (v - mean) * (v - mean);
        const double inv = 1.0 / std::sqrt(ss / double(c.cols) + c.eps);
        for (int64_t k = 0; k < c.cols; k++) {
            const double w = load(t, c.weight.data(), k), b = op == "layer_norm" ? load(t, c.bias.data(), k) : 0.0;
            const double n = (in[size_t(k)] - mean) * inv * w;
            const double got = load(t, c.y[0].data(), r * c.cols + k);
            if (!(std::fabs(got - (n + b)) <= tol * (std::fabs(n) + std::fabs(b) + w) + 1e-6)) {
                char msg[160];
                std::snprintf(msg, sizeof msg, "y(%lld,%lld)=%g want %g", (long long)r, (long long)k, got, n + b);
                return msg;
            }
        }
    }
    return "";
}

}  // namespace

int main(int argc, char **argv) {
    std::string op = "rms_norm";
    int threads = 1, reps = 7;
    bool warm = false, corrupt = false;
    double batch_s = 0.02;
    std::vector<std::string> cases;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--op") op = next();
        else if (a == "--threads") threads = std::atoi(next().c_str());
        else if (a == "--reps") reps = std::atoi(next().c_str());
        else if (a == "--batch-s") batch_s = std::atof(next().c_str());
        else if (a == "--warm") warm = true;
        else if (a == "--corrupt") corrupt = true;
        else if (a == "--whole") g_whole = true;
        else if (a == "--pairs") g_pairs = true;
        else if (a == "--case") cases.push_back(next());
        else {
            std::fprintf(stderr, "runner: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    halide_set_error_handler(tune_error_handler);
    halide_set_num_threads(threads);
    g_threads = threads;
    const halide_filter_metadata_t *md = nf_tune_kernel_metadata();

    for (const std::string &cs : cases) {
        Case c;
        long long rows = 0, cols = 0, sr = 0;
        if (std::sscanf(cs.c_str(), "%lldx%lld:%lld", &rows, &cols, &sr) != 3) {
            std::printf("failed bad case %s\n", cs.c_str());
            continue;
        }
        c.rows = rows, c.cols = cols, c.stream_rows = sr;
        int in2d = 0, in1d = 0, out2d = 0;
        for (int i = 0; i < md->num_arguments; i++) {
            const halide_filter_argument_t &a = md->arguments[i];
            Arg arg{&a, ""};
            if (is_backward(op) || op == "rms_norm_pipelined") {
                // dy, x, weight, inv_rms, dx | dy, x, inv_rms, dw_in, dw |
                // eps, x, x_next, inv_in, weight, y, inv_next
                arg.role = a.name;
                if (arg.role == "x") c.dtype = a.type;
                if (op == "rms_norm_pipelined" && arg.role == "x") in2d++;  // x and y per buffer set
            } else if (a.kind == halide_argument_kind_input_scalar) arg.role = "eps";
            else if (a.kind == halide_argument_kind_input_buffer && a.dimensions == 2) {
                arg.role = in2d++ ? "residual" : "x";
                c.dtype = a.type;
            } else if (a.kind == halide_argument_kind_input_buffer) arg.role = in1d++ ? "bias" : "weight";
            else if (a.dimensions == 2) arg.role = out2d++ ? "y2" : "y";
            else arg.role = "stat";
            c.args.push_back(arg);
        }
        if (g_pairs) c.dtype = halide_type_t(halide_type_bfloat, 16);  // the kernel's fp32 = bf16 pairs
        const size_t es = type_bytes(c.dtype), bytes = size_t(rows * cols) * es;
        // The inputs and y or dx (a second output is in place; dw is per block).
        const size_t per_set = bytes * (is_backward(op) ? (op == "rms_norm_backward" ? 3 : 2) : in2d + 1);
        c.sets = warm ? 1 : int(std::min<size_t>(256, std::max<size_t>(1, (size_t(64) << 20) / per_set)));
        uint32_t state = 2024;
        std::vector<uint8_t> x0(bytes), r0(in2d > 1 ? bytes : 0);
        for (int64_t i = 0; i < rows * cols; i++) {
            state = state * 1664525u + 1013904223u;
            store(c.dtype, x0.data(), i, float(state >> 8) / 16777216.0f * 2.0f - 1.0f);
            if (in2d > 1) store(c.dtype, r0.data(), i, float(i % 11) * 0.25f - 1.0f);
        }
        c.residual0 = r0;
        std::vector<uint8_t> dy0(is_backward(op) ? bytes : 0);
        for (int64_t i = 0; i < int64_t(dy0.size() / es); i++) {
            state = state * 1664525u + 1013904223u;
            store(c.dtype, dy0.data(), i, float(state >> 8) / 16777216.0f - 0.5f);
        }
        if (is_backward(op)) {  // the forward pass's inv_rms of x
            c.inv.resize(size_t(rows));
            for (int64_t r = 0; r < rows; r++) {
                double ss = 0;
                for (int64_t k = 0; k < cols; k++) ss += double(load(c.dtype, x0.data(), r * cols + k)) * load(c.dtype, x0.data(), r * cols + k);
                c.inv[size_t(r)] = float(1.0 / std::sqrt(ss / double(cols) + c.eps));
            }
            if (op == "rms_norm_dweight")
                c.dw_blocks.assign(size_t((rows + kDweightBlockRows - 1) / kDweightBlockRows), std::vector<float>(size_t(cols)));
        }
        for (int s = 0; s < c.sets; s++) {
            c.x.push_back(x0);
            if (is_backward(op)) c.dy.push_back(dy0);
            if (g_whole && in2d > 1) c.y2.emplace_back(bytes, 0);
            if (in2d > 1) c.residual.push_back(r0);
            c.y.emplace_back(bytes, 0);
        }
        c.weight.resize(size_t(cols) * es);
        c.bias.resize(size_t(cols) * es);
        for (int64_t k = 0; k < cols; k++) {
            store(c.dtype, c.weight.data(), k, 0.5f + float(k % 7) * 0.1f);
            store(c.dtype, c.bias.data(), k, float(k % 5) * 0.1f - 0.2f);
        }
        for (auto &a : c.args)
            if (a.role == "stat") c.stats.emplace_back(size_t(rows), 0.0f);
        c.pipelined = op == "rms_norm_pipelined";
        if (c.pipelined) {
            c.stats.emplace_back(size_t(rows), 0.0f);  // the statistic the chain carries
            std::string unknown = c.args.size() == 7 ? "" : "(wrong argument count)";
            for (size_t i = 0; i < c.args.size() && unknown.empty(); i++) {
                const std::string &r = c.args[i].role;
                int *slot = r == "eps" ? &c.slots.eps : r == "x" ? &c.slots.x : r == "x_next" ? &c.slots.x_next
                          : r == "inv_in" ? &c.slots.inv_in : r == "weight" ? &c.slots.weight
                          : r == "y" ? &c.slots.y : r == "inv_next" ? &c.slots.inv_next : nullptr;
                if (slot == nullptr) unknown = r;
                else *slot = int(i);
            }
            if (!unknown.empty()) {
                std::printf("failed unexpected arguments of the pipelined kernel: %s\n", unknown.c_str());
                std::fflush(stdout);
                continue;
            }
        }

        g_error.clear();
        if (run_once(c, 0) != 0) {
            std::printf("failed %s\n", g_error.empty() ? "kernel error" : g_error.c_str());
            std::fflush(stdout);
            continue;
        }
        if (corrupt && !c.dw_blocks.empty()) c.dw_blocks[0][0] += 1.0f;  // test hook: a wrong candidate
        else if (corrupt) c.y[0][es - 1] ^= 0x40;
        std::string err = check(c, op);
        if (!err.empty()) {
            std::printf("wrong %s\n", err.c_str());
            std::fflush(stdout);
            continue;
        }
        int next = 0;
        std::vector<std::function<void()>> fns = {[&]() {
            run_once(c, next);
            next = (next + 1) % c.sets;
        }};
        nfbench::Stats st = nfbench::time_interleaved(fns, reps, batch_s)[0];
        std::printf("ok %.9g %.9g %.9g\n", st.median_s, st.min_s, st.max_s);
        std::fflush(stdout);
    }
    return 0;
}
