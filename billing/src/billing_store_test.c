/*  =========================================================================
    billing_store_test - billing's SQL against a real PostgreSQL

    Each case gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN), migrated with the service's schema, and walks paths of
    the payment state machine (billing_logic.h), reading the row back the
    way GET /payments shows it: one event per statement (the history a
    batch must reproduce), then batches of many events, several of one
    order among them, checked against a model of the machine.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_logic.h"
#include "billing_store.h"
#include "ts.h"

#include <libpq-fe.h>
#include <pthread.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define OTHER_TRACE_ID "0af7651916cd43dd8448eb211c80319c"

typedef struct {
    char *conninfo;         //  fresh database (owned)
    PGconn *conn;           //  connection to it (owned)
    svc_uuid_t order_id;    //  the order of the case
    billing_store_t *store; //  the prepared statements of conn (owned)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = PQconnectdb(fixture->conninfo);
    assert_int_equal(PQstatus(fixture->conn), CONNECTION_OK);
    PQclear(PQexec(fixture->conn, "SET client_min_messages = warning"));
    char *error = NULL;
    assert_int_equal(bus_migrate(fixture->conn, "billing", billing_migrations, &error), 1);
    assert_null(error);
    svc_uuid_v7(&fixture->order_id);
    fixture->store = billing_store_new();
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    billing_store_destroy(&fixture->store);
    PQfinish(fixture->conn);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  Apply one event in a statement of its own; returns its outcome.
static billing_outcome_t
s_apply_one(fixture_t *fixture, const billing_event_t *event)
{
    billing_outcome_t outcome = (billing_outcome_t) -1;
    char *error = NULL;
    assert_int_equal(billing_store_apply(fixture->store, fixture->conn, event, 1, &outcome, &error),
                     BUS_OK);
    assert_null(error);
    return outcome;
}

//  An OrderCreated or OrderCancelled of `order_id`.
static billing_event_t
s_created(const svc_uuid_t *order_id, int64_t amount_minor, const char *currency, const char *trace)
{
    return (billing_event_t){.order_id = *order_id,
                             .created = true,
                             .amount_minor = amount_minor,
                             .currency = currency,
                             .trace_id = trace};
}

static billing_event_t
s_cancelled(const svc_uuid_t *order_id, const char *trace_id)
{
    return (billing_event_t){.order_id = *order_id, .trace_id = trace_id};
}

//  OrderCreated's step for the case's order; returns the outcome.
static billing_outcome_t
s_start(fixture_t *fixture, int64_t amount_minor, const char *currency, const char *trace_id)
{
    billing_event_t event = s_created(&fixture->order_id, amount_minor, currency, trace_id);
    return s_apply_one(fixture, &event);
}

//  OrderCancelled's step for the case's order; returns the outcome.
static billing_outcome_t
s_void(fixture_t *fixture, const char *trace_id)
{
    billing_event_t event = s_cancelled(&fixture->order_id, trace_id);
    return s_apply_one(fixture, &event);
}

//  The payment of `order_id` as GET shows it (asserts it exists). Caller
//  decrefs.
static json_t *
s_payment_of(fixture_t *fixture, const svc_uuid_t *order_id)
{
    json_t *payment = NULL;
    char *error = NULL;
    assert_int_equal(
        billing_store_payment(fixture->store, fixture->conn, order_id, &payment, &error), BUS_OK);
    assert_null(error);
    assert_int_equal(json_object_size(payment), 7);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    assert_string_equal(json_string_value(json_object_get(payment, "orderId")), id_text);
    return payment;
}

//  The case's payment.
static json_t *
s_payment(fixture_t *fixture)
{
    return s_payment_of(fixture, &fixture->order_id);
}

static const char *
s_field(json_t *payment, const char *name)
{
    return json_string_value(json_object_get(payment, name));
}

static bool
s_null(json_t *payment, const char *name)
{
    return json_is_null(json_object_get(payment, name));
}

//  --------------------------------------------------------------------------
//  Usage: an order starts a payment; its cancel voids it; both only once.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_start(fixture, 5997, "EUR", TRACE_ID), BILLING_STARTED);
    json_t *payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "amount"), "59.97");
    assert_string_equal(s_field(payment, "currency"), "EUR");
    assert_string_equal(s_field(payment, "status"), "STARTED");
    assert_int_equal(strlen(s_field(payment, "startedAt")), strlen("2026-11-28T04:10:00.123456Z"));
    assert_true(s_null(payment, "voidedAt"));
    assert_string_equal(s_field(payment, "traceId"), TRACE_ID);
    json_decref(payment);

    //  The same order again changes nothing.
    assert_int_equal(s_start(fixture, 1, "JPY", OTHER_TRACE_ID), BILLING_UNCHANGED);

    assert_int_equal(s_void(fixture, OTHER_TRACE_ID), BILLING_VOIDED);
    payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_string_equal(s_field(payment, "amount"), "59.97");
    assert_non_null(s_field(payment, "startedAt"));
    assert_non_null(s_field(payment, "voidedAt"));
    assert_string_equal(s_field(payment, "traceId"), TRACE_ID);
    char *voided_at = strdup(s_field(payment, "voidedAt"));
    json_decref(payment);

    //  A second cancel is nothing new, and keeps the first voidedAt.
    assert_int_equal(s_void(fixture, ""), BILLING_UNCHANGED);
    payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "voidedAt"), voided_at);
    json_decref(payment);
    zstr_free(&voided_at);
    //  And an order arriving after all that changes nothing either.
    assert_int_equal(s_start(fixture, 5997, "EUR", TRACE_ID), BILLING_UNCHANGED);
}

//  --------------------------------------------------------------------------
//  Cancel before create: a VOIDED tombstone without amount, filled in by
//  the order when it arrives, never started.

static void
test_tombstone(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_void(fixture, OTHER_TRACE_ID), BILLING_TOMBSTONE);
    json_t *payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_true(s_null(payment, "amount"));
    assert_true(s_null(payment, "currency"));
    assert_true(s_null(payment, "startedAt"));
    assert_non_null(s_field(payment, "voidedAt"));
    assert_string_equal(s_field(payment, "traceId"), OTHER_TRACE_ID);
    json_decref(payment);

    assert_int_equal(s_void(fixture, OTHER_TRACE_ID), BILLING_UNCHANGED);
    assert_int_equal(s_start(fixture, 100000, "JPY", TRACE_ID), BILLING_FILLED);
    payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_string_equal(s_field(payment, "amount"), "100000");
    assert_string_equal(s_field(payment, "currency"), "JPY");
    assert_true(s_null(payment, "startedAt"));
    assert_string_equal(s_field(payment, "traceId"), TRACE_ID);
    json_decref(payment);

    //  Filled once: a repeat of the order is nothing new.
    assert_int_equal(s_start(fixture, 1, "EUR", TRACE_ID), BILLING_UNCHANGED);
    payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "amount"), "100000");
    json_decref(payment);
}

//  --------------------------------------------------------------------------
//  Without a trace id the column is NULL and GET shows null.

static void
test_no_trace(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_start(fixture, 1234, "KWD", ""), BILLING_STARTED);
    json_t *payment = s_payment(fixture);
    assert_true(s_null(payment, "traceId"));
    assert_string_equal(s_field(payment, "amount"), "1.234");
    json_decref(payment);
}

//  --------------------------------------------------------------------------
//  One batch: several events of one order in seq order, orders in every
//  state before it, each event's outcome as if alone.

static void
test_batch(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t started, tombstone, done, fresh, early;
    svc_uuid_v7(&started);
    svc_uuid_v7(&tombstone);
    svc_uuid_v7(&done);
    svc_uuid_v7(&fresh);
    svc_uuid_v7(&early);
    billing_event_t before[] = {s_created(&started, 100, "EUR", TRACE_ID),
                                s_cancelled(&tombstone, OTHER_TRACE_ID),
                                s_created(&done, 100, "EUR", TRACE_ID), s_cancelled(&done, "")};
    billing_outcome_t outcomes[12];
    char *error = NULL;
    assert_int_equal(
        billing_store_apply(fixture->store, fixture->conn, before, 4, outcomes, &error), BUS_OK);

    billing_event_t events[] = {
        s_created(&fresh, 5997, "EUR", TRACE_ID), //  started
        s_cancelled(&fresh, OTHER_TRACE_ID),      //  voided
        s_created(&fresh, 1, "JPY", OTHER_TRACE_ID),
        s_cancelled(&early, OTHER_TRACE_ID), //  a tombstone
        s_created(&early, 500, "JPY", ""),   //  filled, keeps the cancel's trace
        s_created(&early, 1, "EUR", TRACE_ID),
        s_cancelled(&started, ""), //  voided
        s_cancelled(&started, ""),
        s_created(&tombstone, 1234, "KWD", TRACE_ID), //  filled
        s_created(&done, 1, "EUR", ""),
        s_cancelled(&done, ""),
        s_created(&started, 1, "EUR", "")};
    billing_outcome_t expected[] = {BILLING_STARTED,   BILLING_VOIDED,    BILLING_UNCHANGED,
                                    BILLING_TOMBSTONE, BILLING_FILLED,    BILLING_UNCHANGED,
                                    BILLING_VOIDED,    BILLING_UNCHANGED, BILLING_FILLED,
                                    BILLING_UNCHANGED, BILLING_UNCHANGED, BILLING_UNCHANGED};
    assert_int_equal(
        billing_store_apply(fixture->store, fixture->conn, events, 12, outcomes, &error), BUS_OK);
    assert_null(error);
    for (size_t index = 0; index < 12; index++) {
        assert_int_equal(outcomes[index], expected[index]);
    }

    json_t *payment = s_payment_of(fixture, &fresh);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_string_equal(s_field(payment, "amount"), "59.97");
    assert_string_equal(s_field(payment, "currency"), "EUR");
    assert_non_null(s_field(payment, "startedAt"));
    assert_non_null(s_field(payment, "voidedAt"));
    assert_string_equal(s_field(payment, "traceId"), TRACE_ID);
    json_decref(payment);
    payment = s_payment_of(fixture, &early);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_string_equal(s_field(payment, "amount"), "500");
    assert_string_equal(s_field(payment, "currency"), "JPY");
    assert_true(s_null(payment, "startedAt"));
    assert_string_equal(s_field(payment, "traceId"), OTHER_TRACE_ID);
    json_decref(payment);
    payment = s_payment_of(fixture, &started);
    assert_string_equal(s_field(payment, "status"), "VOIDED");
    assert_string_equal(s_field(payment, "amount"), "1.00");
    json_decref(payment);
    payment = s_payment_of(fixture, &tombstone);
    assert_string_equal(s_field(payment, "amount"), "1.234");
    assert_string_equal(s_field(payment, "traceId"), TRACE_ID);
    assert_true(s_null(payment, "startedAt"));
    json_decref(payment);
    payment = s_payment_of(fixture, &done);
    assert_string_equal(s_field(payment, "amount"), "1.00");
    json_decref(payment);
}

//  --------------------------------------------------------------------------
//  Random batches against a model of the state machine: every outcome,
//  and every row after each batch.

#define S_ORDERS 4
#define S_BATCH_MAX 12

typedef enum {
    S_NONE = 0,  //  no row
    S_STARTED,   //  STARTED
    S_VOIDED,    //  VOIDED after a start
    S_TOMBSTONE, //  VOIDED, no amount
    S_FILLED     //  VOIDED, amount, never started
} model_state_t;

//  The machine of billing_logic.h, one event at a time.
static billing_outcome_t
s_model_step(model_state_t *state, int64_t *amount, const billing_event_t *event)
{
    if (event->created && *state == S_NONE) {
        *state = S_STARTED;
        *amount = event->amount_minor;
        return BILLING_STARTED;
    }
    if (event->created && *state == S_TOMBSTONE) {
        *state = S_FILLED;
        *amount = event->amount_minor;
        return BILLING_FILLED;
    }
    if (!event->created && *state == S_NONE) {
        *state = S_TOMBSTONE;
        return BILLING_TOMBSTONE;
    }
    if (!event->created && *state == S_STARTED) {
        *state = S_VOIDED;
        return BILLING_VOIDED;
    }
    return BILLING_UNCHANGED;
}

static uint32_t
s_random(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*seed >> 33);
}

//  The row of `order_id` as "<status> <started?> <amount>", or "none".
static void
s_row_text(fixture_t *fixture, const svc_uuid_t *order_id, char *text, size_t size)
{
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = PQexecParams(fixture->conn,
                                    "SELECT status || ' ' || (started_at IS NOT NULL)::text || ' '"
                                    " || coalesce(amount_minor::text, '-')"
                                    " FROM billing_payments WHERE order_id = $1::uuid",
                                    1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    (void) snprintf(text, size, "%s", PQntuples(result) ? PQgetvalue(result, 0, 0) : "none");
    PQclear(result);
}

static void
s_model_text(model_state_t state, int64_t amount, char *text, size_t size)
{
    static const char *const names[] = {[S_STARTED] = "STARTED true",
                                        [S_VOIDED] = "VOIDED true",
                                        [S_TOMBSTONE] = "VOIDED false",
                                        [S_FILLED] = "VOIDED false"};
    if (state == S_NONE) {
        (void) snprintf(text, size, "none");
    } else if (state == S_TOMBSTONE) {
        (void) snprintf(text, size, "%s -", names[state]);
    } else {
        (void) snprintf(text, size, "%s %" PRId64, names[state], amount);
    }
}

static void
test_batch_equals_model(void **state)
{
    fixture_t *fixture = *state;
    uint64_t seed = 7;
    svc_uuid_t ids[S_ORDERS];
    model_state_t states[S_ORDERS] = {S_NONE};
    int64_t amounts[S_ORDERS] = {0};
    for (int round = 0; round < 40; round++) {
        if (round % 10 == 0) {
            //  Fresh orders now and then, so that every state is visited.
            for (int order = 0; order < S_ORDERS; order++) {
                svc_uuid_v7(&ids[order]);
                states[order] = S_NONE;
            }
        }
        billing_event_t events[S_BATCH_MAX];
        billing_outcome_t expected[S_BATCH_MAX];
        size_t count = 1 + s_random(&seed) % S_BATCH_MAX;
        for (size_t index = 0; index < count; index++) {
            int order = (int) (s_random(&seed) % S_ORDERS);
            events[index] = s_random(&seed) % 2
                                ? s_created(&ids[order], 1 + s_random(&seed) % 1000, "EUR", "")
                                : s_cancelled(&ids[order], TRACE_ID);
            expected[index] = s_model_step(&states[order], &amounts[order], &events[index]);
        }
        billing_outcome_t outcomes[S_BATCH_MAX];
        char *error = NULL;
        assert_int_equal(
            billing_store_apply(fixture->store, fixture->conn, events, count, outcomes, &error),
            BUS_OK);
        for (size_t index = 0; index < count; index++) {
            assert_int_equal(outcomes[index], expected[index]);
        }
        for (int order = 0; order < S_ORDERS; order++) {
            char row[64];
            char model[64];
            s_row_text(fixture, &ids[order], row, sizeof row);
            s_model_text(states[order], amounts[order], model, sizeof model);
            assert_string_equal(row, model);
        }
    }
}

//  --------------------------------------------------------------------------
//  A row another transaction inserts while a batch runs (a replica that
//  applies the same order during a rescale) is never written over: the
//  batch fails, and applied again it sees the row.

typedef struct {
    fixture_t *fixture;            //  the case (borrowed)
    billing_store_t *store;        //  the racer's statements (owned by the racer)
    svc_uuid_t other;              //  another order of its batch
    bus_rc_t rc;                   //  what its batch did
    billing_outcome_t outcomes[2]; //  and its outcomes
} racer_t;

static void *
s_racer(void *arg)
{
    racer_t *racer = arg;
    PGconn *conn = racer->fixture->conn;
    billing_event_t events[] = {s_created(&racer->other, 1, "EUR", ""),
                                s_created(&racer->fixture->order_id, 200, "EUR", "")};
    char *error = NULL;
    PQclear(PQexec(conn, "BEGIN"));
    racer->rc = billing_store_apply(racer->store, conn, events, 2, racer->outcomes, &error);
    PQclear(PQexec(conn, racer->rc == BUS_OK ? "COMMIT" : "ROLLBACK"));
    zstr_free(&error);
    return NULL;
}

static bool
s_waiting_for_lock(void *arg)
{
    PGconn *observer = arg;
    PGresult *result = PQexec(observer, "SELECT count(*) FROM pg_stat_activity"
                                        " WHERE datname = current_database()"
                                        " AND wait_event_type = 'Lock'");
    bool waiting = PQresultStatus(result) == PGRES_TUPLES_OK && atoi(PQgetvalue(result, 0, 0)) == 1;
    PQclear(result);
    return waiting;
}

static void
test_concurrent_insert(void **state)
{
    fixture_t *fixture = *state;
    PGconn *first = PQconnectdb(fixture->conninfo);
    assert_int_equal(PQstatus(first), CONNECTION_OK);
    PGconn *observer = PQconnectdb(fixture->conninfo);
    assert_int_equal(PQstatus(observer), CONNECTION_OK);
    billing_store_t *store = billing_store_new();
    PQclear(PQexec(first, "BEGIN"));
    billing_event_t event = s_created(&fixture->order_id, 100, "EUR", TRACE_ID);
    billing_outcome_t outcome = BILLING_UNCHANGED;
    char *error = NULL;
    assert_int_equal(billing_store_apply(store, first, &event, 1, &outcome, &error), BUS_OK);
    assert_int_equal(outcome, BILLING_STARTED);

    racer_t racer = {.fixture = fixture, .store = billing_store_new()};
    svc_uuid_v7(&racer.other);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_racer, &racer), 0);
    assert_true(ts_wait_until(s_waiting_for_lock, observer, 30000));
    PQclear(PQexec(first, "COMMIT"));
    assert_int_equal(pthread_join(thread, NULL), 0);
    billing_store_destroy(&racer.store);
    assert_int_equal(racer.rc, BUS_DB_UNAVAILABLE);
    json_t *missing = NULL;
    assert_int_equal(
        billing_store_payment(fixture->store, fixture->conn, &racer.other, &missing, &error),
        BUS_NOT_FOUND); //  its whole batch rolled back
    zstr_free(&error);

    //  The first transaction's payment stands; one at a time, the order is
    //  seen.
    json_t *payment = s_payment(fixture);
    assert_string_equal(s_field(payment, "amount"), "1.00");
    json_decref(payment);
    assert_int_equal(s_start(fixture, 200, "EUR", ""), BILLING_UNCHANGED);
    billing_store_destroy(&store);
    PQfinish(observer);
    PQfinish(first);
}

//  --------------------------------------------------------------------------
//  The prepared statements follow the connection: a statement lost behind
//  the memory's back (DEALLOCATE) fails one step, the next one prepares
//  it again; a second memory on the same connection finds them.

static void
test_prepared_statements(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_start(fixture, 100, "EUR", TRACE_ID), BILLING_STARTED);
    PGresult *result = PQexec(fixture->conn, "DEALLOCATE ALL");
    assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
    PQclear(result);
    billing_outcome_t outcome = BILLING_STARTED;
    char *error = NULL;
    billing_event_t cancel = s_cancelled(&fixture->order_id, "");
    assert_int_equal(
        billing_store_apply(fixture->store, fixture->conn, &cancel, 1, &outcome, &error),
        BUS_DB_UNAVAILABLE);
    assert_non_null(error);
    zstr_free(&error);
    assert_int_equal(s_void(fixture, ""), BILLING_VOIDED);

    billing_store_destroy(&fixture->store);
    fixture->store = billing_store_new();
    assert_int_equal(s_void(fixture, ""), BILLING_UNCHANGED);
}

//  --------------------------------------------------------------------------
//  Unknown orders are not found; a lost connection is unavailable.

static void
test_not_found_and_lost(void **state)
{
    fixture_t *fixture = *state;
    json_t *payment = NULL;
    char *error = NULL;
    assert_int_equal(
        billing_store_payment(fixture->store, fixture->conn, &fixture->order_id, &payment, &error),
        BUS_NOT_FOUND);
    assert_null(payment);
    zstr_free(&error);

    PGconn *conn = PQconnectdb(fixture->conninfo);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_false(billing_store_conn_bad(conn));
    char sql[96];
    (void) snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(conn));
    PQclear(PQexec(fixture->conn, sql));
    assert_int_equal(
        billing_store_payment(fixture->store, conn, &fixture->order_id, &payment, &error),
        BUS_DB_UNAVAILABLE);
    assert_non_null(error);
    zstr_free(&error);
    assert_true(billing_store_conn_bad(conn));
    billing_outcome_t outcome = BILLING_STARTED;
    billing_event_t cancel = s_cancelled(&fixture->order_id, "");
    assert_int_equal(billing_store_apply(fixture->store, conn, &cancel, 1, &outcome, &error),
                     BUS_DB_UNAVAILABLE);
    assert_int_equal(outcome, BILLING_UNCHANGED);
    zstr_free(&error);
    PQfinish(conn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tombstone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_trace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_equals_model, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_insert, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prepared_statements, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_lost, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
