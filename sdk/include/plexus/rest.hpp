// Plexus connector SDK — REST helpers (optional, header-only; needs only <plexus/connector.hpp>).
//
// The wire code every REST connector writes again: percent-encoding and query strings, the
// common pagination styles (RFC 8288 Link headers, page numbers, opaque tokens, offsets) as
// positions the host can store, tie-safe timestamp cursors, ISO 8601 times, HTTP status and
// error bodies mapped to plexus_status with a message that never echoes a secret, and JSON
// Patch (RFC 6902) / merge-patch (RFC 7386) building. Reference and a worked example:
// docs/sdk.md, "A REST connector with the helpers".
//
// Everything is in namespace plexus::sdk::rest. Nothing here does I/O: the connector still
// sends every request through Host::http().
#pragma once

#include <plexus/connector.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace plexus::sdk::rest {

// ---- Percent-encoding and queries ----------------------------------------------------------

namespace detail {
inline bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
}  // namespace detail

// Every byte but the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~) as %XX (upper-case hex);
// UTF-8 text is encoded byte by byte. Fit for a query name or value and for a path segment.
inline std::string url_encode(std::string_view text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (detail::unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// %XX sequences decoded; a '%' not followed by two hex digits stays as it is. '+' stays '+'
// (RFC 3986 query text) unless `plus_is_space` (an HTML form's encoding).
inline std::string url_decode(std::string_view text, bool plus_is_space = false) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const int hi = text[i] == '%' && i + 2 < text.size() ? detail::hex_value(text[i + 1]) : -1;
        const int lo = hi >= 0 ? detail::hex_value(text[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += plus_is_space && text[i] == '+' ? ' ' : text[i];
        }
    }
    return out;
}

// An ordered query string: parameters in the order added, a name may repeat (ids=1&ids=2).
//   Query q; q.add("limit", 50).add("status", "open").add("ids", "1").add("ids", "2");
//   q.str() == "limit=50&status=open&ids=1&ids=2";  q.to("https://x/api/t") == "https://x/api/t?limit=…"
class Query {
public:
    Query() = default;
    Query(std::initializer_list<std::pair<std::string, std::string>> params) : params_(params) {}

    Query& add(std::string name, std::string value) {
        params_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    Query& add(std::string name, const char* value) { return add(std::move(name), std::string(value)); }
    Query& add(std::string name, int64_t value) { return add(std::move(name), std::to_string(value)); }
    Query& add(std::string name, int value) { return add(std::move(name), std::to_string(value)); }
    Query& add(std::string name, size_t value) { return add(std::move(name), std::to_string(value)); }
    Query& add(std::string name, bool value) { return add(std::move(name), value ? "true" : "false"); }
    // Added only when set (and, for text, not empty).
    Query& add_if(std::string name, const std::optional<std::string>& value) {
        if (value && !value->empty()) add(std::move(name), *value);
        return *this;
    }

    // The first value of `name`, none when absent.
    std::optional<std::string> get(std::string_view name) const {
        for (const auto& [k, v] : params_)
            if (k == name) return v;
        return std::nullopt;
    }
    const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }
    bool empty() const { return params_.empty(); }

    // "a=1&b=x%20y" (names and values percent-encoded); "" when empty.
    std::string str() const {
        std::string out;
        for (const auto& [k, v] : params_) {
            if (!out.empty()) out += '&';
            out += url_encode(k);
            out += '=';
            out += url_encode(v);
        }
        return out;
    }
    // `url` with this query appended after '?' (or '&' when the URL has a query already).
    std::string to(std::string_view url) const {
        std::string out(url);
        if (params_.empty()) return out;
        out += out.find('?') == std::string::npos ? '?' : '&';
        return out + str();
    }

    // The query of a URL (the part after '?', or the whole text when it has no '?'; a
    // fragment is dropped), decoded into an ordered Query. '+' stays '+'.
    static Query parse(std::string_view url_or_query) {
        Query q;
        if (auto mark = url_or_query.find('?'); mark != std::string_view::npos) url_or_query.remove_prefix(mark + 1);
        else if (url_or_query.find("://") != std::string_view::npos) return q;
        if (auto hash = url_or_query.find('#'); hash != std::string_view::npos) url_or_query = url_or_query.substr(0, hash);
        size_t p = 0;
        while (p < url_or_query.size()) {
            size_t amp = url_or_query.find('&', p);
            if (amp == std::string_view::npos) amp = url_or_query.size();
            const std::string_view kv = url_or_query.substr(p, amp - p);
            if (!kv.empty()) {
                const auto eq = kv.find('=');
                q.add(url_decode(kv.substr(0, eq)),
                      eq == std::string_view::npos ? std::string() : url_decode(kv.substr(eq + 1)));
            }
            p = amp + 1;
        }
        return q;
    }

private:
    std::vector<std::pair<std::string, std::string>> params_;
};

// The decoded value of a URL's query parameter, none when absent:
//   query_param("https://x/p?page_info=ab%3D&limit=5", "page_info") == "ab="
inline std::optional<std::string> query_param(std::string_view url, std::string_view name) {
    if (url.find('?') == std::string_view::npos) return std::nullopt;
    return Query::parse(url).get(name);
}

// "scheme://host[:port]" of an absolute URL ("" when it is not one).
inline std::string origin(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    const auto end = url.find_first_of("/?#", scheme + 3);
    return detail::lower(url.substr(0, end));
}

// How a request is named in messages and logs: the method and the path, never the query
// (it may carry e-mail addresses or tokens), the scheme nor the host:
//   describe("GET", "https://x.example/api/tickets?email=a@b") == "GET /api/tickets"
inline std::string describe(std::string_view method, std::string_view url) {
    if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
        const auto slash = url.find('/', scheme + 3);
        url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
    }
    url = url.substr(0, url.find_first_of("?#"));
    return std::string(method) + " " + std::string(url);
}

// ---- RFC 8288 Link headers ------------------------------------------------------------------

// One entry of a Link header: the URL between < and >, and its rel in lower case (it may list
// several relation types separated by spaces: "next last").
struct Link {
    std::string url;
    std::string rel;
    // Whether `rel` lists `type` (case-insensitive).
    bool has_rel(std::string_view type) const {
        const std::string want = detail::lower(type);
        size_t p = 0;
        while (p <= rel.size()) {
            size_t sp = rel.find(' ', p);
            if (sp == std::string::npos) sp = rel.size();
            if (sp > p && rel.compare(p, sp - p, want) == 0 && sp - p == want.size()) return true;
            p = sp + 1;
        }
        return false;
    }
};

// Every entry of a Link header. Entries are split at the '>' that ends each URL, never at a
// bare comma: an HTTP client may hand the header over percent-decoded, and then
// fields=id%2Ctitle arrives as fields=id,title. Quoted parameter values may hold commas and
// semicolons; only the first rel of an entry counts (RFC 8288 §3.3); unreadable parts are
// skipped.
inline std::vector<Link> parse_link_header(std::string_view header) {
    std::vector<Link> out;
    const size_t n = header.size();
    size_t i = 0;
    const auto skip_ws = [&] {
        while (i < n && (header[i] == ' ' || header[i] == '\t')) ++i;
    };
    while (i < n) {
        skip_ws();
        if (i < n && header[i] == ',') {
            ++i;
            continue;
        }
        if (i >= n) break;
        if (header[i] != '<') {  // garbage: go on at the next '<'
            const size_t lt = header.find('<', i);
            if (lt == std::string_view::npos) break;
            i = lt;
            continue;
        }
        // The URL: up to the first '>' followed (after blanks) by ';', ',' or the end.
        size_t gt = std::string_view::npos;
        for (size_t k = i + 1; k < n; ++k) {
            if (header[k] != '>') continue;
            size_t m = k + 1;
            while (m < n && (header[m] == ' ' || header[m] == '\t')) ++m;
            if (m == n || header[m] == ';' || header[m] == ',') {
                gt = k;
                break;
            }
        }
        if (gt == std::string_view::npos) break;  // an unterminated URL: nothing more to read
        Link link;
        link.url = std::string(header.substr(i + 1, gt - i - 1));
        i = gt + 1;
        // Parameters: ; name[=value | ="quoted"] …, until a ',' outside quotes or the end.
        for (;;) {
            skip_ws();
            if (i >= n || header[i] == ',') break;
            if (header[i] != ';') {  // stray text: skip to the next separator
                while (i < n && header[i] != ';' && header[i] != ',') ++i;
                continue;
            }
            ++i;
            skip_ws();
            size_t name_end = i;
            while (name_end < n && header[name_end] != '=' && header[name_end] != ';' && header[name_end] != ',' &&
                   header[name_end] != ' ' && header[name_end] != '\t')
                ++name_end;
            const std::string name = detail::lower(header.substr(i, name_end - i));
            i = name_end;
            skip_ws();
            std::string value;
            if (i < n && header[i] == '=') {
                ++i;
                skip_ws();
                if (i < n && header[i] == '"') {
                    for (++i; i < n && header[i] != '"'; ++i) {
                        if (header[i] == '\\' && i + 1 < n) ++i;
                        value += header[i];
                    }
                    if (i < n) ++i;  // the closing quote
                } else {
                    while (i < n && header[i] != ';' && header[i] != ',' && header[i] != ' ' && header[i] != '\t')
                        value += header[i++];
                }
            }
            if (name == "rel" && link.rel.empty()) link.rel = detail::lower(value);
        }
        out.push_back(std::move(link));
    }
    return out;
}

// The URL of the first link whose rel lists `rel` ("next", "prev", …); none when there is none:
//   link_url(r.header("Link"), "next")
inline std::optional<std::string> link_url(std::string_view header, std::string_view rel = "next") {
    for (auto& link : parse_link_header(header))
        if (link.has_rel(rel)) return std::move(link.url);
    return std::nullopt;
}

// A query parameter of that link's URL (decoded), none when the link or a non-empty value is
// missing — Shopify's cursor: link_param(r.header("Link"), "next", "page_info").
inline std::optional<std::string> link_param(std::string_view header, std::string_view rel, std::string_view name) {
    const auto url = link_url(header, rel);
    if (!url) return std::nullopt;
    auto value = query_param(*url, name);
    if (!value || value->empty()) return std::nullopt;
    return value;
}

// ---- ISO 8601 times ------------------------------------------------------------------------------

// Days since 1970-01-01 of a date of the proleptic Gregorian calendar (H. Hinnant's
// days_from_civil): month 1–12, day 1–31; a day past the month's end counts on into the next
// (2024-02-30 is 2024-03-01). Negative before 1970.
inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// A date of the proleptic Gregorian calendar.
struct CivilDate {
    int64_t year = 1970;
    unsigned month = 1;  // 1–12
    unsigned day = 1;    // 1–31
};

// The date of a day counted since 1970-01-01 (H. Hinnant's civil_from_days); the inverse of
// days_from_civil.
inline CivilDate civil_from_days(int64_t days) {
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return CivilDate{static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

// A calendar date written "YYYY-MM-DD" (nothing before or after it) as days since 1970-01-01;
// none when malformed or the month is not 1–12 or the day not 1–31.
inline std::optional<int64_t> parse_date(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
    const int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    const unsigned m = static_cast<unsigned>((s[5] - '0') * 10 + (s[6] - '0'));
    const unsigned d = static_cast<unsigned>((s[8] - '0') * 10 + (s[9] - '0'));
    if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
    return days_from_civil(y, m, d);
}

// Days since 1970-01-01 → "YYYY-MM-DD"; the inverse of parse_date.
inline std::string format_date(int64_t days) {
    const CivilDate c = civil_from_days(days);
    char buf[40];
    const int len = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month, c.day);
    return std::string(buf, static_cast<size_t>(len));
}

// An RFC 3339 / ISO 8601 time ("2024-05-01T12:00:00Z", "…T08:00:00.25-04:00", also with a
// space for the 'T') as units since 1970-01-01 UTC: seconds by default, or `per_second` units
// (1000 ms, 10'000'000 for .NET's 100 ns ticks; finer digits are cut). A time without a zone
// and a bare date ("2024-05-01", midnight) are refused unless `assume_utc`. None when malformed.
inline std::optional<int64_t> parse_time(std::string_view s, int64_t per_second = 1, bool assume_utc = false) {
    const auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
        if (pos + n > s.size()) return std::nullopt;
        int v = 0;
        for (size_t i = pos; i < pos + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
    if (!y || !mo || !d || s[4] != '-' || s[7] != '-' || *mo < 1 || *mo > 12 || *d < 1 || *d > 31) return std::nullopt;
    int64_t t = days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86400 * per_second;
    if (s.size() == 10) return assume_utc ? std::optional<int64_t>(t) : std::nullopt;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
    const auto h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
    if (!h || !mi || !se || s[13] != ':' || s[16] != ':' || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
    t += ((*h * 60LL + *mi) * 60 + *se) * per_second;
    size_t pos = 19;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        const size_t start = ++pos;
        int64_t scale = per_second;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (scale >= 10) {
                scale /= 10;
                t += (s[pos] - '0') * scale;
            }
            ++pos;
        }
        if (pos == start) return std::nullopt;
    }
    if (pos == s.size()) return assume_utc ? std::optional<int64_t>(t) : std::nullopt;
    if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return t;
    if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
    const auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || pos + 6 != s.size() || *oh > 23 || *om > 59) return std::nullopt;
    const int64_t off = (*oh * 60LL + *om) * 60 * per_second;
    return s[pos] == '+' ? t - off : t + off;
}

// Units since 1970 (as parse_time) → "2024-05-01T16:00:00Z" in UTC, with as many fraction
// digits as `per_second` has zeros ("…00.1234567Z" for ticks). Fixed width: such texts order
// as the times they name, so they compare as text in cursors.
inline std::string format_time(int64_t value, int64_t per_second = 1) {
    int64_t secs = value / per_second, frac = value % per_second;
    if (frac < 0) frac += per_second, --secs;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, --days;
    char buf[80];
    int len = std::snprintf(buf, sizeof buf, "T%02lld:%02lld:%02lld", static_cast<long long>(rem / 3600),
                            static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60));
    std::string out = format_date(days) + std::string(buf, static_cast<size_t>(len));
    int width = 0;
    for (int64_t p = per_second; p >= 10; p /= 10) ++width;
    if (width > 0) {
        std::snprintf(buf, sizeof buf, ".%0*lld", width, static_cast<long long>(frac));
        out += buf;
    }
    return out + "Z";
}

// A time text normalised to UTC at `per_second` precision ("2024-05-01T14:00:00+02:00" →
// "2024-05-01T12:00:00Z"); none when malformed.
inline std::optional<std::string> utc_time(std::string_view text, int64_t per_second = 1, bool assume_utc = false) {
    const auto t = parse_time(text, per_second, assume_utc);
    if (!t) return std::nullopt;
    return format_time(*t, per_second);
}

// ---- Cursors: what the host stores ------------------------------------------------------------

namespace detail {
[[noreturn]] inline void bad_cursor(const std::string& text, std::string_view kind) {
    throw Error(PLEXUS_ERR_CONFIG, "the stored cursor \"" + text.substr(0, 120) + "\" is not a " + std::string(kind) +
                                       " this connector wrote; rewind the process (plexus cursor)");
}
inline json cursor_object(const std::string& text, std::string_view kind) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) bad_cursor(text, kind);
    return j;
}
// Keys order as numbers when both are whole numbers ("9" < "10"), else as text.
inline int compare_keys(std::string_view a, std::string_view b) {
    const auto numeric = [](std::string_view s) {
        return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (numeric(a) && numeric(b)) {
        const long long x = std::atoll(std::string(a).c_str()), y = std::atoll(std::string(b).c_str());
        return x < y ? -1 : x > y ? 1 : 0;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}
}  // namespace detail

// Orders two records by (time, key): the time as text (use fixed-width UTC texts, as
// format_time makes), ties broken by the key — numerically when both keys are whole numbers.
// <0, 0, >0 like strcmp.
inline int compare_position(std::string_view at_a, std::string_view key_a, std::string_view at_b,
                            std::string_view key_b) {
    if (at_a != at_b) return at_a < at_b ? -1 : 1;
    return detail::compare_keys(key_a, key_b);
}

// A tie-safe incremental cursor: the greatest change time read so far (`at`, a fixed-width
// UTC text) and the keys of the records read *at exactly that time*. Records sharing a
// timestamp across a page boundary are then neither skipped nor read twice, whether the API
// filters by "changed at or after T" (skip the keys at T: is_new) or by "(time, id) after
// (T, ID)" (send at and last_key()). Stored as {"at": "…", "keys": ["…"]}; an empty cursor
// (nothing read yet) encodes too, so a page's next_cursor is never "".
//   TieCursor c = TieCursor::from(request);            // the request's cursor, or its since
//   for (auto& t : rows) if (c.is_new(t.at, t.id)) { page.records.push_back(…); c.advance(t.at, t.id); }
//   page.next_cursor = c.encode();
struct TieCursor {
    std::string at;                 // "" : from the beginning
    std::vector<std::string> keys;  // read already at exactly `at`, in reading order

    // Whether the record (at, key) comes after this position: a later time, or the same time
    // and a key not read yet.
    bool is_new(std::string_view record_at, std::string_view key) const {
        if (record_at != at) return record_at > at;
        return std::find(keys.begin(), keys.end(), key) == keys.end();
    }
    // Takes a record read into the position (records older than `at` change nothing).
    void advance(std::string_view record_at, std::string_view key) {
        if (record_at > at) {
            at = std::string(record_at);
            keys.assign(1, std::string(key));
        } else if (record_at == at && std::find(keys.begin(), keys.end(), key) == keys.end()) {
            keys.emplace_back(key);
        }
    }
    // The last key read at `at` ("" when none): an API ordered by (time, id) resumes after it.
    std::string last_key() const { return keys.empty() ? std::string() : keys.back(); }

    std::string encode() const { return json{{"at", at}, {"keys", keys}}.dump(); }
    // Throws Error(PLEXUS_ERR_CONFIG) naming the text when it is not such a cursor.
    static TieCursor decode(const std::string& text) {
        const json j = detail::cursor_object(text, "timestamp cursor");
        TieCursor c;
        const auto at = j.find("at");
        const auto keys = j.find("keys");
        if (at == j.end() || !at->is_string() || (keys != j.end() && !keys->is_array()))
            detail::bad_cursor(text, "timestamp cursor");
        c.at = at->get<std::string>();
        if (keys != j.end())
            for (const auto& k : *keys) {
                if (!k.is_string()) detail::bad_cursor(text, "timestamp cursor");
                c.keys.push_back(k.get<std::string>());
            }
        return c;
    }
    // The start of a read: the request's cursor when it has one; else its `since` (an
    // operator's rewind: records at or after it), normalised by `normalise` when given
    // (e.g. [](auto t){ return utc_time(t); }); else the beginning.
    template <typename Normalise = std::nullptr_t>
    static TieCursor from(const ReadRequest& request, Normalise normalise = nullptr) {
        if (request.cursor && !request.cursor->empty()) return decode(*request.cursor);
        TieCursor c;
        if (request.since && !request.since->empty()) {
            if constexpr (std::is_same_v<Normalise, std::nullptr_t>) {
                c.at = *request.since;
            } else {
                std::optional<std::string> t = normalise(*request.since);
                if (!t) throw Error(PLEXUS_ERR_CONFIG, "since \"" + *request.since + "\" is not an ISO 8601 time");
                c.at = *t;
            }
        }
        return c;
    }
};

// ---- Pagination styles --------------------------------------------------------------------------
//
// Each pager is the position of a paged read as the host stores it (encode() → next_cursor,
// never ""; from() ← request.cursor), adds what the next request needs to a Query (add_to),
// and learns from each answer whether more follows (next(), has_more()). finish() puts both
// into the ReadPage:
//   auto p = rest::PageNumber::from(request.cursor, 100);
//   Query q; p.add_to(q, "page", "limit");  … GET … ;  p.next(rows.size(), body["pages"]);
//   rest::finish(page, p);

// When a page-number or offset list ends, if the API does not say how many there are.
enum class PageEnd {
    Short,  // a page with fewer rows than asked for is the last
    Empty,  // only an empty page ends the list (the API may return short pages before the end)
};

// page=1,2,… (or from 0), with the page size; the API may tell the number of pages.
struct PageNumber {
    int64_t page = 1;
    int64_t size = 100;
    bool done = false;

    static PageNumber from(const std::optional<std::string>& cursor, int64_t size, int64_t first_page = 1) {
        PageNumber p{first_page, size, false};
        if (!cursor || cursor->empty()) return p;
        const json j = detail::cursor_object(*cursor, "page-number cursor");
        const auto n = j.find("page");
        if (n == j.end() || !n->is_number_integer()) detail::bad_cursor(*cursor, "page-number cursor");
        p.page = n->get<int64_t>();
        p.done = j.value("done", false);
        return p;
    }
    void add_to(Query& q, std::string page_name = "page", std::string size_name = "limit") const {
        q.add(std::move(page_name), page);
        if (!size_name.empty()) q.add(std::move(size_name), size);
    }
    // After the page `page` answered with `rows` rows (and, when the API says it, the total
    // number of pages): moves to the next page, or marks the end.
    void next(size_t rows, std::optional<int64_t> total_pages = std::nullopt, PageEnd end = PageEnd::Short) {
        if (total_pages) done = page >= *total_pages || rows == 0;
        else done = end == PageEnd::Empty ? rows == 0 : static_cast<int64_t>(rows) < size || rows == 0;
        if (!done) ++page;
    }
    bool has_more() const { return !done; }
    std::string encode() const {
        json j{{"page", page}};
        if (done) j["done"] = true;
        return j.dump();
    }
};

// offset=0,100,200,… with limit; the API may tell the total count.
struct Offset {
    int64_t offset = 0;
    int64_t limit = 100;
    bool done = false;

    static Offset from(const std::optional<std::string>& cursor, int64_t limit) {
        Offset o{0, limit, false};
        if (!cursor || cursor->empty()) return o;
        const json j = detail::cursor_object(*cursor, "offset cursor");
        const auto n = j.find("offset");
        if (n == j.end() || !n->is_number_integer() || n->get<int64_t>() < 0) detail::bad_cursor(*cursor, "offset cursor");
        o.offset = n->get<int64_t>();
        o.done = j.value("done", false);
        return o;
    }
    void add_to(Query& q, std::string offset_name = "offset", std::string limit_name = "limit") const {
        q.add(std::move(offset_name), offset);
        if (!limit_name.empty()) q.add(std::move(limit_name), limit);
    }
    void next(size_t rows, std::optional<int64_t> total = std::nullopt, PageEnd end = PageEnd::Short) {
        offset += static_cast<int64_t>(rows);
        if (total) done = offset >= *total || rows == 0;
        else done = end == PageEnd::Empty ? rows == 0 : static_cast<int64_t>(rows) < limit || rows == 0;
    }
    bool has_more() const { return !done; }
    std::string encode() const {
        json j{{"offset", offset}};
        if (done) j["done"] = true;
        return j.dump();
    }
};

// An opaque continuation token the API returns with each page ("next_page_token",
// "cursor", "continuation"); none or "" on the last page. `scope` is what the token belongs
// to (the filter, the since it was asked with), kept beside it: a token is only valid with it.
struct Token {
    std::string token;  // "" : the first page
    std::string scope;
    bool done = false;

    static Token from(const std::optional<std::string>& cursor, std::string scope = {}) {
        Token t;
        t.scope = std::move(scope);
        if (!cursor || cursor->empty()) return t;
        const json j = detail::cursor_object(*cursor, "token cursor");
        const auto tok = j.find("token");
        if (tok == j.end() || !tok->is_string()) detail::bad_cursor(*cursor, "token cursor");
        // A token asked with another filter is worthless: start over with this one.
        if (j.value("scope", "") != t.scope) return t;
        t.token = tok->get<std::string>();
        t.done = j.value("done", false);
        return t;
    }
    void add_to(Query& q, std::string name = "cursor") const {
        if (!token.empty()) q.add(std::move(name), token);
    }
    // The token the answer gave for the next page (none or "": this was the last). A token
    // equal to the one just used would loop for ever: Error(TRANSIENT).
    void next(const std::optional<std::string>& next_token) {
        if (!next_token || next_token->empty()) {
            done = true;
            return;
        }
        if (*next_token == token)
            throw Error(PLEXUS_ERR_TRANSIENT, "the API answered the same continuation token again (it would loop)");
        token = *next_token;
    }
    bool has_more() const { return !done; }
    std::string encode() const {
        json j{{"token", token}};
        if (!scope.empty()) j["scope"] = scope;
        if (done) j["done"] = true;
        return j.dump();
    }
};

// RFC 8288: follow the rel="next" URL of each answer's Link header (GitHub, Shopify, many
// more). `url` is the request to send; it starts as the first page's URL. A relative link is
// resolved against that URL; a link to another origin is refused (the credentials would go
// with it).
struct LinkNext {
    std::string url;
    bool done = false;

    static LinkNext from(const std::optional<std::string>& cursor, std::string first_url) {
        LinkNext l{std::move(first_url), false};
        if (!cursor || cursor->empty()) return l;
        const json j = detail::cursor_object(*cursor, "link cursor");
        const auto u = j.find("next");
        if (u == j.end() || !u->is_string()) detail::bad_cursor(*cursor, "link cursor");
        // Stored links must stay on the first page's origin (a cursor edited by hand cannot
        // send the token elsewhere).
        if (origin(u->get<std::string>()) != origin(l.url)) detail::bad_cursor(*cursor, "link cursor");
        l.url = u->get<std::string>();
        l.done = j.value("done", false);
        return l;
    }
    // After an answer: its Link header.
    void next(std::string_view link_header) {
        auto next_url = link_url(link_header, "next");
        if (!next_url || next_url->empty()) {
            done = true;
            return;
        }
        std::string resolved = *next_url;
        if (resolved.front() == '/') resolved = origin(url) + resolved;
        if (origin(resolved) != origin(url))
            throw Error(PLEXUS_ERR_TRANSIENT, "the API's Link header points the next page to another site (" +
                                                  origin(resolved) + "): refused");
        if (resolved == url) throw Error(PLEXUS_ERR_TRANSIENT, "the API's Link header names the same page again as next");
        url = std::move(resolved);
    }
    bool has_more() const { return !done; }
    std::string encode() const {
        json j{{"next", url}};
        if (done) j["done"] = true;
        return j.dump();
    }
};

// Puts a pager's has_more and next_cursor into the page.
template <typename Pager>
void finish(ReadPage& page, const Pager& pager) {
    page.has_more = pager.has_more();
    page.next_cursor = pager.encode();
}

// ---- Statuses from HTTP answers --------------------------------------------------------------

// The plexus_status an HTTP status means (docs/sdk.md §7 says what the host does with each):
// 2xx OK; 400, 422 VALIDATION; 401, 403 AUTH; 404, 410 NOT_FOUND; 409, 412 CONFLICT;
// 429 RATE_LIMIT; 408 and 5xx TRANSIENT; 3xx CONFIG (redirects are not followed: a wrong base
// URL); any other 4xx PLUGIN (a request the connector should not have sent).
inline plexus_status status_of(int http) {
    if (http >= 200 && http < 300) return PLEXUS_OK;
    switch (http) {
        case 400: case 422: return PLEXUS_ERR_VALIDATION;
        case 401: case 403: return PLEXUS_ERR_AUTH;
        case 404: case 410: return PLEXUS_ERR_NOT_FOUND;
        case 409: case 412: return PLEXUS_ERR_CONFLICT;
        case 429: return PLEXUS_ERR_RATE_LIMIT;
        case 408: return PLEXUS_ERR_TRANSIENT;
        default: break;
    }
    if (http >= 500) return PLEXUS_ERR_TRANSIENT;
    if (http >= 300 && http < 400) return PLEXUS_ERR_CONFIG;
    return PLEXUS_ERR_PLUGIN;
}

// Statuses that concern the whole run, not one record: a per-record operation lets them
// through (thrown) instead of failing only its record — AUTH, RATE_LIMIT, CANCELLED, CONFIG.
inline bool stops_run(plexus_status s) {
    return s == PLEXUS_ERR_AUTH || s == PLEXUS_ERR_RATE_LIMIT || s == PLEXUS_ERR_CANCELLED || s == PLEXUS_ERR_CONFIG;
}

// Runs one record's work: its WriteResult, or — when it throws an Error that does not stop
// the run — a failed result with that status. Failure messages are prefixed with `who`
// ("SKU PX-1"). Whole-run statuses (stops_run) are thrown on.
template <typename F>
WriteResult per_record(const std::string& who, F&& work) {
    try {
        WriteResult r = work();
        if (r.status != PLEXUS_OK) r.message = who + ": " + r.message;
        return r;
    } catch (const Error& e) {
        if (stops_run(e.status())) throw;
        return WriteResult::failed(e.status(), who + ": " + e.what());
    }
}

// Retry-After (RFC 9110 §10.2.3): delta-seconds ("30") or an HTTP date ("Wed, 21 Oct 2015
// 07:28:00 GMT", counted from `now_ms`, the host's clock); none when absent or unreadable.
inline std::optional<int64_t> retry_after_s(std::string_view value, int64_t now_ms = 0) {
    value = detail::trim(value);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return value.size() > 9 ? std::nullopt : std::optional<int64_t>(std::atoll(std::string(value).c_str()));
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wd[4] = {}, mon[4] = {};
    int d = 0, y = 0, h = 0, mi = 0, s = 0;
    if (std::sscanf(std::string(value).c_str(), "%3s, %d %3s %d %d:%d:%d GMT", wd, &d, mon, &y, &h, &mi, &s) != 7)
        return std::nullopt;
    int m = 0;
    while (m < 12 && std::string_view(mon) != months[m]) ++m;
    if (m == 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    const int64_t at = days_from_civil(y, static_cast<unsigned>(m + 1), static_cast<unsigned>(d)) * 86400 +
                       h * 3600 + mi * 60 + s;
    return std::max<int64_t>(0, at - now_ms / 1000);
}

namespace detail {
inline bool secret_name(std::string_view name) {
    const std::string n = lower(name);
    for (const char* w : {"token", "secret", "password", "passwd", "pwd", "authorization", "api_key", "apikey",
                          "api-key", "credential", "cookie", "session", "signature", "private_key"})
        if (n.find(w) != std::string::npos) return true;
    return n == "key" || n == "auth";
}
inline void redact_json(json& j) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (secret_name(it.key()) && !it->is_object() && !it->is_array() && !it->is_null()) *it = "***";
            else redact_json(*it);
        }
    } else if (j.is_array()) {
        for (auto& e : j) redact_json(e);
    }
}
// In free text: the word after "Bearer"/"Basic" and the value after name= / name: for a
// secret-looking name.
inline std::string redact_text(std::string_view in) {
    std::string out;
    size_t i = 0;
    const auto word_end = [&](size_t p) {
        while (p < in.size() && in[p] != ' ' && in[p] != '&' && in[p] != ',' && in[p] != ';' && in[p] != '"' &&
               in[p] != '\'' && in[p] != '\n' && in[p] != '\r')
            ++p;
        return p;
    };
    while (i < in.size()) {
        const size_t end = word_end(i);
        std::string_view word = in.substr(i, end - i);
        const std::string lw = lower(word);
        if ((lw == "bearer" || lw == "basic") && end < in.size() && in[end] == ' ') {
            out.append(word).append(" ***");
            i = word_end(end + 1);
            continue;
        }
        const size_t sep = word.find_first_of("=:");
        if (sep != std::string_view::npos && sep > 0 && secret_name(word.substr(0, sep))) {
            out.append(word.substr(0, sep + 1)).append("***");
        } else {
            out.append(word);
        }
        i = end;
        if (i < in.size()) out += in[i++];
    }
    return out;
}
inline std::string one_line(std::string_view s, size_t max) {
    std::string out;
    for (char c : s) {
        const char t = c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
        if (t == ' ' && !out.empty() && out.back() == ' ') continue;
        out += t;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > max) {
        size_t cut = max;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // a whole UTF-8 character
        out.resize(cut);
        out += "…";
    }
    return out;
}
inline std::string text_of(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (const auto& e : v) {
            const std::string t = text_of(e);
            if (!t.empty()) out += (out.empty() ? "" : ", ") + t;
        }
        return out;
    }
    if (v.is_object()) {
        for (const char* n : {"message", "detail", "description", "title", "code"})
            if (auto it = v.find(n); it != v.end() && !it->is_null()) return text_of(*it);
    }
    return v.is_null() ? std::string() : v.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace detail

// At most `max` bytes of a body, on one line, for a message: a JSON body with the values of
// secret-looking members ("token", "password", "api_key" …) replaced by ***, other text with
// "Bearer …" and secret=… values replaced. Cut at a whole UTF-8 character, "…" appended.
inline std::string excerpt(std::string_view body, size_t max = 200) {
    json j = json::parse(body, nullptr, false);
    std::string text;
    if (!j.is_discarded() && (j.is_object() || j.is_array())) {
        detail::redact_json(j);
        text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
        text = detail::redact_text(body);
    }
    return detail::one_line(text, max);
}

// What the common error-body shapes say, "" when none fits (then use excerpt()):
// RFC 9457 problem details (title, detail, errors), OAuth (error, error_description),
// {"message"}, {"error": "…" | {"message"}}, {"errors": {"field": ["…"]} | ["…"]}. Values of
// secret-looking members are never included.
inline std::string error_detail(std::string_view body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return {};
    detail::redact_json(j);
    const auto text = [&](std::initializer_list<const char*> names) -> std::string {
        for (const char* n : names)
            if (auto it = j.find(n); it != j.end() && !it->is_null()) {
                std::string t = detail::text_of(*it);
                if (!t.empty()) return t;
            }
        return {};
    };
    std::string out = text({"title", "Title"});
    if (const std::string d = text({"detail", "Detail"}); !d.empty()) out += (out.empty() ? "" : " — ") + d;
    if (const std::string m = text({"message", "Message", "error_message", "errorMessage"}); !m.empty() && out.empty())
        out = m;
    if (auto e = j.find("error"); e != j.end() && !e->is_null() && out.empty()) {
        out = detail::text_of(*e);
        if (const std::string d = text({"error_description"}); !d.empty()) out += " — " + d;
    }
    for (const char* n : {"errors", "Errors"}) {
        auto it = j.find(n);
        if (it == j.end() || it->is_null()) continue;
        std::string list;
        if (it->is_object()) {
            for (auto e = it->begin(); e != it->end(); ++e)
                list += (list.empty() ? "" : "; ") + (e.key() == "base" ? "" : e.key() + ": ") + detail::text_of(*e);
        } else {
            list = detail::text_of(*it);
        }
        if (!list.empty()) out += (out.empty() ? "" : "; ") + list;
    }
    return out;
}

// A non-2xx answer as the status the host acts on and a message for the operator:
// "<service> answered HTTP 422 to POST /api/tickets: subject: can't be blank". The message
// names the request (describe()), the API's explanation (error_detail(), else an excerpt()),
// and for 429 the Retry-After the API asked for; it never holds the query string, a header
// or a secret-looking value. `ok()` for 2xx.
struct Failure {
    plexus_status status = PLEXUS_OK;
    std::string message;
    std::optional<int64_t> retry_after_s;  // 429/503: what the API asked, in seconds

    bool ok() const { return status == PLEXUS_OK; }
    [[noreturn]] void raise() const { throw Error(status, message); }
    WriteResult result() const { return WriteResult::failed(status, message); }
};

inline Failure failure(const HttpResponse& r, std::string_view what, std::string_view service = "the API",
                       int64_t now_ms = 0) {
    Failure f;
    f.status = status_of(r.status);
    if (f.status == PLEXUS_OK) return f;
    f.message = std::string(service) + " answered HTTP " + std::to_string(r.status) + " to " + std::string(what);
    std::string why = error_detail(r.body);
    if (why.empty()) why = excerpt(r.body);
    else why = detail::one_line(why, 300);
    if (!why.empty()) f.message += ": " + why;
    if (r.status == 429 || r.status == 503) f.retry_after_s = retry_after_s(r.header("Retry-After"), now_ms);
    switch (f.status) {
        case PLEXUS_ERR_AUTH:
            f.message += r.status == 401 ? " (the credentials were refused: check the connection's settings)"
                                         : " (the credentials lack a permission this needs)";
            break;
        case PLEXUS_ERR_RATE_LIMIT:
            f.message += f.retry_after_s ? " (rate limited after the host's retries; the API asks to wait " +
                                               std::to_string(*f.retry_after_s) + " s)"
                                         : " (rate limited after the host's retries; no Retry-After)";
            break;
        case PLEXUS_ERR_CONFIG: {
            const std::string to = r.header("Location");
            f.message += " (a redirect to " + to.substr(0, to.find_first_of("?#")) + ", not followed: check the base URL)";
            break;
        }
        default: break;
    }
    return f;
}

// Throws Error(failure(…)) unless the answer is 2xx.
inline void expect_ok(const HttpResponse& r, std::string_view what, std::string_view service = "the API") {
    if (Failure f = failure(r, what, service); !f.ok()) f.raise();
}

// A 2xx answer's body as a JSON object (or array when `array_ok`); otherwise throws: the
// failure() of a non-2xx status, Error(TRANSIENT, "malformed response …") for a body that is
// not JSON of that kind.
inline json parse_json(const HttpResponse& r, std::string_view what, std::string_view service = "the API",
                       bool array_ok = false) {
    expect_ok(r, what, service);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !(j.is_object() || (array_ok && j.is_array())))
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from " + std::string(service) + " (HTTP " +
                                              std::to_string(r.status) + " to " + std::string(what) + "): " +
                                              (j.is_discarded() ? "not JSON" : "not a JSON object"));
    return j;
}

// ---- JSON Patch (RFC 6902) and merge patch (RFC 7386) -----------------------------------------

// A JSON Pointer (RFC 6901) token: '~' → "~0", '/' → "~1".
inline std::string pointer_token(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

enum class PatchMode {
    Full,     // `to` is the whole new document: members missing from it are removed
    Partial,  // `to` holds only the members to set (a mapping's output): nothing is removed
};

namespace detail {
inline void diff(const json& from, const json& to, const std::string& path, PatchMode mode, json& ops) {
    if (from == to) return;
    if (from.is_object() && to.is_object()) {
        if (mode == PatchMode::Full)
            for (auto it = from.begin(); it != from.end(); ++it)
                if (!to.contains(it.key()))
                    ops.push_back({{"op", "remove"}, {"path", path + "/" + pointer_token(it.key())}});
        for (auto it = to.begin(); it != to.end(); ++it) {
            const std::string p = path + "/" + pointer_token(it.key());
            auto f = from.find(it.key());
            if (f == from.end()) ops.push_back({{"op", "add"}, {"path", p}, {"value", *it}});
            else diff(*f, *it, p, mode, ops);
        }
        return;
    }
    if (from.is_array() && to.is_array()) {
        // Element by element over the common length (elements are compared fully, whatever
        // the mode), then removes from the end or appends.
        const size_t common = std::min(from.size(), to.size());
        for (size_t i = 0; i < common; ++i) diff(from[i], to[i], path + "/" + std::to_string(i), PatchMode::Full, ops);
        for (size_t i = from.size(); i > to.size(); --i)  // from the end, so indices stay valid
            ops.push_back({{"op", "remove"}, {"path", path + "/" + std::to_string(i - 1)}});
        for (size_t i = from.size(); i < to.size(); ++i)
            ops.push_back({{"op", "add"}, {"path", path + "/-"}, {"value", to[i]}});
        return;
    }
    ops.push_back({{"op", "replace"}, {"path", path.empty() ? "" : path}, {"value", to}});
}
}  // namespace detail

// The RFC 6902 operations (add, remove, replace) that turn `from` into `to`, nested objects
// and arrays included; [] when they are equal. Partial: members of `from` that `to` lacks are
// left alone, in nested objects too (a mapped record names only what it sets).
//   json_patch({{"a",1},{"b",{{"c",2}}}}, {{"a",1},{"b",{{"c",3}}}})
//     == [{"op":"replace","path":"/b/c","value":3}]
inline json json_patch(const json& from, const json& to, PatchMode mode = PatchMode::Full) {
    json ops = json::array();
    detail::diff(from, to, "", mode, ops);
    return ops;
}

// One "replace" per top-level member of `values`, for an API that patches without the
// current record at hand (PowerOffice Go): [{"op":"replace","path":"/Name","value":"x"}, …].
inline json replace_ops(const json& values) {
    json ops = json::array();
    if (!values.is_object()) return ops;
    for (auto it = values.begin(); it != values.end(); ++it)
        ops.push_back({{"op", "replace"}, {"path", "/" + pointer_token(it.key())}, {"value", *it}});
    return ops;
}

// An RFC 7386 merge patch turning `from` into `to`: changed and new members, null for those
// removed (Full mode), nested objects as nested patches, arrays whole; {} when equal.
inline json merge_patch(const json& from, const json& to, PatchMode mode = PatchMode::Full) {
    if (!from.is_object() || !to.is_object()) return to;
    json out = json::object();
    if (mode == PatchMode::Full)
        for (auto it = from.begin(); it != from.end(); ++it)
            if (!to.contains(it.key())) out[it.key()] = nullptr;
    for (auto it = to.begin(); it != to.end(); ++it) {
        auto f = from.find(it.key());
        if (f == from.end()) out[it.key()] = *it;
        else if (*f != *it) out[it.key()] = f->is_object() && it->is_object() ? merge_patch(*f, *it, mode) : *it;
    }
    return out;
}

}  // namespace plexus::sdk::rest
