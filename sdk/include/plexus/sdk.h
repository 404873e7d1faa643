/*
 * Plexus connector ABI, version 1 — the C boundary between the host and a connector.
 *
 * Everything that crosses this boundary is C: strings are pointer + length (UTF-8, not
 * NUL-terminated unless stated), records travel as JSON text, and each side frees what it
 * allocated. Results come back through a plexus_sink that the host owns: a connector calls
 * sink->write() (as often as it likes; the pieces are appended) and keeps no pointer to
 * what it wrote. No exception may cross: the C++ layer in <plexus/connector.hpp> catches
 * them and turns them into a status and a message.
 *
 * Versioning. Structs that carry `struct_size` grow by appending fields only. A reader
 * treats every field that lies beyond the struct_size it was given as absent. A host
 * refuses a connector whose abi_major differs from its own or whose abi_minor is newer
 * than its own (the connector may rely on host behaviour the host does not have).
 *
 * The JSON documents exchanged here (manifest, settings, read / write / lookup requests
 * and replies) are specified in docs/sdk.md, section "Wire documents".
 */
#ifndef PLEXUS_SDK_H
#define PLEXUS_SDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLEXUS_ABI_MAJOR 1
#define PLEXUS_ABI_MINOR 0

/* The one symbol a connector library exports. */
#define PLEXUS_ENTRY_SYMBOL "plexus_connector_entry_v1"

#if defined(_WIN32)
#define PLEXUS_EXPORT __declspec(dllexport)
#else
#define PLEXUS_EXPORT __attribute__((visibility("default")))
#endif

/* What a call ended with. Values are stable: they are part of the ABI. */
typedef enum plexus_status {
    PLEXUS_OK = 0,
    PLEXUS_ERR_AUTH = 1,        /* credentials refused; the host ends the run at once        */
    PLEXUS_ERR_RATE_LIMIT = 2,  /* the API budget is spent; the run ends "partial"            */
    PLEXUS_ERR_VALIDATION = 3,  /* the remote system refused the data; retrying will not help */
    PLEXUS_ERR_CONFLICT = 4,    /* the record exists / changed underneath                     */
    PLEXUS_ERR_TRANSIENT = 5,   /* timeout, 5xx, dropped connection after the host's retries  */
    PLEXUS_ERR_PLUGIN = 6,      /* a bug or unexpected state inside the connector             */
    PLEXUS_ERR_NOT_FOUND = 7,   /* lookup found nothing (not an error for lookups)            */
    PLEXUS_ERR_CANCELLED = 8,   /* the host asked to stop                                     */
    PLEXUS_ERR_CONFIG = 9       /* settings are unusable (bad path, unknown entity …)         */
} plexus_status;

/* A borrowed byte string. Valid only for the duration of the call it is passed to. */
typedef struct plexus_str {
    const char *data;
    size_t size;
} plexus_str;

/* A host-owned output buffer. write() appends; the host copies the bytes before returning. */
typedef struct plexus_sink {
    void *ctx;
    void (*write)(void *ctx, const char *data, size_t size);
} plexus_sink;

/* Log levels for plexus_host_api.log. */
typedef enum plexus_log_level {
    PLEXUS_LOG_DEBUG = 0,
    PLEXUS_LOG_INFO = 1,
    PLEXUS_LOG_WARN = 2,
    PLEXUS_LOG_ERROR = 3
} plexus_log_level;

/* Flags for plexus_http_request.flags. */
#define PLEXUS_HTTP_NO_RETRY 0x1u /* the host makes exactly one attempt */

/* An HTTP request made through the host's client (TLS verified, retries, rate governor). */
typedef struct plexus_http_request {
    uint32_t struct_size;
    plexus_str method;      /* "GET", "POST", …                                        */
    plexus_str url;         /* absolute: scheme://host[:port]/path?query               */
    plexus_str headers;     /* zero or more "Name: value\r\n" lines                     */
    plexus_str body;        /* may be empty                                              */
    uint32_t timeout_ms;    /* 0 = the host's default (30 s)                            */
    uint32_t flags;         /* PLEXUS_HTTP_*                                             */
} plexus_http_request;

/* Receives the final HTTP response (after the host's retries). Called at most once. */
typedef struct plexus_http_response_sink {
    void *ctx;
    void (*on_response)(void *ctx, int32_t status, plexus_str headers, plexus_str body);
} plexus_http_response_sink;

/*
 * Services the host offers a connector instance. Passed to create(); valid until destroy().
 * Every function may be called from the thread that called the connector, only during a
 * call from the host into the connector.
 */
typedef struct plexus_host_api {
    uint32_t struct_size;
    void *host_ctx; /* pass back as the first argument of every function below */

    /* A log line; the host tags it with process, run and connector and redacts secrets. */
    void (*log)(void *host_ctx, plexus_log_level level, plexus_str message);

    /*
     * Perform an HTTP request. Returns PLEXUS_OK when a response arrived (whatever its
     * status code: the connector interprets it) and response->on_response was called.
     * Returns PLEXUS_ERR_TRANSIENT when no response could be had after the host's retries
     * (timeouts, refused or dropped connections, 5xx and 429 retried until the budget ran
     * out — then the last response is delivered and PLEXUS_OK returned),
     * PLEXUS_ERR_CANCELLED when the run is being cancelled, PLEXUS_ERR_CONFIG for a
     * malformed URL. The error text, if any, is written to `error`.
     */
    plexus_status (*http)(void *host_ctx, const plexus_http_request *request,
                          const plexus_http_response_sink *response, const plexus_sink *error);

    /* Wall clock, milliseconds since the Unix epoch (tests may drive it). */
    int64_t (*now_ms)(void *host_ctx);

    /* Non-zero when the host wants the current call to stop soon. */
    int (*cancelled)(void *host_ctx);

    /*
     * Tell the connection's rate governor what the API reported about its own budget
     * (for example Shopify's X-Shopify-Shop-Api-Call-Limit "32/40"): `used` of `capacity`.
     * The governor slows down so the budget is not exceeded. Optional to call.
     */
    void (*rate_observe)(void *host_ctx, double used, double capacity);
} plexus_host_api;

/*
 * The connector descriptor. Static storage in the connector library; the host never
 * writes to it and never frees it.
 *
 * Threading: the host calls one instance from one thread at a time. Different instances
 * (one per run) may be called concurrently from different threads.
 */
typedef struct plexus_connector_v1 {
    uint32_t struct_size; /* sizeof(plexus_connector_v1) as the connector was built */
    uint16_t abi_major;   /* PLEXUS_ABI_MAJOR as the connector was built */
    uint16_t abi_minor;   /* PLEXUS_ABI_MINOR as the connector was built */

    const char *id;            /* NUL-terminated, [a-z0-9_]+, equal to the folder and library name */
    const char *version;       /* NUL-terminated, semantic version of the connector */
    const char *manifest_json; /* NUL-terminated JSON: settings schema and entities (docs/sdk.md) */

    /*
     * Create an instance from settings the host has validated against the manifest
     * (defaults filled in, ${ENV} references resolved). `host` stays valid until destroy.
     * On failure return a status other than PLEXUS_OK and write a message to `error`.
     */
    plexus_status (*create)(const plexus_host_api *host, plexus_str settings_json,
                            void **instance, const plexus_sink *error);

    /* Release an instance. Never fails. */
    void (*destroy)(void *instance);

    /* Check that the connection works (credentials, reachability). Message to `out`. */
    plexus_status (*check)(void *instance, const plexus_sink *out);

    /* Read one page: request and reply are JSON documents (docs/sdk.md, "read"). */
    plexus_status (*read_page)(void *instance, plexus_str request_json, const plexus_sink *out);

    /* Write a batch: one result per record, in order (docs/sdk.md, "write"). */
    plexus_status (*write_batch)(void *instance, plexus_str request_json, const plexus_sink *out);

    /* Find one record by key or by external reference (docs/sdk.md, "lookup"). */
    plexus_status (*lookup)(void *instance, plexus_str request_json, const plexus_sink *out);

    /*
     * Optional (may be NULL): the entities this connector offers for these settings, as a
     * JSON array in the manifest's "entities" shape. For connectors whose entities depend
     * on configuration (the files connector: one entity per configured file). When NULL,
     * the manifest's "entities" are the whole list. Called without an instance.
     */
    plexus_status (*describe_entities)(plexus_str settings_json, const plexus_sink *out);
} plexus_connector_v1;

/* The entry a connector library exports under the name PLEXUS_ENTRY_SYMBOL. */
typedef const plexus_connector_v1 *(*plexus_connector_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PLEXUS_SDK_H */
