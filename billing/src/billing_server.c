/*  =========================================================================
    billing_server - the billing service inside bus_service

    Glue only: the handler turns a batch of events into one store call and
    each event's outcome into an event, a log line and a counter; the
    route turns a GET into a store call. Nothing here speaks SQL.

    The handler runs on the writer's thread while the route runs on the
    service thread, so the state they share is read-only after start: the
    log (thread-safe), the counter handles (atomic) and the service. Each
    side has its own store (its own connection's prepared statements).
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_logic.h"
#include "billing_server.h"
#include "billing_store.h"

typedef struct {
    bus_service_t *service;   //  the host (borrowed)
    svc_log_t *log;           //  the process log (borrowed, thread-safe)
    svc_counter_t *started;   //  billing_payments_started_total (owned by the registry)
    svc_counter_t *voided;    //  billing_payments_voided_total (owned by the registry)
    billing_store_t *store;   //  the handler's prepared statements (owned; writer's thread)
    billing_store_t *queries; //  the route's prepared statements (owned; service thread)
} s_state_t;

//  What every step about one order needs: the event that caused it, the
//  order and the trace of the events it appends (bus_cause_t), and for
//  OrderCreated the total's minor digits.
typedef struct {
    bus_cause_t cause; //  the incoming event, the order, the child trace
    int digits;        //  OrderCreated: the total's minor digits
} s_order_t;

const char *const billing_server_types[] = {"OrderCreated", "OrderCancelled", NULL};

//  --------------------------------------------------------------------------
//  Fill the order context from the event's order id. Returns 0, or -1
//  after bus_apply_fail if the id is not a UUID (the decoder refuses such
//  events; this keeps the handler safe on its own).

static int
s_order_init(s_order_t *order,
             bus_apply_t *apply,
             const Ev__V1__Envelope *event,
             ProtobufCBinaryData order_id)
{
    if (order_id.len != BUS_ID_SIZE) {
        bus_apply_fail(apply, "%s: order_id of %zu bytes", event->type, order_id.len);
        return -1;
    }
    svc_uuid_t id;
    memcpy(id.bytes, order_id.data, BUS_ID_SIZE);
    bus_cause_init(&order->cause, event, &id);
    return 0;
}

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
//  Announce a started payment: PaymentStarted, the seed's log line, the
//  counter.

static int
s_publish_started(
    s_state_t *self, bus_apply_t *apply, s_order_t *order, const Ev__V1__Money *total, int digits)
{
    Ev__V1__Money amount;
    ev__v1__money__init(&amount);
    amount.currency = total->currency;
    amount.amount_minor = total->amount_minor;
    Ev__V1__PaymentStarted started;
    ev__v1__payment_started__init(&started);
    started.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, order->cause.id.bytes};
    started.amount = &amount;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED;
    envelope.payment_started = &started;
    if (bus_apply_append_caused(apply, &order->cause, &envelope) != 0) {
        return -1;
    }
    svc_counter_inc(self->started);
    if (svc_log_enabled(self->log, SVC_LOG_INFO)) {
        char amount_text[SVC_MONEY_TEXT_MAX];
        char *message = billing_logic_started_message(order->cause.id_text);
        svc_log_info(self->log, "billing.payment.started", "{s:s, s:s, s:s, s:s, s:s}", "msg",
                     message, "order_id", order->cause.id_text, "trace_id", order->cause.trace_id,
                     "amount",
                     billing_logic_format_amount(total->amount_minor, digits, amount_text),
                     "currency", total->currency);
        zstr_free(&message);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Append PaymentVoided, count and log it.

static int
s_publish_voided(s_state_t *self, bus_apply_t *apply, s_order_t *order)
{
    Ev__V1__PaymentVoided voided;
    ev__v1__payment_voided__init(&voided);
    voided.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, order->cause.id.bytes};
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED;
    envelope.payment_voided = &voided;
    if (bus_apply_append_caused(apply, &order->cause, &envelope) != 0) {
        return -1;
    }
    svc_counter_inc(self->voided);
    svc_log_info(self->log, "billing.payment.voided", "{s:s, s:s, s:s}", "msg", "Payment voided",
                 "order_id", order->cause.id_text, "trace_id", order->cause.trace_id);
    return 0;
}

//  --------------------------------------------------------------------------
//  Publish and log what one event did.

static int
s_publish(s_state_t *self, bus_apply_t *apply, s_order_t *order, billing_outcome_t outcome)
{
    switch (outcome) {
        case BILLING_STARTED:
            return s_publish_started(self, apply, order, order->cause.event->order_created->total,
                                     order->digits);
        case BILLING_VOIDED:
            return s_publish_voided(self, apply, order);
        case BILLING_FILLED:
            svc_log_info(self->log, "billing.payment.filled", "{s:s, s:s, s:s}", "msg",
                         "Order arrived after its cancel: payment stays voided, never started",
                         "order_id", order->cause.id_text, "trace_id", order->cause.trace_id);
            return 0;
        case BILLING_TOMBSTONE:
            svc_log_info(self->log, "billing.payment.tombstone", "{s:s, s:s, s:s}", "msg",
                         "Order cancelled before it arrived: its payment will never start",
                         "order_id", order->cause.id_text, "trace_id", order->cause.trace_id);
            return 0;
        default:
            svc_log_debug(self->log, "billing.payment.unchanged", "{s:s, s:s, s:s}", "msg",
                          "Event changes nothing: the payment has seen it", "order_id",
                          order->cause.id_text, "trace_id", order->cause.trace_id);
            return 0;
    }
}

//  --------------------------------------------------------------------------
//  One event as the store takes it, and its order context. Returns 0, or
//  -1 after bus_apply_fail for an order total no payment can be made of.

static int
s_read_event(bus_apply_t *apply,
             const Ev__V1__Envelope *event,
             s_order_t *order,
             billing_event_t *row)
{
    bool created = event->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    ProtobufCBinaryData order_id =
        created ? event->order_created->order_id : event->order_cancelled->order_id;
    if (s_order_init(order, apply, event, order_id) != 0) {
        return -1;
    }
    *row = (billing_event_t){
        .order_id = order->cause.id, .created = created, .trace_id = order->cause.trace_id};
    if (!created) {
        return 0;
    }
    const Ev__V1__Money *total = event->order_created->total;
    const char *why = "the order has no total";
    if (!total || billing_logic_check_total(total->currency, total->amount_minor, &order->digits,
                                            &why) != 0) {
        bus_apply_fail(apply, "OrderCreated %s: %s", order->cause.id_text, why);
        return -1;
    }
    row->amount_minor = total->amount_minor;
    row->currency = total->currency;
    return 0;
}

//  --------------------------------------------------------------------------
//  The handler: the batch's events in one store call, then each event's
//  answer in seq order.

int
billing_server_apply(bus_apply_t *apply,
                     const Ev__V1__Envelope *const *events,
                     size_t count,
                     void *arg)
{
    assert(apply);
    assert(events);
    assert(arg);
    s_state_t *self = arg;
    s_order_t *orders = zmalloc(count * sizeof *orders);
    billing_event_t *rows = zmalloc(count * sizeof *rows);
    billing_outcome_t *outcomes = zmalloc(count * sizeof *outcomes);
    size_t handled = 0;
    char *error = NULL;
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < count; index++) {
        //  Only the subscribed types arrive; anything else is not ours.
        if (events[index]->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED ||
            events[index]->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED) {
            rc = s_read_event(apply, events[index], &orders[handled], &rows[handled]);
            handled++;
        }
    }
    if (rc != 0 || handled == 0) {
        goto cleanup;
    }
    if (billing_store_apply(self->store, bus_apply_conn(apply), rows, handled, outcomes, &error) !=
        BUS_OK) {
        rc = s_store_failed(apply, &error);
        goto cleanup;
    }
    for (size_t index = 0; rc == 0 && index < handled; index++) {
        rc = s_publish(self, apply, &orders[index], outcomes[index]);
    }
cleanup:
    freen(outcomes);
    freen(rows);
    freen(orders);
    return rc;
}

//  --------------------------------------------------------------------------
//  GET /payments/{orderId}

static void
s_handle_get_payment(svc_http_request_t *request, void *arg)
{
    s_state_t *self = arg;
    svc_uuid_t order_id;
    if (svc_uuid_parse(svc_http_request_param(request, "orderId"), &order_id) != 0) {
        svc_http_respond_error(request, 400, "invalid_uuid", "orderId",
                               "must be a UUID (8-4-4-4-12 hex digits)");
        return;
    }
    struct pg_conn *conn = bus_service_conn(self->service);
    if (!conn) {
        svc_http_respond_error(request, 503, "unavailable", NULL,
                               "the database is unreachable; retry later");
        return;
    }
    json_t *payment = NULL;
    char *error = NULL;
    bus_rc_t rc = billing_store_payment(self->queries, conn, &order_id, &payment, &error);
    if (rc == BUS_OK) {
        svc_http_respond_json(request, 200, &payment);
    } else if (rc == BUS_NOT_FOUND) {
        svc_http_respond_error(request, 404, "not_found", "orderId",
                               "billing has not seen this order");
    } else {
        if (billing_store_conn_bad(conn)) {
            bus_service_conn_lost(self->service);
        }
        svc_log_warn(self->log, "billing.query.failed", "{s:s, s:s}", "path",
                     svc_http_request_path(request), "error", error ? error : "");
        svc_http_respond_error(request, 503, "unavailable", NULL,
                               "the database is unavailable; retry later");
    }
    zstr_free(&error);
}

//  --------------------------------------------------------------------------
//  Start: state, counters, route.

void *
billing_server_start(bus_service_t *service)
{
    assert(service);
    s_state_t *self = zmalloc(sizeof *self);
    self->service = service;
    self->log = bus_service_log(service);
    self->store = billing_store_new();
    self->queries = billing_store_new();
    svc_metrics_t *metrics = bus_service_metrics(service);
    self->started = svc_metrics_counter(metrics, "billing_payments_started_total",
                                        "Payments started for orders", NULL);
    self->voided = svc_metrics_counter(metrics, "billing_payments_voided_total",
                                       "Started payments voided by a cancel", NULL);
    svc_http_route(bus_service_http(service), "GET", "/payments/{orderId}", s_handle_get_payment,
                   self);
    return self;
}

//  --------------------------------------------------------------------------
//  Stop: free the state.

void
billing_server_stop(bus_service_t *service, void *state)
{
    assert(service);
    s_state_t *self = state;
    billing_store_destroy(&self->queries);
    billing_store_destroy(&self->store);
    freen(self);
}
