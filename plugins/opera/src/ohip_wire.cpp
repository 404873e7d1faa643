#include "ohip_wire.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <regex>

namespace plexus::opera {

bool valid_app_key(const std::string& key) {
    static const std::regex re(
        "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$");
    return std::regex_match(key, re);
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    while (i + 2 < in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += t[v & 63];
        i += 3;
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string date_of_ms(int64_t unix_ms) {
    int64_t day = unix_ms >= 0 ? unix_ms / 86400000 : -((-unix_ms + 86399999) / 86400000);
    return format_date(day);
}

std::string add_days(const std::string& date, int64_t days) {
    auto n = parse_date(date);
    return n ? format_date(*n + days) : date;
}

std::vector<std::pair<std::string, std::string>> search_windows(const std::string& from,
                                                                const std::string& to) {
    std::vector<std::pair<std::string, std::string>> out;
    auto a = parse_date(from), b = parse_date(to);
    if (!a || !b) return out;
    for (int64_t s = *a; s <= *b; s += 30) out.emplace_back(format_date(s), format_date(s + 29));
    return out;
}

static json reservation_id(const std::string& reservation) {
    return {{"id", reservation}, {"type", "Reservation"}, {"idContext", "OPERA"}};
}

json charges_body(const std::string& hotel, const std::string& reservation, long long cashier,
                  int folio_window, const std::vector<ChargeLine>& lines) {
    json charges = json::array();
    for (const auto& l : lines) {
        json c{{"transactionCode", l.transaction_code},
               {"price", {{"amount", l.price}, {"currencyCode", l.currency}}},
               {"postingQuantity", l.quantity},
               {"postingReference", l.reference},
               {"applyRoutingInstructions", false},
               {"usePackageAllowance", false},
               {"folioWindowNo", folio_window},
               {"cashierId", cashier}};
        if (!l.remark.empty()) c["postingRemark"] = l.remark;
        charges.push_back(std::move(c));
    }
    return {{"criteria",
             {{"hotelId", hotel},
              {"reservationId", reservation_id(reservation)},
              {"cashierId", cashier},
              {"postIt", false},
              {"charges", std::move(charges)}}}};
}

json payment_body(const std::string& hotel, const std::string& reservation, long long cashier,
                  int folio_window, const PaymentPosting& p) {
    json c{{"hotelId", hotel},
           {"reservationId", reservation_id(reservation)},
           {"cashierId", cashier},
           {"folioWindowNo", folio_window},
           {"paymentMethod", {{"paymentMethod", p.method}}},
           {"postingAmount", {{"amount", p.amount}, {"currencyCode", p.currency}}},
           {"postingReference", p.reference},
           {"action", "Billing"}};
    if (!p.remark.empty()) c["postingRemark"] = p.remark;
    return {{"criteria", std::move(c)}};
}

json reverse_payment_body(const std::string& hotel, long long transaction_no, long long cashier,
                          const std::string& reason_code) {
    json p{{"hotelId", hotel}, {"transactionNo", transaction_no}, {"cashierId", cashier}};
    if (!reason_code.empty()) p["reasonCode"] = reason_code;
    return {{"payment", std::move(p)}};
}

std::string transactions_query(const std::string& reservation, const std::string& reference,
                               const std::string& start, const std::string& end) {
    return "reservationList=" + url_encode(reservation) +
           "&referenceNumberWildCard=" + url_encode(reference) + "&startDate=" + url_encode(start) +
           "&endDate=" + url_encode(end);
}

static double number_of(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end()) return 0;
    if (it->is_number()) return it->get<double>();
    if (it->is_string()) {
        try {
            return std::stod(it->get<std::string>());
        } catch (...) {
        }
    }
    return 0;
}
static std::string text_of(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return {};
    return it->is_string() ? it->get<std::string>() : it->dump();
}

static Posting to_posting(const json& p) {
    Posting out;
    out.raw = p;
    out.transaction_no = static_cast<long long>(number_of(p, "transactionNo"));
    out.code = text_of(p, "transactionCode");
    out.reference = text_of(p, "reference");
    out.remark = text_of(p, "remark");
    out.quantity = static_cast<long long>(std::llround(number_of(p, "quantity")));
    if (auto pr = p.find("price"); pr != p.end() && pr->is_object()) {
        out.price = number_of(*pr, "amount");
        out.currency = text_of(*pr, "currencyCode");
    }
    if (p.contains("transactionAmount"))
        out.amount = number_of(p, "transactionAmount");
    else
        out.amount = out.price * static_cast<double>(out.quantity);
    if (out.currency.empty())
        for (const char* f : {"postedAmount", "debitAmount", "creditAmount"})
            if (auto a = p.find(f); a != p.end() && a->is_object() && a->contains("currencyCode")) {
                out.currency = text_of(*a, "currencyCode");
                break;
            }
    out.type = text_of(p, "transactionType");
    out.date = text_of(p, "postingDate");
    out.reverse_payment_no = static_cast<long long>(number_of(p, "reversePaymentTransactionNo"));
    return out;
}

static void collect_postings(const json& holder, std::vector<Posting>& out) {
    auto it = holder.find("postings");
    if (it == holder.end() || !it->is_array()) return;
    for (const auto& p : *it)
        if (p.is_object()) out.push_back(to_posting(p));
}

std::vector<Posting> parse_transactions(const json& body) {
    std::vector<Posting> out;
    if (!body.is_object()) return out;
    auto infos = body.find("reservationFolioInformation");
    if (infos == body.end() || !infos->is_array()) return out;
    for (const auto& info : *infos) {
        if (!info.is_object()) continue;
        auto windows = info.find("folioWindows");
        if (windows == info.end() || !windows->is_array()) continue;
        for (const auto& w : *windows) {
            if (!w.is_object()) continue;
            collect_postings(w, out);
            if (auto folios = w.find("folios"); folios != w.end() && folios->is_array())
                for (const auto& f : *folios)
                    if (f.is_object()) collect_postings(f, out);
        }
    }
    return out;
}

std::vector<Posting> parse_posted(const json& body) {
    std::vector<Posting> out;
    if (body.is_object()) collect_postings(body, out);
    return out;
}

static const char* reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "";
    }
}

std::string error_text(int status, const std::string& body) {
    std::string out = "HTTP " + std::to_string(status);
    if (*reason_phrase(status)) out += std::string(" ") + reason_phrase(status);
    json j = json::parse(body, nullptr, false);
    if (!j.is_object()) {
        if (status == 401) out += " (the token was refused: check client_id, client_secret and app_key)";
        if (status == 403) out += " (the application is not allowed this operation or hotel)";
        return out;
    }
    std::string title = text_of(j, "title"), detail = text_of(j, "detail"),
                code = text_of(j, "o:errorCode"), path = text_of(j, "o:errorPath");
    if (!detail.empty()) out += ": " + detail;
    else if (!title.empty()) out += ": " + title;
    if (!code.empty()) out += " (o:errorCode " + code + ")";
    if (!path.empty()) out += " at " + path;
    if (auto d = j.find("o:errorDetails"); d != j.end() && d->is_array())
        for (const auto& e : *d)
            if (e.is_object()) {
                std::string t = text_of(e, "detail");
                if (t.empty()) t = text_of(e, "title");
                if (!t.empty()) out += "; " + t;
            }
    return out;
}

std::vector<std::string> warnings_of(const json& body) {
    std::vector<std::string> out;
    if (!body.is_object()) return out;
    auto w = body.find("warnings");
    if (w == body.end() || !w->is_array()) return out;
    for (const auto& e : *w) {
        if (!e.is_object()) continue;
        std::string t = text_of(e, "shortText");
        if (t.empty()) t = text_of(e, "value");
        std::string code = text_of(e, "code");
        out.push_back(code.empty() ? t : code + ": " + t);
    }
    return out;
}

std::string charge_ref(const std::string& key, int gen, int line) {
    return key + "-C" + std::to_string(gen) + "-" + std::to_string(line);
}
std::string reversal_ref(const std::string& original_ref) { return original_ref + "-R"; }
std::string payment_ref(const std::string& key, int gen) {
    return key + "-P" + std::to_string(gen);
}

std::string encode_target_key(const TargetKey& k) {
    return k.key + "@" + k.date + "#" + std::to_string(k.generations);
}

std::optional<TargetKey> decode_target_key(const std::string& text) {
    auto hash = text.rfind('#');
    if (hash == std::string::npos) return std::nullopt;
    auto at = text.rfind('@', hash);
    if (at == std::string::npos || at == 0) return std::nullopt;
    TargetKey k;
    k.key = text.substr(0, at);
    k.date = text.substr(at + 1, hash - at - 1);
    if (!parse_date(k.date)) return std::nullopt;
    const std::string g = text.substr(hash + 1);
    if (g.empty() || g.size() > 6 || g.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    k.generations = std::stoi(g);
    return k;
}

}  // namespace plexus::opera
