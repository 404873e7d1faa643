#include "eguma_wire.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <stdexcept>

namespace plexus::eguma {

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
char upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (true) {
        size_t end = s.find(sep, pos);
        out.emplace_back(s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    return out;
}

std::optional<int64_t> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

std::optional<std::string> normalise_code(std::string_view input, std::string* why) {
    std::string s;
    for (char c : input)
        if (!std::isspace(static_cast<unsigned char>(c))) s += c;
    if (s.empty()) {
        if (why) *why = "the voucher code is empty";
        return std::nullopt;
    }
    for (char c : s)
        if (!is_alnum(c) && c != '-' && c != '.') {
            if (why) *why = "the voucher code holds a character other than letters, digits, '.' and '-'";
            return std::nullopt;
        }
    std::string bare;
    for (char c : s)
        if (c != '-') bare += upper(c);
    // The printed form of a 12-character voucher code: XXXX-XXXX-XXXX; the barcode has no dashes.
    if (bare.size() == 12 && std::all_of(bare.begin(), bare.end(), is_alnum)) return bare;
    return s;
}

std::string comparable_code(std::string_view code) {
    std::string out;
    for (char c : code)
        if (c != '-' && !std::isspace(static_cast<unsigned char>(c))) out += upper(c);
    return out;
}

std::optional<int64_t> cents_of(const json& amount, std::string* why) {
    auto fail = [&](const std::string& w) -> std::optional<int64_t> {
        if (why) *why = w;
        return std::nullopt;
    };
    std::string text;
    if (amount.is_number_integer()) {
        text = std::to_string(amount.get<int64_t>());
    } else if (amount.is_number()) {
        // A number from a mapping (add(), sum()): at most two decimals, as money has.
        const double d = amount.get<double>();
        if (!std::isfinite(d)) return fail("the amount is not a finite number");
        const double c = d * 100;
        if (std::fabs(c - std::round(c)) > 1e-6) return fail("the amount " + amount.dump() + " has more than two decimals");
        if (c < 0) return fail("the amount " + amount.dump() + " is negative");
        if (c > 1e13) return fail("the amount " + amount.dump() + " is too large");
        return static_cast<int64_t>(std::llround(c));
    } else if (amount.is_string()) {
        text = amount.get<std::string>();
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
        size_t i = 0;
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
        text.erase(0, i);
    } else {
        return fail("the amount is " + std::string(amount.is_null() ? "missing (null)" : amount.type_name()) +
                    ", not a number or a decimal text");
    }
    if (!text.empty() && text[0] == '-') return fail("the amount \"" + text + "\" is negative");
    if (!text.empty() && text[0] == '+') text.erase(0, 1);
    const size_t dot = text.find('.');
    std::string whole = text.substr(0, dot), frac = dot == std::string::npos ? "" : text.substr(dot + 1);
    if (whole.empty() && frac.empty()) return fail("the amount \"" + text + "\" is not a number");
    if (whole.empty()) whole = "0";
    if (frac.size() > 2) {
        // "12.500" is 12.50; "12.505" is not money.
        if (frac.find_first_not_of('0', 2) != std::string::npos)
            return fail("the amount \"" + text + "\" has more than two decimals");
        frac.resize(2);
    }
    while (frac.size() < 2) frac += '0';
    auto w = parse_int(whole);
    auto f = parse_int(frac);
    if (!w || !f) return fail("the amount \"" + text + "\" is not a number");
    if (*w > 100'000'000'000) return fail("the amount \"" + text + "\" is too large");
    return *w * 100 + *f;
}

std::string format_cents(int64_t cents) {
    char buf[40];
    const int64_t a = cents < 0 ? -cents : cents;
    std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "", static_cast<long long>(a / 100),
                  static_cast<long long>(a % 100));
    return buf;
}

std::string encode_redemptions(const std::vector<Redemption>& items) {
    if (items.empty()) return "r1:none";
    std::string out = "r1:";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += items[i].code + "/" + std::to_string(items[i].cents) + "/" + items[i].token;
        if (items[i].cancelled) out += "/cancelled";
    }
    return out;
}

std::optional<std::vector<Redemption>> decode_redemptions(std::string_view key) {
    if (key.substr(0, 3) != "r1:") return std::nullopt;
    key.remove_prefix(3);
    std::vector<Redemption> out;
    if (key == "none") return out;
    for (const auto& item : split(key, ',')) {
        auto parts = split(item, '/');
        if (parts.size() < 3 || parts.size() > 4 || parts[0].empty() || parts[2].empty()) return std::nullopt;
        auto cents = parse_int(parts[1]);
        if (!cents) return std::nullopt;
        Redemption r{parts[0], *cents, parts[2], false};
        if (parts.size() == 4) {
            if (parts[3] != "cancelled") return std::nullopt;
            r.cancelled = true;
        }
        out.push_back(std::move(r));
    }
    return out;
}

bool is_cancelled(const json& data) {
    if (!data.is_object()) return false;
    if (auto c = data.find("cancelled"); c != data.end()) {
        if (c->is_boolean() && c->get<bool>()) return true;
        if (c->is_string() && !c->get<std::string>().empty() && c->get<std::string>() != "false") return true;
    }
    if (auto s = data.find("status"); s != data.end() && s->is_string()) {
        std::string v;
        for (char ch : s->get<std::string>()) v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (v == "cancelled" || v == "canceled" || v == "refunded" || v == "voided") return true;
    }
    return false;
}

RedemptionRequest parse_redemption_request(const json& data) {
    if (!data.is_object()) bad("the record is not a JSON object");
    RedemptionRequest r;
    if (auto ref = data.find("reference_number"); ref != data.end() && !ref->is_null()) {
        r.reference = ref->is_string() ? ref->get<std::string>() : ref->dump();
        if (r.reference.size() > 1024) bad("reference_number: longer than e-guma's 1024 characters");
    }
    if (auto c = data.find("currency"); c != data.end() && c->is_string())
        for (char ch : c->get<std::string>()) r.currency += upper(ch);
    r.cancelled = is_cancelled(data);
    if (auto due = data.find("amount_due"); due != data.end() && !due->is_null()) {
        std::string why;
        r.total_due = cents_of(*due, &why);
        if (!r.total_due) bad("amount_due: " + why);
    }
    // Selection (README "Which payments are vouchers"): a gateway that must be among the
    // order's gateways, a label (e.g. the note attribute's name) and a code pattern.
    if (auto g = data.find("voucher_gateway"); g != data.end() && g->is_string() && !g->get<std::string>().empty()) {
        const std::string wanted = g->get<std::string>();
        bool present = false;
        if (auto gw = data.find("gateways"); gw != data.end()) {
            if (gw->is_array()) {
                for (const auto& x : *gw)
                    if (x.is_string() && x.get<std::string>() == wanted) present = true;
            } else if (gw->is_string()) {
                present = gw->get<std::string>() == wanted;
            }
        }
        if (!present) return r;  // not paid with the voucher gateway: nothing to redeem
    }
    std::string label_wanted;
    if (auto l = data.find("voucher_label"); l != data.end() && l->is_string()) label_wanted = l->get<std::string>();
    std::optional<std::regex> pattern;
    if (auto p = data.find("voucher_code_pattern"); p != data.end() && p->is_string() && !p->get<std::string>().empty()) {
        try {
            pattern.emplace(p->get<std::string>(), std::regex::ECMAScript | std::regex::icase);
        } catch (const std::regex_error& e) {
            bad("voucher_code_pattern: not a regular expression (" + std::string(e.what()) + ")");
        }
    }
    auto v = data.find("vouchers");
    if (v == data.end() || v->is_null()) v = data.end();
    if (v != data.end() && !v->is_array()) bad("vouchers: must be an array of {code, amount, label}");
    if (v != data.end()) {
        for (size_t i = 0; i < v->size(); ++i) {
            const json& e = (*v)[i];
            const std::string where = "vouchers[" + std::to_string(i) + "]";
            if (!e.is_object()) bad(where + ": must be an object {code, amount, label}");
            VoucherPayment p;
            if (auto l = e.find("label"); l != e.end() && l->is_string()) p.label = l->get<std::string>();
            if (!label_wanted.empty() && p.label != label_wanted) continue;
            auto code = e.find("code");
            if (code == e.end() || code->is_null() || (code->is_string() && code->get<std::string>().empty())) {
                if (!label_wanted.empty()) bad(where + ".code: the voucher code is missing");
                continue;  // an element without a code is not a voucher payment
            }
            const std::string raw = code->is_string() ? code->get<std::string>() : code->dump();
            if (pattern && !std::regex_search(raw, *pattern)) continue;  // a promotion code, not a voucher
            std::string why;
            auto normal = normalise_code(raw, &why);
            if (!normal) bad(where + ".code: " + why);
            p.code = *normal;
            if (auto a = e.find("amount"); a != e.end() && !a->is_null()) {
                p.cap = cents_of(*a, &why);
                if (!p.cap) bad(where + ".amount: " + why);
            }
            if (!p.cap && !r.total_due)
                bad(where + ": no amount: map the voucher's amount (vouchers[].amount) or the order's amount_due");
            r.vouchers.push_back(std::move(p));
        }
    }
    return r;
}

int64_t amount_to_redeem(std::optional<int64_t> still_due, std::optional<int64_t> cap, int64_t balance) {
    int64_t a = std::max<int64_t>(balance, 0);
    if (still_due) a = std::min(a, *still_due);
    if (cap) a = std::min(a, *cap);
    return std::max<int64_t>(a, 0);
}

std::string encode_depot(const DepotState& s) {
    if (s.none) return "d1:none";
    return "d1:" + s.code + "/" + std::to_string(s.cents) + (s.deactivated ? "/deactivated" : "");
}

std::optional<DepotState> decode_depot(std::string_view key) {
    if (key.substr(0, 3) != "d1:") return std::nullopt;
    key.remove_prefix(3);
    DepotState s;
    if (key == "none") {
        s.none = true;
        return s;
    }
    auto parts = split(key, '/');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return std::nullopt;
    auto cents = parse_int(parts[1]);
    if (!cents) return std::nullopt;
    s.code = parts[0];
    s.cents = *cents;
    if (parts.size() == 3) {
        if (parts[2] != "deactivated") return std::nullopt;
        s.deactivated = true;
    }
    return s;
}

// ---- sales events -----------------------------------------------------------------------

namespace {

const json& member(const json& o, const char* name, const std::string& where, bool required = true) {
    static const json null_value;
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) {
        if (required) bad(where + "/" + name + ": missing");
        return null_value;
    }
    return *it;
}

std::string text_of(const json& o, const char* name, const std::string& where, bool required = true) {
    const json& v = member(o, name, where, required);
    if (v.is_null()) return {};
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    bad(where + "/" + name + ": must be text, not " + std::string(v.type_name()));
}

int64_t cents_member(const json& o, const char* name, const std::string& where) {
    const json& v = member(o, name, where);
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
        bad(where + "/" + name + ": must be a whole number of cents, 0 or more (e-guma sends integer cents)");
    return v.get<int64_t>();
}

}  // namespace

json normalise_sale(const json& body, std::string_view topic) {
    if (!body.is_object()) bad("the event body is not a JSON object");
    const json& sale = member(body, "sale", "");
    if (!sale.is_object()) bad("/sale: must be an object");
    const std::string id = text_of(sale, "id", "/sale");
    if (id.empty()) bad("/sale/id: empty");
    json out = json::object();
    out["sale_id"] = id;
    out["kind"] = text_of(sale, "kind", "/sale", false).empty() ? "order" : text_of(sale, "kind", "/sale", false);
    const json& version = member(sale, "version", "/sale");
    if (!version.is_number_integer() || version.get<int64_t>() < 1) bad("/sale/version: must be a whole number from 1");
    out["version"] = version.get<int64_t>();
    std::string status = text_of(sale, "status", "/sale");
    static const char* statuses[] = {"open", "paid", "unpaid", "cancelled"};
    if (std::find(std::begin(statuses), std::end(statuses), status) == std::end(statuses))
        bad("/sale/status: \"" + status + "\" is not open, paid, unpaid or cancelled");
    out["status"] = status;
    std::string currency;
    for (char c : text_of(sale, "currency", "/sale")) currency += upper(c);
    if (currency.size() != 3) bad("/sale/currency: \"" + currency + "\" is not a three-letter currency code");
    out["currency"] = currency;
    out["invoice_number"] = text_of(sale, "invoice_number", "/sale", false);
    out["payment_method"] = text_of(sale, "payment_method", "/sale", false);
    out["created_at"] = text_of(sale, "created_at", "/sale", false);
    out["updated_at"] = text_of(sale, "updated_at", "/sale", false);
    out["event_type"] = std::string(topic.empty() ? text_of(body, "type", "", false) : std::string(topic));

    json lines = json::array();
    std::map<std::string, int64_t> totals{{"voucher", 0}, {"product", 0}, {"shipping", 0}, {"ticket", 0}};
    int64_t total = 0;
    const json& raw_lines = member(sale, "lines", "/sale", false);
    if (!raw_lines.is_null() && !raw_lines.is_array()) bad("/sale/lines: must be an array");
    for (size_t i = 0; !raw_lines.is_null() && i < raw_lines.size(); ++i) {
        const std::string where = "/sale/lines/" + std::to_string(i);
        const json& l = raw_lines[i];
        if (!l.is_object()) bad(where + ": must be an object");
        const std::string kind = text_of(l, "kind", where);
        if (!totals.count(kind)) bad(where + "/kind: \"" + kind + "\" is not voucher, product, shipping or ticket");
        const int64_t unit = cents_member(l, "unit_price_in_cents", where);
        const json& q = member(l, "quantity", where);
        if (!q.is_number_integer() || q.get<int64_t>() < 0) bad(where + "/quantity: must be a whole number, 0 or more");
        int64_t cancelled = 0;
        if (const json& c = member(l, "cancelled_quantity", where, false); !c.is_null()) {
            if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > q.get<int64_t>())
                bad(where + "/cancelled_quantity: must be a whole number from 0 to the quantity");
            cancelled = c.get<int64_t>();
        }
        // A cancelled sale sells nothing; a partly cancelled line sells what is left.
        const int64_t sold = status == "cancelled" ? 0 : q.get<int64_t>() - cancelled;
        const int64_t amount = unit * sold;
        totals[kind] += amount;
        total += amount;
        lines.push_back({{"line_id", text_of(l, "line_id", where, false)},
                         {"kind", kind},
                         {"item_id", text_of(l, "item_id", where, false)},
                         {"name", text_of(l, "name", where, false)},
                         {"unit_price", format_cents(unit)},
                         {"unit_price_in_cents", unit},
                         {"quantity", sold},
                         {"ordered_quantity", q.get<int64_t>()},
                         {"amount", format_cents(amount)},
                         {"amount_in_cents", amount},
                         {"currency", currency}});
    }
    out["lines"] = lines;

    json redemptions = json::array();
    const json& raw_red = member(sale, "redemptions", "/sale", false);
    if (!raw_red.is_null() && !raw_red.is_array()) bad("/sale/redemptions: must be an array");
    for (size_t i = 0; !raw_red.is_null() && i < raw_red.size(); ++i) {
        const std::string where = "/sale/redemptions/" + std::to_string(i);
        const json& r = raw_red[i];
        if (!r.is_object()) bad(where + ": must be an object");
        const std::string booking = text_of(r, "booking", where);
        if (booking != "maison" && booking != "organisation")
            bad(where + "/booking: \"" + booking + "\" is not maison or organisation");
        const int64_t cents = cents_member(r, "amount_in_cents", where);
        // A redemption is void when e-guma says so, or when its whole sale was cancelled.
        const bool reversed = r.value("cancelled", false) == true || status == "cancelled";
        redemptions.push_back({{"redemption_id", text_of(r, "redemption_id", where)},
                               {"booking", booking},
                               {"voucher_code", text_of(r, "voucher_code", where, false)},
                               {"payment_method", text_of(r, "payment_method", where, false)},
                               {"amount", format_cents(reversed ? 0 : cents)},
                               {"amount_in_cents", reversed ? 0 : cents},
                               {"redeemed_amount", format_cents(cents)},
                               {"redeemed_amount_in_cents", cents},
                               {"cancelled", reversed},
                               {"currency", currency},
                               {"redeemed_at", text_of(r, "redeemed_at", where, false)}});
    }
    out["redemptions"] = redemptions;
    json t = json::object(), tc = json::object();
    for (const auto& [k, v] : totals) {
        t[k] = format_cents(v);
        tc[k] = v;
    }
    out["totals"] = t;
    out["totals_in_cents"] = tc;
    out["total"] = format_cents(total);
    out["total_in_cents"] = total;
    return out;
}

FoldResult fold_sales_events(const std::vector<SalesEvent>& events) {
    FoldResult result;
    std::map<std::string, size_t> index;  // sale id → position in result.records
    for (const auto& e : events) {
        result.last_seq = std::max(result.last_seq, e.seq);
        json data;
        try {
            data = normalise_sale(e.body, e.topic);
        } catch (const std::invalid_argument& ex) {
            result.problems.push_back({e.seq, e.id, ex.what()});
            continue;
        }
        data["event_id"] = e.id;
        data["event_seq"] = e.seq;
        const std::string key = data["sale_id"].get<std::string>();
        SaleRecord rec{key, std::to_string(e.seq), std::move(data)};
        auto it = index.find(key);
        if (it == index.end()) {
            index[key] = result.records.size();
            result.records.push_back(std::move(rec));
            continue;
        }
        SaleRecord& have = result.records[it->second];
        if (have.data["version"].get<int64_t>() > rec.data["version"].get<int64_t>()) {
            // An older state delivered late: the newer one stays, and its record moves to this
            // event's place so that the cursor still covers both.
            have.cursor = rec.cursor;
            continue;
        }
        have = std::move(rec);
    }
    // Keep records in the order of their cursors (each sale at its last event).
    std::stable_sort(result.records.begin(), result.records.end(), [](const SaleRecord& a, const SaleRecord& b) {
        return std::stoll(a.cursor) < std::stoll(b.cursor);
    });
    return result;
}

std::string voucher_status(bool known, bool redeemable, int64_t balance_cents, const std::string& valid_until,
                           const std::string& today) {
    if (redeemable) return "redeemable";
    if (!known) return "unknown";
    if (valid_until.size() >= 10 && today.size() >= 10 && valid_until.substr(0, 10) < today.substr(0, 10)) return "expired";
    if (balance_cents <= 0) return "used_up";
    return "not_redeemable";
}

FoldResult fold_redemption_events(const std::vector<SalesEvent>& events) {
    FoldResult sales = fold_sales_events(events);
    FoldResult out;
    out.problems = std::move(sales.problems);
    out.last_seq = sales.last_seq;
    for (const auto& sale : sales.records) {
        const json& d = sale.data;
        for (const auto& r : d["redemptions"]) {
            json rec = r;  // amount (0 once cancelled), redeemed_amount (as redeemed), cancelled …
            rec["sale_id"] = d["sale_id"];
            rec["sale_kind"] = d["kind"];
            rec["sale_status"] = d["status"];
            rec["version"] = d["version"];
            rec["event_type"] = d["event_type"];
            rec["event_id"] = d["event_id"];
            rec["event_seq"] = d["event_seq"];
            out.records.push_back({r["redemption_id"].get<std::string>(), sale.cursor, std::move(rec)});
        }
    }
    return out;
}

}  // namespace plexus::eguma
