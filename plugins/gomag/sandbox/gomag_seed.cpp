// The sandbox shop's seeded data: a Romanian sports and clothing shop. Deterministic for a
// seed; sizes from Options. Products change over the last 60 days and orders were placed over
// the last 90, so incremental reads by day have something to skip.
#include "gomag_sandbox.hpp"

#include <cstdio>
#include <random>

namespace plexus::sandbox {

using nlohmann::json;

namespace {
const char* const kKinds[] = {"Tricou", "Geaca", "Pantofi sport", "Racheta tenis", "Minge", "Sosete", "Sapca", "Rucsac",
                              "Hanorac", "Pantaloni", "Manusi", "Fular"};
const char* const kColours[] = {"alb", "negru", "albastru", "rosu", "verde", "gri", "galben"};
const char* const kBrands[] = {"Babolat", "Wilson", "Adidas", "Puma", "Head", "Joma"};
const char* const kFirst[] = {"Ion", "Maria", "Andrei", "Elena", "Mihai", "Ioana", "Alexandru", "Ana", "Stefan", "Cristina"};
const char* const kLast[] = {"Popescu", "Ionescu", "Popa", "Stan", "Dumitru", "Munteanu", "Matei", "Constantin"};
const char* const kCities[][2] = {{"Cluj-Napoca", "Cluj"}, {"Bucuresti", "Bucuresti"}, {"Iasi", "Iasi"}, {"Timisoara", "Timis"},
                                  {"Brasov", "Brasov"}};
const char* const kTop[] = {"Imbracaminte", "Incaltaminte", "Echipament", "Accesorii", "Colectii"};
const char* const kSub[] = {"Barbati", "Femei", "Copii", "Reduceri"};
template <typename T, size_t N>
constexpr size_t n_of(T (&)[N]) { return N; }

std::string money(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}
}  // namespace

void GomagSandbox::seed() {
    std::mt19937 rng(options_.seed);
    auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
    const int64_t now = now_seconds();

    std::vector<int64_t> leaves;
    for (size_t t = 0; t < n_of(kTop); ++t)
        for (size_t s = 0; s < n_of(kSub); ++s) leaves.push_back(category_path({kTop[t], kSub[s]}));

    std::vector<std::string> skus;
    for (int i = 0; i < options_.products; ++i) {
        const int64_t id = next_product_++;
        char sku[32];
        std::snprintf(sku, sizeof sku, options_.sku_format.c_str(), options_.first_sku + i);
        const std::string name = std::string(kKinds[pick(n_of(kKinds))]) + " " + kBrands[pick(n_of(kBrands))] + " " +
                                 kColours[pick(n_of(kColours))];
        const double price = 19.99 + static_cast<double>(pick(400));
        const int64_t updated = now - static_cast<int64_t>(pick(60 * 86400));
        const int64_t created = updated - static_cast<int64_t>(pick(300 * 86400));
        const int stock = static_cast<int>(pick(40));
        json d{{"id", std::to_string(id)}, {"sku", sku}, {"name", name}, {"description", "<p>" + name + "</p>"},
               {"short_description", ""}, {"url", options_.shop + "/p" + std::to_string(id) + ".html"},
               {"canonical_url", options_.shop + "/p" + std::to_string(id) + ".html"}, {"brand", kBrands[pick(n_of(kBrands))]},
               {"categories", product_categories({leaves[pick(leaves.size())]})}, {"weight", "0.5"}, {"enabled", "1"},
               {"parent", std::to_string(id)}, {"parent_sku", sku}, {"group_key", sku}, {"stockManagement", "1"},
               {"stock", std::to_string(stock) + ".000"}, {"stock_status", stock > 0 ? "instock" : "notinstock"},
               {"base_price", money(price) + "00"}, {"price", money(price) + "00"}, {"vat_included", 1}, {"vat", "19"},
               {"currency", "RON"}, {"ecotax", "0.0000"}, {"um", "buc"}, {"attributes", json::array()},
               {"images", json::array()}, {"ean", std::to_string(5940000000000LL + id)},
               {"updated", shop_time(updated)}, {"created", shop_time(created)}};
        products_[id] = Product{d, updated};
        sku_index_[sku] = id;
        skus.push_back(sku);
    }

    for (int i = 0; i < options_.customers; ++i) {
        const int64_t id = next_customer_++;
        const std::string first = kFirst[pick(n_of(kFirst))], last = kLast[pick(n_of(kLast))];
        char email[96];
        std::snprintf(email, sizeof email, "%s.%s%d@example.ro", first.c_str(), last.c_str(), i);
        for (char* c = email; *c; ++c) *c = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
        char phone[16];
        std::snprintf(phone, sizeof phone, "07%08d", static_cast<int>(pick(100000000)));
        customers_[id] = {{"type", "client"}, {"firstname", first}, {"lastname", last}, {"active", "1"}, {"password", nullptr},
                          {"phone", phone}, {"fax", nullptr}, {"email", email},
                          {"registration", shop_time(now - static_cast<int64_t>(pick(400 * 86400)))},
                          {"countOrderAll", nullptr}, {"totalOrderAll", nullptr}, {"countOrdersAll", nullptr},
                          {"totalOrdersAll", nullptr}, {"tagsNames", nullptr}};
    }

    const int64_t statuses[] = {1, 1, 1, 2, 18, 8, 3, 4, 6, 7};
    for (int i = 0; i < options_.orders; ++i) {
        const int64_t id = next_order_++;
        const int64_t placed = now - static_cast<int64_t>(pick(90 * 86400));
        const int64_t updated = std::min(now, placed + static_cast<int64_t>(pick(5 * 86400)));
        const int64_t status = statuses[pick(n_of(statuses))];
        json items = json::array();
        double total = 0;
        const size_t lines = 1 + pick(3);
        for (size_t l = 0; l < lines && !skus.empty(); ++l) {
            const json& p = products_[sku_index_[skus[pick(skus.size())]]].data;
            const int q = 1 + static_cast<int>(pick(3));
            total += std::stod(p["price"].get<std::string>()) * q;
            items.push_back({{"id", p["id"]}, {"type", "product"}, {"sku", p["sku"]}, {"ean", p["ean"]}, {"name", p["name"]},
                             {"price", p["price"]}, {"baseprice", p["base_price"]}, {"vat", "19"},
                             {"quantity", std::to_string(q) + ".00"}});
        }
        json customer = customers_.empty() ? json::object() : std::next(customers_.begin(), static_cast<long>(pick(customers_.size())))->second;
        const int64_t customer_id = customers_.empty() ? 0 : std::next(customers_.begin(), static_cast<long>(pick(customers_.size())))->first;
        const auto& city = kCities[pick(n_of(kCities))];
        json person{{"firstname", customer.value("firstname", "")}, {"lastname", customer.value("lastname", "")},
                    {"phone", customer.value("phone", "")}, {"email", customer.value("email", "")},
                    {"address", "Str. Memorandumului " + std::to_string(1 + pick(90))}, {"city", city[0]}, {"region", city[1]},
                    {"country", "Romania"}};
        json billing = person;
        billing["customerId"] = customer_id;
        json shipping = person;
        shipping["company"] = "";
        shipping["zipcode"] = "400000";
        const bool invoiced = status == 3 || status == 18;
        json o{{"id", std::to_string(id)}, {"number", std::to_string(next_number_++)}, {"date", shop_time(placed)},
               {"invoice", invoiced ? json{{"series", "FACT"}, {"number", std::to_string(next_invoice_++)}, {"date", shop_time(updated)}}
                                    : json{{"series", ""}, {"number", "0"}, {"date", "0000-00-00 00:00:00"}}},
               {"total", money(total)}, {"status", status_name(status)}, {"statusId", std::to_string(status)},
               {"sales_channel", "Website"}, {"sales_agent", ""}, {"currency", "RON"}, {"observation", ""},
               {"payment", {{"name", pick(2) ? "Ramburs" : "Card online"}, {"online", "0"}, {"completed", status == 8 ? "1" : "0"}}},
               {"delivery", {{"name", "Curier rapid"}, {"total", 15}, {"date", "0000-00-00 00:00:00"}, {"lockerId", 0}}},
               {"shipping", shipping}, {"billing", billing}, {"items", items}, {"discounts", json::array()},
               {"carrier", {{"name", "FAN Courier"}, {"awb", ""}}}};
        orders_[id] = Order{o, updated};
    }
}

}  // namespace plexus::sandbox
