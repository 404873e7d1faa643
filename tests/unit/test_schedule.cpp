// Cron, interval and time-zone parsing (scheduler/schedule.hpp).
#include <catch2/catch.hpp>
#include <string>

#include "scheduler/schedule.hpp"

using namespace plexus;
using namespace date::literals;

namespace {

date::local_seconds at(date::year_month_day d, int h, int m) {
    return date::local_days{d} + std::chrono::hours{h} + std::chrono::minutes{m};
}

CronSpec cron(const std::string& text) {
    std::string error;
    auto spec = CronSpec::parse(text, error);
    INFO(error);
    REQUIRE(spec);
    return *spec;
}

std::string cron_error(const std::string& text) {
    std::string error;
    auto spec = CronSpec::parse(text, error);
    REQUIRE_FALSE(spec);
    return error;
}

}  // namespace

TEST_CASE("cron: field count is checked with the expression quoted", "[schedule]") {
    CHECK(cron_error("*/5 * * *") ==
          "\"*/5 * * *\" has 4 fields, a cron expression needs 5 (minute hour day-of-month month "
          "day-of-week)");
    CHECK_THAT(cron_error("0 */5 * * * *"), Catch::Contains("has 6 fields") &&
                                                Catch::Contains("seconds field is not supported"));
    CHECK_THAT(cron_error("   "), Catch::Contains("empty"));
}

TEST_CASE("cron: values out of range name the field", "[schedule]") {
    CHECK(cron_error("0 25 * * *") == "field 2 (hour): 25 is out of range 0-23");
    CHECK(cron_error("60 * * * *") == "field 1 (minute): 60 is out of range 0-59");
    CHECK(cron_error("0 0 0 * *") == "field 3 (day-of-month): 0 is out of range 1-31");
    CHECK(cron_error("0 0 * 13 *") == "field 4 (month): 13 is out of range 1-12");
    CHECK(cron_error("0 0 * * 8") == "field 5 (day-of-week): 8 is out of range 0-7");
}

TEST_CASE("cron: malformed items are explained", "[schedule]") {
    CHECK_THAT(cron_error("*/0 * * * *"), Catch::Contains("field 1 (minute): step 0"));
    CHECK_THAT(cron_error("x * * * *"), Catch::Contains("field 1 (minute): \"x\" is not a number"));
    CHECK_THAT(cron_error("0 22-2 * * *"),
               Catch::Contains("field 2 (hour): range 22-2 runs backwards") &&
                   Catch::Contains("22-23,0-2"));
    CHECK_THAT(
        cron_error("0 0 * JUNE *"),
        Catch::Contains("field 4 (month): \"JUNE\" is not a month") && Catch::Contains("JAN-DEC"));
    CHECK_THAT(cron_error("0 0 * * MO"), Catch::Contains("SUN-SAT"));
    CHECK_THAT(cron_error("1,,2 * * * *"), Catch::Contains("empty item"));
    CHECK_THAT(cron_error("*/x * * * *"), Catch::Contains("step \"x\""));
    CHECK_THAT(cron_error("@often"), Catch::Contains("not a known macro"));
}

TEST_CASE("cron: lists, ranges, steps and names", "[schedule]") {
    CronSpec s = cron("*/15 9-17 * JAN-mar MON-FRI");
    CHECK(s.minutes.count() == 4);
    CHECK(s.minutes.test(0));
    CHECK(s.minutes.test(45));
    CHECK(s.hours.count() == 9);
    CHECK(s.months.test(1));
    CHECK(s.months.test(3));
    CHECK_FALSE(s.months.test(4));
    CHECK(s.weekdays.test(1));
    CHECK(s.weekdays.test(5));
    CHECK_FALSE(s.weekdays.test(0));

    CronSpec steps = cron("1-10/2 0 * * *");
    CHECK(steps.minutes.count() == 5);
    CHECK(steps.minutes.test(9));
    CHECK_FALSE(steps.minutes.test(10));

    CronSpec from = cron("5/20 * * * *");  // 5, 25, 45
    CHECK(from.minutes.count() == 3);
    CHECK(from.minutes.test(45));

    CronSpec list = cron("0,30 6,18 1,15 * *");
    CHECK(list.minutes.count() == 2);
    CHECK(list.hours.count() == 2);
    CHECK(list.days.count() == 2);
}

TEST_CASE("cron: 0 and 7 are both Sunday", "[schedule]") {
    CHECK(cron("0 0 * * 7").weekdays == cron("0 0 * * 0").weekdays);
    CHECK(cron("0 0 * * SUN").weekdays.test(0));
    CronSpec fri_sun = cron("0 0 * * 5-7");
    CHECK(fri_sun.weekdays.test(5));
    CHECK(fri_sun.weekdays.test(6));
    CHECK(fri_sun.weekdays.test(0));
    CHECK(fri_sun.weekdays.count() == 3);
}

TEST_CASE("cron: matches local minutes", "[schedule]") {
    CronSpec s = cron("*/5 * * * *");
    CHECK(s.matches(at(2024_y / 5 / 1, 10, 35)));
    CHECK_FALSE(s.matches(at(2024_y / 5 / 1, 10, 36)));
    CHECK(s.matches(at(2024_y / 5 / 1, 10, 35) + std::chrono::seconds{42}));

    CronSpec weekdays = cron("30 8 * * MON-FRI");
    CHECK(weekdays.matches(at(2024_y / 5 / 3, 8, 30)));        // a Friday
    CHECK_FALSE(weekdays.matches(at(2024_y / 5 / 4, 8, 30)));  // a Saturday
}

TEST_CASE("cron: day-of-month and day-of-week restricted together means either", "[schedule]") {
    CronSpec s = cron("0 0 13 * FRI");
    CHECK(s.matches(at(2024_y / 5 / 13, 0, 0)));  // the 13th, a Monday
    CHECK(s.matches(at(2024_y / 5 / 3, 0, 0)));   // a Friday, the 3rd
    CHECK_FALSE(s.matches(at(2024_y / 5 / 4, 0, 0)));

    CronSpec star = cron("0 0 13 * *");  // day-of-week '*': only the 13th
    CHECK_FALSE(star.matches(at(2024_y / 5 / 3, 0, 0)));
}

TEST_CASE("cron: macros", "[schedule]") {
    CHECK(cron("@daily").matches(at(2024_y / 5 / 3, 0, 0)));
    CHECK_FALSE(cron("@daily").matches(at(2024_y / 5 / 3, 1, 0)));
    CHECK(cron("@hourly").matches(at(2024_y / 5 / 3, 7, 0)));
    CHECK(cron("@weekly").matches(at(2024_y / 5 / 5, 0, 0)));  // a Sunday
    CHECK(cron("@monthly").matches(at(2024_y / 6 / 1, 0, 0)));
    CHECK(cron("@yearly").matches(at(2025_y / 1 / 1, 0, 0)));
}

TEST_CASE("cron: next_after finds the next matching local minute", "[schedule]") {
    CHECK(*cron("*/5 * * * *").next_after(at(2024_y / 5 / 1, 10, 35)) ==
          at(2024_y / 5 / 1, 10, 40));
    CHECK(*cron("*/5 * * * *").next_after(at(2024_y / 5 / 1, 10, 37) + std::chrono::seconds{5}) ==
          at(2024_y / 5 / 1, 10, 40));
    CHECK(*cron("0 2 * * *").next_after(at(2024_y / 5 / 1, 2, 0)) == at(2024_y / 5 / 2, 2, 0));
    CHECK(*cron("0 0 1 1 *").next_after(at(2024_y / 5 / 1, 0, 0)) == at(2025_y / 1 / 1, 0, 0));
    CHECK(*cron("0 0 29 2 *").next_after(at(2024_y / 3 / 1, 0, 0)) == at(2028_y / 2 / 29, 0, 0));
    CHECK(*cron("59 23 31 12 *").next_after(at(2024_y / 12 / 31, 23, 58)) ==
          at(2024_y / 12 / 31, 23, 59));
    CHECK_FALSE(cron("0 0 30 2 *").next_after(at(2024_y / 1 / 1, 0, 0)));
}

namespace {

std::string interval_error(const std::string& text) {
    std::string error;
    auto v = parse_interval(text, error);
    REQUIRE_FALSE(v);
    return error;
}

std::chrono::seconds interval(const std::string& text) {
    std::string error;
    auto v = parse_interval(text, error);
    INFO(error);
    REQUIRE(v);
    return *v;
}

}  // namespace

TEST_CASE("interval: units and combinations", "[schedule]") {
    CHECK(interval("30s").count() == 30);
    CHECK(interval("15m").count() == 900);
    CHECK(interval("2h").count() == 7200);
    CHECK(interval("1d").count() == 86400);
    CHECK(interval("1h30m").count() == 5400);
    CHECK(interval("1d12h").count() == 129600);
    CHECK(interval("1h 30m 15s").count() == 5415);
    CHECK(interval("1s").count() == 1);
}

TEST_CASE("interval: errors say what to write", "[schedule]") {
    CHECK_THAT(interval_error("15"), Catch::Contains("has no unit; write 15s, 15m, 15h or 15d"));
    CHECK_THAT(interval_error("0s"), Catch::Contains("at least 1s"));
    CHECK_THAT(interval_error("0m0s"), Catch::Contains("at least 1s"));
    CHECK_THAT(interval_error("15x"), Catch::Contains("unknown unit \"x\""));
    CHECK_THAT(interval_error("30m1h"), Catch::Contains("largest to smallest"));
    CHECK_THAT(interval_error("1h1h"), Catch::Contains("largest to smallest"));
    CHECK_THAT(interval_error("1.5h"), Catch::Contains("fractions are not supported"));
    CHECK_THAT(interval_error(""), Catch::Contains("empty"));
    CHECK_THAT(interval_error("m"), Catch::Contains("expected a number"));
}

TEST_CASE("time zones are checked against the IANA database", "[schedule]") {
    std::string error;
    CHECK(valid_time_zone("Europe/Zurich", error));
    CHECK(valid_time_zone("UTC", error));
    CHECK(valid_time_zone("America/New_York", error));

    CHECK_FALSE(valid_time_zone("Europe/Zürich", error));
    CHECK_THAT(error, Catch::StartsWith("unknown time zone \"Europe/Zürich\"") &&
                          Catch::Contains("did you mean \"Europe/Zurich\"?"));

    CHECK_FALSE(valid_time_zone("Mars/Olympus_Mons", error));
    CHECK_THAT(error, Catch::Contains("unknown time zone \"Mars/Olympus_Mons\""));

    CHECK_FALSE(valid_time_zone("", error));
    CHECK_THAT(error, Catch::Contains("empty"));
}
