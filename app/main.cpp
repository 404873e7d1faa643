// plexus — the Plexus host. See `plexus --help` and docs/operations.md.
#include "app/cli.hpp"

#include "common/logging.hpp"
#include "worker/connector_worker.hpp"
#include "worker/worker_main.hpp"

#include <csignal>
#include <iostream>
#include <map>

namespace {

const char* kUsage = R"(usage: plexus <command> [options]

commands:
  serve           run the hub: processes on their schedules and the portal
  run PROCESS     one run of a process now, with progress and a summary
  replay PROCESS  run the failed records of a process again
  reconcile PROCESS  compare the ledger with the target: duplicates, gaps (--adopt)
  cursor PROCESS  show a process's cursor, or rewind it (--rewind-to TIME)
  plugins         list loaded connectors and refused files
  check-config F  validate a configuration file against the loaded connectors
  sandbox         serve the simulators of the external systems on 127.0.0.1
  users           portal users: add NAME --role ROLE, list, delete, password, role
  logs export     export the record outcomes of a run or a process to .xlsx or .csv
  db check        check the database file for damage (SQLite integrity_check)
  secrets rotate  re-encrypt the stored connection secrets with a new key (--new-key-file)
  connector       for connector authors: check DIR (conformance report), read, lookup,
                  check-connection, entities — one call with given settings, as JSON

Each command takes --help. Common options: --config FILE, --data DIR (default ./var),
--plugin-dir DIR (repeatable; added to the default folder), --log-level debug|info|warn|error.
)";

}  // namespace

int main(int argc, char** argv) {
    using namespace plexus::cli;
    // A peer closing a socket mid-write must be an error return, not a dead host.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    // This binary is what runs connector workers (`plexus worker`, started by the host itself;
    // not listed in the usage: not for operators).
    plexus::mark_worker_capable();
    if (!args.empty() && args[0] == "worker")
        return plexus::worker::worker_main(std::vector<std::string>(args.begin() + 1, args.end()));
    // Every library is tried in a throw-away worker before the host loads it.
    plexus::PluginRegistry::set_load_probe(&plexus::probe_library);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kUsage;
        return args.empty() ? Exit::usage : Exit::ok;
    }
    if (args[0] == "--version") {
        std::cout << "plexus " << PLEXUS_VERSION << " (connector ABI " << PLEXUS_ABI_MAJOR << "."
                  << PLEXUS_ABI_MINOR << ")\n";
        return Exit::ok;
    }
    static const std::map<std::string, int (*)(const std::vector<std::string>&)> commands{
        {"serve", cmd_serve},     {"run", cmd_run},       {"replay", cmd_replay},
        {"plugins", cmd_plugins}, {"cursor", cmd_cursor}, {"check-config", cmd_check_config},
        {"sandbox", cmd_sandbox}, {"users", cmd_users},        {"logs", cmd_logs},
        {"reconcile", cmd_reconcile}, {"db", cmd_db},
        {"secrets", cmd_secrets}, {"connector", cmd_connector}};
    auto it = commands.find(args[0]);
    if (it == commands.end()) {
        std::cerr << "plexus: unknown command \"" << args[0] << "\"\n\n" << kUsage;
        return Exit::usage;
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        return it->second(rest);
    } catch (const po::error& e) {
        std::cerr << "plexus " << args[0] << ": " << e.what() << " (see plexus " << args[0]
                  << " --help)\n";
        return Exit::usage;
    } catch (const std::exception& e) {
        std::cerr << "plexus " << args[0] << ": " << e.what() << "\n";
        return Exit::run_failed;
    }
}
