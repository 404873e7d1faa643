// Unit tests of the outcome export (core/export): exact CSV for a small fixture, the xlsx
// read back (it is a zip: read with Debian's unzip), redaction, filters, the file sink.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/redactor.hpp"
#include "common/time_text.hpp"
#include "export/export_cells.hpp"
#include "export/outcome_export.hpp"
#include "store/store.hpp"

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

using test::TempDir;

class StringSink final : public ExportSink {
public:
    void write(std::string_view bytes) override {
        REQUIRE(!bytes.empty());
        text.append(bytes);
        ++writes;
    }
    std::string text;
    int writes = 0;
};

// A sink that fails after `limit` bytes, like a client that went away.
class FailingSink final : public ExportSink {
public:
    explicit FailingSink(size_t limit) : limit_(limit) {}
    void write(std::string_view bytes) override {
        seen_ += bytes.size();
        if (seen_ > limit_) throw std::runtime_error("client went away");
    }

private:
    size_t limit_;
    size_t seen_ = 0;
};

constexpr int64_t k_t0 = 1714557600000;  // 2024-05-01T10:00:00.000Z
constexpr const char* k_secret = "sk_live_EXPORTSECRET42";

RecordOutcome make(const std::string& key, const std::string& target, const std::string& act,
                   const std::string& err, const std::string& msg, int attempts, int64_t start,
                   int64_t finish) {
    RecordOutcome o;
    o.source_key = key;
    o.target_key = target;
    o.action = act;
    o.error_class = err;
    o.message = msg;
    o.attempts = attempts;
    o.started_ms = start;
    o.finished_ms = finish;
    return o;
}

// Run 1 of "orders": four outcomes whose texts hold every awkward case.
struct Fixture {
    TempDir dir;
    std::unique_ptr<Store> store = open_sqlite_store(dir.str("plexus.db"));
    int64_t run = 0;
    int64_t other_run = 0;
    Fixture() {
        global_redactor().add(k_secret);
        run = store->begin_run("orders", "cli", k_t0 - 1000);
        PageCommit p;
        p.process_id = "orders";
        p.run_id = run;
        p.now_ms = k_t0 + 5000;
        p.outcomes = {
            make("A-1", "T-1", action::created, "", "plain", 1, k_t0, k_t0 + 250),
            make("B,2", "", action::failed, error_class::validation,
                 "Email \"x\" missing, see\nline 2", 3, k_t0 + 1000, k_t0 + 2500),
            make("Z\xC3\xBCrich \xE6\x9D\xB1\xE4\xBA\xAC", "+41 44", action::updated, "",
                 "=HYPERLINK(\"http://evil\")", 1, k_t0 + 86'400'000, k_t0 + 86'400'001),
            make("@sum", "", action::failed, error_class::plugin,
                 std::string("-1+2 token ") + k_secret + " \xFF end", 2, 0, 0),
        };
        store->commit_page(p);
        other_run = store->begin_run("invoices", "cli", k_t0);
        PageCommit q;
        q.process_id = "invoices";
        q.run_id = other_run;
        q.now_ms = k_t0 + 6000;
        q.outcomes = {make("INV-9", "X-9", action::created, "", "", 1, k_t0 + 3000, k_t0 + 3010)};
        store->commit_page(q);
    }
    std::string csv(const OutcomeQuery& q) {
        StringSink sink;
        ExportResult r = export_outcomes(*store, q, ExportFormat::csv, sink);
        CHECK(r.bytes == static_cast<int64_t>(sink.text.size()));
        return sink.text;
    }
};

const char* k_header =
    "outcome_id,run_id,process,source_key,target_key,action,error_class,message,attempts,"
    "started_utc,finished_utc,duration_ms\r\n";

bool have_unzip() { return std::system("command -v unzip >/dev/null 2>&1") == 0; }

// One member of a zip file, through `unzip -p` (Debian's unzip; scripts/install-deps).
std::string unzip_member(const std::string& zip, const std::string& member) {
    const std::string cmd = "unzip -p '" + zip + "' '" + member + "' 2>/dev/null";
    std::FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    pclose(pipe);
    return out;
}

std::string xlsx_export(Fixture& f, const OutcomeQuery& q, ExportOptions options,
                        ExportResult* result = nullptr) {
    StringSink sink;
    options.work_dir = f.dir.path().string();
    ExportResult r = export_outcomes(*f.store, q, ExportFormat::xlsx, sink, options);
    if (result) *result = r;
    CHECK(r.bytes == static_cast<int64_t>(sink.text.size()));
    CHECK(sink.text.substr(0, 2) == "PK");  // a zip
    const std::string path = f.dir.str("read-back.xlsx");
    std::ofstream(path, std::ios::binary) << sink.text;
    return path;
}

// The cell `ref` ("J2") of a worksheet's XML, whole ("<c r=\"J2\" …>…</c>"), or "".
std::string cell(const std::string& sheet_xml, const std::string& ref) {
    const std::string open = "<c r=\"" + ref + "\"";
    const size_t at = sheet_xml.find(open);
    if (at == std::string::npos) return "";
    const size_t end = sheet_xml.find("</c>", at);
    return sheet_xml.substr(at, end + 4 - at);
}

std::vector<std::string> leftover_exports(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(".plexus-export-", 0) == 0) out.push_back(name);
    }
    return out;
}

}  // namespace

TEST_CASE("CSV export: RFC 4180, ISO 8601 UTC, injection guard, redaction, exact bytes",
          "[export]") {
    Fixture f;
    OutcomeQuery by_run;
    by_run.run_id = f.run;
    const std::string expected =
        std::string(k_header) +
        "1,1,orders,A-1,T-1,created,,plain,1,2024-05-01T10:00:00.000Z,"
        "2024-05-01T10:00:00.250Z,250\r\n"
        "2,1,orders,\"B,2\",,failed,validation,\"Email \"\"x\"\" missing, see\nline 2\",3,"
        "2024-05-01T10:00:01.000Z,2024-05-01T10:00:02.500Z,1500\r\n"
        "3,1,orders,Z\xC3\xBCrich \xE6\x9D\xB1\xE4\xBA\xAC,'+41 44,updated,,"
        "\"'=HYPERLINK(\"\"http://evil\"\")\",1,2024-05-02T10:00:00.000Z,"
        "2024-05-02T10:00:00.001Z,1\r\n"
        "4,1,orders,'@sum,,failed,plugin,'-1+2 token *** \xEF\xBF\xBD end,2,,,\r\n";
    CHECK(f.csv(by_run) == expected);
    CHECK(f.csv(by_run).substr(0, 3) != "\xEF\xBB\xBF");  // no byte order mark
}

TEST_CASE("CSV export follows the query's filters", "[export]") {
    Fixture f;
    OutcomeQuery by_process;
    by_process.process_id = "invoices";
    CHECK(f.csv(by_process) == std::string(k_header) +
                                   "5,2,invoices,INV-9,X-9,created,,,1,2024-05-01T10:00:03.000Z,"
                                   "2024-05-01T10:00:03.010Z,10\r\n");

    OutcomeQuery failed;
    failed.action = action::failed;
    failed.error_class = error_class::validation;
    const std::string only_b = f.csv(failed);
    CHECK(only_b.rfind(std::string(k_header) + "2,1,orders,\"B,2\"", 0) == 0);
    CHECK(std::count(only_b.begin(), only_b.end(), '\n') == 3);  // header, row, the row's LF

    OutcomeQuery window;  // 10:00:00.500 up to (not including) 10:00:03.000 on May 1st
    window.started_from_ms = k_t0 + 500;
    window.started_to_ms = k_t0 + 3000;
    const std::string w = f.csv(window);
    CHECK(w.find("\r\n2,1,orders") != std::string::npos);
    CHECK(w.find("\r\n1,") == std::string::npos);
    CHECK(w.find("INV-9") == std::string::npos);

    OutcomeQuery text;
    text.text = "hyperlink";
    CHECK(f.csv(text).find("\r\n3,1,orders") != std::string::npos);

    OutcomeQuery none;
    none.run_id = 999;
    CHECK(f.csv(none) == k_header);
}

TEST_CASE("CSV export streams to the sink in pieces", "[export]") {
    TempDir dir;
    auto store = open_sqlite_store(dir.str("plexus.db"));
    const int64_t run = store->begin_run("orders", "cli", k_t0);
    for (int page = 0; page < 5; ++page) {
        PageCommit p;
        p.process_id = "orders";
        p.run_id = run;
        p.now_ms = k_t0;
        for (int i = 0; i < 1000; ++i)
            p.outcomes.push_back(make("K" + std::to_string(page * 1000 + i), "T", action::created,
                                      "", "a message of some length to fill the buffer", 1, k_t0,
                                      k_t0 + 1));
        store->commit_page(p);
    }
    StringSink sink;
    ExportResult r = export_outcomes(*store, OutcomeQuery{}, ExportFormat::csv, sink);
    CHECK(r.rows == 5000);
    CHECK(sink.writes > 1);  // more than one piece: not collected whole first
    CHECK(std::count(sink.text.begin(), sink.text.end(), '\n') == 5001);
    FailingSink failing(1000);
    CHECK_THROWS_WITH(export_outcomes(*store, OutcomeQuery{}, ExportFormat::csv, failing),
                      "client went away");
}

TEST_CASE("xlsx export: header, rows, real date cells, strings never formulas", "[export]") {
    if (!have_unzip()) FAIL("unzip is needed to read the workbook back: run scripts/install-deps");
    Fixture f;
    OutcomeQuery by_run;
    by_run.run_id = f.run;
    ExportResult result;
    const std::string path = xlsx_export(f, by_run, {}, &result);
    CHECK(result.rows == 4);
    CHECK(result.sheets == 1);
    CHECK(leftover_exports(f.dir.path()).empty());  // the temporary workbook is gone

    const std::string sheet = unzip_member(path, "xl/worksheets/sheet1.xml");
    REQUIRE(!sheet.empty());
    INFO(sheet.substr(0, 3000));
    CHECK(unzip_member(path, "xl/workbook.xml").find("name=\"outcomes\"") != std::string::npos);

    // Header row: every column name, in order, as a string cell.
    const char* letters = "ABCDEFGHIJKL";
    const auto& columns = outcome_export_columns();
    REQUIRE(columns.size() == 12);
    for (size_t c = 0; c < columns.size(); ++c) {
        const std::string h = cell(sheet, std::string(1, letters[c]) + "1");
        CHECK_THAT(
            h, Catch::Contains("t=\"inlineStr\"") && Catch::Contains("<t>" + columns[c] + "</t>"));
    }

    // Row 2: outcome 1.
    CHECK_THAT(cell(sheet, "A2"), Catch::Contains("<v>1</v>") && !Catch::Contains("t=\""));
    CHECK_THAT(cell(sheet, "C2"), Catch::Contains("<t>orders</t>"));
    CHECK_THAT(cell(sheet, "D2"), Catch::Contains("<t>A-1</t>"));
    CHECK_THAT(cell(sheet, "F2"), Catch::Contains("<t>created</t>"));
    CHECK(cell(sheet, "G2").empty());  // no error class: no cell
    CHECK_THAT(cell(sheet, "L2"), Catch::Contains("<v>250</v>"));

    // The start time is a number (no t= attribute) with a date-time style.
    const std::string started = cell(sheet, "J2");
    std::smatch m;
    REQUIRE(std::regex_search(started, m, std::regex("<c r=\"J2\" s=\"(\\d+)\"><v>([0-9.]+)</v>")));
    const int style = std::stoi(m[1]);
    CHECK(std::stod(m[2]) == Approx(45413.0 + 10.0 / 24.0).epsilon(1e-12));  // 2024-05-01 10:00
    const std::string styles = unzip_member(path, "xl/styles.xml");
    std::smatch fmt;
    REQUIRE(std::regex_search(
        styles, fmt,
        std::regex("<numFmt numFmtId=\"(\\d+)\" formatCode=\"yyyy-mm-dd hh:mm:ss.000\"/>")));
    const size_t xfs = styles.find("<cellXfs");
    REQUIRE(xfs != std::string::npos);
    std::vector<std::string> xf_formats;
    const std::regex xf("<xf numFmtId=\"(\\d+)\"");
    for (auto it = std::sregex_iterator(styles.begin() + xfs, styles.end(), xf);
         it != std::sregex_iterator(); ++it)
        xf_formats.push_back((*it)[1]);
    REQUIRE(style < static_cast<int>(xf_formats.size()));
    CHECK(xf_formats[style] == fmt[1].str());

    // Texts as strings: commas, quotes, newlines and formula-looking text kept as they are
    // (XML-escaped), never a formula; non-ASCII intact; the secret masked; bad bytes U+FFFD.
    CHECK(sheet.find("<f>") == std::string::npos);
    CHECK_THAT(cell(sheet, "H3"), Catch::Contains("<t>Email \"x\" missing, see\nline 2</t>"));
    CHECK_THAT(cell(sheet, "D3"), Catch::Contains("<t>B,2</t>"));
    CHECK_THAT(cell(sheet, "D4"), Catch::Contains("Z\xC3\xBCrich \xE6\x9D\xB1\xE4\xBA\xAC"));
    CHECK_THAT(cell(sheet, "E4"),
               Catch::Contains("t=\"inlineStr\"") && Catch::Contains("<t>+41 44</t>"));
    CHECK_THAT(cell(sheet, "H4"), Catch::Contains("t=\"inlineStr\"") &&
                                      Catch::Contains("<t>=HYPERLINK(\"http://evil\")</t>"));
    CHECK_THAT(cell(sheet, "H5"), Catch::Contains("<t>-1+2 token *** \xEF\xBF\xBD end</t>"));
    CHECK(sheet.find(k_secret) == std::string::npos);
    // Outcome 4 has no times: its time and duration cells are absent.
    CHECK(cell(sheet, "J5").empty());
    CHECK(cell(sheet, "K5").empty());
    CHECK(cell(sheet, "L5").empty());
    CHECK(sheet.find("<autoFilter ref=\"A1:L5\"/>") != std::string::npos);
    CHECK(sheet.find("<pane ySplit=\"1\"") != std::string::npos);  // header frozen
}

TEST_CASE("xlsx export continues on a new worksheet past the row limit", "[export]") {
    if (!have_unzip()) FAIL("unzip is needed to read the workbook back: run scripts/install-deps");
    Fixture f;
    ExportOptions options;
    options.max_rows_per_sheet = 3;
    ExportResult result;
    const std::string path = xlsx_export(f, OutcomeQuery{}, options, &result);  // 5 outcomes
    CHECK(result.rows == 5);
    CHECK(result.sheets == 2);
    const std::string workbook = unzip_member(path, "xl/workbook.xml");
    CHECK(workbook.find("name=\"outcomes\"") != std::string::npos);
    CHECK(workbook.find("name=\"outcomes 2\"") != std::string::npos);
    const std::string first = unzip_member(path, "xl/worksheets/sheet1.xml");
    const std::string second = unzip_member(path, "xl/worksheets/sheet2.xml");
    CHECK_THAT(cell(first, "A4"), Catch::Contains("<v>3</v>"));
    CHECK(cell(first, "A5").empty());
    CHECK_THAT(cell(second, "A1"), Catch::Contains("<t>outcome_id</t>"));
    CHECK_THAT(cell(second, "A2"), Catch::Contains("<v>4</v>"));
    CHECK_THAT(cell(second, "A3"), Catch::Contains("<v>5</v>"));
    CHECK_THAT(cell(second, "D3"), Catch::Contains("<t>INV-9</t>"));
}

TEST_CASE("xlsx export cuts texts at Excel's cell limit and escapes _xHHHH_", "[export]") {
    if (!have_unzip()) FAIL("unzip is needed to read the workbook back: run scripts/install-deps");
    Fixture f;
    const int64_t run = f.store->begin_run("long", "cli", k_t0);
    PageCommit p;
    p.process_id = "long";
    p.run_id = run;
    p.now_ms = k_t0;
    std::string long_message;
    for (int i = 0; i < 40'000; ++i) long_message += "\xC3\xA9";  // é, 2 bytes each
    p.outcomes = {make("L1", "", action::failed, error_class::plugin, long_message, 1, k_t0, k_t0),
                  make("_x0041_", "", action::created, "", "", 1, k_t0, k_t0)};
    f.store->commit_page(p);
    OutcomeQuery q;
    q.run_id = run;
    ExportResult result;
    const std::string path = xlsx_export(f, q, {}, &result);
    CHECK(result.rows == 2);
    const std::string sheet = unzip_member(path, "xl/worksheets/sheet1.xml");
    std::string expected_text;
    for (int i = 0; i < 32'767 - 13; ++i) expected_text += "\xC3\xA9";
    expected_text += "\xE2\x80\xA6 [truncated]";
    CHECK(cell(sheet, "H2") ==
          "<c r=\"H2\" t=\"inlineStr\"><is><t>" + expected_text + "</t></is></c>");
    CHECK_THAT(cell(sheet, "D3"), Catch::Contains("<t>_x005F_x0041_</t>"));

    // CSV keeps the whole text.
    StringSink sink;
    export_outcomes(*f.store, q, ExportFormat::csv, sink);
    CHECK(sink.text.find(long_message) != std::string::npos);
}

TEST_CASE("xlsx export cleans up after a failure and reports a missing work directory",
          "[export]") {
    Fixture f;
    ExportOptions options;
    options.work_dir = f.dir.path().string();
    FailingSink failing(10);
    CHECK_THROWS_WITH(
        export_outcomes(*f.store, OutcomeQuery{}, ExportFormat::xlsx, failing, options),
        "client went away");
    CHECK(leftover_exports(f.dir.path()).empty());

    StringSink sink;
    CHECK_THROWS_AS(export_outcomes(*f.store, OutcomeQuery{}, ExportFormat::xlsx, sink, {}),
                    std::invalid_argument);
    options.work_dir = f.dir.str("no-such-dir");
    CHECK_THROWS_WITH(
        export_outcomes(*f.store, OutcomeQuery{}, ExportFormat::xlsx, sink, options),
        Catch::Contains(f.dir.str("no-such-dir")) && Catch::Contains("does not exist"));
    CHECK(sink.text.empty());
}

TEST_CASE("export formats and columns are named as documented", "[export]") {
    CHECK(parse_export_format("csv") == ExportFormat::csv);
    CHECK(parse_export_format("xlsx") == ExportFormat::xlsx);
    CHECK(!parse_export_format("XLSX"));
    CHECK(!parse_export_format("xls"));
    CHECK(std::string(export_file_extension(ExportFormat::xlsx)) == ".xlsx");
    CHECK(std::string(export_content_type(ExportFormat::csv)).rfind("text/csv", 0) == 0);
    std::string header;
    for (const auto& c : outcome_export_columns()) header += (header.empty() ? "" : ",") + c;
    CHECK(header + "\r\n" == k_header);
}

TEST_CASE("FileSink replaces the file only on commit", "[export]") {
    TempDir dir;
    const fs::path target = dir.path() / "out.csv";
    std::ofstream(target) << "old";
    {
        FileSink sink(target);
        sink.write("new content");
        // destroyed without commit: an export that failed
    }
    auto read = [](const fs::path& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    CHECK(read(target) == "old");
    {
        FileSink sink(target);
        sink.write("new ");
        sink.write("content");
        sink.commit();
    }
    CHECK(read(target) == "new content");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path()))
        names.push_back(e.path().filename().string());
    CHECK(names == std::vector<std::string>{"out.csv"});  // no temporary file left

    CHECK_THROWS_WITH(FileSink(dir.path() / "missing" / "out.csv"),
                      Catch::Contains((dir.path() / "missing" / "out.csv").string()) &&
                          Catch::Contains("No such file or directory"));
    CHECK_THROWS_WITH(FileSink(dir.path()), Catch::Contains("is a directory"));
}

TEST_CASE("export times are the calendar's: leap days, century years, before 1970", "[export]") {
    // The export's fast formatter against the date library's (common/time_text), which the
    // API uses: the same second, plus the milliseconds.
    const int64_t day = 86'400'000;
    std::vector<int64_t> times = {0, 1, 999, day - 1, day, -1, -day, -day - 1,
                                  951'782'400'000,    // 2000-02-29 (a century leap year)
                                  4'107'542'400'000,  // 2100-03-01 (2100 is not a leap year)
                                  1'709'164'800'123,  // 2024-02-29T00:00:00.123Z
                                  -2'208'988'800'000, // 1900-01-01
                                  253'402'300'799'999};  // 9999-12-31T23:59:59.999Z
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int64_t> any(-2'208'988'800'000, 253'402'300'799'999);
    for (int i = 0; i < 2000; ++i) times.push_back(any(rng));
    for (const int64_t ms : times) {
        std::string got;
        export_detail::append_iso_utc(got, ms);
        const int64_t second = ms >= 0 ? ms / 1000 * 1000 : -((-ms + 999) / 1000 * 1000);
        std::string want = iso_utc(second);
        char frac[8];
        std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms - second));
        want.insert(want.size() - 1, frac);
        INFO(ms);
        REQUIRE(got == want);
    }
}
