#include "tune/tune.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "bench/machine.h"
#include "bench/timing.h"
#include "compile_manifest.h"
#include "halide_call.h"  // runtime/src: shape_class_of, the runtime's shape classes
#include "normforge/normforge.h"
#include "schedules/knobs.h"
#include "tune/json.h"

namespace nftune {

using normforge::CpuKnobs;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_sigint(int) { g_stop = 1; }

std::string quote(const std::string &s) { return "'" + s + "'"; }

bool run_cmd(const std::string &cmd, std::string *output) {
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return false;
    char buf[4096];
    std::string out;
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    int rc = pclose(p);
    if (output) *output = out;
    return rc == 0;
}

// A candidate's knobs as text (its record key; hoist_weight only where it is not the default 1,
// so the keys of earlier record logs stay valid).
std::string knob_text(const CpuKnobs &k) {
    std::ostringstream os;
    os << "vec_mult=" << k.vec_mult << " rows_per_task=" << k.rows_per_task << " parallel=" << k.parallel
       << " unroll=" << k.unroll << " stream_rows=" << k.stream_rows;
    if (k.hoist_weight != 1) os << " hoist_weight=" << k.hoist_weight;
    return os.str();
}

// The knobs of a manifest entry's text ("k=v ..."), with its per-level knobs ("avx512.k=v") for
// `level` and then for `flavour` ("avx512_zen4.k=v") applied (the kernel the build compiled for
// that target).
normforge::CpuKnobs parse_knobs(const std::string &text, const std::string &level, const std::string &flavour) {
    normforge::CpuKnobs k;
    std::istringstream is(text);
    std::string kv;
    std::vector<std::string> overrides[2];
    while (is >> kv) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos) continue;
        std::string key = kv.substr(0, eq);
        const std::string *levels[2] = {&level, &flavour};
        bool at_level = false;
        for (int i = 0; i < 2; i++)
            if (!levels[i]->empty() && key.rfind(*levels[i] + ".", 0) == 0) {
                overrides[i].push_back(kv.substr(levels[i]->size() + 1));
                at_level = true;
            }
        if (at_level || key.find('.') != std::string::npos) continue;  // this level's, or another level's
        if (int *f = normforge::knob_field(k, key)) *f = std::atoi(kv.c_str() + eq + 1);
    }
    for (const std::vector<std::string> &os : overrides)
        for (const std::string &o : os)
            if (int *f = normforge::knob_field(k, o.substr(0, o.find('='))))
                *f = std::atoi(o.c_str() + o.find('=') + 1);
    return k;
}

std::string tunable_ops() {
    return "rms_norm, rms_norm_pipelined, rms_norm_residual, layer_norm, rms_norm_backward, rms_norm_dweight";
}

// The backward kernels (dx and dw): serial, run per block of rows by the runtime, one class.
bool backward_op(const std::string &op) { return op == "rms_norm_backward" || op == "rms_norm_dweight"; }

// Serial kernels that the runtime runs on the thread pool itself (in blocks of rows, or chains
// of one-row calls): their space has parallel = 0 and rows_per_task = 1.
bool serial_op(const std::string &op) {
    return backward_op(op) || op == "rms_norm_residual" || op == "rms_norm_pipelined";
}

const char *class_name(normforge::KernelClass c) {
    return c == normforge::NF_CLASS_small ? "small" : c == normforge::NF_CLASS_medium ? "medium" : "large";
}

// The shape class of a tuning shape: the backward kernels have the one class block, the
// pipelined kernel the one class medium (its kernel, which nf_rms_norm runs on medium and large
// calls alike).
std::string tune_class(const std::string &op, int64_t rows, int64_t cols, size_t es) {
    if (backward_op(op)) return "block";
    if (op == "rms_norm_pipelined") return "medium";
    return class_name(normforge::shape_class_of(rows, cols, es));
}

struct Shape {
    std::string text;
    int64_t rows, cols;
    std::string cls;
    double bytes_moved;
};

struct Result {
    std::string status = "not run";  // ok, wrong ..., failed ...
    double median_s = 0, min_s = 0, max_s = 0;
};

struct Candidate {
    std::string kind;   // default, search, autoscheduler
    std::string name;   // knob text, or the autoscheduler's name
    CpuKnobs knobs;     // for default/search
    std::string cls;    // default: the class whose default it is
    std::string key() const { return kind == "autoscheduler" ? name : knob_text(knobs); }
    std::string build_key() const {
        if (kind == "autoscheduler") return name;
        CpuKnobs k = knobs;
        k.stream_rows = 0;  // a runtime knob: the same kernel
        return knob_text(k);
    }
};

struct Tuner {
    TuneOptions opt;
    std::string family, target, halide_target, dtype_halide, generator, op_params;
    bool pairs = false;  // dtype bf16p
    int natural = 4;
    std::string work, runner_objs, cxx;
    std::vector<Shape> shapes;
    std::map<std::string, std::string> exes;  // build key -> executable ("" = failed to build)
    std::map<std::string, std::string> build_errors;
    std::map<std::pair<std::string, std::string>, Result> results;  // (candidate key, shape)
    std::ofstream log;
    std::string cpu_model, date;
    int built = 0, resumed = 0, search_done = 0;
    double t0 = 0;

    bool setup(std::string *err);
    bool build(const Candidate &c, std::string *exe);
    void measure(const Candidate &c, int reps, int corrupt, const std::string &phase);
    double class_score(const Candidate &c, const std::string &cls) const;
    void progress(const std::string &now, const std::vector<Candidate> &best);
};

bool Tuner::setup(std::string *err) {
    // Target: the host's dispatched level, or a named Halide target.
    std::string t = opt.target;
    if (t == "host") {
        const std::string v = nf_cpu_variant();
        std::istringstream is(nf_compiled_targets());
        std::string c;
        while (is >> c)
            if (c.find("-" + v) != std::string::npos) t = c;
        if (t == "host") t = v.rfind("arm64", 0) == 0 ? (v == "arm64_neon_fp16" ? "arm-64-linux-arm_fp16" : "arm-64-linux") : "";
        if (t.empty()) return *err = "cannot name the host's target (" + v + ")", false;
    }
    target = t;
    if (t.rfind("x86-64", 0) == 0) {
        family = "x86-64";
        natural = t.find("avx512") != std::string::npos ? 16 : t.find("avx") != std::string::npos ? 8 : 4;
    } else if (t.rfind("arm-64", 0) == 0) {
        family = "arm-64";
        natural = 4;
    } else {
        return *err = "target '" + t + "' is not supported (x86-64-linux-..., arm-64-linux[-arm_fp16])", false;
    }
    if (opt.per_level && family != "x86-64")
        return *err = "--per-level is for x86-64 targets (the levels avx512, avx2, sse41)", false;
    halide_target = t + (t.find("large_buffers") == std::string::npos ? "-large_buffers" : "");
    const bool cross = family != (std::string(nf_cpu_variant()).rfind("arm64", 0) == 0 ? "arm-64" : "x86-64");
    if (cross && opt.runner.empty())
        return *err = "target " + t + " does not run on this machine: give --runner (e.g. 'qemu-aarch64 -L /usr/aarch64-linux-gnu')", false;
    cxx = family == "arm-64" && cross ? "aarch64-linux-gnu-g++" : "c++";

    // bf16p: the bf16 pair kernels (generators/bf16_pairs.h; x86-64, rms_norm, its pipelined
    // kernel and the fused op): the runner keeps bf16 data and passes it as fp32 pairs (--pairs).
    std::map<std::string, std::string> types = {
        {"f32", "float32"}, {"f16", "float16"}, {"bf16", "bfloat16"}, {"bf16p", "bfloat16"}};
    if (!types.count(opt.dtype)) return *err = "dtype '" + opt.dtype + "' is not one of f32, f16, bf16, bf16p", false;
    dtype_halide = types[opt.dtype];
    pairs = opt.dtype == "bf16p";
    if (pairs && (family != "x86-64" ||
                  (opt.op != "rms_norm" && opt.op != "rms_norm_pipelined" && opt.op != "rms_norm_residual")))
        return *err = "dtype bf16p (the bf16 pair kernels) is for x86-64 targets and the ops rms_norm, "
                      "rms_norm_pipelined and rms_norm_residual",
               false;
    if (opt.op == "rms_norm" || opt.op == "rms_norm_residual") {
        generator = "rms_norm";
        op_params = "op=" + opt.op + " dtype=" + dtype_halide + " weight_mode=scale rounding=once";
    } else if (opt.op == "rms_norm_pipelined") {
        generator = "rms_norm_pipelined";
        op_params = "dtype=" + dtype_halide + " weight_mode=scale rounding=once";
    } else if (opt.op == "layer_norm") {
        generator = "layer_norm";
        op_params = "dtype=" + dtype_halide + " has_weight=true has_bias=true";
    } else if (opt.op == "rms_norm_backward") {
        generator = "rms_norm_backward";
        op_params = "dtype=" + dtype_halide + " weight_mode=scale";
    } else if (opt.op == "rms_norm_dweight") {
        generator = "rms_norm_dweight";
        op_params = "dtype=" + dtype_halide;
    } else {
        return *err = "op '" + opt.op + "' is not tunable (" + tunable_ops() + ")", false;
    }
    if (pairs) op_params += " pairs=true";
    for (const std::string &s : opt.shapes) {
        long long r = 0, c = 0;
        char x = 0;
        if (std::sscanf(s.c_str(), "%lld%c%lld", &r, &x, &c) != 3 || x != 'x' || r <= 0 || c <= 0)
            return *err = "bad shape '" + s + "' (want ROWSxCOLS)", false;
        if (pairs && c % 2 != 0)
            return *err = "shape '" + s + "': the bf16 pair kernels need an even number of columns", false;
        const size_t es = opt.dtype == "f32" ? 4 : 2;
        // Matrices moved per call: x and y; the fused op x, residual (read and written) and y;
        // dx: dy, x read and dx written; dw: dy and x read. The backward kernels have one class.
        const int matrices = opt.op == "rms_norm_residual" ? 4 : opt.op == "rms_norm_backward" ? 3 : 2;
        shapes.push_back({s, r, c, tune_class(opt.op, r, c, es), double(matrices * r * c * es)});
    }
    if (shapes.empty()) return *err = "no shapes", false;

    char tmpl[] = "/tmp/nf-tune-XXXXXX";
    if (!mkdtemp(tmpl)) return *err = "cannot create a work directory", false;
    work = tmpl;
    const std::string inc = std::string(" -I") + quote(NF_HALIDE_INCLUDE_DIR) + " -I" + quote(NF_TOOLS_DIR) + " -I" +
                            quote(NF_RUNTIME_SRC_DIR);
    std::string out;
    if (!run_cmd(cxx + " -O2 -std=c++17" + inc + " -c " + quote(std::string(NF_TOOLS_DIR) + "/tune/runner.cpp") +
                     " -o " + quote(work + "/runner.o") + " && " + cxx + " -O2 -std=c++17" + inc + " -c " +
                     quote(std::string(NF_RUNTIME_SRC_DIR) + "/stream_copy.cpp") + " -o " + quote(work + "/sc.o"),
                 &out))
        return *err = "compiling the runner with " + cxx + " failed:\n" + out, false;
    runner_objs = quote(work + "/runner.o") + " " + quote(work + "/sc.o");

    nfbench::Machine m = nfbench::describe_machine();
    cpu_model = m.cpu_model;
    date = nfbench::utc_date();
    return true;
}

bool Tuner::build(const Candidate &c, std::string *exe) {
    const std::string bk = c.build_key();
    auto it = exes.find(bk);
    if (it != exes.end()) {
        *exe = it->second;
        return !exe->empty();
    }
    const std::string dir = work + "/c" + std::to_string(exes.size());
    mkdir(dir.c_str(), 0755);
    std::string cmd = quote(NF_GENERATOR_PATH) + " -g " + generator + " -f nf_tune_kernel -e static_library -o " +
                      quote(dir) + " target=" + halide_target + " " + op_params;
    if (c.kind == "autoscheduler") {
        std::string lower = c.name;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        cmd += " -p " + quote(std::string(NF_AUTOSCHEDULER_DIR) + "/libautoschedule_" + lower + ".so") +
               " autoscheduler=" + c.name;
    } else {
        const CpuKnobs &k = c.knobs;
        cmd += " vec_mult=" + std::to_string(k.vec_mult) + " rows_per_task=" + std::to_string(k.rows_per_task) +
               " parallel=" + std::to_string(k.parallel) + " unroll=" + std::to_string(k.unroll);
        // The hand-set hoist_weight as the build has it for this target (an avx512_zen4 member
        // turns it off): the default candidate is then the build's kernel. (prefetch stays off in
        // every candidate: schedules/knobs.h.)
        if (k.hoist_weight != 1) cmd += " hoist_weight=" + std::to_string(k.hoist_weight);
    }
    std::string out;
    bool ok = run_cmd(cmd, &out) &&
              run_cmd(cxx + " -o " + quote(dir + "/cand") + " " + runner_objs + " " + quote(dir + "/nf_tune_kernel.a") +
                          " -lpthread -ldl",
                      &out);
    built++;
    if (!ok) {
        size_t p = out.find("Error");
        build_errors[bk] = p == std::string::npos ? out.substr(0, 160) : out.substr(p, std::min<size_t>(160, out.find('\n', p) - p));
        exes[bk] = "";
        return false;
    }
    exes[bk] = *exe = dir + "/cand";
    return true;
}

void Tuner::measure(const Candidate &c, int reps, int corrupt, const std::string &phase) {
    // Which shapes still need a number (resumed or already measured ones are kept).
    std::vector<size_t> todo;
    for (size_t i = 0; i < shapes.size(); i++)
        if (phase != "search" || !results.count({c.key(), shapes[i].text})) todo.push_back(i);
    if (todo.empty()) return;
    std::string exe;
    std::vector<Result> res(todo.size());
    if (!build(c, &exe)) {
        for (auto &r : res) r.status = "failed to build: " + build_errors[c.build_key()];
    } else {
        // An autoscheduler's pipeline is called on the whole shape (its own schedule decides how
        // to tile it), ours the way the runtime calls it.
        std::string cmd = (opt.runner.empty() ? "" : opt.runner + " ") + quote(exe) + " --op " + opt.op +
                          " --threads " + std::to_string(opt.threads) + " --reps " + std::to_string(reps) +
                          (opt.warm ? " --warm" : "") + (corrupt ? " --corrupt" : "") +
                          (c.kind == "autoscheduler" ? " --whole" : "") + (pairs ? " --pairs" : "");
        for (size_t i : todo) {
            const bool large = shapes[i].cls == "large" && c.kind != "autoscheduler";
            cmd += " --case " + shapes[i].text + ":" + std::to_string(large ? c.knobs.stream_rows : 0);
        }
        std::string out;
        run_cmd(cmd, &out);
        std::istringstream is(out);
        std::string line;
        size_t n = 0;
        while (std::getline(is, line) && n < res.size()) {
            if (line.rfind("ok ", 0) == 0) {
                res[n].status = "ok";
                std::sscanf(line.c_str() + 3, "%lf %lf %lf", &res[n].median_s, &res[n].min_s, &res[n].max_s);
                n++;
            } else if (line.rfind("wrong ", 0) == 0 || line.rfind("failed ", 0) == 0) {
                res[n++].status = line;
            }
        }
        for (; n < res.size(); n++) res[n].status = "failed: the runner stopped (" + out.substr(0, 120) + ")";
    }
    // Ctrl-C reaches the generator and the runner too: what they left unfinished is not a result
    // (and must not be skipped as "measured" by a later --resume).
    if (g_stop) {
        exes.erase(c.build_key());
        build_errors.erase(c.build_key());
        return;
    }
    for (size_t j = 0; j < todo.size(); j++) {
        const Shape &s = shapes[todo[j]];
        const Result &r = res[j];
        results[{c.key(), s.text}] = r;
        Json rec = Json::object();
        rec.set("op", Json::string(opt.op));
        rec.set("dtype", Json::string(opt.dtype));
        rec.set("target", Json::string(target));
        rec.set("shape", Json::string(s.text));
        rec.set("shape_class", Json::string(s.cls));
        rec.set("candidate", Json::string(c.kind));
        if (c.kind == "autoscheduler") {
            rec.set("autoscheduler", Json::string(c.name));
        } else {
            Json k = Json::object();
            CpuKnobs kk = c.knobs;
            for (const char *f : normforge::kSearchedKnobs)
                k.set(f, Json::number(*normforge::knob_field(kk, f)));
            rec.set("knobs", k);
        }
        rec.set("phase", Json::string(phase));
        rec.set("status", Json::string(r.status));
        if (r.status == "ok") {
            rec.set("median_s", Json::number(r.median_s));
            rec.set("min_s", Json::number(r.min_s));
            rec.set("gbps", Json::number(s.bytes_moved / r.median_s / 1e9));
        }
        rec.set("timing", Json::string(opt.runner.empty() ? "native" : "through --runner (not meaningful under emulation)"));
        rec.set("halide", Json::string(NF_HALIDE_VERSION));
        rec.set("cpu", Json::string(cpu_model));
        rec.set("threads", Json::number(opt.threads));
        rec.set("date", Json::string(date));
        log << dump_json(rec, 0) << "\n";
        log.flush();
    }
}

// Sum of the class's median times (seconds), or a huge number when any shape failed.
double Tuner::class_score(const Candidate &c, const std::string &cls) const {
    double sum = 0;
    for (const Shape &s : shapes) {
        if (s.cls != cls) continue;
        auto it = results.find({c.key(), s.text});
        if (it == results.end() || it->second.status != "ok") return 1e30;
        sum += it->second.median_s;
    }
    return sum;
}

void Tuner::progress(const std::string &now, const std::vector<Candidate> &best) {
    std::string b;
    for (const Candidate &c : best) {
        double bytes = 0, t = 0;
        for (const Shape &s : shapes)
            if (s.cls == c.cls) bytes += s.bytes_moved;
        t = class_score(c, c.cls);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s %.1f ", c.cls.c_str(), t < 1e29 ? bytes / t / 1e9 : 0.0);
        b += buf;
    }
    std::fprintf(stderr, "\r[%d searched, %d built, %.0f/%.0f s] best GB/s: %s| now: %-36s", search_done, built,
                 nfbench::now_s() - t0, opt.budget_s, b.c_str(), now.substr(0, 36).c_str());
    std::fflush(stderr);
}

std::string fmt(double v, int prec = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

}  // namespace

int run_tune(const TuneOptions &o) {
    Tuner T;
    T.opt = o;
    std::string err;
    if (!T.setup(&err)) {
        std::fprintf(stderr, "tune: %s\n", err.c_str());
        return 2;
    }
    std::string log_path = o.log;
    if (log_path.empty()) {
        std::string dir = o.out.empty() ? "." : o.out.substr(0, o.out.rfind('/') == std::string::npos ? 0 : o.out.rfind('/'));
        log_path = (dir.empty() ? "." : dir) + "/tune-records.jsonl";
    }
    // --resume: measurements of this (op, dtype, target, threads) already in the log.
    if (o.resume) {
        std::ifstream in(log_path);
        std::string line;
        while (std::getline(in, line)) {
            Json r;
            if (!parse_json(line, &r, nullptr)) continue;
            auto str = [&](const char *k) { const Json *v = r.get(k); return v ? v->str : std::string(); };
            const Json *th = r.get("threads");
            if (str("op") != o.op || str("dtype") != o.dtype || str("target") != T.target || !th ||
                int(th->num) != o.threads || str("phase") != "search")
                continue;
            Candidate c;
            c.kind = str("candidate");
            if (c.kind == "autoscheduler") c.name = str("autoscheduler");
            else if (const Json *k = r.get("knobs"))
                for (auto &f : k->fields) *normforge::knob_field(c.knobs, f.first) = int(f.second.num);
            Result res;
            res.status = str("status");
            if (const Json *m = r.get("median_s")) res.median_s = m->num;
            if (const Json *m = r.get("min_s")) res.min_s = m->num;
            T.results[{c.key(), str("shape")}] = res;
            T.resumed++;
        }
    }
    T.log.open(log_path, std::ios::app);
    if (!T.log) {
        std::fprintf(stderr, "tune: cannot write the record log %s\n", log_path.c_str());
        return 2;
    }
    std::signal(SIGINT, on_sigint);
    T.t0 = nfbench::now_s();

    std::set<std::string> classes;
    for (const Shape &s : T.shapes) classes.insert(s.cls);
    std::printf("tune %s %s for %s (%s family, %d fp32 lanes), %d thread(s), shapes:", o.op.c_str(), o.dtype.c_str(),
                T.target.c_str(), T.family.c_str(), T.natural, o.threads);
    for (const Shape &s : T.shapes) std::printf(" %s (%s)", s.text.c_str(), s.cls.c_str());
    std::printf("\nrecords: %s%s\n", log_path.c_str(),
                o.resume ? (" (resumed " + std::to_string(T.resumed) + " measurements)").c_str() : "");
    if (!o.runner.empty()) std::printf("runner: %s (timings under emulation are not meaningful)\n", o.runner.c_str());

    // Baselines: the hand-written defaults of each class (from the build's manifest) and the
    // autoschedulers that apply to CPUs.
    std::vector<Candidate> defaults;
    const std::string kname_prefix = "nf_k_" + o.op + "_" + o.dtype + "_scale_once_" + (o.op == "layer_norm" ? "bias_" : "");
    for (const std::string &cls : classes) {
        for (size_t i = 0; i < nftools::kManifestSize; i++) {
            const nftools::ManifestEntry &e = nftools::kManifest[i];
            if (T.family == e.family && std::string(e.name) == kname_prefix + cls) {
                const std::string level = T.family == "x86-64" ? normforge::knob_level_of_lanes(T.natural) : "";
                Candidate c{"default", "", parse_knobs(e.knobs, level, level.empty() ? "" : normforge::knob_flavour_of_target(T.target)), cls};
                defaults.push_back(c);
            }
        }
    }
    std::vector<Candidate> autos;
    if (!o.no_baselines)
        for (const char *a : {"Mullapudi2016", "Li2018", "Adams2019"}) autos.push_back({"autoscheduler", a, {}, ""});
    for (const Candidate &c : defaults) {
        T.progress("default " + c.cls, {});
        T.measure(c, o.reps, 0, "search");
    }

    // The search space, restricted, and the order to try it in.
    std::vector<CpuKnobs> space = normforge::enumerate_cpu_knobs(
        T.family == "x86-64" ? normforge::x86_knob_space() : normforge::arm_knob_space(), T.natural);
    if (!classes.count("large"))  // stream_rows only acts on large calls
        space.erase(std::remove_if(space.begin(), space.end(), [](const CpuKnobs &k) { return k.stream_rows != 0; }),
                    space.end());
    if (serial_op(o.op))  // serial kernels: the runtime runs their blocks or chains on the thread pool
        space.erase(std::remove_if(space.begin(), space.end(),
                                   [](const CpuKnobs &k) { return k.parallel != 0 || k.rows_per_task != 1; }),
                    space.end());
    // hoist_weight is set by hand, not searched: the candidates take the build's value for this
    // target (the entry keeps it when a winner is written).
    if (!defaults.empty())
        for (CpuKnobs &k : space) k.hoist_weight = defaults[0].knobs.hoist_weight;
    if (o.per_level && !defaults.empty()) {
        // A level may change vec_mult, rows_per_task and unroll only: search those, at the
        // parallel and stream_rows of the entries (when the tuned classes agree on them).
        bool same = true;
        for (const Candidate &d : defaults)
            same = same && d.knobs.parallel == defaults[0].knobs.parallel &&
                   d.knobs.stream_rows == defaults[0].knobs.stream_rows;
        const CpuKnobs f = defaults[0].knobs;
        if (same)
            space.erase(std::remove_if(space.begin(), space.end(),
                                       [&](const CpuKnobs &k) {
                                           return k.parallel != f.parallel || k.stream_rows != f.stream_rows;
                                       }),
                        space.end());
    }
    std::string strategy = o.strategy;
    // About 3 s a candidate here (generator + link + run): a space that fits the budget is
    // searched exhaustively, a larger one by successive halving over a random sample.
    const size_t affordable = size_t(std::max(1.0, o.budget_s / 3.0));
    if (strategy == "auto") strategy = space.size() <= affordable ? "exhaustive" : "halving";
    if (strategy != "exhaustive" && strategy != "random" && strategy != "halving") {
        std::fprintf(stderr, "tune: strategy '%s' is not one of auto, exhaustive, random, halving\n", strategy.c_str());
        return 2;
    }
    std::mt19937 rng(o.seed);
    if (strategy != "exhaustive") std::shuffle(space.begin(), space.end(), rng);
    size_t limit = space.size();
    if (o.trials > 0) limit = std::min(limit, size_t(o.trials));
    std::printf("search: %zu candidates in the space (%s), strategy %s, budget %.0f s%s\n", space.size(),
                T.family == "x86-64" ? "x86_knob_space" : "arm_knob_space", strategy.c_str(), o.budget_s,
                o.trials > 0 ? (", at most " + std::to_string(o.trials) + " trials").c_str() : "");

    auto best_of = [&](const std::vector<Candidate> &pool, const std::string &cls) {
        const Candidate *best = nullptr;
        for (const Candidate &c : pool)
            if (T.class_score(c, cls) < 1e29 && (!best || T.class_score(c, cls) < T.class_score(*best, cls))) best = &c;
        return best;
    };
    std::vector<Candidate> searched;
    // The search leaves time for the final side-by-side measurements (and, under halving, the
    // second measurement of the best third), so that the whole run fits the budget.
    const double search_budget = (strategy == "halving" ? 0.6 : 0.75) * o.budget_s;
    for (size_t i = 0; i < limit && !g_stop; i++) {
        if (nfbench::now_s() - T.t0 > search_budget) break;
        Candidate c{"search", "", space[i], ""};
        std::vector<Candidate> best;
        for (const std::string &cls : classes) {
            std::vector<Candidate> pool = defaults;
            pool.insert(pool.end(), searched.begin(), searched.end());
            if (const Candidate *b = best_of(pool, cls)) best.push_back(*b), best.back().cls = cls;
        }
        T.progress(c.key(), best);
        T.measure(c, strategy == "halving" ? std::max(3, o.reps / 2) : o.reps, int(i) == o.corrupt_candidate, "search");
        searched.push_back(c);
        T.search_done++;
    }
    if (strategy == "halving" && !g_stop) {
        // Successive halving: the best third of each class again, with full repetitions.
        std::set<std::string> keep;
        for (const std::string &cls : classes) {
            std::vector<const Candidate *> ok;
            for (const Candidate &c : searched)
                if (T.class_score(c, cls) < 1e29) ok.push_back(&c);
            std::sort(ok.begin(), ok.end(), [&](const Candidate *a, const Candidate *b) {
                return T.class_score(*a, cls) < T.class_score(*b, cls);
            });
            for (size_t i = 0; i < std::max<size_t>(1, ok.size() / 3) && i < ok.size(); i++) keep.insert(ok[i]->key());
        }
        for (const Candidate &c : searched)
            if (keep.count(c.key()) && !g_stop) {
                T.progress("re-measuring " + c.key(), {});
                T.measure(c, o.reps, 0, "halving");
            }
    }

    // Baselines and winners, measured again side by side with full repetitions.
    std::vector<Candidate> winners;
    for (const std::string &cls : classes) {
        std::vector<Candidate> pool = defaults;
        pool.insert(pool.end(), searched.begin(), searched.end());
        const Candidate *b = best_of(pool, cls);
        if (b) winners.push_back(*b), winners.back().cls = cls;
    }
    std::vector<Candidate> finals = defaults;
    finals.insert(finals.end(), autos.begin(), autos.end());
    finals.insert(finals.end(), winners.begin(), winners.end());
    if (!g_stop)
        for (const Candidate &c : finals) {
            T.progress("final " + (c.kind == "autoscheduler" ? c.name : c.kind + " " + c.cls), winners);
            T.measure(c, o.reps, 0, "final");
        }
    std::fprintf(stderr, "\r%-150s\r", "");
    if (g_stop) std::printf("interrupted: keeping what was found\n");
    // A winner must also beat its class's default in the final measurements (same phase);
    // otherwise the default stays.
    for (Candidate &w : winners)
        for (const Candidate &d : defaults)
            if (d.cls == w.cls && w.kind != "default" && T.class_score(d, w.cls) <= T.class_score(w, w.cls)) {
                std::string cls = w.cls;
                w = d;
                w.cls = cls;
            }

    // The table: GB/s per shape, each class's default and winner, each autoscheduler.
    auto cell = [&](const Candidate &c, const Shape &s) -> std::string {
        auto it = T.results.find({c.key(), s.text});
        if (it == T.results.end()) return "-";
        if (it->second.status != "ok") return it->second.status.rfind("wrong", 0) == 0 ? "WRONG" : "FAILED";
        return fmt(s.bytes_moved / it->second.median_s / 1e9);
    };
    auto time_of = [&](const Candidate &c, const Shape &s) {
        auto it = T.results.find({c.key(), s.text});
        return it != T.results.end() && it->second.status == "ok" ? it->second.median_s : 0.0;
    };
    std::printf("\nGB/s (median of %d; final measurements, same run):\n%-14s %-7s %9s", o.reps, "shape", "class", "default");
    for (const Candidate &a : autos) std::printf(" %13s", a.name.c_str());
    std::printf(" %9s %11s %14s  tuned knobs\n", "tuned", "vs default", "vs best auto");
    for (const Shape &s : T.shapes) {
        const Candidate *d = nullptr, *w = nullptr;
        for (const Candidate &c : defaults) if (c.cls == s.cls) d = &c;
        for (const Candidate &c : winners) if (c.cls == s.cls) w = &c;
        std::printf("%-14s %-7s %9s", s.text.c_str(), s.cls.c_str(), d ? cell(*d, s).c_str() : "-");
        double best_auto = 0;
        for (const Candidate &a : autos) {
            std::printf(" %13s", cell(a, s).c_str());
            double t = time_of(a, s);
            if (t > 0 && (best_auto == 0 || t < best_auto)) best_auto = t;
        }
        double tw = w ? time_of(*w, s) : 0, td = d ? time_of(*d, s) : 0;
        std::printf(" %9s %11s %14s  %s\n", w ? cell(*w, s).c_str() : "-",
                    tw > 0 && td > 0 ? (fmt(td / tw) + "x").c_str() : "-",
                    tw > 0 && best_auto > 0 ? (fmt(best_auto / tw) + "x").c_str() : "-",
                    w ? (w->key() + (d && d->key() == w->key() ? " (the default)" : "")).c_str() : "-");
    }
    for (auto &[k, e] : T.build_errors) std::printf("note: %s did not build: %s\n", k.c_str(), e.c_str());
    int wrong = 0;
    for (auto &[k, r] : T.results) wrong += r.status.rfind("wrong", 0) == 0;
    if (wrong) std::printf("note: %d measurement(s) rejected: output differs from the float64 reference (see records)\n", wrong);
    std::printf("%d candidates searched, %d built, %.0f s\n", T.search_done, T.built, nfbench::now_s() - T.t0);

    // The db: the winner of each class (the default when nothing beat it).
    if (!o.out.empty() && !winners.empty()) {
        Json db = Json::object();
        std::ifstream in(o.out);
        if (in) {
            std::stringstream ss;
            ss << in.rdbuf();
            std::string perr;
            if (!ss.str().empty() && !parse_json(ss.str(), &db, &perr)) {
                std::fprintf(stderr, "tune: %s is not valid JSON (%s); not overwriting it\n", o.out.c_str(), perr.c_str());
                return 2;
            }
        }
        if (!db.get("comment"))
            db.set("comment", Json::string("Tuned knobs written by normforge tune (see README); the build prefers "
                                           "these over defaults.json. Keys starting with _ are notes."));
        const std::string level = o.per_level ? normforge::knob_level_of_lanes(T.natural) : "";
        std::vector<Candidate> written;
        for (const Candidate &w : winners) {
            Json e = Json::object();
            CpuKnobs kk = w.knobs;
            if (w.cls != "large") kk.stream_rows = 0;  // the runtime streams large calls only
            Json *family_entry = nullptr;
            // The entry this class has now, if any.
            const Json *have = db.get(T.family);
            for (const std::string &k : {o.op, o.dtype, w.cls}) have = have ? have->get(k) : nullptr;
            if (o.per_level) {
                // Only the knobs that may differ per level go in; the entry keeps the rest.
                const Json *par = have ? have->get("parallel") : nullptr, *sr = have ? have->get("stream_rows") : nullptr;
                if (par == nullptr || sr == nullptr || par->kind != Json::Number || sr->kind != Json::Number) {
                    std::printf("%s: no family-wide entry in %s to add %s knobs to (tune without --per-level "
                                "first): not written\n", w.cls.c_str(), o.out.c_str(), level.c_str());
                    continue;
                }
                if (int(par->num) != kk.parallel || int(sr->num) != kk.stream_rows) {
                    std::printf("%s: the winner has parallel=%d stream_rows=%d, the family-wide entry %d and %d; "
                                "a level may change vec_mult, rows_per_task and unroll only: not written\n",
                                w.cls.c_str(), kk.parallel, kk.stream_rows, int(par->num), int(sr->num));
                    continue;
                }
                family_entry = &db.at(T.family).at(o.op).at(o.dtype).at(w.cls);  // exists
                for (const char *f : normforge::kPerLevelKnobs)
                    e.set(f, Json::number(*normforge::knob_field(kk, f)));
            } else {
                for (const char *f : normforge::kSearchedKnobs)
                    e.set(f, Json::number(*normforge::knob_field(kk, f)));
                // prefetch and hoist_weight are set by hand, not searched (schedules/knobs.h): the
                // entry keeps them, also where a level member turns them off (that member's searched
                // knobs go: they were measured against the knobs this run replaces).
                for (const char *hk : normforge::kHandLevelKnobs) {
                    const Json *v = have ? have->get(hk) : nullptr;
                    if (v == nullptr || v->kind != Json::Number) continue;
                    e.set(hk, *v);
                    std::printf("%s: kept %s=%d from the entry (the tuner does not search it)\n", w.cls.c_str(), hk,
                                int(v->num));
                }
                for (const char *lv : normforge::kKnobLevels) {
                    const Json *m = have ? have->get(lv) : nullptr;
                    Json kept = Json::object();
                    bool any = false;
                    for (const char *hk : normforge::kHandLevelKnobs) {
                        const Json *v = m ? m->get(hk) : nullptr;
                        if (v == nullptr || v->kind != Json::Number) continue;
                        kept.set(hk, *v);
                        any = true;
                        std::printf("%s: kept %s=%d at %s from the entry\n", w.cls.c_str(), hk, int(v->num), lv);
                    }
                    if (!any) continue;
                    if (const Json *note = m->get("_note")) kept.set("_note", *note);
                    e.set(lv, kept);
                }
            }
            double td = 0, tw = 0;
            for (const Shape &s : T.shapes)
                if (s.cls == w.cls)
                    for (const Candidate &d : defaults)
                        if (d.cls == w.cls) td += time_of(d, s), tw += time_of(w, s);
            // "nothing beat the default" only when the winner is this class's own default (another
            // class's default can win a class).
            bool own_default = false;
            for (const Candidate &d : defaults) own_default = own_default || (d.cls == w.cls && d.key() == w.key());
            e.set("_tuned", Json::string(T.date + ", " + T.cpu_model + ", " + std::to_string(o.threads) + " thread(s), " +
                                         T.target + (own_default ? ", nothing beat the default" : "")));
            if (td > 0 && tw > 0) e.set("_speedup_vs_default", Json::number(double(int(td / tw * 100 + 0.5)) / 100));
            if (family_entry != nullptr) {
                family_entry->set(level, e);
            } else {
                db.at(T.family).at(o.op).at(o.dtype).set(w.cls, e);
            }
            written.push_back(w);
        }
        std::ofstream f(o.out);
        f << dump_json(db, 2) << "\n";
        if (!f) {
            std::fprintf(stderr, "tune: cannot write %s\n", o.out.c_str());
            return 2;
        }
        std::printf("wrote %s (%s/%s/%s: ", o.out.c_str(), T.family.c_str(), o.op.c_str(), o.dtype.c_str());
        for (const Candidate &w : written) std::printf("%s%s ", level.empty() ? "" : (level + " of ").c_str(), w.cls.c_str());
        std::printf(") - rebuild to compile them\n");
    }
    std::string rm;
    run_cmd("rm -rf " + quote(T.work), &rm);
    return 0;
}

}  // namespace nftune
