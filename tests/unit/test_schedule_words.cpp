// Schedules in an operator's words (issue 13): what the portal and the logs show instead of
// "every 300s" and raw cron.
#include "scheduler/next_run.hpp"
#include "scheduler/schedule.hpp"
#include "scheduler/schedule_words.hpp"

#include <catch2/catch.hpp>

using namespace plexus;

TEST_CASE("cron expressions and intervals read as words", "[scheduler][words]") {
    CHECK(cron_in_words("0 6 * * 1-5") == "weekdays at 06:00");
    CHECK(cron_in_words("30 2 * * *") == "every day at 02:30");
    CHECK(cron_in_words("*/15 * * * *") == "every 15 min");
    CHECK(cron_in_words("5 * * * *") == "every hour at :05");
    CHECK(cron_in_words("0 */2 * * *") == "every 2 hours");
    CHECK(cron_in_words("0 8 * * MON,thu") == "Mondays and Thursdays at 08:00");
    CHECK(cron_in_words("0 6,12,18 * * *") == "every day at 06:00, 12:00 and 18:00");
    CHECK(cron_in_words("*/15 8-17 * * 1-5") == "every 15 min from 08:00 to 17:59 on weekdays");
    CHECK(cron_in_words("0 6 1 * *") == "on day 1 of each month at 06:00");
    CHECK(cron_in_words("0 9 * * 6,0") == "weekends at 09:00");
    CHECK(cron_in_words("@daily") == "every day at 00:00");
    CHECK(cron_in_words("0 3 1 1 *") == "every year on 1 January at 03:00");
    // No short phrase: said as it is.
    CHECK(cron_in_words("0 0 30 2 *") == "every year on 30 February at 00:00");  // never fires: said by the scheduler
    CHECK(cron_in_words("1-10/3 * * * *") == "cron 1-10/3 * * * *");

    CHECK(interval_in_words(std::chrono::seconds(300)) == "every 5 min");
    CHECK(interval_in_words(std::chrono::seconds(30)) == "every 30 s");
    CHECK(interval_in_words(std::chrono::seconds(5400)) == "every 1 h 30 min");
    CHECK(interval_in_words(std::chrono::seconds(86400)) == "every day");

    std::string error;
    auto s = Schedule::parse("0 6 * * 1-5", "", "Europe/Zurich", error);
    REQUIRE(s);
    CHECK(s->describe() == "weekdays at 06:00 (Europe/Zurich)");
    auto i = Schedule::parse("", "300s", "", error);
    REQUIRE(i);
    CHECK(i->describe() == "every 5 min");
}
