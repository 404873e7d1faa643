#include "custom_collections.hpp"

#include <set>

namespace plexus::shopify {

using plexus::sdk::Error;
using plexus::sdk::LookupRequest;
using plexus::sdk::LookupResult;
using plexus::sdk::WriteItem;
using plexus::sdk::WriteOp;
using plexus::sdk::WriteResult;

namespace {

// A mapped id value as text: strings as they are, integers in decimal; none for null/absent.
std::optional<std::string> text_value(const json& data, const char* field) {
    auto it = data.find(field);
    if (it == data.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    throw invalid(std::string(field) + " must be a string or an integer, not " + it->dump());
}

// The handle a mapped collection record asks for: its handle, else the one derived from its
// category_id; none when it has neither.
std::optional<std::string> wanted_handle(const json& data) {
    if (auto h = text_value(data, "handle"); h && !h->empty()) return h;
    if (auto c = text_value(data, "category_id"); c && !c->empty()) return category_handle(*c);
    return std::nullopt;
}

}  // namespace

std::optional<CategoryRef> take_category(json& data) {
    std::optional<CategoryRef> ref;
    for (const char* field : {"collection_id", "collection_handle", "category_id"}) {
        auto value = text_value(data, field);
        data.erase(field);
        if (!value || value->empty()) continue;
        if (ref)
            throw invalid("the category is named twice (" + ref->field + " and " + field +
                          "); map one of collection_id, collection_handle, category_id");
        ref = CategoryRef{field, *value};
    }
    return ref;
}

std::vector<WriteResult> CustomCollections::write(const std::vector<WriteItem>& items) {
    std::vector<WriteResult> results;
    results.reserve(items.size());
    for (const auto& item : items) {
        std::string who = "custom collection";
        if (item.data.is_object()) {
            try {
                if (auto h = wanted_handle(item.data)) who += " " + *h;
            } catch (const Error&) {
            }
        }
        results.push_back(per_record(who, [&] { return write_one(item); }));
    }
    return results;
}

WriteResult CustomCollections::write_one(const WriteItem& item) {
    if (!item.data.is_object()) throw invalid("the mapped record is not a JSON object");
    json data = item.data;
    const std::optional<std::string> handle = wanted_handle(data);
    for (const char* f : {"id", "updated_at", "created_at", "published_at", "admin_graphql_api_id", "category_id"})
        data.erase(f);
    if (handle) data["handle"] = *handle;
    if (item.op == WriteOp::Create) {
        if (!handle)
            throw invalid("no category_id (or handle) in the mapped record: without one the collection cannot be "
                          "found again after an interrupted run");
        // Shopify does not refuse a taken handle, it appends "-1": look first, and let the
        // host turn the create into an update of what is there (CONFLICT → lookup → update).
        if (auto existing = by_handle(*handle))
            return WriteResult::failed(PLEXUS_ERR_CONFLICT, "a custom collection with handle \"" + *handle +
                                                                "\" already exists (id " + id_text((*existing)["id"]) + ")");
        Exchange x = api_.send("POST", "custom_collections.json", json{{"custom_collection", data}});
        WriteResult r = interpret_write(x.response.status, x.response.body, "custom_collection", true, x.name);
        if (r.status == PLEXUS_OK) {
            id_by_handle_[*handle] = std::atoll(r.target_key.c_str());
            handle_by_id_[std::atoll(r.target_key.c_str())] = *handle;
        }
        return r;
    }
    if (item.target_key.empty()) throw invalid("update without a target key");
    Exchange x = api_.send("PUT", "custom_collections/" + url_encode(item.target_key) + ".json",
                           json{{"custom_collection", data}});
    return interpret_write(x.response.status, x.response.body, "custom_collection", false, x.name);
}

LookupResult CustomCollections::lookup(const LookupRequest& request) {
    if (request.key) {
        auto c = api_.find_object("custom_collections/" + url_encode(*request.key) + ".json", "custom_collection");
        if (!c) return {};
        return found_record(std::move(*c));
    }
    std::optional<std::string> handle;
    try {
        handle = wanted_handle(request.data);
    } catch (const Error&) {
        return {};
    }
    if (!handle) return {};
    auto c = by_handle(*handle);
    if (!c) return {};
    return found_record(std::move(*c));
}

std::optional<json> CustomCollections::by_handle(const std::string& handle) {
    // The handle filter answers at most one collection; compare anyway, so that an API which
    // ignored the filter cannot make us adopt another collection.
    for (auto& c : api_.get_all("custom_collections.json?limit=50&handle=" + url_encode(handle), "custom_collections", 250)) {
        if (c.value("handle", "") != handle) continue;
        if (auto id = id_number(c["id"])) {
            id_by_handle_[handle] = *id;
            handle_by_id_[*id] = handle;
        }
        return std::move(c);
    }
    return std::nullopt;
}

std::string CustomCollections::handle_of(int64_t collection_id) {
    auto it = handle_by_id_.find(collection_id);
    if (it != handle_by_id_.end()) return it->second;
    auto c = api_.find_object("custom_collections/" + std::to_string(collection_id) + ".json", "custom_collection");
    // Not a custom collection (or gone): no handle, never treated as a category.
    std::string handle = c ? c->value("handle", "") : "";
    handle_by_id_[collection_id] = handle;
    return handle;
}

CustomCollections::Collection CustomCollections::resolve(const CategoryRef& ref) {
    if (ref.field == "collection_id") {
        auto id = id_number(json(ref.value));
        if (!id) throw invalid("collection_id \"" + ref.value + "\" is not a Shopify collection id");
        const std::string handle = handle_of(*id);
        if (handle.empty()) throw invalid("no custom collection with id " + ref.value + " in Shopify");
        return {*id, handle};
    }
    const std::string handle = ref.field == "category_id" ? category_handle(ref.value) : ref.value;
    if (auto it = id_by_handle_.find(handle); it != id_by_handle_.end()) return {it->second, handle};
    auto c = by_handle(handle);
    if (!c)
        throw invalid("no custom collection with handle \"" + handle + "\" in Shopify" +
                      (ref.field == "category_id" ? " (category " + ref.value + "; sync the categories first)" : ""));
    return {*id_number((*c)["id"]), handle};
}

bool CustomCollections::ensure_member(int64_t product_id, const Collection& collection) {
    const std::string pid = std::to_string(product_id);
    std::vector<json> collects =
        api_.get_all("collects.json?limit=250&product_id=" + pid, "collects");
    bool member = false, changed = false;
    std::vector<std::pair<int64_t, int64_t>> others;  // (collect id, collection id)
    for (const auto& c : collects) {
        if (id_number(c.value("product_id", json())) != product_id) continue;  // filter ignored: skip
        const auto cid = id_number(c.value("collection_id", json()));
        const auto id = id_number(c.value("id", json()));
        if (!cid || !id) continue;
        if (*cid == collection.id) {
            if (member) {  // a second collect for the same pair: remove it, one is enough
                others.emplace_back(*id, *cid);
                continue;
            }
            member = true;
        } else {
            others.emplace_back(*id, *cid);
        }
    }
    if (!member) {
        Exchange x = api_.send("POST", "collects.json",
                               json{{"collect", {{"product_id", product_id}, {"collection_id", collection.id}}}});
        const int status = x.response.status;
        const json body = json::parse(x.response.body, nullptr, false);
        // Someone linked them between our read and our write: that is the state we want.
        const bool already = status == 422 && errors_message(body).find("already") != std::string::npos;
        if (!already) {
            if (Failure f = classify(status, x.response.body, x.name); f.status != PLEXUS_OK)
                throw Error(f.status, "putting product " + pid + " into collection " + collection.handle + ": " + f.message);
            parse_body(status, x.response.body, x.name);
            changed = true;
        }
    }
    const bool is_category = collection.handle.rfind(kCategoryHandlePrefix, 0) == 0;
    for (const auto& [collect_id, cid] : others) {
        const bool duplicate = cid == collection.id;
        if (!duplicate && !(is_category && handle_of(cid).rfind(kCategoryHandlePrefix, 0) == 0)) continue;
        Exchange x = api_.call("DELETE", "collects/" + std::to_string(collect_id) + ".json");
        if (x.response.status == 404) continue;  // already gone
        if (Failure f = classify(x.response.status, x.response.body, x.name); f.status != PLEXUS_OK)
            throw Error(f.status, "taking product " + pid + " out of its previous category: " + f.message);
        changed = true;
    }
    return changed;
}

}  // namespace plexus::shopify
