#include "admin_api.hpp"

#include <cctype>

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::HttpRequest;

std::string id_text(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

plexus::sdk::LookupResult found_record(json object, std::string key) {
    plexus::sdk::LookupResult r;
    r.found = true;
    r.record.key = key.empty() ? id_text(object["id"]) : std::move(key);
    if (object.contains("updated_at") && object["updated_at"].is_string())
        if (auto t = parse_timestamp(object["updated_at"].get<std::string>())) r.record.cursor = format_utc(*t);
    r.record.data = std::move(object);
    return r;
}

std::optional<int64_t> id_number(const json& value) {
    if (value.is_number_integer()) return value.get<int64_t>() > 0 ? std::optional<int64_t>(value.get<int64_t>()) : std::nullopt;
    if (value.is_number_float()) {
        const double d = value.get<double>();
        if (d > 0 && d < 9.0e15 && d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
        return std::nullopt;
    }
    if (!value.is_string()) return std::nullopt;
    const std::string& s = value.get_ref<const std::string&>();
    if (s.empty() || s.size() > 18) return std::nullopt;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    const long long v = std::atoll(s.c_str());
    return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
}

Exchange AdminApi::call(const std::string& method, const std::string& path_and_query, const std::string& body) {
    HttpRequest req;
    req.method = method;
    const std::string path = "/admin/api/" + version_ + "/" + path_and_query;
    req.url = base_ + path;
    req.headers = {{"X-Shopify-Access-Token", token_}, {"Accept", "application/json"}};
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.headers.emplace_back("Content-Type", "application/json");
        req.body = body;
    }
    Exchange x{host_.http(req), exchange_name(method, path)};
    if (auto limit = parse_call_limit(x.response.header("X-Shopify-Shop-Api-Call-Limit")))
        host_.rate_observe(limit->used, limit->max);
    // Shopify serves an unsupported version as the oldest supported one and says so in
    // X-Shopify-API-Version (shopify.dev/docs/api/usage/versioning): tell the operator once.
    if (const std::string served = x.response.header("X-Shopify-API-Version");
        !served.empty() && served != version_ && !version_warned_) {
        version_warned_ = true;
        host_.warn("Shopify served API version " + served + " instead of the configured " + version_ +
                   " (no longer supported): set api_version to a supported version");
    }
    if (!x.response.header("X-Shopify-API-Deprecated-Reason").empty())
        host_.warn("Shopify says " + x.name + " is deprecated: " + x.response.header("X-Shopify-API-Deprecated-Reason"));
    return x;
}

Exchange AdminApi::send(const std::string& method, const std::string& path, const json& body) {
    return call(method, path, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

json AdminApi::get_object(const std::string& path_and_query, const std::string& singular) {
    Exchange x = call("GET", path_and_query);
    if (Failure f = classify(x.response.status, x.response.body, x.name); f.status != PLEXUS_OK)
        throw Error(f.status, f.message);
    json j = parse_body(x.response.status, x.response.body, x.name);
    auto it = j.find(singular);
    if (it == j.end() || !it->is_object())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " + std::to_string(x.response.status) +
                                              " on " + x.name + "): no \"" + singular + "\"");
    return std::move(*it);
}

std::optional<json> AdminApi::find_object(const std::string& path_and_query, const std::string& singular) {
    Exchange x = call("GET", path_and_query);
    if (x.response.status == 404) return std::nullopt;
    if (Failure f = classify(x.response.status, x.response.body, x.name); f.status != PLEXUS_OK)
        throw Error(f.status, f.message);
    json j = parse_body(x.response.status, x.response.body, x.name);
    auto it = j.find(singular);
    if (it == j.end() || !it->is_object())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Shopify (HTTP " + std::to_string(x.response.status) +
                                              " on " + x.name + "): no \"" + singular + "\"");
    return std::move(*it);
}

std::vector<json> AdminApi::get_all(const std::string& path_and_query, const std::string& plural, size_t max_items,
                                    bool require_id) {
    std::vector<json> out;
    // Later pages: only limit (and fields) beside page_info; Shopify's cursor carries the rest.
    const auto q = path_and_query.find('?');
    const std::string path = path_and_query.substr(0, q);
    std::string keep;  // limit=…&fields=… of the first request
    if (q != std::string::npos) {
        const std::string query = path_and_query.substr(q + 1);
        size_t p = 0;
        while (p <= query.size()) {
            size_t amp = query.find('&', p);
            if (amp == std::string::npos) amp = query.size();
            const std::string kv = query.substr(p, amp - p);
            if (kv.rfind("limit=", 0) == 0 || kv.rfind("fields=", 0) == 0) keep += (keep.empty() ? "" : "&") + kv;
            p = amp + 1;
        }
    }
    std::string next = path_and_query;
    std::string previous_page_info;
    for (;;) {
        Exchange x = call("GET", next);
        ListPage page =
            parse_list_page(x.response.status, x.response.header("Link"), x.response.body, plural, x.name, require_id);
        for (auto& item : page.items) {
            out.push_back(std::move(item));
            if (out.size() >= max_items) return out;
        }
        if (!page.next_page_info) return out;
        // A next link back to the page just read would loop for ever.
        if (*page.next_page_info == previous_page_info)
            throw Error(PLEXUS_ERR_TRANSIENT, "Shopify's Link header on " + x.name + " names the same page again as next");
        previous_page_info = *page.next_page_info;
        // page_info is sent re-encoded (the Link header may have come decoded), beside only
        // limit and fields: Shopify refuses other parameters with page_info.
        next = path + "?" + keep + (keep.empty() ? "" : "&") + "page_info=" + url_encode(*page.next_page_info);
    }
}

}  // namespace plexus::shopify
