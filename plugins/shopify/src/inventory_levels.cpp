#include "inventory_levels.hpp"

#include <cmath>
#include <map>

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::LookupRequest;
using plexus::sdk::LookupResult;
using plexus::sdk::WriteItem;
using plexus::sdk::WriteResult;

namespace {

// A whole quantity from 12, 12.0, "12", "-3"; none otherwise.
std::optional<int64_t> whole_number(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e12) return static_cast<int64_t>(d);
        return std::nullopt;
    }
    if (v.is_string()) {
        auto cents = parse_cents(v);
        if (cents && *cents % 100 == 0) return *cents / 100;
    }
    return std::nullopt;
}

std::string who_of(const json& data, const std::string& target_key) {
    if (data.is_object() && data.contains("sku") && data["sku"].is_string()) return "SKU " + data["sku"].get<std::string>();
    return target_key.empty() ? "inventory level" : "inventory level " + target_key;
}

}  // namespace

InventoryLevels::Target InventoryLevels::resolve(const json& data, const std::string& target_key, bool need_available) {
    if (!data.is_object()) throw invalid("the mapped record is not a JSON object");
    Target t;
    bool mapped_location = false;
    if (auto it = data.find("location_id"); it != data.end() && !it->is_null()) {
        auto id = id_number(*it);
        if (!id) throw invalid("location_id " + it->dump() + " is not a Shopify location id");
        t.location_id = *id;
        mapped_location = true;
    } else if (location_id_) {
        t.location_id = *location_id_;
    }
    if (auto it = data.find("available"); it != data.end() && !it->is_null()) {
        t.available = whole_number(*it);
        if (!t.available) throw invalid("available " + it->dump() + " is not a whole quantity");
    } else if (need_available) {
        throw invalid("no available quantity in the mapped record");
    }
    if (auto it = data.find("sku"); it != data.end() && it->is_string() && !it->get<std::string>().empty()) {
        t.sku = it->get<std::string>();
        auto match = products_.by_sku(t.sku);
        if (!match) throw invalid("no variant with this SKU in Shopify (sync the product first)");
        auto item = id_number(match->variant->value("inventory_item_id", json()));
        if (!item) throw invalid("the variant with this SKU has no inventory_item_id");
        t.inventory_item_id = *item;
    } else if (auto key = parse_inventory_level_key(target_key)) {
        t.inventory_item_id = key->first;
        if (!mapped_location) t.location_id = key->second;
    } else {
        throw invalid("no sku in the mapped record");
    }
    if (!t.location_id)
        throw invalid("no location: set the connection's location_id setting (GET locations.json lists the "
                      "store's locations) or map location_id");
    return t;
}

std::map<std::string, json> InventoryLevels::current(const std::vector<Target>& targets) {
    std::map<int64_t, std::vector<int64_t>> items_by_location;
    for (const auto& t : targets) items_by_location[t.location_id].push_back(t.inventory_item_id);
    std::map<std::string, json> out;
    for (auto& [location, items] : items_by_location) {
        std::sort(items.begin(), items.end());
        items.erase(std::unique(items.begin(), items.end()), items.end());
        for (size_t i = 0; i < items.size(); i += 50) {
            std::string ids;
            for (size_t k = i; k < std::min(items.size(), i + 50); ++k) ids += (ids.empty() ? "" : ",") + std::to_string(items[k]);
            for (auto& level : api_.get_all("inventory_levels.json?limit=250&location_ids=" + std::to_string(location) +
                                                "&inventory_item_ids=" + url_encode(ids),
                                            "inventory_levels", static_cast<size_t>(-1), false)) {
                auto item = id_number(level.value("inventory_item_id", json()));
                auto loc = id_number(level.value("location_id", json()));
                if (item && loc) out[inventory_level_key(*item, *loc)] = std::move(level);
            }
        }
    }
    return out;
}

std::vector<WriteResult> InventoryLevels::write(const std::vector<WriteItem>& items) {
    std::vector<WriteResult> results(items.size());
    std::vector<std::optional<Target>> targets(items.size());
    std::vector<Target> known;
    for (size_t i = 0; i < items.size(); ++i) {
        results[i] = per_record(who_of(items[i].data, items[i].target_key), [&] {
            targets[i] = resolve(items[i].data, items[i].target_key, true);
            known.push_back(*targets[i]);
            return WriteResult::ok({});
        });
    }
    // parse_list_page's errors (auth, rate limit, 5xx) end the batch: nothing was written yet.
    std::map<std::string, json> levels = current(known);
    for (size_t i = 0; i < items.size(); ++i) {
        if (!targets[i]) continue;
        const Target& t = *targets[i];
        const std::string key = inventory_level_key(t.inventory_item_id, t.location_id);
        const std::string who = (t.sku.empty() ? "inventory item " + std::to_string(t.inventory_item_id) : "SKU " + t.sku) +
                                " at location " + std::to_string(t.location_id);
        results[i] = per_record(who, [&] {
            if (auto it = levels.find(key); it != levels.end()) {
                const json& level = it->second;
                if (level.contains("available") && level["available"].is_number_integer() &&
                    level["available"].get<int64_t>() == *t.available) {
                    std::string cursor;
                    if (auto u = parse_timestamp(level.value("updated_at", ""))) cursor = format_utc(*u);
                    return WriteResult::ok(key, cursor);  // already so: nothing to write
                }
            }
            Exchange x = api_.send("POST", "inventory_levels/set.json",
                                   json{{"location_id", t.location_id}, {"inventory_item_id", t.inventory_item_id},
                                        {"available", *t.available}});
            return interpret_inventory_set(x.response.status, x.response.body, x.name);
        });
    }
    return results;
}

LookupResult InventoryLevels::lookup(const LookupRequest& request) {
    Target t;
    try {
        t = resolve(request.key ? json::object() : request.data, request.key.value_or(""), false);
    } catch (const Error& e) {
        if (e.status() == PLEXUS_ERR_VALIDATION) return {};  // points nowhere: nothing there
        throw;
    }
    auto levels = current({t});
    const std::string key = inventory_level_key(t.inventory_item_id, t.location_id);
    auto it = levels.find(key);
    if (it == levels.end()) return {};
    json level = std::move(it->second);
    // After an interrupted create: "there" only when it already holds what we meant to set.
    if (!request.key && t.available &&
        !(level.contains("available") && level["available"].is_number_integer() && level["available"].get<int64_t>() == *t.available))
        return {};
    if (!t.sku.empty()) level["sku"] = t.sku;
    level["id"] = key;
    return found_record(std::move(level), key);
}

}  // namespace plexus::shopify
