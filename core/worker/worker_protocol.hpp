// The wire between the host and a connector worker process (docs/design/004-connector-isolation.md).
//
// One AF_UNIX stream socket, frames both ways. A frame is an 8-byte header — payload size
// (u32, little-endian as the machine is: both ends are the same binary), type (u8), argument
// (u8: a status, a log level, an operation) and two reserved bytes — then the payload.
//
// Requests and replies of the ABI travel as the very JSON text the in-process call would
// pass: the header carries the operation and the status, so neither side wraps, escapes or
// parses a document it would not parse in-process. Structured payloads (an HTTP request or
// response) are a sequence of u32-length-prefixed byte strings and fixed-size integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace plexus::worker {

// Frame types. Host → worker:
enum class Frame : uint8_t {
    create = 1,      // payload: settings JSON; arg: kFlag* bits
    call = 2,        // payload: request JSON (empty for check); arg: Op
    http_reply = 3,  // payload: i32 HTTP status, str headers, str body-or-error; arg: plexus_status
    now_reply = 4,   // payload: i64 ms
    cancel = 5,      // no payload: the run is being cancelled (host->cancelled() turns true)
    destroy = 6,     // no payload: destroy the instance and exit
    // Worker → host:
    hello = 64,         // arg 0: the library loaded, payload: connector id; arg 1: refused, payload: reason
    result = 65,        // arg: plexus_status; payload: reply or message
    log = 66,           // arg: plexus_log_level; payload: the line
    http = 67,          // payload: u32 timeout_ms, u32 flags, str method, url, headers, body
    now = 68,           // no payload: asks for the host clock (a test clock); answered by now_reply
    rate_observe = 69,  // payload: f64 used, f64 capacity
};

// Operations of a `call` frame.
enum class Op : uint8_t { check = 1, read_page = 2, write_batch = 3, lookup = 4 };

// `create` flags.
constexpr uint8_t kFlagSystemClock = 0x1;  // the host's clock is the system clock: read it locally
constexpr uint8_t kFlagCancelled = 0x2;    // the run is already cancelled

// Exit status of a worker whose allocation failed under its memory cap (RLIMIT_AS).
constexpr int kExitMemoryCap = 86;

// The worker's socket is this descriptor.
constexpr int kWorkerFd = 3;

// Refused frames larger than this (a runaway reply should not take the host's memory).
constexpr uint32_t kMaxFrame = 1u << 31;

struct FrameHeader {
    uint32_t size = 0;
    uint8_t type = 0;
    uint8_t arg = 0;
    uint16_t reserved = 0;
};
static_assert(sizeof(FrameHeader) == 8);

const char* op_name(Op op);

// Payload building and reading for the structured frames.
void put_u32(std::string& out, uint32_t v);
void put_i64(std::string& out, int64_t v);
void put_f64(std::string& out, double v);
void put_str(std::string& out, std::string_view s);

class PayloadReader {
public:
    explicit PayloadReader(std::string_view data) : data_(data) {}
    bool u32(uint32_t& v);
    bool i64(int64_t& v);
    bool f64(double& v);
    bool str(std::string_view& v);

private:
    bool take(void* out, size_t n);
    std::string_view data_;
};

// Blocking I/O on a socket (the worker's side). false on EOF or error.
bool write_frame(int fd, Frame type, uint8_t arg, std::string_view payload);
bool read_frame(int fd, FrameHeader& header, std::string& payload);

}  // namespace plexus::worker
