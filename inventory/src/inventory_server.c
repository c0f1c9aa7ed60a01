/*  =========================================================================
    inventory_server - the inventory service inside bus_service

    Glue only: the routes turn HTTP into store calls and store results into
    answers, the handler turns a batch of events into one inventory_batch,
    two store calls around its decision, and each event's outcome into an
    appended event, a log line and a counter. Nothing here speaks SQL.

    The handler runs on the writer's thread while the routes run on the
    service thread, so the state they share is read-only after start: the
    log (thread-safe), the counter handles (atomic) and the service. Each
    side has its own store (its own connection's prepared statements).
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_batch.h"
#include "inventory_logic.h"
#include "inventory_server.h"
#include "inventory_store.h"

#include <inttypes.h>

typedef struct {
    bus_service_t *service;     //  the host (borrowed)
    svc_log_t *log;             //  the process log (borrowed, thread-safe)
    svc_counter_t *reserved;    //  inventory_reserved_total (owned by the registry)
    svc_counter_t *rejected;    //  inventory_rejected_total (owned by the registry)
    svc_counter_t *released;    //  inventory_released_total (owned by the registry)
    inventory_store_t *store;   //  the handler's prepared statements (owned; writer's thread)
    inventory_store_t *queries; //  the routes' prepared statements (owned; service thread)
} s_state_t;

const char *const inventory_server_types[] = {"OrderCreated", "OrderCancelled", NULL};

//  --------------------------------------------------------------------------
//  Report a store failure as the handler's failure. Returns -1.

static int
s_store_failed(bus_apply_t *apply, char **error_p)
{
    bus_apply_fail(apply, "%s", *error_p ? *error_p : "database error");
    zstr_free(error_p);
    return -1;
}

//  --------------------------------------------------------------------------
//  Append StockReserved or StockRejected for a decision, count and log it.

static int
s_publish_decision(s_state_t *self,
                   bus_apply_t *apply,
                   bus_cause_t *order,
                   const inventory_event_t *event)
{
    const inventory_decision_t *decision = &event->decision;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    Ev__V1__StockReserved reserved;
    ev__v1__stock_reserved__init(&reserved);
    Ev__V1__StockRejected rejected;
    ev__v1__stock_rejected__init(&rejected);
    ProtobufCBinaryData order_id = {BUS_ID_SIZE, order->id.bytes};
    if (decision->reserved) {
        reserved.order_id = order_id;
        envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED;
        envelope.stock_reserved = &reserved;
    } else {
        rejected.order_id = order_id;
        //  The store and the event carry the SKU the order named.
        rejected.sku = (char *) event->lines[decision->line].sku;
        rejected.requested =
            decision->requested > UINT32_MAX ? UINT32_MAX : (uint32_t) decision->requested;
        rejected.available =
            decision->available > UINT32_MAX ? UINT32_MAX : (uint32_t) decision->available;
        envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED;
        envelope.stock_rejected = &rejected;
    }
    if (bus_apply_append_caused(apply, order, &envelope) != 0) {
        return -1;
    }
    if (decision->reserved) {
        svc_counter_inc(self->reserved);
        svc_log_info(self->log, "inventory.stock.reserved", "{s:s, s:s, s:s}", "msg",
                     "Stock reserved", "order_id", order->id_text, "trace_id", order->trace_id);
    } else {
        svc_counter_inc(self->rejected);
        svc_log_info(self->log, "inventory.stock.rejected", "{s:s, s:s, s:s, s:s, s:I, s:I}", "msg",
                     "Stock rejected", "order_id", order->id_text, "trace_id", order->trace_id,
                     "sku", rejected.sku, "requested", (json_int_t) decision->requested,
                     "available", (json_int_t) decision->available);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Append StockReleased, count and log it.

static int
s_publish_released(s_state_t *self, bus_apply_t *apply, bus_cause_t *order)
{
    Ev__V1__StockReleased released;
    ev__v1__stock_released__init(&released);
    released.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, order->id.bytes};
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED;
    envelope.stock_released = &released;
    if (bus_apply_append_caused(apply, order, &envelope) != 0) {
        return -1;
    }
    svc_counter_inc(self->released);
    svc_log_info(self->log, "inventory.stock.released", "{s:s, s:s, s:s}", "msg", "Stock released",
                 "order_id", order->id_text, "trace_id", order->trace_id);
    return 0;
}

//  --------------------------------------------------------------------------
//  Publish and log what one event of the decided batch did.

static int
s_publish(s_state_t *self,
          bus_apply_t *apply,
          const Ev__V1__Envelope *cause,
          const inventory_event_t *event)
{
    bus_cause_t order;
    bus_cause_init(&order, cause, &event->order_id);
    switch (event->outcome) {
        case INVENTORY_OUTCOME_RESERVED:
        case INVENTORY_OUTCOME_REJECTED:
            return s_publish_decision(self, apply, &order, event);
        case INVENTORY_OUTCOME_RELEASED:
            return s_publish_released(self, apply, &order);
        case INVENTORY_OUTCOME_TOMBSTONE:
            svc_log_info(self->log, "inventory.reservation.tombstone", "{s:s, s:s, s:s}", "msg",
                         "Order cancelled before it arrived: it will reserve nothing", "order_id",
                         order.id_text, "trace_id", order.trace_id);
            return 0;
        case INVENTORY_OUTCOME_SEEN:
            svc_log_debug(self->log, "inventory.order.seen", "{s:s, s:s, s:s}", "msg",
                          "Order already handled", "order_id", order.id_text, "trace_id",
                          order.trace_id);
            return 0;
        default:
            svc_log_debug(self->log, "inventory.order.unchanged", "{s:s, s:s, s:s}", "msg",
                          "Cancel changes nothing", "order_id", order.id_text, "trace_id",
                          order.trace_id);
            return 0;
    }
}

//  --------------------------------------------------------------------------
//  Add one event to the batch. Returns 0, or -1 after bus_apply_fail for
//  an event that breaks the contract (the decoder refuses such events;
//  this keeps the handler safe on its own).

static int
s_add_event(inventory_batch_t *batch, bus_apply_t *apply, const Ev__V1__Envelope *event)
{
    bool created = event->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    ProtobufCBinaryData id =
        created ? event->order_created->order_id : event->order_cancelled->order_id;
    if (id.len != BUS_ID_SIZE) {
        bus_apply_fail(apply, "%s: order_id of %zu bytes", event->type, id.len);
        return -1;
    }
    svc_uuid_t order_id;
    memcpy(order_id.bytes, id.data, BUS_ID_SIZE);
    if (!created) {
        inventory_batch_add_cancelled(batch, &order_id, event->order_cancelled->reason);
        return 0;
    }
    //  No items: an order bridged from a .NET contract that carries only
    //  the total. There is nothing to reserve; it is recorded RESERVED with
    //  no lines, and StockReserved lets the order go on.
    const Ev__V1__OrderCreated *order = event->order_created;
    if (order->n_items > BUS_ITEMS_MAX) {
        char text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&order_id, text);
        bus_apply_fail(apply, "OrderCreated %s: %zu items", text, order->n_items);
        return -1;
    }
    inventory_line_t lines[BUS_ITEMS_MAX];
    for (size_t index = 0; index < order->n_items; index++) {
        lines[index] = (inventory_line_t){order->items[index]->sku, order->items[index]->quantity};
    }
    inventory_batch_add_created(batch, &order_id, lines, order->n_items);
    return 0;
}

//  --------------------------------------------------------------------------
//  The handler: the batch's events into one batch, two statements, then
//  each event's answer in seq order.

int
inventory_server_apply(bus_apply_t *apply,
                       const Ev__V1__Envelope *const *events,
                       size_t count,
                       void *arg)
{
    assert(apply);
    assert(events);
    assert(arg);
    s_state_t *self = arg;
    inventory_batch_t *batch = inventory_batch_new();
    //  Which events went into the batch, by batch index.
    const Ev__V1__Envelope **causes = zmalloc(count * sizeof *causes);
    struct pg_conn *conn = bus_apply_conn(apply);
    char *error = NULL;
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < count; index++) {
        const Ev__V1__Envelope *event = events[index];
        //  Only the subscribed types arrive; anything else is not ours.
        if (event->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED ||
            event->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED) {
            causes[inventory_batch_size(batch)] = event;
            rc = s_add_event(batch, apply, event);
        }
    }
    if (rc != 0 || inventory_batch_size(batch) == 0) {
        goto cleanup;
    }
    if (inventory_store_lock(self->store, conn, batch, &error) != BUS_OK) {
        rc = s_store_failed(apply, &error);
        goto cleanup;
    }
    inventory_batch_decide(batch);
    if (inventory_store_write(self->store, conn, batch, &error) != BUS_OK) {
        rc = s_store_failed(apply, &error);
        goto cleanup;
    }
    for (size_t index = 0; rc == 0 && index < inventory_batch_size(batch); index++) {
        rc = s_publish(self, apply, causes[index], inventory_batch_event(batch, index));
    }
cleanup:
    freen(causes);
    inventory_batch_destroy(&batch);
    return rc;
}

//  --------------------------------------------------------------------------
//  HTTP: the query connection, or answer 503 and return NULL.

static struct pg_conn *
s_conn(s_state_t *self, svc_http_request_t *request)
{
    struct pg_conn *conn = bus_service_conn(self->service);
    if (!conn) {
        svc_http_respond_error(request, 503, "unavailable", NULL,
                               "the database is unreachable; retry later");
    }
    return conn;
}

//  --------------------------------------------------------------------------
//  HTTP: answer a store result: 200 with *row_p, 404 naming the path
//  parameter `field` with `missing`, or 503 (dropping a lost connection).
//  Frees *row_p and *error_p.

static void
s_respond(s_state_t *self,
          svc_http_request_t *request,
          struct pg_conn *conn,
          bus_rc_t rc,
          json_t **row_p,
          char **error_p,
          const char *field,
          const char *missing)
{
    if (rc == BUS_OK) {
        svc_http_respond_json(request, 200, row_p);
    } else if (rc == BUS_NOT_FOUND) {
        svc_http_respond_error(request, 404, "not_found", field, missing);
    } else {
        if (inventory_store_conn_bad(conn)) {
            bus_service_conn_lost(self->service);
        }
        svc_log_warn(self->log, "inventory.query.failed", "{s:s, s:s}", "path",
                     svc_http_request_path(request), "error", *error_p ? *error_p : "");
        svc_http_respond_error(request, 503, "unavailable", NULL,
                               "the database is unavailable; retry later");
    }
    json_decref(*row_p);
    *row_p = NULL;
    zstr_free(error_p);
}

#define S_SKU_RULE "must be 1-64 characters of [A-Za-z0-9._-]"

//  --------------------------------------------------------------------------
//  PUT /stock/{sku} {"available": n}

static void
s_handle_put_stock(svc_http_request_t *request, void *arg)
{
    s_state_t *self = arg;
    const char *sku = svc_http_request_param(request, "sku");
    if (!inventory_logic_sku_valid(sku)) {
        svc_http_respond_error(request, 400, "invalid_value", "sku", S_SKU_RULE);
        return;
    }
    json_t *body = svc_http_request_json(request);
    if (!body) {
        return;
    }
    int64_t available = 0;
    inventory_body_error_t invalid;
    if (inventory_logic_stock_body(body, &available, &invalid) != 0) {
        //  invalid.field may point into the body: answer before freeing it.
        svc_http_respond_error(request, 400, invalid.code, invalid.field, invalid.message);
        json_decref(body);
        return;
    }
    json_decref(body);
    struct pg_conn *conn = s_conn(self, request);
    if (!conn) {
        return;
    }
    json_t *row = NULL;
    char *error = NULL;
    bus_rc_t rc = inventory_store_put_stock(self->queries, conn, sku, available, &row, &error);
    s_respond(self, request, conn, rc, &row, &error, "sku", "no such SKU");
}

//  --------------------------------------------------------------------------
//  GET /stock/{sku}

static void
s_handle_get_stock(svc_http_request_t *request, void *arg)
{
    s_state_t *self = arg;
    const char *sku = svc_http_request_param(request, "sku");
    if (!inventory_logic_sku_valid(sku)) {
        svc_http_respond_error(request, 400, "invalid_value", "sku", S_SKU_RULE);
        return;
    }
    struct pg_conn *conn = s_conn(self, request);
    if (!conn) {
        return;
    }
    json_t *row = NULL;
    char *error = NULL;
    bus_rc_t rc = inventory_store_stock(self->queries, conn, sku, &row, &error);
    s_respond(self, request, conn, rc, &row, &error, "sku", "no such SKU");
}

//  --------------------------------------------------------------------------
//  GET /stock?limit=&after=

static void
s_handle_list_stock(svc_http_request_t *request, void *arg)
{
    s_state_t *self = arg;
    int64_t limit = 0;
    if (svc_http_request_query_int(request, "limit", INVENTORY_LIST_LIMIT_DEFAULT,
                                   INVENTORY_LIST_LIMIT_MIN, INVENTORY_LIST_LIMIT_MAX,
                                   &limit) != 0) {
        return;
    }
    const char *after = svc_http_request_query(request, "after");
    if (after && !inventory_logic_sku_valid(after)) {
        svc_http_respond_error(request, 400, "invalid_value", "after", S_SKU_RULE);
        return;
    }
    struct pg_conn *conn = s_conn(self, request);
    if (!conn) {
        return;
    }
    json_t *page = NULL;
    char *error = NULL;
    bus_rc_t rc =
        inventory_store_stock_page(self->queries, conn, after, (int) limit, &page, &error);
    s_respond(self, request, conn, rc, &page, &error, NULL, NULL);
}

//  --------------------------------------------------------------------------
//  GET /reservations/{orderId}

static void
s_handle_get_reservation(svc_http_request_t *request, void *arg)
{
    s_state_t *self = arg;
    svc_uuid_t order_id;
    if (svc_uuid_parse(svc_http_request_param(request, "orderId"), &order_id) != 0) {
        svc_http_respond_error(request, 400, "invalid_uuid", "orderId",
                               "must be a UUID (8-4-4-4-12 hex digits)");
        return;
    }
    struct pg_conn *conn = s_conn(self, request);
    if (!conn) {
        return;
    }
    json_t *reservation = NULL;
    char *error = NULL;
    bus_rc_t rc = inventory_store_reservation(self->queries, conn, &order_id, &reservation, &error);
    s_respond(self, request, conn, rc, &reservation, &error, "orderId",
              "inventory has not seen this order");
}

//  --------------------------------------------------------------------------
//  Start: state, counters, routes.

void *
inventory_server_start(bus_service_t *service)
{
    assert(service);
    s_state_t *self = zmalloc(sizeof *self);
    self->service = service;
    self->log = bus_service_log(service);
    self->store = inventory_store_new();
    self->queries = inventory_store_new();
    svc_metrics_t *metrics = bus_service_metrics(service);
    self->reserved = svc_metrics_counter(metrics, "inventory_reserved_total",
                                         "Orders whose items were all reserved", NULL);
    self->rejected = svc_metrics_counter(metrics, "inventory_rejected_total",
                                         "Orders rejected for lack of stock", NULL);
    self->released = svc_metrics_counter(metrics, "inventory_released_total",
                                         "Reservations released by a cancel", NULL);
    svc_http_t *http = bus_service_http(service);
    svc_http_route(http, "PUT", "/stock/{sku}", s_handle_put_stock, self);
    svc_http_route(http, "GET", "/stock/{sku}", s_handle_get_stock, self);
    svc_http_route(http, "GET", "/stock", s_handle_list_stock, self);
    svc_http_route(http, "GET", "/reservations/{orderId}", s_handle_get_reservation, self);
    return self;
}

//  --------------------------------------------------------------------------
//  Stop: free the state.

void
inventory_server_stop(bus_service_t *service, void *state)
{
    assert(service);
    s_state_t *self = state;
    inventory_store_destroy(&self->queries);
    inventory_store_destroy(&self->store);
    freen(self);
}
