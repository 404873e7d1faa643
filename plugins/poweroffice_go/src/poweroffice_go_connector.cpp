// The PowerOffice Go connector: API v2 through the host's HTTP client only (go_api.cpp).
// Entities: customers, products, product_stock, sales_orders (created complete and invoiced),
// sales_vouchers (sales as manual journal vouchers with a customer sub-ledger line) and
// outgoing_invoices (balance: paid or not). How each create stays single after a crash is in
// README.md, "Idempotency"; the comments at each write say it again briefly.
#include "go_api.hpp"
#include "wire.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace plexus::pogo {

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

// A readable entity: its list path, the field that orders changes, the filter that reads
// changes after a time, and the fields asked for (empty: all).
struct ReadSpec {
    const char* path;
    const char* key;
    const char* cursor_field;
    const char* changed_filter;
    const char* fields;
};

const std::map<std::string, ReadSpec>& read_specs() {
    static const std::map<std::string, ReadSpec> m = {
        {"customers", {"Customers", "Id", "LastChangedDateTimeOffset", "lastChangedDateTimeOffsetGreaterThan", ""}},
        {"products", {"Products", "Id", "LastChangedDateTimeOffset", "lastChangedDateTimeOffsetGreaterThan", ""}},
        // Stock changes leave LastChangedDateTimeOffset alone: stock has its own filter.
        {"product_stock",
         {"Products", "Id", "StockOnHandLastChangedDatetimeOffset", "stockOnHandLastChangedDatetimeOffsetGreaterThan",
          "Id,Code,Name,IsStockItem,StockOnHand,StockAvailable,StockOnHandLastChangedDatetimeOffset,UnitPrice"}},
        {"sales_orders", {"SalesOrders", "Id", "LastChangedDateTimeOffset", "lastChangedDateTimeOffsetGreaterThan", ""}},
        {"outgoing_invoices",
         {"OutgoingInvoices", "Id", "BalanceLastChangedDateTimeOffset", "balanceLastChangedDateTimeOffsetGreaterThan", ""}},
    };
    return m;
}

std::string key_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Whole-run failures propagate; anything else is this record's failed result.
template <typename F>
WriteResult per_record(const std::string& who, F&& f) {
    try {
        return f();
    } catch (const Error& e) {
        const plexus_status s = e.status();
        if (plexus::sdk::rest::stops_run(s)) throw;
        return WriteResult::failed(s == PLEXUS_ERR_NOT_FOUND ? PLEXUS_ERR_VALIDATION : s, who + ": " + e.what());
    }
}

Error invalid(const std::string& m) { return Error(PLEXUS_ERR_VALIDATION, m); }

// "ExternalImportReference is already in use" — Go's duplicate check.
bool duplicate_reference(const Error& e) {
    const std::string m = e.what();
    return e.status() == PLEXUS_ERR_VALIDATION && m.find("ExternalImportReference") != std::string::npos &&
           m.find("already in use") != std::string::npos;
}

double money(const json& v, const std::string& what) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
        try {
            size_t used = 0;
            const double d = std::stod(v.get<std::string>(), &used);
            if (used == v.get<std::string>().size()) return d;
        } catch (...) {
        }
    }
    throw invalid(what + " " + v.dump() + " is not a number");
}

}  // namespace

class PowerOfficeGoConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "poweroffice_go";
    static constexpr const char* version = "0.1.0";
    static constexpr const char* manifest = R"json({
  "id": "poweroffice_go",
  "name": "PowerOffice Go (API v2)",
  "version": "0.1.0",
  "description": "Customers, products and their stock, sales orders invoiced in Go, sales posted as invoice vouchers (manual journals with a customer sub-ledger line) and outgoing invoices with their balance, through the PowerOffice Go API v2: client-credentials token, subscription key on every call, incremental reads by the last-changed filters, creates and updates that send only documented properties, lookups by customer number, product code and external import reference.",
  "settings": [
    {"name": "application_key", "type": "string", "required": true, "secret": true, "description": "The integration's application key (from PowerOffice). Write it as ${ENV_VAR}."},
    {"name": "client_key", "type": "string", "required": true, "secret": true, "description": "The client key the customer's Go client issued to the integration. Write it as ${ENV_VAR}."},
    {"name": "subscription_key", "type": "string", "required": true, "secret": true, "description": "The API subscription key (Ocp-Apim-Subscription-Key), sent on every call. Demo and production keys differ. Write it as ${ENV_VAR}."},
    {"name": "base_url", "type": "string", "default": "https://goapi.poweroffice.net/v2", "description": "The API's root: https://goapi.poweroffice.net/v2 (production), https://goapi.poweroffice.net/Demo/v2 (demo) or the sandbox's http://127.0.0.1:8085/v2."},
    {"name": "token_url", "type": "string", "description": "The token endpoint. Default: base_url with its last /v2 replaced by /OAuth/Token (…/Demo/OAuth/Token for the demo)."},
    {"name": "page_size", "type": "integer", "default": 500, "description": "Rows asked per list request (PageSize), 1 to 20000."},
    {"name": "invoice_orders", "type": "boolean", "default": true, "description": "After creating a sales order, invoice it in Go (createAndSendInvoice)."},
    {"name": "invoice_delivery_type", "type": "string", "default": "Auto", "description": "How Go delivers the invoices it makes of sales orders: Auto (the customer's own delivery type), PdfByEmail or PdfPrintForDownload (posted, nothing sent)."}
  ],
  "entities": [
    {"name": "customers", "description": "Customers (CustomerDto). Writes send CustomerPostDto properties only (a mapped name that is not one fails the record); create sets ExternalImportReference to the idempotency key unless mapped; update is a JSON Patch of the mapped properties. Lookup: by ExternalImportReference, then by Number (the customer number the integration assigns).", "key": "Id", "cursor": "LastChangedDateTimeOffset",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "Id", "type": "integer", "description": "Read only."}, {"name": "Number", "type": "integer", "description": "The customer number; set it to find the customer again by it."},
                {"name": "Name", "type": "string"}, {"name": "FirstName", "type": "string"}, {"name": "LastName", "type": "string"}, {"name": "IsPerson", "type": "boolean"},
                {"name": "EmailAddress", "type": "string"}, {"name": "PhoneNumber", "type": "string"}, {"name": "OrganizationNumber", "type": "string"},
                {"name": "ExternalImportReference", "type": "string", "description": "At most 50 characters, unique among customers."},
                {"name": "MailAddress", "type": "object", "description": "AddressLine1, AddressLine2, ZipCode, City, CountryCode."},
                {"name": "SubledgerAccountId", "type": "integer", "description": "Read only: the customer's sub-ledger account (a voucher line's AccountId)."},
                {"name": "LastChangedDateTimeOffset", "type": "datetime", "description": "Read only."}]},
    {"name": "products", "description": "Products (ProductDto). Create sends ProductPostDto properties (Name required; Code, the SKU, required here: it is how lookup finds the product again); update patches the ProductPatchDto properties among the mapped ones. Stock: product_stock.", "key": "Id", "cursor": "LastChangedDateTimeOffset",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "Id", "type": "integer", "description": "Read only."}, {"name": "Code", "type": "string", "required": true}, {"name": "Name", "type": "string", "required": true},
                {"name": "Description", "type": "string"}, {"name": "Gtin", "type": "string"}, {"name": "UnitPrice", "type": "number"}, {"name": "UnitCost", "type": "number"},
                {"name": "ProductType", "type": "string", "description": "Product or Service."}, {"name": "IsStockItem", "type": "boolean"}, {"name": "StockOnHand", "type": "number"},
                {"name": "IsArchived", "type": "boolean"}, {"name": "LastChangedDateTimeOffset", "type": "datetime", "description": "Read only."}]},
    {"name": "product_stock", "description": "Stock on hand of stock items, read incrementally by stockOnHandLastChangedDatetimeOffsetGreaterThan (stock changes do not move a product's LastChangedDateTimeOffset); written by a JSON Patch of StockOnHand to the product found by Code (or Id). StockAvailable is on hand minus confirmed orders (read only).", "key": "Id", "cursor": "StockOnHandLastChangedDatetimeOffset",
     "capabilities": ["read", "incremental", "create", "update", "lookup"],
     "fields": [{"name": "Id", "type": "integer"}, {"name": "Code", "type": "string"}, {"name": "Name", "type": "string", "description": "Read only."},
                {"name": "StockOnHand", "type": "number", "required": true}, {"name": "StockAvailable", "type": "number", "description": "Read only."},
                {"name": "IsStockItem", "type": "boolean", "description": "Read only."},
                {"name": "UnitPrice", "type": "number", "description": "Read only: the product's sales price, for processes that send stock and price together (Stock and prices Go→Gomag)."},
                {"name": "StockOnHandLastChangedDatetimeOffset", "type": "datetime", "description": "Read only."}]},
    {"name": "sales_orders", "description": "Sales orders, created complete with their lines (SalesOrderCompletePostDto; CustomerNo or CustomerId required; lines name products by ProductCode) and then invoiced in Go when invoice_orders is on. ExternalImportReference is the idempotency key unless mapped; lookup lists the integration's own orders (of the customer when CustomerNo is mapped) and matches it. Key: the order's Id (a uuid). Orders are not updated.", "key": "Id", "cursor": "LastChangedDateTimeOffset",
     "capabilities": ["read", "incremental", "create", "lookup"], "open": true,
     "fields": [{"name": "Id", "type": "string", "description": "Read only."}, {"name": "CustomerNo", "type": "integer"}, {"name": "CustomerId", "type": "integer"},
                {"name": "SalesOrderDate", "type": "string", "description": "YYYY-MM-DD."}, {"name": "SalesOrderStatus", "type": "string", "description": "Draft or Confirmed."},
                {"name": "CurrencyCode", "type": "string"}, {"name": "CustomerReference", "type": "string"}, {"name": "ExternalImportReference", "type": "string"},
                {"name": "CustomMatchingReference", "type": "string", "description": "Carried to the invoice: how a payment or the shop finds it."},
                {"name": "ImportedOrderNo", "type": "integer"},
                {"name": "SalesOrderLines", "type": "array", "fields": [{"name": "ProductCode", "type": "string"}, {"name": "Description", "type": "string"},
                   {"name": "Quantity", "type": "number"}, {"name": "ProductUnitPrice", "type": "number"}, {"name": "Allowance", "type": "number"}, {"name": "LineType", "type": "string"}]},
                {"name": "LastChangedDateTimeOffset", "type": "datetime", "description": "Read only."}]},
    {"name": "sales_vouchers", "description": "A sale posted as an invoice voucher: a manual journal (POST /Vouchers/ManualJournals) whose first line debits the customer's sub-ledger with the sale's total and CustomMatchingReference, and whose other lines credit the sales accounts. Amounts are gross (VAT included; Go splits VAT by the line's VAT code). Key: the voucher's Id. Lookup: the customer's ledger statement on the voucher date, by CustomMatchingReference, matched on ExternalImportReference.", "key": "Id", "cursor": "VoucherDate",
     "capabilities": ["create", "lookup"],
     "fields": [{"name": "VoucherDate", "type": "string", "required": true, "description": "YYYY-MM-DD."}, {"name": "CurrencyCode", "type": "string", "description": "Default NOK."},
                {"name": "Description", "type": "string"}, {"name": "CustomerNo", "type": "integer", "required": true},
                {"name": "CustomMatchingReference", "type": "string", "required": true, "description": "On the sub-ledger line: what a payment is matched by (the shop's order name)."},
                {"name": "ExternalImportReference", "type": "string", "description": "Default: the idempotency key."},
                {"name": "Lines", "type": "array", "required": true, "fields": [{"name": "AccountNo", "type": "integer", "description": "A general ledger account number (or AccountId)."},
                   {"name": "VatCode", "type": "string", "description": "A VAT code such as 3 (or VatId)."}, {"name": "Amount", "type": "number", "description": "Gross amount of the sale on this line."},
                   {"name": "Description", "type": "string"}]},
                {"name": "Id", "type": "string", "description": "Read only."}]},
    {"name": "outgoing_invoices", "description": "Outgoing invoices (OutgoingInvoiceDto), read incrementally by balanceLastChangedDateTimeOffsetGreaterThan, with two derived fields: Paid (Balance 0 and not reversed) and PaymentStatus (paid, partially_paid, unpaid).", "key": "Id", "cursor": "BalanceLastChangedDateTimeOffset",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "Id", "type": "string"}, {"name": "InvoiceNo", "type": "integer"}, {"name": "VoucherDate", "type": "string"}, {"name": "DueDate", "type": "string"},
                {"name": "CustomerNo", "type": "integer"}, {"name": "TotalAmount", "type": "number"}, {"name": "Balance", "type": "number"},
                {"name": "CustomMatchingReference", "type": "string"}, {"name": "ExternalImportReference", "type": "string"},
                {"name": "Paid", "type": "boolean"}, {"name": "PaymentStatus", "type": "string"},
                {"name": "BalanceLastChangedDateTimeOffset", "type": "datetime"}]}
  ],
  "rate_limit": {"requests_per_second": 9, "burst": 1}
})json";

    PowerOfficeGoConnector(plexus::sdk::Host& host, const json& settings)
        : api_(host, base_of(settings), token_of(settings),
               GoApi::Keys{settings.value("application_key", ""), settings.value("client_key", ""),
                           settings.value("subscription_key", "")}) {
        for (const char* k : {"application_key", "client_key", "subscription_key"})
            if (settings.value(k, "").empty()) throw Error(PLEXUS_ERR_CONFIG, std::string(k) + " is empty");
        page_size_ = settings.value("page_size", int64_t{500});
        if (page_size_ < 1 || page_size_ > 20000)
            throw Error(PLEXUS_ERR_CONFIG, "page_size is " + std::to_string(page_size_) + "; PowerOffice Go pages hold 1 to 20000 rows");
        invoice_orders_ = settings.value("invoice_orders", true);
        delivery_type_ = settings.value("invoice_delivery_type", "Auto");
        if (delivery_type_ != "Auto" && delivery_type_ != "PdfByEmail" && delivery_type_ != "PdfPrintForDownload")
            throw Error(PLEXUS_ERR_CONFIG, "invoice_delivery_type \"" + delivery_type_ + "\" is not Auto, PdfByEmail or PdfPrintForDownload");
        const std::string base = base_of(settings);
        if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "base_url \"" + base + "\" is not an http(s) URL");
    }

    void check() override { api_.expect("GET", "ClientIntegrationInformation"); }

    ReadPage read(const ReadRequest& request) override {
        auto it = read_specs().find(request.entity);
        if (it == read_specs().end())
            throw Error(PLEXUS_ERR_CONFIG, "entity \"" + request.entity + "\" cannot be read (readable: customers, products, "
                                           "product_stock, sales_orders, outgoing_invoices)");
        const ReadSpec& spec = it->second;
        ReadCursor cursor;
        if (request.cursor && !request.cursor->empty()) {
            cursor = ReadCursor::decode(*request.cursor);
        } else if (request.since && !request.since->empty()) {
            auto t = parse_ticks(*request.since);
            if (!t) throw Error(PLEXUS_ERR_CONFIG, "since \"" + *request.since + "\" is not an ISO 8601 time");
            cursor.after = *t - 1;  // the filter is exclusive, since is inclusive
        }
        // Keyset paging on the cursor field: always page 1 of "changed at or after `after`",
        // ordered by it, skipping the keys already returned at exactly `after`. A record
        // changed while we page moves behind the keyset instead of shifting a page under us.
        const int64_t want = std::clamp<int64_t>(static_cast<int64_t>(request.limit), 1, page_size_);
        const int64_t size = std::min<int64_t>(want + static_cast<int64_t>(cursor.keys.size()), 20000);
        std::string query = "OrderBy=" + std::string(spec.cursor_field);
        // Stock and balance times are null on rows that never had one: a filter from 1970 leaves
        // those out (they could not advance the cursor).
        const bool nullable = request.entity == "product_stock" || request.entity == "outgoing_invoices";
        if (cursor.after || nullable)
            query += "&" + std::string(spec.changed_filter) + "=" + url_encode(format_ticks(cursor.after ? *cursor.after - 1 : 0));
        if (*spec.fields) query += "&Fields=" + url_encode(spec.fields);
        if (request.entity == "product_stock") query += "&isArchived=false";
        query += filter_query(request.entity, request.filter);
        auto rows = api_.list_page(spec.path, query, 1, size);
        const bool full = static_cast<int64_t>(rows.size()) >= size;
        const std::set<std::string> seen(cursor.keys.begin(), cursor.keys.end());
        ReadPage page;
        ReadCursor next = cursor;
        for (auto& row : rows) {
            if (request.entity == "product_stock" && !row.value("IsStockItem", false)) continue;
            const std::string key = row.contains(spec.key) ? key_text(row[spec.key]) : "";
            const json& when = row.contains(spec.cursor_field) ? row[spec.cursor_field] : json();
            const auto t = when.is_string() ? parse_ticks(when.get<std::string>()) : std::nullopt;
            if (key.empty() || !t) {
                // Outgoing invoices never paid or changed may carry no balance time: skip them.
                if (request.entity == "outgoing_invoices" && !key.empty() && when.is_null()) continue;
                throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go (GET " + std::string(spec.path) +
                                                      "): a row without " + spec.key + " or a valid " + spec.cursor_field);
            }
            if (cursor.after && *t < *cursor.after) continue;  // older than asked: the filter's rounding
            if (cursor.after && *t == *cursor.after && seen.count(key)) continue;
            if (!next.after || *t > *next.after) {
                next.after = *t;
                next.keys.clear();
            }
            if (*t == *next.after) next.keys.push_back(key);
            if (request.entity == "outgoing_invoices") derive_payment(row);
            page.records.push_back(Record{key, format_ticks(*t), std::move(row)});
        }
        page.next_cursor = next.encode();
        page.has_more = full;
        return page;
    }

    std::vector<WriteResult> write(const std::string& entity, const std::vector<WriteItem>& items) override {
        std::vector<WriteResult> out;
        out.reserve(items.size());
        for (const auto& item : items) {
            if (api_.host().cancelled()) throw Error(PLEXUS_ERR_CANCELLED, "cancelled");
            if (!item.data.is_object()) {
                out.push_back(WriteResult::failed(PLEXUS_ERR_VALIDATION, "the mapped record is not a JSON object"));
                continue;
            }
            if (entity == "customers") out.push_back(per_record(who_customer(item.data), [&] { return write_customer(item); }));
            else if (entity == "products") out.push_back(per_record("product " + item.data.value("Code", json("")).dump(), [&] { return write_product(item); }));
            else if (entity == "product_stock") out.push_back(per_record("stock of " + item.data.value("Code", item.data.value("Id", json())).dump(), [&] { return write_stock(item); }));
            else if (entity == "sales_orders") out.push_back(per_record("sales order " + item.data.value("ExternalImportReference", json(item.idempotency_key)).dump(), [&] { return write_order(item); }));
            else if (entity == "sales_vouchers") out.push_back(per_record("voucher " + item.data.value("CustomMatchingReference", json("")).dump(), [&] { return write_voucher(item); }));
            else throw Error(PLEXUS_ERR_CONFIG, "entity \"" + entity + "\" cannot be written (writable: customers, products, product_stock, sales_orders, sales_vouchers)");
        }
        return out;
    }

    LookupResult lookup(const LookupRequest& r) override {
        const json& d = r.data;
        if (r.entity == "customers") {
            if (r.key) return found_or_not(find_by_id("Customers/", *r.key), "Id", "LastChangedDateTimeOffset");
            std::vector<std::string> refs;
            if (d.contains("ExternalImportReference") && d["ExternalImportReference"].is_string()) refs.push_back(d["ExternalImportReference"]);
            if (r.idempotency_key && !r.idempotency_key->empty()) refs.push_back(*r.idempotency_key);
            for (const auto& ref : refs) {
                auto rows = api_.list_page("Customers", "externalImportReference=" + url_encode(ref), 1, 10);
                if (!rows.empty()) return found(std::move(rows.front()), "Id", "LastChangedDateTimeOffset", static_cast<int64_t>(rows.size()));
            }
            if (d.contains("Number"))
                if (auto no = as_integer(d["Number"])) {
                    auto rows = api_.list_page("Customers", "customerNos=" + std::to_string(*no), 1, 10);
                    if (!rows.empty()) return found(std::move(rows.front()), "Id", "LastChangedDateTimeOffset");
                }
            return {};
        }
        if (r.entity == "products" || r.entity == "product_stock") {
            const char* cursor = r.entity == "products" ? "LastChangedDateTimeOffset" : "StockOnHandLastChangedDatetimeOffset";
            if (r.key) return found_or_not(find_by_id("Products/", *r.key), "Id", cursor);
            if (d.contains("Id") && as_integer(d["Id"])) return found_or_not(find_by_id("Products/", std::to_string(*as_integer(d["Id"]))), "Id", cursor);
            if (d.contains("Code") && d["Code"].is_string())
                if (auto p = product_by_code(d["Code"])) return found(std::move(*p), "Id", cursor);
            return {};
        }
        if (r.entity == "sales_orders") {
            if (r.key) return found_or_not(find_by_id("SalesOrders/", *r.key), "Id", "LastChangedDateTimeOffset");
            if (auto o = find_order(order_reference(d, r.idempotency_key.value_or("")), d)) {
                // With the mapped order (the host resolving a create whose outcome it never
                // learnt): "there" only when the create has nothing left to do. An order a crash
                // left uninvoiced is reported missing, so that the host creates it again: Go
                // refuses the repeat as a duplicate, and write_order adopts the order and
                // invoices it. Found, it would be adopted as created and never invoiced.
                if (invoice_orders_ && d.is_object() && !d.empty() && (*o)["Id"].is_string() && !invoiced((*o)["Id"]))
                    return {};
                return found(std::move(*o), "Id", "LastChangedDateTimeOffset");
            }
            return {};
        }
        if (r.entity == "sales_vouchers") {
            if (r.key) return found_or_not(find_by_id("Vouchers/ManualJournals/", *r.key), "Id", "VoucherDate");
            if (auto v = find_voucher(d, d.value("ExternalImportReference", json(r.idempotency_key.value_or(""))).get<std::string>()))
                return found(std::move(*v), "Id", "VoucherDate");
            return {};
        }
        if (r.entity == "outgoing_invoices") {
            std::optional<json> inv;
            if (r.key) inv = find_by_id("OutgoingInvoices/", *r.key);
            else if (d.contains("CustomMatchingReference") && d["CustomMatchingReference"].is_string()) {
                auto rows = api_.list_page("OutgoingInvoices", "customMatchingReferences=" + url_encode(d["CustomMatchingReference"].get<std::string>()), 1, 10);
                if (!rows.empty()) inv = std::move(rows.front());
            }
            if (inv) derive_payment(*inv);
            return found_or_not(std::move(inv), "Id", "BalanceLastChangedDateTimeOffset");
        }
        throw Error(PLEXUS_ERR_CONFIG, "entity \"" + r.entity + "\" has no lookup");
    }

private:
    static std::string base_of(const json& s) {
        std::string b = s.value("base_url", "https://goapi.poweroffice.net/v2");
        while (!b.empty() && b.back() == '/') b.pop_back();
        return b;
    }
    static std::string token_of(const json& s) {
        if (s.contains("token_url") && s["token_url"].is_string() && !s["token_url"].get<std::string>().empty())
            return s["token_url"];
        std::string b = base_of(s);
        const auto v2 = b.rfind("/v2");
        return (v2 != std::string::npos && v2 + 3 == b.size() ? b.substr(0, v2) : b) + "/OAuth/Token";
    }

    // The process's source filter: the list's own query parameters, passed on as given.
    static std::string filter_query(const std::string& entity, const json& filter) {
        static const std::map<std::string, std::set<std::string>> allowed = {
            {"customers", {"customerNos", "contactGroupIds", "externalNos"}},
            {"products", {"codes", "productGroupCodes", "type", "isArchived"}},
            {"product_stock", {"codes", "productGroupCodes"}},
            {"sales_orders", {"customerNos", "orderStatus", "onlyCreatedByCurrentIntegration", "departmentCodes", "projectCodes"}},
            {"outgoing_invoices", {"customerNos", "customMatchingReferences", "onlyCreatedByCurrentIntegration", "onlyUnpaidInvoices",
                                   "fromDate", "toDate", "departmentCodes", "projectCodes"}},
        };
        std::string q;
        if (!filter.is_object()) return q;
        const auto& names = allowed.at(entity);
        for (auto it = filter.begin(); it != filter.end(); ++it) {
            if (!it.key().empty() && it.key()[0] == '_') continue;  // a note for people
            if (!names.count(it.key())) {
                std::string list;
                for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
                throw Error(PLEXUS_ERR_CONFIG, "source filter \"" + it.key() + "\" is not a filter of " + entity + " (" + list + ")");
            }
            const json& v = it.value();
            const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
            q += "&" + it.key() + "=" + url_encode(text);
        }
        return q;
    }

    static void derive_payment(json& inv) {
        const double balance = inv.value("Balance", json(0.0)).is_number() ? inv["Balance"].get<double>() : 0.0;
        const double total = inv.value("TotalAmount", json(0.0)).is_number() ? inv["TotalAmount"].get<double>() : 0.0;
        const bool reversed = inv.value("IsReversed", json(false)) == json(true);
        inv["Paid"] = std::fabs(balance) < 0.005 && !reversed;
        inv["PaymentStatus"] = std::fabs(balance) < 0.005 ? "paid" : (std::fabs(balance - total) < 0.005 ? "unpaid" : "partially_paid");
    }

    static std::string who_customer(const json& d) {
        if (d.contains("Number")) return "customer no. " + key_text(d["Number"]);
        return "customer " + d.value("Name", json(d.value("EmailAddress", json("")))).dump();
    }

    LookupResult found(json row, const char* key, const char* cursor, int64_t matches = 0) {
        LookupResult r;
        r.found = true;
        r.matches = matches;
        r.record.key = key_text(row[key]);
        if (row.contains(cursor) && row[cursor].is_string())
            if (auto t = parse_ticks(row[cursor].get<std::string>())) r.record.cursor = format_ticks(*t);
        r.record.data = std::move(row);
        return r;
    }
    LookupResult found_or_not(std::optional<json> row, const char* key, const char* cursor) {
        return row ? found(std::move(*row), key, cursor) : LookupResult{};
    }
    std::optional<json> find_by_id(const std::string& path, const std::string& id) {
        if (id.empty() || id.find_first_of("/?#%& ") != std::string::npos) return std::nullopt;
        return api_.find(path + id);
    }

    // ---- customers ------------------------------------------------------------------------
    // Idempotent by ExternalImportReference (the idempotency key unless mapped): Go refuses a
    // second customer with it, and lookup finds the first by it (or by the mapped Number).
    WriteResult write_customer(const WriteItem& item) {
        json body = item.data;
        if (auto u = unknown_members(body, "CustomerPostDto"); !u.empty())
            throw invalid("not properties of a PowerOffice Go customer (CustomerPostDto): " + u);
        if (body.contains("MailAddress") && body["MailAddress"].is_object())
            if (auto u = unknown_members(body["MailAddress"], "ContactAddressPostDto"); !u.empty())
                throw invalid("MailAddress: not properties of a PowerOffice Go address (ContactAddressPostDto): " + u);
        if (body.contains("Number") && !body["Number"].is_null()) {
            auto no = as_integer(body["Number"]);
            if (!no || *no <= 0) throw invalid("Number " + body["Number"].dump() + " is not a positive whole number");
            body["Number"] = *no;
        }
        if (item.op == WriteOp::Update) {
            if (item.target_key.empty()) throw invalid("no target key to update");
            json ops = plexus::sdk::rest::replace_ops(body);
            json row = api_.expect("PATCH", "Customers/" + item.target_key, &ops, "application/json-patch+json");
            return ok(row, "Id", "LastChangedDateTimeOffset");
        }
        if (!body.contains("ExternalImportReference") || body["ExternalImportReference"].is_null())
            body["ExternalImportReference"] = item.idempotency_key;
        if (body["ExternalImportReference"].is_string() && body["ExternalImportReference"].get<std::string>().size() > 50)
            throw invalid("ExternalImportReference is longer than Go's 50 characters");
        try {
            json row = api_.expect("POST", "Customers", &body);
            return ok(row, "Id", "LastChangedDateTimeOffset");
        } catch (const Error& e) {
            // Made already (a retried POST, or a crash before the ledger knew): the host looks
            // it up and updates it.
            if (duplicate_reference(e)) return WriteResult::failed(PLEXUS_ERR_CONFLICT, e.what());
            const std::string m = e.what();
            if (e.status() == PLEXUS_ERR_VALIDATION && m.find("number") != std::string::npos && m.find("already in use") != std::string::npos)
                return WriteResult::failed(PLEXUS_ERR_CONFLICT, e.what());
            throw;
        }
    }

    static WriteResult ok(const json& row, const char* key, const char* cursor) {
        if (!row.is_object() || !row.contains(key))
            throw Error(PLEXUS_ERR_TRANSIENT, std::string("malformed response from PowerOffice Go: no ") + key + " in the written object");
        std::string c;
        if (row.contains(cursor) && row[cursor].is_string())
            if (auto t = parse_ticks(row[cursor].get<std::string>())) c = format_ticks(*t);
        return WriteResult::ok(key_text(row[key]), c);
    }

    // ---- products -------------------------------------------------------------------------
    // Idempotent by Code: Go keeps product codes unique, so a create whose code exists adopts
    // that product (and patches it to the mapped values).
    std::optional<json> product_by_code(const json& code) {
        auto rows = api_.list_page("Products", "codes=" + url_encode(code.get<std::string>()), 1, 10);
        for (auto& r : rows)
            if (r.value("Code", json()) == code) return std::move(r);
        return std::nullopt;
    }

    WriteResult write_product(const WriteItem& item) {
        json body = item.data;
        if (auto u = unknown_members(body, "ProductPostDto"); !u.empty())
            throw invalid("not properties of a PowerOffice Go product (ProductPostDto): " + u);
        if (!body.contains("Code") || !body["Code"].is_string() || body["Code"].get<std::string>().empty())
            throw invalid("no Code (the product's SKU identifies it in Go)");
        std::string target = item.target_key;
        if (item.op == WriteOp::Create) {
            if (!body.contains("Name") || !body["Name"].is_string() || body["Name"].get<std::string>().empty())
                throw invalid("no Name (Go requires one)");
            if (auto existing = product_by_code(body["Code"])) {
                target = key_text((*existing)["Id"]);
            } else {
                try {
                    json row = api_.expect("POST", "Products", &body);
                    return ok(row, "Id", "LastChangedDateTimeOffset");
                } catch (const Error& e) {
                    const std::string m = e.what();
                    if (e.status() != PLEXUS_ERR_VALIDATION || m.find("already in use") == std::string::npos) throw;
                    auto again = product_by_code(body["Code"]);
                    if (!again) throw;
                    target = key_text((*again)["Id"]);
                }
            }
        }
        // Only what ProductPatchDto declares is patched; the rest (group codes, accounts by
        // number) is taken at creation only.
        json patch = json::object();
        for (auto it = body.begin(); it != body.end(); ++it)
            if (dto_properties("ProductPatchDto").count(it.key())) patch[it.key()] = it.value();
        json ops = plexus::sdk::rest::replace_ops(patch);
        json row = api_.expect("PATCH", "Products/" + target, &ops, "application/json-patch+json");
        return ok(row, "Id", "LastChangedDateTimeOffset");
    }

    // Stock on hand: a JSON Patch of StockOnHand only (absolute, so repeating it is harmless).
    WriteResult write_stock(const WriteItem& item) {
        const json& d = item.data;
        for (auto it = d.begin(); it != d.end(); ++it)
            if (it.key() != "Id" && it.key() != "Code" && it.key() != "StockOnHand")
                throw invalid("product_stock takes Code (or Id) and StockOnHand only, not " + it.key());
        if (!d.contains("StockOnHand") || !d["StockOnHand"].is_number()) throw invalid("StockOnHand is missing or not a number");
        std::string target = item.op == WriteOp::Update ? item.target_key : "";
        if (target.empty() && d.contains("Id") && as_integer(d["Id"])) target = std::to_string(*as_integer(d["Id"]));
        if (target.empty()) {
            if (!d.contains("Code") || !d["Code"].is_string()) throw invalid("neither Code nor Id names the product");
            auto p = product_by_code(d["Code"]);
            if (!p) throw invalid("no product with code " + d["Code"].dump() + " in PowerOffice Go");
            if (!p->value("IsStockItem", false)) throw invalid("product " + d["Code"].dump() + " is not a stock item (IsStockItem false)");
            target = key_text((*p)["Id"]);
        }
        json ops = plexus::sdk::rest::replace_ops({{"StockOnHand", d["StockOnHand"]}});
        json row = api_.expect("PATCH", "Products/" + target, &ops, "application/json-patch+json");
        return ok(row, "Id", "StockOnHandLastChangedDatetimeOffset");
    }

    // ---- sales orders ---------------------------------------------------------------------
    // Idempotent by ExternalImportReference, which Go keeps unique per object type. GET
    // /SalesOrders cannot filter by it, so lookup lists the orders this integration created
    // (onlyCreatedByCurrentIntegration, narrowed to the customer when CustomerNo is known) and
    // matches it client-side: unlike the order's Id (lost with a crash before the ledger
    // stored it) or the invoice's CustomMatchingReference (there only once invoiced), it works
    // at every stage. A create refused as a duplicate adopts the order found so.
    static std::string order_reference(const json& d, const std::string& idempotency_key) {
        if (d.contains("ExternalImportReference") && d["ExternalImportReference"].is_string() &&
            !d["ExternalImportReference"].get<std::string>().empty())
            return d["ExternalImportReference"];
        return idempotency_key;
    }

    std::optional<json> find_order(const std::string& reference, const json& d) {
        if (reference.empty()) return std::nullopt;
        std::string query = "onlyCreatedByCurrentIntegration=true";
        if (d.contains("CustomerNo"))
            if (auto no = as_integer(d["CustomerNo"])) query += "&customerNos=" + std::to_string(*no);
        query += "&OrderBy=" + url_encode("LastChangedDateTimeOffset desc");
        auto rows = api_.list_all("SalesOrders", query, page_size_, [&](const json& r) {
            return r.value("ExternalImportReference", json()) == json(reference);
        });
        if (!rows.empty() && rows.back().value("ExternalImportReference", json()) == json(reference)) return rows.back();
        return std::nullopt;
    }

    WriteResult write_order(const WriteItem& item) {
        if (item.op == WriteOp::Update)
            throw invalid("sales orders are not updated once created (change it in Go, or credit the invoice)");
        json body = item.data;
        if (auto u = unknown_members(body, "SalesOrderCompletePostDto"); !u.empty())
            throw invalid("not properties of a PowerOffice Go sales order (SalesOrderCompletePostDto): " + u);
        if (!body.contains("CustomerNo") && !body.contains("CustomerId")) throw invalid("no CustomerNo or CustomerId");
        for (const char* k : {"CustomerNo", "CustomerId", "ImportedOrderNo"})
            if (body.contains(k) && !body[k].is_null()) {
                auto n = as_integer(body[k]);
                if (!n) throw invalid(std::string(k) + " " + body[k].dump() + " is not a whole number");
                body[k] = *n;
            }
        if (body.contains("SalesOrderLines")) {
            if (!body["SalesOrderLines"].is_array()) throw invalid("SalesOrderLines is not a list");
            size_t i = 0;
            for (auto& line : body["SalesOrderLines"]) {
                if (auto u = unknown_members(line, "SalesOrderLinePostDto"); !u.empty() || !line.is_object())
                    throw invalid("SalesOrderLines[" + std::to_string(i) + "]: not properties of a sales order line (SalesOrderLinePostDto): " + u);
                for (const char* k : {"Quantity", "ProductUnitPrice", "Allowance"})
                    if (line.contains(k) && !line[k].is_null()) line[k] = money(line[k], "SalesOrderLines[" + std::to_string(i) + "]." + k);
                ++i;
            }
        }
        const std::string reference = order_reference(body, item.idempotency_key);
        body["ExternalImportReference"] = reference;
        json order;
        try {
            order = api_.expect("POST", "SalesOrders/Complete", &body);
        } catch (const Error& e) {
            if (!duplicate_reference(e)) throw;
            auto existing = find_order(reference, body);
            if (!existing) throw;
            order = std::move(*existing);
        }
        if (!order.contains("Id") || !order["Id"].is_string())
            throw Error(PLEXUS_ERR_TRANSIENT, "malformed response from PowerOffice Go: the sales order has no Id");
        const std::string id = order["Id"];
        if (invoice_orders_) invoice(id);
        json latest = api_.find("SalesOrders/" + id).value_or(order);
        return ok(latest, "Id", "LastChangedDateTimeOffset");
    }

    // Whether Go has invoiced the order (sentState names an invoice number).
    bool invoiced(const std::string& order_id) {
        Answer state = api_.call("GET", "SalesOrders/sentState?id=" + url_encode(order_id));
        if (state.status == 200) {
            json s = state.parsed();
            return s.is_array() && !s.empty() && s[0].is_object() && s[0].value("InvoiceNo", json()).is_number();
        }
        if (state.status != 204) throw Error(classify(state.status), describe_error(state.status, state.body, state.what));
        return false;
    }
    // Invoices an order once: an order that has an invoice already is left.
    void invoice(const std::string& order_id) {
        if (invoiced(order_id)) return;
        json request = {{"DeliveryType", delivery_type_}};
        api_.expect("POST", "SalesOrders/" + order_id + "/createAndSendInvoice", &request);
    }

    // ---- sales as invoice vouchers --------------------------------------------------------
    // Idempotent by ExternalImportReference on the voucher (the idempotency key unless
    // mapped), unique per object type in Go. There is no voucher list: lookup reads the
    // customer's ledger statement on the voucher date filtered by the sub-ledger line's
    // CustomMatchingReference and matches the voucher's ExternalImportReference.
    std::optional<json> find_voucher(const json& d, const std::string& reference) {
        if (!d.contains("VoucherDate") || !d["VoucherDate"].is_string() || !d.contains("CustomMatchingReference") ||
            !d["CustomMatchingReference"].is_string())
            return std::nullopt;
        const std::string date = d["VoucherDate"].get<std::string>().substr(0, 10);
        std::string query = "fromDate=" + date + "&toDate=" + date + "&customMatchingReferences=" +
                            url_encode(d["CustomMatchingReference"].get<std::string>()) + "&onlyCreatedByCurrentIntegration=true";
        if (d.contains("CustomerNo"))
            if (auto no = as_integer(d["CustomerNo"])) query += "&customerNos=" + std::to_string(*no);
        auto rows = api_.list_all("Customerledger/Statement", query, page_size_);
        for (auto& r : rows)
            if (r.value("VoucherId", json()).is_string() && (reference.empty() || r.value("ExternalImportReference", json()) == json(reference)))
                return api_.find("Vouchers/ManualJournals/" + r["VoucherId"].get<std::string>());
        return std::nullopt;
    }

    int64_t account_id(int64_t account_no) {
        if (auto it = accounts_.find(account_no); it != accounts_.end()) return it->second;
        auto rows = api_.list_page("GeneralLedgerAccounts", "accountNos=" + std::to_string(account_no), 1, 10);
        for (auto& r : rows)
            if (r.value("AccountNo", int64_t{-1}) == account_no) return accounts_[account_no] = r["Id"].get<int64_t>();
        throw invalid("no general ledger account " + std::to_string(account_no) + " in PowerOffice Go");
    }
    int64_t vat_id(const std::string& code) {
        if (vat_codes_.empty())
            for (auto& r : api_.list_all("VatCodes", "", page_size_))
                if (r.contains("Code") && r["Code"].is_string() && r.contains("Id")) vat_codes_[r["Code"]] = r["Id"].get<int64_t>();
        auto it = vat_codes_.find(code);
        if (it == vat_codes_.end()) throw invalid("no VAT code \"" + code + "\" in PowerOffice Go");
        return it->second;
    }
    json customer_by_no(int64_t no) {
        if (auto it = customers_.find(no); it != customers_.end()) return it->second;
        auto rows = api_.list_page("Customers", "customerNos=" + std::to_string(no), 1, 10);
        for (auto& r : rows)
            if (r.value("Number", int64_t{-1}) == no) return customers_[no] = r;
        throw invalid("no customer no. " + std::to_string(no) + " in PowerOffice Go (the customers process brings it first)");
    }

    WriteResult write_voucher(const WriteItem& item) {
        if (item.op == WriteOp::Update) throw invalid("a posted voucher is not changed (reverse it in Go and post anew)");
        const json& d = item.data;
        static const std::set<std::string> known = {"VoucherDate", "CurrencyCode", "Description", "CustomerNo",
                                                    "CustomMatchingReference", "ExternalImportReference", "Lines", "ImportedVoucherNo"};
        for (auto it = d.begin(); it != d.end(); ++it)
            if (!known.count(it.key())) throw invalid("sales_vouchers has no field " + it.key());
        if (!d.contains("VoucherDate") || !d["VoucherDate"].is_string() || !parse_ticks(d["VoucherDate"].get<std::string>()))
            throw invalid("VoucherDate is missing or not a date");
        if (!d.contains("CustomMatchingReference") || !d["CustomMatchingReference"].is_string() || d["CustomMatchingReference"].get<std::string>().empty())
            throw invalid("no CustomMatchingReference (what payments of this sale are matched by)");
        auto no = d.contains("CustomerNo") ? as_integer(d["CustomerNo"]) : std::nullopt;
        if (!no) throw invalid("no CustomerNo");
        if (!d.contains("Lines") || !d["Lines"].is_array() || d["Lines"].empty()) throw invalid("no Lines");
        const std::string date = d["VoucherDate"].get<std::string>().substr(0, 10);
        const std::string reference = d.value("ExternalImportReference", json(item.idempotency_key)).get<std::string>();
        const json customer = customer_by_no(*no);
        json lines = json::array();
        double total = 0;
        size_t i = 0;
        for (const auto& l : d["Lines"]) {
            const std::string at = "Lines[" + std::to_string(i++) + "]";
            if (!l.is_object()) throw invalid(at + " is not an object");
            for (auto it = l.begin(); it != l.end(); ++it)
                if (it.key() != "AccountNo" && it.key() != "AccountId" && it.key() != "VatCode" && it.key() != "VatId" &&
                    it.key() != "Amount" && it.key() != "Description")
                    throw invalid(at + " has no field " + it.key() + " (AccountNo/AccountId, VatCode/VatId, Amount, Description)");
            int64_t acc = 0;
            if (l.contains("AccountId") && as_integer(l["AccountId"])) acc = *as_integer(l["AccountId"]);
            else if (l.contains("AccountNo") && as_integer(l["AccountNo"])) acc = account_id(*as_integer(l["AccountNo"]));
            else throw invalid(at + ": no AccountNo or AccountId");
            int64_t vat = 0;
            if (l.contains("VatId") && as_integer(l["VatId"])) vat = *as_integer(l["VatId"]);
            else vat = vat_id(l.contains("VatCode") ? key_text(l["VatCode"]) : "0");
            if (!l.contains("Amount")) throw invalid(at + ": no Amount");
            const double amount = std::round(money(l["Amount"], at + ".Amount") * 100) / 100;
            total += amount;
            json line = {{"AccountId", acc}, {"VatId", vat}, {"PostingDate", date}, {"CurrencyAmount", -amount}};
            if (l.contains("Description") && l["Description"].is_string()) line["Description"] = l["Description"];
            lines.push_back(std::move(line));
        }
        total = std::round(total * 100) / 100;
        json receivable = {{"AccountId", customer["SubledgerAccountId"]}, {"VatId", vat_id("0")}, {"PostingDate", date},
                           {"CurrencyAmount", total}, {"CustomMatchingReference", d["CustomMatchingReference"]}};
        if (d.contains("Description") && d["Description"].is_string()) receivable["Description"] = d["Description"];
        lines.insert(lines.begin(), receivable);
        json body = {{"VoucherDate", date}, {"CurrencyCode", d.value("CurrencyCode", json("NOK"))},
                     {"ExternalImportReference", reference}, {"VoucherLines", lines}};
        if (d.contains("Description") && d["Description"].is_string()) body["Description"] = d["Description"];
        if (d.contains("ImportedVoucherNo") && as_integer(d["ImportedVoucherNo"])) body["ImportedVoucherNo"] = *as_integer(d["ImportedVoucherNo"]);
        try {
            json v = api_.expect("POST", "Vouchers/ManualJournals", &body);
            return WriteResult::ok(key_text(v.at("Id")), date);
        } catch (const Error& e) {
            if (!duplicate_reference(e)) throw;
            json probe = d;
            probe["CustomerNo"] = *no;
            auto existing = find_voucher(probe, reference);
            if (!existing) throw;
            return WriteResult::ok(key_text((*existing)["Id"]), date);
        }
    }

    GoApi api_;
    int64_t page_size_ = 500;
    bool invoice_orders_ = true;
    std::string delivery_type_ = "Auto";
    std::map<int64_t, int64_t> accounts_;  // account no → id, per run
    std::map<std::string, int64_t> vat_codes_;
    std::map<int64_t, json> customers_;  // by number, per run (vouchers' sub-ledger accounts)
};

}  // namespace plexus::pogo

PLEXUS_EXPORT_CONNECTOR(plexus::pogo::PowerOfficeGoConnector)
