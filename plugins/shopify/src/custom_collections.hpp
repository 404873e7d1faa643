// Product categories as custom collections, and products' membership in them (collects).
//
// A category's collection is found again by its handle, derived from the category id alone
// (category_handle() in wire.hpp), so a create whose outcome the host never recorded is
// adopted by lookup instead of made twice. A product write that names a category ends with
// exactly one collect linking the product and that collection: the product's collects are
// read first and only a missing one is posted; when the collection is a category collection
// (handle "category-…"), the product's collects into other category collections are removed
// (a product has one category). Other collections a merchant put the product in are kept.
#pragma once

#include "admin_api.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::shopify {

// What a product write names as its category: one of the mapped fields collection_id (the
// Shopify collection id), collection_handle, or category_id (the source system's category
// id; the handle is derived from it).
struct CategoryRef {
    std::string field;
    std::string value;
};
// Takes the category fields out of a product's mapped data (they are not product fields);
// none when no category is named. Throws a validation Error when several are given or one is
// not a string/number.
std::optional<CategoryRef> take_category(json& data);

class CustomCollections {
public:
    explicit CustomCollections(AdminApi& api) : api_(api) {}

    // Entity custom_collections.
    std::vector<plexus::sdk::WriteResult> write(const std::vector<plexus::sdk::WriteItem>& items);
    plexus::sdk::LookupResult lookup(const plexus::sdk::LookupRequest& request);

    struct Collection {
        int64_t id = 0;
        std::string handle;
    };
    // The collection a product's category names; a validation Error when there is none.
    Collection resolve(const CategoryRef& ref);
    // The product ends in exactly one collect with `collection` (see the file comment).
    // Returns true when it changed anything. Throws Error on a refused or failed request.
    bool ensure_member(int64_t product_id, const Collection& collection);

private:
    plexus::sdk::WriteResult write_one(const plexus::sdk::WriteItem& item);
    std::optional<json> by_handle(const std::string& handle);
    std::string handle_of(int64_t collection_id);

    AdminApi& api_;
    std::map<std::string, int64_t> id_by_handle_;
    std::map<int64_t, std::string> handle_by_id_;
};

}  // namespace plexus::shopify
