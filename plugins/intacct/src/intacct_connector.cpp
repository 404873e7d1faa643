// The Sage Intacct connector: XML Web Services (dtdversion 3.0) through the host's HTTP client.
// Wire format in intacct_xml.{hpp,cpp}; decisions in README.md.
#include "intacct_xml.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

namespace plexus::intacct {

using sdk::Error;

namespace {

constexpr const char* kManifest = R"json({
  "id": "intacct",
  "name": "Sage Intacct (XML Web Services)",
  "version": "0.3.0",
  "description": "Customers, sales orders, AR invoices, items, product lines and inventory on hand per warehouse in Sage Intacct through the XML gateway (dtdversion 3.0): session login, batched functions with per-record results, readByQuery/readMore paging, incremental reads on WHENMODIFIED, idempotent writes (every create carries a reference it is looked up by; uniqueid=true with per-function controlids), requests valid against the official XSD, write results carrying the written record's WHENMODIFIED.",
  "settings": [
    {"name": "endpoint_url", "type": "string", "default": "https://api.intacct.com/ia/xml/xmlgw.phtml", "description": "The XML gateway used for the getAPISession login; later calls go to the endpoint the session names."},
    {"name": "sender_id", "type": "string", "required": true, "description": "Web Services sender ID (control block)."},
    {"name": "sender_password", "type": "string", "required": true, "secret": true, "description": "Web Services sender password."},
    {"name": "company_id", "type": "string", "required": true, "description": "Intacct company ID."},
    {"name": "user_id", "type": "string", "required": true, "description": "Web Services user ID in the company."},
    {"name": "user_password", "type": "string", "required": true, "secret": true, "description": "That user's password."},
    {"name": "entity_id", "type": "string", "default": "", "description": "Multi-entity companies: the entity (locationid) to log in to; empty for top level."},
    {"name": "batch_size", "type": "integer", "default": 100, "description": "Functions per request when writing (1..100)."},
    {"name": "page_size", "type": "integer", "default": 1000, "description": "readByQuery page size (1..1000); the host's page limit caps it."},
    {"name": "exchange_rate_type", "type": "string", "default": "Intacct Daily Rate", "description": "sales_orders: the exchange rate type sent after <currency> when an order names a currency and gives neither exchratetype nor exchrate (the XSD requires one of them). Empty: such an order is refused."},
    {"name": "inventory_full_scan_hours", "type": "integer", "default": 24, "description": "inventory: read every ITEMWAREHOUSEINFO row again when the last full read started this many hours ago (0: never), in case a quantity change does not move WHENMODIFIED; between full reads the reads are incremental."}
  ],
  "entities": [
    {"name": "customers", "description": "CUSTOMER objects; fields as Intacct names them (CUSTOMERID, NAME, DISPLAYCONTACT{…}, STATUS, …).",
     "key": "CUSTOMERID", "cursor": "WHENMODIFIED",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "CUSTOMERID", "type": "string"}, {"name": "NAME", "type": "string"},
                {"name": "STATUS", "type": "string"}, {"name": "DISPLAYCONTACT", "type": "object"},
                {"name": "WHENMODIFIED", "type": "string"}]},
    {"name": "sales_orders", "description": "Order Entry 'Sales Order' transactions, created with create_sotransaction; looked up by referenceno (SODOCUMENT.PONUMBER).",
     "key": "DOCID", "cursor": "WHENMODIFIED",
     "capabilities": ["create", "lookup"], "open": true,
     "fields": [{"name": "customerid", "type": "string"}, {"name": "referenceno", "type": "string"},
                {"name": "datecreated", "type": "string"}, {"name": "transactiontype", "type": "string"},
                {"name": "lines", "type": "array", "fields": [{"name": "itemid", "type": "string"},
                  {"name": "quantity", "type": "number"}, {"name": "price", "type": "number"}]}]},
    {"name": "ar_invoices", "description": "ARINVOICE objects: RECORDNO, RECORDID (number), WHENCREATED, STATE, TOTALENTERED, TOTALDUE, CUSTOMERID.",
     "key": "RECORDNO", "cursor": "WHENMODIFIED",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "RECORDNO", "type": "string"}, {"name": "RECORDID", "type": "string"},
                {"name": "STATE", "type": "string"}, {"name": "TOTALENTERED", "type": "string"},
                {"name": "TOTALDUE", "type": "string"}, {"name": "WHENMODIFIED", "type": "string"}]},
    {"name": "items", "description": "ITEM objects (ITEMID, NAME, PRODUCTLINEID, BASEPRICE, …).",
     "key": "ITEMID", "cursor": "WHENMODIFIED",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "ITEMID", "type": "string"}, {"name": "NAME", "type": "string"}]},
    {"name": "product_lines", "description": "PRODUCTLINE objects (item categories).",
     "key": "PRODUCTLINEID", "cursor": "WHENMODIFIED",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "PRODUCTLINEID", "type": "string"}, {"name": "DESCRIPTION", "type": "string"}]},
    {"name": "inventory", "description": "Quantity on hand per item and warehouse: ITEMWAREHOUSEINFO rows (one per item stocked in a warehouse). ONHAND, ONORDER and ONHOLD are numbers; the rest as Intacct names it.",
     "key": "RECORDNO", "cursor": "WHENMODIFIED",
     "capabilities": ["read", "incremental", "lookup"], "open": true,
     "fields": [{"name": "RECORDNO", "type": "string"}, {"name": "ITEMID", "type": "string"},
                {"name": "WAREHOUSEID", "type": "string"}, {"name": "ONHAND", "type": "number"},
                {"name": "ONORDER", "type": "number"}, {"name": "ONHOLD", "type": "number"},
                {"name": "WHENMODIFIED", "type": "string"}]}
  ],
  "rate_limit": {"requests_per_second": 10, "burst": 2}
})json";

struct EntityInfo {
    const char* object;
    const char* key_field;
    const char* docparid;
};

const EntityInfo* entity_info(const std::string& entity) {
    static const std::map<std::string, EntityInfo> table = {
        {"customers", {"CUSTOMER", "CUSTOMERID", ""}},
        {"ar_invoices", {"ARINVOICE", "RECORDNO", ""}},
        {"items", {"ITEM", "ITEMID", ""}},
        {"product_lines", {"PRODUCTLINE", "PRODUCTLINEID", ""}},
        {"sales_orders", {"SODOCUMENT", "DOCID", "Sales Order"}},
        {"inventory", {"ITEMWAREHOUSEINFO", "RECORDNO", ""}},
    };
    auto it = table.find(entity);
    return it == table.end() ? nullptr : &it->second;
}

std::string field(const json& row, const char* name) {
    if (!row.is_object() || !row.contains(name)) return {};
    const auto& v = row[name];
    return v.is_string() ? v.get<std::string>() : v.dump();
}

long long as_number(const std::string& s) {
    try {
        return std::stoll(s);
    } catch (...) {
        return 0;
    }
}

// inventory: Intacct sends quantities as decimal text; records carry them as JSON numbers
// (integers when whole) so that a mapping can hand them to a target as they are.
void quantities_to_numbers(json& row) {
    for (const char* f : {"ONHAND", "ONORDER", "ONHOLD"}) {
        if (!row.is_object() || !row.contains(f) || !row[f].is_string()) continue;
        const std::string text = row[f].get<std::string>();
        if (text.empty()) continue;
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (!end || *end != 0) continue;
        if (v == static_cast<double>(static_cast<long long>(v))) row[f] = static_cast<long long>(v);
        else row[f] = v;
    }
}

// The field a create's reference is written to and looked up by (README "Idempotency").
const char* reference_field(const std::string& entity) {
    return entity == "sales_orders" ? "PONUMBER" : "CUSTOMERID";
}

// A CUSTOMERID for a customer create whose mapping gives none, derived from the idempotency
// key: "PX" and the key's first 18 hex digits after its "px", upper case — 20 characters,
// Intacct's length for IDs (the host's keys are "px" + 30 hex digits; 72 bits keep the
// records of one company apart). Any other key: "PX" + 16 hex digits of its FNV-1a 64 hash.
// Empty without a key.
std::string derived_customer_id(const std::string& key) {
    if (key.empty()) return {};
    bool host_key = key.size() >= 20 && key.rfind("px", 0) == 0 &&
                    std::all_of(key.begin() + 2, key.begin() + 20,
                                [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    std::string hex;
    if (host_key) {
        hex = key.substr(2, 18);
    } else {
        uint64_t h = 1469598103934665603ull;
        for (unsigned char ch : key) {
            h ^= ch;
            h *= 1099511628211ull;
        }
        char buf[20];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        hex = buf;
    }
    for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return "PX" + hex;
}

// The reference a create of this record writes (and a lookup queries): customers the mapped
// CUSTOMERID or the one derived from the key; sales orders the mapped referenceno or the key.
std::string reference_of(const std::string& entity, const json& data, const std::string& key) {
    if (entity == "sales_orders") {
        std::string ref = field(data, "referenceno");
        return ref.empty() ? key : ref;
    }
    std::string id = field(data, "CUSTOMERID");
    return id.empty() ? derived_customer_id(key) : id;
}

// How a record is named in a per-record error message: its key, or what identifies it.
std::string record_label(const std::string& entity, const sdk::WriteItem& it) {
    if (entity == "sales_orders") {
        std::string ref = field(it.data, "referenceno");
        return "sales order " + (ref.empty() ? "(idempotency key " + it.idempotency_key + ")" : ref);
    }
    std::string id = it.op == sdk::WriteOp::Update ? it.target_key
                                                   : reference_of(entity, it.data, it.idempotency_key);
    return "customer " + (id.empty() ? "(new, without CUSTOMERID)" : id);
}

}  // namespace

class IntacctConnector : public sdk::Connector {
public:
    static constexpr const char* id = "intacct";
    static constexpr const char* version = "0.3.0";
    static constexpr const char* manifest = kManifest;

    // Retries of a throttled (GW-0010 / 429) or unreadable answer, after the host's own.
    static constexpr int kMaxAttempts = 5;
    // After a repeated-controlid refusal, how long to wait before looking for a create's
    // record a second time (the earlier request may still be running).
    static constexpr int kRecheckMs = 1000;
    // Customers per readByQuery that fetches written customers' WHENMODIFIED.
    static constexpr size_t kCursorReadKeys = 100;

    IntacctConnector(sdk::Host& host, const json& s) : host_(host) {
        auto str = [&](const char* k, const char* def = "") {
            auto it = s.find(k);
            return it != s.end() && it->is_string() ? it->get<std::string>() : std::string(def);
        };
        endpoint_ = str("endpoint_url", "https://api.intacct.com/ia/xml/xmlgw.phtml");
        sender_.sender_id = str("sender_id");
        sender_.sender_password = str("sender_password");
        login_.company_id = str("company_id");
        login_.user_id = str("user_id");
        login_.password = str("user_password");
        login_.location_id = str("entity_id");
        batch_size_ = static_cast<int>(s.value("batch_size", 100));
        page_size_ = static_cast<int>(s.value("page_size", 1000));
        exchange_rate_type_ = str("exchange_rate_type", kDefaultExchangeRateType);
        int full_scan_hours = static_cast<int>(s.value("inventory_full_scan_hours", 24));
        if (full_scan_hours < 0)
            throw Error(PLEXUS_ERR_CONFIG, "inventory_full_scan_hours must be 0 (never) or more");
        full_scan_ms_ = int64_t{full_scan_hours} * 3600 * 1000;
        if (sender_.sender_id.empty() || login_.company_id.empty() || login_.user_id.empty())
            throw Error(PLEXUS_ERR_CONFIG, "sender_id, company_id and user_id are required");
        if (batch_size_ < 1 || batch_size_ > 100)
            throw Error(PLEXUS_ERR_CONFIG, "batch_size must be between 1 and 100");
        if (page_size_ < 1 || page_size_ > 1000)
            throw Error(PLEXUS_ERR_CONFIG, "page_size must be between 1 and 1000");
        if (endpoint_.rfind("http://", 0) != 0 && endpoint_.rfind("https://", 0) != 0)
            throw Error(PLEXUS_ERR_CONFIG, "endpoint_url must be an http(s) URL");
    }

    void check() override { ensure_session(); }

    sdk::ReadPage read(const sdk::ReadRequest& req) override {
        const EntityInfo* info = entity_info(req.entity);
        if (!info || req.entity == "sales_orders")
            throw Error(PLEXUS_ERR_CONFIG, "intacct: entity '" + req.entity + "' cannot be read");
        ReadCursor c;
        if (req.cursor && !req.cursor->empty()) {
            auto d = decode_cursor(*req.cursor);
            if (!d) throw Error(PLEXUS_ERR_CONFIG, "intacct: unreadable cursor for " + req.entity);
            c = *d;
        } else if (req.since) {
            auto t = iso_to_intacct(*req.since);
            if (!t) throw Error(PLEXUS_ERR_CONFIG, "intacct: since is not ISO 8601: " + *req.since);
            c.t = *t;
        }
        int pagesize = std::clamp<int>(static_cast<int>(std::min<size_t>(req.limit, page_size_)), 1, 1000);

        FunctionResult fr;
        bool continued = false;
        if (!c.rid.empty() && issued_result_ids_.count(c.rid)) {
            fr = call_one(fn_read_more("r1", c.rid), false, "");
            continued = fr.status == "success";
        }
        if (!continued) {
            // A fresh query from the resume point; a resultId from another instance (or one
            // that expired) is never trusted.
            c.rid.clear();
            c.hw.clear();
            c.hwr.clear();
            // inventory: whether a quantity change moves ITEMWAREHOUSEINFO.WHENMODIFIED is not
            // documented, so every full_scan_ms_ the query starts from the beginning again; the
            // host skips the rows whose mapped payload did not change. `fs` marks when that
            // full read started; `t` stays empty until it is complete, so a restart in the
            // middle runs it from the beginning again.
            if (req.entity == "inventory" && full_scan_ms_ > 0) {
                int64_t now = host_.now_ms();
                if (c.fs == 0 || now - c.fs >= full_scan_ms_) {
                    if (!c.t.empty())
                        host_.info("intacct: inventory: full read of ITEMWAREHOUSEINFO (the last "
                                   "one started more than inventory_full_scan_hours ago)");
                    c.t.clear();
                    c.r.clear();
                    c.fs = now;
                }
            }
            std::string query = c.t.empty() ? "" : "WHENMODIFIED >= " + quote(c.t);
            fr = call_one(fn_read_by_query("r1", info->object, query, pagesize), false, "");
        }
        if (fr.status != "success")
            throw Error(PLEXUS_ERR_TRANSIENT, "intacct: reading " + req.entity + " failed: " +
                                                  join_errors(fr.errors));
        const std::string t_sort = sortable(c.t);
        std::set<std::string> skip(c.r.begin(), c.r.end());
        std::vector<json> rows;
        for (auto& row : fr.rows) {
            std::string wm = field(row, "WHENMODIFIED");
            std::string recno = field(row, "RECORDNO");
            if (!t_sort.empty() && sortable(wm) == t_sort && skip.count(recno)) continue;
            std::string s = sortable(wm);
            std::string hw_s = sortable(c.hw);
            if (c.hw.empty() || s > hw_s) {
                c.hw = wm;
                c.hwr = {recno};
            } else if (s == hw_s) {
                c.hwr.push_back(recno);
            }
            rows.push_back(std::move(row));
        }
        std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
            auto sa = sortable(field(a, "WHENMODIFIED")), sb = sortable(field(b, "WHENMODIFIED"));
            if (sa != sb) return sa < sb;
            return as_number(field(a, "RECORDNO")) < as_number(field(b, "RECORDNO"));
        });
        sdk::ReadPage page;
        for (auto& row : rows) page.records.push_back(to_record(*info, std::move(row)));
        if (fr.numremaining > 0 && !fr.result_id.empty()) {
            c.rid = fr.result_id;
            issued_result_ids_.insert(c.rid);
            page.has_more = true;
        } else {
            // The query is complete: the next run starts at the highest WHENMODIFIED seen.
            ReadCursor next;
            next.fs = c.fs;
            if (c.hw.empty()) {
                next.t = c.t;
                next.r = c.r;
            } else {
                next.t = c.hw;
                next.r = c.hwr;
                if (sortable(c.hw) == t_sort) next.r.insert(next.r.end(), c.r.begin(), c.r.end());
            }
            c = next;
            page.has_more = false;
        }
        page.next_cursor = encode_cursor(c);
        return page;
    }

    std::vector<sdk::WriteResult> write(const std::string& entity,
                                        const std::vector<sdk::WriteItem>& items) override {
        if (entity != "customers" && entity != "sales_orders")
            throw Error(PLEXUS_ERR_CONFIG, "intacct: entity '" + entity + "' cannot be written");
        std::vector<sdk::WriteResult> results(items.size());
        for (size_t start = 0; start < items.size(); start += batch_size_) {
            size_t end = std::min(items.size(), start + static_cast<size_t>(batch_size_));
            write_chunk(entity, items, start, end, results);
        }
        if (entity == "customers") attach_cursors(results);
        return results;
    }

    sdk::LookupResult lookup(const sdk::LookupRequest& req) override {
        const EntityInfo* info = entity_info(req.entity);
        if (!info) throw Error(PLEXUS_ERR_CONFIG, "intacct: unknown entity '" + req.entity + "'");
        std::string query;
        if (req.key) {
            query = std::string(info->key_field) + " = " + quote(*req.key);
        } else if (req.entity == "customers" || req.entity == "sales_orders") {
            // The reference every create writes into the record (README "Idempotency").
            std::string ref = reference_of(req.entity, req.data, req.idempotency_key.value_or(""));
            if (ref.empty()) return {};
            query = std::string(reference_field(req.entity)) + " = " + quote(ref);
        } else if (req.entity == "inventory" && field(req.data, "RECORDNO").empty()) {
            std::string item = field(req.data, "ITEMID"), wh = field(req.data, "WAREHOUSEID");
            if (item.empty() || wh.empty()) return {};
            query = "ITEMID = " + quote(item) + " AND WAREHOUSEID = " + quote(wh);
        } else {
            std::string k = field(req.data, info->key_field);
            if (k.empty()) return {};
            query = std::string(info->key_field) + " = " + quote(k);
        }
        FunctionResult fr =
            call_one(fn_read_by_query("l1", info->object, query, 2, info->docparid), false, "");
        if (fr.status != "success")
            throw Error(PLEXUS_ERR_TRANSIENT, "intacct: lookup in " + req.entity + " failed: " +
                                                  join_errors(fr.errors));
        sdk::LookupResult out;
        if (fr.rows.empty()) return out;
        out.found = true;
        out.record = to_record(*info, std::move(fr.rows.front()));
        return out;
    }

private:
    sdk::Record to_record(const EntityInfo& info, json row) {
        sdk::Record r;
        r.key = field(row, info.key_field);
        r.cursor = record_cursor(field(row, "WHENMODIFIED"));
        if (std::string(info.object) == "ITEMWAREHOUSEINFO") quantities_to_numbers(row);
        r.data = std::move(row);
        return r;
    }

    struct Planned {
        size_t item;            // index into the batch's items
        std::string controlid;  // the function's controlid in the request
        std::string function;   // the serialised <function>
    };

    // One request of up to batch_size functions: items[start, end).
    //
    // Idempotency (README "Idempotency"): every create carries a reference the connector can
    // look the record up by (customers: CUSTOMERID; sales orders: referenceno → PONUMBER),
    // and the request has uniqueid=true with a function controlid of its own per function,
    // so the host's retry of this very request after a lost answer is refused by Intacct
    // instead of run twice. What Intacct answers to such a repeat is not public, so no answer
    // is trusted to mean "already done": a create that failed is looked up by its reference
    // (one query for all of them), and adopted when it is there.
    void write_chunk(const std::string& entity, const std::vector<sdk::WriteItem>& items,
                     size_t start, size_t end, std::vector<sdk::WriteResult>& results) {
        // Unique to this request: the host's retries of the request send the same body.
        const std::string nonce = to_base36(static_cast<uint64_t>(host_.now_ms())) + "-" +
                                  std::to_string(++write_seq_);
        std::vector<Planned> plan;
        for (size_t i = start; i < end; ++i) {
            const auto& it = items[i];
            std::string fcid = function_controlid(it, plan.size() + 1, nonce);
            std::string why;
            std::string fn = build_function(entity, it, fcid, why);
            if (fn.empty()) {
                results[i] = sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                                      record_label(entity, it) + ": " + why);
                continue;
            }
            plan.push_back({i, fcid, std::move(fn)});
        }
        if (plan.empty()) return;
        Response resp = call(functions_of(plan), true, "");
        std::vector<bool> repeat_hints(items.size(), false);
        apply_results(entity, items, plan, resp, results, &repeat_hints);
        adopt_failed_creates(entity, items, plan, repeat_hints, results);
    }

    // <function controlid>: 1..256 characters; a create's starts with its idempotency key, so
    // Intacct's audit trail names the record.
    static std::string function_controlid(const sdk::WriteItem& it, size_t n, const std::string& nonce) {
        std::string head = it.op == sdk::WriteOp::Create && !it.idempotency_key.empty() &&
                                   it.idempotency_key.size() <= 64
                               ? it.idempotency_key
                               : (it.op == sdk::WriteOp::Create ? "c" : "u") + std::to_string(n);
        return head + "." + std::to_string(n) + "." + nonce;
    }

    static std::string to_base36(uint64_t v) {
        std::string out;
        do {
            out.insert(out.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
            v /= 36;
        } while (v);
        return out;
    }

    // Creates that failed (other than "already exists", which the host settles by lookup and
    // update): is the record in Intacct after all? One readByQuery by reference for all of
    // them. Found: this or an earlier request made it (the failure was Intacct refusing a
    // repeated function controlid, or an error reported after the commit) — adopt it. Not
    // found: the failure stands; when the failure reads like a refused repeat, look once more
    // a second later (the first request may still be running), then report it transient so
    // the host leaves its intent open and resolves it by lookup later.
    void adopt_failed_creates(const std::string& entity, const std::vector<sdk::WriteItem>& items,
                              const std::vector<Planned>& plan, const std::vector<bool>& repeat_hints,
                              std::vector<sdk::WriteResult>& results) {
        std::vector<const Planned*> failed;
        for (const auto& p : plan) {
            const auto& r = results[p.item];
            if (items[p.item].op == sdk::WriteOp::Create && r.status != PLEXUS_OK &&
                r.status != PLEXUS_ERR_CONFLICT)
                failed.push_back(&p);
        }
        if (failed.empty()) return;
        auto find_all = [&](std::vector<const Planned*>& which) {
            std::vector<std::string> refs;
            for (const Planned* p : which) refs.push_back(reference_of(entity, items[p->item].data, items[p->item].idempotency_key));
            std::map<std::string, sdk::Record> found;
            try {
                found = find_by_references(entity, refs);
            } catch (const Error& e) {
                host_.warn(std::string("intacct: looking up failed creates by reference failed: ") + e.what());
                return;
            }
            std::vector<const Planned*> still;
            for (size_t k = 0; k < which.size(); ++k) {
                auto f = found.find(refs[k]);
                if (f == found.end()) {
                    still.push_back(which[k]);
                    continue;
                }
                host_.info("intacct: " + record_label(entity, items[which[k]->item]) +
                           ": the create failed (" + results[which[k]->item].message +
                           ") but the record is in Intacct by its reference " + refs[k] + ": adopted");
                results[which[k]->item] = sdk::WriteResult::ok(
                    f->second.key, entity == "customers" ? f->second.cursor : std::string());
            }
            which = std::move(still);
        };
        find_all(failed);
        std::vector<const Planned*> hinted;
        for (const Planned* p : failed)
            if (repeat_hints[p->item]) hinted.push_back(p);
        if (hinted.empty()) return;
        if (!host_.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(kRecheckMs));
        find_all(hinted);
        for (const Planned* p : hinted)
            results[p->item] = sdk::WriteResult::failed(
                PLEXUS_ERR_TRANSIENT,
                results[p->item].message +
                    " — Intacct refused the function as a repeat, yet no record with the reference " +
                    reference_of(entity, items[p->item].data, items[p->item].idempotency_key) +
                    " is there (yet); it is looked up again before any new create");
    }

    // Reference → record, for the records of `entity` whose reference field holds one of refs.
    std::map<std::string, sdk::Record> find_by_references(const std::string& entity,
                                                          const std::vector<std::string>& refs) {
        const EntityInfo* info = entity_info(entity);
        const std::string ref_field = reference_field(entity);
        std::map<std::string, sdk::Record> out;
        std::vector<std::string> unique_refs;
        for (const auto& r : refs)
            if (!r.empty()) unique_refs.push_back(r);
        std::sort(unique_refs.begin(), unique_refs.end());
        unique_refs.erase(std::unique(unique_refs.begin(), unique_refs.end()), unique_refs.end());
        for (size_t from = 0; from < unique_refs.size(); from += kCursorReadKeys) {
            std::vector<std::string> chunk(
                unique_refs.begin() + static_cast<std::ptrdiff_t>(from),
                unique_refs.begin() + static_cast<std::ptrdiff_t>(std::min(unique_refs.size(), from + kCursorReadKeys)));
            std::string fields = std::string(info->key_field) + "," + ref_field + ",WHENMODIFIED";
            if (ref_field == info->key_field) fields = ref_field + ",WHENMODIFIED";
            FunctionResult fr = call_one(
                fn_read_by_query("a1", info->object, in_list(ref_field, chunk),
                                 static_cast<int>(std::min<size_t>(chunk.size() * 2, 1000)),
                                 info->docparid, fields),
                false, "");
            if (fr.status != "success")
                throw Error(PLEXUS_ERR_TRANSIENT, "intacct: lookup by reference in " + entity +
                                                      " failed: " + join_errors(fr.errors));
            for (auto& row : fr.rows) {
                std::string ref = field(row, ref_field.c_str());
                if (!out.count(ref)) out.emplace(ref, to_record(*info, std::move(row)));
            }
        }
        return out;
    }


    static std::vector<std::string> functions_of(const std::vector<Planned>& plan) {
        std::vector<std::string> out;
        for (const auto& p : plan) out.push_back(p.function);
        return out;
    }

    // The <function> for one record; empty with `why` when the record cannot be sent.
    std::string build_function(const std::string& entity, const sdk::WriteItem& it,
                               const std::string& fcid, std::string& why) {
        if (entity == "customers") {
            if (!it.data.is_object()) {
                why = "a customer must be a JSON object";
                return {};
            }
            json fields = it.data;
            fields.erase("RECORDNO");
            fields.erase("WHENMODIFIED");
            if (it.op == sdk::WriteOp::Update) {
                // Intacct finds the record to update by CUSTOMERID: the ledger's target key.
                fields["CUSTOMERID"] = it.target_key;
                return fn_generic(fcid, "update", "CUSTOMER", fields);
            }
            // The create's reference: the mapped CUSTOMERID, or one derived from the
            // idempotency key (README "Idempotency").
            if (field(fields, "CUSTOMERID").empty()) {
                std::string id = derived_customer_id(it.idempotency_key);
                if (id.empty()) {
                    why = "a customer create needs a CUSTOMERID or an idempotency key to derive one from";
                    return {};
                }
                fields["CUSTOMERID"] = id;
            }
            return fn_generic(fcid, "create", "CUSTOMER", fields);
        }
        if (it.op == sdk::WriteOp::Update) {
            why = "sales orders are created, never updated, by Plexus";
            return {};
        }
        if (!it.data.is_object()) {
            why = "a sales order must be a JSON object";
            return {};
        }
        // The create's reference: the mapped referenceno (PONUMBER), or the idempotency key.
        json order = it.data;
        if (field(order, "referenceno").empty()) {
            if (it.idempotency_key.empty()) {
                why = "a sales order needs a referenceno or an idempotency key";
                return {};
            }
            order["referenceno"] = it.idempotency_key;
        }
        return fn_create_sotransaction(fcid, order, why, exchange_rate_type_);
    }

    // Each function's <result> (matched by its controlid) is its record's outcome.
    // `repeat_hints` (per item): set where the failure reads like Intacct refusing a repeated
    // function controlid — a hint only, the real answer is not public.
    void apply_results(const std::string& entity, const std::vector<sdk::WriteItem>& items,
                       const std::vector<Planned>& plan, const Response& resp,
                       std::vector<sdk::WriteResult>& results,
                       std::vector<bool>* repeat_hints = nullptr) {
        std::map<std::string, const FunctionResult*> by_cid;
        for (const auto& r : resp.results) by_cid.emplace(r.controlid, &r);
        for (size_t f = 0; f < plan.size(); ++f) {
            size_t i = plan[f].item;
            const auto& it = items[i];
            const std::string label = record_label(entity, it);
            auto found = by_cid.find(plan[f].controlid);
            const FunctionResult* fr = found != by_cid.end() ? found->second
                                       : f < resp.results.size() ? &resp.results[f]
                                                                 : nullptr;
            if (!fr) {
                results[i] = sdk::WriteResult::failed(
                    PLEXUS_ERR_TRANSIENT, label + ": intacct returned no result for function " +
                                              plan[f].controlid);
            } else if (fr->status == "success") {
                std::string key;
                if (entity == "sales_orders") key = fr->key;
                else if (!fr->rows.empty()) key = field(fr->rows.front(), "CUSTOMERID");
                if (key.empty())
                    key = it.op == sdk::WriteOp::Update ? it.target_key
                                                       : reference_of(entity, it.data, it.idempotency_key);
                results[i] = sdk::WriteResult::ok(key);
            } else if (fr->status == "aborted") {
                results[i] = sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT,
                                                      label + ": aborted: " + join_errors(fr->errors));
            } else {
                results[i] = sdk::WriteResult::failed(
                    is_already_exists(fr->errors) && it.op == sdk::WriteOp::Create
                        ? PLEXUS_ERR_CONFLICT
                        : PLEXUS_ERR_VALIDATION,
                    label + ": " + join_errors(fr->errors));
                if (repeat_hints && is_repeat_hint(fr->errors)) (*repeat_hints)[i] = true;
            }
        }
    }

    // The written customers' WHENMODIFIED, as their cursor (record_cursor(), like a read
    // reports it): the host's echo check for a two-way sync compares it with what the reverse
    // process reads later. Intacct's create/update answer carries only RECORDNO and
    // CUSTOMERID, so after the batch's write requests one readByQuery per 100 written
    // customers (CUSTOMERID IN (…)) fetches it. The writes are done whatever that read does:
    // when it fails, the results go without cursors (the echo is then caught one round later,
    // by the payload hash).
    void attach_cursors(std::vector<sdk::WriteResult>& results) {
        std::vector<std::string> all;
        for (const auto& r : results)
            if (r.status == PLEXUS_OK && r.cursor.empty() && !r.target_key.empty())
                all.push_back(r.target_key);
        std::sort(all.begin(), all.end());
        all.erase(std::unique(all.begin(), all.end()), all.end());
        std::map<std::string, std::string> cursor_of;
        for (size_t from = 0; from < all.size(); from += kCursorReadKeys) {
            std::vector<std::string> keys(
                all.begin() + static_cast<std::ptrdiff_t>(from),
                all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + kCursorReadKeys)));
            if (!read_cursors(keys, cursor_of)) break;
        }
        for (auto& r : results) {
            if (r.status != PLEXUS_OK || !r.cursor.empty()) continue;
            auto it = cursor_of.find(r.target_key);
            if (it != cursor_of.end()) r.cursor = it->second;
        }
    }

    // CUSTOMERID → record_cursor(WHENMODIFIED) of these customers; false when the read failed.
    bool read_cursors(const std::vector<std::string>& keys, std::map<std::string, std::string>& cursor_of) {
        try {
            FunctionResult fr = call_one(
                fn_read_by_query("w1", "CUSTOMER", in_list("CUSTOMERID", keys),
                                 static_cast<int>(std::min<size_t>(keys.size(), 1000)), "",
                                 "CUSTOMERID,WHENMODIFIED"),
                false, "");
            if (fr.status != "success") {
                host_.warn("intacct: reading the written customers' WHENMODIFIED failed: " +
                           join_errors(fr.errors));
                return false;
            }
            for (const auto& row : fr.rows)
                cursor_of[field(row, "CUSTOMERID")] = record_cursor(field(row, "WHENMODIFIED"));
            return true;
        } catch (const Error& e) {
            host_.warn(std::string("intacct: reading the written customers' WHENMODIFIED failed: ") +
                       e.what());
            return false;
        }
    }

    FunctionResult call_one(const std::string& function, bool unique, const std::string& cid) {
        Response r = call({function}, unique, cid);
        if (r.results.empty())
            throw Error(PLEXUS_ERR_TRANSIENT, "intacct: the response has no function result");
        return std::move(r.results.front());
    }

    void ensure_session() {
        if (session_) return;
        Response r = exchange(endpoint_, {fn_get_api_session("s1")}, false, next_controlid(), false);
        if (r.results.empty() || r.results.front().status != "success" ||
            !r.results.front().api.is_object())
            throw Error(PLEXUS_ERR_AUTH,
                        "intacct: getAPISession failed: " +
                            (r.results.empty() ? std::string("no result")
                                               : join_errors(r.results.front().errors)));
        const json& api = r.results.front().api;
        session_ = api.value("sessionid", "");
        std::string ep = api.value("endpoint", "");
        if (session_->empty()) {
            session_.reset();
            throw Error(PLEXUS_ERR_AUTH, "intacct: getAPISession returned no sessionid");
        }
        // Every later request goes to the endpoint the session names — with the sender
        // password in it — so it has to be one we trust.
        std::string why;
        if (!ep.empty() && !endpoint_allowed(endpoint_, ep, why)) {
            session_.reset();
            throw Error(PLEXUS_ERR_AUTH, "intacct: getAPISession returned the endpoint " + ep +
                                             ", which is refused: " + why);
        }
        session_endpoint_ = ep.empty() ? endpoint_ : ep;
    }

    // A request with the session; one re-login when the session is refused.
    Response call(const std::vector<std::string>& functions, bool unique, std::string cid) {
        if (cid.empty()) cid = next_controlid();
        for (int round = 0;; ++round) {
            ensure_session();
            try {
                return exchange(session_endpoint_, functions, unique, cid, true);
            } catch (const Error& e) {
                if (e.status() != PLEXUS_ERR_AUTH || round > 0 || !session_auth_failed_) throw;
                session_.reset();  // the session expired: log in again, once
            }
        }
    }

    std::string next_controlid() { return "px-req-" + std::to_string(++request_seq_); }

    // One envelope to the gateway; throttling and unreadable answers retried with backoff.
    Response exchange(const std::string& url, const std::vector<std::string>& functions,
                      bool unique, const std::string& cid, bool with_session) {
        Control control{sender_.sender_id, sender_.sender_password, cid, unique};
        std::string body = build_request(
            control, with_session ? session_ : std::optional<std::string>(), login_, functions);
        session_auth_failed_ = false;
        std::string last_problem;
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
            if (attempt > 0) {
                if (host_.cancelled()) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(100LL << (attempt - 1)));
            }
            sdk::HttpRequest hr;
            hr.method = "POST";
            hr.url = url;
            hr.headers = {{"Content-Type", "application/xml"}, {"Accept", "text/xml"}};
            hr.body = body;
            sdk::HttpResponse res = host_.http(hr);
            Response r = parse_response(res.body);
            if (res.status == 429 || (r.parsed && !r.control_ok && is_throttled(r.control_errors))) {
                last_problem = "intacct: the gateway is throttling requests (GW-0010 / HTTP 429)";
                host_.warn(last_problem + "; backing off");
                if (attempt + 1 == kMaxAttempts) throw Error(PLEXUS_ERR_RATE_LIMIT, last_problem);
                continue;
            }
            if (res.status >= 500)
                throw Error(PLEXUS_ERR_TRANSIENT,
                            "intacct: the gateway answered HTTP " + std::to_string(res.status));
            if (!r.parsed) {
                last_problem = "intacct: unreadable answer (HTTP " + std::to_string(res.status) +
                               "): " + r.parse_error;
                host_.warn(last_problem + "; retrying");
                continue;
            }
            if (!r.control_ok) {
                bool malformed = std::any_of(r.control_errors.begin(), r.control_errors.end(),
                                             [](const WireError& e) {
                                                 return e.errorno == "XL03000003" ||
                                                        e.errorno == "GW-0011";
                                             });
                throw Error(malformed ? PLEXUS_ERR_PLUGIN : PLEXUS_ERR_AUTH,
                            "intacct: request refused (sender " + sender_.sender_id +
                                "): " + join_errors(r.control_errors));
            }
            if (!r.auth_ok) {
                session_auth_failed_ = with_session;
                throw Error(PLEXUS_ERR_AUTH, "intacct: authentication failed for user " +
                                                 login_.user_id + " in company " +
                                                 login_.company_id + ": " +
                                                 join_errors(r.auth_errors));
            }
            return r;
        }
        throw Error(PLEXUS_ERR_TRANSIENT, last_problem.empty() ? "intacct: cancelled" : last_problem);
    }

    sdk::Host& host_;
    std::string endpoint_;
    Control sender_;
    Login login_;
    int batch_size_ = 100;
    int page_size_ = 1000;
    std::string exchange_rate_type_;  // sales_orders: default <exchratetype> after <currency>
    int64_t full_scan_ms_ = 0;  // inventory: a full read at least this often (0: never)
    std::optional<std::string> session_;
    std::string session_endpoint_;
    bool session_auth_failed_ = false;
    int request_seq_ = 0;
    uint64_t write_seq_ = 0;  // write requests of this instance (function controlids)
    std::set<std::string> issued_result_ids_;  // resultIds this instance may continue
};

}  // namespace plexus::intacct

PLEXUS_EXPORT_CONNECTOR(plexus::intacct::IntacctConnector)
