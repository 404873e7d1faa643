#include "gomag_api.hpp"

namespace plexus::gomag {

using plexus::sdk::Error;
using plexus::sdk::HttpRequest;

namespace {
constexpr int kThrottleRetries = 4;  // after the host's own retries of a 429
}

GomagApi::GomagApi(plexus::sdk::Host& host, std::string base_url, std::string api_key, std::string shop,
                   std::string user_agent)
    : host_(host), base_(std::move(base_url)), key_(std::move(api_key)), shop_(std::move(shop)),
      agent_(std::move(user_agent)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

Verdict GomagApi::exchange(const std::string& method, const std::string& path, const Params& params,
                           const std::string& field, const json* value) {
    const std::string route = "/api/v1/" + path;
    const std::string what = method + " " + route;
    HttpRequest req;
    req.method = method;
    plexus::sdk::rest::Query query;
    for (const auto& [k, v] : params) query.add(k, v);
    req.url = query.to(base_ + route);
    req.headers = {{"Apikey", key_}, {"ApiShop", shop_}, {"User-Agent", agent_}, {"Accept", "application/json"}};
    if (value) {
        const std::string boundary = make_boundary(++boundaries_ + static_cast<uint64_t>(host_.now_ms()));
        req.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
        req.body = multipart_body(boundary, field, value->dump(-1, ' ', false, json::error_handler_t::replace));
    }
    const bool write = method != "GET";
    for (int attempt = 0;; ++attempt) {
        if (host_.cancelled()) throw Error(PLEXUS_ERR_CANCELLED, "cancelled before " + what);
        ++requests_;
        plexus::sdk::HttpResponse res = host_.http(req);
        const auto budget = budget_of(res.headers, write);
        if (budget && budget->burst > 0) host_.rate_observe(budget->burst - budget->remaining, budget->burst);
        Verdict v = judge(res.status, res.body, what);
        host_.debug(what + ": HTTP " + std::to_string(res.status) + (v.status == PLEXUS_OK ? "" : " (" + v.message + ")"));
        if (!v.throttled || attempt >= kThrottleRetries) return v;
        // The bucket is empty: tell the governor so (the next request waits for a leak), then
        // ask again. A 429 was already retried by the host, honouring Retry-After.
        const double burst = budget && budget->burst > 0 ? budget->burst : 1;
        host_.rate_observe(burst, burst);
        host_.debug("Gomag throttled " + what + "; asking again when the budget allows");
    }
}

json GomagApi::get(const std::string& path, const Params& params) {
    Verdict v = exchange("GET", path, params, {}, nullptr);
    if (v.status != PLEXUS_OK) throw Error(v.status, v.message);
    return std::move(v.body);
}

Verdict GomagApi::post(const std::string& path, const std::string& field, const json& value) {
    Verdict v = exchange("POST", path, {}, field, &value);
    if (v.status != PLEXUS_OK && v.status != PLEXUS_ERR_VALIDATION) throw Error(v.status, v.message);
    return v;
}

}  // namespace plexus::gomag
