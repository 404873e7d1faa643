// The xlsx writer of outcome exports (format: outcome_export.hpp), on libxlsxwriter.
//
// libxlsxwriter writes a workbook to a named file, not to a stream. So: build the workbook
// in a temporary file in options.work_dir (constant-memory mode: each row goes to
// libxlsxwriter's own temporary file, also in work_dir, as soon as the next one starts),
// close it, stream the file to the sink in 64 KiB pieces, delete it. The temporary workbook
// is deleted on every path out, also when the store or the sink throws; libxlsxwriter's
// own temporary files are unlinked as soon as they are created, so even a crash leaves
// nothing behind but, at worst, one ".plexus-export-*.xlsx" file.
#include <unistd.h>
#include <xlsxwriter.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>

#include "export/export_cells.hpp"

namespace plexus::export_detail {
namespace {

namespace fs = std::filesystem;

constexpr size_t k_cell_max_chars = 32'767;                           // Excel's limit per cell
constexpr std::string_view k_truncated = "\xE2\x80\xA6 [truncated]";  // "… [truncated]"
constexpr size_t k_truncated_chars = 13;

constexpr const char* k_time_format = "yyyy-mm-dd hh:mm:ss.000";

struct ColumnLayout {
    double width;
    bool time;
};
// Widths, in column order (outcome_export_columns()).
constexpr ColumnLayout k_layout[] = {{11, false}, {8, false},  {24, false}, {22, false},
                                     {22, false}, {10, false}, {12, false}, {60, false},
                                     {9, false},  {23, true},  {23, true},  {12, false}};

// The workbook's temporary file: removed when this goes out of scope.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& dir) {
        static std::atomic<unsigned> counter{0};
        std::random_device rd;
        path_ = fs::path(dir) / (".plexus-export-" + std::to_string(getpid()) + "-" +
                                 std::to_string(counter++) + "-" + std::to_string(rd()) + ".xlsx");
    }
    ~TemporaryFile() {
        std::error_code ec;
        fs::remove(path_, ec);
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Owns an open lxw_workbook; closing it writes the file. Destroyed while still open (an
// exception while rows were written), it is closed anyway so libxlsxwriter frees everything;
// the half-written file is then removed by TemporaryFile.
class Workbook {
public:
    Workbook(const fs::path& file, const std::string& tmpdir) : tmpdir_(tmpdir) {
        lxw_workbook_options options{};
        options.constant_memory = LXW_TRUE;
        options.tmpdir = tmpdir_.data();
        options.use_zip64 = LXW_FALSE;
        wb_ = workbook_new_opt(file.c_str(), &options);
        if (!wb_) throw std::runtime_error("cannot start the workbook " + file.string());
    }
    ~Workbook() {
        if (wb_) workbook_close(wb_);
    }
    Workbook(const Workbook&) = delete;
    Workbook& operator=(const Workbook&) = delete;

    lxw_workbook* get() { return wb_; }
    lxw_error close() {
        lxw_workbook* wb = wb_;
        wb_ = nullptr;
        return workbook_close(wb);
    }

private:
    std::string tmpdir_;  // libxlsxwriter keeps the pointer
    lxw_workbook* wb_ = nullptr;
};

size_t utf8_chars(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

// Byte offset just past the first `chars` code points of valid UTF-8 `s`.
size_t utf8_prefix_bytes(std::string_view s, size_t chars) {
    size_t i = 0;
    for (size_t seen = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (seen == chars) break;
            ++seen;
        }
    }
    return i;
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// Text for a string cell. Excel reads "_xHHHH_" in a cell as an escaped character, so a
// literal one gets its underscore escaped ("_x005F_xHHHH_"); control characters are escaped
// by libxlsxwriter itself. Longer than Excel's limit: cut at a character boundary (never
// inside an escape) and marked.
std::string cell_text(std::string_view raw) {
    std::string text = export_text(raw);
    if (text.find("_x") != std::string::npos) {
        std::string escaped;
        escaped.reserve(text.size() + 16);
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '_' && i + 6 < text.size() &&
                (text[i + 1] == 'x' || text[i + 1] == 'X') && is_hex(text[i + 2]) &&
                is_hex(text[i + 3]) && is_hex(text[i + 4]) && is_hex(text[i + 5]) &&
                text[i + 6] == '_')
                escaped += "_x005F";
            escaped += text[i];
        }
        text = std::move(escaped);
    }
    if (text.size() > k_cell_max_chars && utf8_chars(text) > k_cell_max_chars) {
        size_t cut = utf8_prefix_bytes(text, k_cell_max_chars - k_truncated_chars);
        // Do not leave a partial "_x005F_" behind.
        const size_t underscore = text.rfind('_', cut == 0 ? 0 : cut - 1);
        if (underscore != std::string::npos && cut - underscore < 7 &&
            std::string_view("_x005F_").substr(0, cut - underscore) ==
                std::string_view(text).substr(underscore, cut - underscore))
            cut = underscore;
        text.resize(cut);
        text += k_truncated;
    }
    return text;
}

void check(lxw_error err, const char* what) {
    if (err != LXW_NO_ERROR)
        throw std::runtime_error(std::string("xlsx export: ") + what + ": " + lxw_strerror(err));
}

class SheetWriter {
public:
    SheetWriter(lxw_workbook* wb, const ExportOptions& options) : wb_(wb), options_(options) {
        header_ = workbook_add_format(wb_);
        format_set_bold(header_);
        time_ = workbook_add_format(wb_);
        format_set_num_format(time_, k_time_format);
        start_sheet();
    }

    void row(const RecordOutcome& o) {
        if (rows_in_sheet_ >= options_.max_rows_per_sheet) {
            finish_sheet();
            start_sheet();
        }
        const auto r = static_cast<lxw_row_t>(rows_in_sheet_ + 1);
        number(r, 0, static_cast<double>(o.id));
        number(r, 1, static_cast<double>(o.run_id));
        text(r, 2, o.process_id);
        text(r, 3, o.source_key);
        text(r, 4, o.target_key);
        text(r, 5, o.action);
        text(r, 6, o.error_class);
        text(r, 7, o.message);
        number(r, 8, o.attempts);
        time(r, 9, o.started_ms);
        time(r, 10, o.finished_ms);
        if (known_time(o.started_ms) && known_time(o.finished_ms))
            number(r, 11, static_cast<double>(o.finished_ms - o.started_ms));
        ++rows_in_sheet_;
    }

    void finish_sheet() {
        const auto last_col = static_cast<lxw_col_t>(outcome_export_columns().size() - 1);
        check(worksheet_autofilter(sheet_, 0, 0, static_cast<lxw_row_t>(rows_in_sheet_), last_col),
              "autofilter");
    }

    int sheets() const { return sheets_; }

private:
    void start_sheet() {
        ++sheets_;
        const std::string name = sheets_ == 1 ? "outcomes" : "outcomes " + std::to_string(sheets_);
        sheet_ = workbook_add_worksheet(wb_, name.c_str());
        if (!sheet_)
            throw std::runtime_error("xlsx export: cannot add the worksheet \"" + name +
                                     "\" (is the temporary directory " + options_.work_dir +
                                     " writable?)");
        rows_in_sheet_ = 0;
        const auto& columns = outcome_export_columns();
        for (size_t c = 0; c < columns.size(); ++c) {
            const auto col = static_cast<lxw_col_t>(c);
            check(worksheet_set_column(sheet_, col, col, k_layout[c].width,
                                       k_layout[c].time ? time_ : nullptr),
                  "column layout");
            check(worksheet_write_string(sheet_, 0, col, columns[c].c_str(), header_), "header");
        }
        worksheet_freeze_panes(sheet_, 1, 0);
    }

    void number(lxw_row_t r, lxw_col_t c, double v) {
        check(worksheet_write_number(sheet_, r, c, v, nullptr), "write a number");
    }
    void time(lxw_row_t r, lxw_col_t c, int64_t ms) {
        if (!known_time(ms)) return;
        check(worksheet_write_number(sheet_, r, c, excel_serial(ms), time_), "write a time");
    }
    void text(lxw_row_t r, lxw_col_t c, std::string_view raw) {
        if (raw.empty()) return;
        const std::string t = cell_text(raw);
        check(worksheet_write_string(sheet_, r, c, t.c_str(), nullptr), "write a text");
    }

    lxw_workbook* wb_;
    const ExportOptions& options_;
    lxw_format* header_ = nullptr;
    lxw_format* time_ = nullptr;
    lxw_worksheet* sheet_ = nullptr;
    int64_t rows_in_sheet_ = 0;
    int sheets_ = 0;
};

}  // namespace

ExportResult write_xlsx(Store& store, const OutcomeQuery& query, ExportSink& out,
                        const ExportOptions& options) {
    static_assert(std::size(k_layout) == 12, "one layout per export column");
    if (options.work_dir.empty())
        throw std::invalid_argument("xlsx export: ExportOptions::work_dir is required");
    std::error_code ec;
    if (!fs::is_directory(options.work_dir, ec))
        throw std::runtime_error("xlsx export: the directory for temporary files, " +
                                 options.work_dir + ", does not exist");
    if (options.max_rows_per_sheet < 1 || options.max_rows_per_sheet > LXW_ROW_MAX - 1)
        throw std::invalid_argument("xlsx export: max_rows_per_sheet out of range");

    ExportResult result;
    TemporaryFile file(options.work_dir);
    {
        Workbook wb(file.path(), options.work_dir);
        SheetWriter writer(wb.get(), options);
        store.for_each_outcome(query, [&](const RecordOutcome& o) {
            writer.row(o);
            ++result.rows;
        });
        writer.finish_sheet();
        result.sheets = writer.sheets();
        const lxw_error err = wb.close();
        if (err != LXW_NO_ERROR) {
            const int saved_errno = errno;
            std::string why = lxw_strerror(err);
            if (err == LXW_ERROR_CREATING_XLSX_FILE || err == LXW_ERROR_CREATING_TMPFILE)
                why += std::string(" (") + std::strerror(saved_errno) + ")";
            throw std::runtime_error("xlsx export: cannot write the temporary workbook " +
                                     file.path().string() + ": " + why);
        }
    }

    std::FILE* f = std::fopen(file.path().c_str(), "rb");
    if (!f)
        throw std::runtime_error("xlsx export: cannot read the temporary workbook " +
                                 file.path().string() + ": " + std::strerror(errno));
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
    std::string buffer(k_sink_chunk, '\0');
    for (;;) {
        const size_t n = std::fread(buffer.data(), 1, buffer.size(), f);
        if (n > 0) {
            out.write(std::string_view(buffer.data(), n));
            result.bytes += static_cast<int64_t>(n);
        }
        if (n < buffer.size()) {
            if (std::ferror(f))
                throw std::runtime_error("xlsx export: cannot read the temporary workbook " +
                                         file.path().string());
            break;
        }
    }
    return result;
}

}  // namespace plexus::export_detail
