// The OPERA connector loaded through the real host (PluginRegistry + ConnectorInstance with
// the host's HttpClient and a RateGovernor built from the manifest's rate_limit), talking to
// the in-process OHIP sandbox.
#pragma once

#include "common/logging.hpp"
#include "sandbox/opera_sandbox.hpp"
#include "tests/support/connector_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace opera_test {

using json = nlohmann::json;

inline std::shared_ptr<const plexus::LoadedConnector> connector() { return plexus::test::load_connector("opera"); }
using plexus::test::ok_json;

// The host's log lines, captured from the process-wide logger.
struct LogCapture {
    LogCapture() {
        plexus::log_debug("");  // creates the logger
        logger = spdlog::get("plexus");
        REQUIRE(logger);
        ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
        logger->sinks().push_back(ring);
    }
    ~LogCapture() {
        auto& sinks = logger->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), ring), sinks.end());
    }
    std::string text() const {
        std::string out;
        for (const auto& l : ring->last_formatted()) out += l;
        return out;
    }
    std::shared_ptr<spdlog::logger> logger;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring;
};

struct World : plexus::test::ConnectorHost {
    World() : ConnectorHost("opera") {}

    plexus::sandbox::SandboxServer server{plexus::sandbox::make_opera_sandbox(1)};
    // As the hub builds it from the manifest's rate_limit.
    plexus::RateGovernor governor{connector()->manifest["rate_limit"].value("requests_per_second", 1000.0),
                                  connector()->manifest["rate_limit"].value("burst", 1000.0), clock};

    plexus::sandbox::OperaSandboxControl& control() {
        return dynamic_cast<plexus::sandbox::OperaSandboxControl&>(server.sandbox());
    }

    json settings() const {
        return {{"gateway_url", server.base_url()},
                {"client_id", plexus::sandbox::kOperaClientId},
                {"client_secret", plexus::sandbox::kOperaClientSecret},
                {"app_key", plexus::sandbox::kOperaAppKey},
                {"enterprise_id", ""},
                {"scope", ""},
                {"hotel_id", plexus::sandbox::kOperaHotel},
                {"pm_reservation_id", plexus::sandbox::kOperaPmReservation},
                {"cashier_id", plexus::sandbox::kOperaCashier},
                {"folio_window_no", 1},
                {"reversal_reason_code", ""},
                {"transaction_codes", {"7010", "7020", "7030", "7040"}},
                {"payment_methods", {"EG", "IV"}},
                {"max_attempts", 4}};
    }

    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s, plexus::RateGovernor* g) { return make_instance(s, g); }
    std::unique_ptr<plexus::ConnectorInstance> instance(const json& s) { return instance(s, &governor); }
    std::unique_ptr<plexus::ConnectorInstance> instance() { return instance(settings()); }
};

// One e-guma sale as the process maps it: ten CHF 50 vouchers summarised into one line, and a
// product line.
inline json sale(bool cancelled = false) {
    return {{"currency", "CHF"},
            {"remark", "e-guma order 98765"},
            {"cancelled", cancelled},
            {"lines", {{{"transaction_code", "7010"}, {"price", 500.0}, {"quantity", 1}, {"remark", "Vouchers 10 x CHF 50"}},
                       {{"transaction_code", "7020"}, {"price", 12.5}, {"quantity", 2}}}}};
}

inline json payment(bool paid, double amount = 525.0) {
    return {{"payment_method", "EG"}, {"amount", amount}, {"currency", "CHF"}, {"paid", paid},
            {"remark", "e-guma order 98765"}};
}

inline json create(const std::string& key, const json& data) {
    return {{"op", "create"}, {"idempotency_key", key}, {"data", data}};
}
inline json update(const std::string& key, const std::string& target, const json& data) {
    return {{"op", "update"}, {"idempotency_key", key}, {"target_key", target}, {"data", data}};
}

// Writes one record; returns its result object.
inline json write_one(plexus::ConnectorInstance& inst, const std::string& entity, const json& record) {
    json reply = ok_json(inst.write_batch({{"entity", entity}, {"records", json::array({record})}}));
    REQUIRE(reply["results"].size() == 1);
    return reply["results"][0];
}

}  // namespace opera_test
