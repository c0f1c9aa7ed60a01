/*  =========================================================================
    bus_statements_test - prepared statements against a real PostgreSQL

    Each case gets a fresh database with a table `things`. The binary is
    linked with -Wl,--wrap=PQprepare,--wrap=PQexec (bus/CMakeLists.txt):
    the wrappers count the statements prepared and the listings made (the
    listing is bus_statements' only PQexec), so "prepared once per
    connection" is asserted by counting round trips, not by timing.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_statements.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The wrapped libpq calls (the linker's names).
PGresult *
__real_PQprepare(PGconn *conn, const char *name, const char *query, int params, const Oid *types);
PGresult *
__wrap_PQprepare(PGconn *conn, const char *name, const char *query, int params, const Oid *types);
PGresult *__real_PQexec(PGconn *conn, const char *query);
PGresult *__wrap_PQexec(PGconn *conn, const char *query);

//  Counted by the wrappers (the tests run on one thread).
static int s_prepares;
static int s_listings;
static int s_discards;

PGresult *
__wrap_PQprepare(PGconn *conn, const char *name, const char *query, int params, const Oid *types)
{
    s_prepares++;
    return __real_PQprepare(conn, name, query, params, types);
}

PGresult *
__wrap_PQexec(PGconn *conn, const char *query)
{
    if (strstr(query, "pg_prepared_statements")) {
        s_listings++;
    }
    if (streq(query, "DISCARD PLANS")) {
        s_discards++;
    }
    return __real_PQexec(conn, query);
}

enum { S_ADD = 0, S_NULLS, S_INSERT, S_FIND, S_COUNT };

static const bus_statement_t s_table[] = {
    {.name = "test_add", .sql = "SELECT $1::integer + $2::integer", .params = 2},
    {.name = "test_nulls",
     .sql = "SELECT $1::text IS NULL, coalesce($2::text, 'none')",
     .params = 2},
    {.name = "test_insert",
     .sql = "INSERT INTO things (name) VALUES ($1) RETURNING id",
     .params = 1},
    {.name = "test_find",
     .sql = "SELECT count(*) FROM things WHERE id = ANY($1::bigint[])",
     .params = 1},
    {.name = NULL}};

typedef struct {
    char *conninfo; //  fresh database (owned)
    PGconn *conn;   //  a connection to it (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  Helpers

//  Run test_add(a, b) and return the sum; the call must succeed.
static long
s_add(bus_statements_t *statements, PGconn *conn, const char *a, const char *b)
{
    const char *values[] = {a, b};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, conn, S_ADD, values, &error);
    if (!result) {
        fail_msg("test_add: %s", error);
    }
    assert_null(error);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    long sum = atol(PQgetvalue(result, 0, 0));
    PQclear(result);
    return sum;
}

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = ts_pg_connect(fixture->conninfo);
    //  No autovacuum: its ANALYZE of a grown table would invalidate the
    //  cached plans that test_replans_as_tables_grow shows stale.
    ts_pg_exec(fixture->conn, "CREATE TABLE things (id bigserial PRIMARY KEY, name text)"
                              " WITH (autovacuum_enabled = off)");
    s_prepares = s_listings = s_discards = 0;
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    PQfinish(fixture->conn);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Usage: the first execution prepares the whole table (one listing, one
//  PQprepare per statement); later ones only execute.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_t *statements = bus_statements_new(s_table);
    assert_int_equal(s_add(statements, fixture->conn, "2", "3"), 5);
    assert_int_equal(s_listings, 1);
    assert_int_equal(s_prepares, S_COUNT);
    for (int round = 0; round < 10; round++) {
        assert_int_equal(s_add(statements, fixture->conn, "40", "2"), 42);
    }
    assert_int_equal(s_listings, 1);
    assert_int_equal(s_prepares, S_COUNT);
    //  The server ran the prepared statement every time.
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT generic_plans + custom_plans"
                                                 " FROM pg_prepared_statements"
                                                 " WHERE name = 'test_add'"),
                     11);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM pg_prepared_statements"),
                     S_COUNT);
    bus_statements_destroy(&statements);
    assert_null(statements);
    bus_statements_destroy(&statements); //  twice is safe
}

//  --------------------------------------------------------------------------
//  Inside a transaction: the first execution prepares there and sees the
//  transaction's rows; the statements survive its ROLLBACK.

static void
test_inside_transaction(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    bus_statements_t *statements = bus_statements_new(s_table);
    ts_pg_exec(conn, "BEGIN");
    const char *values[] = {"first"};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, conn, S_INSERT, values, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM things"), 1);
    ts_pg_exec(conn, "ROLLBACK");
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM things"), 0);
    assert_int_equal(s_prepares, S_COUNT);

    //  After the rollback: no new prepare, and the statement still works,
    //  in autocommit and in a new transaction.
    assert_int_equal(s_add(statements, conn, "1", "1"), 2);
    ts_pg_exec(conn, "BEGIN");
    result = bus_statements_exec(statements, conn, S_INSERT, values, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    ts_pg_exec(conn, "COMMIT");
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM things"), 1);
    assert_int_equal(s_prepares, S_COUNT);
    assert_int_equal(s_listings, 1);
    bus_statements_destroy(&statements);
}

//  --------------------------------------------------------------------------
//  A new connection is prepared; going back to one that has the
//  statements lists them and prepares nothing; a reset PGconn (same
//  pointer, new backend) is prepared again.

static void
test_new_connection(void **state)
{
    fixture_t *fixture = *state;
    PGconn *other = ts_pg_connect(fixture->conninfo);
    bus_statements_t *statements = bus_statements_new(s_table);
    assert_int_equal(s_add(statements, fixture->conn, "1", "2"), 3);
    assert_int_equal(s_prepares, S_COUNT);

    assert_int_equal(s_add(statements, other, "3", "4"), 7);
    assert_int_equal(s_prepares, 2 * S_COUNT);
    assert_int_equal(s_listings, 2);
    assert_int_equal(s_add(statements, other, "5", "6"), 11);
    assert_int_equal(s_listings, 2);

    assert_int_equal(s_add(statements, fixture->conn, "7", "8"), 15);
    assert_int_equal(s_listings, 3);
    assert_int_equal(s_prepares, 2 * S_COUNT); //  it had them

    int pid = PQbackendPID(other);
    PQreset(other);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    assert_int_not_equal(PQbackendPID(other), pid);
    assert_int_equal(s_add(statements, other, "9", "10"), 19);
    assert_int_equal(s_prepares, 3 * S_COUNT);
    bus_statements_destroy(&statements);
    PQfinish(other);
}

//  --------------------------------------------------------------------------
//  DEALLOCATE ALL: the next execution fails with 26000, the one after it
//  prepares the table again and succeeds.

static void
test_deallocate_all(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_t *statements = bus_statements_new(s_table);
    assert_int_equal(s_add(statements, fixture->conn, "1", "2"), 3);
    ts_pg_exec(fixture->conn, "DEALLOCATE ALL");

    const char *values[] = {"1", "2"};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, fixture->conn, S_ADD, values, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(result, PG_DIAG_SQLSTATE), "26000");
    PQclear(result);
    assert_null(error);

    assert_int_equal(s_add(statements, fixture->conn, "2", "2"), 4);
    assert_int_equal(s_prepares, 2 * S_COUNT);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM pg_prepared_statements"),
                     S_COUNT);
    bus_statements_destroy(&statements);
}

//  --------------------------------------------------------------------------
//  NULL entries of values are SQL NULL.

static void
test_null_values(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_t *statements = bus_statements_new(s_table);
    const char *nulls[] = {NULL, NULL};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, fixture->conn, S_NULLS, nulls, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(result, 0, 0), "t");
    assert_string_equal(PQgetvalue(result, 0, 1), "none");
    PQclear(result);

    const char *texts[] = {"x", "y"};
    result = bus_statements_exec(statements, fixture->conn, S_NULLS, texts, &error);
    assert_non_null(result);
    assert_string_equal(PQgetvalue(result, 0, 0), "f");
    assert_string_equal(PQgetvalue(result, 0, 1), "y");
    PQclear(result);

    const char *insert_null[] = {NULL};
    result = bus_statements_exec(statements, fixture->conn, S_INSERT, insert_null, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM things WHERE name IS NULL"),
                     1);
    bus_statements_destroy(&statements);
}

//  --------------------------------------------------------------------------
//  Plans are dropped on a schedule, after 64, 256, 1024, ... executions.
//  A lookup first planned while its table was tiny (and analyzed so) keeps
//  a plan that scans the whole table once it has grown; the next point of
//  the schedule plans it again, and it reads through the index.

static void
s_find(bus_statements_t *statements, PGconn *conn)
{
    const char *values[] = {"{1,2,3}"};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, conn, S_FIND, values, &error);
    assert_non_null(result);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
}

//  Tuples read by sequential scans of `things` and not yet reported by
//  this backend (so compare two readings in one transaction).
static long
s_scanned(PGconn *conn)
{
    return ts_pg_number(conn, "SELECT seq_tup_read FROM pg_stat_xact_user_tables"
                              " WHERE relname = 'things'");
}

static void
test_replans_as_tables_grow(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    ts_pg_exec(conn, "INSERT INTO things (name) VALUES ('a'), ('b'), ('c')");
    ts_pg_exec(conn, "ANALYZE things");
    bus_statements_t *statements = bus_statements_new(s_table);
    for (int execution = 1; execution <= 64; execution++) {
        s_find(statements, conn);
    }
    assert_int_equal(s_discards, 0);
    s_find(statements, conn);
    assert_int_equal(s_discards, 1);

    ts_pg_exec(conn,
               "INSERT INTO things (name) SELECT 'n' || g FROM generate_series(1, 100000) AS g");
    for (int execution = 66; execution < 256; execution++) {
        s_find(statements, conn);
    }
    ts_pg_exec(conn, "BEGIN");
    long scanned = s_scanned(conn);
    s_find(statements, conn); //  the 256th: the plan of the tiny table
    assert_true(s_scanned(conn) - scanned >= 100000);
    scanned = s_scanned(conn);
    assert_int_equal(s_discards, 1);
    s_find(statements, conn); //  the 257th plans again
    s_find(statements, conn);
    assert_int_equal(s_discards, 2);
    assert_int_equal(s_scanned(conn) - scanned, 0);
    ts_pg_exec(conn, "COMMIT");
    assert_int_equal(s_prepares, S_COUNT); //  still the same statements
    bus_statements_destroy(&statements);
}

//  --------------------------------------------------------------------------
//  Failures: a connection that never connected, a terminated backend, an
//  aborted transaction, a statement that does not prepare, and a name the
//  session uses for another text. Each is NULL with a reason (or, for a
//  failure during the execution itself, the failed result).

static void
s_assert_refused(bus_statements_t *statements, PGconn *conn, const char *expected)
{
    const char *values[] = {"1", "2"};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, conn, S_ADD, values, &error);
    assert_null(result);
    assert_non_null(error);
    if (!strstr(error, expected)) {
        fail_msg("\"%s\" does not say \"%s\"", error, expected);
    }
    zstr_free(&error);
}

static void
test_bad_connection(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_t *statements = bus_statements_new(s_table);

    PGconn *never = PQconnectdb("host=/nonexistent-socket-dir port=1 dbname=none");
    assert_int_equal(PQstatus(never), CONNECTION_BAD);
    s_assert_refused(statements, never, "connection lost");
    PQfinish(never);

    //  Prepared, then the backend is terminated (waiting up to 5 s for it
    //  to end): the execution fails, and the next call is refused.
    PGconn *victim = ts_pg_connect(fixture->conninfo);
    assert_int_equal(s_add(statements, victim, "1", "1"), 2);
    char sql[128];
    (void) snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d, 5000)", PQbackendPID(victim));
    ts_pg_exec(fixture->conn, sql);
    const char *values[] = {"1", "2"};
    char *error = NULL;
    PGresult *result = bus_statements_exec(statements, victim, S_ADD, values, &error);
    assert_true(!result || PQresultStatus(result) == PGRES_FATAL_ERROR);
    PQclear(result);
    zstr_free(&error);
    assert_int_equal(PQstatus(victim), CONNECTION_BAD);
    s_assert_refused(statements, victim, "connection lost");
    PQfinish(victim);

    //  An aborted transaction cannot list (nor prepare).
    ts_pg_exec(fixture->conn, "BEGIN");
    PQclear(PQexec(fixture->conn, "SELECT 1 / 0"));
    s_assert_refused(statements, fixture->conn, "listing prepared statements");
    ts_pg_exec(fixture->conn, "ROLLBACK");
    assert_int_equal(s_add(statements, fixture->conn, "2", "5"), 7);
    bus_statements_destroy(&statements);

    static const bus_statement_t bad_table[] = {
        {.name = "test_add", .sql = "SELECT $1::integer + $2::integer", .params = 2},
        {.name = "test_broken", .sql = "SELECT FROM nowhere_at_all WHERE $1", .params = 1},
        {.name = NULL}};
    bus_statements_t *bad = bus_statements_new(bad_table);
    PGconn *fresh = ts_pg_connect(fixture->conninfo);
    s_assert_refused(bad, fresh, "preparing test_broken");
    s_assert_refused(bad, fresh, "preparing test_broken"); //  not taken as prepared
    bus_statements_destroy(&bad);

    //  The fresh session now has test_add; a table naming it with another
    //  text is refused rather than running the other SQL.
    static const bus_statement_t clash_table[] = {
        {.name = "test_add", .sql = "SELECT $1::integer - $2::integer", .params = 2},
        {.name = NULL}};
    bus_statements_t *clash = bus_statements_new(clash_table);
    s_assert_refused(clash, fresh, "another text");
    bus_statements_destroy(&clash);
    PQfinish(fresh);
}

//  --------------------------------------------------------------------------
//  bus_statements_run: the result when its status is the expected one;
//  otherwise NULL and a message naming the step, the server's words
//  without their newline, or the status, or the lost connection.

static void
s_assert_run_refused(bus_statements_t *statements,
                     PGconn *conn,
                     const char *const *values,
                     int expected,
                     const char *message)
{
    char *error = NULL;
    PGresult *result =
        bus_statements_run(statements, conn, S_ADD, values, expected, "adding", &error);
    assert_null(result);
    assert_non_null(error);
    if (strncmp(error, message, strlen(message)) != 0) {
        fail_msg("\"%s\" does not start with \"%s\"", error, message);
    }
    assert_true(error[strlen(error) - 1] != '\n');
    zstr_free(&error);
}

static void
test_run(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_t *statements = bus_statements_new(s_table);
    const char *values[] = {"40", "2"};
    char *error = NULL;
    PGresult *result = bus_statements_run(statements, fixture->conn, S_ADD, values, PGRES_TUPLES_OK,
                                          "adding", &error);
    assert_non_null(result);
    assert_null(error);
    assert_string_equal(PQgetvalue(result, 0, 0), "42");
    PQclear(result);

    s_assert_run_refused(statements, fixture->conn, values, PGRES_COMMAND_OK,
                         "adding: PGRES_TUPLES_OK");
    const char *bad[] = {"40", "forty"};
    s_assert_run_refused(statements, fixture->conn, bad, PGRES_TUPLES_OK,
                         "adding: ERROR:  invalid input syntax for type integer: \"forty\"");
    //  No message asked for: the failure is still NULL.
    assert_null(
        bus_statements_run(statements, fixture->conn, S_ADD, bad, PGRES_TUPLES_OK, "adding", NULL));
    assert_int_equal(s_add(statements, fixture->conn, "1", "1"), 2);

    PGconn *never = PQconnectdb("host=/nonexistent-socket-dir port=1 dbname=none");
    s_assert_run_refused(statements, never, values, PGRES_TUPLES_OK, "adding: connection lost: ");
    PQfinish(never);
    bus_statements_destroy(&statements);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_inside_transaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_new_connection, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deallocate_all, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_null_values, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replans_as_tables_grow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_connection, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_run, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
