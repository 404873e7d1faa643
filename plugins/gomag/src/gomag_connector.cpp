// The Gomag connector: the Public API (api.gomag.ro/api/v1) through the host's HTTP client
// only. Reads: products (incremental by updated day), orders (incremental by updated day,
// from a start date, of chosen statuses), categories and customers (full passes). Writes:
// products (create/patch by SKU, ≤25 per request, a refused product isolated by halving the
// request), stock_prices (product/inventory, ≤1000 per request, per-item results), categories
// (write/patch), order_status (one per request) and invoices (generate, once per order).
//
// Idempotency, per entity (what a repeated create after a crash finds):
//  - products: lookup by SKU (product/read?sku=); Gomag identifies products by SKU, so the
//    host adopts the product an interrupted create made, and updates it by SKU.
//  - stock_prices, order_status: absolute values; writing them again changes nothing.
//  - categories: lookup by name under the same parent; a create of an existing name
//    answers conflict, so the host updates that category instead of making a second.
//  - invoices: the order is read before generating; an order with an invoice is adopted.
#include "gomag_api.hpp"
#include "gomag_manifest.hpp"
#include "gomag_wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::gomag {

using plexus::sdk::Error;
using plexus::sdk::LookupRequest;
using plexus::sdk::LookupResult;
using plexus::sdk::ReadPage;
using plexus::sdk::ReadRequest;
using plexus::sdk::Record;
using plexus::sdk::WriteItem;
using plexus::sdk::WriteOp;
using plexus::sdk::WriteResult;

namespace {

Error invalid(const std::string& m) { return Error(PLEXUS_ERR_VALIDATION, m); }

std::string setting_text(const json& s, const char* name) {
    auto it = s.find(name);
    return it != s.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The pages a read answer reports (Gomag sends "pages" as a number or a string).
int64_t pages_of(const json& body) {
    if (!body.is_object() || !body.contains("pages")) return 1;
    return integer_of(body["pages"]).value_or(1);
}

// Where the next read of a pass over orders or a list starts, after `taken` of the API
// page's `count` items: further in the same API page, or at the start of the next one
// (`pages` in all). False when the pass has read everything; the caller resets the cursor.
bool advance(OrderCursor& c, size_t taken, size_t count, int64_t pages) {
    if (taken < count) {
        c.o = static_cast<int64_t>(taken);
        return true;
    }
    if (c.p < pages && count > 0) {
        ++c.p;
        c.o = 0;
        return true;
    }
    return false;
}

// A product as Gomag's write takes it, from the mapped record (see the manifest).
json product_document(const json& data, const std::string& currency, bool create) {
    if (!data.is_object()) throw invalid("the mapped record is not a JSON object");
    json p = data;
    for (const char* f : {"id", "updated", "created", "url", "canonical_url", "parent", "parent_sku"}) p.erase(f);
    if (!p.contains("versions") || !p["versions"].is_array() || p["versions"].empty()) {
        json v = json::object();
        for (const char* f : {"sku", "price", "stock", "stockStatus", "ean", "weight", "specialPrice", "listPrice",
                              "stockManagement"})
            if (p.contains(f)) {
                v[f] = p[f];
                p.erase(f);
            }
        if (v.contains("stock_status")) v["stockStatus"] = v["stock_status"];
        p["versions"] = json::array({v});
    }
    for (auto& v : p["versions"]) {
        if (!v.is_object()) throw invalid("versions holds a non-object");
        if (create) {  // Gomag requires stock and stockStatus on create; stock comes by stock_prices
            if (!v.contains("stock")) v["stock"] = 0;
            if (!v.contains("stockStatus"))
                v["stockStatus"] = number_of(v["stock"]).value_or(0) > 0 ? "instock" : "notinstock";
        }
    }
    if (create && !p.contains("currency")) p["currency"] = currency;
    if (p.contains("categories") && p["categories"].is_string()) {
        json path = json::array();
        const std::string s = p["categories"].get<std::string>();
        size_t pos = 0;
        while (pos <= s.size()) {
            size_t slash = s.find('/', pos);
            if (slash == std::string::npos) slash = s.size();
            std::string part = s.substr(pos, slash - pos);
            while (!part.empty() && part.front() == ' ') part.erase(0, 1);
            while (!part.empty() && part.back() == ' ') part.pop_back();
            if (!part.empty()) path.push_back(part);
            pos = slash + 1;
        }
        p["categories"] = json::array({path});
    }
    return p;
}

std::string first_sku(const json& product) {
    if (product.contains("versions") && product["versions"].is_array())
        for (const auto& v : product["versions"])
            if (v.is_object() && v.contains("sku")) {
                const std::string s = text_of(v["sku"]);
                if (!s.empty()) return s;
            }
    return product.is_object() && product.contains("sku") ? text_of(product["sku"]) : std::string();
}

}  // namespace

class GomagConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "gomag";
    static constexpr const char* version = "0.1.0";
    static constexpr const char* manifest = kManifest;

    GomagConnector(plexus::sdk::Host& host, const json& s)
        : api_(host, s.value("base_url", std::string("https://api.gomag.ro")), setting_text(s, "api_key"),
               setting_text(s, "shop_url"), s.value("user_agent", std::string("Plexus-Gomag/0.1"))) {
        if (setting_text(s, "api_key").empty()) throw Error(PLEXUS_ERR_CONFIG, "api_key is empty");
        if (setting_text(s, "shop_url").empty())
            throw Error(PLEXUS_ERR_CONFIG, "shop_url is empty (the shop's URL, e.g. https://www.myshop.ro)");
        const std::string ua = s.value("user_agent", std::string("Plexus-Gomag/0.1"));
        if (ua.empty() || ua.rfind("PostmanRuntime/", 0) == 0)
            throw Error(PLEXUS_ERR_CONFIG, "user_agent \"" + ua + "\": Gomag refuses an empty one and PostmanRuntime/…");
        currency_ = s.value("currency", std::string("RON"));
        page_size_ = s.value("page_size", int64_t{100});
        batch_ = s.value("write_batch_size", int64_t{25});
        inventory_batch_ = s.value("inventory_batch_size", int64_t{1000});
        if (page_size_ < 1 || page_size_ > 100)
            throw Error(PLEXUS_ERR_CONFIG, "page_size is " + std::to_string(page_size_) + "; Gomag reads 1 to 100 per request");
        if (batch_ < 1 || batch_ > 25)
            throw Error(PLEXUS_ERR_CONFIG, "write_batch_size is " + std::to_string(batch_) + "; Gomag takes 1 to 25 products per request");
        if (inventory_batch_ < 1 || inventory_batch_ > 1000)
            throw Error(PLEXUS_ERR_CONFIG, "inventory_batch_size is " + std::to_string(inventory_batch_) +
                                               "; Gomag takes 1 to 1000 items per inventory request");
        start_date_ = setting_text(s, "orders_start_date");
        if (!start_date_.empty() && (start_date_.size() != 10 || !date_of(start_date_)))
            throw Error(PLEXUS_ERR_CONFIG, "orders_start_date \"" + start_date_ + "\" is not YYYY-MM-DD");
        if (auto it = s.find("order_status_ids"); it != s.end() && it->is_array())
            for (const auto& x : *it) {
                auto n = integer_of(x);
                if (!n || *n <= 0) throw Error(PLEXUS_ERR_CONFIG, "order_status_ids holds " + x.dump() + ", not a status id");
                status_ids_ += (status_ids_.empty() ? "" : ",") + std::to_string(*n);
            }
        order_work_point_ = setting_text(s, "order_work_point");
        stock_work_point_ = setting_text(s, "stock_work_point");
    }

    void check() override {
        json statuses = api_.get("order/status/read/json", {});
        if (!statuses.is_array() && !statuses.is_object())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from Gomag on GET /api/v1/order/status/read/json");
    }

    ReadPage read(const ReadRequest& r) override {
        if (r.entity == "products") return read_products(r);
        if (r.entity == "orders") return read_orders(r);
        if (r.entity == "customers") return read_full(r, "customer/read/json", "customers", true);
        // category/read answers every category at once and documents no page parameter
        if (r.entity == "categories") return read_full(r, "category/read/json", "categories", false);
        throw Error(PLEXUS_ERR_CONFIG, "entity \"" + r.entity + "\" cannot be read (products, orders, customers, categories)");
    }

    std::vector<WriteResult> write(const std::string& entity, const std::vector<WriteItem>& items) override {
        if (entity == "products") return write_products(items);
        if (entity == "stock_prices") return write_stock(items);
        if (entity == "categories") return write_categories(items);
        if (entity == "order_status") return write_order_status(items);
        if (entity == "invoices") return write_invoices(items);
        throw Error(PLEXUS_ERR_CONFIG, "entity \"" + entity + "\" cannot be written (products, stock_prices, categories, order_status, invoices)");
    }

    LookupResult lookup(const LookupRequest& r) override {
        if (r.entity == "products" || r.entity == "stock_prices") {
            std::string sku = r.key.value_or("");
            if (sku.empty() && r.data.is_object()) sku = first_sku(r.data.contains("versions") ? r.data : product_document(r.data, currency_, false));
            if (sku.empty()) return {};
            auto p = product_by_sku(sku);
            if (!p) return {};
            LookupResult out;
            out.found = true;
            out.matches = 1;
            out.record.key = sku;
            out.record.cursor = cursor_time(p->value("updated", ""));
            out.record.data = std::move(*p);
            return out;
        }
        if (r.entity == "categories") return lookup_category(r);
        if (r.entity == "customers") {
            // By Gomag's customer id (an order's billing.customerId): how a process that syncs
            // an order's customer first (a dependency) reads that one customer.
            std::string id = r.key.value_or("");
            if (id.empty() && r.data.is_object() && r.data.contains("id")) id = text_of(r.data["id"]);
            if (id.empty() || id == "0") return {};  // 0: a guest order, no customer account
            auto c = customer_by_id(id);
            if (!c) return {};
            LookupResult out;
            out.found = true;
            out.matches = 1;
            out.record.key = id;
            out.record.data = std::move(*c);
            return out;
        }
        if (r.entity == "order_status") {
            const std::string number = r.data.is_object() && r.data.contains("number") ? text_of(r.data["number"]) : "";
            if (number.empty()) return {};  // setting a status again is harmless: the host sets it
            auto o = order_by_number(number);
            if (!o) return {};
            LookupResult out;
            out.found = true;
            out.record.key = text_of((*o)["id"]);
            out.record.data = {{"order", out.record.key}, {"status", integer_of((*o)["statusId"]).value_or(0)}, {"number", number}};
            return out;
        }
        if (r.entity == "invoices") {
            std::string number = r.key.value_or("");
            if (number.empty() && r.data.is_object() && r.data.contains("orderNumber")) number = text_of(r.data["orderNumber"]);
            if (number.empty()) return {};
            auto o = order_by_number(number);
            if (!o || !has_invoice(*o)) return {};
            LookupResult out;
            out.found = true;
            out.matches = 1;
            out.record.key = number;
            out.record.data = invoice_record(*o);
            return out;
        }
        throw Error(PLEXUS_ERR_CONFIG, "entity \"" + r.entity + "\" has no lookup");
    }

private:
    // ---- reads ----------------------------------------------------------------------------

    ReadPage read_products(const ReadRequest& r) {
        UpdatedCursor c = UpdatedCursor::decode(r.cursor.value_or(""));
        if ((!r.cursor || r.cursor->empty()) && r.since && !r.since->empty()) {
            auto day = date_of(*r.since);
            if (!day) throw Error(PLEXUS_ERR_CONFIG, "since \"" + *r.since + "\" does not start with YYYY-MM-DD");
            c.w = *day + "T00:00:00";
            c.k.clear();
            c.d = *day;
        }
        if (c.p == 0) {  // a new set: every product changed on or after the watermark's day
            c.p = 1;
            c.l = std::clamp<int64_t>(static_cast<int64_t>(std::min<size_t>(r.limit, 100)), 1, page_size_);
            if (!c.w.empty()) c.d = c.w.substr(0, 10);
        }
        Params q;
        if (!c.d.empty()) q.emplace_back("updated", c.d);
        q.emplace_back("page", std::to_string(c.p));
        q.emplace_back("limit", std::to_string(c.l));
        json body = api_.get("product/read/json", q);
        ReadPage out;
        for (auto& [key_text, item] : collection_items(body.value("products", json::array()))) {
            std::string sku = item.contains("sku") ? text_of(item["sku"]) : "";
            const std::string key = sku.empty() ? "id:" + key_text : sku;
            const std::string updated = cursor_time(item.contains("updated") ? text_of(item["updated"]) : "");
            c.see(key, updated);
            if (!updated.empty() && !c.is_new(key, updated)) continue;
            Record rec;
            rec.key = key;
            rec.cursor = updated;
            if (!item.contains("id")) item["id"] = key_text;
            rec.data = std::move(item);
            out.records.push_back(std::move(rec));
        }
        std::stable_sort(out.records.begin(), out.records.end(),
                         [](const Record& a, const Record& b) { return a.cursor < b.cursor; });
        const int64_t pages = pages_of(body);
        if (c.p < pages && !collection_items(body.value("products", json::array())).empty()) {
            ++c.p;
            out.has_more = true;
        } else {
            c.finish_set();
            out.has_more = false;
        }
        out.next_cursor = c.encode();
        return out;
    }

    ReadPage read_orders(const ReadRequest& r) {
        OrderCursor c = OrderCursor::decode(r.cursor.value_or(""));
        if (c.p == 0) {  // a new set
            c.p = 1;
            c.o = 0;
            if (!r.cursor || r.cursor->empty() || c.n.empty()) {
                std::string from = start_date_;
                if (r.since && !r.since->empty()) {
                    auto day = date_of(*r.since);
                    if (!day) throw Error(PLEXUS_ERR_CONFIG, "since \"" + *r.since + "\" does not start with YYYY-MM-DD");
                    from = std::max(*day, start_date_);
                }
                c.s = from;
                c.u.clear();
            } else {
                c.s.clear();
                c.u = c.n;
            }
            // Orders changed from now on are in the next set: it asks for today's (UTC) day,
            // never later than the shop's own (Romania is ahead of UTC).
            c.n = utc_date(api_.host().now_ms());
        }
        Params q;
        if (!c.s.empty()) q.emplace_back("startDate", c.s);
        if (!c.u.empty()) q.emplace_back("updated", c.u);
        if (!status_ids_.empty()) q.emplace_back("statusIds", status_ids_);
        q.emplace_back("page", std::to_string(c.p));
        json body = api_.get("order/read/json", q);
        auto items = collection_items(body.value("orders", json::array()));
        ReadPage out;
        const size_t limit = std::max<size_t>(1, r.limit);
        size_t i = static_cast<size_t>(std::max<int64_t>(0, c.o));
        for (; i < items.size() && out.records.size() < limit; ++i) {
            auto& [key_text, order] = items[i];
            // Orders registered before the start date never enter, whatever changed on them.
            const std::string date = order.contains("date") ? text_of(order["date"]) : "";
            if (!start_date_.empty() && !date.empty() && date.substr(0, 10) < start_date_) continue;
            Record rec;
            rec.key = order.contains("id") ? text_of(order["id"]) : key_text;
            rec.cursor = cursor_time(date);
            if (!order.contains("id")) order["id"] = key_text;
            if (!order_work_point_.empty()) order["work_point"] = order_work_point_;
            rec.data = std::move(order);
            out.records.push_back(std::move(rec));
        }
        std::stable_sort(out.records.begin(), out.records.end(),
                         [](const Record& a, const Record& b) { return a.cursor < b.cursor; });
        out.has_more = advance(c, i, items.size(), pages_of(body));
        if (!out.has_more) {
            c.p = 0;
            c.o = 0;
            c.s.clear();
            c.u.clear();
        }
        out.next_cursor = c.encode();
        return out;
    }

    // A full pass over a list without a change filter; the cursor is the page (and offset)
    // within the pass; a finished pass starts over next run.
    ReadPage read_full(const ReadRequest& r, const std::string& path, const std::string& plural, bool paged) {
        OrderCursor c = OrderCursor::decode(r.cursor.value_or(""));
        if (c.p == 0) c.p = 1;
        json body = api_.get(path, paged ? Params{{"page", std::to_string(c.p)}} : Params{});
        auto items = collection_items(body.value(plural, json::array()));
        ReadPage out;
        const size_t limit = std::max<size_t>(1, r.limit);
        size_t i = static_cast<size_t>(std::max<int64_t>(0, c.o));
        for (; i < items.size() && out.records.size() < limit; ++i) {
            auto& [key_text, item] = items[i];
            Record rec;
            rec.key = item.contains("id") ? text_of(item["id"]) : key_text;
            if (!item.contains("id")) item["id"] = key_text;
            rec.data = std::move(item);
            out.records.push_back(std::move(rec));
        }
        out.has_more = advance(c, i, items.size(), pages_of(body));
        if (!out.has_more) c = OrderCursor{};
        out.next_cursor = c.encode();
        if (out.next_cursor == "{}") out.next_cursor = "{\"p\":1}";  // not empty: the host keeps empty cursors as "no move"
        return out;
    }

    // ---- lookups by natural key --------------------------------------------------------------

    std::optional<json> product_by_sku(const std::string& sku) {
        json body = api_.get("product/read/json", {{"sku", sku}});
        for (auto& [k, p] : collection_items(body.value("products", json::array())))
            if (p.contains("sku") && text_of(p["sku"]) == sku) {
                if (!p.contains("id")) p["id"] = k;
                return p;
            }
        return std::nullopt;
    }

    std::optional<json> customer_by_id(const std::string& id) {
        json body = api_.get("customer/read/json", {{"customer", id}});
        for (auto& [k, c] : collection_items(body.value("customers", json::array()))) {
            const std::string key = c.contains("id") ? text_of(c["id"]) : k;
            if (key != id) continue;
            c["id"] = key;
            return c;
        }
        return std::nullopt;
    }

    std::optional<json> order_by_number(const std::string& number) {
        json body = api_.get("order/read/json", {{"number", number}});
        for (auto& [k, o] : collection_items(body.value("orders", json::array())))
            if (o.contains("number") && text_of(o["number"]) == number) {
                if (!o.contains("id")) o["id"] = k;
                return o;
            }
        return std::nullopt;
    }

    static bool has_invoice(const json& order) {
        if (!order.contains("invoice") || !order["invoice"].is_object()) return false;
        const std::string n = text_of(order["invoice"].value("number", json("")));
        return !n.empty() && n != "0";
    }
    static json invoice_record(const json& order) {
        const json& inv = order["invoice"];
        return {{"order", text_of(order["id"])}, {"orderNumber", text_of(order["number"])},
                {"invoiceSeries", text_of(inv.value("series", json("")))}, {"invoiceNumber", text_of(inv.value("number", json("")))},
                {"invoiceDate", text_of(inv.value("date", json("")))}};
    }

    // ---- writes -----------------------------------------------------------------------------

    // Sends records[idx…] as one request; a business error of the whole request is pinned on
    // the one record it concerns by halving the request until one record is left (Gomag
    // answers a batch with one error, not one per product). `send` builds and posts the
    // request for the given indexes and returns the Verdict; `accept` turns a successful
    // answer into results (it may fail single items that the answer marks).
    void isolate(const std::vector<size_t>& idx, std::vector<WriteResult>& results,
                 const std::function<Verdict(const std::vector<size_t>&)>& send,
                 const std::function<void(const std::vector<size_t>&, const json&)>& accept,
                 const std::function<std::string(size_t)>& who,
                 const std::function<std::vector<size_t>(const std::vector<size_t>&, const std::string&)>& narrow = {}) {
        if (idx.empty()) return;
        Verdict v;
        try {
            v = send(idx);
        } catch (const Error& e) {
            if (stops_run(e.status())) throw;
            for (size_t i : idx) results[i] = WriteResult::failed(e.status(), who(i) + ": " + e.what());
            return;
        }
        if (v.status == PLEXUS_OK) {
            accept(idx, v.body);
            return;
        }
        if (idx.size() == 1) {
            const std::string& m = v.message;
            const bool exists = m.find("EXIST") != std::string::npos || m.find("exist") != std::string::npos;
            results[idx[0]] = WriteResult::failed(exists ? PLEXUS_ERR_CONFLICT : PLEXUS_ERR_VALIDATION, who(idx[0]) + ": " + m);
            return;
        }
        // Once per request: `narrow` may settle some records from the refusal's text (creates
        // of SKUs the shop has) and hand back the rest, sent again without halving.
        if (narrow) {
            std::vector<size_t> rest = narrow(idx, v.message);
            if (rest.size() < idx.size()) {
                isolate(rest, results, send, accept, who);
                return;
            }
        }
        const size_t half = idx.size() / 2;
        isolate(std::vector<size_t>(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(half)), results, send, accept, who);
        isolate(std::vector<size_t>(idx.begin() + static_cast<std::ptrdiff_t>(half), idx.end()), results, send, accept, who);
    }

    std::vector<WriteResult> write_products(const std::vector<WriteItem>& items) {
        std::vector<WriteResult> results(items.size(), WriteResult::failed(PLEXUS_ERR_PLUGIN, "not written"));
        std::vector<json> docs(items.size());
        std::vector<std::string> skus(items.size());
        std::vector<size_t> creates, updates;
        for (size_t i = 0; i < items.size(); ++i) {
            const bool create = items[i].op == WriteOp::Create;
            try {
                docs[i] = product_document(items[i].data, currency_, create);
                if (!create) {
                    if (items[i].target_key.empty()) throw invalid("update without a target key (the SKU)");
                    // Gomag patches by SKU: the ledger's SKU (the one the product was created
                    // or adopted with) names it, whatever the source maps now.
                    if (docs[i]["versions"].size() == 1 || first_sku(docs[i]).empty())
                        docs[i]["versions"][0]["sku"] = items[i].target_key;
                }
                skus[i] = first_sku(docs[i]);
                if (skus[i].empty()) throw invalid("no sku (Gomag identifies products by versions[].sku)");
                (create ? creates : updates).push_back(i);
            } catch (const Error& e) {
                results[i] = WriteResult::failed(e.status(), "product" + (skus[i].empty() ? "" : " " + skus[i]) + ": " + e.what());
            }
        }
        auto who = [&](size_t i) { return "product " + skus[i]; };
        for (const auto* group : {&creates, &updates}) {
            const std::string path = group == &creates ? "product/write/json" : "product/patch/json";
            auto send = [&](const std::vector<size_t>& idx) {
                json data = json::array();
                for (size_t i : idx) data.push_back(docs[i]);
                return api_.post(path, "data", data);
            };
            auto accept = [&](const std::vector<size_t>& idx, const json& body) {
                // Per-product marks, when the answer carries them (status/errorMessage).
                const json echo = body.value("data", json::array());
                for (size_t n = 0; n < idx.size(); ++n) {
                    const size_t i = idx[n];
                    const json* mark = echo.is_array() && n < echo.size() ? &echo[n] : nullptr;
                    if (mark && mark->is_object() && mark->contains("status") && text_of((*mark)["status"]) != "200") {
                        const std::string m = text_of(mark->value("errorMessage", json(""))) ;
                        results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, who(i) + ": Gomag refused it: status " +
                                                                                  text_of((*mark)["status"]) + (m.empty() ? "" : " " + m));
                    } else {
                        results[i] = WriteResult::ok(skus[i]);
                    }
                }
            };
            // A create request refused because products exist already (an initial sync into a
            // shop that has part of the catalogue): each SKU is read (the read bucket, burst 40)
            // and those the shop has answer conflict — the host adopts and updates them — instead
            // of halving the request down to each of them (about two writes per product, at
            // Gomag's 1 write/s).
            auto narrow = [&](const std::vector<size_t>& idx, const std::string& message) {
                std::vector<size_t> rest;
                if (message.find("EXIST") == std::string::npos && message.find("exist") == std::string::npos) return idx;
                std::vector<size_t> existing;
                try {
                    for (size_t i : idx) (product_by_sku(skus[i]) ? existing : rest).push_back(i);
                } catch (const Error& e) {
                    if (stops_run(e.status())) throw;
                    return idx;  // the reads failed: halving finds them instead
                }
                for (size_t i : existing)
                    results[i] = WriteResult::failed(PLEXUS_ERR_CONFLICT, who(i) + ": the shop has this SKU already");
                return rest;
            };
            for (size_t at = 0; at < group->size(); at += static_cast<size_t>(batch_)) {
                const size_t end = std::min(group->size(), at + static_cast<size_t>(batch_));
                std::vector<size_t> chunk(group->begin() + static_cast<std::ptrdiff_t>(at), group->begin() + static_cast<std::ptrdiff_t>(end));
                if (group == &creates) isolate(chunk, results, send, accept, who, narrow);
                else isolate(chunk, results, send, accept, who);
            }
        }
        return results;
    }

    std::vector<WriteResult> write_stock(const std::vector<WriteItem>& items) {
        std::vector<WriteResult> results(items.size(), WriteResult::failed(PLEXUS_ERR_PLUGIN, "not written"));
        std::vector<json> docs(items.size());
        std::vector<std::string> skus(items.size());
        std::vector<size_t> todo;
        for (size_t i = 0; i < items.size(); ++i) {
            const json& d = items[i].data;
            if (!d.is_object()) {
                results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "stock: the mapped record is not a JSON object");
                continue;
            }
            skus[i] = d.contains("sku") ? text_of(d["sku"]) : "";
            if (skus[i].empty()) skus[i] = items[i].target_key;
            if (skus[i].empty()) {
                results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "stock: no sku");
                continue;
            }
            const std::string wp = d.contains("work_point") ? text_of(d["work_point"]) : "";
            if (!stock_work_point_.empty() && !wp.empty() && wp != stock_work_point_) {
                results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "stock of SKU " + skus[i] + " is from work point \"" + wp +
                                                                           "\"; this connection sends work point \"" + stock_work_point_ +
                                                                           "\" (setting stock_work_point): filter the process's source by it");
                continue;
            }
            json doc = d;
            doc.erase("work_point");
            doc.erase("ean");  // identified by SKU, always
            doc["sku"] = skus[i];
            if (doc.size() < 2) {
                results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "stock of SKU " + skus[i] + ": nothing to set (no stock, price …)");
                continue;
            }
            docs[i] = std::move(doc);
            todo.push_back(i);
        }
        auto who = [&](size_t i) { return "stock of SKU " + skus[i]; };
        auto send = [&](const std::vector<size_t>& idx) {
            json products = json::array();
            for (size_t i : idx) products.push_back(docs[i]);
            return api_.post("product/inventory/json", "data", json{{"products", products}});
        };
        auto accept = [&](const std::vector<size_t>& idx, const json& body) {
            // data: {"": [{sku, ean, status[, errorMessage]}]}: matched by SKU, in order.
            std::vector<json> marks;
            const json data = body.value("data", json::object());
            if (data.is_object())
                for (const auto& [k, list] : data.items())
                    if (list.is_array())
                        for (const auto& m : list) marks.push_back(m);
            std::vector<bool> used(marks.size(), false);
            for (size_t i : idx) {
                const json* mark = nullptr;
                for (size_t m = 0; m < marks.size(); ++m)
                    if (!used[m] && marks[m].is_object() && text_of(marks[m].value("sku", json(""))) == skus[i]) {
                        used[m] = true;
                        mark = &marks[m];
                        break;
                    }
                const std::string st = mark ? text_of(mark->value("status", json("200"))) : "200";
                if (st == "200") {
                    results[i] = WriteResult::ok(skus[i]);
                } else {
                    const std::string m = text_of(mark->value("errorMessage", json("")));
                    results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                                     who(i) + ": Gomag refused it: status " + st + (m.empty() ? "" : " " + m) +
                                                         (m == "MISSING_ITEMS" ? " (the shop has no product with this SKU)" : ""));
                }
            }
        };
        for (size_t at = 0; at < todo.size(); at += static_cast<size_t>(inventory_batch_)) {
            const size_t end = std::min(todo.size(), at + static_cast<size_t>(inventory_batch_));
            isolate(std::vector<size_t>(todo.begin() + static_cast<std::ptrdiff_t>(at), todo.begin() + static_cast<std::ptrdiff_t>(end)),
                    results, send, accept, who);
        }
        return results;
    }

    // Categories, read once per instance (category/read answers them all) and refreshed after
    // a write. name|parent_id → id.
    const std::vector<std::pair<std::string, json>>& categories(bool refresh) {
        if (refresh || !categories_) {
            json body = api_.get("category/read/json", {});
            categories_ = collection_items(body.value("categories", json::array()));
        }
        return *categories_;
    }
    static std::string parent_of(const json& c) {
        if (c.contains("parent_id")) return text_of(c["parent_id"]);
        // As read: parents is {} / [] for a top-level category, else keyed by id, the nearest last.
        std::string last;
        if (c.contains("parents") && (c["parents"].is_object() || c["parents"].is_array()))
            for (const auto& [k, p] : collection_items(c["parents"])) last = k;
        return last == "0" ? "" : last;
    }
    std::optional<std::pair<std::string, json>> category_named(const std::string& name, const std::string& parent, bool refresh) {
        for (const auto& [k, c] : categories(refresh))
            if (text_of(c.value("name", json(""))) == name && parent_of(c) == parent) return std::make_pair(k, c);
        return std::nullopt;
    }

    LookupResult lookup_category(const LookupRequest& r) {
        std::optional<std::pair<std::string, json>> hit;
        if (r.key && !r.key->empty()) {
            for (const auto& [k, c] : categories(false))
                if (k == *r.key) hit = std::make_pair(k, c);
        } else if (r.data.is_object() && r.data.contains("name")) {
            hit = category_named(text_of(r.data["name"]), r.data.contains("parent_id") ? text_of(r.data["parent_id"]) : "", false);
        }
        if (!hit) return {};
        LookupResult out;
        out.found = true;
        out.matches = 1;
        out.record.key = hit->first;
        out.record.data = hit->second;
        return out;
    }

    std::vector<WriteResult> write_categories(const std::vector<WriteItem>& items) {
        std::vector<WriteResult> results(items.size(), WriteResult::failed(PLEXUS_ERR_PLUGIN, "not written"));
        std::vector<json> docs(items.size());
        std::vector<std::string> names(items.size()), parents(items.size());
        std::vector<size_t> creates, updates;
        for (size_t i = 0; i < items.size(); ++i) {
            const json& d = items[i].data;
            if (!d.is_object()) {
                results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "category: the mapped record is not a JSON object");
                continue;
            }
            json doc = d;
            for (const char* f : {"depth", "parents"}) doc.erase(f);
            names[i] = doc.contains("name") ? text_of(doc["name"]) : "";
            parents[i] = doc.contains("parent_id") ? text_of(doc["parent_id"]) : "";
            if (items[i].op == WriteOp::Create) {
                doc.erase("id");
                if (names[i].empty()) {
                    results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "category: no name");
                    continue;
                }
                try {
                    if (category_named(names[i], parents[i], false)) {
                        results[i] = WriteResult::failed(PLEXUS_ERR_CONFLICT, "category \"" + names[i] + "\" exists already under that parent");
                        continue;
                    }
                } catch (const Error& e) {
                    if (stops_run(e.status())) throw;
                    results[i] = WriteResult::failed(e.status(), "category \"" + names[i] + "\": " + e.what());
                    continue;
                }
                creates.push_back(i);
            } else {
                if (items[i].target_key.empty()) {
                    results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, "category: update without a target key (the id)");
                    continue;
                }
                doc["id"] = items[i].target_key;
                updates.push_back(i);
            }
            docs[i] = std::move(doc);
        }
        auto who = [&](size_t i) {
            return "category " + (items[i].op == WriteOp::Create ? "\"" + names[i] + "\"" : items[i].target_key);
        };
        for (const auto* group : {&creates, &updates}) {
            const bool create = group == &creates;
            auto send = [&](const std::vector<size_t>& idx) {
                json list = json::array();
                for (size_t i : idx) list.push_back(docs[i]);
                return api_.post(create ? "category/write/json" : "category/patch/json", "data", json{{"categories", list}});
            };
            auto accept = [&](const std::vector<size_t>& idx, const json& body) {
                // data.categories: keyed by name (write) or id (patch) → [{status, errorMessage}]
                const json marks = body.value("data", json::object()).value("categories", json::object());
                bool fresh = false;
                for (size_t i : idx) {
                    const std::string mark_key = create ? names[i] : items[i].target_key;
                    std::string st = "200", m;
                    if (marks.is_object() && marks.contains(mark_key) && marks[mark_key].is_array() && !marks[mark_key].empty()) {
                        st = text_of(marks[mark_key][0].value("status", json("200")));
                        m = text_of(marks[mark_key][0].value("errorMessage", json("")));
                    }
                    if (st != "200") {
                        results[i] = WriteResult::failed(PLEXUS_ERR_VALIDATION, who(i) + ": Gomag refused it: status " + st + (m.empty() ? "" : " " + m));
                        continue;
                    }
                    if (!create) {
                        results[i] = WriteResult::ok(items[i].target_key);
                        continue;
                    }
                    // category/write answers no id: read the list again and find it by name.
                    auto hit = category_named(names[i], parents[i], !fresh);
                    fresh = true;
                    results[i] = hit ? WriteResult::ok(hit->first)
                                     : WriteResult::failed(PLEXUS_ERR_TRANSIENT, who(i) + ": Gomag accepted it, but it is not in category/read yet");
                }
            };
            for (size_t at = 0; at < group->size(); at += 25) {
                const size_t end = std::min(group->size(), at + 25);
                isolate(std::vector<size_t>(group->begin() + static_cast<std::ptrdiff_t>(at), group->begin() + static_cast<std::ptrdiff_t>(end)),
                        results, send, accept, who);
            }
        }
        return results;
    }

    std::vector<WriteResult> write_order_status(const std::vector<WriteItem>& items) {
        std::vector<WriteResult> results;
        results.reserve(items.size());
        for (const auto& item : items) {
            const json& d = item.data;
            const std::string order = d.is_object() && d.contains("order") ? text_of(d["order"]) : item.target_key;
            const int64_t oid = integer_of(json(order)).value_or(0);
            const int64_t sid = d.is_object() && d.contains("status") ? integer_of(d["status"]).value_or(0) : 0;
            const std::string who = "order " + (order.empty() ? std::string("?") : order);
            if (oid <= 0) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, who + ": order is not a Gomag order id"));
                continue;
            }
            if (sid <= 0) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, who + ": status is not a status id (order/status/read lists them)"));
                continue;
            }
            try {
                json one = json::object();
                one["order"] = oid;
                one["status"] = sid;
                Verdict v = api_.post("order/status/json", "data", json{{"orders", json::array({one})}});
                results.push_back(v.status == PLEXUS_OK ? WriteResult::ok(std::to_string(oid))
                                                        : WriteResult::failed(v.status, who + ": " + v.message));
            } catch (const Error& e) {
                if (stops_run(e.status())) throw;
                results.push_back(WriteResult::failed(e.status(), who + ": " + e.what()));
            }
        }
        return results;
    }

    std::vector<WriteResult> write_invoices(const std::vector<WriteItem>& items) {
        std::vector<WriteResult> results;
        results.reserve(items.size());
        for (const auto& item : items) {
            const json& d = item.data;
            std::string number = d.is_object() && d.contains("orderNumber") ? text_of(d["orderNumber"]) : "";
            if (number.empty()) number = item.target_key;
            const std::string type = d.is_object() && d.contains("type") ? text_of(d["type"]) : "invoice";
            const std::string who = "invoice of order " + (number.empty() ? std::string("?") : number);
            if (number.empty()) {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "invoice: no orderNumber"));
                continue;
            }
            if (type != "invoice") {
                results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, who + ": type \"" + type +
                                                                                 "\" is not generated (only invoice can be checked for before generating)"));
                continue;
            }
            try {
                auto order = order_by_number(number);
                if (!order) {
                    results.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, who + ": the shop has no order with this number"));
                    continue;
                }
                if (has_invoice(*order)) {  // generated before (by us before a crash, or by hand)
                    results.push_back(WriteResult::ok(number));
                    continue;
                }
                Verdict v = api_.post("invoice/generate/json", "invoice", json{{"order", text_of((*order)["id"])}, {"type", "invoice"}});
                if (v.status != PLEXUS_OK) {
                    results.push_back(WriteResult::failed(v.status, who + ": " + v.message));
                } else if (!v.body.is_object() || text_of(v.body.value("invoiceNumber", json(""))).empty()) {
                    results.push_back(WriteResult::failed(PLEXUS_ERR_TRANSIENT, who + ": Gomag's answer names no invoiceNumber"));
                } else {
                    results.push_back(WriteResult::ok(number));
                }
            } catch (const Error& e) {
                if (stops_run(e.status())) throw;
                results.push_back(WriteResult::failed(e.status(), who + ": " + e.what()));
            }
        }
        return results;
    }

    GomagApi api_;
    std::string currency_;
    int64_t page_size_ = 100, batch_ = 25, inventory_batch_ = 1000;
    std::string start_date_, status_ids_, order_work_point_, stock_work_point_;
    std::optional<std::vector<std::pair<std::string, json>>> categories_;
};

}  // namespace plexus::gomag

PLEXUS_EXPORT_CONNECTOR(plexus::gomag::GomagConnector)
