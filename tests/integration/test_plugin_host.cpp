// The plugin host: broken plugins are refused with reasons and the host stays alive; every
// built connector passes the conformance checks through the real loader.
#include "support.hpp"

#include "config/config.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"

#include <catch2/catch.hpp>

using namespace plexus;
using namespace plexus::test;

namespace {

std::string reason_for(const PluginRegistry& r, const std::string& file_part) {
    for (const auto& f : r.refused())
        if (f.path.find(file_part) != std::string::npos) return f.reason;
    return "(not refused)";
}

}  // namespace

TEST_CASE("broken plugins are refused with a reason and the rest still load", "[plugins]") {
    PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    registry.load_directory(PLEXUS_BROKEN_PLUGIN_DIR);

    CHECK(registry.find("files") != nullptr);
    CHECK(registry.find("files")->path.find(PLEXUS_PLUGIN_DIR) == 0);  // the real one kept
    CHECK_THAT(reason_for(registry, "libplexus_broken_noentry.so"), Catch::Contains("no entry"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_wrongabi.so"), Catch::Contains("ABI 2.0 is not supported"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_newerminor.so"), Catch::Contains("newer than this host"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_throws.so"), Catch::Contains("connector initialisation exploded"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_duplicate.so"), Catch::Contains("duplicate connector id \"files\""));
    CHECK_THAT(reason_for(registry, "libplexus_broken_badmanifest.so"), Catch::Contains("not valid JSON"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_smalldesc.so"), Catch::Contains("smaller than ABI 1.0"));
    CHECK_THAT(reason_for(registry, "libplexus_text.so"), Catch::Contains("not a loadable shared library"));
    // failcreate loads: its create fails only when an instance is made.
    REQUIRE(registry.find("failcreate") != nullptr);
    CHECK(registry.refused().size() == 8);
}

TEST_CASE("a connector whose create fails gives a clear error and the host goes on", "[plugins]") {
    PluginRegistry registry;
    registry.load_directory(PLEXUS_BROKEN_PLUGIN_DIR);
    auto c = registry.find("failcreate");
    REQUIRE(c);
    HostServices services;
    services.tags.connection = "warehouse";
    try {
        ConnectorInstance instance(c, json::object(), services);
        FAIL("create should have failed");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("connection \"warehouse\""));
        CHECK_THAT(e.what(), Catch::Contains("license file missing"));
    }
    CHECK(registry.find("failcreate") != nullptr);
}

TEST_CASE("plexus plugins lists connectors and refused files", "[plugins][cli]") {
    auto r = run_plexus({"plugins", "--plugin-dir", PLEXUS_PLUGIN_DIR, "--plugin-dir", PLEXUS_BROKEN_PLUGIN_DIR,
                         "--format", "json"});
    REQUIRE(r.exit_code == 0);
    auto start = r.out.find('{');
    REQUIRE(start != std::string::npos);
    json j = json::parse(r.out.substr(start));
    bool files = false;
    for (const auto& c : j["connectors"]) {
        if (c["id"] == "files") {
            files = true;
            CHECK(c["abi"] == "1.0");
            CHECK_THAT(c["path"].get<std::string>(), Catch::EndsWith("libplexus_files.so"));
        }
    }
    CHECK(files);
    CHECK(j["refused"].size() == 8);
    auto text = run_plexus({"plugins", "--plugin-dir", PLEXUS_BROKEN_PLUGIN_DIR});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Contains("libplexus_text.so: not a loadable shared library"));
    // --plugin-dir adds to the default folder (<bin>/../plugins): the shipped connectors stay,
    // except where a named folder's connector has the same id (broken_duplicate is "files").
    CHECK_THAT(text.out, Catch::Contains("libplexus_shopify.so"));
    CHECK_THAT(text.out, !Catch::Contains("libplexus_files.so"));
    CHECK_THAT(text.out, Catch::Contains("libplexus_broken_duplicate.so"));
}

TEST_CASE("a named plugin folder shadows the default one instead of clashing with it",
          "[plugins]") {
    PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    const size_t shipped = registry.connectors().size();
    // The same libraries again, as the default folder behind a named one: skipped, not refused.
    registry.load_directory(PLEXUS_PLUGIN_DIR, /*shadowable=*/true);
    CHECK(registry.refused().empty());
    CHECK(registry.connectors().size() == shipped);
    // Named twice (not shadowable): a real duplicate, refused with where the first came from.
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    CHECK(registry.refused().size() == shipped);
    CHECK_THAT(registry.refused().front().reason, Catch::Contains("duplicate connector id"));
}

// Conformance: every connector built into build/plugins, through the real loader.
TEST_CASE("every built connector conforms", "[plugins][conformance]") {
    PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    CHECK(registry.refused().empty());
    REQUIRE(!registry.connectors().empty());
    for (const auto& c : registry.connectors()) {
        INFO("connector " << c->id);
        // Handshake and manifest.
        CHECK(c->abi_major == PLEXUS_ABI_MAJOR);
        CHECK(c->abi_minor <= PLEXUS_ABI_MINOR);
        CHECK(c->manifest["id"] == c->id);
        CHECK(c->manifest.value("version", "") == c->version);
        CHECK(c->manifest.contains("name"));
        CHECK(c->manifest.contains("description"));
        for (const auto& s : c->manifest["settings"]) {
            CHECK(s.contains("type"));
            CHECK(s.contains("description"));
        }
        for (const auto& e : c->manifest.value("entities", json::array())) {
            CHECK(e.contains("key"));
            CHECK(e.contains("capabilities"));
        }
        CHECK_THAT(c->path, Catch::EndsWith("libplexus_" + c->id + ".so"));
        // The folder: README and a sample configuration that validates.
        fs::path folder = fs::path(PLEXUS_SOURCE_DIR) / "plugins" / c->id;
        REQUIRE(fs::exists(folder / "README.md"));
        REQUIRE(fs::exists(folder / "sample.json"));
        std::string readme = read_file(folder / "README.md");
        for (const auto& s : c->manifest["settings"])
            CHECK_THAT(readme, Catch::Contains(s["name"].get<std::string>()));
        std::vector<ConfigError> errors;
        Config config = load_config((folder / "sample.json").string(), errors);
        validate_config(config, registry, [](const std::string&) { return std::optional<std::string>("sample-secret-value"); },
                        errors);
        for (const auto& e : errors) FAIL_CHECK(e.to_string());
        CHECK(!config.processes.empty());
    }
}
