/*  =========================================================================
    shim_store_test - the shim's SQL against a real PostgreSQL

    Each case gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN), migrated with the bus's and the shim's schema: the
    inbox's dedup, and the migration that retired the outbox (its rows
    become checkpoints moved back and dead letters).
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_store.h"
#include "ts.h"

#include <libpq-fe.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    char *conninfo; //  fresh database (owned)
    PGconn *conn;   //  connection to it (owned)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = ts_pg_connect(fixture->conninfo);
    ts_pg_exec(fixture->conn, "SET client_min_messages = warning");
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

//  Migrate the bus's schema, then the shim's up to version `upto` (0: all).
static void
s_migrate(fixture_t *fixture, int upto)
{
    char *error = NULL;
    assert_true(bus_migrate(fixture->conn, "bus", bus_migrations, &error) >= 0);
    size_t count = 0;
    while (shim_migrations[count].version &&
           (upto == 0 || shim_migrations[count].version <= upto)) {
        count++;
    }
    bus_migration_t *some = zmalloc((count + 1) * sizeof *some);
    memcpy(some, shim_migrations, count * sizeof *some);
    assert_true(bus_migrate(fixture->conn, "shim", some, &error) >= 0);
    assert_null(error);
    freen(some);
}

//  --------------------------------------------------------------------------
//  The inbox: the first add of an id is new, every later one a duplicate.

static void
test_inbox(void **state)
{
    fixture_t *fixture = *state;
    s_migrate(fixture, 0);
    svc_uuid_t first, second;
    svc_uuid_v4(&first);
    svc_uuid_v4(&second);
    bool inserted = false;
    char *error = NULL;
    assert_int_equal(shim_store_inbox_add(fixture->conn, &first, &inserted, &error), BUS_OK);
    assert_true(inserted);
    assert_int_equal(shim_store_inbox_add(fixture->conn, &first, &inserted, &error), BUS_OK);
    assert_false(inserted);
    assert_int_equal(shim_store_inbox_add(fixture->conn, &second, &inserted, &error), BUS_OK);
    assert_true(inserted);
    //  Inside a transaction that rolls back, nothing stays.
    svc_uuid_t third;
    svc_uuid_v4(&third);
    PQclear(PQexec(fixture->conn, "BEGIN"));
    assert_int_equal(shim_store_inbox_add(fixture->conn, &third, &inserted, &error), BUS_OK);
    assert_true(inserted);
    PQclear(PQexec(fixture->conn, "ROLLBACK"));
    assert_int_equal(shim_store_inbox_add(fixture->conn, &third, &inserted, &error), BUS_OK);
    assert_true(inserted);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM shim_inbox"), 3);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  An earlier version's outbox at the upgrade: events in it were past the
//  checkpoints but not confirmed by RabbitMQ, so each partition's
//  checkpoint moves back below its oldest such event (and only those of
//  consumer 'shim', only backwards); rows it could not encode become dead
//  letters; both tables go.

static void
test_outbox_migrated(void **state)
{
    fixture_t *fixture = *state;
    s_migrate(fixture, 1);
    PGconn *conn = fixture->conn;
    ts_pg_exec(conn, "INSERT INTO bus_checkpoints (consumer, stream, partition, last_seq) VALUES"
                     " ('shim', 'order-0', 3, 900), ('shim', 'order-0', 4, 900),"
                     " ('shim', 'order-0', 5, 100), ('billing', 'order-0', 3, 900)");
    ts_pg_exec(conn, "INSERT INTO shim_outbox (stream, seq, partition, type, message_id, envelope)"
                     " VALUES ('order-0', 700, 3, 'OrderCreated', gen_random_uuid(), '\\x01'),"
                     " ('order-0', 650, 3, 'OrderCreated', gen_random_uuid(), '\\x02'),"
                     " ('order-0', 800, 5, 'OrderCreated', gen_random_uuid(), '\\x03')");
    ts_pg_exec(conn, "INSERT INTO shim_outbox_failed (id, stream, seq, partition, type, message_id,"
                     " envelope, error, reason, created_at) VALUES (9, 'order-0', 42, 1,"
                     " 'OrderCreated', gen_random_uuid(), '\\x0a', 'invalid',"
                     " 'total: no known currency', now())");
    s_migrate(fixture, 0);
    assert_int_equal(ts_pg_number(conn, "SELECT last_seq FROM bus_checkpoints WHERE consumer ="
                                        " 'shim' AND partition = 3"),
                     649);
    assert_int_equal(ts_pg_number(conn, "SELECT last_seq FROM bus_checkpoints WHERE consumer ="
                                        " 'shim' AND partition = 4"),
                     900);
    //  Not yet at 800: stays.
    assert_int_equal(ts_pg_number(conn, "SELECT last_seq FROM bus_checkpoints WHERE consumer ="
                                        " 'shim' AND partition = 5"),
                     100);
    assert_int_equal(ts_pg_number(conn, "SELECT last_seq FROM bus_checkpoints WHERE consumer ="
                                        " 'billing'"),
                     900);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_dead_letters WHERE consumer ="
                                        " 'shim' AND seq = 42 AND partition = 1 AND attempts = 1"
                                        " AND error = 'total: no known currency (invalid)'"
                                        " AND envelope = '\\x0a'"),
                     1);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM pg_tables"
                                        " WHERE tablename LIKE 'shim_outbox%'"),
                     0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inbox, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_migrated, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
