// The "files" connector: JSON Lines and CSV files, one entity per configured file.
// Operator documentation: plugins/files/README.md.
#pragma once

#include <map>
#include <memory>
#include <plexus/connector.hpp>
#include <set>
#include <string>
#include <vector>

#include "entity_spec.hpp"
#include "read_plan.hpp"
#include "record_log.hpp"

namespace plexus::files {

class FilesConnector final : public sdk::Connector {
public:
    static constexpr const char* id = "files";
    static constexpr const char* version = "1.0.0";
    static const char* const manifest;
    // Writes get each record's data as text (WriteItem::data_json): a JSON Lines record is
    // usually appended as the host sent it, without being parsed and serialised again.
    static constexpr bool accepts_data_json = true;

    FilesConnector(sdk::Host& host, const json& settings);

    static json describe_entities(const json& settings);

    void check() override;
    sdk::ReadPage read(const sdk::ReadRequest& request) override;
    std::vector<sdk::WriteResult> write(const std::string& entity,
                                        const std::vector<sdk::WriteItem>& items) override;
    sdk::LookupResult lookup(const sdk::LookupRequest& request) override;

private:
    RecordLog& log_for(const std::string& entity);

    sdk::Host& host_;
    FilesSettings settings_;
    std::map<std::string, std::unique_ptr<RecordLog>> logs_;  // one per entity, made on first use
    std::map<std::string, std::unique_ptr<ReadPlan>> plans_;  // read snapshots, per entity
};

}  // namespace plexus::files
