// Configuration: parsing, settings resolution and validation against a fake connector
// catalog (core/config/config.hpp, core/config/settings.hpp).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "config/config.hpp"
#include "config/settings.hpp"

using namespace plexus;
using json = nlohmann::json;

namespace {

const char* kFilesManifest = R"({
  "id": "files",
  "name": "Files",
  "version": "1.0.0",
  "settings": [
    {"name": "directory", "type": "string", "required": true, "description": "where files live"},
    {"name": "token", "type": "string", "secret": true},
    {"name": "poll_seconds", "type": "integer", "default": 60},
    {"name": "verbose", "type": "boolean", "default": false},
    {"name": "ratio", "type": "number"},
    {"name": "headers", "type": "object"}
  ],
  "entities": [
    {"name": "customers", "key": "id", "capabilities": ["read", "incremental", "create", "update"],
     "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"},
                {"name": "name", "type": "string"}]},
    {"name": "orders", "key": "id", "capabilities": ["read", "incremental"],
     "fields": [{"name": "id", "type": "string"}, {"name": "name", "type": "string"},
                {"name": "customer", "type": "object"}, {"name": "created_at", "type": "datetime"},
                {"name": "total", "type": "string"}, {"name": "payment", "type": "string"},
                {"name": "line_items", "type": "array",
                 "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "integer"},
                            {"name": "price", "type": "string"}]}]},
    {"name": "sales_orders", "capabilities": ["create", "update"],
     "fields": [{"name": "number", "type": "string"}, {"name": "customer", "type": "string"},
                {"name": "total", "type": "string"}, {"name": "payment", "type": "string"},
                {"name": "lines", "type": "array",
                 "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "integer"}]}]},
    {"name": "postings", "capabilities": ["create"],
     "fields": [{"name": "account", "type": "string"}, {"name": "date", "type": "string"},
                {"name": "amount", "type": "string"}, {"name": "text", "type": "string"}]},
    {"name": "journal", "capabilities": ["create"], "open": true,
     "fields": [{"name": "id", "type": "string"}]},
    {"name": "events", "capabilities": ["read"]},
    {"name": "archive", "capabilities": ["lookup"]}
  ]
})";

class FakeCatalog : public ConnectorCatalog {
public:
    FakeCatalog() { manifests["files"] = json::parse(kFilesManifest); }

    const json* manifest(const std::string& id) const override {
        auto it = manifests.find(id);
        return it == manifests.end() ? nullptr : &it->second;
    }

    std::optional<json> entities(const std::string& id, const json& settings,
                                 std::string& error) const override {
        ++entity_calls;
        if (settings.value("directory", "") == "/unreachable") {
            // A careless connector that echoes its token: validation must redact it.
            error = "cannot open /unreachable with token " + settings.value("token", "");
            return std::nullopt;
        }
        return manifests.at(id)["entities"];
    }

    std::vector<std::string> connector_ids() const override {
        std::vector<std::string> out;
        for (const auto& [k, v] : manifests) out.push_back(k);
        return out;
    }

    std::map<std::string, json> manifests;
    mutable int entity_calls = 0;
};

Environment fake_env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

const char* kSecret = "s3cr3t-T0KEN-value";

Environment default_env() { return fake_env({{"SHOP_TOKEN", kSecret}, {"POLL", "30"}}); }

// A valid configuration; tests change one thing at a time.
json base_config() {
    return json::parse(R"json({
  "connections": {
    "shop": {"connector": "files", "settings": {"directory": "/data/in", "token": "${SHOP_TOKEN}"}},
    "erp":  {"connector": "files", "settings": {"directory": "/data/out"}}
  },
  "lookup_tables": {"payment_codes": {"card": "CC", "paypal": "PP"}},
  "processes": [
    {"id": "customers-shop-erp", "name": "Customers Shop→ERP",
     "source": {"connection": "shop", "entity": "customers"},
     "target": {"connection": "erp", "entity": "customers"},
     "mapping": {"id": "id", "email": "lower(email)"},
     "schedule": {"interval": "15m"}},
    {"id": "orders-shop-erp", "name": "Orders Shop→ERP",
     "source": {"connection": "shop", "entity": "orders", "filter": {"status": "paid"}},
     "target": {"connection": "erp", "entity": "sales_orders"},
     "mode": "record",
     "mapping": {"number": "name", "customer": "ref(\"customers-shop-erp\", customer.id)",
                 "payment": "lookup(payment, \"payment_codes\")",
                 "lines": {"each": "line_items", "fields": {"sku": "sku", "qty": "quantity"}}},
     "schedule": {"cron": "*/5 * * * *", "timezone": "Europe/Zurich"},
     "enabled": true,
     "dependencies": [{"process": "customers-shop-erp", "key": "customer.id"}],
     "page_size": 250, "batch_size": 50},
    {"id": "vouchers", "name": "Vouchers → postings",
     "source": {"connection": "shop", "entity": "orders"},
     "target": {"connection": "erp", "entity": "postings"},
     "mode": "aggregate",
     "mapping": {"account": {"const": "2030"}, "date": "date(created_at, '%Y-%m-%d')",
                 "amount": "total"},
     "aggregate": {"group_by": ["account", "date"], "sum": ["amount"]}}
  ]
})json");
}

std::vector<ConfigError> errors_for(const json& doc, const Environment& env = default_env(),
                                    const FakeCatalog& catalog = FakeCatalog()) {
    std::vector<ConfigError> errors;
    Config cfg = parse_config(doc.dump(2), "plexus.json", errors);
    validate_config(cfg, catalog, env, errors);
    return errors;
}

std::string dump(const std::vector<ConfigError>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
}

// The one error expected: its path must match; returns its message.
std::string only_error(const std::vector<ConfigError>& errors, const std::string& path) {
    INFO(dump(errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == "plexus.json");
    CHECK(errors[0].json_path == path);
    return errors[0].message;
}

std::string error_at(const json& doc, const std::string& path,
                     const Environment& env = default_env()) {
    return only_error(errors_for(doc, env), path);
}

bool mentions_secret(const std::vector<ConfigError>& errors) {
    for (const auto& e : errors)
        if (e.to_string().find(kSecret) != std::string::npos) return true;
    return false;
}

}  // namespace

// --- Parsing --------------------------------------------------------------------------------

TEST_CASE("config: a valid configuration parses and validates without errors", "[config]") {
    std::vector<ConfigError> errors;
    Config cfg = parse_config(base_config().dump(), "plexus.json", errors);
    FakeCatalog catalog;
    validate_config(cfg, catalog, default_env(), errors);
    INFO(dump(errors));
    REQUIRE(errors.empty());

    CHECK(cfg.file == "plexus.json");
    REQUIRE(cfg.connections.size() == 2);
    const ConnectionConfig* shop = cfg.connection("shop");
    REQUIRE(shop);
    CHECK(shop->connector == "files");
    CHECK(shop->settings["token"] == "${SHOP_TOKEN}");  // raw: resolved only on use
    CHECK(shop->json_path == "/connections/shop");
    CHECK(cfg.connection("nope") == nullptr);

    REQUIRE(cfg.processes.size() == 3);
    const ProcessConfig* orders = cfg.process("orders-shop-erp");
    REQUIRE(orders);
    CHECK(orders->name == "Orders Shop→ERP");
    CHECK(orders->json_path == "/processes/1");
    CHECK(orders->source.connection == "shop");
    CHECK(orders->source.entity == "orders");
    CHECK(orders->source.filter == json{{"status", "paid"}});
    CHECK(orders->target.entity == "sales_orders");
    CHECK(orders->schedule.cron == "*/5 * * * *");
    CHECK(orders->schedule.timezone == "Europe/Zurich");
    REQUIRE(orders->dependencies.size() == 1);
    CHECK(orders->dependencies[0].process == "customers-shop-erp");
    CHECK(orders->dependencies[0].key_path == "customer.id");
    CHECK(orders->page_size == 250);
    CHECK(orders->batch_size == 50);
    CHECK(cfg.lookup_tables["payment_codes"]["card"] == "CC");

    const ProcessConfig* customers = cfg.process("customers-shop-erp");
    REQUIRE(customers);
    CHECK(customers->mode == "record");
    CHECK(customers->enabled);
    CHECK(customers->page_size == 500);
    CHECK(customers->batch_size == 100);
    CHECK(customers->schedule.interval == "15m");
    CHECK(customers->source.filter == json::object());

    CHECK(cfg.process("vouchers")->mode == "aggregate");
}

TEST_CASE("config: defaults for optional keys", "[config]") {
    std::vector<ConfigError> errors;
    Config cfg = parse_config(R"({"processes": [{"id": "p", "source": {"connection": "a",
        "entity": "b"}, "target": {"connection": "c", "entity": "d"}, "mapping": {}}]})",
                              "plexus.json", errors);
    REQUIRE(errors.empty());
    const ProcessConfig& p = cfg.processes.at(0);
    CHECK(p.name == "p");
    CHECK(p.mode == "record");
    CHECK(p.enabled);
    CHECK(p.schedule.empty());
    CHECK(p.dependencies.empty());
    CHECK(p.page_size == 500);
    CHECK(p.batch_size == 100);
    CHECK(p.aggregate.is_null());
}

TEST_CASE("config: comments are allowed", "[config]") {
    std::vector<ConfigError> errors;
    Config cfg = parse_config(R"({
        // the shop
        "connections": {"shop": {"connector": "files" /* local files */}}
    })",
                              "plexus.json", errors);
    CHECK(errors.empty());
    CHECK(cfg.connections.size() == 1);
}

TEST_CASE("config: a JSON syntax error gives line and column", "[config]") {
    std::vector<ConfigError> errors;
    parse_config("{\n  \"connections\": {\n    \"shop\": {\"connector\": \"files\",}\n  }\n}",
                 "plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].json_path == "");
    CHECK_THAT(errors[0].message, Catch::StartsWith("JSON syntax error at line 3, column 35"));
    CHECK_THAT(errors[0].to_string(), Catch::StartsWith("plexus.json: JSON syntax error"));

    // The token being read is not quoted: it may be part of a secret.
    errors.clear();
    parse_config("{\"connections\": {\"shop\": {\"settings\": {\"token\": \"s3cret-value\n",
                 "plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Catch::StartsWith("JSON syntax error at line 1, column"));
    CHECK_THAT(errors[0].message, !Catch::Contains("s3cret"));

    errors.clear();
    parse_config("", "plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Catch::Contains("the file is empty"));

    errors.clear();
    parse_config("[1, 2]", "plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message,
               Catch::Contains("must be a JSON object") && Catch::Contains("got an array"));
}

TEST_CASE("config: load_config reads a file and reports an unreadable one", "[config]") {
    std::vector<ConfigError> errors;
    load_config("/nonexistent/plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == "/nonexistent/plexus.json");
    CHECK_THAT(errors[0].message, Catch::Contains("cannot read the configuration file") &&
                                      Catch::Contains("No such file"));

    const std::string path = "/tmp/plexus_test_config_" + std::to_string(::getpid()) + ".json";
    {
        std::ofstream out(path);
        out << base_config().dump(2);
    }
    errors.clear();
    Config cfg = load_config(path, errors);
    std::remove(path.c_str());
    CHECK(errors.empty());
    CHECK(cfg.file == path);
    CHECK(cfg.processes.size() == 3);
}

TEST_CASE("config: ConfigError::to_string is file: path: message", "[config]") {
    CHECK(ConfigError{"config.json", "/processes/2/schedule/cron", "bad"}.to_string() ==
          "config.json: /processes/2/schedule/cron: bad");
    CHECK(ConfigError{"config.json", "", "bad"}.to_string() == "config.json: bad");
}

TEST_CASE("config: unknown keys are errors, with a suggestion", "[config]") {
    json doc = base_config();
    doc["conections"] = json::object();
    CHECK_THAT(error_at(doc, "/conections"),
               Catch::Contains("unknown top-level key \"conections\"") &&
                   Catch::Contains("did you mean \"connections\"?"));

    doc = base_config();
    doc["processes"][0]["shedule"] = {{"interval", "1h"}};
    CHECK_THAT(error_at(doc, "/processes/0/shedule"),
               Catch::Contains("unknown key \"shedule\" in a process; did you mean \"schedule\"?"));

    doc = base_config();
    doc["processes"][1]["schedule"]["time_zone"] = "UTC";
    CHECK_THAT(error_at(doc, "/processes/1/schedule/time_zone"),
               Catch::Contains("did you mean \"timezone\"?"));

    doc = base_config();
    doc["processes"][0]["target"]["filter"] = json::object();
    CHECK_THAT(error_at(doc, "/processes/0/target/filter"),
               Catch::Contains("a target takes no filter"));

    doc = base_config();
    doc["connections"]["shop"]["setings"] = json::object();
    CHECK_THAT(errors_for(doc).at(0).message, Catch::Contains("did you mean \"settings\"?"));
}

TEST_CASE("config: wrong types and missing keys", "[config]") {
    json doc = base_config();
    doc["connections"] = json::array();
    auto errors = errors_for(doc);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors[0].json_path == "/connections");
    CHECK_THAT(errors[0].message,
               Catch::Contains("must be an object") && Catch::Contains("got an array"));

    doc = base_config();
    doc["processes"][1]["page_size"] = "500";
    CHECK_THAT(error_at(doc, "/processes/1/page_size"),
               Catch::Contains("\"page_size\" must be an integer, got a string"));

    doc = base_config();
    doc["processes"][1]["batch_size"] = 0;
    CHECK_THAT(error_at(doc, "/processes/1/batch_size"), Catch::Contains("between 1 and 10000"));

    doc = base_config();
    doc["processes"][1]["enabled"] = "yes";
    CHECK_THAT(error_at(doc, "/processes/1/enabled"), Catch::Contains("must be true or false"));

    doc = base_config();
    doc["processes"][0].erase("source");
    CHECK_THAT(error_at(doc, "/processes/0"), Catch::Contains("missing \"source\""));

    doc = base_config();
    doc["processes"][0]["target"].erase("entity");
    CHECK_THAT(error_at(doc, "/processes/0/target"), Catch::Contains("missing \"entity\""));

    doc = base_config();
    doc["processes"][0].erase("id");
    auto id_errors = errors_for(doc);  // then also: references to the process it was
    REQUIRE_FALSE(id_errors.empty());
    CHECK(id_errors[0].json_path == "/processes/0");
    CHECK_THAT(id_errors[0].message, Catch::Contains("missing \"id\""));

    doc = base_config();
    doc["processes"][0]["mapping"] = "id";
    CHECK_THAT(error_at(doc, "/processes/0/mapping"), Catch::Contains("must be an object"));

    doc = base_config();
    doc["connections"]["erp"].erase("connector");
    // The connection is then unusable: the missing key is the one error reported.
    CHECK_THAT(error_at(doc, "/connections/erp"), Catch::Contains("missing \"connector\""));

    doc = base_config();
    doc["lookup_tables"]["payment_codes"] = json::array();
    auto table_errors = errors_for(doc);
    REQUIRE(table_errors.size() == 2);  // the table, and the lookup() that names it
    CHECK(table_errors[0].json_path == "/lookup_tables/payment_codes");
    CHECK(table_errors[1].json_path == "/processes/1/mapping/payment");

    doc = base_config();
    doc["processes"][2]["id"] = "vouchers 2024";
    CHECK_THAT(error_at(doc, "/processes/2/id"), Catch::Contains("may hold only letters"));
}

TEST_CASE("config: duplicate process ids and duplicate JSON keys", "[config]") {
    json doc = base_config();
    doc["processes"].push_back(doc["processes"][0]);
    CHECK(error_at(doc, "/processes/3/id") ==
          "duplicate process id \"customers-shop-erp\" (first used at /processes/0); process ids "
          "must be unique");

    std::vector<ConfigError> errors;
    parse_config(R"({"connections": {"shop": {"connector": "files"}, "shop": {"connector": "x"}}})",
                 "plexus.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].json_path == "/connections/shop");
    CHECK_THAT(errors[0].message, Catch::Contains("duplicate key \"shop\""));

    errors.clear();
    parse_config(R"({"processes": [{}, {"id": "a", "id": "b"}]})", "plexus.json", errors);
    bool found = false;
    for (const auto& e : errors)
        if (e.json_path == "/processes/1/id" &&
            e.message.find("duplicate key") != std::string::npos)
            found = true;
    CHECK(found);
}

// --- Settings ---------------------------------------------------------------------------------

TEST_CASE("settings: defaults, ${ENV} references and secret values", "[config]") {
    FakeCatalog catalog;
    std::vector<ConfigError> errors;
    ResolvedSettings r =
        resolve_settings(*catalog.manifest("files"),
                         json{{"directory", "/in"},
                              {"token", "${SHOP_TOKEN}"},
                              {"poll_seconds", "${POLL}"},
                              {"ratio", 2}},
                         default_env(), "plexus.json", "/connections/shop/settings", errors);
    INFO(dump(errors));
    REQUIRE(errors.empty());
    CHECK(r.values == json{{"directory", "/in"},
                           {"token", kSecret},
                           {"poll_seconds", 30},
                           {"verbose", false},
                           {"ratio", 2}});
    CHECK(r.secret_values == std::vector<std::string>{kSecret});

    // A literal secret is collected too; a "${" that is not a whole reference is literal.
    errors.clear();
    r = resolve_settings(*catalog.manifest("files"),
                         json{{"directory", "a${B}"}, {"token", "literal"}}, default_env(),
                         "plexus.json", "/connections/shop/settings", errors);
    CHECK(errors.empty());
    CHECK(r.values["directory"] == "a${B}");
    CHECK(r.secret_values == std::vector<std::string>{"literal"});
}

TEST_CASE("settings: every problem names the setting; secrets never appear", "[config]") {
    json doc = base_config();
    doc["connections"]["erp"]["settings"].erase("directory");
    CHECK_THAT(error_at(doc, "/connections/erp/settings"),
               Catch::Contains("missing required setting \"directory\" (string: where files "
                               "live) of connector \"files\""));

    doc = base_config();
    doc["connections"]["erp"]["settings"]["poll_seconds"] = "often";
    CHECK(error_at(doc, "/connections/erp/settings/poll_seconds") ==
          "setting \"poll_seconds\" must be an integer, got a string (\"often\")");

    doc = base_config();
    doc["connections"]["erp"]["settings"]["token"] = 12345;
    std::string secret_type = error_at(doc, "/connections/erp/settings/token");
    CHECK(secret_type == "setting \"token\" must be a string, got an integer");

    doc = base_config();
    doc["connections"]["erp"]["settings"]["directroy"] = "/x";
    CHECK_THAT(error_at(doc, "/connections/erp/settings/directroy"),
               Catch::Contains("unknown setting \"directroy\" for connector \"files\"; did you "
                               "mean \"directory\"?"));

    doc = base_config();
    std::vector<ConfigError> errors = errors_for(doc, fake_env({}));
    CHECK(only_error(errors, "/connections/shop/settings/token") ==
          "environment variable SHOP_TOKEN is not set; set it in the environment Plexus starts in");

    doc = base_config();
    doc["connections"]["erp"]["settings"]["poll_seconds"] = "${SHOP_TOKEN}";
    errors = errors_for(doc);
    CHECK(only_error(errors, "/connections/erp/settings/poll_seconds") ==
          "environment variable SHOP_TOKEN does not hold an integer as setting \"poll_seconds\" "
          "needs");
    CHECK_FALSE(mentions_secret(errors));

    doc = base_config();
    doc["connections"]["erp"]["settings"]["headers"] = "${SHOP_TOKEN}";
    doc["connections"]["erp"]["settings"]["token"] = "${SHOP_TOKEN}";
    doc["connections"]["erp"]["settings"]["ratio"] = "${SHOP_TOKEN}";
    errors = errors_for(doc);
    CHECK(errors.size() == 2);  // headers and ratio; the token resolves
    for (const auto& e : errors) CHECK(e.json_path != "/connections/erp/settings/token");
    CHECK_FALSE(mentions_secret(errors));

    // A secret that does not convert is described without its value.
    FakeCatalog catalog;
    catalog.manifests["files"]["settings"].push_back(
        {{"name", "pin"}, {"type", "integer"}, {"secret", true}});
    doc = base_config();
    doc["connections"]["erp"]["settings"]["pin"] = "${SHOP_TOKEN}";
    errors = errors_for(doc, default_env(), catalog);
    CHECK(only_error(errors, "/connections/erp/settings/pin") ==
          "environment variable SHOP_TOKEN does not hold an integer as setting \"pin\" needs");
    CHECK_FALSE(mentions_secret(errors));
}

TEST_CASE("settings: a connector's error text is redacted", "[config]") {
    json doc = base_config();
    doc["connections"]["shop"]["settings"]["directory"] = "/unreachable";
    auto errors = errors_for(doc);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors[0].json_path == "/connections/shop");
    CHECK_THAT(errors[0].message, Catch::Contains("could not list its entities: cannot open "
                                                  "/unreachable with token ***"));
    CHECK_FALSE(mentions_secret(errors));
}

// --- Connectors, entities, fields ------------------------------------------------------------

TEST_CASE("validate: unknown connector, connection and entity", "[config]") {
    json doc = base_config();
    doc["connections"]["erp"]["connector"] = "filez";
    CHECK(error_at(doc, "/connections/erp/connector") ==
          "unknown connector \"filez\"; did you mean \"files\"?");
    doc["connections"]["erp"]["connector"] = "sap";
    CHECK(error_at(doc, "/connections/erp/connector") ==
          "unknown connector \"sap\"; install its plugin (libplexus_sap.so) in the plugin "
          "directory or correct the name; known connectors: files");

    doc = base_config();
    doc["processes"][0]["target"]["connection"] = "epr";
    CHECK_THAT(error_at(doc, "/processes/0/target/connection"),
               Catch::Contains("unknown connection \"epr\"; did you mean \"erp\"?"));

    doc = base_config();
    doc["processes"][0]["source"]["entity"] = "customer";
    CHECK_THAT(error_at(doc, "/processes/0/source/entity"),
               Catch::Contains("connection \"shop\" (connector \"files\") has no entity "
                               "\"customer\"; did you mean \"customers\"?"));
}

TEST_CASE("validate: entities need the capability of their role", "[config]") {
    json doc = base_config();
    doc["processes"][0]["source"]["entity"] = "archive";
    CHECK_THAT(error_at(doc, "/processes/0/source/entity"),
               Catch::Contains("entity \"archive\" of connection \"shop\" cannot be read "
                               "(its capabilities: lookup)") &&
                   Catch::Contains("\"read\" capability"));

    doc = base_config();
    doc["processes"][0]["target"]["entity"] = "orders";
    doc["processes"][0]["mapping"] = {{"id", "id"}};
    CHECK_THAT(error_at(doc, "/processes/0/target/entity"),
               Catch::Contains("cannot be created (its capabilities: read and incremental)") &&
                   Catch::Contains("\"create\" capability"));
}

TEST_CASE("validate: mapped fields must exist unless the entity is open", "[config]") {
    json doc = base_config();
    doc["processes"][1]["mapping"]["nubmer"] = "name";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/nubmer"),
               Catch::Contains("target entity \"sales_orders\" of connection \"erp\" has no field "
                               "\"nubmer\"; did you mean \"number\"?"));

    doc = base_config();
    doc["processes"][1]["mapping"]["lines"]["fields"]["quantity"] = "quantity";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/lines/fields/quantity"),
               Catch::Contains("has no field \"quantity\""));

    doc = base_config();
    doc["processes"][1]["mapping"]["total"] = "totl";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/total"),
               Catch::Contains("source entity \"orders\" of connection \"shop\" has no field "
                               "\"totl\"; did you mean \"total\"?"));

    doc = base_config();
    doc["processes"][1]["mapping"]["lines"]["fields"]["sku"] = "concat(sku, $.nam)";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/lines/fields/sku"),
               Catch::Contains("has no field \"nam\""));

    // Open entity: anything goes. Entity without declared fields: not checked either.
    doc = base_config();
    doc["processes"][0]["target"]["entity"] = "journal";
    doc["processes"][0]["mapping"]["anything"] = "email";
    doc["processes"][0]["source"]["entity"] = "events";
    doc["processes"][0]["mapping"]["more"] = "whatever.field";
    auto errors = errors_for(doc);
    INFO(dump(errors));
    CHECK(errors.empty());
}

// --- Mapping, lookup tables, ref() and dependencies --------------------------------------------

TEST_CASE("validate: bad expressions and unknown lookup tables", "[config]") {
    json doc = base_config();
    doc["processes"][1]["mapping"]["lines"]["fields"]["qty"] = "number(quantity";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/lines/fields/qty"),
               Catch::Contains("column 16 of \"number(quantity\""));

    doc = base_config();
    doc["processes"][1]["mapping"]["payment"] = "lookup(payment, \"payment_code\")";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/payment"),
               Catch::Contains("unknown lookup table \"payment_code\"; did you mean "
                               "\"payment_codes\"?"));
}

TEST_CASE("config: keys starting with _comment are notes and ignored", "[config]") {
    json doc = base_config();
    doc["_comment"] = "top";
    doc["connections"]["_comment"] = "connections";
    doc["connections"]["shop"]["_comment"] = "a connection";
    doc["connections"]["shop"]["settings"]["_comment"] = "settings";
    doc["lookup_tables"]["_comment"] = "tables";
    doc["processes"][1]["_comment_2"] = "a process";
    doc["processes"][1]["source"]["_comment"] = "source";
    doc["processes"][1]["target"]["_comment"] = "target";
    doc["processes"][1]["schedule"]["_comment"] = "schedule";
    doc["processes"][1]["dependencies"][0]["_comment"] = "dependency";
    doc["processes"][2]["aggregate"]["_comment"] = "aggregate";
    auto errors = errors_for(doc);
    INFO(dump(errors));
    CHECK(errors.empty());

    // Not in mappings: there a key is a target field.
    doc["processes"][1]["mapping"]["_comment"] = "name";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/_comment"), Catch::Contains("has no field"));
    // And "_" alone is not enough.
    doc = base_config();
    doc["_note"] = "x";
    CHECK_THAT(error_at(doc, "/_note"), Catch::Contains("unknown top-level key"));
}

TEST_CASE("validate: ref() and dependencies must name defined processes", "[config]") {
    json doc = base_config();
    doc["processes"][1]["mapping"]["customer"] = "ref(\"customer-shop-erp\", customer.id)";
    CHECK_THAT(error_at(doc, "/processes/1/mapping/customer"),
               Catch::Contains("ref() names process \"customer-shop-erp\", which is not defined; "
                               "did you mean \"customers-shop-erp\"?"));

    doc = base_config();
    doc["processes"][1]["dependencies"][0]["process"] = "customers";
    CHECK(error_at(doc, "/processes/1/dependencies/0/process") ==
          "unknown process \"customers\": a dependency names another process's id; did you mean "
          "\"customers-shop-erp\"?");

    doc = base_config();
    doc["processes"][1]["dependencies"][0]["process"] = "shop";
    CHECK(error_at(doc, "/processes/1/dependencies/0/process") ==
          "unknown process \"shop\": a dependency names another process's id; known processes: "
          "customers-shop-erp, orders-shop-erp, vouchers");

    doc = base_config();
    doc["processes"][1]["dependencies"][0]["key"] = "customer id";
    CHECK_THAT(error_at(doc, "/processes/1/dependencies/0/key"),
               Catch::Contains("is not a source path"));

    doc = base_config();
    doc["processes"][1]["dependencies"][0]["key"] = "client.id";
    CHECK_THAT(error_at(doc, "/processes/1/dependencies/0/key"),
               Catch::Contains("has no field \"client\""));
}

TEST_CASE("validate: dependency cycles", "[config]") {
    json doc = base_config();
    doc["processes"][0]["dependencies"] = {{{"process", "orders-shop-erp"}}};
    CHECK(error_at(doc, "/processes/0/dependencies/0/process") ==
          "dependency cycle: customers-shop-erp → orders-shop-erp → customers-shop-erp; no "
          "process can run first — remove one of these dependencies");

    doc = base_config();
    doc["processes"][2]["dependencies"] = {{{"process", "vouchers"}}};
    CHECK(error_at(doc, "/processes/2/dependencies/0/process") ==
          "process \"vouchers\" depends on itself; remove this dependency");

    // A cycle through ref() counts too.
    doc = base_config();
    doc["processes"][1]["dependencies"] = json::array();
    doc["processes"][0]["dependencies"] = {{{"process", "vouchers"}}};
    doc["processes"][2]["mapping"]["text"] = "ref('orders-shop-erp', id)";
    auto errors = errors_for(doc);
    INFO(dump(errors));
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Catch::StartsWith("dependency cycle: ") &&
                                      Catch::Contains("customers-shop-erp → vouchers → "
                                                      "orders-shop-erp → customers-shop-erp"));
}

// --- Mode, aggregate, schedule ---------------------------------------------------------------

TEST_CASE("validate: mode and aggregate", "[config]") {
    json doc = base_config();
    doc["processes"][0]["mode"] = "batch";
    CHECK_THAT(error_at(doc, "/processes/0/mode"),
               Catch::Contains("unknown mode \"batch\"; use \"record\"") &&
                   Catch::Contains("\"aggregate\""));

    doc = base_config();
    doc["processes"][0]["aggregate"] = {{"group_by", {"id"}}, {"sum", json::array()}};
    CHECK_THAT(error_at(doc, "/processes/0/aggregate"),
               Catch::Contains("only used with \"mode\": \"aggregate\""));

    doc = base_config();
    doc["processes"][2].erase("aggregate");
    CHECK_THAT(error_at(doc, "/processes/2/aggregate"), Catch::Contains("needs an aggregate spec"));

    doc = base_config();
    doc["processes"][2]["aggregate"]["sum"] = {"amonut"};
    CHECK_THAT(error_at(doc, "/processes/2/aggregate/sum/0"),
               Catch::Contains("\"amonut\" is not a target field of this process's mapping; did "
                               "you mean \"amount\"?"));

    doc = base_config();
    doc["processes"][2]["aggregate"]["group_by"] = "account";
    CHECK_THAT(error_at(doc, "/processes/2/aggregate/group_by"),
               Catch::Contains("must be an array"));
}

TEST_CASE("validate: schedules", "[config]") {
    json doc = base_config();
    doc["processes"][1]["schedule"]["cron"] = "*/5 * * *";
    CHECK(error_at(doc, "/processes/1/schedule/cron") ==
          "\"*/5 * * *\" has 4 fields, a cron expression needs 5 (minute hour day-of-month month "
          "day-of-week)");

    doc = base_config();
    doc["processes"][1]["schedule"]["cron"] = "0 25 * * *";
    CHECK(error_at(doc, "/processes/1/schedule/cron") == "field 2 (hour): 25 is out of range 0-23");

    doc = base_config();
    doc["processes"][1]["schedule"]["timezone"] = "Europe/Zürich";
    CHECK_THAT(
        error_at(doc, "/processes/1/schedule/timezone"),
        Catch::Contains("unknown time zone \"Europe/Zürich\"; did you mean \"Europe/Zurich\"?"));

    doc = base_config();
    doc["processes"][0]["schedule"]["interval"] = "15";
    CHECK_THAT(error_at(doc, "/processes/0/schedule/interval"), Catch::Contains("has no unit"));

    doc = base_config();
    doc["processes"][0]["schedule"]["cron"] = "0 * * * *";
    CHECK_THAT(error_at(doc, "/processes/0/schedule"),
               Catch::Contains("either \"cron\" or \"interval\", not both"));

    doc = base_config();
    doc["processes"][0]["schedule"] = {{"timezone", "UTC"}};
    CHECK_THAT(error_at(doc, "/processes/0/schedule"),
               Catch::Contains("needs \"cron\"") && Catch::Contains("remove \"schedule\""));

    doc = base_config();
    doc["processes"][0]["schedule"] = {{"cron", ""}};
    CHECK_THAT(error_at(doc, "/processes/0/schedule/cron"), Catch::Contains("is empty"));
}

TEST_CASE("validate: every problem is reported, not just the first", "[config]") {
    json doc = base_config();
    doc["processes"][1]["schedule"]["cron"] = "* * *";
    doc["processes"][1]["mode"] = "stream";
    doc["connections"]["erp"]["settings"]["extra"] = 1;
    doc["processes"][0]["mapping"]["email"] = "lower(";
    auto errors = errors_for(doc);
    INFO(dump(errors));
    CHECK(errors.size() >= 4);
    for (const auto& e : errors) CHECK(e.file == "plexus.json");
}

TEST_CASE("validate: entities are listed once per connection", "[config]") {
    FakeCatalog catalog;
    std::vector<ConfigError> errors;
    Config cfg = parse_config(base_config().dump(), "plexus.json", errors);
    validate_config(cfg, catalog, default_env(), errors);
    CHECK(errors.empty());
    CHECK(catalog.entity_calls == 2);
}

TEST_CASE("json pointer segments are escaped", "[config]") {
    CHECK(json_pointer_segment("a/b~c") == "a~1b~0c");
    json doc = base_config();
    doc["connections"]["erp"]["settings"]["a/b"] = 1;
    CHECK_THAT(error_at(doc, "/connections/erp/settings/a~1b"), Catch::Contains("unknown setting"));
}

TEST_CASE("dependency order: each process after its dependencies and ref() targets", "[config]") {
    // Configuration order is the reverse of what must run first (the demo's first start ran
    // inventory before products and categories).
    std::vector<ConfigError> errors;
    Config cfg = parse_config(R"js({"processes": [
        {"id": "inventory", "source": {"connection": "erp", "entity": "stock"},
         "target": {"connection": "shop", "entity": "levels"}, "mapping": {"sku": "sku"},
         "dependencies": [{"process": "products", "key": "sku"}]},
        {"id": "orders", "source": {"connection": "shop", "entity": "orders"},
         "target": {"connection": "erp", "entity": "orders"},
         "mapping": {"customer": "ref(\"customers\", customer.id)"}},
        {"id": "products", "source": {"connection": "erp", "entity": "items"},
         "target": {"connection": "shop", "entity": "products"}, "mapping": {"sku": "sku"},
         "dependencies": [{"process": "categories", "key": "line"}]},
        {"id": "customers", "source": {"connection": "shop", "entity": "customers"},
         "target": {"connection": "erp", "entity": "customers"}, "mapping": {"id": "id"}},
        {"id": "categories", "source": {"connection": "erp", "entity": "lines"},
         "target": {"connection": "shop", "entity": "collections"}, "mapping": {"id": "id"}}
    ]})js", "plexus.json", errors);
    for (const auto& e : errors) FAIL_CHECK(e.to_string());
    REQUIRE(errors.empty());
    CHECK(prerequisites(cfg, *cfg.process("orders")) == std::vector<std::string>{"customers"});
    CHECK(prerequisites(cfg, *cfg.process("inventory")) == std::vector<std::string>{"products"});
    CHECK(prerequisites(cfg, *cfg.process("categories")).empty());
    CHECK(dependency_order(cfg) ==
          std::vector<std::string>{"customers", "orders", "categories", "products", "inventory"});
}

TEST_CASE("config: the serve block chooses what runs at start", "[config]") {
    std::vector<ConfigError> errors;
    CHECK(parse_config("{}", "c.json", errors).serve.run_at_start == "new");  // the default
    CHECK(parse_config(R"({"serve": {"run_at_start": "none"}})", "c.json", errors).serve.run_at_start ==
          "none");
    CHECK(parse_config(R"({"serve": {"run_at_start": "all"}})", "c.json", errors).serve.run_at_start ==
          "all");
    CHECK(errors.empty());
    parse_config(R"({"serve": {"run_at_start": "yes", "port": 1}})", "c.json", errors);
    std::set<std::string> paths;
    for (const auto& e : errors) paths.insert(e.json_path);
    CHECK(paths == std::set<std::string>{"/serve/run_at_start", "/serve/port"});
    errors.clear();
    parse_config(R"({"serve": true})", "c.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("\"serve\" must be an object") != std::string::npos);
}

TEST_CASE("config: groups name known processes and well-formed actions", "[config]") {
    const std::string processes = R"("processes": [
        {"id": "p1", "source": {"connection": "a", "entity": "x"}, "target": {"connection": "b", "entity": "x"}, "mapping": {}},
        {"id": "p2", "source": {"connection": "a", "entity": "y"}, "target": {"connection": "b", "entity": "y"}, "mapping": {}}])";
    std::vector<ConfigError> errors;
    Config ok = parse_config("{" + processes + R"(, "groups": [{"id": "shop", "name": "Shop",
        "processes": ["p1", "p2"],
        "actions": [{"id": "all", "label": "Initial sync", "run_all": ["p2", "p1"]},
                    {"id": "orders", "label": "Import all orders now", "run": "p1", "from": "ask", "from_default": "2024-05-01"},
                    {"id": "fixed", "label": "Since May", "run": "p2", "from": "2024-05-01T00:00:00Z"}]}]})",
                             "c.json", errors);
    INFO((errors.empty() ? "" : errors[0].json_path + ": " + errors[0].message));
    CHECK(errors.empty());
    REQUIRE(ok.group("shop"));
    CHECK(ok.group("shop")->processes == std::vector<std::string>{"p1", "p2"});
    REQUIRE(ok.group("shop")->actions.size() == 3);
    CHECK(ok.group("shop")->actions[0].run_all == std::vector<std::string>{"p2", "p1"});
    CHECK(ok.group("shop")->actions[1].from == "ask");
    CHECK(ok.group("shop")->actions[1].from_default == "2024-05-01");

    errors.clear();
    parse_config("{" + processes + R"(, "groups": [
        {"id": "g", "processes": ["p1", "nope", "p1"],
         "actions": [{"id": "a", "label": "A", "run": "p1", "run_all": ["p2"]},
                     {"id": "b", "label": "B", "run": "ghost"},
                     {"id": "c", "label": "C", "run": "p1", "from": "last week"},
                     {"id": "c", "label": "D", "run_all": ["p1"], "from": "2024-05-01"},
                     {"id": "e", "label": "E", "run": "p1", "from_default": "2024-05-01", "colour": "red"}]},
        {"id": "g", "processes": ["p2"]},
        {"id": "h"}]})",
                 "c.json", errors);
    std::set<std::string> paths;
    for (const auto& e : errors) paths.insert(e.json_path);
    CHECK(paths == std::set<std::string>{
                       "/groups/0/processes/1", "/groups/0/processes/2", "/groups/0/actions/0",
                       "/groups/0/actions/1/run", "/groups/0/actions/2/from", "/groups/0/actions/3/id",
                       "/groups/0/actions/3/from", "/groups/0/actions/4/from_default",
                       "/groups/0/actions/4/colour", "/groups/1/id", "/groups/2"});
}
