// Timing method shared by every measurement: warm-up, a batch of calls long enough to time,
// several repetitions interleaved across implementations, median and spread.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace nfbench {

struct Stats {
    double median_s = 0, min_s = 0, max_s = 0;  // seconds per call
};

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Calls per timed batch so one batch lasts at least `target_s`.
inline int calibrate(const std::function<void()> &fn, double target_s) {
    fn();  // warm-up
    double t0 = now_s();
    fn();
    double one = std::max(now_s() - t0, 1e-9);
    return std::max(1, int(std::min(1e6, target_s / one)));
}

inline double time_batch(const std::function<void()> &fn, int iters) {
    double t0 = now_s();
    for (int i = 0; i < iters; i++) fn();
    return (now_s() - t0) / iters;
}

inline Stats summarize(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.min_s = v.front();
    s.max_s = v.back();
    s.median_s = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    return s;
}

// Times every function `reps` times, interleaved (f0 f1 f2 f0 f1 f2 ...), so that a noisy
// moment on a shared machine hits all of them alike.
inline std::vector<Stats> time_interleaved(const std::vector<std::function<void()>> &fns, int reps,
                                           double batch_s) {
    std::vector<int> iters;
    for (auto &f : fns) iters.push_back(calibrate(f, batch_s));
    std::vector<std::vector<double>> samples(fns.size());
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < fns.size(); i++) samples[i].push_back(time_batch(fns[i], iters[i]));
    std::vector<Stats> out;
    for (auto &s : samples) out.push_back(summarize(s));
    return out;
}

}  // namespace nfbench
