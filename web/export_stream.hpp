// Streams an export of record outcomes as the HTTP response (docs/api.md, "Export").
#pragma once

#include "store/store.hpp"

#include <string>

namespace httplib {
struct Response;
}

namespace plexus::web {

// format: "xlsx" or "csv". `staging_dir` holds an .xlsx while it is written (libxlsxwriter
// writes files); it is deleted once sent.
void stream_export(Store& store, const OutcomeQuery& query, const std::string& format,
                   const std::string& staging_dir, httplib::Response& res);

}  // namespace plexus::web
