// A process-wide mode chosen by name (nf_set_large_calls, nf_set_output_stores): index 0 is
// "auto"; an environment variable sets the start-up mode, read once, before the first get or
// set (an unknown value there is ignored, as NF_MAX_CPU_VARIANT's); a set replaces it.
#pragma once

#include <stdlib.h>
#include <string.h>

namespace normforge {

class ProcessMode {
  public:
    constexpr ProcessMode(const char *const *names, int count, const char *env)
        : names_(names), count_(count), env_(env) {}

    // NULL or "" = 0 (auto); -1 if not one of the names.
    int index(const char *name) const {
        if (name == nullptr || name[0] == '\0') return 0;
        for (int i = 0; i < count_; i++)
            if (strcmp(name, names_[i]) == 0) return i;
        return -1;
    }
    int get() {
        read_env();
        return __atomic_load_n(&mode_, __ATOMIC_RELAXED);
    }
    // false (the mode unchanged) if `name` is not a mode.
    bool set(const char *name) {
        const int m = index(name);
        if (m < 0) return false;
        read_env();
        __atomic_store_n(&mode_, m, __ATOMIC_RELAXED);
        return true;
    }
    const char *name(int m) const { return names_[m]; }

  private:
    static constexpr int kUnread = -1;
    // The first caller reads the variable; a set() after it is never undone by it.
    void read_env() {
        if (__atomic_load_n(&mode_, __ATOMIC_ACQUIRE) != kUnread) return;
        int m = index(getenv(env_));
        if (m < 0) m = 0;
        int expected = kUnread;
        __atomic_compare_exchange_n(&mode_, &expected, m, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    const char *const *names_;
    int count_;
    const char *env_;
    int mode_ = kUnread;
};

}  // namespace normforge
