// Exporting sync logs: record outcomes, by run or by filter, as CSV or Excel (.xlsx),
// streamed to a byte sink. Called by `plexus logs export` and by the portal's
// GET /api/export (docs/api.md); the operator's description is docs/operations.md,
// "Exporting sync logs".
//
// Persisted format — the columns are stable; tools and people's spreadsheets rely on them.
// Append new columns at the end, never rename, reorder or drop one. One header row, then one
// row per record outcome in outcome id order:
//
//   outcome_id    integer   the outcome's id (grows with commit order)
//   run_id        integer   the run that handled the record
//   process       text      process id
//   source_key    text      the record's key in the source system
//   target_key    text      the record's key in the target system (empty when none)
//   action        text      created, updated, unchanged or failed
//   error_class   text      auth, rate_limit, validation, conflict, transient, plugin,
//                           mapping, dependency; empty unless failed
//   message       text      what happened (secrets redacted)
//   attempts      integer   tries it took
//   started_utc   time      when handling the record began, UTC
//   finished_utc  time      when it ended, UTC
//   duration_ms   integer   finished - started in milliseconds
//
// A time or duration that is not known (a stored time of 0) is an empty cell.
//
// CSV: RFC 4180 — comma separated, CRLF line ends, a field quoted ("…", inner quotes
// doubled) when it holds a comma, quote, CR or LF; UTF-8 without a byte order mark; times
// ISO 8601 UTC with milliseconds ("2024-05-01T10:00:00.123Z"). A text field starting with
// = + - @ TAB or CR gets a leading apostrophe, so a spreadsheet opening the file does not
// run it as a formula (CSV injection).
//
// xlsx: one worksheet "outcomes" (continued on "outcomes 2", "outcomes 3", … past Excel's
// 1,048,576 rows per sheet, each with the header row), header bold and frozen, an
// autofilter. Numbers are numeric cells; times are Excel date-time serial numbers in UTC
// with the format "yyyy-mm-dd hh:mm:ss.000"; text is always a string cell (never a
// formula). Excel limits a cell to 32,767 characters: longer texts are cut, ending in
// "… [truncated]".
//
// Every text passes through global_redactor() before it is written (the engine redacted
// messages already; this is the second line of defence). Bytes that are not valid UTF-8
// become U+FFFD.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "export/export_sink.hpp"
#include "store/store.hpp"

namespace plexus {

enum class ExportFormat { csv, xlsx };

// "csv" or "xlsx" (exactly, lower case); none otherwise.
std::optional<ExportFormat> parse_export_format(std::string_view name);
const char* export_format_name(ExportFormat fmt);     // "csv", "xlsx"
const char* export_content_type(ExportFormat fmt);    // for Content-Type
const char* export_file_extension(ExportFormat fmt);  // ".csv", ".xlsx"

// The column names of the header row, in order (see above).
const std::vector<std::string>& outcome_export_columns();

struct ExportOptions {
    // xlsx only, required there: the directory for the temporary files — libxlsxwriter
    // writes the workbook to a file, not a stream, so the workbook is built in a temporary
    // file here ("<work_dir>/.plexus-export-*.xlsx", plus libxlsxwriter's own temporary
    // files while rows are written), then streamed to the sink and deleted, also when the
    // export fails. Hosts pass their data directory: it is on a disk with room, unlike a
    // RAM-backed /tmp. Expect about 0.5 GB of temporary space per million rows (the
    // uncompressed worksheet XML) plus the finished workbook (about 55 MB per million).
    std::string work_dir;
    // xlsx: data rows per worksheet before a new one starts (Excel's limit less the header
    // row). Tests lower it.
    int64_t max_rows_per_sheet = 1'048'575;
};

struct ExportResult {
    int64_t rows = 0;   // outcome rows written (the header not counted)
    int64_t bytes = 0;  // bytes handed to the sink
    int sheets = 0;     // xlsx: worksheets written; csv: 0
};

// Writes every outcome matching `query` (its limit and offset are ignored; after_id is
// honoured) to `out` in `fmt`, streamed: Store::for_each_outcome reads the rows in chunks,
// CSV goes to the sink in pieces of about 64 KiB as rows are formatted, and the xlsx
// workbook is built in constant-memory mode (one row in memory) — memory stays flat in the
// number of rows. The sink sees no byte of an xlsx export before the workbook is complete.
//
// Throws std::invalid_argument for xlsx without options.work_dir, std::runtime_error when
// the store, the workbook or its temporary file fails (the message names the file), and
// passes on whatever the sink throws. Thread: any; the store is used through its own lock.
ExportResult export_outcomes(Store& store, const OutcomeQuery& query, ExportFormat fmt,
                             ExportSink& out, const ExportOptions& options = {});

}  // namespace plexus
