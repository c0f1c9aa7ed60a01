/*  =========================================================================
    billing_store_test - billing's SQL against a real PostgreSQL

    Each case gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN), migrated with the service's schema, and walks one path
    of the payment state machine (billing_logic.h), reading the row back
    the way GET /payments shows it.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_logic.h"
#include "billing_store.h"
#include "ts.h"

#include <libpq-fe.h>

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

//  OrderCreated's step for the case's order; returns the outcome.
static billing_outcome_t
s_start(fixture_t *fixture, int64_t amount_minor, const char *currency, const char *trace_id)
{
    billing_outcome_t outcome = (billing_outcome_t) -1;
    char *error = NULL;
    assert_int_equal(billing_store_start(fixture->store, fixture->conn, &fixture->order_id,
                                         amount_minor, currency, trace_id, &outcome, &error),
                     BUS_OK);
    assert_null(error);
    return outcome;
}

//  OrderCancelled's step for the case's order; returns the outcome.
static billing_outcome_t
s_void(fixture_t *fixture, const char *trace_id)
{
    billing_outcome_t outcome = (billing_outcome_t) -1;
    char *error = NULL;
    assert_int_equal(billing_store_void(fixture->store, fixture->conn, &fixture->order_id, trace_id,
                                        &outcome, &error),
                     BUS_OK);
    assert_null(error);
    return outcome;
}

//  The payment as GET shows it (asserts it exists). Caller decrefs.
static json_t *
s_payment(fixture_t *fixture)
{
    json_t *payment = NULL;
    char *error = NULL;
    assert_int_equal(billing_store_payment(fixture->conn, &fixture->order_id, &payment, &error),
                     BUS_OK);
    assert_null(error);
    assert_int_equal(json_object_size(payment), 7);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&fixture->order_id, id_text);
    assert_string_equal(json_string_value(json_object_get(payment, "orderId")), id_text);
    return payment;
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
    assert_int_equal(
        billing_store_void(fixture->store, fixture->conn, &fixture->order_id, "", &outcome, &error),
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
    assert_int_equal(billing_store_payment(fixture->conn, &fixture->order_id, &payment, &error),
                     BUS_NOT_FOUND);
    assert_null(payment);
    zstr_free(&error);

    PGconn *conn = PQconnectdb(fixture->conninfo);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_false(billing_store_conn_bad(conn));
    char sql[96];
    (void) snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(conn));
    PQclear(PQexec(fixture->conn, sql));
    assert_int_equal(billing_store_payment(conn, &fixture->order_id, &payment, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(error);
    zstr_free(&error);
    assert_true(billing_store_conn_bad(conn));
    billing_outcome_t outcome = BILLING_STARTED;
    assert_int_equal(
        billing_store_void(fixture->store, conn, &fixture->order_id, "", &outcome, &error),
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
        cmocka_unit_test_setup_teardown(test_prepared_statements, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_lost, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
