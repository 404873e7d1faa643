#include "plugin_host/connector_instance.hpp"

#include "http/http_client.hpp"
#include "http/rate_governor.hpp"
#include "config/config.hpp"
#include "worker/connector_worker.hpp"

#include <plexus/connector.hpp>

#include <cstddef>
#include <stdexcept>

namespace plexus {
namespace {

HostServices& services_of(void* ctx) { return *static_cast<HostServices*>(ctx); }

void host_log(void* ctx, plexus_log_level level, plexus_str message) {
    LogLevel l = LogLevel::info;
    switch (level) {
        case PLEXUS_LOG_DEBUG: l = LogLevel::debug; break;
        case PLEXUS_LOG_INFO: l = LogLevel::info; break;
        case PLEXUS_LOG_WARN: l = LogLevel::warn; break;
        case PLEXUS_LOG_ERROR: l = LogLevel::error; break;
    }
    log_line(l, services_of(ctx).tags, sdk::from_str(message));
}

plexus_status host_http(void* ctx, const plexus_http_request* request,
                        const plexus_http_response_sink* response, const plexus_sink* error) {
    HostServices& s = services_of(ctx);
    // Every field read below must lie within the size the connector was built with.
    if (!request || request->struct_size < offsetof(plexus_http_request, flags) +
                                               sizeof(request->flags)) {
        sdk::sink_write(error, "malformed HTTP request structure");
        return PLEXUS_ERR_PLUGIN;
    }
    int32_t status = 0;
    std::string headers, body, err;
    plexus_status st = serve_http_request(s, *request, status, headers, body, err);
    if (st != PLEXUS_OK) {
        sdk::sink_write(error, err);
        return st;
    }
    if (response && response->on_response)
        response->on_response(response->ctx, status, sdk::to_str(headers), sdk::to_str(body));
    return PLEXUS_OK;
}

int64_t host_now(void* ctx) {
    HostServices& s = services_of(ctx);
    return s.clock ? s.clock->now_ms() : SystemClock::instance().now_ms();
}

int host_cancelled(void* ctx) {
    HostServices& s = services_of(ctx);
    return s.cancel && s.cancel->load() ? 1 : 0;
}

void host_rate_observe(void* ctx, double used, double capacity) {
    HostServices& s = services_of(ctx);
    if (s.governor) s.governor->observe(used, capacity);
}

}  // namespace

plexus_status serve_http_request(HostServices& s, const plexus_http_request& request,
                                 int32_t& http_status, std::string& headers, std::string& body,
                                 std::string& error) {
    if (!s.http) {
        error = "this host offers no HTTP client here";
        return PLEXUS_ERR_PLUGIN;
    }
    HttpRequestSpec spec;
    spec.method = std::string(sdk::from_str(request.method));
    spec.url = std::string(sdk::from_str(request.url));
    if (s.url_guard) {
        if (auto refused = s.url_guard(spec.url)) {
            error = *refused;
            return PLEXUS_ERR_CONFIG;
        }
    }
    sdk::Host::parse_headers(sdk::from_str(request.headers), spec.headers);
    spec.body = std::string(sdk::from_str(request.body));
    spec.timeout_ms = request.timeout_ms;
    spec.no_retry = (request.flags & PLEXUS_HTTP_NO_RETRY) != 0;
    auto cancelled = [&s] { return s.cancel && s.cancel->load(); };
    // Retries and waits are the connector's time going somewhere: said at debug, with why.
    auto note = [&s](const std::string& text) { log_line(LogLevel::debug, s.tags, text); };
    WaitObserver on_wait;
    if (s.on_wait)
        on_wait = [&s](const WaitReason& w) {
            WaitReason named = w;
            named.connection = s.tags.connection;
            named.connector = s.tags.connector;
            s.on_wait(named);
        };
    HttpResult r = s.http->send(spec, s.governor, cancelled, note, on_wait);
    if (r.invalid_request) {
        error = r.error;
        return PLEXUS_ERR_CONFIG;
    }
    if (r.cancelled) {
        error = "cancelled";
        return PLEXUS_ERR_CANCELLED;
    }
    if (!r.got_response) {
        error = r.error;
        return PLEXUS_ERR_TRANSIENT;
    }
    headers.clear();
    for (const auto& [k, v] : r.headers) headers += k + ": " + v + "\r\n";
    http_status = r.status;
    body = std::move(r.body);
    return PLEXUS_OK;
}

IsolationOptions isolation_for(const ConnectionConfig* c, const nlohmann::json& manifest) {
    IsolationOptions o;
    if (manifest.is_object()) {
        if (auto t = manifest.find("call_timeout_s"); t != manifest.end() && t->is_number() && t->get<double>() > 0)
            o.call_timeout_ms = static_cast<int64_t>(t->get<double>() * 1000);
        if (auto m = manifest.find("memory_limit_mb"); m != manifest.end() && m->is_number_integer() &&
                                                        m->get<int64_t>() >= 0)
            o.memory_limit_mb = m->get<int64_t>();
    }
    if (c) {
        if (c->isolation == "none") o.process = false;
        if (c->call_timeout_s > 0) o.call_timeout_ms = static_cast<int64_t>(c->call_timeout_s * 1000);
        if (c->memory_limit_mb >= 0) o.memory_limit_mb = c->memory_limit_mb;
    }
    return o;
}

plexus_host_api make_host_api(HostServices* services) {
    plexus_host_api api{};
    api.struct_size = sizeof(plexus_host_api);
    api.host_ctx = services;
    api.log = &host_log;
    api.http = &host_http;
    api.now_ms = &host_now;
    api.cancelled = &host_cancelled;
    api.rate_observe = &host_rate_observe;
    return api;
}

const char* status_name(plexus_status s) {
    switch (s) {
        case PLEXUS_OK: return "ok";
        case PLEXUS_ERR_AUTH: return "auth";
        case PLEXUS_ERR_RATE_LIMIT: return "rate_limit";
        case PLEXUS_ERR_VALIDATION: return "validation";
        case PLEXUS_ERR_CONFLICT: return "conflict";
        case PLEXUS_ERR_TRANSIENT: return "transient";
        case PLEXUS_ERR_PLUGIN: return "plugin";
        case PLEXUS_ERR_NOT_FOUND: return "not_found";
        case PLEXUS_ERR_CANCELLED: return "cancelled";
        case PLEXUS_ERR_CONFIG: return "config";
    }
    return "plugin";
}

ConnectorInstance::ConnectorInstance(std::shared_ptr<const LoadedConnector> connector,
                                     const nlohmann::json& resolved_settings,
                                     HostServices services, const IsolationOptions& isolation)
    : connector_(std::move(connector)),
      services_(std::make_unique<HostServices>(std::move(services))),
      api_(std::make_unique<plexus_host_api>(make_host_api(services_.get()))) {
    if (services_->tags.connector.empty()) services_->tags.connector = connector_->id;
    std::string settings = resolved_settings.dump();
    std::string error;
    plexus_status st = PLEXUS_ERR_PLUGIN;
    if (isolation.process) {
        try {
            worker_ = std::make_unique<ConnectorWorker>(*connector_, isolation, *services_);
            CallResult r = worker_->create(settings);
            st = r.status;
            error = std::move(r.text);
        } catch (const std::exception& e) {
            worker_.reset();
            throw std::runtime_error("connection \"" + services_->tags.connection + "\" (connector " +
                                     connector_->id + "): create failed: " + e.what());
        }
        if (st == PLEXUS_OK) return;
        worker_.reset();
    } else {
        plexus_sink sink = sdk::string_sink(error);
        try {
            st = connector_->descriptor->create(api_.get(), sdk::to_str(settings), &instance_, &sink);
        } catch (...) {
            error = "create threw an exception through the C boundary";
            st = PLEXUS_ERR_PLUGIN;
        }
        if (st == PLEXUS_OK && instance_) return;
        instance_ = nullptr;
    }
    throw std::runtime_error("connection \"" + services_->tags.connection + "\" (connector " +
                             connector_->id + "): create failed (" + status_name(st) +
                             "): " + (error.empty() ? "no message" : error));
}

ConnectorInstance::~ConnectorInstance() {
    worker_.reset();  // destroy in the worker (bounded), then the child is reaped
    if (instance_) {
        try {
            connector_->descriptor->destroy(instance_);
        } catch (...) {
            log_line(LogLevel::error, services_->tags, "destroy threw an exception; ignored");
        }
    }
}

int ConnectorInstance::worker_pid() const { return worker_ ? static_cast<int>(worker_->pid()) : 0; }

template <typename Fn>
CallResult ConnectorInstance::call(const char* what, Fn&& fn) {
    CallResult r;
    plexus_sink sink = sdk::string_sink(r.text);
    try {
        r.status = fn(&sink);
    } catch (const std::exception& e) {
        r.status = PLEXUS_ERR_PLUGIN;
        r.text = std::string(what) + " threw through the C boundary: " + e.what();
    } catch (...) {
        r.status = PLEXUS_ERR_PLUGIN;
        r.text = std::string(what) + " threw through the C boundary";
    }
    return r;
}

CallResult ConnectorInstance::check() {
    if (worker_) return worker_->call(worker::Op::check, {});
    return call("check", [&](plexus_sink* s) { return connector_->descriptor->check(instance_, s); });
}

CallResult ConnectorInstance::read_page(const nlohmann::json& request) {
    std::string body = request.dump();
    if (worker_) return worker_->call(worker::Op::read_page, body);
    return call("read_page", [&](plexus_sink* s) {
        return connector_->descriptor->read_page(instance_, sdk::to_str(body), s);
    });
}

CallResult ConnectorInstance::write_batch(const nlohmann::json& request) {
    return write_batch_text(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

CallResult ConnectorInstance::write_batch_text(const std::string& body) {
    if (worker_) return worker_->call(worker::Op::write_batch, body);
    return call("write_batch", [&](plexus_sink* s) {
        return connector_->descriptor->write_batch(instance_, sdk::to_str(body), s);
    });
}

CallResult ConnectorInstance::lookup(const nlohmann::json& request) {
    std::string body = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (worker_) return worker_->call(worker::Op::lookup, body);
    return call("lookup", [&](plexus_sink* s) {
        return connector_->descriptor->lookup(instance_, sdk::to_str(body), s);
    });
}

}  // namespace plexus
