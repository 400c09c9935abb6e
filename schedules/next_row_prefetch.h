// Knob prefetch = 1 (x86): while the output pass writes row r, it prefetches row r + 1 of x,
// one cache line per 64 bytes it reads of row r. A memory-bound call on one core then loads the
// next row during this row's arithmetic instead of after it (one core alone keeps too few
// misses in flight for the hardware prefetchers to hide the latency: README "Next-row
// prefetch"). A hint only: no result changes; the last row of a call prefetches nothing.
//
// Halide 21's own prefetch directive cannot place this: its region for "row r + 1 at this
// column block" came out as row r (the offset lost through the loop's let variables) or as
// empty (clamped by the guarded column tail), its line loop steps 64 elements, not 64 bytes,
// and it emits prefetchnta, which on the Intel Xeon measured slower than none (the lines are
// evicted before the next row reads them). So a custom lowering pass inserts the prefetch
// into the output loop, and the build rewrites the hint to prefetcht0 in the generated
// assembly (tools/gen_prefetch_t0.cpp; the pass's prefetches are the kernels' only ones).
#pragma once

#include <string>

#include "Halide.h"

namespace normforge {

class NextRowPrefetch : public Halide::Internal::IRMutator {
public:
    // buffer: the input read a row at a time (its stride of dimension 1 is the row stride);
    // loop_suffix: the name ending of the output pass's column loop.
    NextRowPrefetch(std::string buffer, std::string loop_suffix)
        : buffer_(std::move(buffer)), loop_suffix_(std::move(loop_suffix)) {}

private:
    using IRMutator::visit;
    std::string buffer_, loop_suffix_;
    bool in_loop_ = false, placed_ = false;

    bool is_output_loop(const std::string &name) const {
        return name.size() >= loop_suffix_.size() &&
               name.compare(name.size() - loop_suffix_.size(), loop_suffix_.size(), loop_suffix_) == 0;
    }

    // The first load of the buffer in e that no let inside e binds variables of.
    struct FirstLoad : public Halide::Internal::IRVisitor {
        const std::string *name;
        Halide::Expr index;
        Halide::Type type;  // the loaded element
        int lets = 0;
        using IRVisitor::visit;
        void visit(const Halide::Internal::Let *op) override {
            op->value.accept(this);
            lets++;
            op->body.accept(this);
            lets--;
        }
        void visit(const Halide::Internal::Load *op) override {
            if (!index.defined() && lets == 0 && op->name == *name) index = op->index, type = op->type.element_of();
            IRVisitor::visit(op);
        }
    };

    // Prefetches of the next row for one iteration that loads `index` (a vector of the row) of
    // elements of type t: one per 64-byte line (at least one per iteration), only where the
    // next row is one of the call's rows. (The index is the flattened offset from the buffer's
    // first element, so the next row exists where that offset plus a row stride is below rows
    // times the stride. Without the test the last row prefetched memory past x: a decode row,
    // a call of one row, ran 8-10% slower.)
    Halide::Internal::Stmt prefetches(const Halide::Expr &index, const Halide::Type &t) const {
        using namespace Halide;
        using namespace Halide::Internal;
        const Ramp *ramp = index.as<Ramp>();
        Expr base = ramp ? ramp->base : index;
        const int per_line = 64 / t.bytes(), lanes = index.type().lanes();
        Expr stride = cast(base.type(), Variable::make(Int(32), buffer_ + ".stride.1"));
        Expr rows = cast(base.type(), Variable::make(Int(32), buffer_ + ".extent.1"));
        Expr next = base + stride;
        const int lines = lanes >= per_line ? lanes / per_line : 1;
        Stmt s;
        for (int i = lines - 1; i >= 0; i--) {
            Expr at = i == 0 ? next : next + cast(next.type(), per_line * i);
            Stmt p = Evaluate::make(
                Call::make(t, Call::prefetch, {Variable::make(Handle(), buffer_), at, 1, per_line}, Call::Intrinsic));
            s = s.defined() ? Block::make(p, s) : p;
        }
        return IfThenElse::make(next < rows * stride, s);
    }

    Halide::Internal::Stmt visit(const Halide::Internal::For *op) override {
        if (!is_output_loop(op->name)) return IRMutator::visit(op);
        const bool outer = in_loop_;
        in_loop_ = true;
        placed_ = false;
        Halide::Internal::Stmt s = IRMutator::visit(op);
        in_loop_ = outer;
        return s;
    }

    // The prefetches for the row loaded by `value`, if it loads it and none are placed yet
    // in this branch of the loop body; else an undefined Stmt.
    Halide::Internal::Stmt prefetches_for(const Halide::Expr &value) const {
        if (!in_loop_ || placed_) return Halide::Internal::Stmt();
        FirstLoad f;
        f.name = &buffer_;
        value.accept(&f);
        return f.index.defined() ? prefetches(f.index, f.type) : Halide::Internal::Stmt();
    }

    // Placed in front of the first statement of the loop body that loads the row (a let or
    // the store itself), where every variable of the load's index is bound; once per branch.
    Halide::Internal::Stmt visit(const Halide::Internal::LetStmt *op) override {
        using namespace Halide::Internal;
        Stmt p = prefetches_for(op->value);
        if (!p.defined()) return IRMutator::visit(op);
        placed_ = true;
        Stmt body = mutate(op->body);
        placed_ = false;
        return LetStmt::make(op->name, op->value, Block::make(p, body));
    }
    Halide::Internal::Stmt visit(const Halide::Internal::Store *op) override {
        Halide::Internal::Stmt p = prefetches_for(op->value);
        return p.defined() ? Halide::Internal::Block::make(p, op) : IRMutator::visit(op);
    }
};

}  // namespace normforge
