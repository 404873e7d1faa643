// The "hello" connector: a source of greetings, one per configured name. Small on purpose:
// it shows every part a connector has — settings, an entity, incremental reads with an
// opaque cursor, lookup by key, logging through the host — and nothing else.
#include <plexus/connector.hpp>

#include <string>
#include <vector>

using plexus::sdk::Error;
using plexus::sdk::json;

class HelloConnector : public plexus::sdk::Connector {
public:
    static constexpr const char* id = "hello";
    static constexpr const char* version = "1.0.0";
    static constexpr const char* manifest = R"json({
      "id": "hello", "name": "Hello (SDK example)", "version": "1.0.0",
      "description": "Greets every configured name; an example for partners.",
      "settings": [
        {"name": "names", "type": "array", "required": true,
         "description": "Who to greet, in order."},
        {"name": "greeting", "type": "string", "default": "Hello",
         "description": "The word to greet with."},
        {"name": "api_key", "type": "string", "secret": true, "required": false,
         "description": "Not used; shows how a secret setting is declared."}
      ],
      "entities": [
        {"name": "greetings", "description": "One greeting per name.",
         "key": "id", "cursor": "seq",
         "capabilities": ["read", "incremental", "lookup"],
         "fields": [{"name": "id", "type": "string"}, {"name": "seq", "type": "integer"},
                    {"name": "text", "type": "string"}]}
      ]
    })json";

    HelloConnector(plexus::sdk::Host& host, const json& settings) : host_(host) {
        greeting_ = settings.value("greeting", "Hello");
        for (const auto& n : settings.at("names")) names_.push_back(n.get<std::string>());
        if (names_.empty()) throw Error(PLEXUS_ERR_CONFIG, "settings.names is empty: nobody to greet");
    }

    void check() override { host_.info("hello: " + std::to_string(names_.size()) + " name(s)"); }

    plexus::sdk::ReadPage read(const plexus::sdk::ReadRequest& request) override {
        if (request.entity != "greetings") throw Error(PLEXUS_ERR_CONFIG, "unknown entity " + request.entity);
        // The cursor is the index of the next name: opaque to the host, meaningful to us.
        size_t start = request.cursor ? std::stoul(*request.cursor) : 0;
        plexus::sdk::ReadPage page;
        size_t end = std::min(names_.size(), start + request.limit);
        for (size_t i = start; i < end; ++i) page.records.push_back(record(i));
        page.next_cursor = std::to_string(end);
        page.has_more = end < names_.size();
        host_.debug("hello: read " + std::to_string(page.records.size()) + " greeting(s)");
        return page;
    }

    plexus::sdk::LookupResult lookup(const plexus::sdk::LookupRequest& request) override {
        if (request.entity != "greetings") throw Error(PLEXUS_ERR_CONFIG, "unknown entity " + request.entity);
        plexus::sdk::LookupResult result;
        for (size_t i = 0; i < names_.size(); ++i) {
            if (request.key && *request.key == names_[i]) {
                result.found = true;
                result.record = record(i);
            }
        }
        return result;
    }

private:
    plexus::sdk::Record record(size_t i) const {
        json data{{"id", names_[i]}, {"seq", i}, {"text", greeting_ + ", " + names_[i] + "!"}};
        return plexus::sdk::Record{names_[i], std::to_string(i), data};
    }

    plexus::sdk::Host& host_;
    std::string greeting_;
    std::vector<std::string> names_;
};

PLEXUS_EXPORT_CONNECTOR(HelloConnector)
