// The last test of each connection, kept in the store (migration 13) so that "the connection
// failed its last test" survives a restart: a test replaces the one before, a success clears
// the failure, deleting a portal connection forgets its test.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>

#include "store/store.hpp"

using namespace plexus;

namespace {

struct Dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("plexus-conntest-" + std::to_string(std::random_device{}()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() { std::filesystem::remove_all(path); }
    std::string db() const { return (path / "plexus.db").string(); }
};

}  // namespace

TEST_CASE("store: a connection's last test outlives a reopen and a success replaces a failure",
          "[store][attention]") {
    Dir dir;
    {
        auto store = open_sqlite_store(dir.db());
        CHECK(store->connection_tests().empty());
        store->record_connection_test({"shop", false, "auth", "HTTP 401 from the shop", 120, 1000});
        store->record_connection_test({"erp", true, "", "connected", 80, 1100});
    }
    auto store = open_sqlite_store(dir.db());
    auto tests = store->connection_tests();
    REQUIRE(tests.size() == 2);
    CHECK(tests[0].connection_id == "erp");
    CHECK(tests[0].ok);
    CHECK(tests[1].connection_id == "shop");
    CHECK_FALSE(tests[1].ok);
    CHECK(tests[1].error_class == "auth");
    CHECK(tests[1].message == "HTTP 401 from the shop");
    CHECK(tests[1].duration_ms == 120);
    CHECK(tests[1].tested_ms == 1000);

    store->record_connection_test({"shop", true, "", "connected", 90, 2000});
    tests = store->connection_tests();
    REQUIRE(tests.size() == 2);
    CHECK(tests[1].ok);
    CHECK(tests[1].error_class.empty());
    CHECK(tests[1].tested_ms == 2000);

    // A portal connection deleted: its test goes with it.
    StoredConnection c;
    c.id = "vouchers";
    c.connector = "eguma";
    REQUIRE(store->create_connection(c, "ada", 3000, "{}"));
    store->record_connection_test({"vouchers", false, "transient", "refused", 5, 3100});
    REQUIRE(store->connection_tests().size() == 3);
    REQUIRE(store->delete_connection("vouchers", "ada", 3200));
    CHECK(store->connection_tests().size() == 2);
}
