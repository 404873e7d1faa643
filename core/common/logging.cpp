#include "common/logging.hpp"

#include "common/redactor.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace plexus {
namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = spdlog::stderr_color_mt("plexus");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
    logger->set_level(spdlog::level::info);
    return logger;
}

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = make_logger();
    return *instance;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return spdlog::level::debug;
        case LogLevel::info: return spdlog::level::info;
        case LogLevel::warn: return spdlog::level::warn;
        case LogLevel::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

}  // namespace

void configure_logging(const std::string& level) {
    auto parsed = spdlog::level::from_str(level);
    if (level == "warn") parsed = spdlog::level::warn;
    logger().set_level(parsed);
}

void log_line(LogLevel level, const LogTags& tags, std::string_view message) {
    auto lvl = to_spdlog(level);
    if (!logger().should_log(lvl)) return;
    std::string line;
    if (!tags.process.empty() || tags.run || !tags.connector.empty() || !tags.connection.empty()) {
        line += '[';
        auto add = [&line](std::string_view k, std::string_view v) {
            if (line.size() > 1) line += ' ';
            line.append(k).append("=").append(v);
        };
        if (!tags.process.empty()) add("process", tags.process);
        if (tags.run) add("run", std::to_string(tags.run));
        if (!tags.connection.empty()) add("connection", tags.connection);
        if (!tags.connector.empty()) add("connector", tags.connector);
        line += "] ";
    }
    line.append(message);
    logger().log(lvl, "{}", global_redactor().redact(line));
}

}  // namespace plexus
