#include "export/outcome_export.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>

#include "common/redactor.hpp"
#include "export/export_cells.hpp"

namespace plexus {

std::optional<ExportFormat> parse_export_format(std::string_view name) {
    if (name == "csv") return ExportFormat::csv;
    if (name == "xlsx") return ExportFormat::xlsx;
    return std::nullopt;
}

const char* export_format_name(ExportFormat fmt) {
    return fmt == ExportFormat::xlsx ? "xlsx" : "csv";
}

const char* export_content_type(ExportFormat fmt) {
    return fmt == ExportFormat::xlsx
               ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
               : "text/csv; charset=utf-8; header=present";
}

const char* export_file_extension(ExportFormat fmt) {
    return fmt == ExportFormat::xlsx ? ".xlsx" : ".csv";
}

const std::vector<std::string>& outcome_export_columns() {
    // Persisted format: append only (outcome_export.hpp).
    static const std::vector<std::string> columns = {
        "outcome_id",  "run_id",  "process",  "source_key",  "target_key",   "action",
        "error_class", "message", "attempts", "started_utc", "finished_utc", "duration_ms"};
    return columns;
}

ExportResult export_outcomes(Store& store, const OutcomeQuery& query, ExportFormat fmt,
                             ExportSink& out, const ExportOptions& options) {
    if (fmt == ExportFormat::xlsx) return export_detail::write_xlsx(store, query, out, options);
    return export_detail::write_csv(store, query, out);
}

namespace export_detail {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t utf8_sequence(std::string_view s, size_t i) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    return n;
}

void append_digits(std::string& out, int64_t v, int width) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    for (int pad = width - static_cast<int>(end - buf); pad > 0; --pad) out += '0';
    out.append(buf, end);
}

}  // namespace

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_sequence(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string export_text(std::string_view raw) {
    std::string text = global_redactor().redact(raw);
    if (valid_utf8(text)) return text;
    std::string clean;
    clean.reserve(text.size() + 8);
    for (size_t i = 0; i < text.size();) {
        const size_t n = utf8_sequence(text, i);
        if (n == 0) {
            clean += "\xEF\xBF\xBD";  // U+FFFD for one bad byte
            ++i;
        } else {
            clean.append(text, i, n);
            i += n;
        }
    }
    return clean;
}

void append_iso_utc(std::string& out, int64_t ms) {
    constexpr int64_t k_day_ms = 86'400'000;
    int64_t days = ms / k_day_ms;
    int64_t rest = ms % k_day_ms;
    if (rest < 0) {
        rest += k_day_ms;
        --days;
    }
    const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
    append_digits(out, static_cast<int>(date.year()), 4);
    out += '-';
    append_digits(out, static_cast<unsigned>(date.month()), 2);
    out += '-';
    append_digits(out, static_cast<unsigned>(date.day()), 2);
    out += 'T';
    append_digits(out, rest / 3'600'000, 2);
    out += ':';
    append_digits(out, rest / 60'000 % 60, 2);
    out += ':';
    append_digits(out, rest / 1000 % 60, 2);
    out += '.';
    append_digits(out, rest % 1000, 3);
    out += 'Z';
}

}  // namespace export_detail
}  // namespace plexus
