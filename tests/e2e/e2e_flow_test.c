/*  =========================================================================
    e2e_flow_test - the three services as processes, through their HTTP APIs

    The contract of docs/http-api.md checked from outside, the way a client
    and an operator see it: order-service, inventory-service and
    billing-service run as real executables on their own databases
    (e2e_support.h), and every case talks HTTP to them, reads their JSON
    log files, and looks into their databases only to prove that nothing
    was stored or published.

    Cases, in order (they share the running system; each uses its own SKUs
    and customer so they do not interfere):
    - happy path: an order goes PENDING -> PAYMENT_STARTED; inventory holds
      the stock, billing started the exact amount and logged the seed's
      line;
    - tracing: a request's traceparent reaches the order, the payment and
      the log lines of all three services about that order;
    - cancel: stock released, payment voided, a second cancel is a 409
      with the current state, an unknown order is a 404;
    - out of stock: rejected, cancelled automatically with a reason that
      names the SKU, no stock taken, payment voided;
    - idempotent retry: one order for one Idempotency-Key, across a
      restart of order-service (which exits 0 on SIGTERM);
    - bad input: every error of the contract through real HTTP, with its
      status, code and field, and nothing stored or published;
    - shutdown: no dead letters anywhere; SIGTERM ends every service with
      exit code 0.
    The services' logs of the last run stay in E2E_LOG_DIR.
    =========================================================================
*/
#include "e2e_support.h"
#include "ts.h"

#include <czmq.h>
#include <sys/random.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long the events of one order may take to flow through the system.
#define FLOW_MS 30000

//  A price of 64 KiB and more: the body limit is 64 KiB.
#define BODY_TOO_LARGE 70000

typedef struct {
    e2e_system_t *system; //  the three services (owned)
    e2e_http_t *http;     //  the client (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  Helpers

//  `count` random bytes as lower-case hex into `out` (2 * count + 1).
static void
s_random_hex(char *out, size_t count)
{
    uint8_t bytes[32];
    assert_true(count <= sizeof bytes);
    assert_int_equal(getrandom(bytes, count, 0), (ssize_t) count);
    for (size_t index = 0; index < count; index++) {
        (void) snprintf(out + 2 * index, 3, "%02x", bytes[index]);
    }
}

//  A random UUID v4 in the text form.
static void
s_random_uuid(char out[37])
{
    char hex[33];
    s_random_hex(hex, 16);
    (void) snprintf(out, 37, "%.8s-%.4s-4%.3s-8%.3s-%.12s", hex, hex + 8, hex + 13, hex + 17,
                    hex + 20);
}

//  The body of an order with one or two lines (sku2 NULL for one).
static char *
s_order_body(const char *customer,
             const char *sku1,
             int quantity1,
             const char *price1,
             const char *sku2,
             int quantity2,
             const char *price2)
{
    json_t *items = json_array();
    json_array_append_new(items, json_pack("{s:s, s:i, s:s}", "sku", sku1, "quantity", quantity1,
                                           "unitPrice", price1));
    if (sku2) {
        json_array_append_new(items, json_pack("{s:s, s:i, s:s}", "sku", sku2, "quantity",
                                               quantity2, "unitPrice", price2));
    }
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "customerId", customer, "currency", "EUR", "items", items);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

//  GET a service's path (printf format); assert `status`; return the JSON
//  (owned).
static json_t *s_get(fixture_t *fixture, e2e_which_t which, long status, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static json_t *
s_get(fixture_t *fixture, e2e_which_t which, long status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *path = zsys_vprintf(format, args);
    va_end(args);
    char *url = e2e_url(fixture->system, which, path);
    e2e_reply_t reply;
    assert_int_equal(e2e_http_call(fixture->http, "GET", url, NULL, NULL, &reply), 0);
    if (reply.status != status) {
        fail_msg("GET %s: %ld, expected %ld: %s", url, reply.status, status, reply.body);
    }
    assert_non_null(reply.json);
    json_t *json = json_incref(reply.json);
    e2e_reply_free(&reply);
    zstr_free(&url);
    zstr_free(&path);
    return json;
}

//  Send JSON with `method` to a service's `path` (headers may be NULL).
static void
s_send(fixture_t *fixture,
       e2e_which_t which,
       const char *method,
       const char *path,
       const char *const *headers,
       const char *body,
       e2e_reply_t *reply)
{
    char *url = e2e_url(fixture->system, which, path);
    assert_int_equal(e2e_http_send_json(fixture->http, method, url, headers, body, reply), 0);
    zstr_free(&url);
}

//  POST an order and assert 201; returns the order id (owned).
static char *
s_create(fixture_t *fixture, const char *body, const char *const *headers)
{
    e2e_reply_t reply;
    s_send(fixture, E2E_ORDER, "POST", "/orders", headers, body, &reply);
    if (reply.status != 201) {
        fail_msg("POST /orders %s: %ld %s", body, reply.status, reply.body);
    }
    const char *id = e2e_json_str(reply.json, "orderId");
    assert_non_null(id);
    char *order_id = strdup(id);
    e2e_reply_free(&reply);
    return order_id;
}

//  Wait until the order's status is `status`; returns the order (owned).
static json_t *
s_wait_status(fixture_t *fixture, const char *order_id, const char *status)
{
    char *path = zsys_sprintf("/orders/%s", order_id);
    char *url = e2e_url(fixture->system, E2E_ORDER, path);
    json_t *order = e2e_wait_field(fixture->http, url, "status", status, FLOW_MS);
    if (!order) {
        fail_msg("order %s never became %s", order_id, status);
    }
    zstr_free(&url);
    zstr_free(&path);
    return order;
}

//  Wait until GET `path` of a service has string `field` == `value`.
static json_t *
s_wait_field(
    fixture_t *fixture, e2e_which_t which, const char *path, const char *field, const char *value)
{
    char *url = e2e_url(fixture->system, which, path);
    json_t *json = e2e_wait_field(fixture->http, url, field, value, FLOW_MS);
    if (!json) {
        fail_msg("%s: %s never became %s", url, field, value);
    }
    zstr_free(&url);
    return json;
}

//  The integer member `key` of `object`, failing if it is not one.
static json_int_t
s_int(const json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value)) {
        char *text = json_dumps(object, JSON_COMPACT);
        fail_msg("%s is not an integer in %s", key, text);
    }
    return json_integer_value(value);
}

//  Assert the string member `key` of `object` equals `expected`.
static void
s_assert_str(const json_t *object, const char *key, const char *expected)
{
    const char *value = e2e_json_str(object, key);
    if (!value || !streq(value, expected)) {
        char *text = json_dumps(object, JSON_COMPACT);
        fail_msg("%s is %s, expected \"%s\", in %s", key, value ? value : "(not a string)",
                 expected, text);
    }
}

//  Assert a SKU's stock.
static void
s_assert_stock(fixture_t *fixture, const char *sku, long available, long reserved)
{
    char *path = zsys_sprintf("/stock/%s", sku);
    json_t *stock = s_get(fixture, E2E_INVENTORY, 200, "%s", path);
    s_assert_str(stock, "sku", sku);
    if (s_int(stock, "available") != available || s_int(stock, "reserved") != reserved) {
        fail_msg("stock of %s: available %lld reserved %lld, expected %ld and %ld", sku,
                 (long long) s_int(stock, "available"), (long long) s_int(stock, "reserved"),
                 available, reserved);
    }
    json_decref(stock);
    zstr_free(&path);
}

//  PUT a SKU's stock and check the answer.
static void
s_put_stock(fixture_t *fixture, const char *sku, long available)
{
    char *path = zsys_sprintf("/stock/%s", sku);
    char *body = zsys_sprintf("{\"available\": %ld}", available);
    e2e_reply_t reply;
    s_send(fixture, E2E_INVENTORY, "PUT", path, NULL, body, &reply);
    if (reply.status != 200) {
        fail_msg("PUT %s: %ld %s", path, reply.status, reply.body);
    }
    s_assert_str(reply.json, "sku", sku);
    assert_int_equal(s_int(reply.json, "available"), available);
    assert_int_equal(s_int(reply.json, "reserved"), 0);
    e2e_reply_free(&reply);
    zstr_free(&body);
    zstr_free(&path);
}

//  The events of an order's history, in order, as "A,B,C".
static char *
s_history_events(const json_t *order)
{
    json_t *history = json_object_get(order, "history");
    assert_true(json_is_array(history));
    zchunk_t *text = zchunk_new(NULL, 0);
    size_t index;
    json_t *entry;
    json_array_foreach(history, index, entry)
    {
        const char *event = e2e_json_str(entry, "event");
        assert_non_null(event);
        if (index > 0) {
            zchunk_extend(text, ",", 1);
        }
        zchunk_extend(text, event, strlen(event));
    }
    char *events = zsys_sprintf("%.*s", (int) zchunk_size(text), (char *) zchunk_data(text));
    zchunk_destroy(&text);
    return events;
}

//  The history entry for `event`, or NULL; asserts there is at most one.
static json_t *
s_history_entry(const json_t *order, const char *event)
{
    json_t *found = NULL;
    size_t index;
    json_t *entry;
    json_array_foreach(json_object_get(order, "history"), index, entry)
    {
        const char *name = e2e_json_str(entry, "event");
        if (name && streq(name, event)) {
            assert_null(found);
            found = entry;
        }
    }
    return found;
}

typedef struct {
    fixture_t *fixture;        //  borrowed
    const char *order_path;    //  "/orders/<id>"
    const char *const *events; //  NULL-terminated events that must all be in the history
    json_t *order;             //  the last answer (owned)
} history_wait_t;

static bool
s_history_has(void *arg)
{
    history_wait_t *wait = arg;
    json_decref(wait->order);
    wait->order = s_get(wait->fixture, E2E_ORDER, 200, "%s", wait->order_path);
    for (size_t index = 0; wait->events[index]; index++) {
        if (!s_history_entry(wait->order, wait->events[index])) {
            return false;
        }
    }
    return true;
}

//  Wait until the order's history holds every one of `events`; returns
//  the order (owned).
static json_t *
s_wait_history(fixture_t *fixture, const char *order_id, const char *const *events)
{
    char *path = zsys_sprintf("/orders/%s", order_id);
    history_wait_t wait = {fixture, path, events, NULL};
    if (!ts_wait_until(s_history_has, &wait, FLOW_MS)) {
        char *history = s_history_events(wait.order);
        fail_msg("order %s: history stayed %s", order_id, history);
    }
    zstr_free(&path);
    return wait.order;
}

//  Assert the error body of the contract: status, code, field (NULL: JSON
//  null) and a message.
static void
s_assert_error(
    const e2e_reply_t *reply, long status, const char *code, const char *field, const char *what)
{
    json_t *error = json_object_get(reply->json, "error");
    const char *got_code = e2e_json_str(error, "code");
    json_t *got_field = json_object_get(error, "field");
    bool field_ok = field ? json_is_string(got_field) && streq(json_string_value(got_field), field)
                          : json_is_null(got_field);
    bool ok = reply->status == status && got_code && streq(got_code, code) && field_ok &&
              json_integer_value(json_object_get(error, "status")) == status &&
              json_is_string(json_object_get(error, "message")) && reply->content_type &&
              strstr(reply->content_type, "application/json");
    if (!ok) {
        fail_msg("%s: expected %ld %s field %s; got %ld (%s) %s", what, status, code,
                 field ? field : "null", reply->status,
                 reply->content_type ? reply->content_type : "no content type", reply->body);
    }
}

//  Wait until no event is in flight anywhere.
static void
s_wait_quiet(fixture_t *fixture)
{
    if (!ts_wait_until(e2e_system_quiet, fixture->system, FLOW_MS)) {
        fail_msg("the services did not catch up with each other's streams");
    }
}

//  The number of orders listed for a customer (all pages).
static size_t
s_list_count(fixture_t *fixture, const char *customer)
{
    char *path = zsys_sprintf("/orders?customerId=%s&limit=100", customer);
    json_t *page = s_get(fixture, E2E_ORDER, 200, "%s", path);
    json_t *items = json_object_get(page, "items");
    assert_true(json_is_array(items));
    assert_true(json_is_null(json_object_get(page, "next")));
    size_t count = json_array_size(items);
    json_decref(page);
    zstr_free(&path);
    return count;
}

//  A log line of `proc` about `order_id` whose `key` is `value`.
typedef struct {
    ts_proc_t *proc;      //  borrowed
    const char *order_id; //  borrowed
    const char *key;      //  borrowed
    const char *value;    //  borrowed
} log_wait_t;

static bool
s_log_has(void *arg)
{
    log_wait_t *wait = arg;
    json_t *lines = e2e_log_lines(wait->proc, "order_id", wait->order_id);
    bool found = false;
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        const char *value = e2e_json_str(line, wait->key);
        found |= value && streq(value, wait->value);
    }
    json_decref(lines);
    return found;
}

//  --------------------------------------------------------------------------
//  Fixture: the system runs for the whole group

//  SKUs of the cases and their seeded stock.
static const struct {
    const char *sku;
    long available;
} s_seed[] = {{"HAPPY-1", 10},  {"HAPPY-2", 10}, {"TRACE-1", 10}, {"CANCEL-1", 10},
              {"PLENTY-1", 10}, {"SCARCE-1", 1}, {"IDEM-1", 100}, {"BAD-1", 10}};

static int
s_group_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->system = e2e_system_new(E2E_LOG_DIR, NULL);
    fixture->http = e2e_http_new();
    for (size_t index = 0; index < sizeof s_seed / sizeof s_seed[0]; index++) {
        s_put_stock(fixture, s_seed[index].sku, s_seed[index].available);
    }
    *state = fixture;
    return 0;
}

static int
s_group_teardown(void **state)
{
    fixture_t *fixture = *state;
    e2e_http_destroy(&fixture->http);
    e2e_system_destroy(&fixture->system);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Cases

//  An order flows through all three services.
static void
test_happy_path(void **state)
{
    fixture_t *fixture = *state;
    char *body = s_order_body("c-happy", "HAPPY-1", 2, "19.99", "HAPPY-2", 1, "19.99");
    e2e_reply_t reply;
    s_send(fixture, E2E_ORDER, "POST", "/orders", NULL, body, &reply);
    if (reply.status != 201) {
        fail_msg("POST /orders: %ld %s", reply.status, reply.body);
    }
    const char *id = e2e_json_str(reply.json, "orderId");
    assert_non_null(id);
    char *order_id = strdup(id);
    //  A UUID v7 in the lower-case 8-4-4-4-12 form.
    assert_int_equal(strlen(order_id), 36);
    assert_int_equal(order_id[14], '7');
    assert_int_equal(strspn(order_id, "0123456789abcdef-"), 36);
    char *location = zsys_sprintf("/orders/%s", order_id);
    assert_non_null(reply.location);
    assert_string_equal(reply.location, location);
    assert_false(reply.replayed);
    s_assert_str(reply.json, "status", "PENDING");
    s_assert_str(reply.json, "customerId", "c-happy");
    s_assert_str(reply.json, "currency", "EUR");
    s_assert_str(reply.json, "total", "59.97");
    assert_int_equal(json_array_size(json_object_get(reply.json, "items")), 2);
    e2e_reply_free(&reply);

    //  The read model follows inventory and billing.
    json_t *order = s_wait_status(fixture, order_id, "PAYMENT_STARTED");
    assert_true(json_is_true(json_object_get(order, "stockReserved")));
    assert_true(json_is_true(json_object_get(order, "paymentStarted")));
    assert_true(json_is_null(json_object_get(order, "cancelReason")));
    s_assert_str(order, "total", "59.97");
    json_t *items = json_object_get(order, "items");
    assert_int_equal(json_array_size(items), 2);
    s_assert_str(json_array_get(items, 0), "sku", "HAPPY-1");
    assert_int_equal(s_int(json_array_get(items, 0), "quantity"), 2);
    s_assert_str(json_array_get(items, 0), "unitPrice", "19.99");
    //  Created first, then reserved and paid in either order; each once,
    //  with the stream and seq of the event.
    json_t *history = json_object_get(order, "history");
    assert_int_equal(json_array_size(history), 3);
    s_assert_str(json_array_get(history, 0), "event", "OrderCreated");
    const char *expected[][2] = {{"OrderCreated", "order-0"},
                                 {"StockReserved", "inventory-0"},
                                 {"PaymentStarted", "billing-0"}};
    for (size_t index = 0; index < 3; index++) {
        json_t *entry = s_history_entry(order, expected[index][0]);
        assert_non_null(entry);
        s_assert_str(entry, "stream", expected[index][1]);
        assert_true(s_int(entry, "seq") >= 1);
        assert_non_null(e2e_json_str(entry, "at"));
    }
    json_decref(order);

    //  Inventory holds the units; billing started the exact amount.
    s_assert_stock(fixture, "HAPPY-1", 8, 2);
    s_assert_stock(fixture, "HAPPY-2", 9, 1);
    json_t *reservation = s_get(fixture, E2E_INVENTORY, 200, "/reservations/%s", order_id);
    s_assert_str(reservation, "orderId", order_id);
    s_assert_str(reservation, "status", "RESERVED");
    assert_int_equal(json_array_size(json_object_get(reservation, "items")), 2);
    json_decref(reservation);
    char *payment_path = zsys_sprintf("/payments/%s", order_id);
    json_t *payment = s_get(fixture, E2E_BILLING, 200, "%s", payment_path);
    s_assert_str(payment, "orderId", order_id);
    s_assert_str(payment, "status", "STARTED");
    s_assert_str(payment, "amount", "59.97");
    s_assert_str(payment, "currency", "EUR");
    assert_non_null(e2e_json_str(payment, "startedAt"));
    assert_true(json_is_null(json_object_get(payment, "voidedAt")));
    json_decref(payment);

    //  The seed's log line, as JSON with the order id.
    char *message = zsys_sprintf("Payment started for order %s", order_id);
    log_wait_t wait = {fixture->system->services[E2E_BILLING].proc, order_id, "msg", message};
    if (!ts_wait_until(s_log_has, &wait, FLOW_MS)) {
        fail_msg("billing's log has no line with \"msg\":\"%s\" and \"order_id\"", message);
    }
    log_wait_t event = {fixture->system->services[E2E_BILLING].proc, order_id, "event",
                        "billing.payment.started"};
    assert_true(s_log_has(&event));

    //  The customer's list has the order, without its history.
    json_t *page = s_get(fixture, E2E_ORDER, 200, "/orders?customerId=c-happy");
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    json_t *listed = json_array_get(json_object_get(page, "items"), 0);
    s_assert_str(listed, "orderId", order_id);
    assert_null(json_object_get(listed, "history"));
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);

    zstr_free(&message);
    zstr_free(&payment_path);
    zstr_free(&location);
    freen(order_id);
    zstr_free(&body);
}

//  The trace id of a request's traceparent follows the order everywhere.
static void
test_tracing(void **state)
{
    fixture_t *fixture = *state;
    char trace_id[33], span_id[17];
    s_random_hex(trace_id, 16);
    s_random_hex(span_id, 8);
    char *traceparent = zsys_sprintf("traceparent: 00-%s-%s-01", trace_id, span_id);
    const char *headers[] = {traceparent, NULL};
    char *body = s_order_body("c-trace", "TRACE-1", 1, "5", NULL, 0, NULL);
    char *order_id = s_create(fixture, body, headers);

    json_t *order = s_wait_status(fixture, order_id, "PAYMENT_STARTED");
    s_assert_str(order, "traceId", trace_id);
    json_decref(order);
    char *payment_path = zsys_sprintf("/payments/%s", order_id);
    json_t *payment = s_get(fixture, E2E_BILLING, 200, "%s", payment_path);
    s_assert_str(payment, "traceId", trace_id);
    s_assert_str(payment, "amount", "5.00");
    json_decref(payment);

    //  Each service logged about the order, always with the trace id.
    for (int which = 0; which < E2E_SERVICES; which++) {
        e2e_service_t *service = &fixture->system->services[which];
        log_wait_t wait = {service->proc, order_id, "trace_id", trace_id};
        if (!ts_wait_until(s_log_has, &wait, FLOW_MS)) {
            fail_msg("%s's log has no line with order_id %s and trace_id %s", service->name,
                     order_id, trace_id);
        }
        json_t *lines = e2e_log_lines(service->proc, "order_id", order_id);
        size_t index;
        json_t *line;
        json_array_foreach(lines, index, line)
        {
            const char *traced = e2e_json_str(line, "trace_id");
            if (!traced || !streq(traced, trace_id)) {
                fail_msg("%s logged about order %s with trace_id %s, not %s", service->name,
                         order_id, traced ? traced : "(none)", trace_id);
            }
        }
        json_decref(lines);
    }

    //  An invalid traceparent starts a new trace.
    const char *invalid[] = {"traceparent: 00-zz-not-a-trace", NULL};
    char *other_id = s_create(fixture, body, invalid);
    json_t *other = s_get(fixture, E2E_ORDER, 200, "/orders/%s", other_id);
    const char *new_trace = e2e_json_str(other, "traceId");
    assert_non_null(new_trace);
    assert_int_equal(strlen(new_trace), 32);
    assert_int_equal(strspn(new_trace, "0123456789abcdef"), 32);
    assert_string_not_equal(new_trace, "00000000000000000000000000000000");
    assert_string_not_equal(new_trace, trace_id);
    json_decref(other);
    json_decref(s_wait_status(fixture, other_id, "PAYMENT_STARTED"));

    freen(other_id);
    zstr_free(&payment_path);
    freen(order_id);
    zstr_free(&body);
    zstr_free(&traceparent);
}

//  A cancel releases the stock and voids the payment, once.
static void
test_cancel(void **state)
{
    fixture_t *fixture = *state;
    char *body = s_order_body("c-cancel", "CANCEL-1", 3, "2.50", NULL, 0, NULL);
    char *order_id = s_create(fixture, body, NULL);
    json_decref(s_wait_status(fixture, order_id, "PAYMENT_STARTED"));
    s_assert_stock(fixture, "CANCEL-1", 7, 3);
    char *cancel_path = zsys_sprintf("/orders/%s/cancel", order_id);
    char *order_path = zsys_sprintf("/orders/%s", order_id);

    //  A cancel with a bad body changes nothing.
    e2e_reply_t reply;
    char long_reason[260];
    memset(long_reason, 'r', 201);
    long_reason[201] = '\0';
    char *too_long = zsys_sprintf("{\"reason\": \"%s\"}", long_reason);
    const struct {
        const char *body;
        const char *code;
        const char *field;
    } bad[] = {{too_long, "invalid_value", "reason"},
               {"{\"reason\": \"\"}", "invalid_value", "reason"},
               {"{\"reason\": 5}", "invalid_type", "reason"},
               {"{\"why\": \"x\"}", "unknown_field", "why"},
               {"{\"reason\": ", "malformed_json", NULL}};
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        s_send(fixture, E2E_ORDER, "POST", cancel_path, NULL, bad[index].body, &reply);
        s_assert_error(&reply, 400, bad[index].code, bad[index].field, bad[index].body);
        e2e_reply_free(&reply);
    }
    json_t *unchanged = s_get(fixture, E2E_ORDER, 200, "%s", order_path);
    s_assert_str(unchanged, "status", "PAYMENT_STARTED");
    json_decref(unchanged);

    //  The cancel.
    s_send(fixture, E2E_ORDER, "POST", cancel_path, NULL, "{\"reason\": \"customer request\"}",
           &reply);
    if (reply.status != 200) {
        fail_msg("cancel: %ld %s", reply.status, reply.body);
    }
    s_assert_str(reply.json, "orderId", order_id);
    s_assert_str(reply.json, "status", "CANCELLED");
    s_assert_str(reply.json, "cancelReason", "customer request");
    e2e_reply_free(&reply);

    //  Inventory releases, billing voids, the read model records both.
    char *reservation_path = zsys_sprintf("/reservations/%s", order_id);
    json_decref(s_wait_field(fixture, E2E_INVENTORY, reservation_path, "status", "RELEASED"));
    char *payment_path = zsys_sprintf("/payments/%s", order_id);
    json_t *payment = s_wait_field(fixture, E2E_BILLING, payment_path, "status", "VOIDED");
    assert_non_null(e2e_json_str(payment, "voidedAt"));
    s_assert_str(payment, "amount", "7.50");
    json_decref(payment);
    const char *events[] = {"OrderCreated",
                            "StockReserved",
                            "PaymentStarted",
                            "OrderCancelled",
                            "StockReleased",
                            "PaymentVoided",
                            NULL};
    json_t *order = s_wait_history(fixture, order_id, events);
    s_assert_str(order, "status", "CANCELLED");
    assert_int_equal(json_array_size(json_object_get(order, "history")), 6);
    json_decref(order);
    s_wait_quiet(fixture);
    s_assert_stock(fixture, "CANCEL-1", 10, 0);

    //  A second cancel: 409 with the current state; nothing moves.
    s_send(fixture, E2E_ORDER, "POST", cancel_path, NULL, "{\"reason\": \"again\"}", &reply);
    s_assert_error(&reply, 409, "conflict", NULL, "second cancel");
    json_t *current = json_object_get(reply.json, "order");
    s_assert_str(current, "orderId", order_id);
    s_assert_str(current, "status", "CANCELLED");
    s_assert_str(current, "cancelReason", "customer request");
    e2e_reply_free(&reply);
    s_wait_quiet(fixture);
    s_assert_stock(fixture, "CANCEL-1", 10, 0);

    //  Unknown orders.
    char unknown[37];
    s_random_uuid(unknown);
    char *unknown_cancel = zsys_sprintf("/orders/%s/cancel", unknown);
    s_send(fixture, E2E_ORDER, "POST", unknown_cancel, NULL, "{}", &reply);
    s_assert_error(&reply, 404, "not_found", "id", "cancel of an unknown order");
    e2e_reply_free(&reply);
    char *unknown_get = zsys_sprintf("/orders/%s", unknown);
    json_t *missing = s_get(fixture, E2E_ORDER, 404, "%s", unknown_get);
    json_decref(missing);

    //  A cancel without a body, right after the create, has the default
    //  reason; what the order reserved and started is still undone.
    char *second_id = s_create(fixture, body, NULL);
    char *second_cancel = zsys_sprintf("/orders/%s/cancel", second_id);
    char *url = e2e_url(fixture->system, E2E_ORDER, second_cancel);
    assert_int_equal(e2e_http_call(fixture->http, "POST", url, NULL, NULL, &reply), 0);
    if (reply.status != 200) {
        fail_msg("cancel without a body: %ld %s", reply.status, reply.body);
    }
    s_assert_str(reply.json, "status", "CANCELLED");
    s_assert_str(reply.json, "cancelReason", "cancelled by request");
    e2e_reply_free(&reply);
    char *second_payment = zsys_sprintf("/payments/%s", second_id);
    json_decref(s_wait_field(fixture, E2E_BILLING, second_payment, "status", "VOIDED"));
    s_wait_quiet(fixture);
    s_assert_stock(fixture, "CANCEL-1", 10, 0);
    json_t *second = s_get(fixture, E2E_ORDER, 200, "/orders/%s", second_id);
    s_assert_str(second, "status", "CANCELLED");
    json_decref(second);

    zstr_free(&second_payment);
    zstr_free(&url);
    zstr_free(&second_cancel);
    freen(second_id);
    zstr_free(&unknown_get);
    zstr_free(&unknown_cancel);
    zstr_free(&payment_path);
    zstr_free(&reservation_path);
    zstr_free(&too_long);
    zstr_free(&order_path);
    zstr_free(&cancel_path);
    freen(order_id);
    zstr_free(&body);
}

//  An order for more than is in stock is rejected and cancelled by the
//  order service itself.
static void
test_out_of_stock(void **state)
{
    fixture_t *fixture = *state;
    char *body = s_order_body("c-scarce", "PLENTY-1", 2, "1.00", "SCARCE-1", 3, "4.00");
    char *order_id = s_create(fixture, body, NULL);
    json_t *order = s_wait_status(fixture, order_id, "REJECTED");
    const char *reason = e2e_json_str(order, "cancelReason");
    assert_non_null(reason);
    if (!strstr(reason, "SCARCE-1") || !strstr(reason, "requested 3") ||
        !strstr(reason, "available 1")) {
        fail_msg("the reason does not name the short SKU: %s", reason);
    }
    assert_false(json_is_true(json_object_get(order, "stockReserved")));
    json_decref(order);
    const char *events[] = {"OrderCreated", "StockRejected", "OrderCancelled", NULL};
    order = s_wait_history(fixture, order_id, events);
    json_t *cancelled = s_history_entry(order, "OrderCancelled");
    s_assert_str(cancelled, "stream", "order-0");
    const char *cancel_reason = e2e_json_str(cancelled, "reason");
    assert_non_null(cancel_reason);
    assert_non_null(strstr(cancel_reason, "SCARCE-1"));
    assert_null(s_history_entry(order, "StockReserved"));
    json_decref(order);

    //  Nothing was taken; the payment billing started is voided.
    char *reservation_path = zsys_sprintf("/reservations/%s", order_id);
    json_t *reservation = s_get(fixture, E2E_INVENTORY, 200, "%s", reservation_path);
    s_assert_str(reservation, "status", "REJECTED");
    json_decref(reservation);
    char *payment_path = zsys_sprintf("/payments/%s", order_id);
    json_decref(s_wait_field(fixture, E2E_BILLING, payment_path, "status", "VOIDED"));
    s_wait_quiet(fixture);
    s_assert_stock(fixture, "PLENTY-1", 10, 0);
    s_assert_stock(fixture, "SCARCE-1", 1, 0);
    order = s_get(fixture, E2E_ORDER, 200, "/orders/%s", order_id);
    s_assert_str(order, "status", "REJECTED");
    json_decref(order);

    //  A rejected order cannot be cancelled again.
    char *cancel_path = zsys_sprintf("/orders/%s/cancel", order_id);
    e2e_reply_t reply;
    s_send(fixture, E2E_ORDER, "POST", cancel_path, NULL, "{}", &reply);
    s_assert_error(&reply, 409, "conflict", NULL, "cancel of a rejected order");
    s_assert_str(json_object_get(reply.json, "order"), "status", "REJECTED");
    e2e_reply_free(&reply);

    zstr_free(&cancel_path);
    zstr_free(&payment_path);
    zstr_free(&reservation_path);
    freen(order_id);
    zstr_free(&body);
}

//  POST the idempotent order; returns the reply (caller frees).
static void
s_post_idempotent(fixture_t *fixture, const char *key_header, const char *body, e2e_reply_t *reply)
{
    const char *headers[] = {key_header, NULL};
    s_send(fixture, E2E_ORDER, "POST", "/orders", headers, body, reply);
}

//  One Idempotency-Key, one order: on a retry, and after a restart.
static void
test_idempotent_retry(void **state)
{
    fixture_t *fixture = *state;
    char key[33];
    s_random_hex(key, 16);
    char *key_header = zsys_sprintf("Idempotency-Key: retry-%s", key);
    char *body = s_order_body("c-idem", "IDEM-1", 1, "3.30", NULL, 0, NULL);

    e2e_reply_t reply;
    s_post_idempotent(fixture, key_header, body, &reply);
    assert_int_equal(reply.status, 201);
    assert_false(reply.replayed);
    char *order_id = strdup(e2e_json_str(reply.json, "orderId"));
    char *location = strdup(reply.location);
    e2e_reply_free(&reply);

    s_post_idempotent(fixture, key_header, body, &reply);
    if (reply.status != 201 || !reply.replayed) {
        fail_msg("retry: %ld replayed %d: %s", reply.status, reply.replayed, reply.body);
    }
    s_assert_str(reply.json, "orderId", order_id);
    assert_string_equal(reply.location, location);
    e2e_reply_free(&reply);
    assert_int_equal(s_list_count(fixture, "c-idem"), 1);

    //  A clean stop exits 0; the key is remembered across the restart.
    ts_proc_t *proc = fixture->system->services[E2E_ORDER].proc;
    assert_int_equal(ts_proc_term(proc, E2E_STOP_MS), 0);
    assert_int_equal(e2e_service_restart(fixture->system, E2E_ORDER), 0);
    s_post_idempotent(fixture, key_header, body, &reply);
    if (reply.status != 201 || !reply.replayed) {
        fail_msg("retry after restart: %ld replayed %d: %s", reply.status, reply.replayed,
                 reply.body);
    }
    s_assert_str(reply.json, "orderId", order_id);
    e2e_reply_free(&reply);
    assert_int_equal(s_list_count(fixture, "c-idem"), 1);

    //  The same key with another body is refused.
    char *other = s_order_body("c-idem", "IDEM-1", 2, "3.30", NULL, 0, NULL);
    s_post_idempotent(fixture, key_header, other, &reply);
    s_assert_error(&reply, 422, "idempotency_key_reused", "Idempotency-Key", "key reused");
    e2e_reply_free(&reply);
    assert_int_equal(s_list_count(fixture, "c-idem"), 1);

    //  One reservation of one unit: the order was published once.
    json_decref(s_wait_status(fixture, order_id, "PAYMENT_STARTED"));
    s_wait_quiet(fixture);
    s_assert_stock(fixture, "IDEM-1", 99, 1);

    zstr_free(&other);
    freen(location);
    freen(order_id);
    zstr_free(&body);
    zstr_free(&key_header);
}

//  One request of the bad-input table.
typedef struct {
    const char *what;         //  the case, for messages
    const char *method;       //  "POST"
    const char *path;         //  "/orders"
    const char *content_type; //  the header line, or NULL for none
    const char *body;         //  or NULL
    const char *extra_header; //  or NULL
    long status;              //  expected
    const char *code;         //  expected error code
    const char *field;        //  expected field, NULL for null
} bad_case_t;

#define ITEM "{\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"1.00\"}"
#define JSON_TYPE "Content-Type: application/json"
#define ORDER_WITH(items) "{\"customerId\": \"c-bad\", \"currency\": \"EUR\", \"items\": " items "}"
#define ORDER_ITEM(fields) ORDER_WITH("[{" fields "}]")

static void
s_run_bad_case(fixture_t *fixture, e2e_which_t which, const bad_case_t *bad)
{
    const char *headers[3] = {NULL, NULL, NULL};
    size_t count = 0;
    //  No Content-Type at all: curl would add a form type to a body.
    headers[count++] = bad->content_type ? bad->content_type : "Content-Type:";
    if (bad->extra_header) {
        headers[count++] = bad->extra_header;
    }
    char *url = e2e_url(fixture->system, which, bad->path);
    e2e_reply_t reply;
    assert_int_equal(e2e_http_call(fixture->http, bad->method, url, headers, bad->body, &reply), 0);
    s_assert_error(&reply, bad->status, bad->code, bad->field, bad->what);
    e2e_reply_free(&reply);
    zstr_free(&url);
}

//  Every error of POST /orders and the order routes; nothing stored.
static void
test_bad_input_orders(void **state)
{
    fixture_t *fixture = *state;
    s_wait_quiet(fixture);
    long order_tail = e2e_stream_tail(fixture->system, E2E_ORDER);
    assert_true(order_tail > 0);
    PGconn *inventory = fixture->system->services[E2E_INVENTORY].conn;
    const char *count_reservations = "SELECT count(*) FROM inventory_reservations";
    long reservations = e2e_sql_number(inventory, count_reservations, NULL);
    assert_true(reservations > 0);

    char long_customer[100], long_sku[100], long_key[300];
    memset(long_customer, 'c', 65);
    long_customer[65] = '\0';
    memset(long_sku, 'S', 65);
    long_sku[65] = '\0';
    (void) snprintf(long_key, sizeof long_key, "Idempotency-Key: %0256d", 7);
    char *customer_too_long = zsys_sprintf(
        "{\"customerId\": \"%s\", \"currency\": \"EUR\", \"items\": [" ITEM "]}", long_customer);
    char *sku_too_long = zsys_sprintf(ORDER_ITEM("\"sku\": \"%s\", \"quantity\": 1, "
                                                 "\"unitPrice\": \"1.00\""),
                                      long_sku);
    zchunk_t *many = zchunk_new("[", 1);
    for (int index = 0; index < 101; index++) {
        zchunk_extend(many, index ? "," ITEM : ITEM, strlen(ITEM) + (index ? 1 : 0));
    }
    zchunk_extend(many, "]", 1);
    char *too_many = zsys_sprintf("{\"customerId\": \"c-bad\", \"currency\": \"EUR\", "
                                  "\"items\": %.*s}",
                                  (int) zchunk_size(many), (char *) zchunk_data(many));
    zchunk_destroy(&many);
    char *huge = (char *) zmalloc(BODY_TOO_LARGE + 100);
    char *padding = (char *) zmalloc(BODY_TOO_LARGE + 1);
    memset(padding, 'x', BODY_TOO_LARGE);
    (void) snprintf(huge, BODY_TOO_LARGE + 100, "{\"customerId\": \"%s\"}", padding);
    freen(padding);

    const bad_case_t cases[] = {
        {"missing customerId", "POST", "/orders", JSON_TYPE,
         "{\"currency\": \"EUR\", \"items\": [" ITEM "]}", NULL, 400, "missing_field",
         "customerId"},
        {"null customerId", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": null, \"currency\": \"EUR\", \"items\": [" ITEM "]}", NULL, 400,
         "missing_field", "customerId"},
        {"missing currency", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"items\": [" ITEM "]}", NULL, 400, "missing_field",
         "currency"},
        {"missing items", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"currency\": \"EUR\"}", NULL, 400, "missing_field", "items"},
        {"missing quantity", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"unitPrice\": \"1.00\""), NULL, 400, "missing_field",
         "items[0].quantity"},
        {"unknown field", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"currency\": \"EUR\", \"items\": [" ITEM "],"
         " \"note\": \"x\"}",
         NULL, 400, "unknown_field", "note"},
        {"unknown item field", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"1.00\", "
                    "\"color\": \"red\""),
         NULL, 400, "unknown_field", "items[0].color"},
        {"quantity a string", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": \"1\", \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_type", "items[0].quantity"},
        {"unitPrice a number", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": 1.00"), NULL, 400,
         "invalid_type", "items[0].unitPrice"},
        {"customerId a number", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": 42, \"currency\": \"EUR\", \"items\": [" ITEM "]}", NULL, 400,
         "invalid_type", "customerId"},
        {"items an object", "POST", "/orders", JSON_TYPE, ORDER_WITH(ITEM), NULL, 400,
         "invalid_type", "items"},
        {"quantity 0", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 0, \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_value", "items[0].quantity"},
        {"quantity -1", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": -1, \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_value", "items[0].quantity"},
        {"quantity 1001", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1001, \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_value", "items[0].quantity"},
        {"quantity 1.5", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1.5, \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_value", "items[0].quantity"},
        {"second item bad", "POST", "/orders", JSON_TYPE,
         ORDER_WITH("[" ITEM ", {\"sku\": \"BAD-1\", \"quantity\": 0, \"unitPrice\": \"1\"}]"),
         NULL, 400, "invalid_value", "items[1].quantity"},
        {"empty items", "POST", "/orders", JSON_TYPE, ORDER_WITH("[]"), NULL, 400, "empty",
         "items"},
        {"101 items", "POST", "/orders", JSON_TYPE, too_many, NULL, 400, "too_many", "items"},
        {"unknown currency", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"currency\": \"XYZ\", \"items\": [" ITEM "]}", NULL, 400,
         "invalid_currency", "currency"},
        {"currency too long", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"currency\": \"EURO\", \"items\": [" ITEM "]}", NULL, 400,
         "invalid_currency", "currency"},
        {"amount not a decimal", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"abc\""), NULL, 400,
         "invalid_amount", "items[0].unitPrice"},
        {"amount too precise", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"19.999\""), NULL, 400,
         "invalid_amount", "items[0].unitPrice"},
        {"amount negative", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"-1.00\""), NULL, 400,
         "invalid_amount", "items[0].unitPrice"},
        {"amount too large", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD-1\", \"quantity\": 1, \"unitPrice\": \"1000000000.01\""), NULL,
         400, "invalid_amount", "items[0].unitPrice"},
        {"JPY with a fraction", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\", \"currency\": \"JPY\", \"items\": [{\"sku\": \"BAD-1\","
         " \"quantity\": 1, \"unitPrice\": \"10.5\"}]}",
         NULL, 400, "invalid_amount", "items[0].unitPrice"},
        {"customerId empty", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"\", \"currency\": \"EUR\", \"items\": [" ITEM "]}", NULL, 400,
         "invalid_value", "customerId"},
        {"customerId too long", "POST", "/orders", JSON_TYPE, customer_too_long, NULL, 400,
         "invalid_value", "customerId"},
        {"customerId with a control character", "POST", "/orders", JSON_TYPE,
         "{\"customerId\": \"c-bad\\u0001\", \"currency\": \"EUR\", \"items\": [" ITEM "]}", NULL,
         400, "invalid_value", "customerId"},
        {"sku with a space", "POST", "/orders", JSON_TYPE,
         ORDER_ITEM("\"sku\": \"BAD 1\", \"quantity\": 1, \"unitPrice\": \"1.00\""), NULL, 400,
         "invalid_value", "items[0].sku"},
        {"sku too long", "POST", "/orders", JSON_TYPE, sku_too_long, NULL, 400, "invalid_value",
         "items[0].sku"},
        {"Idempotency-Key too long", "POST", "/orders", JSON_TYPE, ORDER_WITH("[" ITEM "]"),
         long_key, 400, "invalid_value", "Idempotency-Key"},
        {"body too large", "POST", "/orders", JSON_TYPE, huge, NULL, 413, "body_too_large", NULL},
        {"text/plain", "POST", "/orders", "Content-Type: text/plain", ORDER_WITH("[" ITEM "]"),
         NULL, 415, "unsupported_media_type", NULL},
        {"no content type", "POST", "/orders", NULL, ORDER_WITH("[" ITEM "]"), NULL, 415,
         "unsupported_media_type", NULL},
        {"malformed JSON", "POST", "/orders", JSON_TYPE, "{\"customerId\": \"c-bad\", ", NULL, 400,
         "malformed_json", NULL},
        {"JSON not an object", "POST", "/orders", JSON_TYPE, "[" ITEM "]", NULL, 400,
         "invalid_body", NULL},
        {"order id not a UUID", "GET", "/orders/not-a-uuid", NULL, NULL, NULL, 400, "invalid_uuid",
         "id"},
        {"cancel id not a UUID", "POST", "/orders/1234/cancel", JSON_TYPE, "{}", NULL, 400,
         "invalid_uuid", "id"},
        {"list without customerId", "GET", "/orders", NULL, NULL, NULL, 400, "missing_field",
         "customerId"},
        {"list limit 0", "GET", "/orders?customerId=c-bad&limit=0", NULL, NULL, NULL, 400,
         "invalid_value", "limit"},
        {"list limit 101", "GET", "/orders?customerId=c-bad&limit=101", NULL, NULL, NULL, 400,
         "invalid_value", "limit"},
        {"list limit not a number", "GET", "/orders?customerId=c-bad&limit=ten", NULL, NULL, NULL,
         400, "invalid_value", "limit"},
        {"list after not a UUID", "GET", "/orders?customerId=c-bad&after=xyz", NULL, NULL, NULL,
         400, "invalid_uuid", "after"},
        {"DELETE /orders", "DELETE", "/orders", NULL, NULL, NULL, 405, "method_not_allowed", NULL},
        {"no such route", "GET", "/no/such/route", NULL, NULL, NULL, 404, "not_found", NULL},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        s_run_bad_case(fixture, E2E_ORDER, &cases[index]);
    }

    //  Nothing stored: no order for the customer, no event published, so
    //  inventory and billing saw nothing either.
    assert_int_equal(s_list_count(fixture, "c-bad"), 0);
    assert_int_equal(e2e_stream_tail(fixture->system, E2E_ORDER), order_tail);
    s_wait_quiet(fixture);
    assert_int_equal(e2e_stream_tail(fixture->system, E2E_ORDER), order_tail);
    assert_int_equal(e2e_sql_number(inventory, count_reservations, NULL), reservations);
    s_assert_stock(fixture, "BAD-1", 10, 0);

    freen(huge);
    zstr_free(&too_many);
    zstr_free(&sku_too_long);
    zstr_free(&customer_too_long);
}

//  The errors of inventory's and billing's routes; nothing stored.
static void
test_bad_input_inventory_billing(void **state)
{
    fixture_t *fixture = *state;
    const bad_case_t inventory[] = {
        {"sku with a space", "PUT", "/stock/BAD%201", JSON_TYPE, "{\"available\": 1}", NULL, 400,
         "invalid_value", "sku"},
        {"available negative", "PUT", "/stock/NEW-1", JSON_TYPE, "{\"available\": -1}", NULL, 400,
         "invalid_value", "available"},
        {"available too large", "PUT", "/stock/NEW-1", JSON_TYPE, "{\"available\": 1000000001}",
         NULL, 400, "invalid_value", "available"},
        {"available a string", "PUT", "/stock/NEW-1", JSON_TYPE, "{\"available\": \"5\"}", NULL,
         400, "invalid_type", "available"},
        {"available missing", "PUT", "/stock/NEW-1", JSON_TYPE, "{}", NULL, 400, "missing_field",
         "available"},
        {"unknown field", "PUT", "/stock/NEW-1", JSON_TYPE, "{\"available\": 1, \"extra\": 2}",
         NULL, 400, "unknown_field", "extra"},
        {"text/plain", "PUT", "/stock/NEW-1", "Content-Type: text/plain", "{\"available\": 1}",
         NULL, 415, "unsupported_media_type", NULL},
        {"malformed JSON", "PUT", "/stock/NEW-1", JSON_TYPE, "{\"available\": ", NULL, 400,
         "malformed_json", NULL},
        {"unknown SKU", "GET", "/stock/NEVER-SET", NULL, NULL, NULL, 404, "not_found", "sku"},
        {"list limit 0", "GET", "/stock?limit=0", NULL, NULL, NULL, 400, "invalid_value", "limit"},
        {"list limit 1001", "GET", "/stock?limit=1001", NULL, NULL, NULL, 400, "invalid_value",
         "limit"},
        {"unknown reservation", "GET", "/reservations/00000000-0000-4000-8000-000000000001", NULL,
         NULL, NULL, 404, "not_found", "orderId"},
    };
    for (size_t index = 0; index < sizeof inventory / sizeof inventory[0]; index++) {
        s_run_bad_case(fixture, E2E_INVENTORY, &inventory[index]);
    }
    json_decref(s_get(fixture, E2E_INVENTORY, 404, "/stock/NEW-1"));

    const bad_case_t billing[] = {
        {"unknown payment", "GET", "/payments/00000000-0000-4000-8000-000000000001", NULL, NULL,
         NULL, 404, "not_found", "orderId"},
        {"dead letter id not a number", "POST", "/dead-letters/abc/retry", JSON_TYPE, "{}", NULL,
         400, "invalid_value", "id"},
        {"unknown dead letter", "DELETE", "/dead-letters/999999", NULL, NULL, NULL, 404,
         "not_found", "id"},
    };
    for (size_t index = 0; index < sizeof billing / sizeof billing[0]; index++) {
        s_run_bad_case(fixture, E2E_BILLING, &billing[index]);
    }

    //  A path id that is not a UUID: the contract names the parameter
    //  ("id" for orders; these routes call it orderId).
    const struct {
        e2e_which_t which;
        const char *path;
    } not_uuid[] = {{E2E_INVENTORY, "/reservations/not-a-uuid"},
                    {E2E_BILLING, "/payments/not-a-uuid"}};
    for (size_t index = 0; index < 2; index++) {
        json_t *answer = s_get(fixture, not_uuid[index].which, 400, "%s", not_uuid[index].path);
        json_t *error = json_object_get(answer, "error");
        s_assert_str(error, "code", "invalid_uuid");
        const char *field = e2e_json_str(error, "field");
        if (!field || !(streq(field, "id") || streq(field, "orderId"))) {
            fail_msg("%s: field %s, expected the path parameter", not_uuid[index].path,
                     field ? field : "null");
        }
        json_decref(answer);
    }
}

//  No dead letters; every service exits 0 on SIGTERM.
static void
test_shutdown(void **state)
{
    fixture_t *fixture = *state;
    s_wait_quiet(fixture);
    for (int which = 0; which < E2E_SERVICES; which++) {
        e2e_service_t *service = &fixture->system->services[which];
        assert_int_equal(
            e2e_sql_number(service->conn, "SELECT count(*) FROM bus_dead_letters", NULL), 0);
        json_t *dead = s_get(fixture, (e2e_which_t) which, 200, "/dead-letters");
        assert_int_equal(json_array_size(json_object_get(dead, "items")), 0);
        json_decref(dead);
    }
    for (int which = E2E_SERVICES - 1; which >= 0; which--) {
        e2e_service_t *service = &fixture->system->services[which];
        int code = ts_proc_term(service->proc, E2E_STOP_MS);
        if (code != 0) {
            ts_proc_log_dump(service->proc, "exit code not 0 after SIGTERM", 20);
            fail_msg("%s-service exited with %d after SIGTERM", service->name, code);
        }
    }
}

int
main(void)
{
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_tracing),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_out_of_stock),
        cmocka_unit_test(test_idempotent_retry),
        cmocka_unit_test(test_bad_input_orders),
        cmocka_unit_test(test_bad_input_inventory_billing),
        cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
