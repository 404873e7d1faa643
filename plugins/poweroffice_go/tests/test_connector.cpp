// The connector through the real host against the sandbox: auth, paging, incremental reads,
// each entity's writes and lookups, and creates repeated after a crash adopted, not doubled.
#include "fixture.hpp"

using namespace pogo_test;

TEST_CASE("connector: check fetches a token once and reuses it; wrong keys fail as auth without the keys in the text") {
    Rig rig;
    auto go = rig.instance();
    REQUIRE(go->check().ok());
    REQUIRE(go->check().ok());
    CHECK(rig.go().token_count() == 1);

    json s = rig.settings();
    s["client_key"] = "not-the-client-key";
    auto wrong = rig.instance(s);
    auto r = wrong->check();
    CHECK(r.status == PLEXUS_ERR_AUTH);
    CHECK(r.text.find("invalid_client") != std::string::npos);
    CHECK(r.text.find("HTTP 400") != std::string::npos);
    CHECK(r.text.find("not-the-client-key") == std::string::npos);
    CHECK(r.text.find("sandbox-subscription-key") == std::string::npos);
}

TEST_CASE("connector: a token refused early (401) is renewed once and the call repeated") {
    Rig rig;
    auto go = rig.instance();
    REQUIRE(go->check().ok());
    rig.go().expire_tokens();
    REQUIRE(go->check().ok());
    CHECK(rig.go().token_count() == 2);
}

TEST_CASE("connector: customers read in pages to the end, then only what changed") {
    Rig rig;
    auto go = rig.instance();
    json cursor = nullptr;
    int pages = 0;
    auto all = read_all(*go, "customers", cursor, 500, &pages);
    CHECK(all.size() == 1200);
    CHECK(pages == 3);
    std::set<std::string> keys;
    for (const auto& r : all) keys.insert(r["key"].get<std::string>());
    CHECK(keys.size() == 1200);

    auto again = read_all(*go, "customers", cursor);
    CHECK(again.empty());

    json made = write_one(*go, "customers", {{"Name", "Fjordkaffe AS"}, {"Number", 77001}}, "px-idem-1");
    REQUIRE(made["status"] == 0);
    auto changed = read_all(*go, "customers", cursor);
    REQUIRE(changed.size() == 1);
    CHECK(changed[0]["key"] == made["target_key"]);
    CHECK(changed[0]["data"]["Number"] == 77001);
    CHECK(changed[0]["data"]["ExternalImportReference"] == "px-idem-1");
}

TEST_CASE("connector: customers are created, updated by JSON Patch and found by number and by idempotency key") {
    Rig rig;
    auto go = rig.instance();
    json data = {{"IsPerson", true}, {"FirstName", "Kari"}, {"LastName", "Nordmann"}, {"EmailAddress", "kari@example.no"},
                 {"Number", 88001}, {"MailAddress", {{"AddressLine1", "Storgata 1"}, {"ZipCode", "0161"}, {"City", "Oslo"}, {"CountryCode", "NO"}}}};
    json made = write_one(*go, "customers", data, "px-kari");
    REQUIRE(made["status"] == 0);
    const std::string id = made["target_key"];

    data["EmailAddress"] = "kari.nordmann@example.no";
    json updated = write_one(*go, "customers", data, "px-kari", "update", id);
    REQUIRE(updated["status"] == 0);
    CHECK(updated["target_key"] == id);

    json by_number = lookup(*go, {{"entity", "customers"}, {"idempotency_key", "px-other"}, {"data", {{"Number", 88001}}}});
    REQUIRE(by_number["found"] == true);
    CHECK(by_number["record"]["key"] == id);
    CHECK(by_number["record"]["data"]["EmailAddress"] == "kari.nordmann@example.no");
    json by_key = lookup(*go, {{"entity", "customers"}, {"idempotency_key", "px-kari"}, {"data", json::object()}});
    REQUIRE(by_key["found"] == true);
    CHECK(by_key["record"]["key"] == id);
    CHECK(by_key["matches"] == 1);
    json none = lookup(*go, {{"entity", "customers"}, {"idempotency_key", "px-nobody"}, {"data", {{"Number", 99999}}}});
    CHECK(none["found"] == false);
}

TEST_CASE("connector: a customer created again after a crash is a conflict the host resolves by lookup, never a second customer") {
    Rig rig;
    auto go = rig.instance();
    const size_t before = rig.go().count("customers");
    json first = write_one(*go, "customers", {{"Name", "Nordlys Sport AS"}, {"Number", 66001}}, "px-crash");
    REQUIRE(first["status"] == 0);
    json again = write_one(*go, "customers", {{"Name", "Nordlys Sport AS"}, {"Number", 66001}}, "px-crash");
    CHECK(again["status"] == PLEXUS_ERR_CONFLICT);
    CHECK(again["message"].get<std::string>().find("already in use") != std::string::npos);
    CHECK(rig.go().count("customers") == before + 1);
    json found = lookup(*go, {{"entity", "customers"}, {"idempotency_key", "px-crash"}, {"data", {{"Number", 66001}}}});
    CHECK(found["record"]["key"] == first["target_key"]);
}

TEST_CASE("connector: unknown properties are refused before anything is sent") {
    Rig rig;
    auto go = rig.instance();
    REQUIRE(go->check().ok());
    const uint64_t before = rig.go().request_count();
    json r = write_one(*go, "customers", {{"Name", "X AS"}, {"Email", "x@example.no"}}, "px-x");
    CHECK(r["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(r["message"].get<std::string>().find("Email") != std::string::npos);
    json p = write_one(*go, "sales_orders", {{"CustomerNo", 10000}, {"SalesOrderLines", {{{"Sku", "GO-0001"}}}}}, "px-y");
    CHECK(p["status"] == PLEXUS_ERR_VALIDATION);
    CHECK(p["message"].get<std::string>().find("Sku") != std::string::npos);
    CHECK(rig.go().request_count() == before);
}

TEST_CASE("connector: a record Go refuses fails with the ProblemDetails' title and detail and the HTTP status") {
    Rig rig;
    auto go = rig.instance();
    json r = write_one(*go, "customers", {{"EmailAddress", "noname@example.no"}}, "px-noname");
    CHECK(r["status"] == PLEXUS_ERR_VALIDATION);
    const std::string m = r["message"];
    CHECK(m.find("HTTP 400") != std::string::npos);
    CHECK(m.find("POST /v2/Customers") != std::string::npos);
    CHECK(m.find("Customer validation error(s)") != std::string::npos);
    CHECK(m.find("Name is required") != std::string::npos);
}

TEST_CASE("connector: products are created, found by code, patched; a create whose code exists adopts it") {
    Rig rig;
    auto go = rig.instance();
    json data = {{"Code", "SKU-1"}, {"Name", "T-skjorte"}, {"UnitPrice", 199.0}, {"IsStockItem", true}, {"StockOnHand", 5}};
    json made = write_one(*go, "products", data, "px-sku1");
    REQUIRE(made["status"] == 0);
    const size_t count = rig.go().count("products");
    data["UnitPrice"] = 249.0;
    json again = write_one(*go, "products", data, "px-sku1-after-crash");
    REQUIRE(again["status"] == 0);
    CHECK(again["target_key"] == made["target_key"]);
    CHECK(rig.go().count("products") == count);
    json found = lookup(*go, {{"entity", "products"}, {"idempotency_key", "px-sku1"}, {"data", {{"Code", "SKU-1"}}}});
    REQUIRE(found["found"] == true);
    CHECK(found["record"]["data"]["UnitPrice"] == 249.0);
}

TEST_CASE("connector: stock is set by JSON Patch and read by its own change filter, which products' reads do not see") {
    Rig rig;
    auto go = rig.instance();
    json products_cursor = nullptr, stock_cursor = nullptr;
    read_all(*go, "products", products_cursor);
    auto stock = read_all(*go, "product_stock", stock_cursor);
    CHECK(stock.size() == 560);  // every fifth seeded product is a service, without stock
    json set = write_one(*go, "product_stock", {{"Code", "GO-0001"}, {"StockOnHand", 42}}, "px-stock-1");
    REQUIRE(set["status"] == 0);
    CHECK(read_all(*go, "products", products_cursor).empty());
    REQUIRE(rig.go().set_stock("GO-0002", 7));
    auto changed = read_all(*go, "product_stock", stock_cursor);
    REQUIRE(changed.size() == 2);
    CHECK(changed[0]["data"]["Code"] == "GO-0001");
    CHECK(changed[0]["data"]["StockOnHand"] == 42.0);
    CHECK(changed[1]["data"]["Code"] == "GO-0002");
    json service = write_one(*go, "product_stock", {{"Code", "GO-0005"}, {"StockOnHand", 1}}, "px-stock-5");
    CHECK(service["status"] == PLEXUS_ERR_VALIDATION);
}

TEST_CASE("connector: a sales order is created complete and invoiced once; a repeated create adopts it") {
    Rig rig;
    auto go = rig.instance();
    json cust = write_one(*go, "customers", {{"Name", "Bergen Bok AS"}, {"Number", 55001}}, "px-c55001");
    REQUIRE(cust["status"] == 0);
    json order = {{"CustomerNo", 55001}, {"SalesOrderDate", "2026-12-01"}, {"SalesOrderStatus", "Confirmed"},
                  {"CurrencyCode", "NOK"}, {"CustomMatchingReference", "#1001"}, {"CustomerReference", "Shopify #1001"},
                  {"SalesOrderLines", {{{"ProductCode", "GO-0001"}, {"Quantity", 2}, {"ProductUnitPrice", 100.0}},
                                       {{"ProductCode", "GO-0002"}, {"Quantity", "1"}, {"ProductUnitPrice", "79.00"}}}}};
    const size_t invoices = rig.go().count("outgoing_invoices");
    json made = write_one(*go, "sales_orders", order, "px-order-1001");
    REQUIRE(made["status"] == 0);
    CHECK(rig.go().count("outgoing_invoices") == invoices + 1);
    json again = write_one(*go, "sales_orders", order, "px-order-1001");
    REQUIRE(again["status"] == 0);
    CHECK(again["target_key"] == made["target_key"]);
    CHECK(rig.go().count("outgoing_invoices") == invoices + 1);

    json found = lookup(*go, {{"entity", "sales_orders"}, {"idempotency_key", "px-order-1001"}, {"data", order}});
    REQUIRE(found["found"] == true);
    CHECK(found["record"]["key"] == made["target_key"]);
    CHECK(found["record"]["data"]["NetAmount"] == 279.0);
    CHECK(found["record"]["data"]["TotalAmount"] == 348.75);

    json inv = lookup(*go, {{"entity", "outgoing_invoices"}, {"data", {{"CustomMatchingReference", "#1001"}}}});
    REQUIRE(inv["found"] == true);
    CHECK(inv["record"]["data"]["Balance"] == 348.75);
    CHECK(inv["record"]["data"]["Paid"] == false);
    CHECK(inv["record"]["data"]["PaymentStatus"] == "unpaid");
}

TEST_CASE("connector: outgoing invoices are read by balance change; a payment in Go shows as Paid") {
    Rig rig;
    auto go = rig.instance();
    json cursor = nullptr;
    auto all = read_all(*go, "outgoing_invoices", cursor);
    CHECK(all.size() == 40);
    int paid = 0;
    for (const auto& r : all) paid += r["data"]["Paid"].get<bool>() ? 1 : 0;
    CHECK(paid == 14);  // every third seeded invoice is paid
    int64_t unpaid_no = 0;
    for (const auto& r : all)
        if (!r["data"]["Paid"].get<bool>()) unpaid_no = r["data"]["InvoiceNo"];
    REQUIRE(rig.go().pay_invoice(unpaid_no, 10.0));
    auto partly = read_all(*go, "outgoing_invoices", cursor);
    REQUIRE(partly.size() == 1);
    CHECK(partly[0]["data"]["PaymentStatus"] == "partially_paid");
    REQUIRE(rig.go().pay_invoice(unpaid_no));
    auto full = read_all(*go, "outgoing_invoices", cursor);
    REQUIRE(full.size() == 1);
    CHECK(full[0]["data"]["Paid"] == true);
    CHECK(full[0]["data"]["Balance"] == 0.0);
}

TEST_CASE("connector: a sale posts as an invoice voucher with the customer sub-ledger line; a repeat adopts it") {
    Rig rig;
    auto go = rig.instance();
    json cust = write_one(*go, "customers", {{"Name", "Tromsø Tekstil AS"}, {"Number", 44001}}, "px-c44001");
    REQUIRE(cust["status"] == 0);
    json sale = {{"VoucherDate", "2026-12-02"}, {"CustomerNo", 44001}, {"CustomMatchingReference", "#2002"},
                 {"Description", "Shopify #2002"},
                 {"Lines", {{{"AccountNo", 3000}, {"VatCode", "3"}, {"Amount", 250.0}, {"Description", "Genser"}},
                            {{"AccountNo", 3200}, {"VatCode", "3"}, {"Amount", "99.00"}, {"Description", "Frakt"}}}}};
    json made = write_one(*go, "sales_vouchers", sale, "px-sale-2002");
    REQUIRE(made["status"] == 0);
    json again = write_one(*go, "sales_vouchers", sale, "px-sale-2002");
    REQUIRE(again["status"] == 0);
    CHECK(again["target_key"] == made["target_key"]);
    CHECK(rig.go().count("vouchers") == 1);
    json v = rig.go().objects("vouchers")[0];
    REQUIRE(v["VoucherLines"].size() == 3);
    CHECK(v["VoucherLines"][0]["AccountId"] == std::stoll(cust["target_key"].get<std::string>()));  // sub-ledger account = contact id
    CHECK(v["VoucherLines"][0]["CurrencyAmount"] == 349.0);
    CHECK(v["VoucherLines"][0]["CustomMatchingReference"] == "#2002");
    CHECK(v["VoucherLines"][1]["CurrencyAmount"] == -250.0);
    json found = lookup(*go, {{"entity", "sales_vouchers"}, {"idempotency_key", "px-sale-2002"}, {"data", sale}});
    REQUIRE(found["found"] == true);
    CHECK(found["record"]["key"] == made["target_key"]);
}

TEST_CASE("connector: 429 bursts are waited out by the host and every write lands once") {
    auto o = small_options();
    Rig rig(o);
    auto go = rig.instance();
    REQUIRE(go->check().ok());
    plexus::sandbox::Faults f;
    f.burst_429_every = 3;
    f.burst_429_length = 1;
    rig.go().faults().set(f);
    const size_t before = rig.go().count("customers");
    for (int i = 0; i < 6; ++i) {
        json r = write_one(*go, "customers", {{"Name", "Burst " + std::to_string(i)}, {"Number", 33000 + i}}, "px-burst-" + std::to_string(i));
        CHECK(r["status"] == 0);
    }
    CHECK(rig.go().count("customers") == before + 6);
}
