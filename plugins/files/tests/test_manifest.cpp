// The descriptor, the manifest, describe_entities, and the shipped sample configuration.
#include "plugin_fixture.hpp"

using namespace files_test;

TEST_CASE("the descriptor and its manifest agree") {
    const plexus_connector_v1& d = plugin();
    CHECK(d.struct_size == sizeof(plexus_connector_v1));
    CHECK(d.abi_major == PLEXUS_ABI_MAJOR);
    CHECK(d.abi_minor == PLEXUS_ABI_MINOR);
    CHECK(std::string(d.id) == "files");
    REQUIRE(d.create);
    REQUIRE(d.destroy);
    REQUIRE(d.check);
    REQUIRE(d.read_page);
    REQUIRE(d.write_batch);
    REQUIRE(d.lookup);
    REQUIRE(d.describe_entities);

    const json m = json::parse(d.manifest_json);
    CHECK(m["id"] == "files");
    CHECK(m["version"] == d.version);
    CHECK(m["entities"].is_array());
    std::map<std::string, json> settings;
    for (const auto& s : m["settings"]) settings[s["name"]] = s;
    REQUIRE(settings.count("directory"));
    REQUIRE(settings.count("entities"));
    CHECK(settings["directory"]["type"] == "string");
    CHECK(settings["directory"]["required"] == true);
    CHECK(settings["entities"]["type"] == "object");
    CHECK(settings["entities"]["required"] == true);
    for (const auto& [name, s] : settings) {
        CHECK(s["secret"] == false);
        CHECK_FALSE(s["description"].get<std::string>().empty());
    }
}

namespace {
Reply describe(const json& settings) {
    const std::string s = settings.dump();
    Reply r;
    plexus_sink out = sink_to(r.text);
    r.status = plugin().describe_entities(str(s), &out);
    return r;
}
}  // namespace

TEST_CASE("describe_entities lists one entity per configured file") {
    const json s = {{"directory", "/srv/exchange"},
                    {"_comment", "operators' notes are ignored"},
                    {"entities",
                     {{"_comment", "so are these"},
                      {"customers", {{"path", "customers.jsonl"}, {"cursor", "updated_at"}}},
                      {"orders",
                       {{"path", "out/orders.csv"},
                        {"key", "number"},
                        {"delimiter", ";"},
                        {"fields",
                         {{{"name", "total"}, {"type", "number"}},
                          {{"name", "lines"}, {"type", "array"}}}}}}}}};
    Reply r = describe(s);
    INFO(r.text);
    REQUIRE(r.status == PLEXUS_OK);
    const json entities = r.body();
    REQUIRE(entities.size() == 2);

    const json& customers = entities[0];
    CHECK(customers["name"] == "customers");
    CHECK(customers["key"] == "id");
    CHECK(customers["cursor"] == "updated_at");
    CHECK(customers["capabilities"] == json({"read", "incremental", "create", "update", "lookup"}));
    CHECK(customers["open"] == true);
    CHECK(customers["fields"] == json::array());
    CHECK(customers["description"].get<std::string>().find("/srv/exchange/customers.jsonl") !=
          std::string::npos);

    const json& orders = entities[1];
    CHECK(orders["name"] == "orders");
    CHECK(orders["key"] == "number");
    CHECK(orders["cursor"].is_null());
    CHECK(orders["capabilities"] == json({"read", "create", "update", "lookup"}));
    CHECK(orders["open"] == false);
    // The key field is always there, declared or not.
    REQUIRE(orders["fields"].size() == 3);
    CHECK(orders["fields"][0] == json({{"name", "number"}, {"type", "string"}}));
    CHECK(orders["fields"][1] == json({{"name", "total"}, {"type", "number"}}));
    CHECK(orders["description"].get<std::string>().find("CSV") != std::string::npos);
}

TEST_CASE("unusable settings are configuration errors that name the setting") {
    auto expect = [](const json& entities, const std::string& needle) {
        Reply r = describe({{"directory", "/srv"}, {"entities", entities}});
        INFO(r.text);
        CHECK(r.status == PLEXUS_ERR_CONFIG);
        CHECK(r.text.find(needle) != std::string::npos);
        Reply c = Connection::try_create({{"directory", "/srv"}, {"entities", entities}});
        CHECK(c.status == PLEXUS_ERR_CONFIG);
    };
    expect({{"c", {{"path", "c.xml"}}}}, "settings.entities.c.format");
    expect({{"c", {{"path", "c.jsonl"}, {"format", "xml"}}}}, "\"xml\" is not a format");
    expect({{"c", {{"format", "csv"}}}}, "settings.entities.c.path is required");
    expect({{"c", {{"path", "c.jsonl"}, {"cursour", "updated_at"}}}}, "unknown option \"cursour\"");
    expect({{"c", {{"path", "c.csv"}, {"delimiter", ";;"}}}}, "settings.entities.c.delimiter");
    expect({{"c", {{"path", "c.csv"}, {"fields", {{{"name", "a"}, {"type", "text"}}}}}}},
           "settings.entities.c.fields[0].type");
    expect(json::object(), "lists no entity");

    Reply r = describe({{"entities", {{"c", {{"path", "c.jsonl"}}}}}});
    CHECK(r.status == PLEXUS_ERR_CONFIG);
    CHECK(r.text.find("settings.directory") != std::string::npos);
}

TEST_CASE("the sample configuration is valid and embedded verbatim in the README") {
    const std::string sample_text = read_text(std::string(FILES_SOURCE_DIR) + "/sample.json");
    const std::string readme = read_text(std::string(FILES_SOURCE_DIR) + "/README.md");
    REQUIRE_FALSE(sample_text.empty());
    CHECK(readme.find(sample_text) != std::string::npos);

    const json sample = json::parse(sample_text);
    REQUIRE(sample["connections"].is_object());
    REQUIRE(sample["processes"].is_array());
    REQUIRE(sample["processes"].size() == 1);
    std::map<std::string, json> entities_of;  // connection → described entities
    for (const auto& [name, connection] : sample["connections"].items()) {
        if (name.rfind("_comment", 0) == 0) continue;
        CHECK(connection["connector"] == "files");
        Reply r = describe(connection["settings"]);
        INFO(name << ": " << r.text);
        REQUIRE(r.status == PLEXUS_OK);
        entities_of[name] = r.body();
        Connection c(connection["settings"]);  // creating an instance accepts them too
    }
    CHECK(entities_of.size() == 2);
    for (const auto& process : sample["processes"]) {
        CHECK(process["id"].is_string());
        CHECK(process["name"].is_string());
        CHECK(process["mapping"].is_object());
        for (const char* side : {"source", "target"}) {
            const std::string connection = process[side]["connection"];
            const std::string entity = process[side]["entity"];
            INFO(side << ": " << connection << "/" << entity);
            REQUIRE(entities_of.count(connection));
            bool found = false;
            for (const auto& e : entities_of[connection]) found = found || e["name"] == entity;
            CHECK(found);
        }
    }
}
