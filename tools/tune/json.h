// A small JSON reader/writer for the tuner's own files (schedules/db/*.json and the JSON-lines
// record log): objects keep their key order, numbers are doubles.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nftune {

struct Json {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool b = false;
    double num = 0;
    std::string str;
    std::vector<Json> items;                           // Array
    std::vector<std::pair<std::string, Json>> fields;  // Object, in order

    static Json object() { Json j; j.kind = Object; return j; }
    static Json number(double v) { Json j; j.kind = Number; j.num = v; return j; }
    static Json string(std::string s) { Json j; j.kind = String; j.str = std::move(s); return j; }

    const Json *get(const std::string &key) const;  // nullptr when absent or not an object
    Json &at(const std::string &key);                // object field, created (null) when absent
    void set(const std::string &key, Json v) { at(key) = std::move(v); }
};

// Parses text; on a syntax error returns false and says where in *error.
bool parse_json(const std::string &text, Json *out, std::string *error);
// Writes j (indent > 0: pretty, that many spaces per level; 0: one line).
std::string dump_json(const Json &j, int indent = 2);

}  // namespace nftune
