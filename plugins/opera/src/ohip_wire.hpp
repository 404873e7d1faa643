// OHIP (OPERA Cloud) wire format: request bodies, query strings, response parsing, error text,
// and the posting references this connector writes. Pure functions, no I/O: the golden tests
// compile this file on its own. Facts: ../shared/api/opera-ohip.md and the official Swagger 2.0
// specs in tests/contract/ (csh.json, lov.json, rsv.json, oauth.json).
#pragma once

#include <nlohmann/json.hpp>
#include <plexus/rest.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plexus::opera {

using json = nlohmann::json;

// The x-app-key rule of every spec: a lower-case UUID v4.
bool valid_app_key(const std::string& key);

std::string base64(const std::string& bytes);
// Percent-encoding of one query value or path segment (RFC 3986 unreserved kept).
using sdk::rest::url_encode;

// Calendar dates as OHIP sends them: YYYY-MM-DD (the specs' maxLength 8 is a known bug).
// parse_date: "YYYY-MM-DD" → days since 1970-01-01; format_date: back.
using sdk::rest::format_date;
using sdk::rest::parse_date;
std::string date_of_ms(int64_t unix_ms);
std::string add_days(const std::string& date, int64_t days);

// getGuestsTransactions allows a span of 30 days: the windows [start, end] (both inclusive,
// end - start = 29 days) that cover [from, to], in order.
std::vector<std::pair<std::string, std::string>> search_windows(const std::string& from,
                                                                const std::string& to);

// One charge line as posted (a reversal line has a negative quantity).
struct ChargeLine {
    std::string transaction_code;
    double price = 0;  // unit price
    std::string currency;
    long long quantity = 1;
    std::string reference;
    std::string remark;
};

// POST /csh/v1/hotels/{h}/reservations/{r}/charges body (billingCharges): every line in one
// `charges[]` array, codes and ids as strings, as the spec declares them.
json charges_body(const std::string& hotel, const std::string& reservation, long long cashier,
                  int folio_window, const std::vector<ChargeLine>& lines);

struct PaymentPosting {
    std::string method;  // payment method code, e.g. "CA"
    double amount = 0;
    std::string currency;
    std::string reference;
    std::string remark;
};
// POST …/reservations/{r}/payments body (billingPayment).
json payment_body(const std::string& hotel, const std::string& reservation, long long cashier,
                  int folio_window, const PaymentPosting& p);
// POST /csh/v1/hotels/{h}/transactions/{transactionNo}/reversePayments body
// (paymentReversalCriteria). It carries no reference: the reversal is found again through the
// original's reference (see README "Payments").
json reverse_payment_body(const std::string& hotel, long long transaction_no, long long cashier,
                          const std::string& reason_code);

// Query of getGuestsTransactions for one exact posting reference in one date window.
std::string transactions_query(const std::string& reservation, const std::string& reference,
                               const std::string& start, const std::string& end);

// A posting as read back from OPERA (getGuestsTransactions or a 201 billingChargesDetails).
struct Posting {
    long long transaction_no = 0;
    std::string code;       // transactionCode (a payment's is its payment method's code)
    std::string type;       // transactionType: Revenue | Payment | … (may be empty)
    std::string reference;
    std::string remark;
    double price = 0;
    long long quantity = 0;
    double amount = 0;      // transactionAmount, else price × quantity
    std::string currency;
    std::string date;       // postingDate
    long long reverse_payment_no = 0;  // reversePaymentTransactionNo
    json raw;               // the posting object as OPERA sent it
};

// Every posting in a getGuestsTransactions 200 body (reservationFolioInformation[] →
// folioWindows[] → folios[] → postings[]; also postings directly under a window).
std::vector<Posting> parse_transactions(const json& body);
// The postings of a 201 billingChargesDetails / postedBillingPayment body.
std::vector<Posting> parse_posted(const json& body);

// "400 Bad Request: <detail> (o:errorCode X) …" from an exceptionDetailType body, or the
// status alone for the bodiless ones (401, 403, 502 …). Never echoes request data.
std::string error_text(int status, const std::string& body);
// The shortText/code of each entry of a success body's warnings[].
std::vector<std::string> warnings_of(const json& body);

// Money compared in cents.
inline long long cents(double amount) {
    return static_cast<long long>(amount * 100 + (amount < 0 ? -0.5 : 0.5));
}

// ---- references and target keys (README "References") ----
// Charge line i (1-based) of generation g of a record: "<key>-C<g>-<i>"; its reversal
// "<key>-C<g>-<i>-R". Payment of generation g: "<key>-P<g>".
std::string charge_ref(const std::string& key, int gen, int line);
std::string reversal_ref(const std::string& original_ref);
std::string payment_ref(const std::string& key, int gen);

// A written record's target key: "<key>@<YYYY-MM-DD>#<generations>", the date the record's
// first posting was searched from and the generations known to be posted.
struct TargetKey {
    std::string key;
    std::string date;
    int generations = 0;
};
std::string encode_target_key(const TargetKey& k);
std::optional<TargetKey> decode_target_key(const std::string& text);

}  // namespace plexus::opera
