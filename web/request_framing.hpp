// How the portal decides, from the request line and headers alone, whether it will read a
// body at all, and how it ends a connection whose body it refuses without reading it.
//
// cpp-httplib 0.11 enforces its payload limit only on Content-Length bodies, and then
// reads (and discards) the whole oversized body before answering 413; chunked bodies and
// bodies framed by the connection's end are read in full into memory (issue 10, row 4).
// The portal therefore checks the framing in a pre-routing handler (before any byte of the
// body is read, before authentication) and reads admissible bodies itself through a
// content reader that stops at the limit (portal.cpp).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>

namespace plexus::web {

struct FramingRefusal {
    int status;
    std::string code;
    std::string message;
};

// Why a request's body framing is refused, or nothing when its body may be read:
// - both Transfer-Encoding and Content-Length, a Transfer-Encoding other than "chunked", or
//   a Content-Length that is not one whole number: 400;
// - Content-Length above `max_body`: 413;
// - POST, PUT or PATCH with neither Content-Length nor chunked encoding: 411;
// - GET, HEAD or OPTIONS with a body: 400;
// - a multipart body: 415 (the API takes JSON only).
std::optional<FramingRefusal> body_framing_refusal(const httplib::Request& req, size_t max_body);

// Sends `res` (status, headers, body) on the request's connection with "Connection: close",
// ends the sending side and waits briefly for the client to finish, so the answer arrives
// before the close even while the client is still sending a body we will not read. httplib's
// own write of the response then fails and it closes the connection. Returns false when the
// connection's socket was not found (then `res` is only marked "Connection: close").
bool answer_and_close(const httplib::Request& req, httplib::Response& res);

// How reading an admissible body ended.
enum class BodyRead { complete, too_large, unreadable };

// Reads the request's body through `reader` into `body`, stopping (too_large) as soon as it
// would pass `max_body` bytes, whatever its framing; unreadable: cut off or bad chunking.
BodyRead read_body(const httplib::ContentReader& reader, size_t max_body, std::string& body);

}  // namespace plexus::web
