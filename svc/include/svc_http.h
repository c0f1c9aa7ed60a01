/*  =========================================================================
    svc_http - an HTTP/JSON server that runs inside its owner's loop

    libmicrohttpd in external-epoll mode: no threads of its own. The owning
    actor attaches the server to its zloop (svc_http_attach), which polls
    MHD's epoll descriptor and re-arms a timer from MHD_get_timeout. Handlers
    run on the actor's thread.

    Built-in routes: GET /healthz (200 while the loop runs), GET /readyz (200
    when ready, else 503 with the reason), GET /metrics (the registry in
    Prometheus text format). Request bodies larger than the configured limit
    get 413; every error body is JSON:
        {"error":{"status":400,"code":"invalid_field","field":"items[0].quantity",
                  "message":"must be at least 1"}}

    A handler either responds before returning, or keeps the request and
    responds later from the same thread (the connection is suspended until
    then), which is how a service answers after a group commit:

        static void
        s_handle_create(svc_http_request_t *request, void *arg)
        {
            json_t *body = svc_http_request_json(request);   //  NULL: already answered 4xx
            if (!body)
                return;
            ... queue the work; later: svc_http_respond_json(request, 201, &reply);
        }
        svc_http_route(http, "POST", "/orders", s_handle_create, self);
    =========================================================================
*/
#ifndef SVC_HTTP_H_INCLUDED
#define SVC_HTTP_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_log.h"
#include "svc_metrics.h"

typedef struct svc_http svc_http_t;
typedef struct svc_http_request svc_http_request_t;

//  Default largest request body, in bytes.
#define SVC_HTTP_BODY_MAX_DEFAULT (64 * 1024)
//  Largest number of routes a server holds.
#define SVC_HTTP_ROUTES_MAX 32

//  A route handler. The request is borrowed until it is answered.
typedef void(svc_http_handler_fn)(svc_http_request_t *request, void *arg);

//  Create a server listening on `address` ("127.0.0.1:8080"; port 0 picks a
//  free port, read back with svc_http_port). `log` and `metrics` are
//  borrowed and must outlive the server. Returns NULL if the address is
//  invalid or cannot be bound (the reason is logged as http.bind.failed).
//  Caller owns return value.
svc_http_t *svc_http_new(const char *address, svc_log_t *log, svc_metrics_t *metrics);

//  Stop listening, answer 503 to requests still held (running MHD for at
//  most a quarter second so the answers leave), free everything; nulls the
//  caller's pointer. Detaches from its loop if still attached, so that loop
//  must still exist. Held request pointers are invalid afterwards.
void svc_http_destroy(svc_http_t **self_p);

//  The bound TCP port.
int svc_http_port(const svc_http_t *self);

//  Set the largest accepted request body (default SVC_HTTP_BODY_MAX_DEFAULT).
//  A larger declared Content-Length is answered 413 before any body is
//  read; a chunked body that grows past it gets the connection closed
//  (MHD cannot answer in mid-upload). The handler is never called.
void svc_http_set_body_max(svc_http_t *self, size_t bytes);

//  Set readiness for /readyz; `reason` (copied) is reported while not ready.
//  A new server is not ready, with reason "starting".
void svc_http_set_ready(svc_http_t *self, bool ready, const char *reason);

//  From now on answer every new request on a registered route 503
//  unavailable with `message` (copied), without calling its handler; the
//  built-in routes keep answering. For shutdown: requests already held are
//  answered by their owners as usual. Cannot be undone.
void svc_http_refuse(svc_http_t *self, const char *message);

//  Register a handler for `method` and a path pattern. A pattern segment
//  "{name}" matches one path segment, read with svc_http_request_param:
//  "/orders/{id}/cancel". Routes are tried in registration order.
void svc_http_route(svc_http_t *self,
                    const char *method,
                    const char *pattern,
                    svc_http_handler_fn *handler,
                    void *arg);

//  Join `loop`: poll the server's descriptor and keep its timer armed.
//  Returns 0, or -1 if the loop refused the descriptor.
int svc_http_attach(svc_http_t *self, zloop_t *loop);

//  Leave the loop it was attached to.
void svc_http_detach(svc_http_t *self);

//  For owners that use zpoller instead of zloop: the descriptor to poll,
//  the longest wait before svc_http_run must be called again (-1: none;
//  0 after a held request was answered, since MHD then needs a run that
//  no descriptor event will prompt), and one non-blocking round of work.
int svc_http_fd(const svc_http_t *self);
long svc_http_timeout_ms(const svc_http_t *self);
void svc_http_run(svc_http_t *self);

//  Request accessors. All returned strings are borrowed until the request
//  is answered.
const char *svc_http_request_method(const svc_http_request_t *request);
const char *svc_http_request_path(const svc_http_request_t *request);
//  A path parameter captured by "{name}" in the route pattern, or NULL.
const char *svc_http_request_param(const svc_http_request_t *request, const char *name);
//  A query-string argument (decoded), or NULL if absent.
const char *svc_http_request_query(const svc_http_request_t *request, const char *key);
//  A query-string argument as an integer in [min, max], or `fallback` when
//  it is absent. Returns 0 and sets *out, or -1 after answering the
//  request 400 invalid_value naming `key` (not a decimal integer, or out
//  of range): the request must not be used afterwards.
int svc_http_request_query_int(svc_http_request_t *request,
                               const char *key,
                               int64_t fallback,
                               int64_t min,
                               int64_t max,
                               int64_t *out);

//  A request header (case-insensitive name), or NULL if absent.
const char *svc_http_request_header(const svc_http_request_t *request, const char *name);
//  The raw body (not NUL-terminated) and its size.
const char *svc_http_request_body(const svc_http_request_t *request);
size_t svc_http_request_body_size(const svc_http_request_t *request);

//  Parse the body as a JSON object. If the content type is not
//  application/json (parameters allowed), the request is answered 415
//  unsupported_media_type; if the body is not valid JSON (duplicate keys
//  included), 400 malformed_json with line and column; if it is not an
//  object, 400 invalid_body. Then NULL is returned. Caller owns return
//  value (json_decref).
json_t *svc_http_request_json(svc_http_request_t *request);

//  Add a header to the response that will be sent (Location, ...).
void svc_http_response_header(svc_http_request_t *request, const char *name, const char *value);

//  Answer with a JSON body; takes ownership of *body_p and nulls it.
//  The request must not be used afterwards.
void svc_http_respond_json(svc_http_request_t *request, unsigned status, json_t **body_p);

//  Answer with a JSON error body {"error":{status, code, field, message}};
//  `field` may be NULL. The request must not be used afterwards.
void svc_http_respond_error(svc_http_request_t *request,
                            unsigned status,
                            const char *code,
                            const char *field,
                            const char *message);

//  Answer with a text body of `content_type`. The request must not be used
//  afterwards.
void svc_http_respond_text(svc_http_request_t *request,
                           unsigned status,
                           const char *content_type,
                           const char *text);

#endif
