// Build tool: runs the generators (nf_generators) for a kernel with knob prefetch = 1 and
// rewrites the hint of its prefetches from prefetchnta to prefetcht0 (why:
// schedules/next_row_prefetch.h). Called by add_halide_library with the generators' own
// arguments; also asks them for assembly, and for each target's assembly that holds the
// kernel's prefetches, replaces the hint and assembles it over that target's object. Fails
// (and the build with it) when a target's code has no prefetch at all: the lowering pass then
// no longer finds the output loop, which must not pass silently. A target whose level knobs
// turn the prefetch off (level_knobs "...:prefetch:0", schedules/knobs.h) must have none.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "schedules/knobs.h"

namespace {

int run(const std::vector<std::string> &args) {
    std::vector<char *> argv;
    for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execv(argv[0], argv.data());
        std::perror(argv[0]);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char **argv) {
    std::vector<std::string> args{NF_GENERATORS};
    std::string out_dir = ".", name, targets, level_knobs;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        const std::string next = i + 1 < argc ? argv[i + 1] : "";
        if (a == "-e" && i + 1 < argc) {
            std::string emit = next;
            if (emit.find("assembly") == std::string::npos) emit += ",assembly";
            args.push_back(a), args.push_back(emit), i++;
            continue;
        }
        if (a == "-o") out_dir = next;
        if (a == "-f") name = next;
        if (a.rfind("target=", 0) == 0) targets = a.substr(7);
        if (a.rfind("level_knobs=", 0) == 0) level_knobs = a.substr(12);
        args.push_back(a);
    }
    if (name.empty() || targets.empty()) {
        std::fprintf(stderr, "gen_prefetch_t0: expected -f NAME and target=... among the arguments\n");
        return 2;
    }
    if (int rc = run(args)) return rc;
    const std::vector<std::string> ts = normforge::split_at(targets, ',');
    for (const std::string &t : ts) {
        const std::string base = out_dir + "/" + name + (ts.size() > 1 ? "-" + t : "");
        std::ifstream in(base + ".s");
        if (!in) {
            std::fprintf(stderr, "gen_prefetch_t0: no assembly %s.s\n", base.c_str());
            return 1;
        }
        std::stringstream buf;
        buf << in.rdbuf();
        std::string text = buf.str();
        normforge::CpuKnobs k;
        k.prefetch = 1;
        std::string err;
        if (!normforge::apply_target_knobs(k, level_knobs, normforge::knob_level_of_target(t), t, &err)) {
            std::fprintf(stderr, "gen_prefetch_t0: %s\n", err.c_str());
            return 1;
        }
        if (k.prefetch == 0) {  // off at this target's level: nothing to rewrite, and nothing placed
            if (text.find("prefetch") != std::string::npos) {
                std::fprintf(stderr, "gen_prefetch_t0: %s.s has prefetches, but its level knobs turn them off\n",
                             base.c_str());
                return 1;
            }
            continue;
        }
        size_t n = 0;
        for (size_t p = text.find("prefetchnta"); p != std::string::npos; p = text.find("prefetchnta", p)) {
            text.replace(p, 11, "prefetcht0");
            n++;
        }
        if (n == 0) {
            std::fprintf(stderr, "gen_prefetch_t0: %s.s has no prefetch: the next-row prefetch pass placed none\n",
                         base.c_str());
            return 1;
        }
        std::ofstream(base + ".s") << text;
        if (int rc = run({NF_CC, "-c", base + ".s", "-o", base + ".o"})) {
            std::fprintf(stderr, "gen_prefetch_t0: assembling %s.s failed (%d)\n", base.c_str(), rc);
            return rc ? rc : 1;
        }
    }
    return 0;
}
