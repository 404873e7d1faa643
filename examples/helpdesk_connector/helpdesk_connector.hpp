// The "helpdesk" connector: a small REST connector written from docs/sdk.md alone — tickets
// read incrementally with a tie-safe cursor, created with an idempotency key, updated and
// looked up; a bearer token; 429 and 401 mapped to the statuses the host acts on.
//
// The helpdesk API it talks to is invented for this example (sandbox/helpdesk_sandbox.py
// serves it; README.md describes it).
//
// The class is in this header so unit tests can use it (tests/test_helpdesk.cpp);
// helpdesk_connector.cpp exports it.
//
// Build with -DHELPDESK_BROKEN to get a deliberately non-conforming variant, which
// `plexus connector check` must fail (tests/sdk_out_of_tree/run.sh does).
#pragma once

#include <plexus/connector.hpp>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#ifdef HELPDESK_BROKEN
#define HELPDESK_MANIFEST_VERSION "1.0.1"  // wrong: differs from `version` below
#else
#define HELPDESK_MANIFEST_VERSION "1.0.0"
#endif

namespace helpdesk {

namespace sdk = plexus::sdk;
using sdk::Error;
using sdk::json;

// Percent-encodes a query value (RFC 3986 unreserved characters kept).
inline std::string url_encode(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
        else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

// The cursor: the last ticket's updated_at and id, so tickets sharing a timestamp are
// neither skipped nor read twice (the API orders by both).
struct Cursor {
    std::string updated_at;
    std::string id;
    std::string text() const { return json{{"u", updated_at}, {"id", id}}.dump(); }
    static Cursor parse(const std::string& text) {
        json j = json::parse(text, nullptr, false);
        if (!j.is_object() || !j.contains("u") || !j.contains("id"))
            throw Error(PLEXUS_ERR_CONFIG, "helpdesk: cursor \"" + text + "\" is not one this connector wrote");
        return {j["u"].get<std::string>(), j["id"].get<std::string>()};
    }
};

class HelpdeskConnector : public sdk::Connector {
public:
    static constexpr const char* id = "helpdesk";
    static constexpr const char* version = "1.0.0";
    static constexpr const char* manifest = R"json({
      "id": "helpdesk", "name": "Helpdesk (SDK example)",
      "version": ")json" HELPDESK_MANIFEST_VERSION R"json(",
      "description": "Support tickets of the (invented) Helpdesk REST API: an example for partners.",
      "settings": [
        {"name": "base_url", "type": "string", "required": true,
         "description": "The API's address, e.g. https://acme.helpdesk.example (no trailing slash)."},
        {"name": "api_token", "type": "string", "secret": true, "required": true,
         "description": "An API token (Settings → API in the helpdesk); sent as a bearer token."}
      ],
      "entities": [
        {"name": "tickets", "description": "Support tickets.", "key": "id", "cursor": "updated_at",
         "capabilities": ["read", "incremental", "create", "update", "lookup"],
         "fields": [{"name": "id", "type": "string"}, {"name": "subject", "type": "string"},
                    {"name": "status", "type": "string"}, {"name": "requester_email", "type": "string"},
                    {"name": "external_id", "type": "string"}, {"name": "updated_at", "type": "string"}]}
      ],
      "rate_limit": {"requests_per_second": 20, "burst": 20}
    })json";

    HelpdeskConnector(sdk::Host& host, const json& settings)
        : host_(host),
          base_(settings.at("base_url").get<std::string>()),
          token_(settings.at("api_token").get<std::string>()) {
        if (base_.rfind("http://", 0) != 0 && base_.rfind("https://", 0) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "settings.base_url must start with https:// (or http://)");
        while (!base_.empty() && base_.back() == '/') base_.pop_back();
    }

    // The token works and says when it expires: warn a week ahead.
    void check() override {
        json me = call("GET", "/api/me", "");
        if (auto exp = me.find("token_expires_at_ms"); exp != me.end() && exp->is_number()) {
            const int64_t left_ms = exp->get<int64_t>() - host_.now_ms();
            if (left_ms < 7LL * 24 * 3600 * 1000)
                host_.warn("helpdesk: the API token expires in " + std::to_string(left_ms / 3600000) +
                           " h: make a new one (Settings → API)");
        }
    }

    sdk::ReadPage read(const sdk::ReadRequest& request) override {
        entity(request.entity);
        std::string path = "/api/tickets?limit=" + std::to_string(request.limit);
        if (request.cursor && !request.cursor->empty()) {
            Cursor c = Cursor::parse(*request.cursor);
            path += "&since=" + url_encode(c.updated_at) + "&after=" + url_encode(c.id);
        } else if (request.since) {
            path += "&since=" + url_encode(*request.since);
        }
        json body = call("GET", path, "");
        sdk::ReadPage page;
        for (const auto& t : body.at("tickets")) page.records.push_back(record(t));
        page.has_more = body.value("has_more", false);
        if (!page.records.empty()) {
            page.next_cursor = Cursor{page.records.back().cursor, page.records.back().key}.text();
        } else {
#ifdef HELPDESK_BROKEN
            page.next_cursor = "";  // wrong: the kit's read.empty_page_cursor rule fails it
#else
            // Nothing new: keep our place (never "").
            page.next_cursor = request.cursor ? *request.cursor
                                              : Cursor{request.since.value_or(""), ""}.text();
#endif
        }
        host_.debug("helpdesk: read " + std::to_string(page.records.size()) + " ticket(s)");
        return page;
    }

    std::vector<sdk::WriteResult> write(const std::string& name, const std::vector<sdk::WriteItem>& items) override {
        entity(name);
        std::vector<sdk::WriteResult> results;
        for (const auto& item : items) {
            json body = item.data;
            body.erase("id");
            body.erase("updated_at");
            sdk::HttpResponse r;
            if (item.op == sdk::WriteOp::Create) {
                body["external_id"] = item.idempotency_key;  // so lookup finds it after a crash
                r = send("POST", "/api/tickets", body.dump(), /*no_retry=*/true);
            } else {
                r = send("PUT", "/api/tickets/" + url_encode(item.target_key), body.dump(), false);
            }
            if (r.status == 200 || r.status == 201) {
                json t = json::parse(r.body, nullptr, false);
                if (!t.is_object()) {
                    results.push_back(sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, "helpdesk: malformed reply"));
                    continue;
                }
                results.push_back(sdk::WriteResult::ok(key_of(t), t.value("updated_at", "")));
            } else {
                results.push_back(sdk::WriteResult::failed(record_status(r.status), "helpdesk: HTTP " +
                                                               std::to_string(r.status) + ": " + r.body));
            }
        }
        return results;
    }

    sdk::LookupResult lookup(const sdk::LookupRequest& request) override {
        entity(request.entity);
        sdk::LookupResult result;
        if (request.key) {
            sdk::HttpResponse r = send("GET", "/api/tickets/" + url_encode(*request.key), "", false);
            if (r.status == 404) return result;
            json t = parse_ok(r);
            result.found = true;
            result.record = record(t);
            return result;
        }
#ifndef HELPDESK_BROKEN
        if (request.idempotency_key) {
            json body = call("GET", "/api/tickets?external_id=" + url_encode(*request.idempotency_key), "");
            const auto& tickets = body.at("tickets");
            if (tickets.empty()) return result;
            result.found = true;
            result.record = record(tickets.at(0));
            result.matches = static_cast<int64_t>(tickets.size());
        }
#endif
        return result;
    }

private:
    static void entity(const std::string& name) {
        if (name != "tickets") throw Error(PLEXUS_ERR_CONFIG, "helpdesk: unknown entity \"" + name + "\" (tickets)");
    }
    static std::string key_of(const json& t) {
        const json& id = t.at("id");
        return id.is_string() ? id.get<std::string>() : id.dump();
    }
    static sdk::Record record(const json& t) {
        json data = t;
        data["id"] = key_of(t);
        return sdk::Record{key_of(t), t.value("updated_at", ""), data};
    }
    // A record's failure: what the host does with each is in docs/sdk.md, "Statuses".
    static plexus_status record_status(int http) {
        if (http == 400 || http == 422) return PLEXUS_ERR_VALIDATION;
        if (http == 409) return PLEXUS_ERR_CONFLICT;
        if (http == 404) return PLEXUS_ERR_VALIDATION;
        return PLEXUS_ERR_TRANSIENT;
    }

    sdk::HttpResponse send(const std::string& method, const std::string& path, const std::string& body,
                           bool no_retry) {
        sdk::HttpRequest req;
        req.method = method;
        req.url = base_ + path;
        req.headers = {{"Authorization", "Bearer " + token_}, {"Accept", "application/json"}};
        if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
        req.body = body;
        req.no_retry = no_retry;
        sdk::HttpResponse r = host_.http(req);
        // Whole-call problems end the batch or the run: thrown, not per record.
        if (r.status == 401 || r.status == 403)
            // The API's answer helps the operator; the host redacts any secret in it.
            throw Error(PLEXUS_ERR_AUTH, "helpdesk: the API token was refused (HTTP " + std::to_string(r.status) +
                                             "): " + r.body);
        if (r.status == 429)
            throw Error(PLEXUS_ERR_RATE_LIMIT, "helpdesk: rate limited (HTTP 429) after the host's retries");
        return r;
    }
    static json parse_ok(const sdk::HttpResponse& r) {
        if (r.status >= 500) throw Error(PLEXUS_ERR_TRANSIENT, "helpdesk: HTTP " + std::to_string(r.status));
        if (r.status != 200) throw Error(PLEXUS_ERR_VALIDATION, "helpdesk: HTTP " + std::to_string(r.status) + ": " + r.body);
        json j = json::parse(r.body, nullptr, false);
        if (!j.is_object()) throw Error(PLEXUS_ERR_TRANSIENT, "helpdesk: the reply is not a JSON object");
        return j;
    }
    json call(const std::string& method, const std::string& path, const std::string& body) {
        return parse_ok(send(method, path, body, false));
    }

    sdk::Host& host_;
    std::string base_;
    std::string token_;
};

}  // namespace helpdesk

