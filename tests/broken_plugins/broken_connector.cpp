// One source, several broken connectors (chosen by BROKEN_KIND_*), for the loader tests.
#include <plexus/sdk.h>

#include <cstring>
#include <stdexcept>

namespace {

// Each variant uses a different subset of these.
[[maybe_unused]] const char* kManifest = R"({"id": "broken", "version": "0.0.1", "settings": [], "entities": []})";

plexus_status create_ok(const plexus_host_api*, plexus_str, void** instance, const plexus_sink*) {
    static int dummy;
    *instance = &dummy;
    return PLEXUS_OK;
}
[[maybe_unused]] plexus_status create_fails(const plexus_host_api*, plexus_str, void**, const plexus_sink* error) {
    const char* msg = "cannot start: license file missing";
    error->write(error->ctx, msg, std::strlen(msg));
    return PLEXUS_ERR_CONFIG;
}
void destroy(void*) {}
plexus_status check(void*, const plexus_sink*) { return PLEXUS_OK; }
plexus_status read_page(void*, plexus_str, const plexus_sink* out) {
    const char* r = R"({"records": [], "next_cursor": "", "has_more": false})";
    out->write(out->ctx, r, std::strlen(r));
    return PLEXUS_OK;
}
plexus_status write_batch(void*, plexus_str, const plexus_sink*) { return PLEXUS_ERR_PLUGIN; }
plexus_status lookup(void*, plexus_str, const plexus_sink*) { return PLEXUS_ERR_PLUGIN; }

[[maybe_unused]] plexus_connector_v1 make(const char* id, const char* manifest) {
    plexus_connector_v1 d{};
    d.struct_size = sizeof(d);
    d.abi_major = PLEXUS_ABI_MAJOR;
    d.abi_minor = PLEXUS_ABI_MINOR;
    d.id = id;
    d.version = "0.0.1";
    d.manifest_json = manifest;
    d.create = create_ok;
    d.destroy = destroy;
    d.check = check;
    d.read_page = read_page;
    d.write_batch = write_batch;
    d.lookup = lookup;
    return d;
}

}  // namespace

#if !defined(BROKEN_KIND_noentry)
extern "C" PLEXUS_EXPORT const plexus_connector_v1* plexus_connector_entry_v1(void) {
#if defined(BROKEN_KIND_wrongabi)
    static plexus_connector_v1 d = [] { auto x = make("broken", kManifest); x.abi_major = 2; return x; }();
#elif defined(BROKEN_KIND_newerminor)
    static plexus_connector_v1 d = [] { auto x = make("broken", kManifest); x.abi_minor = PLEXUS_ABI_MINOR + 7; return x; }();
#elif defined(BROKEN_KIND_throws)
    throw std::runtime_error("connector initialisation exploded");
    static plexus_connector_v1 d = make("broken", kManifest);
#elif defined(BROKEN_KIND_duplicate)
    // Claims the id of the real files connector.
    static plexus_connector_v1 d = make("files", R"({"id": "files", "version": "9.9.9", "settings": [], "entities": []})");
#elif defined(BROKEN_KIND_badmanifest)
    static plexus_connector_v1 d = make("broken", "{ this is not json");
#elif defined(BROKEN_KIND_badwebhooks)
    // A webhooks block whose signature encoding is neither hex nor base64.
    static plexus_connector_v1 d = make("badwebhooks", R"({"id": "badwebhooks", "version": "0.0.1",
        "settings": [{"name": "webhook_secret", "type": "string", "secret": true}],
        "entities": [{"name": "events", "key": "id", "inbox": true, "capabilities": ["read"]}],
        "webhooks": {"secret_setting": "webhook_secret",
                     "signature": {"header": "X-Sig", "encoding": "hx"},
                     "event_id": {"header": "X-Id"}, "topics": {"*": ["events"]}}})");
#elif defined(BROKEN_KIND_inboxnohooks)
    // An entity fed by webhooks without the block that lets them in.
    static plexus_connector_v1 d = make("inboxnohooks", R"({"id": "inboxnohooks", "version": "0.0.1",
        "settings": [], "entities": [{"name": "events", "key": "id", "inbox": true, "capabilities": ["read"]}]})");
#elif defined(BROKEN_KIND_smalldesc)
    static plexus_connector_v1 d = [] { auto x = make("broken", kManifest); x.struct_size = 16; return x; }();
#elif defined(BROKEN_KIND_failcreate)
    static plexus_connector_v1 d = [] {
        auto x = make("failcreate", R"({"id": "failcreate", "version": "0.0.1", "settings": [],
            "entities": [{"name": "things", "key": "id", "capabilities": ["read", "create", "update", "lookup"], "open": true}]})");
        x.create = create_fails;
        return x;
    }();
#endif
    return &d;
}
#else
// No entry at all: just some exported function.
extern "C" PLEXUS_EXPORT int plexus_something_else(void) { return 42; }
#endif
