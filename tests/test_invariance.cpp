// Batch invariance, thread-count invariance and concurrent calls: results are bitwise equal.
#include <gtest/gtest.h>

#include <thread>

#include "reference.h"

using namespace nftest;

namespace {

std::vector<uint8_t> normalize(Matrix &x, const Matrix &w, nf_norm_params p) {
    Matrix y(x.dtype, x.rows, x.cols);
    nf_matrix xv = x.view(), yv = y.view();
    EXPECT_EQ(nf_rms_norm(&xv, w.bytes.data(), &p, &yv, nullptr), NF_OK) << nf_last_error();
    return y.bytes;
}

class Invariance : public ::testing::TestWithParam<nf_dtype> {};

// A row's bits do not depend on the rows around it, the batch size (which also switches between
// the small, medium and pipelined kernels: the pipelined one, for outputs of 4 MiB and more,
// writes its row sum as one fused reduction), or the thread count (which moves the pipelined
// kernel's chain boundaries: with 2 threads, 4 chains of 75 rows). 8191 columns: two
// 4096-element chunks and a ragged tail.
TEST_P(Invariance, BatchSizeAndThreadCount) {
    const nf_dtype d = GetParam();
    for (int64_t cols : {127, 4096, 5120, 8191}) {
        SCOPED_TRACE("cols=" + std::to_string(cols));
        const int64_t rows = 300;
        Matrix x(d, rows, cols);
        x.randomize(21);
        Matrix w = random_weight(d, cols, 22);
        nf_norm_params p{1e-5f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};

        nf_set_num_threads(1);
        const auto one_thread = normalize(x, w, p);
        nf_set_num_threads(0);
        const auto all_threads = normalize(x, w, p);
        nf_set_num_threads(2);
        const auto two_threads = normalize(x, w, p);
        nf_set_num_threads(0);
        EXPECT_EQ(one_thread, all_threads);
        EXPECT_EQ(one_thread, two_threads);

        const size_t row_bytes = size_t(cols) * elem_size(d);
        for (int64_t r : {int64_t(0), int64_t(74), int64_t(75), int64_t(77), int64_t(150), rows - 1}) {
            for (int64_t batch : {int64_t(1), int64_t(3)}) {
                if (r + batch > rows) continue;
                Matrix xs(d, batch, cols);
                std::memcpy(xs.data(), x.bytes.data() + size_t(r) * row_bytes, size_t(batch) * row_bytes);
                const auto ys = normalize(xs, w, p);
                EXPECT_EQ(0, std::memcmp(ys.data(), one_thread.data() + size_t(r) * row_bytes, row_bytes))
                    << "row " << r << " differs when computed in a batch of " << batch;
            }
        }
    }
}

// Many threads calling at once get exactly what serial calls get.
TEST_P(Invariance, ConcurrentCallsMatchSerial) {
    const nf_dtype d = GetParam();
    const int kThreads = 8;
    std::vector<Matrix> xs;
    std::vector<std::vector<uint8_t>> serial;
    Matrix w = random_weight(d, 4097, 31);
    nf_norm_params p{1e-6f, NF_WEIGHT_ONE_PLUS, NF_ROUND_LLAMA};
    for (int i = 0; i < kThreads; i++) {
        xs.emplace_back(d, 1 + 37 * i, 4097);
        xs.back().randomize(40 + i);
        serial.push_back(normalize(xs.back(), w, p));
    }
    std::vector<std::vector<uint8_t>> concurrent(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; i++) {
        threads.emplace_back([&, i] {
            for (int rep = 0; rep < 5; rep++) concurrent[size_t(i)] = normalize(xs[size_t(i)], w, p);
        });
    }
    for (auto &t : threads) t.join();
    for (int i = 0; i < kThreads; i++) EXPECT_EQ(concurrent[size_t(i)], serial[size_t(i)]) << "thread " << i;
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, Invariance, ::testing::Values(NF_F32, NF_F16, NF_BF16),
                         [](const ::testing::TestParamInfo<nf_dtype> &info) {
                             return std::string(info.param == NF_F32   ? "f32"
                                                : info.param == NF_F16 ? "f16"
                                                                       : "bf16");
                         });

}  // namespace
