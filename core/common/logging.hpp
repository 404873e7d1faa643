// Host logging: every line goes through spdlog, tagged with process, run and connector, and
// through the secret redactor, so no secret value reaches a log whatever the caller passes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace plexus {

enum class LogLevel { debug, info, warn, error };

// Who a line is about. Empty fields are left out of the tag.
struct LogTags {
    std::string process;
    int64_t run = 0;
    std::string connector;
    std::string connection;
};

// Configure the process-wide logger: level name ("debug", "info", "warn", "error") and
// whether to write to stderr (default) — the CLI sets this once at start.
void configure_logging(const std::string& level);

void log_line(LogLevel level, const LogTags& tags, std::string_view message);

inline void log_info(std::string_view m) { log_line(LogLevel::info, {}, m); }
inline void log_warn(std::string_view m) { log_line(LogLevel::warn, {}, m); }
inline void log_error(std::string_view m) { log_line(LogLevel::error, {}, m); }
inline void log_debug(std::string_view m) { log_line(LogLevel::debug, {}, m); }

}  // namespace plexus
