// The store's products with their variants, read once per connector instance and indexed by
// SKU: the REST Admin API has no variant search by SKU, so product lookups by SKU and the
// inventory writes (SKU → inventory_item_id) scan products.json (fields limited) once.
#pragma once

#include "admin_api.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

class ProductIndex {
public:
    explicit ProductIndex(AdminApi& api) : api_(api) {}

    // Every product: id, title, tags, variants (sku, inventory_item_id, …), updated_at.
    const std::vector<json>& products();
    struct Match {
        const json* product;
        const json* variant;
    };
    // The first variant carrying this SKU (Shopify does not enforce unique SKUs).
    std::optional<Match> by_sku(const std::string& sku);
    // A product write changed what the store holds: read again when next asked.
    void invalidate() { loaded_ = false; }

private:
    void load();

    AdminApi& api_;
    bool loaded_ = false;
    std::vector<json> products_;
    std::map<std::string, std::pair<size_t, size_t>> by_sku_;  // sku → (product, variant)
};

}  // namespace plexus::shopify
