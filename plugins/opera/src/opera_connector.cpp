// The OPERA Cloud connector: Cashiering postings to a PM (posting master) reservation through
// OHIP, with an OAuth token cached for its lifetime. Wire format in ohip_wire.{hpp,cpp};
// the record shapes, references and state rules in README.md.
//
// Why a write is never posted twice: every posting carries a reference derived from the
// record's idempotency key; before anything is posted the connector asks OPERA which of those
// references exist (getGuestsTransactions, exact match) and posts only what the record's
// state still lacks. After an answer that leaves the outcome open (no answer, 502, 504) it
// looks again and, when the posting is still not there, reports a transient failure instead
// of posting again: the next attempt starts with the same lookup.
#include "ohip_wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

namespace plexus::opera {

using sdk::Error;

namespace {

constexpr const char* kManifest = R"json({
  "id": "opera",
  "name": "Oracle OPERA Cloud (OHIP Cashiering)",
  "version": "0.1.0",
  "description": "Charges and payments posted to a PM (posting master) reservation of an OPERA Cloud hotel through the Oracle Hospitality Integration Platform: every charge line and payment carries a posting reference derived from the record's idempotency key and is looked up before anything is posted, so a retry or a crash never posts twice; a cancelled sale is reversed line by line exactly once, an invoice reset to unpaid reverses exactly its payment. Reads transaction codes, payment methods and the PM reservation's postings.",
  "settings": [
    {"name": "gateway_url", "type": "string", "required": true, "description": "The OHIP gateway of the environment (Postman variable HostName), e.g. https://xxxx-ohip.oracleindustry.com; paths /oauth/v1, /csh/v1, /lov/v1, /rsv/v1 are appended."},
    {"name": "client_id", "type": "string", "required": true, "description": "OAuth client id of the integration user (Basic authentication of the token request)."},
    {"name": "client_secret", "type": "string", "required": true, "secret": true, "description": "OAuth client secret."},
    {"name": "app_key", "type": "string", "required": true, "description": "The application key registered in OHIP, sent as x-app-key on every call; must be a lower-case UUID v4 (checked at start)."},
    {"name": "enterprise_id", "type": "string", "default": "", "description": "Enterprise id (enterpriseId header of the token request, OCIM environments); empty to leave it out."},
    {"name": "scope", "type": "string", "default": "", "description": "OAuth scope of the client_credentials grant, when your environment assigns one."},
    {"name": "hotel_id", "type": "string", "required": true, "description": "Hotel code: in every path and the x-hotelid header."},
    {"name": "pm_reservation_id", "type": "string", "required": true, "description": "OPERA reservation id of the PM account the postings go to (checked in; used only for automatic transfers)."},
    {"name": "cashier_id", "type": "integer", "required": true, "description": "Cashier id the postings are made under."},
    {"name": "folio_window_no", "type": "integer", "default": 1, "description": "Folio window of the PM reservation that receives the postings."},
    {"name": "reversal_reason_code", "type": "string", "default": "", "description": "Reason code sent with a payment reversal (postReversePayment), when the hotel requires one."},
    {"name": "transaction_codes", "type": "array", "default": [], "description": "Transaction codes the mappings post (e.g. vouchers, products, tickets, shipping); check verifies each exists in OPERA."},
    {"name": "payment_methods", "type": "array", "default": [], "description": "Payment method codes the mappings post; check verifies each exists and is active in OPERA."},
    {"name": "max_attempts", "type": "integer", "default": 4, "description": "Posting rounds per record when OPERA answers 429/503 or the token expires (each round looks the postings up first)."},
    {"name": "in_doubt_ms", "type": "integer", "default": 2500, "description": "How long a lookup for an interrupted create (the hub or run died after sending a posting) waits and looks once more before answering that nothing was posted, and how long an interrupted update or reversal waits before reading OPERA's state: OHIP delays requests above its rate limit by a second, so a posting can still take effect after its sender is gone."}
  ],
  "entities": [
    {"name": "charges", "description": "One sale: charge lines posted in one call to the PM reservation, each with its own posting reference; cancelled=true reverses exactly the lines posted, once. Target key <idempotency key>@<date>#<generations>.",
     "key": "target_key", "capabilities": ["create", "update", "lookup"], "open": true,
     "fields": [{"name": "lines", "type": "array", "fields": [{"name": "transaction_code", "type": "string"},
                  {"name": "price", "type": "number"}, {"name": "quantity", "type": "number"}, {"name": "remark", "type": "string"}]},
                {"name": "currency", "type": "string"}, {"name": "remark", "type": "string"},
                {"name": "cancelled", "type": "boolean"}, {"name": "search_from", "type": "string"}]},
    {"name": "payments", "description": "A sale's payment state: paid=true posts one payment, paid=false reverses exactly that payment (postReversePayment), paid again posts a new one under a new reference.",
     "key": "target_key", "capabilities": ["create", "update", "lookup"], "open": true,
     "fields": [{"name": "payment_method", "type": "string"}, {"name": "amount", "type": "number"},
                {"name": "currency", "type": "string"}, {"name": "paid", "type": "boolean"},
                {"name": "remark", "type": "string"}, {"name": "search_from", "type": "string"}]},
    {"name": "reversals", "description": "The reversal of one earlier posting named by its reference: a charge is posted again negated under <reference>-R, a payment reversed with postReversePayment; looked up first, so posted once.",
     "key": "reference", "capabilities": ["create", "lookup"], "open": true,
     "fields": [{"name": "reference", "type": "string"}, {"name": "posting_date", "type": "string"},
                {"name": "remark", "type": "string"}]},
    {"name": "postings", "description": "Postings of the PM reservation (getGuestsTransactions in 30-day windows), in posting date order; lookup by posting reference.",
     "key": "transactionNo", "cursor": "postingDate", "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "transactionNo", "type": "number"}, {"name": "transactionCode", "type": "string"},
                {"name": "reference", "type": "string"}, {"name": "postingDate", "type": "string"}]},
    {"name": "transaction_codes", "description": "The hotel's transaction codes (getTransactionCodes).",
     "key": "transactionCode", "capabilities": ["read", "lookup"], "open": true,
     "fields": [{"name": "transactionCode", "type": "string"}, {"name": "description", "type": "string"}]},
    {"name": "payment_methods", "description": "The hotel's payment methods (List of Values paymentMethods).",
     "key": "code", "capabilities": ["read", "lookup"], "open": true,
     "fields": [{"name": "code", "type": "string"}, {"name": "name", "type": "string"},
                {"name": "active", "type": "boolean"}]}
  ],
  "rate_limit": {"requests_per_second": 40, "burst": 10},
  "call_timeout_s": 600
})json";

std::string str_setting(const json& s, const char* k, const char* def = "") {
    auto it = s.find(k);
    if (it == s.end() || it->is_null()) return def;
    return it->is_string() ? it->get<std::string>() : it->dump();
}

plexus_status status_for(int http) {
    if (http == 401 || http == 403) return PLEXUS_ERR_AUTH;
    if (http == 429 || http >= 500) return PLEXUS_ERR_TRANSIENT;
    return PLEXUS_ERR_VALIDATION;
}

std::vector<std::string> string_list(const json& s, const char* name) {
    std::vector<std::string> out;
    auto it = s.find(name);
    if (it == s.end() || !it->is_array()) return out;
    for (const auto& v : *it)
        if (v.is_string() && !v.get<std::string>().empty()) out.push_back(v.get<std::string>());
    return out;
}

// The outcome of one POST whose effect we must be sure of.
enum class PostOutcome { done, refused, retry, uncertain };

struct Desired {
    bool active = false;
    std::vector<ChargeLine> lines;  // charges: reference and remark filled in when posted
    PaymentPosting payment;         // payments
};

// What OPERA holds for one generation of a record.
struct Generation {
    int gen = 0;
    std::vector<Posting> lines;     // charges: line i at index i-1
    std::vector<bool> reversed;     // charges: per line
    std::vector<Posting> payment;   // payments: every posting carrying the reference
    bool payment_reversed = false;
    size_t duplicates = 0;          // references found more than once
};

struct State {
    int generations = 0;            // the latest generation found (0: none)
    Generation latest;
    std::string first_date;         // postingDate of the earliest posting found
};

}  // namespace

class OperaConnector : public sdk::Connector {
public:
    static constexpr const char* id = "opera";
    static constexpr const char* version = "0.1.0";
    static constexpr const char* manifest = kManifest;

    OperaConnector(sdk::Host& host, const json& s) : host_(host) {
        gateway_ = str_setting(s, "gateway_url");
        while (!gateway_.empty() && gateway_.back() == '/') gateway_.pop_back();
        client_id_ = str_setting(s, "client_id");
        client_secret_ = str_setting(s, "client_secret");
        app_key_ = str_setting(s, "app_key");
        enterprise_id_ = str_setting(s, "enterprise_id");
        scope_ = str_setting(s, "scope");
        hotel_ = str_setting(s, "hotel_id");
        reservation_ = str_setting(s, "pm_reservation_id");
        reason_code_ = str_setting(s, "reversal_reason_code");
        cashier_ = s.value("cashier_id", 0LL);
        folio_window_ = static_cast<int>(s.value("folio_window_no", 1));
        max_attempts_ = std::clamp(static_cast<int>(s.value("max_attempts", 4)), 1, 10);
        in_doubt_ms_ = std::clamp<int64_t>(s.value("in_doubt_ms", int64_t{2500}), 0, 60000);
        codes_ = string_list(s, "transaction_codes");
        methods_ = string_list(s, "payment_methods");
        if (gateway_.rfind("http://", 0) != 0 && gateway_.rfind("https://", 0) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "opera: gateway_url must be an http(s) URL");
        if (!valid_app_key(app_key_))
            throw Error(PLEXUS_ERR_CONFIG,
                        "opera: app_key is not a lower-case UUID v4 "
                        "(^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$), "
                        "as OHIP requires for x-app-key; copy it from the OHIP developer portal");
        if (client_id_.empty() || client_secret_.empty())
            throw Error(PLEXUS_ERR_CONFIG, "opera: client_id and client_secret are required");
        if (hotel_.empty() || hotel_.size() > 20)
            throw Error(PLEXUS_ERR_CONFIG, "opera: hotel_id must be 1..20 characters");
        if (reservation_.empty())
            throw Error(PLEXUS_ERR_CONFIG, "opera: pm_reservation_id is required");
        if (cashier_ <= 0) throw Error(PLEXUS_ERR_CONFIG, "opera: cashier_id must be a positive number");
        if (folio_window_ < 1 || folio_window_ > 8)
            throw Error(PLEXUS_ERR_CONFIG, "opera: folio_window_no must be between 1 and 8");
    }

    // ---- check ----
    void check() override {
        try {
            check_setup();
        } catch (const Error& e) {
            // What OPERA refuses here (an unknown reservation, hotel …) is the configuration's fault.
            if (e.status() == PLEXUS_ERR_VALIDATION) throw Error(PLEXUS_ERR_CONFIG, e.what());
            throw;
        }
    }

    void check_setup() {
        ensure_token();
        // The PM reservation exists and is checked in.
        auto res = get_json("/rsv/v1/hotels/" + url_encode(hotel_) + "/reservations/" + url_encode(reservation_),
                            "reading the PM reservation");
        std::string status;
        if (res)
            if (auto r = res->find("reservations"); r != res->end() && r->is_object())
                if (auto list = r->find("reservation"); list != r->end() && list->is_array() && !list->empty())
                    status = (*list)[0].value("reservationStatus", "");
        if (!res || status.empty())
            throw Error(PLEXUS_ERR_CONFIG, "opera: PM reservation " + reservation_ + " not found in hotel " + hotel_);
        if (status != "InHouse" && status != "DueOut")
            throw Error(PLEXUS_ERR_CONFIG, "opera: PM reservation " + reservation_ + " is " + status +
                                               "; postings need it checked in (InHouse)");
        // The cashier may work in this hotel.
        auto cash = get_json("/lov/v1/listOfValues/cashierId/" + std::to_string(cashier_) + "/cashierHotels",
                             "reading the cashier's hotels");
        std::set<std::string> hotels;
        for (const auto& it : lov_items(cash)) hotels.insert(it.value("code", ""));
        if (!hotels.count(hotel_))
            throw Error(PLEXUS_ERR_CONFIG, "opera: cashier " + std::to_string(cashier_) +
                                               " is unknown or not allowed in hotel " + hotel_);
        if (!codes_.empty()) {
            std::set<std::string> have;
            for (const auto& c : transaction_codes()) have.insert(c.value("transactionCode", ""));
            std::string missing;
            for (const auto& c : codes_)
                if (!have.count(c)) missing += (missing.empty() ? "" : ", ") + c;
            if (!missing.empty())
                throw Error(PLEXUS_ERR_CONFIG, "opera: transaction code(s) " + missing +
                                                   " (setting transaction_codes) do not exist in hotel " + hotel_);
        }
        if (!methods_.empty()) {
            std::set<std::string> have;
            for (const auto& m : payment_methods())
                if (m.value("active", true)) have.insert(m.value("code", ""));
            std::string missing;
            for (const auto& m : methods_)
                if (!have.count(m)) missing += (missing.empty() ? "" : ", ") + m;
            if (!missing.empty())
                throw Error(PLEXUS_ERR_CONFIG, "opera: payment method(s) " + missing +
                                                   " (setting payment_methods) do not exist or are inactive in hotel " + hotel_);
        }
    }

    // ---- read ----
    sdk::ReadPage read(const sdk::ReadRequest& req) override {
        sdk::ReadPage page;
        if (req.entity == "transaction_codes" || req.entity == "payment_methods") {
            auto rows = req.entity == "transaction_codes" ? transaction_codes() : payment_methods();
            const char* key = req.entity == "transaction_codes" ? "transactionCode" : "code";
            for (auto& r : rows) {
                sdk::Record rec;
                rec.key = r.value(key, "");
                rec.data = std::move(r);
                page.records.push_back(std::move(rec));
            }
            return page;
        }
        if (req.entity != "postings")
            throw Error(PLEXUS_ERR_CONFIG, "opera: entity '" + req.entity + "' cannot be read");
        return read_postings(req);
    }

    // ---- write ----
    std::vector<sdk::WriteResult> write(const std::string& entity,
                                        const std::vector<sdk::WriteItem>& items) override {
        if (entity != "charges" && entity != "payments" && entity != "reversals")
            throw Error(PLEXUS_ERR_CONFIG, "opera: entity '" + entity + "' cannot be written");
        std::vector<sdk::WriteResult> results;
        results.reserve(items.size());
        await_interrupted(entity, items);
        for (const auto& item : items) {
            try {
                if (host_.cancelled()) throw Error(PLEXUS_ERR_CANCELLED, "cancelled");
                const json data = item.data_json.empty() ? item.data : json::parse(item.data_json);
                if (!data.is_object())
                    throw Error(PLEXUS_ERR_VALIDATION, "the record is not a JSON object");
                if (entity == "reversals") results.push_back(sdk::WriteResult::ok(write_reversal(data)));
                else results.push_back(sdk::WriteResult::ok(write_stateful(entity, item, data)));
            } catch (const Error& e) {
                if (e.status() == PLEXUS_ERR_AUTH || e.status() == PLEXUS_ERR_CANCELLED ||
                    e.status() == PLEXUS_ERR_CONFIG)
                    throw;
                results.push_back(sdk::WriteResult::failed(e.status(), e.what()));
            }
        }
        return results;
    }

    // An update (a cancelled sale's reversal, a payment reversal, a new generation) or a
    // reversal whose earlier attempt was interrupted (WriteItem::interrupted: its sender died
    // after sending it): that POST may still be held at OHIP (a second when over the rate
    // limit) and take effect after we look, and posting what we do not see yet would post it
    // twice. Wait in_doubt_ms once for the batch, then every item reads OPERA's state as
    // usual. (An interrupted create of charges or payments needs no wait here: the host's
    // lookup of its intent already waited.)
    void await_interrupted(const std::string& entity, const std::vector<sdk::WriteItem>& items) const {
        if (in_doubt_ms_ <= 0) return;
        size_t n = 0;
        for (const auto& item : items)
            if (item.interrupted && (item.op == sdk::WriteOp::Update || entity == "reversals")) ++n;
        if (n == 0) return;
        host_.info("opera: " + std::to_string(n) + " " + entity + " write(s) of an interrupted run; waiting " +
                   std::to_string(in_doubt_ms_) + " ms for a request of theirs still in flight before looking");
        pause(in_doubt_ms_);
    }

    // ---- lookup ----
    sdk::LookupResult lookup(const sdk::LookupRequest& req) override {
        sdk::LookupResult out;
        if (req.entity == "charges" || req.entity == "payments") {
            const bool charges = req.entity == "charges";
            TargetKey tk;
            if (req.key) {
                auto k = decode_target_key(*req.key);
                if (!k) throw Error(PLEXUS_ERR_VALIDATION, "opera: '" + *req.key + "' is not a target key of this connector (<key>@<YYYY-MM-DD>#<n>)");
                tk = *k;
            } else if (req.idempotency_key && !req.idempotency_key->empty()) {
                tk.key = *req.idempotency_key;
                tk.date = create_search_start(req.data);
            } else {
                throw Error(PLEXUS_ERR_VALIDATION, "opera: a lookup of " + req.entity + " needs a key or an idempotency key");
            }
            State st = charges ? discover_charges(tk, 0) : discover_payments(tk, 0);
            if (st.generations == 0 && !req.key && in_doubt_ms_ > 0 && !req.data.empty()) {
                // An interrupted create: the host asks after its writer died. That writer's
                // POST may still be in flight at OHIP (held there a second when over the rate
                // limit), so "nothing found" right now does not prove nothing will be posted:
                // answering it would make the host post the record again beside the late one.
                // Wait and look once more. (A reconcile of a failed record sends no data.)
                host_.info("opera: nothing posted yet for the interrupted " + req.entity + " of " + tk.key +
                           "; looking again in " + std::to_string(in_doubt_ms_) + " ms (a posting may still be in flight)");
                pause(in_doubt_ms_);
                st = charges ? discover_charges(tk, 0) : discover_payments(tk, 0);
            }
            if (st.generations == 0) {
                // A record written while cancelled (or unpaid) posted nothing: its target key
                // says so ("#0"), and it exists as such.
                if (req.key && tk.generations == 0) {
                    out.found = true;
                    out.record.key = *req.key;
                    out.record.data = state_json(st, charges);
                }
                return out;
            }
            out.found = true;
            tk.date = st.first_date.empty() ? tk.date : st.first_date;
            tk.generations = st.generations;
            out.record.key = encode_target_key(tk);
            out.record.data = state_json(st, charges);
            // The first reference of the record, found more than once, is a duplicate posting.
            auto first = find(charges ? charge_ref(tk.key, 1, 1) : payment_ref(tk.key, 1), tk.date);
            out.matches = charges ? static_cast<int64_t>(first.size())
                                  : static_cast<int64_t>(std::count_if(first.begin(), first.end(),
                                        [](const Posting& p) { return p.amount > 0; }));
            return out;
        }
        if (req.entity == "reversals" || req.entity == "postings") {
            std::string ref = req.key ? *req.key : req.data.value("reference", "");
            if (req.entity == "reversals" && !req.key) ref = reversal_ref(ref);
            if (ref.empty()) throw Error(PLEXUS_ERR_VALIDATION, "opera: a lookup of " + req.entity + " needs a posting reference");
            std::string from = req.data.value("posting_date", "");
            if (!parse_date(from)) from = recent();
            auto found = find(ref, from);
            if (found.empty()) return out;
            out.found = true;
            out.matches = static_cast<int64_t>(found.size());
            out.record.key = req.entity == "reversals" ? ref : std::to_string(found.front().transaction_no);
            out.record.cursor = found.front().date;
            out.record.data = found.front().raw;
            return out;
        }
        if (req.entity == "transaction_codes" || req.entity == "payment_methods") {
            const bool codes = req.entity == "transaction_codes";
            std::string key = req.key ? *req.key : req.data.value(codes ? "transactionCode" : "code", "");
            for (auto& r : codes ? transaction_codes() : payment_methods())
                if (r.value(codes ? "transactionCode" : "code", "") == key) {
                    out.found = true;
                    out.record.key = key;
                    out.record.data = std::move(r);
                    return out;
                }
            return out;
        }
        throw Error(PLEXUS_ERR_CONFIG, "opera: entity '" + req.entity + "' cannot be looked up");
    }

private:
    // ---- HTTP ----
    std::string today() const { return date_of_ms(host_.now_ms()); }
    // Where a search without a known date starts: with find()'s day before and day after,
    // [today-28, today+1] is exactly one 30-day window.
    std::string recent() const { return add_days(today(), -27); }
    // Where a create (or the lookup of an interrupted one) starts looking for the record's
    // postings: recent(), or the record's `search_from` (YYYY-MM-DD, when its source
    // happened) when that is earlier — so a record replayed or re-created more than 28 days
    // after it was posted still finds its postings instead of posting them again.
    std::string create_search_start(const json& data) const {
        std::string from = recent();
        if (!data.is_object()) return from;
        auto sf = data.find("search_from");
        if (sf == data.end() || !sf->is_string()) return from;
        const std::string d = sf->get<std::string>().substr(0, 10);
        if (parse_date(d) && d < from) from = d;
        return from;
    }

    void pause(int64_t ms) const {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            if (host_.cancelled()) throw Error(PLEXUS_ERR_CANCELLED, "opera: cancelled while waiting to retry");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    // A token is kept for its lifetime and renewed a little before it ends (a tenth of its
    // life, at most a minute), or at once after a 401.
    void ensure_token(bool force = false) {
        const int64_t now = host_.now_ms();
        if (!force && !token_.empty() && now < token_renew_ms_) return;
        token_.clear();
        sdk::HttpRequest r;
        r.method = "POST";
        r.url = gateway_ + "/oauth/v1/tokens";
        r.headers = {{"Authorization", "Basic " + base64(client_id_ + ":" + client_secret_)},
                     {"x-app-key", app_key_},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
        if (!enterprise_id_.empty()) r.headers.emplace_back("enterpriseId", enterprise_id_);
        r.body = "grant_type=client_credentials";
        if (!scope_.empty()) r.body += "&scope=" + url_encode(scope_);
        sdk::HttpResponse resp = host_.http(r);
        if (resp.status == 400 || resp.status == 401 || resp.status == 403)
            throw Error(PLEXUS_ERR_AUTH, "opera: OHIP refused the token request (POST /oauth/v1/tokens): " +
                                             error_text(resp.status, resp.body) +
                                             "; check client_id, client_secret, app_key and enterprise_id");
        if (resp.status != 200)
            throw Error(status_for(resp.status), "opera: token request failed (POST /oauth/v1/tokens): " +
                                                     error_text(resp.status, resp.body));
        json j = json::parse(resp.body, nullptr, false);
        if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
            j["access_token"].get<std::string>().empty())
            throw Error(PLEXUS_ERR_TRANSIENT, "opera: the token answer carries no access_token");
        token_ = j["access_token"].get<std::string>();
        int64_t life_ms = 3600 * 1000;
        if (auto e = j.find("expires_in"); e != j.end()) {
            if (e->is_number()) life_ms = static_cast<int64_t>(e->get<double>() * 1000);
            else if (e->is_string()) try { life_ms = std::stoll(e->get<std::string>()) * 1000; } catch (...) {}
        }
        life_ms = std::max<int64_t>(life_ms, 1000);
        token_renew_ms_ = now + life_ms - std::min<int64_t>(60000, life_ms / 10);
        ++tokens_fetched_;
    }

    // One API call with the headers every OHIP operation requires. A 401 renews the token and
    // sends the request once more (a 401 means the request was not processed). POSTs are sent
    // exactly once by the host (no_retry): what happens next is the caller's decision.
    sdk::HttpResponse call(const std::string& method, const std::string& path, const std::string& body) {
        const bool post = method != "GET";
        for (int auth = 0;; ++auth) {
            ensure_token(auth > 0);
            sdk::HttpRequest r;
            r.method = method;
            r.url = gateway_ + path;
            r.no_retry = post;
            r.headers = {{"authorization", "Bearer " + token_},
                         {"x-app-key", app_key_},
                         {"x-hotelid", hotel_},
                         {"Accept", "application/json"}};
            if (post) {
                r.headers.emplace_back("Content-Type", "application/json");
                r.body = body;
            }
            sdk::HttpResponse resp = host_.http(r);
            if (resp.status == 401 && auth == 0) {
                host_.info("opera: OHIP answered 401 to " + method + " " + strip_query(path) + "; renewing the token once");
                continue;
            }
            if (resp.status >= 200 && resp.status < 300 && !resp.body.empty()) {
                json j = json::parse(resp.body, nullptr, false);
                for (const auto& w : warnings_of(j))
                    host_.warn("opera: OHIP warning on " + method + " " + strip_query(path) + ": " + w);
            }
            return resp;
        }
    }

    static std::string strip_query(const std::string& path) { return path.substr(0, path.find('?')); }

    // GET returning the body (nullopt for 204). Failures become errors naming the call.
    std::optional<json> get_json(const std::string& path, const std::string& what) {
        sdk::HttpResponse resp = call("GET", path, "");
        if (resp.status == 204) return std::nullopt;
        if (resp.status != 200)
            throw Error(status_for(resp.status), "opera: " + what + " (GET " + strip_query(path) + ") failed: " +
                                                     error_text(resp.status, resp.body));
        json j = json::parse(resp.body, nullptr, false);
        if (j.is_discarded())
            throw Error(PLEXUS_ERR_TRANSIENT, "opera: " + what + " (GET " + strip_query(path) + ") answered a body that is not JSON");
        return j;
    }

    static std::vector<json> lov_items(const std::optional<json>& body) {
        std::vector<json> out;
        if (!body) return out;
        auto l = body->find("listOfValues");
        if (l == body->end() || !l->is_object()) return out;
        auto items = l->find("items");
        if (items == l->end() || !items->is_array()) return out;
        for (const auto& i : *items)
            if (i.is_object()) out.push_back(i);
        return out;
    }

    std::vector<json> transaction_codes() {
        auto body = get_json("/csh/v1/hotels/" + url_encode(hotel_) + "/transactionCodes", "reading transaction codes");
        std::vector<json> out;
        if (!body) return out;
        if (auto t = body->find("trxCodes"); t != body->end() && t->is_array())
            for (const auto& c : *t)
                if (c.is_object()) out.push_back(c);
        return out;
    }

    std::vector<json> payment_methods() {
        return lov_items(get_json("/lov/v1/listOfValues/hotels/" + url_encode(hotel_) +
                                      "/paymentMethods?includeInactiveFlag=false",
                                  "reading payment methods"));
    }

    // Every posting of the PM reservation carrying exactly `ref`, searched in 30-day windows
    // from the day before `from` to tomorrow (the hotel's business date may lag or lead UTC).
    std::vector<Posting> find(const std::string& ref, const std::string& from) {
        std::vector<Posting> out;
        const std::string start = add_days(parse_date(from) ? from : today(), -1);
        for (const auto& [s, e] : search_windows(start, add_days(today(), 1))) {
            auto body = get_json("/csh/v1/hotels/" + url_encode(hotel_) + "/transactions?" +
                                     transactions_query(reservation_, ref, s, e),
                                 "looking up postings with reference " + ref);
            if (!body) continue;
            for (auto& p : parse_transactions(*body))
                if (p.reference == ref) out.push_back(std::move(p));
        }
        std::sort(out.begin(), out.end(),
                  [](const Posting& a, const Posting& b) { return a.transaction_no < b.transaction_no; });
        out.erase(std::unique(out.begin(), out.end(),
                              [](const Posting& a, const Posting& b) { return a.transaction_no == b.transaction_no; }),
                  out.end());
        return out;
    }

    // ---- state discovery ----
    // Generations are probed from the one the target key says exists (which must still be
    // found: a search that cannot see it must not lead to posting again) upwards.
    State discover_charges(const TargetKey& tk, int known) {
        State st;
        int g = std::max(1, known);
        std::vector<Posting> first;
        for (;; ++g) {
            auto found = find(charge_ref(tk.key, g, 1), tk.date);
            if (found.empty()) {
                if (g <= known) throw inconsistent(charge_ref(tk.key, g, 1), known);
                break;
            }
            if (st.first_date.empty()) st.first_date = found.front().date;
            first = std::move(found);
            st.generations = g;
        }
        if (st.generations == 0) return st;
        Generation& gen = st.latest;
        gen.gen = st.generations;
        for (int i = 1;; ++i) {
            auto found = i == 1 ? first : find(charge_ref(tk.key, gen.gen, i), tk.date);
            if (found.empty()) break;
            if (found.size() > 1) ++gen.duplicates;
            gen.lines.push_back(found.front());
            gen.reversed.push_back(!find(reversal_ref(charge_ref(tk.key, gen.gen, i)), tk.date).empty());
        }
        return st;
    }

    State discover_payments(const TargetKey& tk, int known) {
        State st;
        int g = std::max(1, known);
        std::vector<Posting> last;
        for (;; ++g) {
            auto found = find(payment_ref(tk.key, g), tk.date);
            if (found.empty()) {
                if (g <= known) throw inconsistent(payment_ref(tk.key, g), known);
                break;
            }
            if (st.first_date.empty()) st.first_date = found.front().date;
            last = std::move(found);
            st.generations = g;
        }
        if (st.generations == 0) return st;
        Generation& gen = st.latest;
        gen.gen = st.generations;
        gen.payment = last;
        gen.payment_reversed = payment_reversed(last);
        return st;
    }

    // A payment (the earliest posting carrying its reference) counts as reversed when another
    // posting names it in reversePaymentTransactionNo, when it names its reversal there, or
    // when the postings carrying the reference sum to zero.
    static bool payment_reversed(const std::vector<Posting>& postings) {
        if (postings.empty()) return false;
        const Posting& original = postings.front();
        if (original.reverse_payment_no != 0) return true;
        long long sum = 0;
        for (const auto& p : postings) {
            sum += cents(p.amount);
            if (&p != &original && p.reverse_payment_no == original.transaction_no) return true;
        }
        return postings.size() > 1 && sum == 0;
    }

    Error inconsistent(const std::string& ref, int known) const {
        return Error(PLEXUS_ERR_VALIDATION,
                     "opera: OPERA shows no posting with reference " + ref + " although this record's target key says " +
                         std::to_string(known) + " generation(s) were posted; nothing was posted or reversed. "
                         "Check the PM reservation's folio (a posting moved or deleted?) before replaying");
    }

    static json state_json(const State& st, bool charges) {
        json postings = json::array();
        if (charges) {
            for (size_t i = 0; i < st.latest.lines.size(); ++i) {
                json p = st.latest.lines[i].raw;
                p["reversed"] = static_cast<bool>(st.latest.reversed[i]);
                postings.push_back(std::move(p));
            }
        } else {
            for (const auto& p : st.latest.payment) postings.push_back(p.raw);
        }
        json out{{"generations", st.generations}, {"postings", std::move(postings)}};
        if (!charges) out["reversed"] = st.latest.payment_reversed;
        return out;
    }

    // ---- writes ----
    Desired desired_charges(const json& d) const {
        Desired want;
        bool cancelled = false;
        if (auto c = d.find("cancelled"); c != d.end()) {
            if (!c->is_boolean()) throw Error(PLEXUS_ERR_VALIDATION, "charges: cancelled must be true or false");
            cancelled = c->get<bool>();
        }
        want.active = !cancelled;
        const std::string currency = d.value("currency", "");
        const std::string remark = d.contains("remark") && d["remark"].is_string() ? d["remark"].get<std::string>() : "";
        auto lines = d.find("lines");
        // A cancelled sale reverses what OPERA holds (code, price and quantity copied from the
        // postings): its lines are not posted, so they are not checked. e-guma's record of a
        // cancelled sale says quantity 0 for every line (nothing sold any more); refusing that
        // would leave the original posting unreversed.
        if (cancelled) {
            ChargeLine c;  // only its currency is used: a reversal copies the rest from OPERA
            c.currency = currency;
            want.lines.push_back(std::move(c));
            return want;
        }
        // No lines: nothing to post (e-guma's record of a Maison redemption that belongs to no
        // order has none); the target key says so (#0).
        if (lines == d.end() || !lines->is_array())
            throw Error(PLEXUS_ERR_VALIDATION, "charges: lines must be an array");
        if (lines->size() > 999) throw Error(PLEXUS_ERR_VALIDATION, "charges: at most 999 lines per record");
        if (currency.size() < 3 || currency.size() > 20)
            throw Error(PLEXUS_ERR_VALIDATION, "charges: currency must be a currency code such as CHF");
        size_t n = 0;
        for (const auto& l : *lines) {
            ++n;
            const std::string where = "charges: lines[" + std::to_string(n - 1) + "]";
            if (!l.is_object()) throw Error(PLEXUS_ERR_VALIDATION, where + " is not an object");
            ChargeLine c;
            c.transaction_code = l.value("transaction_code", "");
            if (c.transaction_code.empty() || c.transaction_code.size() > 80)
                throw Error(PLEXUS_ERR_VALIDATION, where + ": transaction_code must be 1..80 characters");
            auto price = l.find("price");
            if (price == l.end() || !price->is_number())
                throw Error(PLEXUS_ERR_VALIDATION, where + ": price must be a number");
            c.price = price->get<double>();
            if (auto q = l.find("quantity"); q != l.end()) {
                if (!q->is_number_integer() || q->get<long long>() <= 0)
                    throw Error(PLEXUS_ERR_VALIDATION, where + ": quantity must be a positive whole number");
                c.quantity = q->get<long long>();
            }
            c.currency = currency;
            c.remark = l.contains("remark") && l["remark"].is_string() ? l["remark"].get<std::string>() : remark;
            want.lines.push_back(std::move(c));
        }
        return want;
    }

    Desired desired_payment(const json& d) const {
        Desired want;
        auto paid = d.find("paid");
        if (paid == d.end() || !paid->is_boolean()) throw Error(PLEXUS_ERR_VALIDATION, "payments: paid must be true or false");
        want.active = paid->get<bool>();
        want.payment.method = d.value("payment_method", "");
        auto amount = d.find("amount");
        if (amount == d.end() || !amount->is_number()) throw Error(PLEXUS_ERR_VALIDATION, "payments: amount must be a number");
        want.payment.amount = amount->get<double>();
        want.payment.currency = d.value("currency", "");
        want.payment.remark = d.contains("remark") && d["remark"].is_string() ? d["remark"].get<std::string>() : "";
        if (want.active && (want.payment.method.empty() || want.payment.method.size() > 20))
            throw Error(PLEXUS_ERR_VALIDATION, "payments: payment_method must be 1..20 characters");
        if (want.active && (want.payment.currency.size() < 3 || want.payment.currency.size() > 20))
            throw Error(PLEXUS_ERR_VALIDATION, "payments: currency must be a currency code such as CHF");
        if (want.active && cents(want.payment.amount) < 0)
            throw Error(PLEXUS_ERR_VALIDATION, "payments: amount must not be negative");
        // Paid, amount 0: nothing is paid (a record without lines, or every line cancelled):
        // no payment, and one posted earlier is reversed.
        if (want.active && cents(want.payment.amount) == 0) want.active = false;
        return want;
    }

    // The POST of a plan, sent once; the answer sorted into what the caller does next.
    PostOutcome post(const std::string& path, const json& body, std::string& message,
                     std::vector<Posting>& posted, int64_t& wait_ms) {
        sdk::HttpResponse resp;
        try {
            resp = call("POST", path, body.dump());
        } catch (const Error& e) {
            if (e.status() != PLEXUS_ERR_TRANSIENT) throw;
            message = std::string("no answer to POST ") + strip_query(path) + ": " + e.what();
            return PostOutcome::uncertain;
        }
        if (resp.status == 200 || resp.status == 201) {
            posted = parse_posted(json::parse(resp.body, nullptr, false));
            return PostOutcome::done;
        }
        message = "POST " + strip_query(path) + ": " + error_text(resp.status, resp.body);
        if (resp.status == 401 || resp.status == 403) throw Error(PLEXUS_ERR_AUTH, "opera: " + message);
        if (resp.status == 429 || resp.status == 503) {
            wait_ms = 1000;
            if (auto ra = sdk::rest::retry_after_s(resp.header("Retry-After"), host_.now_ms()))
                wait_ms = std::clamp<int64_t>(*ra * 1000, 0, 60000);
            return PostOutcome::retry;
        }
        if (resp.status >= 500) return PostOutcome::uncertain;
        return PostOutcome::refused;
    }

    // charges and payments: bring OPERA to the record's state, looking before each post.
    std::string write_stateful(const std::string& entity, const sdk::WriteItem& item, const json& data) {
        const bool charges = entity == "charges";
        const Desired want = charges ? desired_charges(data) : desired_payment(data);
        TargetKey tk;
        int known = 0;
        if (item.op == sdk::WriteOp::Update) {
            auto k = decode_target_key(item.target_key);
            if (!k) throw Error(PLEXUS_ERR_VALIDATION, entity + ": target key '" + item.target_key + "' is not one this connector wrote");
            tk = *k;
            known = k->generations;
        } else {
            if (item.idempotency_key.empty()) throw Error(PLEXUS_ERR_VALIDATION, entity + ": a create needs an idempotency key");
            tk.key = item.idempotency_key;
            tk.date = create_search_start(data);
        }
        if (tk.key.size() > 1900) throw Error(PLEXUS_ERR_VALIDATION, entity + ": the idempotency key is too long for a posting reference");

        std::string last_message;
        bool uncertain = false;
        for (int round = 0;; ++round) {
            State st = charges ? discover_charges(tk, known) : discover_payments(tk, known);
            if (!st.first_date.empty()) tk.date = st.first_date;
            tk.generations = st.generations;
            known = st.generations;
            std::string path;
            json body;
            std::string what;
            if (charges) plan_charges(tk, st, want, path, body, what);
            else plan_payment(tk, st, want, path, body, what);
            if (path.empty()) {
                if (uncertain) host_.info("opera: " + tk.key + ": found in OPERA after the unanswered POST; adopted, not posted again");
                if (item.op == sdk::WriteOp::Create && st.first_date.empty()) tk.date = today();
                return encode_target_key(tk);
            }
            if (uncertain)
                throw Error(PLEXUS_ERR_TRANSIENT,
                            "opera: " + last_message + "; OPERA does not show the posting (yet), so it was not sent again: "
                            "the next attempt looks it up before posting");
            if (round >= max_attempts_)
                throw Error(PLEXUS_ERR_TRANSIENT, "opera: " + last_message + " (" + std::to_string(round) + " attempts)");
            std::vector<Posting> posted;
            int64_t wait_ms = 0;
            PostOutcome o = post(path, body, last_message, posted, wait_ms);
            switch (o) {
                case PostOutcome::done: {
                    host_.info("opera: " + what + (posted.empty() ? "" : " (transactionNo " + std::to_string(posted.front().transaction_no) + (posted.size() > 1 ? " …" : "") + ")"));
                    if (st.first_date.empty() && !posted.empty() && parse_date(posted.front().date))
                        tk.date = posted.front().date;
                    if (st.first_date.empty() && item.op == sdk::WriteOp::Create) {
                        if (!posted.empty() && parse_date(posted.front().date)) tk.date = posted.front().date;
                        else tk.date = today();
                    }
                    tk.generations = planned_gen_;
                    return encode_target_key(tk);
                }
                case PostOutcome::refused:
                    throw Error(PLEXUS_ERR_VALIDATION, "opera: " + last_message);
                case PostOutcome::retry:
                    host_.warn("opera: " + last_message + "; looking up and trying again");
                    pause(wait_ms);
                    break;
                case PostOutcome::uncertain:
                    host_.warn("opera: " + last_message + "; the outcome is unknown, looking the posting up");
                    uncertain = true;
                    pause(recheck_ms_);
                    break;
            }
        }
    }

    // What a charges record still needs: nothing (path empty), the lines of a new generation,
    // the lines of the latest generation still missing, or the reversal of its lines.
    void plan_charges(const TargetKey& tk, const State& st, const Desired& want, std::string& path,
                      json& body, std::string& what) {
        planned_gen_ = st.generations;
        const Generation& g = st.latest;
        const bool any_reversed = std::find(g.reversed.begin(), g.reversed.end(), true) != g.reversed.end();
        const bool all_reversed = !g.lines.empty() && std::find(g.reversed.begin(), g.reversed.end(), false) == g.reversed.end();
        const std::string charges_path = "/csh/v1/hotels/" + url_encode(hotel_) + "/reservations/" + url_encode(reservation_) + "/charges";
        std::vector<ChargeLine> lines;
        if (want.active) {
            if (st.generations > 0 && !all_reversed) {
                if (any_reversed)
                    throw Error(PLEXUS_ERR_VALIDATION, "charges: the postings of " + tk.key + " are partly reversed in OPERA; "
                                                       "not posting them again — finish or undo the reversal in OPERA first");
                if (g.lines.size() > want.lines.size())
                    throw lines_changed(tk, g);
                for (size_t i = 0; i < g.lines.size(); ++i)
                    if (!same_line(g.lines[i], want.lines[i])) throw lines_changed(tk, g);
                for (size_t i = g.lines.size(); i < want.lines.size(); ++i) {
                    ChargeLine c = want.lines[i];
                    c.reference = charge_ref(tk.key, g.gen, static_cast<int>(i + 1));
                    lines.push_back(std::move(c));
                }
                what = "posted the missing " + std::to_string(lines.size()) + " charge line(s) of " + tk.key;
            } else {
                const int gen = st.generations + 1;
                planned_gen_ = gen;
                for (size_t i = 0; i < want.lines.size(); ++i) {
                    ChargeLine c = want.lines[i];
                    c.reference = charge_ref(tk.key, gen, static_cast<int>(i + 1));
                    lines.push_back(std::move(c));
                }
                what = "posted " + std::to_string(lines.size()) + " charge line(s) of " + tk.key +
                       (gen > 1 ? " (generation " + std::to_string(gen) + ")" : "");
            }
        } else if (st.generations > 0 && !all_reversed) {
            for (size_t i = 0; i < g.lines.size(); ++i) {
                if (g.reversed[i]) continue;
                const Posting& p = g.lines[i];
                ChargeLine c;
                c.transaction_code = p.code;
                c.price = p.price;
                c.currency = p.currency.empty() ? (want.lines.empty() ? "" : want.lines.front().currency) : p.currency;
                c.quantity = -(p.quantity == 0 ? 1 : p.quantity);
                c.reference = reversal_ref(p.reference);
                c.remark = "Reversal of " + p.reference + (p.remark.empty() ? "" : ": " + p.remark);
                lines.push_back(std::move(c));
            }
            what = "reversed " + std::to_string(lines.size()) + " charge line(s) of " + tk.key;
        }
        if (lines.empty()) return;
        path = charges_path;
        body = charges_body(hotel_, reservation_, cashier_, folio_window_, lines);
    }

    static bool same_line(const Posting& p, const ChargeLine& c) {
        return p.code == c.transaction_code && cents(p.price) == cents(c.price) &&
               (p.quantity == 0 ? 1 : p.quantity) == c.quantity;
    }

    Error lines_changed(const TargetKey& tk, const Generation& g) const {
        std::string posted;
        for (const auto& p : g.lines)
            posted += (posted.empty() ? "" : ", ") + p.code + " " + std::to_string(p.quantity) + " x " + json(p.price).dump();
        return Error(PLEXUS_ERR_VALIDATION, "charges: the lines of " + tk.key + " differ from those posted in OPERA (" + posted +
                                                "); posted charges are not edited — cancel the sale (cancelled=true) and post a new one");
    }

    void plan_payment(const TargetKey& tk, const State& st, const Desired& want, std::string& path, json& body,
                      std::string& what) {
        planned_gen_ = st.generations;
        const Generation& g = st.latest;
        const bool active = st.generations > 0 && !g.payment_reversed;
        if (want.active) {
            if (active) {
                if (std::llabs(cents(g.payment.front().amount)) != cents(want.payment.amount))
                    throw Error(PLEXUS_ERR_VALIDATION,
                                "payments: " + tk.key + " is paid in OPERA with " + json(g.payment.front().amount).dump() +
                                    ", the record now says " + json(want.payment.amount).dump() +
                                    "; a paid amount is not changed — reset the invoice to unpaid first");
                return;
            }
            PaymentPosting p = want.payment;
            p.reference = payment_ref(tk.key, st.generations + 1);
            planned_gen_ = st.generations + 1;
            path = "/csh/v1/hotels/" + url_encode(hotel_) + "/reservations/" + url_encode(reservation_) + "/payments";
            body = payment_body(hotel_, reservation_, cashier_, folio_window_, p);
            what = "posted payment " + p.reference;
        } else if (active) {
            const Posting& original = g.payment.front();
            path = "/csh/v1/hotels/" + url_encode(hotel_) + "/transactions/" + std::to_string(original.transaction_no) +
                   "/reversePayments";
            body = reverse_payment_body(hotel_, original.transaction_no, cashier_, reason_code_);
            what = "reversed payment " + original.reference;
        }
    }

    // reversals: one earlier posting, named by its reference.
    std::string write_reversal(const json& data) {
        const std::string ref = data.value("reference", "");
        if (ref.empty() || ref.size() > 1990) throw Error(PLEXUS_ERR_VALIDATION, "reversals: reference must be 1..1990 characters");
        std::string from = data.value("posting_date", "");
        if (!from.empty() && !parse_date(from))
            throw Error(PLEXUS_ERR_VALIDATION, "reversals: posting_date must be YYYY-MM-DD");
        if (from.empty()) from = recent();
        std::string last_message;
        bool uncertain = false;
        for (int round = 0;; ++round) {
            auto original = find(ref, from);
            if (original.empty())
                throw Error(PLEXUS_ERR_VALIDATION, "reversals: OPERA has no posting with reference " + ref + " since " + from +
                                                       " on PM reservation " + reservation_);
            const Posting& o = original.front();
            std::string path;
            json body;
            const bool payment = o.type == "Payment" || (!o.raw.contains("debitAmount") && o.raw.contains("creditAmount"));
            if (payment) {
                if (!payment_reversed(original)) {
                    path = "/csh/v1/hotels/" + url_encode(hotel_) + "/transactions/" + std::to_string(o.transaction_no) + "/reversePayments";
                    body = reverse_payment_body(hotel_, o.transaction_no, cashier_, reason_code_);
                }
            } else if (find(reversal_ref(ref), o.date).empty()) {
                ChargeLine c;
                c.transaction_code = o.code;
                c.price = o.price;
                c.currency = o.currency;
                c.quantity = -(o.quantity == 0 ? 1 : o.quantity);
                c.reference = reversal_ref(ref);
                c.remark = data.contains("remark") && data["remark"].is_string() ? data["remark"].get<std::string>()
                                                                                    : "Reversal of " + ref;
                path = "/csh/v1/hotels/" + url_encode(hotel_) + "/reservations/" + url_encode(reservation_) + "/charges";
                body = charges_body(hotel_, reservation_, cashier_, folio_window_, {c});
            }
            if (path.empty()) return reversal_ref(ref);
            if (uncertain)
                throw Error(PLEXUS_ERR_TRANSIENT, "opera: " + last_message + "; the reversal is not visible (yet), so it was not sent again");
            if (round >= max_attempts_) throw Error(PLEXUS_ERR_TRANSIENT, "opera: " + last_message);
            std::vector<Posting> posted;
            int64_t wait_ms = 0;
            switch (post(path, body, last_message, posted, wait_ms)) {
                case PostOutcome::done:
                    host_.info("opera: reversed posting " + ref);
                    return reversal_ref(ref);
                case PostOutcome::refused: throw Error(PLEXUS_ERR_VALIDATION, "opera: " + last_message);
                case PostOutcome::retry: pause(wait_ms); break;
                case PostOutcome::uncertain:
                    uncertain = true;
                    pause(recheck_ms_);
                    break;
            }
        }
    }

    // ---- postings read ----
    // Cursor: "<YYYY-MM-DD>|<n>": the start of the next 30-day window and how many postings
    // of that window (in postingDate, transactionNo order) were already returned.
    sdk::ReadPage read_postings(const sdk::ReadRequest& req) {
        std::string start;
        size_t skip = 0;
        if (req.cursor && !req.cursor->empty()) {
            auto bar = req.cursor->find('|');
            start = req.cursor->substr(0, bar);
            if (bar != std::string::npos) try { skip = std::stoul(req.cursor->substr(bar + 1)); } catch (...) { start.clear(); }
            if (!parse_date(start)) throw Error(PLEXUS_ERR_CONFIG, "opera: unreadable postings cursor '" + *req.cursor + "'");
        } else if (req.since && req.since->size() >= 10 && parse_date(req.since->substr(0, 10))) {
            start = req.since->substr(0, 10);
        } else {
            start = recent();
        }
        const std::string last = add_days(today(), 1);
        std::string end = add_days(start, 29);
        if (*parse_date(end) > *parse_date(last)) end = last;
        std::vector<Posting> rows;
        if (*parse_date(start) <= *parse_date(end)) {
            auto body = get_json("/csh/v1/hotels/" + url_encode(hotel_) + "/transactions?reservationList=" +
                                     url_encode(reservation_) + "&startDate=" + start + "&endDate=" + end,
                                 "reading postings");
            if (body) rows = parse_transactions(*body);
        }
        std::sort(rows.begin(), rows.end(), [](const Posting& a, const Posting& b) {
            return a.date != b.date ? a.date < b.date : a.transaction_no < b.transaction_no;
        });
        sdk::ReadPage page;
        const size_t limit = std::max<size_t>(1, req.limit);
        size_t i = skip;
        for (; i < rows.size() && page.records.size() < limit; ++i) {
            sdk::Record r;
            r.key = std::to_string(rows[i].transaction_no);
            r.cursor = rows[i].date;
            r.data = rows[i].raw;
            page.records.push_back(std::move(r));
        }
        if (i < rows.size()) {
            page.next_cursor = start + "|" + std::to_string(i);
            page.has_more = true;
        } else if (end != last) {
            page.next_cursor = add_days(end, 1) + "|0";
            page.has_more = true;
        } else {
            // Caught up: the next run reads the last window again, skipping what was returned.
            page.next_cursor = start + "|" + std::to_string(i);
            page.has_more = false;
        }
        return page;
    }

    sdk::Host& host_;
    std::string gateway_, client_id_, client_secret_, app_key_, enterprise_id_, scope_, hotel_, reservation_,
        reason_code_;
    long long cashier_ = 0;
    int folio_window_ = 1;
    int max_attempts_ = 4;
    int64_t recheck_ms_ = 1000;
    int64_t in_doubt_ms_ = 2500;
    std::vector<std::string> codes_, methods_;
    std::string token_;
    int64_t token_renew_ms_ = 0;
    int tokens_fetched_ = 0;
    int planned_gen_ = 0;  // the generation the planned POST writes to
};

}  // namespace plexus::opera

PLEXUS_EXPORT_CONNECTOR(plexus::opera::OperaConnector)
