// The Sage Intacct XML gateway simulator: POST /ia/xml/xmlgw.phtml on loopback. Stateful and
// seeded deterministically; see plugins/intacct/README.md ("Sandbox") for what it honours.
#pragma once

#include "sandbox/sandbox.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::sandbox {

// Credentials the sandbox accepts.
inline constexpr const char* kIntacctSenderId = "sandbox_sender";
inline constexpr const char* kIntacctSenderPassword = "sandbox_sender_pw";
inline constexpr const char* kIntacctCompanyId = "SANDBOX";
inline constexpr const char* kIntacctUserId = "sandbox_user";
inline constexpr const char* kIntacctUserPassword = "sandbox_pw";
// Requests in flight at once before further ones get HTTP 429 / GW-0010.
inline constexpr int kIntacctConcurrentLimit = 2;

std::unique_ptr<Sandbox> make_intacct_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

// Test hooks of the Intacct sandbox (reach them with dynamic_cast from Sandbox&).
class IntacctSandboxControl {
public:
    virtual ~IntacctSandboxControl() = default;
    // Every POST to the gateway path, faults included.
    virtual uint64_t requests() const = 0;
    // From now on keep (or stop keeping) every request body received, in arrival order,
    // whatever the answer (faults included); either way what was kept so far is dropped.
    // Off at first. Test-only: the contract tests
    // validate what the connector sent against the official schema.
    virtual void capture_requests(bool on) = 0;
    virtual std::vector<std::string> captured_requests() const = 0;
    // Requests refused (XL03000003) because they did not validate against the official schema
    // (plugins/intacct/tests/contract/api.xsd), and whether the sandbox checks at all.
    virtual uint64_t schema_rejections() const = 0;
    virtual std::string schema_status() const = 0;
    // The next `n` gateway requests are executed, then answered with HTTP 502 instead of
    // their result, as a proxy that timed out would: the client does not learn what Intacct
    // did (a lost answer).
    virtual void lose_answers_after_executing(int n) = 0;
    // Every session ends now (as a session timeout would): the next session-authenticated
    // request fails authentication ("The session is invalid or has expired").
    virtual void expire_sessions() = 0;
    // Requests refused by the concurrent-request limit.
    virtual uint64_t throttled() const = 0;
    // Rows of an object (CUSTOMER, ITEM, PRODUCTLINE, SODOCUMENT, ARINVOICE, WAREHOUSE,
    // ITEMWAREHOUSEINFO).
    virtual size_t count(const std::string& object) const = 0;
    // Hold every served request this long (after the fault knobs), to make requests overlap.
    virtual void set_work_delay_ms(int ms) = 0;
    // An inventory adjustment: ONHAND of an item in a warehouse changes by `delta` and its
    // ITEMWAREHOUSEINFO row's WHENMODIFIED is stamped. False when the item is not stocked there.
    virtual bool adjust_on_hand(const std::string& item, const std::string& warehouse,
                                double delta) = 0;
    // The ITEMWAREHOUSEINFO row of an item in a warehouse, as stored.
    virtual std::optional<nlohmann::json> stock(const std::string& item,
                                                const std::string& warehouse) = 0;
    // Change one field of a row found by its key field (e.g. CUSTOMER/CUSTOMERID), stamping
    // WHENMODIFIED with the current time, as a user editing in the UI would.
    virtual bool touch(const std::string& object, const std::string& key,
                       const std::string& field, const std::string& value) = 0;
};

}  // namespace plexus::sandbox
