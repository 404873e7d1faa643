#include "common/time_text.hpp"

// date::parse's seconds field trips GCC 12's -Wmaybe-uninitialized at -O2 inside date.h
// (a known false positive of that header).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <date/date.h>
#pragma GCC diagnostic pop

#include <chrono>
#include <sstream>

namespace plexus {

std::optional<int64_t> parse_time_ms(const std::string& text) {
    using namespace std::chrono;
    if (text.size() == 10) {
        std::istringstream in(text);
        date::sys_days d;
        in >> date::parse("%F", d);
        if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
        return duration_cast<milliseconds>(d.time_since_epoch()).count();
    }
    std::string t = text;
    if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) {
        t.pop_back();
        t += "+0000";
    }
    for (const char* fmt : {"%FT%T%z", "%FT%T%Ez"}) {
        std::istringstream in(t);
        date::sys_time<milliseconds> tp;
        in >> date::parse(fmt, tp);
        if (!in.fail() && in.peek() == std::char_traits<char>::eof())
            return tp.time_since_epoch().count();
    }
    return std::nullopt;
}

std::string iso_utc(int64_t ms) {
    using namespace std::chrono;
    return date::format("%FT%TZ", time_point_cast<seconds>(sys_time<milliseconds>(milliseconds(ms))));
}

}  // namespace plexus
