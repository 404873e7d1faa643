// The in-process world of the engine's integration tests (test_engine.cpp,
// test_mapping_versions.cpp): a temp directory with src/ and dst/ for files-connector
// connections, the built plugins loaded through the real loader, a store, and the hub's
// configuration as JSON, parsed with every problem a test failure.
#pragma once

#include "support.hpp"

#include "engine/hub.hpp"

#include <catch2/catch.hpp>

#include <memory>

namespace plexus::test {

struct EngineWorld {
    TempDir dir;
    PluginRegistry registry;
    std::unique_ptr<Store> store;
    json config;

    EngineWorld() {
        registry.load_directory(PLEXUS_PLUGIN_DIR);
        fs::create_directories(dir.path() / "src");
        fs::create_directories(dir.path() / "dst");
        store = open_sqlite_store(dir.str("plexus.db"));
    }
    // `c` parsed; each problem fails the test.
    Config parsed(const json& c) const {
        std::vector<ConfigError> errors;
        Config out = parse_config(c.dump(), "test.json", errors);
        for (const auto& e : errors) FAIL(e.to_string());
        return out;
    }
};

}  // namespace plexus::test
