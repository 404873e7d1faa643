#include "mapping/expression.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "config/settings.hpp"

namespace plexus::expr {
namespace {

using json = nlohmann::json;

struct FunctionInfo {
    const char* name;
    Function function;
    size_t min_args;
    size_t max_args;
    const char* signature;
};

constexpr size_t kMany = 1000;

const FunctionInfo kFunctions[] = {
    {"concat", Function::concat, 1, kMany, "concat(a, b, ...)"},
    {"trim", Function::trim, 1, 1, "trim(x)"},
    {"upper", Function::upper, 1, 1, "upper(x)"},
    {"lower", Function::lower, 1, 1, "lower(x)"},
    {"round", Function::round, 1, 2, "round(x, digits)"},
    {"number", Function::number, 1, 1, "number(x)"},
    {"format_number", Function::format_number, 2, 2, "format_number(x, decimals)"},
    {"date", Function::date, 2, 3, "date(x, out_format[, in_format])"},
    {"default", Function::default_value, 2, 2, "default(x, fallback)"},
    {"sum", Function::sum, 1, 2, "sum(array[, element_expression])"},
    {"count", Function::count, 1, 1, "count(array)"},
    {"list", Function::list, 1, kMany, "list(a, b, ...)"},
    {"mul", Function::mul, 2, 2, "mul(a, b)"},
    {"add", Function::add, 2, 2, "add(a, b)"},
    {"sub", Function::sub, 2, 2, "sub(a, b)"},
    {"lookup", Function::lookup, 2, 3, "lookup(x, \"table\"[, default])"},
    {"ref", Function::ref, 2, 2, "ref(\"process-id\", key)"},
};

const FunctionInfo& info(Function f) {
    for (const auto& i : kFunctions)
        if (i.function == f) return i;
    return kFunctions[0];
}

std::string fname(const Node& call) { return std::string(info(call.function).name) + "()"; }

const json& null_json() {
    static const json n;
    return n;
}

// --- Dates -------------------------------------------------------------------------------

struct DateTime {
    int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
    bool has_offset = false;
    int offset_minutes = 0;
};

const char* const kMonthAbbrev[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

bool valid(const DateTime& t) {
    return t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= days_in_month(t.year, t.month) &&
           t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 &&
           t.second <= 60;
}

const char* const kDirectives = "%Y %m %d %H %M %S %y %b %z %F %T %%";

bool known_directive(char c) { return std::string("YmdHMSybzFT%").find(c) != std::string::npos; }

// Empty when every %-directive of `format` is known, else the problem.
std::string check_date_format(const std::string& format) {
    for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') continue;
        if (i + 1 >= format.size())
            return "the format \"" + format + "\" ends with a lone %; write %% for a percent sign";
        if (!known_directive(format[i + 1]))
            return "unknown directive %" + std::string(1, format[i + 1]) + " in \"" + format +
                   "\"; use " + kDirectives;
        ++i;
    }
    return "";
}

// Reads 1..max_digits digits (exactly `max_digits` when exact).
bool read_int(const std::string& s, size_t& pos, size_t max_digits, bool exact, int& out) {
    size_t start = pos;
    while (pos < s.size() && pos - start < max_digits &&
           std::isdigit(static_cast<unsigned char>(s[pos])))
        ++pos;
    if (pos == start || (exact && pos - start != max_digits)) return false;
    out = std::stoi(s.substr(start, pos - start));
    return true;
}

// Z, ±HH, ±HHMM or ±HH:MM.
bool read_offset(const std::string& s, size_t& pos, DateTime& t) {
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
        t.has_offset = true;
        t.offset_minutes = 0;
        return true;
    }
    if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return false;
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int h = 0, m = 0;
    if (!read_int(s, pos, 2, true, h)) return false;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])))
        if (!read_int(s, pos, 2, true, m)) return false;
    if (h > 23 || m > 59) return false;
    t.has_offset = true;
    t.offset_minutes = sign * (h * 60 + m);
    return true;
}

// ISO 8601: 2024-05-01, 2024-05-01T10:30, 2024-05-01T10:30:00.123+02:00, "…Z", "… 10:30:00".
bool parse_iso(const std::string& s, DateTime& t) {
    size_t pos = 0;
    if (!read_int(s, pos, 4, true, t.year) || pos >= s.size() || s[pos++] != '-' ||
        !read_int(s, pos, 2, true, t.month) || pos >= s.size() || s[pos++] != '-' ||
        !read_int(s, pos, 2, true, t.day))
        return false;
    if (pos == s.size()) return valid(t);
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return false;
    ++pos;
    if (!read_int(s, pos, 2, true, t.hour) || pos >= s.size() || s[pos++] != ':' ||
        !read_int(s, pos, 2, true, t.minute))
        return false;
    if (pos < s.size() && s[pos] == ':') {
        ++pos;
        if (!read_int(s, pos, 2, true, t.second)) return false;
        if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
            ++pos;
            size_t start = pos;
            while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
            if (pos == start) return false;
        }
    }
    if (pos < s.size() && !read_offset(s, pos, t)) return false;
    return pos == s.size() && valid(t);
}

bool parse_with_format(const std::string& s, const std::string& format, DateTime& t) {
    size_t pos = 0;
    for (size_t i = 0; i < format.size(); ++i) {
        char f = format[i];
        if (f != '%') {
            if (pos >= s.size() || s[pos] != f) return false;
            ++pos;
            continue;
        }
        char d = format[++i];
        bool ok = true;
        switch (d) {
            case 'Y':
                ok = read_int(s, pos, 4, true, t.year);
                break;
            case 'm':
                ok = read_int(s, pos, 2, false, t.month);
                break;
            case 'd':
                ok = read_int(s, pos, 2, false, t.day);
                break;
            case 'H':
                ok = read_int(s, pos, 2, false, t.hour);
                break;
            case 'M':
                ok = read_int(s, pos, 2, false, t.minute);
                break;
            case 'S':
                ok = read_int(s, pos, 2, false, t.second);
                break;
            case 'y': {
                int yy = 0;
                ok = read_int(s, pos, 2, true, yy);
                t.year = yy < 69 ? 2000 + yy : 1900 + yy;
                break;
            }
            case 'b': {
                ok = false;
                if (pos + 3 <= s.size()) {
                    for (int m = 0; m < 12; ++m) {
                        bool same = true;
                        for (int k = 0; k < 3; ++k)
                            same = same &&
                                   std::tolower(static_cast<unsigned char>(s[pos + k])) ==
                                       std::tolower(static_cast<unsigned char>(kMonthAbbrev[m][k]));
                        if (same) {
                            t.month = m + 1;
                            pos += 3;
                            ok = true;
                            break;
                        }
                    }
                }
                break;
            }
            case 'z':
                ok = read_offset(s, pos, t);
                break;
            case 'F':
                ok = read_int(s, pos, 4, true, t.year) && pos < s.size() && s[pos++] == '-' &&
                     read_int(s, pos, 2, false, t.month) && pos < s.size() && s[pos++] == '-' &&
                     read_int(s, pos, 2, false, t.day);
                break;
            case 'T':
                ok = read_int(s, pos, 2, false, t.hour) && pos < s.size() && s[pos++] == ':' &&
                     read_int(s, pos, 2, false, t.minute) && pos < s.size() && s[pos++] == ':' &&
                     read_int(s, pos, 2, false, t.second);
                break;
            case '%':
                ok = pos < s.size() && s[pos++] == '%';
                break;
            default:
                ok = false;
        }
        if (!ok) return false;
    }
    return pos == s.size() && valid(t);
}

std::string two(int v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", v);
    return buf;
}

std::string format_date(const DateTime& t, const std::string& format) {
    std::string out;
    for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            out += format[i];
            continue;
        }
        char d = format[++i];
        char buf[16];
        switch (d) {
            case 'Y':
                std::snprintf(buf, sizeof buf, "%04d", t.year);
                out += buf;
                break;
            case 'm':
                out += two(t.month);
                break;
            case 'd':
                out += two(t.day);
                break;
            case 'H':
                out += two(t.hour);
                break;
            case 'M':
                out += two(t.minute);
                break;
            case 'S':
                out += two(t.second);
                break;
            case 'y':
                out += two(t.year % 100);
                break;
            case 'b':
                out += kMonthAbbrev[t.month - 1];
                break;
            case 'z':
                if (t.has_offset) {
                    int m = t.offset_minutes < 0 ? -t.offset_minutes : t.offset_minutes;
                    out += (t.offset_minutes < 0 ? "-" : "+") + two(m / 60) + two(m % 60);
                }
                break;
            case 'F':
                out += format_date(t, "%Y-%m-%d");
                break;
            case 'T':
                out += format_date(t, "%H:%M:%S");
                break;
            case '%':
                out += '%';
                break;
            default:
                break;
        }
    }
    return out;
}

// --- Parsing -----------------------------------------------------------------------------

struct ParseFailure {
    size_t position;
    std::string message;
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class Parser {
public:
    Parser(const std::string& text, const json& tables) : s_(text), tables_(tables) {}

    NodePtr parse_all() {
        skip_ws();
        if (pos_ >= s_.size())
            fail(pos_,
                 "the expression is empty; write a field path, a quoted string or a function call");
        NodePtr node = parse_expr();
        skip_ws();
        if (pos_ < s_.size()) {
            char c = s_[pos_];
            std::string msg = "unexpected \"" + std::string(1, c) + "\" after " + node->text;
            if (std::string("+-*/&|").find(c) != std::string::npos)
                msg +=
                    "; there are no operators: use add(), sub(), mul() or concat(), and write a "
                    "field name with other characters as [\"first-name\"]";
            else if (c == ',' || c == ')')
                msg += "; it is not inside a function call";
            fail(pos_, msg);
        }
        return node;
    }

private:
    [[noreturn]] void fail(size_t at, const std::string& message) {
        throw ParseFailure{at, message};
    }

    void skip_ws() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }

    std::string found() const {
        if (pos_ >= s_.size()) return "the expression ends";
        return "found \"" + std::string(1, s_[pos_]) + "\"";
    }

    NodePtr parse_expr() {
        skip_ws();
        if (pos_ >= s_.size()) fail(pos_, "expected a value but the expression ends");
        char c = s_[pos_];
        if (c == '"' || c == '\'') return parse_string();
        if (std::isdigit(static_cast<unsigned char>(c)) ||
            (c == '-' && pos_ + 1 < s_.size() &&
             std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))))
            return parse_number();
        if (c == '$' || c == '[') return parse_path(pos_, {});
        if (ident_start(c)) {
            size_t start = pos_;
            std::string ident = read_ident();
            size_t after = pos_;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == '(') return parse_call(start, ident);
            pos_ = after;
            bool continues = pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == '[');
            if (!continues && (ident == "true" || ident == "false" || ident == "null")) {
                auto n = std::make_shared<Node>();
                n->kind = Node::Kind::literal;
                n->value = ident == "null" ? json() : json(ident == "true");
                n->text = ident;
                return n;
            }
            return parse_path(start, ident);
        }
        fail(pos_, "unexpected \"" + std::string(1, c) +
                       "\"; expected a field path, a quoted string, a number, true, false, null "
                       "or a function call");
    }

    std::string read_ident() {
        size_t start = pos_;
        while (pos_ < s_.size() && ident_char(s_[pos_])) ++pos_;
        return s_.substr(start, pos_ - start);
    }

    std::string read_quoted() {
        char quote = s_[pos_];
        size_t start = pos_++;
        std::string out;
        while (true) {
            if (pos_ >= s_.size())
                fail(start, "unterminated string; close it with " + std::string(1, quote));
            char c = s_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size())
                fail(start, "unterminated string; close it with " + std::string(1, quote));
            char e = s_[pos_++];
            switch (e) {
                case '"':
                    out += '"';
                    break;
                case '\'':
                    out += '\'';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 'u': {
                    if (pos_ + 4 > s_.size()) fail(pos_ - 2, "\\u needs four hex digits");
                    uint32_t cp = 0;
                    for (int k = 0; k < 4; ++k) {
                        char h = s_[pos_++];
                        if (!std::isxdigit(static_cast<unsigned char>(h)))
                            fail(pos_ - 1, "\\u needs four hex digits");
                        cp = cp * 16 +
                             static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                       ? h - '0'
                                                       : std::tolower(h) - 'a' + 10);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    fail(pos_ - 2, "unknown escape \\" + std::string(1, e) +
                                       "; use \\\" \\' \\\\ \\n \\t \\r or \\uXXXX");
            }
        }
        return out;
    }

    NodePtr parse_string() {
        size_t start = pos_;
        std::string v = read_quoted();
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::literal;
        n->value = v;
        n->text = s_.substr(start, pos_ - start);
        return n;
    }

    NodePtr parse_number() {
        size_t start = pos_;
        if (s_[pos_] == '-') ++pos_;
        bool integral = true;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            ++pos_;
            size_t digits = pos_;
            while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
            if (pos_ == digits) fail(pos_, "expected digits after the decimal point");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            size_t digits = pos_;
            while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
            if (pos_ == digits) fail(pos_, "expected digits in the exponent");
        }
        if (pos_ < s_.size() && ident_char(s_[pos_]))
            fail(pos_, "unexpected \"" + std::string(1, s_[pos_]) + "\" in the number " +
                           s_.substr(start, pos_ - start + 1) +
                           "; a field name cannot start with a digit (write [\"" +
                           s_.substr(start, pos_ - start + 1) + "…\"])");
        std::string text = s_.substr(start, pos_ - start);
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::literal;
        n->text = text;
        if (integral && text.size() <= 18)
            n->value = static_cast<int64_t>(std::stoll(text));
        else
            n->value = std::strtod(text.c_str(), nullptr);
        return n;
    }

    // A path: [$] first-ident? ( .ident | [int] | ["key"] )*
    NodePtr parse_path(size_t start, const std::string& first) {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::path;
        if (first.empty() && s_[pos_] == '$') {
            n->from_root = true;
            ++pos_;
        } else if (!first.empty()) {
            n->steps.push_back(PathStep{first, 0, false});
        }
        while (pos_ < s_.size()) {
            char c = s_[pos_];
            if (c == '.') {
                ++pos_;
                if (pos_ >= s_.size() || !ident_start(s_[pos_]))
                    fail(pos_,
                         "expected a field name after \".\", " + found() +
                             (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))
                                  ? "; an array element is written [0]"
                                  : ""));
                n->steps.push_back(PathStep{read_ident(), 0, false});
            } else if (c == '[') {
                size_t open = pos_++;
                skip_ws();
                if (pos_ < s_.size() && (s_[pos_] == '"' || s_[pos_] == '\'')) {
                    n->steps.push_back(PathStep{read_quoted(), 0, false});
                } else {
                    size_t num = pos_;
                    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
                    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])))
                        ++pos_;
                    std::string digits = s_.substr(num, pos_ - num);
                    if (digits.empty() || digits == "-" || digits.size() > 12)
                        fail(num,
                             "expected an array index such as [0] or a quoted name such as "
                             "[\"first-name\"] after \"[\", " +
                                 found());
                    n->steps.push_back(PathStep{"", std::stoll(digits), true});
                }
                skip_ws();
                if (pos_ >= s_.size() || s_[pos_] != ']')
                    fail(pos_, "expected \"]\" to close the \"[\" at column " +
                                   std::to_string(open + 1) + ", " + found());
                ++pos_;
            } else {
                break;
            }
        }
        n->text = s_.substr(start, pos_ - start);
        return n;
    }

    NodePtr parse_call(size_t start, const std::string& name) {
        const FunctionInfo* fi = nullptr;
        for (const auto& f : kFunctions)
            if (name == f.name) fi = &f;
        if (!fi) {
            std::vector<std::string> names;
            for (const auto& f : kFunctions) names.push_back(f.name);
            fail(start, "unknown function \"" + name + "\"" + suggestion(name, names, "functions"));
        }
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::call;
        n->function = fi->function;
        ++pos_;  // '('
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ')') {
            ++pos_;
        } else {
            while (true) {
                n->args.push_back(parse_expr());
                skip_ws();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == ')') {
                    ++pos_;
                    break;
                }
                fail(pos_,
                     "expected \",\" or \")\" in the arguments of " + name + "(), " + found());
            }
        }
        n->text = s_.substr(start, pos_ - start);
        const size_t count = n->args.size();
        if (count < fi->min_args || count > fi->max_args) {
            std::string wanted =
                fi->min_args == fi->max_args ? std::to_string(fi->min_args)
                : fi->max_args == kMany
                    ? "at least " + std::to_string(fi->min_args)
                    : std::to_string(fi->min_args) + " or " + std::to_string(fi->max_args);
            fail(start, name + "() takes " + wanted + " argument" + (wanted == "1" ? "" : "s") +
                            ", got " + std::to_string(count) + ": " + fi->signature);
        }
        check_call(start, *n);
        return n;
    }

    const Node& literal_arg(size_t start, const Node& call, size_t i, const std::string& what) {
        const Node& a = *call.args[i];
        if (a.kind != Node::Kind::literal || !a.value.is_string())
            fail(start, fname(call) + ": " + what + " must be a quoted string, got " + a.text);
        return a;
    }

    void check_call(size_t start, Node& n) {
        switch (n.function) {
            case Function::lookup: {
                const Node& t = literal_arg(start, n, 1, "the table name");
                n.name = t.value.get<std::string>();
                std::vector<std::string> names;
                if (tables_.is_object())
                    for (const auto& [k, v] : tables_.items()) names.push_back(k);
                auto it = tables_.is_object() ? tables_.find(n.name) : tables_.end();
                if (!tables_.is_object() || it == tables_.end())
                    fail(start, "unknown lookup table \"" + n.name + "\"" +
                                    suggestion(n.name, names, "lookup tables",
                                               "define it under /lookup_tables"));
                n.value = it->is_object() ? *it : json::object();
                break;
            }
            case Function::ref: {
                const Node& p = literal_arg(start, n, 0, "the process id");
                n.name = p.value.get<std::string>();
                if (n.name.empty()) fail(start, "ref(): the process id is empty");
                // What the key names, for "customer 123 has not been synced …".
                const Node& key = *n.args[1];
                n.noun = "record";
                if (key.kind == Node::Kind::path) {
                    std::vector<std::string> keys;
                    for (const auto& s : key.steps)
                        if (!s.is_index) keys.push_back(s.key);
                    if (keys.size() >= 2) {
                        n.noun = keys[keys.size() - 2];
                    } else if (keys.size() == 1) {
                        const std::string& k = keys[0];
                        for (const char* suffix : {"_id", "Id", "_key", "_number"}) {
                            std::string sfx = suffix;
                            if (k.size() > sfx.size() &&
                                k.compare(k.size() - sfx.size(), sfx.size(), sfx) == 0) {
                                n.noun = k.substr(0, k.size() - sfx.size());
                                break;
                            }
                        }
                    }
                }
                break;
            }
            case Function::date:
                for (size_t i = 1; i < n.args.size(); ++i) {
                    const Node& a = *n.args[i];
                    if (a.kind == Node::Kind::literal) {
                        if (!a.value.is_string())
                            fail(start,
                                 "date(): the format must be a quoted string, got " + a.text);
                        std::string problem = check_date_format(a.value.get<std::string>());
                        if (!problem.empty()) fail(start, "date(): " + problem);
                    }
                }
                break;
            case Function::round:
            case Function::format_number:
                if (n.args.size() > 1 && n.args[1]->kind == Node::Kind::literal) {
                    const json& d = n.args[1]->value;
                    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > 10)
                        fail(start, fname(n) +
                                        ": the number of decimals must be an integer from 0 "
                                        "to 10, got " +
                                        n.args[1]->text);
                }
                break;
            default:
                break;
        }
    }

    const std::string& s_;
    const json& tables_;
    size_t pos_ = 0;
};

// --- Evaluation helpers --------------------------------------------------------------------

Number need_number(const Node& call, size_t i, const json& v) {
    const Node& a = *call.args[i];
    if (v.is_null())
        throw EvalError(fname(call) + ": " + a.text +
                        " is null (missing?); if a missing value "
                        "means 0, write default(" +
                        a.text + ", 0)");
    auto n = to_number(v);
    if (!n)
        throw EvalError(fname(call) + ": " + a.text + " is " + quote_value(v) + ", not a number");
    return *n;
}

int need_decimals(const Node& call, size_t i, const json& v) {
    auto n = to_number(v);
    if (!n || !n->is_integer || n->integer < 0 || n->integer > 10)
        throw EvalError(fname(call) + ": the number of decimals (" + call.args[i]->text +
                        ") must be an integer from 0 to 10, got " + quote_value(v));
    return static_cast<int>(n->integer);
}

json arithmetic(const Node& call, const Context& c) {
    Value av = evaluate(*call.args[0], c);
    Value bv = evaluate(*call.args[1], c);
    Number a = need_number(call, 0, av.get());
    Number b = need_number(call, 1, bv.get());
    if (a.is_integer && b.is_integer) {
        int64_t r = 0;
        bool overflow = false;
        switch (call.function) {
            case Function::add:
                overflow = __builtin_add_overflow(a.integer, b.integer, &r);
                break;
            case Function::sub:
                overflow = __builtin_sub_overflow(a.integer, b.integer, &r);
                break;
            default:
                overflow = __builtin_mul_overflow(a.integer, b.integer, &r);
                break;
        }
        if (!overflow) return json(r);
    }
    double x = a.as_double(), y = b.as_double(), r = 0;
    switch (call.function) {
        case Function::add:
            r = x + y;
            break;
        case Function::sub:
            r = x - y;
            break;
        default:
            r = x * y;
            break;
    }
    if (!std::isfinite(r)) throw EvalError(fname(call) + ": the result is too large");
    return number_json(r);
}

std::string ascii_case(std::string s, bool up) {
    for (char& ch : s)
        ch = static_cast<char>(up ? std::toupper(static_cast<unsigned char>(ch))
                                  : std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

std::string trim_ws(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

Value call(const Node& n, const Context& c) {
    const auto& args = n.args;
    switch (n.function) {
        case Function::concat: {
            std::string out;
            for (size_t i = 0; i < args.size(); ++i) {
                Value v = evaluate(*args[i], c);
                out += to_text(v.get(), "concat(): " + args[i]->text);
            }
            return Value::own(json(std::move(out)));
        }
        case Function::trim:
        case Function::upper:
        case Function::lower: {
            Value v = evaluate(*args[0], c);
            if (v.get().is_null()) return Value::borrow(null_json());
            std::string s = to_text(v.get(), fname(n) + ": " + args[0]->text);
            if (n.function == Function::trim) return Value::own(json(trim_ws(s)));
            return Value::own(json(ascii_case(std::move(s), n.function == Function::upper)));
        }
        case Function::round: {
            Value v = evaluate(*args[0], c);
            if (v.get().is_null()) return Value::borrow(null_json());
            Number x = need_number(n, 0, v.get());
            int digits = 0;
            if (args.size() > 1) digits = need_decimals(n, 1, evaluate(*args[1], c).get());
            if (x.is_integer) return Value::own(json(x.integer));
            return Value::own(number_json(round_decimal(x.real, digits)));
        }
        case Function::number: {
            Value v = evaluate(*args[0], c);
            const json& j = v.get();
            if (j.is_null() || (j.is_string() && trim_ws(j.get<std::string>()).empty()))
                return Value::borrow(null_json());
            auto x = to_number(j);
            if (!x || j.is_boolean())
                throw EvalError("number(): " + args[0]->text + " is " + quote_value(j) +
                                ", which is not a number (write digits with a \".\" as the "
                                "decimal point)");
            if (x->is_integer) return Value::own(json(x->integer));
            return Value::own(json(x->real));
        }
        case Function::format_number: {
            Value v = evaluate(*args[0], c);
            if (v.get().is_null()) return Value::borrow(null_json());
            Number x = need_number(n, 0, v.get());
            int decimals = need_decimals(n, 1, evaluate(*args[1], c).get());
            return Value::own(json(format_fixed(x.as_double(), decimals)));
        }
        case Function::date: {
            Value v = evaluate(*args[0], c);
            const json& j = v.get();
            if (j.is_null() || (j.is_string() && j.get<std::string>().empty()))
                return Value::borrow(null_json());
            if (!j.is_string())
                throw EvalError("date(): " + args[0]->text + " is " + quote_value(j) +
                                ", not a date text");
            const std::string& text = j.get_ref<const std::string&>();
            Value out_v = evaluate(*args[1], c);
            if (!out_v.get().is_string())
                throw EvalError("date(): the output format must be a string");
            const std::string& out_format = out_v.get().get_ref<const std::string&>();
            DateTime t;
            if (args.size() > 2) {
                Value in_v = evaluate(*args[2], c);
                if (!in_v.get().is_string())
                    throw EvalError("date(): the input format must be a string");
                const std::string& in_format = in_v.get().get_ref<const std::string&>();
                std::string problem = check_date_format(in_format);
                if (!problem.empty()) throw EvalError("date(): " + problem);
                if (!parse_with_format(text, in_format, t))
                    throw EvalError("date(): " + quote_value(j) + " (" + args[0]->text +
                                    ") does not match the format \"" + in_format + "\"");
            } else if (!parse_iso(text, t)) {
                throw EvalError("date(): " + quote_value(j) + " (" + args[0]->text +
                                ") is not an ISO 8601 date such as 2024-05-01 or "
                                "2024-05-01T10:30:00+02:00; give its format as the third "
                                "argument, e.g. date(x, \"%Y-%m-%d\", \"%d.%m.%Y\")");
            }
            std::string problem = check_date_format(out_format);
            if (!problem.empty()) throw EvalError("date(): " + problem);
            return Value::own(json(format_date(t, out_format)));
        }
        case Function::default_value: {
            Value v = evaluate(*args[0], c);
            const json& j = v.get();
            if (j.is_null() || (j.is_string() && j.get_ref<const std::string&>().empty()))
                return evaluate(*args[1], c);
            return v;
        }
        case Function::sum: {
            Value arr = evaluate(*args[0], c);
            const json& a = arr.get();
            if (a.is_null()) return Value::own(json(0));
            if (!a.is_array())
                throw EvalError("sum(): " + args[0]->text + " is " + describe_type(a) +
                                ", not an array");
            bool all_integer = true;
            int64_t isum = 0;
            double dsum = 0;
            Context inner = c;
            for (size_t i = 0; i < a.size(); ++i) {
                const json* item = &a[i];
                Value ev;
                if (args.size() > 1) {
                    inner.current = item;
                    ev = evaluate(*args[1], inner);
                    item = &ev.get();
                }
                if (item->is_null()) continue;  // like SQL: nulls do not count
                auto x = to_number(*item);
                if (!x || item->is_boolean())
                    throw EvalError("sum(): element " + std::to_string(i) + " of " + args[0]->text +
                                    " gives " + quote_value(*item) + ", not a number");
                if (all_integer && x->is_integer &&
                    !__builtin_add_overflow(isum, x->integer, &isum))
                    continue;
                if (all_integer) {
                    all_integer = false;
                    dsum = static_cast<double>(isum);
                }
                dsum += x->as_double();
            }
            if (all_integer) return Value::own(json(isum));
            return Value::own(number_json(dsum));
        }
        case Function::count: {
            Value arr = evaluate(*args[0], c);
            const json& a = arr.get();
            if (a.is_null()) return Value::own(json(0));
            if (!a.is_array())
                throw EvalError("count(): " + args[0]->text + " is " + describe_type(a) +
                                ", not an array");
            return Value::own(json(static_cast<int64_t>(a.size())));
        }
        case Function::list: {
            // An array of the arguments, as they are (null included): lets `each` make a
            // one-element array from a record, e.g. a product's only variant from an item.
            json out = json::array();
            for (const auto& a : args) out.push_back(evaluate(*a, c).get());
            return Value::own(std::move(out));
        }
        case Function::mul:
        case Function::add:
        case Function::sub:
            return Value::own(arithmetic(n, c));
        case Function::lookup: {
            Value v = evaluate(*args[0], c);
            std::string key = to_text(v.get(), "lookup(): " + args[0]->text);
            auto it = n.value.find(key);
            if (it != n.value.end()) return Value::borrow(*it);
            if (args.size() > 2) return evaluate(*args[2], c);
            throw EvalError("lookup(): no entry for \"" + key + "\" (" + args[0]->text +
                            ") in lookup table \"" + n.name + "\"; add it under /lookup_tables/" +
                            json_pointer_segment(n.name) +
                            " or give lookup() a default as third argument");
        }
        case Function::ref: {
            Value v = evaluate(*args[1], c);
            std::string key = to_text(v.get(), "ref(): " + args[1]->text);
            if (key.empty())
                throw EvalError("ref(): " + args[1]->text + " is empty, so the " + n.noun +
                                " cannot be looked up in process \"" + n.name + "\"");
            if (!c.refs || !*c.refs)
                throw EvalError("ref(): no cross-reference ledger is available to resolve " +
                                n.noun + " " + key);
            std::optional<std::string> target = (*c.refs)(n.name, key);
            if (!target)
                throw EvalError(n.noun + " " + key + " has not been synced by process \"" + n.name +
                                "\"; run that process first (list it under this process's "
                                "dependencies so it runs before)");
            return Value::own(json(std::move(*target)));
        }
    }
    return Value::borrow(null_json());
}

}  // namespace

// --- Public ------------------------------------------------------------------------------

NodePtr parse(const std::string& text, const nlohmann::json& lookup_tables, std::string& error) {
    try {
        Parser p(text, lookup_tables);
        return p.parse_all();
    } catch (const ParseFailure& f) {
        error = "column " + std::to_string(f.position + 1) + " of \"" + text + "\": " + f.message;
        return nullptr;
    }
}

void collect_references(const Node& node, bool relative_is_root, References& out) {
    auto add = [](std::vector<std::string>& list, const std::string& v) {
        if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
    };
    switch (node.kind) {
        case Node::Kind::literal:
            return;
        case Node::Kind::path:
            if ((node.from_root || relative_is_root) && !node.steps.empty() &&
                !node.steps[0].is_index)
                add(out.source_roots, node.steps[0].key);
            return;
        case Node::Kind::call:
            if (node.function == Function::ref) add(out.processes, node.name);
            if (node.function == Function::lookup) add(out.lookup_tables, node.name);
            for (size_t i = 0; i < node.args.size(); ++i) {
                bool element_scope = node.function == Function::sum && i == 1;
                collect_references(*node.args[i], relative_is_root && !element_scope, out);
            }
            return;
    }
}

Value evaluate(const Node& node, const Context& c) {
    switch (node.kind) {
        case Node::Kind::literal:
            return Value::borrow(node.value);
        case Node::Kind::path: {
            const json* cur = node.from_root ? c.root : c.current;
            for (const PathStep& step : node.steps) {
                if (!cur) break;
                if (step.is_index) {
                    if (!cur->is_array()) {
                        cur = nullptr;
                        break;
                    }
                    int64_t size = static_cast<int64_t>(cur->size());
                    int64_t i = step.index < 0 ? size + step.index : step.index;
                    cur = (i >= 0 && i < size) ? &(*cur)[static_cast<size_t>(i)] : nullptr;
                } else {
                    if (!cur->is_object()) {
                        cur = nullptr;
                        break;
                    }
                    auto it = cur->find(step.key);
                    cur = it == cur->end() ? nullptr : &*it;
                }
            }
            return Value::borrow(cur ? *cur : null_json());
        }
        case Node::Kind::call:
            return call(node, c);
    }
    return Value::borrow(null_json());
}

std::optional<Number> to_number(const nlohmann::json& value) {
    Number n;
    switch (value.type()) {
        case json::value_t::number_integer:
            n.is_integer = true;
            n.integer = value.get<int64_t>();
            return n;
        case json::value_t::number_unsigned: {
            uint64_t u = value.get<uint64_t>();
            if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                n.is_integer = true;
                n.integer = static_cast<int64_t>(u);
            } else {
                n.real = static_cast<double>(u);
            }
            return n;
        }
        case json::value_t::number_float:
            n.real = value.get<double>();
            return n;
        case json::value_t::string: {
            const std::string& raw = value.get_ref<const std::string&>();
            size_t b = 0, e = raw.size();
            while (b < e && std::isspace(static_cast<unsigned char>(raw[b]))) ++b;
            while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1]))) --e;
            if (b == e) return std::nullopt;
            std::string s = raw.substr(b, e - b);
            bool digits_only = true, any_digit = false;
            for (size_t i = 0; i < s.size(); ++i) {
                char ch = s[i];
                if (std::isdigit(static_cast<unsigned char>(ch))) {
                    any_digit = true;
                    continue;
                }
                if ((ch == '-' || ch == '+') && i == 0) continue;
                digits_only = false;
                if (ch != '.' && ch != 'e' && ch != 'E' && ch != '-' && ch != '+')
                    return std::nullopt;
            }
            if (!any_digit) return std::nullopt;
            if (digits_only && s.size() <= 19) {
                errno = 0;
                char* end = nullptr;
                long long v = std::strtoll(s.c_str(), &end, 10);
                if (errno == 0 && *end == '\0') {
                    n.is_integer = true;
                    n.integer = v;
                    return n;
                }
            }
            char* end = nullptr;
            double d = std::strtod(s.c_str(), &end);
            if (*end != '\0' || !std::isfinite(d)) return std::nullopt;
            n.real = d;
            return n;
        }
        default:
            return std::nullopt;
    }
}

namespace {
// The double a decimal text denotes, correctly rounded; beyond the range of a double, what
// strtod gives (infinity, or zero and subnormals), which from_chars leaves undone.
double decimal_value(char* begin, char* end) {
    double r = 0;
    if (std::from_chars(begin, end, r).ec == std::errc()) return r;
    *end = '\0';
    return std::strtod(begin, nullptr);
}
}  // namespace

double round_decimal(double x, int digits) {
    if (!std::isfinite(x) || x == 0) return x;
    // 15 significant decimal digits: what a double holds reliably. Rounding works on these
    // digits, so 1.005 (binary 1.00499999999999989…) rounds to 1.01 as a person expects.
    // to_chars and from_chars, not printf and strtod: the same correctly rounded digits
    // (the standard defines them as printf's "%.14e"), without locale or allocation — this
    // runs for every number of every record.
    char buf[64];
    const auto printed = std::to_chars(buf, buf + sizeof buf - 1, std::fabs(x),
                                       std::chars_format::scientific, 14);
    char mantissa[15];  // "d.dddddddddddddde±X…": the 15 digits without the point
    mantissa[0] = buf[0];
    std::memcpy(mantissa + 1, buf + 2, 14);
    int exponent = 0;
    const char* e = std::find(buf, printed.ptr, 'e') + 1;
    if (*e == '+') ++e;
    std::from_chars(e, printed.ptr, exponent);
    const double sign = x < 0 ? -1.0 : 1.0;
    const int keep = exponent + 1 + digits;  // digits of the mantissa that stay
    if (keep >= 15) return sign * decimal_value(buf, printed.ptr);
    if (keep < 0) return 0.0;
    // The kept digits (one more when rounding up carries past the first), then the exponent.
    char text[64];
    char* digits_begin = text + 1;
    std::memcpy(digits_begin, mantissa, static_cast<size_t>(keep));
    char* digits_end = digits_begin + keep;
    if (mantissa[keep] >= '5') {
        char* i = digits_end;
        while (i > digits_begin && i[-1] == '9') *--i = '0';
        if (i == digits_begin) {
            *--digits_begin = '1';
        } else {
            ++i[-1];
        }
    }
    if (digits_end == digits_begin) return 0.0;
    *digits_end++ = 'e';
    digits_end = std::to_chars(digits_end, text + sizeof text - 1, exponent + 1 - keep).ptr;
    const double r = sign * decimal_value(digits_begin, digits_end);
    return r == 0 ? 0.0 : r;
}

std::string format_fixed(double x, int decimals) {
    double r = round_decimal(x, decimals);
    if (r == 0) r = 0.0;  // no "-0.00"
    char buf[400];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, r);
    std::string s = buf;
    if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
    return s;
}

int decimals_in(const std::string& text) {
    auto dot = text.find('.');
    if (dot == std::string::npos) return 0;
    int n = 0;
    for (size_t i = dot + 1; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
         ++i)
        ++n;
    return n;
}

nlohmann::json number_json(double x) {
    if (!std::isfinite(x)) return json();
    double r = round_decimal(x, 10);
    if (r == std::floor(r) && std::fabs(r) < 9007199254740992.0)
        return json(static_cast<int64_t>(r));
    return json(r);
}

std::string to_text(const nlohmann::json& value, const std::string& what) {
    switch (value.type()) {
        case json::value_t::null:
            return "";
        case json::value_t::string:
            return value.get<std::string>();
        case json::value_t::boolean:
            return value.get<bool>() ? "true" : "false";
        case json::value_t::number_integer:
            return std::to_string(value.get<int64_t>());
        case json::value_t::number_unsigned:
            return std::to_string(value.get<uint64_t>());
        case json::value_t::number_float: {
            double r = round_decimal(value.get<double>(), 10);
            char buf[64];
            if (std::fabs(r) < 1e15) {
                std::snprintf(buf, sizeof buf, "%.10f", r);
                std::string s = buf;
                while (!s.empty() && s.back() == '0') s.pop_back();
                if (!s.empty() && s.back() == '.') s.pop_back();
                if (s == "-0") s = "0";
                return s;
            }
            std::snprintf(buf, sizeof buf, "%.17g", r);
            return buf;
        }
        default:
            throw EvalError(what + " is " + describe_type(value) +
                            ", not text; pick one element or field of it, e.g. " +
                            (value.is_array() ? "lines[0].sku" : "customer.email"));
    }
}

}  // namespace plexus::expr
