// The shipped configurations that use e-guma pass check-config against the real connectors:
// plugins/eguma/sample.json and config/shopify-eguma.json. The manifest declares the webhooks
// block of the contract (notes: contracts-s4.md) and the inbox-fed entity.
#include "eguma_fixture.hpp"

using namespace eguma_test;

TEST_CASE("sample.json and config/shopify-eguma.json pass check-config", "[eguma][config]") {
    plexus::PluginRegistry r;
    r.load_directory(PLEXUS_PLUGIN_DIR);
    for (const char* file : {"plugins/eguma/sample.json", "config/shopify-eguma.json"}) {
        INFO(file);
        std::vector<plexus::ConfigError> errors;
        plexus::Config config = plexus::load_config((fs::path(PLEXUS_SOURCE_DIR) / file).string(), errors);
        plexus::validate_config(config, r, [](const std::string&) { return std::optional<std::string>("sample-secret-value"); },
                                errors);
        for (const auto& e : errors) FAIL_CHECK(e.to_string());
        CHECK(!config.processes.empty());
    }
}

TEST_CASE("the manifest: settings, secrets, entities and the webhooks block", "[eguma][config]") {
    auto c = registry().find("eguma");
    REQUIRE(c);
    const json& m = c->manifest;
    const std::string readme = read_file(fs::path(PLEXUS_SOURCE_DIR) / "plugins" / "eguma" / "README.md");
    for (const auto& s : m["settings"]) {
        INFO(s.dump());
        CHECK_THAT(readme, Catch::Contains(s["name"].get<std::string>()));
        const std::string name = s["name"];
        CHECK(s.value("secret", false) == (name == "api_key" || name == "webhook_secret"));
    }
    const json expected = json::parse(R"({
    "secret_setting": "webhook_secret",
    "signature": {"header": "X-Eguma-Signature", "algorithm": "hmac-sha256", "encoding": "hex",
                  "prefix": "sha256=", "signed": "timestamp.body"},
    "timestamp": {"header": "X-Eguma-Timestamp", "tolerance_s": 300},
    "event_id": {"header": "X-Eguma-Event-Id"},
    "topic": {"header": "X-Eguma-Event-Type"},
    "topics": {"*": ["sales_events", "redemption_events"]}})");
    CHECK(m["webhooks"] == expected);
    for (const auto& e : m["entities"])
        CHECK(e.value("inbox", false) == (e["name"] == "sales_events" || e["name"] == "redemption_events"));
}
