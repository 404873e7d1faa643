#include "order_invoice_status.hpp"

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::LookupRequest;
using plexus::sdk::LookupResult;
using plexus::sdk::WriteItem;
using plexus::sdk::WriteResult;

namespace {

constexpr const char* kOrderFields =
    "id%2Cname%2Cfinancial_status%2Ctotal_price%2Ctotal_outstanding%2Ccurrency%2Cpresentment_currency%2Cupdated_at";

std::optional<std::string> text_field(const json& data, const char* name) {
    auto it = data.find(name);
    if (it == data.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    throw invalid(std::string(name) + " must be text, not " + it->dump());
}

std::string who_of(const json& data, const std::string& target_key) {
    if (data.is_object()) {
        try {
            if (auto n = text_field(data, "order_name"); n && !n->empty()) return "order " + *n;
            if (auto i = text_field(data, "order_id"); i && !i->empty()) return "order " + *i;
        } catch (const Error&) {
        }
    }
    return target_key.empty() ? "order" : "order " + target_key;
}

}  // namespace

OrderInvoiceStatus::Invoice OrderInvoiceStatus::invoice_of(const json& data) {
    if (!data.is_object()) throw invalid("the mapped record is not a JSON object");
    Invoice inv;
    auto number = text_field(data, "invoice_number");
    if (!number || number->empty()) throw invalid("no invoice_number in the mapped record");
    inv.metafields.push_back({"invoice_number", "single_line_text_field", *number});
    if (auto date = text_field(data, "invoice_date"); date && !date->empty())
        inv.metafields.push_back({"invoice_date", "date", *date});  // Shopify checks YYYY-MM-DD (422)
    std::string state;
    if (auto s = text_field(data, "invoice_state"); s && !s->empty()) {
        state = *s;
        inv.metafields.push_back({"invoice_state", "single_line_text_field", state});
    }
    std::optional<int64_t> due;
    if (auto it = data.find("amount_due"); it != data.end() && !it->is_null()) {
        due = parse_cents(*it);
        if (!due) throw invalid("amount_due " + it->dump() + " is not an amount (e.g. \"12.50\")");
        inv.metafields.push_back({"amount_due", "number_decimal", format_cents(*due)});
    }
    inv.paid = invoice_paid(state, due);
    return inv;
}

std::optional<json> OrderInvoiceStatus::find_order(const json& data, const std::string& target_key) {
    std::optional<int64_t> id;
    if (!target_key.empty()) id = id_number(json(target_key));
    if (!id && data.is_object()) {
        if (auto it = data.find("order_id"); it != data.end() && !it->is_null()) {
            id = id_number(*it);
            if (!id) throw invalid("order_id " + it->dump() + " is not a Shopify order id");
        }
    }
    if (id) return api_.find_object("orders/" + std::to_string(*id) + ".json?fields=" + kOrderFields, "order");
    auto name = data.is_object() ? text_field(data, "order_name") : std::nullopt;
    if (!name || name->empty()) throw invalid("no order_id or order_name in the mapped record");
    // The name filter is not an exact match everywhere (#1001 may also find #10010): compare.
    std::vector<std::string> candidates{*name};
    if ((*name)[0] != '#') candidates.push_back("#" + *name);
    for (const auto& n : candidates)
        for (auto& o : api_.get_all("orders.json?limit=50&status=any&name=" + url_encode(n) + "&fields=" + kOrderFields, "orders", 250))
            if (o.value("name", "") == n) return std::move(o);
    return std::nullopt;
}

json OrderInvoiceStatus::metafields_of(int64_t order_id) {
    return json{{"metafields", api_.get_all("orders/" + std::to_string(order_id) + "/metafields.json?limit=250&namespace=" +
                                                std::string(kMetafieldNamespace),
                                            "metafields")}};
}

json OrderInvoiceStatus::transactions_of(int64_t order_id) {
    Exchange x = api_.call("GET", "orders/" + std::to_string(order_id) + "/transactions.json");
    // The list is complete in one answer (an order holds at most 100 transactions).
    ListPage page = parse_list_page(x.response.status, x.response.header("Link"), x.response.body, "transactions", x.name);
    return json{{"transactions", page.items}};
}

std::vector<WriteResult> OrderInvoiceStatus::write(const std::vector<WriteItem>& items) {
    std::vector<WriteResult> results;
    results.reserve(items.size());
    for (const auto& item : items) {
        const std::string who = who_of(item.data, item.target_key);
        results.push_back(per_record(who, [&] { return write_one(item); }));
    }
    return results;
}

WriteResult OrderInvoiceStatus::write_one(const WriteItem& item) {
    const Invoice inv = invoice_of(item.data);
    auto order = find_order(item.data, item.target_key);
    if (!order) throw invalid("no such order in Shopify");
    const int64_t id = *id_number((*order)["id"]);
    const std::string base = "orders/" + std::to_string(id);
    bool wrote = false;

    for (const auto& w : plan_metafields(inv.metafields, metafields_of(id))) {
        json mf{{"namespace", kMetafieldNamespace}, {"key", w.value.key}, {"type", w.value.type}, {"value", w.value.value}};
        const bool create = w.existing_id == 0;
        if (!create) mf = json{{"id", w.existing_id}, {"type", w.value.type}, {"value", w.value.value}};
        Exchange x = create ? api_.send("POST", base + "/metafields.json", json{{"metafield", mf}})
                            : api_.send("PUT", base + "/metafields/" + std::to_string(w.existing_id) + ".json", json{{"metafield", mf}});
        WriteResult r = interpret_write(x.response.status, x.response.body, "metafield", create, x.name);
        if (r.status != PLEXUS_OK) return WriteResult::failed(r.status, w.value.key + " (metafield plexus." + w.value.key + "): " + r.message);
        wrote = true;
    }

    if (inv.paid) {
        const PaymentPlan plan = plan_payment(*order, transactions_of(id));
        if (!plan.refusal.empty()) return WriteResult::failed(PLEXUS_ERR_VALIDATION, plan.refusal);
        for (const auto& step : plan.steps) {
            json t{{"kind", step.kind}, {"amount", format_cents(step.amount_cents)}};
            if (!step.currency.empty()) t["currency"] = step.currency;
            if (step.parent_id) t["parent_id"] = step.parent_id;
            if (step.kind == "sale") t["source"] = "external";  // paid outside Shopify (the Intacct invoice)
            Exchange x = api_.send("POST", base + "/transactions.json", json{{"transaction", t}});
            WriteResult r = interpret_write(x.response.status, x.response.body, "transaction", true, x.name);
            if (r.status != PLEXUS_OK) return WriteResult::failed(r.status, "recording the payment (" + step.kind + " " + format_cents(step.amount_cents) + "): " + r.message);
            const json tx = json::parse(x.response.body, nullptr, false);
            const std::string status = tx.is_object() && tx.contains("transaction") ? tx["transaction"].value("status", "") : "";
            if (status == "failure" || status == "error")
                return WriteResult::failed(PLEXUS_ERR_VALIDATION, "Shopify declined the " + step.kind + " of " +
                                                                      format_cents(step.amount_cents) + " (transaction status " + status + ")");
            wrote = true;
        }
    }
    // The cursor: the order's updated_at after our writes.
    json now = wrote ? api_.get_object(base + ".json?fields=id%2Cupdated_at", "order") : *order;
    std::string cursor;
    if (auto t = parse_timestamp(now.value("updated_at", ""))) cursor = format_utc(*t);
    return WriteResult::ok(std::to_string(id), cursor);
}

LookupResult OrderInvoiceStatus::lookup(const LookupRequest& request) {
    std::optional<json> order;
    std::optional<Invoice> inv;
    try {
        order = find_order(request.key ? json::object() : request.data, request.key.value_or(""));
        if (!request.key) inv = invoice_of(request.data);
    } catch (const Error& e) {
        if (e.status() == PLEXUS_ERR_VALIDATION) return {};
        throw;
    }
    if (!order) return {};
    const int64_t id = *id_number((*order)["id"]);
    const json metafields = metafields_of(id);
    json data = *order;
    data["order_id"] = id;
    data["order_name"] = order->value("name", "");
    bool has_invoice = false;
    for (const auto& m : metafields["metafields"]) {
        if (m.value("namespace", "") != kMetafieldNamespace) continue;
        const std::string key = m.value("key", "");
        if (key == "invoice_number" || key == "invoice_date" || key == "invoice_state" || key == "amount_due") {
            data[key] = m["value"];
            has_invoice = has_invoice || key == "invoice_number";
        }
    }
    if (!has_invoice) return {};
    if (inv) {
        // After an interrupted create: "there" only when the write has nothing left to do.
        if (!plan_metafields(inv->metafields, metafields).empty()) return {};
        if (inv->paid) {
            const PaymentPlan plan = plan_payment(*order, transactions_of(id));
            if (!plan.steps.empty() || !plan.refusal.empty()) return {};
        }
    }
    return found_record(std::move(data), std::to_string(id));
}

}  // namespace plexus::shopify
