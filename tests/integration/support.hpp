// Helpers shared by the integration tests and the plugins' process tests: temp directories,
// files, running the plexus binary; and, in namespace `harness`, the one serve/sandbox/process
// harness (children with captured output, SIGTERM/SIGKILL and wait, waiting for a log line or a
// condition, `plexus sandbox` on ephemeral ports, a hub's config and commands, run summaries
// and reconcile reports, a portal session).
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <functional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;  // the process environment, handed to spawned children

namespace plexus::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A fresh directory under the system temp dir, removed when the object dies.
inline void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every JSON object of a JSON Lines file.
inline std::vector<json> read_jsonl(const fs::path& p) {
    std::vector<json> out;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

struct CommandResult {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
    std::string r = "'";
    for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return r + "'";
}

// Runs `plexus <args>` and captures its output.
inline CommandResult run_plexus(const std::vector<std::string>& args, const std::string& env = {}) {
    std::string cmd = env + (env.empty() ? "" : " ") + shell_quote(PLEXUS_BINARY);
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>&1";
    CommandResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Starts `plexus <args>` as a child of this process (so waitpid works), stdout and stderr
// appended to `log`. Returns its pid, or -1.
// `binary`: another copy of plexus to run (the upgrade test).
inline pid_t spawn_plexus(const std::vector<std::string>& args, const std::string& log,
                          const std::string& binary = PLEXUS_BINARY) {
    std::vector<std::string> full{binary};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

// A files-connector connection whose entities are JSON Lines files in `dir`.
inline json files_connection(const std::string& dir, const json& entities) {
    return json{{"connector", "files"}, {"settings", {{"directory", dir}, {"entities", entities}}}};
}

inline json jsonl_entity(const std::string& file, const std::string& key = "id",
                         const std::string& cursor = "updated_at") {
    json e{{"path", file}, {"format", "jsonl"}, {"key", key}};
    if (!cursor.empty()) e["cursor"] = cursor;
    return e;
}

inline void write_jsonl(const fs::path& p, const std::vector<json>& records) {
    std::string text;
    for (const auto& r : records) text += r.dump() + "\n";
    write_file(p, text);
}

// The files→files hub most tests start from: connections "src" and "dst" (directories of that
// name in `dir`, created here) and one process "customers" from src/customers.jsonl (cursor
// updated_at) to dst/customers.jsonl, mapping id and credit as a number.
inline json files_customers_config(const fs::path& dir, const std::string& process_name = "Customers") {
    fs::create_directories(dir / "src");
    fs::create_directories(dir / "dst");
    return json{{"connections",
                 {{"src", files_connection((dir / "src").string(), {{"customers", jsonl_entity("customers.jsonl")}})},
                  {"dst", files_connection((dir / "dst").string(), {{"customers", jsonl_entity("customers.jsonl", "id", "")}})}}},
                {"processes",
                 json::array({{{"id", "customers"},
                               {"name", process_name},
                               {"source", {{"connection", "src"}, {"entity", "customers"}}},
                               {"target", {{"connection", "dst"}, {"entity", "customers"}}},
                               {"mapping", {{"id", "id"}, {"credit", "number(credit)"}}}}})}};
}

// The one harness of the serve-level tests. A namespace of its own, so that a test file's own
// helpers of the same names (eventually, wait_for, …) do not clash with it under
// `using namespace plexus::test`; a test takes it with `using namespace plexus::test::harness`.
namespace harness {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A child's wait status as a shell shows it: the exit code, or 128 + the signal.
inline int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Waits for the child `pid`; SIGKILLs (and reaps) it after `limit`. True when it ended by
// itself; its wait status in `*status`.
inline bool wait_exit(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
    const auto end = Clock::now() + limit;
    int st = 0;
    for (;;) {
        const pid_t done = waitpid(pid, &st, WNOHANG);
        if (done == pid || done < 0) {
            if (status) *status = st;
            return done == pid;
        }
        if (Clock::now() >= end) break;
        std::this_thread::sleep_for(20ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    if (status) *status = st;
    return false;
}

// SIGKILL, and reap.
inline void kill_now(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

// SIGTERM, then wait_exit: true when the child stopped by itself within `limit`.
inline bool terminate(pid_t pid, std::chrono::milliseconds limit = 15s, int* status = nullptr) {
    if (pid <= 0) return false;
    kill(pid, SIGTERM);
    return wait_exit(pid, limit, status);
}

// SIGTERM and wait; true when the child exited 0 by itself (a graceful stop).
inline bool stop_gracefully(pid_t pid, std::chrono::milliseconds limit = 15s) {
    int status = 0;
    return terminate(pid, limit, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Polls `f` every `every` until it holds or `limit` passed; its last answer.
template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit = 15s, std::chrono::milliseconds every = 100ms) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(every);
    }
    return f();
}

// Whether `file` comes to hold `text` within `limit`.
inline bool wait_for_text(const fs::path& file, const std::string& text, std::chrono::milliseconds limit) {
    return eventually([&] { return read_file(file).find(text) != std::string::npos; }, limit);
}

// Waits until `log` holds a match of every pattern (its first group a port number) and returns
// the ports in their order; 0 for one not seen in `limit`, all 0 when the child `pid` exited
// first (its exit code then in `*exit_code`).
inline std::vector<int> wait_for_ports(const fs::path& log, pid_t pid, const std::vector<std::regex>& patterns,
                                       std::chrono::milliseconds limit = 30s, int* exit_code = nullptr) {
    std::vector<int> ports(patterns.size(), 0);
    const auto end = Clock::now() + limit;
    for (;;) {
        const std::string text = read_file(log);
        bool all = true;
        for (size_t i = 0; i < patterns.size(); ++i) {
            std::smatch m;
            if (!ports[i] && std::regex_search(text, m, patterns[i])) ports[i] = std::stoi(m[1]);
            all = all && ports[i] > 0;
        }
        if (all || Clock::now() >= end) return ports;
        int status = 0;
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
            if (exit_code) *exit_code = exit_code_of(status);
            return std::vector<int>(patterns.size(), 0);
        }
        std::this_thread::sleep_for(20ms);
    }
}

// What a shell command printed (stdout and stderr).
inline std::string shell_output(const std::string& command) {
    std::string out;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
    pclose(pipe);
    return out;
}

// The counts of a `plexus run` summary (-1: not printed).
struct RunCounts {
    int read = -1, created = -1, updated = -1, unchanged = -1, failed = -1;
};

inline RunCounts summary_of(const std::string& out) {
    RunCounts c;
    static const std::regex line(R"(^\s+(read|created|updated|unchanged|failed)\s+(\d+)\s*$)");
    std::istringstream in(out);
    std::string l;
    while (std::getline(in, l)) {
        std::smatch m;
        if (!std::regex_match(l, m, line)) continue;
        const int v = std::stoi(m[2]);
        if (m[1] == "read") c.read = v;
        if (m[1] == "created") c.created = v;
        if (m[1] == "updated") c.updated = v;
        if (m[1] == "unchanged") c.unchanged = v;
        if (m[1] == "failed") c.failed = v;
    }
    return c;
}

// The JSON object a command printed after its log lines (`--format json`): null when none.
inline json json_of(const std::string& out) {
    const auto brace = out.find('{');
    if (brace == std::string::npos) return nullptr;
    json j = json::parse(out.substr(brace), nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
}

// An HTTP call with the patience every API client needs: a 429 waited out as Retry-After
// asks (1 s when it does not say), up to `retries` times.
inline httplib::Result patient(const std::function<httplib::Result()>& call, int retries = 60) {
    httplib::Result res = call();
    for (int retry = 0; res && res->status == 429 && retry < retries; ++retry) {
        const std::string after = res->get_header_value("Retry-After");
        std::this_thread::sleep_for(std::chrono::milliseconds(after.empty() ? 1000 : static_cast<int>(std::stod(after) * 1000)));
        res = call();
    }
    return res;
}

// `plexus sandbox --only NAME …` on ephemeral ports: a separate OS process, seen by the test
// only through HTTP. `ok()` says whether every port was read from its log.
class SandboxProcess {
public:
    explicit SandboxProcess(const std::vector<std::string>& names, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args{"sandbox"};
        std::vector<std::regex> patterns;
        for (const auto& n : names) {
            args.insert(args.end(), {"--only", n, "--port", n + "=0"});
            patterns.emplace_back(n + R"( sandbox: http://127\.0\.0\.1:(\d+))");
        }
        args.insert(args.end(), extra.begin(), extra.end());
        pid_ = spawn_plexus(args, log());
        if (pid_ <= 0) return;
        const auto ports = wait_for_ports(log(), pid_, patterns);
        for (size_t i = 0; i < names.size(); ++i) ports_[names[i]] = ports[i];
    }
    ~SandboxProcess() {
        if (pid_ > 0) terminate(pid_, 10s);
    }
    SandboxProcess(const SandboxProcess&) = delete;
    SandboxProcess& operator=(const SandboxProcess&) = delete;

    bool ok() const {
        if (pid_ <= 0 || ports_.empty()) return false;
        for (const auto& [n, p] : ports_)
            if (p <= 0) return false;
        return true;
    }
    int port(const std::string& name) const { return ports_.count(name) ? ports_.at(name) : 0; }
    std::string base_url(const std::string& name) const { return "http://127.0.0.1:" + std::to_string(port(name)); }
    std::string log() const { return dir_.str("sandbox.log"); }
    pid_t pid() const { return pid_; }

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::map<std::string, int> ports_;
};

// A hub's directory: its configuration (plexus.json) and data (var/), and the plexus commands
// run against them.
struct HubDir {
    TempDir dir;
    json config = json::object();

    void save() const { write_file(dir.path() / "plexus.json", config.dump(2)); }
    std::string data() const { return dir.str("var"); }
    std::vector<std::string> common() const {
        return {"--config", dir.str("plexus.json"), "--data", data(), "--plugin-dir", PLEXUS_PLUGIN_DIR};
    }
    // `command [process] --config … --data … --plugin-dir … [extra…]`
    std::vector<std::string> args(const std::string& command, const std::string& process = {},
                                  const std::vector<std::string>& extra = {}) const {
        std::vector<std::string> a{command};
        if (!process.empty()) a.push_back(process);
        for (auto& c : common()) a.push_back(c);
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    CommandResult plexus(const std::string& command, const std::string& process = {},
                         const std::vector<std::string>& extra = {}) const {
        return run_plexus(args(command, process, extra));
    }
    // A child `plexus command process`, its output appended to `log` in the hub's directory.
    pid_t spawn(const std::string& command, const std::string& process, const std::string& log = "runs.log") const {
        return spawn_plexus(args(command, process), dir.str(log));
    }
    // `plexus serve --listen 127.0.0.1:0` as a child, its output appended to `log`.
    pid_t serve(const std::string& log = "serve.log") const {
        return spawn_plexus(args("serve", {}, {"--listen", "127.0.0.1:0"}), dir.str(log));
    }
    // `plexus reconcile process --format json`: the exit code, the report (null when the
    // output held none) and the whole output.
    struct Reconciled {
        int exit_code = -1;
        json report;
        std::string out;
    };
    Reconciled reconcile(const std::string& process) const {
        auto r = plexus("reconcile", process, {"--format", "json"});
        return {r.exit_code, json_of(r.out), r.out};
    }
};

// A portal session: its cookie and CSRF token, and calls with them.
struct PortalSession {
    int port = 0;
    std::string cookie, csrf;

    httplib::Headers headers(bool with_csrf = true) const {
        httplib::Headers h;
        if (!cookie.empty()) h.emplace("Cookie", cookie);
        if (with_csrf && !csrf.empty()) h.emplace("X-CSRF-Token", csrf);
        return h;
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        return c;
    }
    httplib::Result call(const std::string& method, const std::string& path, const std::string& body = "{}",
                         bool with_csrf = true) const {
        auto c = client();
        const auto h = headers(with_csrf);
        if (method == "GET") return c.Get(path.c_str(), h);
        if (method == "POST") return c.Post(path.c_str(), h, body, "application/json");
        if (method == "PUT") return c.Put(path.c_str(), h, body, "application/json");
        if (method == "PATCH") return c.Patch(path.c_str(), h, body, "application/json");
        if (body.empty()) return c.Delete(path.c_str(), h);
        return c.Delete(path.c_str(), h, body, "application/json");
    }
};

// Logs `name` in at the portal on `port`; a session with an empty cookie when refused.
inline PortalSession portal_login(int port, const std::string& name, const std::string& password) {
    PortalSession s{port, {}, {}};
    auto r = s.client().Post("/api/login", json{{"name", name}, {"password", password}}.dump(), "application/json");
    if (!r || r->status != 200) return s;
    std::smatch m;
    const std::string set_cookie = r->get_header_value("Set-Cookie");
    if (!std::regex_search(set_cookie, m, std::regex("plexus_session=([0-9a-f]+)"))) return s;
    const json body = json::parse(r->body, nullptr, false);
    if (!body.is_object() || !body.contains("csrf_token")) return s;
    s.cookie = "plexus_session=" + std::string(m[1]);
    s.csrf = body["csrf_token"].get<std::string>();
    return s;
}

// A `plexus serve` child: start() waits for the portal's address line (and the hooks
// listener's, when asked); stop() SIGTERMs and waits; kill_now() SIGKILLs. Each start logs to
// a file of its own (serve-1.log, serve-2.log, …).
struct ServeProcess {
    pid_t pid = -1;
    int port = 0, hooks_port = 0, starts = 0;
    int exit_status = -1;  // the exit code when it ended (as exit_code_of)
    std::string log;
    std::vector<std::string> extra;  // more `plexus serve` arguments, e.g. {"--log-level", "debug"}

    ~ServeProcess() { stop(); }

    // False when the child exited before printing its address (exit_status says how).
    bool start(const HubDir& hub, bool with_hooks = false, const std::string& listen = "127.0.0.1:0",
               std::chrono::milliseconds limit = 30s) {
        log = hub.dir.str("serve-" + std::to_string(++starts) + ".log");
        std::vector<std::string> more{"--listen", listen};
        more.insert(more.end(), extra.begin(), extra.end());
        pid = spawn_plexus(hub.args("serve", {}, more), log);
        if (pid <= 0) return false;
        std::vector<std::regex> patterns{std::regex(R"(portal: http://127\.0\.0\.1:(\d+)/)")};
        if (with_hooks) patterns.emplace_back(R"(hooks: http://127\.0\.0\.1:(\d+)/hooks/)");
        int code = -1;
        const auto ports = wait_for_ports(log, pid, patterns, limit, &code);
        port = ports[0];
        hooks_port = with_hooks ? ports[1] : 0;
        if (port == 0 && code >= 0) {
            exit_status = code;
            pid = -1;
            return false;
        }
        return port > 0 && (!with_hooks || hooks_port > 0);
    }
    bool alive() {
        if (pid <= 0) return false;
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exit_status = exit_code_of(status);
            pid = -1;
            return false;
        }
        return true;
    }
    void kill_now() {
        harness::kill_now(pid);
        pid = -1;
        port = hooks_port = 0;
    }
    // SIGTERM and wait (SIGKILL after `limit`): true when it stopped by itself.
    bool stop(std::chrono::milliseconds limit = 15s) {
        if (pid <= 0) return false;
        int status = 0;
        const bool by_itself = terminate(pid, limit, &status);
        exit_status = exit_code_of(status);
        pid = -1;
        port = hooks_port = 0;
        return by_itself;
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        return c;
    }
};

// A hub served by `plexus serve` with portal users, and calls as one of them: the fixture of
// the portal's REST tests. Users are added before start() (password: password(name)); login()
// makes `session`; call() keeps every answer's body in `transcript`, to look for secrets in.
// What failed (a user not added, serve not started) is printed to stderr, which ctest shows.
struct PortalHub : HubDir {
    ServeProcess proc;
    PortalSession session;
    std::string transcript;

    static std::string password(const std::string& name) { return name + "-password-123"; }

    // Adds the portal user `name` with `role` to the hub's data.
    bool add_user(const std::string& name, const std::string& role) const {
        const auto r = run_plexus({"users", "add", name, "--role", role, "--data", data()},
                                  "PLEXUS_PASSWORD=" + password(name));
        if (r.exit_code != 0) std::fprintf(stderr, "plexus users add %s failed:\n%s\n", name.c_str(), r.out.c_str());
        return r.exit_code == 0;
    }
    // Saves `cfg` as the hub's configuration and adds `users` ({name, role}).
    bool prepare(const json& cfg, const std::vector<std::pair<std::string, std::string>>& users) {
        config = cfg;
        save();
        for (const auto& [name, role] : users)
            if (!add_user(name, role)) return false;
        return true;
    }
    // `plexus serve` with `extra` arguments; false (its log on stderr) when it did not start.
    bool start(const std::vector<std::string>& extra = {}) {
        proc.extra = extra;
        const bool up = proc.start(*this);
        if (!up) std::fprintf(stderr, "plexus serve did not start:\n%s\n", read_file(proc.log).c_str());
        return up;
    }
    void stop() { proc.stop(); }
    bool login(const std::string& name) {
        session = portal_login(proc.port, name, password(name));
        if (session.cookie.empty()) std::fprintf(stderr, "portal login of %s refused\n", name.c_str());
        return !session.cookie.empty();
    }
    // {status, body as JSON}: null for an empty body, the text as a JSON string when it is not
    // JSON; status 0 when there was no answer.
    std::pair<int, json> call(const std::string& method, const std::string& path, const json& body = json::object()) {
        session.port = proc.port;
        const httplib::Result r = session.call(method, path, method == "DELETE" ? std::string() : body.dump());
        if (!r) return {0, nullptr};
        transcript += r->body + "\n";
        if (r->body.empty()) return {r->status, nullptr};
        json j = json::parse(r->body, nullptr, false);
        return {r->status, j.is_discarded() ? json(r->body) : std::move(j)};
    }
    // Runs process `id` now (POST …/run) and returns its finished run; null when it was not
    // started or did not finish within `limit`.
    json run_process(const std::string& id, std::chrono::milliseconds limit = 20s) {
        const std::string path = "/api/processes/" + id;
        const json view = call("GET", path).second;
        const json before = view.is_object() && view.contains("last_run") ? view["last_run"] : json();
        const auto [status, body] = call("POST", path + "/run");
        if (status != 202) {
            std::fprintf(stderr, "POST %s/run: %d %s\n", path.c_str(), status, body.dump().c_str());
            return nullptr;
        }
        json last;
        eventually(
            [&] {
                const json v = call("GET", path).second;
                if (!v.is_object() || !v["running"].is_null() || !v["last_run"].is_object()) return false;
                if (before.is_object() && v["last_run"]["id"] == before["id"]) return false;
                last = v["last_run"];
                return true;
            },
            limit, 25ms);
        return last;
    }
    // Every serve log of this hub, in the order of the starts.
    std::string logs() const {
        std::string all;
        for (int i = 1; i <= proc.starts; ++i) all += read_file(dir.str("serve-" + std::to_string(i) + ".log"));
        return all;
    }
    // The database's bytes (with its write-ahead log), to look for secrets in.
    std::string database_bytes() const {
        std::string all;
        for (const char* f : {"plexus.db", "plexus.db-wal"})
            if (fs::exists(fs::path(data()) / f)) all += read_file(fs::path(data()) / f);
        return all;
    }
};

}  // namespace harness

}  // namespace plexus::test
