// Schedules in an operator's words (issue 13): what the portal and the logs show instead of
// "every 300s" and raw cron.
#pragma once

#include <chrono>
#include <string>

namespace plexus {

// A cron expression in words: "weekdays at 06:00", "every 15 min", "every day at 02:30",
// "every hour at :05", "Mondays and Thursdays at 08:00", "every 15 min from 08:00 to 17:59
// on weekdays", "on day 1 of each month at 06:00"; macros too. Expressions with no short
// phrase (a restricted month, steps in odd places) come back as "cron <text>".
std::string cron_in_words(const std::string& text);

// An interval in words: "every 5 min", "every 30 s", "every 1 h 30 min", "every day".
std::string interval_in_words(std::chrono::seconds interval);

}  // namespace plexus
