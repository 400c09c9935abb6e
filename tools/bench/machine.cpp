#include "machine.h"

#include <ctime>
#include <fstream>
#include <thread>

namespace nfbench {

Machine describe_machine() {
    Machine m;
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto pos = line.find(':');
            if (pos != std::string::npos) m.cpu_model = line.substr(pos + 2);
            break;
        }
    }
    if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
    m.cores = int(std::thread::hardware_concurrency());
    return m;
}

std::string machine_json(const Machine &m) {
    return "{\"cpu\": \"" + m.cpu_model + "\", \"cores\": " + std::to_string(m.cores) +
           ", \"halide_version\": \"" + m.halide_version + "\"}";
}

std::string utc_date() {
    char buf[32];
    std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace nfbench
