#include "intacct_sandbox.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace plexus::sandbox {

namespace {

using json = nlohmann::json;

// Error codes (README "Error shapes"). Sign-in and parse codes follow the developer docs;
// the rest are the sandbox's decisions.
constexpr const char* kSignIn = "XL03000006";
constexpr const char* kParse = "XL03000003";
constexpr const char* kDuplicateControl = "XL03000004";
constexpr const char* kThrottled = "GW-0010";
// Where an Inventory item's sales order line goes when it names no warehouse.
constexpr const char* kDefaultWarehouse = "WH-ZRH";

struct Err {
    std::string no, desc, desc2, corr;
};

void add_text(pugi::xml_node p, const char* name, const std::string& v) {
    p.append_child(name).text().set(v.c_str());
}

void add_errors(pugi::xml_node parent, const std::vector<Err>& errs) {
    auto em = parent.append_child("errormessage");
    for (const auto& e : errs) {
        auto n = em.append_child("error");
        add_text(n, "errorno", e.no);
        add_text(n, "description", e.desc);
        add_text(n, "description2", e.desc2);
        add_text(n, "correction", e.corr);
    }
}

std::string to_string(const pugi::xml_document& doc) {
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
    return out.str();
}

json to_json(const pugi::xml_node& node) {
    bool has_elements = false;
    for (auto c : node.children())
        if (c.type() == pugi::node_element) has_elements = true;
    if (!has_elements) return json(node.text().get());
    json obj = json::object();
    for (auto c : node.children()) {
        if (c.type() != pugi::node_element) continue;
        json v = to_json(c);
        auto it = obj.find(c.name());
        if (it == obj.end()) obj[c.name()] = std::move(v);
        else {
            if (!it->is_array()) *it = json::array({*it});
            it->push_back(std::move(v));
        }
    }
    return obj;
}

void append_json(pugi::xml_node parent, const std::string& name, const json& v) {
    if (v.is_array()) {
        for (const auto& e : v) append_json(parent, name, e);
        return;
    }
    auto el = parent.append_child(name.c_str());
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) append_json(el, it.key(), it.value());
    } else if (v.is_string()) {
        el.text().set(v.get<std::string>().c_str());
    } else if (!v.is_null()) {
        el.text().set(v.dump().c_str());
    }
}

void merge(json& into, const json& from) {
    for (auto it = from.begin(); it != from.end(); ++it) {
        if (it.value().is_object() && into.contains(it.key()) && into[it.key()].is_object())
            merge(into[it.key()], it.value());
        else into[it.key()] = it.value();
    }
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string format_time(int64_t epoch_s, bool with_time = true) {
    std::time_t t = static_cast<std::time_t>(epoch_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    if (with_time)
        std::snprintf(buf, sizeof buf, "%02d/%02d/%04d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    else
        std::snprintf(buf, sizeof buf, "%02d/%02d/%04d", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900);
    return buf;
}

// "mm/dd/yyyy[ HH:MM:SS]" → "yyyy-mm-dd HH:MM:SS" (sortable), or empty.
std::string sortable(const std::string& t) {
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (std::sscanf(t.c_str(), "%2d/%2d/%4d %2d:%2d:%2d", &mo, &d, &y, &h, &mi, &s) < 3) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s);
    return buf;
}

std::string sv(const json& row, const std::string& f) {
    if (!row.contains(f)) return {};
    const auto& v = row[f];
    return v.is_string() ? v.get<std::string>() : v.dump();
}

bool is_number(const std::string& s, double& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end && *end == 0;
}

// One condition of a readByQuery <query>: FIELD OP 'value', or FIELD IN ('a', 'b', …).
struct Condition {
    std::string field, op, value;
    std::vector<std::string> values;  // op "in"
};

// Parses "A = 'x' AND WHENMODIFIED >= '01/02/2024 10:00:00'" and "ID IN ('a','b')"; false when
// unsupported. Quoted values escape a single quote (and a backslash) with a backslash, as the
// developer docs say ('Jane\'s Deli').
bool parse_query(const std::string& q, std::vector<Condition>& out, std::string& why) {
    size_t i = 0;
    auto skip_ws = [&] { while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) ++i; };
    auto value = [&](std::string& v) {
        if (i < q.size() && q[i] == '\'') {
            ++i;
            while (i < q.size()) {
                if (q[i] == '\\' && i + 1 < q.size()) {
                    v += q[i + 1];
                    i += 2;
                } else if (q[i] == '\'') {
                    ++i;
                    return true;
                } else v += q[i++];
            }
            return false;  // unterminated
        }
        while (i < q.size() && !std::isspace(static_cast<unsigned char>(q[i])) && q[i] != ',' &&
               q[i] != ')')
            v += q[i++];
        return !v.empty();
    };
    skip_ws();
    while (i < q.size()) {
        Condition c;
        while (i < q.size() && (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '_' || q[i] == '.'))
            c.field += q[i++];
        skip_ws();
        if (lower(q.substr(i, 2)) == "in" && i + 2 < q.size() &&
            (q[i + 2] == '(' || std::isspace(static_cast<unsigned char>(q[i + 2])))) {
            c.op = "in";
            i += 2;
            skip_ws();
            if (i >= q.size() || q[i] != '(') {
                why = "IN needs a parenthesised list near position " + std::to_string(i);
                return false;
            }
            ++i;
            for (;;) {
                skip_ws();
                std::string v;
                if (!value(v)) {
                    why = "bad value in IN list near position " + std::to_string(i);
                    return false;
                }
                c.values.push_back(v);
                skip_ws();
                if (i < q.size() && q[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < q.size() && q[i] == ')') {
                    ++i;
                    break;
                }
                why = "unterminated IN list near position " + std::to_string(i);
                return false;
            }
        } else {
            while (i < q.size() && std::string("<>=!").find(q[i]) != std::string::npos) c.op += q[i++];
            skip_ws();
            if (c.field.empty() || (c.op != "=" && c.op != ">=" && c.op != "<=" && c.op != ">" &&
                                    c.op != "<" && c.op != "!=" && c.op != "<>")) {
                why = "unsupported query near position " + std::to_string(i);
                return false;
            }
            if (!value(c.value)) {
                why = "bad or unterminated value near position " + std::to_string(i);
                return false;
            }
        }
        if (c.field.empty()) {
            why = "a condition without a field near position " + std::to_string(i);
            return false;
        }
        out.push_back(c);
        skip_ws();
        if (i >= q.size()) break;
        if (lower(q.substr(i, 3)) != "and") {
            why = "only AND-joined conditions are supported";
            return false;
        }
        i += 3;
        skip_ws();
    }
    return true;
}

bool matches(const json& row, const std::vector<Condition>& conds) {
    for (const auto& c : conds) {
        std::string have = sv(row, c.field);
        if (c.op == "in") {
            if (std::find(c.values.begin(), c.values.end(), have) == c.values.end()) return false;
            continue;
        }
        int cmp;
        double a, b;
        if (c.field == "WHENMODIFIED" || c.field == "WHENCREATED") {
            std::string x = sortable(have), y = sortable(c.value);
            cmp = x < y ? -1 : x > y ? 1 : 0;
        } else if (is_number(have, a) && is_number(c.value, b)) {
            cmp = a < b ? -1 : a > b ? 1 : 0;
        } else {
            cmp = have < c.value ? -1 : have > c.value ? 1 : 0;
        }
        bool ok = c.op == "=" ? cmp == 0
                  : c.op == ">=" ? cmp >= 0
                  : c.op == "<=" ? cmp <= 0
                  : c.op == ">"  ? cmp > 0
                  : c.op == "<"  ? cmp < 0
                                 : cmp != 0;
        if (!ok) return false;
    }
    return true;
}

// <fields>: "*" (or empty) = every field; else the listed ones, in the row's order.
json project(const json& row, const std::set<std::string>& fields) {
    if (fields.empty()) return row;
    json out = json::object();
    for (auto it = row.begin(); it != row.end(); ++it)
        if (fields.count(it.key())) out[it.key()] = it.value();
    return out;
}

std::set<std::string> parse_fields(const std::string& text) {
    std::set<std::string> out;
    std::stringstream ss(text);
    for (std::string f; std::getline(ss, f, ',');) {
        f.erase(0, f.find_first_not_of(" \t"));
        f.erase(f.find_last_not_of(" \t") + 1);
        if (f == "*") return {};
        if (!f.empty()) out.insert(f);
    }
    return out;
}

struct ResultSet {
    std::string object;
    std::vector<json> rows;  // a snapshot, in (WHENMODIFIED, RECORDNO) order
    size_t next = 0;
    int pagesize = 1000;
};

const std::map<std::string, std::string>& key_fields() {
    static const std::map<std::string, std::string> k = {{"CUSTOMER", "CUSTOMERID"},
                                                         {"ITEM", "ITEMID"},
                                                         {"PRODUCTLINE", "PRODUCTLINEID"},
                                                         {"SODOCUMENT", "DOCID"},
                                                         {"ARINVOICE", "RECORDID"},
                                                         {"WAREHOUSE", "WAREHOUSEID"},
                                                         {"ITEMWAREHOUSEINFO", "RECORDNO"}};
    return k;
}

class IntacctSandbox final : public Sandbox, public IntacctSandboxControl {
public:
    explicit IntacctSandbox(uint32_t seed) : rng_(seed) { seed_data(); }

    std::string id() const override { return "intacct"; }

    void mount(httplib::Server& server) override {
        server.Post("/ia/xml/xmlgw.phtml",
                    [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
    }

    uint64_t requests() const override { return requests_.load(); }
    uint64_t throttled() const override { return throttled_.load(); }
    size_t count(const std::string& object) const override {
        std::lock_guard lock(mutex_);
        auto it = objects_.find(object);
        return it == objects_.end() ? 0 : it->second.size();
    }
    void set_work_delay_ms(int ms) override { work_delay_ms_ = ms; }
    bool adjust_on_hand(const std::string& item, const std::string& warehouse, double delta) override {
        std::lock_guard lock(mutex_);
        json* row = stock_row(item, warehouse);
        if (!row) return false;
        add_quantity(*row, "ONHAND", delta);
        (*row)["WHENMODIFIED"] = now_stamp();
        return true;
    }
    std::optional<json> stock(const std::string& item, const std::string& warehouse) override {
        std::lock_guard lock(mutex_);
        json* row = stock_row(item, warehouse);
        if (!row) return std::nullopt;
        return *row;
    }
    bool touch(const std::string& object, const std::string& key, const std::string& f,
               const std::string& value) override {
        std::lock_guard lock(mutex_);
        json* row = find_row(object, key);
        if (!row) return false;
        (*row)[f] = value;
        (*row)["WHENMODIFIED"] = now_stamp();
        return true;
    }

private:
    static void throttle(httplib::Response& res) {
        pugi::xml_document doc;
        auto decl = doc.append_child(pugi::node_declaration);
        decl.append_attribute("version") = "1.0";
        decl.append_attribute("encoding") = "UTF-8";
        auto r = doc.append_child("response");
        add_text(r.append_child("control"), "status", "failure");
        add_errors(r, {{kThrottled, "Rate limit exceeded",
                        "Too many concurrent requests for this company (limit " +
                            std::to_string(kIntacctConcurrentLimit) + ")",
                        "Wait and retry the request."}});
        res.status = 429;
        res.set_content(to_string(doc), "text/xml");
    }

    struct InFlight {
        std::atomic<int>& n;
        int now;
        explicit InFlight(std::atomic<int>& c) : n(c), now(++c) {}
        ~InFlight() { --n; }
    };

    void serve(const httplib::Request& req, httplib::Response& res) {
        ++requests_;
        if (faults_.intercept(res, &IntacctSandbox::throttle)) return;
        InFlight guard(in_flight_);
        if (guard.now > kIntacctConcurrentLimit) {
            ++throttled_;
            throttle(res);
            return;
        }
        if (int d = work_delay_ms_.load(); d > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(d));
        std::string endpoint = "http://" + req.get_header_value("Host") + req.path;
        std::lock_guard lock(mutex_);
        res.status = 200;
        res.set_content(handle(req.body, endpoint), "text/xml");
    }

    std::string handle(const std::string& body, const std::string& endpoint) {
        pugi::xml_document out;
        auto decl = out.append_child(pugi::node_declaration);
        decl.append_attribute("version") = "1.0";
        decl.append_attribute("encoding") = "UTF-8";
        auto resp = out.append_child("response");
        auto control = resp.append_child("control");

        pugi::xml_document in;
        auto parsed = in.load_buffer(body.data(), body.size());
        auto request = in.child("request");
        auto ctl = request.child("control");
        auto control_fail = [&](const Err& e) {
            add_text(control, "status", "failure");
            add_text(control, "senderid", ctl.child("senderid").text().get());
            add_text(control, "controlid", ctl.child("controlid").text().get());
            add_text(control, "uniqueid", ctl.child("uniqueid").text().get());
            add_text(control, "dtdversion", ctl.child("dtdversion").text().get());
            add_errors(resp, {e});
            return to_string(out);
        };
        if (!parsed || !request)
            return control_fail({kParse, "", std::string("XML Parse schema error: ") +
                                                 (parsed ? "no <request> root" : parsed.description()),
                                 ""});
        std::string sender = ctl.child("senderid").text().get();
        if (sender != kIntacctSenderId ||
            std::string(ctl.child("password").text().get()) != kIntacctSenderPassword)
            return control_fail({kSignIn, "Sign-in information is incorrect",
                                 "Incorrect Web Services sender ID or password",
                                 "Check the sender ID and password of your Web Services license."});
        if (std::string(ctl.child("dtdversion").text().get()) != "3.0")
            return control_fail({kParse, "", "Unsupported dtdversion; this gateway serves 3.0", ""});
        std::string controlid = ctl.child("controlid").text().get();
        if (controlid.empty() || controlid.size() > 256)
            return control_fail({kParse, "", "controlid must be 1..256 characters", ""});
        bool unique = std::string(ctl.child("uniqueid").text().get()) == "true";
        if (unique && seen_controlids_.count(controlid))
            return control_fail({kDuplicateControl, "Duplicate control ID",
                                 "A request with controlid " + controlid +
                                     " was already received and uniqueid is true; it was not "
                                     "processed again.",
                                 "Use a new controlid for a new request."});
        add_text(control, "status", "success");
        add_text(control, "senderid", sender);
        add_text(control, "controlid", controlid);
        add_text(control, "uniqueid", unique ? "true" : "false");
        add_text(control, "dtdversion", "3.0");

        auto op = request.child("operation");
        auto opout = resp.append_child("operation");
        auto auth = opout.append_child("authentication");
        auto ain = op.child("authentication");
        std::string user, company, location;
        bool ok = false;
        if (auto login = ain.child("login")) {
            user = login.child("userid").text().get();
            company = login.child("companyid").text().get();
            location = login.child("locationid").text().get();
            ok = user == kIntacctUserId && company == kIntacctCompanyId &&
                 std::string(login.child("password").text().get()) == kIntacctUserPassword;
        } else if (auto sid = ain.child("sessionid")) {
            auto it = sessions_.find(sid.text().get());
            if (it != sessions_.end()) {
                ok = true;
                user = kIntacctUserId;
                company = kIntacctCompanyId;
                location = it->second;
            }
        }
        if (!ok) {
            add_text(auth, "status", "failure");
            add_text(auth, "userid", user);
            add_text(auth, "companyid", company);
            add_text(auth, "locationid", location);
            add_errors(opout, {{kSignIn, "Sign-in information is incorrect",
                                ain.child("sessionid") ? "The session is invalid or has expired"
                                                       : "Incorrect user ID, company ID or password",
                                "Check your credentials, or log in again."}});
            return to_string(out);
        }
        if (unique) seen_controlids_.insert(controlid);
        add_text(auth, "status", "success");
        add_text(auth, "userid", user);
        add_text(auth, "companyid", company);
        add_text(auth, "locationid", location);
        add_text(auth, "sessiontimestamp", format_time(now_s()));
        add_text(auth, "sessiontimeout", format_time(now_s() + 3600));

        auto content = op.child("content");
        bool any = false;
        for (auto fn : content.children("function")) {
            any = true;
            function(opout, fn, endpoint, location);
        }
        if (!any) {
            auto r = opout.append_child("result");
            add_text(r, "status", "failure");
            add_text(r, "function", "");
            add_text(r, "controlid", "");
            add_errors(r, {{kParse, "", "The request has no <function>", ""}});
        }
        return to_string(out);
    }

    // One <function>: appends its <result> to `op`.
    void function(pugi::xml_node op, pugi::xml_node fn, const std::string& endpoint,
                  const std::string& location) {
        pugi::xml_node body;
        for (auto c : fn.children())
            if (c.type() == pugi::node_element) {
                body = c;
                break;
            }
        std::string name = body ? body.name() : "";
        auto r = op.append_child("result");
        auto status = r.append_child("status");
        add_text(r, "function", name);
        add_text(r, "controlid", fn.attribute("controlid").value());
        auto fail = [&](std::vector<Err> errs) {
            status.text().set("failure");
            add_errors(r, errs);
        };
        status.text().set("success");
        if (name == "getAPISession") {
            std::uniform_int_distribution<uint64_t> d;
            char sid[40];
            std::snprintf(sid, sizeof sid, "%016llx%08llx", static_cast<unsigned long long>(d(rng_)),
                          static_cast<unsigned long long>(d(rng_) & 0xffffffff));
            sessions_[sid] = location;
            auto api = r.append_child("data").append_child("api");
            add_text(api, "sessionid", sid);
            add_text(api, "endpoint", endpoint);
            add_text(api, "locationid", location);
        } else if (name == "readByQuery") {
            std::string object = body.child("object").text().get();
            if (!objects_.count(object))
                return fail({{"DL02000001", "", "Object " + object + " is not supported", ""}});
            std::vector<Condition> conds;
            std::string why;
            if (!parse_query(body.child("query").text().get(), conds, why))
                return fail({{"DL02000001", "There was an error processing the request.",
                              "Query failed: " + why, "Check the query syntax."}});
            std::string docpar = body.child("docparid").text().get();
            // The developer docs: pagesize 1..1000, default 100.
            int pagesize = body.child("pagesize").text().as_int(100);
            if (pagesize < 1 || pagesize > 1000)
                return fail({{"DL02000001", "", "pagesize must be between 1 and 1000",
                              "Use a page size between 1 and 1000."}});
            std::set<std::string> fields = parse_fields(body.child("fields").text().get());
            ResultSet set{object, {}, 0, pagesize};
            for (const auto& row : objects_[object]) {
                if (!docpar.empty() && sv(row, "DOCPARID") != docpar) continue;
                if (matches(row, conds)) set.rows.push_back(row);
            }
            std::stable_sort(set.rows.begin(), set.rows.end(), [](const json& a, const json& b) {
                auto x = sortable(sv(a, "WHENMODIFIED")), y = sortable(sv(b, "WHENMODIFIED"));
                if (x != y) return x < y;
                return std::stoll(sv(a, "RECORDNO")) < std::stoll(sv(b, "RECORDNO"));
            });
            if (!fields.empty())
                for (auto& row : set.rows) row = project(row, fields);
            page(r, set);
        } else if (name == "readMore") {
            std::string rid = body.child("resultId").text().get();
            auto it = result_sets_.find(rid);
            if (it == result_sets_.end())
                return fail({{"DL02000001", "", "resultId " + rid + " is not valid or has expired",
                              "Run the readByQuery again."}});
            ResultSet set = std::move(it->second);
            result_sets_.erase(it);
            page(r, set);
        } else if (name == "read") {
            std::string object = body.child("object").text().get();
            if (!objects_.count(object))
                return fail({{"DL02000001", "", "Object " + object + " is not supported", ""}});
            std::set<std::string> keys;
            std::stringstream ks(body.child("keys").text().get());
            for (std::string k; std::getline(ks, k, ',');) keys.insert(k);
            auto data = r.append_child("data");
            int n = 0;
            for (const auto& row : objects_[object])
                if (keys.count(sv(row, "RECORDNO"))) {
                    append_json(data, lower(object), row);
                    ++n;
                }
            data.append_attribute("listtype") = lower(object).c_str();
            data.append_attribute("count") = n;
        } else if (name == "create" || name == "update") {
            auto obj = body.first_child();
            std::string object = obj ? obj.name() : "";
            if (object != "CUSTOMER" && object != "ITEM" && object != "PRODUCTLINE")
                return fail({{"BL01001973", "", "Object " + object + " cannot be " + name + "d here",
                              "Use CUSTOMER, ITEM or PRODUCTLINE."}});
            json fields = to_json(obj);
            if (!fields.is_object()) fields = json::object();
            std::vector<Err> errs;
            json* row = name == "create" ? create(object, fields, errs) : update(object, fields, errs);
            if (!row) return fail(errs);
            auto data = r.append_child("data");
            data.append_attribute("listtype") = "objects";
            data.append_attribute("count") = 1;
            auto o = data.append_child(lower(object).c_str());
            add_text(o, "RECORDNO", sv(*row, "RECORDNO"));
            add_text(o, key_fields().at(object).c_str(), sv(*row, key_fields().at(object)));
        } else if (name == "create_sotransaction") {
            std::vector<Err> errs;
            json* row = create_sotransaction(body, errs);
            if (!row) return fail(errs);
            add_text(r, "key", sv(*row, "DOCID"));
        } else {
            fail({{kParse, "", "Function " + name + " is not supported by the sandbox", ""}});
        }
    }

    void page(pugi::xml_node r, ResultSet& set) {
        auto data = r.append_child("data");
        size_t end = std::min(set.rows.size(), set.next + static_cast<size_t>(set.pagesize));
        for (size_t i = set.next; i < end; ++i) append_json(data, lower(set.object), set.rows[i]);
        size_t remaining = set.rows.size() - end;
        data.append_attribute("listtype") = lower(set.object).c_str();
        data.append_attribute("count") = static_cast<unsigned long long>(end - set.next);
        data.append_attribute("totalcount") = static_cast<unsigned long long>(set.rows.size());
        data.append_attribute("numremaining") = static_cast<unsigned long long>(remaining);
        std::string rid;
        if (remaining > 0) {
            rid = "rs" + std::to_string(++result_seq_);
            set.next = end;
            result_sets_[rid] = std::move(set);
            // Result sets expire: keep only the newest 64.
            while (result_sets_.size() > 64) result_sets_.erase(result_sets_.begin());
        }
        data.append_attribute("resultId") = rid.c_str();
    }

    json* find_row(const std::string& object, const std::string& key) {
        auto& rows = objects_[object];
        const std::string& kf = key_fields().at(object);
        for (auto& row : rows)
            if (sv(row, kf) == key) return &row;
        return nullptr;
    }

    json* create(const std::string& object, json fields, std::vector<Err>& errs) {
        const std::string& kf = key_fields().at(object);
        if (sv(fields, kf).empty()) {
            if (object != "CUSTOMER") {
                errs.push_back({"BL01001973", "", "Required field " + kf + " is missing",
                                "Provide a value for " + kf + "."});
                return nullptr;
            }
            char buf[32];
            std::snprintf(buf, sizeof buf, "C-%05d", ++customer_seq_);
            fields[kf] = buf;
        }
        if (find_row(object, sv(fields, kf))) {
            std::string label = object == "CUSTOMER" ? "Customer" : object == "ITEM" ? "Item" : "Product line";
            errs.push_back({"BL34000061", "", "Another " + label + " with the given value(s) " +
                                                  sv(fields, kf) + " already exists",
                            "Use a unique value instead."});
            return nullptr;
        }
        std::string name_field = object == "PRODUCTLINE" ? "DESCRIPTION" : "NAME";
        if (sv(fields, name_field).empty()) {
            errs.push_back({"BL01001973", "", "Required field " + name_field + " is missing",
                            "Provide a value for " + name_field + "."});
            return nullptr;
        }
        if (object == "CUSTOMER" && fields.contains("STATUS") && sv(fields, "STATUS") != "active" &&
            sv(fields, "STATUS") != "inactive") {
            errs.push_back({"BL01001973", "", "Invalid STATUS " + sv(fields, "STATUS"),
                            "Use active or inactive."});
            return nullptr;
        }
        if (!fields.contains("STATUS")) fields["STATUS"] = "active";
        fields["RECORDNO"] = std::to_string(++record_seq_);
        fields["WHENCREATED"] = now_stamp();
        fields["WHENMODIFIED"] = now_stamp();
        objects_[object].push_back(std::move(fields));
        return &objects_[object].back();
    }

    json* update(const std::string& object, const json& fields, std::vector<Err>& errs) {
        const std::string& kf = key_fields().at(object);
        json* row = nullptr;
        if (!sv(fields, "RECORDNO").empty()) {
            for (auto& r : objects_[object])
                if (sv(r, "RECORDNO") == sv(fields, "RECORDNO")) row = &r;
        } else if (!sv(fields, kf).empty()) {
            row = find_row(object, sv(fields, kf));
        }
        if (!row) {
            errs.push_back({"BL01001973", "", "No " + object + " record with the given key " +
                                                  (sv(fields, kf).empty() ? sv(fields, "RECORDNO") : sv(fields, kf)),
                            "Check the key."});
            return nullptr;
        }
        json f = fields;
        f.erase("RECORDNO");
        f.erase("WHENCREATED");
        merge(*row, f);
        (*row)["WHENMODIFIED"] = now_stamp();
        return row;
    }

    json* create_sotransaction(pugi::xml_node t, std::vector<Err>& errs) {
        std::string type = t.child("transactiontype").text().get();
        if (type != "Sales Order" && type != "Sales Quote" && type != "Sales Invoice") {
            errs.push_back({"BL03000018", "", "Transaction definition '" + type + "' does not exist",
                            "Use an existing Order Entry transaction definition."});
            return nullptr;
        }
        std::string customer = t.child("customerid").text().get();
        if (!find_row("CUSTOMER", customer)) {
            errs.push_back({"BL03000018", "", "Invalid Customer " + customer + " specified.",
                            "Use an existing customer ID."});
            return nullptr;
        }
        auto dc = t.child("datecreated");
        int y = dc.child("year").text().as_int(), m = dc.child("month").text().as_int(),
            d = dc.child("day").text().as_int();
        if (y < 1900 || m < 1 || m > 12 || d < 1 || d > 31) {
            errs.push_back({kParse, "", "datecreated needs year, month and day", ""});
            return nullptr;
        }
        json lines = json::array();
        double total = 0;
        int n = 0;
        std::vector<std::pair<json*, double>> stock_moves;  // applied once every line is valid
        for (auto it : t.child("sotransitems").children("sotransitem")) {
            ++n;
            std::string item = it.child("itemid").text().get();
            json* irow = find_row("ITEM", item);
            if (!irow) {
                errs.push_back({"BL03000018", "", "Item ID '" + item + "' is not valid (line " +
                                                      std::to_string(n) + ")",
                                "Use an existing item."});
                return nullptr;
            }
            double qty = it.child("quantity").text().as_double();
            if (qty <= 0) {
                errs.push_back({"BL03000018", "", "Quantity must be positive (line " + std::to_string(n) + ")", ""});
                return nullptr;
            }
            std::string wh = it.child("warehouseid").text().get();
            if (!wh.empty() && !find_row("WAREHOUSE", wh)) {
                errs.push_back({"BL03000018", "", "Warehouse '" + wh + "' is not valid (line " +
                                                      std::to_string(n) + ")",
                                "Use an existing warehouse ID."});
                return nullptr;
            }
            if (sv(*irow, "ITEMTYPE") == "Inventory") {
                if (wh.empty()) wh = kDefaultWarehouse;
                json* stock = stock_row(item, wh);
                if (!stock) {
                    errs.push_back({"BL03000018", "", "Item '" + item + "' is not stocked in warehouse '" +
                                                          wh + "' (line " + std::to_string(n) + ")",
                                    "Pick a warehouse the item is stocked in."});
                    return nullptr;
                }
                if (type != "Sales Quote") stock_moves.push_back({stock, qty});
            }
            double price = it.child("price") ? it.child("price").text().as_double()
                                             : std::stod(sv(*irow, "BASEPRICE"));
            char amount[32];
            std::snprintf(amount, sizeof amount, "%.2f", qty * price);
            total += qty * price;
            lines.push_back({{"LINE_NO", std::to_string(n)}, {"ITEMID", item},
                             {"QUANTITY", it.child("quantity").text().get()},
                             {"PRICE", std::to_string(price)}, {"TOTAL", amount},
                             {"WAREHOUSEID", it.child("warehouseid").text().get()}});
        }
        if (n == 0) {
            errs.push_back({"BL03000018", "", "A transaction needs at least one line", ""});
            return nullptr;
        }
        // Inventory effect (the sandbox's transaction definitions): a Sales Order puts the
        // quantity on hold, a Sales Invoice ships it (on hand goes down).
        for (auto& [row, qty] : stock_moves) {
            if (type == "Sales Order") add_quantity(*row, "ONHOLD", qty);
            else add_quantity(*row, "ONHAND", -qty);
            (*row)["WHENMODIFIED"] = now_stamp();
        }
        char docno[32], date[32], tot[48];
        std::snprintf(docno, sizeof docno, "SO%04d", ++so_seq_);
        std::snprintf(date, sizeof date, "%02d/%02d/%04d", m, d, y);
        std::snprintf(tot, sizeof tot, "%.2f", total);
        json row{{"RECORDNO", std::to_string(++record_seq_)},
                 {"DOCNO", docno},
                 {"DOCID", type + "-" + docno},
                 {"DOCPARID", type},
                 {"CUSTVENDID", customer},
                 {"PONUMBER", t.child("referenceno").text().get()},
                 {"WHENCREATED", date},
                 {"WHENMODIFIED", now_stamp()},
                 {"STATE", "Pending"},
                 {"CURRENCY", t.child("currency") ? t.child("currency").text().get() : "USD"},
                 {"TOTAL", tot},
                 {"SODOCUMENTENTRIES", {{"sodocumententry", lines}}}};
        objects_["SODOCUMENT"].push_back(std::move(row));
        return &objects_["SODOCUMENT"].back();
    }

    static int64_t now_s() {
        using namespace std::chrono;
        return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
    }
    static std::string now_stamp() { return format_time(now_s()); }

    void seed_data() {
        static const char* first[] = {"Zoë", "José", "Anaïs", "Björn", "Łukasz", "Søren", "Chloé",
                                      "Jürgen", "Ana", "Mika", "Renée", "Ömer", "Ngọc", "Eilís",
                                      "Sigríður", "François", "Dagný", "Miloš", "Aylin", "Kenji"};
        static const char* last[] = {"Müller", "Østergaard", "Dvořák", "García", "Nguyễn", "Kowalczyk",
                                     "O'Brien", "Şahin", "Çelik", "Ångström", "Lefèvre", "Novák",
                                     "Żak", "Hernández", "Björk", "Schäfer", "Jørgensen", "Tanaka"};
        static const char* cities[] = {"Zürich", "München", "Kraków", "São Paulo", "Malmö", "Besançon",
                                       "Reykjavík", "Łódź", "Córdoba", "Genève"};
        static const char* countries[] = {"Switzerland", "Germany", "Poland", "Brazil", "Sweden",
                                          "France", "Iceland", "Poland", "Spain", "Switzerland"};
        static const char* lines[] = {"Bicycles", "Components", "Apparel", "Accessories", "Helmets",
                                      "Tyres & Tubes", "Tools", "Nutrition", "Electronics", "Spare parts"};
        static const char* nouns[] = {"Frame", "Wheel", "Saddle", "Jersey", "Pump", "Light", "Lock",
                                      "Bottle", "Chain", "Brake pad", "Gilet", "Café cap"};
        const int64_t base = 1704067200;  // 01/01/2024 00:00:00 UTC
        std::uniform_int_distribution<int> pick(0, 1 << 30);
        auto stamp = [&](int64_t& last_stamp, int i) {
            // Spread over ~150 days; every 7th row shares the previous row's second (ties).
            if (i % 7 == 6) return format_time(last_stamp);
            last_stamp = base + (pick(rng_) % (150 * 86400));
            return format_time(last_stamp);
        };
        int64_t last_stamp = base;
        for (int i = 0; i < 10; ++i) {
            char id[32];
            std::snprintf(id, sizeof id, "PL-%02d", i + 1);
            objects_["PRODUCTLINE"].push_back({{"RECORDNO", std::to_string(++record_seq_)},
                                               {"PRODUCTLINEID", id},
                                               {"DESCRIPTION", lines[i]},
                                               {"STATUS", "active"},
                                               {"WHENMODIFIED", stamp(last_stamp, i)}});
        }
        for (int i = 0; i < 150; ++i) {
            char id[32], price[16], cost[16];
            std::snprintf(id, sizeof id, "I-%04d", 1001 + i);
            double p = 5 + (pick(rng_) % 50000) / 100.0;
            std::snprintf(price, sizeof price, "%.2f", p);
            std::snprintf(cost, sizeof cost, "%.2f", p * 0.6);
            objects_["ITEM"].push_back(
                {{"RECORDNO", std::to_string(++record_seq_)},
                 {"ITEMID", id},
                 {"NAME", std::string(nouns[i % 12]) + " " + lines[i % 10] + " " + std::to_string(i + 1)},
                 {"ITEMTYPE", i % 9 == 0 ? "Non-Inventory" : "Inventory"},
                 {"STATUS", i % 25 == 24 ? "inactive" : "active"},
                 {"PRODUCTLINEID", sv(objects_["PRODUCTLINE"][i % 10], "PRODUCTLINEID")},
                 {"BASEPRICE", price},
                 {"STANDARD_COST", cost},
                 {"UOMGRP", "Count"},
                 {"TAXABLE", i % 4 == 0 ? "false" : "true"},
                 {"WHENMODIFIED", stamp(last_stamp, i)}});
        }
        for (int i = 0; i < 200; ++i) {
            std::string fn = first[pick(rng_) % 20], ln = last[pick(rng_) % 18];
            int c = pick(rng_) % 10;
            char id[32];
            std::snprintf(id, sizeof id, "C-%05d", ++customer_seq_);
            std::string email = i % 11 == 0 ? "" : "customer" + std::to_string(i + 1) + "@example.com";
            objects_["CUSTOMER"].push_back(
                {{"RECORDNO", std::to_string(++record_seq_)},
                 {"CUSTOMERID", id},
                 {"NAME", i % 5 == 0 ? ln + " & Söhne GmbH" : fn + " " + ln},
                 {"DISPLAYCONTACT",
                  {{"PRINTAS", fn + " " + ln}, {"FIRSTNAME", fn}, {"LASTNAME", ln},
                   {"EMAIL1", email}, {"PHONE1", "+41 44 " + std::to_string(1000000 + i)},
                   {"MAILADDRESS", {{"ADDRESS1", "Hauptstraße " + std::to_string(i + 1)},
                                    {"CITY", cities[c]},
                                    {"ZIP", std::to_string(1000 + i * 7)},
                                    {"COUNTRY", countries[c]}}}}},
                 {"STATUS", i % 17 == 16 ? "inactive" : "active"},
                 {"CURRENCY", c % 3 == 0 ? "CHF" : c % 3 == 1 ? "EUR" : "USD"},
                 {"TAXABLE", "true"},
                 {"WHENCREATED", format_time(base, false)},
                 {"WHENMODIFIED", stamp(last_stamp, i)}});
        }
        static const char* states[] = {"Posted", "Partially Paid", "Paid"};
        for (int i = 0; i < 150; ++i) {
            const json& cust = objects_["CUSTOMER"][pick(rng_) % 200];
            double total = 20 + (pick(rng_) % 300000) / 100.0;
            int s = pick(rng_) % 3;
            double paid = s == 0 ? 0 : s == 2 ? total : std::round(total * 0.4 * 100) / 100;
            char t[32], p[32], d[32], num[16];
            std::snprintf(t, sizeof t, "%.2f", total);
            std::snprintf(p, sizeof p, "%.2f", paid);
            std::snprintf(d, sizeof d, "%.2f", total - paid);
            std::snprintf(num, sizeof num, "INV-%05d", 1 + i);
            int64_t created = base + (pick(rng_) % (120 * 86400));
            objects_["ARINVOICE"].push_back({{"RECORDNO", std::to_string(++record_seq_)},
                                             {"RECORDID", num},
                                             // The reference number: the Shopify order the
                                             // invoice bills (#1001 …), as an invoice converted
                                             // from a Sales Order made by Orders Shopify→Intacct
                                             // carries it.
                                             {"DOCNUMBER", "#" + std::to_string(1001 + i)},
                                             {"CUSTOMERID", sv(cust, "CUSTOMERID")},
                                             {"CUSTOMERNAME", sv(cust, "NAME")},
                                             {"WHENCREATED", format_time(created, false)},
                                             {"WHENDUE", format_time(created + 30 * 86400, false)},
                                             {"STATE", states[s]},
                                             {"CURRENCY", sv(cust, "CURRENCY")},
                                             {"TOTALENTERED", t},
                                             {"TOTALPAID", p},
                                             {"TOTALDUE", d},
                                             {"WHENMODIFIED", stamp(last_stamp, i)}});
        }
        objects_["SODOCUMENT"];
        // Warehouses and what each Inventory item has on hand in them (seeded last, so the
        // rows above stay what they were before inventory existed). Every Inventory item is
        // stocked in the default warehouse; some in the others too.
        static const char* wh_ids[] = {kDefaultWarehouse, "WH-BER", "WH-LYS"};
        static const char* wh_names[] = {"Zürich Hauptlager", "Berlin Süd", "Lyon Entrepôt"};
        for (int w = 0; w < 3; ++w)
            objects_["WAREHOUSE"].push_back({{"RECORDNO", std::to_string(++record_seq_)},
                                             {"WAREHOUSEID", wh_ids[w]},
                                             {"NAME", wh_names[w]},
                                             {"STATUS", "active"},
                                             {"WHENMODIFIED", format_time(base)}});
        int n = 0;
        for (const auto& item : objects_["ITEM"]) {
            if (sv(item, "ITEMTYPE") != "Inventory") continue;
            for (int w = 0; w < 3; ++w) {
                if (w > 0 && pick(rng_) % 3 != 0) continue;
                int onhand = pick(rng_) % 8 == 0 ? 0 : pick(rng_) % 250;
                objects_["ITEMWAREHOUSEINFO"].push_back(
                    {{"RECORDNO", std::to_string(++record_seq_)},
                     {"ITEMID", sv(item, "ITEMID")},
                     {"WAREHOUSEID", wh_ids[w]},
                     {"ONHAND", std::to_string(onhand)},
                     {"ONORDER", std::to_string(pick(rng_) % 4 == 0 ? pick(rng_) % 100 : 0)},
                     {"ONHOLD", "0"},
                     {"REORDER_POINT", "10"},
                     {"WHENMODIFIED", stamp(last_stamp, n++)}});
            }
        }
    }

    // A quantity field of an ITEMWAREHOUSEINFO row plus `delta`, written back as Intacct
    // writes decimals (whole numbers without a fraction).
    static void add_quantity(json& row, const char* f, double delta) {
        double v = 0;
        is_number(sv(row, f), v);
        v += delta;
        char buf[48];
        if (v == static_cast<double>(static_cast<long long>(v)))
            std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        else
            std::snprintf(buf, sizeof buf, "%.4f", v);
        row[f] = buf;
    }

    json* stock_row(const std::string& item, const std::string& warehouse) {
        for (auto& row : objects_["ITEMWAREHOUSEINFO"])
            if (sv(row, "ITEMID") == item && sv(row, "WAREHOUSEID") == warehouse) return &row;
        return nullptr;
    }

    mutable std::mutex mutex_;  // guards everything below except the atomics
    std::mt19937_64 rng_;
    std::map<std::string, std::vector<json>> objects_;
    std::map<std::string, std::string> sessions_;  // sessionid → locationid
    std::map<std::string, ResultSet> result_sets_;
    std::set<std::string> seen_controlids_;  // of uniqueid=true requests that were processed
    int record_seq_ = 0, customer_seq_ = 0, so_seq_ = 0;
    uint64_t result_seq_ = 0;
    std::atomic<uint64_t> requests_{0}, throttled_{0};
    std::atomic<int> in_flight_{0}, work_delay_ms_{0};
};

}  // namespace

std::unique_ptr<Sandbox> make_intacct_sandbox(uint32_t seed) {
    return std::make_unique<IntacctSandbox>(seed);
}

}  // namespace plexus::sandbox
