#include "gomag_sandbox.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

namespace plexus::sandbox {

using nlohmann::json;

namespace {

const char* const kJson = "application/json";

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Gomag's scalars arrive as strings or numbers: accept both.
std::optional<double> num(const json& v) {
    if (v.is_number()) return v.get<double>();
    if (!v.is_string()) return std::nullopt;
    const std::string s = v.get<std::string>();
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(d)) return std::nullopt;
    return d;
}
std::string txt(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return {};
    if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>())) return std::to_string(static_cast<int64_t>(v.get<double>()));
    return v.dump();
}
std::string fixed(double v, int places) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", places, v);
    return buf;
}
// A "text or {"ro": text, …}" value as plain text (the shop's default language, ro).
std::string lang(const json& v) {
    if (v.is_object()) return v.contains("ro") ? txt(v["ro"]) : (v.empty() ? "" : txt(v.begin().value()));
    return txt(v);
}

void reply(httplib::Response& res, const json& body) {
    res.status = 200;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), kJson);
}
// A business error, as Gomag sends them: HTTP 200, the code in the body.
void refuse(httplib::Response& res, std::vector<std::string> messages, const json& data = json::array()) {
    reply(res, {{"error", "600"}, {"status", "600"}, {"message", messages}, {"data", data}});
}
void success(httplib::Response& res, const json& data, const json& message = json::array()) {
    reply(res, {{"error", "200"}, {"status", "200"}, {"message", message}, {"data", data}});
}

int64_t int_param(const httplib::Request& req, const char* name, int64_t fallback) {
    if (!req.has_param(name)) return fallback;
    auto v = num(json(req.get_param_value(name)));
    return v ? static_cast<int64_t>(*v) : fallback;
}

const std::vector<std::pair<int64_t, const char*>> kStatuses = {
    {1, "Comanda noua"}, {2, "Comanda telefonica"}, {18, "Livrata"},  {8, "Platita"}, {3, "Comanda Finalizata (Facturata)"},
    {4, "Neplatita"},    {5, "Returnata"},          {6, "Comanda preluata"}, {7, "Anulata"}};

}  // namespace

GomagSandbox::GomagSandbox(Options options) : options_(std::move(options)) { seed(); }

int64_t GomagSandbox::now_seconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string GomagSandbox::shop_time(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds + 2 * 3600);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

void GomagSandbox::set_rate(bool on, double read_rate, double read_burst, double write_rate, double write_burst) {
    std::lock_guard lock(mutex_);
    options_.rate_limit = on;
    options_.read_rate = read_rate;
    options_.read_burst = read_burst;
    options_.write_rate = write_rate;
    options_.write_burst = write_burst;
    read_bucket_ = write_bucket_ = Bucket{};
}

bool GomagSandbox::admit(const httplib::Request& req, httplib::Response& res, bool write) {
    ++requests_;
    const auto too_many = [this](httplib::Response& r) {
        ++throttled_;
        r.status = 429;
        r.set_header("Retry-After", options_.retry_after.empty() ? "1" : options_.retry_after);
        r.set_content(R"j({"error":"429","status":"429","message":["TOO_MANY_REQUESTS"]})j", kJson);
    };
    if (faults_.intercept(res, too_many)) return false;
    // Auth first (a third-party client recorded this body for requests without the headers).
    if (req.get_header_value("Apikey") != options_.api_key || req.get_header_value("ApiShop") != options_.shop) {
        reply(res, {{"error", 100}, {"message", "Missing Api User"}});
        return false;
    }
    if (req.get_header_value("User-Agent").rfind("PostmanRuntime/", 0) == 0) {
        reply(res, {{"error", "403"}, {"status", "403"}, {"message", json::array({"USER_AGENT_NOT_ALLOWED"})}});
        return false;
    }
    std::lock_guard lock(mutex_);
    const double rate = write ? options_.write_rate : options_.read_rate;
    const double burst = write ? options_.write_burst : options_.read_burst;
    Bucket& b = write ? write_bucket_ : read_bucket_;
    const std::string name = write ? "Api-RateLimit-Write" : "Api-RateLimit-Read";
    if (options_.rate_limit) {
        const int64_t now = now_ms();
        if (b.at_ms) b.level = std::max(0.0, b.level - static_cast<double>(now - b.at_ms) * rate / 1000.0);
        b.at_ms = now;
        if (b.level + 1 > burst + 1e-9) {
            res.set_header(name, fixed(rate, 0));
            res.set_header(name + "-Burst", fixed(burst, 0));
            res.set_header(name + "-Remaining", "0");
            ++throttled_;
            res.status = 429;
            res.set_header("Retry-After", options_.retry_after.empty()
                                              ? std::to_string(static_cast<int>(std::ceil(1.0 / std::max(rate, 0.001))))
                                              : options_.retry_after);
            res.set_content(R"j({"error":"429","status":"429","message":["TOO_MANY_REQUESTS"]})j", kJson);
            return false;
        }
        b.level += 1;
    }
    res.set_header(name, fixed(rate, 0));
    res.set_header(name + "-Burst", fixed(burst, 0));
    res.set_header(name + "-Remaining", fixed(std::floor(std::max(0.0, burst - b.level)), 0));
    return true;
}

httplib::Server::Handler GomagSandbox::route(bool write, std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, write, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
        if (admit(req, res, write)) {
            if (write) ++writes_;
            try {
                fn(req, res);
            } catch (const std::exception& e) {
                res.status = 500;
                res.set_content(std::string("{\"error\":\"500\",\"message\":\"sandbox: ") + e.what() + "\"}", kJson);
            }
        }
    };
}

// The JSON of form field `field`: multipart (what Gomag's collection shows) or url-encoded.
std::optional<json> GomagSandbox::form_json(const httplib::Request& req, httplib::Response& res, const std::string& field) {
    std::string text;
    if (req.has_file(field)) text = req.get_file_value(field).content;
    else if (req.has_param(field)) text = req.get_param_value(field);
    else {
        refuse(res, {"MISSING_" + [&] { std::string u = field; for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c))); return u; }()});
        return std::nullopt;
    }
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        refuse(res, {"INVALID_JSON"});
        return std::nullopt;
    }
    return j;
}

void GomagSandbox::mount(httplib::Server& server) {
    const std::string v1 = "/api/v1/";
    server.Get(v1 + "product/read/json", route(false, [this](auto& q, auto& r) { product_read(q, r); }));
    server.Post(v1 + "product/write/json", route(true, [this](auto& q, auto& r) { product_write(q, r, false); }));
    server.Post(v1 + "product/patch/json", route(true, [this](auto& q, auto& r) { product_write(q, r, true); }));
    server.Post(v1 + "product/inventory/json", route(true, [this](auto& q, auto& r) { product_inventory(q, r); }));
    server.Get(v1 + "category/read/json", route(false, [this](auto& q, auto& r) { category_read(q, r); }));
    server.Post(v1 + "category/write/json", route(true, [this](auto& q, auto& r) { category_write(q, r, false); }));
    server.Post(v1 + "category/patch/json", route(true, [this](auto& q, auto& r) { category_write(q, r, true); }));
    server.Get(v1 + "order/read/json", route(false, [this](auto& q, auto& r) { order_read(q, r); }));
    server.Get(v1 + "order/status/read/json", route(false, [this](auto& q, auto& r) { order_status_read(q, r); }));
    server.Post(v1 + "order/status/json", route(true, [this](auto& q, auto& r) { order_status(q, r); }));
    server.Post(v1 + "invoice/generate/json", route(true, [this](auto& q, auto& r) { invoice_generate(q, r); }));
    server.Get(v1 + "customer/read/json", route(false, [this](auto& q, auto& r) { customer_read(q, r); }));

    // Control routes (not Gomag's).
    server.Post("/_sandbox/gomag/orders", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (!j.is_object()) {
            res.status = 400;
            res.set_content(R"j({"error":"body must be a JSON object: an order (items [{sku, quantity}], billing, statusId …)"})j", kJson);
            return;
        }
        res.set_content(add_order(j).dump(), kJson);
    });
    server.Post("/_sandbox/gomag/rate", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        if (!j.is_object()) {
            res.status = 400;
            res.set_content(R"j({"error":"body must be a JSON object: rate_limit, read_rate, read_burst, write_rate, write_burst"})j", kJson);
            return;
        }
        set_rate(j.value("rate_limit", true), j.value("read_rate", 1.0), j.value("read_burst", 40.0), j.value("write_rate", 1.0),
                 j.value("write_burst", 10.0));
        res.set_content(R"j({"ok":true})j", kJson);
    });
    server.Post(R"(/_sandbox/gomag/orders/(\d+)/status)", [this](const httplib::Request& req, httplib::Response& res) {
        json j = json::parse(req.body, nullptr, false);
        const int64_t id = std::stoll(req.matches[1]);
        if (!j.is_object() || !set_order_status(id, j.value("status", int64_t{0}))) {
            res.status = 404;
            res.set_content(R"j({"error":"no such order or status; body {\"status\": <status id>}"})j", kJson);
            return;
        }
        res.set_content(order(id).dump(), kJson);
    });
    server.Get("/_sandbox/gomag/stats", [this](const httplib::Request&, httplib::Response& res) {
        json s{{"requests", requests()}, {"writes", writes()}, {"throttled", throttled()}, {"products", count("products")},
               {"orders", count("orders")}, {"customers", count("customers")}, {"categories", count("categories")},
               {"invoices", count("invoices")}};
        res.set_content(s.dump(), kJson);
    });
}

// ---- products ----------------------------------------------------------------------------------

void GomagSandbox::product_read(const httplib::Request& req, httplib::Response& res) {
    const int64_t limit = std::clamp<int64_t>(int_param(req, "limit", 100), 1, 100);
    const int64_t page = std::max<int64_t>(1, int_param(req, "page", 1));
    const std::string updated = req.get_param_value("updated"), sku = req.get_param_value("sku");
    const int64_t id = int_param(req, "id", 0), category = int_param(req, "category", 0);
    std::lock_guard lock(mutex_);
    std::vector<const Product*> hits;
    for (const auto& [pid, p] : products_) {
        if (id && pid != id) continue;
        if (!sku.empty() && txt(p.data["sku"]) != sku) continue;
        if (!updated.empty() && shop_time(p.updated).substr(0, 10) < updated) continue;
        if (category) {
            bool in = false;
            for (const auto& [branch, path] : p.data["categories"].items())
                for (const auto& c : path) in = in || txt(c["id"]) == std::to_string(category);
            if (!in) continue;
        }
        hits.push_back(&p);
    }
    const int64_t pages = std::max<int64_t>(1, (static_cast<int64_t>(hits.size()) + limit - 1) / limit);
    json products = json::object();
    for (int64_t i = (page - 1) * limit; i < std::min<int64_t>(page * limit, static_cast<int64_t>(hits.size())); ++i)
        products[txt(hits[static_cast<size_t>(i)]->data["id"])] = hits[static_cast<size_t>(i)]->data;
    reply(res, {{"total", hits.size()}, {"page", page}, {"pages", pages},
                {"products", products.empty() ? json::array() : products}});
}

void GomagSandbox::product_write(const httplib::Request& req, httplib::Response& res, bool patch) {
    auto data = form_json(req, res, "data");
    if (!data) return;
    if (!data->is_array()) return refuse(res, {"DATA_MUST_BE_ARRAY"});
    if (data->size() > 25) return refuse(res, {"MAX_25_PRODUCTS"});
    std::lock_guard lock(mutex_);
    // Every product is checked before any is written: one refusal refuses the request.
    std::vector<std::string> errors;
    std::set<std::string> seen;
    for (size_t i = 0; i < data->size(); ++i) {
        const json& p = (*data)[i];
        const std::string at = "product " + std::to_string(i) + ": ";
        if (!p.is_object()) { errors.push_back(at + "NOT_AN_OBJECT"); continue; }
        if (!patch && lang(p.value("name", json(""))).empty()) errors.push_back(at + "MISSING_NAME");
        if (!patch) {
            const std::string cur = txt(p.value("currency", json("")));
            if (cur != "RON" && cur != "EUR") errors.push_back(at + "INVALID_CURRENCY");
        }
        if (!p.contains("categories") || !p["categories"].is_array() || p["categories"].empty()) errors.push_back(at + "MISSING_CATEGORIES");
        if (!p.contains("versions") || !p["versions"].is_array() || p["versions"].empty()) {
            errors.push_back(at + "MISSING_VERSIONS");
            continue;
        }
        for (const auto& v : p["versions"]) {
            const std::string sku = v.is_object() ? txt(v.value("sku", json(""))) : "";
            if (sku.empty()) { errors.push_back(at + "MISSING_SKU"); continue; }
            if (!num(v.value("price", json()))) errors.push_back(at + "INVALID_PRICE: " + sku);
            if (!patch && !num(v.value("stock", json()))) errors.push_back(at + "INVALID_STOCK: " + sku);
            if (!patch && txt(v.value("stockStatus", json(""))).empty()) errors.push_back(at + "MISSING_STOCK_STATUS: " + sku);
            if (!patch && sku_index_.count(sku)) errors.push_back(at + "SKU_ALREADY_EXISTS: " + sku);
            if (patch && !sku_index_.count(sku)) errors.push_back(at + "MISSING_ITEMS: " + sku);
            if (!seen.insert(sku).second) errors.push_back(at + "DUPLICATE_SKU: " + sku);
        }
    }
    if (!errors.empty()) return refuse(res, errors, *data);
    const int64_t now = now_seconds();
    json echo = json::array();
    for (json p : *data) {
        std::vector<int64_t> leaves;
        for (const auto& path : p["categories"]) {
            std::vector<std::string> names;
            if (path.is_array()) for (const auto& n : path) names.push_back(lang(n));
            else names.push_back(lang(path));
            if (!names.empty()) leaves.push_back(category_path(names));
        }
        int64_t parent = 0;
        std::string parent_sku;
        for (auto& v : p["versions"]) {
            const std::string sku = txt(v["sku"]);
            int64_t id;
            if (patch) {
                id = sku_index_.at(sku);
            } else {
                id = next_product_++;
                products_[id].data = {{"id", std::to_string(id)}, {"sku", sku}, {"created", shop_time(now)}, {"attributes", json::array()},
                                      {"images", json::array()}, {"enabled", "1"}, {"vat_included", 1}, {"vat", "19"},
                                      {"stockManagement", "1"}, {"ecotax", "0.0000"}, {"um", ""}, {"brand", ""}, {"ean", ""},
                                      {"weight", "0"}, {"description", ""}, {"short_description", ""}, {"categories", json::object()}};
                sku_index_[sku] = id;
                v["id"] = id;
            }
            Product& stored = products_[id];
            json& d = stored.data;
            if (!parent) {
                parent = id;
                parent_sku = sku;
            }
            if (!patch || !d.contains("parent")) {
                d["parent"] = std::to_string(parent);
                d["parent_sku"] = parent_sku;
                d["group_key"] = parent_sku;
            }
            for (const char* f : {"name", "description", "short_description", "html_title", "html_description"})
                if (p.contains(f)) d[f] = lang(p[f]);
            if (p.contains("brand")) d["brand"] = txt(p["brand"]);
            if (p.contains("enabled")) d["enabled"] = txt(p["enabled"]);
            if (p.contains("vat")) d["vat"] = txt(p["vat"]);
            if (p.contains("currency")) d["currency"] = txt(p["currency"]);
            if (auto x = num(v.value("price", json()))) d["price"] = d["base_price"] = fixed(*x, 4);
            if (auto x = num(v.value("specialPrice", json()))) d["price"] = fixed(*x, 4);
            if (auto x = num(v.value("stock", json()))) d["stock"] = fixed(*x, 3);
            if (v.contains("stockStatus")) d["stock_status"] = txt(v["stockStatus"]);
            if (v.contains("ean")) d["ean"] = txt(v["ean"]);
            if (auto x = num(v.value("weight", json()))) d["weight"] = txt(json(*x));
            const bool replace = p.contains("options") && p["options"].is_object() && num(p["options"].value("replaceCategories", json(0))).value_or(0) == 1;
            if (!patch || replace || d["categories"].empty()) d["categories"] = product_categories(leaves);
            else {
                json merged = d["categories"];
                const json added = product_categories(leaves);  // kept alive: items() refers to it
                for (const auto& [branch, path] : added.items()) merged[branch] = path;
                d["categories"] = merged;
            }
            stored.updated = now;
            d["updated"] = shop_time(now);
        }
        echo.push_back(p);
    }
    success(res, echo);
}

void GomagSandbox::product_inventory(const httplib::Request& req, httplib::Response& res) {
    auto data = form_json(req, res, "data");
    if (!data) return;
    if (!data->is_object() || !(*data).contains("products") || !(*data)["products"].is_array())
        return refuse(res, {"DATA_MUST_BE_OBJECT_WITH_PRODUCTS"});
    const json& items = (*data)["products"];
    if (items.size() > 1000) return refuse(res, {"MAX_1000_PRODUCTS"});
    std::lock_guard lock(mutex_);
    const int64_t now = now_seconds();
    json marks = json::array();
    for (const auto& it : items) {
        const std::string sku = it.is_object() ? txt(it.value("sku", json(""))) : "";
        const std::string ean = it.is_object() ? txt(it.value("ean", json(""))) : "";
        json mark{{"sku", sku}, {"ean", ean}, {"status", "200"}};
        Product* p = nullptr;
        if (!sku.empty()) {
            if (auto f = sku_index_.find(sku); f != sku_index_.end()) p = &products_[f->second];
        } else if (!ean.empty()) {
            for (auto& [id, q] : products_)
                if (txt(q.data["ean"]) == ean) p = &q;
        }
        if (!p) {
            mark["status"] = "404";
            mark["errorMessage"] = "MISSING_ITEMS";
            marks.push_back(mark);
            continue;
        }
        json& d = p->data;
        if (auto x = num(it.value("price", json()))) d["price"] = d["base_price"] = fixed(*x, 4);
        if (auto x = num(it.value("specialPrice", json()))) d["price"] = fixed(*x, 4);
        if (auto x = num(it.value("stock", json()))) d["stock"] = fixed(*x, 3);
        if (auto x = num(it.value("addStock", json()))) d["stock"] = fixed(num(d["stock"]).value_or(0) + *x, 3);
        if (it.contains("stockStatus")) d["stock_status"] = txt(it["stockStatus"]);
        if (it.contains("vat")) d["vat"] = txt(it["vat"]);
        if (it.contains("currency")) d["currency"] = txt(it["currency"]);
        if (it.contains("stockManagement")) d["stockManagement"] = txt(it["stockManagement"]);
        // Automatic stock management ("Gestionare automata a stocului"): a stock without a
        // status gets the status its quantity implies (invented: the collection does not say).
        if (!it.contains("stockStatus") && (it.contains("stock") || it.contains("addStock")) && txt(d["stockManagement"]) == "1")
            d["stock_status"] = num(d["stock"]).value_or(0) > 0 ? "instock" : "notinstock";
        p->updated = now;
        d["updated"] = shop_time(now);
        marks.push_back(mark);
    }
    success(res, json{{"", marks}}, "REQUEST_SUCCESS");
}

// ---- categories --------------------------------------------------------------------------------

json GomagSandbox::category_json(int64_t id) const {
    const Category& c = categories_.at(id);
    std::vector<int64_t> chain;
    for (int64_t p = c.parent; p; p = categories_.at(p).parent) chain.insert(chain.begin(), p);
    json parents = json::object();
    for (size_t i = 0; i < chain.size(); ++i)
        parents[std::to_string(chain[i])] = {{"id", std::to_string(chain[i])}, {"depth", static_cast<int>(i)}, {"name", categories_.at(chain[i]).name}};
    return {{"id", std::to_string(id)}, {"name", c.name}, {"depth", std::to_string(chain.size())},
            {"position", std::to_string(c.position)}, {"parents", chain.empty() ? json::array() : parents}};
}

int64_t GomagSandbox::category_path(const std::vector<std::string>& names) {
    int64_t parent = 0;
    for (const auto& n : names) {
        int64_t found = 0;
        for (const auto& [id, c] : categories_)
            if (c.name == n && c.parent == parent) found = id;
        if (!found) {
            found = next_category_++;
            categories_[found] = Category{n, parent, 0};
        }
        parent = found;
    }
    return parent;
}

json GomagSandbox::product_categories(const std::vector<int64_t>& leaves) const {
    json out = json::object();
    int branch = 1;
    for (int64_t leaf : leaves) {
        json path = json::array();
        for (int64_t c = leaf; c; c = categories_.at(c).parent)
            path.insert(path.begin(), json{{"id", std::to_string(c)}, {"name", categories_.at(c).name}});
        out[std::to_string(branch++)] = path;
    }
    return out;
}

void GomagSandbox::category_read(const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    json cats = json::object();
    for (const auto& [id, c] : categories_) cats[std::to_string(id)] = category_json(id);
    reply(res, {{"total", categories_.size()}, {"categories", cats}});
}

void GomagSandbox::category_write(const httplib::Request& req, httplib::Response& res, bool patch) {
    auto data = form_json(req, res, "data");
    if (!data) return;
    if (!data->is_object() || !(*data).contains("categories") || !(*data)["categories"].is_array())
        return refuse(res, {"DATA_MUST_BE_OBJECT_WITH_CATEGORIES"});
    if ((*data)["categories"].size() > 25) return refuse(res, {"MAX_25_CATEGORIES"});
    std::lock_guard lock(mutex_);
    json marks = json::object();
    for (const auto& c : (*data)["categories"]) {
        const std::string name = c.is_object() ? lang(c.value("name", json(""))) : "";
        const std::string id_text = c.is_object() ? txt(c.value("id", json(""))) : "";
        const std::string key = patch ? id_text : name;
        json mark{{patch ? "id" : "name", key}, {"status", "200"}, {"errorMessage", ""}};
        const int64_t parent = c.is_object() ? static_cast<int64_t>(num(c.value("parent_id", json(""))).value_or(0)) : 0;
        if (parent && !categories_.count(parent)) {
            mark["status"] = "404";
            mark["errorMessage"] = "MISSING_PARENT";
        } else if (patch) {
            const int64_t id = static_cast<int64_t>(num(json(id_text)).value_or(0));
            if (!categories_.count(id)) {
                mark["status"] = "404";
                mark["errorMessage"] = "MISSING_CATEGORY";
            } else {
                if (!name.empty()) categories_[id].name = name;
                if (c.contains("parent_id") && parent != id) categories_[id].parent = parent;
                if (auto p = num(c.value("position", json()))) categories_[id].position = static_cast<int>(*p);
            }
        } else if (name.empty()) {
            mark["status"] = "400";
            mark["errorMessage"] = "MISSING_NAME";
        } else {
            const int64_t id = next_category_++;
            categories_[id] = Category{name, parent, static_cast<int>(num(c.value("position", json(0))).value_or(0))};
        }
        marks[key].push_back(mark);
    }
    success(res, json{{"categories", marks}});
}

// ---- orders --------------------------------------------------------------------------------

std::string GomagSandbox::status_name(int64_t status_id) const {
    for (const auto& [id, name] : kStatuses)
        if (id == status_id) return name;
    return {};
}

void GomagSandbox::order_read(const httplib::Request& req, httplib::Response& res) {
    const int64_t page = std::max<int64_t>(1, int_param(req, "page", 1));
    const std::string date = req.get_param_value("date"), start = req.get_param_value("startDate"),
                      end = req.get_param_value("endDate"), number = req.get_param_value("number"),
                      updated = req.get_param_value("updated"), customer = req.get_param_value("customer");
    std::set<std::string> statuses;
    if (req.has_param("statusIds")) {
        const std::string s = req.get_param_value("statusIds");
        size_t pos = 0;
        while (pos <= s.size()) {
            size_t comma = s.find(',', pos);
            if (comma == std::string::npos) comma = s.size();
            if (comma > pos) statuses.insert(s.substr(pos, comma - pos));
            pos = comma + 1;
        }
    }
    std::lock_guard lock(mutex_);
    std::vector<const Order*> hits;
    for (const auto& [id, o] : orders_) {
        const std::string day = txt(o.data["date"]).substr(0, 10);
        if (!date.empty() && day != date) continue;
        if (!start.empty() && day < start) continue;
        if (!end.empty() && day > end) continue;
        if (!number.empty() && txt(o.data["number"]) != number) continue;
        if (!updated.empty() && shop_time(o.updated).substr(0, 10) < updated) continue;
        if (!statuses.empty() && !statuses.count(txt(o.data["statusId"]))) continue;
        if (!customer.empty() && txt(o.data["billing"].value("customerId", json(""))) != customer) continue;
        hits.push_back(&o);
    }
    constexpr int64_t per_page = 100;
    const int64_t pages = std::max<int64_t>(1, (static_cast<int64_t>(hits.size()) + per_page - 1) / per_page);
    json orders = json::object();
    for (int64_t i = (page - 1) * per_page; i < std::min<int64_t>(page * per_page, static_cast<int64_t>(hits.size())); ++i)
        orders[txt(hits[static_cast<size_t>(i)]->data["id"])] = hits[static_cast<size_t>(i)]->data;
    reply(res, {{"total", std::to_string(hits.size())}, {"page", page}, {"pages", pages},
                {"orders", orders.empty() ? json::array() : orders}, {"shippingAsProduct", false}});
}

void GomagSandbox::order_status_read(const httplib::Request&, httplib::Response& res) {
    json list = json::array();
    for (const auto& [id, name] : kStatuses) list.push_back({{"id", id}, {"name", name}});
    reply(res, list);
}

void GomagSandbox::order_status(const httplib::Request& req, httplib::Response& res) {
    auto data = form_json(req, res, "data");
    if (!data) return;
    if (!data->is_object() || !(*data).contains("orders") || !(*data)["orders"].is_array() || (*data)["orders"].empty())
        return refuse(res, {"MISSING_ORDERS"});
    if ((*data)["orders"].size() > 1) return refuse(res, {"ONLY_ONE_ORDER_PER_REQUEST"});
    const json& o = (*data)["orders"][0];
    const int64_t id = static_cast<int64_t>(num(o.value("order", json())).value_or(0));
    const int64_t status = static_cast<int64_t>(num(o.value("status", json())).value_or(0));
    {
        std::lock_guard lock(mutex_);
        if (!orders_.count(id)) return refuse(res, {"INVALID_ORDER_ID"}, *data);
        if (status_name(status).empty()) return refuse(res, {"INVALID_STATUS_ID"}, *data);
    }
    set_order_status(id, status);
    success(res, json::array({{{"order", id}, {"status", status}}}));
}

bool GomagSandbox::set_order_status(int64_t order_id, int64_t status_id) {
    std::lock_guard lock(mutex_);
    auto it = orders_.find(order_id);
    if (it == orders_.end() || status_name(status_id).empty()) return false;
    it->second.data["statusId"] = std::to_string(status_id);
    it->second.data["status"] = status_name(status_id);
    it->second.updated = now_seconds();
    return true;
}

void GomagSandbox::invoice_generate(const httplib::Request& req, httplib::Response& res) {
    auto data = form_json(req, res, "invoice");
    if (!data) return;
    std::lock_guard lock(mutex_);
    Order* o = nullptr;
    if (data->is_object() && data->contains("order")) {
        const int64_t id = static_cast<int64_t>(num((*data)["order"]).value_or(0));
        if (auto it = orders_.find(id); it != orders_.end()) o = &it->second;
    } else if (data->is_object() && data->contains("orderNumber")) {
        for (auto& [id, x] : orders_)
            if (txt(x.data["number"]) == txt((*data)["orderNumber"])) o = &x;
    }
    if (!o) return refuse(res, {"MISSING_ORDER_ID"}, json::array({{{"invoice", *data}}}));
    const std::string type = data->value("type", std::string("invoice"));
    if (type != "invoice" && type != "proforma" && type != "storno") return refuse(res, {"INVALID_TYPE"}, json::array({{{"invoice", *data}}}));
    const int64_t now = now_seconds();
    const std::string number = std::to_string(next_invoice_++);
    ++invoices_issued_;
    if (type == "invoice") o->data["invoice"] = {{"series", "FACT"}, {"number", number}, {"date", shop_time(now)}};
    o->updated = now;
    reply(res, {{"status", "200"}, {"order", txt(o->data["id"])}, {"orderNumber", txt(o->data["number"])},
                {"invoiceNumber", number}, {"invoiceSeries", "FACT"}, {"invoiceDate", shop_time(now)}});
}

// ---- customers ---------------------------------------------------------------------------------

void GomagSandbox::customer_read(const httplib::Request& req, httplib::Response& res) {
    const int64_t page = std::max<int64_t>(1, int_param(req, "page", 1));
    const std::string id = req.get_param_value("customer"), email = req.get_param_value("email"), phone = req.get_param_value("phone");
    std::lock_guard lock(mutex_);
    std::vector<std::pair<int64_t, const json*>> hits;
    for (const auto& [cid, c] : customers_) {
        if (!id.empty() && std::to_string(cid) != id) continue;
        if (!email.empty() && txt(c["email"]) != email) continue;
        if (!phone.empty() && txt(c["phone"]) != phone) continue;
        hits.emplace_back(cid, &c);
    }
    constexpr int64_t per_page = 100;
    const int64_t pages = std::max<int64_t>(1, (static_cast<int64_t>(hits.size()) + per_page - 1) / per_page);
    json customers = json::object();
    for (int64_t i = (page - 1) * per_page; i < std::min<int64_t>(page * per_page, static_cast<int64_t>(hits.size())); ++i)
        customers[std::to_string(hits[static_cast<size_t>(i)].first)] = *hits[static_cast<size_t>(i)].second;
    reply(res, {{"total", std::to_string(hits.size())}, {"page", page}, {"pages", pages},
                {"customers", customers.empty() ? json::array() : customers}});
}

// ---- control -----------------------------------------------------------------------------------

json GomagSandbox::add_order(const json& partial) {
    std::lock_guard lock(mutex_);
    const int64_t now = now_seconds();
    const int64_t id = next_order_++;
    json o = {{"id", std::to_string(id)}, {"number", std::to_string(next_number_++)}, {"date", shop_time(now)},
              {"invoice", {{"series", ""}, {"number", "0"}, {"date", "0000-00-00 00:00:00"}}},
              {"status", "Comanda noua"}, {"statusId", "1"}, {"sales_channel", "Website"}, {"currency", "RON"},
              {"observation", ""}, {"payment", {{"name", "Ramburs"}, {"online", "0"}, {"completed", "0"}}},
              {"delivery", {{"name", "Curier"}, {"total", 0}, {"date", "0000-00-00 00:00:00"}, {"lockerId", 0}}},
              {"shipping", json::object()}, {"billing", json::object()}, {"items", json::array()}, {"discounts", json::array()}};
    for (const auto& [k, v] : partial.items())
        if (k != "id") o[k] = v;
    double total = 0;
    for (auto& item : o["items"]) {
        const std::string sku = txt(item.value("sku", json("")));
        if (auto f = sku_index_.find(sku); f != sku_index_.end()) {
            const json& p = products_[f->second].data;
            if (!item.contains("name")) item["name"] = p["name"];
            if (!item.contains("price")) item["price"] = p["price"];
            if (!item.contains("id")) item["id"] = p["id"];
        }
        for (const char* f : {"type", "ean", "baseprice", "vat"})
            if (!item.contains(f)) item[f] = std::string(f) == "type" ? "product" : std::string(f) == "vat" ? "19" : "";
        if (!item.contains("quantity")) item["quantity"] = "1.00";
        total += num(item.value("price", json(0))).value_or(0) * num(item["quantity"]).value_or(1);
    }
    if (!partial.contains("total")) o["total"] = fixed(total, 2);
    orders_[id] = Order{o, now};
    return o;
}

int64_t GomagSandbox::add_customer(const json& partial) {
    std::lock_guard lock(mutex_);
    const int64_t id = next_customer_++;
    json c{{"type", "client"}, {"firstname", ""}, {"lastname", ""}, {"active", "1"}, {"password", nullptr},
           {"phone", ""}, {"fax", nullptr}, {"email", ""}, {"registration", shop_time(now_seconds())},
           {"countOrderAll", nullptr}, {"totalOrderAll", nullptr}, {"countOrdersAll", nullptr},
           {"totalOrdersAll", nullptr}, {"tagsNames", nullptr}};
    for (const auto& [k, v] : partial.items())
        if (k != "id") c[k] = v;
    customers_[id] = c;
    return id;
}

bool GomagSandbox::touch_product(const std::string& sku, const json& changes) {
    std::lock_guard lock(mutex_);
    auto f = sku_index_.find(sku);
    if (f == sku_index_.end()) return false;
    Product& p = products_[f->second];
    for (const auto& [k, v] : changes.items()) p.data[k] = v;
    p.updated = now_seconds();
    p.data["updated"] = shop_time(p.updated);
    return true;
}

json GomagSandbox::product(const std::string& sku) const {
    std::lock_guard lock(mutex_);
    auto f = sku_index_.find(sku);
    return f == sku_index_.end() ? json(nullptr) : products_.at(f->second).data;
}

json GomagSandbox::order(int64_t id) const {
    std::lock_guard lock(mutex_);
    auto f = orders_.find(id);
    return f == orders_.end() ? json(nullptr) : f->second.data;
}

json GomagSandbox::category_named(const std::string& name) const {
    std::lock_guard lock(mutex_);
    for (const auto& [id, c] : categories_)
        if (c.name == name) return category_json(id);
    return nullptr;
}

size_t GomagSandbox::count(const std::string& what) const {
    std::lock_guard lock(mutex_);
    if (what == "products") return products_.size();
    if (what == "orders") return orders_.size();
    if (what == "customers") return customers_.size();
    if (what == "categories") return categories_.size();
    if (what == "invoices") return invoices_issued_;
    return 0;
}

std::unique_ptr<Sandbox> make_gomag_sandbox(uint32_t seed, SeedSize size) {
    GomagSandbox::Options o;
    o.seed = seed;
    // The Go sandbox's products 151 … 700 are GO-0151 …: the shop sells 250 of them. Small:
    // Go's products 9 … 20 are GO-0009 … GO-0020, and the shop sells those 12.
    o.sku_format = "GO-%04d";
    o.first_sku = 151;
    if (size == SeedSize::small) {
        o.first_sku = 9;
        o.products = 12;
        o.orders = 12;
        o.customers = 8;
    }
    return std::make_unique<GomagSandbox>(o);
}

}  // namespace plexus::sandbox
