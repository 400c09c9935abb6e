#include "bench.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "impls.h"
#include "machine.h"
#include "normforge/normforge.h"
#include "peers.h"
#include "timing.h"

namespace nfbench {

std::vector<std::string> default_shapes() {
    return {"1x4096", "16x8192", "64x4096", "64x16384",         // decode
            "4096x4096", "8192x8192",                            // prefill
            "512x4097", "512x5120", "512x13824",                 // odd hidden sizes
            "65536x4096"};                                       // 1 GiB of fp32: past any cache
}
std::vector<std::string> quick_shapes() { return {"1x4096", "64x4096", "4096x4096"}; }

namespace {

// A table column's heading, 13 characters: NormForge's other runs ("normforge@avx2",
// "normforge@two_pass_streamed") keep the part after "normforge" ("@avx2", "@two_pass_str").
std::string column_name(const std::string &name) {
    const std::string prefix = "normforge@";
    const std::string n = name.compare(0, prefix.size(), prefix) == 0 ? name.substr(prefix.size() - 1) : name;
    return n.substr(0, 13);
}

constexpr float kEps = 1e-6f;
constexpr size_t kRotateBytes = size_t(64) << 20;  // rotate buffer sets over this many bytes
constexpr int64_t kOrtMinElements = int64_t(1) << 20;

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

std::string json_escape(const std::string &s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (c == '\n' || c == '\t') { o += ' '; continue; }
        o += c;
    }
    return o;
}

struct Row {
    std::string name, group, status;
    Stats stats;
};

// Pins the process to the first n CPUs, so every library (Halide's pool, oneDNN's TBB, ONNX
// Runtime) sees n cores.
void pin_to_cpus(int n) {
    cpu_set_t all;
    if (n <= 0 || sched_getaffinity(0, sizeof all, &all) != 0 || n >= CPU_COUNT(&all)) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    int taken = 0;
    for (int c = 0; c < CPU_SETSIZE && taken < n; c++)
        if (CPU_ISSET(c, &all)) CPU_SET(c, &set), taken++;
    sched_setaffinity(0, sizeof set, &set);
}

}  // namespace

int run_bench(const BenchOptions &opt) {
    for (const std::string &op : opt.ops)
        if (op != "rms_norm" && op != "rms_norm_residual" && op != "layer_norm") {
            std::fprintf(stderr, "bench: op '%s' is not benchmarked (rms_norm, rms_norm_residual, layer_norm)\n",
                         op.c_str());
            return 2;
        }
    for (const std::string &dt : opt.dtypes)
        if (dt != "f32" && dt != "bf16") {
            std::fprintf(stderr, "bench: dtype '%s' is not benchmarked (f32, bf16)\n", dt.c_str());
            return 2;
        }
    std::vector<std::pair<int64_t, int64_t>> shapes;
    for (const std::string &s : opt.shapes) {
        int64_t r = 0, c = 0;
        if (!parse_shape(s, r, c)) {
            std::fprintf(stderr, "bench: bad shape '%s' (want ROWSxCOLS, e.g. 64x4096)\n", s.c_str());
            return 2;
        }
        shapes.push_back({r, c});
    }
    pin_to_cpus(opt.threads);
    prepare_onednn();
    nf_set_num_threads(opt.threads);
    Machine m = describe_machine();

    // ONNX Runtime: one driver process per ONNX op (RMSNorm has two, the contrib
    // SimplifiedLayerNormalization and opset 23's RMSNormalization), asked for its batches
    // between the other implementations' batches.
    std::map<std::string, std::unique_ptr<OrtDriver>> ort_drivers;
    std::string ort_status = "n/a (not started)", ort_version;
    for (const std::string &op : opt.ops)
        for (const OrtPeer &peer : ort_peers(op)) {
            std::fprintf(stderr, "\rbench: starting the ONNX Runtime driver (%s)...", peer.driver_op);
            auto drv = std::make_unique<OrtDriver>(peer.driver_op, opt.threads, opt.corrupt == peer.column);
            ort_status = drv->status();
            ort_version = drv->version();
            ort_drivers[peer.driver_op] = std::move(drv);
        }
    const std::string ort_label = ort_status == "ok" ? ort_version : ort_status;

    std::printf("NormForge %s | kernel variant %s | large calls %s | output stores %s | %s, %d cores | threads %d | median of %d reps | %s buffers\n",
                nf_version(), nf_cpu_variant(), nf_large_calls(), nf_output_stores(), m.cpu_model.c_str(), m.cores, opt.threads, opt.reps,
                opt.warm ? "warm (one set)" : "rotating (cold)");
    std::printf("peers: oneDNN %s | ONNX Runtime %s\n",
                onednn_status().empty() ? onednn_version().c_str() : onednn_status().c_str(),
                ort_label.c_str());

    std::ostringstream json;
    json << "{\n  \"machine\": " << machine_json(m) << ",\n  \"normforge_version\": \"" << nf_version()
         << "\",\n  \"kernel_variant\": \"" << nf_cpu_variant() << "\",\n  \"large_calls\": \"" << nf_large_calls()
         << "\",\n  \"output_stores\": \"" << nf_output_stores()
         << "\",\n  \"threads\": " << opt.threads
         << ",\n  \"reps\": " << opt.reps << ",\n  \"warm\": " << (opt.warm ? "true" : "false")
         << ",\n  \"peers\": {\"onednn\": \"" << json_escape(onednn_status().empty() ? onednn_version() : onednn_status())
         << "\", \"onnxruntime\": \"" << json_escape(ort_label) << "\"}"
         << ",\n  \"date\": \"" << utc_date() << "\",\n  \"cases\": [";

    int exit_code = 0;
    size_t case_no = 0, total_cases = opt.ops.size() * shapes.size() * opt.dtypes.size();
    std::vector<std::vector<Row>> all_rows;
    std::vector<std::string> case_names, case_ops;
    std::vector<double> case_bytes;
    for (const std::string &op : opt.ops)
    for (size_t si = 0; si < shapes.size(); si++) {
        for (const std::string &dt : opt.dtypes) {
            const auto [rows, cols] = shapes[si];
            const Dtype d = dt == "f32" ? Dtype::F32 : Dtype::BF16;
            const size_t bytes = size_t(rows * cols) * (d == Dtype::F32 ? 4 : 2);
            const bool fused = op == "rms_norm_residual";
            const size_t moved = (fused ? 4 : 2) * bytes;
            int sets = opt.warm ? 1 : int(std::min<size_t>(256, std::max<size_t>(1, kRotateBytes / moved)));
            CaseData data(d, rows, cols, sets, op);
            std::vector<Impl> impls = make_impls(data, kEps, opt.levels, opt.other_large_calls, opt.streaming, opt.corrupt);
            ++case_no;
            std::vector<Row> out;
            std::vector<SelfTimedBatch> timed;
            std::vector<size_t> timed_row;
            for (Impl &im : impls) {
                std::fprintf(stderr, "\r[%zu/%zu] %s %s: checking %-24s", case_no, total_cases,
                             opt.shapes[si].c_str(), dt.c_str(), im.name.c_str());
                Row r{im.name, im.group, im.status, {}};
                if (im.status == "ok" && im.is_norm) {
                    std::memset(data.ys[0].get(), 0xFF, bytes);
                    data.reset_residual();
                    im.run(0);
                    std::string err = im.error->empty() ? check_output(data, kEps) : std::string();
                    if (!im.error->empty()) r.status = "failed at this shape: " + *im.error;
                    else if (!err.empty()) {
                        r.status = "wrong: " + err;
                        exit_code = 1;
                    }
                }
                if (r.status == "ok") {
                    int next = 0;
                    auto run = im.run;
                    timed.push_back([run, next, sets](int iters) mutable {
                        return time_batch([&] {
                            run(next);
                            next = (next + 1) % sets;
                        }, iters);
                    });
                    timed_row.push_back(out.size());
                }
                out.push_back(r);
            }
            // ONNX Runtime: its driver builds the case, checks y, then times its own batches
            // (Python-driven: large shapes only).
            for (const OrtPeer &peer : ort_peers(op)) {
                OrtDriver &drv = *ort_drivers.at(peer.driver_op);
                std::fprintf(stderr, "\r[%zu/%zu] %s %s: checking %-24s", case_no, total_cases,
                             opt.shapes[si].c_str(), dt.c_str(), peer.column);
                Row o{peer.column, "peer", drv.status(), {}};
                if (drv.status() == "ok")
                    o.status = rows * cols < kOrtMinElements ? "n/a: Python-driven, large shapes only"
                                                             : drv.prepare(rows, cols, dt, sets);
                if (o.status.rfind("wrong", 0) == 0) exit_code = 1;
                if (o.status == "ok") {
                    timed.push_back([&drv](int iters) { return drv.batch(iters); });
                    timed_row.push_back(out.size());
                }
                out.push_back(o);
            }
            std::fprintf(stderr, "\r[%zu/%zu] %s %s: timing %zu implementations      ", case_no, total_cases,
                         opt.shapes[si].c_str(), dt.c_str(), timed.size());
            std::vector<Stats> st = time_interleaved_batches(timed, opt.reps, opt.batch_s);
            for (size_t i = 0; i < timed.size(); i++) {
                Row &r = out[timed_row[i]];
                r.stats = st[i];
                if (st[i].median_s < 0) r.status = "failed: the ONNX Runtime driver stopped answering", exit_code = 1;
            }

            json << (case_no > 1 ? ",\n" : "\n") << "    {\"op\": \"" << op << "\", \"shape\": \"" << opt.shapes[si]
                 << "\", \"rows\": " << rows << ", \"cols\": " << cols << ", \"dtype\": \"" << dt
                 << "\", \"bytes_moved\": " << moved
                 << ", \"buffer_sets\": " << sets << ", \"results\": [";
            for (size_t i = 0; i < out.size(); i++) {
                const Row &r = out[i];
                json << (i ? ",\n      " : "\n      ") << "{\"impl\": \"" << r.name << "\", \"group\": \"" << r.group
                     << "\", \"status\": \"" << json_escape(r.status) << "\"";
                if (r.status == "ok")
                    json << ", \"median_s\": " << r.stats.median_s << ", \"min_s\": " << r.stats.min_s
                         << ", \"max_s\": " << r.stats.max_s << ", \"gbps\": " << double(moved) / r.stats.median_s / 1e9;
                json << "}";
            }
            json << "]}";
            all_rows.push_back(out);
            case_names.push_back(opt.shapes[si] + " " + dt);
            case_ops.push_back(op);
            case_bytes.push_back(double(moved));
        }
    }
    std::fprintf(stderr, "\r%-80s\r", "");
    json << "\n  ]\n}\n";

    std::map<std::string, std::string> notes;
    // Implementations not run: the reason, and the cases it applies to (a peer can lack one dtype
    // only, e.g. oneDNN's bf16 normalization on a CPU without AVX-512).
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> not_run;
    for (const std::string &op : opt.ops) {
        size_t first = 0;
        while (first < case_ops.size() && case_ops[first] != op) first++;
        if (first == case_ops.size()) continue;
        // Table 1: GB/s (bytes the op moves / median time) per implementation.
        std::printf("\n%s: GB/s (%s, median); '-' = not run (see notes below)\n%-16s", op.c_str(),
                    op != "rms_norm_residual" ? "x read + y written" : "x and residual read, residual and y written",
                    "case");
        for (auto &r : all_rows[first]) std::printf(" %13s", column_name(r.name).c_str());
        std::printf("\n");
        for (size_t k = first; k < all_rows.size() && case_ops[k] == op; k++) {
            std::printf("%-16s", case_names[k].c_str());
            for (auto &r : all_rows[k]) {
                std::string cell = "-";
                if (r.status == "ok") {
                    cell = fmt(case_bytes[k] / r.stats.median_s / 1e9, 2);
                } else if (r.status.rfind("wrong", 0) == 0 || r.status.rfind("failed", 0) == 0) {
                    cell = r.status[0] == 'w' ? "WRONG" : "FAILED";
                    notes[r.name + " " + op + " " + case_names[k]] = r.status;
                } else {
                    not_run[{r.name, r.status}].push_back(case_names[k] + (opt.ops.size() > 1 ? " " + op : ""));
                }
                std::printf(" %13s", cell.c_str());
            }
            std::printf("\n");
        }
        if (op == "layer_norm")
            std::printf("(nf_rms_norm: NormForge's RMSNorm on the same x and weight, same run: its column in the\n"
                        " next table is RMSNorm time / LayerNorm time; < 1 = RMSNorm cheaper)\n");
        // Table 2: NormForge's speed-up over each (time ratio, same run).
        std::printf("\n%s: NormForge speed-up vs each (their median time / NormForge's; > 1 = NormForge faster)\n%-16s",
                    op.c_str(), "case");
        for (auto &r : all_rows[first]) if (r.name != "normforge") std::printf(" %13s", column_name(r.name).c_str());
        std::printf("\n");
        for (size_t k = first; k < all_rows.size() && case_ops[k] == op; k++) {
            std::printf("%-16s", case_names[k].c_str());
            const Row &nf = all_rows[k][0];
            for (auto &r : all_rows[k]) {
                if (r.name == "normforge") continue;
                std::string cell = (nf.status == "ok" && r.status == "ok") ? fmt(r.stats.median_s / nf.stats.median_s, 2) : "-";
                std::printf(" %13s", cell.c_str());
            }
            std::printf("\n");
        }
    }
    for (auto &[key, cases] : not_run) {
        // Every case for one reason: the implementation's name alone; else the cases it names.
        std::string label = key.first;
        if (cases.size() != case_names.size()) {
            label += " (";
            for (size_t i = 0; i < cases.size(); i++) label += (i ? ", " : "") + cases[i];
            label += ")";
        }
        notes[label] = key.second;
    }
    if (!notes.empty()) {
        std::printf("\nnotes:\n");
        for (auto &[k, v] : notes) std::printf("  %s: %s\n", k.c_str(), v.c_str());
    }
    std::printf("(memcpy = glibc; ntcopy = copy with streaming stores; naive = scalar loop -O3 -march=native;\n"
                " simd = hand-written intrinsics; baselines are single-threaded, the rest use --threads)\n");

    if (!opt.json_path.empty()) {
        std::ofstream f(opt.json_path);
        f << json.str();
        if (!f) {
            std::fprintf(stderr, "bench: cannot write %s\n", opt.json_path.c_str());
            return 2;
        }
        std::printf("wrote %s\n", opt.json_path.c_str());
        if (!opt.plot_path.empty()) {
            std::string cmd = std::string("'") + NF_PYTHON + "' '" + NF_PLOT_SCRIPT + "' '" + opt.json_path + "' '" +
                              opt.plot_path + "'";
            if (std::system(cmd.c_str()) != 0) {
                std::fprintf(stderr, "bench: the plot failed (matplotlib: make bench-peers installs it)\n");
                return 2;
            }
        }
    }
    std::fflush(stdout);
    return exit_code;
}

}  // namespace nfbench
