// Starts tools/bench/peer_onnxruntime.py as a co-process with the project's Python and
// talks to it over two pipes, one line per command and answer.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "peers.h"

extern char **environ;

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

OrtDriver::OrtDriver(const std::string &driver_op, int threads, bool corrupt) {
    status_ = "could not start " + std::string(NF_PYTHON);
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0) return;
    if (pipe2(from_child, O_CLOEXEC) != 0) {
        close(to_child[0]), close(to_child[1]);
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    const std::string th = std::to_string(threads);
    const char *argv[] = {NF_PYTHON, NF_ORT_SCRIPT, "--op",  driver_op.c_str(), "--threads",
                          th.c_str(), corrupt ? "--corrupt" : nullptr, nullptr};
    // The child inherits the bench's CPU pinning (--threads).
    int rc = posix_spawn(&pid_, NF_PYTHON, &fa, nullptr, const_cast<char **>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to_child[0]);
    close(from_child[1]);
    if (rc != 0) {
        close(to_child[1]), close(from_child[0]);
        pid_ = -1;
        return;
    }
    signal(SIGPIPE, SIG_IGN);  // a driver that died answers "no answer", not a signal
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    std::vector<std::string> f = read_line();
    if (f.size() >= 3 && f[0] == "status") {
        status_ = f[1];
        version_ = f[2];
    } else {
        status_ = "the ONNX Runtime driver did not start: " + last_line_;
    }
}

OrtDriver::~OrtDriver() {
    if (in_) {
        std::fputs("quit\n", in_);
        std::fclose(in_);
    }
    if (out_) std::fclose(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

std::vector<std::string> OrtDriver::read_line() {
    last_line_.clear();
    char buf[4096];
    // Lines the driver did not mean as answers (Python warnings) are skipped.
    while (out_ && std::fgets(buf, sizeof buf, out_)) {
        last_line_ = buf;
        std::vector<std::string> f = split_tabs(buf);
        if (f[0] == "status" || f[0] == "ready" || f[0] == "time" || f[0] == "error") return f;
    }
    return {};
}

std::vector<std::string> OrtDriver::ask(const std::string &command) {
    if (in_ == nullptr || std::fputs((command + "\n").c_str(), in_) < 0 || std::fflush(in_) != 0) return {};
    return read_line();
}

std::string OrtDriver::prepare(int64_t rows, int64_t cols, const std::string &dtype, int sets) {
    if (status_ != "ok") return status_;
    std::vector<std::string> f = ask("case " + std::to_string(rows) + " " + std::to_string(cols) + " " + dtype + " " +
                                     std::to_string(sets));
    if (f.size() >= 2 && f[0] == "ready") return f[1];
    return "failed: no answer from the ONNX Runtime driver" + (last_line_.empty() ? "" : ": " + last_line_);
}

double OrtDriver::batch(int iters) {
    std::vector<std::string> f = ask("batch " + std::to_string(iters));
    if (f.size() >= 2 && f[0] == "time") return std::atof(f[1].c_str());
    return -1;
}

}  // namespace nfbench
