// Failed records through a real `plexus serve` (issue 13; docs/operations.md, "Failed
// records"): each failed attempt keeps what was sent to the target and what the target
// answered, secrets masked and the payload capped; dismissing is reversible (restore), a
// dismissed record is neither counted nor replayed, and one that fails again is back in the
// queue.
//
// The target is the files connector with a closed entity (declared fields): a record whose
// `qty` is not an integer is refused by the target itself, after the mapping sent it; a
// record whose `total` is not a number fails in the mapping, before anything is sent.
#include "support.hpp"

#include "store/store.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

using namespace plexus::test;
using namespace plexus::test::harness;

namespace {

const char* k_token_env = "PLEXUS_FAILED_TEST_TOKEN";
const char* k_token = "shpat_FAILED_records_9c41e7";

json order(int id, const std::string& total, const json& qty, const std::string& note,
           const std::string& updated_at = "2026-05-01T10:00:00Z") {
    return {{"id", id}, {"total", total}, {"qty", qty}, {"note", note}, {"updated_at", updated_at}};
}

struct Hub : HubDir {
    ServeProcess proc;
    PortalSession session;
    std::string transcript;  // every response body, to look for the secret in
    json last_run_id;

    Hub() {
        setenv(k_token_env, k_token, 1);
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        json target = jsonl_entity("orders.jsonl", "ref", "");
        target["fields"] = json::array({{{"name", "ref"}, {"type", "string"}},
                                        {{"name", "total"}, {"type", "string"}},
                                        {{"name", "qty"}, {"type", "integer"}},
                                        {{"name", "note"}, {"type", "string"}}});
        config = {
            {"connections",
             {{"src", files_connection(dir.str("src"), {{"orders", jsonl_entity("orders.jsonl")}})},
              {"dst", files_connection(dir.str("dst"), {{"orders", target}})},
              // Never called: its token is a secret the redactor knows, written into a record.
              {"webshop",
               {{"connector", "shopify"},
                {"settings",
                 {{"store_domain", "plexus-failed-test.myshopify.com"},
                  {"access_token", std::string("${") + k_token_env + "}"},
                  {"base_url", "http://127.0.0.1:9"}}}}}}},
            {"processes",
             json::array({{{"id", "orders"},
                           {"source", {{"connection", "src"}, {"entity", "orders"}}},
                           {"target", {{"connection", "dst"}, {"entity", "orders"}}},
                           {"mapping",
                            {{"ref", "concat(\"SO-\", id)"},
                             {"total", "format_number(number(total), 2)"},
                             {"qty", "qty"},
                             {"note", "note"}}}}})},
            {"serve", {{"run_at_start", "none"}}}};
        save();
        auto r = run_plexus({"users", "add", "otto", "--role", "operator", "--data", data()},
                            "PLEXUS_PASSWORD=otto-password-123");
        REQUIRE(r.exit_code == 0);
    }
    void write_source(const std::vector<json>& records) {
        write_jsonl(dir.path() / "src" / "orders.jsonl", records);
    }
    void start() {
        const bool up = proc.start(*this);
        INFO(read_file(proc.log));
        REQUIRE(up);
        session = portal_login(proc.port, "otto", "otto-password-123");
        REQUIRE(!session.cookie.empty());
    }
    std::pair<int, json> call(const std::string& method, const std::string& path,
                              const json& body = json::object()) {
        httplib::Result r = session.call(method, path, body.dump());
        REQUIRE(r);
        transcript += r->body + "\n";
        return {r->status, r->body.empty() ? json() : json::parse(r->body, nullptr, false)};
    }
    json get(const std::string& path) {
        auto [status, body] = call("GET", path);
        INFO(path << ": " << body.dump());
        REQUIRE(status == 200);
        return body;
    }
    // Starts the run (POST path, body) and waits for the process's next finished run.
    json run_and_wait(const std::string& path, const json& body = json::object()) {
        auto [status, reply] = call("POST", path, body);
        INFO(path << ": " << reply.dump());
        REQUIRE(status == 202);
        json v;
        for (int i = 0; i < 600; ++i) {
            v = get("/api/processes/orders");
            if (v["running"].is_null() && !v["last_run"].is_null() && v["last_run"]["id"] != last_run_id)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        REQUIRE(v["last_run"]["id"] != last_run_id);
        last_run_id = v["last_run"]["id"];
        return v["last_run"];
    }
    json process() { return get("/api/processes/orders"); }
    // The failed outcomes of `key`, oldest first, each with its attempt.
    std::vector<json> attempts_of(const std::string& key) {
        std::vector<json> out;
        const json failed = get("/api/outcomes?process=orders&action=failed&limit=500");
        for (const auto& o : failed["items"])
            if (o["source_key"] == key) out.push_back(get("/api/outcomes/" + std::to_string(o["id"].get<int64_t>())));
        return out;
    }
    // What the store itself keeps of the failed attempts and the failed queue (the API masks
    // again on the way out, which would hide a secret stored in clear).
    std::string stored_failures() const {
        auto store = plexus::open_sqlite_store_read_only((dir.path() / "var" / "plexus.db").string());
        std::string text;
        for (const auto& f : store->failed_records("orders", 1000, 0, plexus::FailedState::any))
            text += f.record_json + f.message + "\n";
        plexus::OutcomeQuery q;
        q.process_id = "orders";
        q.action = "failed";
        for (const auto& o : store->outcomes(q)) {
            text += o.message + "\n";
            if (auto a = store->failed_attempt(o.id)) text += a->payload.value_or("") + a->answer + a->note + "\n";
        }
        return text;
    }
};

// The count of the attention item about the failed records of `process`, or 0.
int64_t attention_count(const json& j, const std::string& process) {
    int64_t found = 0;
    std::function<void(const json&)> walk = [&](const json& v) {
        if (v.is_object()) {
            if (v.value("process", "") == process && v.contains("count") && v.contains("link") &&
                v["link"].is_string() && v["link"].get<std::string>().rfind("#/failed/", 0) == 0)
                found = v["count"].get<int64_t>();
            for (auto& [k, x] : v.items()) walk(x);
        } else if (v.is_array()) {
            for (const auto& x : v) walk(x);
        }
    };
    walk(j);
    return found;
}

}  // namespace

TEST_CASE("a failed attempt keeps what was sent, masked and capped, and the target's answer",
          "[portal][failed]") {
    Hub hub;
    const std::string note = std::string("token ") + k_token + " for the courier";
    hub.write_source({order(1, "n/a", 1, note),                     // the mapping fails
                      order(2, "10", "many", note),                 // the target refuses qty
                      order(3, "12.5", 3, "fine"),                  // created
                      order(4, "7", "lots", std::string(100000, 'x'))});  // refused, payload cut
    hub.start();
    json run = hub.run_and_wait("/api/processes/orders/run");
    CHECK(run["counts"]["created"] == 1);
    CHECK(run["counts"]["failed"] == 3);
    CHECK(hub.process()["failed_count"] == 3);

    // Refused by the target: the mapped record as sent, and the connector's answer.
    auto two = hub.attempts_of("2");
    REQUIRE(two.size() == 1);
    const json& a2 = two[0]["attempt"];
    INFO(a2.dump());
    CHECK(a2["sent"] == true);
    CHECK(a2["operation"] == "create");
    CHECK(a2["payload"]["ref"] == "SO-2");
    CHECK(a2["payload"]["qty"] == "many");
    CHECK(a2["payload"]["note"] == "token *** for the courier");
    CHECK(a2["payload_truncated"] == false);
    CHECK(a2["answer"].get<std::string>().find("qty") != std::string::npos);
    CHECK(two[0]["run_id"] == run["id"]);

    // The mapping failed: nothing sent, and why.
    auto one = hub.attempts_of("1");
    REQUIRE(one.size() == 1);
    CHECK(one[0]["attempt"]["sent"] == false);
    CHECK(one[0]["attempt"]["payload"].is_null());
    CHECK(one[0]["attempt"]["note"].get<std::string>().find("mapping") != std::string::npos);

    // 100 000 bytes of note: the first 64 KiB kept, and said so.
    auto four = hub.attempts_of("4");
    REQUIRE(four.size() == 1);
    const json& a4 = four[0]["attempt"];
    CHECK(a4["payload_truncated"] == true);
    CHECK(a4["payload"].is_string());
    CHECK(a4["payload"].get<std::string>().size() <= 64 * 1024);
    CHECK(a4["payload_bytes"].get<int64_t>() > 100000);

    // A success keeps no attempt.
    const json created = hub.get("/api/outcomes?process=orders&action=created");
    for (const auto& o : created["items"])
        CHECK(hub.get("/api/outcomes/" + std::to_string(o["id"].get<int64_t>()))["attempt"].is_null());
    CHECK(hub.call("GET", "/api/outcomes/987654").first == 404);

    // The secret is in no response, and the store keeps it masked.
    CHECK(hub.transcript.find(k_token) == std::string::npos);
    hub.proc.stop();
    const std::string stored = hub.stored_failures();
    CHECK(stored.find("token *** for the courier") != std::string::npos);
    CHECK(stored.find(k_token) == std::string::npos);
}

TEST_CASE("dismissed records are not counted nor replayed, can be restored, and come back when "
          "they fail again",
          "[portal][failed]") {
    Hub hub;
    hub.write_source({order(1, "n/a", 1, "a"), order(2, "10", "many", "b"), order(3, "12.5", 3, "c")});
    hub.start();
    json run = hub.run_and_wait("/api/processes/orders/run");
    REQUIRE(run["counts"]["failed"] == 2);

    // Refusals: no reason, a key not in the queue.
    CHECK(hub.call("POST", "/api/processes/orders/dismiss", {{"source_keys", {"2"}}, {"reason", " "}}).first == 400);
    CHECK(hub.call("POST", "/api/processes/orders/dismiss", {{"source_keys", {"3"}}, {"reason", "x"}}).first == 400);
    CHECK(hub.call("POST", "/api/processes/orders/restore", {{"source_keys", {"2"}}}).first == 400);

    auto [st, dismissed] = hub.call("POST", "/api/processes/orders/dismiss",
                                    {{"source_keys", {"2"}}, {"reason", "quantity fixed by hand in the back office"}});
    REQUIRE(st == 200);
    CHECK(dismissed["dismissed"] == 1);
    json p = hub.process();
    CHECK(p["failed_count"] == 1);
    CHECK(p["dismissed_count"] == 1);
    json waiting = hub.get("/api/processes/orders/failed");
    REQUIRE(waiting["items"].size() == 1);
    CHECK(waiting["items"][0]["source_key"] == "1");
    CHECK(waiting["total"] == 1);
    CHECK(waiting["dismissed_total"] == 1);
    json gone = hub.get("/api/processes/orders/failed?state=dismissed");
    REQUIRE(gone["items"].size() == 1);
    CHECK(gone["items"][0]["source_key"] == "2");
    CHECK(gone["items"][0]["dismissed_by"] == "otto");
    CHECK(gone["items"][0]["dismiss_reason"] == "quantity fixed by hand in the back office");
    CHECK(gone["items"][0]["dismissed"].is_string());
    CHECK(hub.call("GET", "/api/processes/orders/failed?state=gone").first == 400);
    CHECK(attention_count(hub.get("/api/attention"), "orders") == 1);

    // Not replayed: neither by name nor by "replay all".
    CHECK(hub.call("POST", "/api/processes/orders/replay", {{"source_keys", {"2"}}}).first == 400);
    json replay = hub.run_and_wait("/api/processes/orders/replay");
    CHECK(replay["counts"]["read"] == 1);
    CHECK(hub.attempts_of("2").size() == 1);
    CHECK(hub.process()["failed_count"] == 1);

    // Restored: waiting again, and replayable.
    auto [rs, restored] = hub.call("POST", "/api/processes/orders/restore", {{"source_keys", {"2"}}});
    REQUIRE(rs == 200);
    CHECK(restored["restored"] == 1);
    CHECK(hub.process()["failed_count"] == 2);
    CHECK(hub.process()["dismissed_count"] == 0);
    json again = hub.run_and_wait("/api/processes/orders/replay", {{"source_keys", {"2"}}});
    CHECK(again["counts"]["read"] == 1);
    CHECK(again["counts"]["failed"] == 1);
    CHECK(hub.attempts_of("2").size() == 2);
    bool dismiss_audited = false, restore_audited = false;
    const json audit = hub.get("/api/audit?limit=100");
    for (const auto& e : audit["items"]) {
        dismiss_audited |= e["action"] == "failed.dismiss" && e["detail"].dump().find("by hand") != std::string::npos;
        restore_audited |= e["action"] == "failed.restore" && e["subject"] == "orders";
    }
    CHECK(dismiss_audited);
    CHECK(restore_audited);

    // Dismissed, then changed in the source and failing again: back in the queue.
    REQUIRE(hub.call("POST", "/api/processes/orders/dismiss", {{"source_keys", {"2"}}, {"reason", "later"}}).first == 200);
    CHECK(hub.process()["failed_count"] == 1);
    hub.write_source({order(1, "n/a", 1, "a"), order(2, "10", "still many", "b", "2026-05-02T10:00:00Z"),
                      order(3, "12.5", 3, "c")});
    json changed = hub.run_and_wait("/api/processes/orders/run");
    CHECK(changed["counts"]["failed"] == 1);
    p = hub.process();
    CHECK(p["failed_count"] == 2);
    CHECK(p["dismissed_count"] == 0);

    // Dismissed, then fixed in the source: the success takes it out of the dismissed list too.
    REQUIRE(hub.call("POST", "/api/processes/orders/dismiss", {{"source_keys", {"2"}}, {"reason", "fixed at source"}}).first == 200);
    hub.write_source({order(1, "n/a", 1, "a"), order(2, "10", 2, "b", "2026-05-03T10:00:00Z"),
                      order(3, "12.5", 3, "c")});
    json fixed = hub.run_and_wait("/api/processes/orders/run");
    CHECK(fixed["counts"]["created"] == 1);
    p = hub.process();
    CHECK(p["failed_count"] == 1);
    CHECK(p["dismissed_count"] == 0);
    CHECK(hub.get("/api/processes/orders/failed?state=dismissed")["items"].empty());
    hub.proc.stop();
}
