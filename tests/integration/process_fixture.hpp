// The processes of a shipped template (config/*.json) run by the real `plexus` binary against
// vendor sandboxes: what the plugins' process tests (plugins/*/tests/test_processes.cpp) and the
// integration overlap tests share — a hub on a template, its runs and their summaries, the
// sandboxes' settings, and calls to PowerOffice Go's API as any client makes them. Both plugin
// test targets have tests/integration on their include path.
#pragma once

#include "support.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <map>
#include <string>

namespace plexus::test::harness {

// A hub whose configuration starts as the shipped template `config/<file>`.
struct TemplateHub : HubDir {
    explicit TemplateHub(const std::string& file) {
        config = json::parse(read_file(fs::path(PLEXUS_SOURCE_DIR) / "config" / file));
    }
    json& settings(const std::string& connection) { return config["connections"][connection]["settings"]; }
    // No client-side budget on `connection` (the sandbox's rate limit is off too).
    void unthrottled(const std::string& connection) {
        config["connections"][connection]["rate_limit"] = {{"requests_per_second", 0}};
    }
    // Turns on a process the template ships disabled.
    void enable(const std::string& process) {
        for (auto& p : config["processes"])
            if (p["id"] == process) p["enabled"] = true;
        save();
    }
    CommandResult run(const std::string& process) const { return plexus("run", process); }
    // Every process in `order` run once more, then its failed records replayed; each command
    // must end well (0, or 2: records failed).
    void drain(const std::vector<std::string>& order) const {
        for (const char* command : {"run", "replay"})
            for (const auto& p : order) {
                auto r = plexus(command, p);
                INFO(command << " " << p << ": " << r.out);
                CHECK((r.exit_code == 0 || r.exit_code == 2));
            }
    }
    // A run that must end well (0: all written, 2: some records failed); its summary.
    RunCounts run_ok(const std::string& process) const {
        auto r = run(process);
        INFO(process << ": " << r.out);
        REQUIRE((r.exit_code == 0 || r.exit_code == 2));
        return summary_of(r.out);
    }
};

// ---- the sandboxes' credentials ------------------------------------------------------------

inline const char* const kGoApplicationKey = "sandbox-application-key";
inline const char* const kGoClientKey = "sandbox-client-key";
inline const char* const kGoSubscriptionKey = "sandbox-subscription-key";
inline const char* const kShopifyToken = "shpat_sandbox";

// A PowerOffice Go connection's settings against the Go sandbox at `base_url`.
inline void set_go_settings(json& settings, const std::string& base_url) {
    settings["application_key"] = kGoApplicationKey;
    settings["client_key"] = kGoClientKey;
    settings["subscription_key"] = kGoSubscriptionKey;
    settings["base_url"] = base_url + "/v2";
}

// A Shopify connection's settings against the Shopify sandbox at `base_url`.
inline json shopify_settings(const std::string& base_url, int64_t location_id) {
    return {{"store_domain", "plexus-sandbox.myshopify.com"},
            {"access_token", kShopifyToken},
            {"base_url", base_url},
            {"location_id", location_id}};
}

// ---- PowerOffice Go's API v2, as any client calls it ---------------------------------------

// What Go's token endpoint wants: Basic application key:client key and the subscription key.
inline httplib::Headers go_token_headers() {
    httplib::Headers h{{"Ocp-Apim-Subscription-Key", kGoSubscriptionKey}};
    h.insert(httplib::make_basic_authentication_header(kGoApplicationKey, kGoClientKey));
    return h;
}

// A client-credentials token from the Go sandbox on `port` (429s waited out).
inline std::string go_token(int port) {
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(30, 0);
    auto t = patient([&] {
        return http.Post("/OAuth/Token", go_token_headers(), "grant_type=client_credentials",
                         "application/x-www-form-urlencoded");
    });
    REQUIRE(t);
    INFO(t->body);
    REQUIRE(t->status == 200);
    return json::parse(t->body)["access_token"].get<std::string>();
}

// The headers of an API call with `token`.
inline httplib::Headers go_api_headers(const std::string& token) {
    return {{"Ocp-Apim-Subscription-Key", kGoSubscriptionKey}, {"Authorization", "Bearer " + token}};
}

// Objects per ExternalImportReference starting with `prefix` (a second object for one source
// record shows as a count of 2).
inline std::map<std::string, int> by_reference(const json& objects, const std::string& prefix = {}) {
    std::map<std::string, int> m;
    for (const auto& c : objects)
        if (c.contains("ExternalImportReference") && c["ExternalImportReference"].is_string()) {
            const std::string ref = c["ExternalImportReference"];
            if (ref.rfind(prefix, 0) == 0) ++m[ref];
        }
    return m;
}

}  // namespace plexus::test::harness
