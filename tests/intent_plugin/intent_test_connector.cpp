// A target connector for the update-intent tests (tests/integration/test_update_intents.cpp).
// Every write it receives is appended to a journal (JSON Lines: op, idempotency key, target
// key, interrupted, the record's id and name) before it answers, so a test sees exactly what
// reached "the target" and with which flag. A crash on demand: when the file named by the
// `crash_marker` setting exists and holds "update:<id>" (or "create:<id>"), the write of that
// record removes the marker and SIGKILLs its own process — after journaling an update (it
// reached the target, the host died before storing the outcome) and before journaling a
// create (it never arrived). Run with "isolation": "none", that process is the host.
#include <plexus/connector.hpp>

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using plexus::sdk::Error;
using plexus::sdk::json;

class IntentTestConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "intent_test";
    static constexpr const char* version = "0.0.1";
    static constexpr const char* manifest = R"json({
      "id": "intent_test", "name": "Write journal (tests)", "version": "0.0.1",
      "settings": [
        {"name": "journal", "type": "string", "required": true, "description": "The JSON Lines file every write is appended to."},
        {"name": "crash_marker", "type": "string", "required": false, "description": "A file: while it holds update:<id> or create:<id>, writing that record kills the process."}
      ],
      "entities": [
        {"name": "items", "key": "id", "open": true, "capabilities": ["create", "update", "lookup"]}
      ]
    })json";

    IntentTestConnector(plexus::sdk::Host&, const json& settings)
        : journal_(settings.value("journal", "")), marker_(settings.value("crash_marker", "")) {
        if (journal_.empty()) throw Error(PLEXUS_ERR_CONFIG, "intent_test: journal is required");
    }

    std::vector<plexus::sdk::WriteResult> write(const std::string& entity,
                                                const std::vector<plexus::sdk::WriteItem>& items) override {
        if (entity != "items") throw Error(PLEXUS_ERR_CONFIG, "intent_test: unknown entity " + entity);
        std::vector<plexus::sdk::WriteResult> out;
        for (const auto& item : items) {
            const std::string rid = item.data.value("id", "");
            const bool update = item.op == plexus::sdk::WriteOp::Update;
            const bool crash = crash_now((update ? "update:" : "create:") + rid);
            if (crash && !update) raise(SIGKILL);
            json line{{"op", update ? "update" : "create"}, {"idempotency_key", item.idempotency_key},
                      {"target_key", item.target_key}, {"interrupted", item.interrupted},
                      {"id", rid}, {"name", item.data.value("name", "")}};
            std::ofstream(journal_, std::ios::app) << line.dump() << "\n" << std::flush;
            if (crash) raise(SIGKILL);
            out.push_back(plexus::sdk::WriteResult::ok(rid));
        }
        return out;
    }

    plexus::sdk::LookupResult lookup(const plexus::sdk::LookupRequest& r) override {
        plexus::sdk::LookupResult out;
        std::ifstream in(journal_);
        for (std::string text; std::getline(in, text);) {
            json line = json::parse(text, nullptr, false);
            if (!line.is_object()) continue;
            const bool hit = r.key ? line["id"] == *r.key
                                   : r.idempotency_key && line["op"] == "create" &&
                                         line["idempotency_key"] == *r.idempotency_key;
            if (!hit) continue;
            out.found = true;
            out.record.key = line["id"].get<std::string>();
            out.record.data = json{{"id", line["id"]}, {"name", line["name"]}};
        }
        return out;
    }

private:
    bool crash_now(const std::string& what) const {
        if (marker_.empty()) return false;
        std::ifstream in(marker_);
        std::stringstream text;
        text << in.rdbuf();
        if (!in || text.str() != what) return false;
        std::remove(marker_.c_str());
        return true;
    }

    std::string journal_;
    std::string marker_;
};

PLEXUS_EXPORT_CONNECTOR(IntentTestConnector)
