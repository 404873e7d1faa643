// PowerOffice Go API v2 simulator: see poweroffice_go_sandbox.hpp and README.md.
#include "sandbox/poweroffice_go_sandbox.hpp"

#include "sandbox/dto_names.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>
#include <sstream>

namespace plexus::sandbox {

using json = nlohmann::json;

namespace {

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int64_t system_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// .NET's round-trip form with seven fractional digits, as the API's DateTimeOffsets are.
std::string format_us(int64_t us) {
    const time_t secs = static_cast<time_t>(us / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld0+00:00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(us % 1'000'000));
    return buf;
}

std::string format_date(int64_t us) { return format_us(us).substr(0, 10); }

int64_t days_from_civil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// A date-time in RFC 3339 or the vendor's examples' form (space instead of T, any number of
// fractional digits, Z or ±hh:mm), or a bare date (midnight UTC). Microseconds since 1970.
std::optional<int64_t> parse_time(std::string s) {
    auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
        if (pos + n > s.size()) return std::nullopt;
        int v = 0;
        for (size_t i = pos; i < pos + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
    if (!y || !mo || !d || s[4] != '-' || s[7] != '-' || *mo < 1 || *mo > 12 || *d < 1 || *d > 31)
        return std::nullopt;
    int64_t us = days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86'400'000'000LL;
    if (s.size() == 10) return us;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
    auto h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
    if (!h || !mi || !se || s[13] != ':' || s[16] != ':') return std::nullopt;
    us += ((*h * 60LL + *mi) * 60 + *se) * 1'000'000LL;
    size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int64_t frac = 0, scale = 1'000'000;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[pos] - '0') * scale;
            }
            ++pos;
        }
        us += frac;
    }
    if (pos == s.size()) return us;  // no zone: UTC, as the API assumes
    if (s[pos] == 'Z' || s[pos] == 'z') return pos + 1 == s.size() ? std::optional<int64_t>(us) : std::nullopt;
    if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || pos + 6 != s.size()) return std::nullopt;
    const int64_t off = (*oh * 60LL + *om) * 60'000'000LL;
    return s[pos] == '+' ? us - off : us + off;
}

bool iequals(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (auto t = trim(item); !t.empty()) out.push_back(t);
    return out;
}

// The API's number filters: "10000-15999, 12500, 13000-" (a range, a number, an open range).
std::optional<bool> in_ranges(const std::string& spec, int64_t n) {
    for (const auto& part : split_list(spec)) {
        const size_t dash = part.find('-', 1);
        try {
            if (dash == std::string::npos) {
                if (std::stoll(part) == n) return true;
            } else {
                const std::string lo = trim(part.substr(0, dash)), hi = trim(part.substr(dash + 1));
                if (n >= std::stoll(lo) && (hi.empty() || n <= std::stoll(hi))) return true;
            }
        } catch (...) {
            return std::nullopt;
        }
    }
    return false;
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
    }
    if (i + 1 == in.size()) {
        const uint32_t n = uint8_t(in[i]) << 16;
        out += {t[n >> 18], t[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
    }
    return out;
}

double round2(double v) { return std::round(v * 100.0) / 100.0; }

json problem(int status, const std::string& title, const std::string& detail) {
    // Every example in the vendor's files spells ProblemDetails camelCase.
    return {{"type", "https://tools.ietf.org/html/rfc9110#section-15.5." + std::to_string(status - 399)},
            {"title", title},
            {"status", status},
            {"detail", detail}};
}

// Only the documented names of `dto`, and never our internal "_…" bookkeeping.
json view(const json& stored, const std::string& dto) {
    const auto& names = pogo_dto::properties().at(dto);
    json out = json::object();
    for (auto it = stored.begin(); it != stored.end(); ++it)
        if (names.count(it.key())) out[it.key()] = it.value();
    return out;
}

// Names in `body` that `dto` does not declare ("" when none), for a 400.
std::string unknown_properties(const json& body, const std::string& dto) {
    const auto& names = pogo_dto::properties().at(dto);
    std::string out;
    for (auto it = body.begin(); it != body.end(); ++it)
        if (!names.count(it.key())) out += (out.empty() ? "" : ", ") + it.key();
    return out;
}

// The key of `name` in `object` regardless of case (ASP.NET binds names case-insensitively).
std::optional<std::string> find_name(const std::set<std::string>& names, const std::string& name) {
    for (const auto& n : names)
        if (iequals(n, name)) return n;
    return std::nullopt;
}

std::optional<int64_t> as_int(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) return static_cast<int64_t>(v.get<double>());
    return std::nullopt;
}

const char* kFirstNames[] = {"Ola", "Kari", "Per", "Ingrid", "Lars", "Silje", "Jonas", "Nora", "Emil", "Sofie", "Magnus", "Ida"};
const char* kLastNames[] = {"Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Berg", "Haugen"};
const char* kCompanies[] = {"Fjordkaffe", "Nordlys Sport", "Bergen Bok", "Tromsø Tekstil", "Vestland Verktøy", "Oslo Optikk"};
const char* kCities[][2] = {{"0161", "Oslo"}, {"5003", "Bergen"}, {"7011", "Trondheim"}, {"9008", "Tromsø"}, {"4006", "Stavanger"}};
const char* kProducts[] = {"T-skjorte", "Genser", "Lue", "Votter", "Kaffekopp", "Termos", "Ryggsekk", "Sokker", "Skjerf", "Jakke"};

}  // namespace

std::string PowerOfficeGoSandbox::Call::query(const std::string& name) const {
    for (const auto& [k, v] : req.params)
        if (iequals(k, name)) return v;
    return {};
}
bool PowerOfficeGoSandbox::Call::has(const std::string& name) const {
    for (const auto& [k, v] : req.params)
        if (iequals(k, name)) return true;
    return false;
}

PowerOfficeGoSandbox::PowerOfficeGoSandbox(Options options)
    : options_(std::move(options)), uuid_state_(0x9E3779B97F4A7C15ULL ^ options_.seed) {
    seed();
}

std::string PowerOfficeGoSandbox::now() {
    last_us_ = std::max(last_us_ + 1, system_us());
    return format_us(last_us_);
}

std::string PowerOfficeGoSandbox::new_uuid() {
    auto next = [&] {
        uuid_state_ += 0x9E3779B97F4A7C15ULL;
        uint64_t z = uuid_state_;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    };
    const uint64_t a = next(), b = next();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

void PowerOfficeGoSandbox::seed() {
    std::mt19937 rng(options_.seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    // Seeded history: one minute apart from 2025-01-02, so every row is older than anything
    // the API writes and incremental reads see the writes after the seed.
    int64_t t = days_from_civil(2025, 1, 2) * 86'400'000'000LL;
    auto tick = [&] {
        t += 60'000'000LL + pick(1000);
        return format_us(t);
    };
    // Chart of accounts (NS 4102) and the standard VAT codes.
    struct Acc { int64_t no; const char* name; const char* vat; };
    const Acc accounts[] = {{1500, "Kundefordringer", "0"}, {1920, "Bankinnskudd", "0"}, {2400, "Leverandørgjeld", "0"},
                            {2700, "Utgående merverdiavgift", "0"}, {3000, "Salgsinntekt, avgiftspliktig", "3"},
                            {3100, "Salgsinntekt, avgiftsfri", "5"}, {3200, "Fraktinntekt", "3"}, {7770, "Bank- og kortgebyrer", "0"}};
    struct Vat { int64_t id; const char* code; const char* name; double rate; };
    const Vat vats[] = {{100, "0", "Ingen mva-behandling", 0}, {103, "3", "Utgående mva, høy sats", 25},
                        {105, "5", "Utgående mva, fritatt", 0}, {131, "31", "Utgående mva, middels sats", 15},
                        {133, "33", "Utgående mva, lav sats", 12}};
    for (const auto& v : vats)
        vat_codes_[v.id] = {{"Id", v.id}, {"Code", v.code}, {"Name", v.name}, {"Description", v.name}, {"Rate", v.rate},
                            {"IsActive", true}, {"IsCustom", false}, {"ValidFrom", "2016-01-01"}, {"ValidTo", nullptr}};
    int64_t acc_id = 3'300'001;
    for (const auto& a : accounts) {
        int64_t vat_id = 100;
        for (const auto& v : vats)
            if (std::string(v.code) == a.vat) vat_id = v.id;
        accounts_[acc_id] = {{"Id", acc_id}, {"AccountNo", a.no}, {"Name", a.name}, {"IsActive", true},
                             {"CurrencyCode", "NOK"}, {"VatCode", a.vat}, {"VatCodeId", vat_id},
                             {"LastChangedDateTimeOffset", tick()}};
        ++acc_id;
    }
    for (int i = 0; i < options_.customers; ++i) {
        const bool person = pick(4) != 0;
        const int64_t id = next_contact_id_++;
        const std::string ts = tick();
        json c = {{"Id", id}, {"Number", next_customer_no_++}, {"IsPerson", person}, {"IsActive", true}, {"IsArchived", false},
                  {"CurrencyCode", "NOK"}, {"SubledgerAccountId", id}, {"CustomerCreatedDateTimeOffset", ts},
                  {"ContactCreatedDateTimeOffset", ts}, {"LastChangedDateTimeOffset", ts}, {"_seq", i}};
        const auto* city = kCities[pick(5)];
        c["MailAddress"] = {{"Id", id + 500'000}, {"AddressLine1", "Storgata " + std::to_string(1 + pick(120))},
                            {"ZipCode", city[0]}, {"City", city[1]}, {"CountryCode", "NO"}, {"LastChangedDateTimeOffset", ts}};
        if (person) {
            c["FirstName"] = kFirstNames[pick(12)];
            c["LastName"] = kLastNames[pick(10)];
            c["Name"] = c["FirstName"].get<std::string>() + " " + c["LastName"].get<std::string>();
            c["EmailAddress"] = "kunde" + std::to_string(i) + "@example.no";
        } else {
            c["Name"] = std::string(kCompanies[pick(6)]) + " AS " + std::to_string(i);
            c["OrganizationNumber"] = std::to_string(910'000'000 + i);
            c["InvoiceEmailAddress"] = "faktura" + std::to_string(i) + "@example.no";
        }
        customers_[id] = std::move(c);
    }
    for (int i = 0; i < options_.products; ++i) {
        const int64_t id = next_product_id_++;
        const std::string ts = tick();
        const bool stock = i % 5 != 4;
        char code[32];
        std::snprintf(code, sizeof code, "GO-%04d", i + 1);
        const std::string product_code =
            static_cast<size_t>(i) < options_.product_codes.size() ? options_.product_codes[static_cast<size_t>(i)] : code;
        json p = {{"Id", id}, {"Code", product_code}, {"Name", std::string(kProducts[i % 10]) + " " + std::to_string(i + 1)},
                  {"ProductType", stock ? "Product" : "Service"}, {"UnitPrice", 49.0 + 10 * pick(40)},
                  {"UnitCost", 20.0 + 5 * pick(20)}, {"UnitOfMeasureCode", "EA"}, {"IsStockItem", stock},
                  {"IsArchived", false}, {"CreatedDateTimeOffset", ts}, {"LastChangedDateTimeOffset", ts},
                  {"StandardSalesAccountId", 3'300'005}, {"StandardSalesAccount", 3000}};
        if (stock) {
            p["StockOnHand"] = static_cast<double>(pick(80));
            p["StockOnHandLastChangedDatetimeOffset"] = ts;
        } else {
            p["StockOnHand"] = 0.0;
        }
        products_[id] = std::move(p);
    }
    // Invoiced orders of the seeded customers; a third of the invoices are paid.
    for (int i = 0; i < options_.invoiced_orders && !customers_.empty() && !products_.empty(); ++i) {
        auto cit = std::next(customers_.begin(), pick(static_cast<int>(customers_.size())));
        auto pit = std::next(products_.begin(), pick(static_cast<int>(products_.size())));
        const std::string ts = tick();
        const double qty = 1 + pick(3);
        const double price = pit->second["UnitPrice"].get<double>();
        json line = {{"Id", new_uuid()}, {"ProductId", pit->first}, {"ProductCode", pit->second["Code"]},
                     {"Description", pit->second["Name"]}, {"Quantity", qty}, {"ProductUnitPrice", price},
                     {"LineType", "Normal"}, {"SortOrder", 1}, {"NetAmount", round2(qty * price)},
                     {"VatAmount", round2(qty * price * 0.25)}, {"TotalAmount", round2(qty * price * 1.25)},
                     {"VatCode", "3"}, {"VatId", 103}, {"VatRate", 0.25}};
        json order = {{"Id", new_uuid()}, {"SalesOrderNo", next_order_no_++}, {"CustomerId", cit->first},
                      {"CustomerNo", cit->second["Number"]}, {"SalesOrderDate", ts.substr(0, 10)},
                      {"SalesOrderStatus", "Confirmed"}, {"CurrencyCode", "NOK"}, {"CreatedDateTimeOffset", ts},
                      {"LastChangedDateTimeOffset", ts}, {"IsCreatedByCurrentIntegration", false},
                      {"SalesOrderLines", json::array({line})}, {"_seq", i}};
        line["SalesOrderId"] = order["Id"];
        order["SalesOrderLines"][0]["SalesOrderId"] = order["Id"];
        invoice_order(order, {{"VoucherDate", ts.substr(0, 10)}});
        orders_[order["Id"].get<std::string>()] = order;
    }
    int n = 0;
    for (auto& [id, inv] : invoices_)
        if (n++ % 3 == 0) {
            inv["Balance"] = 0.0;
            inv["BalanceLastChangedDateTimeOffset"] = tick();
        }
    for (auto& e : ledger_) {
        for (const auto& [id, inv] : invoices_)
            if (e.value("VoucherId", "") == id) e["Balance"] = inv["Balance"];
    }
}

// How the invoice went out: e-mail when asked or when Auto finds an address, else print.
std::string PowerOfficeGoSandbox::delivery_type(const json& order, const json& request) const {
    const std::string asked = request.value("DeliveryType", "Auto");
    if (asked == "PdfByEmail") return "PdfByEmail";
    if (asked == "PdfPrintForDownload") return "Print";
    auto c = customers_.find(order.value("CustomerId", int64_t{0}));
    const bool email = c != customers_.end() && (c->second.value("EmailAddress", json()).is_string() ||
                                                 c->second.value("InvoiceEmailAddress", json()).is_string());
    return email ? "PdfByEmail" : "Print";
}

// Turns an order into a posted outgoing invoice at once (the real API queues it: sentState's
// IsInvoiceBeingProcessed). Stock items leave the stock.
void PowerOfficeGoSandbox::invoice_order(json& order, const json& request) {
    const std::string ts = last_us_ ? now() : order["LastChangedDateTimeOffset"].get<std::string>();
    double net = 0, total = 0;
    for (auto& l : order["SalesOrderLines"]) {
        net += l.value("NetAmount", 0.0);
        total += l.value("TotalAmount", 0.0);
        if (l.contains("ProductId") && l["ProductId"].is_number_integer()) {
            auto pit = products_.find(l["ProductId"].get<int64_t>());
            if (pit != products_.end() && pit->second.value("IsStockItem", false)) {
                pit->second["StockOnHand"] = pit->second.value("StockOnHand", 0.0) - l.value("Quantity", 0.0);
                pit->second["StockOnHandLastChangedDatetimeOffset"] = ts;
            }
        }
    }
    const std::string voucher_date = request.value("VoucherDate", json()).is_string()
                                         ? request["VoucherDate"].get<std::string>()
                                         : ts.substr(0, 10);
    const int64_t due_us = *parse_time(voucher_date) + 14LL * 86'400'000'000LL;
    const std::string due = request.value("OverrideDueDate", json()).is_string()
                                ? request["OverrideDueDate"].get<std::string>()
                                : format_date(due_us);
    const int64_t invoice_no = next_invoice_no_++;
    json inv = {{"Id", new_uuid()}, {"InvoiceNo", invoice_no}, {"VoucherNo", next_voucher_no_++},
                {"VoucherType", "OutgoingInvoice"}, {"VoucherDate", voucher_date}, {"DueDate", due},
                {"OrderNo", order["SalesOrderNo"]}, {"OrderDate", order.value("SalesOrderDate", voucher_date)},
                {"CustomerId", order["CustomerId"]}, {"CustomerNo", order["CustomerNo"]},
                {"CurrencyCode", order.value("CurrencyCode", "NOK")}, {"NetAmount", round2(net)},
                {"TotalAmount", round2(total)}, {"NetPostedAmount", round2(net)}, {"TotalPostedAmount", round2(total)},
                {"Balance", round2(total)}, {"BalanceLastChangedDateTimeOffset", ts}, {"IsReversed", false},
                {"Cid", std::to_string(invoice_no) + "0"}, {"SentDateTimeOffset", ts},
                {"InvoiceDeliveryType", delivery_type(order, request)},
                {"IsCreatedByCurrentIntegration", order.value("IsCreatedByCurrentIntegration", false)},
                {"CreatedDateTimeOffset", ts}, {"LastChangedDateTimeOffset", ts}, {"_seq", static_cast<int64_t>(invoices_.size())}};
    for (const char* k : {"CustomMatchingReference", "ExternalImportReference", "ImportedOrderNo", "CustomerReference",
                          "PurchaseOrderReference"})
        if (order.contains(k) && !order[k].is_null()) inv[k] = order[k];
    order["_invoice_id"] = inv["Id"];
    order["_invoice_no"] = invoice_no;
    order["_sent"] = ts;
    order["SalesOrderStatus"] = "Confirmed";
    order["LastChangedDateTimeOffset"] = ts;
    ledger_.push_back({{"Id", next_ledger_id_++}, {"CustomerId", order["CustomerId"]},
                       {"CustomerAccountNo", order["CustomerNo"]}, {"VoucherId", inv["Id"]}, {"VoucherNo", inv["VoucherNo"]},
                       {"VoucherType", "OutgoingInvoice"}, {"VoucherDate", voucher_date}, {"PostingDate", voucher_date},
                       {"DueDate", due}, {"InvoiceNo", std::to_string(invoice_no)}, {"Amount", inv["TotalAmount"]},
                       {"CurrencyAmount", inv["TotalAmount"]}, {"CurrencyCode", inv["CurrencyCode"]},
                       {"Balance", inv["Balance"]}, {"Cid", inv["Cid"]},
                       {"CustomMatchingReference", inv.value("CustomMatchingReference", json())},
                       {"ExternalImportReference", inv.value("ExternalImportReference", json())},
                       {"IsCreatedByCurrentIntegration", inv["IsCreatedByCurrentIntegration"]},
                       {"CreatedDateTimeOffset", ts}, {"LastChangedDateTimeOffset", ts}});
    const std::string id = inv["Id"];  // (the right side of = is evaluated first)
    invoices_[id] = std::move(inv);
}

void PowerOfficeGoSandbox::mount(httplib::Server& server) {
    // The token endpoint: prod /OAuth/Token, demo /Demo/OAuth/Token, any case.
    server.Post(R"((?:/[Dd][Ee][Mm][Oo])?/[Oo][Aa][Uu][Tt][Hh]/[Tt][Oo][Kk][Ee][Nn])",
                [this](const httplib::Request& req, httplib::Response& res) {
                    handle_token(req, res);
                });
    const std::string api = R"((?:/[Dd][Ee][Mm][Oo])?/v2/.+)";
    server.Get(api, [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "GET"); });
    server.Post(api, [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "POST"); });
    server.Patch(api, [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "PATCH"); });
    server.Delete(api, [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "DELETE"); });
    server.Post(R"(/_sandbox/poweroffice_go/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
        Reply r = control(req, req.matches[1]);
        res.status = r.status;
        res.set_content(r.body.dump(), "application/json; charset=utf-8");
    });
    server.Get(R"(/_sandbox/poweroffice_go/state)", [this](const httplib::Request&, httplib::Response& res) {
        json s;
        for (const char* c : {"customers", "products", "sales_orders", "outgoing_invoices", "vouchers", "ledger"})
            s[c] = count(c);
        s["requests"] = request_count();
        s["tokens_issued"] = token_count();
        s["rate_limited"] = rate_limited_count();
        res.set_content(s.dump(), "application/json; charset=utf-8");
    });
}

void PowerOfficeGoSandbox::handle_token(const httplib::Request& req, httplib::Response& res) {
    auto rate_limited = [&](httplib::Response& r) {
        r.status = 429;
        r.set_header("Retry-After", options_.retry_after);
        r.set_content(R"({"statusCode":"429","message":"Rate limit is exceeded. Try again in 1 seconds."})",
                      "application/json; charset=utf-8");
    };
    if (faults_.intercept(res, rate_limited)) return;
    std::string key = req.get_header_value("Ocp-Apim-Subscription-Key");
    if (key.empty() && req.has_param("subscription-key")) key = req.get_param_value("subscription-key");
    if (key != options_.subscription_key) {
        // Azure API Management's own answer, before the token service sees the request.
        res.status = 401;
        res.set_content(key.empty() ? R"({"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."})"
                                    : R"({"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."})",
                        "application/json; charset=utf-8");
        return;
    }
    {
        std::lock_guard lock(mutex_);
        if (over_budget()) {
            rate_limited(res);
            return;
        }
    }
    auto error = [&](const std::string& code, const std::string& description) {
        res.status = 400;
        res.set_content(json{{"error", code}, {"error_description", description}}.dump(), "application/json; charset=utf-8");
    };
    if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0)
        return error("invalid_request", "The content type must be application/x-www-form-urlencoded.");
    // The form body: grant_type=client_credentials (httplib parses form bodies into params).
    std::string grant;
    for (const auto& [k, v] : req.params)
        if (k == "grant_type") grant = v;
    if (grant.empty() && req.body.find("grant_type=client_credentials") != std::string::npos) grant = "client_credentials";
    if (grant != "client_credentials")
        return error("unsupported_grant_type", "Only the client_credentials grant type is supported.");
    const std::string auth = req.get_header_value("Authorization");
    const std::string expected =
        "Basic " + base64(options_.application_key + ":" + options_.client_key);
    if (auth.empty()) return error("invalid_client", "The Authorization header is missing.");
    if (auth != expected)
        return error("invalid_client",
                     "Client integration not found. Please ensure the provided keys are matching the desired environment.");
    std::string token;
    {
        std::lock_guard lock(mutex_);
        token = "go-" + new_uuid() + new_uuid().substr(0, 8);
        tokens_[token] = steady_ms() + options_.token_lifetime_s * 1000LL;
    }
    ++tokens_issued_;
    res.status = 200;
    res.set_content(json{{"access_token", token}, {"token_type", "bearer"}, {"expires_in", options_.token_lifetime_s}}.dump(),
                    "application/json; charset=utf-8");
}

// A sliding one-second window per subscription key (the sandbox knows one key). Caller holds mutex_.
bool PowerOfficeGoSandbox::over_budget() {
    if (!options_.rate_limit) return false;
    const int64_t t = steady_ms();
    window_.erase(std::remove_if(window_.begin(), window_.end(), [&](int64_t x) { return x <= t - 1000; }),
                  window_.end());
    if (static_cast<int>(window_.size()) >= options_.requests_per_second) {
        ++rate_limited_;
        return true;
    }
    window_.push_back(t);
    return false;
}

void PowerOfficeGoSandbox::handle(const httplib::Request& req, httplib::Response& res, const std::string& method) {
    ++requests_;
    auto finish = [&](const Reply& r) {
        res.status = r.status;
        for (const auto& [k, v] : r.headers) res.set_header(k, v);
        if (!r.body.is_null()) res.set_content(r.body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json; charset=utf-8");
    };
    auto rate_limited = [&](httplib::Response& r) {
        r.status = 429;
        r.set_header("Retry-After", options_.retry_after);
        r.set_content(R"({"statusCode":"429","message":"Rate limit is exceeded. Try again in 1 seconds."})",
                      "application/json; charset=utf-8");
    };
    if (faults_.intercept(res, rate_limited)) return;
    std::string key = req.get_header_value("Ocp-Apim-Subscription-Key");
    if (key.empty() && req.has_param("subscription-key")) key = req.get_param_value("subscription-key");
    if (key != options_.subscription_key) {
        Reply r{401, key.empty() ? json{{"statusCode", 401}, {"message", "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}}
                                 : json{{"statusCode", 401}, {"message", "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}}, {}};
        return finish(r);
    }
    std::lock_guard lock(mutex_);
    if (over_budget()) {
        Reply r{429, json{{"statusCode", "429"}, {"message", "Rate limit is exceeded. Try again in 1 seconds."}}, {{"Retry-After", options_.retry_after}}};
        return finish(r);
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string token = auth.size() > 7 && iequals(auth.substr(0, 7), "Bearer ") ? auth.substr(7) : "";
    auto tok = tokens_.find(token);
    if (tok == tokens_.end() || tok->second <= steady_ms()) {
        // 401 is declared without a body; the gateway says why in WWW-Authenticate.
        return finish(Reply{401, json(), {{"WWW-Authenticate", token.empty() ? "Bearer" : "Bearer error=\"invalid_token\""}}});
    }
    // The path after /v2/.
    const size_t v2 = req.path.find("/v2/");
    std::vector<std::string> segments;
    std::stringstream ss(req.path.substr(v2 + 4));
    std::string seg;
    while (std::getline(ss, seg, '/'))
        if (!seg.empty()) segments.push_back(seg);
    Call call{req, method, segments};
    try {
        finish(route(call));
    } catch (const std::exception& e) {
        finish(Reply{500, problem(500, "Internal server error", std::string("sandbox: ") + e.what()), {}});
    }
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::route(const Call& c) {
    const std::string& head = c.segments.empty() ? std::string() : c.segments[0];
    if (iequals(head, "Customers")) return customers(c);
    if (iequals(head, "Products")) return products(c);
    if (iequals(head, "SalesOrders")) return sales_orders(c);
    if (iequals(head, "OutgoingInvoices")) return outgoing_invoices(c);
    if (iequals(head, "Vouchers")) return vouchers(c);
    if (iequals(head, "Customerledger")) return customer_ledger(c);
    if (iequals(head, "GeneralLedgerAccounts") || iequals(head, "VatCodes") || iequals(head, "ClientIntegrationInformation"))
        return reference_data(c);
    return Reply{404, json(), {}};
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::page(const Call& c, std::vector<json> rows) {
    int64_t number = 1, size = 5000;
    try {
        if (c.has("PageNumber")) number = std::stoll(c.query("PageNumber"));
        if (c.has("PageSize")) size = std::stoll(c.query("PageSize"));
    } catch (...) {
        return Reply{400, problem(400, "Validation error(s)", "PageNumber and PageSize must be integers."), {}};
    }
    if (number < 1) return Reply{400, problem(400, "Validation error(s)", "PageNumber must be greater than 0."), {}};
    if (size < 1 || size > 20000)
        return Reply{400, problem(400, "Validation error(s)", "PageSize must be between 1 and MaxPageSize (20000)."), {}};
    if (const std::string order_by = trim(c.query("OrderBy")); !order_by.empty()) {
        std::string field = split_list(order_by).front();
        bool desc = false;
        if (const size_t sp = field.find(' '); sp != std::string::npos) {
            desc = iequals(trim(field.substr(sp + 1)), "desc");
            field = field.substr(0, sp);
        }
        std::optional<std::string> name;
        if (!rows.empty()) {
            std::set<std::string> keys;
            for (auto it = rows.front().begin(); it != rows.front().end(); ++it) keys.insert(it.key());
            name = find_name(keys, field);
            if (!name) return Reply{400, problem(400, "Validation error(s)", "OrderBy: unknown field '" + field + "'."), {}};
        }
        if (name)
            std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
                const json& x = a.contains(*name) ? a[*name] : json();
                const json& y = b.contains(*name) ? b[*name] : json();
                return desc ? y < x : x < y;
            });
    }
    const size_t from = static_cast<size_t>((number - 1) * size);
    if (from >= rows.size()) return Reply{204, json(), {}};
    json out = json::array();
    const auto fields = split_list(c.query("Fields"));
    for (size_t i = from; i < rows.size() && i < from + static_cast<size_t>(size); ++i) {
        if (fields.empty()) {
            out.push_back(std::move(rows[i]));
            continue;
        }
        json projected = json::object();
        for (auto it = rows[i].begin(); it != rows[i].end(); ++it)
            for (const auto& f : fields)
                if (iequals(f, it.key())) projected[it.key()] = it.value();
        out.push_back(std::move(projected));
    }
    return Reply{200, std::move(out), {}};
}

namespace {

// A filter on a date-time parameter: "not inclusive". False with `error` set when malformed.
struct TimeFilter {
    std::optional<int64_t> after;
    std::string error;
};
TimeFilter time_filter(const std::string& value, const std::string& name) {
    TimeFilter f;
    if (value.empty()) return f;
    f.after = parse_time(value);
    if (!f.after) f.error = "The value '" + value + "' is not valid for " + name + ".";
    return f;
}
bool later(const json& row, const char* field, const TimeFilter& f) {
    if (!f.after) return true;
    if (!row.contains(field) || !row[field].is_string()) return false;
    auto t = parse_time(row[field].get<std::string>());
    return t && *t > *f.after;
}
bool in_list(const std::string& spec, const json& value) {
    if (spec.empty()) return true;
    const std::string v = value.is_string() ? value.get<std::string>() : value.dump();
    for (const auto& item : split_list(spec))
        if (item == v) return true;
    return false;
}

// RFC 6902 operations on one DTO: replace/add (set) and remove (null) of top-level names
// from `patchable`. Returns the error for a 400, or "".
std::string apply_patch(json& target, const json& ops, const std::set<std::string>& patchable) {
    if (!ops.is_array()) return "The request body must be a JSON Patch document (an array of operations).";
    for (const auto& op : ops) {
        if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") || !op["path"].is_string())
            return "Each operation needs \"op\" and \"path\".";
        const std::string kind = op["op"], path = op["path"];
        for (auto it = op.begin(); it != op.end(); ++it)
            if (it.key() != "op" && it.key() != "path" && it.key() != "value" && it.key() != "from")
                return "Unknown member '" + it.key() + "' in a patch operation.";
        if (path.size() < 2 || path[0] != '/' || path.find('/', 1) != std::string::npos)
            return "The path '" + path + "' is not a property of the object.";
        auto name = find_name(patchable, path.substr(1));
        if (!name) return "The target location specified by path segment '" + path.substr(1) + "' was not found.";
        if (kind == "replace" || kind == "add") {
            if (!op.contains("value")) return "The operation '" + kind + "' needs a value.";
            target[*name] = op["value"];
        } else if (kind == "remove") {
            target[*name] = nullptr;
        } else {
            return "The operation '" + kind + "' is not supported here.";
        }
    }
    return "";
}

bool json_patch_content(const httplib::Request& req) {
    return req.get_header_value("Content-Type").rfind("application/json-patch+json", 0) == 0;
}
bool json_content(const httplib::Request& req) {
    const std::string ct = req.get_header_value("Content-Type");
    for (const char* ok : {"application/json", "text/json", "application/json-patch+json"})
        if (ct.rfind(ok, 0) == 0) return true;
    return ct.rfind("application/", 0) == 0 && ct.find("+json") != std::string::npos;
}

}  // namespace

json PowerOfficeGoSandbox::customer_by_no(int64_t no) const {
    for (const auto& [id, c] : customers_)
        if (c.value("Number", int64_t{-1}) == no) return c;
    return json();
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::customers(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Customer validation error(s)", detail), {}}; };
    if (c.segments.size() == 1 && c.method == "GET") {
        const auto changed = time_filter(c.query("lastChangedDateTimeOffsetGreaterThan"), "lastChangedDateTimeOffsetGreaterThan");
        const auto created = time_filter(c.query("customerCreatedDateTimeOffsetGreaterThan"), "customerCreatedDateTimeOffsetGreaterThan");
        if (!changed.error.empty()) return bad(changed.error);
        if (!created.error.empty()) return bad(created.error);
        const std::string nos = c.query("customerNos"), ext_nos = c.query("externalNos"), ref = c.query("externalImportReference");
        std::vector<json> rows;
        for (const auto& [id, cust] : customers_) {
            if (!later(cust, "LastChangedDateTimeOffset", changed) || !later(cust, "CustomerCreatedDateTimeOffset", created)) continue;
            if (!nos.empty()) {
                auto in = in_ranges(nos, cust.value("Number", int64_t{-1}));
                if (!in) return bad("The value '" + nos + "' is not valid for customerNos.");
                if (!*in) continue;
            }
            if (!ext_nos.empty()) {
                auto in = in_ranges(ext_nos, cust.value("ExternalNumber", int64_t{-1}));
                if (!in) return bad("The value '" + ext_nos + "' is not valid for externalNos.");
                if (!*in) continue;
            }
            if (!ref.empty() && cust.value("ExternalImportReference", json()) != json(ref)) continue;
            rows.push_back(view(cust, "CustomerDto"));
        }
        return page(c, std::move(rows));
    }
    if (c.segments.size() == 1 && c.method == "POST") {
        if (!json_content(c.req)) return Reply{415, json(), {}};
        json body = json::parse(c.req.body, nullptr, false);
        if (!body.is_object()) return bad("The request body is not a JSON object.");
        if (auto u = unknown_properties(body, "CustomerPostDto"); !u.empty())
            return bad("Unknown properties of CustomerPostDto: " + u + ".");
        if (body.contains("MailAddress") && body["MailAddress"].is_object())
            if (auto u = unknown_properties(body["MailAddress"], "ContactAddressPostDto"); !u.empty())
                return bad("Unknown properties of ContactAddressPostDto: " + u + ".");
        const bool person = body.value("IsPerson", json(false)) == json(true);
        auto text = [&](const char* k) { return body.contains(k) && body[k].is_string() && !trim(body[k].get<std::string>()).empty(); };
        if (person && !(text("FirstName") || text("LastName"))) return bad("FirstName or LastName is required for a person.");
        if (!person && !text("Name")) return bad("Name is required.");
        if (text("ExternalImportReference")) {
            const std::string ref = body["ExternalImportReference"];
            if (ref.size() > 50) return bad("ExternalImportReference must be at most 50 characters.");
            for (const auto& [id, cust] : customers_)
                if (cust.value("ExternalImportReference", json()) == json(ref))
                    return bad("ExternalImportReference is already in use. '" + ref + "' is used on (contact) Id = " +
                               std::to_string(id) + ".");
        }
        int64_t number = 0;
        if (body.contains("Number") && !body["Number"].is_null()) {
            auto n = as_int(body["Number"]);
            if (!n || *n <= 0) return bad("Number must be a positive integer.");
            if (!customer_by_no(*n).is_null()) return bad("Customer number " + std::to_string(*n) + " is already in use.");
            number = *n;
        } else {
            while (!customer_by_no(next_customer_no_).is_null()) ++next_customer_no_;
            number = next_customer_no_++;
        }
        const int64_t id = next_contact_id_++;
        const std::string ts = now();
        json cust = body;
        cust.erase("SubLedgerNumberSeriesId");
        if (person && !text("Name"))
            cust["Name"] = trim(body.value("FirstName", json("")).get<std::string>() + " " + body.value("LastName", json("")).get<std::string>());
        if (cust.contains("MailAddress") && cust["MailAddress"].is_object()) {
            cust["MailAddress"]["Id"] = id + 500'000;
            cust["MailAddress"]["LastChangedDateTimeOffset"] = ts;
        }
        cust["Id"] = id;
        cust["Number"] = number;
        cust["IsActive"] = true;
        if (!cust.contains("IsArchived")) cust["IsArchived"] = false;
        if (!cust.contains("CurrencyCode")) cust["CurrencyCode"] = "NOK";
        cust["SubledgerAccountId"] = id;
        cust["CustomerCreatedDateTimeOffset"] = ts;
        cust["ContactCreatedDateTimeOffset"] = ts;
        cust["LastChangedDateTimeOffset"] = ts;
        customers_[id] = cust;
        return Reply{201, view(cust, "CustomerDto"), {}};
    }
    if (c.segments.size() == 2) {
        int64_t id = 0;
        try {
            id = std::stoll(c.segments[1]);
        } catch (...) {
            return Reply{400, problem(400, "Validation error(s)", "The value '" + c.segments[1] + "' is not valid."), {}};
        }
        auto it = customers_.find(id);
        if (it == customers_.end())
            return Reply{404, problem(404, "Object(s) not found", "Customer with id = " + std::to_string(id) + " not found."), {}};
        if (c.method == "GET") return Reply{200, view(it->second, "CustomerDto"), {}};
        if (c.method == "PATCH") {
            if (!json_patch_content(c.req)) return Reply{415, json(), {}};
            json ops = json::parse(c.req.body, nullptr, false);
            json next = it->second;
            auto patchable = pogo_dto::properties().at("CustomerPostDto");
            patchable.erase("SubLedgerNumberSeriesId");
            if (auto e = apply_patch(next, ops, patchable); !e.empty()) return bad(e);
            if (next.value("Number", json()) != it->second.value("Number", json())) {
                auto n = as_int(next["Number"]);
                if (!n || (*n != it->second.value("Number", int64_t{0}) && !customer_by_no(*n).is_null()))
                    return bad("Customer number " + next["Number"].dump() + " is already in use.");
            }
            next["LastChangedDateTimeOffset"] = now();
            it->second = next;
            return Reply{200, view(next, "CustomerDto"), {}};
        }
        if (c.method == "DELETE") {
            for (const auto& [oid, o] : orders_)
                if (o.value("CustomerId", int64_t{0}) == id)
                    return Reply{409, problem(409, "Conflict", "The customer has sales orders and cannot be deleted."), {}};
            customers_.erase(it);
            return Reply{200, json(), {}};
        }
    }
    return Reply{405, json(), {}};
}

double PowerOfficeGoSandbox::reserved_quantity(int64_t product_id) const {
    double q = 0;
    for (const auto& [id, o] : orders_) {
        if (o.value("SalesOrderStatus", "") != "Confirmed" || o.contains("_invoice_id")) continue;
        for (const auto& l : o["SalesOrderLines"])
            if (l.value("ProductId", int64_t{0}) == product_id) q += l.value("Quantity", 0.0);
    }
    return q;
}

json PowerOfficeGoSandbox::product_view(const json& p) const {
    json v = view(p, "ProductDto");
    if (p.value("IsStockItem", false))
        v["StockAvailable"] = p.value("StockOnHand", 0.0) - reserved_quantity(p["Id"].get<int64_t>());
    else
        v["StockAvailable"] = nullptr;
    return v;
}

json* PowerOfficeGoSandbox::product_by(const json& id, const json& code) {
    if (id.is_number_integer()) {
        auto it = products_.find(id.get<int64_t>());
        return it == products_.end() ? nullptr : &it->second;
    }
    if (code.is_string())
        for (auto& [pid, p] : products_)
            if (p.value("Code", json()) == code) return &p;
    return nullptr;
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::products(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Product validation error(s)", detail), {}}; };
    auto check_stock = [&](const json& p) -> std::string {
        if (p.contains("StockOnHand") && !p["StockOnHand"].is_null() && !p.value("IsStockItem", false) &&
            p["StockOnHand"] != json(0.0) && p["StockOnHand"] != json(0))
            return "StockOnHand can only be set on a product with IsStockItem = true.";
        if (p.contains("ProductType") && !p["ProductType"].is_null() && p["ProductType"] != "Product" && p["ProductType"] != "Service")
            return "ProductType must be Product or Service.";
        if (p.contains("Code") && p["Code"].is_string() && p["Code"].get<std::string>().size() > 100)
            return "Code must be at most 100 characters.";
        return "";
    };
    if (c.segments.size() == 1 && c.method == "GET") {
        TimeFilter f[3] = {time_filter(c.query("createdDateTimeOffsetGreaterThan"), "createdDateTimeOffsetGreaterThan"),
                           time_filter(c.query("lastChangedDateTimeOffsetGreaterThan"), "lastChangedDateTimeOffsetGreaterThan"),
                           time_filter(c.query("stockOnHandLastChangedDatetimeOffsetGreaterThan"), "stockOnHandLastChangedDatetimeOffsetGreaterThan")};
        for (const auto& x : f)
            if (!x.error.empty()) return bad(x.error);
        const std::string codes = c.query("codes"), names = c.query("names"), groups = c.query("productGroupCodes"),
                          type = c.query("type"), archived = c.query("isArchived");
        std::vector<json> rows;
        for (const auto& [id, p] : products_) {
            if (!later(p, "CreatedDateTimeOffset", f[0]) || !later(p, "LastChangedDateTimeOffset", f[1]) ||
                !later(p, "StockOnHandLastChangedDatetimeOffset", f[2]))
                continue;
            if (!in_list(codes, p.value("Code", json(""))) || !in_list(names, p.value("Name", json(""))) ||
                !in_list(groups, p.value("ProductGroupCode", json(""))))
                continue;
            if (!type.empty() && p.value("ProductType", "") != type) continue;
            if (!archived.empty() && p.value("IsArchived", false) != (archived == "true" || archived == "True")) continue;
            rows.push_back(product_view(p));
        }
        return page(c, std::move(rows));
    }
    if (c.segments.size() == 1 && c.method == "POST") {
        if (!json_content(c.req)) return Reply{415, json(), {}};
        json body = json::parse(c.req.body, nullptr, false);
        if (!body.is_object()) return bad("The request body is not a JSON object.");
        if (auto u = unknown_properties(body, "ProductPostDto"); !u.empty()) return bad("Unknown properties of ProductPostDto: " + u + ".");
        if (!body.contains("Name") || !body["Name"].is_string() || trim(body["Name"].get<std::string>()).empty())
            return bad("The Name field is required.");
        if (auto e = check_stock(body); !e.empty()) return bad(e);
        if (body.contains("Code") && body["Code"].is_string() && product_by(json(), body["Code"]))
            return bad("Product code '" + body["Code"].get<std::string>() + "' is already in use.");
        const int64_t id = next_product_id_++;
        const std::string ts = now();
        json p = body;
        p["Id"] = id;
        if (!p.contains("ProductType") || p["ProductType"].is_null()) p["ProductType"] = "Product";
        if (!p.contains("IsArchived")) p["IsArchived"] = false;
        if (!p.contains("IsStockItem")) p["IsStockItem"] = false;
        if (!p.contains("StockOnHand") || p["StockOnHand"].is_null()) p["StockOnHand"] = 0.0;
        p["CreatedDateTimeOffset"] = ts;
        p["LastChangedDateTimeOffset"] = ts;
        if (p.value("IsStockItem", false)) p["StockOnHandLastChangedDatetimeOffset"] = ts;
        products_[id] = p;
        return Reply{200, product_view(p), {}};  // 200, not 201: as the spec declares
    }
    if (c.segments.size() == 2) {
        int64_t id = 0;
        try {
            id = std::stoll(c.segments[1]);
        } catch (...) {
            return Reply{400, problem(400, "Validation error(s)", "The value '" + c.segments[1] + "' is not valid."), {}};
        }
        auto it = products_.find(id);
        if (it == products_.end())
            return Reply{404, problem(404, "Object(s) not found", "Product with id = " + std::to_string(id) + " not found."), {}};
        if (c.method == "GET") return Reply{200, product_view(it->second), {}};
        if (c.method == "PATCH") {
            if (!json_patch_content(c.req)) return Reply{415, json(), {}};
            static const std::set<std::string> patchable = {
                "Code", "Name", "Description", "Gtin", "IsArchived", "IsStockItem", "ProductGroupId", "ProductType",
                "StandardSalesAccountId", "OptionalSalesAccountId", "StockOnHand", "UnitCost", "UnitOfMeasureCode", "UnitPrice"};
            json next = it->second;
            if (auto e = apply_patch(next, json::parse(c.req.body, nullptr, false), patchable); !e.empty()) return bad(e);
            if (auto e = check_stock(next); !e.empty()) return bad(e);
            if (next["Code"] != it->second["Code"] && next["Code"].is_string())
                if (json* other = product_by(json(), next["Code"]); other && other != &it->second)
                    return bad("Product code '" + next["Code"].get<std::string>() + "' is already in use.");
            if (!next["Name"].is_string() || trim(next["Name"].get<std::string>()).empty()) return bad("The Name field is required.");
            const std::string ts = now();
            // "Changes in total stock does not affect the product's last changed property."
            bool other_change = false;
            for (auto f = next.begin(); f != next.end(); ++f)
                if (f.key() != "StockOnHand" && (!it->second.contains(f.key()) || it->second[f.key()] != f.value())) other_change = true;
            if (next.value("StockOnHand", json(0.0)) != it->second.value("StockOnHand", json(0.0)))
                next["StockOnHandLastChangedDatetimeOffset"] = ts;
            if (other_change) next["LastChangedDateTimeOffset"] = ts;
            it->second = next;
            return Reply{200, product_view(next), {}};
        }
        if (c.method == "DELETE") {
            products_.erase(it);
            return Reply{200, json(), {}};
        }
    }
    return Reply{405, json(), {}};
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::sales_orders(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Sales order validation error(s)", detail), {}}; };
    const size_t n = c.segments.size();
    if (n == 1 && c.method == "GET") {
        const auto changed = time_filter(c.query("lastChangedDateTimeOffsetGreaterThan"), "lastChangedDateTimeOffsetGreaterThan");
        if (!changed.error.empty()) return bad(changed.error);
        const std::string nos = c.query("customerNos"), status = c.query("orderStatus");
        const bool mine = iequals(c.query("onlyCreatedByCurrentIntegration"), "true");
        std::vector<json> rows;
        std::vector<const json*> sorted;
        for (const auto& [id, o] : orders_) sorted.push_back(&o);
        std::sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) { return (*a)["SalesOrderNo"] < (*b)["SalesOrderNo"]; });
        for (const json* o : sorted) {
            if (!later(*o, "LastChangedDateTimeOffset", changed)) continue;
            if (!nos.empty()) {
                auto in = in_ranges(nos, o->value("CustomerNo", int64_t{-1}));
                if (!in) return bad("The value '" + nos + "' is not valid for customerNos.");
                if (!*in) continue;
            }
            if (!status.empty() && o->value("SalesOrderStatus", "") != status) continue;
            if (mine && !o->value("IsCreatedByCurrentIntegration", false)) continue;
            json v = view(*o, "SalesOrderDto");
            v["LineCount"] = (*o)["SalesOrderLines"].size();
            rows.push_back(std::move(v));
        }
        return page(c, std::move(rows));
    }
    if (n == 2 && iequals(c.segments[1], "sentState") && c.method == "GET") {
        auto it = orders_.find(c.query("id"));
        if (it == orders_.end())
            return Reply{404, problem(404, "Object(s) not found", "Sales order with id = " + c.query("id") + " not found."), {}};
        if (!it->second.contains("_invoice_no")) return Reply{204, json(), {}};
        const json& inv = invoices_.at(it->second["_invoice_id"].get<std::string>());
        return Reply{200, json::array({{{"Id", it->first}, {"InvoiceNo", inv["InvoiceNo"]}, {"DueDate", inv["DueDate"]},
                                        {"SentDateTimeOffset", inv["SentDateTimeOffset"]}, {"IsInvoiceBeingProcessed", false},
                                        {"InvoiceDeliveryType", inv["InvoiceDeliveryType"]}, {"LastErrorMessage", nullptr}}}),
                     {}};
    }
    if (n == 2 && iequals(c.segments[1], "Complete") && c.method == "POST") {
        if (!json_content(c.req)) return Reply{415, json(), {}};
        json body = json::parse(c.req.body, nullptr, false);
        if (!body.is_object()) return bad("The request body is not a JSON object.");
        if (auto u = unknown_properties(body, "SalesOrderCompletePostDto"); !u.empty())
            return bad("Unknown properties of SalesOrderCompletePostDto: " + u + ".");
        json customer;
        if (body.contains("CustomerId") && body["CustomerId"].is_number_integer()) {
            auto it = customers_.find(body["CustomerId"].get<int64_t>());
            if (it != customers_.end()) customer = it->second;
        } else if (body.contains("CustomerNo") && body["CustomerNo"].is_number_integer()) {
            customer = customer_by_no(body["CustomerNo"].get<int64_t>());
        } else {
            return bad("CustomerId or CustomerNo is required.");
        }
        if (customer.is_null()) return bad("The customer " + (body.contains("CustomerId") ? body["CustomerId"].dump() : body["CustomerNo"].dump()) + " was not found.");
        if (body.contains("SalesOrderStatus") && !body["SalesOrderStatus"].is_null() && body["SalesOrderStatus"] != "Draft" &&
            body["SalesOrderStatus"] != "Confirmed")
            return bad("SalesOrderStatus must be Draft or Confirmed.");
        if (body.contains("ExternalImportReference") && body["ExternalImportReference"].is_string()) {
            const std::string ref = body["ExternalImportReference"];
            for (const auto& [oid, o] : orders_)
                if (o.value("ExternalImportReference", json()) == json(ref))
                    return bad("ExternalImportReference is already in use. '" + ref + "' is used on (sales order) Id = " + oid + ".");
        }
        const std::string ts = now();
        json order = body;
        order["Id"] = new_uuid();
        order["SalesOrderNo"] = next_order_no_++;
        order["CustomerId"] = customer["Id"];
        order["CustomerNo"] = customer["Number"];
        if (!order.contains("SalesOrderStatus") || order["SalesOrderStatus"].is_null()) order["SalesOrderStatus"] = "Draft";
        if (!order.contains("CurrencyCode") || order["CurrencyCode"].is_null()) order["CurrencyCode"] = "NOK";
        if (!order.contains("SalesOrderDate") || order["SalesOrderDate"].is_null()) order["SalesOrderDate"] = ts.substr(0, 10);
        order["CreatedDateTimeOffset"] = ts;
        order["LastChangedDateTimeOffset"] = ts;
        order["IsCreatedByCurrentIntegration"] = true;
        json lines = json::array();
        double net = 0, total = 0;
        int sort = 0;
        for (const auto& l : body.value("SalesOrderLines", json::array())) {
            ++sort;
            if (!l.is_object()) return bad("SalesOrderLines[" + std::to_string(sort - 1) + "] is not an object.");
            if (auto u = unknown_properties(l, "SalesOrderLinePostDto"); !u.empty())
                return bad("Unknown properties of SalesOrderLinePostDto: " + u + ".");
            json line = l;
            const std::string at = "SalesOrderLines[" + std::to_string(sort - 1) + "]";
            if (l.contains("ProductId") || l.contains("ProductCode")) {
                json* p = product_by(l.value("ProductId", json()), l.value("ProductCode", json()));
                if (!p) return bad(at + ": product " + (l.contains("ProductCode") ? l["ProductCode"].dump() : l["ProductId"].dump()) + " was not found.");
                if (!l.contains("Quantity") || !l["Quantity"].is_number()) return bad(at + ": Quantity is required with a product.");
                line["ProductId"] = (*p)["Id"];
                line["ProductCode"] = (*p)["Code"];
                if (!line.contains("Description")) line["Description"] = (*p)["Name"];
                if (!line.contains("ProductUnitPrice") || line["ProductUnitPrice"].is_null()) line["ProductUnitPrice"] = p->value("UnitPrice", 0.0);
            }
            const std::string type = l.value("LineType", json("Normal")).is_string() ? l.value("LineType", "Normal") : "Normal";
            line["LineType"] = type;
            if (!line.contains("SortOrder")) line["SortOrder"] = sort;
            const json allowance_value = l.value("Allowance", json(0.0));
            const double allowance = allowance_value.is_number() ? allowance_value.get<double>() : 0.0;
            if (allowance < -1000 || allowance > 100) return bad(at + ": Allowance must be between -1000 and 100.");
            const double amount = type == "Text" ? 0.0 : round2(line.value("Quantity", json(0.0)).get<double>() *
                                                                   line.value("ProductUnitPrice", json(0.0)).get<double>() *
                                                                   (1 - allowance / 100.0));
            line["Id"] = new_uuid();
            line["SalesOrderId"] = order["Id"];
            line["NetAmount"] = amount;
            line["VatAmount"] = round2(amount * 0.25);
            line["TotalAmount"] = round2(amount * 1.25);
            line["VatCode"] = "3";
            line["VatId"] = 103;
            line["VatRate"] = 0.25;
            net += amount;
            total += round2(amount * 1.25);
            lines.push_back(std::move(line));
        }
        order["SalesOrderLines"] = lines;
        order["NetAmount"] = round2(net);
        order["TotalAmount"] = round2(total);
        order["LineCount"] = lines.size();
        order["_seq"] = static_cast<int64_t>(orders_.size());
        orders_[order["Id"].get<std::string>()] = order;
        json v = view(order, "SalesOrderCompleteDto");
        v["SalesOrderLines"] = json::array();
        for (const auto& l : order["SalesOrderLines"]) v["SalesOrderLines"].push_back(view(l, "SalesOrderLineDto"));
        return Reply{201, v, {}};
    }
    if (n >= 2) {
        auto it = orders_.find(c.segments[1]);
        if (it == orders_.end())
            return Reply{404, problem(404, "Object(s) not found", "Sales order with id = " + c.segments[1] + " not found."), {}};
        json& order = it->second;
        if (n == 2 && c.method == "GET") {
            json v = view(order, "SalesOrderDto");
            v["LineCount"] = order["SalesOrderLines"].size();
            return Reply{200, v, {}};
        }
        if (n == 3 && iequals(c.segments[2], "Complete") && c.method == "GET") {
            json v = view(order, "SalesOrderCompleteDto");
            v["SalesOrderLines"] = json::array();
            for (const auto& l : order["SalesOrderLines"]) v["SalesOrderLines"].push_back(view(l, "SalesOrderLineDto"));
            return Reply{200, v, {}};
        }
        if (n == 3 && iequals(c.segments[2], "createAndSendInvoice") && c.method == "POST") {
            json body = c.req.body.empty() ? json::object() : json::parse(c.req.body, nullptr, false);
            if (!body.is_object()) return bad("The request body is not a JSON object.");
            if (auto u = unknown_properties(body, "SendInvoiceRequestPostDto"); !u.empty())
                return bad("Unknown properties of SendInvoiceRequestPostDto: " + u + ".");
            if (order.contains("_invoice_no"))
                return bad("The sales order has already been invoiced (invoice no. " + order["_invoice_no"].dump() + ").");
            if (order["SalesOrderLines"].empty()) return bad("The sales order has no lines.");
            for (const char* d : {"VoucherDate", "OverrideDueDate"})
                if (body.contains(d) && !body[d].is_null() && (!body[d].is_string() || !parse_time(body[d].get<std::string>())))
                    return bad(std::string(d) + " is not a date.");
            invoice_order(order, body);
            json r = {{"Id", order["Id"]}, {"DeliveryType", body.value("DeliveryType", json("Auto"))}};
            for (const char* k : {"EmailAddress", "OverrideDueDate", "VoucherDate"})
                if (body.contains(k)) r[k] = body[k];
            return Reply{202, r, {{"Location", "/v2/SalesOrders/sentState?id=" + order["Id"].get<std::string>()}}};
        }
        if (n == 2 && c.method == "DELETE") {
            if (order.contains("_invoice_no"))
                return Reply{409, problem(409, "Conflict", "An invoiced sales order cannot be deleted."), {}};
            orders_.erase(it);
            return Reply{200, json(), {}};
        }
    }
    return Reply{405, json(), {}};
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::outgoing_invoices(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Validation error(s)", detail), {}}; };
    if (c.segments.size() == 1 && c.method == "GET") {
        const auto balance = time_filter(c.query("balanceLastChangedDateTimeOffsetGreaterThan"), "balanceLastChangedDateTimeOffsetGreaterThan");
        const auto sent = time_filter(c.query("sentDateTimeOffsetGreaterThan"), "sentDateTimeOffsetGreaterThan");
        if (!balance.error.empty()) return bad(balance.error);
        if (!sent.error.empty()) return bad(sent.error);
        std::optional<int64_t> from, to;
        if (!c.query("fromDate").empty() && !(from = parse_time(c.query("fromDate")))) return bad("fromDate is not a date.");
        if (!c.query("toDate").empty() && !(to = parse_time(c.query("toDate")))) return bad("toDate is not a date.");
        const std::string ids = c.query("invoiceIds"), refs = c.query("customMatchingReferences"), nos = c.query("invoiceNos"),
                          vnos = c.query("voucherNos"), cnos = c.query("customerNos");
        const bool unpaid = iequals(c.query("onlyUnpaidInvoices"), "true"), mine = iequals(c.query("onlyCreatedByCurrentIntegration"), "true");
        std::vector<const json*> sorted;
        for (const auto& [id, inv] : invoices_) sorted.push_back(&inv);
        std::sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) { return (*a)["InvoiceNo"] < (*b)["InvoiceNo"]; });
        std::vector<json> rows;
        for (const json* inv : sorted) {
            if (!later(*inv, "BalanceLastChangedDateTimeOffset", balance) || !later(*inv, "SentDateTimeOffset", sent)) continue;
            const auto vd = parse_time((*inv)["VoucherDate"].get<std::string>());
            if ((from && *vd < *from) || (to && *vd > *to)) continue;  // inclusive
            if (!in_list(ids, (*inv)["Id"]) || !in_list(refs, inv->value("CustomMatchingReference", json("")))) continue;
            for (auto [spec, field] : {std::pair{&nos, "InvoiceNo"}, std::pair{&vnos, "VoucherNo"}, std::pair{&cnos, "CustomerNo"}})
                if (!spec->empty()) {
                    auto in = in_ranges(*spec, inv->value(field, int64_t{-1}));
                    if (!in) return bad("The value '" + *spec + "' is not valid.");
                    if (!*in) goto next;
                }
            if (unpaid && inv->value("Balance", 0.0) == 0.0) continue;
            if (mine && !inv->value("IsCreatedByCurrentIntegration", false)) continue;
            rows.push_back(view(*inv, "OutgoingInvoiceDto"));
        next:;
        }
        return page(c, std::move(rows));
    }
    if (c.segments.size() == 2 && c.method == "GET") {
        auto it = invoices_.find(c.segments[1]);
        if (it == invoices_.end())
            return Reply{404, problem(404, "Object(s) not found", "Outgoing invoice with id = " + c.segments[1] + " not found."), {}};
        return Reply{200, view(it->second, "OutgoingInvoiceDto"), {}};
    }
    return Reply{405, json(), {}};
}

std::optional<int64_t> PowerOfficeGoSandbox::customer_id_by_account(int64_t account_id) const {
    for (const auto& [id, c] : customers_)
        if (c.value("SubledgerAccountId", int64_t{0}) == account_id) return id;
    return std::nullopt;
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::vouchers(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Voucher validation error(s)", detail), {}}; };
    if (c.segments.size() < 2 || !iequals(c.segments[1], "ManualJournals")) return Reply{404, json(), {}};
    if (c.segments.size() == 3 && c.method == "GET") {
        auto it = vouchers_.find(c.segments[2]);
        if (it == vouchers_.end())
            return Reply{404, problem(404, "Object(s) not found", "Voucher with id = " + c.segments[2] + " not found."), {}};
        json v = view(it->second, "ManualVoucherDto");
        v["VoucherLines"] = json::array();
        for (const auto& l : it->second["VoucherLines"]) v["VoucherLines"].push_back(view(l, "ManualVoucherLineDto"));
        return Reply{200, v, {}};
    }
    if (c.segments.size() != 2 || c.method != "POST") return Reply{405, json(), {}};
    if (!json_content(c.req)) return Reply{415, json(), {}};
    json body = json::parse(c.req.body, nullptr, false);
    if (!body.is_object()) return bad("The request body is not a JSON object.");
    if (auto u = unknown_properties(body, "ManualVoucherPostDto"); !u.empty()) return bad("Unknown properties of ManualVoucherPostDto: " + u + ".");
    if (!body.contains("VoucherDate") || !body["VoucherDate"].is_string() || !parse_time(body["VoucherDate"].get<std::string>()))
        return bad("VoucherDate is required (a date).");
    if (!body.contains("CurrencyCode") || !body["CurrencyCode"].is_string() || body["CurrencyCode"].get<std::string>().size() != 3)
        return bad("CurrencyCode is required (three letters).");
    if (body.contains("ExternalImportReference") && body["ExternalImportReference"].is_string())
        for (const auto& [vid, v] : vouchers_)
            if (v.value("ExternalImportReference", json()) == body["ExternalImportReference"])
                return bad("ExternalImportReference is already in use. '" + body["ExternalImportReference"].get<std::string>() +
                           "' is used on (voucher) Id = " + vid + ".");
    const json lines = body.value("VoucherLines", json::array());
    if (!lines.is_array() || lines.size() < 2) return bad("A voucher needs at least two VoucherLines.");
    double sum = 0;
    int i = 0;
    for (const auto& l : lines) {
        const std::string at = "VoucherLines[" + std::to_string(i++) + "]";
        if (!l.is_object()) return bad(at + " is not an object.");
        if (auto u = unknown_properties(l, "ManualVoucherLinePostDto"); !u.empty()) return bad(at + ": unknown properties of ManualVoucherLinePostDto: " + u + ".");
        for (const char* req : {"AccountId", "PostingDate", "VatId"})
            if (!l.contains(req)) return bad(at + ": " + req + " is required.");
        if (!l["AccountId"].is_number_integer() || (!accounts_.count(l["AccountId"].get<int64_t>()) && !customer_id_by_account(l["AccountId"].get<int64_t>())))
            return bad(at + ": AccountId " + l["AccountId"].dump() + " is neither a general ledger account nor a sub-ledger account.");
        if (!l["VatId"].is_null() && (!l["VatId"].is_number_integer() || !vat_codes_.count(l["VatId"].get<int64_t>())))
            return bad(at + ": VatId " + l["VatId"].dump() + " is not a VAT code.");
        if (!l.contains("CurrencyAmount") || !l["CurrencyAmount"].is_number()) return bad(at + ": CurrencyAmount is required.");
        sum += l["CurrencyAmount"].get<double>();
    }
    if (std::fabs(sum) > 0.005) return bad("The voucher does not balance: its lines sum to " + std::to_string(round2(sum)) + ".");
    const std::string ts = now();
    json v = body;
    v["Id"] = new_uuid();
    v["VoucherNo"] = next_voucher_no_++;
    v["CreatedDateTimeOffset"] = ts;
    v["IsReversed"] = false;
    v["VoucherLines"] = json::array();
    for (const auto& l : lines) {
        json line = l;
        line["Id"] = next_line_id_++;
        line["CreatedDateTimeOffset"] = ts;
        v["VoucherLines"].push_back(line);
        if (auto cust = customer_id_by_account(l["AccountId"].get<int64_t>())) {
            const json& cu = customers_.at(*cust);
            ledger_.push_back({{"Id", next_ledger_id_++}, {"CustomerId", *cust}, {"CustomerAccountNo", cu["Number"]},
                               {"CustomerName", cu.value("Name", json())}, {"VoucherId", v["Id"]}, {"VoucherNo", v["VoucherNo"]},
                               {"VoucherType", "ManualJournal"}, {"VoucherDate", v["VoucherDate"]}, {"PostingDate", l["PostingDate"]},
                               {"Amount", l["CurrencyAmount"]}, {"CurrencyAmount", l["CurrencyAmount"]},
                               {"CurrencyCode", v["CurrencyCode"]}, {"Balance", l["CurrencyAmount"]},
                               {"CustomMatchingReference", l.value("CustomMatchingReference", json())},
                               {"ExternalImportReference", v.value("ExternalImportReference", json())},
                               {"IsCreatedByCurrentIntegration", true}, {"CreatedDateTimeOffset", ts}, {"LastChangedDateTimeOffset", ts}});
        }
    }
    vouchers_[v["Id"].get<std::string>()] = v;
    json out = view(v, "ManualVoucherDto");
    out["VoucherLines"] = json::array();
    for (const auto& l : v["VoucherLines"]) out["VoucherLines"].push_back(view(l, "ManualVoucherLineDto"));
    return Reply{201, out, {}};
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::customer_ledger(const Call& c) {
    auto bad = [](const std::string& detail) { return Reply{400, problem(400, "Validation error(s)", detail), {}}; };
    if (c.segments.size() != 2 || c.method != "GET" || !iequals(c.segments[1], "Statement")) return Reply{404, json(), {}};
    const auto from = parse_time(c.query("fromDate")), to = parse_time(c.query("toDate"));
    if (!from || !to) return bad("fromDate and toDate are required (dates).");
    const std::string nos = c.query("customerNos"), refs = c.query("customMatchingReferences");
    const bool mine = iequals(c.query("onlyCreatedByCurrentIntegration"), "true");
    std::vector<json> rows;
    for (const auto& e : ledger_) {
        const auto vd = parse_time(e["VoucherDate"].get<std::string>());
        if (!vd || *vd < *from || *vd > *to) continue;
        if (!nos.empty() && !in_ranges(nos, e.value("CustomerAccountNo", int64_t{-1})).value_or(false)) continue;
        if (!in_list(refs, e.value("CustomMatchingReference", json("")))) continue;
        if (mine && !e.value("IsCreatedByCurrentIntegration", false)) continue;
        rows.push_back(view(e, "CustomerLedgerEntryDto"));
    }
    return page(c, std::move(rows));
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::reference_data(const Call& c) {
    if (c.method != "GET") return Reply{405, json(), {}};
    const std::string& head = c.segments[0];
    if (iequals(head, "ClientIntegrationInformation"))
        return Reply{200, {{"ClientId", "sandbox-client"}, {"ClientName", "Plexus Sandbox AS"},
                           {"ActiveClientSubscriptions", {"Go Basis", "Go Fakturering", "Go Lager"}},
                           {"ValidPrivileges", {"Customer_Full", "Product_Full", "SalesOrder_Full", "SendInvoice", "Voucher_Full", "OutgoingInvoice_Read", "CustomerLedger_Read"}},
                           {"InvalidPrivileges", json::array()}}, {}};
    std::vector<json> rows;
    if (iequals(head, "VatCodes")) {
        for (const auto& [id, v] : vat_codes_) rows.push_back(view(v, "VatCodeDto"));
    } else {
        const std::string nos = c.query("accountNos");
        for (const auto& [id, a] : accounts_)
            if (nos.empty() || in_ranges(nos, a["AccountNo"].get<int64_t>()).value_or(false)) rows.push_back(view(a, "GeneralLedgerAccountDto"));
    }
    return page(c, std::move(rows));
}

PowerOfficeGoSandbox::Reply PowerOfficeGoSandbox::control(const httplib::Request& req, const std::string& what) {
    json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (!body.is_object()) return Reply{400, {{"error", "body must be a JSON object"}}, {}};
    if (what == "pay") {
        // {"invoice_no": 20001, "amount": 100.0} — amount omitted: pay what is due.
        if (!body.contains("invoice_no") || !body["invoice_no"].is_number_integer())
            return Reply{400, {{"error", "invoice_no (integer) is required"}}, {}};
        if (!pay_invoice(body["invoice_no"].get<int64_t>(), body.value("amount", -1.0)))
            return Reply{404, {{"error", "no invoice " + body["invoice_no"].dump()}}, {}};
        return Reply{200, {{"paid", true}}, {}};
    }
    if (what == "stock") {
        // {"code": "GO-0001", "on_hand": 12}
        if (!body.contains("code") || !body["code"].is_string() || !body.contains("on_hand") || !body["on_hand"].is_number())
            return Reply{400, {{"error", "code (string) and on_hand (number) are required"}}, {}};
        if (!set_stock(body["code"], body["on_hand"].get<double>())) return Reply{404, {{"error", "no product " + body["code"].dump()}}, {}};
        return Reply{200, {{"ok", true}}, {}};
    }
    if (what == "rate_limit") {
        set_rate_limit(body.value("on", true));
        return Reply{200, {{"rate_limit", body.value("on", true)}}, {}};
    }
    if (what == "expire_tokens") {
        expire_tokens();
        return Reply{200, {{"ok", true}}, {}};
    }
    return Reply{404, {{"error", "unknown control route " + what + " (pay, stock, rate_limit, expire_tokens)"}}, {}};
}

bool PowerOfficeGoSandbox::pay_invoice(int64_t invoice_no, double amount) {
    std::lock_guard lock(mutex_);
    for (auto& [id, inv] : invoices_) {
        if (inv["InvoiceNo"] != invoice_no) continue;
        const double due = inv.value("Balance", 0.0);
        const double paid = amount < 0 ? due : std::min(amount, due);
        const std::string ts = now();
        inv["Balance"] = round2(due - paid);
        inv["BalanceLastChangedDateTimeOffset"] = ts;
        inv["LastChangedDateTimeOffset"] = ts;
        for (auto& e : ledger_)
            if (e.value("VoucherId", "") == id) {
                e["Balance"] = inv["Balance"];
                e["LastChangedDateTimeOffset"] = ts;
            }
        return true;
    }
    return false;
}

bool PowerOfficeGoSandbox::set_stock(const std::string& code, double on_hand) {
    std::lock_guard lock(mutex_);
    json* p = product_by(json(), json(code));
    if (!p || !p->value("IsStockItem", false)) return false;
    (*p)["StockOnHand"] = on_hand;
    (*p)["StockOnHandLastChangedDatetimeOffset"] = now();
    return true;
}

void PowerOfficeGoSandbox::set_rate_limit(bool on) {
    std::lock_guard lock(mutex_);
    options_.rate_limit = on;
    window_.clear();
}

void PowerOfficeGoSandbox::expire_tokens() {
    std::lock_guard lock(mutex_);
    tokens_.clear();
}

json PowerOfficeGoSandbox::objects(const std::string& collection) const {
    std::lock_guard lock(mutex_);
    json out = json::array();
    auto add_all = [&](const auto& m) {
        for (const auto& [k, v] : m) out.push_back(v);
    };
    if (collection == "customers") add_all(customers_);
    else if (collection == "products") add_all(products_);
    else if (collection == "sales_orders") add_all(orders_);
    else if (collection == "outgoing_invoices") add_all(invoices_);
    else if (collection == "vouchers") add_all(vouchers_);
    else if (collection == "ledger") for (const auto& e : ledger_) out.push_back(e);
    return out;
}

size_t PowerOfficeGoSandbox::count(const std::string& collection) const {
    std::lock_guard lock(mutex_);
    if (collection == "customers") return customers_.size();
    if (collection == "products") return products_.size();
    if (collection == "sales_orders") return orders_.size();
    if (collection == "outgoing_invoices") return invoices_.size();
    if (collection == "vouchers") return vouchers_.size();
    if (collection == "ledger") return ledger_.size();
    return 0;
}

std::unique_ptr<Sandbox> make_poweroffice_go_sandbox(uint32_t seed, SeedSize size) {
    PowerOfficeGoSandbox::Options o;
    o.seed = seed;
    // The demo's Shopify orders sell the Intacct sandbox's items: Go has them too, so Orders
    // Shopify→Go can name its lines by product code.
    o.product_codes = demo_item_codes(size);
    if (size == SeedSize::small) {
        o.customers = 12;
        o.products = 20;  // I-1001 … I-1008, then GO-0009 … GO-0020 (the small Gomag's)
        o.invoiced_orders = 8;
    }
    return std::make_unique<PowerOfficeGoSandbox>(o);
}

}  // namespace plexus::sandbox
