// The plugin host: broken plugins are refused with reasons and the host stays alive; every
// built connector passes the conformance checks through the real loader.
#include "support.hpp"

#include "config/config.hpp"
#include "conformance/conformance.hpp"
#include "plugin_host/connector_instance.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "plugins/eguma/sandbox/eguma_sandbox.hpp"
#include "plugins/gomag/sandbox/gomag_sandbox.hpp"
#include "plugins/intacct/sandbox/intacct_sandbox.hpp"
#include "plugins/opera/sandbox/opera_sandbox.hpp"
#include "plugins/poweroffice_go/sandbox/poweroffice_go_sandbox.hpp"
#include "plugins/shopify/sandbox/shopify_sandbox.hpp"
#include "sandbox/sandbox.hpp"

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
    // The webhooks block is checked at load, naming the connector and the JSON path.
    CHECK_THAT(reason_for(registry, "libplexus_broken_badwebhooks.so"),
               Catch::Contains("connector \"badwebhooks\": manifest /webhooks/signature/encoding: \"hx\" is not hex or base64"));
    CHECK_THAT(reason_for(registry, "libplexus_broken_inboxnohooks.so"),
               Catch::Contains("connector \"inboxnohooks\": manifest /webhooks: missing"));
    CHECK_THAT(reason_for(registry, "libplexus_text.so"), Catch::Contains("not a loadable shared library"));
    // failcreate loads: its create fails only when an instance is made.
    REQUIRE(registry.find("failcreate") != nullptr);
    CHECK(registry.refused().size() == 10);
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
    CHECK(j["refused"].size() == 10);
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

// Conformance: every connector built into build/plugins, through the real loader, checked by
// the same rules as `plexus connector check` (core/conformance).
TEST_CASE("every built connector conforms", "[plugins][conformance]") {
    PluginRegistry shipped;
    shipped.load_directory(PLEXUS_PLUGIN_DIR);
    CHECK(shipped.refused().empty());
    REQUIRE(!shipped.connectors().empty());
    for (const auto& c : shipped.connectors()) {
        PluginRegistry registry;
        fs::path folder = fs::path(PLEXUS_SOURCE_DIR) / "plugins" / c->id;
        auto subject = conformance::locate(c->path, folder.string(), {PLEXUS_PLUGIN_DIR}, registry);
        conformance::Report report;
        conformance::check_static(subject, registry, report);
        INFO(report.text());
        CHECK(report.passed());
        CHECK(report.count(conformance::Verdict::skip) == 0);
        CHECK(report.results.size() == 8);
    }
}

TEST_CASE("the conformance kit says what a connector's folder lacks", "[plugins][conformance]") {
    TempDir dir;
    // A README that forgets a setting, and a sample whose connection is wrong and has no process.
    std::ofstream(dir.path() / "README.md") << "# files\nSettings: directory.\n";
    std::ofstream(dir.path() / "sample.json")
        << R"({"connections": {"in": {"connector": "files", "settings": {"directory": 7}}}, "processes": []})";
    PluginRegistry registry;
    auto subject = conformance::locate((fs::path(PLEXUS_PLUGIN_DIR) / "libplexus_files.so").string(),
                                       dir.path().string(), {}, registry);
    conformance::Report report;
    conformance::check_static(subject, registry, report);
    INFO(report.text());
    CHECK(!report.passed());
    auto verdict = [&](const std::string& rule) {
        for (const auto& r : report.results)
            if (r.rule == rule) return std::make_pair(r.verdict, r.reason);
        return std::make_pair(conformance::Verdict::skip, std::string("(no such rule)"));
    };
    CHECK(verdict("manifest.version").first == conformance::Verdict::pass);
    CHECK(verdict("readme.settings").first == conformance::Verdict::fail);
    CHECK_THAT(verdict("readme.settings").second, Catch::Contains("does not mention: entities"));
    CHECK(verdict("sample.validates").first == conformance::Verdict::fail);
    CHECK_THAT(verdict("sample.validates").second, Catch::Contains("/connections/in/settings/directory"));
    CHECK(verdict("sample.process").first == conformance::Verdict::fail);
    CHECK_THAT(report.text(), Catch::Contains("DOES NOT CONFORM"));
}

// The behavioural rules against the files connector (no sandbox needed: a directory).
TEST_CASE("the files connector passes the behavioural conformance rules", "[plugins][conformance]") {
    TempDir dir;
    {
        std::ofstream out(dir.path() / "customers.jsonl");
        for (int i = 1; i <= 7; ++i)
            out << "{\"id\":\"c" << i << "\",\"name\":\"Customer " << i
                << "\",\"updated_at\":\"2024-05-0" << i << "T10:00:00Z\"}\n";
    }
    PluginRegistry registry;
    auto subject = conformance::locate((fs::path(PLEXUS_PLUGIN_DIR) / "libplexus_files.so").string(),
                                       (fs::path(PLEXUS_SOURCE_DIR) / "plugins" / "files").string(), {}, registry);
    conformance::BehaviourOptions o;
    o.settings = json{{"directory", dir.path().string()},
                      {"entities", {{"customers", {{"path", "customers.jsonl"}, {"key", "id"}, {"cursor", "updated_at"}}}}}};
    o.page_size = 3;
    conformance::Report report;
    report.settings_file = "(test)";
    conformance::check_behaviour(subject, o, report);
    INFO(report.text());
    CHECK(report.passed());
    for (const char* rule : {"check", "read.pages", "read.cursor_forward", "read.empty_page_cursor",
                             "write.create_lookup", "write.crash_adopt", "write.update_idempotent",
                             "errors.status"}) {
        bool passed = false;
        for (const auto& r : report.results) passed = passed || (r.rule == rule && r.verdict == conformance::Verdict::pass);
        if (!passed) FAIL_CHECK("rule " << rule << " did not pass");
    }
    CHECK_THAT(report.text(), Catch::Contains("7 records in 3 pages of at most 3"));
}

// Every shipped connector against its own sandbox, with the settings, samples and filters of
// tests/conformance/<id>.json — the file a partner would pass to `plexus connector check
// --settings … --sandbox URL`. A rule may fail only when the file lists it under
// _known_failures (with why); a listed rule that passes fails the test, so the list shrinks
// as connectors are fixed. _skip_entities leaves out an entity whose check would crash the
// sandbox in this process (said why).
TEST_CASE("every shipped connector passes the behavioural conformance rules against its sandbox",
          "[plugins][conformance][sandbox]") {
    namespace sb = plexus::sandbox;
    const std::vector<std::pair<std::string, std::unique_ptr<sb::Sandbox> (*)(uint32_t, sb::SeedSize)>> systems{
        {"shopify", &sb::make_shopify_sandbox},   {"intacct", &sb::make_intacct_sandbox},
        {"eguma", &sb::make_eguma_sandbox},       {"opera", &sb::make_opera_sandbox},
        {"poweroffice_go", &sb::make_poweroffice_go_sandbox}, {"gomag", &sb::make_gomag_sandbox}};
    for (const auto& [id, make] : systems) {
        const fs::path fixture = fs::path(PLEXUS_SOURCE_DIR) / "tests" / "conformance" / (id + ".json");
        INFO("connector " << id << ", " << fixture.string());
        REQUIRE(fs::exists(fixture));
        const json notes = json::parse(read_file(fixture));
        sb::SandboxServer server(make(1, sb::SeedSize::demo));
        PluginRegistry registry;
        auto subject = conformance::locate((fs::path(PLEXUS_PLUGIN_DIR) / ("libplexus_" + id + ".so")).string(),
                                           (fs::path(PLEXUS_SOURCE_DIR) / "plugins" / id).string(), {}, registry);
        conformance::BehaviourOptions o;
        conformance::read_settings_file(fixture.string(), subject.connector->manifest, o);
        o.sandbox_urls = {server.base_url()};
        // Few requests: the sandboxes answer a burst with 429 and Retry-After as their vendors
        // do, and each wait costs a second or two. The host's pacing is off for the same reason.
        o.page_size = 25;
        o.max_records = 100;
        o.rate_limit = false;
        const json skip = notes.value("_skip_entities", json::object());
        if (!skip.empty())
            for (const auto& e : subject.connector->manifest["entities"])
                if (!skip.contains(e["name"].get<std::string>())) o.entities.push_back(e["name"]);
        conformance::Report report;
        report.settings_file = fixture.string();
        conformance::check_behaviour(subject, o, report);
        INFO(report.text());
        const json known = notes.value("_known_failures", json::array());
        auto is_known = [&](const conformance::RuleResult& r) {
            for (const auto& k : known)
                if (k["rule"] == r.rule && k.value("entity", "") == r.entity) return true;
            return false;
        };
        for (const auto& r : report.results)
            if (r.verdict == conformance::Verdict::fail && !is_known(r))
                FAIL_CHECK(id << ": " << r.rule << " [" << r.entity << "] failed: " << r.reason);
        for (const auto& k : known) {
            bool failed = false;
            for (const auto& r : report.results)
                failed = failed || (r.rule == k["rule"] && r.entity == k.value("entity", "") &&
                                    r.verdict == conformance::Verdict::fail);
            if (!failed)
                FAIL_CHECK(id << ": " << k["rule"].get<std::string>() << " [" << k.value("entity", "")
                              << "] is listed as a known failure but did not fail: remove it from " << fixture.string());
        }
        // The write rules ran, not only the reads.
        size_t writes = 0;
        for (const auto& r : report.results)
            writes += r.rule.rfind("write.", 0) == 0 && r.verdict == conformance::Verdict::pass;
        CHECK(writes >= 2);
    }
}
