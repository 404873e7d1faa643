// Order transactions and order metafields. A capture (of an authorization) or a sale moves
// the order's financial_status (pending → partially_paid → paid, authorized → paid) and its
// total_outstanding, and touches its updated_at. Over-capturing, paying more than is
// outstanding, refunds (Shopify wants the Refund resource) and paying a voided order are
// refused with 422; so are a metafield whose namespace and key the order already has and a
// value that does not fit its type. Error texts are the simulator's (Shopify's exact wording
// for these is unconfirmed); their shape is Shopify's {"errors": {"field": ["…"]}}.
#include "shopify_replies.hpp"
#include "shopify_sandbox.hpp"

#include <regex>

namespace plexus::sandbox {

using nlohmann::json;
using namespace shopify_detail;

namespace {

const std::set<std::string> kMetafieldTypes = {"single_line_text_field", "multi_line_text_field", "date", "date_time",
                                               "number_integer", "number_decimal", "boolean", "json", "url"};

// Why a value does not fit its metafield type; empty when it does.
std::string value_error(const std::string& type, const json& value) {
    if (!value.is_string()) return "must be a string";
    const std::string v = value.get<std::string>();
    if (type == "date") {
        int y, m, d;
        if (v.size() != 10 || std::sscanf(v.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 || v[4] != '-' || v[7] != '-' ||
            m < 1 || m > 12 || d < 1 || d > 31)
            return "must be in YYYY-MM-DD format";
    } else if (type == "number_decimal") {
        static const std::regex re(R"(^-?\d+(\.\d+)?$)");
        if (!std::regex_match(v, re)) return "must be a decimal number";
    } else if (type == "number_integer") {
        static const std::regex re(R"(^-?\d+$)");
        if (!std::regex_match(v, re)) return "must be an integer";
    } else if (type == "single_line_text_field") {
        if (v.find('\n') != std::string::npos) return "must be a single line";
        if (v.empty()) return "can't be blank";
    }
    return {};
}

int64_t int_of(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) return std::atoll(v.get<std::string>().c_str());
    return 0;
}

}  // namespace

void ShopifySandbox::settle(Stored& order) {
    json& o = order.data;
    const std::string current = o.value("financial_status", "");
    if (current == "refunded" || current == "partially_refunded" || current == "voided") return;
    const int64_t total = cents_of(o["total_price"]).value_or(0);
    int64_t paid = 0, authorized_left = 0;
    const auto& txs = transactions_[o["id"].get<int64_t>()];
    for (const auto& t : txs) {
        if (t.value("status", "") != "success") continue;
        const std::string kind = t.value("kind", "");
        const int64_t amount = cents_of(t["amount"]).value_or(0);
        if (kind == "capture" || kind == "sale") paid += amount;
        if (kind == "authorization") authorized_left += amount;
        if (kind == "capture" || kind == "void") authorized_left -= kind == "void" ? authorized_left : amount;
    }
    o["financial_status"] = paid >= total ? "paid" : paid > 0 ? "partially_paid" : authorized_left > 0 ? "authorized" : "pending";
    o["total_outstanding"] = money(std::max<int64_t>(0, total - paid));
}

void ShopifySandbox::create_transaction(int64_t order_id, const httplib::Request& req, httplib::Response& res) {
    auto body = wrapped_body(req, res, "transaction");
    if (!body) return;
    const json& t = *body;
    std::lock_guard lock(mutex_);
    auto it = orders_.find(order_id);
    if (it == orders_.end()) return reply(res, 404, {{"errors", "Not Found"}});
    json& order = it->second.data;
    auto& txs = transactions_[order_id];
    const std::string kind = t.value("kind", "");
    if (kind == "refund")
        return reply(res, 422, {{"errors", {{"kind", {"refund transactions must be created through the Refund resource"}}}}});
    if (kind != "capture" && kind != "sale")
        return reply(res, 422, {{"errors", {{"kind", {"is not included in the list"}}}}});
    if (order.value("financial_status", "") == "voided")
        return reply(res, 422, {{"errors", {{"base", {"The order's payment has been voided"}}}}});
    const std::string currency = order.value("presentment_currency", order.value("currency", ""));
    if (t.contains("currency") && t["currency"] != currency)
        return reply(res, 422, {{"errors", {{"currency", {"must be the order's presentment currency (" + currency + ")"}}}}});
    const int64_t total = cents_of(order["total_price"]).value_or(0);
    const int64_t outstanding = cents_of(order.value("total_outstanding", json(money(total)))).value_or(total);
    int64_t amount = kind == "sale" ? outstanding : 0;
    if (t.contains("amount") && !t["amount"].is_null()) {
        auto a = cents_of(t["amount"]);
        if (!a) return reply(res, 422, {{"errors", {{"amount", {"is not a number"}}}}});
        if (*a <= 0) return reply(res, 422, {{"errors", {{"amount", {"must be greater than 0"}}}}});
        amount = *a;
    }
    int64_t parent = 0;
    if (kind == "capture") {
        parent = t.contains("parent_id") ? int_of(t["parent_id"]) : 0;
        const json* auth = nullptr;
        int n = 0;
        for (const auto& x : txs)
            if (x.value("kind", "") == "authorization" && x.value("status", "") == "success") {
                ++n;
                if (!parent || x["id"] == parent) auth = &x;
            }
        if (!parent && n > 1) return reply(res, 422, {{"errors", {{"parent_id", {"can't be blank"}}}}});
        if (!auth) return reply(res, 422, {{"errors", {{"parent_id", {"is not an authorization of this order"}}}}});
        parent = (*auth)["id"];
        int64_t left = cents_of((*auth)["amount"]).value_or(0);
        for (const auto& x : txs)
            if (x.value("parent_id", json()) == parent && x.value("status", "") == "success") {
                if (x.value("kind", "") == "void") left = 0;
                if (x.value("kind", "") == "capture") left -= cents_of(x["amount"]).value_or(0);
            }
        if (!t.contains("amount") || t["amount"].is_null()) amount = left;
        if (amount > left)
            return reply(res, 422, {{"errors", {{"amount", {"must be less than or equal to what is left to capture (" + money(left) + ")"}}}}});
    } else if (amount > outstanding) {
        return reply(res, 422, {{"errors", {{"amount", {"must be less than or equal to the outstanding amount (" + money(outstanding) + ")"}}}}});
    }
    const int64_t now = now_seconds(), id = take_id();
    const bool external = t.value("source", "") == "external";
    json tx{{"id", id},
            {"order_id", order_id},
            {"kind", kind},
            {"gateway", external ? "manual" : "shopify_payments"},
            {"status", "success"},
            {"message", kind == "capture" ? "Transaction approved" : "Marked the payment as received"},
            {"created_at", format_time(now)},
            {"processed_at", format_time(now)},
            {"test", false},
            {"authorization", t.value("authorization", json())},
            {"parent_id", parent ? json(parent) : json()},
            {"source_name", external ? "external" : "api"},
            {"amount", money(amount)},
            {"currency", currency},
            {"admin_graphql_api_id", "gid://shopify/OrderTransaction/" + std::to_string(id)}};
    txs.push_back(tx);
    settle(it->second);
    touch(it->second, now);
    reply(res, 201, {{"transaction", tx}});
}

void ShopifySandbox::write_metafield(int64_t order_id, int64_t metafield_id, const httplib::Request& req, httplib::Response& res) {
    auto body = wrapped_body(req, res, "metafield");
    if (!body) return;
    json m = *body;
    std::lock_guard lock(mutex_);
    if (!orders_.count(order_id)) return reply(res, 404, {{"errors", "Not Found"}});
    auto& list = metafields_[order_id];
    json* existing = nullptr;
    if (metafield_id) {
        for (auto& x : list)
            if (x["id"] == metafield_id) existing = &x;
        if (!existing) return reply(res, 404, {{"errors", "Not Found"}});
        for (const char* f : {"namespace", "key", "type"})
            if (!m.contains(f)) m[f] = (*existing)[f];
    }
    json errors = json::object();
    for (const char* f : {"namespace", "key", "type"})
        if (!m.contains(f) || !m[f].is_string() || m[f].get<std::string>().empty()) errors[f] = {"can't be blank"};
    if (!m.contains("value") || m["value"].is_null()) errors["value"] = {"can't be blank"};
    if (errors.empty()) {
        const std::string type = m["type"];
        if (!kMetafieldTypes.count(type)) errors["type"] = {"is not a valid type"};
        else if (std::string e = value_error(type, m["value"]); !e.empty()) errors["value"] = {e};
        if (m["namespace"].get<std::string>().size() < 3) errors["namespace"] = {"is too short (minimum is 3 characters)"};
    }
    if (errors.empty() && !metafield_id)
        for (const auto& x : list)
            if (x["namespace"] == m["namespace"] && x["key"] == m["key"])
                errors["key"] = {"must be unique within this namespace on this resource"};
    if (!errors.empty()) return reply(res, 422, {{"errors", errors}});
    const int64_t now = now_seconds();
    if (existing) {
        (*existing)["value"] = m["value"];
        (*existing)["type"] = m["type"];
        (*existing)["updated_at"] = format_time(now);
        return reply(res, 200, {{"metafield", *existing}});
    }
    const int64_t id = take_id();
    json o{{"id", id},           {"namespace", m["namespace"]}, {"key", m["key"]},
           {"value", m["value"]}, {"type", m["type"]},           {"description", m.value("description", json())},
           {"owner_id", order_id}, {"owner_resource", "order"},  {"created_at", format_time(now)},
           {"updated_at", format_time(now)}, {"admin_graphql_api_id", "gid://shopify/Metafield/" + std::to_string(id)}};
    list.push_back(o);
    reply(res, 201, {{"metafield", o}});
}

void ShopifySandbox::mount_order_payments(httplib::Server& server, const std::string& v) {
    server.Get(v + "orders/(\\d+)/transactions.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        const int64_t id = std::atoll(req.matches[2].str().c_str());
        std::lock_guard lock(mutex_);
        if (!orders_.count(id)) return reply(res, 404, {{"errors", "Not Found"}});
        auto it = transactions_.find(id);
        reply(res, 200, {{"transactions", it == transactions_.end() ? json::array() : json(it->second)}});
    }));
    server.Post(v + "orders/(\\d+)/transactions.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        create_transaction(std::atoll(req.matches[2].str().c_str()), req, res);
    }));
    server.Post(v + "orders/(\\d+)/cancel.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        cancel_order(std::atoll(req.matches[2].str().c_str()), req, res);
    }));
    server.Post("/_sandbox/shopify/orders", [this](const httplib::Request& req, httplib::Response& res) {
        json spec = json::parse(req.body, nullptr, false);
        if (!spec.is_object()) return reply(res, 400, {{"error", "the body must be a JSON object: {\"total\", \"paid\", \"gateways\", \"note_attributes\", \"discount_codes\"}"}});
        const int64_t id = add_voucher_order(spec);
        reply(res, 200, {{"order", object("orders", id)}});
    });
    server.Get(v + "orders/(\\d+)/metafields.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        const int64_t id = std::atoll(req.matches[2].str().c_str());
        std::lock_guard lock(mutex_);
        if (!orders_.count(id)) return reply(res, 404, {{"errors", "Not Found"}});
        json out = json::array();
        for (const auto& m : metafields_[id]) {
            if (req.has_param("namespace") && m["namespace"] != req.get_param_value("namespace")) continue;
            if (req.has_param("key") && m["key"] != req.get_param_value("key")) continue;
            out.push_back(m);
        }
        reply(res, 200, {{"metafields", std::move(out)}});
    }));
    server.Post(v + "orders/(\\d+)/metafields.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        write_metafield(std::atoll(req.matches[2].str().c_str()), 0, req, res);
    }));
    server.Put(v + "orders/(\\d+)/metafields/(\\d+).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        write_metafield(std::atoll(req.matches[2].str().c_str()), std::atoll(req.matches[3].str().c_str()), req, res);
    }));
}

}  // namespace plexus::sandbox

namespace plexus::sandbox {

// For processes that settle an order with a voucher system (e-guma): an order paid partly by
// another gateway and the rest by a manual payment method (a voucher gateway), the voucher
// code given as a checkout attribute (`note_attributes`) or as a discount code. Shopify's
// REST orders carry `payment_gateway_names` and `note_attributes`; a manual gateway's
// payment is a pending `sale` transaction, so the order is `partially_paid` (or `pending`)
// with the voucher's part outstanding. Reached over HTTP at POST /_sandbox/shopify/orders.
int64_t ShopifySandbox::add_voucher_order(const json& spec) {
    std::lock_guard lock(mutex_);
    const int64_t id = take_id(), now = now_seconds();
    const std::string currency = spec.value("currency", "CHF");
    const int64_t total = cents_of(spec.value("total", json("100.00"))).value_or(10000);
    const int64_t paid = cents_of(spec.value("paid", json("0.00"))).value_or(0);
    int64_t discount = 0;
    json codes = spec.value("discount_codes", json::array());
    for (const auto& c : codes) discount += cents_of(c.value("amount", json("0"))).value_or(0);
    const int64_t due = std::max<int64_t>(0, total - discount);
    const int number = static_cast<int>(1001 + orders_.size());
    json gateways = spec.value("gateways", json::array({"shopify_payments"}));
    json line{{"id", take_id()}, {"variant_id", nullptr}, {"product_id", nullptr}, {"sku", spec.value("sku", "GIFT-1")},
              {"title", "Geschenkkorb"}, {"name", "Geschenkkorb"}, {"quantity", 1}, {"price", money(total)},
              {"total_discount", "0.00"}, {"taxable", true}, {"requires_shipping", false}, {"fulfillable_quantity", 1},
              {"tax_lines", json::array()}, {"discount_allocations", json::array()}};
    json o{{"id", id}, {"name", "#" + std::to_string(number)}, {"order_number", number}, {"email", "gast@example.ch"},
           {"created_at", format_time(now)}, {"updated_at", format_time(now)}, {"processed_at", format_time(now)},
           {"currency", currency}, {"presentment_currency", currency},
           {"financial_status", paid >= due ? "paid" : paid > 0 ? "partially_paid" : "pending"},
           {"fulfillment_status", nullptr}, {"customer", nullptr}, {"line_items", json::array({line})},
           {"taxes_included", true}, {"tax_lines", json::array()}, {"shipping_lines", json::array()},
           {"discount_codes", codes}, {"discount_applications", json::array()},
           {"payment_gateway_names", gateways}, {"note_attributes", spec.value("note_attributes", json::array())},
           {"subtotal_price", money(due)}, {"total_discounts", money(discount)}, {"total_tax", "0.00"},
           {"total_price", money(due)}, {"total_outstanding", money(due - paid)}, {"refunds", json::array()},
           {"cancelled_at", nullptr}, {"cancel_reason", nullptr}, {"closed_at", nullptr}, {"test", false},
           {"tags", ""}, {"note", nullptr}, {"admin_graphql_api_id", "gid://shopify/Order/" + std::to_string(id)}};
    auto& txs = transactions_[id];
    const auto add = [&](const std::string& gateway, int64_t amount, const char* status) {
        const int64_t tid = take_id();
        txs.push_back({{"id", tid}, {"order_id", id}, {"kind", "sale"}, {"gateway", gateway}, {"status", status},
                       {"message", nullptr}, {"created_at", format_time(now)}, {"processed_at", format_time(now)},
                       {"test", false}, {"authorization", nullptr}, {"parent_id", nullptr}, {"source_name", "web"},
                       {"amount", money(amount)}, {"currency", currency},
                       {"admin_graphql_api_id", "gid://shopify/OrderTransaction/" + std::to_string(tid)}});
    };
    if (paid > 0) add(gateways.empty() ? "shopify_payments" : gateways[0].get<std::string>(), paid, "success");
    if (due - paid > 0 && gateways.size() > 1) add(gateways.back().get<std::string>(), due - paid, "pending");
    orders_[id] = Stored{std::move(o), now, now};
    return id;
}

// POST orders/{id}/cancel.json (Admin REST): the order gets cancelled_at, cancel_reason
// (`reason`, default "other") and closed_at; a paid part is marked refunded when `refund` is
// true (the sandbox does not build Refund objects), what was never paid is voided.
void ShopifySandbox::cancel_order(int64_t id, const httplib::Request& req, httplib::Response& res) {
    json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (!body.is_object()) return reply(res, 400, {{"errors", "the body must be a JSON object"}});
    std::lock_guard lock(mutex_);
    auto it = orders_.find(id);
    if (it == orders_.end()) return reply(res, 404, {{"errors", "Not Found"}});
    json& o = it->second.data;
    if (!o["cancelled_at"].is_null()) return reply(res, 422, {{"errors", {{"order", {"is already cancelled"}}}}});
    const int64_t now = now_seconds();
    o["cancelled_at"] = format_time(now);
    o["closed_at"] = format_time(now);
    o["cancel_reason"] = body.value("reason", "other");
    const std::string status = o.value("financial_status", "");
    if (status == "pending" || status == "authorized") o["financial_status"] = "voided";
    else if (body.value("refund", false)) o["financial_status"] = "refunded";
    touch(it->second, now);
    reply(res, 200, {{"order", o}});
}

}  // namespace plexus::sandbox
