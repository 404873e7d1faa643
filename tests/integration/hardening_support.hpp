// What the hardening tests share: a `plexus serve` child on a port of its own, and raw
// sockets for requests no well-behaved client sends (issue 10).
#pragma once

#include "support.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <thread>

namespace plexus::test {

using namespace std::chrono_literals;

inline const char* k_hardening_secret = "shpat_HARDENING_SECRET_0815";

// A data directory, a configuration (files src → dst, one process "customers", and a
// Shopify connection that only carries a secret) and optionally a running `plexus serve`.
struct ServedHub {
    TempDir dir;
    json config;
    pid_t pid = -1;
    int port = 0;
    std::string log;
    int starts = 0;
    std::string binary = PLEXUS_BINARY;  // the plexus that start() runs

    explicit ServedHub(const std::string& schedule_interval = "",
                 const std::vector<json>& extra_records = {}) {
        config = files_customers_config(dir.path(), "Customers src→dst");
        if (!schedule_interval.empty()) config["processes"][0]["schedule"] = {{"interval", schedule_interval}};
        config["connections"]["shop"] = {{"connector", "shopify"},
                                         {"settings",
                                          {{"store_domain", "example.myshopify.com"},
                                           {"access_token", "${HARDENING_TEST_TOKEN}"},
                                           {"base_url", "http://127.0.0.1:9"}}}};
        std::vector<json> records;
        for (int i = 0; i < 6; ++i)
            records.push_back({{"id", "C" + std::to_string(i)},
                               {"credit", i == 4 ? "n/a" : std::to_string(i) + ".5"},
                               {"updated_at", "2024-05-01T10:00:0" + std::to_string(i) + "Z"}});
        for (const auto& r : extra_records) records.push_back(r);
        write_jsonl(dir.path() / "src" / "customers.jsonl", records);
        write_file(dir.path() / "plexus.json", config.dump(2));
        setenv("HARDENING_TEST_TOKEN", k_hardening_secret, 1);
    }
    ~ServedHub() { stop(); }

    std::string data() const { return dir.str("var"); }
    std::vector<std::string> common() const {
        return {"--config", dir.str("plexus.json"), "--data", data(), "--plugin-dir",
                PLEXUS_PLUGIN_DIR};
    }
    void add_user(const std::string& name, const std::string& role) {
        auto r = run_plexus({"users", "add", name, "--role", role, "--data", data()},
                            "PLEXUS_PASSWORD=" + shell_quote(password(name)));
        INFO(r.out);
        REQUIRE(r.exit_code == 0);
    }
    static std::string password(const std::string& name) { return name + "-password-123"; }

    // Starts `plexus serve`; waits for the portal's address line (or the child's exit).
    // Returns false when the child exited first.
    bool start(const std::string& listen = "127.0.0.1:0") {
        log = dir.str("serve-" + std::to_string(++starts) + ".log");
        std::vector<std::string> args{"serve"};
        auto c = common();
        args.insert(args.end(), c.begin(), c.end());
        args.insert(args.end(), {"--listen", listen});
        pid = spawn_plexus(args, log, binary);
        REQUIRE(pid > 0);
        int code = -1;
        port = harness::wait_for_ports(log, pid, {std::regex(R"(portal: http://127\.0\.0\.1:(\d+)/)")}, 20s, &code)[0];
        if (port == 0 && code >= 0) {
            exit_status = code;
            pid = -1;
            return false;
        }
        INFO(read_file(log));
        REQUIRE(port > 0);
        return true;
    }
    // Whether the child still runs (reaping it, with its status, when it ended).
    bool alive() {
        if (pid <= 0) return false;
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exit_status = harness::exit_code_of(status);
            pid = -1;
            return false;
        }
        return true;
    }
    void stop() {
        if (pid <= 0) return;
        harness::terminate(pid, 15s);
        pid = -1;
        port = 0;
    }
    int exit_status = -1;

    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        return c;
    }
};

// A logged-in portal user.
struct PortalLogin {
    const ServedHub& hub;
    std::string cookie, csrf;
    httplib::Headers headers() const {
        return {{"Cookie", cookie}, {"X-CSRF-Token", csrf}};
    }
};

inline PortalLogin log_in(const ServedHub& hub, const std::string& name) {
    const harness::PortalSession s = harness::portal_login(hub.port, name, ServedHub::password(name));
    REQUIRE(!s.cookie.empty());
    return PortalLogin{hub, s.cookie, s.csrf};
}

// --- raw sockets ----------------------------------------------------------------------------

inline int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

inline bool send_text(int fd, const std::string& text) {
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

// What the server sent until it closed the connection, or until `timeout_ms` passed.
inline std::string receive_until_close(int fd, int timeout_ms) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[8192];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

inline int status_of(const std::string& response) {
    std::smatch m;
    if (std::regex_search(response, m, std::regex(R"(^HTTP/1\.1 (\d{3}) )"))) return std::stoi(m[1]);
    return -1;
}

// Lets this process hold `n` descriptors.
inline void allow_open_files(rlim_t n) {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < n) {
        r.rlim_cur = std::min<rlim_t>(n, r.rlim_max);
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

}  // namespace plexus::test
