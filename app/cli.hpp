// The `plexus` command line: shared option handling and one function per subcommand.
#pragma once

#include "config/config.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "secrets/secret_box.hpp"
#include "store/store.hpp"

#include <boost/program_options.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::cli {

namespace po = boost::program_options;

// Exit statuses (docs/operations.md).
enum Exit : int {
    ok = 0,
    run_failed = 1,       // the run failed, or a command failed
    records_failed = 2,   // the run succeeded but some records failed (kept for replay)
    run_partial = 3,      // the run stopped early; the next run resumes at the cursor
    run_skipped = 4,      // the process was already running
    usage = 64,           // bad command line (also: an unknown process)
};

struct Common {
    std::string config_file;
    std::string data_dir;
    std::vector<std::string> plugin_dirs;
    std::string log_level;
};

// Adds --config, --data, --plugin-dir and --log-level to `opts` as they apply.
void add_common(po::options_description& opts, Common& c, bool config, bool data, bool plugins);

// Loads the plugins from the chosen directories (or the default ones).
void load_plugins(PluginRegistry& registry, const Common& c);

// Loads and validates the configuration; prints every error and returns false on any.
bool load_valid_config(const Common& c, PluginRegistry& registry, Config& out);

// The process of that id; prints the known ids and returns nullptr when there is none.
const ProcessConfig* require_process(const Config& config, const std::string& process_id,
                                     const std::string& command, const std::string& config_file);

// Who did it, for the audit log: "cli:<unix user>".
std::string cli_actor();

// How a command uses the database (docs/operations.md, "Recovering the database").
enum class StoreUse {
    write,          // creates the directory and the database, migrates
    write_checked,  // as write, after PRAGMA quick_check refused a damaged file (serve, run)
    read,           // as write where the directory is writable, else opened read only
};

// Opens the store in the data directory. Throws a message saying what to do when the
// directory is read-only for a writing use, or the file is damaged (write_checked).
std::unique_ptr<Store> open_store(const Common& c, StoreUse use = StoreUse::write);

// True when the database cannot be written here (read-only directory or file).
bool data_dir_read_only(const std::string& data_dir);
// Throws "DIR: the data directory is read-only; …" when it is.
void require_writable_data_dir(const Common& c);

// Holds `<data dir>/plexus.lock` (flock) for the life of the object: one `plexus serve` per
// data directory. Throws naming the holder's pid when another process holds it.
class DataDirLock {
public:
    explicit DataDirLock(const std::string& data_dir);
    ~DataDirLock();
    DataDirLock(const DataDirLock&) = delete;
    DataDirLock& operator=(const DataDirLock&) = delete;

private:
    int fd_ = -1;
};

// Raises the soft limit of open files to the hard limit (the portal and the sandboxes hold
// a descriptor per connection; see docs/design/005-bounded-portal.md).
void raise_open_file_limit();

// A time given on the command line: 2024-05-01 (midnight UTC), 2024-05-01T10:00:00Z or
// 2024-05-01T12:00:00+02:00, seconds optionally with a fraction (.250). None when `text` is
// none of these.
struct TimeArg {
    int64_t ms = 0;          // Unix time in milliseconds
    bool date_only = false;  // written as a date alone
};
std::optional<TimeArg> parse_time_arg(const std::string& text);

// Parses `args` against `opts` (with positional names); prints --help and returns false when
// asked, throws po::error for bad usage.
bool parse(const std::string& command, const std::string& synopsis, po::options_description& opts,
           const po::positional_options_description& pos, const std::vector<std::string>& args,
           po::variables_map& vm);

// The hub's secret key (docs/configuration.md, "Secret key"): PLEXUS_SECRET_KEY, else
// `key_file` ("" = <data dir>/secret.key); generated there (mode 0600) when absent and
// `create`. Null when absent and not `create`. Throws SecretError saying what is wrong.
std::shared_ptr<const SecretKey> load_hub_key(const Common& c, const std::string& key_file,
                                              bool create);

// load_valid_config with the connections created in the portal added (their secrets opened
// with `key`; null: the database must hold none): prints every problem, false on any.
bool load_valid_config_with_store(const Common& c, PluginRegistry& registry, Store& store,
                                  const SecretKey* key, Config& out);

// The configuration as the hub sees it: the file's connections and processes plus the
// connections created in the portal (stored in the data directory's database, secrets opened
// with the hub's key), validated; prints every problem and returns false on any. `store`
// receives the opened database (opened with `use`). Used by run, cursor, reconcile.
bool load_hub_config(const Common& c, PluginRegistry& registry, StoreUse use, Config& out,
                     std::unique_ptr<Store>& store);

int cmd_secrets(const std::vector<std::string>& args);
int cmd_serve(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args);
int cmd_replay(const std::vector<std::string>& args);
int cmd_plugins(const std::vector<std::string>& args);
int cmd_check_config(const std::vector<std::string>& args);
int cmd_cursor(const std::vector<std::string>& args);
int cmd_sandbox(const std::vector<std::string>& args);
int cmd_users(const std::vector<std::string>& args);
int cmd_logs(const std::vector<std::string>& args);
int cmd_reconcile(const std::vector<std::string>& args);
int cmd_db(const std::vector<std::string>& args);
int cmd_connector(const std::vector<std::string>& args);

}  // namespace plexus::cli
