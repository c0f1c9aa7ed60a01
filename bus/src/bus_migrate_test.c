/*  =========================================================================
    bus_migrate_test - migrations against a real PostgreSQL

    Each test gets a fresh database from the test cluster that
    scripts/test.sh starts.
    =========================================================================
*/
#include "bus_classes.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    char *conninfo; //  fresh database (owned)
    PGconn *conn;   //  connection to it (owned)
} fixture_t;

static const bus_migration_t s_two_steps[] = {
    {1, "001_widgets", "CREATE TABLE widgets (id integer PRIMARY KEY);"},
    {2, "002_widget_names",
     "ALTER TABLE widgets ADD COLUMN name text;"
     "INSERT INTO widgets VALUES (1, 'first');"},
    {0, NULL, NULL}};

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = ts_pg_connect(fixture->conninfo);
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

//  Usage: apply a component's migrations; a second run applies nothing.
static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    char *error = NULL;
    assert_int_equal(bus_migrate(fixture->conn, "widgets", s_two_steps, &error), 2);
    assert_null(error);
    assert_int_equal(bus_migrate(fixture->conn, "widgets", s_two_steps, &error), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM widgets"), 1);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_schema_migrations"
                                                 " WHERE component = 'widgets'"),
                     2);
}

//  The bus's own schema applies cleanly and creates its tables.
static void
test_bus_schema(void **state)
{
    fixture_t *fixture = *state;
    char *error = NULL;
    assert_true(bus_migrate(fixture->conn, "bus", bus_migrations, &error) >= 1);
    assert_null(error);
    assert_int_equal(ts_pg_number(fixture->conn,
                                  "SELECT count(*) FROM information_schema.tables WHERE table_name"
                                  " IN ('bus_streams', 'bus_events', 'bus_checkpoints',"
                                  " 'bus_dead_letters')"),
                     4);
}

//  A failing migration leaves no trace and names itself; earlier ones stay.
static void
test_failure_rolls_back(void **state)
{
    fixture_t *fixture = *state;
    static const bus_migration_t broken[] = {
        {1, "001_ok", "CREATE TABLE ok_table (id integer);"},
        {2, "002_broken", "CREATE TABLE half (id integer); SELECT * FROM no_such_table;"},
        {0, NULL, NULL}};
    char *error = NULL;
    assert_int_equal(bus_migrate(fixture->conn, "broken", broken, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "002_broken"));
    assert_non_null(strstr(error, "no_such_table"));
    zstr_free(&error);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM pg_tables"
                                                 " WHERE tablename IN ('ok_table', 'half')"),
                     1);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT max(version) FROM bus_schema_migrations"
                                                 " WHERE component = 'broken'"),
                     1);
}

//  A recorded version whose name changed (renumbered files) is refused.
static void
test_renamed_version_refused(void **state)
{
    fixture_t *fixture = *state;
    char *error = NULL;
    assert_int_equal(bus_migrate(fixture->conn, "widgets", s_two_steps, &error), 2);
    static const bus_migration_t renamed[] = {
        {1, "001_gadgets", "CREATE TABLE gadgets (id integer);"}, {0, NULL, NULL}};
    assert_int_equal(bus_migrate(fixture->conn, "widgets", renamed, &error), -1);
    assert_non_null(strstr(error, "001_gadgets"));
    zstr_free(&error);
}

//  Replicas starting together: each migration still runs exactly once.
typedef struct {
    const char *conninfo; //  database to migrate (borrowed)
    int applied;          //  what bus_migrate returned
} racer_t;

static void *
s_racer(void *arg)
{
    racer_t *racer = arg;
    PGconn *conn = PQconnectdb(racer->conninfo);
    char *error = NULL;
    racer->applied = bus_migrate(conn, "widgets", s_two_steps, &error);
    zstr_free(&error);
    PQfinish(conn);
    return NULL;
}

static void
test_concurrent_replicas(void **state)
{
    fixture_t *fixture = *state;
    enum { RACERS = 4 };
    pthread_t threads[RACERS];
    racer_t racers[RACERS];
    for (int index = 0; index < RACERS; index++) {
        racers[index] = (racer_t){fixture->conninfo, -2};
        assert_int_equal(pthread_create(&threads[index], NULL, s_racer, &racers[index]), 0);
    }
    int total = 0;
    for (int index = 0; index < RACERS; index++) {
        pthread_join(threads[index], NULL);
        assert_true(racers[index].applied >= 0);
        total += racers[index].applied;
    }
    assert_int_equal(total, 2);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM widgets"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bus_schema, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failure_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_renamed_version_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_replicas, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
