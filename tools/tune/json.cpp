#include "tune/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace nftune {

const Json *Json::get(const std::string &key) const {
    if (kind != Object) return nullptr;
    for (auto &f : fields)
        if (f.first == key) return &f.second;
    return nullptr;
}

Json &Json::at(const std::string &key) {
    if (kind != Object) *this = object();
    for (auto &f : fields)
        if (f.first == key) return f.second;
    fields.push_back({key, Json()});
    return fields.back().second;
}

namespace {

struct Parser {
    const std::string &s;
    size_t i = 0;
    std::string err;

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    }
    bool fail(const char *what) {
        if (err.empty()) err = std::string(what) + " at offset " + std::to_string(i);
        return false;
    }
    bool str(std::string *out) {
        if (s[i] != '"') return fail("expected a string");
        i++;
        while (i < s.size() && s[i] != '"') {
            char c = s[i++];
            if (c == '\\' && i < s.size()) {
                char e = s[i++];
                if (e == 'n') c = '\n';
                else if (e == 't') c = '\t';
                else if (e == 'u' && i + 4 <= s.size()) {
                    c = char(std::strtol(s.substr(i, 4).c_str(), nullptr, 16));
                    i += 4;
                } else c = e;
            }
            out->push_back(c);
        }
        if (i >= s.size()) return fail("unterminated string");
        i++;
        return true;
    }
    bool value(Json *v) {
        ws();
        if (i >= s.size()) return fail("unexpected end");
        char c = s[i];
        if (c == '{') {
            *v = Json::object();
            i++;
            ws();
            if (i < s.size() && s[i] == '}') return i++, true;
            for (;;) {
                ws();
                std::string key;
                if (!str(&key)) return false;
                ws();
                if (i >= s.size() || s[i] != ':') return fail("expected ':'");
                i++;
                Json item;
                if (!value(&item)) return false;
                v->fields.push_back({key, item});
                ws();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                if (i < s.size() && s[i] == '}') return i++, true;
                return fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            v->kind = Json::Array;
            i++;
            ws();
            if (i < s.size() && s[i] == ']') return i++, true;
            for (;;) {
                Json item;
                if (!value(&item)) return false;
                v->items.push_back(item);
                ws();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                if (i < s.size() && s[i] == ']') return i++, true;
                return fail("expected ',' or ']'");
            }
        }
        if (c == '"') {
            v->kind = Json::String;
            return str(&v->str);
        }
        if (s.compare(i, 4, "true") == 0) { v->kind = Json::Bool; v->b = true; i += 4; return true; }
        if (s.compare(i, 5, "false") == 0) { v->kind = Json::Bool; i += 5; return true; }
        if (s.compare(i, 4, "null") == 0) { v->kind = Json::Null; i += 4; return true; }
        char *end = nullptr;
        double d = std::strtod(s.c_str() + i, &end);
        if (end == s.c_str() + i) return fail("unexpected character");
        v->kind = Json::Number;
        v->num = d;
        i = size_t(end - s.c_str());
        return true;
    }
};

void dump(const Json &j, int indent, int level, std::string &o) {
    auto nl = [&](int l) {
        if (indent > 0) o += "\n" + std::string(size_t(indent * l), ' ');
    };
    switch (j.kind) {
    case Json::Null: o += "null"; break;
    case Json::Bool: o += j.b ? "true" : "false"; break;
    case Json::Number: {
        char buf[64];
        if (std::fabs(j.num) < 1e15 && j.num == std::floor(j.num)) std::snprintf(buf, sizeof buf, "%.0f", j.num);
        else std::snprintf(buf, sizeof buf, "%.6g", j.num);
        o += buf;
        break;
    }
    case Json::String:
        o += '"';
        for (char c : j.str) {
            if (c == '"' || c == '\\') o += '\\', o += c;
            else if (c == '\n') o += "\\n";
            else if (c == '\t') o += "\\t";
            else o += c;
        }
        o += '"';
        break;
    case Json::Array:
        o += '[';
        for (size_t k = 0; k < j.items.size(); k++) {
            if (k) o += indent > 0 ? "," : ", ";
            dump(j.items[k], 0, 0, o);
        }
        o += ']';
        break;
    case Json::Object:
        o += '{';
        for (size_t k = 0; k < j.fields.size(); k++) {
            if (k) o += indent > 0 ? "," : ", ";
            nl(level + 1);
            o += '"' + j.fields[k].first + "\": ";
            dump(j.fields[k].second, indent, level + 1, o);
        }
        if (!j.fields.empty()) nl(level);
        o += '}';
        break;
    }
}

}  // namespace

bool parse_json(const std::string &text, Json *out, std::string *error) {
    Parser p{text};
    if (!p.value(out)) {
        if (error) *error = p.err;
        return false;
    }
    p.ws();
    if (p.i != text.size()) {
        if (error) *error = "trailing characters at offset " + std::to_string(p.i);
        return false;
    }
    return true;
}

std::string dump_json(const Json &j, int indent) {
    std::string o;
    dump(j, indent, 0, o);
    return o;
}

}  // namespace nftune
