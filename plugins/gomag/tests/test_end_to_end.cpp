// Products files→Gomag through the real engine (SyncEngine, the store, the plugin host): the
// first run creates every product (in requests of at most 25), the second writes nothing,
// and one changed product is updated alone.
#include "fixture.hpp"

#include "config/config.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "store/store.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

using namespace gomag_test;
namespace fs = std::filesystem;

namespace {
void write_items(const fs::path& file, int n, int changed = -1) {
    std::ofstream out(file);
    for (int i = 0; i < n; ++i)
        out << json{{"sku", "ERP-" + std::to_string(1000 + i)},
                    {"name", i == changed ? "Geaca impermeabila (nou)" : "Articol " + std::to_string(i)},
                    {"price", 10.5 + i},
                    {"category", i % 2 ? "Imbracaminte/Barbati" : "Echipament/Tenis"},
                    {"updated_at", i == changed ? "2024-06-01T08:00:00Z" : "2024-05-01T10:00:00Z"}}
                   .dump()
            << "\n";
}
}  // namespace

struct E2e {
    Rig& rig;
    fs::path dir;
    json config;
    plexus::PluginRegistry registry;
    std::unique_ptr<plexus::Store> store;

    explicit E2e(Rig& r) : rig(r) {
        std::random_device rd;
        dir = fs::temp_directory_path() / ("plexus-gomag-e2e-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(dir / "erp");
        config = {
            {"connections",
             {{"erp", {{"connector", "files"}, {"isolation", "none"}, {"settings", {{"directory", (dir / "erp").string()},
                                                            {"entities", {{"items", {{"path", "items.jsonl"}, {"key", "sku"}, {"cursor", "updated_at"}}}}}}}}},
              {"shop", {{"connector", "gomag"}, {"isolation", "none"}, {"settings", rig.settings()}}}}},
            {"processes",
             json::array({{{"id", "products-erp-gomag"},
                           {"name", "Products ERP→Gomag"},
                           {"source", {{"connection", "erp"}, {"entity", "items"}}},
                           {"target", {{"connection", "shop"}, {"entity", "products"}}},
                           {"mapping", {{"sku", "sku"}, {"name", "name"}, {"price", "price"}, {"categories", "category"},
                                        {"currency", {{"const", "RON"}}}}}}})}};
        registry.load_directory(PLEXUS_PLUGIN_DIR);
        store = plexus::open_sqlite_store((dir / "plexus.db").string());
    }
    ~E2e() {
        store.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    plexus::RunSummary run() {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "gomag-e2e.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry, *store, plexus::SystemClock::instance());
        plexus::SyncEngine engine(hub);
        auto summary = engine.run("products-erp-gomag");
        INFO(summary.status << " " << summary.message);
        REQUIRE(summary.status == "succeeded");
        return summary;
    }
};

TEST_CASE("end to end: a product already in the shop is adopted by SKU, not made twice", "[e2e]") {
    Rig rig(options(20, 5, 5));
    E2e h(rig);
    write_items(h.dir / "erp" / "items.jsonl", 3);
    // ERP-1001 reached Gomag before (a create whose answer was lost in a crash, or made by hand).
    auto c = rig.instance();
    REQUIRE(write(*c, "products", create("earlier", {{"sku", "ERP-1001"}, {"name", "Articol vechi"}, {"price", 1},
                                                     {"categories", "Echipament/Tenis"}}))[0]["status"] == PLEXUS_OK);
    auto first = h.run();
    CHECK(first.counts.created == 2);
    CHECK(first.counts.updated == 1);  // conflict → lookup by SKU → update
    CHECK(first.counts.failed == 0);
    CHECK(rig.shop().count("products") == 23);
    CHECK(rig.shop().product("ERP-1001")["name"] == "Articol 1");
}

TEST_CASE("end to end: products files→Gomag create once, then nothing, then one update", "[e2e]") {
    Rig rig(options(20, 5, 5));
    std::random_device rd;
    const fs::path dir = fs::temp_directory_path() / ("plexus-gomag-e2e-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(dir / "erp");
    struct Cleanup {
        fs::path p;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup{dir};
    write_items(dir / "erp" / "items.jsonl", 30);

    json settings = rig.settings();
    json config{
        {"connections",
         {{"erp", {{"connector", "files"}, {"isolation", "none"}, {"settings", {{"directory", (dir / "erp").string()},
                                                        {"entities", {{"items", {{"path", "items.jsonl"}, {"key", "sku"}, {"cursor", "updated_at"}}}}}}}}},
          {"shop", {{"connector", "gomag"}, {"isolation", "none"}, {"settings", settings}}}}},
        {"processes",
         json::array({{{"id", "products-erp-gomag"},
                       {"name", "Products ERP→Gomag"},
                       {"source", {{"connection", "erp"}, {"entity", "items"}}},
                       {"target", {{"connection", "shop"}, {"entity", "products"}}},
                       {"mapping", {{"sku", "sku"}, {"name", "name"}, {"price", "price"}, {"categories", "category"},
                                    {"currency", {{"const", "RON"}}}}}}})}};
    plexus::PluginRegistry registry;
    registry.load_directory(PLEXUS_PLUGIN_DIR);
    auto store = plexus::open_sqlite_store((dir / "plexus.db").string());
    auto run = [&] {
        std::vector<plexus::ConfigError> errors;
        plexus::Config c = plexus::parse_config(config.dump(), "gomag-e2e.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        plexus::Hub hub(std::move(c), registry, *store, plexus::SystemClock::instance());
        plexus::SyncEngine engine(hub);
        auto summary = engine.run("products-erp-gomag");
        INFO(summary.status << " " << summary.message);
        REQUIRE(summary.status == "succeeded");
        return summary;
    };

    auto first = run();
    CHECK(first.counts.created == 30);
    CHECK(rig.shop().count("products") == 50);
    CHECK(rig.shop().product("ERP-1029")["name"] == "Articol 29");
    auto writes = posted(rig.exchanges(), "product/write/json");
    CHECK(writes.size() == 2);  // 25 + 5
    for (const auto& w : writes) CHECK(w.size() <= 25);

    const uint64_t requests = rig.shop().writes();
    auto second = run();
    CHECK(second.counts.created + second.counts.updated == 0);
    CHECK(rig.shop().writes() == requests);

    write_items(dir / "erp" / "items.jsonl", 30, 7);
    auto third = run();
    CHECK(third.counts.read == 1);
    CHECK(third.counts.updated == 1);
    CHECK(third.counts.created == 0);
    CHECK(rig.shop().writes() == requests + 1);
    CHECK(rig.shop().product("ERP-1007")["name"] == "Geaca impermeabila (nou)");
    CHECK(rig.shop().count("products") == 50);
}
