// The Sage Intacct connector: XML Web Services (dtdversion 3.0) through the host's HTTP client.
// Wire format in intacct_xml.{hpp,cpp}; decisions in README.md.
#include "intacct_xml.hpp"

#include <plexus/connector.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace plexus::intacct {

using sdk::Error;

namespace {

constexpr const char* kManifest = R"json({
  "id": "intacct",
  "name": "Sage Intacct (XML Web Services)",
  "version": "0.1.0",
  "description": "Customers, sales orders and AR invoices in Sage Intacct through the XML gateway (dtdversion 3.0): session login, batched functions with per-record results, readByQuery/readMore paging, incremental reads on WHENMODIFIED, idempotent writes via uniqueid + controlid.",
  "settings": [
    {"name": "endpoint_url", "type": "string", "default": "https://api.intacct.com/ia/xml/xmlgw.phtml", "description": "The XML gateway used for the getAPISession login; later calls go to the endpoint the session names."},
    {"name": "sender_id", "type": "string", "required": true, "description": "Web Services sender ID (control block)."},
    {"name": "sender_password", "type": "string", "required": true, "secret": true, "description": "Web Services sender password."},
    {"name": "company_id", "type": "string", "required": true, "description": "Intacct company ID."},
    {"name": "user_id", "type": "string", "required": true, "description": "Web Services user ID in the company."},
    {"name": "user_password", "type": "string", "required": true, "secret": true, "description": "That user's password."},
    {"name": "entity_id", "type": "string", "default": "", "description": "Multi-entity companies: the entity (locationid) to log in to; empty for top level."},
    {"name": "batch_size", "type": "integer", "default": 100, "description": "Functions per request when writing (1..100)."},
    {"name": "page_size", "type": "integer", "default": 1000, "description": "readByQuery page size (1..1000); the host's page limit caps it."}
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
     "fields": [{"name": "PRODUCTLINEID", "type": "string"}, {"name": "DESCRIPTION", "type": "string"}]}
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

}  // namespace

class IntacctConnector : public sdk::Connector {
public:
    static constexpr const char* id = "intacct";
    static constexpr const char* version = "0.1.0";
    static constexpr const char* manifest = kManifest;

    // Retries of a throttled (GW-0010 / 429) or unreadable answer, after the host's own.
    static constexpr int kMaxAttempts = 5;

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
        return results;
    }

    sdk::LookupResult lookup(const sdk::LookupRequest& req) override {
        const EntityInfo* info = entity_info(req.entity);
        if (!info) throw Error(PLEXUS_ERR_CONFIG, "intacct: unknown entity '" + req.entity + "'");
        std::string query;
        if (req.key) {
            query = std::string(info->key_field) + " = " + quote(*req.key);
        } else if (req.entity == "sales_orders") {
            std::string ref = field(req.data, "referenceno");
            if (ref.empty()) return {};
            query = "PONUMBER = " + quote(ref);
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
        auto iso = intacct_to_iso(field(row, "WHENMODIFIED"));
        r.cursor = iso ? *iso : field(row, "WHENMODIFIED");
        r.data = std::move(row);
        return r;
    }

    void write_chunk(const std::string& entity, const std::vector<sdk::WriteItem>& items,
                     size_t start, size_t end, std::vector<sdk::WriteResult>& results) {
        std::vector<std::string> functions;
        std::vector<size_t> index;  // function i ↔ items[index[i]]
        std::string identity = entity;
        for (size_t i = start; i < end; ++i) {
            const auto& it = items[i];
            std::string fcid = "f" + std::to_string(i - start + 1);
            std::string fn;
            if (entity == "customers") {
                if (!it.data.is_object()) {
                    results[i] = sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION,
                                                          "a customer must be a JSON object");
                    continue;
                }
                json fields = it.data;
                fields.erase("RECORDNO");
                fields.erase("WHENMODIFIED");
                if (it.op == sdk::WriteOp::Update) {
                    // Intacct finds the record to update by CUSTOMERID: the ledger's target key.
                    fields["CUSTOMERID"] = it.target_key;
                    fn = fn_generic(fcid, "update", "CUSTOMER", fields);
                } else {
                    fn = fn_generic(fcid, "create", "CUSTOMER", fields);
                }
            } else {
                if (it.op == sdk::WriteOp::Update) {
                    results[i] = sdk::WriteResult::failed(
                        PLEXUS_ERR_VALIDATION, "sales orders are created, never updated, by Plexus");
                    continue;
                }
                std::string why;
                fn = fn_create_sotransaction(fcid, it.data, why);
                if (fn.empty()) {
                    results[i] = sdk::WriteResult::failed(PLEXUS_ERR_VALIDATION, "sales order: " + why);
                    continue;
                }
            }
            // The request's controlid covers what each record asks for: the same batch retried
            // (same keys, same data) gets the same controlid and the gateway refuses it.
            identity += "|" + std::to_string(static_cast<int>(it.op)) + "|" + it.idempotency_key +
                        "|" + it.target_key + "|" + it.data.dump();
            functions.push_back(std::move(fn));
            index.push_back(i);
        }
        if (functions.empty()) return;
        Response resp = call(functions, true, stable_controlid(identity));
        if (!resp.control_ok && is_duplicate_controlid(resp.control_errors)) {
            // Already received (a retry of a request whose answer was lost): find what it made.
            for (size_t i : index) {
                const auto& it = items[i];
                if (it.op == sdk::WriteOp::Update) {
                    results[i] = sdk::WriteResult::ok(it.target_key);
                    continue;
                }
                sdk::LookupRequest lr;
                lr.entity = entity;
                lr.idempotency_key = it.idempotency_key;
                lr.data = it.data;
                auto found = lookup(lr);
                results[i] = found.found
                                 ? sdk::WriteResult::ok(found.record.key)
                                 : sdk::WriteResult::failed(
                                       PLEXUS_ERR_TRANSIENT,
                                       "intacct refused a repeated request (controlid) but the "
                                       "record it should have created was not found");
            }
            return;
        }
        for (size_t f = 0; f < index.size(); ++f) {
            size_t i = index[f];
            const FunctionResult* fr = f < resp.results.size() ? &resp.results[f] : nullptr;
            if (!fr) {
                results[i] = sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT,
                                                      "intacct returned no result for this record");
            } else if (fr->status == "success") {
                std::string key;
                if (entity == "sales_orders") key = fr->key;
                else if (!fr->rows.empty()) key = field(fr->rows.front(), "CUSTOMERID");
                if (key.empty()) key = items[i].op == sdk::WriteOp::Update
                                           ? items[i].target_key
                                           : field(items[i].data, "CUSTOMERID");
                results[i] = sdk::WriteResult::ok(key);
            } else if (fr->status == "aborted") {
                results[i] = sdk::WriteResult::failed(PLEXUS_ERR_TRANSIENT, join_errors(fr->errors));
            } else {
                results[i] = sdk::WriteResult::failed(
                    is_already_exists(fr->errors) && items[i].op == sdk::WriteOp::Create
                        ? PLEXUS_ERR_CONFLICT
                        : PLEXUS_ERR_VALIDATION,
                    join_errors(fr->errors));
            }
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
        session_endpoint_ = ep.empty() ? endpoint_ : ep;
        if (session_->empty()) {
            session_.reset();
            throw Error(PLEXUS_ERR_AUTH, "intacct: getAPISession returned no sessionid");
        }
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
                if (is_duplicate_controlid(r.control_errors)) return r;
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
    std::optional<std::string> session_;
    std::string session_endpoint_;
    bool session_auth_failed_ = false;
    int request_seq_ = 0;
    std::set<std::string> issued_result_ids_;  // resultIds this instance may continue
};

}  // namespace plexus::intacct

PLEXUS_EXPORT_CONNECTOR(plexus::intacct::IntacctConnector)
