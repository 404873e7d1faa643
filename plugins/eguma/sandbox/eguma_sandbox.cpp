#include "eguma_sandbox.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <ctime>
#include <random>

namespace plexus::sandbox {

using json = nlohmann::json;

namespace {

// e-guma answers errors with a status and a plain-text body (the texts are undocumented; these
// are the sandbox's).
void text(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "text/plain; charset=utf-8");
}
void ok(httplib::Response& res, const json& body) {
    res.status = 200;
    res.set_content(body.dump(), "application/json; charset=utf-8");
}

std::string canonical(const std::string& raw) {
    std::string out;
    for (char c : raw)
        if (c != '-' && c != ' ') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::string iso_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string uuid_from(uint64_t a, uint64_t b) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                  static_cast<unsigned long long>(a & 0xffffffffULL), static_cast<unsigned long long>((a >> 32) & 0xffff),
                  static_cast<unsigned long long>((a >> 48) & 0xfff), static_cast<unsigned long long>(b & 0xfff),
                  static_cast<unsigned long long>((b >> 12) & 0xffffffffffffULL));
    return buf;
}

// A JSON body, or {} for an empty one (the vendor's 2016 wrapper POSTs activate and
// deactivate with no body and no Content-Type). nullopt when the body is not a JSON object.
std::optional<json> body_of(const httplib::Request& req) {
    if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
    json j = json::parse(req.body, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    return j;
}

}  // namespace

std::string eguma_hmac_hex(const std::string& key, const std::string& data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out, &len);
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < len; ++i) {
        s += hex[out[i] >> 4];
        s += hex[out[i] & 15];
    }
    return s;
}

EgumaSandbox::EgumaSandbox(uint32_t seed) : seed_(seed) {
    this->seed(seed);
    deliverer_ = std::thread([this] { deliver_loop(); });
}

EgumaSandbox::~EgumaSandbox() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    if (deliverer_.joinable()) deliverer_.join();
}

void EgumaSandbox::seed(uint32_t seed) {
    std::mt19937 rng(seed * 2654435761u + 7u);
    const std::string alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    auto code = [&] {
        std::string c;
        for (int i = 0; i < 12; ++i) c += alphabet[rng() % alphabet.size()];
        return c;
    };
    const json names = {{"de", "Wertgutschein"}, {"fr", "Bon de valeur"}, {"it", "Buono valore"}, {"en", "Value voucher"}};
    const char* product_ids[] = {"14d62f1b-6294-4b57-adc9-5c62667bdbf8", "5a0c2e77-1b1e-4c7a-9f1e-2f7d0b8c9a10",
                                 "9e3b6c41-7d2a-4e55-8b0f-63a1c2d4e5f6"};
    products_ = json::array(
        {{{"id", product_ids[0]}, {"name", names}, {"price_in_cents", 5000}, {"variants", json::array({5000, 10000, 20000})}},
         {{"id", product_ids[1]}, {"name", {{"de", "Dinner für zwei"}, {"en", "Dinner for two"}}}, {"price_in_cents", 18000},
          {"variants", json::array()}},
         {{"id", product_ids[2]}, {"name", {{"de", "Wellness-Tag"}, {"en", "Spa day"}}}, {"price_in_cents", 12000},
          {"variants", json::array()}}});
    auto add = [&](const std::string& c, int64_t balance, int64_t total, bool paid, const char* product) {
        Voucher v;
        v.code = c;
        v.balance = balance;
        v.total = total;
        v.paid = paid;
        v.product_id = product;
        v.name = "Wertgutschein CHF " + std::to_string(total / 100);
        v.valid_until = "2027-12-31T00:00:00";
        vouchers_[c] = v;
        return &vouchers_[c];
    };
    add(kEgumaVoucher400of500, 40000, 50000, true, product_ids[0]);
    add(kEgumaVoucher50, 5000, 5000, true, product_ids[0])->short_code = kEgumaShortCode;
    short_codes_[kEgumaShortCode] = kEgumaVoucher50;
    add(kEgumaVoucherRedeemed, 0, 10000, true, product_ids[0]);
    add(kEgumaVoucherUnpaid, 10000, 10000, false, product_ids[0]);
    add("PR0M0MA1S0N1", 3000, 0, true, product_ids[1]);  // a Maison/PR voucher: total 0
    add(kEgumaVoucherExpired, 5000, 5000, true, product_ids[0])->valid_until = "2024-12-31T00:00:00";
    for (int i = 0; i < 40; ++i) {
        const int64_t total = (i % 3 == 0 ? 5000 : i % 3 == 1 ? 10000 : 20000);
        const int64_t used = (i % 4 == 0) ? (static_cast<int64_t>(rng() % (total / 100)) * 100) : 0;
        add(code(), total - used, total, true, product_ids[i % 3]);
    }
    depots_[kEgumaDepotFixed] = Depot{kEgumaDepotFixed, false, false, 10000, product_ids[0]};
    depots_[kEgumaDepotFree] = Depot{kEgumaDepotFree, true, false, 0, product_ids[0]};
    depots_[kEgumaDepotSold] = Depot{kEgumaDepotSold, false, true, 5000, product_ids[0]};
    for (int i = 0; i < 20; ++i) {
        std::string c = "D" + code().substr(1);
        depots_[c] = Depot{c, i % 4 == 3, false, i % 4 == 3 ? 0 : 5000 * (1 + i % 3), product_ids[0]};
    }
}

std::unique_ptr<Sandbox> make_eguma_sandbox(uint32_t seed, SeedSize) {
    return std::make_unique<EgumaSandbox>(seed);  // starts empty: no size to choose
}

std::optional<EgumaSandbox::Voucher> EgumaSandbox::voucher(const std::string& code) const {
    std::lock_guard lock(mutex_);
    auto it = vouchers_.find(canonical(code));
    if (it == vouchers_.end()) return std::nullopt;
    return it->second;
}

std::optional<EgumaSandbox::Depot> EgumaSandbox::depot(const std::string& code) const {
    std::lock_guard lock(mutex_);
    auto it = depots_.find(canonical(code));
    if (it == depots_.end()) return std::nullopt;
    return it->second;
}

void EgumaSandbox::hang_redeems_after_effect(int n, int hold_ms) {
    std::lock_guard lock(mutex_);
    hang_left_ = n;
    hang_ms_ = hold_ms;
}

void EgumaSandbox::drop_redeems_before_effect(int n, int after) {
    std::lock_guard lock(mutex_);
    drop_left_ = n;
    drop_after_ = after;
}

std::vector<std::string> EgumaSandbox::request_lines() const {
    std::lock_guard lock(mutex_);
    return request_lines_;
}

EgumaSandbox::Voucher* EgumaSandbox::find_voucher(const std::string& raw) {
    auto it = vouchers_.find(canonical(raw));
    return it == vouchers_.end() ? nullptr : &it->second;
}

EgumaSandbox::Depot* EgumaSandbox::find_depot(const std::string& raw) {
    auto it = depots_.find(canonical(raw));
    return it == depots_.end() ? nullptr : &it->second;
}

// Authentication first (the key in the query string), then the fault knobs.
bool EgumaSandbox::admit(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    {
        std::lock_guard lock(mutex_);
        std::string line = req.method + " " + req.path;
        std::string q;
        for (const auto& [k, v] : req.params) q += (q.empty() ? "?" : "&") + k + "=" + v;
        request_lines_.push_back(line + q);
    }
    const std::string key = req.get_param_value("apikey");
    if (key != kEgumaKeyOutlet1 && key != kEgumaKeyOutlet2) {
        text(res, 401, "Unauthorized");
        return false;
    }
    if (faults_.intercept(res, [](httplib::Response& r) { text(r, 429, "Too Many Requests"); })) return false;
    return true;
}

void EgumaSandbox::mount(httplib::Server& server) {
    const std::string v = "/v1/vouchers/([^/]+)/";
    const std::string d = "/v1/depot_vouchers/([^/]+)/";

    server.Get(v + "balance.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        std::lock_guard lock(mutex_);
        std::string raw = req.matches[1];
        // A voucher2mobile short code resolves to its voucher here, and only here.
        if (auto s = short_codes_.find(raw); s != short_codes_.end()) raw = s->second;
        Voucher* vc = find_voucher(raw);
        if (!vc)
            return ok(res, {{"code", req.matches[1].str()}, {"is_redeemable", false}, {"balance_in_cents", 0},
                            {"total_amount_in_cents", 0}, {"currency", "CHF"}, {"product_id", nullptr},
                            {"message", "Der Gutschein wurde nicht gefunden."}, {"extra", nullptr}});
        std::string message;
        bool redeemable = true;
        if (!vc->paid) redeemable = false, message = "Der Gutschein ist noch nicht bezahlt.";
        else if (vc->proforma) redeemable = false, message = "Der Gutschein ist eine Proforma.";
        else if (vc->balance <= 0) redeemable = false, message = "Der Gutschein wurde bereits eingelöst.";
        else if (!vc->valid_until.empty() && vc->valid_until.substr(0, 10) < iso_now().substr(0, 10))
            redeemable = false, message = "Der Gutschein ist abgelaufen.";
        ok(res, {{"code", vc->code}, {"is_redeemable", redeemable}, {"balance_in_cents", vc->balance},
                 {"total_amount_in_cents", vc->total}, {"currency", "CHF"}, {"product_id", vc->product_id},
                 {"message", message}, {"extra", nullptr}});
    });

    server.Post(v + "redeem.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        auto body = body_of(req);
        if (!body) return text(res, 400, "Bad Request: the body is not a JSON object");
        auto amount = body->find("amount_in_cents");
        if (amount == body->end() || !amount->is_number_integer())
            return text(res, 400, "Bad Request: amount_in_cents is required");
        const int64_t cents = amount->get<int64_t>();
        std::string reference;
        if (auto r = body->find("reference_number"); r != body->end() && r->is_string()) reference = r->get<std::string>();
        if (reference.size() > 1024) return text(res, 400, "Bad Request: reference_number is too long");
        int hold = 0;
        json answer;
        {
            std::lock_guard lock(mutex_);
            if (drop_left_ > 0 && drop_after_ > 0) {
                --drop_after_;
            } else if (drop_left_ > 0) {
                --drop_left_;
                // Promise a body, send none, close: the client gets no answer.
                res.status = 200;
                res.set_content_provider(1024, "application/json",
                                         [](size_t, size_t, httplib::DataSink&) { return false; });
                return;
            }
            Voucher* vc = find_voucher(req.matches[1]);
            if (!vc) return text(res, 400, "Bad Request: voucher not found");
            if (!vc->paid || vc->proforma || vc->balance <= 0) return text(res, 400, "Bad Request: voucher is not redeemable");
            if (cents <= 0) return text(res, 400, "Bad Request: amount_in_cents must be greater than 0");
            if (cents > vc->balance) return text(res, 400, "Bad Request: amount exceeds the balance");
            vc->balance -= cents;
            const uint64_t n = ++tokens_;
            std::string token = uuid_from(n * 0x9E3779B97F4A7C15ULL ^ seed_, n * 0xC2B2AE3D27D4EB4FULL);
            vc->redemptions.push_back({token, cents, 0, reference});
            ++redeems_;
            answer = {{"code", vc->code}, {"balance_in_cents", vc->balance}, {"redeem_token", token}};
            if (hang_left_ > 0) {
                --hang_left_;
                hold = hang_ms_;
            }
        }
        // The redemption is made; the answer comes too late for a client with a short timeout.
        if (hold > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hold));
        ok(res, answer);
    });

    server.Post(v + "cancel_redemption.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        auto body = body_of(req);
        if (!body) return text(res, 400, "Bad Request: the body is not a JSON object");
        auto token = body->find("redeem_token");
        if (token == body->end() || !token->is_string() || token->get<std::string>().empty())
            return text(res, 400, "Bad Request: redeem_token is required");
        auto amount = body->find("amount_in_cents");
        if (amount == body->end() || !amount->is_number_integer())
            return text(res, 400, "Bad Request: amount_in_cents is required");
        std::lock_guard lock(mutex_);
        Voucher* vc = find_voucher(req.matches[1]);
        if (!vc) return text(res, 400, "Bad Request: voucher not found");
        for (auto& r : vc->redemptions) {
            if (r.token != token->get<std::string>()) continue;
            const int64_t cents = amount->get<int64_t>();
            if (cents <= 0 || cents > r.cents - r.cancelled_cents)
                return text(res, 400, "Bad Request: amount exceeds the redeemed amount not yet cancelled");
            r.cancelled_cents += cents;
            vc->balance += cents;
            ++cancels_;
            return ok(res, {{"code", vc->code}, {"balance_in_cents", vc->balance}});
        }
        text(res, 400, "Bad Request: redeem_token not found");
    });

    server.Get(v + "info.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        std::lock_guard lock(mutex_);
        Voucher* vc = find_voucher(req.matches[1]);
        if (!vc) return text(res, 400, "Bad Request: voucher not found");
        ok(res, {{"code", vc->code}, {"name", vc->name}, {"description", "Einlösbar für alle Leistungen."},
                 {"is_redeemed", vc->balance <= 0}, {"balance_in_cents", vc->balance}, {"valid_until", vc->valid_until}});
    });

    server.Get(d + "activate_status.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        std::lock_guard lock(mutex_);
        Depot* dp = find_depot(req.matches[1]);
        if (!dp)
            return ok(res, {{"code", req.matches[1].str()}, {"can_be_activated", false}, {"free_amount", false},
                            {"amount_in_cents", 0}, {"currency", "CHF"}, {"product_id", nullptr},
                            {"message", "Der Depot-Gutschein wurde nicht gefunden."}});
        ok(res, {{"code", dp->code}, {"can_be_activated", !dp->activated}, {"free_amount", dp->free_amount},
                 {"amount_in_cents", dp->free_amount && !dp->activated ? 0 : dp->amount}, {"currency", "CHF"},
                 {"product_id", dp->product_id},
                 {"message", dp->activated ? "Der Depot-Gutschein wurde bereits verkauft." : ""}});
    });

    server.Post(d + "activate.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        auto body = body_of(req);
        if (!body) return text(res, 400, "Bad Request: the body is not a JSON object");
        std::lock_guard lock(mutex_);
        Depot* dp = find_depot(req.matches[1]);
        if (!dp) return text(res, 400, "Bad Request: depot voucher not found");
        if (dp->activated) return text(res, 400, "Bad Request: depot voucher is already activated");
        if (dp->free_amount) {
            auto amount = body->find("amount_in_cents");
            if (amount == body->end() || !amount->is_number_integer() || amount->get<int64_t>() <= 0)
                return text(res, 400, "Bad Request: amount_in_cents is required for a free amount");
            dp->amount = amount->get<int64_t>();
        }
        dp->activated = true;
        // The newest doc revision answers amount_in_cents (another shows balance_in_cents).
        ok(res, {{"code", dp->code}, {"amount_in_cents", dp->amount}});
    });

    server.Get(d + "deactivate_status.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        std::lock_guard lock(mutex_);
        Depot* dp = find_depot(req.matches[1]);
        if (!dp)
            return ok(res, {{"code", req.matches[1].str()}, {"can_be_deactivated", false}, {"amount_in_cents", 0},
                            {"message", "Der Depot-Gutschein wurde nicht gefunden."}});
        ok(res, {{"code", dp->code}, {"can_be_deactivated", dp->activated}, {"amount_in_cents", dp->activated ? dp->amount : 0},
                 {"message", dp->activated ? "" : "Der Depot-Gutschein ist nicht aktiviert."}});
    });

    server.Post(d + "deactivate.json", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        auto body = body_of(req);
        if (!body) return text(res, 400, "Bad Request: the body is not a JSON object");
        if (auto r = body->find("deactivate_reason"); r != body->end() && r->is_string() && r->get<std::string>().size() > 1024)
            return text(res, 400, "Bad Request: deactivate_reason is too long");
        std::lock_guard lock(mutex_);
        Depot* dp = find_depot(req.matches[1]);
        if (!dp) return text(res, 400, "Bad Request: depot voucher not found");
        if (!dp->activated) return text(res, 400, "Bad Request: depot voucher is not activated");
        dp->activated = false;
        const int64_t amount = dp->amount;
        if (dp->free_amount) dp->amount = 0;
        ok(res, {{"code", dp->code}, {"amount_in_cents", amount}});
    });

    server.Get("/v1/products", [this](const httplib::Request& req, httplib::Response& res) {
        if (!admit(req, res)) return;
        std::lock_guard lock(mutex_);
        ok(res, products_);
    });

    // ---- control routes ----
    server.Post("/_sandbox/eguma", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (!j.is_object()) return ok(res, {{"error", "the body must be a JSON object"}});
        if (auto h = j.find("hang_redeems"); h != j.end() && h->is_object())
            hang_redeems_after_effect(h->value("count", 1), h->value("hold_ms", 5000));
        if (auto h = j.find("drop_redeems"); h != j.end() && h->is_object())
            drop_redeems_before_effect(h->value("count", 1), h->value("after", 0));
        ok(res, {{"requests", requests()}, {"redeems", redeems()}, {"cancels", cancels()}});
    });
    server.Get("/_sandbox/eguma/vouchers/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
        auto vc = voucher(req.matches[1]);
        if (!vc) return text(res, 404, "no such voucher");
        json rows = json::array();
        for (const auto& r : vc->redemptions)
            rows.push_back({{"redeem_token", r.token}, {"amount_in_cents", r.cents},
                            {"cancelled_in_cents", r.cancelled_cents}, {"reference_number", r.reference}});
        ok(res, {{"code", vc->code}, {"balance_in_cents", vc->balance}, {"total_amount_in_cents", vc->total},
                 {"redemptions", rows}});
    });
    server.Post("/_sandbox/hook", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (!j.is_object() || !j.value("url", json()).is_string() || !j.value("secret", json()).is_string()) {
            res.status = 400;
            return res.set_content(R"({"error":"the body must be {\"url\": \"http://127.0.0.1:8090/…\", \"secret\": \"…\"}"})",
                                   "application/json");
        }
        set_hook(j["url"], j["secret"]);
        ok(res, {{"url", j["url"]}});
    });
    server.Post("/_sandbox/sales", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        std::string error;
        json sale = j.is_object() ? sales_action(j, error) : json();
        if (!j.is_object()) error = "the body must be a JSON object";
        if (!error.empty()) {
            res.status = 400;
            return res.set_content(json{{"error", error}}.dump(), "application/json");
        }
        ok(res, sale);
    });
    server.Get("/_sandbox/sales/deliveries", [this](const httplib::Request&, httplib::Response& res) {
        ok(res, delivery_status());
    });
}

// ---- sales events ----

void EgumaSandbox::set_hook(const std::string& url, const std::string& secret) {
    {
        std::lock_guard lock(mutex_);
        hook_url_ = url;
        hook_secret_ = secret;
    }
    queue_cv_.notify_all();
}

json EgumaSandbox::sales_action(const json& request, std::string& error) {
    const std::string action = request.value("action", "");
    std::lock_guard lock(mutex_);
    json* sale = nullptr;
    std::string type;
    const std::string now = iso_now();
    if (action == "sale") {
        const json& lines = request.value("lines", json());
        if (!lines.is_array() || lines.empty()) {
            error = "a sale needs lines: [{kind, item_id, name, unit_price_in_cents, quantity}]";
            return {};
        }
        const std::string id = "ORD-" + std::to_string(next_sale_++);
        json s{{"id", id}, {"version", 0}, {"kind", "order"}, {"invoice_number", "R-" + id.substr(4)},
               {"created_at", now}, {"currency", request.value("currency", "CHF")},
               {"status", request.value("status", "open")}, {"payment_method", request.value("payment_method", "Kreditkarte")},
               {"lines", json::array()}, {"redemptions", json::array()}};
        int n = 0;
        for (const auto& l : lines) {
            json line = l;
            line["line_id"] = id + "-" + std::to_string(++n);
            line["cancelled_quantity"] = 0;
            s["lines"].push_back(line);
        }
        sale = &(sales_[id] = s);
        type = "sale.created";
    } else if (action == "maison" || action == "organisation") {
        std::string id = request.value("sale_id", "");
        if (id.empty()) {
            id = "RED-" + std::to_string(next_sale_++);
            sales_[id] = {{"id", id}, {"version", 0}, {"kind", "redemption"}, {"invoice_number", ""},
                          {"created_at", now}, {"currency", "CHF"}, {"status", "paid"},
                          {"payment_method", action == "maison" ? "Maison" : "Organisation"},
                          {"lines", json::array()}, {"redemptions", json::array()}};
        }
        auto it = sales_.find(id);
        if (it == sales_.end()) {
            error = "no sale " + id;
            return {};
        }
        sale = &it->second;
        json& reds = (*sale)["redemptions"];
        reds.push_back({{"redemption_id", id + "-R" + std::to_string(reds.size() + 1)},
                        {"booking", action}, {"voucher_code", request.value("voucher_code", "")},
                        {"amount_in_cents", request.value("amount_in_cents", 0)},
                        {"payment_method", request.value("payment_method", action == "maison" ? "Maison" : "Organisation")},
                        {"redeemed_at", now}, {"cancelled", false}});
        type = "redemption." + action;
    } else if (action == "cancel_redemption") {
        // A Maison / organisation redemption undone in the back office (the sale stays).
        auto it = sales_.find(request.value("sale_id", ""));
        if (it == sales_.end()) {
            error = "no sale " + request.value("sale_id", std::string("(sale_id missing)"));
            return {};
        }
        sale = &it->second;
        bool found = false;
        for (auto& r : (*sale)["redemptions"])
            if (r.value("redemption_id", "") == request.value("redemption_id", "")) {
                r["cancelled"] = true;
                found = true;
            }
        if (!found) {
            error = "sale " + it->first + " has no redemption " + request.value("redemption_id", std::string("(redemption_id missing)"));
            return {};
        }
        type = "redemption.cancelled";
    } else if (action == "cancel" || action == "pay" || action == "unpaid") {
        auto it = sales_.find(request.value("sale_id", ""));
        if (it == sales_.end()) {
            error = "no sale " + request.value("sale_id", std::string("(sale_id missing)"));
            return {};
        }
        sale = &it->second;
        if (action == "cancel") {
            const json& lines = request.value("lines", json());
            if (lines.is_array() && !lines.empty()) {
                for (const auto& c : lines)
                    for (auto& l : (*sale)["lines"])
                        if (l["line_id"] == c.value("line_id", ""))
                            l["cancelled_quantity"] = std::min<int64_t>(l["quantity"].get<int64_t>(),
                                                                        l["cancelled_quantity"].get<int64_t>() + c.value("quantity", 1));
            } else {
                (*sale)["status"] = "cancelled";
            }
            type = "sale.cancelled";
        } else {
            (*sale)["status"] = action == "pay" ? "paid" : "unpaid";
            type = action == "pay" ? "invoice.paid" : "invoice.unpaid";
        }
    } else {
        error = "action must be sale, cancel, pay, unpaid, maison, organisation or cancel_redemption";
        return {};
    }
    (*sale)["version"] = (*sale)["version"].get<int64_t>() + 1;
    (*sale)["updated_at"] = now;
    const std::string event_id = "evt_" + std::to_string(seed_) + "_" + std::to_string(next_event_++);
    json body{{"id", event_id}, {"type", type}, {"occurred_at", now}, {"sale", *sale}};
    queue_.push_back({event_id, type, body.dump(), 0});
    queue_cv_.notify_all();
    return *sale;
}

json EgumaSandbox::delivery_status() const {
    std::lock_guard lock(mutex_);
    return {{"queued", queue_.size()}, {"delivered", delivered_}, {"attempts", attempts_},
            {"hook", hook_url_.empty() ? json() : json(hook_url_)}, {"last_error", last_delivery_error_}};
}

bool EgumaSandbox::wait_delivered(int ms) const {
    std::unique_lock lock(mutex_);
    return queue_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return queue_.empty(); });
}

// One event at a time, in order: the head is retried (after 50 ms, doubling up to 2 s) until
// the hook answers 2xx, so a sale's events arrive in the order they happened.
void EgumaSandbox::deliver_loop() {
    std::unique_lock lock(mutex_);
    int backoff_ms = 50;
    while (!stopping_) {
        queue_cv_.wait(lock, [this] { return stopping_ || (!queue_.empty() && !hook_url_.empty()); });
        if (stopping_) break;
        Pending p = queue_.front();
        const std::string url = hook_url_, secret = hook_secret_;
        ++attempts_;
        lock.unlock();
        // http://host:port/path
        std::string origin = url, path = "/";
        if (auto s = url.find("://"); s != std::string::npos)
            if (auto slash = url.find('/', s + 3); slash != std::string::npos) origin = url.substr(0, slash), path = url.substr(slash);
        const std::string ts = std::to_string(std::time(nullptr));
        httplib::Headers headers{{"X-Eguma-Event-Id", p.id},
                                 {"X-Eguma-Event-Type", p.type},
                                 {"X-Eguma-Timestamp", ts},
                                 {"X-Eguma-Signature", "sha256=" + eguma_hmac_hex(secret, ts + "." + p.body)}};
        std::string error;
        int status = 0;
        {
            httplib::Client client(origin);
            client.set_connection_timeout(2);
            client.set_read_timeout(5);
            auto r = client.Post(path, headers, p.body, "application/json");
            if (r) status = r->status;
            else error = "no answer (" + httplib::to_string(r.error()) + ")";
        }
        lock.lock();
        if (status >= 200 && status < 300) {
            if (!queue_.empty() && queue_.front().id == p.id) queue_.pop_front();
            ++delivered_;
            backoff_ms = 50;
            last_delivery_error_.clear();
            queue_cv_.notify_all();
            continue;
        }
        last_delivery_error_ = error.empty() ? "HTTP " + std::to_string(status) : error;
        queue_cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_; });
        backoff_ms = std::min(backoff_ms * 2, 2000);
    }
}

}  // namespace plexus::sandbox
