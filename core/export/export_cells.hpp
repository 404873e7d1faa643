// How an outcome's values become cells, shared by the CSV and xlsx writers (internal to
// core/export; the formats themselves are described in outcome_export.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "export/outcome_export.hpp"

namespace plexus::export_detail {

// Bytes per write to the sink.
inline constexpr size_t k_sink_chunk = 64 * 1024;

// `raw` as it may leave the process: through global_redactor(), then every byte sequence
// that is not valid UTF-8 replaced by U+FFFD.
std::string export_text(std::string_view raw);

// True when `s` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);

// A stored time of 0 means "not known": its cell stays empty.
inline bool known_time(int64_t ms) { return ms != 0; }

// Appends "YYYY-MM-DDTHH:MM:SS.mmmZ" (proleptic Gregorian, UTC).
void append_iso_utc(std::string& out, int64_t ms);

// The Excel date-time serial number of a Unix time in milliseconds (days since 1899-12-30,
// the 1900 date system; fractional part = time of day), UTC.
inline double excel_serial(int64_t ms) { return 25569.0 + static_cast<double>(ms) / 86'400'000.0; }

ExportResult write_csv(Store& store, const OutcomeQuery& query, ExportSink& out);
ExportResult write_xlsx(Store& store, const OutcomeQuery& query, ExportSink& out,
                        const ExportOptions& options);

}  // namespace plexus::export_detail
