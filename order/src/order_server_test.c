/*  =========================================================================
    order_server_test - the order service in-process, through real HTTP

    Each case starts the service with bus_service_new and the same hooks
    as order_main.c, on fresh databases (TEST_PG_DSN), HTTP on an
    ephemeral port and PUB on "tcp://127.0.0.1:*". A stand-in publisher
    stream ("inventory-0", its own database: ts_peer.h) plays inventory and billing:
    its units append StockReserved, PaymentStarted, StockRejected. Requests
    go through libcurl (ts_http_request; one case reads a response header
    with libcurl itself). Every bad input of docs/http-api.md is sent and
    must be answered with its status, code and field, and leave nothing in
    the database. The log goes to a temporary file that the cases read.
    Waits are ts_wait_until on a condition; nothing sleeps.
    =========================================================================
*/
#include "order_classes.h"
#include "order_server.h"
#include "order_store.h"
#include "ts.h"
#include "ts_peer.h"
#include "ts_service.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define WAIT_MS 20000
#define HTTP_MS 10000

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

#define ITEM "{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"}"
#define BODY_A                                                                                     \
    "{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": [" ITEM ","                      \
    "{\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.99\"}]}"
#define BODY(customer, currency, items)                                                            \
    "{\"customerId\": " customer ", \"currency\": " currency ", \"items\": " items "}"

static const char *const s_json[] = {"Content-Type: application/json", NULL};

static const bus_service_def_t s_def = {.name = "order",
                                        .description = "order service under test",
                                        .http_addr = "127.0.0.1:0",
                                        .pub_endpoint = "tcp://127.0.0.1:*",
                                        .publishers = "",
                                        .database = "",
                                        .migrations = order_migrations,
                                        .types = order_server_types,
                                        .batch_handler = order_server_apply,
                                        .writer_for_appends = true,
                                        .start = order_server_start,
                                        .stop = order_server_stop};

typedef struct {
    char *order_db;         //  (owned)
    FILE *log_file;         //  the service's log (owned)
    svc_log_t *log;         //  (owned)
    svc_metrics_t *metrics; //  (owned)
    ts_peer_t *peer;        //  the stand-in "inventory-0" (owned)
    svc_config_t *config;   //  (owned)
    bus_service_t *service; //  (owned)
    char *base;             //  "http://127.0.0.1:<port>" (owned)
    PGconn *conn;           //  to the order database (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->order_db = ts_pg_create_db();
    fixture->log_file = tmpfile();
    assert_non_null(fixture->log_file);
    fixture->log = svc_log_new("order", "order-0", SVC_LOG_INFO, fixture->log_file);
    fixture->metrics = svc_metrics_new();
    fixture->peer = ts_peer_new("inventory-0", 50);
    const char *args[] = {"--http-addr",
                          "127.0.0.1:0",
                          "--pub-endpoint",
                          "tcp://127.0.0.1:*",
                          "--database-url",
                          fixture->order_db,
                          "--publishers",
                          ts_peer_publishers(fixture->peer),
                          NULL};
    fixture->service =
        ts_service_start(&s_def, args, fixture->log, fixture->metrics, &fixture->config);
    fixture->base = zsys_sprintf("http://127.0.0.1:%d", bus_service_http_port(fixture->service));
    fixture->conn = ts_pg_connect(fixture->order_db);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    PQfinish(fixture->conn);
    bus_service_destroy(&fixture->service);
    svc_config_destroy(&fixture->config);
    ts_peer_destroy(&fixture->peer);
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    (void) fclose(fixture->log_file);
    zstr_free(&fixture->base);
    ts_pg_drop_db(&fixture->order_db);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  HTTP

//  Send a request; returns the status, *json_out the parsed body (caller
//  decrefs; NULL if not JSON).
static long
s_request(fixture_t *fixture,
          const char *method,
          const char *path,
          const char *const *headers,
          const char *body,
          json_t **json_out)
{
    char *url = zsys_sprintf("%s%s", fixture->base, path);
    ts_http_reply_t reply;
    int rc = ts_http_request(method, url, headers, body, body ? strlen(body) : 0, HTTP_MS, &reply);
    zstr_free(&url);
    assert_int_equal(rc, 0);
    long status = reply.status;
    if (json_out) {
        *json_out = json_loads(reply.body, 0, NULL);
    }
    ts_http_reply_free(&reply);
    return status;
}

//  POST a JSON body; returns the status and the parsed body.
static long
s_post(fixture_t *fixture, const char *path, const char *body, json_t **json_out)
{
    return s_request(fixture, "POST", path, s_json, body, json_out);
}

//  Create an order from `body`; returns it (caller decrefs).
static json_t *
s_create(fixture_t *fixture, const char *body)
{
    json_t *order = NULL;
    assert_int_equal(s_post(fixture, "/orders", body, &order), 201);
    assert_non_null(order);
    return order;
}

static const char *
s_string(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    if (!text) {
        fail_msg("no string member %s", key);
    }
    return text;
}

//  GET /orders/<id>; returns the order (caller decrefs).
static json_t *
s_get(fixture_t *fixture, const char *order_id)
{
    char *path = zsys_sprintf("/orders/%s", order_id);
    json_t *order = NULL;
    assert_int_equal(s_request(fixture, "GET", path, NULL, NULL, &order), 200);
    zstr_free(&path);
    return order;
}

//  Assert an error body: status, code, field (NULL: null).
static void
s_assert_error(const json_t *body, long status, const char *code, const char *field)
{
    const json_t *error = json_object_get(body, "error");
    if (!error) {
        fail_msg("no error body");
    }
    assert_int_equal(json_integer_value(json_object_get(error, "status")), status);
    assert_string_equal(s_string(error, "code"), code);
    const json_t *named = json_object_get(error, "field");
    if (field) {
        assert_string_equal(json_string_value(named), field);
    } else {
        assert_true(json_is_null(named));
    }
    assert_true(strlen(s_string(error, "message")) > 0);
}

//  A request that must be refused: status, code, field (NULL for null).
static void
s_expect(fixture_t *fixture,
         const char *method,
         const char *path,
         const char *const *headers,
         const char *body,
         long status,
         const char *code,
         const char *field)
{
    json_t *reply = NULL;
    long got = s_request(fixture, method, path, headers, body, &reply);
    if (got != status) {
        fail_msg("%s %s: %ld, want %ld (%s): %.200s", method, path, got, status, code,
                 body ? body : "");
    }
    s_assert_error(reply, status, code, field);
    json_decref(reply);
}

//  Whether the log holds a line with every one of `needles`.
static bool
s_log_has(fixture_t *fixture, const char *const *needles)
{
    (void) fflush(fixture->log_file);
    rewind(fixture->log_file);
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, fixture->log_file)) {
        found = true;
        for (const char *const *needle = needles; *needle && found; needle++) {
            found = strstr(line, *needle) != NULL;
        }
    }
    (void) fseek(fixture->log_file, 0, SEEK_END);
    return found;
}

//  --------------------------------------------------------------------------
//  The stand-in publisher.

typedef struct {
    Ev__V1__Envelope__PayloadCase payload_case;
    svc_uuid_t order_id;
    const char *sku;
    uint32_t requested;
    uint32_t available;
} publish_t;

static int
s_publish_unit(bus_tx_t *tx, void *arg)
{
    publish_t *publish = arg;
    ProtobufCBinaryData order_id = {16, publish->order_id.bytes};
    Ev__V1__StockReserved reserved;
    ev__v1__stock_reserved__init(&reserved);
    reserved.order_id = order_id;
    Ev__V1__StockRejected rejected;
    ev__v1__stock_rejected__init(&rejected);
    rejected.order_id = order_id;
    rejected.sku = (char *) publish->sku;
    rejected.requested = publish->requested;
    rejected.available = publish->available;
    Ev__V1__Money amount;
    ev__v1__money__init(&amount);
    amount.currency = "EUR";
    amount.amount_minor = 5997;
    Ev__V1__PaymentStarted started;
    ev__v1__payment_started__init(&started);
    started.order_id = order_id;
    started.amount = &amount;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.traceparent = TRACEPARENT;
    envelope.payload_case = publish->payload_case;
    if (publish->payload_case == EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED) {
        envelope.stock_rejected = &rejected;
    } else if (publish->payload_case == EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED) {
        envelope.payment_started = &started;
    } else {
        envelope.stock_reserved = &reserved;
    }
    return bus_tx_append(tx, &envelope, publish->order_id.bytes, 16);
}

static void
s_publish(fixture_t *fixture, publish_t *publish)
{
    assert_int_equal(
        bus_producer_call(ts_peer_producer(fixture->peer), s_publish_unit, publish, NULL), BUS_OK);
}

static void
s_publish_about(fixture_t *fixture, Ev__V1__Envelope__PayloadCase payload_case, const char *id)
{
    publish_t publish = {.payload_case = payload_case};
    assert_int_equal(svc_uuid_parse(id, &publish.order_id), 0);
    s_publish(fixture, &publish);
}

//  Waiting for an order's status.
typedef struct {
    fixture_t *fixture;
    const char *order_id;
    const char *status;
    size_t history;
} status_wait_t;

static bool
s_status_reached(void *arg)
{
    status_wait_t *wait = arg;
    json_t *order = s_get(wait->fixture, wait->order_id);
    bool reached = streq(s_string(order, "status"), wait->status) &&
                   json_array_size(json_object_get(order, "history")) >= wait->history;
    json_decref(order);
    return reached;
}

static void
s_wait_status(fixture_t *fixture, const char *order_id, const char *status, size_t history)
{
    status_wait_t wait = {fixture, order_id, status, history};
    if (!ts_wait_until(s_status_reached, &wait, WAIT_MS)) {
        fail_msg("order %s never reached %s with %zu history entries", order_id, status, history);
    }
}

//  ==========================================================================
//  Cases

//  The usage example: create an order, read it back.
static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    json_t *created = s_create(fixture, BODY_A);
    json_t *order = s_get(fixture, s_string(created, "orderId"));
    assert_true(json_equal(created, order));
    json_decref(order);
    json_decref(created);
}

//  POST /orders: 201, Location, the order; GET shows the same. The
//  request's traceparent becomes the order's trace.
static void
test_create_and_get(void **state)
{
    fixture_t *fixture = *state;
    const char *headers[] = {"Content-Type: application/json", "traceparent: " TRACEPARENT, NULL};
    char *url = zsys_sprintf("%s/orders", fixture->base);
    ts_http_reply_t reply;
    assert_int_equal(ts_http_request("POST", url, headers, BODY_A, strlen(BODY_A), HTTP_MS, &reply),
                     0);
    zstr_free(&url);
    assert_int_equal(reply.status, 201);
    assert_non_null(strstr(reply.content_type, "application/json"));
    json_t *created = json_loads(reply.body, 0, NULL);
    assert_non_null(created);
    const char *id = s_string(created, "orderId");
    svc_uuid_t uuid;
    assert_int_equal(svc_uuid_parse(id, &uuid), 0);
    assert_int_equal(svc_uuid_version(&uuid), 7);
    char *location = zsys_sprintf("/orders/%s", id);
    assert_string_equal(reply.location, location);
    zstr_free(&location);
    ts_http_reply_free(&reply);

    assert_string_equal(s_string(created, "customerId"), "c-42");
    assert_string_equal(s_string(created, "currency"), "EUR");
    assert_string_equal(s_string(created, "total"), "59.97");
    assert_string_equal(s_string(created, "status"), "PENDING");
    assert_true(json_is_false(json_object_get(created, "stockReserved")));
    assert_true(json_is_false(json_object_get(created, "paymentStarted")));
    assert_true(json_is_null(json_object_get(created, "cancelReason")));
    assert_string_equal(s_string(created, "traceId"), TRACE_ID);
    assert_string_equal(s_string(created, "createdAt"), s_string(created, "updatedAt"));
    assert_int_equal(strlen(s_string(created, "createdAt")), 27);
    json_t *items = json_object_get(created, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(s_string(json_array_get(items, 0), "unitPrice"), "19.99");
    json_t *history = json_object_get(created, "history");
    assert_int_equal(json_array_size(history), 1);
    json_t *entry = json_array_get(history, 0);
    assert_string_equal(s_string(entry, "event"), "OrderCreated");
    assert_string_equal(s_string(entry, "stream"), "order-0");
    assert_int_equal(json_integer_value(json_object_get(entry, "seq")), 1);
    assert_string_equal(s_string(entry, "at"), s_string(created, "createdAt"));

    json_t *order = s_get(fixture, id);
    assert_true(json_equal(created, order));
    json_decref(order);

    //  The milestone is logged with the order and its trace.
    char *needle = zsys_sprintf("\"order_id\":\"%s\"", id);
    const char *needles[] = {"\"event\":\"order.created\"", needle, "\"trace_id\":\"" TRACE_ID "\"",
                             NULL};
    assert_true(s_log_has(fixture, needles));
    zstr_free(&needle);

    //  Without a traceparent (or with a bad one) a new trace starts.
    const char *bad[] = {"Content-Type: application/json", "traceparent: 00-zz", NULL};
    json_t *other = NULL;
    assert_int_equal(s_request(fixture, "POST", "/orders", bad, BODY_A, &other), 201);
    assert_int_equal(strlen(s_string(other, "traceId")), 32);
    assert_string_not_equal(s_string(other, "traceId"), TRACE_ID);
    json_decref(other);
    json_decref(created);
}

//  Every bad input: its status, code and field, and nothing stored.
static void
test_bad_input(void **state)
{
    fixture_t *fixture = *state;
    typedef struct {
        const char *body;
        const char *code;
        const char *field;
    } body_case_t;
    const body_case_t bodies[] = {
        {"{\"customerId\": ", "malformed_json", NULL},
        {"{\"a\": 1, \"a\": 2}", "malformed_json", NULL},
        {"[1]", "invalid_body", NULL},
        {"{\"customerId\": \"c\", \"color\": \"red\"}", "unknown_field", "color"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1\","
              " \"note\": 1}]"),
         "unknown_field", "items[0].note"},
        {"{\"currency\": \"EUR\", \"items\": [" ITEM "]}", "missing_field", "customerId"},
        {BODY("null", "\"EUR\"", "[" ITEM "]"), "missing_field", "customerId"},
        {BODY("7", "\"EUR\"", "[" ITEM "]"), "invalid_type", "customerId"},
        {BODY("\"\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"c\\u0007\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", "\"EUR\"",
              "[" ITEM "]"),
         "invalid_value", "customerId"},
        {"{\"customerId\": \"c\", \"items\": [" ITEM "]}", "missing_field", "currency"},
        {BODY("\"c\"", "1", "[" ITEM "]"), "invalid_type", "currency"},
        {BODY("\"c\"", "\"EURO\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"xyz\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {"{\"customerId\": \"c\", \"currency\": \"EUR\"}", "missing_field", "items"},
        {BODY("\"c\"", "\"EUR\"", "{}"), "invalid_type", "items"},
        {BODY("\"c\"", "\"EUR\"", "[]"), "empty", "items"},
        {BODY("\"c\"", "\"EUR\"", "[3]"), "invalid_type", "items[0]"},
        {BODY("\"c\"", "\"EUR\"", "[{\"quantity\": 1, \"unitPrice\": \"1\"}]"), "missing_field",
         "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": 1, \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_type", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"a b\", \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS\","
              " \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"unitPrice\": \"1\"}]"), "missing_field",
         "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": \"1\", \"unitPrice\": \"1\"}]"),
         "invalid_type", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 0, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"",
              "[" ITEM ", {\"sku\": \"A\", \"quantity\": 1001,"
              " \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[1].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1.5, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1}]"), "missing_field",
         "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": 19.99}]"),
         "invalid_type", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"x\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1.999\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"-5\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1000000000.01\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"JPY\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
         "invalid_amount", "items[0].unitPrice"},
    };
    for (size_t index = 0; index < sizeof bodies / sizeof bodies[0]; index++) {
        s_expect(fixture, "POST", "/orders", s_json, bodies[index].body, 400, bodies[index].code,
                 bodies[index].field);
    }

    //  101 items.
    size_t item_size = strlen("," ITEM);
    char *items = zmalloc(101 * item_size + 1);
    for (size_t index = 0; index < 101; index++) {
        memcpy(items + index * item_size, "," ITEM, item_size);
    }
    items[101 * item_size] = '\0';
    //  Past the first comma.
    char *body =
        zsys_sprintf("{\"customerId\": \"c\", \"currency\": \"EUR\", \"items\": [%s]}", items + 1);
    s_expect(fixture, "POST", "/orders", s_json, body, 400, "too_many", "items");
    zstr_free(&body);
    freen(items);

    //  Media type, size, headers.
    const char *text[] = {"Content-Type: text/plain", NULL};
    s_expect(fixture, "POST", "/orders", text, BODY_A, 415, "unsupported_media_type", NULL);
    s_expect(fixture, "POST", "/orders", NULL, BODY_A, 415, "unsupported_media_type", NULL);
    size_t large_size = (size_t) 70 * 1024;
    char *large = zmalloc(large_size + 1);
    memset(large, ' ', large_size);
    large[0] = '{';
    large[large_size - 1] = '}';
    s_expect(fixture, "POST", "/orders", s_json, large, 413, "body_too_large", NULL);
    freen(large);
    char key_header[300] = "Idempotency-Key: ";
    memset(key_header + strlen(key_header), 'k', 256);
    const char *long_key[] = {"Content-Type: application/json", key_header, NULL};
    s_expect(fixture, "POST", "/orders", long_key, BODY_A, 400, "invalid_value", "Idempotency-Key");
    const char *control_key[] = {"Content-Type: application/json", "Idempotency-Key: a\x01z", NULL};
    s_expect(fixture, "POST", "/orders", control_key, BODY_A, 400, "invalid_value",
             "Idempotency-Key");

    //  Cancel.
    const char *some_id = "/orders/01936b2e-8f3c-7a4b-9c2d-0123456789ab/cancel";
    s_expect(fixture, "POST", "/orders/not-a-uuid/cancel", NULL, NULL, 400, "invalid_uuid", "id");
    s_expect(fixture, "POST", some_id, NULL, NULL, 404, "not_found", "id");
    s_expect(fixture, "POST", some_id, s_json, "{\"reason\": \"\"}", 400, "invalid_value",
             "reason");
    s_expect(fixture, "POST", some_id, s_json, "{\"reason\": 3}", 400, "invalid_type", "reason");
    s_expect(fixture, "POST", some_id, s_json, "{\"why\": \"x\"}", 400, "unknown_field", "why");
    s_expect(fixture, "POST", some_id, s_json, "[]", 400, "invalid_body", NULL);
    s_expect(fixture, "POST", some_id, s_json, "{", 400, "malformed_json", NULL);
    s_expect(fixture, "POST", some_id, text, "reason", 415, "unsupported_media_type", NULL);
    char *reason = zmalloc(202);
    memset(reason, 'r', 201);
    body = zsys_sprintf("{\"reason\": \"%s\"}", reason);
    s_expect(fixture, "POST", some_id, s_json, body, 400, "invalid_value", "reason");
    zstr_free(&body);
    freen(reason);

    //  Queries.
    s_expect(fixture, "GET", "/orders/not-a-uuid", NULL, NULL, 400, "invalid_uuid", "id");
    s_expect(fixture, "GET", "/orders/01936b2e-8f3c-7a4b-9c2d-0123456789ab", NULL, NULL, 404,
             "not_found", "id");
    s_expect(fixture, "GET", "/orders", NULL, NULL, 400, "missing_field", "customerId");
    s_expect(fixture, "GET", "/orders?customerId=", NULL, NULL, 400, "invalid_value", "customerId");
    s_expect(fixture, "GET", "/orders?customerId=c&limit=0", NULL, NULL, 400, "invalid_value",
             "limit");
    s_expect(fixture, "GET", "/orders?customerId=c&limit=101", NULL, NULL, 400, "invalid_value",
             "limit");
    s_expect(fixture, "GET", "/orders?customerId=c&limit=ten", NULL, NULL, 400, "invalid_value",
             "limit");
    s_expect(fixture, "GET", "/orders?customerId=c&after=x", NULL, NULL, 400, "invalid_uuid",
             "after");
    s_expect(fixture, "DELETE", "/orders", NULL, NULL, 405, "method_not_allowed", NULL);
    s_expect(fixture, "PUT", "/orders/01936b2e-8f3c-7a4b-9c2d-0123456789ab", NULL, NULL, 405,
             "method_not_allowed", NULL);
    s_expect(fixture, "GET", "/order", NULL, NULL, 404, "not_found", NULL);

    //  Nothing was stored or published.
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM orders"), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM order_items"), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM order_history"), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM order_idempotency"), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"), 0);
}

//  A header of the response, read with libcurl itself (ts_http_reply_t
//  keeps only Location and Content-Type).
typedef struct {
    const char *name;
    char value[64];
} header_capture_t;

static size_t
s_on_header(char *buffer, size_t size, size_t count, void *arg)
{
    header_capture_t *capture = arg;
    size_t length = size * count;
    size_t name_length = strlen(capture->name);
    if (length > name_length + 1 && strncasecmp(buffer, capture->name, name_length) == 0 &&
        buffer[name_length] == ':') {
        const char *value = buffer + name_length + 1;
        while (*value == ' ') {
            value++;
        }
        size_t value_length = (size_t) (buffer + length - value);
        while (value_length > 0 &&
               (value[value_length - 1] == '\r' || value[value_length - 1] == '\n')) {
            value_length--;
        }
        (void) snprintf(capture->value, sizeof capture->value, "%.*s", (int) value_length, value);
    }
    return length;
}

static size_t
s_on_body(char *buffer, size_t size, size_t count, void *arg)
{
    zchunk_t *body = arg;
    zchunk_extend(body, buffer, size * count);
    return size * count;
}

//  POST /orders with an Idempotency-Key; returns the status, the body and
//  the Idempotent-Replayed header.
static long
s_post_keyed(
    fixture_t *fixture, const char *key, const char *body, json_t **json_out, char replayed[64])
{
    char *url = zsys_sprintf("%s/orders", fixture->base);
    char *key_header = zsys_sprintf("Idempotency-Key: %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, key_header);
    header_capture_t capture = {.name = "Idempotent-Replayed"};
    zchunk_t *reply = zchunk_new(NULL, 0);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) HTTP_MS);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &capture);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    long status = 0;
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    *json_out = json_loadb((const char *) zchunk_data(reply), zchunk_size(reply), 0, NULL);
    (void) snprintf(replayed, 64, "%s", capture.value);
    zchunk_destroy(&reply);
    zstr_free(&key_header);
    zstr_free(&url);
    return status;
}

//  Idempotency-Key: the same body (spelt differently) gets the same
//  order, replayed; another body 422; nothing new either way.
static void
test_idempotency(void **state)
{
    fixture_t *fixture = *state;
    json_t *first = NULL;
    char replayed[64];
    assert_int_equal(s_post_keyed(fixture, "key-1", BODY_A, &first, replayed), 201);
    assert_string_equal(replayed, "");
    const char *again = "{\"items\":[{\"unitPrice\":\"19.99\",\"quantity\":2,\"sku\":\"SKU-1\"},"
                        "{\"sku\":\"SKU-2\",\"unitPrice\":\"19.99\",\"quantity\":1}],"
                        "\"currency\":\"EUR\",\"customerId\":\"c-42\"}";
    json_t *second = NULL;
    assert_int_equal(s_post_keyed(fixture, "key-1", again, &second, replayed), 201);
    assert_string_equal(replayed, "true");
    assert_true(json_equal(first, second));

    json_t *other = NULL;
    const char *different = BODY("\"c-42\"", "\"EUR\"", "[" ITEM "]");
    assert_int_equal(s_post_keyed(fixture, "key-1", different, &other, replayed), 422);
    s_assert_error(other, 422, "idempotency_key_reused", "Idempotency-Key");
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM orders"), 1);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"), 1);

    //  The replay shows the order as it is now.
    s_publish_about(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, s_string(first, "orderId"));
    s_wait_status(fixture, s_string(first, "orderId"), "RESERVED", 2);
    json_t *third = NULL;
    assert_int_equal(s_post_keyed(fixture, "key-1", BODY_A, &third, replayed), 201);
    assert_string_equal(replayed, "true");
    assert_string_equal(s_string(third, "orderId"), s_string(first, "orderId"));
    assert_string_equal(s_string(third, "status"), "RESERVED");
    json_decref(third);
    json_decref(other);
    json_decref(second);
    json_decref(first);
}

//  Cancel: 200 CANCELLED with the reason and OrderCancelled; again 409
//  with the current order; no body means the default reason.
static void
test_cancel(void **state)
{
    fixture_t *fixture = *state;
    json_t *created = s_create(fixture, BODY_A);
    char *path = zsys_sprintf("/orders/%s/cancel", s_string(created, "orderId"));
    json_t *order = NULL;
    assert_int_equal(s_post(fixture, path, "{\"reason\": \"customer request\"}", &order), 200);
    assert_string_equal(s_string(order, "status"), "CANCELLED");
    assert_string_equal(s_string(order, "cancelReason"), "customer request");
    json_t *history = json_object_get(order, "history");
    assert_int_equal(json_array_size(history), 2);
    json_t *entry = json_array_get(history, 1);
    assert_string_equal(s_string(entry, "event"), "OrderCancelled");
    assert_string_equal(s_string(entry, "stream"), "order-0");
    assert_int_equal(json_integer_value(json_object_get(entry, "seq")), 2);
    assert_string_equal(s_string(entry, "reason"), "customer request");
    json_t *stored = s_get(fixture, s_string(created, "orderId"));
    assert_true(json_equal(order, stored));
    json_decref(stored);
    json_decref(order);

    json_t *conflict = NULL;
    assert_int_equal(s_request(fixture, "POST", path, NULL, NULL, &conflict), 409);
    s_assert_error(conflict, 409, "conflict", NULL);
    assert_string_equal(s_string(json_object_get(conflict, "error"), "message"),
                        "order is already CANCELLED");
    json_t *current = json_object_get(conflict, "order");
    assert_string_equal(s_string(current, "status"), "CANCELLED");
    assert_string_equal(s_string(current, "orderId"), s_string(created, "orderId"));
    json_decref(conflict);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"), 2);
    char *needle = zsys_sprintf("\"order_id\":\"%s\"", s_string(created, "orderId"));
    const char *needles[] = {"\"event\":\"order.cancelled\"", needle, "\"trace_id\":", NULL};
    assert_true(s_log_has(fixture, needles));
    zstr_free(&needle);
    zstr_free(&path);
    json_decref(created);

    created = s_create(fixture, BODY_A);
    path = zsys_sprintf("/orders/%s/cancel", s_string(created, "orderId"));
    assert_int_equal(s_request(fixture, "POST", path, NULL, NULL, &order), 200);
    assert_string_equal(s_string(order, "cancelReason"), "cancelled by request");
    json_decref(order);
    zstr_free(&path);
    json_decref(created);
}

static int
s_compare_texts(const void *left, const void *right)
{
    return strcmp(*(char *const *) left, *(char *const *) right);
}

//  Listing: newest first, in pages joined by `next`.
static void
test_list(void **state)
{
    fixture_t *fixture = *state;
    char *ids[5];
    for (int index = 0; index < 5; index++) {
        json_t *order = s_create(fixture, BODY_A);
        ids[index] = strdup(s_string(order, "orderId"));
        json_decref(order);
    }
    json_t *other = s_create(fixture, BODY("\"c-43\"", "\"EUR\"", "[" ITEM "]"));
    json_decref(other);
    //  Newest first: descending ids.
    qsort(ids, 5, sizeof ids[0], s_compare_texts);
    json_t *page = NULL;
    assert_int_equal(s_request(fixture, "GET", "/orders?customerId=c-42", NULL, NULL, &page), 200);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 5);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);

    char *path = strdup("/orders?customerId=c-42&limit=2");
    int seen = 0;
    for (int number = 0; number < 3; number++) {
        assert_int_equal(s_request(fixture, "GET", path, NULL, NULL, &page), 200);
        json_t *items = json_object_get(page, "items");
        assert_int_equal(json_array_size(items), number < 2 ? 2 : 1);
        for (size_t index = 0; index < json_array_size(items); index++) {
            json_t *order = json_array_get(items, index);
            assert_string_equal(s_string(order, "orderId"), ids[4 - seen]);
            assert_null(json_object_get(order, "history"));
            assert_string_equal(s_string(order, "customerId"), "c-42");
            seen++;
        }
        json_t *next = json_object_get(page, "next");
        zstr_free(&path);
        if (number < 2) {
            assert_string_equal(json_string_value(next), ids[5 - seen]);
            path =
                zsys_sprintf("/orders?customerId=c-42&limit=2&after=%s", json_string_value(next));
        } else {
            assert_true(json_is_null(next));
        }
        json_decref(page);
    }
    assert_int_equal(seen, 5);
    for (int index = 0; index < 5; index++) {
        zstr_free(&ids[index]);
    }
}

//  The read model through HTTP: reserved and paid; rejected and
//  compensated once; an unknown order counted; metrics and logs.
static void
test_read_model(void **state)
{
    fixture_t *fixture = *state;
    json_t *paid = s_create(fixture, BODY_A);
    const char *paid_id = s_string(paid, "orderId");
    s_publish_about(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, paid_id);
    s_publish_about(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, paid_id);
    s_wait_status(fixture, paid_id, "PAYMENT_STARTED", 3);
    json_t *order = s_get(fixture, paid_id);
    assert_true(json_is_true(json_object_get(order, "stockReserved")));
    assert_true(json_is_true(json_object_get(order, "paymentStarted")));
    json_t *entry = json_array_get(json_object_get(order, "history"), 1);
    assert_string_equal(s_string(entry, "event"), "PaymentStarted");
    assert_string_equal(s_string(entry, "stream"), "inventory-0");
    assert_int_equal(json_integer_value(json_object_get(entry, "seq")), 1);
    json_decref(order);

    json_t *rejected = s_create(fixture, BODY_A);
    const char *rejected_id = s_string(rejected, "orderId");
    publish_t publish = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED,
                         .sku = "SKU-9",
                         .requested = 3,
                         .available = 1};
    assert_int_equal(svc_uuid_parse(rejected_id, &publish.order_id), 0);
    s_publish(fixture, &publish);
    s_publish(fixture, &publish);
    s_wait_status(fixture, rejected_id, "REJECTED", 4);
    order = s_get(fixture, rejected_id);
    const char *reason = "out of stock: SKU-9 (requested 3, available 1)";
    assert_string_equal(s_string(order, "cancelReason"), reason);
    json_t *history = json_object_get(order, "history");
    assert_int_equal(json_array_size(history), 4);
    assert_string_equal(s_string(json_array_get(history, 2), "event"), "OrderCancelled");
    assert_string_equal(s_string(json_array_get(history, 2), "reason"), reason);
    assert_string_equal(s_string(json_array_get(history, 3), "event"), "StockRejected");
    json_decref(order);
    //  One compensating OrderCancelled among the order stream's events.
    assert_int_equal(ts_pg_number(fixture->conn,
                                  "SELECT count(*) FROM bus_events WHERE type = 'OrderCancelled'"),
                     1);

    svc_uuid_t unknown;
    svc_uuid_v7(&unknown);
    char unknown_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&unknown, unknown_id);
    s_publish_about(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, unknown_id);
    s_publish_about(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, paid_id);
    s_wait_status(fixture, paid_id, "PAYMENT_STARTED", 4);

    char *metrics = NULL;
    char *url = zsys_sprintf("%s/metrics", fixture->base);
    ts_http_reply_t reply;
    assert_int_equal(ts_http_request("GET", url, NULL, NULL, 0, HTTP_MS, &reply), 0);
    metrics = strdup(reply.body);
    ts_http_reply_free(&reply);
    zstr_free(&url);
    assert_non_null(strstr(metrics, "order_created_total 2"));
    assert_non_null(strstr(metrics, "order_rejected_total 1"));
    assert_non_null(strstr(metrics, "order_unknown_events_total 1"));
    assert_non_null(strstr(metrics, "order_http_commit_seconds_count{command=\"create\"} 2"));
    freen(metrics);

    char *needle = zsys_sprintf("\"order_id\":\"%s\"", rejected_id);
    const char *trace_needle = "\"trace_id\":\"" TRACE_ID "\"";
    const char *compensated[] = {"\"event\":\"order.compensated\"", needle, trace_needle,
                                 "\"stream\":\"inventory-0\"", NULL};
    assert_true(s_log_has(fixture, compensated));
    const char *changed[] = {"\"event\":\"order.status.changed\"", needle, "\"to\":\"REJECTED\"",
                             NULL};
    assert_true(s_log_has(fixture, changed));
    zstr_free(&needle);
    json_decref(rejected);
    json_decref(paid);
}

//  A lost query connection: 503 unavailable, then it comes back.
typedef struct {
    fixture_t *fixture;
    const char *path;
} get_wait_t;

static bool
s_get_ok(void *arg)
{
    get_wait_t *wait = arg;
    return s_request(wait->fixture, "GET", wait->path, NULL, NULL, NULL) == 200;
}

static void
test_query_connection_lost(void **state)
{
    fixture_t *fixture = *state;
    json_t *created = s_create(fixture, BODY_A);
    char *path = zsys_sprintf("/orders/%s", s_string(created, "orderId"));
    PGresult *result = PQexec(fixture->conn, "SELECT count(pg_terminate_backend(pid))"
                                             " FROM pg_stat_activity"
                                             " WHERE datname = current_database()"
                                             " AND application_name = 'order-0-query'");
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_int_equal(atoi(PQgetvalue(result, 0, 0)), 1);
    PQclear(result);
    s_expect(fixture, "GET", path, NULL, NULL, 503, "unavailable", NULL);
    get_wait_t wait = {fixture, path};
    assert_true(ts_wait_until(s_get_ok, &wait, WAIT_MS));
    zstr_free(&path);
    json_decref(created);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_model, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_query_connection_lost, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
