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
    // The first variant carrying this SKU (Shopify does not enforce unique SKUs). A SKU not
    // in the index is looked for once more among the products changed since the index was
    // read (catch_up), so a product another run created meanwhile is never "not found".
    std::optional<Match> by_sku(const std::string& sku);
    // A product write changed what the store holds: read again when next asked.
    void invalidate() { loaded_ = false; }
    // Reads the products changed since the newest one in the index (updated_at_min, one
    // request when nothing changed) into the index; true when any arrived.
    bool catch_up();

private:
    void load();
    void index();

    AdminApi& api_;
    bool loaded_ = false;
    std::vector<json> products_;
    std::map<std::string, std::pair<size_t, size_t>> by_sku_;  // sku → (product, variant)
    std::string newest_;  // the largest updated_at in the index (the store's own clock)
};

}  // namespace plexus::shopify
