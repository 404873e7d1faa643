#include "scheduler/next_run.hpp"
#include "scheduler/schedule_words.hpp"

#include <exception>

namespace plexus {

std::optional<Schedule> Schedule::parse(const std::string& cron, const std::string& interval,
                                        const std::string& timezone, std::string& error) {
    Schedule s;
    if (!cron.empty() && !interval.empty()) {
        error = "set either a cron expression or an interval, not both";
        return std::nullopt;
    }
    if (!cron.empty()) {
        std::string e;
        s.cron = CronSpec::parse(cron, e);
        if (!s.cron) {
            error = "cron: " + e;
            return std::nullopt;
        }
    }
    if (!interval.empty()) {
        std::string e;
        s.interval = parse_interval(interval, e);
        if (!s.interval) {
            error = "interval: " + e;
            return std::nullopt;
        }
    }
    s.timezone = timezone;
    if (!timezone.empty()) {
        std::string e;
        if (!valid_time_zone(timezone, e)) {
            error = "timezone: " + e;
            return std::nullopt;
        }
        try {
            s.zone = date::locate_zone(timezone);
        } catch (const std::exception& ex) {
            error = "timezone: " + std::string(ex.what());
            return std::nullopt;
        }
    }
    return s;
}

std::string Schedule::describe() const {
    if (cron) return cron_in_words(cron->text) + " (" + (timezone.empty() ? "UTC" : timezone) + ")";
    if (interval) return interval_in_words(*interval);
    return "manual";
}

std::optional<date::sys_seconds> next_cron_fire(const CronSpec& spec, const date::time_zone* zone,
                                                date::sys_seconds after) {
    using namespace std::chrono;
    if (!zone) {
        auto c = spec.next_after(date::local_seconds{after.time_since_epoch()});
        if (!c) return std::nullopt;
        return date::sys_seconds{c->time_since_epoch()};
    }
    // Walk the zone's offset periods from `after` on. Within one period local time and
    // instants map one to one (instant = local - offset); the anomalies sit at the borders.
    date::sys_seconds t = after;
    bool inclusive = false;  // the first period excludes `after` itself, later ones start at t
    for (int guard = 0; guard < 4000; ++guard) {
        const date::sys_info info = zone->get_info(t);
        const seconds off = info.offset;
        const date::local_seconds from{(t + off).time_since_epoch()};
        // next_after(x) returns minutes >= floor(x) + 1min: strictly after `from`, or (one
        // second earlier) from `from` on.
        date::local_seconds search = inclusive ? from - seconds{1} : from;
        for (;;) {
            auto c = spec.next_after(search);
            if (!c) return std::nullopt;  // no match at all within the horizon
            const date::sys_seconds inst{(*c - off).time_since_epoch()};
            if (inst >= info.end) break;  // belongs to a later period
            bool fire = true;
            const date::local_info li = zone->get_info(*c);
            if (li.result == date::local_info::ambiguous && li.second.begin == info.begin &&
                !spec.hours.all())
                fire = false;  // second occurrence of a repeated local time: ran at the first
            if (fire) return inst;
            search = *c;
        }
        // The period ends. A forward jump leaves a gap of nonexistent local times; a job due
        // in it runs once when the gap ends.
        const date::sys_info next = zone->get_info(info.end);
        if (next.offset > off) {
            const date::local_seconds gap_begin{(info.end + off).time_since_epoch()};
            const date::local_seconds gap_end{(info.end + next.offset).time_since_epoch()};
            auto c = spec.next_after(gap_begin - seconds{1});
            if (c && *c < gap_end) return info.end;
        }
        t = info.end;
        inclusive = true;
    }
    return std::nullopt;
}

date::sys_seconds next_interval_fire(std::chrono::seconds interval, date::sys_seconds anchor,
                                     date::sys_seconds after) {
    if (interval.count() <= 0) interval = std::chrono::seconds{1};
    date::sys_seconds first = anchor + interval;
    if (first > after) return first;
    auto k = (after - anchor) / interval + 1;
    return anchor + interval * k;
}

std::optional<int64_t> next_fire_ms(const Schedule& schedule, int64_t after_ms, int64_t anchor_ms) {
    using namespace std::chrono;
    if (schedule.interval) {
        const int64_t n = std::max<int64_t>(1000, schedule.interval->count() * 1000);
        if (anchor_ms + n > after_ms) return anchor_ms + n;
        const int64_t k = (after_ms - anchor_ms) / n + 1;
        return anchor_ms + k * n;
    }
    if (schedule.cron) {
        // Whole seconds: floor, so "strictly after 10:00:00.500" still means after 10:00.
        int64_t s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
        auto next = next_cron_fire(*schedule.cron, schedule.zone, date::sys_seconds{seconds{s}});
        if (!next) return std::nullopt;
        return static_cast<int64_t>(next->time_since_epoch().count()) * 1000;
    }
    return std::nullopt;
}

}  // namespace plexus
