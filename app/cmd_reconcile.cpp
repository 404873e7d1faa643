// plexus reconcile PROCESS [--adopt] [--format text|json]
//
// Proves "nothing written twice" against the target itself: every ledger entry is looked up
// in the target by its key (gone?) and by its idempotency key (a second record?), every open
// intent and failed record by its idempotency key (in the target, not in the ledger?). With
// --adopt, the unambiguous records of the last kind are adopted into the ledger (audited).
#include "app/cli.hpp"

#include "common/clock.hpp"
#include "engine/hub.hpp"
#include "engine/sync_engine.hpp"
#include "service/operations.hpp"

#include <atomic>
#include <csignal>
#include <iostream>

namespace plexus::cli {
namespace {

std::atomic<bool> g_cancel{false};
extern "C" void on_reconcile_signal(int) { g_cancel.store(true); }

}  // namespace

int cmd_reconcile(const std::vector<std::string>& args) {
    Common c;
    std::string process_id;
    std::string format = "text";
    bool adopt = false;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()("process", po::value(&process_id)->required(), "process id")(
        "adopt", po::bool_switch(&adopt),
        "adopt target records that carry our idempotency key but are missing from the ledger "
        "(only where exactly one matches; audited)")(
        "format", po::value(&format), "text (default) or json");
    po::positional_options_description pos;
    pos.add("process", 1);
    po::variables_map vm;
    if (!parse("reconcile", "PROCESS [--adopt] [--format text|json] [--config FILE] [--data DIR]",
               opts, pos, args, vm))
        return ok;
    if (format != "text" && format != "json")
        throw po::error("--format \"" + format + "\" is neither text nor json");

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    // Connections created in the portal are the hub's too: loaded from the database.
    std::unique_ptr<Store> store;
    if (!load_hub_config(c, registry, StoreUse::write, config, store)) return run_failed;
    if (!require_process(config, process_id, "reconcile", c.config_file)) return usage;
    Hub hub(std::move(config), registry, *store, SystemClock::instance());
    SyncEngine engine(hub);
    std::signal(SIGINT, on_reconcile_signal);
    std::signal(SIGTERM, on_reconcile_signal);

    ReconcileOptions options;
    options.adopt = adopt;
    options.actor = cli_actor();
    options.cancel = &g_cancel;
    const ReconcileReport report = engine.reconcile(process_id, options);
    if (format == "json") {
        std::cout << reconcile_json(report).dump(2) << "\n";
    } else {
        std::cout << process_id << ": reconcile " << report.status << "\n  " << report.message << "\n";
        for (const auto& f : report.findings) {
            std::cout << "  " << f.kind << "  source " << f.source_key;
            if (!f.target_key.empty()) std::cout << " → target " << f.target_key;
            std::cout << (f.adopted ? "  [adopted]" : "") << "\n      " << f.detail << "\n";
        }
    }
    if (report.status == "clean") return ok;
    if (report.status == "skipped") return run_skipped;
    if (report.status == "failed") return run_failed;
    // Findings: all adopted counts as clean now; anything else asks for attention.
    for (const auto& f : report.findings)
        if (!f.adopted) return records_failed;
    return ok;
}

}  // namespace plexus::cli
