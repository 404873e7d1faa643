// The worker side: `plexus worker --lib PATH …`, started by ConnectorWorker with its socket
// on descriptor 3. Loads one connector library (the loader's checks, as in the host), then
// serves create / calls / destroy for one instance, forwarding the connector's host-API calls
// to the host over the socket. Single-threaded: the connector runs on this thread.
#include "worker/worker_main.hpp"

#include "common/logging.hpp"
#include "plugin_host/plugin_registry.hpp"
#include "worker/worker_protocol.hpp"

#include <plexus/connector.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace plexus::worker {
namespace {

struct WorkerState {
    int fd = kWorkerFd;
    bool system_clock = true;
    bool cancelled = false;
    bool host_gone = false;
};

WorkerState g_state;
int64_t g_memory_limit_mb = 0;

// The host closed the socket: nobody will read what this worker does. Leave at once
// (destroy is skipped: the instance's owner is gone).
[[noreturn]] void host_gone() { _exit(0); }

void send(Frame type, uint8_t arg, std::string_view payload) {
    if (!write_frame(g_state.fd, type, arg, payload)) host_gone();
}

// Waits for a frame of type `want`; a `cancel` on the way is noted.
void await(Frame want, FrameHeader& h, std::string& payload) {
    for (;;) {
        if (!read_frame(g_state.fd, h, payload)) host_gone();
        if (h.type == static_cast<uint8_t>(Frame::cancel)) {
            g_state.cancelled = true;
            continue;
        }
        if (h.type == static_cast<uint8_t>(want)) return;
        // Anything else is a protocol error: the host is not what we think it is.
        host_gone();
    }
}

void w_log(void*, plexus_log_level level, plexus_str message) {
    send(Frame::log, static_cast<uint8_t>(level), sdk::from_str(message));
}

plexus_status w_http(void*, const plexus_http_request* request, const plexus_http_response_sink* response,
                     const plexus_sink* error) {
    if (!request || request->struct_size < offsetof(plexus_http_request, flags) + sizeof(request->flags)) {
        sdk::sink_write(error, "malformed HTTP request structure");
        return PLEXUS_ERR_PLUGIN;
    }
    std::string p;
    put_u32(p, request->timeout_ms);
    put_u32(p, request->flags);
    put_str(p, sdk::from_str(request->method));
    put_str(p, sdk::from_str(request->url));
    put_str(p, sdk::from_str(request->headers));
    put_str(p, sdk::from_str(request->body));
    send(Frame::http, 0, p);
    FrameHeader h;
    std::string reply;
    await(Frame::http_reply, h, reply);
    PayloadReader r(reply);
    uint32_t status = 0;
    std::string_view headers, body;
    if (!r.u32(status) || !r.str(headers) || !r.str(body)) {
        sdk::sink_write(error, "malformed HTTP reply from the host");
        return PLEXUS_ERR_PLUGIN;
    }
    auto st = static_cast<plexus_status>(h.arg);
    if (st == PLEXUS_OK) {
        if (response && response->on_response)
            response->on_response(response->ctx, static_cast<int32_t>(status), sdk::to_str(headers),
                                  sdk::to_str(body));
    } else {
        sdk::sink_write(error, body);
    }
    return st;
}

int64_t w_now(void*) {
    if (g_state.system_clock) {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
    send(Frame::now, 0, {});
    FrameHeader h;
    std::string reply;
    await(Frame::now_reply, h, reply);
    int64_t ms = 0;
    PayloadReader(reply).i64(ms);
    return ms;
}

// Cheap: one poll of the socket. The host sends `cancel` unasked when the run is cancelled.
int w_cancelled(void*) {
    if (g_state.cancelled) return 1;
    pollfd p{g_state.fd, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
        if (p.revents & (POLLHUP | POLLERR)) host_gone();
        FrameHeader h;
        std::string payload;
        if (!read_frame(g_state.fd, h, payload)) host_gone();
        if (h.type == static_cast<uint8_t>(Frame::cancel)) g_state.cancelled = true;
    }
    return g_state.cancelled ? 1 : 0;
}

void w_rate_observe(void*, double used, double capacity) {
    std::string p;
    put_f64(p, used);
    put_f64(p, capacity);
    send(Frame::rate_observe, 0, p);
}

// An allocation failed: under RLIMIT_AS that is the memory cap. Say so and leave with the
// status the host recognises, instead of letting the connector turn bad_alloc into a status
// and carry on at the edge of its cap.
void on_out_of_memory() {
    const char msg[] = "plexus worker: an allocation failed at the memory cap; exiting\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(kExitMemoryCap);
}

bool built_with_sanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

template <typename Fn>
plexus_status guarded(std::string& text, const char* what, Fn&& fn) {
    plexus_sink sink = sdk::string_sink(text);
    try {
        return fn(&sink);
    } catch (const std::exception& e) {
        text = std::string(what) + " threw through the C boundary: " + e.what();
    } catch (...) {
        text = std::string(what) + " threw through the C boundary";
    }
    return PLEXUS_ERR_PLUGIN;
}

}  // namespace

int worker_main(const std::vector<std::string>& args) {
    // `plexus worker --probe LIB`: load the library and its descriptor, and exit. The host
    // runs this before loading a library itself; a crash here is the library's, not the host's.
    if (args.size() == 2 && args[0] == "--probe") {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        configure_logging("error");
        PluginRegistry registry;
        registry.load_file(args[1]);
        return 0;
    }
    std::string lib, connector;
    for (size_t i = 0; i + 1 < args.size(); i += 2) {
        if (args[i] == "--lib") lib = args[i + 1];
        else if (args[i] == "--connector") connector = args[i + 1];
        else if (args[i] == "--memory-limit-mb") g_memory_limit_mb = std::atoll(args[i + 1].c_str());
    }
    // Die with the host: a worker must never outlive the run that owns it (an orphan could
    // still be writing when the next run starts).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);  // the terminal's ^C is for the host, which decides
    if (lib.empty() || ::fcntl(kWorkerFd, F_GETFD) < 0) {
        const char msg[] = "plexus worker is started by the host, not by hand\n";
        ssize_t ignored = ::write(2, msg, sizeof msg - 1);
        (void)ignored;
        return 64;
    }
    configure_logging("error");
    std::set_new_handler(on_out_of_memory);
    if (g_memory_limit_mb > 0 && !built_with_sanitizer()) {
        // The sanitizers reserve terabytes of shadow address space: no RLIMIT_AS under them.
        rlim_t bytes = static_cast<rlim_t>(g_memory_limit_mb) * 1024 * 1024;
        rlimit rl{bytes, bytes};
        ::setrlimit(RLIMIT_AS, &rl);
    }

    PluginRegistry registry;
    registry.load_file(lib);
    std::shared_ptr<const LoadedConnector> loaded =
        registry.connectors().empty() ? nullptr : registry.connectors().front();
    if (!loaded) {
        send(Frame::hello, 1, registry.refused().empty() ? "refused" : registry.refused().front().reason);
        return 0;
    }
    if (!connector.empty() && loaded->id != connector) {
        send(Frame::hello, 1, "the library now holds connector \"" + loaded->id + "\", not \"" + connector + "\"");
        return 0;
    }
    send(Frame::hello, 0, loaded->id);

    const plexus_connector_v1* d = loaded->descriptor;
    plexus_host_api api{};
    api.struct_size = sizeof(plexus_host_api);
    api.host_ctx = &g_state;
    api.log = &w_log;
    api.http = &w_http;
    api.now_ms = &w_now;
    api.cancelled = &w_cancelled;
    api.rate_observe = &w_rate_observe;

    void* instance = nullptr;
    FrameHeader h;
    std::string payload;
    std::string out;
    for (;;) {
        if (!read_frame(g_state.fd, h, payload)) host_gone();
        out.clear();
        switch (static_cast<Frame>(h.type)) {
            case Frame::cancel:
                g_state.cancelled = true;
                continue;
            case Frame::create: {
                g_state.system_clock = (h.arg & kFlagSystemClock) != 0;
                g_state.cancelled = (h.arg & kFlagCancelled) != 0;
                plexus_status st = guarded(out, "create", [&](plexus_sink* s) {
                    return d->create(&api, sdk::to_str(payload), &instance, s);
                });
                if (st == PLEXUS_OK && !instance) {
                    st = PLEXUS_ERR_PLUGIN;
                    out = "create returned no instance";
                }
                send(Frame::result, static_cast<uint8_t>(st), out);
                break;
            }
            case Frame::call: {
                if (!instance) {
                    send(Frame::result, PLEXUS_ERR_PLUGIN, "no instance: create was not called or failed");
                    break;
                }
                const auto op = static_cast<Op>(h.arg);
                plexus_str req = sdk::to_str(payload);
                plexus_status st = guarded(out, op_name(op), [&](plexus_sink* s) -> plexus_status {
                    switch (op) {
                        case Op::check: return d->check(instance, s);
                        case Op::read_page: return d->read_page(instance, req, s);
                        case Op::write_batch: return d->write_batch(instance, req, s);
                        case Op::lookup: return d->lookup(instance, req, s);
                    }
                    sdk::sink_write(s, "unknown operation");
                    return PLEXUS_ERR_PLUGIN;
                });
                // The request may be large: give its memory back before the reply is sent.
                std::string().swap(payload);
                send(Frame::result, static_cast<uint8_t>(st), out);
                if (out.capacity() > (1u << 22)) std::string().swap(out);
                break;
            }
            case Frame::destroy:
                if (instance) {
                    try {
                        d->destroy(instance);
                    } catch (...) {
                    }
                }
                send(Frame::result, PLEXUS_OK, {});
                return 0;
            default:
                return 70;  // a protocol error; the host sees the exit status
        }
    }
}

}  // namespace plexus::worker
