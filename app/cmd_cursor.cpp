#include "app/cli.hpp"

#include "common/clock.hpp"

#include "common/time_text.hpp"

#include <cstdlib>
#include <iostream>

namespace plexus::cli {
namespace {

// Accepts what parse_time_arg() does; returns UTC ISO text to the second.
bool normalise_time(const std::string& text, std::string& out) {
    auto ms = parse_time_ms(text);
    if (!ms) return false;
    out = iso_utc(*ms);
    return true;
}

}  // namespace

// plexus cursor PROCESS [--rewind-to TIME]
int cmd_cursor(const std::vector<std::string>& args) {
    Common c;
    std::string process_id, rewind_to;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()("process", po::value(&process_id)->required(), "process id")(
        "rewind-to", po::value(&rewind_to),
        "re-read source records changed at or after TIME (ISO 8601: 2024-05-01 or "
        "2024-05-01T10:00:00Z); audited");
    po::positional_options_description pos;
    pos.add("process", 1);
    po::variables_map vm;
    if (!parse("cursor", "PROCESS [--rewind-to TIME]", opts, pos, args, vm)) return ok;

    PluginRegistry registry;
    load_plugins(registry, c);
    Config config;
    // Showing the cursor only reads: it works in a read-only data directory. The processes
    // may use connections created in the portal: those are in the database.
    std::unique_ptr<Store> store;
    if (!load_hub_config(c, registry, rewind_to.empty() ? StoreUse::read : StoreUse::write,
                         config, store))
        return run_failed;
    if (!require_process(config, process_id, "cursor", c.config_file)) return usage;
    if (!rewind_to.empty()) {
        std::string since;
        if (!normalise_time(rewind_to, since))
            throw po::error("--rewind-to \"" + rewind_to +
                            "\" is not an ISO 8601 time such as 2024-05-01 or 2024-05-01T10:00:00Z");
        const std::string actor = cli_actor();
        store->rewind_cursor(process_id, since, actor, SystemClock::instance().now_ms());
        std::cout << process_id << ": cursor rewound to " << since << " (audited as " << actor
                  << "); the next run re-reads from there\n";
        return ok;
    }
    CursorState s = store->cursor(process_id);
    std::cout << process_id << ": cursor " << (s.cursor ? *s.cursor : std::string("(start)"));
    if (s.since) std::cout << ", since " << *s.since;
    std::cout << "\n";
    return ok;
}

}  // namespace plexus::cli
