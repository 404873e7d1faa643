// A `plexus serve` child for the portal tests of session 6 (test_portal_progress.cpp,
// test_portal_lookup.cpp): a temp directory with plexus.json, an admin "ada" and a support
// user "sam", the portal on an ephemeral port, and calls with the session's cookie and CSRF
// token. Only support.hpp underneath.
#pragma once

#include "support.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <thread>

namespace plexus::test {

class Serve {
public:
    TempDir dir;
    pid_t pid = -1;
    int port = 0;
    std::string log;
    std::string transcript;  // every response body, to look for secrets in

    explicit Serve(const json& config) {
        write_file(dir.path() / "plexus.json", config.dump(2));
        for (auto [name, role] : {std::pair{"ada", "admin"}, std::pair{"sam", "support"}}) {
            auto r = run_plexus({"users", "add", name, "--role", role, "--data", dir.str("var")},
                                std::string("PLEXUS_PASSWORD=") + name + "-password-123");
            REQUIRE(r.exit_code == 0);
        }
    }
    ~Serve() { stop(); }

    std::vector<std::string> common() const {
        return {"--config", dir.str("plexus.json"), "--data", dir.str("var"), "--plugin-dir",
                PLEXUS_PLUGIN_DIR};
    }
    void start(const std::vector<std::string>& extra = {}) {
        log = dir.str("serve.log");
        auto args = common();
        args.insert(args.begin(), "serve");
        args.insert(args.end(), {"--listen", "127.0.0.1:0"});
        args.insert(args.end(), extra.begin(), extra.end());
        pid = spawn_plexus(args, log);
        REQUIRE(pid > 0);
        std::regex address(R"(portal: http://127\.0\.0\.1:(\d+)/)");
        for (int i = 0; i < 300 && port == 0; ++i) {
            std::smatch m;
            std::string text = read_file(log);
            if (std::regex_search(text, m, address)) port = std::stoi(m[1]);
            else std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        INFO(read_file(log));
        REQUIRE(port > 0);
    }
    void stop() {
        if (pid <= 0) return;
        kill(pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        pid = -1;
        port = 0;
    }

    std::string cookie, csrf;
    void login(const std::string& name) {
        httplib::Client c("127.0.0.1", port);
        auto r = c.Post("/api/login",
                        json{{"name", name}, {"password", name + "-password-123"}}.dump(),
                        "application/json");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        std::smatch m;
        std::string set_cookie = r->get_header_value("Set-Cookie");
        REQUIRE(std::regex_search(set_cookie, m, std::regex("plexus_session=([0-9a-f]+)")));
        cookie = "plexus_session=" + std::string(m[1]);
        csrf = json::parse(r->body)["csrf_token"];
    }
    // {status, body as JSON (null when empty)}
    std::pair<int, json> call(const std::string& method, const std::string& path,
                              const json& body = json::object()) {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        httplib::Headers h{{"Cookie", cookie}, {"X-CSRF-Token", csrf}};
        httplib::Result r = method == "GET"    ? c.Get(path.c_str(), h)
                            : method == "POST" ? c.Post(path.c_str(), h, body.dump(), "application/json")
                            : method == "PUT"  ? c.Put(path.c_str(), h, body.dump(), "application/json")
                                               : c.Delete(path.c_str(), h);
        REQUIRE(r);
        transcript += r->body + "\n";
        return {r->status, r->body.empty() ? json() : json::parse(r->body, nullptr, false)};
    }
};

}  // namespace plexus::test
