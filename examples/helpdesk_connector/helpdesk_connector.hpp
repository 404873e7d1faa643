// The "helpdesk" connector: a small REST connector written from docs/sdk.md alone with the
// SDK's REST helpers (<plexus/rest.hpp>) — tickets read incrementally with a tie-safe cursor
// (rest::TieCursor), created with an idempotency key, updated and looked up; a bearer token;
// HTTP answers mapped to the statuses the host acts on (rest::failure).
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
#include <plexus/rest.hpp>

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

namespace rest = plexus::sdk::rest;

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
        json me = call("GET", "/api/me");
        if (auto exp = me.find("token_expires_at_ms"); exp != me.end() && exp->is_number()) {
            const int64_t left_ms = exp->get<int64_t>() - host_.now_ms();
            if (left_ms < 7LL * 24 * 3600 * 1000)
                host_.warn("helpdesk: the API token expires in " + std::to_string(left_ms / 3600000) +
                           " h: make a new one (Settings → API)");
        }
    }

    sdk::ReadPage read(const sdk::ReadRequest& request) override {
        entity(request.entity);
        // Where to resume: the stored cursor, or the operator's rewind (since), or the start.
        rest::TieCursor cursor = rest::TieCursor::from(request);
        rest::Query query;
        query.add("limit", request.limit);
        // The API orders by (updated_at, id) and resumes after both: no tie is lost or repeated.
        if (!cursor.at.empty()) query.add("since", cursor.at);
        if (!cursor.keys.empty()) query.add("after", cursor.last_key());
        json body = call("GET", query.to("/api/tickets"));
        sdk::ReadPage page;
        for (const auto& t : body.at("tickets")) {
            page.records.push_back(record(t));
            cursor.advance(page.records.back().cursor, page.records.back().key);
        }
        page.has_more = body.value("has_more", false);
        // Never "": an empty page keeps the position it was given.
        page.next_cursor = cursor.encode();
#ifdef HELPDESK_BROKEN
        if (page.records.empty()) page.next_cursor = "";  // wrong: the kit's read.empty_page_cursor rule fails it
#endif
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
            const bool create = item.op == sdk::WriteOp::Create;
            if (create) body["external_id"] = item.idempotency_key;  // so lookup finds it after a crash
            const std::string path = create ? "/api/tickets" : "/api/tickets/" + rest::url_encode(item.target_key);
            // A create is sent once (no_retry): a retried POST that timed out could create twice.
            sdk::HttpResponse r = send(create ? "POST" : "PUT", path, body.dump(), /*no_retry=*/create);
            rest::Failure f = rest::failure(r, rest::describe(create ? "POST" : "PUT", path), "helpdesk");
            if (!f.ok()) {
                // Per record (docs/sdk.md §7): a ticket gone since it was created is a refusal
                // of this record (VALIDATION), not a NOT_FOUND.
                if (f.status == PLEXUS_ERR_NOT_FOUND) f.status = PLEXUS_ERR_VALIDATION;
                results.push_back(f.result());
                continue;
            }
            json t = json::parse(r.body, nullptr, false);
            if (!t.is_object() || !t.contains("id")) {
                results.push_back(sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, "helpdesk: malformed reply"));
                continue;
            }
            results.push_back(sdk::WriteResult::ok(key_of(t), t.value("updated_at", "")));
        }
        return results;
    }

    sdk::LookupResult lookup(const sdk::LookupRequest& request) override {
        entity(request.entity);
        sdk::LookupResult result;
        if (request.key) {
            const std::string path = "/api/tickets/" + rest::url_encode(*request.key);
            sdk::HttpResponse r = send("GET", path, "", false);
            if (r.status == 404) return result;
            json t = rest::parse_json(r, rest::describe("GET", path), "helpdesk");
            result.found = true;
            result.record = record(t);
            return result;
        }
#ifndef HELPDESK_BROKEN
        if (request.idempotency_key) {
            json body = call("GET", rest::Query{{"external_id", *request.idempotency_key}}.to("/api/tickets"));
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
        // Whole-call problems (401/403, a 429 after the host's retries, a redirect) end the
        // batch or the run: thrown, not per record. The message names the call and the API's
        // explanation, never the token (and the host redacts secrets once more).
        if (rest::Failure f = rest::failure(r, rest::describe(method, path), "helpdesk"); rest::stops_run(f.status))
            f.raise();
        return r;
    }
    json call(const std::string& method, const std::string& path) {
        return rest::parse_json(send(method, path, "", false), rest::describe(method, path), "helpdesk");
    }

    sdk::Host& host_;
    std::string base_;
    std::string token_;
};

}  // namespace helpdesk

