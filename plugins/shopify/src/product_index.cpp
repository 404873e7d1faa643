#include "product_index.hpp"

namespace plexus::shopify {

const std::vector<json>& ProductIndex::products() {
    load();
    return products_;
}

std::optional<ProductIndex::Match> ProductIndex::by_sku(const std::string& sku) {
    load();
    auto it = by_sku_.find(sku);
    if (it == by_sku_.end()) return std::nullopt;
    const json& p = products_[it->second.first];
    return Match{&p, &p["variants"][it->second.second]};
}

void ProductIndex::load() {
    if (loaded_) return;
    products_ = api_.get_all("products.json?limit=250&fields=id%2Ctitle%2Ctags%2Cvariants%2Cupdated_at", "products");
    by_sku_.clear();
    for (size_t i = 0; i < products_.size(); ++i) {
        const json& p = products_[i];
        if (!p.contains("variants") || !p["variants"].is_array()) continue;
        for (size_t k = 0; k < p["variants"].size(); ++k) {
            const json& v = p["variants"][k];
            if (v.is_object() && v.contains("sku") && v["sku"].is_string() && !v["sku"].get<std::string>().empty())
                by_sku_.emplace(v["sku"].get<std::string>(), std::make_pair(i, k));
        }
    }
    loaded_ = true;
}

}  // namespace plexus::shopify
