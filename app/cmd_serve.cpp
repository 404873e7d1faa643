#include "app/cli.hpp"

#include "common/logging.hpp"
#include "common/time_text.hpp"
#include "engine/hub.hpp"
#include "notify/notifier.hpp"
#include "service/operations.hpp"
#include "web/hook_listener.hpp"
#include "web/portal.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

namespace plexus::cli {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop(int) { g_stop.store(true); }

// "127.0.0.1:8080", ":8080", "8080" → host, port.
bool parse_listen(const std::string& text, std::string& host, int& port) {
    std::string h = "127.0.0.1", p = text;
    const size_t colon = text.rfind(':');
    if (colon != std::string::npos) {
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
        if (h.empty()) h = "127.0.0.1";
        if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    }
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
        return false;
    port = std::stoi(p);
    if (port > 65535) return false;
    host = h;
    return true;
}
}  // namespace

// plexus serve — the long-running host: loads connectors and configuration, opens (and
// migrates) the store, runs every process on its schedule (docs/scheduling.md) and serves
// the portal (docs/api.md) until SIGINT/SIGTERM; then stops gracefully: no new runs, running
// ones finish their page.
int cmd_serve(const std::vector<std::string>& args) {
    Common c;
    std::string listen = "127.0.0.1:8080";
    bool secure_cookie = false;
    std::string secret_key_file;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()("listen,l", po::value(&listen)->default_value(listen),
                       "portal address HOST:PORT (port 0: any free port)")(
        "secure-cookie", po::bool_switch(&secure_cookie),
        "mark the session cookie Secure (when a TLS proxy fronts the portal)")(
        "secret-key-file", po::value(&secret_key_file),
        "the key sealing the secrets of connections created in the portal (default: "
        "DATA/secret.key, created on first start; PLEXUS_SECRET_KEY wins)");
    po::variables_map vm;
    if (!parse("serve", "[--config FILE] [--data DIR] [--listen HOST:PORT]", opts, {}, args, vm))
        return ok;
    if (!vm.count("log-level") || vm["log-level"].defaulted()) configure_logging("info");
    raise_open_file_limit();
    web::PortalOptions portal_options;
    if (!parse_listen(listen, portal_options.host, portal_options.port))
        throw po::error("--listen \"" + listen + "\" is not HOST:PORT (e.g. 127.0.0.1:8080)");
    portal_options.data_dir = c.data_dir;
    portal_options.secure_cookie = secure_cookie;

    PluginRegistry registry;
    load_plugins(registry, c);
    // One hub per data directory: a second serve would run every schedule twice.
    require_writable_data_dir(c);
    DataDirLock data_lock(c.data_dir);
    auto store = open_store(c, StoreUse::write_checked);
    // Connections created in the portal join the file's (docs/configuration.md,
    // "Connections created in the portal"): their secrets open with the hub's key.
    std::shared_ptr<const SecretKey> secret_key;
    try {
        secret_key = load_hub_key(c, secret_key_file, true);
    } catch (const SecretError& e) {
        log_error(e.what());
        return run_failed;
    }
    portal_options.secret_key = secret_key;
    Config config;
    if (!load_valid_config_with_store(c, registry, *store, secret_key.get(), config))
        return run_failed;
    Hub hub(std::move(config), registry, *store, SystemClock::instance());
    Operations ops(hub);
    // Notifications of failed runs (core/notify): links point at the portal's address.
    const std::string portal_host =
        portal_options.host == "0.0.0.0" || portal_options.host == "::" ? "127.0.0.1" : portal_options.host;
    notify::Notifier notifier(ops, secret_key, "");
    if (hub.config().notifications.present()) {
        // Channels written in the file (validated with it above): read-only in the portal.
        std::vector<ConfigError> ignored;
        notifier.set_file_channels(resolve_notifications(hub.config().notifications, system_environment(),
                                                         hub.config().file, ignored),
                                   hub.config().file);
    }
    portal_options.notifier = &notifier;
    web::Portal portal(ops, portal_options);
    std::string error;
    if (!portal.bind(error)) {
        log_error("portal: " + error);
        return run_failed;
    }
    // The webhook listener (docs/design/007-webhook-inbox.md): only when the configuration
    // asks for it, on an address of its own.
    std::unique_ptr<web::HookListener> hooks;
    const HooksConfig& hooks_config = hub.config().hooks;
    if (!hooks_config.listen.empty()) {
        web::HookListenerOptions o;
        if (!parse_listen(hooks_config.listen, o.host, o.port)) {
            log_error(c.config_file + ": /hooks/listen: \"" + hooks_config.listen +
                      "\" is not HOST:PORT (e.g. 127.0.0.1:8090)");
            return run_failed;
        }
        o.max_body = static_cast<size_t>(hooks_config.max_body_bytes);
        hooks = std::make_unique<web::HookListener>(ops.inbox(), o);
        if (!hooks->bind(error)) {
            log_error("webhook listener: " + error);
            return run_failed;
        }
        for (const auto& line : ops.inbox().describe()) log_info(line);
        std::cout << "hooks: http://" << o.host << ":" << hooks->port() << "/hooks/" << std::endl;
        log_info("webhook listener on http://" + o.host + ":" + std::to_string(hooks->port()) +
                 "/hooks/{connection}");
    }

    size_t scheduled = 0;
    for (const auto& s : ops.scheduler().statuses()) {
        if (s.schedule != "manual") ++scheduled;
        if (auto next = ops.scheduler().next_run(s.id))
            log_info("process " + s.id + " (" + s.schedule + "): next run at " + iso_utc(*next));
    }
    log_info("serving " + std::to_string(hub.config().processes.size()) + " process(es) from " +
             c.config_file + " (" + std::to_string(scheduled) + " scheduled) with " +
             std::to_string(registry.connectors().size()) + " connector(s); database schema " +
             std::to_string(store->schema_version()));
    if (store->users().empty())
        log_warn("no portal users yet: add one with `plexus users add NAME --role admin --data " +
                 c.data_dir + "`");
    // The address line is what scripts (make demo, tests) wait for: keep its shape.
    std::cout << "portal: http://" << portal_options.host << ":" << portal.port() << "/"
              << std::endl;
    log_info("portal listening on http://" + portal_options.host + ":" +
             std::to_string(portal.port()) + "/");

    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    ops.start();
    notifier.set_default_portal_url("http://" + portal_host + ":" + std::to_string(portal.port()) + "/");
    notifier.start();
    // A first sync at start, in dependency order (config "serve": {"run_at_start": …}).
    if (const std::string& mode = hub.config().serve.run_at_start; mode != "none") {
        std::vector<std::string> order;
        const OpResult r = ops.run_all("start", mode == "new", "", &order);
        if (r.status != OpStatus::ok)
            log_warn("run at start: " + r.message);
        else if (order.empty())
            log_info("run at start (" + mode + "): " + r.message);
    }
    std::thread http([&portal] { portal.serve(); });
    std::thread hooks_http;
    if (hooks) hooks_http = std::thread([&hooks] { hooks->serve(); });
    // Consumed webhook events past their retention are pruned at start and hourly.
    auto prune = [&ops] {
        try {
            if (int64_t n = ops.inbox().prune(); n > 0)
                log_info("webhook inbox: pruned " + std::to_string(n) + " consumed event(s)");
        } catch (const std::exception& e) {
            log_warn(std::string("webhook inbox: pruning failed: ") + e.what());
        }
    };
    prune();
    auto next_prune = std::chrono::steady_clock::now() + std::chrono::hours(1);
    while (!g_stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (std::chrono::steady_clock::now() >= next_prune) {
            prune();
            next_prune = std::chrono::steady_clock::now() + std::chrono::hours(1);
        }
    }
    log_info("stopping: no new runs; waiting for running ones to finish their page");
    if (hooks) {
        hooks->stop();
        hooks_http.join();
    }
    portal.stop();
    http.join();
    ops.stop();
    notifier.stop();  // what runs ended since its last look is judged at the next start
    log_info("stopped");
    return ok;
}

}  // namespace plexus::cli
