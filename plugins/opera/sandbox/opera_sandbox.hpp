// The OHIP (Oracle Hospitality Integration Platform) simulator for OPERA Cloud: the token
// endpoint and the Cashiering, List of Values and Reservation operations a posting interface
// uses, on loopback. Built from ../shared/api/opera-ohip.md and the official Swagger specs
// (plugins/opera/tests/contract/), not from the connector; sandbox/README.md lists what it
// invents where the public record is silent.
#pragma once

#include "sandbox/sandbox.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace plexus::sandbox {

// What the seeded sandbox accepts.
inline constexpr const char* kOperaClientId = "plexus_sandbox_client";
inline constexpr const char* kOperaClientSecret = "sandbox-client-secret";
inline constexpr const char* kOperaAppKey = "41ecd082-8997-4c69-af34-2f72b83645ff";
inline constexpr const char* kOperaHotel = "HOTEL1";
inline constexpr const char* kOperaPmReservation = "900001";       // PM account, checked in
inline constexpr const char* kOperaReservedReservation = "900002"; // not checked in
inline constexpr long long kOperaCashier = 4;                      // allowed in HOTEL1
inline constexpr long long kOperaOtherCashier = 7;                 // allowed in HOTEL2 only

std::unique_ptr<Sandbox> make_opera_sandbox(uint32_t seed, SeedSize size = SeedSize::demo);

// Test hooks (dynamic_cast from Sandbox&); the same are reachable over HTTP under
// /_sandbox/opera/… (see sandbox/README.md).
class OperaSandboxControl {
public:
    virtual ~OperaSandboxControl() = default;
    // Postings carrying exactly this reference (the "nothing posted twice" check).
    virtual size_t postings_with_reference(const std::string& reference) const = 0;
    // Every posting of the hotel, as the transactions search would show it.
    virtual std::vector<nlohmann::json> postings() const = 0;
    // Sum of transactionAmount over the postings of a reservation (the folio balance).
    virtual double balance(const std::string& reservation) const = 0;
    // Lifetime of tokens issued from now on (expires_in), and the end of every token issued.
    virtual void set_token_ttl_s(int seconds) = 0;
    virtual void expire_tokens() = 0;
    // Every token (those issued already, counted from now, and new ones) expires once it has
    // let `requests` API requests through: a token running out in the middle of a run, the
    // next call made with it gets OHIP's bodiless 401. 0 turns it off.
    virtual void set_token_max_requests(int requests) = 0;
    // API requests answered 401 because their token was unknown or expired.
    virtual uint64_t unauthorised() const = 0;
    virtual uint64_t tokens_issued() const = 0;
    // Every access token issued so far (tests check none reaches a log or an error).
    virtual std::vector<std::string> tokens() const = 0;
    // The next n posting requests (charges, payments, reversePayments) are carried out and
    // then answered 502 without a body, as a gateway whose backend timed out would.
    virtual void lose_answers_after_executing(int n) = 0;
    // The next n posting requests are answered 502 at once and carried out `ms` later, as a
    // backend still working after the gateway gave up: a client that looks right away does
    // not see the posting yet.
    virtual void delay_postings(int n, int ms) = 0;
    // The next n posting requests are refused with 503 (and Retry-After: 1) before anything
    // is posted, as an overloaded gateway would.
    virtual void refuse_posts(int n) = 0;
    // Requests per second above which OHIP delays (default 50), and how many it delayed.
    virtual void set_throttle_limit(int per_second) = 0;
    virtual uint64_t throttled() const = 0;
    virtual uint64_t requests() const = 0;
    // The hotel's business date (default: today in UTC).
    virtual void set_business_date(const std::string& date) = 0;
};

}  // namespace plexus::sandbox
