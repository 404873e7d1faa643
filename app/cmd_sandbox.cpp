#include "app/cli.hpp"
#include "sandbox_table.hpp"

#include "common/logging.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

namespace plexus::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_sandbox(int) { g_stop.store(true); }

// Fixed default ports, so configurations (config/demo.json, samples) can name them.
const std::map<std::string, int> kDefaultPorts{{"shopify", 8081}, {"intacct", 8082},
                                               {"eguma", 8083},   {"opera", 8084},
                                               {"poweroffice_go", 8085}, {"gomag", 8086}};

}  // namespace

// plexus sandbox [--only ID]... [--port ID=PORT]... [--seed N] [--size demo|small] [--faults JSON]
int cmd_sandbox(const std::vector<std::string>& args) {
    Common c;
    std::vector<std::string> only, ports;
    uint32_t seed = 1;
    std::string faults, size_name = "demo";
    po::options_description opts("options");
    add_common(opts, c, false, false, false);
    opts.add_options()("only", po::value(&only)->composing(), "serve only this system (repeatable)")(
        "port", po::value(&ports)->composing(), "ID=PORT: listen port of a system (repeatable)")(
        "seed", po::value(&seed)->default_value(1), "seed of the generated data")(
        "size", po::value(&size_name)->default_value("demo"),
        "how much data: demo (volumes that cross pages) or small (a few records of each "
        "kind: a first sync in about a minute)")(
        "faults", po::value(&faults),
        "fault knobs for every system, JSON: {\"error_rate\":0.1,\"drop_rate\":0,"
        "\"malformed_rate\":0,\"latency_ms\":0,\"burst_429_every\":0,\"burst_429_length\":0}");
    po::variables_map vm;
    if (!parse("sandbox", "[--only ID]... [--port ID=PORT]... [--seed N] [--size demo|small] [--faults JSON]",
               opts, {}, args, vm))
        return ok;
    sandbox::SeedSize size = sandbox::SeedSize::demo;
    if (size_name == "small") size = sandbox::SeedSize::small;
    else if (size_name != "demo")
        throw po::error("--size " + size_name + ": the sizes are demo and small");

    raise_open_file_limit();
    std::map<std::string, int> port_of = kDefaultPorts;
    for (const auto& p : ports) {
        auto eq = p.find('=');
        if (eq == std::string::npos) throw po::error("--port wants ID=PORT, not \"" + p + "\"");
        try {
            port_of[p.substr(0, eq)] = std::stoi(p.substr(eq + 1));
        } catch (...) {
            throw po::error("--port " + p + ": the port is not a number");
        }
    }
    sandbox::Faults knobs;
    if (!faults.empty()) {
        auto j = nlohmann::json::parse(faults, nullptr, false);
        if (!j.is_object()) throw po::error("--faults is not a JSON object");
        knobs = sandbox::Faults::from_json(j);
    }
    const auto& table = sandbox::sandbox_factories();
    for (const auto& id : only) {
        bool known = false;
        for (const auto& f : table) known = known || f.id == id;
        if (!known) throw po::error("--only " + id + ": no such sandbox in this build");
    }
    std::vector<std::unique_ptr<sandbox::SandboxServer>> servers;
    int next_free = 8090;
    for (const auto& f : table) {
        if (!only.empty() && std::find(only.begin(), only.end(), f.id) == only.end()) continue;
        int port = port_of.count(f.id) ? port_of[f.id] : next_free++;
        auto server = std::make_unique<sandbox::SandboxServer>(f.make(seed, size), port);
        server->sandbox().faults().set(knobs);
        std::cout << f.id << " sandbox: " << server->base_url() << "\n";
        servers.push_back(std::move(server));
    }
    if (servers.empty()) {
        std::cout << "no sandboxes in this build\n";
        return ok;
    }
    std::cout << "faults: " << knobs.to_json().dump() << " (change: POST /_sandbox/faults)\n"
              << "Ctrl-C stops.\n"
              << std::flush;
    std::signal(SIGINT, on_stop_sandbox);
    std::signal(SIGTERM, on_stop_sandbox);
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // The sandboxes hold nothing but memory, so there is nothing to save. Destroying the
    // servers would wait for every kept-alive client connection to end: cpp-httplib 0.11's
    // keep-alive loop does not look at stop(), so each server could hold the exit up to its
    // 5 s keep-alive timeout. Stop at once instead.
    std::cout << "stopped\n" << std::flush;
    std::cerr << std::flush;
    std::_Exit(ok);
}

}  // namespace plexus::cli
