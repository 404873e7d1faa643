// TEMPORARY until the export module (core/export) is merged this session.
#include "web/export_stream.hpp"

#include <httplib.h>

namespace plexus::web {
void stream_export(Store&, const OutcomeQuery&, const std::string&, const std::string&,
                   httplib::Response& res) {
    res.status = 501;
    res.set_content(R"({"error":{"status":501,"code":"internal","message":"export not built yet"}})",
                    "application/json");
}
}  // namespace plexus::web
