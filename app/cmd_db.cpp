#include "app/cli.hpp"

#include <filesystem>
#include <iostream>

namespace plexus::cli {
namespace {

const char* k_db_usage = R"(usage: plexus db <command> [options]

commands:
  check    check the database file for damage (SQLite's integrity_check, read only)

See docs/operations.md, "Recovering the database".
)";

// plexus db check [--data DIR] [--quick]: SQLite's integrity_check on a connection of its
// own, read only (works while plexus serve runs, and in a read-only directory). Exit 0 when
// the file is sound, 1 when damaged, 64 when there is no database.
int db_check(const std::vector<std::string>& args) {
    Common c;
    bool quick = false;
    po::options_description opts("options");
    add_common(opts, c, false, true, false);
    opts.add_options()("quick", po::bool_switch(&quick),
                       "quick_check: skip comparing indexes with their tables (faster)");
    po::variables_map vm;
    if (!parse("db check", "[--data DIR] [--quick]", opts, {}, args, vm)) return ok;
    const std::filesystem::path db = std::filesystem::path(c.data_dir) / "plexus.db";
    if (!std::filesystem::exists(db)) {
        std::cerr << "plexus db check: no database at " << db.string()
                  << "; is --data the directory plexus serve uses?\n";
        return usage;
    }
    const auto lines = check_sqlite_integrity(db.string(), quick, 200);
    const bool sound = lines.size() == 1 && lines[0] == "ok";
    std::cout << db.string() << ": " << (quick ? "quick_check" : "integrity_check") << ": "
              << (sound ? "ok" : "DAMAGED") << "\n";
    if (sound) return ok;
    for (const auto& l : lines) std::cout << "  " << l << "\n";
    std::cout << "Keep a copy of the file as it is (with its -wal file), then restore the latest "
                 "backup; see docs/operations.md, \"Recovering the database\".\n";
    return run_failed;
}

}  // namespace

// plexus db <command>
int cmd_db(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << k_db_usage;
        return args.empty() ? usage : ok;
    }
    if (args[0] == "check") return db_check({args.begin() + 1, args.end()});
    std::cerr << "plexus db: unknown command \"" << args[0] << "\"\n\n" << k_db_usage;
    return usage;
}

}  // namespace plexus::cli
