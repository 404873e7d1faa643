#include "intacct_xml.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

namespace plexus::intacct {

namespace {

std::string serialise(const pugi::xml_node& node) {
    std::ostringstream out;
    node.print(out, "", pugi::format_raw);
    return out.str();
}

std::string text_of(const pugi::xml_node& n, const char* child) {
    return n.child(child).text().get();
}

std::vector<WireError> read_errors(const pugi::xml_node& errormessage) {
    std::vector<WireError> out;
    for (auto e : errormessage.children("error"))
        out.push_back({text_of(e, "errorno"), text_of(e, "description"),
                       text_of(e, "description2"), text_of(e, "correction")});
    return out;
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
    if (v.is_null()) return;
    if (v.is_array()) {
        for (const auto& e : v) append_json(parent, name, e);
        return;
    }
    auto el = parent.append_child(name.c_str());
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) append_json(el, it.key(), it.value());
    } else if (v.is_string()) {
        el.text().set(v.get<std::string>().c_str());
    } else if (v.is_boolean()) {
        el.text().set(v.get<bool>() ? "true" : "false");
    } else {
        el.text().set(v.dump().c_str());
    }
}

std::string scalar(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return {};
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return v.dump();
}

pugi::xml_node add_text(pugi::xml_node parent, const char* name, const std::string& text) {
    auto n = parent.append_child(name);
    n.text().set(text.c_str());
    return n;
}

pugi::xml_document function_doc(const std::string& controlid, pugi::xml_node& fn) {
    pugi::xml_document doc;
    fn = doc.append_child("function");
    fn.append_attribute("controlid") = controlid.c_str();
    return doc;
}

// yyyy-mm-dd (or an ISO timestamp) → year/month/day elements.
bool add_date(pugi::xml_node parent, const char* name, const std::string& iso) {
    int y, m, d;
    if (std::sscanf(iso.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3) return false;
    auto n = parent.append_child(name);
    add_text(n, "year", std::to_string(y));
    add_text(n, "month", std::to_string(m));
    add_text(n, "day", std::to_string(d));
    return true;
}

}  // namespace

std::string join_errors(const std::vector<WireError>& errors) {
    std::string out;
    for (const auto& e : errors) {
        std::string one;
        for (const std::string* part : {&e.errorno, &e.description, &e.description2, &e.correction}) {
            if (part->empty()) continue;
            if (!one.empty()) one += part == &e.description ? " " : " — ";
            one += *part;
        }
        if (one.empty()) continue;
        if (!out.empty()) out += "; ";
        out += one;
    }
    return out.empty() ? "unspecified error" : out;
}

Response parse_response(const std::string& body) {
    Response r;
    pugi::xml_document doc;
    auto ok = doc.load_buffer(body.data(), body.size());
    if (!ok) {
        r.parse_error = std::string("response is not XML: ") + ok.description();
        return r;
    }
    auto root = doc.child("response");
    if (!root) {
        r.parse_error = "response has no <response> root";
        return r;
    }
    r.parsed = true;
    r.control_ok = std::string(root.child("control").child("status").text().get()) == "success";
    r.control_errors = read_errors(root.child("errormessage"));
    auto op = root.child("operation");
    r.auth_ok = std::string(op.child("authentication").child("status").text().get()) == "success";
    r.auth_errors = read_errors(op.child("errormessage"));
    for (auto res : op.children("result")) {
        FunctionResult f;
        f.status = text_of(res, "status");
        f.function = text_of(res, "function");
        f.controlid = text_of(res, "controlid");
        f.errors = read_errors(res.child("errormessage"));
        f.key = text_of(res, "key");
        if (auto data = res.child("data")) {
            f.listtype = data.attribute("listtype").value();
            f.count = data.attribute("count").as_llong();
            f.totalcount = data.attribute("totalcount").as_llong();
            f.numremaining = data.attribute("numremaining").as_llong();
            f.result_id = data.attribute("resultId").value();
            for (auto row : data.children()) {
                if (row.type() != pugi::node_element) continue;
                if (std::string(row.name()) == "api") {
                    f.api = {{"sessionid", text_of(row, "sessionid")},
                             {"endpoint", text_of(row, "endpoint")},
                             {"locationid", text_of(row, "locationid")}};
                }
                f.rows.push_back(to_json(row));
            }
        }
        r.results.push_back(std::move(f));
    }
    return r;
}

bool is_throttled(const std::vector<WireError>& errors) {
    return std::any_of(errors.begin(), errors.end(),
                       [](const WireError& e) { return e.errorno == "GW-0010"; });
}
bool is_repeat_hint(const std::vector<WireError>& errors) {
    return std::any_of(errors.begin(), errors.end(), [](const WireError& e) {
        if (e.errorno == "XL03000004") return true;
        std::string text = e.description + " " + e.description2;
        for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return text.find("controlid") != std::string::npos || text.find("control id") != std::string::npos;
    });
}
bool is_already_exists(const std::vector<WireError>& errors) {
    return std::any_of(errors.begin(), errors.end(), [](const WireError& e) {
        return e.description2.find("already exists") != std::string::npos ||
               e.description.find("already exists") != std::string::npos;
    });
}

std::string build_request(const Control& control, const std::optional<std::string>& session_id,
                          const Login& login, const std::vector<std::string>& functions) {
    pugi::xml_document doc;
    auto decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    auto req = doc.append_child("request");
    auto c = req.append_child("control");
    add_text(c, "senderid", control.sender_id);
    add_text(c, "password", control.sender_password);
    add_text(c, "controlid", control.controlid);
    add_text(c, "uniqueid", control.unique_id ? "true" : "false");
    add_text(c, "dtdversion", "3.0");
    add_text(c, "includewhitespace", "false");
    auto op = req.append_child("operation");
    op.append_attribute("transaction") = "false";
    auto auth = op.append_child("authentication");
    if (session_id) {
        add_text(auth, "sessionid", *session_id);
    } else {
        auto l = auth.append_child("login");
        add_text(l, "userid", login.user_id);
        add_text(l, "companyid", login.company_id);
        add_text(l, "password", login.password);
        if (!login.location_id.empty()) add_text(l, "locationid", login.location_id);
    }
    auto content = op.append_child("content");
    for (const auto& f : functions) {
        pugi::xml_document fdoc;
        if (fdoc.load_buffer(f.data(), f.size())) content.append_copy(fdoc.document_element());
    }
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
    return out.str();
}

std::string fn_get_api_session(const std::string& controlid) {
    pugi::xml_node fn;
    auto doc = function_doc(controlid, fn);
    fn.append_child("getAPISession");
    return serialise(fn);
}

std::string fn_read_by_query(const std::string& controlid, const std::string& object,
                             const std::string& query, int pagesize, const std::string& docparid,
                             const std::string& fields) {
    pugi::xml_node fn;
    auto doc = function_doc(controlid, fn);
    auto r = fn.append_child("readByQuery");
    add_text(r, "object", object);
    add_text(r, "fields", fields.empty() ? std::string("*") : fields);
    add_text(r, "query", query);
    add_text(r, "pagesize", std::to_string(pagesize));
    add_text(r, "returnFormat", "xml");
    if (!docparid.empty()) add_text(r, "docparid", docparid);
    return serialise(fn);
}

std::string fn_read_more(const std::string& controlid, const std::string& result_id) {
    pugi::xml_node fn;
    auto doc = function_doc(controlid, fn);
    add_text(fn.append_child("readMore"), "resultId", result_id);
    return serialise(fn);
}

std::string fn_generic(const std::string& controlid, const std::string& verb,
                       const std::string& object, const json& fields) {
    pugi::xml_node fn;
    auto doc = function_doc(controlid, fn);
    auto v = fn.append_child(verb.c_str());
    append_json(v, object, fields.is_object() ? fields : json::object());
    return serialise(fn);
}

std::string fn_create_sotransaction(const std::string& controlid, const json& o,
                                    std::string& error, const std::string& default_exchratetype) {
    if (!o.is_object()) {
        error = "a sales order must be a JSON object";
        return {};
    }
    auto str = [&](const char* k) { return o.contains(k) ? scalar(o[k]) : std::string(); };
    if (str("customerid").empty()) {
        error = "customerid is required";
        return {};
    }
    if (!o.contains("lines") || !o["lines"].is_array() || o["lines"].empty()) {
        error = "lines must be a non-empty array";
        return {};
    }
    pugi::xml_node fn;
    auto doc = function_doc(controlid, fn);
    auto t = fn.append_child("create_sotransaction");
    add_text(t, "transactiontype", o.value("transactiontype", std::string("Sales Order")));
    std::string date = str("datecreated");
    if (date.empty() || !add_date(t, "datecreated", date)) {
        error = "datecreated must be a date yyyy-mm-dd";
        return {};
    }
    add_text(t, "customerid", str("customerid"));
    if (!str("documentno").empty()) add_text(t, "documentno", str("documentno"));
    if (!str("referenceno").empty()) add_text(t, "referenceno", str("referenceno"));
    if (!str("termname").empty()) add_text(t, "termname", str("termname"));
    if (!str("datedue").empty()) add_date(t, "datedue", str("datedue"));
    if (!str("message").empty()) add_text(t, "message", str("message"));
    if (!str("externalid").empty()) add_text(t, "externalid", str("externalid"));
    if (!str("currency").empty()) {
        // XSD (intacct_dtd v3.0 api.xsd, create_sotransaction): [basecurr] currency, then
        // either [exchratedate] exchratetype or exchrate — <currency> directly followed by
        // <sotransitems> is invalid.
        if (!str("basecurr").empty()) add_text(t, "basecurr", str("basecurr"));
        add_text(t, "currency", str("currency"));
        if (!str("exchrate").empty()) {
            add_text(t, "exchrate", str("exchrate"));
        } else {
            std::string type = str("exchratetype").empty() ? default_exchratetype : str("exchratetype");
            if (type.empty()) {
                error = "currency " + str("currency") +
                        " needs an exchange rate: give exchratetype or exchrate, or set the "
                        "connection's exchange_rate_type";
                return {};
            }
            if (!str("exchratedate").empty() && !add_date(t, "exchratedate", str("exchratedate"))) {
                error = "exchratedate must be a date yyyy-mm-dd";
                return {};
            }
            add_text(t, "exchratetype", type);
        }
    }
    auto items = t.append_child("sotransitems");
    for (const auto& line : o["lines"]) {
        if (!line.is_object()) {
            error = "every line must be an object";
            return {};
        }
        auto it = items.append_child("sotransitem");
        auto ls = [&](const char* k) { return line.contains(k) ? scalar(line[k]) : std::string(); };
        if (ls("itemid").empty() || ls("quantity").empty()) {
            error = "every line needs itemid and quantity";
            return {};
        }
        // XSD order: itemid, itemdesc, taxable, warehouseid, quantity, unit, …, price, …
        add_text(it, "itemid", ls("itemid"));
        if (!ls("itemdesc").empty()) add_text(it, "itemdesc", ls("itemdesc"));
        if (!ls("taxable").empty()) add_text(it, "taxable", ls("taxable"));
        if (!ls("warehouseid").empty()) add_text(it, "warehouseid", ls("warehouseid"));
        add_text(it, "quantity", ls("quantity"));
        if (!ls("unit").empty()) add_text(it, "unit", ls("unit"));
        if (!ls("discountpercent").empty()) add_text(it, "discountpercent", ls("discountpercent"));
        if (!ls("price").empty()) add_text(it, "price", ls("price"));
        if (!ls("locationid").empty()) add_text(it, "locationid", ls("locationid"));
        if (!ls("departmentid").empty()) add_text(it, "departmentid", ls("departmentid"));
        if (!ls("memo").empty()) add_text(it, "memo", ls("memo"));
    }
    return serialise(fn);
}

json element_to_json_text(const std::string& xml) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) return nullptr;
    return to_json(doc.document_element());
}

std::optional<std::string> iso_to_intacct(const std::string& iso) {
    int y, mo, d, h = 0, mi = 0, s = 0;
    int n = std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s);
    if (n < 3) return std::nullopt;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02d/%02d/%04d %02d:%02d:%02d", mo, d, y, h, mi, s);
    return std::string(buf);
}

std::optional<std::string> intacct_to_iso(const std::string& t) {
    int y, mo, d, h = 0, mi = 0, s = 0;
    int n = std::sscanf(t.c_str(), "%2d/%2d/%4d %2d:%2d:%2d", &mo, &d, &y, &h, &mi, &s);
    if (n < 3) return std::nullopt;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    return std::string(buf);
}

std::string sortable(const std::string& t) {
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (std::sscanf(t.c_str(), "%2d/%2d/%4d %2d:%2d:%2d", &mo, &d, &y, &h, &mi, &s) < 3) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s);
    return buf;
}

std::string record_cursor(const std::string& whenmodified) {
    auto iso = intacct_to_iso(whenmodified);
    return iso ? *iso : whenmodified;
}

std::string encode_cursor(const ReadCursor& c) {
    json j{{"v", 1}, {"t", c.t}, {"r", c.r}};
    if (c.fs) j["fs"] = c.fs;
    if (!c.rid.empty()) j["rid"] = c.rid;
    if (!c.hw.empty()) {
        j["hw"] = c.hw;
        j["hwr"] = c.hwr;
    }
    return j.dump();
}

std::optional<ReadCursor> decode_cursor(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("v", 0) != 1) return std::nullopt;
    try {
        ReadCursor c;
        c.t = j.value("t", "");
        c.r = j.value("r", std::vector<std::string>{});
        c.rid = j.value("rid", "");
        c.hw = j.value("hw", "");
        c.hwr = j.value("hwr", std::vector<std::string>{});
        c.fs = j.value("fs", int64_t{0});
        return c;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string quote(const std::string& value) {
    std::string out = "'";
    for (char ch : value) {
        if (ch == '\'' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "'";
}

std::string in_list(const std::string& field, const std::vector<std::string>& values) {
    std::string out = field + " IN (";
    for (size_t i = 0; i < values.size(); ++i) {
        if (i) out += ",";
        out += quote(values[i]);
    }
    return out + ")";
}

namespace {
struct UrlParts {
    std::string scheme, host, port;
};
std::optional<UrlParts> split_url(const std::string& url) {
    auto sep = url.find("://");
    if (sep == std::string::npos || sep == 0) return std::nullopt;
    UrlParts u;
    u.scheme = url.substr(0, sep);
    for (auto& ch : u.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string rest = url.substr(sep + 3);
    std::string authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string::npos) return std::nullopt;  // no userinfo
    auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']') == std::string::npos) {
        u.host = authority.substr(0, colon);
        u.port = authority.substr(colon + 1);
    } else {
        u.host = authority;
    }
    for (auto& ch : u.host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (u.host.empty()) return std::nullopt;
    if (u.port.empty()) u.port = u.scheme == "https" ? "443" : u.scheme == "http" ? "80" : "";
    return u;
}
}  // namespace

bool endpoint_allowed(const std::string& configured, const std::string& returned, std::string& why) {
    auto r = split_url(returned);
    if (!r || (r->scheme != "https" && r->scheme != "http")) {
        why = "it is not an http(s) URL";
        return false;
    }
    const std::string suffix = ".intacct.com";
    bool intacct_host = r->host == "intacct.com" ||
                        (r->host.size() > suffix.size() &&
                         r->host.compare(r->host.size() - suffix.size(), suffix.size(), suffix) == 0);
    if (r->scheme == "https" && intacct_host) return true;
    auto c = split_url(configured);
    if (c && c->scheme == r->scheme && c->host == r->host && c->port == r->port) return true;
    why = "it is neither https on *.intacct.com nor on the configured endpoint_url's host";
    return false;
}

}  // namespace plexus::intacct
