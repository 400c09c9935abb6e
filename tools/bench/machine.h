// What machine a measurement ran on (CPU model, cores, date), for tables and JSON.
#pragma once

#include <string>

namespace nfbench {

struct Machine {
    std::string cpu_model;
    int cores = 0;
    std::string halide_version = NF_HALIDE_VERSION;  // the Halide the kernels were compiled with
};

Machine describe_machine();
std::string machine_json(const Machine &m);
std::string utc_date();

}  // namespace nfbench
