#include "app/cli.hpp"

#include "common/time_text.hpp"

#include "common/logging.hpp"

// date::parse's seconds field trips GCC 12's -Wmaybe-uninitialized at -O2 inside date.h
// (a known false positive of that header); our code is not concerned.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <date/date.h>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

namespace plexus::cli {

void add_common(po::options_description& opts, Common& c, bool config, bool data, bool plugins) {
    opts.add_options()("help,h", "show this help");
    if (config)
        opts.add_options()("config,c", po::value(&c.config_file)->default_value("plexus.json"),
                           "configuration file (JSON; docs/configuration.md)");
    if (data)
        opts.add_options()("data,d", po::value(&c.data_dir)->default_value("var"),
                           "data directory holding the database (plexus.db)");
    if (plugins)
        opts.add_options()("plugin-dir,p", po::value(&c.plugin_dirs)->composing(),
                           "directory of connector libraries, added to the default "
                           "folders ($PLEXUS_PLUGIN_PATH or <bin>/../plugins); repeatable");
    opts.add_options()("log-level", po::value(&c.log_level)->default_value("warn"),
                       "debug, info, warn or error");
}

bool parse(const std::string& command, const std::string& synopsis, po::options_description& opts,
           const po::positional_options_description& pos, const std::vector<std::string>& args,
           po::variables_map& vm) {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
        std::cout << "usage: plexus " << command << " " << synopsis << "\n\n" << opts << "\n";
        return false;
    }
    po::notify(vm);
    if (vm.count("log-level")) configure_logging(vm["log-level"].as<std::string>());
    return true;
}

void load_plugins(PluginRegistry& registry, const Common& c) {
    registry.load_with_defaults(c.plugin_dirs);
}

bool load_valid_config(const Common& c, PluginRegistry& registry, Config& out) {
    std::vector<ConfigError> errors;
    out = load_config(c.config_file, errors);
    if (errors.empty()) validate_config(out, registry, system_environment(), errors);
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return errors.empty();
}

const ProcessConfig* require_process(const Config& config, const std::string& process_id,
                                     const std::string& command, const std::string& config_file) {
    if (const ProcessConfig* p = config.process(process_id)) return p;
    std::cerr << "plexus " << command << ": no process \"" << process_id << "\" in " << config_file
              << "; known:";
    for (const auto& p : config.processes) std::cerr << " " << p.id;
    std::cerr << "\n";
    return nullptr;
}

std::optional<TimeArg> parse_time_arg(const std::string& text) {
    auto ms = parse_time_ms(text);
    if (!ms) return std::nullopt;
    return TimeArg{*ms, text.size() == 10};
}

std::string cli_actor() {
    // $USER first (what the operator sees in their shell); without it (cron, containers,
    // systemd units) the account the process runs as, so the audit log still names someone.
    if (const char* user = std::getenv("USER"); user && *user) return std::string("cli:") + user;
    const uid_t uid = ::geteuid();
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name && *found->pw_name)
        return std::string("cli:") + found->pw_name;
    return "cli:uid " + std::to_string(uid);
}

bool data_dir_read_only(const std::string& data_dir) {
    const std::filesystem::path dir(data_dir);
    const std::filesystem::path db = dir / "plexus.db";
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        // Can it be created? Then it is not read-only.
        std::filesystem::path parent = std::filesystem::absolute(dir, ec).parent_path();
        while (!parent.empty() && !std::filesystem::exists(parent, ec) && parent != parent.root_path())
            parent = parent.parent_path();
        return ::access(parent.c_str(), W_OK) != 0;
    }
    // SQLite writes the -wal and -shm files beside the database: the directory must be
    // writable as well as the file.
    if (::access(dir.c_str(), W_OK) != 0) return true;
    if (std::filesystem::exists(db, ec) && ::access(db.c_str(), W_OK) != 0) return true;
    return false;
}

void require_writable_data_dir(const Common& c) {
    if (!data_dir_read_only(c.data_dir)) return;
    throw std::runtime_error(
        c.data_dir + ": the data directory is read-only; this command writes the database " +
        (std::filesystem::path(c.data_dir) / "plexus.db").string() +
        " there. Make the directory and the file writable, or point --data elsewhere. Reading "
        "commands (cursor without --rewind-to, logs export, plugins, db check) still work.");
}

std::unique_ptr<Store> open_store(const Common& c, StoreUse use) {
    const std::filesystem::path db = std::filesystem::path(c.data_dir) / "plexus.db";
    const bool read_only = data_dir_read_only(c.data_dir);
    if (use == StoreUse::read && read_only) {
        if (!std::filesystem::exists(db))
            throw std::runtime_error(db.string() + ": no database here (the data directory is "
                                     "read-only, so none can be created)");
        log_warn(db.string() + ": the data directory is read-only; reading the database "
                 "without changing it");
        return open_sqlite_store_read_only(db.string());
    }
    if (read_only) require_writable_data_dir(c);
    std::filesystem::create_directories(c.data_dir);
    if (use == StoreUse::write_checked && std::filesystem::exists(db)) {
        auto problems = check_sqlite_integrity(db.string(), true, 5);
        if (!(problems.size() == 1 && problems[0] == "ok")) {
            std::string found;
            for (const auto& p : problems) found += "\n  " + p;
            throw std::runtime_error(
                db.string() + ": the database is damaged; refusing to work on it (nothing "
                "was changed). SQLite's quick_check found:" + found +
                "\nTo recover: stop every plexus using " + c.data_dir + ", keep a copy of the "
                "damaged file (with its -wal file, if any), run `plexus db check --data " +
                c.data_dir + "` for the full report, then restore the latest backup; see "
                "docs/operations.md, \"Recovering the database\".");
        }
    }
    return open_sqlite_store(db.string());
}

DataDirLock::DataDirLock(const std::string& data_dir) {
    std::filesystem::create_directories(data_dir);
    const std::string path = (std::filesystem::path(data_dir) / "plexus.lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw std::runtime_error(path + ": cannot open the lock file: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int why = errno;
        char buf[32] = {};
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
        holder.erase(holder.find_last_not_of(" \n") + 1);
        ::close(fd_);
        fd_ = -1;
        if (why == EWOULDBLOCK)
            throw std::runtime_error(
                "the data directory " + data_dir + " is in use by another plexus serve" +
                (holder.empty() ? std::string() : " (pid " + holder + ")") +
                "; stop it first, or give this one another --data directory");
        throw std::runtime_error(path + ": cannot lock: " + std::strerror(why));
    }
    // The holder's pid, for the message above (the lock, not the text, is what excludes).
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] ssize_t w = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

DataDirLock::~DataDirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

void raise_open_file_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    if (r.rlim_cur >= r.rlim_max) return;
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
}

}  // namespace plexus::cli

#pragma GCC diagnostic pop
