// OHIP simulator; see opera_sandbox.hpp and sandbox/README.md.
#include "sandbox/opera_sandbox.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

namespace plexus::sandbox {

namespace {

using json = nlohmann::json;
constexpr const char* kJson = "application/json;charset=UTF-8";

std::string today_utc() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

// Days since 1970-01-01 of YYYY-MM-DD, or INT64_MIN.
int64_t day_of(const std::string& s) {
    static const std::regex re("^(\\d{4})-(\\d{2})-(\\d{2})$");
    std::smatch m;
    if (!std::regex_match(s, m, re)) return INT64_MIN;
    int64_t y = std::stoi(m[1]);
    unsigned mo = static_cast<unsigned>(std::stoi(m[2])), d = static_cast<unsigned>(std::stoi(m[3]));
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return INT64_MIN;
    y -= mo <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string base64_decode(const std::string& in) {
    static const std::string chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -8;
    for (unsigned char c : in) {
        if (c == '=') break;
        auto pos = chars.find(static_cast<char>(c));
        if (pos == std::string::npos) return {};
        val = (val << 6) + static_cast<int>(pos);
        bits += 6;
        if (bits >= 0) {
            out.push_back(static_cast<char>((val >> bits) & 0xFF));
            bits -= 8;
        }
    }
    return out;
}

struct Reservation {
    std::string id;
    std::string status;  // pMS_ResStatusType
    std::string room_type;
    std::string name;
};

struct TrxCode {
    std::string code, description, group, service_type;
};

struct PayMethod {
    std::string code, name;
    bool active = true;
};

struct Posting {
    long long no = 0;
    std::string reservation;
    std::string code;
    std::string description;
    std::string type;  // Revenue | Payment
    double price = 0;
    long long quantity = 1;
    double amount = 0;  // signed: charges positive, payments positive, reversals negated
    std::string currency;
    std::string reference, remark;
    std::string date;
    int window = 1;
    long long cashier = 0;
    long long reverses = 0;  // payment reversal: the transactionNo it reverses
};

json money(double amount, const std::string& currency) {
    return {{"amount", amount}, {"currencyCode", currency}};
}

json posting_json(const Posting& p) {
    json j{{"transactionNo", p.no},
           {"transactionCode", p.code},
           {"transactionDescription", p.description},
           {"transactionType", p.type},
           {"transactionAmount", p.amount},
           {"price", money(p.price, p.currency)},
           {"quantity", p.quantity},
           {"postedAmount", money(p.amount, p.currency)},
           {"reference", p.reference},
           {"remark", p.remark},
           {"folioWindowNo", p.window},
           {"postingDate", p.date},
           {"transactionDate", p.date},
           {"revenueDate", p.date},
           {"cashierInfo", {{"cashierId", p.cashier}}}};
    if (p.type == "Payment") j["creditAmount"] = money(p.amount, p.currency);
    else j["debitAmount"] = money(p.amount, p.currency);
    if (p.reverses) j["reversePaymentTransactionNo"] = p.reverses;
    return j;
}

class OperaSandbox : public Sandbox, public OperaSandboxControl {
public:
    explicit OperaSandbox(uint32_t seed) : rng_(seed), next_no_(10000000 + seed % 1000) {
        reservations_ = {{kOperaPmReservation, "InHouse", "PM", "e-guma web shop (automatic transfer)"},
                         {"900003", "InHouse", "PM", "Shop manual postings"},
                         {kOperaReservedReservation, "Reserved", "DBL", "Ana Novák"}};
        codes_ = {{"7010", "Vouchers (e-guma)", "MISC", "Services"},
                  {"7020", "Products (shop)", "MISC", "Goods"},
                  {"7030", "Tickets", "MISC", "Services"},
                  {"7040", "Shipping", "MISC", "Services"},
                  {"7050", "Maison redemption", "MISC", "Services"},
                  {"7060", "Organisation vouchers redeemed", "MISC", "Services"},
                  {"1000", "Accommodation", "ROOM", "Services"}};
        methods_ = {{"CA", "Cash", true},       {"VA", "Visa", true},
                    {"MC", "Mastercard", true}, {"EG", "e-guma online payment", true},
                    {"IV", "Invoice (e-guma)", true}, {"CHQ", "Cheque", false},
                    {"MA", "Maison (e-guma)", true}, {"OV", "Organisation vouchers (e-guma)", true}};
        cashiers_ = {{kOperaCashier, kOperaHotel}, {kOperaOtherCashier, "HOTEL2"}, {1, kOperaHotel}};
    }

    ~OperaSandbox() override {
        for (auto& t : late_)
            if (t.joinable()) t.join();
    }

    std::string id() const override { return "opera"; }

    // ---- control ----
    size_t postings_with_reference(const std::string& reference) const override {
        std::lock_guard lock(mutex_);
        return static_cast<size_t>(std::count_if(postings_.begin(), postings_.end(),
                                                 [&](const Posting& p) { return p.reference == reference; }));
    }
    std::vector<json> postings() const override {
        std::lock_guard lock(mutex_);
        std::vector<json> out;
        for (const auto& p : postings_) {
            json j = posting_json(p);
            j["reservationId"] = p.reservation;
            out.push_back(std::move(j));
        }
        return out;
    }
    double balance(const std::string& reservation) const override {
        std::lock_guard lock(mutex_);
        long long cents = 0;
        for (const auto& p : postings_)
            if (p.reservation == reservation)
                cents += std::llround((p.type == "Payment" ? -p.amount : p.amount) * 100);
        return static_cast<double>(cents) / 100;
    }
    void set_token_ttl_s(int s) override {
        std::lock_guard lock(mutex_);
        token_ttl_s_ = std::max(1, s);
    }
    void expire_tokens() override {
        std::lock_guard lock(mutex_);
        for (auto& [t, exp] : tokens_) exp = 0;
    }
    void set_token_max_requests(int requests) override {
        std::lock_guard lock(mutex_);
        token_max_requests_ = std::max(0, requests);
        token_uses_.clear();
    }
    uint64_t unauthorised() const override {
        std::lock_guard lock(mutex_);
        return unauthorised_;
    }
    uint64_t tokens_issued() const override {
        std::lock_guard lock(mutex_);
        return tokens_issued_;
    }
    std::vector<std::string> tokens() const override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [t, exp] : tokens_) out.push_back(t);
        return out;
    }
    void lose_answers_after_executing(int n) override {
        std::lock_guard lock(mutex_);
        lose_answers_ = n;
    }
    void delay_postings(int n, int ms) override {
        std::lock_guard lock(mutex_);
        delay_postings_ = n;
        delay_ms_ = ms;
    }
    void refuse_posts(int n) override {
        std::lock_guard lock(mutex_);
        refuse_posts_ = n;
    }
    void set_throttle_limit(int n) override {
        std::lock_guard lock(mutex_);
        throttle_limit_ = std::max(1, n);
    }
    uint64_t throttled() const override {
        std::lock_guard lock(mutex_);
        return throttled_;
    }
    uint64_t requests() const override {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    void set_business_date(const std::string& d) override {
        std::lock_guard lock(mutex_);
        business_date_ = d;
    }

    void mount(httplib::Server& s) override {
        s.Post("/oauth/v1/tokens", [this](const httplib::Request& q, httplib::Response& r) { serve(q, r, false, [&] { token(q, r); }); });
        s.Get("/csh/v1/services/cashiering/status", [this](const httplib::Request& q, httplib::Response& r) {
            serve(q, r, true, [&] { reply(r, 200, {{"operaVersion", {{"version", "25.5.0.0"}}}, {"links", json::array()}}); });
        });
        s.Get(R"(/csh/v1/hotels/([^/]+)/transactionCodes)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { transaction_codes(q, r); }); });
        s.Get(R"(/lov/v1/listOfValues/hotels/([^/]+)/paymentMethods)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { payment_methods(q, r); }); });
        s.Get(R"(/lov/v1/listOfValues/cashierId/([^/]+)/cashierHotels)", [this](const httplib::Request& q, httplib::Response& r) { serve(q, r, true, [&] { cashier_hotels(q, r); }); });
        s.Get(R"(/rsv/v1/hotels/([^/]+)/reservations/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { reservation(q, r); }); });
        s.Post(R"(/csh/v1/hotels/([^/]+)/reservations/([^/]+)/charges)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { charges(q, r); }); });
        s.Post(R"(/csh/v1/hotels/([^/]+)/reservations/([^/]+)/payments)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { payment(q, r); }); });
        s.Post(R"(/csh/v1/hotels/([^/]+)/transactions/([^/]+)/reversePayments)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { reverse_payment(q, r); }); });
        s.Get(R"(/csh/v1/hotels/([^/]+)/transactions)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { transactions(q, r); }); });
        s.Get(R"(/csh/v1/hotels/([^/]+)/reservations/([^/]+)/folios)", [this](const httplib::Request& q, httplib::Response& r) { api(q, r, [&] { folio(q, r); }); });
        // Control routes (not OHIP).
        s.Get("/_sandbox/opera/postings", [this](const httplib::Request& q, httplib::Response& r) {
            json out;
            if (q.has_param("reference")) {
                const std::string ref = q.get_param_value("reference");
                out = {{"reference", ref}, {"count", postings_with_reference(ref)}};
            } else {
                out = {{"postings", postings()}, {"balance", balance(kOperaPmReservation)}};
            }
            r.set_content(out.dump(), "application/json");
        });
        s.Get("/_sandbox/opera/stats", [this](const httplib::Request&, httplib::Response& r) {
            std::lock_guard lock(mutex_);
            r.set_content(json{{"requests", requests_}, {"throttled", throttled_}, {"tokens_issued", tokens_issued_},
                               {"unauthorised", unauthorised_},
                               {"postings", postings_.size()}, {"business_date", business_date()}}.dump(),
                          "application/json");
        });
        s.Post("/_sandbox/opera/knobs", [this](const httplib::Request& q, httplib::Response& r) {
            json j = json::parse(q.body, nullptr, false);
            if (!j.is_object()) {
                r.status = 400;
                r.set_content("{\"error\":\"body must be a JSON object\"}", "application/json");
                return;
            }
            if (j.contains("token_ttl_s")) set_token_ttl_s(j["token_ttl_s"].get<int>());
            if (j.value("expire_tokens", false)) expire_tokens();
            if (j.contains("token_max_requests")) set_token_max_requests(j["token_max_requests"].get<int>());
            if (j.contains("delay_postings")) delay_postings(j["delay_postings"].get<int>(), j.value("delay_ms", 2000));
            if (j.contains("refuse_posts")) refuse_posts(j["refuse_posts"].get<int>());
            if (j.contains("lose_answers")) lose_answers_after_executing(j["lose_answers"].get<int>());
            if (j.contains("throttle_limit")) set_throttle_limit(j["throttle_limit"].get<int>());
            if (j.contains("business_date")) set_business_date(j["business_date"].get<std::string>());
            r.set_content("{\"ok\":true}", "application/json");
        });
    }

private:
    // ---- framing ----
    static void reply(httplib::Response& r, int status, const json& body) {
        r.status = status;
        r.set_content(body.dump(), kJson);
        r.set_header("Content-Language", "en-GB");
    }
    static void problem(httplib::Response& r, int status, const std::string& detail, const std::string& code = "") {
        const char* title = status == 400 ? "Bad Request" : status == 404 ? "Not Found" : "Internal Server Error";
        json j{{"type", status == 404 ? "https://tools.ietf.org/html/rfc7231#section-6.5.4"
                                      : "https://tools.ietf.org/html/rfc7231#section-6.5.1"},
               {"title", title},
               {"status", status},
               {"detail", detail}};
        if (!code.empty()) j["o:errorCode"] = code;
        reply(r, status, j);
    }
    static void bodiless(httplib::Response& r, int status) {
        r.status = status;
        r.body.clear();
    }

    std::string business_date() const { return business_date_.empty() ? today_utc() : business_date_; }

    // Fault knobs, then OHIP's throttle: above the limit in the current second a request is
    // delayed by 1000 ms, never refused. `app_headers`: x-app-key and bearer are checked.
    template <typename F>
    void serve(const httplib::Request& q, httplib::Response& r, bool app_headers, F&& handler) {
        if (faults_.intercept(r, [](httplib::Response& res) { bodiless(res, 429); })) return;
        bool delay = false;
        {
            std::lock_guard lock(mutex_);
            ++requests_;
            const int64_t second = steady_ms() / 1000;
            if (second != window_second_) {
                window_second_ = second;
                window_count_ = 0;
            }
            if (++window_count_ > throttle_limit_) {
                delay = true;
                ++throttled_;
            }
        }
        if (delay) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        if (!app_headers || authorised(q, r)) handler();
    }

    template <typename F>
    void api(const httplib::Request& q, httplib::Response& r, F&& handler) {
        serve(q, r, true, [&] {
            const std::string hotel = q.matches[1];
            const std::string header = q.get_header_value("x-hotelid");
            if (header.empty()) return problem(r, 400, "The x-hotelid header is required", "MISSING_HOTEL_HEADER");
            if (header != hotel)
                return problem(r, 400, "x-hotelid " + header + " does not match the hotel in the path", "HOTEL_MISMATCH");
            if (hotel != kOperaHotel) return problem(r, 404, "Hotel " + hotel + " was not found", "HOTEL_NOT_FOUND");
            handler();
        });
    }

    bool app_key_ok(const httplib::Request& q, httplib::Response& r) {
        static const std::regex re("^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$");
        const std::string key = q.get_header_value("x-app-key");
        if (key.empty()) {
            problem(r, 400, "The x-app-key header is required", "MISSING_APP_KEY");
            return false;
        }
        if (!std::regex_match(key, re)) {
            problem(r, 400, "x-app-key does not match the required pattern", "INVALID_APP_KEY");
            return false;
        }
        return true;
    }

    bool authorised(const httplib::Request& q, httplib::Response& r) {
        const std::string auth = q.get_header_value("authorization");
        if (auth.rfind("Bearer ", 0) != 0) {
            bodiless(r, 401);
            return false;
        }
        {
            std::lock_guard lock(mutex_);
            auto it = tokens_.find(auth.substr(7));
            if (it == tokens_.end() || it->second <= steady_ms()) {
                ++unauthorised_;
                bodiless(r, 401);
                return false;
            }
            if (token_max_requests_ > 0 && ++token_uses_[it->first] > token_max_requests_) {
                it->second = 0;  // used up: expired from now on
                ++unauthorised_;
                bodiless(r, 401);
                return false;
            }
        }
        return app_key_ok(q, r);
    }

    // ---- token ----
    void token(const httplib::Request& q, httplib::Response& r) {
        if (!app_key_ok(q, r)) return;
        const std::string auth = q.get_header_value("Authorization");
        if (auth.rfind("Basic ", 0) != 0) return bodiless(r, 401);
        const std::string creds = base64_decode(auth.substr(6));
        if (creds != std::string(kOperaClientId) + ":" + kOperaClientSecret) return bodiless(r, 401);
        if (q.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0)
            return bodiless(r, 400);
        httplib::Params form;
        httplib::detail::parse_query_text(q.body, form);
        auto grant = form.find("grant_type");
        if (grant == form.end()) return bodiless(r, 400);
        if (grant->second == "password") {
            if (form.find("username") == form.end() || form.find("password") == form.end()) return bodiless(r, 400);
        } else if (grant->second != "client_credentials") {
            return bodiless(r, 400);
        }
        const std::string ent = q.get_header_value("enterpriseId");
        static const std::regex ent_re("^[A-Z0-9]{1,8}$");
        if (!ent.empty() && !std::regex_match(ent, ent_re)) return bodiless(r, 400);
        std::string t;
        int ttl;
        {
            std::lock_guard lock(mutex_);
            static const char* hex = "0123456789abcdef";
            t = "eyJsandbox.";
            for (int i = 0; i < 40; ++i) t += hex[rng_() % 16];
            ttl = token_ttl_s_;
            tokens_[t] = steady_ms() + int64_t{ttl} * 1000;
            ++tokens_issued_;
        }
        // oauth.json declares application/json; the sandbox answers with the charset
        // parameter like every other OHIP answer (the contract test relaxes exactly that).
        // Plain application/json would be gzipped by httplib for a client accepting gzip, and
        // the shared exchange recorder stores the compressed bytes.
        reply(r, 200, {{"access_token", t}, {"expires_in", ttl}, {"token_type", "Bearer"},
                       {"oracle_tk_context", "user_assertion"}});
    }

    // ---- reads ----
    void transaction_codes(const httplib::Request& q, httplib::Response& r) {
        json list = json::array();
        const std::string code = q.get_param_value("code");
        for (const auto& c : codes_) {
            if (!code.empty() && c.code != code) continue;
            list.push_back({{"transactionCode", c.code}, {"description", c.description}, {"hotelId", kOperaHotel},
                            {"transactionGroup", c.group}, {"trxServiceType", c.service_type}});
        }
        if (list.empty()) return bodiless(r, 204);
        reply(r, 200, {{"trxCodes", list}, {"links", json::array()}});
    }

    void payment_methods(const httplib::Request& q, httplib::Response& r) {
        const bool inactive = q.get_param_value("includeInactiveFlag") == "true";
        json items = json::array();
        for (const auto& m : methods_)
            if (m.active || inactive)
                items.push_back({{"code", m.code}, {"name", m.name}, {"description", m.name}, {"active", m.active}});
        reply(r, 200, {{"listOfValues", {{"items", items}, {"lovName", "PaymentMethods"},
                                         {"itemCount", items.size()}}}});
    }

    void cashier_hotels(const httplib::Request& q, httplib::Response& r) {
        long long cashier = 0;
        try {
            cashier = std::stoll(std::string(q.matches[1]));
        } catch (...) {
            return problem(r, 400, "cashierId must be a number", "INVALID_CASHIER");
        }
        json items = json::array();
        for (const auto& [c, hotel] : cashiers_)
            if (c == cashier) items.push_back({{"code", hotel}, {"name", hotel == kOperaHotel ? "Hotel Sandbox Zürich" : hotel}});
        if (items.empty()) return bodiless(r, 204);
        reply(r, 200, {{"listOfValues", {{"items", items}, {"lovName", "CashierHotels"}, {"itemCount", items.size()}}}});
    }

    const Reservation* find_reservation(const std::string& id) const {
        for (const auto& res : reservations_)
            if (res.id == id) return &res;
        return nullptr;
    }

    void reservation(const httplib::Request& q, httplib::Response& r) {
        const Reservation* res = find_reservation(q.matches[2]);
        if (!res) return problem(r, 404, "Reservation " + std::string(q.matches[2]) + " was not found", "RESERVATION_NOT_FOUND");
        json one{{"reservationIdList", json::array({{{"id", res->id}, {"type", "Reservation"}}})},
                 {"hotelId", kOperaHotel},
                 {"reservationStatus", res->status},
                 {"computedReservationStatus", res->status},
                 {"roomStay", {{"roomType", res->room_type}, {"pseudoRoom", res->room_type == "PM"}}},
                 {"customReference", res->name}};
        reply(r, 200, {{"reservations", {{"reservation", json::array({one})}, {"count", 1}}}, {"links", json::array()}});
    }

    // getGuestsTransactions. referenceNumberWildCard: '*' or '%' match any run of characters;
    // without them the value matches references containing it, ignoring case (invented).
    static bool ref_matches(const std::string& pattern, const std::string& ref) {
        auto lower = [](std::string s) {
            for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return s;
        };
        const std::string p = lower(pattern), v = lower(ref);
        if (p.find_first_of("*%") == std::string::npos) return v.find(p) != std::string::npos;
        std::string re;
        for (char c : p) {
            if (c == '*' || c == '%') re += ".*";
            else if (std::isalnum(static_cast<unsigned char>(c))) re += c;
            else { re += '\\'; re += c; }
        }
        return std::regex_match(v, std::regex(re));
    }

    void transactions(const httplib::Request& q, httplib::Response& r) {
        const size_t n = q.get_param_value_count("reservationList");
        if (n == 0) return problem(r, 400, "reservationList is required", "MISSING_RESERVATION_LIST");
        std::vector<std::string> ids;
        for (size_t i = 0; i < n; ++i) ids.push_back(q.get_param_value("reservationList", i));
        // The time span: at most 30 days. A missing end is the business date; a missing start
        // is 29 days before the end (invented defaults).
        const std::string bd = business_date();
        int64_t end = q.has_param("endDate") ? day_of(q.get_param_value("endDate")) : day_of(bd);
        int64_t start = q.has_param("startDate") ? day_of(q.get_param_value("startDate")) : end - 29;
        if (!q.has_param("endDate") && q.has_param("startDate")) end = std::min(start + 29, day_of(bd));
        if (start == INT64_MIN || end == INT64_MIN)
            return problem(r, 400, "startDate and endDate must be dates (YYYY-MM-DD)", "INVALID_DATE");
        if (end < start) return problem(r, 400, "endDate is before startDate", "INVALID_DATE_RANGE");
        if (end - start > 30) return problem(r, 400, "The time span between startDate and endDate exceeds 30 days", "DATE_SPAN_EXCEEDED");
        const std::string ref = q.get_param_value("referenceNumberWildCard");
        const std::string trx = q.get_param_value("trxCodeWildCard");
        std::set<long long> numbers;
        for (size_t i = 0; i < q.get_param_value_count("transactionNo"); ++i)
            try { numbers.insert(std::stoll(q.get_param_value("transactionNo", i))); } catch (...) {}
        std::set<std::string> types;
        for (size_t i = 0; i < q.get_param_value_count("cashieringTransactionType"); ++i)
            types.insert(q.get_param_value("cashieringTransactionType", i));
        json infos = json::array();
        std::lock_guard lock(mutex_);
        for (const auto& id : ids) {
            if (!find_reservation(id)) continue;
            std::map<int, json> windows;
            for (const auto& p : postings_) {
                if (p.reservation != id) continue;
                const int64_t d = day_of(p.date);
                if (d < start || d > end) continue;
                if (!ref.empty() && !ref_matches(ref, p.reference)) continue;
                if (!trx.empty() && p.code.find(trx) == std::string::npos) continue;
                if (!numbers.empty() && !numbers.count(p.no)) continue;
                if (!types.empty() && !types.count(p.type)) continue;
                windows[p.window].push_back(posting_json(p));
            }
            if (windows.empty()) continue;
            json fw = json::array();
            for (auto& [w, list] : windows)
                fw.push_back({{"folioWindowNo", w}, {"folios", json::array({{{"postings", list}}})}});
            infos.push_back({{"reservationInfo", {{"reservationIdList", json::array({{{"id", id}, {"type", "Reservation"}}})}}},
                             {"folioWindows", fw}});
        }
        if (infos.empty()) return bodiless(r, 204);
        reply(r, 200, {{"reservationFolioInformation", infos}, {"links", json::array()}});
    }

    void folio(const httplib::Request& q, httplib::Response& r) {
        const std::string id = q.matches[2];
        if (!find_reservation(id)) return problem(r, 404, "Reservation " + id + " was not found", "RESERVATION_NOT_FOUND");
        std::lock_guard lock(mutex_);
        json list = json::array();
        long long cents = 0;
        std::string currency = "CHF";
        for (const auto& p : postings_) {
            if (p.reservation != id) continue;
            list.push_back(posting_json(p));
            cents += std::llround((p.type == "Payment" ? -p.amount : p.amount) * 100);
        }
        json window{{"folioWindowNo", 1}, {"balance", money(static_cast<double>(cents) / 100, currency)}};
        if (q.get_param_value("fetchInstructions").find("Postings") != std::string::npos || q.get_param_value_count("fetchInstructions") > 1)
            window["folios"] = json::array({{{"postings", list}}});
        reply(r, 200, {{"reservationFolioInformation", {{"folioWindows", json::array({window})}}}, {"links", json::array()}});
    }

    // ---- posting ----
    // Checks shared by charges and payments; returns the reservation or answers the error.
    const Reservation* postable(const httplib::Request& q, httplib::Response& r, const json& criteria, long long& cashier) {
        const std::string id = q.matches[2];
        const Reservation* res = find_reservation(id);
        if (!res) {
            problem(r, 404, "Reservation " + id + " was not found", "RESERVATION_NOT_FOUND");
            return nullptr;
        }
        if (res->status != "InHouse" && res->status != "DueOut") {
            problem(r, 400, "Reservation " + id + " is not checked in; postings are not allowed", "RESERVATION_NOT_IN_HOUSE");
            return nullptr;
        }
        if (criteria.contains("hotelId") && criteria["hotelId"] != kOperaHotel) {
            problem(r, 400, "criteria.hotelId does not match the hotel in the path", "HOTEL_MISMATCH");
            return nullptr;
        }
        if (auto rid = criteria.find("reservationId"); rid != criteria.end() && rid->is_object() && rid->contains("id") &&
                                                        (*rid)["id"] != id) {
            problem(r, 400, "criteria.reservationId.id does not match the reservation in the path", "RESERVATION_MISMATCH");
            return nullptr;
        }
        cashier = 0;
        if (auto c = criteria.find("cashierId"); c != criteria.end()) {
            if (!c->is_number()) {
                problem(r, 400, "cashierId must be a number", "INVALID_CASHIER");
                return nullptr;
            }
            cashier = c->get<long long>();
        }
        return res;
    }

    bool cashier_ok(long long cashier) const {
        for (const auto& [c, hotel] : cashiers_)
            if (c == cashier && hotel == kOperaHotel) return true;
        return false;
    }

    // After a posting was made: answer, or lose the answer (knob).
    bool lose_answer(httplib::Response& r) {
        std::lock_guard lock(mutex_);
        if (lose_answers_ <= 0) return false;
        --lose_answers_;
        bodiless(r, 502);
        return true;
    }

    // Knob: answer 502 now, post `made` later.
    bool post_late(httplib::Response& r, std::vector<Posting> made) {
        std::lock_guard lock(mutex_);
        if (delay_postings_ <= 0) return false;
        --delay_postings_;
        const int ms = delay_ms_;
        late_.emplace_back([this, made = std::move(made), ms]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            std::lock_guard inner(mutex_);
            for (auto& p : made) {
                p.no = next_no_++;
                p.date = business_date();
                postings_.push_back(p);
            }
        });
        bodiless(r, 502);
        return true;
    }

    // Before anything is posted: refuse (knob).
    bool refuse_post(httplib::Response& r) {
        std::lock_guard lock(mutex_);
        if (refuse_posts_ <= 0) return false;
        --refuse_posts_;
        bodiless(r, 503);
        r.set_header("Retry-After", "1");
        return true;
    }

    void location(const httplib::Request& q, httplib::Response& r) {
        r.set_header("Location", "http://" + q.get_header_value("Host") + q.path);
    }

    void charges(const httplib::Request& q, httplib::Response& r) {
        if (refuse_post(r)) return;
        json body = json::parse(q.body, nullptr, false);
        if (!body.is_object() || !body.contains("criteria") || !body["criteria"].is_object())
            return problem(r, 400, "The request body must be a billingCharges object with criteria", "INVALID_BODY");
        const json& c = body["criteria"];
        long long cashier = 0;
        const Reservation* res = postable(q, r, c, cashier);
        if (!res) return;
        json lines = c.value("charges", json());
        if (lines.is_object()) lines = json::array({lines});  // Oracle's older examples (tolerated)
        if (!lines.is_array() || lines.empty())
            return problem(r, 400, "criteria.charges must list at least one charge", "NO_CHARGES");
        if (lines.size() > 4000) return problem(r, 400, "criteria.charges has more than 4000 items", "TOO_MANY_ITEMS");
        std::vector<Posting> made;
        for (size_t i = 0; i < lines.size(); ++i) {
            const json& l = lines[i];
            const std::string where = "criteria.charges[" + std::to_string(i) + "]";
            if (!l.is_object()) return problem(r, 400, where + " is not an object", "INVALID_BODY");
            Posting p;
            p.reservation = res->id;
            p.type = "Revenue";
            auto code = l.find("transactionCode");
            if (code == l.end()) return problem(r, 400, where + ": transactionCode or articleCode is required (articles are not simulated)", "MISSING_TRX_CODE");
            if (!code->is_string()) return problem(r, 400, where + ".transactionCode must be a string", "INVALID_TRX_CODE");
            p.code = code->get<std::string>();
            auto known = std::find_if(codes_.begin(), codes_.end(), [&](const TrxCode& t) { return t.code == p.code; });
            if (known == codes_.end())
                return problem(r, 400, "Transaction code " + p.code + " does not exist in hotel " + kOperaHotel, "INVALID_TRX_CODE");
            p.description = known->description;
            auto price = l.find("price");
            if (price == l.end() || !price->is_object() || !(*price).contains("amount") || !(*price)["amount"].is_number())
                return problem(r, 400, where + ".price.amount is required and must be a number", "INVALID_AMOUNT");
            p.price = (*price)["amount"].get<double>();
            p.currency = price->value("currencyCode", "CHF");
            if (p.currency != "CHF")
                return problem(r, 400, where + ": currency " + p.currency + " is not the hotel's currency (CHF)", "INVALID_CURRENCY");
            p.quantity = 1;
            if (auto qn = l.find("postingQuantity"); qn != l.end()) {
                if (!qn->is_number_integer()) return problem(r, 400, where + ".postingQuantity must be an integer", "INVALID_QUANTITY");
                p.quantity = qn->get<long long>();
            }
            if (p.quantity == 0) return problem(r, 400, where + ".postingQuantity must not be 0", "INVALID_QUANTITY");
            p.reference = l.value("postingReference", "");
            p.remark = l.value("postingRemark", "");
            if (p.reference.size() > 2000 || p.remark.size() > 2000)
                return problem(r, 400, where + ": postingReference and postingRemark are limited to 2000 characters", "TOO_LONG");
            p.window = l.value("folioWindowNo", 1);
            if (p.window < 1 || p.window > 8) return problem(r, 400, where + ".folioWindowNo must be 1..8", "INVALID_WINDOW");
            p.cashier = l.contains("cashierId") && l["cashierId"].is_number() ? l["cashierId"].get<long long>() : cashier;
            if (!cashier_ok(p.cashier))
                return problem(r, 400, "Cashier " + std::to_string(p.cashier) + " is not valid in hotel " + kOperaHotel, "INVALID_CASHIER");
            p.amount = std::round(p.price * static_cast<double>(p.quantity) * 100) / 100;
            made.push_back(std::move(p));
        }
        if (post_late(r, made)) return;
        json out = json::array();
        {
            std::lock_guard lock(mutex_);
            for (auto& p : made) {
                p.no = next_no_++;
                p.date = business_date();
                postings_.push_back(p);
                out.push_back(posting_json(p));
            }
        }
        if (lose_answer(r)) return;
        location(q, r);
        json trx = json::array();
        std::set<std::string> seen;
        for (const auto& p : made)
            if (seen.insert(p.code).second)
                trx.push_back({{"transactionCode", p.code}, {"description", p.description}, {"hotelId", kOperaHotel}});
        // Invented: a negative posting (a correction) comes back with a warning.
        json warnings = json::array();
        for (const auto& p : made)
            if (p.quantity < 0 || p.price < 0)
                warnings.push_back({{"type", "Warning"}, {"code", "NEGATIVE_POSTING"},
                                    {"shortText", "Negative posting of " + p.code + " (" + p.reference + ")"}});
        reply(r, 201, {{"postings", out}, {"trxCodesInfo", trx}, {"links", json::array()}, {"warnings", warnings}});
    }

    void payment(const httplib::Request& q, httplib::Response& r) {
        if (refuse_post(r)) return;
        json body = json::parse(q.body, nullptr, false);
        if (!body.is_object() || !body.contains("criteria") || !body["criteria"].is_object())
            return problem(r, 400, "The request body must be a billingPayment object with criteria", "INVALID_BODY");
        const json& c = body["criteria"];
        long long cashier = 0;
        const Reservation* res = postable(q, r, c, cashier);
        if (!res) return;
        if (!cashier_ok(cashier))
            return problem(r, 400, "Cashier " + std::to_string(cashier) + " is not valid in hotel " + kOperaHotel, "INVALID_CASHIER");
        Posting p;
        p.reservation = res->id;
        p.type = "Payment";
        p.cashier = cashier;
        auto pm = c.find("paymentMethod");
        if (pm == c.end() || !pm->is_object() || !pm->contains("paymentMethod") || !(*pm)["paymentMethod"].is_string())
            return problem(r, 400, "criteria.paymentMethod.paymentMethod is required", "MISSING_PAYMENT_METHOD");
        p.code = (*pm)["paymentMethod"].get<std::string>();
        auto m = std::find_if(methods_.begin(), methods_.end(), [&](const PayMethod& x) { return x.code == p.code; });
        if (m == methods_.end() || !m->active)
            return problem(r, 400, "Payment method " + p.code + " does not exist or is inactive in hotel " + kOperaHotel, "INVALID_PAYMENT_METHOD");
        p.description = m->name;
        auto amt = c.find("postingAmount");
        if (amt == c.end() || !amt->is_object() || !amt->contains("amount") || !(*amt)["amount"].is_number())
            return problem(r, 400, "criteria.postingAmount.amount is required and must be a number", "INVALID_AMOUNT");
        p.amount = (*amt)["amount"].get<double>();
        p.price = p.amount;
        p.currency = amt->value("currencyCode", "CHF");
        if (p.currency != "CHF")
            return problem(r, 400, "Currency " + p.currency + " is not the hotel's currency (CHF)", "INVALID_CURRENCY");
        if (p.amount == 0) return problem(r, 400, "postingAmount must not be 0", "INVALID_AMOUNT");
        p.reference = c.value("postingReference", "");
        p.remark = c.value("postingRemark", "");
        if (auto w = c.find("folioWindowNo"); w != c.end()) {
            if (w->is_number_integer()) p.window = w->get<int>();
            else if (w->is_string()) try { p.window = std::stoi(w->get<std::string>()); } catch (...) {}
        }
        if (post_late(r, {p})) return;
        json out;
        {
            std::lock_guard lock(mutex_);
            p.no = next_no_++;
            p.date = business_date();
            postings_.push_back(p);
            out = posting_json(p);
        }
        if (lose_answer(r)) return;
        location(q, r);
        reply(r, 201, {{"postings", json::array({out})}, {"links", json::array()}, {"warnings", json::array()}});
    }

    void reverse_payment(const httplib::Request& q, httplib::Response& r) {
        if (refuse_post(r)) return;
        json body = json::parse(q.body, nullptr, false);
        if (!body.is_object() || !body.contains("payment") || !body["payment"].is_object())
            return problem(r, 400, "The request body must be a paymentReversalCriteria object with payment", "INVALID_BODY");
        const json& p = body["payment"];
        long long no = 0;
        try {
            no = std::stoll(std::string(q.matches[2]));
        } catch (...) {
            return problem(r, 400, "transactionId must be a transaction number", "INVALID_TRANSACTION");
        }
        if (p.contains("transactionNo") && (!p["transactionNo"].is_number() || p["transactionNo"].get<long long>() != no))
            return problem(r, 400, "payment.transactionNo does not match the transaction in the path", "TRANSACTION_MISMATCH");
        const long long cashier = p.contains("cashierId") && p["cashierId"].is_number() ? p["cashierId"].get<long long>() : 0;
        if (!cashier_ok(cashier))
            return problem(r, 400, "Cashier " + std::to_string(cashier) + " is not valid in hotel " + kOperaHotel, "INVALID_CASHIER");
        json out;
        {
            std::lock_guard lock(mutex_);
            auto orig = std::find_if(postings_.begin(), postings_.end(), [&](const Posting& x) { return x.no == no; });
            if (orig == postings_.end()) return problem(r, 404, "Transaction " + std::to_string(no) + " was not found", "TRANSACTION_NOT_FOUND");
            if (orig->type != "Payment" || orig->reverses)
                return problem(r, 400, "Transaction " + std::to_string(no) + " is not a payment that can be reversed", "NOT_A_PAYMENT");
            for (const auto& x : postings_)
                if (x.reverses == no) return problem(r, 400, "Payment " + std::to_string(no) + " is already reversed", "ALREADY_REVERSED");
            Posting rev = *orig;
            rev.no = next_no_++;
            rev.amount = -orig->amount;
            rev.price = -orig->price;
            rev.reverses = no;
            rev.remark = "Reversal of transaction " + std::to_string(no);
            rev.cashier = cashier;
            rev.date = business_date();
            postings_.push_back(rev);
            out = posting_json(rev);
        }
        if (lose_answer(r)) return;
        location(q, r);
        reply(r, 201, {{"links", json::array()}, {"warnings", json::array()}});
    }

    mutable std::mutex mutex_;
    std::mt19937 rng_;
    long long next_no_;
    std::vector<Reservation> reservations_;
    std::vector<TrxCode> codes_;
    std::vector<PayMethod> methods_;
    std::vector<std::pair<long long, std::string>> cashiers_;
    std::vector<Posting> postings_;
    std::map<std::string, int64_t> tokens_;  // token → steady ms it expires
    int token_ttl_s_ = 3600;
    uint64_t tokens_issued_ = 0;
    int token_max_requests_ = 0;
    std::map<std::string, int> token_uses_;  // API requests each token let through (knob)
    uint64_t unauthorised_ = 0;
    int lose_answers_ = 0;
    int refuse_posts_ = 0;
    int delay_postings_ = 0;
    int delay_ms_ = 0;
    std::vector<std::thread> late_;  // postings carried out late (joined on destruction)
    int throttle_limit_ = 50;
    int64_t window_second_ = 0;
    int window_count_ = 0;
    uint64_t throttled_ = 0;
    uint64_t requests_ = 0;
    std::string business_date_;
};

}  // namespace

std::unique_ptr<Sandbox> make_opera_sandbox(uint32_t seed, SeedSize) {
    return std::make_unique<OperaSandbox>(seed);  // starts empty: no size to choose
}

}  // namespace plexus::sandbox
