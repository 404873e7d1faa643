// Stock per SKU at a location: entity inventory_levels. A write names the SKU and the absolute
// quantity available; the variant's inventory_item_id comes from the product index, the
// location from the mapped location_id or the connection's location_id setting. Current levels
// are read first (one request per location and 50 items), and only a level that differs is
// set (POST inventory_levels/set.json: absolute, so repeating it is harmless).
//
// Lookup after an interrupted create finds the level only when it already holds the mapped
// quantity: the host adopts what lookup finds without writing it, so a level still at its old
// quantity must read as "not there" to be set on the next run.
#pragma once

#include "admin_api.hpp"
#include "product_index.hpp"

#include <optional>
#include <vector>

namespace plexus::shopify {

class InventoryLevels {
public:
    InventoryLevels(AdminApi& api, ProductIndex& products, std::optional<int64_t> location_id)
        : api_(api), products_(products), location_id_(location_id) {}

    std::vector<plexus::sdk::WriteResult> write(const std::vector<plexus::sdk::WriteItem>& items);
    plexus::sdk::LookupResult lookup(const plexus::sdk::LookupRequest& request);

private:
    struct Target {
        std::string sku;
        int64_t inventory_item_id = 0;
        int64_t location_id = 0;
        std::optional<int64_t> available;
    };
    // Where a mapped record points; a validation Error when it cannot point anywhere.
    Target resolve(const json& data, const std::string& target_key, bool need_available);
    // Current levels of these (item, location) pairs, keyed by inventory_level_key().
    std::map<std::string, json> current(const std::vector<Target>& targets);

    AdminApi& api_;
    ProductIndex& products_;
    std::optional<int64_t> location_id_;
};

}  // namespace plexus::shopify
