#include "web/export_stream.hpp"

#include "common/logging.hpp"
#include "common/redactor.hpp"
#include "export/outcome_export.hpp"

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace plexus::web {
namespace {

// Bytes into the chunked HTTP response; a client that went away aborts the export.
class ResponseSink final : public ExportSink {
public:
    explicit ResponseSink(httplib::DataSink& sink) : sink_(sink) {}
    void write(std::string_view bytes) override {
        if (!sink_.write(bytes.data(), bytes.size()))
            throw std::runtime_error("the client closed the connection");
    }

private:
    httplib::DataSink& sink_;
};

std::string safe_name_part(const std::string& s) {
    std::string out;
    for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
    return out.substr(0, 60);
}

}  // namespace

void stream_export(Store& store, const OutcomeQuery& query, const std::string& format,
                   const std::string& staging_dir, httplib::Response& res) {
    const auto fmt = parse_export_format(format);
    if (!fmt) throw std::invalid_argument("format must be xlsx or csv");
    std::string name = "plexus-outcomes";
    if (query.run_id) name += "-run-" + std::to_string(*query.run_id);
    else if (query.process_id) name += "-" + safe_name_part(*query.process_id);
    name += export_file_extension(*fmt);
    std::filesystem::create_directories(staging_dir);
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
    ExportOptions options;
    options.work_dir = staging_dir;
    res.set_chunked_content_provider(
        export_content_type(*fmt),
        [&store, query, f = *fmt, options](size_t, httplib::DataSink& sink) {
            ResponseSink out(sink);
            try {
                export_outcomes(store, query, f, out, options);
                sink.done();
            } catch (const std::exception& e) {
                // The status line has gone already: end the stream short (the client sees
                // an incomplete chunked body) and say why in the log.
                log_line(LogLevel::warn, LogTags{},
                         std::string("portal: export stopped: ") + global_redactor().redact(e.what()));
                return false;
            }
            return true;
        });
}

}  // namespace plexus::web
