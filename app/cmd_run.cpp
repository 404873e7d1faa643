#include "app/cli.hpp"

#include "common/clock.hpp"
#include "engine/hub.hpp"
#include "engine/preview.hpp"
#include "engine/sync_engine.hpp"
#include "common/redactor.hpp"
#include "plugin_host/connector_instance.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>

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
        if (s.counts.recovered > 0)
            std::printf("  recovered %10lld from the interrupted run (the target had them; "
                        "not created again)\n",
                        static_cast<long long>(s.counts.recovered));
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

// Every connection the processes read or write answers its connector's check() before a
// run starts: a wrong token then stops the command with one clear line, before anything is read.
bool connections_answer(Hub& hub, const std::vector<const ProcessConfig*>& processes,
                        const char* command) {
    std::vector<std::pair<std::string, std::string>> ids;  // connection, first process using it
    for (const ProcessConfig* p : processes)
        for (const auto& id : {p->source.connection, p->target.connection}) {
            bool seen = false;
            for (const auto& [c, _] : ids) seen = seen || c == id;
            if (!seen) ids.emplace_back(id, p->id);
        }
    bool ok = true;
    for (const auto& [id, process] : ids) {
        const ConnectionConfig* conn = hub.config().connection(id);
        const std::string label =
            "connection \"" + id + "\"" + (conn ? " (" + conn->connector + ")" : std::string());
        try {
            auto instance =
                hub.open(id, LogTags{process, 0, conn ? conn->connector : "", id}, nullptr);
            CallResult r = instance->check();
            // A 429 after the host's retries: the API answered and refused no credentials;
            // it is busy (another hub or process spends the same budget). The run rides that
            // out itself, or stops partial and resumes next time.
            if (r.status == PLEXUS_ERR_RATE_LIMIT) {
                std::cerr << "plexus " << command << ": " << label
                          << " is busy (rate limited) at its check; running anyway\n";
                continue;
            }
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
                  << " (plexus " << command << " --no-check skips this check)\n";
    return ok;
}

// The worse of two exit statuses, for a command that ran several processes.
int worse(int a, int b) {
    auto rank = [](int code) {
        switch (code) {
            case ok: return 0;
            case run_skipped: return 1;
            case records_failed: return 2;
            case run_partial: return 3;
            default: return 4;
        }
    };
    return rank(b) > rank(a) ? b : a;
}

// plexus run PROCESS --dry-run: what the run would do, as a table; nothing is written
// (core/engine/preview.hpp).
int dry_run(Hub& hub, const std::string& process_id, const std::string& from, int64_t limit,
            bool show_payload) {
    PreviewOptions o;
    o.source = from == "start" ? "read" : from;
    o.limit = limit;
    o.cancel = &g_cancel;
    PreviewReport r;
    try {
        r = preview(hub, process_id, o);
    } catch (const std::exception& e) {
        std::cerr << "plexus run: dry run of " << process_id << ": "
                  << global_redactor().redact(e.what()) << "\n";
        return run_failed;
    }
    const auto* p = hub.config().process(process_id);
    const char* what = from == "start"    ? "from the start of the source"
                       : from == "failed" ? "waiting for a retry"
                                          : "the run would read next";
    std::cout << "Dry run of " << (p && !p->name.empty() ? p->name : process_id) << " ("
              << process_id << "): " << r.items.size() << " record(s) " << what
              << (r.more ? " (more follow)" : "") << ", mapping "
              << (r.mapping_version == 0 ? std::string("of the configuration file")
                                         : "version " + std::to_string(r.mapping_version) +
                                               " (edited in the portal)")
              << "; nothing was written\n";
    if (!r.message.empty()) std::cout << "  " << r.message << "\n";
    size_t key_w = 3, target_w = 6;
    for (const auto& it : r.items) {
        key_w = std::max(key_w, std::min<size_t>(it.source_key.size(), 40));
        target_w = std::max(target_w, std::min<size_t>(it.target_key.size(), 40));
    }
    std::map<std::string, int> counts;
    if (!r.items.empty())
        std::printf("  %-7s %-*s %-*s %s\n", "ACTION", static_cast<int>(key_w), "KEY",
                    static_cast<int>(target_w), "TARGET", "DETAIL");
    for (const auto& it : r.items) {
        ++counts[it.action];
        std::string detail;
        if (it.action == "error") {
            detail = it.field.empty() ? it.message : "field " + it.field + ": " + it.message;
        } else {
            if (it.action == "update" && it.changed_fields.is_array()) {
                std::string f;
                for (const auto& n : it.changed_fields) f += (f.empty() ? "" : ", ") + n.get<std::string>();
                detail = "changed: " + (f.empty() ? std::string("(no field the target shows)") : f);
            }
            if (!it.message.empty()) detail += (detail.empty() ? "" : "; ") + it.message;
        }
        std::printf("  %-7s %-*s %-*s %s\n", it.action.c_str(), static_cast<int>(key_w),
                    it.source_key.c_str(), static_cast<int>(target_w), it.target_key.c_str(),
                    global_redactor().redact(detail).c_str());
        if (show_payload && !it.payload.is_null())
            std::cout << "          " << it.payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    std::cout << "  create " << counts["create"] << ", update " << counts["update"] << ", skip "
              << counts["skip"] << ", error " << counts["error"] << "\n";
    return counts["error"] > 0 ? records_failed : ok;
}

int run_or_replay(const std::vector<std::string>& args, bool replay) {
    Common c;
    std::string process_id;
    bool quiet = false, no_check = false, all = false, dry = false, show_payload = false;
    int64_t limit = 20;
    std::string from = "new";
    const char* name = replay ? "replay" : "run";
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()("process", po::value(&process_id), "process id")(
        "all", po::bool_switch(&all),
        "every enabled process once, each after the processes it depends on")(
        "quiet,q", po::bool_switch(&quiet), "no progress line")(
        "no-check", po::bool_switch(&no_check),
        "start without first checking the processes' connections");
    if (!replay)
        opts.add_options()("dry-run", po::bool_switch(&dry),
                           "show what the run would do with some records; write nothing")(
            "limit", po::value(&limit), "--dry-run: how many records (1 to 100, default 20)")(
            "from", po::value(&from),
            "--dry-run: new (what the run reads next, the default), start (the source's first "
            "records) or failed (records waiting for a retry)")(
            "payload", po::bool_switch(&show_payload), "--dry-run: print what would be sent");
    po::positional_options_description pos;
    pos.add("process", 1);
    po::variables_map vm;
    if (!parse(name, replay ? "(PROCESS | --all) [--config FILE] [--data DIR] [--no-check]"
                            : "(PROCESS [--dry-run [--limit N] [--from new|start|failed] [--payload]] | --all) "
                              "[--config FILE] [--data DIR] [--no-check]",
               opts, pos,
               args, vm))
        return ok;
    if (all == !process_id.empty()) {
        std::cerr << "plexus " << name << ": name one process, or --all for every enabled one\n";
        return usage;
    }

    if (dry && all) {
        std::cerr << "plexus run: --dry-run takes one process, not --all\n";
        return usage;
    }
    if (dry && (limit < 1 || limit > 100)) {
        std::cerr << "plexus run: --limit must be from 1 to 100\n";
        return usage;
    }
    if (dry && from != "new" && from != "start" && from != "failed") {
        std::cerr << "plexus run: --from must be new, start or failed\n";
        return usage;
    }

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    // The connections created in the portal are the hub's too (their secrets open with the
    // key serve created; none needed while the database holds none).
    auto store = open_store(c, StoreUse::write_checked);
    std::shared_ptr<const SecretKey> secret_key;
    try {
        secret_key = load_hub_key(c, "", false);
    } catch (const SecretError& e) {
        std::cerr << e.what() << "\n";
        return run_failed;
    }
    if (!load_valid_config_with_store(c, registry, *store, secret_key.get(), config))
        return run_failed;
    std::vector<std::string> ids;
    if (!all) {
        if (!require_process(config, process_id, name, c.config_file)) return usage;
        ids.push_back(process_id);
    }
    Hub hub(std::move(config), registry, *store, SystemClock::instance());
    if (all) {
        // The order of the mappings in force: a ref() added in the portal counts. Enabled as
        // the scheduler sees it: the operator's switch in the portal when set, else the file.
        for (const auto& id : hub.dependency_order()) {
            const auto switched = store->process_enabled(id);
            if (switched ? *switched : hub.config().process(id)->enabled) ids.push_back(id);
        }
        if (ids.empty()) {
            std::cerr << "plexus " << name << ": no enabled process in " << c.config_file << "\n";
            return usage;
        }
    }
    std::vector<const ProcessConfig*> processes;
    for (const auto& id : ids) processes.push_back(hub.config().process(id));
    if (!no_check && !connections_answer(hub, processes, name)) return run_failed;
    if (dry) return dry_run(hub, ids.front(), from, limit, show_payload);
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
    if (all)
        std::cout << "Running " << ids.size() << " enabled processes in dependency order\n";
    int exit_code = ok;
    std::map<std::string, std::string> not_ok;  // process → why its dependents do not run
    for (const auto& id : ids) {
        if (g_cancel.load()) break;
        std::string blocked;
        for (const auto& pre : hub.prerequisites(id))
            if (auto it = not_ok.find(pre); it != not_ok.end() && blocked.empty())
                blocked = pre + " " + it->second;
        if (!blocked.empty()) {
            std::cout << id << ": not run, because " << blocked << "\n";
            not_ok[id] = "was not run";
            exit_code = worse(exit_code, run_failed);
            continue;
        }
        RunSummary s = replay ? engine.replay(id, options) : engine.run(id, options);
        if (tty) std::fprintf(stderr, "\n");
        print_summary(hub, id, s);
        exit_code = worse(exit_code, exit_for(s));
        // Records that failed wait for replay; the process itself ran, so its dependents run
        // (their records needing a failed one fail as "dependency", replayable). A run that
        // failed or stopped early holds its dependents back.
        if (s.status == run_status::failed || s.status == run_status::partial)
            not_ok[id] = "ended " + s.status;
    }
    return exit_code;
}

}  // namespace

// plexus run PROCESS | --all
int cmd_run(const std::vector<std::string>& args) { return run_or_replay(args, false); }

// plexus replay PROCESS
int cmd_replay(const std::vector<std::string>& args) { return run_or_replay(args, true); }

}  // namespace plexus::cli
