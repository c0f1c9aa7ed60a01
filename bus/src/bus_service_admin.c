/*  =========================================================================
    bus_service_admin - the dead-letter admin routes of every service

    GET lists (keyset pages: "next" is the last id when the page is full,
    so the caller passes it as `after`), POST .../retry marks a dead letter
    for its consumer group to re-apply, DELETE discards it. All three run
    one statement on the query connection; when it is down (or the
    statement fails), the answer is 503 unavailable and a lost connection
    is handed back to bus_service to re-establish.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_inbox.h"
#include "bus_service.h"
#include "bus_service_admin.h"

#include <errno.h>

//  Longest decimal id we read: INT64_MAX has 19 digits.
#define S_ID_DIGITS_MAX 19

//  --------------------------------------------------------------------------
//  Answer 503 after a failed statement (or none could run), and report a
//  lost connection.

static void
s_answer_unavailable(bus_service_t *service, svc_http_request_t *request, const char *error)
{
    PGconn *conn = bus_service_conn(service);
    if (error) {
        svc_log_warn(bus_service_log(service), "bus.service.admin.failed", "{s:s, s:s}", "path",
                     svc_http_request_path(request), "error", error);
    }
    if (conn && PQstatus(conn) == CONNECTION_BAD) {
        bus_service_conn_lost(service);
    }
    svc_http_respond_error(request, 503, "unavailable", NULL, "database unreachable");
}

//  --------------------------------------------------------------------------
//  The {id} parameter: a positive decimal int64. Returns it, or 0 after
//  answering 400.

static int64_t
s_request_id(svc_http_request_t *request)
{
    const char *text = svc_http_request_param(request, "id");
    size_t length = text ? strlen(text) : 0;
    bool digits = length > 0 && length <= S_ID_DIGITS_MAX;
    for (size_t index = 0; digits && index < length; index++) {
        digits = text[index] >= '0' && text[index] <= '9';
    }
    long long id = 0;
    if (digits) {
        errno = 0;
        id = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            id = 0;
        }
    }
    if (id <= 0) {
        svc_http_respond_error(request, 400, "invalid_value", "id", "must be a positive integer");
        return 0;
    }
    return (int64_t) id;
}

//  --------------------------------------------------------------------------
//  GET /dead-letters?consumer=&after=&limit=

static void
s_handle_list(svc_http_request_t *request, void *arg)
{
    bus_service_t *service = arg;
    const char *consumer = svc_http_request_query(request, "consumer");
    if (consumer && (!*consumer || strlen(consumer) > BUS_SERVICE_ADMIN_CONSUMER_MAX)) {
        svc_http_respond_error(request, 400, "invalid_value", "consumer", "must be 1-64 bytes");
        return;
    }
    int64_t after = 0, limit = 0;
    if (svc_http_request_query_int(request, "after", 0, 0, INT64_MAX, &after) != 0 ||
        svc_http_request_query_int(request, "limit", BUS_SERVICE_ADMIN_LIMIT_DEFAULT, 1,
                                   BUS_INBOX_LIST_MAX, &limit) != 0) {
        return;
    }
    PGconn *conn = bus_service_conn(service);
    if (!conn) {
        s_answer_unavailable(service, request, NULL);
        return;
    }
    json_t *items = NULL;
    char *error = NULL;
    if (bus_inbox_dead_letters(conn, consumer, after, (int) limit, &items, &error) != BUS_OK) {
        s_answer_unavailable(service, request, error);
        zstr_free(&error);
        return;
    }
    size_t count = json_array_size(items);
    json_t *next = json_null();
    if (count == (size_t) limit) {
        next = json_incref(json_object_get(json_array_get(items, count - 1), "id"));
    }
    json_t *body = json_pack("{s:o, s:o}", "items", items, "next", next);
    svc_http_respond_json(request, 200, &body);
}

//  --------------------------------------------------------------------------
//  POST /dead-letters/{id}/retry and DELETE /dead-letters/{id}

static void
s_handle_change(svc_http_request_t *request,
                bus_service_t *service,
                bus_rc_t (*change)(PGconn *, int64_t, char **),
                unsigned status,
                const char *status_text)
{
    int64_t id = s_request_id(request);
    if (id == 0) {
        return;
    }
    PGconn *conn = bus_service_conn(service);
    if (!conn) {
        s_answer_unavailable(service, request, NULL);
        return;
    }
    char *error = NULL;
    bus_rc_t rc = change(conn, id, &error);
    if (rc == BUS_OK) {
        json_t *body = json_pack("{s:I, s:s}", "id", (json_int_t) id, "status", status_text);
        svc_http_respond_json(request, status, &body);
    } else if (rc == BUS_NOT_FOUND) {
        svc_http_respond_error(request, 404, "not_found", "id", "no such dead letter");
    } else {
        s_answer_unavailable(service, request, error);
    }
    zstr_free(&error);
}

static void
s_handle_retry(svc_http_request_t *request, void *arg)
{
    s_handle_change(request, arg, bus_inbox_retry, 202, "retry_requested");
}

static void
s_handle_discard(svc_http_request_t *request, void *arg)
{
    s_handle_change(request, arg, bus_inbox_discard, 200, "discarded");
}

//  --------------------------------------------------------------------------
//  Register the routes.

void
bus_service_admin_routes(bus_service_t *service)
{
    assert(service);
    svc_http_t *http = bus_service_http(service);
    svc_http_route(http, "GET", "/dead-letters", s_handle_list, service);
    svc_http_route(http, "POST", "/dead-letters/{id}/retry", s_handle_retry, service);
    svc_http_route(http, "DELETE", "/dead-letters/{id}", s_handle_discard, service);
}
