#include "app/cli.hpp"

#include "common/clock.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "common/redactor.hpp"
#include "plugin_host/connector_instance.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace plexus::cli {
namespace {

std::atomic<bool> g_cancel{false};
extern "C" void on_signal(int) { g_cancel.store(true); }

void print_summary(Hub& hub, const std::string& process_id, const RunSummary& s) {
    const auto* p = hub.config().process(process_id);
    std::cout << (p && !p->name.empty() ? p->name : process_id) << " (" << process_id << ")";
    if (s.run_id) std::cout << ", run " << s.run_id;
    std::cout << ": " << s.status;
    if (s.run_id) std::printf(" in %.1f s", static_cast<double>(s.duration_ms) / 1000.0);
    std::cout << "\n";
    if (s.run_id) {
        std::printf("  read      %10lld\n  created   %10lld\n  updated   %10lld\n"
                    "  unchanged %10lld\n  failed    %10lld\n",
                    static_cast<long long>(s.counts.read), static_cast<long long>(s.counts.created),
                    static_cast<long long>(s.counts.updated), static_cast<long long>(s.counts.unchanged),
                    static_cast<long long>(s.counts.failed));
        std::fflush(stdout);
    }
    if (!s.message.empty()) std::cout << "  " << s.message << "\n";
    if (s.counts.failed > 0) {
        // The first few reasons, so the operator sees why without opening the portal.
        OutcomeQuery q;
        q.run_id = s.run_id;
        q.process_id = process_id;
        q.action = action::failed;
        q.limit = 5;
        for (const auto& o : hub.store().outcomes(q))
            std::cout << "  failed " << o.source_key << " (" << o.error_class << "): " << o.message << "\n";
        if (s.counts.failed > 5) std::cout << "  … and " << (s.counts.failed - 5) << " more\n";
        std::cout << "  failed records are kept: plexus replay " << process_id << "\n";
    }
}

int exit_for(const RunSummary& s) {
    if (s.status == run_status::succeeded_with_failures) return records_failed;
    if (s.status == run_status::succeeded) return s.counts.failed > 0 ? records_failed : ok;
    if (s.status == run_status::partial) return run_partial;
    if (s.status == "skipped") return run_skipped;
    return run_failed;
}

// Every connection the process reads or writes answers its connector's check() before the
// run starts: a wrong token then stops the run with one clear line, before anything is read.
bool connections_answer(Hub& hub, const ProcessConfig& p, const char* command) {
    std::vector<std::string> ids{p.source.connection};
    if (p.target.connection != p.source.connection) ids.push_back(p.target.connection);
    bool ok = true;
    for (const auto& id : ids) {
        const ConnectionConfig* conn = hub.config().connection(id);
        const std::string label =
            "connection \"" + id + "\"" + (conn ? " (" + conn->connector + ")" : std::string());
        try {
            auto instance = hub.open(id, LogTags{p.id, 0, conn ? conn->connector : "", id}, nullptr);
            CallResult r = instance->check();
            if (!r.ok()) {
                std::cerr << "plexus " << command << ": " << label << " failed its check ("
                          << status_name(r.status) << "): " << global_redactor().redact(r.text)
                          << "\n";
                ok = false;
            }
        } catch (const std::exception& e) {
            std::cerr << "plexus " << command << ": " << label
                      << " cannot be opened: " << global_redactor().redact(e.what()) << "\n";
            ok = false;
        }
    }
    if (!ok)
        std::cerr << "plexus " << command << ": nothing was read or written; fix the connection"
                  << " (plexus run --no-check skips this check)\n";
    return ok;
}

int run_or_replay(const std::vector<std::string>& args, bool replay) {
    Common c;
    std::string process_id;
    bool quiet = false, no_check = false;
    const char* name = replay ? "replay" : "run";
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()("process", po::value(&process_id)->required(), "process id")(
        "quiet,q", po::bool_switch(&quiet), "no progress line")(
        "no-check", po::bool_switch(&no_check),
        "start without first checking the process's connections");
    po::positional_options_description pos;
    pos.add("process", 1);
    po::variables_map vm;
    if (!parse(name, "PROCESS [--config FILE] [--data DIR] [--no-check]", opts, pos, args, vm)) return ok;

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    if (!load_valid_config(c, registry, config)) return run_failed;
    if (!require_process(config, process_id, name, c.config_file)) return usage;
    auto store = open_store(c, StoreUse::write_checked);
    Hub hub(std::move(config), registry, *store, SystemClock::instance());
    if (!no_check && !connections_answer(hub, *hub.config().process(process_id), name))
        return run_failed;
    SyncEngine engine(hub);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    RunOptions options;
    options.trigger = "cli";
    options.cancel = &g_cancel;
    bool tty = isatty(fileno(stderr)) && !quiet;
    if (tty) {
        options.on_progress = [](const RunProgress& p) {
            std::fprintf(stderr, "\r  page %lld: read %lld, created %lld, updated %lld, unchanged %lld, failed %lld ",
                         static_cast<long long>(p.pages), static_cast<long long>(p.counts.read),
                         static_cast<long long>(p.counts.created), static_cast<long long>(p.counts.updated),
                         static_cast<long long>(p.counts.unchanged), static_cast<long long>(p.counts.failed));
        };
    }
    RunSummary s = replay ? engine.replay(process_id, options) : engine.run(process_id, options);
    if (tty) std::fprintf(stderr, "\n");
    print_summary(hub, process_id, s);
    return exit_for(s);
}

}  // namespace

// plexus run PROCESS
int cmd_run(const std::vector<std::string>& args) { return run_or_replay(args, false); }

// plexus replay PROCESS
int cmd_replay(const std::vector<std::string>& args) { return run_or_replay(args, true); }

}  // namespace plexus::cli
