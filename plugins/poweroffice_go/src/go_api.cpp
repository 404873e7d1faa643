#include "go_api.hpp"

#include <algorithm>

namespace plexus::pogo {

using plexus::sdk::Error;
using plexus::sdk::HttpRequest;

json Answer::parsed() const {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go (HTTP " + std::to_string(status) +
                                              " to " + what + "): the body is not JSON");
    return j;
}

GoApi::GoApi(plexus::sdk::Host& host, std::string base_url, std::string token_url, Keys keys)
    : host_(host), base_(std::move(base_url)), token_url_(std::move(token_url)), keys_(std::move(keys)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

void GoApi::fetch_token() {
    HttpRequest req;
    req.method = "POST";
    req.url = token_url_;
    req.headers = {{"Authorization", "Basic " + base64(keys_.application_key + ":" + keys_.client_key)},
                   {"Ocp-Apim-Subscription-Key", keys_.subscription_key},
                   {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"Accept", "application/json"}};
    req.body = "grant_type=client_credentials";
    const int64_t asked_at = host_.now_ms();
    const auto res = host_.http(req);
    const std::string what = plexus::sdk::rest::describe("POST", token_url_);
    if (res.status == 429) throw Error(PLEXUS_ERR_RATE_LIMIT, describe_error(res.status, res.body, what));
    if (res.status >= 500) throw Error(PLEXUS_ERR_TRANSIENT, describe_error(res.status, res.body, what));
    if (res.status != 200) {
        // 400 invalid_client: wrong application or client key, or keys of the other environment.
        throw Error(PLEXUS_ERR_AUTH, describe_error(res.status, res.body, what) +
                                         " — check application_key, client_key and subscription_key, and that "
                                         "base_url is the environment (demo or production) they belong to");
    }
    json j = json::parse(res.body, nullptr, false);
    if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
        j["access_token"].get<std::string>().empty())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed token response from PowerOffice Go (HTTP 200 to " + what +
                                              "): no access_token");
    token_ = j["access_token"].get<std::string>();
    // Renew a minute early (a tenth of the lifetime for short ones); the portal says 20 minutes,
    // the spec's example 600 s: expires_in decides.
    const int64_t life_ms = std::max<int64_t>(j.value("expires_in", int64_t{600}), 1) * 1000;
    token_renew_at_ms_ = asked_at + life_ms - std::min<int64_t>(60'000, life_ms / 10);
}

Answer GoApi::call(const std::string& method, const std::string& path_and_query, const std::string& body,
                   const std::string& content_type) {
    Answer a;
    a.what = plexus::sdk::rest::describe(method, base_ + "/" + path_and_query);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (token_.empty() || host_.now_ms() >= token_renew_at_ms_) fetch_token();
        HttpRequest req;
        req.method = method;
        req.url = base_ + "/" + path_and_query;
        req.headers = {{"Authorization", "Bearer " + token_},
                       {"Ocp-Apim-Subscription-Key", keys_.subscription_key},
                       {"Accept", "application/json"}};
        if (!content_type.empty()) {
            req.headers.emplace_back("Content-Type", content_type);
            req.body = body;
        }
        // The host retries every method (429 after Retry-After, 5xx, timeouts). A POST it
        // repeats after a lost answer is caught by Go's own duplicate checks — the
        // ExternalImportReference, the product code, an order invoiced once — which the
        // connector turns into adopting the first one (see README, "Idempotency").
        auto res = host_.http(req);
        a.status = res.status;
        a.body = std::move(res.body);
        if (a.status != 401 || attempt == 1) break;
        token_.clear();  // expired or revoked early: one fresh token, one more try
    }
    if (a.status == 401) throw Error(PLEXUS_ERR_AUTH, describe_error(a.status, a.body, a.what));
    return a;
}

json GoApi::expect(const std::string& method, const std::string& path_and_query, const json* body,
                   const std::string& content_type) {
    Answer a = body ? call(method, path_and_query, body->dump(-1, ' ', false, json::error_handler_t::replace), content_type)
                    : call(method, path_and_query);
    if (a.status < 200 || a.status > 299) throw Error(classify(a.status), describe_error(a.status, a.body, a.what));
    if (a.body.empty()) return json();
    return a.parsed();
}

std::optional<json> GoApi::find(const std::string& path) {
    Answer a = call("GET", path);
    if (a.status == 404) return std::nullopt;
    if (a.status < 200 || a.status > 299) throw Error(classify(a.status), describe_error(a.status, a.body, a.what));
    json j = a.parsed();
    if (!j.is_object())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go (HTTP 200 to " + a.what + "): not an object");
    return j;
}

std::vector<json> GoApi::list_page(const std::string& path, const std::string& query, int64_t page, int64_t size) {
    plexus::sdk::rest::Query paging;
    plexus::sdk::rest::PageNumber{page, size}.add_to(paging, "PageNumber", "PageSize");
    Answer a = call("GET", path + "?" + query + (query.empty() ? "" : "&") + paging.str());
    if (a.status == 204) return {};
    if (a.status < 200 || a.status > 299) throw Error(classify(a.status), describe_error(a.status, a.body, a.what));
    json j = a.parsed();
    if (!j.is_array())
        throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go (HTTP 200 to " + a.what + "): not a list");
    std::vector<json> rows;
    rows.reserve(j.size());
    for (auto& r : j) {
        if (!r.is_object())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go (HTTP 200 to " + a.what + "): a row is not an object");
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<json> GoApi::list_all(const std::string& path, const std::string& query, int64_t size,
                                  const std::function<bool(const json&)>& enough) {
    std::vector<json> out;
    for (plexus::sdk::rest::PageNumber p{1, size}; p.has_more() && p.page < 100000;) {
        auto rows = list_page(path, query, p.page, size);
        p.next(rows.size());  // a short page is the last
        for (auto& r : rows) {
            out.push_back(std::move(r));
            if (enough && enough(out.back())) return out;
        }
    }
    return out;
}

}  // namespace plexus::pogo
