// The Intacct connector loaded through the real host (PluginRegistry + ConnectorInstance with
// the host's HttpClient and RateGovernor), talking to the in-process Intacct sandbox.
#pragma once

#include "sandbox/intacct_sandbox.hpp"
#include "sandbox/intacct_schema.hpp"
#include "tests/support/connector_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <exception>
#include <vector>
#include <memory>
#include <string>

namespace intacct_test {

using json = nlohmann::json;

inline std::shared_ptr<const plexus::LoadedConnector> connector() { return plexus::test::load_connector("intacct"); }
using plexus::test::ok_json;

// Every request body in `requests` against the official schema (tests/contract/api.xsd):
// the number that validated; each one that did not is a failed check naming the error.
inline size_t validate_against_xsd(const std::vector<std::string>& requests) {
    auto schema = plexus::sandbox::IntacctSchema::bundled();
    REQUIRE(schema);
    size_t valid = 0;
    for (const auto& body : requests) {
        // Fault-injected and malformed answers are the sandbox's; the requests are all ours.
        std::string error = schema->validate(body);
        INFO("request: " << body.substr(0, 2000));
        CHECK(error == "");
        if (error.empty()) ++valid;
    }
    return valid;
}

// One sandbox and the host services a connector instance needs. Every request the sandbox
// receives is kept and, when the test ends, validated against the official XSD (the sandbox
// refuses invalid ones itself too, with XL03000003).
struct World : plexus::test::ConnectorHost {
    World() : ConnectorHost("intacct") { control().capture_requests(true); }
    ~World() {
        if (std::uncaught_exceptions() > 0) return;
        auto requests = control().captured_requests();
        validate_against_xsd(requests);
        CHECK(control().schema_rejections() == expected_schema_rejections);
    }
    uint64_t expected_schema_rejections = 0;  // a test that sends invalid XML on purpose

    plexus::sandbox::SandboxServer server{plexus::sandbox::make_intacct_sandbox(1)};
    plexus::RateGovernor governor{1000, 1000, clock};

    plexus::sandbox::IntacctSandboxControl& control() {
        return dynamic_cast<plexus::sandbox::IntacctSandboxControl&>(server.sandbox());
    }

    json settings() const {
        return {{"endpoint_url", server.base_url() + "/ia/xml/xmlgw.phtml"},
                {"sender_id", "sandbox_sender"},
                {"sender_password", "sandbox_sender_pw"},
                {"company_id", "SANDBOX"},
                {"user_id", "sandbox_user"},
                {"user_password", "sandbox_pw"},
                {"entity_id", ""},
                {"batch_size", 100},
                {"page_size", 1000}};
    }

    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) { return make_instance(s, &governor); }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

// Reads an entity to the end from `cursor`; returns the records and the last next_cursor.
inline std::vector<json> read_all(plexus::ConnectorInstance& inst, const std::string& entity,
                                  std::string& cursor, size_t limit = 50, int* pages = nullptr) {
    std::vector<json> out;
    for (int guard = 0; guard < 1000; ++guard) {
        json req{{"entity", entity}, {"limit", limit}};
        req["cursor"] = cursor.empty() ? json(nullptr) : json(cursor);
        json page = ok_json(inst.read_page(req));
        for (auto& r : page["records"]) out.push_back(r);
        cursor = page["next_cursor"].get<std::string>();
        if (pages) ++*pages;
        if (!page["has_more"].get<bool>()) break;
    }
    return out;
}

}  // namespace intacct_test
