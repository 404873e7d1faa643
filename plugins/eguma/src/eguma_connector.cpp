// The e-guma connector: voucher redemptions and depot-voucher activations written through
// e-guma's REST API v1, voucher balances read for support staff, and web-shop sales events
// read from the hub's webhook inbox. Design and decisions: plugins/eguma/README.md.
//
// Money is never risked on a guess: redeem, cancel_redemption, activate and deactivate are
// sent once (no_retry); an answer that is lost is resolved by reading the state again
// (balance, activate/deactivate status), never by sending the write again.
#include "eguma_wire.hpp"

#include <plexus/connector.hpp>

#include <chrono>
#include <ctime>
#include <map>
#include <thread>

using plexus::sdk::Error;
using plexus::sdk::json;
namespace sdk = plexus::sdk;
namespace eg = plexus::eguma;

namespace {

constexpr const char* kManifest = R"json({
  "id": "eguma", "name": "e-guma", "version": "1.0.0",
  "description": "e-guma (Swiss voucher system) through its REST API v1: redeem vouchers and cancel redemptions, activate and deactivate depot vouchers, check a voucher's balance; and the web shop's sales events pushed by e-guma to the hub's webhook inbox.",
  "settings": [
    {"name": "api_key", "type": "string", "required": true, "secret": true,
     "description": "The outlet's API key (e-guma gives one per outlet). It travels in the apikey query parameter, so it is kept out of every message and log line. Write it as ${EGUMA_API_KEY}."},
    {"name": "base_url", "type": "string", "default": "https://api.e-guma.ch",
     "description": "Scheme, host and port of the API, without /v1 (the sandbox: http://127.0.0.1:8083)."},
    {"name": "currency", "type": "string", "default": "CHF",
     "description": "The account's currency (CHF or EUR). A voucher or a record in another currency is refused."},
    {"name": "webhook_secret", "type": "string", "secret": true, "default": "",
     "description": "The secret shared with e-guma for its sales events (HMAC-SHA256 of timestamp.body): the hub's webhook inbox checks X-Eguma-Signature with it."},
    {"name": "timeout_ms", "type": "integer", "default": 20000,
     "description": "How long one request may take. A redeem, cancel, activate or deactivate whose answer does not come in time is resolved by reading the voucher again, never sent twice."},
    {"name": "recheck_ms", "type": "integer", "default": 1500,
     "description": "After a lost redeem or cancel answer and an unchanged balance: wait this long and read the balance once more before concluding that nothing happened."},
    {"name": "interrupted_redeem", "type": "string", "default": "stop",
     "description": "What the host's lookup after a crash answers when e-guma cannot tell whether an interrupted redeem took effect: stop (the run fails, naming the order and voucher, until someone checked the back office) or not_redeemed (treat it as not made: redeem again). See the README."}
  ],
  "entities": [
    {"name": "redemptions", "key": "target",
     "capabilities": ["create", "update", "lookup"],
     "fields": [
       {"name": "reference_number", "type": "string"}, {"name": "currency", "type": "string"},
       {"name": "vouchers", "type": "array"}, {"name": "amount_due", "type": "number"},
       {"name": "cancelled", "type": "string"}, {"name": "status", "type": "string"},
       {"name": "voucher_gateway", "type": "string"}, {"name": "gateways", "type": "array"},
       {"name": "voucher_label", "type": "string"}, {"name": "voucher_code_pattern", "type": "string"},
       {"name": "code", "type": "string", "description": "vouchers[].code"},
       {"name": "amount", "type": "number", "description": "vouchers[].amount"},
       {"name": "label", "type": "string", "description": "vouchers[].label"}]},
    {"name": "depot_activations", "key": "target",
     "capabilities": ["create", "update", "lookup"],
     "fields": [
       {"name": "code", "type": "string"}, {"name": "amount", "type": "number"},
       {"name": "currency", "type": "string"}, {"name": "reference_number", "type": "string"},
       {"name": "cancelled", "type": "string"}, {"name": "status", "type": "string"}]},
    {"name": "voucher_balance", "key": "code",
     "capabilities": ["read", "lookup"],
     "fields": [
       {"name": "code", "type": "string"}, {"name": "is_redeemable", "type": "boolean"},
       {"name": "balance", "type": "string"}, {"name": "balance_in_cents", "type": "integer"},
       {"name": "total_amount", "type": "string"}, {"name": "total_amount_in_cents", "type": "integer"},
       {"name": "currency", "type": "string"}, {"name": "product_id", "type": "string"},
       {"name": "message", "type": "string"}, {"name": "entered", "type": "string"},
       {"name": "status", "type": "string"}, {"name": "valid_until", "type": "string"},
       {"name": "expired", "type": "boolean"}, {"name": "name", "type": "string"},
       {"name": "description", "type": "string"}]},
    {"name": "sales_events", "key": "sale_id", "cursor": "event_seq", "inbox": true, "open": true,
     "capabilities": ["read", "incremental"],
     "fields": [
       {"name": "sale_id", "type": "string"}, {"name": "kind", "type": "string"},
       {"name": "version", "type": "integer"}, {"name": "status", "type": "string"},
       {"name": "currency", "type": "string"}, {"name": "invoice_number", "type": "string"},
       {"name": "payment_method", "type": "string"}, {"name": "created_at", "type": "string"},
       {"name": "updated_at", "type": "string"}, {"name": "event_type", "type": "string"},
       {"name": "event_id", "type": "string"}, {"name": "event_seq", "type": "integer"},
       {"name": "lines", "type": "array"}, {"name": "redemptions", "type": "array"},
       {"name": "totals", "type": "object"}, {"name": "totals_in_cents", "type": "object"},
       {"name": "total", "type": "string"}, {"name": "total_in_cents", "type": "integer"}]},
    {"name": "redemption_events", "key": "redemption_id", "cursor": "event_seq", "inbox": true, "open": true,
     "capabilities": ["read", "incremental"],
     "fields": [
       {"name": "redemption_id", "type": "string"}, {"name": "booking", "type": "string"},
       {"name": "voucher_code", "type": "string"}, {"name": "payment_method", "type": "string"},
       {"name": "amount", "type": "string"}, {"name": "amount_in_cents", "type": "integer"},
       {"name": "redeemed_amount", "type": "string"}, {"name": "redeemed_amount_in_cents", "type": "integer"},
       {"name": "cancelled", "type": "boolean"}, {"name": "currency", "type": "string"},
       {"name": "redeemed_at", "type": "string"}, {"name": "sale_id", "type": "string"},
       {"name": "sale_kind", "type": "string"}, {"name": "sale_status", "type": "string"},
       {"name": "version", "type": "integer"}, {"name": "event_type", "type": "string"},
       {"name": "event_id", "type": "string"}, {"name": "event_seq", "type": "integer"}]}
  ],
  "webhooks": {
    "secret_setting": "webhook_secret",
    "signature": {"header": "X-Eguma-Signature", "algorithm": "hmac-sha256", "encoding": "hex",
                  "prefix": "sha256=", "signed": "timestamp.body"},
    "timestamp": {"header": "X-Eguma-Timestamp", "tolerance_s": 300},
    "event_id": {"header": "X-Eguma-Event-Id"},
    "topic": {"header": "X-Eguma-Event-Type"},
    "topics": {"*": ["sales_events", "redemption_events"]}
  }
})json";

// What one call to e-guma gave: an answer (any status), or none (timeout, dropped connection).
struct Answer {
    bool answered = false;
    int status = 0;
    std::string body;
    json doc;  // the body parsed, when it is a JSON object
    std::string failure;  // when !answered: why (no URL, no key)
};

class EgumaConnector final : public sdk::Connector {
public:
    static constexpr const char* id = "eguma";
    static constexpr const char* version = "1.0.0";
    static constexpr const char* manifest = kManifest;

    EgumaConnector(sdk::Host& host, const json& s) : host_(host) {
        key_ = s.value("api_key", "");
        if (key_.empty()) throw Error(PLEXUS_ERR_CONFIG, "api_key: empty; give the outlet's e-guma API key");
        base_ = s.value("base_url", "https://api.e-guma.ch");
        while (!base_.empty() && base_.back() == '/') base_.pop_back();
        if (base_.rfind("http://", 0) != 0 && base_.rfind("https://", 0) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "base_url: \"" + base_ + "\" must start with https:// (or http:// for a sandbox)");
        for (char c : s.value("currency", "CHF")) currency_ += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (currency_.size() != 3) throw Error(PLEXUS_ERR_CONFIG, "currency: \"" + currency_ + "\" is not a currency code (CHF or EUR)");
        timeout_ms_ = static_cast<uint32_t>(std::max<int64_t>(100, s.value("timeout_ms", int64_t{20000})));
        recheck_ms_ = std::max<int64_t>(0, s.value("recheck_ms", int64_t{1500}));
        interrupted_ = s.value("interrupted_redeem", "stop");
        if (interrupted_ != "stop" && interrupted_ != "not_redeemed")
            throw Error(PLEXUS_ERR_CONFIG, "interrupted_redeem: \"" + interrupted_ + "\" is neither stop nor not_redeemed");
    }

    void check() override {
        // Any code answers 200 with a valid key (an unknown one is "not redeemable"); 401 otherwise.
        Answer a = call("GET", "/v1/vouchers/" + eg::path_encode("PLEXUSCHECK0") + "/balance.json", {}, true);
        expect_json(a, "GET", "/v1/vouchers/…/balance.json");
    }

    sdk::ReadPage read(const sdk::ReadRequest& r) override {
        return (this->*entity_with(r.entity, &EntityOps::read, "reading", "reads").read)(r);
    }

    std::vector<sdk::WriteResult> write(const std::string& entity, const std::vector<sdk::WriteItem>& items) override {
        const EntityOps& e = entity_with(entity, &EntityOps::create, "writing", "writes");
        std::vector<sdk::WriteResult> out;
        for (const auto& item : items) out.push_back((this->*(item.op == sdk::WriteOp::Create ? e.create : e.update))(item));
        return out;
    }

    sdk::LookupResult lookup(const sdk::LookupRequest& r) override {
        return (this->*entity_with(r.entity, &EntityOps::lookup, "lookup", "looks up").lookup)(r);
    }

private:
    // ---- entities ----
    // What each entity does; an operation it lacks is null (creating and updating go together).
    // The order is the one the "unknown entity" errors list them in.
    struct EntityOps {
        const char* name;
        sdk::ReadPage (EgumaConnector::*read)(const sdk::ReadRequest&);
        sdk::WriteResult (EgumaConnector::*create)(const sdk::WriteItem&);
        sdk::WriteResult (EgumaConnector::*update)(const sdk::WriteItem&);
        sdk::LookupResult (EgumaConnector::*lookup)(const sdk::LookupRequest&);
    };
    static const std::vector<EntityOps>& entities() {
        static const std::vector<EntityOps> table = {
            {"sales_events", &EgumaConnector::read_sales_events, nullptr, nullptr, nullptr},
            {"redemption_events", &EgumaConnector::read_redemption_events, nullptr, nullptr, nullptr},
            {"voucher_balance", &EgumaConnector::read_balances, nullptr, nullptr, &EgumaConnector::lookup_balance},
            {"redemptions", nullptr, &EgumaConnector::redeem, &EgumaConnector::cancel_redemptions,
             &EgumaConnector::lookup_redemptions},
            {"depot_activations", nullptr, &EgumaConnector::activate, &EgumaConnector::deactivate,
             &EgumaConnector::lookup_depot},
        };
        return table;
    }
    // The row of `entity` when it has the operation `op`; otherwise a config error naming those
    // that have it ("unknown entity "x" for writing: e-guma writes redemptions and depot_activations").
    template <class Op>
    static const EntityOps& entity_with(const std::string& entity, Op EntityOps::*op, const char* doing, const char* verb) {
        std::string able;
        std::vector<const char*> names;
        for (const auto& e : entities()) {
            if (!(e.*op)) continue;
            if (entity == e.name) return e;
            names.push_back(e.name);
        }
        for (size_t i = 0; i < names.size(); ++i)
            able += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + std::string(names[i]);
        throw Error(PLEXUS_ERR_CONFIG, "unknown entity \"" + entity + "\" for " + doing + ": e-guma " + verb + " " + able);
    }

    sdk::ReadPage read_sales_events(const sdk::ReadRequest& r) { return read_sales(r, false); }
    sdk::ReadPage read_redemption_events(const sdk::ReadRequest& r) { return read_sales(r, true); }

    // voucher_balance: the vouchers a filter names, each as balance_record has it.
    sdk::ReadPage read_balances(const sdk::ReadRequest& r) {
        std::vector<std::string> codes;
        if (auto c = r.filter.find("code"); c != r.filter.end() && c->is_string()) codes.push_back(*c);
        if (auto c = r.filter.find("codes"); c != r.filter.end() && c->is_array())
            for (const auto& x : *c)
                if (x.is_string()) codes.push_back(x);
        if (codes.empty())
            throw Error(PLEXUS_ERR_CONFIG,
                        "voucher_balance reads the vouchers a filter names: {\"code\": \"L4FU-5LQT-KJR3\"} or {\"codes\": […]}");
        sdk::ReadPage page;
        for (const auto& c : codes) {
            json b = balance_record(c);
            b.erase("known");
            page.records.push_back({b["code"], "", b});
        }
        return page;
    }

    sdk::LookupResult lookup_balance(const sdk::LookupRequest& r) {
        if (!r.key) return {};
        json b = balance_record(*r.key);
        if (!b["known"].get<bool>()) return {};
        b.erase("known");
        sdk::LookupResult res;
        res.found = true;
        res.record = {b["code"], "", b};
        return res;
    }

    // ---- HTTP ----
    // The key goes only into the URL handed to the host; every message names method and path.
    Answer call(const std::string& method, const std::string& path, const json& body, bool retry_ok) {
        sdk::HttpRequest req;
        req.method = method;
        req.url = base_ + path + "?apikey=" + eg::path_encode(key_);
        req.timeout_ms = timeout_ms_;
        req.no_retry = !retry_ok;
        req.headers.push_back({"Accept", "application/json"});
        if (method == "POST") {
            req.headers.push_back({"Content-Type", "application/json"});
            req.body = body.is_null() ? "{}" : body.dump();
        }
        Answer a;
        try {
            sdk::HttpResponse res = host_.http(req);
            a.answered = true;
            a.status = res.status;
            a.body = scrub(res.body);
            json j = json::parse(res.body, nullptr, false);
            if (j.is_object()) a.doc = std::move(j);
        } catch (const Error& e) {
            if (e.status() == PLEXUS_ERR_AUTH || e.status() == PLEXUS_ERR_CANCELLED || e.status() == PLEXUS_ERR_CONFIG)
                throw Error(e.status(), scrub(e.what()));
            a.failure = scrub(e.what());
        }
        if (a.answered && (a.status == 401 || a.status == 403))
            throw Error(PLEXUS_ERR_AUTH, "e-guma refused the API key (HTTP " + std::to_string(a.status) + " on " + method + " " +
                                             shown(path) + "): check this outlet's api_key setting");
        if (a.answered && a.status == 429)
            throw Error(PLEXUS_ERR_RATE_LIMIT, "e-guma answered 429 Too Many Requests on " + method + " " + shown(path));
        return a;
    }

    // A read (GET) that must answer 200 with a JSON object; anything else throws.
    const json& expect_json(const Answer& a, const std::string& method, const std::string& path) {
        if (!a.answered)
            throw Error(PLEXUS_ERR_TRANSIENT, "no answer from e-guma on " + method + " " + shown(path) + ": " + a.failure);
        if (a.status >= 500)
            throw Error(PLEXUS_ERR_TRANSIENT, "e-guma answered HTTP " + std::to_string(a.status) + " on " + method + " " + shown(path));
        if (a.status >= 400)
            throw Error(PLEXUS_ERR_VALIDATION, "e-guma refused " + method + " " + shown(path) + " (HTTP " +
                                                   std::to_string(a.status) + "): " + snippet(a.body));
        if (a.status < 200 || a.status >= 300 || !a.doc.is_object())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed answer from e-guma (HTTP " + std::to_string(a.status) + " on " +
                                                  method + " " + shown(path) + ")");
        return a.doc;
    }

    // Never let the key through, whatever a server or a library put into a text.
    std::string scrub(std::string s) const {
        for (const std::string& k : {key_, eg::path_encode(key_)}) {
            if (k.empty()) continue;
            for (size_t p = s.find(k); p != std::string::npos; p = s.find(k, p)) s.replace(p, k.size(), "***");
        }
        return s;
    }
    // A refused key, a spent budget or a cancelled run ends the whole batch, not one record.
    static void rethrow_if_batch_wide(const Error& e) {
        if (e.status() == PLEXUS_ERR_AUTH || e.status() == PLEXUS_ERR_RATE_LIMIT || e.status() == PLEXUS_ERR_CANCELLED) throw e;
    }
    static std::string shown(const std::string& path) { return path; }  // no query string, ever
    std::string snippet(const std::string& body) const {
        std::string s = scrub(body);
        if (s.size() > 300) s = s.substr(0, 300) + "…";
        return s.empty() ? "(no text)" : s;
    }
    static std::string vpath(const std::string& code, const char* action) {
        return "/v1/vouchers/" + eg::path_encode(code) + "/" + action;
    }
    static std::string dpath(const std::string& code, const char* action) {
        return "/v1/depot_vouchers/" + eg::path_encode(code) + "/" + action;
    }

    json balance(const std::string& code) {
        const std::string path = vpath(code, "balance.json");
        json b = expect_json(call("GET", path, {}, true), "GET", path);
        if (!b.contains("is_redeemable") || !b.contains("balance_in_cents") || !b["balance_in_cents"].is_number_integer())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed balance answer from e-guma (GET " + path + ")");
        return b;
    }

    json balance_record(const std::string& raw) {
        std::string why;
        auto code = eg::normalise_code(raw, &why);
        if (!code) throw Error(PLEXUS_ERR_VALIDATION, "voucher code \"" + raw + "\": " + why);
        json b = balance(*code);
        const int64_t bal = b.value("balance_in_cents", int64_t{0}), total = b.value("total_amount_in_cents", int64_t{0});
        const bool redeemable = b.value("is_redeemable", false) == true;
        const std::string real = b.value("code", json()).is_string() && !b["code"].get<std::string>().empty()
                                     ? b["code"].get<std::string>()
                                     : *code;
        // Name and validity come only from info.json (display only): asked with the code
        // balance returned; a refusal or no answer leaves them empty, never fails the record.
        json info = voucher_info(real);
        const bool known = redeemable || bal > 0 || total > 0 ||
                           (info.is_object() && info.value("code", json()).is_string() && !info["code"].get<std::string>().empty());
        auto text = [](const json& j, const char* k) {
            return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
        };
        const std::string valid_until = text(info, "valid_until");
        const std::string today = iso_date(host_.now_ms());
        return {{"code", real},
                {"entered", raw},
                {"known", known},
                {"status", eg::voucher_status(known, redeemable, bal, valid_until, today)},
                {"is_redeemable", redeemable},
                {"balance", eg::format_cents(bal)},
                {"balance_in_cents", bal},
                {"total_amount", eg::format_cents(total)},
                {"total_amount_in_cents", total},
                {"currency", b.value("currency", json()).is_string() ? b["currency"] : json(currency_)},
                {"valid_until", valid_until.empty() ? json() : json(valid_until)},
                {"expired", valid_until.size() >= 10 ? json(valid_until.substr(0, 10) < today) : json()},
                {"name", text(info, "name")},
                {"description", text(info, "description")},
                {"product_id", b.value("product_id", json()).is_string() ? b["product_id"] : json("")},
                {"message", b.value("message", json()).is_string() ? b["message"] : json("")}};
    }

    // GET …/info.json: name, description, valid_until. Null when e-guma refuses (400: an
    // unknown code in the sandbox; undocumented for the live API) or does not answer.
    json voucher_info(const std::string& code) {
        const std::string path = vpath(code, "info.json");
        Answer a = call("GET", path, {}, true);  // 401/403/429 throw: the key is the batch's problem
        if (a.answered && a.status >= 200 && a.status < 300 && a.doc.is_object()) return a.doc;
        if (!a.answered || a.status >= 500)
            host_.warn("e-guma voucher information unavailable (GET " + shown(path) + "): " +
                       (a.answered ? "HTTP " + std::to_string(a.status) : a.failure));
        return json();
    }

    static std::string iso_date(int64_t ms) {
        const std::time_t t = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[16];
        std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
        return buf;
    }

    void pause(int64_t ms) {
        const int64_t until = host_.now_ms() + ms;
        while (host_.now_ms() < until && !host_.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    // ---- redemptions ----
    static std::string what_of(const eg::RedemptionRequest& r, const sdk::WriteItem& item) {
        return "order " + (r.reference.empty() ? item.idempotency_key : r.reference);
    }

    struct Planned {
        std::string code;  // as balance returned it
        int64_t cents = 0, before = 0;
    };

    sdk::WriteResult redeem(const sdk::WriteItem& item) {
        eg::RedemptionRequest req;
        try {
            req = eg::parse_redemption_request(item.data);
        } catch (const std::invalid_argument& e) {
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, "redemption: " + std::string(e.what()));
        }
        const std::string what = what_of(req, item);
        if (req.cancelled || req.vouchers.empty()) return sdk::WriteResult::ok(eg::encode_redemptions({}));
        if (!req.currency.empty() && req.currency != currency_)
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + ": currency " + req.currency +
                                                                      " is not the e-guma account's " + currency_);
        // Check every voucher first: nothing is redeemed unless all can be.
        std::vector<Planned> plan;
        std::map<std::string, int64_t> planned;  // by code
        std::optional<int64_t> still_due = req.total_due;
        for (const auto& v : req.vouchers) {
            json b;
            try {
                b = balance(v.code);
            } catch (const Error& e) {
                rethrow_if_batch_wide(e);
                return sdk::WriteResult::failed(e.status(), what + ": voucher " + v.code + ": " + e.what());
            }
            if (!b.value("is_redeemable", false)) {
                const std::string m = b.value("message", json()).is_string() ? b["message"].get<std::string>() : "";
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                                what + ": voucher " + v.code + " is not redeemable" +
                                                    (m.empty() ? "" : " (e-guma: " + m + ")") + "; nothing was redeemed");
            }
            const std::string cur = b.value("currency", json()).is_string() ? b["currency"].get<std::string>() : currency_;
            if (cur != currency_ || (!req.currency.empty() && cur != req.currency))
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + ": voucher " + v.code + " is in " + cur +
                                                                          ", the order in " + (req.currency.empty() ? currency_ : req.currency));
            // The same voucher twice in one order: the second use sees what the first leaves.
            const std::string code = b.value("code", v.code);
            const int64_t before = b["balance_in_cents"].get<int64_t>() - planned[code];
            const int64_t amount = eg::amount_to_redeem(still_due, v.cap, before);
            if (amount <= 0) continue;
            if (still_due) *still_due -= amount;
            planned[code] += amount;
            plan.push_back({code, amount, before});
        }
        std::vector<eg::Redemption> done;
        for (const auto& p : plan) {
            const std::string path = vpath(p.code, "redeem.json");
            json body{{"amount_in_cents", p.cents}, {"reference_number", req.reference.empty() ? item.idempotency_key : req.reference}};
            Answer a = call("POST", path, body, false);
            if (a.answered && a.status >= 200 && a.status < 300 && a.doc.is_object() && a.doc.value("redeem_token", json()).is_string()) {
                done.push_back({a.doc.value("code", p.code), p.cents, a.doc["redeem_token"].get<std::string>(), false});
                continue;
            }
            std::string problem;
            if (a.answered && a.status >= 400 && a.status < 500) {
                // A refusal: nothing was redeemed by this request.
                problem = "e-guma refused to redeem " + eg::format_cents(p.cents) + " from voucher " + p.code + " (HTTP " +
                          std::to_string(a.status) + "): " + snippet(a.body);
                return undo(done, what, problem, PLEXUS_ERR_VALIDATION);
            }
            // No usable answer: did the redemption happen? Read the balance, never redeem again.
            const std::string lost = !a.answered ? a.failure : "HTTP " + std::to_string(a.status) + (a.doc.is_object() ? " without redeem_token" : "");
            auto outcome = resolve_balance(p.code, p.before, -p.cents);
            if (outcome == Resolved::took_effect) {
                host_.warn(what + ": the answer to redeeming " + eg::format_cents(p.cents) + " from voucher " + p.code +
                           " was lost (" + lost + "); the balance shows it was made. Its redeem_token is unknown: a cancellation "
                           "has to be made in the e-guma back office.");
                done.push_back({p.code, p.cents, "?", false});
                continue;
            }
            if (outcome == Resolved::no_effect)
                return undo(done, what,
                            "redeeming " + eg::format_cents(p.cents) + " from voucher " + p.code + " got no answer (" + lost +
                                ") and the balance is unchanged: not redeemed; a replay tries again",
                            PLEXUS_ERR_VALIDATION);
            return undo(done, what,
                        "redeeming " + eg::format_cents(p.cents) + " from voucher " + p.code + " got no answer (" + lost +
                            ") and the balance changed by another amount (someone else used the voucher meanwhile?): "
                            "cannot tell whether it was redeemed; check the voucher in the e-guma back office (reference " +
                            body["reference_number"].get<std::string>() + ")",
                        PLEXUS_ERR_TRANSIENT);
        }
        return sdk::WriteResult::ok(eg::encode_redemptions(done));
    }

    enum class Resolved { took_effect, no_effect, unknown };
    // After a write whose answer was lost: the balance now, compared with `before` + `delta`.
    Resolved resolve_balance(const std::string& code, int64_t before, int64_t delta) {
        for (int round = 0; round < 2; ++round) {
            if (round) pause(recheck_ms_);
            int64_t now;
            try {
                now = balance(code)["balance_in_cents"].get<int64_t>();
            } catch (const Error& e) {
                rethrow_if_batch_wide(e);
                return Resolved::unknown;
            }
            if (now == before + delta) return Resolved::took_effect;
            if (now != before) return Resolved::unknown;
        }
        return Resolved::no_effect;
    }

    // A later voucher of the record failed: cancel what this record redeemed, then fail it.
    sdk::WriteResult undo(const std::vector<eg::Redemption>& done, const std::string& what, const std::string& problem,
                          plexus_status status) {
        std::string left;
        for (const auto& r : done) {
            std::string err;
            if (r.token == "?" || !cancel_one(r, err))
                left += (left.empty() ? "" : ", ") + r.code + " (" + eg::format_cents(r.cents) + ")";
        }
        if (!left.empty())
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                            what + ": " + problem + "; redeemed before this and NOT cancelled: " + left +
                                                "; cancel them in the e-guma back office before replaying");
        return sdk::WriteResult::failed(status, what + ": " + problem +
                                                    (done.empty() ? "" : "; the vouchers redeemed before it were cancelled again"));
    }

    // Cancels one redemption with its token; true once e-guma has it cancelled.
    bool cancel_one(const eg::Redemption& r, std::string& error) {
        int64_t before = -1;
        try {
            before = balance(r.code)["balance_in_cents"].get<int64_t>();
        } catch (const Error& e) {
            rethrow_if_batch_wide(e);
            error = e.what();
            return false;
        }
        const std::string path = vpath(r.code, "cancel_redemption.json");
        Answer a = call("POST", path, json{{"redeem_token", r.token}, {"amount_in_cents", r.cents}}, false);
        if (a.answered && a.status >= 200 && a.status < 300 && a.doc.is_object()) return true;
        if (a.answered && a.status >= 400 && a.status < 500) {
            error = "e-guma refused to cancel (HTTP " + std::to_string(a.status) + "): " + snippet(a.body);
            return false;
        }
        if (resolve_balance(r.code, before, r.cents) == Resolved::took_effect) return true;
        error = "no answer to the cancellation (" + (a.answered ? "HTTP " + std::to_string(a.status) : a.failure) +
                ") and the balance does not show it";
        return false;
    }

    sdk::WriteResult cancel_redemptions(const sdk::WriteItem& item) {
        auto items = eg::decode_redemptions(item.target_key);
        if (!items)
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, "redemption: the ledger's target key \"" + item.target_key +
                                                                      "\" is not one this connector wrote");
        std::string ref = item.data.is_object() && item.data.value("reference_number", json()).is_string()
                              ? item.data["reference_number"].get<std::string>()
                              : item.idempotency_key;
        const std::string what = "order " + ref;
        // Only a cancellation acts on what was redeemed; other changes of the order do not.
        if (!eg::is_cancelled(item.data)) return sdk::WriteResult::ok(item.target_key);
        std::string unknown;
        for (const auto& r : *items)
            if (!r.cancelled && r.token == "?") unknown += (unknown.empty() ? "" : ", ") + r.code + " (" + eg::format_cents(r.cents) + ")";
        if (!unknown.empty())
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                            what + " is cancelled, but the redemption of " + unknown +
                                                " has no redeem_token (its answer was lost): cancel it in the e-guma back office");
        std::string failures;
        for (auto& r : *items) {
            if (r.cancelled) continue;  // once
            std::string err;
            if (cancel_one(r, err)) r.cancelled = true;
            else failures += (failures.empty() ? "" : "; ") + r.code + ": " + err;
        }
        if (!failures.empty()) {
            std::string done;
            for (const auto& r : *items)
                if (r.cancelled) done += (done.empty() ? "" : ", ") + r.code;
            return sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, what + ": cancelling the redemption failed: " + failures +
                                                                     (done.empty() ? "" : " (cancelled: " + done + ")"));
        }
        return sdk::WriteResult::ok(eg::encode_redemptions(*items));
    }

    sdk::LookupResult lookup_redemptions(const sdk::LookupRequest& r) {
        sdk::LookupResult res;
        if (r.key) {
            auto items = eg::decode_redemptions(*r.key);
            if (!items) return res;
            json rows = json::array();
            for (const auto& it : *items) {
                json b = balance(it.code);
                rows.push_back({{"code", it.code}, {"amount_in_cents", it.cents}, {"redeem_token", it.token},
                                {"cancelled", it.cancelled}, {"balance_in_cents", b["balance_in_cents"]}});
            }
            res.found = true;
            res.record = {*r.key, "", json{{"redemptions", rows}}};
            return res;
        }
        // After an interrupted create (README "Lookup by idempotency key"): e-guma's API lists
        // no redemptions, so only what can be proved is answered.
        if (!r.data.is_object() || r.data.empty()) return res;  // nothing to go by: not said
        eg::RedemptionRequest req;
        try {
            req = eg::parse_redemption_request(r.data);
        } catch (const std::invalid_argument&) {
            return res;  // a create of it fails validation before redeeming anything
        }
        if (req.cancelled || req.vouchers.empty()) {
            res.found = true;  // a create redeems nothing for it
            res.record = {eg::encode_redemptions({}), "", json::object()};
            return res;
        }
        std::string touched;
        for (const auto& v : req.vouchers) {
            json b = balance(v.code);
            const int64_t bal = b["balance_in_cents"].get<int64_t>(), total = b.value("total_amount_in_cents", int64_t{0});
            // Untouched (the whole amount left): this record's redeem did not happen.
            if (total > 0 && bal == total) continue;
            touched += (touched.empty() ? "" : ", ") + b.value("code", v.code) + " (balance " + eg::format_cents(bal) + " of " +
                       eg::format_cents(total) + ")";
        }
        if (touched.empty() || interrupted_ == "not_redeemed") return res;
        throw Error(PLEXUS_ERR_VALIDATION,
                    "an interrupted redemption for order " + (req.reference.empty() ? *r.idempotency_key : req.reference) +
                        " cannot be verified: e-guma's API does not list redemptions, and voucher " + touched +
                        " has been used. Look the voucher up in the e-guma back office (reference number " +
                        (req.reference.empty() ? *r.idempotency_key : req.reference) +
                        "): if it was not redeemed for this order, set the connection's interrupted_redeem to not_redeemed "
                        "for one run; if it was, cancel that redemption in the back office first, then do the same");
    }

    // ---- depot activations ----
    struct DepotRequest {
        std::string code, reference;
        std::optional<int64_t> amount;
        bool cancelled = false;
    };
    DepotRequest parse_depot(const sdk::WriteItem& item) {
        DepotRequest d;
        const json& data = item.data;
        if (!data.is_object()) throw std::invalid_argument("the record is not a JSON object");
        std::string raw = data.value("code", json()).is_string() ? data["code"].get<std::string>() : "";
        std::string why;
        auto code = eg::normalise_code(raw, &why);
        if (!code) throw std::invalid_argument("code: " + why);
        d.code = *code;
        if (auto a = data.find("amount"); a != data.end() && !a->is_null()) {
            d.amount = eg::cents_of(*a, &why);
            if (!d.amount) throw std::invalid_argument("amount: " + why);
        }
        if (auto c = data.find("currency"); c != data.end() && c->is_string() && !c->get<std::string>().empty()) {
            std::string cur;
            for (char ch : c->get<std::string>()) cur += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            if (cur != currency_) throw std::invalid_argument("currency: " + cur + " is not the e-guma account's " + currency_);
        }
        d.reference = data.value("reference_number", json()).is_string() ? data["reference_number"].get<std::string>() : item.idempotency_key;
        d.cancelled = eg::is_cancelled(data);
        return d;
    }

    sdk::WriteResult activate(const sdk::WriteItem& item) {
        DepotRequest d;
        try {
            d = parse_depot(item);
        } catch (const std::invalid_argument& e) {
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, "depot activation: " + std::string(e.what()));
        }
        const std::string what = "depot voucher " + d.code + " (sale " + d.reference + ")";
        eg::DepotState none;
        none.none = true;
        if (d.cancelled) return sdk::WriteResult::ok(eg::encode_depot(none));
        const std::string spath = dpath(d.code, "activate_status.json");
        json st;
        try {
            st = expect_json(call("GET", spath, {}, true), "GET", spath);
        } catch (const Error& e) {
            rethrow_if_batch_wide(e);
            return sdk::WriteResult::failed(e.status(), what + ": " + e.what());
        }
        if (!st.value("can_be_activated", false)) {
            const std::string m = st.value("message", json()).is_string() ? st["message"].get<std::string>() : "";
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + " cannot be activated" + (m.empty() ? "" : " (e-guma: " + m + ")"));
        }
        const bool free = st.value("free_amount", false);
        int64_t cents = st.value("amount_in_cents", int64_t{0});
        json body = json::object();
        if (free) {
            if (!d.amount || *d.amount <= 0)
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + " has a free amount: map the sold amount (amount)");
            cents = *d.amount;
            body["amount_in_cents"] = cents;
        } else if (d.amount && *d.amount != cents) {
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + " is worth " + eg::format_cents(cents) +
                                                                      ", the sale says " + eg::format_cents(*d.amount));
        }
        const std::string path = dpath(d.code, "activate.json");
        Answer a = call("POST", path, body, false);
        if (!(a.answered && a.status >= 200 && a.status < 300 && a.doc.is_object())) {
            if (a.answered && a.status >= 400 && a.status < 500)
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + ": e-guma refused the activation (HTTP " +
                                                                          std::to_string(a.status) + "): " + snippet(a.body));
            // Lost answer: the status tells whether the card is sold now.
            bool activated = false;
            try {
                activated = !expect_json(call("GET", spath, {}, true), "GET", spath).value("can_be_activated", true);
            } catch (const Error&) {
                return sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, what + ": no answer to the activation, and its status cannot be read");
            }
            if (!activated)
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + ": no answer to the activation and the card is still "
                                                                          "not activated: not activated; a replay tries again");
        } else {
            // One doc revision answers balance_in_cents instead of amount_in_cents.
            if (a.doc.value("amount_in_cents", json()).is_number_integer()) cents = a.doc["amount_in_cents"];
            else if (a.doc.value("balance_in_cents", json()).is_number_integer()) cents = a.doc["balance_in_cents"];
        }
        eg::DepotState s;
        s.code = a.doc.is_object() && a.doc.value("code", json()).is_string() ? a.doc["code"].get<std::string>() : d.code;
        s.cents = cents;
        return sdk::WriteResult::ok(eg::encode_depot(s));
    }

    sdk::WriteResult deactivate(const sdk::WriteItem& item) {
        auto s = eg::decode_depot(item.target_key);
        if (!s) return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, "depot activation: the ledger's target key \"" +
                                                                          item.target_key + "\" is not one this connector wrote");
        if (s->none || s->deactivated || !eg::is_cancelled(item.data)) return sdk::WriteResult::ok(item.target_key);
        const std::string what = "depot voucher " + s->code;
        const std::string spath = dpath(s->code, "deactivate_status.json");
        json st;
        try {
            st = expect_json(call("GET", spath, {}, true), "GET", spath);
        } catch (const Error& e) {
            rethrow_if_batch_wide(e);
            return sdk::WriteResult::failed(e.status(), what + ": " + e.what());
        }
        if (!st.value("can_be_deactivated", false)) {
            const std::string m = st.value("message", json()).is_string() ? st["message"].get<std::string>() : "";
            return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + " cannot be deactivated" + (m.empty() ? "" : " (e-guma: " + m + ")"));
        }
        std::string ref = item.data.is_object() && item.data.value("reference_number", json()).is_string()
                              ? item.data["reference_number"].get<std::string>() : item.idempotency_key;
        Answer a = call("POST", dpath(s->code, "deactivate.json"), json{{"deactivate_reason", "sale " + ref + " cancelled"}}, false);
        if (!(a.answered && a.status >= 200 && a.status < 300)) {
            if (a.answered && a.status >= 400 && a.status < 500)
                return sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, what + ": e-guma refused the deactivation (HTTP " +
                                                                          std::to_string(a.status) + "): " + snippet(a.body));
            bool still = true;
            try {
                still = expect_json(call("GET", spath, {}, true), "GET", spath).value("can_be_deactivated", true);
            } catch (const Error&) {
                return sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, what + ": no answer to the deactivation, and its status cannot be read");
            }
            if (still)
                return sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, what + ": no answer to the deactivation and the card is still active");
        }
        s->deactivated = true;
        return sdk::WriteResult::ok(eg::encode_depot(*s));
    }

    sdk::LookupResult lookup_depot(const sdk::LookupRequest& r) {
        sdk::LookupResult res;
        std::string code;
        if (r.key) {
            auto s = eg::decode_depot(*r.key);
            if (!s) return res;
            if (s->none) {
                res.found = true;
                res.record = {*r.key, "", json::object()};
                return res;
            }
            code = s->code;
        } else {
            if (!r.data.is_object() || !r.data.value("code", json()).is_string()) return res;
            if (eg::is_cancelled(r.data)) {
                eg::DepotState none;
                none.none = true;
                res.found = true;
                res.record = {eg::encode_depot(none), "", json::object()};
                return res;
            }
            auto c = eg::normalise_code(r.data["code"].get<std::string>());
            if (!c) return res;
            code = *c;
        }
        const std::string spath = dpath(code, "deactivate_status.json");
        json st = expect_json(call("GET", spath, {}, true), "GET", spath);
        // Activated (sold): the card can be deactivated. The card the record names was sold,
        // so an interrupted activation is adopted.
        if (!st.value("can_be_deactivated", false)) {
            if (r.key) {  // the ledger says activated; deactivated since (by us or the POS)
                res.found = true;
                res.record = {*r.key, "", st};
            }
            return res;
        }
        eg::DepotState s;
        s.code = st.value("code", code);
        s.cents = st.value("amount_in_cents", int64_t{0});
        res.found = true;
        res.record = {r.key ? *r.key : eg::encode_depot(s), "", st};
        return res;
    }

    // ---- sales events (inbox) ----
    // sales_events: one record per sale; redemption_events: one per Maison / organisation
    // redemption of those sales. Both from the same stored events, no HTTP call.
    sdk::ReadPage read_sales(const sdk::ReadRequest& r, bool per_redemption) {
        std::vector<eg::SalesEvent> events;
        events.reserve(r.events.size());
        for (const auto& e : r.events) events.push_back({e.seq, e.id, e.topic, e.body});
        eg::FoldResult folded = per_redemption ? eg::fold_redemption_events(events) : eg::fold_sales_events(events);
        for (const auto& p : folded.problems)
            host_.error("e-guma sales event " + p.event_id + " (inbox seq " + std::to_string(p.seq) +
                        ") skipped, it stays in the inbox: " + p.message);
        sdk::ReadPage page;
        for (auto& rec : folded.records) page.records.push_back({rec.key, rec.cursor, std::move(rec.data)});
        page.next_cursor = folded.last_seq > 0 ? sdk::inbox_cursor(folded.last_seq) : r.cursor.value_or("");
        page.has_more = r.events_more;
        return page;
    }

    sdk::Host& host_;
    std::string key_, base_, currency_, interrupted_;
    uint32_t timeout_ms_ = 20000;
    int64_t recheck_ms_ = 1500;
};

}  // namespace

PLEXUS_EXPORT_CONNECTOR(EgumaConnector)
