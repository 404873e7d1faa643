// Times as operators type them and as the API and exports show them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace plexus {

// Parses 2024-05-01 (midnight UTC), 2024-05-01T10:00:00Z, 2024-05-01T10:00:00.250Z and
// 2024-05-01T10:00:00+02:00 (or +0200) into milliseconds since the Unix epoch; none when
// the text is none of those.
std::optional<int64_t> parse_time_ms(const std::string& text);

// "2024-05-01T08:00:00Z" (seconds precision, UTC).
std::string iso_utc(int64_t ms);

}  // namespace plexus
