// plexus logs export, end to end: a real run through the CLI, then its outcomes exported to
// CSV and xlsx by run and by filter, and every refusal with its exit status.
#include "support.hpp"

#include "export/outcome_export.hpp"
#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace plexus::test;

namespace {

// Two customers: A syncs, B fails its mapping (credit "n/a" is not a number).
struct ExportWorld {
    TempDir dir;
    json config;
    ExportWorld() {
        config = files_customers_config(dir.path());
        write_jsonl(dir.path() / "src" / "customers.jsonl",
                    {{{"id", "A"}, {"credit", "1.5"}, {"updated_at", "2024-05-01T10:00:00Z"}},
                     {{"id", "B,\"quoted\""}, {"credit", "n/a"}, {"updated_at", "2024-05-02T10:00:00Z"}}});
        write_file(dir.path() / "plexus.json", config.dump(2));
    }
    CommandResult plexus(std::vector<std::string> args) {
        args.insert(args.end(), {"--config", dir.str("plexus.json"), "--data", dir.str("var"), "--plugin-dir", PLEXUS_PLUGIN_DIR});
        return run_plexus(args);
    }
    CommandResult export_(std::vector<std::string> args) {
        args.insert(args.begin(), {"logs", "export"});
        return plexus(args);
    }
};

std::vector<std::string> csv_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find("\r\n", at);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(at, end - at));
        at = end + 2;
    }
    return lines;
}

const std::string k_header =
    "outcome_id,run_id,process,source_key,target_key,action,error_class,message,attempts,"
    "started_utc,finished_utc,duration_ms";

}  // namespace

TEST_CASE("logs export writes a run's outcomes as CSV and xlsx, and filters", "[cli][export]") {
    ExportWorld w;
    auto run = w.plexus({"run", "customers"});
    INFO(run.out);
    REQUIRE(run.exit_code == 2);  // B failed

    const std::string csv = w.dir.str("run1.csv");
    auto r = w.export_({"--run", "1", "--format", "csv", "--output", csv});
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("exported 2 outcomes (run 1) to " + csv + " (csv"));
    auto lines = csv_lines(read_file(csv));
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == k_header);
    // The engine records a page's mapping failures before its writes: B is outcome 1.
    CHECK_THAT(lines[1], Catch::StartsWith("1,1,customers,\"B,\"\"quoted\"\"\",,failed,mapping,"
                                           "\"record B,\"\"quoted\"\": field credit: number()"));
    CHECK_THAT(lines[2], Catch::StartsWith("2,1,customers,A,A,created,,,1,20"));
    for (size_t i = 1; i < lines.size(); ++i)
        CHECK_THAT(lines[i], Catch::Matches(".*,1,\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z,"
                                            "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z,\\d+"));

    // By process and filter.
    auto failed = w.export_({"--process", "customers", "--action", "failed", "--format", "csv", "-o", csv});
    REQUIRE(failed.exit_code == 0);
    CHECK_THAT(failed.out, Catch::Contains("exported 1 outcome (customers)"));
    lines = csv_lines(read_file(csv));
    REQUIRE(lines.size() == 2);
    CHECK_THAT(lines[1], Catch::Contains("failed,mapping"));

    auto by_class = w.export_({"--process", "customers", "--error-class", "validation", "--format", "csv", "-o", csv});
    REQUIRE(by_class.exit_code == 0);
    CHECK(csv_lines(read_file(csv)).size() == 1);  // header only

    auto by_text = w.export_({"--process", "customers", "--text", "quoted", "--format", "csv", "-o", csv});
    REQUIRE(by_text.exit_code == 0);
    CHECK(csv_lines(read_file(csv)).size() == 2);

    // Times: the run happened now, so a window around now holds both and one in 2000 none.
    auto wide = w.export_({"--process", "customers", "--from", "2000-01-01", "--to", "2999-12-31T00:00:00+01:00",
                           "--format", "csv", "-o", csv});
    REQUIRE(wide.exit_code == 0);
    CHECK(csv_lines(read_file(csv)).size() == 3);
    auto old = w.export_({"--process", "customers", "--to", "2000-01-01", "--format", "csv", "-o", csv});
    REQUIRE(old.exit_code == 0);
    CHECK(csv_lines(read_file(csv)).size() == 1);

    // xlsx: a workbook with the rows; the temporary workbook in the data directory is gone.
    const std::string xlsx = w.dir.str("run1.xlsx");
    auto x = w.export_({"--run", "1", "--format", "xlsx", "--output", xlsx});
    INFO(x.out);
    REQUIRE(x.exit_code == 0);
    CHECK_THAT(x.out, Catch::Contains("exported 2 outcomes (run 1)"));
    CHECK(read_file(xlsx).substr(0, 2) == "PK");
    if (std::system("command -v unzip >/dev/null 2>&1") == 0) {
        FILE* pipe = popen(("unzip -p " + shell_quote(xlsx) + " xl/worksheets/sheet1.xml").c_str(), "r");
        REQUIRE(pipe);
        std::string sheet;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) sheet.append(buf, n);
        pclose(pipe);
        CHECK_THAT(sheet, Catch::Contains("<t>outcome_id</t>"));
        CHECK_THAT(sheet, Catch::Contains("<t>B,\"quoted\"</t>"));
        CHECK_THAT(sheet, Catch::Contains("<autoFilter ref=\"A1:L3\"/>"));
    } else {
        FAIL("unzip is needed to read the workbook back: run scripts/install-deps");
    }
    for (const auto& e : fs::directory_iterator(w.dir.path() / "var"))
        CHECK(e.path().filename().string().rfind(".plexus-export-", 0) != 0);

    // Every export is audited.
    auto store = plexus::open_sqlite_store(w.dir.str("var/plexus.db"));
    auto audit = store->audit_log(1, 0);
    REQUIRE(audit.size() == 1);
    CHECK(audit[0].action == "logs.export");
    CHECK(audit[0].subject == "run 1");
    CHECK_THAT(audit[0].actor, Catch::StartsWith("cli:"));
    auto detail = json::parse(audit[0].detail);
    CHECK(detail["format"] == "xlsx");
    CHECK(detail["rows"] == 2);
    CHECK(detail["filters"]["run"] == 1);
}

TEST_CASE("logs export refuses clearly: unknown run or process, bad time, unwritable file",
          "[cli][export]") {
    ExportWorld w;
    const std::string out = w.dir.str("out.csv");

    auto no_db = w.export_({"--run", "1", "--format", "csv", "-o", out});
    CHECK(no_db.exit_code == 64);
    CHECK_THAT(no_db.out, Catch::Contains("no database at"));

    REQUIRE(w.plexus({"run", "customers"}).exit_code == 2);
    write_file(out, "kept");

    auto unknown_run = w.export_({"--run", "99", "--format", "csv", "-o", out});
    CHECK(unknown_run.exit_code == 64);
    CHECK_THAT(unknown_run.out, Catch::Contains("no run 99 in"));
    CHECK(read_file(out) == "kept");

    auto unknown_process = w.export_({"--process", "orders", "--format", "csv", "-o", out});
    CHECK(unknown_process.exit_code == 64);
    CHECK_THAT(unknown_process.out, Catch::Contains("no process \"orders\"") && Catch::Contains("customers"));

    auto bad_time = w.export_({"--process", "customers", "--from", "yesterday", "--format", "csv", "-o", out});
    CHECK(bad_time.exit_code == 64);
    CHECK_THAT(bad_time.out, Catch::Contains("--from \"yesterday\" is not an ISO 8601 time"));

    auto inverted = w.export_({"--process", "customers", "--from", "2024-05-02", "--to", "2024-05-01", "--format",
                               "csv", "-o", out});
    CHECK(inverted.exit_code == 64);
    CHECK_THAT(inverted.out, Catch::Contains("is not before --to"));

    auto bad_action = w.export_({"--process", "customers", "--action", "faild", "--format", "csv", "-o", out});
    CHECK(bad_action.exit_code == 64);
    CHECK_THAT(bad_action.out, Catch::Contains("did you mean \"failed\""));

    auto bad_format = w.export_({"--run", "1", "--format", "xls", "-o", out});
    CHECK(bad_format.exit_code == 64);
    CHECK_THAT(bad_format.out, Catch::Contains("use xlsx or csv"));

    auto neither = w.export_({"--format", "csv", "-o", out});
    CHECK(neither.exit_code == 64);
    CHECK_THAT(neither.out, Catch::Contains("--run ID or --process P"));

    auto no_output = w.export_({"--run", "1", "--format", "csv"});
    CHECK(no_output.exit_code == 64);
    CHECK_THAT(no_output.out, Catch::Contains("output"));

    const std::string nowhere = w.dir.str("no-such-dir/out.csv");
    auto unwritable = w.export_({"--run", "1", "--format", "csv", "-o", nowhere});
    CHECK(unwritable.exit_code == 1);
    CHECK_THAT(unwritable.out, Catch::Contains("cannot write " + nowhere) &&
                                   Catch::Contains("No such file or directory"));
    auto directory = w.export_({"--run", "1", "--format", "xlsx", "-o", w.dir.str()});
    CHECK(directory.exit_code == 1);
    CHECK_THAT(directory.out, Catch::Contains("is a directory"));
    CHECK(read_file(out) == "kept");

    auto help = run_plexus({"logs", "export", "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("usage: plexus logs export") && Catch::Contains("--error-class"));
    CHECK(run_plexus({"logs", "frobnicate"}).exit_code == 64);
    CHECK_THAT(run_plexus({"--help"}).out, Catch::Contains("logs export"));
}

TEST_CASE("the operator guide lists every export column", "[export][docs]") {
    const std::string guide = read_file(fs::path(PLEXUS_SOURCE_DIR) / "docs" / "operations.md");
    const size_t section = guide.find("## Exporting sync logs");
    REQUIRE(section != std::string::npos);
    const std::string text = guide.substr(section);
    size_t last = 0;
    for (const auto& column : plexus::outcome_export_columns()) {
        INFO(column);
        const size_t at = text.find("| `" + column + "` |");
        CHECK(at != std::string::npos);
        CHECK(at >= last);  // in order
        last = at;
    }
}
