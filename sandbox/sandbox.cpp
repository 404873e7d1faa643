#include "sandbox/sandbox.hpp"

#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace plexus::sandbox {

Faults Faults::from_json(const nlohmann::json& j) {
    Faults f;
    f.error_rate = j.value("error_rate", 0.0);
    f.drop_rate = j.value("drop_rate", 0.0);
    f.malformed_rate = j.value("malformed_rate", 0.0);
    f.latency_ms = j.value("latency_ms", 0);
    f.burst_429_every = j.value("burst_429_every", 0);
    f.burst_429_length = j.value("burst_429_length", 0);
    return f;
}

nlohmann::json Faults::to_json() const {
    return {{"error_rate", error_rate},           {"drop_rate", drop_rate},
            {"malformed_rate", malformed_rate},   {"latency_ms", latency_ms},
            {"burst_429_every", burst_429_every}, {"burst_429_length", burst_429_length}};
}

void FaultInjector::set(const Faults& f) {
    std::lock_guard lock(mutex_);
    faults_ = f;
    burst_left_ = 0;
}

Faults FaultInjector::get() const {
    std::lock_guard lock(mutex_);
    return faults_;
}

bool FaultInjector::intercept(httplib::Response& res,
                              const std::function<void(httplib::Response&)>& too_many) {
    Faults f;
    bool burst = false, error = false, drop = false, malformed = false;
    {
        std::lock_guard lock(mutex_);
        f = faults_;
        ++requests_;
        if (f.burst_429_every > 0 && requests_ % static_cast<uint64_t>(f.burst_429_every) == 0)
            burst_left_ = f.burst_429_length;
        if (burst_left_ > 0) {
            --burst_left_;
            burst = true;
        } else {
            std::uniform_real_distribution<double> u(0, 1);
            error = u(rng_) < f.error_rate;
            drop = !error && u(rng_) < f.drop_rate;
            malformed = !error && !drop && u(rng_) < f.malformed_rate;
        }
    }
    if (f.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(f.latency_ms));
    if (burst) {
        too_many(res);
        return true;
    }
    if (error) {
        res.status = 503;
        res.set_content("Service Unavailable (sandbox fault)", "text/plain");
        return true;
    }
    if (drop) {
        // Promise 1 KiB, send 10 bytes, fail: the server closes the connection mid-body.
        res.status = 200;
        res.set_content_provider(1024, "application/json",
                                 [](size_t offset, size_t, httplib::DataSink& sink) {
                                     if (offset == 0) sink.write("{\"partial\"", 10);
                                     return false;
                                 });
        return true;
    }
    if (malformed) {
        res.status = 200;
        res.set_content("{\"truncated\": [1, 2", "application/json");
        return true;
    }
    return false;
}

SandboxServer::SandboxServer(std::unique_ptr<Sandbox> sandbox, int port)
    : sandbox_(std::move(sandbox)) {
    server_.Get("/_sandbox/health", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(nlohmann::json{{"sandbox", sandbox_->id()}, {"ok", true}}.dump(),
                        "application/json");
    });
    server_.Post("/_sandbox/faults", [this](const httplib::Request& req, httplib::Response& res) {
        auto j = nlohmann::json::parse(req.body, nullptr, false);
        if (!j.is_object()) {
            res.status = 400;
            res.set_content("{\"error\":\"body must be a JSON object of fault knobs\"}",
                            "application/json");
            return;
        }
        sandbox_->faults().set(Faults::from_json(j));
        res.set_content(sandbox_->faults().get().to_json().dump(), "application/json");
    });
    sandbox_->mount(server_);
    server_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        std::lock_guard lock(record_mutex_);
        if (!record_file_ || req.path.rfind("/_sandbox/", 0) == 0) return;
        auto lower = [](std::string s) {
            for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return s;
        };
        nlohmann::json query = nlohmann::json::object();
        for (const auto& [k, v] : req.params) query[k].push_back(v);
        nlohmann::json headers = nlohmann::json::object();
        for (const auto& [k, v] : req.headers) {
            // httplib adds these itself; they are not part of what the client sent.
            if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" || k == "LOCAL_PORT")
                continue;
            headers[lower(k)] = v;
        }
        nlohmann::json response_headers = nlohmann::json::object();
        for (const auto& [k, v] : res.headers) response_headers[lower(k)] = v;
        const nlohmann::json line{{"method", req.method},
                                  {"path", req.path},
                                  {"query", std::move(query)},
                                  {"headers", std::move(headers)},
                                  {"body", req.body},
                                  {"status", res.status},
                                  {"response_headers", std::move(response_headers)},
                                  {"response_body", res.body}};
        const std::string text =
            line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        std::fwrite(text.data(), 1, text.size(), record_file_.get());
        std::fflush(record_file_.get());
    });
    // httplib's default socket options add SO_REUSEPORT, with which a second sandbox bound
    // the same port and took half of the connections. SO_REUSEADDR alone refuses a port
    // that another socket listens on (and still allows a restart over TIME_WAIT).
    server_.set_socket_options([](int sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    errno = 0;
    if (port == 0) {
        port_ = server_.bind_to_any_port("127.0.0.1");
    } else if (server_.bind_to_port("127.0.0.1", port)) {
        port_ = port;
    }
    if (port_ <= 0) {
        const int why = errno;
        throw std::runtime_error(
            "sandbox " + sandbox_->id() + ": cannot listen on 127.0.0.1:" + std::to_string(port) +
            ": " +
            (why == EADDRINUSE ? std::string("the port is in use (another plexus sandbox?); "
                                             "stop it or choose another with --port " +
                                             sandbox_->id() + "=PORT")
                               : std::string(why ? std::strerror(why) : "bind failed")));
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

SandboxServer::~SandboxServer() { stop(); }

void SandboxServer::record_exchanges(const std::string& path) {
    std::lock_guard lock(record_mutex_);
    record_file_.reset();
    if (path.empty()) return;
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f)
        throw std::runtime_error("sandbox " + sandbox_->id() + ": cannot record exchanges to " +
                                 path + ": " + std::strerror(errno));
    record_file_.reset(f);
}

void SandboxServer::stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace plexus::sandbox
