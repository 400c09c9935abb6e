// Runs tools/bench/peer_onnxruntime.py with the project's Python and reads its lines.
#include <cstdio>
#include <sstream>

#include "peers.h"

namespace nfbench {

namespace {

std::vector<std::string> split_tabs(const std::string &line) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
        if (c == '\t') { f.push_back(cur); cur.clear(); }
        else if (c != '\n') cur += c;
    }
    f.push_back(cur);
    return f;
}

}  // namespace

OrtRun run_onnxruntime(const std::string &op, const std::vector<std::string> &shapes, const std::vector<std::string> &dtypes,
                       int threads, int reps, double batch_s, int64_t min_elements) {
    OrtRun run;
    std::string big;
    for (const std::string &s : shapes) {
        long long r = 0, c = 0;
        char x = 0;
        if (std::sscanf(s.c_str(), "%lld%c%lld", &r, &x, &c) == 3 && r * c >= min_elements)
            big += (big.empty() ? "" : ",") + s;
    }
    if (big.empty()) {
        run.status = "no shape large enough (Python-driven: large shapes only)";
        return run;
    }
    std::string dts;
    for (const std::string &d : dtypes) dts += (dts.empty() ? "" : ",") + d;
    std::ostringstream cmd;
    cmd << "'" << NF_PYTHON << "' '" << NF_ORT_SCRIPT << "' --op " << op << " --shapes " << big << " --dtypes " << dts
        << " --threads " << threads << " --reps " << reps << " --batch-s " << batch_s << " 2>&1";
    FILE *p = popen(cmd.str().c_str(), "r");
    if (p == nullptr) {
        run.status = "could not start " + std::string(NF_PYTHON);
        return run;
    }
    char buf[4096];
    run.status = "no answer from the ONNX Runtime driver";
    while (std::fgets(buf, sizeof buf, p)) {
        std::vector<std::string> f = split_tabs(buf);
        if (f[0] == "status" && f.size() >= 3) {
            run.status = f[1];
            run.version = f[2];
        } else if (f[0] == "result" && f.size() >= 7) {
            OrtResult r;
            r.status = f[3];
            r.stats.median_s = std::atof(f[4].c_str());
            r.stats.min_s = std::atof(f[5].c_str());
            r.stats.max_s = std::atof(f[6].c_str());
            run.results.push_back({f[1] + "/" + f[2], r});
        } else if (run.status != "ok") {
            run.status = std::string("driver failed: ") + buf;
        }
    }
    pclose(p);
    return run;
}

}  // namespace nfbench
