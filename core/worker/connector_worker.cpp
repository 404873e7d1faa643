#include "worker/connector_worker.hpp"

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "http/rate_governor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

extern char** environ;

namespace plexus {
namespace {

using worker::Frame;
using worker::FrameHeader;

std::atomic<bool> g_worker_capable{false};

int64_t steady_now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string seconds_text(int64_t ms) {
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

// A descriptor at or above 4, so that the child's dup2 onto 0–3 never meets itself.
int move_high(int fd) {
    if (fd >= 4) return fd;
    int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    return high;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

void mark_worker_capable() { g_worker_capable.store(true); }

namespace {
constexpr const char* k_self_exe = "/proc/self/exe";
}  // namespace

std::string worker_executable() {
    if (const char* env = std::getenv("PLEXUS_WORKER_EXE"); env && *env) return env;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    // This very image, also once its file was replaced or removed on disk (an upgrade while
    // serve runs: read_symlink then says ".../plexus (deleted)"): the kernel's link reaches the
    // running binary, so the workers speak the host's own protocol version.
    if (g_worker_capable.load()) return k_self_exe;
    auto sibling = self.parent_path() / "plexus";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
    return {};
}

namespace {

// Starts `exe args…` as a worker: stdin from /dev/null; stdout and stderr to `out_fd` (or
// /dev/null when -1); `sock_fd`, when given, as worker::kWorkerFd; no other descriptor of the
// host (the database, the portal's listening socket) reaches it; signals unblocked, SIGTERM
// and SIGCHLD at their defaults. Returns posix_spawn's result (0: `pid` is set).
int spawn_worker(const std::string& exe, std::vector<std::string> args, int out_fd, int sock_fd,
                 pid_t& pid) {
    std::string name = exe;  // argv[0]: what ps shows
    if (exe == k_self_exe) {
        std::error_code ec;
        const auto self = std::filesystem::read_symlink(k_self_exe, ec);
        name = ec ? "plexus" : self.string();
        const std::string deleted = " (deleted)";
        if (name.size() > deleted.size() &&
            name.compare(name.size() - deleted.size(), deleted.size(), deleted) == 0)
            name.resize(name.size() - deleted.size());
    }
    args.insert(args.begin(), name);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    if (sock_fd >= 0) posix_spawn_file_actions_adddup2(&fa, sock_fd, worker::kWorkerFd);
    posix_spawn_file_actions_addclosefrom_np(&fa, sock_fd >= 0 ? worker::kWorkerFd + 1 : 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

}  // namespace

std::optional<std::string> probe_library(const std::string& path) {
    const std::string exe = worker_executable();
    if (exe.empty()) return std::nullopt;
    pid_t pid = 0;
    const int rc = spawn_worker(exe, {"worker", "--probe", path}, -1, -1, pid);
    if (rc != 0) return std::nullopt;  // no worker to probe with: the loader decides alone
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return std::string("loading it did not finish within 10 s (tried in a worker process, killed)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (WIFSIGNALED(status))
        return "it crashed while loading (signal " + std::to_string(WTERMSIG(status)) + ", " +
               strsignal(WTERMSIG(status)) + "; tried in a worker process, the host is unharmed)";
    // The probe exits 0 whatever the loader decided; anything else is a crash that a handler
    // turned into an exit (a sanitizer build's, say).
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return "it crashed while loading (the worker process trying it exited with status " +
               std::to_string(WEXITSTATUS(status)) + "; the host is unharmed)";
    return std::nullopt;
}

ConnectorWorker::ConnectorWorker(const LoadedConnector& connector, const IsolationOptions& options,
                                 HostServices& services)
    : connector_(connector.id), connection_(services.tags.connection), options_(options), services_(services) {
    std::string exe = options.executable.empty() ? worker_executable() : options.executable;
    if (exe.empty())
        throw std::runtime_error(
            "no worker executable to run the connector in (the plexus binary; set PLEXUS_WORKER_EXE, "
            "or \"isolation\": \"none\" on the connection)");
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw std::runtime_error(std::string("cannot create the worker's socket: ") + std::strerror(errno));
    int ep[2];
    if (::pipe2(ep, O_CLOEXEC) != 0) {
        ::close(sv[0]);
        ::close(sv[1]);
        throw std::runtime_error(std::string("cannot create the worker's stderr pipe: ") + std::strerror(errno));
    }
    sock_ = move_high(sv[0]);
    int child_sock = move_high(sv[1]);
    err_ = move_high(ep[0]);
    int child_err = move_high(ep[1]);
    // Pages of a few hundred KiB pass in fewer hand-offs between the processes with larger
    // buffers. SO_SNDBUF is capped by net.core.wmem_max (208 KiB by default); a host allowed
    // to (CAP_NET_ADMIN) forces 4 MiB, others keep what they get.
    int buf = 4 << 20;
    for (int fd : {sock_, child_sock}) {
        if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
            ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }

    pid_t pid = -1;
    const int rc = spawn_worker(exe,
                                {"worker", "--lib", connector.path, "--connector", connector.id,
                                 "--memory-limit-mb", std::to_string(options.memory_limit_mb)},
                                child_err, child_sock, pid);
    ::close(child_sock);
    ::close(child_err);
    if (rc != 0) {
        ::close(sock_);
        ::close(err_);
        sock_ = err_ = -1;
        throw std::runtime_error("cannot start the worker " + exe + ": " + std::strerror(rc));
    }
    pid_ = pid;
    traffic_.started_ms = steady_now_ms();
    set_nonblocking(sock_);
    set_nonblocking(err_);

    try {
        CallResult hello;
        // Starting is exec + dlopen, not connector code: a slow machine (or a sanitizer
        // build) must not fail it under a short call_timeout_s.
        switch (await(Frame::hello, "loading the library", hello,
                      std::max<int64_t>(options_.call_timeout_ms, kStartTimeoutMs))) {
            case Wait::result: break;
            case Wait::cancelled: throw std::runtime_error("cancelled while the worker was starting");
            case Wait::lost: throw ConnectorWorkerLost(lost_message_);
        }
        if (hello.status != PLEXUS_OK)
            throw std::runtime_error("the worker refused " + connector.path + ": " + hello.text);
    } catch (...) {
        // No destructor runs for a constructor that throws: release everything here.
        if (pid_ > 0) kill_and_reap();
        drain_stderr(true);
        ::close(sock_);
        ::close(err_);
        throw;
    }
}

ConnectorWorker::~ConnectorWorker() {
    log_line(LogLevel::debug, services_.tags,
             "worker " + std::to_string(pid_) + ": " + std::to_string(traffic_.calls) + " calls, " +
                 std::to_string(traffic_.http) + " HTTP requests and " + std::to_string(traffic_.logs) +
                 " log lines forwarded, " + std::to_string(traffic_.bytes_out / 1024) + " KiB sent, " +
                 std::to_string(traffic_.bytes_in / 1024) + " KiB received, alive " +
                 std::to_string(steady_now_ms() - traffic_.started_ms) + " ms");
    if (pid_ > 0) {
        // Destroy the instance politely within a short bound, then make sure the child is gone.
        options_.call_timeout_ms = std::min<int64_t>(options_.call_timeout_ms, 5000);
        CallResult r;
        if (send(Frame::destroy, 0, {}, steady_now_ms() + options_.call_timeout_ms) &&
            await(Frame::result, "destroy", r) == Wait::result) {
            std::string how = reap_after_eof();
            (void)how;
        }
    }
    if (pid_ > 0) kill_and_reap();
    drain_stderr(true);
    if (sock_ >= 0) ::close(sock_);
    if (err_ >= 0) ::close(err_);
}

CallResult ConnectorWorker::create(std::string_view settings_json) {
    if (!lost_message_.empty()) throw ConnectorWorkerLost(lost_message_);
    uint8_t flags = 0;
    if (!services_.clock || dynamic_cast<SystemClock*>(services_.clock)) flags |= worker::kFlagSystemClock;
    if (services_.cancel && services_.cancel->load()) {
        flags |= worker::kFlagCancelled;
        cancel_sent_ = true;
    }
    CallResult r;
    if (!send(Frame::create, flags, settings_json, steady_now_ms() + options_.call_timeout_ms))
        lost("create", "stopped reading its requests");
    switch (await(Frame::result, "create", r)) {
        case Wait::result: return r;
        case Wait::cancelled: return r;
        case Wait::lost: throw ConnectorWorkerLost(lost_message_);
    }
    return r;
}

CallResult ConnectorWorker::call(worker::Op op, std::string_view request) {
    const char* what = worker::op_name(op);
    if (!lost_message_.empty())
        throw ConnectorWorkerLost(lost_message_);
    CallResult r;
    ++traffic_.calls;
    if (!send(Frame::call, static_cast<uint8_t>(op), request, steady_now_ms() + options_.call_timeout_ms))
        lost(what, "stopped reading its requests");
    switch (await(Frame::result, what, r)) {
        case Wait::result:
        case Wait::cancelled: return r;
        case Wait::lost: throw ConnectorWorkerLost(lost_message_);
    }
    return r;
}

bool ConnectorWorker::send(Frame type, uint8_t arg, std::string_view payload, int64_t deadline_ms) {
    if (sock_ < 0) return false;
    FrameHeader h;
    h.size = static_cast<uint32_t>(payload.size());
    h.type = static_cast<uint8_t>(type);
    h.arg = arg;
    traffic_.bytes_out += static_cast<int64_t>(sizeof h + payload.size());
    const char* parts[2] = {reinterpret_cast<const char*>(&h), payload.data()};
    size_t sizes[2] = {sizeof h, payload.size()};
    for (int i = 0; i < 2; ++i) {
        const char* p = parts[i];
        size_t left = sizes[i];
        while (left > 0) {
            ssize_t n = ::send(sock_, p, left, MSG_NOSIGNAL);
            if (n > 0) {
                p += n;
                left -= static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                int64_t wait = deadline_ms - steady_now_ms();
                if (wait <= 0) return false;
                pollfd pfd[2] = {{sock_, POLLOUT, 0}, {err_, POLLIN, 0}};
                ::poll(pfd, 2, static_cast<int>(std::min<int64_t>(wait, 100)));
                if (pfd[1].revents & POLLIN) drain_stderr(false);
                continue;
            }
            return false;  // EPIPE, ECONNRESET: the worker is gone
        }
    }
    return true;
}

ConnectorWorker::Wait ConnectorWorker::await(Frame want, const char* what, CallResult& out, int64_t budget_ms) {
    int64_t budget = budget_ms > 0 ? budget_ms : options_.call_timeout_ms;  // worker time left for this call
    const int64_t budget_total = budget;
    int64_t cancel_started = 0;
    FrameHeader h;
    size_t header_have = 0;
    std::string payload;
    size_t payload_have = 0;
    bool in_payload = false;
    for (;;) {
        if (services_.cancel && services_.cancel->load() && cancel_started == 0) {
            cancel_started = steady_now_ms();
            if (!cancel_sent_) {
                cancel_sent_ = true;
                send(Frame::cancel, 0, {}, cancel_started + 100);
            }
        }
        if (cancel_started && steady_now_ms() - cancel_started > kCancelGraceMs) {
            std::string how = kill_and_reap();
            out.status = PLEXUS_ERR_CANCELLED;
            out.text = "connector \"" + connector_ + "\" (connection \"" + connection_ + "\"): " + what +
                       " did not stop within " + seconds_text(kCancelGraceMs) +
                       " of the cancellation; its worker was killed (" + how + ")";
            lost_message_ = out.text;
            return Wait::cancelled;
        }
        if (budget <= 0) {
            std::string how = kill_and_reap();
            lost_message_ = "connector \"" + connector_ + "\" (connection \"" + connection_ + "\"): " + what +
                            " exceeded its deadline of " + seconds_text(budget_total) +
                            " (call_timeout_s); its worker was killed (" + how + ")";
            log_line(LogLevel::error, services_.tags, lost_message_);
            return Wait::lost;
        }
        pollfd pfd[2] = {{sock_, POLLIN, 0}, {err_, POLLIN, 0}};
        int slice = static_cast<int>(std::min<int64_t>(budget, 100));
        const int64_t t0 = steady_now_ms();
        int n = ::poll(pfd, err_ >= 0 ? 2 : 1, slice);
        budget -= std::max<int64_t>(steady_now_ms() - t0, n == 0 ? slice : 0);
        if (n < 0) continue;  // EINTR
        if (pfd[1].revents & (POLLIN | POLLHUP)) drain_stderr(false);
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        // Read what is there: the header, then the payload, as far as it has arrived.
        bool eof = false;
        for (;;) {
            ssize_t got;
            if (!in_payload) {
                got = ::read(sock_, reinterpret_cast<char*>(&h) + header_have, sizeof h - header_have);
                if (got > 0) {
                    header_have += static_cast<size_t>(got);
                    if (header_have == sizeof h) {
                        if (h.size >= worker::kMaxFrame) {
                            eof = true;
                            break;
                        }
                        in_payload = true;
                        payload.resize(h.size);
                        payload_have = 0;
                    }
                }
            } else if (payload_have < payload.size()) {
                got = ::read(sock_, payload.data() + payload_have, payload.size() - payload_have);
                if (got > 0) payload_have += static_cast<size_t>(got);
            } else {
                got = 1;
            }
            if (got == 0) {
                eof = true;
                break;
            }
            if (got < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                eof = true;
                break;
            }
            if (!in_payload || payload_have < payload.size()) continue;
            // A whole frame.
            traffic_.bytes_in += static_cast<int64_t>(sizeof h + payload.size());
            in_payload = false;
            header_have = 0;
            const auto type = static_cast<Frame>(h.type);
            if (type == want) {
                out.status = static_cast<plexus_status>(h.arg);
                out.text = std::move(payload);
                if (want == Frame::hello && h.arg == 0) out.status = PLEXUS_OK;
                else if (want == Frame::hello) out.status = PLEXUS_ERR_PLUGIN;
                return Wait::result;
            }
            switch (type) {
                case Frame::log: {
                    ++traffic_.logs;
                    LogLevel l = LogLevel::info;
                    switch (h.arg) {
                        case PLEXUS_LOG_DEBUG: l = LogLevel::debug; break;
                        case PLEXUS_LOG_WARN: l = LogLevel::warn; break;
                        case PLEXUS_LOG_ERROR: l = LogLevel::error; break;
                        default: break;
                    }
                    log_line(l, services_.tags, payload);
                    break;
                }
                case Frame::rate_observe: {
                    worker::PayloadReader r(payload);
                    double used = 0, capacity = 0;
                    if (r.f64(used) && r.f64(capacity) && services_.governor)
                        services_.governor->observe(used, capacity);
                    break;
                }
                case Frame::now: {
                    std::string p;
                    worker::put_i64(p, services_.clock ? services_.clock->now_ms()
                                                       : SystemClock::instance().now_ms());
                    send(Frame::now_reply, 0, p, steady_now_ms() + 1000);
                    break;
                }
                case Frame::http:
                    // Host time: not charged to the call's budget (measured around poll only).
                    ++traffic_.http;
                    serve_http(payload);
                    break;
                default:
                    eof = true;  // a protocol violation: treat the worker as lost
                    break;
            }
            if (eof) break;
            payload.clear();
        }
        if (eof) {
            std::string how = reap_after_eof();
            lost_message_ = "connector \"" + connector_ + "\" (connection \"" + connection_ +
                            "\"): its worker " + how + " during " + what;
            log_line(LogLevel::error, services_.tags, lost_message_);
            return Wait::lost;
        }
    }
}

void ConnectorWorker::serve_http(std::string_view payload) {
    worker::PayloadReader r(payload);
    uint32_t timeout = 0, flags = 0;
    std::string_view method, url, headers, body;
    int32_t http_status = 0;
    std::string rh, rb, err;
    plexus_status st = PLEXUS_ERR_PLUGIN;
    if (r.u32(timeout) && r.u32(flags) && r.str(method) && r.str(url) && r.str(headers) && r.str(body)) {
        plexus_http_request req{};
        req.struct_size = sizeof req;
        req.method = {method.data(), method.size()};
        req.url = {url.data(), url.size()};
        req.headers = {headers.data(), headers.size()};
        req.body = {body.data(), body.size()};
        req.timeout_ms = timeout;
        req.flags = flags;
        st = serve_http_request(services_, req, http_status, rh, rb, err);
    } else {
        err = "malformed HTTP request from the worker";
    }
    std::string p;
    p.reserve(16 + rh.size() + rb.size() + err.size());
    worker::put_u32(p, static_cast<uint32_t>(http_status));
    worker::put_str(p, rh);
    worker::put_str(p, st == PLEXUS_OK ? std::string_view(rb) : std::string_view(err));
    send(Frame::http_reply, static_cast<uint8_t>(st), p, steady_now_ms() + options_.call_timeout_ms);
}

void ConnectorWorker::drain_stderr(bool flush) {
    if (err_ < 0) return;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(err_, buf, sizeof buf);
        if (n > 0) {
            stderr_buf_.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    size_t pos;
    while ((pos = stderr_buf_.find('\n')) != std::string::npos || (stderr_buf_.size() > 4000)) {
        size_t len = pos == std::string::npos ? 4000 : pos;
        log_line(LogLevel::warn, services_.tags, "worker stderr: " + stderr_buf_.substr(0, len));
        stderr_buf_.erase(0, pos == std::string::npos ? len : len + 1);
    }
    if (flush && !stderr_buf_.empty()) {
        log_line(LogLevel::warn, services_.tags, "worker stderr: " + stderr_buf_);
        stderr_buf_.clear();
    }
}

std::string ConnectorWorker::describe_status(int status) const {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = sigabbrev_np(sig);
        std::string name = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
        return "was killed by " + name + " (" + strsignal(sig) + ")";
    }
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == worker::kExitMemoryCap)
            return "ran out of its memory cap of " + std::to_string(options_.memory_limit_mb) +
                   " MiB (memory_limit_mb) and exited";
        return "exited with status " + std::to_string(code);
    }
    return "ended";
}

std::string ConnectorWorker::kill_and_reap() {
    if (pid_ <= 0) return "already gone";
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, 0);
    while (r < 0 && errno == EINTR);
    pid_ = -1;
    drain_stderr(true);
    if (r < 0) return "SIGKILL";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return "SIGKILL";
    return describe_status(status);
}

std::string ConnectorWorker::reap_after_eof() {
    if (pid_ <= 0) return "is gone";
    // The socket closed: the child is exiting. Give it a moment, then make sure.
    int status = 0;
    for (int i = 0; i < 200; ++i) {
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            drain_stderr(true);
            return describe_status(status);
        }
        if (r < 0 && errno != EINTR) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "closed its socket and was killed (" + kill_and_reap() + ")";
}

void ConnectorWorker::lost(const char* what, const std::string& cause) {
    std::string how = kill_and_reap();
    lost_message_ = "connector \"" + connector_ + "\" (connection \"" + connection_ + "\"): its worker " +
                    cause + " during " + what + " and was killed (" + how + ")";
    log_line(LogLevel::error, services_.tags, lost_message_);
    throw ConnectorWorkerLost(lost_message_);
}

}  // namespace plexus
