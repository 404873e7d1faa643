// Deterministic seed data for the Shopify sandbox: customers (non-ASCII names, some without
// e-mail), products with variants and SKUs, orders in CHF/EUR/USD with taxes, discounts,
// shipping lines, refunds and cancellations. Timestamps in 2024 (shop time +02:00), rounded
// to the minute so that several records share an updated_at (ties are realistic).
#include "shopify_sandbox.hpp"

#include <cctype>
#include <map>
#include <random>

namespace plexus::sandbox {

using nlohmann::json;

void ShopifySandbox::seed() {
    std::mt19937 rng(options_.seed);
    const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
    struct Name { const char* display; const char* ascii; };
    const Name firsts[] = {{"Zoë", "zoe"}, {"Łukasz", "lukasz"}, {"Ingrid", "ingrid"}, {"José", "jose"}, {"Ana", "ana"},
                           {"François", "francois"}, {"Søren", "soren"}, {"Chloé", "chloe"}, {"Jürg", "juerg"},
                           {"Mei", "mei"}, {"Oliver", "oliver"}, {"Ayşe", "ayse"}, {"Björn", "bjorn"}, {"Nadia", "nadia"}};
    const Name lasts[] = {{"Øvrebø", "ovrebo"}, {"Müller", "mueller"}, {"Nowak", "nowak"}, {"García", "garcia"},
                          {"Dubois", "dubois"}, {"Rossi", "rossi"}, {"Smith", "smith"}, {"Zimmermann", "zimmermann"},
                          {"O'Brien", "obrien"}, {"Łęcka", "lecka"}, {"Håkansson", "hakansson"}, {"Yılmaz", "yilmaz"}};
    const char* countries[] = {"CH", "DE", "FR", "US", "AT", "NO", "PL"};
    const int64_t start = 1704067200 + 3600 * 8;  // 2024-01-01T08:00Z
    const auto when = [&](int64_t after) { return after + 60 * static_cast<int64_t>(pick(60 * 24 * 120)); };

    for (int i = 0; i < options_.customers; ++i) {
        const Name& f = firsts[pick(std::size(firsts))];
        const Name& l = lasts[pick(std::size(lasts))];
        const int64_t id = take_id();
        const int64_t created = when(start - 86400 * 30), updated = created + 60 * pick(60 * 24 * 60);
        json c{{"id", id}, {"first_name", f.display}, {"last_name", l.display}, {"state", "enabled"},
               {"email", i % 9 == 4 ? json() : json(std::string(f.ascii) + "." + l.ascii + std::to_string(i) + "@example.com")},
               {"phone", i % 3 == 0 ? json("+4179" + std::to_string(1000000 + pick(8999999))) : json()},
               {"tags", i % 5 == 0 ? "VIP" : i % 7 == 0 ? "wholesale, newsletter" : ""},
               {"note", i % 11 == 0 ? json("Prefers delivery after 17:00") : json()},
               {"currency", "CHF"}, {"orders_count", pick(12)}, {"total_spent", money(pick(500000))},
               {"verified_email", true}, {"tax_exempt", i % 17 == 0},
               {"created_at", format_time(created)}, {"updated_at", format_time(updated)},
               {"admin_graphql_api_id", "gid://shopify/Customer/" + std::to_string(id)}};
        json address{{"first_name", f.display}, {"last_name", l.display}, {"address1", std::to_string(1 + pick(120)) + " Bahnhofstrasse"},
                     {"city", "Zürich"}, {"zip", std::to_string(8000 + pick(999))}, {"country_code", countries[pick(std::size(countries))]},
                     {"default", true}};
        c["addresses"] = json::array({address});
        c["default_address"] = address;
        customers_[id] = Stored{std::move(c), updated, created};
    }

    const char* kinds[] = {"Coffee", "Tea", "Mug", "Grinder", "Filter", "Chocolate"};
    const char* adjectives[] = {"Alpine", "Crème", "Nordic", "Smoky", "Bright", "Señorita", "Gruyère"};
    const char* vendors[] = {"Bergkaffee AG", "Café Øst", "Teehaus Łódź", "Plexus Goods"};
    const char* sizes[] = {"250 g", "500 g", "1 kg", "2 kg"};
    struct Variant { int64_t id, product_id; std::string sku, title, name; int64_t cents; };
    std::vector<Variant> catalogue;
    for (int i = 0; i < options_.products; ++i) {
        const int64_t id = take_id();
        const std::string kind = kinds[pick(std::size(kinds))];
        const std::string title = std::string(adjectives[pick(std::size(adjectives))]) + " " + kind + " " + std::to_string(i + 1);
        const int64_t created = when(start - 86400 * 60), updated = created + 60 * pick(60 * 24 * 90);
        json variants = json::array();
        const int n = 1 + pick(4);
        const int64_t base = 500 + 50 * pick(200);
        for (int k = 0; k < n; ++k) {
            const int64_t vid = take_id(), item = take_id();
            const std::string sku = "PX-" + std::to_string(1000 + i) + "-" + std::to_string(k + 1);
            const int64_t cents = base + k * 400;
            variants.push_back({{"id", vid}, {"product_id", id}, {"title", n == 1 ? "Default Title" : sizes[k]}, {"sku", sku},
                                {"barcode", std::to_string(7610000000000 + i * 10 + k)}, {"price", money(cents)},
                                {"compare_at_price", k == 0 && i % 6 == 0 ? json(money(cents + 300)) : json()},
                                {"inventory_item_id", item}, {"inventory_quantity", pick(80) - 5},
                                {"inventory_management", "shopify"}, {"inventory_policy", "deny"}, {"taxable", true},
                                {"grams", 250 * (k + 1)}, {"position", k + 1},
                                {"created_at", format_time(created)}, {"updated_at", format_time(updated)}});
            catalogue.push_back({vid, id, sku, n == 1 ? "Default Title" : sizes[k], title, cents});
        }
        json p{{"id", id}, {"title", title}, {"body_html", "<p>" + title + " — hand-picked.</p>"},
               {"vendor", vendors[pick(std::size(vendors))]}, {"product_type", kind},
               {"handle", "product-" + std::to_string(i + 1)}, {"status", i % 10 == 9 ? "draft" : i % 23 == 0 ? "archived" : "active"},
               {"tags", i % 4 == 0 ? "bio, fairtrade" : ""}, {"variants", variants},
               {"options", json::array({{{"name", "Size"}, {"position", 1}}})}, {"images", json::array()},
               {"created_at", format_time(created)}, {"updated_at", format_time(updated)},
               {"admin_graphql_api_id", "gid://shopify/Product/" + std::to_string(id)}};
        products_[id] = Stored{std::move(p), updated, created};
    }

    std::vector<const json*> buyers;
    for (const auto& [id, s] : customers_) buyers.push_back(&s.data);
    struct Cur { const char* code; double rate; bool included; const char* tax; };
    const Cur currencies[] = {{"CHF", 0.081, true, "MWST"}, {"EUR", 0.19, true, "MwSt"}, {"USD", 0.0725, false, "State Tax"}};
    const char* statuses[] = {"paid", "paid", "paid", "pending", "authorized", "partially_paid", "partially_refunded", "refunded", "voided"};
    for (int i = 0; i < options_.orders && !catalogue.empty() && !buyers.empty(); ++i) {
        const int64_t id = take_id();
        const Cur& cur = currencies[pick(3)];
        const json& buyer = *buyers[pick(static_cast<int>(buyers.size()))];
        const int64_t created = when(start), updated = created + 60 * pick(60 * 24 * 20);
        const std::string financial = statuses[pick(std::size(statuses))];
        json lines = json::array();
        int64_t subtotal = 0, tax_total = 0;
        const int n = 1 + pick(4);
        for (int k = 0; k < n; ++k) {
            const int vi = pick(static_cast<int>(catalogue.size()));
            const Variant& v = catalogue[vi];
            const std::string sku = options_.order_skus.empty()
                                        ? v.sku
                                        : options_.order_skus[static_cast<size_t>(vi) % options_.order_skus.size()];
            const int qty = 1 + pick(3);
            const int64_t gross = v.cents * qty;
            const int64_t tax = cur.included ? static_cast<int64_t>(gross - gross / (1 + cur.rate) + 0.5)
                                             : static_cast<int64_t>(gross * cur.rate + 0.5);
            subtotal += gross;
            tax_total += tax;
            lines.push_back({{"id", take_id()}, {"variant_id", v.id}, {"product_id", v.product_id}, {"sku", sku},
                             {"title", v.name}, {"variant_title", v.title}, {"name", v.name + " - " + v.title},
                             {"quantity", qty}, {"price", money(v.cents)}, {"total_discount", "0.00"},
                             {"taxable", true}, {"requires_shipping", true}, {"fulfillable_quantity", qty},
                             {"tax_lines", json::array({{{"title", cur.tax}, {"rate", cur.rate}, {"price", money(tax)}}})},
                             {"discount_allocations", json::array()}});
        }
        json discount_codes = json::array(), applications = json::array();
        int64_t discount = 0;
        if (i % 4 == 1) {
            discount = i % 8 == 1 ? 1000 : subtotal / 10;
            const bool fixed = i % 8 == 1;
            discount_codes.push_back({{"code", fixed ? "TENOFF" : "WELCOME10"}, {"amount", money(discount)},
                                      {"type", fixed ? "fixed_amount" : "percentage"}});
            applications.push_back({{"type", "discount_code"}, {"code", fixed ? "TENOFF" : "WELCOME10"},
                                    {"value", fixed ? "10.00" : "10.0"}, {"value_type", fixed ? "fixed_amount" : "percentage"},
                                    {"allocation_method", "across"}, {"target_type", "line_item"}});
        }
        const int64_t shipping = i % 5 == 0 ? 0 : 900;
        json shipping_lines = json::array();
        if (shipping)
            shipping_lines.push_back({{"id", take_id()}, {"title", i % 2 ? "Post Priority" : "DHL Express"}, {"code", i % 2 ? "POST" : "DHL"},
                                      {"price", money(shipping)}, {"discounted_price", money(shipping)},
                                      {"tax_lines", json::array({{{"title", cur.tax}, {"rate", cur.rate},
                                                                  {"price", money(static_cast<int64_t>(shipping * cur.rate + 0.5))}}})}});
        const int64_t total = subtotal - discount + shipping + (cur.included ? 0 : tax_total);
        json refunds = json::array();
        if (financial == "refunded" || financial == "partially_refunded")
            refunds.push_back({{"id", take_id()}, {"created_at", format_time(updated)}, {"note", "Customer returned goods"},
                               {"transactions", json::array({{{"kind", "refund"}, {"status", "success"},
                                                              {"amount", money(financial == "refunded" ? total : total / 3)}}})}});
        const bool cancelled = financial == "voided" || i % 29 == 0;
        json customer{{"id", buyer["id"]}, {"email", buyer["email"]}, {"first_name", buyer["first_name"]}, {"last_name", buyer["last_name"]}};
        json o{{"id", id}, {"name", "#" + std::to_string(1001 + i)}, {"order_number", 1001 + i},
               {"email", buyer["email"]}, {"created_at", format_time(created)}, {"updated_at", format_time(updated)},
               {"processed_at", format_time(created)}, {"currency", cur.code}, {"presentment_currency", cur.code},
               {"financial_status", financial}, {"fulfillment_status", i % 3 == 0 ? json("fulfilled") : json()},
               {"customer", customer}, {"billing_address", buyer["default_address"]}, {"shipping_address", buyer["default_address"]},
               {"line_items", lines}, {"taxes_included", cur.included},
               {"tax_lines", json::array({{{"title", cur.tax}, {"rate", cur.rate}, {"price", money(tax_total)}}})},
               {"shipping_lines", shipping_lines}, {"discount_codes", discount_codes}, {"discount_applications", applications},
               {"subtotal_price", money(subtotal - discount)}, {"total_discounts", money(discount)},
               {"total_tax", money(tax_total)}, {"total_price", money(total)},
               {"total_price_set", {{"shop_money", {{"amount", money(total)}, {"currency_code", cur.code}}},
                                    {"presentment_money", {{"amount", money(total)}, {"currency_code", cur.code}}}}},
               {"refunds", refunds}, {"cancelled_at", cancelled ? json(format_time(updated)) : json()},
               {"cancel_reason", cancelled ? json("customer") : json()},
               {"closed_at", i % 3 == 0 ? json(format_time(updated)) : json()}, {"test", false},
               {"tags", ""}, {"note", nullptr},
               {"admin_graphql_api_id", "gid://shopify/Order/" + std::to_string(id)}};
        orders_[id] = Stored{std::move(o), updated, created};
    }
    seed_catalog();
}

// After the products and orders: every 15th product untracked (inventory_management null);
// one custom collection per product kind with a collect for each product; three locations
// (the last inactive) and inventory levels for the tracked variants (the main location holds
// what the variant's inventory_quantity said, every third product also has stock in the
// shop); each order's transactions as its financial_status implies, and its total_outstanding.
void ShopifySandbox::seed_catalog() {
    std::mt19937 rng(options_.seed * 7919u + 13u);
    const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
    const int64_t start = 1704067200 + 3600 * 8;  // 2024-01-01T08:00Z

    const struct { int64_t id; const char* name; const char* city; bool active; } locations[] = {
        {kMainLocation, "Lager Zürich", "Zürich", true},
        {kShopLocation, "Laden Basel", "Basel", true},
        {kClosedLocation, "Lager Bern (geschlossen)", "Bern", false}};
    for (const auto& l : locations)
        locations_[l.id] = Stored{{{"id", l.id}, {"name", l.name}, {"address1", "Industriestrasse 1"}, {"city", l.city},
                                   {"zip", "8000"}, {"country", "CH"}, {"country_code", "CH"}, {"active", l.active},
                                   {"legacy", false}, {"created_at", format_time(start - 86400 * 90)},
                                   {"updated_at", format_time(start - 86400 * 90)},
                                   {"admin_graphql_api_id", "gid://shopify/Location/" + std::to_string(l.id)}},
                                  start - 86400 * 90, start - 86400 * 90};

    std::map<std::string, int64_t> collection_of_kind;
    int index = 0;
    for (auto& [pid, p] : products_) {
        const std::string kind = p.data.value("product_type", "Other");
        auto c = collection_of_kind.find(kind);
        if (c == collection_of_kind.end()) {
            const int64_t id = take_id(), when = start - 86400 * 50;
            std::string handle;
            for (char ch : kind) handle += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            json o{{"id", id}, {"handle", handle}, {"title", kind}, {"body_html", "<p>All our " + kind + ".</p>"},
                   {"published_at", format_time(when)}, {"published_scope", "web"}, {"sort_order", "best-selling"},
                   {"template_suffix", nullptr}, {"updated_at", format_time(when)},
                   {"admin_graphql_api_id", "gid://shopify/Collection/" + std::to_string(id)}};
            custom_collections_[id] = Stored{std::move(o), when, when};
            c = collection_of_kind.emplace(kind, id).first;
        }
        const int64_t cid = take_id();
        collects_[cid] = Stored{{{"id", cid}, {"collection_id", c->second}, {"product_id", pid}, {"position", 1},
                                 {"sort_value", "0000000001"}, {"created_at", p.data["created_at"]},
                                 {"updated_at", p.data["created_at"]}},
                                p.created, p.created};
        const bool tracked = index % 15 != 14;
        const bool in_shop = index % 3 == 0;
        ++index;
        for (auto& v : p.data["variants"]) {
            if (!tracked) {
                v["inventory_management"] = nullptr;
                continue;
            }
            const int64_t item = v["inventory_item_id"];
            const int64_t main = v.value("inventory_quantity", int64_t{0});
            const auto level = [&](int64_t location, int64_t available) {
                json l{{"inventory_item_id", item}, {"location_id", location}, {"available", available},
                       {"updated_at", p.data["updated_at"]},
                       {"admin_graphql_api_id", "gid://shopify/InventoryLevel/" + std::to_string(location) +
                                                    "?inventory_item_id=" + std::to_string(item)}};
                levels_[{item, location}] = Stored{std::move(l), p.updated, p.created};
            };
            level(kMainLocation, main);
            int64_t total = main;
            if (in_shop) {
                const int64_t shop = pick(11);
                level(kShopLocation, shop);
                total += shop;
            }
            v["inventory_quantity"] = total;
        }
    }

    for (auto& [oid, o] : orders_) {
        json& order = o.data;
        const std::string status = order["financial_status"];
        const int64_t total = cents_of(order["total_price"]).value_or(0);
        const std::string currency = order["currency"];
        auto& txs = transactions_[oid];
        const auto add = [&](const std::string& kind, int64_t amount, int64_t parent) -> int64_t {
            const int64_t id = take_id();
            txs.push_back({{"id", id}, {"order_id", oid}, {"kind", kind},
                           {"gateway", status == "partially_paid" ? "manual" : "shopify_payments"}, {"status", "success"},
                           {"message", nullptr}, {"created_at", order["created_at"]}, {"processed_at", order["created_at"]},
                           {"test", false}, {"authorization", kind == "authorization" ? json("A" + std::to_string(id % 1000000)) : json()},
                           {"parent_id", parent ? json(parent) : json()}, {"source_name", "web"}, {"amount", money(amount)},
                           {"currency", currency}, {"admin_graphql_api_id", "gid://shopify/OrderTransaction/" + std::to_string(id)}});
            return id;
        };
        int64_t outstanding = 0;
        if (status == "paid") {
            add("sale", total, 0);
        } else if (status == "pending") {
            outstanding = total;
        } else if (status == "authorized") {
            add("authorization", total, 0);
            outstanding = total;
        } else if (status == "partially_paid") {
            add("sale", total / 2, 0);
            outstanding = total - total / 2;
        } else if (status == "partially_refunded" || status == "refunded") {
            const int64_t sale = add("sale", total, 0);
            add("refund", status == "refunded" ? total : total / 3, sale);
        } else if (status == "voided") {
            const int64_t auth = add("authorization", total, 0);
            add("void", total, auth);
            outstanding = total;
        }
        order["total_outstanding"] = money(outstanding);
    }
}

}  // namespace plexus::sandbox
