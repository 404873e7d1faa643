// A connector that loads cleanly and then misbehaves on demand: its "fault" setting makes it
// crash (SIGSEGV), abort, hang or leak memory in one call, so the isolation tests can show
// that only its worker dies (tests/integration/test_isolation.cpp). With "fault": "none" it
// is a well-behaved in-memory source and sink of `records` things.
#include <plexus/sdk.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char* kManifest = R"json({
  "id": "misbehave", "name": "Misbehaving (tests)", "version": "0.0.1",
  "settings": [
    {"name": "fault", "type": "string", "default": "none",
     "description": "none, http_read, segv_read, abort_read, hang_read, leak_read, segv_write, abort_write, hang_write, leak_write, segv_create"},
    {"name": "records", "type": "integer", "default": 3, "description": "how many things read returns"},
    {"name": "url", "type": "string", "default": "", "description": "fault http_read: read GETs this through the host first"}
  ],
  "entities": [{"name": "things", "key": "id", "cursor": "seq", "open": true,
                "capabilities": ["read", "incremental", "create", "update", "lookup"]}]
})json";

struct Instance {
    const plexus_host_api* host = nullptr;
    std::string fault;
    std::string url;
    int records = 3;
};

void put(const plexus_sink* s, const std::string& text) { s->write(s->ctx, text.data(), text.size()); }

// Settings arrive as JSON text validated by the host: a tiny scan is enough here.
std::string string_setting(const std::string& json, const std::string& name) {
    auto at = json.find("\"" + name + "\"");
    if (at == std::string::npos) return {};
    auto open = json.find('"', json.find(':', at) + 1);
    auto close = json.find('"', open + 1);
    return json.substr(open + 1, close - open - 1);
}
int int_setting(const std::string& json, const std::string& name, int fallback) {
    auto at = json.find("\"" + name + "\"");
    if (at == std::string::npos) return fallback;
    return std::atoi(json.c_str() + json.find(':', at) + 1);
}

[[noreturn]] void misbehave(const std::string& how) {
    if (how == "segv") {
        volatile int* p = nullptr;
        *p = 42;
    }
    if (how == "abort") std::abort();
    if (how == "leak") {
        // A fast leak: 16 MiB at a time, touched so it is real. Bounded at 8 GiB so that a
        // host without a memory cap (a sanitizer build) fails the test instead of the machine.
        for (int i = 0; i < 512; ++i) {
            char* block = new char[16u << 20];
            std::memset(block, i, 16u << 20);
        }
    }
    for (;;) ::sleep(1);  // "hang", and the end of a leak that was never stopped
}

void maybe(const Instance* in, const char* call) {
    const std::string& f = in->fault;
    const std::string suffix = std::string("_") + call;
    if (f.size() <= suffix.size() || f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0) return;
    const std::string how = f.substr(0, f.size() - suffix.size());
    if (how == "segv" || how == "abort" || how == "hang" || how == "leak") misbehave(how);
}

plexus_status create(const plexus_host_api* host, plexus_str settings, void** instance, const plexus_sink*) {
    std::string s(settings.data, settings.size);
    auto* in = new Instance;
    in->fault = string_setting(s, "fault");
    in->records = int_setting(s, "records", 3);
    in->url = string_setting(s, "url");
    in->host = host;
    maybe(in, "create");
    *instance = in;
    return PLEXUS_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

plexus_status check(void*, const plexus_sink* out) {
    put(out, R"({"message": "misbehaving connector here"})");
    return PLEXUS_OK;
}

plexus_status read_page(void* instance, plexus_str, const plexus_sink* out) {
    auto* in = static_cast<Instance*>(instance);
    maybe(in, "read");
    if (in->fault == "http_read") {
        // A slow API: the time the host spends on this request is not the connector's.
        plexus_http_request req{};
        req.struct_size = sizeof req;
        req.method = {"GET", 3};
        req.url = {in->url.data(), in->url.size()};
        plexus_http_response_sink sink{nullptr, [](void*, int32_t, plexus_str, plexus_str) {}};
        plexus_status st = in->host->http(in->host->host_ctx, &req, &sink, out);
        if (st != PLEXUS_OK) return st;
    }
    std::string r = R"({"records": [)";
    for (int i = 0; i < in->records; ++i) {
        if (i) r += ',';
        std::string n = std::to_string(i);
        r += R"({"key": "T)" + n + R"(", "cursor": ")" + n + R"(", "data": {"id": "T)" + n + R"(", "seq": ")" + n +
             R"(", "name": "thing )" + n + R"("}})";
    }
    r += R"(], "next_cursor": "", "has_more": false})";
    put(out, r);
    return PLEXUS_OK;
}

plexus_status write_batch(void* instance, plexus_str request, const plexus_sink* out) {
    auto* in = static_cast<Instance*>(instance);
    maybe(in, "write");
    // One success per record: count the records' "op" members.
    std::string req(request.data, request.size);
    size_t n = 0;
    for (size_t at = req.find("\"op\""); at != std::string::npos; at = req.find("\"op\"", at + 4)) ++n;
    std::string r = R"({"results": [)";
    for (size_t i = 0; i < n; ++i) {
        if (i) r += ',';
        r += R"({"status": 0, "target_key": "M)" + std::to_string(i) + R"("})";
    }
    r += "]}";
    put(out, r);
    return PLEXUS_OK;
}

plexus_status lookup(void*, plexus_str, const plexus_sink* out) {
    put(out, R"({"found": false})");
    return PLEXUS_OK;
}

}  // namespace

extern "C" PLEXUS_EXPORT const plexus_connector_v1* plexus_connector_entry_v1(void) {
    static plexus_connector_v1 d = [] {
        plexus_connector_v1 x{};
        x.struct_size = sizeof(x);
        x.abi_major = PLEXUS_ABI_MAJOR;
        x.abi_minor = PLEXUS_ABI_MINOR;
        x.id = "misbehave";
        x.version = "0.0.1";
        x.manifest_json = kManifest;
        x.create = create;
        x.destroy = destroy;
        x.check = check;
        x.read_page = read_page;
        x.write_batch = write_batch;
        x.lookup = lookup;
        return x;
    }();
    return &d;
}
