#include "scheduler/schedule.hpp"
#include "scheduler/schedule_words.hpp"

#include "core/common/edit_distance.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <exception>
#include <sstream>
#include <vector>

namespace plexus {
namespace {

struct FieldSpec {
    const char* name;
    int min;
    int max;                   // highest value a user may write (7 for day-of-week)
    int star_max;              // highest value `*` covers (6 for day-of-week)
    const char* const* names;  // 3-letter names for min.., or nullptr
    const char* names_hint;
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kWeekdayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

const FieldSpec kFields[5] = {
    {"minute", 0, 59, 59, nullptr, nullptr},
    {"hour", 0, 23, 23, nullptr, nullptr},
    {"day-of-month", 1, 31, 31, nullptr, nullptr},
    {"month", 1, 12, 12, kMonthNames, "JAN-DEC"},
    {"day-of-week", 0, 7, 6, kWeekdayNames, "SUN-SAT"},
};

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// One value of a field: a number or (month, day-of-week) a 3-letter name.
bool parse_value(const FieldSpec& f, const std::string& prefix, const std::string& text, int& out,
                 std::string& error) {
    if (all_digits(text)) {
        out = std::stoi(text);
        if (out < f.min || out > f.max) {
            error = prefix + text + " is out of range " + std::to_string(f.min) + "-" +
                    std::to_string(f.max);
            return false;
        }
        return true;
    }
    if (f.names) {
        std::string u = upper(text);
        int count = f.max - f.min + 1 - (f.max == 7 ? 1 : 0);
        for (int i = 0; i < count; ++i) {
            if (u == f.names[i]) {
                out = f.min + i;
                return true;
            }
        }
        error = prefix + "\"" + text + "\" is not a " + f.name + "; use " + std::to_string(f.min) +
                "-" + std::to_string(f.max) + " or " + f.names_hint;
        return false;
    }
    if (text.empty())
        error = prefix + "a value is missing";
    else
        error = prefix + "\"" + text + "\" is not a number; use " + std::to_string(f.min) + "-" +
                std::to_string(f.max);
    return false;
}

// One field: `*` or a comma list of N, A-B, */S, A-B/S, N/S. Sets bits in `bits` (indexed
// by value; day-of-week 7 folds onto 0).
template <size_t N>
bool parse_field(int index, const std::string& text, std::bitset<N>& bits, std::string& error) {
    const FieldSpec& f = kFields[index];
    const std::string prefix = "field " + std::to_string(index + 1) + " (" + f.name + "): ";
    std::vector<std::string> items;
    {
        std::string cur;
        for (char c : text) {
            if (c == ',') {
                items.push_back(cur);
                cur.clear();
            } else {
                cur += c;
            }
        }
        items.push_back(cur);
    }
    for (const std::string& item : items) {
        if (item.empty()) {
            error = prefix + "empty item in the list \"" + text + "\"";
            return false;
        }
        std::string base = item;
        int step = 1;
        bool has_step = false;
        if (auto slash = item.find('/'); slash != std::string::npos) {
            base = item.substr(0, slash);
            std::string s = item.substr(slash + 1);
            if (!all_digits(s)) {
                error = prefix + "step \"" + s + "\" in \"" + item + "\" is not a number";
                return false;
            }
            step = std::stoi(s);
            if (step == 0) {
                error = prefix + "step 0 in \"" + item + "\"; a step must be at least 1";
                return false;
            }
            has_step = true;
        }
        int lo = 0, hi = 0;
        if (base == "*") {
            lo = f.min;
            hi = f.star_max;
        } else if (auto dash = base.find('-'); dash != std::string::npos) {
            if (!parse_value(f, prefix, base.substr(0, dash), lo, error)) return false;
            if (!parse_value(f, prefix, base.substr(dash + 1), hi, error)) return false;
            if (lo > hi) {
                error = prefix + "range " + base + " runs backwards; split it, e.g. " +
                        base.substr(0, dash) + "-" + std::to_string(f.max) + "," +
                        std::to_string(f.min) + "-" + base.substr(dash + 1);
                return false;
            }
        } else {
            if (!parse_value(f, prefix, base, lo, error)) return false;
            hi = has_step ? f.star_max : lo;  // "N/S" means N-max/S
            if (hi < lo) hi = lo;
        }
        for (int v = lo; v <= hi; v += step) {
            int bit = (f.max == 7 && v == 7) ? 0 : v;
            bits.set(static_cast<size_t>(bit));
        }
    }
    return true;
}

std::vector<std::string> split_ws(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}


}  // namespace

std::optional<CronSpec> CronSpec::parse(const std::string& text, std::string& error) {
    std::vector<std::string> fields = split_ws(text);
    if (fields.size() == 1 && !fields[0].empty() && fields[0][0] == '@') {
        static const std::pair<const char*, const char*> macros[] = {
            {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
            {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
            {"@hourly", "0 * * * *"}};
        std::string m = lower(fields[0]);
        for (const auto& [name, expansion] : macros) {
            if (m == name) {
                auto spec = parse(expansion, error);
                if (spec) spec->text = text;
                return spec;
            }
        }
        error = "\"" + text +
                "\" is not a known macro; use @yearly, @monthly, @weekly, @daily, @hourly or "
                "five fields";
        return std::nullopt;
    }
    if (fields.size() != 5) {
        if (fields.empty()) {
            error =
                "the cron expression is empty; it needs 5 fields (minute hour day-of-month "
                "month day-of-week), e.g. \"*/15 * * * *\"";
            return std::nullopt;
        }
        error = "\"" + text + "\" has " + std::to_string(fields.size()) + " field" +
                (fields.size() == 1 ? "" : "s") +
                ", a cron expression needs 5 (minute hour day-of-month month day-of-week)";
        if (fields.size() == 6) error += "; a seconds field is not supported";
        return std::nullopt;
    }
    CronSpec spec;
    spec.text = text;
    if (!parse_field(0, fields[0], spec.minutes, error) ||
        !parse_field(1, fields[1], spec.hours, error) ||
        !parse_field(2, fields[2], spec.days, error) ||
        !parse_field(3, fields[3], spec.months, error) ||
        !parse_field(4, fields[4], spec.weekdays, error))
        return std::nullopt;
    spec.days_restricted = fields[2][0] != '*';
    spec.weekdays_restricted = fields[4][0] != '*';
    return spec;
}

namespace {

bool day_matches(const CronSpec& spec, const date::year_month_day& ymd, date::weekday wd) {
    bool dom = spec.days.test(static_cast<unsigned>(ymd.day()));
    bool dow = spec.weekdays.test(wd.c_encoding());
    if (spec.days_restricted && spec.weekdays_restricted) return dom || dow;
    return dom && dow;
}

}  // namespace

bool CronSpec::matches(date::local_seconds local_time) const {
    auto day = date::floor<date::days>(local_time);
    date::year_month_day ymd{day};
    auto in_day = date::floor<std::chrono::minutes>(local_time - day);
    auto h = static_cast<size_t>(in_day.count() / 60);
    auto m = static_cast<size_t>(in_day.count() % 60);
    return minutes.test(m) && hours.test(h) && months.test(static_cast<unsigned>(ymd.month())) &&
           day_matches(*this, ymd, date::weekday{day});
}

std::optional<date::local_seconds> CronSpec::next_after(date::local_seconds local_time) const {
    namespace chr = std::chrono;
    date::local_seconds cur = date::floor<chr::minutes>(local_time) + chr::minutes{1};
    const date::local_seconds limit = cur + date::days{366 * 30};
    while (cur < limit) {
        auto day = date::floor<date::days>(cur);
        date::year_month_day ymd{day};
        if (!months.test(static_cast<unsigned>(ymd.month()))) {
            date::year_month_day first = ymd.year() / ymd.month() / 1;
            date::year_month_day next = first + date::months{1};
            cur = date::local_days{next};
            continue;
        }
        if (!day_matches(*this, ymd, date::weekday{day})) {
            cur = day + date::days{1};
            continue;
        }
        auto in_day = chr::duration_cast<chr::minutes>(cur - day);
        auto h = in_day.count() / 60;
        if (!hours.test(static_cast<size_t>(h))) {
            cur = day + chr::hours{h + 1};
            continue;
        }
        if (!minutes.test(static_cast<size_t>(in_day.count() % 60))) {
            cur += chr::minutes{1};
            continue;
        }
        return cur;
    }
    return std::nullopt;
}

std::optional<std::chrono::seconds> parse_interval(const std::string& text, std::string& error) {
    static const std::array<std::pair<char, int64_t>, 4> units = {
        {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
    if (split_ws(text).empty()) {
        error = "the interval is empty; write e.g. \"30s\", \"15m\", \"2h\", \"1d\" or \"1h30m\"";
        return std::nullopt;
    }
    int64_t total = 0;
    int last_rank = -1;
    size_t i = 0;
    const std::string quoted = "\"" + text + "\"";
    while (i < text.size()) {
        if (std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        size_t start = i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        std::string digits = text.substr(start, i - start);
        if (digits.empty()) {
            error = quoted + ": expected a number at position " + std::to_string(start + 1) +
                    "; write e.g. \"15m\" or \"1h30m\"";
            return std::nullopt;
        }
        if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
            error = quoted + ": fractions are not supported; combine units instead, e.g. \"1h30m\"";
            return std::nullopt;
        }
        if (digits.size() > 9) {
            error = quoted + ": " + digits + " is too large";
            return std::nullopt;
        }
        if (i >= text.size() || std::isspace(static_cast<unsigned char>(text[i]))) {
            error = quoted + ": " + digits + " has no unit; write " + digits + "s, " + digits +
                    "m, " + digits + "h or " + digits + "d";
            return std::nullopt;
        }
        char unit = text[i];
        int rank = -1;
        for (int r = 0; r < 4; ++r)
            if (units[static_cast<size_t>(r)].first == unit) rank = r;
        if (rank < 0) {
            error = quoted + ": unknown unit \"" + std::string(1, unit) +
                    "\"; use s (seconds), m (minutes), h (hours) or d (days)";
            return std::nullopt;
        }
        if (rank <= last_rank) {
            error =
                quoted + ": units must appear once each, from largest to smallest, e.g. \"1h30m\"";
            return std::nullopt;
        }
        last_rank = rank;
        total += std::stoll(digits) * units[static_cast<size_t>(rank)].second;
        ++i;
    }
    if (total < 1) {
        error = quoted + ": an interval must be at least 1s";
        return std::nullopt;
    }
    return std::chrono::seconds{total};
}

bool valid_time_zone(const std::string& name, std::string& error) {
    if (name.empty()) {
        error = "the time zone is empty; use an IANA name such as \"Europe/Zurich\" or \"UTC\"";
        return false;
    }
    try {
        date::locate_zone(name);
        return true;
    } catch (const std::exception&) {
    }
    error = "unknown time zone \"" + name + "\"";
    try {
        const date::tzdb& db = date::get_tzdb();
        std::string wanted = lower(name);
        std::string best;
        size_t best_distance = std::max<size_t>(2, name.size() / 4) + 1;
        auto consider = [&](const std::string& candidate) {
            size_t d = edit_distance(wanted, lower(candidate));
            if (d < best_distance) {
                best_distance = d;
                best = candidate;
            }
        };
        for (const auto& z : db.zones) consider(z.name());
#if !USE_OS_TZDB
        for (const auto& l : db.links) consider(l.name());
#endif
        if (!best.empty())
            error += "; did you mean \"" + best + "\"?";
        else
            error += "; use an IANA name such as \"Europe/Zurich\" or \"UTC\"";
    } catch (const std::exception& e) {
        error += " (the time zone database could not be read: " + std::string(e.what()) +
                 "; install tzdata)";
    }
    return false;
}

}  // namespace plexus

// --- schedules in words (the portal, logs) ---------------------------------------------------

namespace plexus {
namespace {

bool short_number(const std::string& s) {
    return !s.empty() && s.size() <= 2 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::string> split_on(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

std::string two(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

// "a", "a and b", "a, b and c"
std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += i + 1 == parts.size() ? " and " : ", ";
        out += parts[i];
    }
    return out;
}

// The step of "*/N" or "0/N", else 0.
int step_of(const std::string& f) {
    const auto slash = f.find('/');
    if (slash == std::string::npos) return 0;
    const std::string base = f.substr(0, slash), step = f.substr(slash + 1);
    if ((base != "*" && base != "0") || !short_number(step)) return 0;
    return std::stoi(step);
}

std::string weekday_words(const std::string& f) {
    static const char* names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
                                  "Friday", "Saturday", "Sunday"};
    std::string u;
    for (char c : f) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    static const std::pair<const char*, const char*> abbrev[] = {
        {"SUN", "0"}, {"MON", "1"}, {"TUE", "2"}, {"WED", "3"}, {"THU", "4"}, {"FRI", "5"}, {"SAT", "6"}};
    for (const auto& [a, n] : abbrev)
        for (size_t at = u.find(a); at != std::string::npos; at = u.find(a)) u.replace(at, 3, n);
    if (u == "1-5") return "weekdays";
    if (u == "0,6" || u == "6,0" || u == "6,7" || u == "6-7") return "weekends";
    std::vector<std::string> days;
    for (const auto& part : split_on(u, ',')) {
        const auto dash = part.find('-');
        if (dash != std::string::npos) {
            const std::string a = part.substr(0, dash), b = part.substr(dash + 1);
            if (!short_number(a) || !short_number(b) || std::stoi(a) > 7 || std::stoi(b) > 7) return {};
            days.push_back(std::string(names[std::stoi(a)]) + " to " + names[std::stoi(b)]);
            continue;
        }
        if (!short_number(part) || std::stoi(part) > 7) return {};
        days.push_back(std::string(names[std::stoi(part)]) + "s");
    }
    return joined(days);
}

}  // namespace

std::string cron_in_words(const std::string& text) {
    std::string t = text;
    static const std::pair<const char*, const char*> macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (const auto& [m, expansion] : macros)
        if (t == m) t = expansion;
    std::istringstream in(t);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    const std::string fallback = "cron " + text;
    if (f.size() != 5) return fallback;
    const std::string &min = f[0], &hour = f[1], &dom = f[2], &mon = f[3], &dow = f[4];

    // When in the day.
    std::string when;    // "at 06:00" or "every 15 min"
    bool at = false;     // `when` names times of day
    const int min_step = step_of(min), hour_step = step_of(hour);
    if (short_number(min) && std::stoi(min) < 60) {
        const int m = std::stoi(min);
        if (short_number(hour) || hour.find(',') != std::string::npos) {
            std::vector<std::string> times;
            for (const auto& h : split_on(hour, ',')) {
                if (!short_number(h) || std::stoi(h) > 23) return fallback;
                times.push_back(two(std::stoi(h)) + ":" + two(m));
            }
            when = "at " + joined(times);
            at = true;
        } else if (hour == "*") {
            when = m == 0 ? "every hour" : "every hour at :" + two(m);
        } else if (hour_step > 0) {
            when = "every " + std::to_string(hour_step) + " hours" + (m ? " at :" + two(m) : "");
        } else if (auto dash = hour.find('-'); dash != std::string::npos &&
                   short_number(hour.substr(0, dash)) && short_number(hour.substr(dash + 1))) {
            when = "every hour from " + two(std::stoi(hour.substr(0, dash))) + ":" + two(m) +
                   " to " + two(std::stoi(hour.substr(dash + 1))) + ":" + two(m);
        } else {
            return fallback;
        }
    } else if (min == "*" || min_step > 0) {
        const std::string every = min == "*" ? "every minute" : "every " + std::to_string(min_step) + " min";
        if (hour == "*") {
            when = every;
        } else if (auto dash = hour.find('-'); dash != std::string::npos &&
                   short_number(hour.substr(0, dash)) && short_number(hour.substr(dash + 1))) {
            when = every + " from " + two(std::stoi(hour.substr(0, dash))) + ":00 to " +
                   two(std::stoi(hour.substr(dash + 1))) + ":59";
        } else if (short_number(hour)) {
            when = every + " from " + two(std::stoi(hour)) + ":00 to " + two(std::stoi(hour)) + ":59";
        } else {
            return fallback;
        }
    } else {
        return fallback;
    }

    // Which days. A month restricted: only a yearly date has a short phrase.
    if (mon != "*") {
        static const char* months[] = {"", "January", "February", "March", "April", "May", "June", "July",
                                       "August", "September", "October", "November", "December"};
        if (!at || !short_number(mon) || !short_number(dom) || dow != "*") return fallback;
        const int m = std::stoi(mon), d = std::stoi(dom);
        if (m < 1 || m > 12 || d < 1 || d > 31) return fallback;
        return "every year on " + std::to_string(d) + " " + months[m] + " " + when;
    }
    std::string days;  // "" = every day
    bool on_days = false;  // days reads "weekdays", "Mondays" (no "on" before it when leading)
    if (dom == "*" && dow != "*") {
        days = weekday_words(dow);
        if (days.empty()) return fallback;
        on_days = true;
    } else if (dom != "*" && dow == "*") {
        std::vector<std::string> list;
        for (const auto& d : split_on(dom, ',')) {
            if (!short_number(d)) return fallback;
            list.push_back(d);
        }
        days = "on day " + joined(list) + " of each month";
    } else if (dom != "*") {
        return fallback;
    }
    if (at) {
        if (days.empty()) return "every day " + when;
        return days + " " + when;
    }
    if (days.empty()) return when;
    return when + (on_days ? " on " : " ") + days;
}

std::string interval_in_words(std::chrono::seconds interval) {
    int64_t s = interval.count();
    if (s > 0 && s % 86400 == 0) return s == 86400 ? "every day" : "every " + std::to_string(s / 86400) + " days";
    std::vector<std::string> parts;
    if (s >= 3600) parts.push_back(std::to_string(s / 3600) + " h");
    if (s % 3600 >= 60) parts.push_back(std::to_string(s % 3600 / 60) + " min");
    if (s % 60) parts.push_back(std::to_string(s % 60) + " s");
    std::string out = "every";
    for (const auto& p : parts) out += " " + p;
    return out;
}

}  // namespace plexus
