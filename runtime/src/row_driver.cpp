#include "row_driver.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>

#include "checks.h"
#include "halide_call.h"
#include "output_stores.h"
#include "row_blocks.h"
#include "stream_copy.h"

namespace normforge {

RowScratch::~RowScratch() { free(heap); }

float *RowScratch::get(int64_t n) {
    if (n <= kStackRows) return stack;
    heap = static_cast<float *>(malloc(static_cast<size_t>(n) * sizeof(float)));
    return heap;
}

namespace {

// A large call is split into about this many tasks of consecutive tiles (enough to balance
// the thread pool, few enough that each task streams a long run of rows).
constexpr int64_t kTileTasks = 64;
// The tile of a call that streams y only for nf_set_output_stores("streaming"): about one
// 4096-wide fp32 row, so that the tile, the row of x and the weight stay in L1.
constexpr int64_t kStreamTileBytes = int64_t(16) << 10;

struct TileJob {
    const RowCall *call;
    CallContext *ctx;
    int64_t tile_rows, tiles_per_task;
    bool stream;  // y through the tile buffer and streaming stores; false: the kernel writes y
};

// One task: each tile of its rows is normalized into the thread's cache-resident buffer, then
// streamed to y while the next tile of the inputs is prefetched (or, without streaming, the
// kernel writes y itself: the fused op's cache-sized blocks). The op's second output (the fused
// op's residual, rewritten in place) is written by the kernel directly: its lines were just
// read, so storing them costs no read-for-ownership, and a copy through the tile would only add
// work.
int run_tile_block(void *, int task, uint8_t *closure) {
    const TileJob &j = *reinterpret_cast<const TileJob *>(closure);
    const RowCall &c = *j.call;
    const int64_t es = static_cast<int64_t>(dtype_size(c.dtype));
    const int64_t row_bytes = c.cols * es, tile_bytes = j.tile_rows * row_bytes;
    const int64_t first = int64_t(task) * j.tiles_per_task * j.tile_rows;
    const int64_t end = std::min(c.rows, first + j.tiles_per_task * j.tile_rows);
    if (!j.stream) {
        for (int64_t r0 = first; r0 < end; r0 += j.tile_rows) {
            const int64_t n = std::min(j.tile_rows, end - r0);
            char *o2 = c.out2 ? c.out2 + r0 * c.out2_stride * es : nullptr;
            if (int rc = c.run(c, j.ctx, r0, n, c.y + r0 * c.y_stride * es, c.y_stride, o2, c.out2_stride))
                return rc;
        }
        return 0;
    }
    char *buf = static_cast<char *>(thread_scratch(size_t(tile_bytes)));
    if (buf == nullptr) {
        pthread_mutex_lock(&j.ctx->mutex);
        snprintf(j.ctx->halide_error, sizeof j.ctx->halide_error, "out of memory for a tile buffer");
        pthread_mutex_unlock(&j.ctx->mutex);
        return -1;
    }
    for (int64_t r0 = first; r0 < end; r0 += j.tile_rows) {
        const int64_t n = std::min(j.tile_rows, end - r0);
        char *o2 = c.out2 ? c.out2 + r0 * c.out2_stride * es : nullptr;
        if (int rc = c.run(c, j.ctx, r0, n, buf, c.cols, o2, c.out2_stride)) return rc;
        const int64_t next_n = std::min(j.tile_rows, end - (r0 + n));
        for (int64_t i = 0; i < n; i++) {
            // Row i of the next tile is prefetched while row i of this one is stored.
            const bool pf = i < next_n;
            const char *xp = pf ? c.x + (r0 + n + i) * c.x_stride * es : nullptr;
            const char *p2 = pf && c.in2 ? c.in2 + (r0 + n + i) * c.in2_stride * es : nullptr;
            stream_copy(c.y + (r0 + i) * c.y_stride * es, buf + i * row_bytes, size_t(row_bytes), xp,
                        xp ? size_t(row_bytes) : 0, p2, p2 ? size_t(row_bytes) : 0);
        }
    }
    stream_fence();
    return 0;
}

}  // namespace

RowCall row_call(const KernelEntry *kernel, RowRunFn run, const void *op, const nf_matrix *x,
                 const nf_matrix *y) {
    // Every field named (no zero-fill of the whole struct first: it showed in a decode row's time).
    return RowCall{kernel, run, op, x->dtype, x->rows, x->cols,
                   /*x=*/static_cast<const char *>(x->data), /*x_stride=*/x->row_stride,
                   /*in2=*/nullptr, /*in2_stride=*/0,
                   /*y=*/static_cast<char *>(y->data), /*y_stride=*/y->row_stride,
                   /*out2=*/nullptr, /*out2_stride=*/0};
}

nf_status run_rows(const char *fn, const RowCall &call) {
    const KernelEntry *k = call.kernel;
    const int64_t es = static_cast<int64_t>(dtype_size(call.dtype));
    CallContext ctx;
    int rc = 0;
    // The fused op's CPU kernels always run on blocks of rows (row_blocks.h): tiles of
    // stream_rows streamed out, or cache-sized blocks whose y the kernel writes. With
    // nf_set_output_stores("streaming"), every call's y goes through tiles and streaming
    // stores, each tile normalized by a serial kernel (the thread pool runs the tasks).
    const bool blocks = call.out2 != nullptr;
    const bool stream_all = stream_every_output();
    if (k->stream_rows > 0 || blocks || stream_all) {
        RowCall c = call;
        if (stream_all && (c.kernel = serial_kernel(k)) == nullptr)
            return fail(NF_UNSUPPORTED, "%s: no serial kernel compiled for streaming output (%s)", fn, k->name);
        const int64_t row_bytes = c.cols * es;
        // Every kernel call is one tile (well below 2^31 elements), whatever the call's size.
        const int64_t tile_rows = k->stream_rows > 0 ? k->stream_rows
                                  : blocks           ? fused_block_rows(row_bytes)
                                                     : std::max<int64_t>(1, kStreamTileBytes / row_bytes);
        const int64_t tiles = (c.rows + tile_rows - 1) / tile_rows;
        // A task prefetches the next tile of its own rows only: a large class's call runs in
        // about kTileTasks tasks, a call that streams only for the mode in few (one on one
        // thread: its rows are few).
        const int64_t threads = thread_count();
        const int64_t tiles_per_task =
            k->stream_rows > 0 || !stream_all ? std::max<int64_t>(1, tiles / kTileTasks)
            : threads == 1                    ? tiles
                                              : std::max<int64_t>(1, tiles / std::min(kTileTasks, 4 * threads));
        TileJob job{&c, &ctx, tile_rows, tiles_per_task, k->stream_rows > 0 || stream_all};
        const int64_t tasks = (tiles + tiles_per_task - 1) / tiles_per_task;
        // One task (small calls: a decode row) runs here, without the thread pool's hand-off.
        rc = tasks == 1 ? run_tile_block(nullptr, 0, reinterpret_cast<uint8_t *>(&job))
                        : halide_do_par_for(&ctx, &run_tile_block, 0, static_cast<int>(tasks),
                                            reinterpret_cast<uint8_t *>(&job));
        if (rc != 0)
            return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", fn, c.kernel->name, ctx.halide_error);
        return NF_OK;
    }
    for (int64_t r0 = 0; r0 < call.rows && rc == 0; r0 += kMaxRowsPerCall) {
        const int64_t n = std::min(kMaxRowsPerCall, call.rows - r0);
        rc = call.run(call, &ctx, r0, n, call.y + r0 * call.y_stride * es, call.y_stride, nullptr, 0);
    }
    if (rc != 0)
        return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", fn, k->name, ctx.halide_error);
    return NF_OK;
}

}  // namespace normforge
