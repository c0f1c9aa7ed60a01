/*  =========================================================================
    bus_inbox_test - checkpoints and dead letters against a real PostgreSQL

    Each test gets a fresh database with the bus schema. Concurrency is
    shown with a second connection: a lock that must wait is run on a
    thread and is seen waiting in pg_stat_activity, never by sleeping.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_inbox.h"
#include "ts.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>

#define S_MESSAGE_ID "6f1d4c1e-3b7a-4f8e-9a51-0c2d7e4b9f10"
#define S_ENVELOPE_SIZE 200
#define S_WAIT_MS 10000

typedef struct {
    char *conninfo;          //  fresh database (owned)
    PGconn *conn;            //  connection to it, schema migrated (owned)
    bus_statements_t *inbox; //  lock and advance, prepared (bus_inbox_statements_new)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->conn = ts_pg_connect(fixture->conninfo);
    char *error = NULL;
    assert_true(bus_migrate(fixture->conn, "bus", bus_migrations, &error) >= 1);
    assert_null(error);
    fixture->inbox = bus_inbox_statements_new();
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    bus_statements_destroy(&fixture->inbox);
    PQfinish(fixture->conn);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Small helpers

//  A packed envelope stand-in: binary, with NUL bytes, long enough that
//  PostgreSQL's base64 would break its line.
static void
s_fill_envelope(unsigned char *envelope)
{
    for (size_t index = 0; index < S_ENVELOPE_SIZE; index++) {
        envelope[index] = (unsigned char) (index * 7);
    }
}

static bus_rc_t
s_park(PGconn *conn, const char *consumer, uint64_t seq, const char *error, int attempts)
{
    unsigned char envelope[S_ENVELOPE_SIZE];
    s_fill_envelope(envelope);
    return bus_inbox_park(conn, consumer, "order", seq, 3, "OrderCreated", S_MESSAGE_ID, envelope,
                          sizeof envelope, error, attempts, NULL);
}

static json_t *
s_list(PGconn *conn, const char *consumer, int64_t after_id, int limit)
{
    json_t *items = NULL;
    char *error = NULL;
    assert_int_equal(bus_inbox_dead_letters(conn, consumer, after_id, limit, &items, &error),
                     BUS_OK);
    assert_null(error);
    assert_true(json_is_array(items));
    return items;
}

static json_t *
s_claim(PGconn *conn, const char *consumer)
{
    json_t *items = NULL;
    char *error = NULL;
    bus_rc_t rc = bus_inbox_claim_retries(conn, consumer, 10, &items, &error);
    if (rc != BUS_OK) {
        fail_msg("claim: %s", error);
    }
    assert_true(json_is_array(items));
    return items;
}

static int64_t
s_item_integer(json_t *items, size_t index, const char *key)
{
    json_t *value = json_object_get(json_array_get(items, index), key);
    assert_true(json_is_integer(value));
    return json_integer_value(value);
}

static const char *
s_item_text(json_t *items, size_t index, const char *key)
{
    json_t *value = json_object_get(json_array_get(items, index), key);
    assert_true(json_is_string(value));
    return json_string_value(value);
}

static bus_checkpoints_t *
s_load(PGconn *conn, const char *consumer, uint32_t partitions)
{
    bus_checkpoints_t *checkpoints = NULL;
    char *error = NULL;
    assert_int_equal(bus_inbox_load(conn, consumer, "order", partitions, &checkpoints, &error),
                     BUS_OK);
    assert_null(error);
    assert_non_null(checkpoints);
    assert_int_equal(checkpoints->partitions, partitions);
    return checkpoints;
}

//  --------------------------------------------------------------------------
//  Usage: load, then one apply transaction locks the batch's rows and
//  advances the owned partitions; a fresh load sees the new values.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    bus_checkpoints_t *checkpoints = s_load(conn, "inventory", 4);
    char *error = NULL;

    ts_pg_exec(conn, "BEGIN");
    uint32_t touched[] = {2, 0};
    assert_int_equal(
        bus_inbox_lock(conn, fixture->inbox, "inventory", "order", touched, 2, checkpoints, &error),
        BUS_OK);
    assert_null(error);
    assert_int_equal(checkpoints->last_seq[0], 0);
    assert_int_equal(checkpoints->last_seq[2], 0);
    uint32_t owned[] = {0, 2};
    assert_int_equal(
        bus_inbox_advance(conn, fixture->inbox, "inventory", "order", owned, 2, 7, &error), BUS_OK);
    assert_null(error);
    ts_pg_exec(conn, "COMMIT");
    freen(checkpoints);

    checkpoints = s_load(conn, "inventory", 4);
    assert_int_equal(checkpoints->last_seq[0], 7);
    assert_int_equal(checkpoints->last_seq[1], 0);
    assert_int_equal(checkpoints->last_seq[2], 7);
    assert_int_equal(checkpoints->last_seq[3], 0);
    freen(checkpoints);
}

//  A consumer without rows reads zeros for all P; rows of other consumers
//  and streams, and partitions at or above P, are not mixed in.

static void
test_load_unknown_consumer_reads_zeros(void **state)
{
    fixture_t *fixture = *state;
    ts_pg_exec(fixture->conn, "INSERT INTO bus_checkpoints (consumer, stream, partition, last_seq)"
                              " SELECT 'billing', 'order', p, 9 FROM generate_series(0, 7) p");
    ts_pg_exec(fixture->conn, "INSERT INTO bus_checkpoints (consumer, stream, partition, last_seq)"
                              " VALUES ('inventory', 'payments', 0, 5)");
    bus_checkpoints_t *checkpoints = s_load(fixture->conn, "inventory", 8);
    for (uint32_t partition = 0; partition < 8; partition++) {
        assert_int_equal(checkpoints->last_seq[partition], 0);
    }
    freen(checkpoints);
    checkpoints = s_load(fixture->conn, "billing", 2);
    assert_int_equal(checkpoints->last_seq[0], 9);
    assert_int_equal(checkpoints->last_seq[1], 9);
    freen(checkpoints);
}

//  Advance raises, never lowers, creates missing rows and accepts repeats.

static void
test_advance_never_lowers(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    uint32_t first[] = {0};
    assert_int_equal(
        bus_inbox_advance(conn, fixture->inbox, "inventory", "order", first, 1, 10, NULL), BUS_OK);
    uint32_t both[] = {1, 0, 1};
    assert_int_equal(
        bus_inbox_advance(conn, fixture->inbox, "inventory", "order", both, 3, 5, NULL), BUS_OK);
    bus_checkpoints_t *checkpoints = s_load(conn, "inventory", 2);
    assert_int_equal(checkpoints->last_seq[0], 10);
    assert_int_equal(checkpoints->last_seq[1], 5);
    freen(checkpoints);

    char *error = NULL;
    assert_int_equal(
        bus_inbox_advance(conn, fixture->inbox, "inventory", "order", first, 1, UINT64_MAX, &error),
        BUS_MALFORMED);
    assert_non_null(error);
    zstr_free(&error);
    assert_int_equal(ts_pg_number(conn, "SELECT max(last_seq) FROM bus_checkpoints"), 10);
}

//  Lock creates missing rows at 0 and refreshes only the listed entries
//  with the committed values, which another replica may have raised.

static void
test_lock_creates_and_refreshes(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    bus_checkpoints_t *checkpoints = s_load(conn, "inventory", 4);
    PGconn *other = ts_pg_connect(fixture->conninfo);
    uint32_t raised[] = {1};
    assert_int_equal(
        bus_inbox_advance(other, fixture->inbox, "inventory", "order", raised, 1, 40, NULL),
        BUS_OK);
    PQfinish(other);

    checkpoints->last_seq[0] = 99; //  not listed: must stay as it is
    ts_pg_exec(conn, "BEGIN");
    uint32_t touched[] = {3, 1, 3};
    assert_int_equal(
        bus_inbox_lock(conn, fixture->inbox, "inventory", "order", touched, 3, checkpoints, NULL),
        BUS_OK);
    ts_pg_exec(conn, "COMMIT");
    assert_int_equal(checkpoints->last_seq[0], 99);
    assert_int_equal(checkpoints->last_seq[1], 40);
    assert_int_equal(checkpoints->last_seq[3], 0);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_checkpoints"
                                        " WHERE partition = 3 AND last_seq = 0"),
                     1);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_checkpoints"), 2);
    freen(checkpoints);
}

//  --------------------------------------------------------------------------
//  Two replicas locking the same partitions serialise: the second waits
//  for the first's commit and then sees the advanced values.

typedef struct {
    PGconn *conn;                   //  the second replica's connection (borrowed)
    bus_statements_t *inbox;        //  its statements (owned by the test)
    bus_checkpoints_t *checkpoints; //  its table (borrowed)
    uint64_t raise_to;              //  0: bus_inbox_lock, else bus_inbox_lock_raise to this
    bus_rc_t rc;                    //  what the call returned
    bool raised;                    //  what bus_inbox_lock_raise said
    atomic_bool done;               //  the lock call returned
} locker_t;

static void *
s_locker(void *arg)
{
    locker_t *locker = arg;
    uint32_t touched[] = {0, 1};
    if (locker->raise_to) {
        locker->rc =
            bus_inbox_lock_raise(locker->conn, locker->inbox, "inventory", "order", touched, 2,
                                 locker->raise_to, locker->checkpoints, &locker->raised, NULL);
    } else {
        locker->rc = bus_inbox_lock(locker->conn, locker->inbox, "inventory", "order", touched, 2,
                                    locker->checkpoints, NULL);
    }
    atomic_store(&locker->done, true);
    return NULL;
}

typedef struct {
    PGconn *monitor; //  autocommit connection that reads pg_stat_activity
    int pid;         //  backend to watch
} waiter_t;

static bool
s_backend_waits_on_lock(void *arg)
{
    waiter_t *waiter = arg;
    char pid_text[16];
    (void) snprintf(pid_text, sizeof pid_text, "%d", waiter->pid);
    const char *values[] = {pid_text};
    PGresult *result =
        PQexecParams(waiter->monitor,
                     "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
                     1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    bool waiting = PQntuples(result) == 1;
    PQclear(result);
    return waiting;
}

//  The race on partitions 0 and 1, of which the first `committed` rows
//  exist (at 10) before it starts: the first replica locks both and
//  advances them to 50; the second's lock (with raise_to: its lock and
//  raise to that) must wait, then read 50 for both.
static void
s_race_two_replicas(fixture_t *fixture, size_t committed, uint64_t raise_to)
{
    PGconn *first = fixture->conn;
    uint32_t touched[] = {0, 1};
    assert_int_equal(bus_inbox_advance(first, fixture->inbox, "inventory", "order", touched,
                                       committed, 10, NULL),
                     BUS_OK);
    bus_checkpoints_t *first_table = s_load(first, "inventory", 2);
    ts_pg_exec(first, "BEGIN");
    assert_int_equal(
        bus_inbox_lock(first, fixture->inbox, "inventory", "order", touched, 2, first_table, NULL),
        BUS_OK);
    assert_int_equal(
        bus_inbox_advance(first, fixture->inbox, "inventory", "order", touched, 2, 50, NULL),
        BUS_OK);

    PGconn *second = ts_pg_connect(fixture->conninfo);
    PGconn *monitor = ts_pg_connect(fixture->conninfo);
    bus_checkpoints_t *second_table = s_load(second, "inventory", 2);
    ts_pg_exec(second, "BEGIN");
    locker_t locker = {.conn = second,
                       .inbox = bus_inbox_statements_new(),
                       .checkpoints = second_table,
                       .raise_to = raise_to,
                       .rc = BUS_CLOSED};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_locker, &locker), 0);
    waiter_t waiter = {monitor, PQbackendPID(second)};
    bool waited = ts_wait_until(s_backend_waits_on_lock, &waiter, S_WAIT_MS);
    bool returned_early = atomic_load(&locker.done);

    ts_pg_exec(first, "COMMIT");
    pthread_join(thread, NULL);
    bus_statements_destroy(&locker.inbox);
    assert_true(waited);
    assert_false(returned_early);
    assert_int_equal(locker.rc, BUS_OK);
    assert_int_equal(second_table->last_seq[0], 50);
    assert_int_equal(second_table->last_seq[1], 50);
    ts_pg_exec(second, "COMMIT");
    if (raise_to) {
        //  Both rows existed when it ran: raised in the same statement.
        assert_true(locker.raised);
        bus_checkpoints_t *after = s_load(first, "inventory", 2);
        assert_int_equal(after->last_seq[0], raise_to);
        assert_int_equal(after->last_seq[1], raise_to);
        freen(after);
    }

    PQfinish(monitor);
    PQfinish(second);
    freen(second_table);
    freen(first_table);
}

//  Both rows exist: only the row locks make the second replica wait.

static void
test_lock_serialises_replicas(void **state)
{
    s_race_two_replicas(*state, 2, 0);
}

//  Lock and raise in one statement waits for the other replica's commit
//  just the same, reads its values, and raises past them.

static void
test_lock_raise_serialises_replicas(void **state)
{
    s_race_two_replicas(*state, 2, 60);
}

//  Lock and raise: with rows missing it raises nothing (and creates them
//  at 0, locked); with all rows there it returns the values as locked and
//  raises them, never lowering one; a rollback undoes the raise.

static void
test_lock_raise(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    bus_checkpoints_t *checkpoints = s_load(conn, "inventory", 4);
    uint32_t touched[] = {2, 0};
    bool raised = true;
    char *error = NULL;

    ts_pg_exec(conn, "BEGIN");
    assert_int_equal(bus_inbox_lock_raise(conn, fixture->inbox, "inventory", "order", touched, 2, 7,
                                          checkpoints, &raised, &error),
                     BUS_OK);
    assert_null(error);
    assert_false(raised);
    assert_int_equal(checkpoints->last_seq[0], 0);
    assert_int_equal(checkpoints->last_seq[2], 0);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_checkpoints WHERE last_seq > 0"),
                     0);
    ts_pg_exec(conn, "COMMIT");

    ts_pg_exec(conn, "BEGIN");
    assert_int_equal(bus_inbox_lock_raise(conn, fixture->inbox, "inventory", "order", touched, 2,
                                          12, checkpoints, &raised, &error),
                     BUS_OK);
    assert_true(raised);
    assert_int_equal(checkpoints->last_seq[0], 0); //  as locked, before the raise
    uint32_t lower[] = {0};
    assert_int_equal(bus_inbox_lock_raise(conn, fixture->inbox, "inventory", "order", lower, 1, 5,
                                          checkpoints, &raised, &error),
                     BUS_OK);
    assert_true(raised);
    assert_int_equal(checkpoints->last_seq[0], 12);
    ts_pg_exec(conn, "COMMIT");
    freen(checkpoints);
    checkpoints = s_load(conn, "inventory", 4);
    assert_int_equal(checkpoints->last_seq[0], 12);
    assert_int_equal(checkpoints->last_seq[1], 0);
    assert_int_equal(checkpoints->last_seq[2], 12);

    ts_pg_exec(conn, "BEGIN");
    assert_int_equal(bus_inbox_lock_raise(conn, fixture->inbox, "inventory", "order", touched, 2,
                                          20, checkpoints, &raised, NULL),
                     BUS_OK);
    assert_true(raised);
    ts_pg_exec(conn, "ROLLBACK");
    freen(checkpoints);
    checkpoints = s_load(conn, "inventory", 4);
    assert_int_equal(checkpoints->last_seq[0], 12);
    assert_int_equal(checkpoints->last_seq[2], 12);
    freen(checkpoints);
}

//  Row 1 is created by the first replica during the race: it is invisible
//  to the snapshot of the second's first SELECT, and must still be read as
//  50, not 0 (the reason lock selects again after creating rows).

static void
test_lock_sees_rows_created_meanwhile(void **state)
{
    s_race_two_replicas(*state, 1, 0);
}

//  Above READ COMMITTED a row another replica created after the snapshot
//  stays invisible; lock fails (PostgreSQL raises a serialization failure
//  on the conflict) rather than report the row as 0.

static void
test_lock_refuses_stale_snapshot(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    bus_checkpoints_t *checkpoints = s_load(conn, "inventory", 1);
    ts_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_checkpoints"), 0);

    PGconn *other = ts_pg_connect(fixture->conninfo);
    uint32_t touched[] = {0};
    assert_int_equal(
        bus_inbox_advance(other, fixture->inbox, "inventory", "order", touched, 1, 30, NULL),
        BUS_OK);
    PQfinish(other);

    char *error = NULL;
    assert_int_equal(
        bus_inbox_lock(conn, fixture->inbox, "inventory", "order", touched, 1, checkpoints, &error),
        BUS_DB_UNAVAILABLE);
    assert_non_null(strstr(error, "serialize"));
    zstr_free(&error);
    ts_pg_exec(conn, "ROLLBACK");
    freen(checkpoints);
}

//  --------------------------------------------------------------------------
//  Parking again keeps one row: the error is replaced, attempts add up,
//  and a pending retry request is cleared. The envelope stays byte-exact.

static void
test_park_twice_keeps_one_row(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    char *error = NULL;
    unsigned char envelope[S_ENVELOPE_SIZE];
    s_fill_envelope(envelope);
    assert_int_equal(bus_inbox_park(conn, "inventory", "order", 5, 3, "OrderCreated", S_MESSAGE_ID,
                                    envelope, sizeof envelope, "first", 5, &error),
                     BUS_OK);
    assert_null(error);
    json_t *items = s_list(conn, NULL, 0, 10);
    int64_t id = s_item_integer(items, 0, "id");
    json_decref(items);
    assert_int_equal(bus_inbox_retry(conn, id, NULL), BUS_OK);
    assert_int_equal(s_park(conn, "inventory", 5, "second", 1), BUS_OK);

    items = s_list(conn, NULL, 0, 10);
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(s_item_integer(items, 0, "id"), id);
    assert_string_equal(s_item_text(items, 0, "error"), "second");
    assert_int_equal(s_item_integer(items, 0, "attempts"), 6);
    assert_true(json_is_false(json_object_get(json_array_get(items, 0), "retryRequested")));
    assert_true(
        strcmp(s_item_text(items, 0, "lastFailedAt"), s_item_text(items, 0, "firstFailedAt")) >= 0);
    json_decref(items);

    assert_int_equal(bus_inbox_retry(conn, id, NULL), BUS_OK);
    items = s_claim(conn, "inventory");
    assert_int_equal(json_array_size(items), 1);
    zarmour_t *armour = zarmour_new();
    zarmour_set_mode(armour, ZARMOUR_MODE_BASE64_STD);
    zchunk_t *decoded = zarmour_decode(armour, s_item_text(items, 0, "envelope"));
    assert_non_null(decoded);
    //  zarmour_decode appends a NUL so that the chunk can be read as a string.
    assert_int_equal(zchunk_size(decoded), S_ENVELOPE_SIZE + 1);
    assert_memory_equal(zchunk_data(decoded), envelope, S_ENVELOPE_SIZE);
    zchunk_destroy(&decoded);
    zarmour_destroy(&armour);
    json_decref(items);
}

//  A handler's error that is not valid UTF-8 or too long is still parked:
//  invalid bytes become '?', and the cut falls between characters (an odd
//  prefix puts a two-byte character across the limit).

static void
test_park_keeps_error_valid(void **state)
{
    fixture_t *fixture = *state;
    static const char prefix[] = "bad \xff\xc3 byte: ";
    char *error = zmalloc(BUS_INBOX_ERROR_MAX + 16);
    memcpy(error, prefix, sizeof prefix);
    size_t used = strlen(error);
    assert_int_equal(used % 2, 1);
    while (used + 2 <= BUS_INBOX_ERROR_MAX + 8) {
        error[used++] = '\xc3'; //  e acute, two bytes
        error[used++] = '\xa9';
    }
    assert_int_equal(s_park(fixture->conn, "inventory", 1, error, 5), BUS_OK);
    freen(error);

    json_t *items = s_list(fixture->conn, NULL, 0, 10);
    const char *stored = s_item_text(items, 0, "error");
    assert_true(strncmp(stored, "bad ?? byte: \xc3\xa9", 15) == 0);
    assert_int_equal(strlen(stored), BUS_INBOX_ERROR_MAX - 1);
    json_decref(items);
}

//  --------------------------------------------------------------------------
//  Listing pages by id, oldest first, and filters by consumer.

static void
test_dead_letters_pages_and_filters(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    assert_int_equal(s_park(conn, "inventory", 1, "e1", 5), BUS_OK);
    assert_int_equal(s_park(conn, "billing", 1, "e2", 5), BUS_OK);
    assert_int_equal(s_park(conn, "inventory", 2, "e3", 5), BUS_OK);
    assert_int_equal(s_park(conn, "billing", 2, "e4", 5), BUS_OK);
    assert_int_equal(s_park(conn, "inventory", 3, "e5", 5), BUS_OK);

    const char *expected[] = {"e1", "e2", "e3", "e4", "e5"};
    size_t seen = 0;
    int64_t after_id = 0;
    for (int page = 0; page < 4; page++) {
        json_t *items = s_list(conn, NULL, after_id, 2);
        assert_int_equal(json_array_size(items), page < 2 ? 2 : page == 2 ? 1 : 0);
        for (size_t index = 0; index < json_array_size(items); index++) {
            assert_true(s_item_integer(items, index, "id") > after_id);
            after_id = s_item_integer(items, index, "id");
            assert_string_equal(s_item_text(items, index, "error"), expected[seen++]);
        }
        json_decref(items);
    }
    assert_int_equal(seen, 5);

    json_t *items = s_list(conn, "billing", 0, 10);
    assert_int_equal(json_array_size(items), 2);
    for (size_t index = 0; index < 2; index++) {
        assert_string_equal(s_item_text(items, index, "consumer"), "billing");
        assert_string_equal(s_item_text(items, index, "stream"), "order");
        assert_int_equal(s_item_integer(items, index, "seq"), index + 1);
        assert_int_equal(s_item_integer(items, index, "partition"), 3);
        assert_int_equal(s_item_integer(items, index, "attempts"), 5);
        assert_string_equal(s_item_text(items, index, "type"), "OrderCreated");
        assert_string_equal(s_item_text(items, index, "messageId"), S_MESSAGE_ID);
        const char *failed_at = s_item_text(items, index, "firstFailedAt");
        assert_int_equal(strlen(failed_at), 27); //  2024-05-01T12:00:00.000000Z
        assert_int_equal(failed_at[10], 'T');
        assert_int_equal(failed_at[26], 'Z');
        assert_true(json_is_false(json_object_get(json_array_get(items, index), "retryRequested")));
    }
    json_decref(items);
}

//  --------------------------------------------------------------------------
//  Retry marks a dead letter; its consumer claims it, and a concurrent
//  claimer skips the locked row instead of waiting or taking it twice.

static void
test_retry_then_claim_skips_locked(void **state)
{
    fixture_t *fixture = *state;
    PGconn *first = fixture->conn;
    assert_int_equal(s_park(first, "inventory", 1, "e1", 5), BUS_OK);
    assert_int_equal(s_park(first, "inventory", 2, "e2", 5), BUS_OK);
    json_t *items = s_list(first, NULL, 0, 10);
    int64_t id = s_item_integer(items, 1, "id");
    json_decref(items);
    assert_int_equal(bus_inbox_retry(first, id, NULL), BUS_OK);
    items = s_list(first, NULL, 0, 10);
    assert_true(json_is_true(json_object_get(json_array_get(items, 1), "retryRequested")));
    json_decref(items);

    ts_pg_exec(first, "BEGIN");
    items = s_claim(first, "inventory");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(s_item_integer(items, 0, "id"), id);
    assert_string_equal(s_item_text(items, 0, "stream"), "order");
    assert_int_equal(s_item_integer(items, 0, "seq"), 2);
    json_decref(items);

    //  Without SKIP LOCKED this would wait and fail on the lock timeout.
    PGconn *second = ts_pg_connect(fixture->conninfo);
    ts_pg_exec(second, "BEGIN");
    ts_pg_exec(second, "SET LOCAL lock_timeout = '5s'");
    items = s_claim(second, "inventory");
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    ts_pg_exec(second, "COMMIT");

    ts_pg_exec(first, "ROLLBACK");
    items = s_claim(second, "inventory");
    assert_int_equal(json_array_size(items), 1);
    json_decref(items);
    items = s_claim(second, "billing");
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    PQfinish(second);
}

//  Discard removes for good; unknown ids are BUS_NOT_FOUND with a message.

static void
test_discard_and_not_found(void **state)
{
    fixture_t *fixture = *state;
    PGconn *conn = fixture->conn;
    assert_int_equal(s_park(conn, "inventory", 1, "e1", 5), BUS_OK);
    json_t *items = s_list(conn, NULL, 0, 10);
    int64_t id = s_item_integer(items, 0, "id");
    json_decref(items);

    char *error = NULL;
    assert_int_equal(bus_inbox_discard(conn, id, &error), BUS_OK);
    assert_null(error);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_dead_letters"), 0);
    assert_int_equal(bus_inbox_discard(conn, id, &error), BUS_NOT_FOUND);
    assert_non_null(error);
    zstr_free(&error);
    assert_int_equal(bus_inbox_retry(conn, id, &error), BUS_NOT_FOUND);
    assert_non_null(error);
    zstr_free(&error);
    assert_int_equal(bus_inbox_retry(conn, 999999, NULL), BUS_NOT_FOUND);
}

//  --------------------------------------------------------------------------
//  A statement PostgreSQL refuses is BUS_DB_UNAVAILABLE with its message.

static void
test_sql_failure_reported(void **state)
{
    fixture_t *fixture = *state;
    unsigned char envelope[S_ENVELOPE_SIZE];
    s_fill_envelope(envelope);
    char *error = NULL;
    assert_int_equal(bus_inbox_park(fixture->conn, "inventory", "order", 1, 0, "OrderCreated",
                                    "not-a-uuid", envelope, sizeof envelope, "e", 1, &error),
                     BUS_DB_UNAVAILABLE);
    assert_non_null(strstr(error, "parking a dead letter"));
    assert_non_null(strstr(error, "uuid"));
    zstr_free(&error);
}

//  A connection whose backend was terminated gives BUS_DB_UNAVAILABLE from
//  every function, with a message, and nothing to free.

typedef struct {
    PGconn *admin; //  autocommit connection (borrowed)
    int pid;       //  the terminated backend
} gone_t;

static bool
s_backend_gone(void *arg)
{
    gone_t *gone = arg;
    char pid_text[16];
    (void) snprintf(pid_text, sizeof pid_text, "%d", gone->pid);
    const char *values[] = {pid_text};
    PGresult *result = PQexecParams(gone->admin, "SELECT 1 FROM pg_stat_activity WHERE pid = $1", 1,
                                    NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    bool absent = PQntuples(result) == 0;
    PQclear(result);
    return absent;
}

static void
s_assert_unavailable(bus_rc_t rc, char **error_p)
{
    assert_int_equal(rc, BUS_DB_UNAVAILABLE);
    assert_non_null(*error_p);
    assert_non_null(strstr(*error_p, "connection lost"));
    zstr_free(error_p);
}

static void
test_terminated_connection(void **state)
{
    fixture_t *fixture = *state;
    PGconn *victim = ts_pg_connect(fixture->conninfo);
    gone_t gone = {fixture->conn, PQbackendPID(victim)};
    char pid_text[16];
    (void) snprintf(pid_text, sizeof pid_text, "%d", gone.pid);
    const char *values[] = {pid_text};
    PGresult *result = PQexecParams(fixture->conn, "SELECT pg_terminate_backend($1)", 1, NULL,
                                    values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    assert_true(ts_wait_until(s_backend_gone, &gone, S_WAIT_MS));

    char *error = NULL;
    bus_checkpoints_t *checkpoints = NULL;
    s_assert_unavailable(bus_inbox_load(victim, "inventory", "order", 4, &checkpoints, &error),
                         &error);
    assert_null(checkpoints);
    checkpoints = zmalloc(sizeof *checkpoints + 4 * sizeof checkpoints->last_seq[0]);
    checkpoints->partitions = 4;
    uint32_t touched[] = {1};
    s_assert_unavailable(bus_inbox_lock(victim, fixture->inbox, "inventory", "order", touched, 1,
                                        checkpoints, &error),
                         &error);
    freen(checkpoints);
    s_assert_unavailable(
        bus_inbox_advance(victim, fixture->inbox, "inventory", "order", touched, 1, 3, &error),
        &error);
    unsigned char envelope[S_ENVELOPE_SIZE];
    s_fill_envelope(envelope);
    s_assert_unavailable(bus_inbox_park(victim, "inventory", "order", 1, 1, "OrderCreated",
                                        S_MESSAGE_ID, envelope, sizeof envelope, "e", 1, &error),
                         &error);
    json_t *items = NULL;
    s_assert_unavailable(bus_inbox_dead_letters(victim, NULL, 0, 10, &items, &error), &error);
    assert_null(items);
    s_assert_unavailable(bus_inbox_claim_retries(victim, "inventory", 10, &items, &error), &error);
    assert_null(items);
    s_assert_unavailable(bus_inbox_retry(victim, 1, &error), &error);
    s_assert_unavailable(bus_inbox_discard(victim, 1, &error), &error);
    PQfinish(victim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_unknown_consumer_reads_zeros, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_advance_never_lowers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_creates_and_refreshes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_serialises_replicas, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_raise, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_raise_serialises_replicas, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_sees_rows_created_meanwhile, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_refuses_stale_snapshot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_park_twice_keeps_one_row, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_park_keeps_error_valid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_pages_and_filters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_claim_skips_locked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_discard_and_not_found, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sql_failure_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_terminated_connection, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
