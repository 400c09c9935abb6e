// Timing method shared by every measurement: warm-up, a batch of calls long enough to time,
// several repetitions interleaved across implementations, median and spread.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

namespace nfbench {

struct Stats {
    double median_s = 0, min_s = 0, max_s = 0;  // seconds per call
};

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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

// A batch of `iters` calls that times itself: seconds per call, < 0 when it failed (a peer
// driven in another process, which reports its own clock).
using SelfTimedBatch = std::function<double(int iters)>;

// Times every batch `reps` times, interleaved, so that a noisy moment on a shared machine hits
// all of them alike; the first repetition in the given order, each later one in another
// (a shuffle with a fixed seed per repetition, the same in every run), so that no batch always
// runs first or right after the same other one (what a peer leaves behind, such as a thread
// pool still spinning or a lower clock after wide vector code, would otherwise always cost the
// same one). Each is calibrated first (a warm-up batch of one call, then one timed call sets the
// batch size). A batch that fails gives median_s < 0.
inline std::vector<Stats> time_interleaved_batches(const std::vector<SelfTimedBatch> &batches, int reps,
                                                   double batch_s) {
    std::vector<int> iters;
    std::vector<bool> failed(batches.size(), false);
    for (size_t i = 0; i < batches.size(); i++) {
        const double warm_up = batches[i](1);
        const double one = warm_up < 0 ? -1 : batches[i](1);
        failed[i] = one < 0;
        iters.push_back(failed[i] ? 1 : std::max(1, int(std::min(1e6, batch_s / std::max(one, 1e-9)))));
    }
    std::vector<std::vector<double>> samples(batches.size());
    std::vector<size_t> order(batches.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    for (int r = 0; r < reps; r++) {
        if (r > 0) {
            std::mt19937 rng{static_cast<uint32_t>(r)};
            std::shuffle(order.begin(), order.end(), rng);
        }
        for (size_t i : order) {
            if (failed[i]) continue;
            double t = batches[i](iters[i]);
            if (t < 0) failed[i] = true;
            else samples[i].push_back(t);
        }
    }
    std::vector<Stats> out;
    for (size_t i = 0; i < batches.size(); i++) {
        out.push_back(summarize(samples[i]));
        if (failed[i]) out.back().median_s = -1;
    }
    return out;
}

// The same for plain calls, timed here.
inline std::vector<Stats> time_interleaved(const std::vector<std::function<void()>> &fns, int reps,
                                           double batch_s) {
    std::vector<SelfTimedBatch> batches;
    for (const auto &f : fns) batches.push_back([f](int n) { return time_batch(f, n); });
    return time_interleaved_batches(batches, reps, batch_s);
}

}  // namespace nfbench
