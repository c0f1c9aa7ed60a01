/*  =========================================================================
    inventory_server_test - the inventory service in-process, end to end

    Each case runs the service as bus_service runs it in production (the
    same hooks, its own fresh database on the cluster scripts/test.sh
    starts) and plays the order service itself: a bus_stream "order-0" in
    this process, on a database of its own (ts_peer.h), publishes real
    OrderCreated and OrderCancelled envelopes, and the service's
    PUBLISHERS point at its PUB port. What the service did is read back through its HTTP API,
    its tables, the events it appended to its own log (bus_events, decoded)
    and its log lines. "Applied" is waited for on the consumer's
    checkpoint of the event's partition; nothing sleeps.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_server.h"
#include "inventory_store.h"
#include "ts.h"
#include "ts_peer.h"
#include "ts_service.h"

#include <libpq-fe.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any one wait may take.
#define WAIT_MS 30000
//  HTTP request timeout.
#define HTTP_MS 10000
//  Replicas a case may run.
#define REPLICAS_MAX 2

static const bus_service_def_t s_def = {.name = "inventory",
                                        .description = "inventory under test",
                                        .http_addr = "127.0.0.1:0",
                                        .pub_endpoint = "tcp://127.0.0.1:*",
                                        .publishers = "",
                                        .database = "",
                                        .migrations = inventory_migrations,
                                        .types = inventory_server_types,
                                        .batch_handler = inventory_server_apply,
                                        .start = inventory_server_start,
                                        .stop = inventory_server_stop};

typedef struct {
    ts_peer_t *orders;                     //  the "order-0" publisher (owned)
    char *db;                              //  the inventory's database (owned)
    FILE *log_file;                        //  where the log writes (owned)
    svc_log_t *log;                        //  the replicas' log (owned)
    svc_metrics_t *metrics;                //  the replicas' registry (owned)
    svc_config_t *configs[REPLICAS_MAX];   //  per replica (owned)
    bus_service_t *services[REPLICAS_MAX]; //  the replicas (owned)
    char base_url[64];                     //  HTTP of replica 0
    PGconn *conn;                          //  the inventory's database, for checks (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  SQL helpers

//  The first column of the first row of a parameterised query, as a
//  number; -1 for NULL or no row.
static long
s_number(PGconn *conn, const char *sql, const char *param)
{
    const char *values[] = {param};
    PGresult *result = PQexecParams(conn, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(result));
    }
    long value =
        PQntuples(result) == 0 || PQgetisnull(result, 0, 0) ? -1 : atol(PQgetvalue(result, 0, 0));
    PQclear(result);
    return value;
}

static long
s_available(fixture_t *fixture, const char *sku)
{
    return s_number(fixture->conn, "SELECT available FROM inventory_stock WHERE sku = $1", sku);
}

static long
s_reserved(fixture_t *fixture, const char *sku)
{
    return s_number(fixture->conn, "SELECT reserved FROM inventory_stock WHERE sku = $1", sku);
}

static long
s_total_units(fixture_t *fixture)
{
    return s_number(fixture->conn, "SELECT sum(available + reserved) FROM inventory_stock", NULL);
}

static uint64_t
s_counter(fixture_t *fixture, const char *name)
{
    return svc_counter_value(svc_metrics_counter(fixture->metrics, name, "", NULL));
}

//  --------------------------------------------------------------------------
//  The "order service": publish events on order-0.

//  Publish OrderCreated for `order_id` with `count` lines (unit price
//  1.00 EUR each). Returns its seq.
static uint64_t
s_publish_created(fixture_t *fixture,
                  const svc_uuid_t *order_id,
                  const ts_order_line_t *lines,
                  size_t count,
                  svc_uuid_t *message_id_out)
{
    ts_order_event_t *event = zmalloc(sizeof *event);
    ts_order_created(event, order_id, "EUR", 100, lines, count);
    return ts_peer_publish_one(fixture->orders, &event, message_id_out);
}

//  --------------------------------------------------------------------------
//  Waiting for the service.

//  Wait until the inventory applied order-0's event `seq` about `order_id`
//  (the checkpoint of its partition reached it).
static void
s_wait_applied(fixture_t *fixture, const svc_uuid_t *order_id, uint64_t seq)
{
    ts_peer_wait_applied(fixture->orders, fixture->conn, "inventory", order_id, seq);
}

static bool
s_services_ready(void *arg)
{
    fixture_t *fixture = arg;
    for (size_t index = 0; index < REPLICAS_MAX; index++) {
        if (fixture->services[index] && !bus_service_ready(fixture->services[index])) {
            return false;
        }
    }
    return true;
}

//  --------------------------------------------------------------------------
//  What the service published: its events of `type` about `order_id`,
//  decoded from its event log. Returns how many; the first in *first_out
//  (caller destroys) when asked.

static size_t
s_published(fixture_t *fixture,
            const char *type,
            const svc_uuid_t *order_id,
            Ev__V1__Envelope **first_out)
{
    const char *values[] = {type};
    PGresult *result = PQexecParams(
        fixture->conn, "SELECT envelope FROM bus_events WHERE type = $1 ORDER BY stream, seq", 1,
        NULL, values, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    size_t found = 0;
    for (int row = 0; row < PQntuples(result); row++) {
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(PQgetvalue(result, row, 0),
                                             (size_t) PQgetlength(result, row, 0), &envelope),
                         BUS_OK);
        //  Every payload of ours starts with the order id: compare it.
        ProtobufCBinaryData id = {0};
        switch (envelope->payload_case) {
            case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
                id = envelope->stock_reserved->order_id;
                break;
            case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
                id = envelope->stock_rejected->order_id;
                break;
            case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
                id = envelope->stock_released->order_id;
                break;
            default:
                fail_msg("the inventory published a %s", envelope->type);
        }
        bool match = id.len == BUS_ID_SIZE && memcmp(id.data, order_id->bytes, BUS_ID_SIZE) == 0;
        if (match && found++ == 0 && first_out) {
            *first_out = envelope;
        } else {
            bus_envelope_destroy(&envelope);
        }
    }
    PQclear(result);
    return found;
}

//  --------------------------------------------------------------------------
//  HTTP helpers

//  Send a request to replica 0; returns the status, and the parsed body
//  in *body_out if asked (caller decrefs).
static long
s_http(
    fixture_t *fixture, const char *method, const char *path, const char *body, json_t **body_out)
{
    char url[256];
    (void) snprintf(url, sizeof url, "%s%s", fixture->base_url, path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    ts_http_reply_t reply;
    assert_int_equal(ts_http_request(method, url, body ? headers : NULL, body,
                                     body ? strlen(body) : 0, HTTP_MS, &reply),
                     0);
    long status = reply.status;
    if (body_out) {
        *body_out = json_loads(reply.body, 0, NULL);
        assert_non_null(*body_out);
    }
    ts_http_reply_free(&reply);
    return status;
}

//  Check an error answer: status, code and field (NULL for null).
static void
s_assert_error(fixture_t *fixture,
               const char *method,
               const char *path,
               const char *body,
               long status,
               const char *code,
               const char *field)
{
    json_t *reply = NULL;
    assert_int_equal(s_http(fixture, method, path, body, &reply), status);
    json_t *error = json_object_get(reply, "error");
    assert_int_equal(json_integer_value(json_object_get(error, "status")), status);
    assert_string_equal(json_string_value(json_object_get(error, "code")), code);
    if (field) {
        assert_string_equal(json_string_value(json_object_get(error, "field")), field);
    } else {
        assert_true(json_is_null(json_object_get(error, "field")));
    }
    json_decref(reply);
}

static void
s_put_stock(fixture_t *fixture, const char *sku, long available)
{
    char path[128];
    char body[64];
    (void) snprintf(path, sizeof path, "/stock/%s", sku);
    (void) snprintf(body, sizeof body, "{\"available\": %ld}", available);
    assert_int_equal(s_http(fixture, "PUT", path, body, NULL), 200);
}

//  GET /reservations/{id}: the status, or NULL if 404 (caller frees).
static char *
s_reservation_status(fixture_t *fixture, const svc_uuid_t *order_id)
{
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, text);
    char path[128];
    (void) snprintf(path, sizeof path, "/reservations/%s", text);
    json_t *reply = NULL;
    long status = s_http(fixture, "GET", path, NULL, &reply);
    char *result = NULL;
    if (status == 200) {
        result = strdup(json_string_value(json_object_get(reply, "status")));
    } else {
        assert_int_equal(status, 404);
    }
    json_decref(reply);
    return result;
}

static void
s_assert_status(fixture_t *fixture, const svc_uuid_t *order_id, const char *expected)
{
    char *status = s_reservation_status(fixture, order_id);
    if (expected) {
        assert_non_null(status);
        assert_string_equal(status, expected);
    } else {
        assert_null(status);
    }
    zstr_free(&status);
}

//  --------------------------------------------------------------------------
//  The log: every line written so far, parsed, that has event `event` and
//  order_id `order_text`. Returns how many; the first in *first_out.

static size_t
s_log_lines(fixture_t *fixture, const char *event, const char *order_text, json_t **first_out)
{
    return ts_log_lines(fixture->log_file, event, "order_id", order_text, first_out);
}

//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->orders = ts_peer_new("order-0", 100);
    fixture->db = ts_pg_create_db();
    fixture->log_file = tmpfile();
    assert_non_null(fixture->log_file);
    fixture->log = svc_log_new("inventory", "inventory-test", SVC_LOG_INFO, fixture->log_file);
    fixture->metrics = svc_metrics_new();
    fixture->conn = PQconnectdb(fixture->db);
    assert_int_equal(PQstatus(fixture->conn), CONNECTION_OK);
    *state = fixture;
    return 0;
}

//  Start replica `index` of `count` and wait until every replica is ready.
static void
s_start(fixture_t *fixture, int index, int count)
{
    char index_text[8];
    char count_text[8];
    (void) snprintf(index_text, sizeof index_text, "%d", index);
    (void) snprintf(count_text, sizeof count_text, "%d", count);
    const char *args[] = {"--database-url",
                          fixture->db,
                          "--publishers",
                          ts_peer_publishers(fixture->orders),
                          "--replica-index",
                          index_text,
                          "--replica-count",
                          count_text,
                          NULL};
    fixture->services[index] =
        ts_service_start(&s_def, args, fixture->log, fixture->metrics, &fixture->configs[index]);
    if (index == 0) {
        (void) snprintf(fixture->base_url, sizeof fixture->base_url, "http://127.0.0.1:%d",
                        bus_service_http_port(fixture->services[0]));
    }
    assert_true(ts_wait_until(s_services_ready, fixture, WAIT_MS));
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    for (size_t index = 0; index < REPLICAS_MAX; index++) {
        bus_service_destroy(&fixture->services[index]);
        svc_config_destroy(&fixture->configs[index]);
    }
    PQfinish(fixture->conn);
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    fclose(fixture->log_file);
    ts_pg_drop_db(&fixture->db);
    ts_peer_destroy(&fixture->orders);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Usage: stock set over HTTP, an order arrives, its items are reserved,
//  StockReserved is published with the order's correlation, causation,
//  trace and partition, logged with order_id and trace_id, and counted.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 5);
    s_put_stock(fixture, "SKU-2", 1);

    svc_uuid_t order_id, cause_id;
    svc_uuid_v7(&order_id);
    ts_order_line_t items[] = {{"SKU-1", 2}, {"SKU-2", 1}};
    uint64_t seq = s_publish_created(fixture, &order_id, items, 2, &cause_id);
    s_wait_applied(fixture, &order_id, seq);

    s_assert_status(fixture, &order_id, "RESERVED");
    json_t *stock = NULL;
    assert_int_equal(s_http(fixture, "GET", "/stock/SKU-1", NULL, &stock), 200);
    assert_int_equal(json_integer_value(json_object_get(stock, "available")), 3);
    assert_int_equal(json_integer_value(json_object_get(stock, "reserved")), 2);
    json_decref(stock);
    assert_int_equal(s_available(fixture, "SKU-2"), 0);

    Ev__V1__Envelope *reserved = NULL;
    assert_int_equal(s_published(fixture, "StockReserved", &order_id, &reserved), 1);
    ts_peer_assert_caused(reserved, &order_id, &cause_id);
    assert_string_equal(reserved->stream, "inventory-0");
    bus_envelope_destroy(&reserved);
    assert_int_equal(s_published(fixture, "StockRejected", &order_id, NULL), 0);
    assert_int_equal(s_counter(fixture, "inventory_reserved_total"), 1);

    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&order_id, order_text);
    json_t *line = NULL;
    assert_int_equal(s_log_lines(fixture, "inventory.stock.reserved", order_text, &line), 1);
    assert_string_equal(json_string_value(json_object_get(line, "trace_id")), TS_PEER_TRACE_ID);
    json_decref(line);
}

//  --------------------------------------------------------------------------
//  Rejections: unknown SKU, one order that wants 2 when 1 is left, and an
//  order naming one SKU twice whose sum is short. Each publishes
//  StockRejected for the first short SKU in SKU order and reserves nothing.

static void
test_rejections(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 1);
    s_put_stock(fixture, "SKU-2", 10);
    long total = s_total_units(fixture);

    struct {
        ts_order_line_t items[3]; //  the order
        size_t count;             //  its items
        const char *sku;          //  expected in StockRejected
        uint32_t requested;       //  expected
        uint32_t available;       //  expected
    } cases[] = {{{{"SKU-2", 1}, {"SKU-404", 1}}, 2, "SKU-404", 1, 0},
                 {{{"SKU-1", 2}}, 1, "SKU-1", 2, 1},
                 {{{"SKU-2", 1}, {"SKU-1", 1}, {"SKU-1", 1}}, 3, "SKU-1", 2, 1},
                 //  Both short: the first in SKU order ("SKU-1" < "SKU-9") is named.
                 {{{"SKU-9", 1}, {"SKU-1", 5}}, 2, "SKU-1", 5, 1}};
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        svc_uuid_t order_id, cause_id;
        svc_uuid_v7(&order_id);
        uint64_t seq = s_publish_created(fixture, &order_id, cases[index].items, cases[index].count,
                                         &cause_id);
        s_wait_applied(fixture, &order_id, seq);
        s_assert_status(fixture, &order_id, "REJECTED");
        Ev__V1__Envelope *rejected = NULL;
        assert_int_equal(s_published(fixture, "StockRejected", &order_id, &rejected), 1);
        ts_peer_assert_caused(rejected, &order_id, &cause_id);
        assert_string_equal(rejected->stock_rejected->sku, cases[index].sku);
        assert_int_equal(rejected->stock_rejected->requested, cases[index].requested);
        assert_int_equal(rejected->stock_rejected->available, cases[index].available);
        bus_envelope_destroy(&rejected);
        assert_int_equal(s_published(fixture, "StockReserved", &order_id, NULL), 0);
    }
    assert_int_equal(s_available(fixture, "SKU-1"), 1);
    assert_int_equal(s_available(fixture, "SKU-2"), 10);
    assert_int_equal(s_total_units(fixture), total);
    assert_int_equal(s_counter(fixture, "inventory_rejected_total"), 4);
    assert_int_equal(s_counter(fixture, "inventory_reserved_total"), 0);
}

//  --------------------------------------------------------------------------
//  An order without items (bridged from a .NET contract that has only the
//  total): nothing to reserve, recorded RESERVED, StockReserved published,
//  no stock touched.

static void
test_order_without_items(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 3);
    svc_uuid_t order_id, cause_id;
    svc_uuid_v7(&order_id);
    uint64_t seq = s_publish_created(fixture, &order_id, NULL, 0, &cause_id);
    s_wait_applied(fixture, &order_id, seq);
    s_assert_status(fixture, &order_id, "RESERVED");
    Ev__V1__Envelope *reserved = NULL;
    assert_int_equal(s_published(fixture, "StockReserved", &order_id, &reserved), 1);
    ts_peer_assert_caused(reserved, &order_id, &cause_id);
    bus_envelope_destroy(&reserved);
    assert_int_equal(s_available(fixture, "SKU-1"), 3);
    assert_int_equal(s_counter(fixture, "inventory_reserved_total"), 1);
}

//  --------------------------------------------------------------------------
//  Cancel: released once although the cancel arrives twice; units come
//  back and available + reserved never changes.

static void
test_release_once(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 3);
    s_put_stock(fixture, "SKU-2", 3);
    long total = s_total_units(fixture);

    svc_uuid_t order_id, created_id, cancel_id;
    svc_uuid_v7(&order_id);
    ts_order_line_t items[] = {{"SKU-1", 2}, {"SKU-2", 3}};
    uint64_t seq = s_publish_created(fixture, &order_id, items, 2, &created_id);
    s_wait_applied(fixture, &order_id, seq);
    assert_int_equal(s_available(fixture, "SKU-2"), 0);
    assert_int_equal(s_reserved(fixture, "SKU-2"), 3);
    assert_int_equal(s_total_units(fixture), total);

    (void) ts_peer_publish_cancelled(fixture->orders, &order_id, &cancel_id);
    (void) ts_peer_publish_cancelled(fixture->orders, &order_id, NULL);
    seq = ts_peer_publish_cancelled(fixture->orders, &order_id, NULL);
    s_wait_applied(fixture, &order_id, seq);

    s_assert_status(fixture, &order_id, "RELEASED");
    assert_int_equal(s_available(fixture, "SKU-1"), 3);
    assert_int_equal(s_reserved(fixture, "SKU-1"), 0);
    assert_int_equal(s_available(fixture, "SKU-2"), 3);
    assert_int_equal(s_reserved(fixture, "SKU-2"), 0);
    assert_int_equal(s_total_units(fixture), total);
    Ev__V1__Envelope *released = NULL;
    assert_int_equal(s_published(fixture, "StockReleased", &order_id, &released), 1);
    ts_peer_assert_caused(released, &order_id, &cancel_id);
    bus_envelope_destroy(&released);
    assert_int_equal(s_counter(fixture, "inventory_released_total"), 1);
    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&order_id, order_text);
    assert_int_equal(s_log_lines(fixture, "inventory.stock.released", order_text, NULL), 1);

    //  A cancel of a rejected order releases nothing.
    svc_uuid_t rejected_id;
    svc_uuid_v7(&rejected_id);
    ts_order_line_t too_many[] = {{"SKU-1", 4}};
    (void) s_publish_created(fixture, &rejected_id, too_many, 1, NULL);
    seq = ts_peer_publish_cancelled(fixture->orders, &rejected_id, NULL);
    s_wait_applied(fixture, &rejected_id, seq);
    s_assert_status(fixture, &rejected_id, "REJECTED");
    assert_int_equal(s_published(fixture, "StockReleased", &rejected_id, NULL), 0);
    assert_int_equal(s_total_units(fixture), total);
}

//  --------------------------------------------------------------------------
//  Cancel before create: a CANCELLED tombstone; the create that arrives
//  later reserves nothing and publishes nothing.

static void
test_cancel_before_create(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 5);
    svc_uuid_t order_id;
    svc_uuid_v7(&order_id);
    uint64_t seq = ts_peer_publish_cancelled(fixture->orders, &order_id, NULL);
    s_wait_applied(fixture, &order_id, seq);
    s_assert_status(fixture, &order_id, "CANCELLED");

    ts_order_line_t items[] = {{"SKU-1", 2}};
    seq = s_publish_created(fixture, &order_id, items, 1, NULL);
    s_wait_applied(fixture, &order_id, seq);
    s_assert_status(fixture, &order_id, "CANCELLED");
    assert_int_equal(s_available(fixture, "SKU-1"), 5);
    assert_int_equal(s_reserved(fixture, "SKU-1"), 0);
    assert_int_equal(s_published(fixture, "StockReserved", &order_id, NULL), 0);
    assert_int_equal(s_published(fixture, "StockRejected", &order_id, NULL), 0);
    assert_int_equal(s_published(fixture, "StockReleased", &order_id, NULL), 0);
    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&order_id, order_text);
    json_t *line = NULL;
    assert_int_equal(s_log_lines(fixture, "inventory.reservation.tombstone", order_text, &line), 1);
    assert_string_equal(json_string_value(json_object_get(line, "trace_id")), TS_PEER_TRACE_ID);
    json_decref(line);
}

//  --------------------------------------------------------------------------
//  Events committed in one transaction of the order stream (so the
//  subscriber takes them as one batch, or as several) have the effects of
//  one transaction each, in seq order: of two orders for the last unit the
//  first wins; an order created and cancelled is released, and each of
//  its answers is caused by its own event; an order cancelled before it is
//  created is a tombstone and publishes nothing; SKUs repeat within and
//  across orders.

//  Check the one event of `type` published about `order_id` and its cause.
static void
s_assert_one(fixture_t *fixture,
             const char *type,
             const svc_uuid_t *order_id,
             const ts_order_event_t *cause)
{
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(s_published(fixture, type, order_id, &envelope), 1);
    ts_peer_assert_caused(envelope, order_id, &cause->message_id);
    bus_envelope_destroy(&envelope);
}

static void
test_batch_in_seq_order(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 1);
    s_put_stock(fixture, "SKU-2", 4);
    long total = s_total_units(fixture);
    svc_uuid_t first, second, released, tombstone, last;
    svc_uuid_v7(&first);
    svc_uuid_v7(&second);
    svc_uuid_v7(&released);
    svc_uuid_v7(&tombstone);
    svc_uuid_v7(&last);
    ts_order_line_t one[] = {{"SKU-1", 1}};
    ts_order_line_t three[] = {{"SKU-2", 2}, {"SKU-2", 1}};
    ts_order_line_t four[] = {{"SKU-2", 3}, {"SKU-2", 1}};
    ts_order_event_t *events = zmalloc(7 * sizeof *events);
    ts_order_created(&events[0], &first, "EUR", 100, one, 1);
    ts_order_created(&events[1], &second, "EUR", 100, one, 1);     //  the unit is gone
    ts_order_created(&events[2], &released, "EUR", 100, three, 2); //  3 of SKU-2's 4
    ts_order_cancelled(&events[3], &released);
    ts_order_created(&events[4], &last, "EUR", 100, four, 2); //  all 4: only with 3 back
    ts_order_cancelled(&events[5], &tombstone);
    ts_order_created(&events[6], &tombstone, "EUR", 100, one, 1);
    uint64_t seq = ts_peer_publish_orders(fixture->orders, events, 7);
    s_wait_applied(fixture, &tombstone, seq);

    s_assert_status(fixture, &first, "RESERVED");
    s_assert_status(fixture, &second, "REJECTED");
    s_assert_status(fixture, &released, "RELEASED");
    s_assert_status(fixture, &last, "RESERVED");
    s_assert_status(fixture, &tombstone, "CANCELLED");
    assert_int_equal(s_available(fixture, "SKU-1"), 0);
    assert_int_equal(s_reserved(fixture, "SKU-1"), 1);
    assert_int_equal(s_available(fixture, "SKU-2"), 0);
    assert_int_equal(s_reserved(fixture, "SKU-2"), 4);
    assert_int_equal(s_total_units(fixture), total);

    s_assert_one(fixture, "StockReserved", &first, &events[0]);
    s_assert_one(fixture, "StockRejected", &second, &events[1]);
    Ev__V1__Envelope *rejected = NULL;
    (void) s_published(fixture, "StockRejected", &second, &rejected);
    assert_string_equal(rejected->stock_rejected->sku, "SKU-1");
    assert_int_equal(rejected->stock_rejected->requested, 1);
    assert_int_equal(rejected->stock_rejected->available, 0);
    bus_envelope_destroy(&rejected);
    s_assert_one(fixture, "StockReserved", &released, &events[2]);
    s_assert_one(fixture, "StockReleased", &released, &events[3]);
    s_assert_one(fixture, "StockReserved", &last, &events[4]);
    assert_int_equal(s_published(fixture, "StockReserved", &tombstone, NULL), 0);
    assert_int_equal(s_published(fixture, "StockRejected", &tombstone, NULL), 0);
    assert_int_equal(s_counter(fixture, "inventory_reserved_total"), 3);
    assert_int_equal(s_counter(fixture, "inventory_rejected_total"), 1);
    assert_int_equal(s_counter(fixture, "inventory_released_total"), 1);
    //  Published in the order the events came: seq order of the answers.
    assert_true(
        s_number(fixture->conn,
                 "SELECT count(*) FROM bus_events WHERE type = 'StockReleased'"
                 " AND seq > (SELECT max(seq) FROM bus_events WHERE type = 'StockRejected')",
                 NULL) == 1);
    freen(events);
}

//  --------------------------------------------------------------------------
//  Two replicas share the database and race for the last unit: two orders
//  in partitions owned by different replicas, one unit. Exactly one wins,
//  the stock never goes negative, and the units are conserved.

static void
s_order_in(svc_uuid_t *order_id, uint32_t replica)
{
    do {
        svc_uuid_v7(order_id);
    } while (bus_partition_of(order_id->bytes, BUS_ID_SIZE, BUS_PARTITIONS_DEFAULT) % 2 != replica);
}

static void
test_replicas_race_for_last_unit(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 2);
    s_start(fixture, 1, 2);
    for (int round = 0; round < 5; round++) {
        s_put_stock(fixture, "SKU-1", 1);
        svc_uuid_t first, second;
        s_order_in(&first, 0);
        s_order_in(&second, 1);
        ts_order_line_t items[] = {{"SKU-1", 1}};
        uint64_t first_seq = s_publish_created(fixture, &first, items, 1, NULL);
        uint64_t second_seq = s_publish_created(fixture, &second, items, 1, NULL);
        s_wait_applied(fixture, &first, first_seq);
        s_wait_applied(fixture, &second, second_seq);
        char *first_status = s_reservation_status(fixture, &first);
        char *second_status = s_reservation_status(fixture, &second);
        assert_non_null(first_status);
        assert_non_null(second_status);
        bool first_won = streq(first_status, "RESERVED");
        bool second_won = streq(second_status, "RESERVED");
        assert_true(first_won != second_won);
        assert_string_equal(first_won ? second_status : first_status, "REJECTED");
        zstr_free(&first_status);
        zstr_free(&second_status);
        assert_int_equal(s_available(fixture, "SKU-1"), 0);
        assert_int_equal(s_reserved(fixture, "SKU-1"), round + 1);
    }
    //  Each replica published on its own stream.
    assert_true(s_number(fixture->conn, "SELECT count(DISTINCT stream) FROM bus_events", NULL) ==
                2);
}

//  --------------------------------------------------------------------------
//  The admin API: shapes, validation errors, pagination, 404s.

static void
test_http_api(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    json_t *reply = NULL;
    assert_int_equal(s_http(fixture, "PUT", "/stock/SKU-1", "{\"available\": 10}", &reply), 200);
    assert_string_equal(json_string_value(json_object_get(reply, "sku")), "SKU-1");
    assert_int_equal(json_integer_value(json_object_get(reply, "available")), 10);
    assert_int_equal(json_integer_value(json_object_get(reply, "reserved")), 0);
    assert_non_null(json_string_value(json_object_get(reply, "updatedAt")));
    json_decref(reply);

    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{}", 400, "missing_field", "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": null}", 400, "missing_field",
                   "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": 1, \"x\": 1}", 400,
                   "unknown_field", "x");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": \"1\"}", 400, "invalid_type",
                   "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": 1.5}", 400, "invalid_type",
                   "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": -1}", 400, "invalid_value",
                   "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\": 1000000001}", 400,
                   "invalid_value", "available");
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "{\"available\":", 400, "malformed_json", NULL);
    s_assert_error(fixture, "PUT", "/stock/SKU-1", "[1]", 400, "invalid_body", NULL);
    s_assert_error(fixture, "PUT", "/stock/SKU!1", "{\"available\": 1}", 400, "invalid_value",
                   "sku");
    s_assert_error(fixture, "PUT",
                   "/stock/"
                   "x123456789x123456789x123456789x123456789x123456789x123456789x1234",
                   "{\"available\": 1}", 400, "invalid_value", "sku");
    s_assert_error(fixture, "GET", "/stock/SKU!1", NULL, 400, "invalid_value", "sku");
    s_assert_error(fixture, "GET", "/stock/SKU-404", NULL, 404, "not_found", "sku");
    s_assert_error(fixture, "POST", "/stock/SKU-1", "{}", 405, "method_not_allowed", NULL);

    //  Without the JSON content type: 415, nothing stored.
    char url[256];
    (void) snprintf(url, sizeof url, "%s/stock/SKU-1", fixture->base_url);
    ts_http_reply_t raw;
    const char *text_headers[] = {"Content-Type: text/plain", NULL};
    assert_int_equal(
        ts_http_request("PUT", url, text_headers, "{\"available\": 3}", 16, HTTP_MS, &raw), 0);
    assert_int_equal(raw.status, 415);
    ts_http_reply_free(&raw);
    assert_int_equal(s_available(fixture, "SKU-1"), 10);

    //  Pages in SKU order.
    s_put_stock(fixture, "SKU-3", 3);
    s_put_stock(fixture, "SKU-2", 2);
    assert_int_equal(s_http(fixture, "GET", "/stock?limit=2", NULL, &reply), 200);
    json_t *items = json_object_get(reply, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "sku")),
                        "SKU-1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 1), "available")), 2);
    assert_string_equal(json_string_value(json_object_get(reply, "next")), "SKU-2");
    json_decref(reply);
    assert_int_equal(s_http(fixture, "GET", "/stock?limit=2&after=SKU-2", NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "items")), 1);
    assert_true(json_is_null(json_object_get(reply, "next")));
    json_decref(reply);
    assert_int_equal(s_http(fixture, "GET", "/stock", NULL, &reply), 200);
    assert_int_equal(json_array_size(json_object_get(reply, "items")), 3);
    assert_true(json_is_null(json_object_get(reply, "next")));
    json_decref(reply);
    s_assert_error(fixture, "GET", "/stock?limit=0", NULL, 400, "invalid_value", "limit");
    s_assert_error(fixture, "GET", "/stock?limit=1001", NULL, 400, "invalid_value", "limit");
    s_assert_error(fixture, "GET", "/stock?limit=x", NULL, 400, "invalid_value", "limit");
    s_assert_error(fixture, "GET", "/stock?after=a%20b", NULL, 400, "invalid_value", "after");

    //  Reservations: not a UUID, unknown, then the whole shape.
    s_assert_error(fixture, "GET", "/reservations/nope", NULL, 400, "invalid_uuid", "orderId");
    svc_uuid_t order_id;
    svc_uuid_v7(&order_id);
    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&order_id, order_text);
    char path[128];
    (void) snprintf(path, sizeof path, "/reservations/%s", order_text);
    s_assert_error(fixture, "GET", path, NULL, 404, "not_found", "orderId");
    ts_order_line_t order_items[] = {{"SKU-3", 1}, {"SKU-1", 2}, {"SKU-3", 1}};
    uint64_t seq = s_publish_created(fixture, &order_id, order_items, 3, NULL);
    s_wait_applied(fixture, &order_id, seq);
    assert_int_equal(s_http(fixture, "GET", path, NULL, &reply), 200);
    json_t *expected = json_pack("{s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}], s:n}", "orderId",
                                 order_text, "status", "RESERVED", "items", "sku", "SKU-1",
                                 "quantity", 2, "sku", "SKU-3", "quantity", 2, "reason");
    json_t *created_at = json_object_get(reply, "createdAt");
    json_t *updated_at = json_object_get(reply, "updatedAt");
    assert_true(json_is_string(created_at) && json_is_string(updated_at));
    json_object_set(expected, "createdAt", created_at);
    json_object_set(expected, "updatedAt", updated_at);
    assert_true(json_equal(reply, expected));
    json_decref(expected);
    json_decref(reply);
}

//  --------------------------------------------------------------------------
//  A query connection that dies: the request that meets it is 503
//  unavailable, the connection is dropped and re-opened, and a later
//  request succeeds.

static bool
s_stock_readable(void *arg)
{
    fixture_t *fixture = arg;
    return s_http(fixture, "GET", "/stock/SKU-1", NULL, NULL) == 200;
}

static void
test_query_connection_lost(void **state)
{
    fixture_t *fixture = *state;
    s_start(fixture, 0, 1);
    s_put_stock(fixture, "SKU-1", 1);
    assert_int_equal(
        s_number(fixture->conn,
                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND application_name = 'inventory-0-query'",
                 NULL),
        1);
    s_assert_error(fixture, "GET", "/stock/SKU-1", NULL, 503, "unavailable", NULL);
    assert_true(ts_wait_until(s_stock_readable, fixture, WAIT_MS));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rejections, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_order_without_items, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_release_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_create, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_seq_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replicas_race_for_last_unit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_http_api, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_query_connection_lost, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
