// `plexus run PROCESS --dry-run` (issue 13; docs/operations.md, "Mappings in the portal and
// the dry run"): the decisions a run would take — a new record created, a changed one updated
// with the fields that changed, an unchanged one skipped, one the mapping cannot handle an
// error naming the field — and nothing written: the target file, the runs and where the next
// run starts stay as they were, so the real run afterwards does exactly what was shown.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <sstream>

using namespace plexus::test;

namespace {

struct Setup {
    TempDir dir;
    Setup() {
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        json config = {
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"items", jsonl_entity("items.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"items", jsonl_entity("items.jsonl", "sku", "")}})}}},
            {"processes",
             {{{"id", "items"},
               {"source", {{"connection", "src"}, {"entity", "items"}}},
               {"target", {{"connection", "dst"}, {"entity", "items"}}},
               {"mapping", {{"sku", "upper(id)"}, {"title", "trim(title)"}, {"price", "format_number(price, 2)"}}}}}}};
        write_file(dir.path() / "plexus.json", config.dump(2));
    }
    std::vector<std::string> args(std::vector<std::string> a) const {
        for (const auto& x : {std::string("--config"), dir.str("plexus.json"), std::string("--data"), dir.str("var"),
                              std::string("--plugin-dir"), std::string(PLEXUS_PLUGIN_DIR)})
            a.push_back(x);
        return a;
    }
    void source(const std::vector<json>& r) { write_jsonl(dir.path() / "src" / "items.jsonl", r); }
    std::string target() const {
        const fs::path p = dir.path() / "dst" / "items.jsonl";
        return fs::exists(p) ? read_file(p) : std::string();
    }
};

json item(const std::string& id, const std::string& title, const std::string& price, const std::string& at) {
    return {{"id", id}, {"title", title}, {"price", price}, {"updated_at", at}};
}

// key → "action detail" from the table.
std::map<std::string, std::string> decisions(const std::string& out) {
    std::map<std::string, std::string> m;
    std::regex row(R"(^  (create|update|skip|error)\s+(\S+)\s*(.*)$)");
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch s;
        if (std::regex_match(line, s, row) && s[2].str().back() != ',') m[s[2]] = std::string(s[1]) + " " + std::string(s[3]);
    }
    return m;
}

}  // namespace

TEST_CASE("cli: run --dry-run shows create, update, skip and error and writes nothing", "[cli][dry-run]") {
    Setup s;
    s.source({item("a1", "Mug", "4.5", "2024-01-01T00:00:01Z"), item("a2", "Cup", "3", "2024-01-01T00:00:02Z"),
              item("a3", "Jar", "2", "2024-01-01T00:00:03Z")});
    // Before any run: every record would be created; nothing is written.
    auto first = run_plexus(s.args({"run", "items", "--dry-run"}));
    INFO(first.out);
    CHECK(first.exit_code == 0);
    auto d = decisions(first.out);
    CHECK(d.size() == 3);
    CHECK(d["a1"].rfind("create", 0) == 0);
    CHECK(s.target().empty());
    CHECK(first.out.find("nothing was written") != std::string::npos);

    auto run = run_plexus(s.args({"run", "items"}));
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    const std::string written = s.target();
    REQUIRE(!written.empty());

    // a1 unchanged, a2 changed, a3 no longer mappable, a4 new.
    s.source({item("a1", "Mug", "4.5", "2024-01-01T00:00:01Z"), item("a2", "Cup XL", "3", "2024-01-02T00:00:02Z"),
              item("a3", "Jar", "two", "2024-01-02T00:00:03Z"), item("a4", "Bowl", "9", "2024-01-02T00:00:04Z")});
    auto all = run_plexus(s.args({"run", "items", "--dry-run", "--from", "start", "--payload"}));
    INFO(all.out);
    CHECK(all.exit_code == 2);  // a record cannot be mapped
    d = decisions(all.out);
    REQUIRE(d.size() == 4);
    CHECK(d["a1"].rfind("skip", 0) == 0);
    CHECK(d["a2"].rfind("update", 0) == 0);
    CHECK(d["a2"].find("changed: title") != std::string::npos);
    CHECK(d["a3"].rfind("error", 0) == 0);
    CHECK(d["a3"].find("field price") != std::string::npos);
    CHECK(d["a4"].rfind("create", 0) == 0);
    CHECK(all.out.find("\"title\":\"Cup XL\"") != std::string::npos);  // --payload

    // What the next run would read: not a1 (unchanged since); twice the same (nothing moved).
    for (int i = 0; i < 2; ++i) {
        auto next = run_plexus(s.args({"run", "items", "--dry-run"}));
        INFO(next.out);
        auto n = decisions(next.out);
        CHECK(n.size() == 3);
        CHECK(n.count("a1") == 0);
    }
    auto limited = run_plexus(s.args({"run", "items", "--dry-run", "--from", "start", "--limit", "2"}));
    CHECK(decisions(limited.out).size() == 2);
    CHECK(limited.out.find("more follow") != std::string::npos);
    CHECK(s.target() == written);

    CHECK(run_plexus(s.args({"run", "--all", "--dry-run"})).exit_code == 64);
    CHECK(run_plexus(s.args({"run", "items", "--dry-run", "--limit", "0"})).exit_code == 64);
    CHECK(run_plexus(s.args({"run", "items", "--dry-run", "--from", "yesterday"})).exit_code == 64);

    // The real run does what the dry run said.
    auto real = run_plexus(s.args({"run", "items"}));
    INFO(real.out);
    CHECK(std::regex_search(real.out, std::regex(R"(created\s+1\n)")));
    CHECK(std::regex_search(real.out, std::regex(R"(updated\s+1\n)")));
    CHECK(std::regex_search(real.out, std::regex(R"(failed\s+1\n)")));
    // The failed one shows from the failed queue.
    auto failed = run_plexus(s.args({"run", "items", "--dry-run", "--from", "failed"}));
    INFO(failed.out);
    d = decisions(failed.out);
    REQUIRE(d.size() == 1);
    CHECK(d["a3"].rfind("error", 0) == 0);
}
