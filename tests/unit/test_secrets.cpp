// Unit tests of core/secrets: the secret key (file, environment, permissions), sealing and
// opening, stored connections (no secret in clear in the database file) and key rotation.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>

#include "secrets/secret_box.hpp"
#include "secrets/stored_connections.hpp"
#include "store/store.hpp"

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

using test::TempDir;

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every byte the database wrote: the main file and its write-ahead log.
std::string database_bytes(const std::string& path) {
    std::string all = file_bytes(path);
    if (fs::exists(path + "-wal")) all += file_bytes(path + "-wal");
    return all;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const SecretError& e) {
        return e.what();
    }
    return "";
}

// A fake catalog: connector "shop" with settings "url" and secret "token".
struct Catalog : ConnectorCatalog {
    nlohmann::json m = {{"settings", nlohmann::json::array()}};
    const nlohmann::json* manifest(const std::string& id) const override {
        return id == "shop" ? &m : nullptr;
    }
    std::optional<nlohmann::json> entities(const std::string&, const nlohmann::json&,
                                           std::string&) const override {
        return nlohmann::json::array();
    }
};

}  // namespace

TEST_CASE("secrets: a value sealed opens with the same key and context only", "[secrets]") {
    const SecretKey key = SecretKey::generate();
    const std::string sealed = key.seal("connection/shop/token", "shpat_very_secret_1");
    CHECK(sealed.rfind("sb1:", 0) == 0);
    CHECK(sealed.find("shpat_very_secret_1") == std::string::npos);
    CHECK(key.open("connection/shop/token", sealed) == "shpat_very_secret_1");
    // A fresh nonce each time: the same value seals differently.
    CHECK(key.seal("connection/shop/token", "shpat_very_secret_1") != sealed);

    const SecretKey other = SecretKey::generate();
    const std::string wrong = error_of([&] { other.open("connection/shop/token", sealed); });
    CHECK(wrong.find("connection/shop/token") != std::string::npos);
    CHECK(wrong.find("sealed with another key") != std::string::npos);
    CHECK(wrong.find(other.id()) != std::string::npos);
    CHECK(wrong.find("shpat") == std::string::npos);

    const std::string moved = error_of([&] { key.open("connection/other/token", sealed); });
    CHECK(moved.find("belongs to another setting") != std::string::npos);

    std::string altered = sealed;
    altered[10] = altered[10] == 'A' ? 'B' : 'A';
    CHECK_FALSE(error_of([&] { key.open("connection/shop/token", altered); }).empty());
    CHECK(error_of([&] { key.open("c", "plain text"); }).find("not a sealed secret") !=
          std::string::npos);
}

TEST_CASE("secrets: the key file is created with mode 0600 and read back", "[secrets]") {
    TempDir tmp;
    const std::string path = tmp.str("secret.key");
    bool created = false;
    const SecretKey k1 = load_secret_key(path, std::nullopt, true, &created);
    CHECK(created);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const SecretKey k2 = load_secret_key(path, std::nullopt, true, &created);
    CHECK_FALSE(created);
    CHECK(k1.id() == k2.id());
    CHECK(k2.open("c", k1.seal("c", "v")) == "v");

    // The environment variable wins over the file.
    const SecretKey k3 = SecretKey::generate();
    const SecretKey k4 = load_secret_key(path, k3.to_base64(), true);
    CHECK(k4.id() == k3.id());
    CHECK(k4.origin() == "environment variable PLEXUS_SECRET_KEY");

    // A key others may read is refused, saying how to fix it.
    ::chmod(path.c_str(), 0644);
    const std::string loose = error_of([&] { load_secret_key(path, std::nullopt, true); });
    CHECK(loose.find("chmod 600") != std::string::npos);
    ::chmod(path.c_str(), 0600);

    // Not a key: says where.
    const std::string bad_env = error_of([&] { load_secret_key(path, std::string("c2hvcnQ="), true); });
    CHECK(bad_env.find("PLEXUS_SECRET_KEY") != std::string::npos);
    CHECK(bad_env.find("32 bytes") != std::string::npos);
    const std::string missing =
        error_of([&] { load_secret_key(tmp.str("none.key"), std::nullopt, false); });
    CHECK(missing.find("none.key") != std::string::npos);
}

TEST_CASE("secrets: stored connections keep no secret in clear and rotate in one go",
          "[secrets][store]") {
    TempDir tmp;
    const std::string db = tmp.str("plexus.db");
    const std::string secret = "tok_2f9c1a7e_PLAINTEXT_MARKER";
    const SecretKey key = SecretKey::generate();
    {
        auto store = open_sqlite_store(db);
        StoredConnection c;
        c.id = "shop";
        c.connector = "shop";
        c.settings_json = R"({"url":"http://127.0.0.1:1"})";
        c.secrets.push_back(SealedSecret{"token", key.seal(secret_context("shop", "token"), secret), key.id()});
        REQUIRE(store->create_connection(c, "alice", 1000, R"({"connector":"shop"})"));
        CHECK_FALSE(store->create_connection(c, "alice", 1000, "{}"));  // id taken

        auto back = store->stored_connection("shop");
        REQUIRE(back);
        CHECK(open_connection_settings(*back, key) ==
              nlohmann::json{{"url", "http://127.0.0.1:1"}, {"token", secret}});
        auto audit = store->audit_log(10, 0);
        REQUIRE(!audit.empty());
        CHECK(audit[0].action == "connection.create");
        CHECK(audit[0].detail.find(secret) == std::string::npos);
    }
    CHECK(database_bytes(db).find(secret) == std::string::npos);
    CHECK(database_bytes(db).find("PLAINTEXT_MARKER") == std::string::npos);

    auto store = open_sqlite_store(db);
    // The file's connections win no silent contest: the same id is an error naming it.
    {
        Catalog catalog;
        Config config;
        config.file = "plexus.json";
        ConnectionConfig file_conn;
        file_conn.id = "shop";
        file_conn.connector = "shop";
        file_conn.json_path = "/connections/shop";
        config.connections.push_back(file_conn);
        std::vector<ConfigError> errors;
        std::vector<std::string> warnings;
        merge_stored_connections(config, *store, key, catalog, errors, warnings);
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].to_string().find("created in the portal") != std::string::npos);
        CHECK(config.connections.size() == 1);

        Config clean;
        errors.clear();
        merge_stored_connections(clean, *store, key, catalog, errors, warnings);
        CHECK(errors.empty());
        REQUIRE(clean.connections.size() == 1);
        CHECK(clean.connections[0].stored);
        CHECK(clean.connections[0].settings["token"] == secret);

        // With another key: a clear error, nothing in clear.
        Config wrong;
        errors.clear();
        merge_stored_connections(wrong, *store, SecretKey::generate(), catalog, errors, warnings);
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].message.find("connection/shop/token") != std::string::npos);
        CHECK(errors[0].message.find(secret) == std::string::npos);
    }

    // Rotation with the wrong old key changes nothing.
    const SecretKey next = SecretKey::generate();
    CHECK_THROWS_AS(rotate_secrets(*store, SecretKey::generate(), next, "cli:root", 2000), SecretError);
    CHECK(open_connection_settings(*store->stored_connection("shop"), key)["token"] == secret);

    // With the right one every secret moves to the new key.
    CHECK(rotate_secrets(*store, key, next, "cli:root", 2000) == 1);
    auto rotated = store->stored_connection("shop");
    REQUIRE(rotated);
    CHECK(rotated->secrets[0].key_id == next.id());
    CHECK(open_connection_settings(*rotated, next)["token"] == secret);
    CHECK_THROWS_AS(open_connection_settings(*rotated, key), SecretError);
    CHECK(store->audit_log(1, 0)[0].action == "secrets.rotate");

    // Update replaces the full set of secrets; delete removes them.
    StoredConnection u = *rotated;
    u.secrets.clear();
    u.settings_json = R"({"url":"http://127.0.0.1:2"})";
    REQUIRE(store->update_connection(u, "alice", 3000, "{}"));
    CHECK(store->stored_connection("shop")->secrets.empty());
    CHECK(store->delete_connection("shop", "alice", 4000));
    CHECK_FALSE(store->stored_connection("shop"));
    CHECK_FALSE(store->delete_connection("shop", "alice", 4000));
    CHECK(store->stored_connections().empty());
}
