// The CSV writer of outcome exports (format: outcome_export.hpp).
#include <charconv>

#include "export/export_cells.hpp"

namespace plexus::export_detail {
namespace {

// A text field: a leading = + - @ TAB or CR (what spreadsheets take for the start of a
// formula) gets an apostrophe in front; the field is quoted when RFC 4180 needs it.
void append_text(std::string& out, std::string_view raw) {
    const std::string text = export_text(raw);
    const bool formula_like =
        !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' ||
                          text[0] == '\t' || text[0] == '\r');
    const bool quote = text.find_first_of(",\"\r\n") != std::string::npos;
    if (quote) out += '"';
    if (formula_like) out += '\'';
    if (quote) {
        for (char c : text) {
            if (c == '"') out += '"';
            out += c;
        }
        out += '"';
    } else {
        out += text;
    }
}

void append_int(std::string& out, int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

void append_time(std::string& out, int64_t ms) {
    if (known_time(ms)) append_iso_utc(out, ms);
}

void append_row(std::string& out, const RecordOutcome& o) {
    append_int(out, o.id);
    out += ',';
    append_int(out, o.run_id);
    out += ',';
    append_text(out, o.process_id);
    out += ',';
    append_text(out, o.source_key);
    out += ',';
    append_text(out, o.target_key);
    out += ',';
    append_text(out, o.action);
    out += ',';
    append_text(out, o.error_class);
    out += ',';
    append_text(out, o.message);
    out += ',';
    append_int(out, o.attempts);
    out += ',';
    append_time(out, o.started_ms);
    out += ',';
    append_time(out, o.finished_ms);
    out += ',';
    if (known_time(o.started_ms) && known_time(o.finished_ms))
        append_int(out, o.finished_ms - o.started_ms);
    out += "\r\n";
}

}  // namespace

ExportResult write_csv(Store& store, const OutcomeQuery& query, ExportSink& out) {
    ExportResult result;
    std::string buffer;
    buffer.reserve(k_sink_chunk + 4096);
    const auto flush = [&] {
        if (buffer.empty()) return;
        out.write(buffer);
        result.bytes += static_cast<int64_t>(buffer.size());
        buffer.clear();
    };

    const auto& columns = outcome_export_columns();
    for (size_t i = 0; i < columns.size(); ++i) {
        if (i) buffer += ',';
        buffer += columns[i];
    }
    buffer += "\r\n";

    store.for_each_outcome(query, [&](const RecordOutcome& o) {
        append_row(buffer, o);
        ++result.rows;
        if (buffer.size() >= k_sink_chunk) flush();
    });
    flush();
    return result;
}

}  // namespace plexus::export_detail
