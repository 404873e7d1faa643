#include "product_index.hpp"

#include "wire.hpp"

#include <unordered_map>

namespace plexus::shopify {
namespace {

constexpr const char* kFields = "fields=id%2Ctitle%2Ctags%2Cvariants%2Cupdated_at";

}  // namespace

const std::vector<json>& ProductIndex::products() {
    load();
    return products_;
}

std::optional<ProductIndex::Match> ProductIndex::by_sku(const std::string& sku) {
    load();
    auto it = by_sku_.find(sku);
    if (it == by_sku_.end()) {
        if (!catch_up()) return std::nullopt;
        it = by_sku_.find(sku);
        if (it == by_sku_.end()) return std::nullopt;
    }
    const json& p = products_[it->second.first];
    return Match{&p, &p["variants"][it->second.second]};
}

void ProductIndex::load() {
    if (loaded_) return;
    products_ = api_.get_all(std::string("products.json?limit=250&") + kFields, "products");
    index();
    loaded_ = true;
}

bool ProductIndex::catch_up() {
    if (!loaded_) {
        load();
        return !products_.empty();
    }
    if (newest_.empty()) {  // an empty store when read: read it whole again
        loaded_ = false;
        load();
        return !products_.empty();
    }
    // updated_at_min is inclusive: the newest product comes again, with what changed since.
    std::vector<json> changed = api_.get_all(std::string("products.json?limit=250&") + kFields +
                                                 "&updated_at_min=" + url_encode(newest_),
                                             "products");
    std::unordered_map<std::string, size_t> at;
    for (size_t i = 0; i < products_.size(); ++i)
        if (products_[i].contains("id")) at[products_[i]["id"].dump()] = i;
    bool any = false;
    for (auto& p : changed) {
        if (!p.contains("id")) continue;
        auto it = at.find(p["id"].dump());
        if (it == at.end()) {
            products_.push_back(std::move(p));
            any = true;
        } else if (products_[it->second] != p) {
            products_[it->second] = std::move(p);
            any = true;
        }
    }
    if (any) index();
    return any;
}

void ProductIndex::index() {
    by_sku_.clear();
    newest_.clear();
    for (size_t i = 0; i < products_.size(); ++i) {
        const json& p = products_[i];
        if (p.contains("updated_at") && p["updated_at"].is_string() && p["updated_at"].get<std::string>() > newest_)
            newest_ = p["updated_at"].get<std::string>();
        if (!p.contains("variants") || !p["variants"].is_array()) continue;
        for (size_t k = 0; k < p["variants"].size(); ++k) {
            const json& v = p["variants"][k];
            if (v.is_object() && v.contains("sku") && v["sku"].is_string() && !v["sku"].get<std::string>().empty())
                by_sku_.emplace(v["sku"].get<std::string>(), std::make_pair(i, k));
        }
    }
}

}  // namespace plexus::shopify
