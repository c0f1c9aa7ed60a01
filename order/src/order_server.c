/*  =========================================================================
    order_server - the order service's hooks into bus_service

    A command (create, cancel) is validated here, then becomes a call: a
    small heap record owning the command and the held HTTP request, whose
    store work is submitted to the stream's writer. The done callback
    answers from the unit's outcome and frees the call. Nothing is stored
    for a request refused before submission, and a submission refused
    (shutdown) or not committed (BUS_DB_UNAVAILABLE, BUS_CLOSED) is 503:
    nothing was stored, retry.

    Queries (GET) run on the query connection on this thread; a failed one
    whose connection is lost hands it back (bus_service_conn_lost) and
    answers 503.

    The batch handler runs on the writer's thread, so it only touches the
    store's writer side (as the units do; the routes use its query side)
    and the thread-safe log and metrics handles. A batch that is rerun
    runs its handler again: in that rare case a log line or counter of the
    handler can repeat, the database cannot.
    =========================================================================
*/
#include "order_classes.h"
#include "order_api.h"
#include "order_logic.h"
#include "order_server.h"
#include "order_store.h"

const char *const order_server_types[] = {"StockReserved",  "StockRejected", "StockReleased",
                                          "PaymentStarted", "PaymentVoided", NULL};

//  Room for "/orders/<uuid>".
#define S_LOCATION_SIZE (sizeof "/orders/" + SVC_UUID_TEXT_SIZE)

struct order_server {
    bus_service_t *service;         //  our host (borrowed)
    svc_log_t *log;                 //  (borrowed)
    order_store_t *store;           //  SQL and the transition tables (owned)
    svc_counter_t *created;         //  order_created_total (registry's)
    svc_counter_t *cancelled;       //  order_cancelled_total (registry's)
    svc_counter_t *rejected;        //  order_rejected_total (registry's)
    svc_counter_t *unknown_events;  //  order_unknown_events_total (registry's)
    svc_histogram_t *create_commit; //  order_http_commit_seconds{command="create"}
    svc_histogram_t *cancel_commit; //  order_http_commit_seconds{command="cancel"}
};

//  A POST /orders on its way through the writer.
typedef struct {
    order_server_t *server;      //  (borrowed)
    svc_http_request_t *request; //  held until answered (borrowed)
    int64_t started_us;          //  monotonic, when the request was handled
    order_create_t command;      //  the validated command
    char *key;                   //  Idempotency-Key (owned), or NULL
    char *fingerprint;           //  its canonical command (owned), or NULL
    order_store_create_t work;   //  the unit's argument
} s_create_call_t;

//  A POST /orders/{id}/cancel on its way through the writer.
typedef struct {
    order_server_t *server;           //  (borrowed)
    svc_http_request_t *request;      //  held until answered (borrowed)
    int64_t started_us;               //  monotonic, when the request was handled
    char reason[ORDER_REASON_SIZE];   //  the reason
    char trace_id[SVC_TRACE_ID_SIZE]; //  the request's trace id
    order_store_cancel_t work;        //  the unit's argument (owns work.view)
} s_cancel_call_t;

//  --------------------------------------------------------------------------
//  Answers.

//  Refuse a request with an order_api error (logged at debug).
static void
s_refuse(order_server_t *self, svc_http_request_t *request, const order_api_error_t *error)
{
    svc_log_debug(self->log, "order.request.refused", "{s:s, s:s, s:i, s:s, s:s}", "path",
                  svc_http_request_path(request), "code", error->code, "status",
                  (int) error->status, "field", error->field, "msg", error->message);
    svc_http_respond_error(request, error->status, error->code, *error->field ? error->field : NULL,
                           error->message);
}

static void
s_unavailable(svc_http_request_t *request)
{
    svc_http_respond_error(request, 503, "unavailable", NULL,
                           "the database is unreachable or the service is stopping; retry");
}

static void
s_internal(svc_http_request_t *request)
{
    svc_http_respond_error(request, 500, "internal_error", NULL, "the request failed; see the log");
}

//  Answer `status` with the order and its Location.
static void
s_respond_order(svc_http_request_t *request, unsigned status, const order_view_t *view)
{
    char id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&view->order_id, id);
    char location[S_LOCATION_SIZE];
    (void) snprintf(location, sizeof location, "/orders/%s", id);
    svc_http_response_header(request, "Location", location);
    json_t *body = order_api_render(view, true);
    svc_http_respond_json(request, status, &body);
}

//  A query failed: lost connection -> hand it back, 503; else 500.
static void
s_query_failed(order_server_t *self,
               svc_http_request_t *request,
               order_store_rc_t rc,
               const char *error)
{
    if (rc == ORDER_STORE_UNAVAILABLE) {
        svc_log_warn(self->log, "order.query.unavailable", "{s:s}", "error", error ? error : "");
        bus_service_conn_lost(self->service);
        s_unavailable(request);
    } else {
        svc_log_error(self->log, "order.query.failed", "{s:s}", "error", error ? error : "");
        s_internal(request);
    }
}

//  A unit that did not commit: 503 when retrying may help, else 500.
static void
s_unit_failed(order_server_t *self,
              svc_http_request_t *request,
              const char *command,
              const bus_completion_t *done,
              const char *error)
{
    if (done->rc == BUS_DB_UNAVAILABLE || done->rc == BUS_CLOSED) {
        svc_log_warn(self->log, "order.command.unavailable", "{s:s, s:s}", "command", command, "rc",
                     bus_strerror(done->rc));
        s_unavailable(request);
    } else {
        svc_log_error(self->log, "order.command.failed", "{s:s, s:s, s:s}", "command", command,
                      "rc", bus_strerror(done->rc), "error", error);
        s_internal(request);
    }
}

static double
s_seconds_since(int64_t started_us)
{
    return (double) (zclock_usecs() - started_us) / 1e6;
}

//  --------------------------------------------------------------------------
//  POST /orders

static void
s_create_call_destroy(s_create_call_t **call_p)
{
    s_create_call_t *call = *call_p;
    zstr_free(&call->fingerprint);
    zstr_free(&call->key);
    freen(call);
    *call_p = NULL;
}

//  A replay: answer with the order as it is now.
static void
s_create_replayed(s_create_call_t *call)
{
    order_server_t *self = call->server;
    struct pg_conn *conn = bus_service_conn(self->service);
    if (!conn) {
        //  Safe: the same key and body get the same answer later.
        s_unavailable(call->request);
        return;
    }
    order_view_t view = {0};
    char *error = NULL;
    order_store_rc_t rc =
        order_store_get(self->store, conn, &call->work.existing_id, &view, &error);
    if (rc == ORDER_STORE_OK) {
        svc_http_response_header(call->request, "Idempotent-Replayed", "true");
        s_respond_order(call->request, 201, &view);
    } else if (rc == ORDER_STORE_NOT_FOUND) {
        svc_log_error(self->log, "order.idempotency.dangling", "{s:s}", "key", call->key);
        s_internal(call->request);
    } else {
        s_query_failed(self, call->request, rc, error);
    }
    zstr_free(&error);
    order_view_clear(&view);
}

static void
s_create_done(bus_service_t *service, const bus_completion_t *done, void *arg)
{
    (void) service;
    s_create_call_t *call = arg;
    order_server_t *self = call->server;
    order_store_create_t *work = &call->work;
    if (done->rc != BUS_OK) {
        s_unit_failed(self, call->request, "create", done, work->error);
    } else if (work->outcome == ORDER_CREATE_CREATED) {
        svc_histogram_observe(self->create_commit, s_seconds_since(call->started_us));
        svc_counter_inc(self->created);
        order_view_t view = {0};
        order_view_set_created(&view, &work->order_id, &call->command, work->trace_id,
                               work->created_at_us, order_store_stream(self->store),
                               done->last_seq);
        char id[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&work->order_id, id);
        svc_log_info(self->log, "order.created", "{s:s, s:s, s:s, s:I, s:s, s:I, s:i}", "order_id",
                     id, "trace_id", work->trace_id, "stream", order_store_stream(self->store),
                     "seq", (json_int_t) done->last_seq, "currency", call->command.currency,
                     "total_minor", (json_int_t) call->command.total_minor, "items",
                     (int) call->command.item_count);
        s_respond_order(call->request, 201, &view);
        order_view_clear(&view);
    } else if (work->outcome == ORDER_CREATE_REPLAYED) {
        s_create_replayed(call);
    } else {
        order_api_error_t error = {.status = 422,
                                   .code = "idempotency_key_reused",
                                   .field = "Idempotency-Key",
                                   .message = "this Idempotency-Key was used with another request"};
        s_refuse(self, call->request, &error);
    }
    s_create_call_destroy(&call);
}

static void
s_handle_create(svc_http_request_t *request, void *arg)
{
    order_server_t *self = arg;
    int64_t started_us = zclock_usecs();
    order_api_error_t error;
    const char *key = svc_http_request_header(request, "Idempotency-Key");
    if (order_api_check_idempotency_key(key, &error) != 0) {
        s_refuse(self, request, &error);
        return;
    }
    json_t *body = svc_http_request_json(request);
    if (!body) {
        return; //  answered 415 or 400
    }
    s_create_call_t *call = zmalloc(sizeof *call);
    int rc = order_api_parse_create(body, &call->command, &error);
    json_decref(body);
    if (rc != 0) {
        s_refuse(self, request, &error);
        s_create_call_destroy(&call);
        return;
    }
    call->server = self;
    call->request = request;
    call->started_us = started_us;
    call->key = key ? strdup(key) : NULL;
    call->fingerprint = key ? order_api_fingerprint(&call->command) : NULL;
    order_store_create_t *work = &call->work;
    work->store = self->store;
    work->command = &call->command;
    svc_uuid_v7(&work->order_id);
    work->idempotency_key = call->key;
    work->fingerprint = call->fingerprint;
    svc_trace_from_header(svc_http_request_header(request, "traceparent"), work->traceparent);
    svc_trace_id(work->traceparent, work->trace_id);
    work->created_at_us = order_store_now_us();
    if (bus_service_submit_set(self->service, order_store_create_set, order_store_create, work,
                               s_create_done, call) != 0) {
        s_unavailable(request);
        s_create_call_destroy(&call);
    }
}

//  --------------------------------------------------------------------------
//  POST /orders/{id}/cancel

static void
s_cancel_call_destroy(s_cancel_call_t **call_p)
{
    s_cancel_call_t *call = *call_p;
    order_view_clear(&call->work.view);
    freen(call);
    *call_p = NULL;
}

//  409 {"error": {...}, "order": {...}}: the order is already final.
static void
s_cancel_conflict(s_cancel_call_t *call)
{
    char message[ORDER_API_MESSAGE_SIZE];
    (void) snprintf(message, sizeof message, "order is already %s",
                    order_status_name(call->work.status));
    svc_log_debug(call->server->log, "order.request.refused", "{s:s, s:s, s:i, s:s}", "path",
                  svc_http_request_path(call->request), "code", "conflict", "status", 409, "msg",
                  message);
    json_t *body =
        json_pack("{s:{s:i, s:s, s:n, s:s}, s:o}", "error", "status", 409, "code", "conflict",
                  "field", "message", message, "order", order_api_render(&call->work.view, true));
    assert(body);
    svc_http_respond_json(call->request, 409, &body);
}

static void
s_cancel_done(bus_service_t *service, const bus_completion_t *done, void *arg)
{
    (void) service;
    s_cancel_call_t *call = arg;
    order_server_t *self = call->server;
    order_store_cancel_t *work = &call->work;
    char id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&work->order_id, id);
    if (done->rc != BUS_OK) {
        s_unit_failed(self, call->request, "cancel", done, work->error);
    } else if (work->outcome == ORDER_CANCEL_NOT_FOUND) {
        svc_http_respond_error(call->request, 404, "not_found", "id", "no such order");
    } else if (work->outcome == ORDER_CANCEL_REFUSED) {
        s_cancel_conflict(call);
    } else {
        svc_histogram_observe(self->cancel_commit, s_seconds_since(call->started_us));
        svc_counter_inc(self->cancelled);
        //  The unit read the order before the writer numbered its event.
        order_view_t *view = &work->view;
        if (view->history_count > 0) {
            order_history_entry_t *last = &view->history[view->history_count - 1];
            if (last->seq == 0 && streq(last->event, "OrderCancelled")) {
                last->seq = done->last_seq;
            }
        }
        svc_log_info(self->log, "order.cancelled", "{s:s, s:s, s:s, s:I, s:s}", "order_id", id,
                     "trace_id", call->trace_id, "stream", order_store_stream(self->store), "seq",
                     (json_int_t) done->last_seq, "reason", call->reason);
        s_respond_order(call->request, 200, view);
    }
    s_cancel_call_destroy(&call);
}

static void
s_handle_cancel(svc_http_request_t *request, void *arg)
{
    order_server_t *self = arg;
    int64_t started_us = zclock_usecs();
    order_api_error_t error;
    svc_uuid_t order_id;
    if (order_api_parse_id(svc_http_request_param(request, "id"), "id", &order_id, &error) != 0) {
        s_refuse(self, request, &error);
        return;
    }
    //  The body is optional: none at all means the default reason.
    json_t *body = NULL;
    if (svc_http_request_body_size(request) > 0) {
        body = svc_http_request_json(request);
        if (!body) {
            return; //  answered 415 or 400
        }
    }
    s_cancel_call_t *call = zmalloc(sizeof *call);
    int rc = order_api_parse_cancel(body, call->reason, &error);
    json_decref(body);
    if (rc != 0) {
        s_refuse(self, request, &error);
        s_cancel_call_destroy(&call);
        return;
    }
    call->server = self;
    call->request = request;
    call->started_us = started_us;
    order_store_cancel_t *work = &call->work;
    work->store = self->store;
    work->order_id = order_id;
    work->reason = call->reason;
    svc_trace_from_header(svc_http_request_header(request, "traceparent"), work->traceparent);
    svc_trace_id(work->traceparent, call->trace_id);
    work->cancelled_at_us = order_store_now_us();
    if (bus_service_submit(self->service, order_store_cancel, work, s_cancel_done, call) != 0) {
        s_unavailable(request);
        s_cancel_call_destroy(&call);
    }
}

//  --------------------------------------------------------------------------
//  GET /orders/{id}

static void
s_handle_get(svc_http_request_t *request, void *arg)
{
    order_server_t *self = arg;
    order_api_error_t error;
    svc_uuid_t order_id;
    if (order_api_parse_id(svc_http_request_param(request, "id"), "id", &order_id, &error) != 0) {
        s_refuse(self, request, &error);
        return;
    }
    struct pg_conn *conn = bus_service_conn(self->service);
    if (!conn) {
        s_unavailable(request);
        return;
    }
    order_view_t view = {0};
    char *message = NULL;
    order_store_rc_t rc = order_store_get(self->store, conn, &order_id, &view, &message);
    if (rc == ORDER_STORE_OK) {
        json_t *body = order_api_render(&view, true);
        svc_http_respond_json(request, 200, &body);
    } else if (rc == ORDER_STORE_NOT_FOUND) {
        svc_http_respond_error(request, 404, "not_found", "id", "no such order");
    } else {
        s_query_failed(self, request, rc, message);
    }
    zstr_free(&message);
    order_view_clear(&view);
}

//  --------------------------------------------------------------------------
//  GET /orders?customerId=&limit=&after=

static void
s_handle_list(svc_http_request_t *request, void *arg)
{
    order_server_t *self = arg;
    order_api_error_t error;
    const char *customer_id = svc_http_request_query(request, "customerId");
    if (order_api_check_customer_id(customer_id, &error) != 0) {
        s_refuse(self, request, &error);
        return;
    }
    int64_t limit = 0;
    if (svc_http_request_query_int(request, "limit", ORDER_LIST_LIMIT_DEFAULT, 1,
                                   ORDER_LIST_LIMIT_MAX, &limit) != 0) {
        return; //  answered 400
    }
    const char *after_text = svc_http_request_query(request, "after");
    svc_uuid_t after;
    if (after_text && order_api_parse_id(after_text, "after", &after, &error) != 0) {
        s_refuse(self, request, &error);
        return;
    }
    struct pg_conn *conn = bus_service_conn(self->service);
    if (!conn) {
        s_unavailable(request);
        return;
    }
    order_page_t page = {0};
    char *message = NULL;
    order_store_rc_t rc = order_store_list(
        self->store, conn, customer_id, after_text ? &after : NULL, (int) limit, &page, &message);
    if (rc == ORDER_STORE_OK) {
        json_t *items = json_array();
        for (size_t index = 0; index < page.count; index++) {
            json_array_append_new(items, order_api_render(&page.views[index], false));
        }
        json_t *next = json_null();
        if (page.more && page.count > 0) {
            char id[SVC_UUID_TEXT_SIZE];
            svc_uuid_format(&page.views[page.count - 1].order_id, id);
            json_decref(next);
            next = json_string(id);
        }
        json_t *body = json_pack("{s:o, s:o}", "items", items, "next", next);
        svc_http_respond_json(request, 200, &body);
    } else {
        s_query_failed(self, request, rc, message);
    }
    zstr_free(&message);
    order_page_clear(&page);
}

//  --------------------------------------------------------------------------
//  The read model's handler: the store applies the batch, then each event
//  is logged and counted.

static void
s_applied(order_server_t *self, const Ev__V1__Envelope *event, const order_store_applied_t *applied)
{
    if (!applied->handled) {
        return;
    }
    char id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&applied->order_id, id);
    if (!applied->known) {
        svc_counter_inc(self->unknown_events);
        svc_log_debug(self->log, "order.event.unknown_order", "{s:s, s:s, s:s, s:I}", "order_id",
                      id, "event", event->type, "stream", event->stream, "seq",
                      (json_int_t) event->seq);
        return;
    }
    if (!applied->recorded) {
        svc_log_debug(self->log, "order.event.duplicate", "{s:s, s:s, s:s, s:I}", "order_id", id,
                      "event", event->type, "stream", event->stream, "seq",
                      (json_int_t) event->seq);
        return;
    }
    if (applied->after.status != applied->before.status) {
        svc_log_info(self->log, "order.status.changed", "{s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
                     "order_id", id, "trace_id", applied->trace_id, "from",
                     order_status_name(applied->before.status), "to",
                     order_status_name(applied->after.status), "event", event->type, "stream",
                     event->stream, "seq", (json_int_t) event->seq);
    }
    if (applied->compensated) {
        svc_counter_inc(self->rejected);
        svc_log_info(self->log, "order.compensated", "{s:s, s:s, s:s, s:s, s:I, s:s}", "order_id",
                     id, "trace_id", applied->trace_id, "event", event->type, "stream",
                     event->stream, "seq", (json_int_t) event->seq, "reason", applied->reason);
    }
}

int
order_server_apply(bus_apply_t *apply,
                   const Ev__V1__Envelope *const *events,
                   size_t count,
                   void *state)
{
    assert(apply);
    assert(events);
    assert(state);
    order_server_t *self = state;
    order_store_applied_t *applied = zmalloc(count * sizeof *applied);
    int rc = order_store_apply(self->store, apply, events, count, applied);
    for (size_t index = 0; rc == 0 && index < count; index++) {
        s_applied(self, events[index], &applied[index]);
    }
    freen(applied);
    return rc;
}

//  --------------------------------------------------------------------------
//  Start and stop.

void *
order_server_start(bus_service_t *service)
{
    assert(service);
    order_server_t *self = zmalloc(sizeof *self);
    self->service = service;
    self->log = bus_service_log(service);
    self->store = order_store_new(bus_service_stream_id(service));
    svc_metrics_t *metrics = bus_service_metrics(service);
    self->created = svc_metrics_counter(metrics, "order_created_total", "Orders created", NULL);
    self->cancelled =
        svc_metrics_counter(metrics, "order_cancelled_total", "Orders cancelled by request", NULL);
    self->rejected = svc_metrics_counter(metrics, "order_rejected_total",
                                         "Orders rejected for stock and cancelled by us", NULL);
    self->unknown_events =
        svc_metrics_counter(metrics, "order_unknown_events_total",
                            "Events about orders this database does not know (skipped)", NULL);
    self->create_commit = svc_metrics_histogram(metrics, "order_http_commit_seconds",
                                                "From an HTTP command's arrival to its commit",
                                                "command", "create", NULL);
    self->cancel_commit = svc_metrics_histogram(metrics, "order_http_commit_seconds",
                                                "From an HTTP command's arrival to its commit",
                                                "command", "cancel", NULL);
    svc_http_t *http = bus_service_http(service);
    svc_http_route(http, "POST", "/orders", s_handle_create, self);
    svc_http_route(http, "GET", "/orders", s_handle_list, self);
    svc_http_route(http, "GET", "/orders/{id}", s_handle_get, self);
    svc_http_route(http, "POST", "/orders/{id}/cancel", s_handle_cancel, self);
    return self;
}

void
order_server_stop(bus_service_t *service, void *state)
{
    assert(service);
    assert(state);
    order_server_t *self = state;
    order_store_destroy(&self->store);
    freen(self);
}
