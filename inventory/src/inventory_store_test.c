/*  =========================================================================
    inventory_store_test - the inventory's SQL against a real PostgreSQL

    Each case gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN), migrated with the service's own schema, and drives the
    store the way the handler does: BEGIN, lock a batch, decide, write,
    COMMIT; with batches of one event (the history every batch must
    reproduce) and of many. The race for the last unit runs two
    transactions on two connections; the second one's lock must wait for
    the first (checked in pg_stat_activity, never by sleeping) and then see
    what it left.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_batch.h"
#include "inventory_logic.h"
#include "inventory_store.h"
#include "ts.h"

#include <libpq-fe.h>
#include <pthread.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long a wait for another transaction may take.
#define WAIT_MS 30000

typedef struct {
    char *conninfo;           //  fresh database (owned)
    PGconn *conn;             //  connection to it (owned)
    inventory_store_t *store; //  the prepared statements of conn (owned)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = ts_pg_connect(fixture->conninfo);
    ts_pg_exec(fixture->conn, "SET client_min_messages = warning");
    char *error = NULL;
    assert_int_equal(bus_migrate(fixture->conn, "inventory", inventory_migrations, &error), 1);
    assert_null(error);
    fixture->store = inventory_store_new();
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    inventory_store_destroy(&fixture->store);
    PQfinish(fixture->conn);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  Set a SKU's available units through the store (as PUT does).
static void
s_put(fixture_t *fixture, const char *sku, int64_t available)
{
    json_t *row = NULL;
    char *error = NULL;
    assert_int_equal(
        inventory_store_put_stock(fixture->store, fixture->conn, sku, available, &row, &error),
        BUS_OK);
    assert_null(error);
    json_decref(row);
}

//  An order id derived from `index`.
static svc_uuid_t
s_order_id(int index)
{
    svc_uuid_t id = {{0}};
    id.bytes[0] = 0x01;
    id.bytes[6] = 0x70;
    id.bytes[8] = 0x80;
    memcpy(id.bytes + 10, &index, sizeof index);
    return id;
}

//  Lock, decide and write a batch on `conn`, inside the caller's
//  transaction. Returns the first failure, or BUS_OK.
static bus_rc_t
s_apply(inventory_store_t *store, PGconn *conn, inventory_batch_t *batch)
{
    char *error = NULL;
    bus_rc_t rc = inventory_store_lock(store, conn, batch, &error);
    if (rc == BUS_OK) {
        inventory_batch_decide(batch);
        rc = inventory_store_write(store, conn, batch, &error);
    }
    zstr_free(&error);
    return rc;
}

//  What one reserve attempt did.
typedef struct {
    bus_rc_t rc;                   //  first failure, or BUS_OK
    bool seen;                     //  the order had a row already
    inventory_decision_t decision; //  what was decided (unless seen)
} reserve_result_t;

//  The handler's OrderCreated path on `conn`, inside the caller's
//  transaction: a batch of one event.
static reserve_result_t
s_reserve_in(inventory_store_t *store,
             PGconn *conn,
             const svc_uuid_t *order_id,
             inventory_line_t *lines,
             size_t count)
{
    inventory_batch_t *batch = inventory_batch_new();
    inventory_batch_add_created(batch, order_id, lines, count);
    reserve_result_t outcome = {.rc = s_apply(store, conn, batch)};
    if (outcome.rc == BUS_OK) {
        const inventory_event_t *event = inventory_batch_event(batch, 0);
        outcome.seen = event->outcome == INVENTORY_OUTCOME_SEEN;
        outcome.decision = event->decision;
    }
    inventory_batch_destroy(&batch);
    return outcome;
}

//  The same in a transaction of its own on the fixture's connection.
static reserve_result_t
s_reserve(fixture_t *fixture, int order, inventory_line_t *lines, size_t count)
{
    svc_uuid_t order_id = s_order_id(order);
    ts_pg_exec(fixture->conn, "BEGIN");
    reserve_result_t outcome = s_reserve_in(fixture->store, fixture->conn, &order_id, lines, count);
    ts_pg_exec(fixture->conn, outcome.rc == BUS_OK ? "COMMIT" : "ROLLBACK");
    return outcome;
}

//  Cancel order `order` in a transaction of its own; returns the outcome.
static inventory_outcome_t
s_cancel(fixture_t *fixture, int order)
{
    svc_uuid_t order_id = s_order_id(order);
    inventory_batch_t *batch = inventory_batch_new();
    inventory_batch_add_cancelled(batch, &order_id, "customer request");
    ts_pg_exec(fixture->conn, "BEGIN");
    if (s_apply(fixture->store, fixture->conn, batch) != BUS_OK) {
        fail_msg("cancel failed");
    }
    ts_pg_exec(fixture->conn, "COMMIT");
    inventory_outcome_t outcome = inventory_batch_event(batch, 0)->outcome;
    inventory_batch_destroy(&batch);
    return outcome;
}

//  Add an OrderCreated or OrderCancelled of order `order` to a batch.
static void
s_add_created(inventory_batch_t *batch, int order, const inventory_line_t *lines, size_t count)
{
    svc_uuid_t order_id = s_order_id(order);
    inventory_batch_add_created(batch, &order_id, lines, count);
}

static void
s_add_cancelled(inventory_batch_t *batch, int order, const char *reason)
{
    svc_uuid_t order_id = s_order_id(order);
    inventory_batch_add_cancelled(batch, &order_id, reason);
}

//  Apply a batch in a transaction of its own; asserts it worked.
static void
s_apply_batch(fixture_t *fixture, inventory_batch_t *batch)
{
    ts_pg_exec(fixture->conn, "BEGIN");
    assert_int_equal(s_apply(fixture->store, fixture->conn, batch), BUS_OK);
    ts_pg_exec(fixture->conn, "COMMIT");
}

//  The reservation of `order` as the API shows it, or NULL if none.
static json_t *
s_reservation(fixture_t *fixture, int order)
{
    svc_uuid_t order_id = s_order_id(order);
    json_t *reservation = NULL;
    char *error = NULL;
    bus_rc_t rc =
        inventory_store_reservation(fixture->store, fixture->conn, &order_id, &reservation, &error);
    assert_true(rc == BUS_OK || rc == BUS_NOT_FOUND);
    zstr_free(&error);
    return reservation;
}

static const char *
s_status(json_t *reservation)
{
    return json_string_value(json_object_get(reservation, "status"));
}

#define S_AVAILABLE(fixture, sku)                                                                  \
    ts_pg_number((fixture)->conn, "SELECT available FROM inventory_stock WHERE sku = '" sku "'")
#define S_RESERVED(fixture, sku)                                                                   \
    ts_pg_number((fixture)->conn, "SELECT reserved FROM inventory_stock WHERE sku = '" sku "'")
#define S_TOTAL_UNITS "SELECT sum(available + reserved) FROM inventory_stock"

//  --------------------------------------------------------------------------
//  Usage: an order of two SKUs is reserved; the reservation shows the
//  merged lines; the same order again is "seen" and changes nothing.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 5);
    s_put(fixture, "SKU-2", 3);
    inventory_line_t lines[] = {{"SKU-2", 1}, {"SKU-1", 2}};
    reserve_result_t outcome = s_reserve(fixture, 1, lines, 2);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_false(outcome.seen);
    assert_true(outcome.decision.reserved);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 3);
    assert_int_equal(S_RESERVED(fixture, "SKU-1"), 2);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 2);
    assert_int_equal(S_RESERVED(fixture, "SKU-2"), 1);

    json_t *reservation = s_reservation(fixture, 1);
    assert_non_null(reservation);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_t order_id = s_order_id(1);
    svc_uuid_format(&order_id, id_text);
    assert_string_equal(json_string_value(json_object_get(reservation, "orderId")), id_text);
    assert_string_equal(s_status(reservation), "RESERVED");
    assert_true(json_is_null(json_object_get(reservation, "reason")));
    json_t *expected_items = json_loads(
        "[{\"sku\": \"SKU-1\", \"quantity\": 2}, {\"sku\": \"SKU-2\", \"quantity\": 1}]", 0, NULL);
    assert_true(json_equal(json_object_get(reservation, "items"), expected_items));
    json_decref(expected_items);
    const char *created_at = json_string_value(json_object_get(reservation, "createdAt"));
    assert_non_null(created_at);
    assert_int_equal(strlen(created_at), strlen("2026-11-28T04:10:00.123456Z"));
    assert_int_equal(created_at[strlen(created_at) - 1], 'Z');
    assert_non_null(json_string_value(json_object_get(reservation, "updatedAt")));
    json_decref(reservation);

    //  Delivered again: seen, nothing moves.
    inventory_line_t again[] = {{"SKU-2", 1}, {"SKU-1", 2}};
    outcome = s_reserve(fixture, 1, again, 2);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_true(outcome.seen);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 3);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 2);
}

//  --------------------------------------------------------------------------
//  Rejections reserve nothing: an unknown SKU (0 available), one order
//  that wants 2 of the last 1, and duplicate lines whose sum is short.

static void
test_rejections(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 1);
    s_put(fixture, "SKU-2", 10);

    inventory_line_t unknown[] = {{"SKU-2", 1}, {"SKU-404", 1}};
    reserve_result_t outcome = s_reserve(fixture, 1, unknown, 2);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_false(outcome.decision.reserved);
    assert_int_equal(outcome.decision.available, 0);
    json_t *reservation = s_reservation(fixture, 1);
    assert_string_equal(s_status(reservation), "REJECTED");
    assert_string_equal(json_string_value(json_object_get(reservation, "reason")),
                        "out of stock: SKU-404 (requested 1, available 0)");
    assert_int_equal(json_array_size(json_object_get(reservation, "items")), 2);
    json_decref(reservation);

    inventory_line_t two_of_one[] = {{"SKU-1", 2}};
    outcome = s_reserve(fixture, 2, two_of_one, 1);
    assert_false(outcome.decision.reserved);
    assert_int_equal(outcome.decision.requested, 2);
    assert_int_equal(outcome.decision.available, 1);

    //  Each line alone would fit; together they do not.
    inventory_line_t duplicates[] = {{"SKU-1", 1}, {"SKU-2", 1}, {"SKU-1", 1}};
    outcome = s_reserve(fixture, 3, duplicates, 3);
    assert_false(outcome.decision.reserved);
    reservation = s_reservation(fixture, 3);
    assert_string_equal(json_string_value(json_object_get(reservation, "reason")),
                        "out of stock: SKU-1 (requested 2, available 1)");
    json_decref(reservation);

    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 1);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 10);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT sum(reserved) FROM inventory_stock"), 0);

    //  Duplicates that fit are reserved once, for the sum.
    s_put(fixture, "SKU-1", 2);
    inventory_line_t fitting[] = {{"SKU-1", 1}, {"SKU-1", 1}};
    outcome = s_reserve(fixture, 4, fitting, 2);
    assert_true(outcome.decision.reserved);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 0);
    assert_int_equal(S_RESERVED(fixture, "SKU-1"), 2);
}

//  --------------------------------------------------------------------------
//  Cancel: a reservation is released once, even when the cancel comes
//  twice; a rejection stays; a cancel before the create leaves a tombstone
//  and the create then reserves nothing. Units are conserved throughout.

static void
test_cancel(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 5);
    s_put(fixture, "SKU-2", 5);
    long total = ts_pg_number(fixture->conn, S_TOTAL_UNITS);

    inventory_line_t lines[] = {{"SKU-1", 2}, {"SKU-2", 3}};
    assert_true(s_reserve(fixture, 1, lines, 2).decision.reserved);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), total);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 2);

    assert_int_equal(s_cancel(fixture, 1), INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 5);
    assert_int_equal(S_RESERVED(fixture, "SKU-1"), 0);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 5);
    assert_int_equal(S_RESERVED(fixture, "SKU-2"), 0);
    json_t *reservation = s_reservation(fixture, 1);
    assert_string_equal(s_status(reservation), "RELEASED");
    assert_string_equal(json_string_value(json_object_get(reservation, "reason")),
                        "customer request");
    json_decref(reservation);

    //  The second cancel changes nothing.
    assert_int_equal(s_cancel(fixture, 1), INVENTORY_OUTCOME_UNCHANGED);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 5);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 5);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), total);

    //  A rejected order stays rejected.
    inventory_line_t too_many[] = {{"SKU-1", 6}};
    assert_false(s_reserve(fixture, 2, too_many, 1).decision.reserved);
    assert_int_equal(s_cancel(fixture, 2), INVENTORY_OUTCOME_UNCHANGED);
    reservation = s_reservation(fixture, 2);
    assert_string_equal(s_status(reservation), "REJECTED");
    json_decref(reservation);

    //  Cancel before create: a tombstone, and the create is "seen".
    assert_null(s_reservation(fixture, 3));
    assert_int_equal(s_cancel(fixture, 3), INVENTORY_OUTCOME_TOMBSTONE);
    reservation = s_reservation(fixture, 3);
    assert_string_equal(s_status(reservation), "CANCELLED");
    assert_int_equal(json_array_size(json_object_get(reservation, "items")), 0);
    json_decref(reservation);
    inventory_line_t late[] = {{"SKU-1", 1}};
    reserve_result_t outcome = s_reserve(fixture, 3, late, 1);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_true(outcome.seen);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 5);
    assert_int_equal(s_cancel(fixture, 3), INVENTORY_OUTCOME_UNCHANGED);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), total);
}

//  --------------------------------------------------------------------------
//  One batch of many events, as the handler hands them, in one
//  transaction: two orders race for the last unit (the first in seq order
//  wins), an order is created and cancelled (released: its units serve
//  the order after it), an order is cancelled and then created (a
//  tombstone: it reserves nothing), and SKUs repeat within and across
//  orders (each stock row is written once, for the net). A second batch
//  releases stored reservations. Units are conserved throughout.

static const char *
s_reason(json_t *reservation)
{
    return json_string_value(json_object_get(reservation, "reason"));
}

static void
test_batch(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 1);
    s_put(fixture, "SKU-2", 5);
    s_put(fixture, "SKU-3", 2);
    long total = ts_pg_number(fixture->conn, S_TOTAL_UNITS);

    inventory_line_t last[] = {{"SKU-1", 1}};
    inventory_line_t repeated[] = {{"SKU-2", 2}, {"SKU-3", 1}, {"SKU-2", 1}};
    inventory_line_t three[] = {{"SKU-2", 3}};
    inventory_line_t after[] = {{"SKU-3", 2}, {"SKU-2", 3}};
    inventory_batch_t *batch = inventory_batch_new();
    s_add_created(batch, 1, last, 1);     //  the last unit of SKU-1
    s_add_created(batch, 2, last, 1);     //  too late
    s_add_created(batch, 3, repeated, 3); //  SKU-2 x3, SKU-3 x1
    s_add_created(batch, 4, three, 1);    //  2 of SKU-2 left
    s_add_cancelled(batch, 3, "changed my mind");
    s_add_created(batch, 5, after, 2); //  fits with order 3's units back
    s_add_cancelled(batch, 6, NULL);   //  before its create
    s_add_created(batch, 6, last, 1);
    s_apply_batch(fixture, batch);

    inventory_outcome_t expected[] = {INVENTORY_OUTCOME_RESERVED,  INVENTORY_OUTCOME_REJECTED,
                                      INVENTORY_OUTCOME_RESERVED,  INVENTORY_OUTCOME_REJECTED,
                                      INVENTORY_OUTCOME_RELEASED,  INVENTORY_OUTCOME_RESERVED,
                                      INVENTORY_OUTCOME_TOMBSTONE, INVENTORY_OUTCOME_SEEN};
    for (size_t index = 0; index < sizeof expected / sizeof expected[0]; index++) {
        assert_int_equal(inventory_batch_event(batch, index)->outcome, expected[index]);
    }
    inventory_batch_destroy(&batch);

    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 0);
    assert_int_equal(S_RESERVED(fixture, "SKU-1"), 1);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 2);
    assert_int_equal(S_RESERVED(fixture, "SKU-2"), 3);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-3"), 0);
    assert_int_equal(S_RESERVED(fixture, "SKU-3"), 2);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), total);

    json_t *reservation = s_reservation(fixture, 1);
    assert_string_equal(s_status(reservation), "RESERVED");
    json_decref(reservation);
    reservation = s_reservation(fixture, 2);
    assert_string_equal(s_status(reservation), "REJECTED");
    assert_string_equal(s_reason(reservation), "out of stock: SKU-1 (requested 1, available 0)");
    json_decref(reservation);
    reservation = s_reservation(fixture, 3);
    assert_string_equal(s_status(reservation), "RELEASED");
    assert_string_equal(s_reason(reservation), "changed my mind");
    json_t *items = json_loads(
        "[{\"sku\": \"SKU-2\", \"quantity\": 3}, {\"sku\": \"SKU-3\", \"quantity\": 1}]", 0, NULL);
    assert_true(json_equal(json_object_get(reservation, "items"), items));
    json_decref(items);
    json_decref(reservation);
    reservation = s_reservation(fixture, 4);
    assert_string_equal(s_reason(reservation), "out of stock: SKU-2 (requested 3, available 2)");
    json_decref(reservation);
    reservation = s_reservation(fixture, 5);
    assert_string_equal(s_status(reservation), "RESERVED");
    json_decref(reservation);
    reservation = s_reservation(fixture, 6);
    assert_string_equal(s_status(reservation), "CANCELLED");
    assert_int_equal(json_array_size(json_object_get(reservation, "items")), 0);
    assert_true(json_is_null(json_object_get(reservation, "reason")));
    json_decref(reservation);

    //  Stored reservations released by a later batch, once each; the
    //  order that arrives again is seen.
    batch = inventory_batch_new();
    s_add_cancelled(batch, 5, NULL);
    s_add_cancelled(batch, 5, "twice");
    s_add_cancelled(batch, 1, "customer request");
    s_add_created(batch, 1, last, 1);
    s_add_cancelled(batch, 2, NULL);
    s_apply_batch(fixture, batch);
    assert_int_equal(inventory_batch_event(batch, 0)->outcome, INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(inventory_batch_event(batch, 1)->outcome, INVENTORY_OUTCOME_UNCHANGED);
    assert_int_equal(inventory_batch_event(batch, 2)->outcome, INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(inventory_batch_event(batch, 3)->outcome, INVENTORY_OUTCOME_SEEN);
    assert_int_equal(inventory_batch_event(batch, 4)->outcome, INVENTORY_OUTCOME_UNCHANGED);
    inventory_batch_destroy(&batch);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT sum(reserved) FROM inventory_stock"), 0);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-2"), 5);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), total);
    reservation = s_reservation(fixture, 5);
    assert_string_equal(s_status(reservation), "RELEASED");
    assert_true(json_is_null(json_object_get(reservation, "reason")));
    json_decref(reservation);
    reservation = s_reservation(fixture, 1);
    assert_string_equal(s_reason(reservation), "customer request");
    json_decref(reservation);
}

//  --------------------------------------------------------------------------
//  The CHECK constraints are the second guard: a write that would take
//  more than is available (a decision on a count the lock did not see)
//  fails, and the rollback leaves the stock as it was.

static void
test_stock_never_negative(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 1);
    inventory_line_t lines[] = {{"SKU-1", 2}};
    inventory_batch_t *batch = inventory_batch_new();
    s_add_created(batch, 1, lines, 1);
    char *error = NULL;
    ts_pg_exec(fixture->conn, "BEGIN");
    assert_int_equal(inventory_store_lock(fixture->store, fixture->conn, batch, &error), BUS_OK);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 2), 0); //  not what is there
    inventory_batch_decide(batch);
    assert_true(inventory_batch_event(batch, 0)->decision.reserved);
    assert_int_equal(inventory_store_write(fixture->store, fixture->conn, batch, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(strstr(error, "inventory_stock_available_check"));
    zstr_free(&error);
    ts_pg_exec(fixture->conn, "ROLLBACK");
    inventory_batch_destroy(&batch);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 1);
    assert_null(s_reservation(fixture, 1));

    //  A write for a SKU that has no row reserves nothing at all.
    inventory_line_t missing[] = {{"SKU-1", 1}, {"SKU-9", 1}};
    batch = inventory_batch_new();
    s_add_created(batch, 1, missing, 2);
    ts_pg_exec(fixture->conn, "BEGIN");
    assert_int_equal(inventory_store_lock(fixture->store, fixture->conn, batch, &error), BUS_OK);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-9", 1), 0);
    inventory_batch_decide(batch);
    assert_int_equal(inventory_store_write(fixture->store, fixture->conn, batch, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(strstr(error, "1 of 2 stock rows"));
    zstr_free(&error);
    ts_pg_exec(fixture->conn, "ROLLBACK");
    inventory_batch_destroy(&batch);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 1);
    assert_null(s_reservation(fixture, 1));
}

//  --------------------------------------------------------------------------
//  The race for the last unit, on two connections.

typedef struct {
    PGconn *conn;            //  the second transaction's connection (borrowed)
    int order;               //  its order
    reserve_result_t result; //  what its reserve did
} racer_t;

static void *
s_racer(void *arg)
{
    racer_t *racer = arg;
    svc_uuid_t order_id = s_order_id(racer->order);
    inventory_line_t lines[] = {{"SKU-1", 1}};
    inventory_store_t *store = inventory_store_new();
    PQclear(PQexec(racer->conn, "BEGIN"));
    racer->result = s_reserve_in(store, racer->conn, &order_id, lines, 1);
    inventory_store_destroy(&store);
    PQclear(PQexec(racer->conn, racer->result.rc == BUS_OK ? "COMMIT" : "ROLLBACK"));
    return NULL;
}

typedef struct {
    PGconn *conn; //  a third connection for looking (borrowed)
    int pid;      //  the backend that should be waiting
} lock_wait_t;

static bool
s_waiting_for_lock(void *arg)
{
    lock_wait_t *wait = arg;
    char sql[160];
    (void) snprintf(sql, sizeof sql,
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %d"
                    " AND wait_event_type = 'Lock'",
                    wait->pid);
    return ts_pg_number(wait->conn, sql) == 1;
}

//  Two orders, one unit: the first locks and reserves; the second's lock
//  waits for the first's commit, then sees 0 and is rejected.
static void
test_last_unit_race(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 1);
    PGconn *second = ts_pg_connect(fixture->conninfo);
    PGconn *observer = ts_pg_connect(fixture->conninfo);

    inventory_line_t lines[] = {{"SKU-1", 1}};
    inventory_batch_t *batch = inventory_batch_new();
    s_add_created(batch, 1, lines, 1);
    char *error = NULL;
    ts_pg_exec(fixture->conn, "BEGIN");
    assert_int_equal(inventory_store_lock(fixture->store, fixture->conn, batch, &error), BUS_OK);
    size_t count = 0;
    assert_int_equal(inventory_batch_stock(batch, &count)[0].available, 1);

    racer_t racer = {.conn = second, .order = 2};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_racer, &racer), 0);
    lock_wait_t wait = {observer, PQbackendPID(second)};
    assert_true(ts_wait_until(s_waiting_for_lock, &wait, WAIT_MS));

    inventory_batch_decide(batch);
    assert_true(inventory_batch_event(batch, 0)->decision.reserved);
    assert_int_equal(inventory_store_write(fixture->store, fixture->conn, batch, &error), BUS_OK);
    ts_pg_exec(fixture->conn, "COMMIT");
    inventory_batch_destroy(&batch);
    assert_int_equal(pthread_join(thread, NULL), 0);

    assert_int_equal(racer.result.rc, BUS_OK);
    assert_false(racer.result.seen);
    assert_false(racer.result.decision.reserved);
    assert_int_equal(racer.result.decision.available, 0);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 0);
    assert_int_equal(S_RESERVED(fixture, "SKU-1"), 1);
    assert_int_equal(
        ts_pg_number(fixture->conn,
                     "SELECT count(*) FROM inventory_reservations WHERE status = 'RESERVED'"),
        1);
    PQfinish(observer);
    PQfinish(second);
}

//  --------------------------------------------------------------------------
//  A SKU from an event may hold any UTF-8, quotes and backslashes too: the
//  array literal carries it intact to the lock and the record.

static void
test_odd_skus(void **state)
{
    fixture_t *fixture = *state;
    const char *odd = "we\"ird\\sku,{x} \xc3\xa9";
    const char *values[] = {odd};
    PGresult *result =
        PQexecParams(fixture->conn, "INSERT INTO inventory_stock (sku, available) VALUES ($1, 4)",
                     1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    inventory_line_t lines[] = {{odd, 3}, {"NULL", 1}};
    s_put(fixture, "NULL", 1);
    reserve_result_t outcome = s_reserve(fixture, 1, lines, 2);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_true(outcome.decision.reserved);
    result = PQexecParams(fixture->conn, "SELECT available FROM inventory_stock WHERE sku = $1", 1,
                          NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(result, 0, 0), "1");
    PQclear(result);
    assert_int_equal(s_cancel(fixture, 1), INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(S_AVAILABLE(fixture, "NULL"), 1);
    assert_int_equal(ts_pg_number(fixture->conn, S_TOTAL_UNITS), 5);
}

//  --------------------------------------------------------------------------
//  The prepared statements follow the connection: a second
//  memory on the same connection finds them (no "already exists"), a new
//  connection gets them, and a connection that lost them (DEALLOCATE)
//  fails one step and has them again on the next.

static void
test_prepared_statements(void **state)
{
    fixture_t *fixture = *state;
    s_put(fixture, "SKU-1", 10);
    inventory_line_t lines[] = {{"SKU-1", 1}};
    assert_true(s_reserve(fixture, 1, lines, 1).decision.reserved);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM pg_prepared_statements"
                                                 " WHERE name LIKE 'inventory%'"),
                     6);

    //  Another memory on the same connection.
    inventory_store_destroy(&fixture->store);
    fixture->store = inventory_store_new();
    assert_true(s_reserve(fixture, 2, lines, 1).decision.reserved);

    //  The same memory on another connection.
    PGconn *other = ts_pg_connect(fixture->conninfo);
    svc_uuid_t order_id = s_order_id(3);
    reserve_result_t outcome = s_reserve_in(fixture->store, other, &order_id, lines, 1);
    assert_int_equal(outcome.rc, BUS_OK);
    assert_true(outcome.decision.reserved);
    PQfinish(other);

    //  Statements gone behind the memory's back: one failure, then fine.
    assert_true(s_reserve(fixture, 4, lines, 1).decision.reserved);
    ts_pg_exec(fixture->conn, "DEALLOCATE ALL");
    inventory_batch_t *batch = inventory_batch_new();
    s_add_cancelled(batch, 1, NULL);
    char *error = NULL;
    assert_int_equal(inventory_store_lock(fixture->store, fixture->conn, batch, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(error);
    zstr_free(&error);
    inventory_batch_destroy(&batch);
    assert_int_equal(s_cancel(fixture, 1), INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(S_AVAILABLE(fixture, "SKU-1"), 7);
}

//  --------------------------------------------------------------------------
//  The admin queries: PUT keeps reserved units, GET of a missing SKU is
//  not found, pages follow SKU order with a `next` until the last page.

static void
test_stock_queries(void **state)
{
    fixture_t *fixture = *state;
    json_t *row = NULL;
    char *error = NULL;
    assert_int_equal(inventory_store_stock(fixture->store, fixture->conn, "SKU-1", &row, &error),
                     BUS_NOT_FOUND);
    assert_null(row);
    zstr_free(&error);

    s_put(fixture, "SKU-1", 5);
    inventory_line_t lines[] = {{"SKU-1", 2}};
    assert_true(s_reserve(fixture, 1, lines, 1).decision.reserved);
    assert_int_equal(
        inventory_store_put_stock(fixture->store, fixture->conn, "SKU-1", 10, &row, &error),
        BUS_OK);
    assert_string_equal(json_string_value(json_object_get(row, "sku")), "SKU-1");
    assert_int_equal(json_integer_value(json_object_get(row, "available")), 10);
    assert_int_equal(json_integer_value(json_object_get(row, "reserved")), 2);
    assert_non_null(json_string_value(json_object_get(row, "updatedAt")));
    assert_int_equal(json_object_size(row), 4);
    json_decref(row);
    assert_int_equal(inventory_store_stock(fixture->store, fixture->conn, "SKU-1", &row, &error),
                     BUS_OK);
    assert_int_equal(json_integer_value(json_object_get(row, "available")), 10);
    json_decref(row);

    //  Byte order: "SKU-10" < "SKU-2" < "sku-0".
    s_put(fixture, "sku-0", 1);
    s_put(fixture, "SKU-2", 1);
    s_put(fixture, "SKU-10", 1);
    json_t *page = NULL;
    assert_int_equal(
        inventory_store_stock_page(fixture->store, fixture->conn, NULL, 2, &page, &error), BUS_OK);
    json_t *items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "sku")),
                        "SKU-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "sku")),
                        "SKU-10");
    assert_string_equal(json_string_value(json_object_get(page, "next")), "SKU-10");
    json_decref(page);
    assert_int_equal(
        inventory_store_stock_page(fixture->store, fixture->conn, "SKU-10", 2, &page, &error),
        BUS_OK);
    items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "sku")),
                        "sku-0");
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
    assert_int_equal(
        inventory_store_stock_page(fixture->store, fixture->conn, "sku-0", 2, &page, &error),
        BUS_OK);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  A lost connection is BUS_DB_UNAVAILABLE and reported as bad.

static void
test_connection_lost(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = ts_pg_connect(fixture->conninfo);
    assert_false(inventory_store_conn_bad(conn));
    char pid[16];
    (void) snprintf(pid, sizeof pid, "%d", PQbackendPID(conn));
    const char *values[] = {pid};
    PQclear(PQexecParams(fixture->conn, "SELECT pg_terminate_backend($1::integer)", 1, NULL, values,
                         NULL, NULL, 0));
    json_t *row = NULL;
    char *error = NULL;
    assert_int_equal(inventory_store_stock(fixture->store, conn, "SKU-1", &row, &error),
                     BUS_DB_UNAVAILABLE);
    assert_null(row);
    assert_non_null(error);
    zstr_free(&error);
    assert_true(inventory_store_conn_bad(conn));
    PQfinish(conn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rejections, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stock_never_negative, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_last_unit_race, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_odd_skus, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prepared_statements, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stock_queries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_connection_lost, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
