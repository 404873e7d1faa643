// Test fixture: the files connector loaded with dlopen and driven through its C ABI only
// (plexus_connector_entry_v1), with a fake host and temporary directories.
#pragma once

#include <dlfcn.h>
#include <plexus/sdk.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace files_test {

using json = nlohmann::json;
namespace fs = std::filesystem;

inline const plexus_connector_v1& plugin() {
    static const plexus_connector_v1* descriptor = [] {
        void* library = dlopen(FILES_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
        if (!library) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        void* entry = dlsym(library, PLEXUS_ENTRY_SYMBOL);
        if (!entry) throw std::runtime_error(std::string("dlsym: ") + dlerror());
        return reinterpret_cast<plexus_connector_entry_fn>(entry)();
    }();
    return *descriptor;
}

inline plexus_sink sink_to(std::string& target) {
    return plexus_sink{&target, [](void* ctx, const char* data, size_t size) {
                           static_cast<std::string*>(ctx)->append(data, size);
                       }};
}

inline plexus_str str(const std::string& s) { return plexus_str{s.data(), s.size()}; }

// The host side: collects log lines, refuses HTTP, a fixed clock, never cancels.
struct FakeHost {
    std::vector<std::pair<plexus_log_level, std::string>> lines;
    plexus_host_api api{};

    FakeHost() {
        api.struct_size = sizeof(api);
        api.host_ctx = this;
        api.log = [](void* ctx, plexus_log_level level, plexus_str message) {
            static_cast<FakeHost*>(ctx)->lines.emplace_back(
                level, std::string(message.data, message.size));
        };
        api.http = [](void*, const plexus_http_request*, const plexus_http_response_sink*,
                      const plexus_sink* error) {
            const char text[] = "no network in tests";
            error->write(error->ctx, text, sizeof(text) - 1);
            return PLEXUS_ERR_TRANSIENT;
        };
        api.now_ms = [](void*) -> int64_t { return 1714521600000; };
        api.cancelled = [](void*) { return 0; };
        api.rate_observe = [](void*, double, double) {};
    }

    bool logged(plexus_log_level level, const std::string& needle) const {
        for (const auto& [l, text] : lines)
            if (l == level && text.find(needle) != std::string::npos) return true;
        return false;
    }
};

struct Reply {
    plexus_status status = PLEXUS_OK;
    std::string text;
    json body() const { return json::parse(text); }
};

// One connector instance (as the host makes one per connection and run).
class Connection {
public:
    explicit Connection(const json& settings) : host_(std::make_unique<FakeHost>()) {
        const std::string s = settings.dump();
        std::string error;
        plexus_sink es = sink_to(error);
        const plexus_status st = plugin().create(&host_->api, str(s), &instance_, &es);
        INFO(error);
        REQUIRE(st == PLEXUS_OK);
    }
    ~Connection() {
        if (instance_) plugin().destroy(instance_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    static Reply try_create(const json& settings) {
        FakeHost host;
        const std::string s = settings.dump();
        Reply r;
        plexus_sink es = sink_to(r.text);
        void* instance = nullptr;
        r.status = plugin().create(&host.api, str(s), &instance, &es);
        if (instance) plugin().destroy(instance);
        return r;
    }

    Reply check() {
        Reply r;
        plexus_sink out = sink_to(r.text);
        r.status = plugin().check(instance_, &out);
        return r;
    }
    Reply read(const json& request) { return call(plugin().read_page, request); }
    Reply write(const json& request) { return call(plugin().write_batch, request); }
    // write_batch with the request text exactly as given (blanks, escapes and all).
    Reply write_text(const std::string& request) {
        Reply r;
        plexus_sink out = sink_to(r.text);
        r.status = plugin().write_batch(instance_, str(request), &out);
        return r;
    }
    Reply lookup(const json& request) { return call(plugin().lookup, request); }

    // read_page that must succeed.
    json read_ok(const json& request) {
        Reply r = read(request);
        INFO(r.text);
        REQUIRE(r.status == PLEXUS_OK);
        return r.body();
    }
    // write_batch that must succeed as a whole; returns the per-record results.
    // (A vector, not a json: `{create(…)}` as a json would copy the one record, not wrap it.)
    json write_ok(const std::string& entity, const std::vector<json>& records) {
        Reply r = write({{"entity", entity}, {"records", json(records)}});
        INFO(r.text);
        REQUIRE(r.status == PLEXUS_OK);
        json results = r.body()["results"];
        REQUIRE(results.size() == records.size());
        return results;
    }
    json lookup_ok(const json& request) {
        Reply r = lookup(request);
        INFO(r.text);
        REQUIRE(r.status == PLEXUS_OK);
        return r.body();
    }

    FakeHost& host() { return *host_; }

private:
    using Op = plexus_status (*)(void*, plexus_str, const plexus_sink*);
    Reply call(Op op, const json& request) {
        const std::string s = request.dump();
        Reply r;
        plexus_sink out = sink_to(r.text);
        r.status = op(instance_, str(s), &out);
        return r;
    }

    std::unique_ptr<FakeHost> host_;
    void* instance_ = nullptr;
};

struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "plexus-files-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

inline void append_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << text;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline json settings(const TempDir& dir, const json& entities) {
    return {{"directory", dir.path.string()}, {"entities", entities}};
}

inline json create(const json& data, const std::string& idempotency_key) {
    return {{"op", "create"}, {"idempotency_key", idempotency_key}, {"data", data}};
}

inline json update(const std::string& target_key, const json& data,
                   const std::string& idempotency_key) {
    return {{"op", "update"},
            {"idempotency_key", idempotency_key},
            {"target_key", target_key},
            {"data", data}};
}

// Reads pages until has_more is false; returns the records and the last next_cursor.
inline std::pair<std::vector<json>, std::string> read_all(Connection& c, const std::string& entity,
                                                          size_t limit, json cursor = nullptr) {
    std::vector<json> records;
    for (int pages = 0;; ++pages) {
        REQUIRE(pages < 1000000);
        json page = c.read_ok({{"entity", entity},
                               {"cursor", cursor},
                               {"since", nullptr},
                               {"limit", limit},
                               {"filter", json::object()}});
        REQUIRE(page["records"].size() <= limit);
        for (auto& r : page["records"]) records.push_back(r);
        cursor = page["next_cursor"];
        if (!page["has_more"].get<bool>()) break;
    }
    return {records, cursor.get<std::string>()};
}

inline std::vector<std::string> keys_of(const std::vector<json>& records) {
    std::vector<std::string> keys;
    for (const auto& r : records) keys.push_back(r["key"].get<std::string>());
    return keys;
}

}  // namespace files_test
