/*  =========================================================================
    svc_http - an HTTP/JSON server that runs inside its owner's loop

    libmicrohttpd runs in external-epoll mode: it owns one epoll descriptor
    that we poll from the owner's zloop, and does its work only inside
    MHD_run, on the owner's thread. MHD calls the access handler several
    times per request: once when the headers are in (we route then, and
    answer 404, 405, 413 and 414 before reading any body), once per piece
    of body (we collect it up to body_max), and once at the end (we call
    the route's handler). A handler that does not answer at once leaves the
    connection suspended; answering later queues the response and resumes
    the connection. Without a thread of its own MHD has no wake-up channel
    (its epoll descriptor does not turn readable on a resume), so a resume
    re-arms our timer at 0 ms and the loop runs MHD on its next turn. MHD
    tells us when a request is finished (NOTIFY_COMPLETED), which is where
    its state is freed.
    =========================================================================
*/
#include "svc_classes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

//  Longest request path we route; longer paths get 414.
#define S_PATH_MAX 2048
//  Largest number of {param} segments in a route pattern.
#define S_PARAMS_MAX 8
//  First allocation for a body of undeclared length; it doubles as needed.
#define S_BODY_INITIAL 1024
//  Longest method name a route may use.
#define S_METHOD_MAX 16
//  Routes the server registers itself (/healthz, /readyz, /metrics).
#define S_BUILTIN_ROUTES 3
//  MHD limits: per-connection memory (bounds the request line and
//  headers), open connections, and idle seconds before a connection closes.
#define S_CONNECTION_MEMORY (32 * 1024)
#define S_CONNECTIONS_MAX 1024
#define S_CONNECTION_TIMEOUT_S 30
//  Timer used when MHD has no deadline of its own.
#define S_TIMER_FALLBACK_MS 1000
//  How long destroy keeps running MHD so held requests get their 503.
#define S_DRAIN_MS 250
//  Longest MHD log line we pass on.
#define S_LOG_LINE_MAX 512
//  Room for the Allow header of a 405.
#define S_ALLOW_MAX ((SVC_HTTP_ROUTES_MAX + S_BUILTIN_ROUTES) * (S_METHOD_MAX + 2))

#define S_CONTENT_TYPE_JSON "application/json"
#define S_CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

//  One route: method, pattern and what to call.
typedef struct {
    char *method;                 //  "GET", owned
    char *pattern;                //  "/orders/{id}", owned
    svc_http_handler_fn *handler; //  called on the final access call
    void *arg;                    //  handler argument, borrowed
} s_route_t;

struct svc_http {
    struct MHD_Daemon *daemon; //  libmicrohttpd daemon, owned
    svc_log_t *log;            //  logger, borrowed
    svc_metrics_t *metrics;    //  registry for request metrics, borrowed
    int port;                  //  bound TCP port
    int fd;                    //  MHD's epoll descriptor, owned by the daemon
    size_t body_max;           //  largest accepted request body
    bool ready;                //  what /readyz reports
    char *reason;              //  why not ready, owned, may be NULL
    s_route_t routes[SVC_HTTP_ROUTES_MAX + S_BUILTIN_ROUTES]; //  in registration order
    size_t route_count;                                       //  entries used in routes
    zlistx_t *requests; //  every live request, borrowed (freed on completion)
    zloop_t *loop;      //  loop we are attached to, borrowed, or NULL
    int timer_id;       //  our zloop timer, or -1
    size_t draining;    //  requests answered by destroy, not yet completed
    char *refusing;     //  svc_http_refuse's message, or NULL while serving (owned)
    bool resumed;       //  a connection was resumed since MHD last ran
};

struct svc_http_request {
    svc_http_t *server;                //  our server, borrowed
    struct MHD_Connection *connection; //  MHD's connection, borrowed
    void *handle;                      //  our entry in server->requests
    char *method;                      //  request method, owned
    char *path;                        //  decoded path without query, owned
    const s_route_t *route;            //  matched route, or NULL
    size_t param_count;                //  entries used below
    char *param_names[S_PARAMS_MAX];   //  captured {name}s, owned
    char *param_values[S_PARAMS_MAX];  //  captured segments, owned
    char *body;                        //  body received so far, owned, may be NULL
    size_t body_size;                  //  bytes in body
    size_t body_capacity;              //  bytes allocated for body
    zlist_t *headers;                  //  response headers: name, value, ... (autofree)
    int64_t started_us;                //  monotonic clock when the headers were in
    bool dispatched;                   //  the handler has been called
    bool suspended;                    //  connection suspended, waiting for an answer
    bool answered;                     //  a response is queued
    bool draining;                     //  answered 503 by destroy
};

static int s_on_timer(zloop_t *loop, int timer_id, void *arg);
static void s_timer_rearm(svc_http_t *self);

//  ---------------------------------------------------------------------
//  A JSON string for text from outside: jansson refuses invalid UTF-8,
//  so such text is passed on with every non-ASCII byte replaced by '?'.
//  Caller owns return value.

static json_t *
s_json_text(const char *text)
{
    json_t *string = json_string(text);
    if (string) {
        return string;
    }
    char *ascii = strdup(text);
    assert(ascii);
    for (char *cursor = ascii; *cursor; cursor++) {
        if ((unsigned char) *cursor >= 0x80) {
            *cursor = '?';
        }
    }
    string = json_string(ascii);
    freen(ascii);
    assert(string);
    return string;
}

//  ---------------------------------------------------------------------
//  Parse "host:port" (IPv4 dotted quad, "*" or "localhost"; port 0 to
//  65535) into `address`. Returns 0, or -1 if it is not one.

static int
s_address_parse(const char *text, struct sockaddr_in *address)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || colon - text >= INET_ADDRSTRLEN) {
        return -1;
    }
    char host[INET_ADDRSTRLEN];
    memcpy(host, text, (size_t) (colon - text));
    host[colon - text] = '\0';

    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno || port < 0 || port > 65535) {
        return -1;
    }
    memset(address, 0, sizeof(*address));
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t) port);
    if (streq(host, "*")) {
        address->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (streq(host, "localhost")) {
        address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &address->sin_addr) != 1) {
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The end of the path segment that starts at `segment` (a '/'): the next
//  '/' or the terminating NUL.

static const char *
s_segment_end(const char *segment)
{
    const char *slash = strchr(segment + 1, '/');
    return slash ? slash : segment + strlen(segment);
}

//  ---------------------------------------------------------------------
//  Match `path` against `pattern` segment by segment; a "{name}" segment
//  matches one non-empty path segment. If `request` is given, captures
//  the parameters into it. Returns true on a match.

static bool
s_pattern_match(const char *pattern, const char *path, svc_http_request_t *request)
{
    while (*pattern && *path) {
        const char *pattern_end = s_segment_end(pattern);
        const char *path_end = s_segment_end(path);
        size_t pattern_length = (size_t) (pattern_end - pattern);
        size_t path_length = (size_t) (path_end - path);
        if (pattern[0] != '/' || path[0] != '/') {
            return false;
        }
        if (pattern[1] == '{') {
            if (path_length < 2) {
                return false;
            }
            if (request) {
                size_t index = request->param_count++;
                request->param_names[index] = strndup(pattern + 2, pattern_length - 3);
                request->param_values[index] = strndup(path + 1, path_length - 1);
                assert(request->param_names[index] && request->param_values[index]);
            }
        } else if (pattern_length != path_length || memcmp(pattern, path, path_length) != 0) {
            return false;
        }
        pattern = pattern_end;
        path = path_end;
    }
    return *pattern == '\0' && *path == '\0';
}

//  ---------------------------------------------------------------------
//  True if `pattern` is "/" or "/seg/{name}/..." with well-formed
//  parameters and at most S_PARAMS_MAX of them.

static bool
s_pattern_valid(const char *pattern)
{
    if (pattern[0] != '/') {
        return false;
    }
    size_t params = 0;
    const char *segment = pattern;
    while (*segment) {
        const char *end = s_segment_end(segment);
        const char *open = memchr(segment + 1, '{', (size_t) (end - segment - 1));
        const char *close = memchr(segment + 1, '}', (size_t) (end - segment - 1));
        if (open || close) {
            bool whole = open == segment + 1 && close == end - 1 && close - open > 1;
            if (!whole) {
                return false;
            }
            params++;
        }
        segment = end;
    }
    return params <= S_PARAMS_MAX;
}

//  ---------------------------------------------------------------------
//  The method as a metrics label: known methods, else "other", so that
//  clients cannot create series at will.

static const char *
s_method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t index = 0; index < sizeof(known) / sizeof(known[0]); index++) {
        if (streq(method, known[index])) {
            return known[index];
        }
    }
    return "other";
}

//  ---------------------------------------------------------------------
//  Request lifecycle: created on the first access call, destroyed when
//  MHD reports the request complete (or by the server's destroy).

static svc_http_request_t *
s_request_new(svc_http_t *self,
              struct MHD_Connection *connection,
              const char *method,
              const char *url)
{
    svc_http_request_t *request = (svc_http_request_t *) zmalloc(sizeof(svc_http_request_t));
    request->server = self;
    request->connection = connection;
    request->method = strdup(method);
    request->path = strdup(url);
    assert(request->method && request->path);
    request->headers = zlist_new();
    zlist_autofree(request->headers);
    request->started_us = zclock_usecs();
    request->handle = zlistx_add_end(self->requests, request);
    return request;
}

static void
s_request_destroy(svc_http_request_t **request_p)
{
    assert(request_p);
    if (*request_p) {
        svc_http_request_t *request = *request_p;
        zlistx_delete(request->server->requests, request->handle);
        zlist_destroy(&request->headers);
        freen(request->body);
        for (size_t index = 0; index < request->param_count; index++) {
            zstr_free(&request->param_names[index]);
            zstr_free(&request->param_values[index]);
        }
        zstr_free(&request->path);
        zstr_free(&request->method);
        freen(request);
        *request_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Count and log an answered request.

static void
s_request_record(svc_http_request_t *request, unsigned status)
{
    svc_http_t *self = request->server;
    int64_t duration_us = zclock_usecs() - request->started_us;
    const char *route = request->route ? request->route->pattern : "unmatched";
    char status_text[8];
    (void) snprintf(status_text, sizeof(status_text), "%u", status);

    svc_counter_inc(svc_metrics_counter(
        self->metrics, "http_requests_total", "HTTP requests answered", "route", route, "method",
        s_method_label(request->method), "status", status_text, NULL));
    svc_histogram_observe(svc_metrics_histogram(self->metrics, "http_request_duration_seconds",
                                                "Time from request headers to response queued",
                                                "route", route, NULL),
                          (double) duration_us / 1e6);
    svc_log_debug(self->log, "http.request", "{s:s, s:o, s:i, s:I}", "method", request->method,
                  "path", s_json_text(request->path), "status", (int) status, "duration_us",
                  (json_int_t) duration_us);
}

//  ---------------------------------------------------------------------
//  Answer with the error body {"error":{status, code, field, message}}.

static void
s_request_answer_error(svc_http_request_t *request,
                       unsigned status,
                       const char *code,
                       const char *field,
                       const char *message)
{
    json_t *error = json_object();
    json_object_set_new(error, "status", json_integer(status));
    json_object_set_new(error, "code", s_json_text(code));
    json_object_set_new(error, "field", field ? s_json_text(field) : json_null());
    json_object_set_new(error, "message", s_json_text(message));
    json_t *body = json_pack("{s:o}", "error", error);
    assert(body);
    svc_http_respond_json(request, status, &body);
}

//  ---------------------------------------------------------------------
//  Find the route for the request's method and path and capture its
//  parameters. Without one, answer 405 (with Allow) if another method has
//  the path, else 404. Returns 0 if routed, -1 if answered.

static int
s_request_route(svc_http_request_t *request)
{
    svc_http_t *self = request->server;
    char allow[S_ALLOW_MAX] = "";
    for (size_t index = 0; index < self->route_count; index++) {
        const s_route_t *route = &self->routes[index];
        if (!s_pattern_match(route->pattern, request->path, NULL)) {
            continue;
        }
        if (streq(route->method, request->method)) {
            s_pattern_match(route->pattern, request->path, request);
            request->route = route;
            return 0;
        }
        bool listed = false;
        for (size_t earlier = 0; earlier < index; earlier++) {
            listed =
                listed || (streq(self->routes[earlier].method, route->method) &&
                           s_pattern_match(self->routes[earlier].pattern, request->path, NULL));
        }
        if (!listed) {
            size_t used = strlen(allow);
            (void) snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
                            route->method);
        }
    }
    if (*allow) {
        char message[S_ALLOW_MAX + 16];
        (void) snprintf(message, sizeof(message), "allowed: %s", allow);
        svc_http_response_header(request, MHD_HTTP_HEADER_ALLOW, allow);
        s_request_answer_error(request, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
                               message);
    } else {
        s_request_answer_error(request, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no such resource");
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  First access call, headers in: bound the path, route, and refuse a
//  declared body that is too large, all before any body is read.

static enum MHD_Result
s_request_start(svc_http_request_t *request)
{
    svc_http_t *self = request->server;
    if (strlen(request->path) > S_PATH_MAX) {
        s_request_answer_error(request, MHD_HTTP_URI_TOO_LONG, "uri_too_long", NULL,
                               "request path too long");
        return MHD_YES;
    }
    if (s_request_route(request) != 0) {
        return MHD_YES;
    }
    const char *length_text = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length_text) {
        //  MHD has already refused a malformed Content-Length.
        unsigned long long length = strtoull(length_text, NULL, 10);
        if (length > self->body_max) {
            s_request_answer_error(request, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", NULL,
                                   "request body too large");
            return MHD_YES;
        }
        if (length > 0) {
            request->body = (char *) zmalloc((size_t) length);
            request->body_capacity = (size_t) length;
        }
    }
    return MHD_YES;
}

//  ---------------------------------------------------------------------
//  A piece of body: append it, or close the connection once an undeclared
//  (chunked) body grows past body_max; MHD cannot answer in mid-upload,
//  and reading on would let the client choose how much we read.

static enum MHD_Result
s_request_upload(svc_http_request_t *request, const char *data, size_t *size_p)
{
    svc_http_t *self = request->server;
    size_t size = *size_p;
    if (request->body_size + size > self->body_max) {
        s_request_record(request, MHD_HTTP_CONTENT_TOO_LARGE);
        return MHD_NO;
    }
    if (request->body_size + size > request->body_capacity) {
        size_t capacity = request->body_capacity ? request->body_capacity * 2 : S_BODY_INITIAL;
        while (capacity < request->body_size + size) {
            capacity *= 2;
        }
        capacity = capacity < self->body_max ? capacity : self->body_max;
        char *body = (char *) zmalloc(capacity);
        if (request->body_size) {
            memcpy(body, request->body, request->body_size);
        }
        freen(request->body);
        request->body = body;
        request->body_capacity = capacity;
    }
    memcpy(request->body + request->body_size, data, size);
    request->body_size += size;
    *size_p = 0;
    return MHD_YES;
}

//  ---------------------------------------------------------------------
//  Final access call: run the handler; if it kept the request, suspend
//  the connection until it answers.

static void
s_request_dispatch(svc_http_request_t *request)
{
    assert(request->route);
    request->dispatched = true;
    svc_http_t *self = request->server;
    //  The built-in routes come first in the table and keep answering.
    if (self->refusing && request->route >= self->routes + S_BUILTIN_ROUTES) {
        s_request_answer_error(request, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                               self->refusing);
        return;
    }
    request->route->handler(request, request->route->arg);
    if (!request->answered) {
        request->suspended = true;
        MHD_suspend_connection(request->connection);
    }
}

//  ---------------------------------------------------------------------
//  MHD's access handler (see the file header for the call sequence).

static enum MHD_Result
s_access_handler(void *cls,
                 struct MHD_Connection *connection,
                 const char *url,
                 const char *method,
                 const char *version,
                 const char *upload_data,
                 size_t *upload_data_size,
                 void **con_cls)
{
    svc_http_t *self = (svc_http_t *) cls;
    svc_http_request_t *request = (svc_http_request_t *) *con_cls;
    (void) version;
    if (!request) {
        request = s_request_new(self, connection, method, url);
        *con_cls = request;
        return s_request_start(request);
    }
    if (*upload_data_size > 0) {
        return s_request_upload(request, upload_data, upload_data_size);
    }
    if (!request->dispatched && !request->answered) {
        s_request_dispatch(request);
    }
    return MHD_YES;
}

//  ---------------------------------------------------------------------
//  MHD reports a request finished (sent, failed or closed): free it.

static void
s_request_completed(void *cls,
                    struct MHD_Connection *connection,
                    void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    svc_http_t *self = (svc_http_t *) cls;
    svc_http_request_t *request = (svc_http_request_t *) *con_cls;
    (void) connection;
    (void) toe;
    if (request) {
        if (request->draining) {
            self->draining--;
        }
        s_request_destroy(&request);
        *con_cls = NULL;
    }
}

//  ---------------------------------------------------------------------
//  MHD's error log goes to our log; MHD formats printf-style.

static void
s_mhd_log(void *cls, const char *format, va_list args)
{
    svc_http_t *self = (svc_http_t *) cls;
    if (!svc_log_enabled(self->log, SVC_LOG_WARN)) {
        return;
    }
    //  Keep errno: svc_http_new reports it after a failed start.
    int saved_errno = errno;
    char line[S_LOG_LINE_MAX];
    int length = vsnprintf(line, sizeof(line), format, args);
    if (length >= 0) {
        size_t end = strlen(line);
        while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r')) {
            line[--end] = '\0';
        }
        svc_log_warn(self->log, "http.mhd", "{s:o}", "msg", s_json_text(line));
    }
    errno = saved_errno;
}

//  ---------------------------------------------------------------------
//  Built-in routes.

static void
s_handle_healthz(svc_http_request_t *request, void *arg)
{
    (void) arg;
    json_t *body = json_pack("{s:s}", "status", "ok");
    svc_http_respond_json(request, MHD_HTTP_OK, &body);
}

static void
s_handle_readyz(svc_http_request_t *request, void *arg)
{
    svc_http_t *self = (svc_http_t *) arg;
    json_t *body = self->ready ? json_pack("{s:s}", "status", "ready")
                               : json_pack("{s:s, s:o}", "status", "not ready", "reason",
                                           s_json_text(self->reason ? self->reason : ""));
    svc_http_respond_json(request, self->ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, &body);
}

static void
s_handle_metrics(svc_http_request_t *request, void *arg)
{
    svc_http_t *self = (svc_http_t *) arg;
    char *text = svc_metrics_render(self->metrics);
    svc_http_respond_text(request, MHD_HTTP_OK, S_CONTENT_TYPE_METRICS, text);
    zstr_free(&text);
}

//  ---------------------------------------------------------------------
//  Start MHD on `address`. Returns the daemon, or NULL (errno says why).

static struct MHD_Daemon *
s_daemon_start(svc_http_t *self, const struct sockaddr_in *address)
{
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    //  MHD wants its logger first, or it warns (through the default
    //  logger, on stderr) that earlier options could not log.
    return MHD_start_daemon(
        flags, 0, NULL, NULL, s_access_handler, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) address, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t) S_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, (unsigned int) S_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, s_request_completed, self, MHD_OPTION_END);
}

//  ---------------------------------------------------------------------
//  Create a server listening on `address`. Returns NULL if the address
//  is invalid or cannot be bound. Caller owns return value.

svc_http_t *
svc_http_new(const char *address, svc_log_t *log, svc_metrics_t *metrics)
{
    assert(address);
    assert(log);
    assert(metrics);
    struct sockaddr_in sockaddr;
    if (s_address_parse(address, &sockaddr) != 0) {
        svc_log_error(log, "http.bind.failed", "{s:o, s:s}", "address", s_json_text(address), "msg",
                      "not a host:port address");
        return NULL;
    }
    svc_http_t *self = (svc_http_t *) zmalloc(sizeof(svc_http_t));
    self->log = log;
    self->metrics = metrics;
    self->body_max = (size_t) SVC_HTTP_BODY_MAX_DEFAULT;
    self->timer_id = -1;
    self->reason = strdup("starting");
    assert(self->reason);
    self->requests = zlistx_new();
    self->daemon = s_daemon_start(self, &sockaddr);
    if (!self->daemon) {
        svc_log_error(log, "http.bind.failed", "{s:o, s:s}", "address", s_json_text(address), "msg",
                      strerror(errno));
        svc_http_destroy(&self);
        return NULL;
    }
    self->port = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    self->fd = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    svc_http_route(self, "GET", "/healthz", s_handle_healthz, self);
    svc_http_route(self, "GET", "/readyz", s_handle_readyz, self);
    svc_http_route(self, "GET", "/metrics", s_handle_metrics, self);
    svc_log_info(log, "http.listening", "{s:o, s:i}", "address", s_json_text(address), "port",
                 self->port);
    return self;
}

//  ---------------------------------------------------------------------
//  Answer 503 to every held request, then run MHD for at most S_DRAIN_MS
//  so those answers leave before the daemon closes the connections.

static void
s_drain_held(svc_http_t *self)
{
    svc_http_request_t *request = (svc_http_request_t *) zlistx_first(self->requests);
    while (request) {
        if (request->suspended) {
            request->draining = true;
            self->draining++;
            svc_http_response_header(request, MHD_HTTP_HEADER_CONNECTION, "close");
            svc_http_respond_error(request, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                                   "server is shutting down");
        }
        request = (svc_http_request_t *) zlistx_next(self->requests);
    }
    int64_t deadline = zclock_mono() + S_DRAIN_MS;
    while (self->draining > 0) {
        svc_http_run(self);
        int64_t remaining = deadline - zclock_mono();
        if (self->draining == 0 || remaining <= 0) {
            break;
        }
        long wait_ms = svc_http_timeout_ms(self);
        if (wait_ms < 0 || wait_ms > remaining) {
            wait_ms = (long) remaining;
        }
        struct pollfd item = {self->fd, POLLIN, 0};
        if (poll(&item, 1, (int) wait_ms) < 0 && errno != EINTR) {
            break;
        }
    }
}

//  ---------------------------------------------------------------------
//  Stop listening, answer held requests 503, free everything.

void
svc_http_destroy(svc_http_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        svc_http_t *self = *self_p;
        svc_http_detach(self);
        if (self->daemon) {
            s_drain_held(self);
            MHD_stop_daemon(self->daemon);
            self->daemon = NULL;
        }
        //  MHD_stop_daemon reports every request it knew as completed;
        //  this only guards against a request it never reported.
        svc_http_request_t *request = (svc_http_request_t *) zlistx_first(self->requests);
        while (request) {
            s_request_destroy(&request);
            request = (svc_http_request_t *) zlistx_first(self->requests);
        }
        zlistx_destroy(&self->requests);
        for (size_t index = 0; index < self->route_count; index++) {
            zstr_free(&self->routes[index].pattern);
            zstr_free(&self->routes[index].method);
        }
        zstr_free(&self->refusing);
        zstr_free(&self->reason);
        freen(self);
        *self_p = NULL;
    }
}

int
svc_http_port(const svc_http_t *self)
{
    assert(self);
    return self->port;
}

void
svc_http_set_body_max(svc_http_t *self, size_t bytes)
{
    assert(self);
    self->body_max = bytes;
}

void
svc_http_refuse(svc_http_t *self, const char *message)
{
    assert(self);
    assert(message);
    zstr_free(&self->refusing);
    self->refusing = strdup(message);
}

void
svc_http_set_ready(svc_http_t *self, bool ready, const char *reason)
{
    assert(self);
    zstr_free(&self->reason);
    if (reason) {
        self->reason = strdup(reason);
        assert(self->reason);
    }
    self->ready = ready;
}

//  ---------------------------------------------------------------------
//  Register a handler for `method` and `pattern`.

void
svc_http_route(svc_http_t *self,
               const char *method,
               const char *pattern,
               svc_http_handler_fn *handler,
               void *arg)
{
    assert(self);
    assert(method && *method && strlen(method) <= S_METHOD_MAX);
    assert(pattern && s_pattern_valid(pattern));
    assert(handler);
    assert(self->route_count < SVC_HTTP_ROUTES_MAX + S_BUILTIN_ROUTES);
    s_route_t *route = &self->routes[self->route_count++];
    route->method = strdup(method);
    route->pattern = strdup(pattern);
    assert(route->method && route->pattern);
    route->handler = handler;
    route->arg = arg;
}

//  ---------------------------------------------------------------------
//  Loop integration: the poller and the timer both run MHD and then
//  re-arm the timer from MHD's next deadline.

static void
s_timer_rearm(svc_http_t *self)
{
    if (self->timer_id != -1) {
        zloop_timer_end(self->loop, self->timer_id);
    }
    long timeout_ms = svc_http_timeout_ms(self);
    if (timeout_ms < 0 || timeout_ms > S_TIMER_FALLBACK_MS) {
        timeout_ms = S_TIMER_FALLBACK_MS;
    }
    self->timer_id = zloop_timer(self->loop, (size_t) timeout_ms, 1, s_on_timer, self);
}

static int
s_on_readable(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    svc_http_t *self = (svc_http_t *) arg;
    (void) loop;
    (void) item;
    svc_http_run(self);
    s_timer_rearm(self);
    return 0;
}

static int
s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    svc_http_t *self = (svc_http_t *) arg;
    (void) loop;
    (void) timer_id;
    //  A one-shot timer: zloop drops it after this call.
    self->timer_id = -1;
    svc_http_run(self);
    s_timer_rearm(self);
    return 0;
}

int
svc_http_attach(svc_http_t *self, zloop_t *loop)
{
    assert(self);
    assert(loop);
    assert(!self->loop);
    zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
    if (zloop_poller(loop, &item, s_on_readable, self) != 0) {
        return -1;
    }
    self->loop = loop;
    s_timer_rearm(self);
    return 0;
}

void
svc_http_detach(svc_http_t *self)
{
    assert(self);
    if (self->loop) {
        zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
        zloop_poller_end(self->loop, &item);
        if (self->timer_id != -1) {
            zloop_timer_end(self->loop, self->timer_id);
            self->timer_id = -1;
        }
        self->loop = NULL;
    }
}

int
svc_http_fd(const svc_http_t *self)
{
    assert(self);
    return self->fd;
}

long
svc_http_timeout_ms(const svc_http_t *self)
{
    assert(self);
    if (self->resumed) {
        return 0;
    }
    MHD_UNSIGNED_LONG_LONG timeout = 0;
    if (MHD_get_timeout(self->daemon, &timeout) != MHD_YES) {
        return -1;
    }
    return timeout > LONG_MAX ? LONG_MAX : (long) timeout;
}

void
svc_http_run(svc_http_t *self)
{
    assert(self);
    self->resumed = false;
    MHD_run(self->daemon);
}

//  ---------------------------------------------------------------------
//  Request accessors.

const char *
svc_http_request_method(const svc_http_request_t *request)
{
    assert(request);
    return request->method;
}

const char *
svc_http_request_path(const svc_http_request_t *request)
{
    assert(request);
    return request->path;
}

const char *
svc_http_request_param(const svc_http_request_t *request, const char *name)
{
    assert(request);
    assert(name);
    for (size_t index = 0; index < request->param_count; index++) {
        if (streq(request->param_names[index], name)) {
            return request->param_values[index];
        }
    }
    return NULL;
}

const char *
svc_http_request_query(const svc_http_request_t *request, const char *key)
{
    assert(request);
    assert(key);
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, key);
}

int
svc_http_request_query_int(svc_http_request_t *request,
                           const char *key,
                           int64_t fallback,
                           int64_t min,
                           int64_t max,
                           int64_t *out)
{
    assert(request);
    assert(key);
    assert(min <= max);
    assert(out);
    const char *text = svc_http_request_query(request, key);
    if (!text) {
        *out = fallback;
        return 0;
    }
    //  strtoll alone would take " 12", "+12" and "12abc"'s prefix.
    char *end = NULL;
    errno = 0;
    long long value = (*text >= '0' && *text <= '9') || *text == '-' ? strtoll(text, &end, 10) : 0;
    if (!end || *end != '\0' || errno == ERANGE || value < min || value > max) {
        char *message =
            zsys_sprintf("must be an integer between %" PRId64 " and %" PRId64, min, max);
        s_request_answer_error(request, 400, "invalid_value", key, message);
        zstr_free(&message);
        return -1;
    }
    *out = value;
    return 0;
}

const char *
svc_http_request_header(const svc_http_request_t *request, const char *name)
{
    assert(request);
    assert(name);
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

const char *
svc_http_request_body(const svc_http_request_t *request)
{
    assert(request);
    return request->body ? request->body : "";
}

size_t
svc_http_request_body_size(const svc_http_request_t *request)
{
    assert(request);
    return request->body_size;
}

//  ---------------------------------------------------------------------
//  True if `type` is application/json, with or without parameters.

static bool
s_content_type_is_json(const char *type)
{
    if (!type) {
        return false;
    }
    while (*type == ' ' || *type == '\t') {
        type++;
    }
    size_t length = strlen(S_CONTENT_TYPE_JSON);
    if (strncasecmp(type, S_CONTENT_TYPE_JSON, length) != 0) {
        return false;
    }
    char next = type[length];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

//  ---------------------------------------------------------------------
//  Parse the body as a JSON object, or answer 415/400 and return NULL.
//  Duplicate keys are refused: two values for one field is ambiguous.

json_t *
svc_http_request_json(svc_http_request_t *request)
{
    assert(request);
    assert(!request->answered);
    if (!s_content_type_is_json(svc_http_request_header(request, "Content-Type"))) {
        svc_http_respond_error(request, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                               NULL, "Content-Type must be application/json");
        return NULL;
    }
    json_error_t error;
    json_t *body = json_loadb(svc_http_request_body(request), request->body_size,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!body) {
        char message[JSON_ERROR_TEXT_LENGTH + 64];
        (void) snprintf(message, sizeof(message), "invalid JSON at line %d, column %d: %s",
                        error.line, error.column, error.text);
        svc_http_respond_error(request, MHD_HTTP_BAD_REQUEST, "malformed_json", NULL, message);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        svc_http_respond_error(request, MHD_HTTP_BAD_REQUEST, "invalid_body", NULL,
                               "body must be a JSON object");
        return NULL;
    }
    return body;
}

//  ---------------------------------------------------------------------
//  Responses.

void
svc_http_response_header(svc_http_request_t *request, const char *name, const char *value)
{
    assert(request);
    assert(name);
    assert(value);
    assert(!request->answered);
    zlist_append(request->headers, (void *) name);
    zlist_append(request->headers, (void *) value);
}

//  ---------------------------------------------------------------------
//  Queue the response (MHD copies `body`), record it, and resume the
//  connection if the handler had kept the request.

static void
s_request_answer(svc_http_request_t *request,
                 unsigned status,
                 const char *content_type,
                 const char *body,
                 size_t size)
{
    svc_http_t *self = request->server;
    assert(!request->answered);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(size, (void *) body, MHD_RESPMEM_MUST_COPY);
    assert(response);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    const char *name = (const char *) zlist_first(request->headers);
    while (name) {
        const char *value = (const char *) zlist_next(request->headers);
        if (MHD_add_response_header(response, name, value) != MHD_YES) {
            svc_log_warn(self->log, "http.header.refused", "{s:o}", "name", s_json_text(name));
        }
        name = (const char *) zlist_next(request->headers);
    }
    if (MHD_queue_response(request->connection, status, response) != MHD_YES) {
        svc_log_warn(self->log, "http.response.refused", "{s:o, s:i}", "path",
                     s_json_text(request->path), "status", (int) status);
    }
    MHD_destroy_response(response);
    request->answered = true;
    s_request_record(request, status);
    if (request->suspended) {
        request->suspended = false;
        MHD_resume_connection(request->connection);
        //  Without its own thread MHD has no wake-up channel, and its
        //  timeout does not count resumed connections: run it soon.
        self->resumed = true;
        if (self->loop) {
            s_timer_rearm(self);
        }
    }
}

void
svc_http_respond_json(svc_http_request_t *request, unsigned status, json_t **body_p)
{
    assert(request);
    assert(body_p && *body_p);
    char *text = json_dumps(*body_p, JSON_COMPACT);
    assert(text);
    s_request_answer(request, status, S_CONTENT_TYPE_JSON, text, strlen(text));
    free(text);
    json_decref(*body_p);
    *body_p = NULL;
}

void
svc_http_respond_error(svc_http_request_t *request,
                       unsigned status,
                       const char *code,
                       const char *field,
                       const char *message)
{
    assert(request);
    assert(code);
    assert(message);
    s_request_answer_error(request, status, code, field, message);
}

void
svc_http_respond_text(svc_http_request_t *request,
                      unsigned status,
                      const char *content_type,
                      const char *text)
{
    assert(request);
    assert(content_type);
    assert(text);
    s_request_answer(request, status, content_type, text, strlen(text));
}
