#include "intacct_sandbox.hpp"
#include "intacct_schema.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
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
// A repeated function controlid under uniqueid=true: Intacct's code and text are not public;
// this one is invented (README "What the sandbox invents").
constexpr const char* kDuplicateFunction = "XL03000004";
// transaction="true": the other functions of a failed operation (the SDK's test fixtures).
constexpr const char* kRolledBack = "XL03000009";
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

// The objects the sandbox serves and their fields (the sandbox's object definitions: what
// `lookup` lists, what a readByQuery <query> or <fields> may name). Field names follow
// developer.intacct.com's object pages; the selection and the data types are the sandbox's.
struct FieldDef {
    const char* id;
    const char* datatype;  // TEXT, INTEGER, DECIMAL, DATE, TIMESTAMP, BOOLEAN, ENUM
    std::vector<const char*> valid;  // ENUM values
};
struct ObjectDef {
    const char* label;
    std::vector<FieldDef> fields;
};

const std::map<std::string, ObjectDef>& object_defs() {
    static const std::map<std::string, ObjectDef> defs = {
        {"CUSTOMER",
         {"Customer",
          {{"RECORDNO", "INTEGER", {}}, {"CUSTOMERID", "TEXT", {}}, {"NAME", "TEXT", {}},
           {"STATUS", "ENUM", {"active", "inactive"}}, {"CURRENCY", "TEXT", {}},
           {"TAXABLE", "BOOLEAN", {}}, {"COMMENTS", "TEXT", {}},
           {"WHENCREATED", "TIMESTAMP", {}}, {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"ITEM",
         {"Item",
          {{"RECORDNO", "INTEGER", {}}, {"ITEMID", "TEXT", {}}, {"NAME", "TEXT", {}},
           {"ITEMTYPE", "ENUM", {"Inventory", "Non-Inventory", "Non-Inventory (Purchase only)",
                                 "Non-Inventory (Sales only)", "Kit", "Stockable Kit"}},
           {"STATUS", "ENUM", {"active", "inactive"}}, {"PRODUCTLINEID", "TEXT", {}},
           {"BASEPRICE", "DECIMAL", {}}, {"STANDARD_COST", "DECIMAL", {}}, {"UOMGRP", "TEXT", {}},
           {"TAXABLE", "BOOLEAN", {}}, {"WHENCREATED", "TIMESTAMP", {}},
           {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"PRODUCTLINE",
         {"Product Line",
          {{"RECORDNO", "INTEGER", {}}, {"PRODUCTLINEID", "TEXT", {}}, {"DESCRIPTION", "TEXT", {}},
           {"STATUS", "ENUM", {"active", "inactive"}}, {"WHENCREATED", "TIMESTAMP", {}},
           {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"SODOCUMENT",
         {"Order Entry Transaction",
          {{"RECORDNO", "INTEGER", {}}, {"DOCNO", "TEXT", {}}, {"DOCID", "TEXT", {}},
           {"DOCPARID", "TEXT", {}}, {"CUSTVENDID", "TEXT", {}}, {"PONUMBER", "TEXT", {}},
           {"MESSAGE", "TEXT", {}}, {"STATE", "TEXT", {}}, {"CURRENCY", "TEXT", {}},
           {"EXCHRATETYPE", "TEXT", {}}, {"TOTAL", "DECIMAL", {}}, {"WHENCREATED", "DATE", {}},
           {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"ARINVOICE",
         {"AR Invoice",
          {{"RECORDNO", "INTEGER", {}}, {"RECORDID", "TEXT", {}}, {"DOCNUMBER", "TEXT", {}},
           {"CUSTOMERID", "TEXT", {}}, {"CUSTOMERNAME", "TEXT", {}}, {"WHENCREATED", "DATE", {}},
           {"WHENDUE", "DATE", {}},
           {"STATE", "ENUM", {"Draft", "Posted", "Partially Paid", "Paid", "Reversed"}},
           {"CURRENCY", "TEXT", {}}, {"TOTALENTERED", "DECIMAL", {}}, {"TOTALPAID", "DECIMAL", {}},
           {"TOTALDUE", "DECIMAL", {}}, {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"WAREHOUSE",
         {"Warehouse",
          {{"RECORDNO", "INTEGER", {}}, {"WAREHOUSEID", "TEXT", {}}, {"NAME", "TEXT", {}},
           {"STATUS", "ENUM", {"active", "inactive"}}, {"WHENMODIFIED", "TIMESTAMP", {}}}}},
        {"ITEMWAREHOUSEINFO",
         {"Item Warehouse Details",
          {{"RECORDNO", "INTEGER", {}}, {"ITEMID", "TEXT", {}}, {"WAREHOUSEID", "TEXT", {}},
           {"ONHAND", "DECIMAL", {}}, {"ONORDER", "DECIMAL", {}}, {"ONHOLD", "DECIMAL", {}},
           {"REORDER_POINT", "DECIMAL", {}}, {"WHENMODIFIED", "TIMESTAMP", {}}}}},
    };
    return defs;
}

const FieldDef* field_def(const std::string& object, const std::string& field) {
    auto it = object_defs().find(object);
    if (it == object_defs().end()) return nullptr;
    for (const auto& f : it->second.fields)
        if (field == f.id) return &f;
    return nullptr;
}

bool is_date_type(const FieldDef& f) {
    return std::string(f.datatype) == "DATE" || std::string(f.datatype) == "TIMESTAMP";
}

// "mm/dd/yyyy" or "mm/dd/yyyy HH:MM:SS", nothing else, with a real date; the sortable form or
// empty.
std::string strict_date(const std::string& t) {
    int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
    if (std::sscanf(t.c_str(), "%2d/%2d/%4d%n", &mo, &d, &y, &n) != 3) return {};
    if (static_cast<size_t>(n) != t.size()) {
        int m2 = 0;
        if (std::sscanf(t.c_str() + n, " %2d:%2d:%2d%n", &h, &mi, &s, &m2) != 3 ||
            static_cast<size_t>(n + m2) != t.size())
            return {};
    }
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || h > 23 || mi > 59 || s > 59)
        return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s);
    return buf;
}

// A readByQuery <query> as a tree. The developer docs ("Queries", readByQuery): operators <,
// >, >=, <=, =, like, not like, in, not in, IS NULL, IS NOT NULL; conditions combined with AND
// and OR, negated by a NOT prefix; spaces around operators; string operands case-sensitive;
// single quotes in values escaped with a backslash ('Jane\'s Deli'). Parentheses group.
// (The sandbox also accepts != and <>.)
struct QueryNode {
    enum Kind { And, Or, Not, Cond } kind = Cond;
    std::vector<QueryNode> kids;
    std::string field, op;  // op: = != <> < <= > >= like notlike in notin null notnull
    std::string value;
    std::vector<std::string> values;
    const FieldDef* def = nullptr;
};

class QueryParser {
public:
    QueryParser(const std::string& q, const std::string& object) : q_(q), object_(object) {}

    // False with `why` on a syntax error, an unknown field, or a date that is not one.
    bool parse(std::optional<QueryNode>& out, std::string& why) {
        skip_ws();
        if (i_ >= q_.size()) return true;  // empty query: every row
        QueryNode n;
        if (!expr(n)) {
            why = why_;
            return false;
        }
        skip_ws();
        if (i_ < q_.size()) {
            why = "unexpected '" + q_.substr(i_, 20) + "' at position " + std::to_string(i_);
            return false;
        }
        out = std::move(n);
        return true;
    }

private:
    bool fail(const std::string& w) {
        if (why_.empty()) why_ = w;
        return false;
    }
    void skip_ws() {
        while (i_ < q_.size() && std::isspace(static_cast<unsigned char>(q_[i_]))) ++i_;
    }
    // A keyword (case-insensitive) followed by a non-identifier character.
    bool keyword(const char* kw) {
        skip_ws();
        size_t n = std::strlen(kw);
        if (lower(q_.substr(i_, n)) != kw) return false;
        if (i_ + n < q_.size() &&
            (std::isalnum(static_cast<unsigned char>(q_[i_ + n])) || q_[i_ + n] == '_'))
            return false;
        i_ += n;
        return true;
    }
    bool expr(QueryNode& out) {  // or
        QueryNode first;
        if (!conj(first)) return false;
        if (!keyword("or")) {
            out = std::move(first);
            return true;
        }
        out = QueryNode{QueryNode::Or, {}, {}, {}, {}, {}, nullptr};
        out.kids.push_back(std::move(first));
        do {
            QueryNode next;
            if (!conj(next)) return false;
            out.kids.push_back(std::move(next));
        } while (keyword("or"));
        return true;
    }
    bool conj(QueryNode& out) {  // and
        QueryNode first;
        if (!unary(first)) return false;
        if (!keyword("and")) {
            out = std::move(first);
            return true;
        }
        out = QueryNode{QueryNode::And, {}, {}, {}, {}, {}, nullptr};
        out.kids.push_back(std::move(first));
        do {
            QueryNode next;
            if (!unary(next)) return false;
            out.kids.push_back(std::move(next));
        } while (keyword("and"));
        return true;
    }
    bool unary(QueryNode& out) {
        if (keyword("not")) {
            QueryNode inner;
            if (!unary(inner)) return false;
            out = QueryNode{QueryNode::Not, {}, {}, {}, {}, {}, nullptr};
            out.kids.push_back(std::move(inner));
            return true;
        }
        skip_ws();
        if (i_ < q_.size() && q_[i_] == '(') {
            ++i_;
            if (!expr(out)) return false;
            skip_ws();
            if (i_ >= q_.size() || q_[i_] != ')')
                return fail("missing ')' at position " + std::to_string(i_));
            ++i_;
            return true;
        }
        return condition(out);
    }
    bool value(std::string& v) {
        skip_ws();
        if (i_ < q_.size() && q_[i_] == '\'') {
            ++i_;
            while (i_ < q_.size()) {
                if (q_[i_] == '\\' && i_ + 1 < q_.size()) {
                    v += q_[i_ + 1];
                    i_ += 2;
                } else if (q_[i_] == '\'') {
                    ++i_;
                    return true;
                } else v += q_[i_++];
            }
            return fail("unterminated quoted value");
        }
        while (i_ < q_.size() && !std::isspace(static_cast<unsigned char>(q_[i_])) && q_[i_] != ',' &&
               q_[i_] != ')' && q_[i_] != '(')
            v += q_[i_++];
        if (v.empty()) return fail("a value is missing at position " + std::to_string(i_));
        return true;
    }
    bool check_value(const QueryNode& c, const std::string& v) {
        if (c.def && is_date_type(*c.def) && c.op != "like" && c.op != "notlike" && strict_date(v).empty())
            return fail("'" + v + "' is not a valid date for " + c.field +
                        " (use mm/dd/yyyy or mm/dd/yyyy HH:MM:SS)");
        return true;
    }
    bool condition(QueryNode& c) {
        skip_ws();
        size_t start = i_;
        while (i_ < q_.size() && (std::isalnum(static_cast<unsigned char>(q_[i_])) || q_[i_] == '_' || q_[i_] == '.'))
            c.field += q_[i_++];
        if (c.field.empty())
            return fail("a field name is expected at position " + std::to_string(start));
        c.def = field_def(object_, c.field);
        if (!c.def) return fail("unknown field " + c.field + " for object " + object_);
        c.kind = QueryNode::Cond;
        if (keyword("is")) {
            c.op = keyword("not") ? "notnull" : "null";
            if (!keyword("null")) return fail("IS must be followed by NULL or NOT NULL");
            return true;
        }
        bool negated = keyword("not");
        if (keyword("in")) {
            c.op = negated ? "notin" : "in";
            skip_ws();
            if (i_ >= q_.size() || q_[i_] != '(') return fail("IN needs a parenthesised list");
            ++i_;
            for (;;) {
                std::string v;
                if (!value(v) || !check_value(c, v)) return false;
                c.values.push_back(v);
                skip_ws();
                if (i_ < q_.size() && q_[i_] == ',') {
                    ++i_;
                    continue;
                }
                if (i_ < q_.size() && q_[i_] == ')') {
                    ++i_;
                    return true;
                }
                return fail("unterminated IN list");
            }
        }
        if (keyword("like")) {
            c.op = negated ? "notlike" : "like";
            return value(c.value);
        }
        if (negated) return fail("NOT must be followed by IN or LIKE after a field");
        skip_ws();
        while (i_ < q_.size() && std::string("<>=!").find(q_[i_]) != std::string::npos) c.op += q_[i_++];
        static const std::set<std::string> ops{"=", "!=", "<>", "<", "<=", ">", ">="};
        if (!ops.count(c.op))
            return fail("unsupported operator '" + c.op + "' after " + c.field);
        return value(c.value) && check_value(c, c.value);
    }

    const std::string& q_;
    std::string object_;
    size_t i_ = 0;
    std::string why_;
};

// SQL LIKE: % any run, _ one character; case-sensitive.
bool like(const std::string& s, const std::string& p, size_t si = 0, size_t pi = 0) {
    while (pi < p.size()) {
        if (p[pi] == '%') {
            for (size_t k = si; k <= s.size(); ++k)
                if (like(s, p, k, pi + 1)) return true;
            return false;
        }
        if (si >= s.size() || (p[pi] != '_' && p[pi] != s[si])) return false;
        ++si;
        ++pi;
    }
    return si == s.size();
}

int compare(const QueryNode& c, const std::string& have, const std::string& want) {
    double a, b;
    if (c.def && is_date_type(*c.def)) {
        std::string x = strict_date(have), y = strict_date(want);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (is_number(have, a) && is_number(want, b)) return a < b ? -1 : a > b ? 1 : 0;
    return have < want ? -1 : have > want ? 1 : 0;
}

bool eval(const QueryNode& n, const json& row) {
    switch (n.kind) {
        case QueryNode::And:
            for (const auto& k : n.kids)
                if (!eval(k, row)) return false;
            return true;
        case QueryNode::Or:
            for (const auto& k : n.kids)
                if (eval(k, row)) return true;
            return false;
        case QueryNode::Not:
            return !eval(n.kids.front(), row);
        case QueryNode::Cond:
            break;
    }
    std::string have = sv(row, n.field);
    bool null = have.empty();
    if (n.op == "null") return null;
    if (n.op == "notnull") return !null;
    if (null) return false;  // a comparison with NULL is not true
    if (n.op == "in" || n.op == "notin") {
        bool in = false;
        for (const auto& v : n.values)
            if (compare(n, have, v) == 0) in = true;
        return n.op == "in" ? in : !in;
    }
    if (n.op == "like") return like(have, n.value);
    if (n.op == "notlike") return !like(have, n.value);
    int cmp = compare(n, have, n.value);
    return n.op == "="    ? cmp == 0
           : n.op == ">=" ? cmp >= 0
           : n.op == "<=" ? cmp <= 0
           : n.op == ">"  ? cmp > 0
           : n.op == "<"  ? cmp < 0
                          : cmp != 0;
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
    // How many rows seed_data() makes of each kind.
    struct SeedCounts {
        int items = 0, customers = 200, invoices = 150;
    };

    IntacctSandbox(uint32_t seed, SeedCounts counts)
        : rng_(seed), schema_(IntacctSchema::bundled(&schema_missing_)) {
        seed_data(counts);
    }

    std::string id() const override { return "intacct"; }

    void mount(httplib::Server& server) override {
        server.Post("/ia/xml/xmlgw.phtml",
                    [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
    }

    uint64_t requests() const override { return requests_.load(); }
    void capture_requests(bool on) override {
        std::lock_guard lock(capture_mutex_);
        capture_ = on;
        captured_.clear();
    }
    std::vector<std::string> captured_requests() const override {
        std::lock_guard lock(capture_mutex_);
        return captured_;
    }
    uint64_t schema_rejections() const override { return schema_rejections_.load(); }
    void lose_answers_after_executing(int n) override { lose_answers_ = n; }
    void expire_sessions() override {
        std::lock_guard lock(mutex_);
        sessions_.clear();
    }
    std::string schema_status() const override {
        return schema_ ? "checking requests against " + IntacctSchema::bundled_path()
                       : "not checking requests against the schema: " + schema_missing_;
    }
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
        {
            std::lock_guard lock(capture_mutex_);
            if (capture_) captured_.push_back(req.body);
        }
        if (faults_.intercept(res, &IntacctSandbox::throttle)) return;
        InFlight guard(in_flight_);
        if (guard.now > kIntacctConcurrentLimit) {
            ++throttled_;
            throttle(res);
            return;
        }
        if (int d = work_delay_ms_.load(); d > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(d));
        // The endpoint getAPISession names is the one the client reached: behind a TLS front
        // (X-Forwarded-Proto / X-Forwarded-Host, first value of each) that is https on the
        // front's host, as the real gateway names https://<host>.intacct.com/... .
        auto first_of = [&](const char* h) {
            std::string v = req.get_header_value(h);
            v = v.substr(0, v.find(','));
            v.erase(0, v.find_first_not_of(" \t"));
            v.erase(v.find_last_not_of(" \t") + 1);
            return v;
        };
        std::string scheme = lower(first_of("X-Forwarded-Proto"));
        if (scheme != "https" && scheme != "http") scheme = "http";
        std::string host = first_of("X-Forwarded-Host");
        if (host.empty()) host = req.get_header_value("Host");
        std::string endpoint = scheme + "://" + host + req.path;
        std::lock_guard lock(mutex_);
        std::string answer = handle(req.body, endpoint);
        if (lose_answers_.load() > 0 && lose_answers_.fetch_sub(1) > 0) {
            res.status = 502;
            res.set_content("<html><body>502 Bad Gateway</body></html>", "text/html");
            return;
        }
        res.status = 200;
        res.set_content(answer, "text/xml");
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
        // The gateway validates a request against its schema before anything else
        // (developer.intacct.com "Error handling": XL03000003 for a request that does not
        // conform); the sandbox does the same with the official api.xsd.
        if (schema_) {
            std::string invalid = schema_->validate(body);
            if (!invalid.empty()) {
                ++schema_rejections_;
                return control_fail({kParse, "XML Parse schema error",
                                     "The request does not conform to the API schema: " + invalid,
                                     "Correct the request against the XSD."});
            }
        }
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
        // The control <controlid> only pairs the answer with the request: never checked for
        // uniqueness (developer.intacct.com "XML Requests"). uniqueid concerns the functions.
        bool unique = std::string(ctl.child("uniqueid").text().get()) == "true";
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
        add_text(auth, "status", "success");
        add_text(auth, "userid", user);
        add_text(auth, "companyid", company);
        add_text(auth, "locationid", location);
        add_text(auth, "sessiontimestamp", format_time(now_s()));
        add_text(auth, "sessiontimeout", format_time(now_s() + 3600));

        auto content = op.child("content");
        bool any = false;
        // transaction="true": all functions commit or none (developer.intacct.com "XML
        // Requests"); on a failure everything done is rolled back and every other function
        // reports <status>aborted</status> with XL03000009 (the SDK's test fixtures).
        const bool transaction = std::string(op.attribute("transaction").value()) == "true";
        struct Snapshot {
            std::map<std::string, std::vector<json>> objects;
            int record_seq, customer_seq, so_seq;
        };
        std::optional<Snapshot> before;
        if (transaction) before = Snapshot{objects_, record_seq_, customer_seq_, so_seq_};
        std::vector<std::string> executed;  // function controlids run in this operation
        bool failed = false;
        for (auto fn : content.children("function")) {
            any = true;
            std::string fcid = fn.attribute("controlid").value();
            if (failed) {
                aborted(opout, fn);
                continue;
            }
            // uniqueid=true: a function whose controlid already ran is refused, not run again
            // (developer.intacct.com "XML Requests"). Scope and lifetime of the memory, and
            // the error, are not public: the sandbox remembers every function controlid run
            // under uniqueid=true for its lifetime, whatever its outcome.
            if (unique && seen_function_controlids_.count(fcid)) {
                auto r = opout.append_child("result");
                add_text(r, "status", "failure");
                add_text(r, "function", first_element_name(fn));
                add_text(r, "controlid", fcid);
                add_errors(r, {{kDuplicateFunction, "Duplicate function control ID",
                                "A function with controlid " + fcid +
                                    " was already executed and uniqueid is true; it was not "
                                    "executed again.",
                                "Use a new function controlid for a new operation."}});
            } else {
                function(opout, fn, endpoint, location);
                executed.push_back(fcid);
            }
            if (transaction &&
                std::string(opout.last_child().child("status").text().get()) == "failure")
                failed = true;
        }
        if (failed) {
            objects_ = std::move(before->objects);
            record_seq_ = before->record_seq;
            customer_seq_ = before->customer_seq;
            so_seq_ = before->so_seq;
            std::vector<pugi::xml_node> results, fns;
            for (auto r : opout.children("result")) results.push_back(r);
            for (auto f : content.children("function")) fns.push_back(f);
            for (size_t k = 0; k < results.size() && k < fns.size(); ++k) {
                if (std::string(results[k].child("status").text().get()) != "success") continue;
                fill_aborted(opout.insert_child_before("result", results[k]), fns[k]);
                opout.remove_child(results[k]);
            }
            executed.clear();  // rolled back: nothing of it ran
        }
        if (unique)
            for (const auto& f : executed) seen_function_controlids_.insert(f);
        if (!any) {
            auto r = opout.append_child("result");
            add_text(r, "status", "failure");
            add_text(r, "function", "");
            add_text(r, "controlid", "");
            add_errors(r, {{kParse, "", "The request has no <function>", ""}});
        }
        return to_string(out);
    }

    static std::string first_element_name(pugi::xml_node fn) {
        for (auto c : fn.children())
            if (c.type() == pugi::node_element) return c.name();
        return {};
    }
    static void fill_aborted(pugi::xml_node r, pugi::xml_node fn) {
        add_text(r, "status", "aborted");
        add_text(r, "function", first_element_name(fn));
        add_text(r, "controlid", fn.attribute("controlid").value());
        add_errors(r, {{kRolledBack, "", "The entire transaction in this operation has been rolled "
                                         "back due to an error.",
                        ""}});
    }
    static void aborted(pugi::xml_node op, pugi::xml_node fn) { fill_aborted(op.append_child("result"), fn); }

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
            std::optional<QueryNode> where;
            std::string why;
            const std::string query_text = body.child("query").text().get();
            if (!QueryParser(query_text, object).parse(where, why))
                return fail({{"DL02000001", "There was an error processing the request.",
                              "Query failed: " + why, "Check the query syntax."}});
            std::string docpar = body.child("docparid").text().get();
            // The developer docs: pagesize 1..1000, default 100.
            int pagesize = body.child("pagesize").text().as_int(100);
            if (pagesize < 1 || pagesize > 1000)
                return fail({{"DL02000001", "", "pagesize must be between 1 and 1000",
                              "Use a page size between 1 and 1000."}});
            std::set<std::string> fields = parse_fields(body.child("fields").text().get());
            for (const auto& f : fields)
                if (!field_def(object, f))
                    return fail({{"DL02000001", "There was an error processing the request.",
                                  "Unknown field " + f + " in <fields> for object " + object,
                                  "Use lookup to list the object's fields."}});
            ResultSet set{object, {}, 0, pagesize};
            for (const auto& row : objects_[object]) {
                if (!docpar.empty() && sv(row, "DOCPARID") != docpar) continue;
                if (!where || eval(*where, row)) set.rows.push_back(row);
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
            // The developer docs: "Provide either the object name or the result ID": by object,
            // the newest readByQuery result set of that object still open.
            if (auto o = body.child("object")) {
                auto last = last_result_of_object_.find(o.text().get());
                rid = last == last_result_of_object_.end() ? std::string() : last->second;
                if (rid.empty())
                    return fail({{"DL02000001", "", std::string("There is no open query on object ") +
                                                       o.text().get() + " to read more of",
                                  "Run the readByQuery again."}});
            }
            auto it = result_sets_.find(rid);
            if (it == result_sets_.end())
                return fail({{"DL02000001", "", "resultId " + rid + " is not valid or has expired",
                              "Run the readByQuery again."}});
            ResultSet set = std::move(it->second);
            result_sets_.erase(it);
            if (last_result_of_object_[set.object] == rid) last_result_of_object_.erase(set.object);
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
        } else if (name == "lookup") {
            // developer.intacct.com "Objects": lookup lists an object's fields (ID, LABEL,
            // DESCRIPTION, REQUIRED, READONLY, DATATYPE, VALIDVALUES) and relationships.
            std::string object = body.child("object").text().get();
            auto def = object_defs().find(object);
            if (def == object_defs().end())
                return fail({{"DL02000001", "", "Object " + object + " is not supported", ""}});
            auto data = r.append_child("data");
            data.append_attribute("listtype") = "All";
            data.append_attribute("count") = 1;
            auto type = data.append_child("Type");
            type.append_attribute("Name") = object.c_str();
            type.append_attribute("DocumentType") = body.child("docparid").text().get();
            auto fields = type.append_child("Fields");
            for (const auto& f : def->second.fields) {
                auto fe = fields.append_child("Field");
                add_text(fe, "ID", f.id);
                add_text(fe, "LABEL", f.id);
                add_text(fe, "DESCRIPTION", "");
                add_text(fe, "REQUIRED", std::string(f.id) == key_fields().at(object) ? "true" : "false");
                add_text(fe, "READONLY", std::string(f.id) == "RECORDNO" || std::string(f.id) == "WHENMODIFIED" ? "true" : "false");
                add_text(fe, "DATATYPE", f.datatype);
                if (!f.valid.empty()) {
                    auto vv = fe.append_child("VALIDVALUES");
                    for (const char* v : f.valid) add_text(vv, "VALIDVALUE", v);
                }
            }
            type.append_child("Relationships");
        } else if (name == "inspect") {
            // developer.intacct.com "Objects": <inspect><object>*</object></inspect> lists the
            // company's objects; the answer's shape is the sandbox's (not documented).
            std::string object = body.child("object").text().get();
            auto data = r.append_child("data");
            data.append_attribute("listtype") = "All";
            int n = 0;
            for (const auto& [id, def] : object_defs()) {
                if (object != "*" && object != id) continue;
                auto t = data.append_child("type");
                t.append_attribute("typename") = id.c_str();
                t.text().set(def.label);
                ++n;
            }
            if (n == 0)
                return fail({{"DL02000001", "", "Object " + object + " is not supported", ""}});
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
            last_result_of_object_[set.object] = rid;
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
                 {"EXCHRATETYPE", t.child("exchratetype").text().get()},
                 {"MESSAGE", t.child("message").text().get()},
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

    void seed_data(const SeedCounts& counts) {
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
        for (int i = 0; i < counts.items; ++i) {
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
        for (int i = 0; i < counts.customers; ++i) {
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
        for (int i = 0; i < counts.invoices; ++i) {
            const json& cust =
                objects_["CUSTOMER"][pick(rng_) % static_cast<unsigned>(counts.customers)];
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
    std::set<std::string> seen_function_controlids_;  // run under uniqueid=true
    std::map<std::string, std::string> last_result_of_object_;  // readMore by <object>
    std::shared_ptr<const IntacctSchema> schema_;  // null: requests are not schema-checked
    std::string schema_missing_;
    mutable std::mutex capture_mutex_;
    bool capture_ = false;
    std::vector<std::string> captured_;
    std::atomic<uint64_t> schema_rejections_{0};
    std::atomic<int> lose_answers_{0};
    int record_seq_ = 0, customer_seq_ = 0, so_seq_ = 0;
    uint64_t result_seq_ = 0;
    std::atomic<uint64_t> requests_{0}, throttled_{0};
    std::atomic<int> in_flight_{0}, work_delay_ms_{0};
};

}  // namespace

std::unique_ptr<Sandbox> make_intacct_sandbox(uint32_t seed, SeedSize size) {
    IntacctSandbox::SeedCounts counts;  // demo: 200 customers, 150 invoices
    // The items are I-1001 …, as many as the other sandboxes expect (demo_item_codes).
    counts.items = demo_item_count(size);
    if (size == SeedSize::small) {
        counts.customers = 10;
        counts.invoices = 8;  // billing the small Shopify's orders #1001 … #1008
    }
    return std::make_unique<IntacctSandbox>(seed, counts);
}

}  // namespace plexus::sandbox
