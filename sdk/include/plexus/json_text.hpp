// Plexus connector SDK — checking JSON text and taking it apart without building it.
//
// For connectors that hold records as JSON text already (a line of a JSON Lines file, the
// data of a write request): finding an object's top-level members this way costs a small
// fraction of parsing the text into nlohmann::json (and of serialising it again).
//
// Strictness: the scanner accepts only JSON (RFC 8259, in UTF-8) that nlohmann::json
// accepts too. It may refuse some text nlohmann::json accepts — a byte-order mark, nesting
// deeper than kMaxDepth, a number too small for a double — so a caller that gets `false`
// falls back to nlohmann::json, which then either parses the text or says what is wrong.
//
// Thread-safe and allocation-free, except string_value() and scalar_text() of a string
// with escapes.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace plexus::sdk::json_text {

inline constexpr int kMaxDepth = 256;

namespace scan {

inline const char* skip_ws(const char* p, const char* end) noexcept {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    return p;
}

inline bool hex4(const char* p, const char* end, unsigned& out) noexcept {
    if (end - p < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
        const char c = p[i];
        unsigned v;
        if (c >= '0' && c <= '9') v = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') v = static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = static_cast<unsigned>(c - 'A' + 10);
        else return false;
        out = (out << 4) | v;
    }
    return true;
}

// `p` at the opening quote; the position after the closing quote, or nullptr.
inline const char* string(const char* p, const char* end) noexcept {
    ++p;
    while (p < end) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (++p >= end) return nullptr;
            switch (*p) {
                case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                    ++p;
                    continue;
                case 'u': {
                    unsigned cp = 0;
                    if (!hex4(p + 1, end, cp)) return nullptr;
                    p += 5;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return nullptr;  // a lone low surrogate
                    if (cp >= 0xD800 && cp <= 0xDBFF) {               // needs its low half
                        unsigned low = 0;
                        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, low) ||
                            low < 0xDC00 || low > 0xDFFF)
                            return nullptr;
                        p += 6;
                    }
                    continue;
                }
                default:
                    return nullptr;
            }
        }
        if (c < 0x20) return nullptr;  // control characters must be escaped
        if (c < 0x80) {
            ++p;
            continue;
        }
        // UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
        int more = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) more = 2;
        else if (c == 0xED) more = 2, hi = 0x9F;
        else if (c == 0xF0) more = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else if (c == 0xF4) more = 3, hi = 0x8F;
        else return nullptr;
        if (end - p <= more) return nullptr;
        const auto c1 = static_cast<unsigned char>(p[1]);
        if (c1 < lo || c1 > hi) return nullptr;
        for (int i = 2; i <= more; ++i) {
            const auto ci = static_cast<unsigned char>(p[i]);
            if (ci < 0x80 || ci > 0xBF) return nullptr;
        }
        p += more + 1;
    }
    return nullptr;
}

inline bool digit(const char* p, const char* end) noexcept {
    return p < end && *p >= '0' && *p <= '9';
}

// The position after the number at `p`, or nullptr.
inline const char* number(const char* p, const char* end) noexcept {
    const char* start = p;
    if (p < end && *p == '-') ++p;
    if (!digit(p, end)) return nullptr;
    if (*p == '0') {
        ++p;
    } else {
        while (digit(p, end)) ++p;
    }
    bool plain_integer = true;
    if (p < end && *p == '.') {
        ++p;
        plain_integer = false;
        if (!digit(p, end)) return nullptr;
        while (digit(p, end)) ++p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        ++p;
        plain_integer = false;
        if (p < end && (*p == '+' || *p == '-')) ++p;
        if (!digit(p, end)) return nullptr;
        while (digit(p, end)) ++p;
    }
    // nlohmann::json refuses a number beyond the range of a double (integers too long for
    // 64 bits are read as doubles). Beyond it, or too close to zero: refused here.
    if (!plain_integer || p - start > 18) {
        double d = 0;
        const auto r = std::from_chars(start, p, d);
        if (r.ec != std::errc() || r.ptr != p || !std::isfinite(d)) return nullptr;
    }
    return p;
}

inline bool word(const char* p, const char* end, std::string_view w) noexcept {
    return static_cast<size_t>(end - p) >= w.size() && std::string_view(p, w.size()) == w;
}

// The position after the value at `p` (no leading whitespace), or nullptr.
inline const char* value(const char* p, const char* end, int depth) noexcept {
    if (p >= end) return nullptr;
    switch (*p) {
        case '"':
            return string(p, end);
        case '{': {
            if (depth >= kMaxDepth) return nullptr;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}') return p + 1;
            for (;;) {
                if (p >= end || *p != '"') return nullptr;
                p = string(p, end);
                if (!p) return nullptr;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return nullptr;
                p = value(skip_ws(p + 1, end), end, depth + 1);
                if (!p) return nullptr;
                p = skip_ws(p, end);
                if (p < end && *p == '}') return p + 1;
                if (p >= end || *p != ',') return nullptr;
                p = skip_ws(p + 1, end);
            }
        }
        case '[': {
            if (depth >= kMaxDepth) return nullptr;
            p = skip_ws(p + 1, end);
            if (p < end && *p == ']') return p + 1;
            for (;;) {
                p = value(p, end, depth + 1);
                if (!p) return nullptr;
                p = skip_ws(p, end);
                if (p < end && *p == ']') return p + 1;
                if (p >= end || *p != ',') return nullptr;
                p = skip_ws(p + 1, end);
            }
        }
        case 't':
            return word(p, end, "true") ? p + 4 : nullptr;
        case 'f':
            return word(p, end, "false") ? p + 5 : nullptr;
        case 'n':
            return word(p, end, "null") ? p + 4 : nullptr;
        default:
            return number(p, end);
    }
}

// Walks the object or array that `text` consists of (whitespace around it allowed),
// calling on_item(name token or empty, value token) for each member or element.
template <class F>
bool items(std::string_view text, char open, F&& on_item) {
    const char* p = skip_ws(text.data(), text.data() + text.size());
    const char* const end = text.data() + text.size();
    if (p >= end || *p != open) return false;
    const char close = open == '{' ? '}' : ']';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close) return skip_ws(p + 1, end) == end;
    for (;;) {
        std::string_view name;
        if (open == '{') {
            if (p >= end || *p != '"') return false;
            const char* name_end = string(p, end);
            if (!name_end) return false;
            name = std::string_view(p, static_cast<size_t>(name_end - p));
            p = skip_ws(name_end, end);
            if (p >= end || *p != ':') return false;
            p = skip_ws(p + 1, end);
        }
        const char* value_end = value(p, end, 1);
        if (!value_end) return false;
        on_item(name, std::string_view(p, static_cast<size_t>(value_end - p)));
        p = skip_ws(value_end, end);
        if (p < end && *p == close) return skip_ws(p + 1, end) == end;
        if (p >= end || *p != ',') return false;
        p = skip_ws(p + 1, end);
    }
}

}  // namespace scan

// Whether `text` is one valid JSON value (whitespace around it allowed).
inline bool valid(std::string_view text) noexcept {
    const char* const end = text.data() + text.size();
    const char* p = scan::value(scan::skip_ws(text.data(), end), end, 0);
    return p && scan::skip_ws(p, end) == end;
}

// Calls on_member(name, value) for each member of the object that `text` consists of
// (whitespace around it allowed), in order: `name` is the member name's token, quotes
// included, `value` the value's text; both view `text`. Returns false when `text` is not
// one valid JSON object (on_member may have been called for the members before the
// problem).
template <class F>
bool for_each_member(std::string_view text, F&& on_member) {
    return scan::items(text, '{', on_member);
}

// The same for the elements of an array: on_element(value).
template <class F>
bool for_each_element(std::string_view text, F&& on_element) {
    return scan::items(text, '[', [&](std::string_view, std::string_view v) { on_element(v); });
}

// The text a valid JSON string token (quotes included) stands for.
inline std::string string_value(std::string_view token) {
    const std::string_view inner = token.substr(1, token.size() - 2);
    if (inner.find('\\') == std::string_view::npos) return std::string(inner);
    return nlohmann::json::parse(token).get<std::string>();
}

// A valid JSON value's text as a key or cursor value: a string's text, an integer's
// digits as nlohmann::json prints them ("-0" is "0"); none for anything else, including
// integers beyond 64 bits (nlohmann::json reads those as doubles).
inline std::optional<std::string> scalar_text(std::string_view token) {
    if (token.empty()) return std::nullopt;
    if (token.front() == '"') return string_value(token);
    if (token.front() != '-' && (token.front() < '0' || token.front() > '9')) return std::nullopt;
    if (token.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
    const char* const end = token.data() + token.size();
    if (token.front() == '-') {
        int64_t v = 0;
        const auto r = std::from_chars(token.data(), end, v);
        if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
        return std::to_string(v);
    }
    uint64_t v = 0;
    const auto r = std::from_chars(token.data(), end, v);
    if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
    return std::to_string(v);
}

}  // namespace plexus::sdk::json_text
