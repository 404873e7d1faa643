// When a process runs: the schedule model used to validate configuration and, later, by the
// running scheduler.
//
// - CronSpec: a five-field cron expression (minute hour day-of-month month day-of-week),
//   matched against *local* wall-clock minutes of the process's time zone.
// - parse_interval: "30s", "15m", "2h", "1d", "1h30m".
// - valid_time_zone: an IANA name known to the system's tzdata (Howard Hinnant's date/tz).
//
// Every parse function returns an error text that says what is wrong and where
// ("field 2 (hour): 25 is out of range 0-23"); callers prefix file and JSON path.
#pragma once

#include <date/date.h>

#include <bitset>
#include <chrono>
#include <optional>
#include <string>

namespace plexus {

// A parsed cron expression. Semantics follow Vixie cron:
// - fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 (or JAN-DEC),
//   day-of-week 0-7 (or SUN-SAT; 0 and 7 are Sunday);
// - each field is `*` or a comma list of `N`, `A-B`, `*/S`, `A-B/S`, `N/S` (= N-max/S);
// - when both day-of-month and day-of-week are restricted (neither starts with `*`), a day
//   matches if *either* matches; otherwise both must match;
// - macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
struct CronSpec {
    std::string text;  // the expression as written
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days;              // bit 1..31
    std::bitset<13> months;            // bit 1..12
    std::bitset<7> weekdays;           // bit 0..6, 0 = Sunday
    bool days_restricted = false;      // day-of-month field did not start with '*'
    bool weekdays_restricted = false;  // day-of-week field did not start with '*'

    // nullopt and `error` set when the text is not a valid expression.
    static std::optional<CronSpec> parse(const std::string& text, std::string& error);

    // Does this local minute match? (Seconds are ignored.)
    bool matches(date::local_seconds local_time) const;

    // The first matching local minute strictly after `local_time`; nullopt when none exists
    // within the next 30 years (for example "0 0 30 2 *": February 30th).
    // Local time only: turning it into an instant (DST gaps and repeats) is the scheduler's job.
    std::optional<date::local_seconds> next_after(date::local_seconds local_time) const;
};

// "30s", "15m", "2h", "1d" and combinations from largest unit to smallest ("1h30m",
// "1d12h"). At least 1s. nullopt and `error` set when invalid.
std::optional<std::chrono::seconds> parse_interval(const std::string& text, std::string& error);

// True when `name` is a time zone of the system's IANA database. Otherwise false and `error`
// set, e.g. `unknown time zone "Europe/Zürich"; did you mean "Europe/Zurich"?`.
bool valid_time_zone(const std::string& name, std::string& error);

}  // namespace plexus
