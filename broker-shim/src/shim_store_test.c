/*  =========================================================================
    shim_store_test - the shim's SQL against a real PostgreSQL

    Each case gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN), migrated with the shim's schema: the outbox as the
    handler fills it and the relay empties it (head reads, partitions of a
    replica, delete by id, failed rows moved aside, the notification), and
    the inbox's dedup. The batch add runs twice and overlapping, as the
    subscriber re-runs a failed batch, and adds each event once.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_store.h"
#include "ts.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    char *conninfo;               //  fresh database (owned)
    PGconn *conn;                 //  connection to it (owned)
    bus_statements_t *statements; //  the batch add's, for conn (owned)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    char *error = NULL;
    fixture->conn = shim_store_connect(fixture->conninfo, "shim_store_test", &error);
    assert_non_null(fixture->conn);
    assert_null(error);
    PQclear(PQexec(fixture->conn, "SET client_min_messages = warning"));
    assert_int_equal(bus_migrate(fixture->conn, "shim", shim_migrations, &error), 1);
    assert_null(error);
    fixture->statements = shim_store_statements_new();
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_destroy(&fixture->statements);
    PQfinish(fixture->conn);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  Add event `seq` of stream "order-0" in `partition`, its envelope "env-<seq>".
static void
s_add(fixture_t *fixture, uint64_t seq, uint32_t partition)
{
    svc_uuid_t id;
    svc_uuid_v7(&id);
    char envelope[32];
    int size = snprintf(envelope, sizeof envelope, "env-%" PRIu64, seq);
    shim_outbox_event_t event = {.stream = "order-0",
                                 .seq = seq,
                                 .partition = partition,
                                 .type = "OrderCreated",
                                 .message_id = id.bytes,
                                 .envelope = (const uint8_t *) envelope,
                                 .size = (size_t) size};
    char *error = NULL;
    int64_t added = -1;
    assert_int_equal(
        shim_store_outbox_add_batch(fixture->statements, fixture->conn, &event, 1, &added, &error),
        BUS_OK);
    assert_int_equal(added, 1);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  The usage example: add, read the head, delete what was confirmed.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    for (uint64_t seq = 1; seq <= 5; seq++) {
        s_add(fixture, seq, 0);
    }
    shim_outbox_row_t *rows = NULL;
    size_t count = 0;
    char *error = NULL;
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, 0, 3, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 3);
    for (size_t index = 0; index < count; index++) {
        char expected[32];
        (void) snprintf(expected, sizeof expected, "env-%zu", index + 1);
        assert_int_equal(rows[index].size, strlen(expected));
        assert_memory_equal(rows[index].envelope, expected, rows[index].size);
        if (index > 0) {
            assert_true(rows[index].id > rows[index - 1].id);
        }
    }
    int64_t ids[3] = {rows[0].id, rows[1].id, rows[2].id};
    shim_store_rows_free(&rows, count);
    assert_null(rows);
    //  The relay reads on after the last row it read, before any delete.
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, ids[2], 10, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(rows[0].envelope, "env-4", 5);
    assert_memory_equal(rows[1].envelope, "env-5", 5);
    shim_store_rows_free(&rows, count);
    int64_t depth = -1;
    int64_t before = -1;
    assert_int_equal(shim_store_outbox_depth(fixture->conn, 0, 1, ids[2], &depth, &before, &error),
                     BUS_OK);
    assert_int_equal(depth, 5);
    assert_int_equal(before, 2);
    assert_int_equal(shim_store_outbox_delete(fixture->conn, ids, 3, &error), BUS_OK);
    //  Deleting again is harmless.
    assert_int_equal(shim_store_outbox_delete(fixture->conn, ids, 3, &error), BUS_OK);
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, 0, 256, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(rows[0].envelope, "env-4", 5);
    shim_store_rows_free(&rows, count);
    assert_int_equal(shim_store_outbox_depth(fixture->conn, 0, 1, ids[2], &depth, &before, &error),
                     BUS_OK);
    assert_int_equal(depth, 2);
    assert_int_equal(before, 0);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  A batch adds each event once however often it runs (the subscriber
//  re-runs a failed batch, and then its events one by one); binary
//  envelopes (NUL bytes, quotes, backslashes) come back as they went in.

static void
test_add_once_binary(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t ids[3];
    const uint8_t binary[] = {0x0a, 0x00, 0xff, 0x00, 0x7f, '"', '\\', '{', ',', '}'};
    const uint8_t empty[] = {0x00};
    shim_outbox_event_t events[3];
    for (size_t index = 0; index < 3; index++) {
        svc_uuid_v7(&ids[index]);
        events[index] = (shim_outbox_event_t){.stream = "inventory-0",
                                              .seq = 9 + index,
                                              .partition = 3,
                                              .type = "StockReserved",
                                              .message_id = ids[index].bytes,
                                              .envelope = index == 1 ? empty : binary,
                                              .size = index == 1 ? sizeof empty : sizeof binary};
    }
    char *error = NULL;
    int64_t added = -1;
    //  The first two, then all three twice, then the second alone.
    assert_int_equal(
        shim_store_outbox_add_batch(fixture->statements, fixture->conn, events, 2, &added, &error),
        BUS_OK);
    assert_int_equal(added, 2);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(shim_store_outbox_add_batch(fixture->statements, fixture->conn, events, 3,
                                                     &added, &error),
                         BUS_OK);
        assert_int_equal(added, round == 0 ? 1 : 0);
    }
    assert_int_equal(shim_store_outbox_add_batch(fixture->statements, fixture->conn, &events[1], 1,
                                                 &added, &error),
                     BUS_OK);
    assert_int_equal(added, 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM shim_outbox"), 3);
    shim_outbox_row_t *rows = NULL;
    size_t count = 0;
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, 0, 10, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 3);
    for (size_t index = 0; index < count; index++) {
        assert_int_equal(rows[index].size, events[index].size);
        assert_memory_equal(rows[index].envelope, events[index].envelope, events[index].size);
    }
    shim_store_rows_free(&rows, count);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&ids[2], id_text);
    const char *values[] = {id_text};
    PGresult *result = PQexecParams(
        fixture->conn,
        "SELECT stream, seq, partition, type FROM shim_outbox WHERE message_id = $1::uuid", 1, NULL,
        values, NULL, NULL, 0);
    assert_int_equal(PQntuples(result), 1);
    assert_string_equal(PQgetvalue(result, 0, 0), "inventory-0");
    assert_string_equal(PQgetvalue(result, 0, 1), "11");
    assert_string_equal(PQgetvalue(result, 0, 2), "3");
    assert_string_equal(PQgetvalue(result, 0, 3), "StockReserved");
    PQclear(result);
    //  An empty batch does nothing, not even a round trip.
    assert_int_equal(
        shim_store_outbox_add_batch(fixture->statements, fixture->conn, events, 0, &added, &error),
        BUS_OK);
    assert_int_equal(added, 0);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  Replica i of n reads only its partitions (p % n == i).

static void
test_partitions(void **state)
{
    fixture_t *fixture = *state;
    for (uint64_t seq = 1; seq <= 12; seq++) {
        s_add(fixture, seq, (uint32_t) (seq % 4));
    }
    char *error = NULL;
    for (uint32_t replica = 0; replica < 3; replica++) {
        shim_outbox_row_t *rows = NULL;
        size_t count = 0;
        assert_int_equal(
            shim_store_outbox_read(fixture->conn, replica, 3, 0, 100, &rows, &count, &error),
            BUS_OK);
        //  Partitions 0..3 over 3 replicas: {0, 3}, {1}, {2}.
        assert_int_equal(count, replica == 0 ? 6 : 3);
        for (size_t index = 0; index < count; index++) {
            uint64_t seq = strtoull((const char *) rows[index].envelope + 4, NULL, 10);
            assert_int_equal((seq % 4) % 3, replica);
        }
        shim_store_rows_free(&rows, count);
        int64_t depth = 0;
        int64_t before = 0;
        assert_int_equal(
            shim_store_outbox_depth(fixture->conn, replica, 3, 0, &depth, &before, &error), BUS_OK);
        assert_int_equal(before, 0);
        assert_int_equal(depth, (int64_t) (replica == 0 ? 6 : 3));
    }
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  A row that cannot be encoded moves to shim_outbox_failed with its
//  reason, and the rows behind it are read next.

static void
test_fail(void **state)
{
    fixture_t *fixture = *state;
    s_add(fixture, 1, 0);
    s_add(fixture, 2, 0);
    shim_outbox_row_t *rows = NULL;
    size_t count = 0;
    char *error = NULL;
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, 0, 1, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 1);
    int64_t id = rows[0].id;
    shim_store_rows_free(&rows, count);
    assert_int_equal(
        shim_store_outbox_fail(fixture->conn, id, "not-mapped", "type X has no name", &error),
        BUS_OK);
    //  Again: the row is gone, nothing happens.
    assert_int_equal(shim_store_outbox_fail(fixture->conn, id, "not-mapped", "again", &error),
                     BUS_OK);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM shim_outbox_failed"), 1);
    PGresult *result = PQexec(fixture->conn, "SELECT error, reason, seq, envelope = 'env-1'"
                                             " FROM shim_outbox_failed");
    assert_string_equal(PQgetvalue(result, 0, 0), "not-mapped");
    assert_string_equal(PQgetvalue(result, 0, 1), "type X has no name");
    assert_string_equal(PQgetvalue(result, 0, 2), "1");
    assert_string_equal(PQgetvalue(result, 0, 3), "t");
    PQclear(result);
    assert_int_equal(shim_store_outbox_read(fixture->conn, 0, 1, 0, 10, &rows, &count, &error),
                     BUS_OK);
    assert_int_equal(count, 1);
    assert_memory_equal(rows[0].envelope, "env-2", 5);
    shim_store_rows_free(&rows, count);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  Adding notifies a listener once per transaction, at commit.

static bool
s_notified(void *arg)
{
    int *seen = arg;
    return *seen > 0;
}

typedef struct {
    PGconn *conn; //  the listener
    int seen;     //  notifications so far
} s_listener_t;

static bool
s_listener_poll(void *arg)
{
    s_listener_t *listener = arg;
    int count = shim_store_notifications(listener->conn);
    assert_true(count >= 0);
    listener->seen += count;
    return s_notified(&listener->seen);
}

static bool
s_listener_lost(void *arg)
{
    return shim_store_notifications((PGconn *) arg) == -1;
}

static void
test_notify(void **state)
{
    fixture_t *fixture = *state;
    char *error = NULL;
    s_listener_t listener = {shim_store_connect(fixture->conninfo, "listener", &error), 0};
    assert_non_null(listener.conn);
    assert_int_equal(shim_store_listen(listener.conn, &error), BUS_OK);
    PQclear(PQexec(fixture->conn, "BEGIN"));
    s_add(fixture, 1, 0);
    s_add(fixture, 2, 0);
    //  Not before commit.
    assert_int_equal(shim_store_notifications(listener.conn), 0);
    PQclear(PQexec(fixture->conn, "COMMIT"));
    assert_true(ts_wait_until(s_listener_poll, &listener, 10000));
    assert_int_equal(listener.seen, 1);
    //  A lost connection says so.
    PQclear(PQexec(fixture->conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                  " WHERE application_name = 'listener'"));
    assert_true(ts_wait_until(s_listener_lost, listener.conn, 10000));
    shim_outbox_row_t *rows = NULL;
    size_t rows_count = 0;
    assert_int_equal(shim_store_outbox_read(listener.conn, 0, 1, 0, 1, &rows, &rows_count, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(strstr(error, "connection lost"));
    zstr_free(&error);
    PQfinish(listener.conn);
}

//  --------------------------------------------------------------------------
//  The inbox: the first add of an id is new, every later one a duplicate.

static void
test_inbox(void **state)
{
    fixture_t *fixture = *state;
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
//  An unreachable database is a clear error, never a crash.

static void
test_unreachable(void **state)
{
    (void) state;
    char *error = NULL;
    PGconn *conn = shim_store_connect("host=127.0.0.1 port=1 connect_timeout=2", "x", &error);
    assert_null(conn);
    assert_non_null(error);
    assert_non_null(strstr(error, "connect"));
    zstr_free(&error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_add_once_binary, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_partitions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_notify, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_inbox, s_setup, s_teardown),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
