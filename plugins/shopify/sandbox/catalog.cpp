// Custom collections (product categories) and collects (product ↔ custom collection links).
// Shopify answers a taken handle by appending "-1", "-2" … rather than refusing it, and
// refuses a second collect for the same product and collection with a 422.
#include "shopify_replies.hpp"
#include "shopify_sandbox.hpp"

#include <cctype>

namespace plexus::sandbox {

using nlohmann::json;
using namespace shopify_detail;

namespace {

const std::set<std::string> kSortOrders = {"alpha-asc", "alpha-desc", "best-selling", "created",
                                           "created-desc", "manual", "price-asc", "price-desc"};

std::string slug(const std::string& text) {
    std::string out;
    bool dash = false;
    for (unsigned char c : text) {
        if (std::isalnum(c) && c < 0x80) {
            if (dash && !out.empty()) out += '-';
            dash = false;
            out += static_cast<char>(std::tolower(c));
        } else {
            dash = true;
        }
    }
    return out;
}

// The writable fields of a custom collection, checked; an errors object (empty when fine).
json collection_errors(const json& c) {
    json errors = json::object();
    if (!c.contains("title") || !c["title"].is_string() || c["title"].get<std::string>().empty())
        errors["title"] = {"can't be blank"};
    else if (c["title"].get<std::string>().size() > 255)
        errors["title"] = {"is too long (maximum is 255 characters)"};
    if (c.contains("sort_order") && !c["sort_order"].is_null() &&
        (!c["sort_order"].is_string() || !kSortOrders.count(c["sort_order"].get<std::string>())))
        errors["sort_order"] = {"is not included in the list"};
    if (c.contains("handle") && !c["handle"].is_null() && !c["handle"].is_string()) errors["handle"] = {"is invalid"};
    return errors;
}

}  // namespace

std::string ShopifySandbox::unique_handle(const std::string& wanted, int64_t self_id) const {
    const auto taken = [&](const std::string& h) {
        for (const auto& [id, s] : custom_collections_)
            if (id != self_id && s.data.value("handle", "") == h) return true;
        return false;
    };
    if (!taken(wanted)) return wanted;
    for (int n = 1;; ++n)
        if (!taken(wanted + "-" + std::to_string(n))) return wanted + "-" + std::to_string(n);
}

void ShopifySandbox::create_collection(const httplib::Request& req, httplib::Response& res) {
    auto body = wrapped_body(req, res, "custom_collection");
    if (!body) return;
    json c = *body;
    if (json e = collection_errors(c); !e.empty()) return reply(res, 422, {{"errors", e}});
    std::lock_guard lock(mutex_);
    const int64_t now = now_seconds(), id = take_id();
    std::string handle = slug(c.contains("handle") && c["handle"].is_string() && !c["handle"].get<std::string>().empty()
                                  ? c["handle"].get<std::string>()
                                  : c["title"].get<std::string>());
    if (handle.empty()) handle = "collection";
    const bool published = !c.contains("published") || !c["published"].is_boolean() || c["published"].get<bool>();
    json o{{"id", id},
           {"handle", unique_handle(handle, 0)},
           {"title", c["title"]},
           {"body_html", c.value("body_html", json())},
           {"published_at", published ? json(format_time(now)) : json()},
           {"published_scope", "web"},
           {"sort_order", c.value("sort_order", json("best-selling"))},
           {"template_suffix", c.value("template_suffix", json())},
           {"updated_at", format_time(now)},
           {"admin_graphql_api_id", "gid://shopify/Collection/" + std::to_string(id)}};
    if (o["sort_order"].is_null()) o["sort_order"] = "best-selling";
    custom_collections_[id] = Stored{o, now, now};
    reply(res, 201, {{"custom_collection", o}});
}

void ShopifySandbox::update_collection(int64_t id, const httplib::Request& req, httplib::Response& res) {
    auto body = wrapped_body(req, res, "custom_collection");
    if (!body) return;
    std::lock_guard lock(mutex_);
    auto it = custom_collections_.find(id);
    if (it == custom_collections_.end()) return reply(res, 404, {{"errors", "Not Found"}});
    json merged = it->second.data;
    for (auto& [k, v] : body->items())
        if (k != "id" && k != "updated_at" && k != "admin_graphql_api_id" && k != "published_at" && k != "published_scope" &&
            k != "published")
            merged[k] = v;
    if (json e = collection_errors(merged); !e.empty()) return reply(res, 422, {{"errors", e}});
    if (body->contains("handle") && (*body)["handle"].is_string()) {
        std::string h = slug((*body)["handle"].get<std::string>());
        merged["handle"] = unique_handle(h.empty() ? it->second.data.value("handle", "collection") : h, id);
    }
    const int64_t now = now_seconds();
    if (body->contains("published") && (*body)["published"].is_boolean())
        merged["published_at"] = (*body)["published"].get<bool>() ? json(format_time(now)) : json();
    it->second.data = std::move(merged);
    touch(it->second, now);
    reply(res, 200, {{"custom_collection", it->second.data}});
}

void ShopifySandbox::create_collect(const httplib::Request& req, httplib::Response& res) {
    auto body = wrapped_body(req, res, "collect");
    if (!body) return;
    const json& c = *body;
    const auto id_of = [&](const char* f) -> int64_t {
        if (!c.contains(f)) return 0;
        if (c[f].is_number_integer()) return c[f].get<int64_t>();
        if (c[f].is_string()) return std::atoll(c[f].get<std::string>().c_str());
        return 0;
    };
    const int64_t product_id = id_of("product_id"), collection_id = id_of("collection_id");
    std::lock_guard lock(mutex_);
    json errors = json::object();
    if (!products_.count(product_id)) errors["product"] = {"can't be blank"};
    if (!custom_collections_.count(collection_id)) errors["collection"] = {"can't be blank"};
    if (!errors.empty()) return reply(res, 422, {{"errors", errors}});
    int position = 1;
    for (const auto& [id, s] : collects_) {
        if (s.data["collection_id"] != collection_id) continue;
        if (s.data["product_id"] == product_id)
            return reply(res, 422, {{"errors", {{"product_id", {"already exists in this collection"}}}}});
        ++position;
    }
    const int64_t now = now_seconds(), id = take_id();
    char sort_value[16];
    std::snprintf(sort_value, sizeof sort_value, "%010d", position);
    json o{{"id", id},           {"collection_id", collection_id}, {"product_id", product_id},
           {"position", position}, {"sort_value", sort_value},     {"created_at", format_time(now)},
           {"updated_at", format_time(now)}};
    collects_[id] = Stored{o, now, now};
    reply(res, 201, {{"collect", o}});
}

void ShopifySandbox::mount_catalog(httplib::Server& server, const std::string& v) {
    server.Post(v + "custom_collections.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        create_collection(req, res);
    }));
    server.Put(v + "custom_collections/(\\d+).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        update_collection(std::atoll(req.matches[2].str().c_str()), req, res);
    }));
    server.Post(v + "collects.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        create_collect(req, res);
    }));
    server.Delete(v + "collects/(\\d+).json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mutex_);
        if (!collects_.erase(std::atoll(req.matches[2].str().c_str()))) return reply(res, 404, {{"errors", "Not Found"}});
        reply(res, 200, json::object());
    }));
}

}  // namespace plexus::sandbox
