// When a schedule fires next, as an instant (UTC), in the process's IANA time zone.
//
// CronSpec (schedule.hpp) matches *local* wall-clock minutes; this file turns local minutes
// into instants, with a defined policy for the two DST anomalies (docs/scheduling.md):
//
// - nonexistent local time (spring forward, e.g. 02:30 on 2024-03-31 in Europe/Zurich): a
//   job due in the gap runs once, at the instant the gap ends (03:00 local). Several slots
//   in the same gap ("*/15 * * * *") and a slot at the gap's end (03:00) collapse into that
//   one run.
// - ambiguous local time (fall back, e.g. 02:30 on 2024-10-27 in Europe/Zurich): the job
//   runs once, at the first occurrence - unless its hour field covers all 24 hours
//   ("0 * * * *", "*/15 * * * *"): such jobs follow elapsed time and run in both
//   occurrences of the repeated hour (an hourly job fires 25 times that day, 23 times on
//   the spring-forward day).
//
// Interval schedules ("15m") fire every N seconds of real (UTC) time after an anchor and
// ignore DST. An empty time zone means UTC.
#pragma once

#include "scheduler/schedule.hpp"

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace plexus {

// A validated schedule of one process: a cron expression or an interval (or neither: manual
// runs only) and the zone cron expressions are read in.
struct Schedule {
    std::optional<CronSpec> cron;
    std::optional<std::chrono::seconds> interval;
    std::string timezone;                  // as configured; "" = UTC
    const date::time_zone* zone = nullptr;  // nullptr = UTC

    // Validates and parses. Errors: invalid cron / interval / zone; both cron and interval.
    // A time zone with neither cron nor interval is accepted (manual runs only).
    static std::optional<Schedule> parse(const std::string& cron, const std::string& interval,
                                         const std::string& timezone, std::string& error);

    bool manual_only() const { return !cron && !interval; }
    // "cron 30 2 * * * (Europe/Zurich)", "every 15m", "manual" - for logs.
    std::string describe() const;
};

// The first fire instant of `spec` in `zone` (nullptr = UTC) strictly after `after`, with the
// DST policy above; nullopt when the expression never matches (e.g. "0 0 30 2 *").
std::optional<date::sys_seconds> next_cron_fire(const CronSpec& spec, const date::time_zone* zone,
                                                date::sys_seconds after);

// The first instant anchor + k*interval (k >= 1) strictly after `after`.
date::sys_seconds next_interval_fire(std::chrono::seconds interval, date::sys_seconds anchor,
                                     date::sys_seconds after);

// Milliseconds since the Unix epoch, for the scheduler: the next fire strictly after
// `after_ms`; `anchor_ms` is used by interval schedules only. nullopt: manual only / never.
std::optional<int64_t> next_fire_ms(const Schedule& schedule, int64_t after_ms, int64_t anchor_ms);

}  // namespace plexus
