// Mappings in the portal and the dry run (issue 13; docs/api.md, "Mappings") through the REST
// API of a real `plexus serve`, files connector to files connector: the mapping as rows; a bad
// edit refused with its problems by field and nothing stored; a good edit audited and used by
// the next run; revert; the stored version in force after a restart; roles; and the preview
// deciding create / update / skip / error for real records while writing nothing (the target
// file's bytes, the runs, the failed queue and where the next run starts all unchanged).
#include "support.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <map>
#include <set>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

struct Serve : PortalHub {
    Serve() {
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        json cfg = {
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"customers", jsonl_entity("customers.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
            {"processes",
             {{{"id", "customers"},
               {"name", "Customers"},
               {"source", {{"connection", "src"}, {"entity", "customers"}}},
               {"target", {{"connection", "dst"}, {"entity", "customers"}}},
               {"mapping",
                {{"id", "id"}, {"email", "lower(email)"}, {"name", "upper(name)"}, {"amount", "number(amount)"}}}}}},
            {"serve", {{"run_at_start", "none"}}}};
        REQUIRE(prepare(cfg, {{"otto", "operator"}, {"sue", "support"}}));
    }

    void source(const std::vector<json>& records) { write_jsonl(dir.path() / "src" / "customers.jsonl", records); }
    std::string target_bytes() const {
        const fs::path p = dir.path() / "dst" / "customers.jsonl";
        return fs::exists(p) ? read_file(p) : std::string();
    }
    // The target's records, last version of each key.
    std::map<std::string, json> target() const {
        std::map<std::string, json> out;
        const fs::path p = dir.path() / "dst" / "customers.jsonl";
        if (!fs::exists(p)) return out;
        for (auto& r : read_jsonl(p)) out[r["id"].get<std::string>()] = r;
        return out;
    }
    // The preview's items by record key.
    std::map<std::string, json> preview(const json& body) {
        auto [status, r] = call("POST", "/api/processes/customers/preview", body);
        INFO(r.dump());
        REQUIRE(status == 200);
        std::map<std::string, json> out;
        for (const auto& it : r["items"]) out[it["key"].get<std::string>()] = it;
        return out;
    }
    std::vector<json> audit(const std::string& action) {
        std::vector<json> out;
        const json log = call("GET", "/api/audit?limit=500").second;
        for (const auto& a : log["items"])
            if (a["action"] == action) out.push_back(a);
        return out;
    }
};

json customer(const std::string& id, const std::string& email, const std::string& name,
              const std::string& amount, const std::string& at) {
    return {{"id", id}, {"email", email}, {"name", name}, {"amount", amount}, {"updated_at", at}};
}

std::set<std::string> error_fields(const json& body) {
    std::set<std::string> out;
    for (const auto& e : body.value("errors", json::array())) out.insert(e["field"].get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("portal: a mapping is shown, edited with check-config's checks, audited, used by the next run and reverted",
          "[portal][mapping]") {
    Serve s;
    s.source({customer("1", "A@X.CH", "anna", "10.5", "2024-01-01T00:00:01Z"),
              customer("2", "B@X.CH", "bert", "7", "2024-01-01T00:00:02Z"),
              customer("3", "C@X.CH", "cleo", "3", "2024-01-01T00:00:03Z")});
    REQUIRE(s.start());

    // Support staff read it; they may not change or preview it.
    REQUIRE(s.login("sue"));
    auto [view_status, view] = s.call("GET", "/api/processes/customers/mapping");
    INFO(view.dump());
    REQUIRE(view_status == 200);
    CHECK(view["source"]["kind"] == "file");
    CHECK(view["source"]["version"] == 0);
    CHECK(view["rows"].size() == 4);
    bool email_row = false;
    for (const auto& r : view["rows"]) email_row = email_row || (r["field"] == "email" && r["expression"] == "lower(email)");
    CHECK(email_row);
    CHECK(view["functions"].size() >= 10);
    CHECK(s.call("PUT", "/api/processes/customers/mapping", {{"mapping", {{"id", "id"}}}}).first == 403);
    CHECK(s.call("POST", "/api/processes/customers/preview", {{"source", "read"}}).first == 403);
    CHECK(s.call("GET", "/api/processes/nope/mapping").first == 404);

    REQUIRE(s.login("otto"));
    CHECK(s.run_process("customers")["counts"]["created"] == 3);

    // A bad edit: 400, problems by field, nothing stored, nothing in force.
    auto [bad_status, bad] = s.call("PUT", "/api/processes/customers/mapping",
                                    {{"mapping", {{"id", "id"}, {"email", "lower(email"}, {"name", "uppr(name)"},
                                                  {"nickname", "name"}}}});
    INFO(bad.dump());
    CHECK(bad_status == 400);
    CHECK(error_fields(bad) == std::set<std::string>{"email", "name"});
    auto versions = s.call("GET", "/api/processes/customers/mapping/versions").second;
    CHECK(versions["items"].size() == 1);  // version 0, the file's, only
    CHECK(s.audit("mapping.edit").empty());
    CHECK(s.call("GET", "/api/processes/customers/mapping").second["source"]["version"] == 0);

    // A good edit: stored as version 1, audited, in force for the next run.
    auto [ok_status, saved] = s.call("PUT", "/api/processes/customers/mapping",
                                     {{"mapping", {{"id", "id"}, {"email", "lower(email)"}, {"name", "lower(name)"},
                                                   {"amount", "number(amount)"}}},
                                      {"note", "names in lower case"}});
    INFO(saved.dump());
    REQUIRE(ok_status == 200);
    CHECK(saved["source"]["kind"] == "portal");
    CHECK(saved["source"]["version"] == 1);
    CHECK(saved["source"]["by"] == "otto");
    auto edits = s.audit("mapping.edit");
    REQUIRE(edits.size() == 1);
    CHECK(edits[0]["actor"] == "otto");
    CHECK(edits[0]["subject"] == "customers");
    CHECK(edits[0]["detail"]["fields"]["changed"] == json::array({"name"}));

    // The next run uses it: the unchanged source records now map differently → updated.
    s.source({customer("1", "A@X.CH", "anna", "10.5", "2024-01-01T00:00:01Z"),
              customer("2", "B@X.CH", "bert", "7", "2024-01-01T00:00:02Z"),
              customer("3", "C@X.CH", "cleo", "3", "2024-01-02T00:00:03Z")});
    auto run = s.run_process("customers");
    INFO(run.dump());
    CHECK(run["counts"]["updated"] == 1);
    CHECK(s.target()["3"]["name"] == "cleo");
    CHECK(s.target()["1"]["name"] == "ANNA");  // not read again: unchanged in the source

    // Revert to the file's mapping (version 0): stored as version 2, audited.
    auto [rev_status, reverted] = s.call("POST", "/api/processes/customers/mapping/revert", {{"version", 0}});
    INFO(reverted.dump());
    REQUIRE(rev_status == 200);
    CHECK(reverted["source"]["kind"] == "file");
    CHECK(reverted["source"]["version"] == 2);
    CHECK(s.call("POST", "/api/processes/customers/mapping/revert", {{"version", 9}}).first == 404);
    CHECK(s.call("POST", "/api/processes/customers/mapping/revert", {{"version", "1"}}).first == 400);
    CHECK(s.audit("mapping.revert").size() == 1);
    // And to version 1 again (version 3), which must survive a restart.
    REQUIRE(s.call("POST", "/api/processes/customers/mapping/revert", {{"version", 1}}).first == 200);
    versions = s.call("GET", "/api/processes/customers/mapping/versions").second;
    REQUIRE(versions["items"].size() == 4);
    CHECK(versions["items"][0]["version"] == 3);
    CHECK(versions["items"][0]["current"] == true);
    CHECK(versions["items"][0]["note"] == "revert to version 1");

    s.stop();
    REQUIRE(s.start());
    REQUIRE(s.login("sue"));
    view = s.call("GET", "/api/processes/customers/mapping").second;
    CHECK(view["source"]["kind"] == "portal");
    CHECK(view["source"]["version"] == 3);
    CHECK(view["mapping"]["name"] == "lower(name)");
}

TEST_CASE("portal: a preview decides create, update, skip and error for real records and writes nothing",
          "[portal][mapping][preview]") {
    Serve s;
    s.source({customer("1", "A@X.CH", "anna", "10.5", "2024-01-01T00:00:01Z"),
              customer("2", "B@X.CH", "bert", "7", "2024-01-01T00:00:02Z"),
              customer("3", "C@X.CH", "cleo", "3", "2024-01-01T00:00:03Z")});
    REQUIRE(s.start());
    REQUIRE(s.login("otto"));
    CHECK(s.run_process("customers")["counts"]["created"] == 3);

    // 1 unchanged, 2 changed, 3 cannot be mapped, 4 new.
    s.source({customer("1", "A@X.CH", "anna", "10.5", "2024-01-01T00:00:01Z"),
              customer("2", "B2@X.CH", "bert", "7", "2024-01-02T00:00:02Z"),
              customer("3", "C@X.CH", "cleo", "abc", "2024-01-02T00:00:03Z"),
              customer("4", "D@X.CH", "dora", "1", "2024-01-02T00:00:04Z")});
    const std::string before = s.target_bytes();
    const json runs_before = s.call("GET", "/api/runs?process=customers").second["total"];

    auto items = s.preview({{"source", "read"}, {"limit", 10}});
    REQUIRE(items.size() == 4);
    CHECK(items["1"]["action"] == "skip");
    CHECK(items["2"]["action"] == "update");
    CHECK(items["2"]["target_key"] == "2");
    CHECK(items["2"]["changed_fields"] == json::array({"email"}));
    CHECK(items["2"]["payload"]["email"] == "b2@x.ch");
    CHECK(items["3"]["action"] == "error");
    CHECK(items["3"]["field"] == "amount");
    CHECK(items["3"]["payload"].is_null());
    CHECK(items["4"]["action"] == "create");
    CHECK(items["4"]["payload"]["name"] == "DORA");

    // "new": what the next run reads — the same again, since nothing moved.
    for (int i = 0; i < 2; ++i) {
        auto next = s.preview({{"source", "new"}, {"limit", 10}});
        CHECK(next.size() == 3);
        CHECK(next.count("1") == 0);
    }
    // A pasted record, and a draft mapping (not saved).
    auto pasted = s.preview({{"source", "record"}, {"record", {{"id", "9"}, {"email", "Z@X"}, {"name", "zed"}, {"amount", "1"}}}});
    CHECK(pasted["(pasted)"]["action"] == "create");
    CHECK(pasted["(pasted)"]["payload"]["email"] == "z@x");
    auto draft = s.preview({{"source", "read"},
                            {"mapping", {{"id", "id"}, {"email", "lower(email)"}, {"name", "upper(name)"}, {"amount", "default(number(amount), 0)"}}}});
    CHECK(draft["3"]["action"] == "error");  // number("abc") still fails inside default()
    CHECK(draft["1"]["action"] == "skip");
    auto [draft_bad_status, draft_bad] = s.call("POST", "/api/processes/customers/preview",
                                                {{"source", "read"}, {"mapping", {{"id", "nope("}}}});
    CHECK(draft_bad_status == 400);
    CHECK(error_fields(draft_bad) == std::set<std::string>{"id"});
    CHECK(s.call("GET", "/api/processes/customers/mapping/versions").second["items"].size() == 1);
    CHECK(s.call("POST", "/api/processes/customers/preview", {{"source", "everything"}}).first == 400);
    CHECK(s.call("POST", "/api/processes/customers/preview", {{"limit", 0}}).first == 400);

    // Nothing was written: the target's bytes, the runs, the failed queue.
    CHECK(s.target_bytes() == before);
    CHECK(s.call("GET", "/api/runs?process=customers").second["total"] == runs_before);
    CHECK(s.call("GET", "/api/processes/customers").second["failed_count"] == 0);
    CHECK(s.audit("mapping.preview").size() >= 5);

    // The run then does what the preview said.
    auto run = s.run_process("customers");
    INFO(run.dump());
    CHECK(run["counts"]["created"] == 1);
    CHECK(run["counts"]["updated"] == 1);
    CHECK(run["counts"]["failed"] == 1);
    // The failed record previews from the failed queue, still an error on the same field.
    auto failed = s.preview({{"source", "failed"}});
    REQUIRE(failed.size() == 1);
    CHECK(failed["3"]["action"] == "error");
    CHECK(failed["3"]["field"] == "amount");
}
