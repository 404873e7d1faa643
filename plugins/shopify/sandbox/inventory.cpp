// Locations and inventory levels: stock is per (inventory_item_id, location_id); a variant's
// inventory_quantity is the sum over its levels. POST inventory_levels/set.json is absolute
// and connects the item to an active location on first use; an untracked item, an unknown or
// inactive location are refused with 422 {"errors": ["…"]} (Shopify's array form).
#include "shopify_replies.hpp"
#include "shopify_sandbox.hpp"

namespace plexus::sandbox {

using nlohmann::json;
using namespace shopify_detail;

const json* ShopifySandbox::variant_of_item(int64_t inventory_item_id) const {
    for (const auto& [id, p] : products_)
        for (const auto& v : p.data["variants"])
            if (v.value("inventory_item_id", int64_t{0}) == inventory_item_id) return &v;
    return nullptr;
}

void ShopifySandbox::sum_variant_stock(int64_t inventory_item_id) {
    int64_t total = 0;
    for (const auto& [key, level] : levels_)
        if (key.first == inventory_item_id) total += level.data.value("available", int64_t{0});
    for (auto& [id, p] : products_)
        for (auto& v : p.data["variants"])
            if (v.value("inventory_item_id", int64_t{0}) == inventory_item_id) v["inventory_quantity"] = total;
}

void ShopifySandbox::list_levels(const httplib::Request& req, httplib::Response& res) {
    json filters = json::object();
    std::pair<int64_t, int64_t> after{0, 0};
    if (req.has_param("page_info")) {
        for (const auto& [k, v] : req.params)
            if (k != "page_info" && k != "limit")
                return reply(res, 400, {{"errors", k + " cannot be passed when page_info is present"}});
        auto raw = hex_decode(req.get_param_value("page_info"));
        json p = raw ? json::parse(*raw, nullptr, false) : json();
        if (!p.is_object() || p.value("resource", "") != "inventory_levels")
            return reply(res, 400, {{"errors", {{"page_info", "Invalid value."}}}});
        filters = p["filters"];
        after = {p.value("after_item", int64_t{0}), p.value("after_location", int64_t{0})};
    } else {
        for (const char* f : {"inventory_item_ids", "location_ids", "updated_at_min"})
            if (req.has_param(f)) filters[f] = req.get_param_value(f);
        if (!filters.contains("inventory_item_ids") && !filters.contains("location_ids"))
            return reply(res, 422, {{"errors", {{"base", {"inventory_item_ids or location_ids must be given"}}}}});
    }
    int limit = 50;
    if (req.has_param("limit")) {
        limit = std::atoi(req.get_param_value("limit").c_str());
        if (limit < 1 || limit > 250) return reply(res, 400, {{"errors", {{"limit", "must be between 1 and 250"}}}});
    }
    std::set<int64_t> items, locations;
    for (auto id : id_list(filters.value("inventory_item_ids", ""))) items.insert(id);
    for (auto id : id_list(filters.value("location_ids", ""))) locations.insert(id);
    std::optional<int64_t> umin;
    if (filters.contains("updated_at_min")) {
        umin = parse_time(filters["updated_at_min"].get<std::string>());
        if (!umin) return reply(res, 400, {{"errors", {{"updated_at_min", "is not a valid date"}}}});
    }
    std::lock_guard lock(mutex_);
    json out = json::array();
    std::optional<std::pair<int64_t, int64_t>> last;
    bool more = false;
    for (auto it = levels_.upper_bound(after); it != levels_.end(); ++it) {
        if (!items.empty() && !items.count(it->first.first)) continue;
        if (!locations.empty() && !locations.count(it->first.second)) continue;
        if (umin && it->second.updated < *umin) continue;
        if (static_cast<int>(out.size()) == limit) {
            more = true;
            break;
        }
        out.push_back(it->second.data);
        last = it->first;
    }
    if (more && last) {
        const std::string cursor = hex_encode(json{{"resource", "inventory_levels"}, {"filters", filters},
                                                   {"after_item", last->first}, {"after_location", last->second}}
                                                  .dump());
        res.set_header("Link", "<http://" + req.get_header_value("Host") + req.path + "?limit=" + std::to_string(limit) +
                                   "&page_info=" + cursor + ">; rel=\"next\"");
    }
    reply(res, 200, {{"inventory_levels", std::move(out)}});
}

void ShopifySandbox::set_level(const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return reply(res, 400, {{"errors", "Bad Request"}});
    for (const char* f : {"location_id", "inventory_item_id", "available"})
        if (!body.contains(f) || !body[f].is_number_integer())
            return reply(res, 400, {{"errors", {{f, "Required parameter missing or invalid"}}}});
    const int64_t location = body["location_id"], item = body["inventory_item_id"], available = body["available"];
    std::lock_guard lock(mutex_);
    auto loc = locations_.find(location);
    if (loc == locations_.end()) return reply(res, 422, {{"errors", {"Location does not exist"}}});
    const json* variant = variant_of_item(item);
    if (!variant) return reply(res, 422, {{"errors", {"Inventory item does not exist"}}});
    if (variant->value("inventory_management", json()) != "shopify")
        return reply(res, 422, {{"errors", {"Inventory item does not have inventory tracking enabled"}}});
    auto it = levels_.find({item, location});
    if (it == levels_.end() && !loc->second.data.value("active", false))
        return reply(res, 422, {{"errors", {"Inventory item could not be stocked at an inactive location"}}});
    const int64_t now = now_seconds();
    if (it == levels_.end()) {
        json level{{"inventory_item_id", item}, {"location_id", location}, {"available", available},
                   {"admin_graphql_api_id", "gid://shopify/InventoryLevel/" + std::to_string(location) +
                                                "?inventory_item_id=" + std::to_string(item)}};
        it = levels_.emplace(std::make_pair(item, location), Stored{level, now, now}).first;
    }
    it->second.data["available"] = available;
    touch(it->second, now);
    sum_variant_stock(item);
    reply(res, 200, {{"inventory_level", it->second.data}});
}

void ShopifySandbox::mount_inventory(httplib::Server& server, const std::string& v) {
    server.Get(v + "inventory_levels.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        list_levels(req, res);
    }));
    server.Post(v + "inventory_levels/set.json", guarded([this](const httplib::Request& req, httplib::Response& res) {
        set_level(req, res);
    }));
}

}  // namespace plexus::sandbox
