// plexus logs export: record outcomes (sync logs) to an .xlsx or .csv file, by run or by
// filter (docs/operations.md, "Exporting sync logs"). The format is core/export's.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "common/clock.hpp"
#include "common/redactor.hpp"
#include "config/settings.hpp"
#include "export/outcome_export.hpp"

namespace plexus::cli {
namespace {

constexpr const char* k_logs_usage = R"(usage: plexus logs <command> [options]

commands:
  export    export record outcomes (sync logs) of a run or a process to .xlsx or .csv

See plexus logs export --help.
)";

constexpr const char* k_export_synopsis =
    "(--run ID | --process P [--action A] [--error-class C] [--text T] [--from TIME] "
    "[--to TIME]) --format xlsx|csv --output FILE [--config FILE] [--data DIR]";

const std::vector<std::string> k_actions = {action::created, action::updated, action::unchanged,
                                            action::failed};
const std::vector<std::string> k_error_classes = {error_class::auth,       error_class::rate_limit,
                                                  error_class::validation, error_class::conflict,
                                                  error_class::transient,  error_class::plugin,
                                                  error_class::mapping,    error_class::dependency};

void require_one_of(const std::string& option, const std::string& value,
                    const std::vector<std::string>& known, const std::string& what) {
    for (const auto& k : known)
        if (k == value) return;
    throw po::error("--" + option + " \"" + value + "\" is not " + what +
                    suggestion(value, known, what + "s"));
}

int64_t time_option(const std::string& option, const std::string& text, bool end_of_day) {
    const std::optional<TimeArg> t = parse_time_arg(text);
    if (!t)
        throw po::error("--" + option + " \"" + text +
                        "\" is not an ISO 8601 time such as 2024-05-01, 2024-05-01T10:00:00Z or "
                        "2024-05-01T12:00:00+02:00");
    // "--to 2024-05-01" means up to the end of that day.
    return t->date_only && end_of_day ? t->ms + 86'400'000 : t->ms;
}

// Secret values of the configured connections, for the redactor, as the hub registers them
// when it runs. Settings that do not resolve here (an environment variable not set in this
// shell) are skipped: the engine redacted stored messages when it wrote them.
void register_secrets(const Config& config, const PluginRegistry& registry) {
    for (const auto& c : config.connections) {
        const nlohmann::json* manifest = registry.manifest(c.connector);
        if (!manifest) continue;
        std::vector<ConfigError> ignored;
        ResolvedSettings r =
            resolve_settings(*manifest, c.settings, system_environment(), config.file,
                             "/connections/" + c.id + "/settings", ignored);
        for (const auto& s : r.secret_values) global_redactor().add(s);
    }
}

int logs_export(const std::vector<std::string>& args) {
    const char* name = "logs export";
    Common c;
    int64_t run_id = 0;
    std::string process_id, action_filter, class_filter, text, from, to, format_name, output;
    po::options_description opts("options");
    add_common(opts, c, true, true, true);
    opts.add_options()                                                              //
        ("run", po::value(&run_id), "export the outcomes of this run")              //
        ("process", po::value(&process_id), "export the outcomes of this process")  //
        ("action", po::value(&action_filter),
         "only this action: created, updated, unchanged, failed")  //
        ("error-class", po::value(&class_filter),
         "only this error class: auth, rate_limit, validation, conflict, transient, plugin, "
         "mapping, dependency")  //
        ("text", po::value(&text),
         "only outcomes whose source key or message contains T (case-insensitive for ASCII)")  //
        ("from", po::value(&from),
         "only outcomes started at or after TIME (2024-05-01, 2024-05-01T10:00:00Z, "
         "2024-05-01T12:00:00+02:00)")  //
        ("to", po::value(&to),
         "only outcomes started before TIME; a date alone includes that whole day (UTC)")  //
        ("format,f", po::value(&format_name)->required(), "xlsx or csv")                   //
        ("output,o", po::value(&output)->required(),
         "the file to write (replaced if it exists, only once the export is complete)");
    po::positional_options_description pos;
    po::variables_map vm;
    if (!parse(name, k_export_synopsis, opts, pos, args, vm)) return ok;

    // --- the command line alone -------------------------------------------------------------
    const bool by_run = vm.count("run") > 0;
    const bool by_process = vm.count("process") > 0;
    if (by_run == by_process)
        throw po::error(by_run ? "give --run or --process, not both"
                               : "say what to export: --run ID or --process P");
    if (by_run && run_id <= 0)
        throw po::error("--run " + std::to_string(run_id) + " is not a run id (a positive number)");
    const std::optional<ExportFormat> format = parse_export_format(format_name);
    if (!format)
        throw po::error("--format \"" + format_name + "\" is not a format; use xlsx or csv");
    OutcomeQuery query;
    if (by_run) query.run_id = run_id;
    if (by_process) {
        if (process_id.empty()) throw po::error("--process needs a process id");
        query.process_id = process_id;
    }
    if (vm.count("action")) {
        require_one_of("action", action_filter, k_actions, "an action");
        query.action = action_filter;
    }
    if (vm.count("error-class")) {
        require_one_of("error-class", class_filter, k_error_classes, "an error class");
        query.error_class = class_filter;
    }
    if (!text.empty()) query.text = text;
    if (vm.count("from")) query.started_from_ms = time_option("from", from, false);
    if (vm.count("to")) query.started_to_ms = time_option("to", to, true);
    if (query.started_from_ms && query.started_to_ms &&
        *query.started_from_ms >= *query.started_to_ms)
        throw po::error("--from " + from + " is not before --to " + to + ": nothing can match");

    // --- configuration (process ids, secrets) and the database --------------------------------
    PluginRegistry registry;
    load_plugins(registry, c);
    std::vector<ConfigError> errors;
    Config config = load_config(c.config_file, errors);
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    if (!errors.empty()) return run_failed;
    register_secrets(config, registry);

    const std::filesystem::path db = std::filesystem::path(c.data_dir) / "plexus.db";
    if (!std::filesystem::exists(db)) {
        std::cerr << "plexus " << name << ": no database at " << db.string()
                  << "; is --data the directory plexus run and plexus serve use?\n";
        return usage;
    }
    const bool read_only = data_dir_read_only(c.data_dir);
    auto store = open_store(c, StoreUse::read);
    std::string subject;
    if (by_run) {
        if (!store->run(run_id)) {
            std::cerr << "plexus " << name << ": no run " << run_id << " in " << db.string()
                      << "\n";
            return usage;
        }
        subject = "run " + std::to_string(run_id);
    } else {
        // A process removed from the configuration keeps its outcomes: exportable as long as
        // the database has some.
        OutcomeQuery any;
        any.process_id = process_id;
        any.limit = 1;
        if (!config.process(process_id) && store->outcomes(any).empty()) {
            require_process(config, process_id, name, c.config_file);
            return usage;
        }
        subject = process_id;
    }

    // --- the export ---------------------------------------------------------------------------
    ExportResult result;
    try {
        FileSink sink(output);
        ExportOptions options;
        // The workbook is staged beside the database, or in the temp directory when the
        // data directory is read-only.
        options.work_dir = read_only ? std::filesystem::temp_directory_path().string() : c.data_dir;
        result = export_outcomes(*store, query, *format, sink, options);
        sink.commit();
    } catch (const std::exception& e) {
        std::cerr << "plexus " << name << ": " << e.what() << "\n";
        return run_failed;
    }

    nlohmann::json filters = nlohmann::json::object();
    if (by_run) filters["run"] = run_id;
    if (by_process) filters["process"] = process_id;
    if (query.action) filters["action"] = *query.action;
    if (query.error_class) filters["error_class"] = *query.error_class;
    if (query.text) filters["text"] = *query.text;
    if (vm.count("from")) filters["from"] = from;
    if (vm.count("to")) filters["to"] = to;
    const std::string actor = cli_actor();
    const nlohmann::json detail = {{"format", export_format_name(*format)},
                                   {"output", std::filesystem::absolute(output).string()},
                                   {"rows", result.rows},
                                   {"filters", filters}};
    if (read_only)
        std::cerr << "plexus " << name << ": not recorded in the audit log: the data directory "
                  << c.data_dir << " is read-only\n";
    else
        store->audit(AuditEntry{0, SystemClock::instance().now_ms(), actor, "logs.export", subject,
                                detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});

    std::cout << "exported " << result.rows << (result.rows == 1 ? " outcome" : " outcomes") << " ("
              << subject << ") to " << output << " (" << export_format_name(*format) << ", "
              << result.bytes << " bytes";
    if (result.sheets > 1) std::cout << ", " << result.sheets << " worksheets";
    std::cout << ")\n";
    return ok;
}

}  // namespace

// plexus logs <command>
int cmd_logs(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << k_logs_usage;
        return args.empty() ? usage : ok;
    }
    if (args[0] == "export") {
        try {
            return logs_export({args.begin() + 1, args.end()});
        } catch (const po::error& e) {
            std::cerr << "plexus logs export: " << e.what() << " (see plexus logs export --help)\n";
            return usage;
        } catch (const std::exception& e) {
            std::cerr << "plexus logs export: " << e.what() << "\n";
            return run_failed;
        }
    }
    std::cerr << "plexus logs: unknown command \"" << args[0] << "\"\n\n" << k_logs_usage;
    return usage;
}

}  // namespace plexus::cli
