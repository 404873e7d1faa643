// The Intacct XML Web Services wire format, as pure functions: building request envelopes and
// function bodies, parsing response envelopes, converting rows to JSON, dates, the read cursor.
// No I/O here, so the golden cases (testcases/) drive exactly this code.
#pragma once

#include <plexus/sdk.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plexus::intacct {

using json = nlohmann::json;

// One <error> of an <errormessage>.
struct WireError {
    std::string errorno, description, description2, correction;
};

// "XL03000006 Sign-in information is incorrect — <description2> — <correction>": the non-empty
// parts joined, errors of a stack separated by "; ".
std::string join_errors(const std::vector<WireError>& errors);

// One <result> of the <operation>.
struct FunctionResult {
    std::string status;  // success | failure | aborted
    std::string function;
    std::string controlid;
    std::vector<WireError> errors;
    std::vector<json> rows;  // every child of <data>, converted with element_to_json
    std::string listtype;
    int64_t count = 0, totalcount = 0, numremaining = 0;
    std::string result_id;  // resultId attribute (readByQuery/readMore)
    std::string key;        // <key> of legacy create_* functions
    json api;               // getAPISession: {"sessionid","endpoint","locationid"}
};

struct Response {
    bool parsed = false;      // false: the body was not a <response> document
    std::string parse_error;  // when !parsed
    bool control_ok = false;
    std::vector<WireError> control_errors;  // <response><errormessage>
    bool auth_ok = false;
    std::vector<WireError> auth_errors;  // <operation><errormessage>
    std::vector<FunctionResult> results;
};

Response parse_response(const std::string& body);

// Classification of failures (see README "Error mapping").
bool is_throttled(const std::vector<WireError>& errors);            // GW-0010
// Whether a function's errors read like Intacct refusing a repeated function controlid under
// uniqueid=true: the code and text are not public, so this is a hint (the sandbox's invented
// XL03000004, or any error text naming a control ID), never proof — the connector looks the
// record up by its reference either way.
bool is_repeat_hint(const std::vector<WireError>& errors);
bool is_already_exists(const std::vector<WireError>& errors);       // "already exists"

// The request envelope. Exactly one of session_id / login is used.
struct Control {
    std::string sender_id, sender_password, controlid;
    bool unique_id = false;
};
struct Login {
    std::string user_id, company_id, password, location_id;
};
// `functions`: each a <function controlid="…">…</function> element, serialised.
std::string build_request(const Control& control, const std::optional<std::string>& session_id,
                          const Login& login, const std::vector<std::string>& functions);

// Function bodies (each returns one serialised <function> element).
std::string fn_get_api_session(const std::string& controlid);
// `fields`: "*" (all) or a comma-separated list, e.g. "CUSTOMERID,WHENMODIFIED".
std::string fn_read_by_query(const std::string& controlid, const std::string& object,
                             const std::string& query, int pagesize,
                             const std::string& docparid = {}, const std::string& fields = "*");
std::string fn_read_more(const std::string& controlid, const std::string& result_id);
// <create>/<update> with <OBJECT> built from a JSON object (json_to_elements).
std::string fn_generic(const std::string& controlid, const std::string& verb,
                       const std::string& object, const json& fields);
// <create_sotransaction> from the sales_orders record shape (see README). With a `currency`
// the XSD requires an exchange rate after it: the order's `exchrate`, or `exchratetype`
// (optionally after `exchratedate`), else `default_exchratetype` (the connector's
// exchange_rate_type setting, "Intacct Daily Rate" unless configured).
inline constexpr const char* kDefaultExchangeRateType = "Intacct Daily Rate";
std::string fn_create_sotransaction(const std::string& controlid, const json& order,
                                    std::string& error,
                                    const std::string& default_exchratetype = kDefaultExchangeRateType);

// XML ↔ JSON for generic objects: an element without element children is a string, one with
// children an object (a repeated child name becomes an array).
json element_to_json_text(const std::string& xml);  // helper for tests: parse one element

// Dates. Intacct's generic objects use "mm/dd/yyyy HH:MM:SS" (company time; taken as UTC).
std::optional<std::string> iso_to_intacct(const std::string& iso);       // → mm/dd/yyyy HH:MM:SS
std::optional<std::string> intacct_to_iso(const std::string& intacct);   // → yyyy-mm-ddTHH:MM:SSZ
// Sortable form of an Intacct timestamp ("yyyy-mm-dd HH:MM:SS"), empty when unparsable.
std::string sortable(const std::string& intacct);
// A record's cursor value as the connector reports it, from read, lookup and write alike:
// WHENMODIFIED as ISO 8601 UTC, or the raw text when it is not a timestamp. The host's echo
// check for two-way syncs compares a write's cursor with a later read's, so both go through
// this one function.
std::string record_cursor(const std::string& whenmodified);

// The read cursor (persisted by the host; see README "Cursor"):
// {"v":1, "t":"mm/dd/yyyy HH:MM:SS" | "", "r":["RECORDNO",…],
//  "rid":"…", "hw":"…", "hwr":[…]}  — t/r: the resume point of the current query (records
// with WHENMODIFIED >= t, minus RECORDNOs r at exactly t); rid: the readMore resultId of the
// query in progress (only trusted by the instance that issued it); hw/hwr: the highest
// WHENMODIFIED seen in the query so far and the RECORDNOs at it; fs (inventory only): the
// host clock (ms) when the last full scan started — see README "inventory".
struct ReadCursor {
    std::string t;
    std::vector<std::string> r;
    std::string rid;
    std::string hw;
    std::vector<std::string> hwr;
    int64_t fs = 0;
};
std::string encode_cursor(const ReadCursor& c);
std::optional<ReadCursor> decode_cursor(const std::string& text);


// Quote a value for a readByQuery <query>. The developer docs: "single quotes must be escaped
// with backslashes ('Jane\'s Deli')"; a backslash is escaped the same way.
std::string quote(const std::string& value);
// FIELD IN ('a','b',…) for readByQuery; values quoted with quote().
std::string in_list(const std::string& field, const std::vector<std::string>& values);

// Whether the <endpoint> a getAPISession returned may receive the session (and the sender
// password, which every request carries). Accepted: https on intacct.com or a subdomain of it
// (what the official SDKs accept), or the very scheme, host and port of the configured
// endpoint_url (the sandbox, a proxy). Otherwise false with the reason in `why`.
bool endpoint_allowed(const std::string& configured, const std::string& returned, std::string& why);

}  // namespace plexus::intacct
