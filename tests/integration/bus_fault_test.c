/*  =========================================================================
    bus_fault_test - the event bus under kill -9 of whole processes

    Issue 3: the publisher is killed (SIGKILL) at random moments under load
    and restarted on the same database and ports; then the subscriber is
    killed at random moments while it applies and restarted. In the end
    every committed event must have been applied exactly once and in seq
    order: the consumer's `applied` table holds seqs 1..tail once each, and
    the handler itself refuses an event whose seq is not the last applied
    seq + 1 (a refused event would end up in bus_dead_letters).

    This binary runs itself as the two child roles (fork + exec of
    /proc/self/exe, as bus_stream_test does), so each child has a fresh
    ZeroMQ context and can be killed without harming the parent:

        bus_fault_test --publisher DSN PORT REPORT_FD STOP_FD GENERATION
        bus_fault_test --subscriber DSN PUBLISHERS REPORT_FD STOP_FD

    A child writes one line on REPORT_FD when it is up (the publisher: its
    PUB port), and stops cleanly when STOP_FD reaches end of file. A byte
    on the publisher's STOP_FD first makes it stop publishing and report
    (its tail is then final) while it keeps serving replay: a subscriber
    that is behind can only catch up from a running publisher. The
    random moments come from a PRNG whose seed is printed (set
    BUS_FAULT_SEED to replay a run); every other wait is ts_wait_until on a
    database count or a bounded poll on a pipe.
    =========================================================================
*/
#define _GNU_SOURCE
#include "bus.h"
#include "ts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any single wait may take, and the final catch-up.
#define WAIT_MS 60000
#define CATCH_UP_MS 120000

//  The stream, the consumer group and the faults.
#define STREAM "fault-0"
#define CONSUMER "fault"
#define KILLS 3
#define KILL_DELAY_MIN_MS 50
#define KILL_DELAY_MAX_MS 400

//  The publisher child: units in flight at once, and the most units one
//  child submits (then it idles until told to stop).
#define PUB_WINDOW 32
#define PUB_UNITS_MAX 20000

//  The publisher's fixed ports are drawn below Linux's ephemeral range
//  (32768 and up), so no other test binding "tcp://127.0.0.1:*" can take
//  them while our publisher is down and reach our subscriber instead.
#define PORT_LOW 20000
#define PORT_HIGH 32766
#define PORT_TRIES 200

//  Events applied (or committed) since a restart before a kill is armed.
#define PROGRESS_MIN 50

typedef struct {
    char *pub_db;      //  the publisher's database (owned)
    char *sub_db;      //  the consumer's database (owned)
    PGconn *pub_conn;  //  checks on the publisher's database (owned)
    PGconn *sub_conn;  //  checks on the consumer's database (owned)
    uint64_t rng;      //  xorshift64 state of the random moments
    int pub_port;      //  the publisher's PUB port (ROUTER: + 1), fixed
    int generation;    //  publisher starts so far
    pid_t pub_pid;     //  running publisher child, or 0
    int pub_stop_fd;   //  write end of its stop pipe, or -1
    int pub_report_fd; //  read end of its report pipe, or -1
    pid_t sub_pid;     //  running subscriber child, or 0
    int sub_stop_fd;   //  write end of its stop pipe, or -1
    char *publishers;  //  "tcp://127.0.0.1:<pub_port>" (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  Events: one OrderCreated per unit; the order id carries the unit counter.

typedef struct {
    uint8_t order_id[16]; //  0x42, then the unit counter
} order_unit_t;

static void
s_order_unit_init(order_unit_t *unit, int counter)
{
    memset(unit, 0, sizeof *unit);
    unit->order_id[0] = 0x42;
    memcpy(unit->order_id + 1, &counter, sizeof counter);
}

static int
s_order_unit(bus_tx_t *tx, void *arg)
{
    order_unit_t *unit = arg;
    Ev__V1__Money price;
    ev__v1__money__init(&price);
    price.currency = "EUR";
    price.amount_minor = 1999;
    Ev__V1__OrderItem item;
    ev__v1__order_item__init(&item);
    item.sku = "SKU-1";
    item.quantity = 1;
    item.unit_price = &price;
    Ev__V1__OrderItem *items[] = {&item};
    Ev__V1__OrderCreated created;
    ev__v1__order_created__init(&created);
    created.order_id = (ProtobufCBinaryData){16, unit->order_id};
    created.customer_id = "customer-1";
    created.total = &price;
    created.n_items = 1;
    created.items = items;
    created.created_at_us = 1700000000000000;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, unit->order_id, 16);
}

//  --------------------------------------------------------------------------
//  Children: shared pieces

//  True once the parent closed its end of the stop pipe (or died).
static bool
s_stop_requested(int stop_fd, int timeout_ms)
{
    struct pollfd item = {.fd = stop_fd, .events = POLLIN};
    return poll(&item, 1, timeout_ms) == 1;
}

static int
s_report(int report_fd, int value)
{
    char line[16];
    int length = snprintf(line, sizeof line, "%d\n", value);
    return write(report_fd, line, (size_t) length) == length ? 0 : -1;
}

//  Submit PUB_WINDOW units and collect their completions; returns how many
//  were not BUS_OK, or -1 if interrupted.
static int
s_publish_window(bus_producer_t *producer, order_unit_t *units, int first)
{
    for (int index = 0; index < PUB_WINDOW; index++) {
        s_order_unit_init(&units[index], first + index);
        if (bus_producer_submit(producer, s_order_unit, &units[index], &units[index])) {
            return -1;
        }
    }
    int failed = 0;
    for (int index = 0; index < PUB_WINDOW; index++) {
        bus_completion_t done;
        if (bus_producer_recv(producer, &done)) {
            return -1;
        }
        failed += done.rc != BUS_OK;
    }
    return failed;
}

//  The publisher: a stream on `port`, publishing until killed,
//  PUB_UNITS_MAX units or told to stop.
static int
s_publisher_child(const char *conninfo, int port, int report_fd, int stop_fd, int generation)
{
    zsys_set_logstream(stderr);
    svc_log_t *log = svc_log_new("test", "fault-publisher", SVC_LOG_WARN, stderr);
    svc_metrics_t *metrics = svc_metrics_new();
    char *endpoint =
        port ? zsys_sprintf("tcp://127.0.0.1:%d", port) : zsys_sprintf("tcp://127.0.0.1:*");
    bus_stream_config_t config = {.stream = STREAM,
                                  .conninfo = conninfo,
                                  .pub_endpoint = endpoint,
                                  .heartbeat_ms = 100,
                                  .log = log,
                                  .metrics = metrics};
    bus_stream_t *stream = bus_stream_new(&config);
    int rc = 2;
    if (!stream || s_report(report_fd, bus_stream_pub_port(stream))) {
        goto cleanup;
    }
    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[PUB_WINDOW];
    int failed = 0;
    for (int sent = 0; sent < PUB_UNITS_MAX && !s_stop_requested(stop_fd, 0); sent += PUB_WINDOW) {
        int window_failed = s_publish_window(producer, units, generation * 1000000 + sent);
        failed += window_failed > 0 ? window_failed : 0;
    }
    //  A byte on the stop pipe: stop publishing, report, keep serving
    //  replay until end of file.
    char command = 0;
    if (read(stop_fd, &command, 1) == 1 && s_report(report_fd, failed) == 0) {
        (void) s_stop_requested(stop_fd, -1);
    }
    if (failed) {
        (void) fprintf(stderr, "publisher %d: %d units not committed\n", generation, failed);
    }
    bus_producer_destroy(&producer);
    rc = 0;
cleanup:
    bus_stream_destroy(&stream);
    zstr_free(&endpoint);
    svc_metrics_destroy(&metrics);
    svc_log_destroy(&log);
    return rc;
}

//  The handler: move last_applied from seq - 1 to seq and record (stream,
//  seq) in one statement. Out of order inserts nothing and fails; twice
//  breaks UNIQUE and fails.
static int
s_apply(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
{
    (void) arg;
    char seq[24], previous[24];
    (void) snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
    (void) snprintf(previous, sizeof previous, "%" PRIu64, event->seq - 1);
    const char *params[] = {event->stream, seq, previous};
    PGresult *result = PQexecParams(bus_apply_conn(apply),
                                    "WITH moved AS (UPDATE last_applied SET seq = $2::bigint"
                                    " WHERE stream = $1 AND seq = $3::bigint RETURNING stream)"
                                    " INSERT INTO applied (stream, seq)"
                                    " SELECT stream, $2::bigint FROM moved",
                                    3, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        bus_apply_fail(apply, "%s", PQresultErrorMessage(result));
        rc = -1;
    } else if (!streq(PQcmdTuples(result), "1")) {
        bus_apply_fail(apply, "out of order: seq %s is not last applied + 1", seq);
        rc = -1;
    }
    PQclear(result);
    return rc;
}

//  The subscriber: applies until killed or told to stop.
static int
s_subscriber_child(const char *conninfo, const char *publishers, int report_fd, int stop_fd)
{
    zsys_set_logstream(stderr);
    svc_log_t *log = svc_log_new("test", "fault-subscriber", SVC_LOG_WARN, stderr);
    svc_metrics_t *metrics = svc_metrics_new();
    bus_subscriber_config_t config = {.consumer = CONSUMER,
                                      .conninfo = conninfo,
                                      .publishers = publishers,
                                      .handler = s_apply,
                                      .log = log,
                                      .metrics = metrics};
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    int rc = 2;
    if (subscriber && s_report(report_fd, 1) == 0) {
        (void) s_stop_requested(stop_fd, -1);
        rc = 0;
    }
    bus_subscriber_destroy(&subscriber);
    svc_metrics_destroy(&metrics);
    svc_log_destroy(&log);
    return rc;
}

//  --------------------------------------------------------------------------
//  Parent: SQL helpers

//  One number from `sql`, or -1 if the query failed or gave NULL (the
//  tables may not exist yet).
static long
s_query_number(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    long value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
        !PQgetisnull(result, 0, 0)) {
        value = atol(PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return value;
}

#define SQL_TAIL "SELECT last_seq FROM bus_streams WHERE stream = '" STREAM "'"
#define SQL_APPLIED "SELECT count(*) FROM applied"
#define SQL_DEAD "SELECT count(*) FROM bus_dead_letters"

typedef struct {
    PGconn *conn;    //  borrowed
    const char *sql; //  a query of one number
    long above;      //  waited for: the number exceeds this
} progress_wait_t;

static bool
s_progressed(void *arg)
{
    progress_wait_t *wait = arg;
    return s_query_number(wait->conn, wait->sql) > wait->above;
}

//  Wait until `sql` gives more than `above`.
static void
s_wait_progress(PGconn *conn, const char *sql, long above)
{
    progress_wait_t wait = {conn, sql, above};
    if (!ts_wait_until(s_progressed, &wait, WAIT_MS)) {
        fail_msg("%s stayed at %ld, not above %ld", sql, s_query_number(conn, sql), above);
    }
}

//  --------------------------------------------------------------------------
//  Parent: children

//  The next number of the seeded PRNG (xorshift64).
static uint64_t
s_random(fixture_t *fixture)
{
    fixture->rng ^= fixture->rng << 13;
    fixture->rng ^= fixture->rng >> 7;
    fixture->rng ^= fixture->rng << 17;
    return fixture->rng;
}

//  A random moment: KILL_DELAY_MIN_MS..KILL_DELAY_MAX_MS.
static int
s_random_delay_ms(fixture_t *fixture)
{
    return KILL_DELAY_MIN_MS +
           (int) (s_random(fixture) % (KILL_DELAY_MAX_MS - KILL_DELAY_MIN_MS + 1));
}

//  True if nobody listens on 127.0.0.1:port (we can bind it).
static bool
s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free_port = bind(fd, (struct sockaddr *) &address, sizeof address) == 0;
    close(fd);
    return free_port;
}

//  A free port whose next port is free too (PUB and ROUTER).
static int
s_free_port_pair(fixture_t *fixture)
{
    for (int tries = 0; tries < PORT_TRIES; tries++) {
        int port = PORT_LOW + (int) (s_random(fixture) % (PORT_HIGH - PORT_LOW));
        if (s_port_free(port) && s_port_free(port + 1)) {
            return port;
        }
    }
    fail_msg("no free port pair in %d..%d", PORT_LOW, PORT_HIGH);
    return -1;
}

//  Read the child's one-line report within WAIT_MS; -1 if none came.
static int
s_read_report(int fd)
{
    struct pollfd item = {.fd = fd, .events = POLLIN};
    char line[16] = {0};
    size_t used = 0;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (used < sizeof line - 1 && !strchr(line, '\n') && zclock_mono() < deadline) {
        if (poll(&item, 1, (int) (deadline - zclock_mono())) == 1) {
            ssize_t got = read(fd, line + used, sizeof line - 1 - used);
            if (got <= 0) {
                return -1;
            }
            used += (size_t) got;
        }
    }
    return strchr(line, '\n') ? atoi(line) : -1;
}

//  Start this binary as a child with `args` (role first, then the values
//  before the pipe fds, then `tail`, a NULL-terminated rest). Returns its
//  pid; *stop_fd_out is the write end of its stop pipe, *report_fd_out
//  the read end of its report pipe (caller closes both); *report_out its
//  first report.
static pid_t
s_spawn(const char *const *args,
        size_t count,
        const char *tail,
        int *stop_fd_out,
        int *report_fd_out,
        int *report_out)
{
    int report[2], stop[2];
    assert_int_equal(pipe2(report, O_CLOEXEC), 0);
    assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
    char report_fd[16], stop_fd[16];
    (void) snprintf(report_fd, sizeof report_fd, "%d", report[1]);
    (void) snprintf(stop_fd, sizeof stop_fd, "%d", stop[0]);
    char *argv[10] = {"bus_fault_test"};
    assert_true(count + 5 <= 10);
    for (size_t index = 0; index < count; index++) {
        argv[index + 1] = (char *) args[index];
    }
    argv[count + 1] = report_fd;
    argv[count + 2] = stop_fd;
    argv[count + 3] = (char *) tail;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        (void) fcntl(report[1], F_SETFD, 0);
        (void) fcntl(stop[0], F_SETFD, 0);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(report[1]);
    close(stop[0]);
    *stop_fd_out = stop[1];
    *report_out = s_read_report(report[0]);
    *report_fd_out = report[0];
    return child;
}

static void
s_publisher_start(fixture_t *fixture)
{
    char port[16], generation[16];
    (void) snprintf(port, sizeof port, "%d", fixture->pub_port);
    (void) snprintf(generation, sizeof generation, "%d", fixture->generation++);
    const char *args[] = {"--publisher", fixture->pub_db, port};
    int reported = -1;
    fixture->pub_pid =
        s_spawn(args, 3, generation, &fixture->pub_stop_fd, &fixture->pub_report_fd, &reported);
    assert_int_equal(reported, fixture->pub_port);
}

static void
s_subscriber_start(fixture_t *fixture)
{
    const char *args[] = {"--subscriber", fixture->sub_db, fixture->publishers};
    int reported = -1;
    int report_fd = -1;
    fixture->sub_pid = s_spawn(args, 3, NULL, &fixture->sub_stop_fd, &report_fd, &reported);
    close(report_fd);
    assert_int_equal(reported, 1);
}

typedef struct {
    pid_t pid;  //  the child waited for
    int status; //  its status, once reaped
} reap_t;

static bool
s_reaped(void *arg)
{
    reap_t *reap = arg;
    return waitpid(reap->pid, &reap->status, WNOHANG) == reap->pid;
}

//  Reap the child within WAIT_MS; returns its wait status.
static int
s_reap(pid_t *pid_p)
{
    reap_t reap = {*pid_p, 0};
    assert_true(ts_wait_until(s_reaped, &reap, WAIT_MS));
    *pid_p = 0;
    return reap.status;
}

//  kill -9 the child and reap it.
static void
s_kill(pid_t *pid_p, int *stop_fd_p)
{
    assert_int_equal(kill(*pid_p, SIGKILL), 0);
    int status = s_reap(pid_p);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    close(*stop_fd_p);
    *stop_fd_p = -1;
}

//  Ask the child to stop (end of file on its stop pipe); it must exit 0.
static void
s_stop(pid_t *pid_p, int *stop_fd_p)
{
    close(*stop_fd_p);
    *stop_fd_p = -1;
    int status = s_reap(pid_p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->pub_db = ts_pg_create_db();
    fixture->sub_db = ts_pg_create_db();
    fixture->pub_conn = ts_pg_connect(fixture->pub_db);
    fixture->sub_conn = ts_pg_connect(fixture->sub_db);
    ts_pg_exec(fixture->sub_conn, "CREATE TABLE applied (id bigserial PRIMARY KEY,"
                                  " stream text NOT NULL, seq bigint NOT NULL,"
                                  " UNIQUE (stream, seq))");
    ts_pg_exec(fixture->sub_conn, "CREATE TABLE last_applied (stream text PRIMARY KEY,"
                                  " seq bigint NOT NULL);"
                                  "INSERT INTO last_applied VALUES ('" STREAM "', 0)");
    const char *seed = getenv("BUS_FAULT_SEED");
    fixture->rng = seed ? strtoull(seed, NULL, 10) : (uint64_t) zclock_usecs();
    fixture->rng = fixture->rng ? fixture->rng : 1;
    (void) fprintf(stderr, "bus_fault_test: seed %" PRIu64 " (BUS_FAULT_SEED to replay)\n",
                   fixture->rng);
    fixture->pub_stop_fd = -1;
    fixture->pub_report_fd = -1;
    fixture->sub_stop_fd = -1;
    fixture->pub_port = s_free_port_pair(fixture);
    fixture->publishers = zsys_sprintf("tcp://127.0.0.1:%d", fixture->pub_port);
    *state = fixture;
    return 0;
}

//  Kill what still runs (a failed case), then drop everything.
static void
s_kill_survivor(pid_t pid, int stop_fd)
{
    if (pid > 0) {
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
    }
    if (stop_fd >= 0) {
        close(stop_fd);
    }
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    s_kill_survivor(fixture->sub_pid, fixture->sub_stop_fd);
    s_kill_survivor(fixture->pub_pid, fixture->pub_stop_fd);
    if (fixture->pub_report_fd >= 0) {
        close(fixture->pub_report_fd);
    }
    zstr_free(&fixture->publishers);
    PQfinish(fixture->sub_conn);
    PQfinish(fixture->pub_conn);
    ts_pg_drop_db(&fixture->sub_db);
    ts_pg_drop_db(&fixture->pub_db);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  The case

typedef struct {
    fixture_t *fixture; //  borrowed
    long tail;          //  the publisher's committed tail
} caught_up_t;

//  The consumer applied the whole tail, or something was dead-lettered
//  (then waiting longer is pointless).
static bool
s_caught_up(void *arg)
{
    caught_up_t *wait = arg;
    return s_query_number(wait->fixture->sub_conn, SQL_APPLIED) == wait->tail ||
           s_query_number(wait->fixture->sub_conn, SQL_DEAD) > 0;
}

//  kill -9 the publisher at KILLS random moments under load, restarting it
//  each time on the same database and ports.
static void
s_kill_publisher(fixture_t *fixture)
{
    for (int kill_index = 0; kill_index < KILLS; kill_index++) {
        long tail = s_query_number(fixture->pub_conn, SQL_TAIL);
        s_wait_progress(fixture->pub_conn, SQL_TAIL, tail + PROGRESS_MIN);
        int delay_ms = s_random_delay_ms(fixture);
        zclock_sleep(delay_ms); //  the random moment is the point of the test
        s_kill(&fixture->pub_pid, &fixture->pub_stop_fd);
        close(fixture->pub_report_fd);
        fixture->pub_report_fd = -1;
        (void) fprintf(stderr, "bus_fault_test: publisher killed after %d ms at tail %ld\n",
                       delay_ms, s_query_number(fixture->pub_conn, SQL_TAIL));
        s_publisher_start(fixture);
    }
}

//  kill -9 the subscriber at KILLS random moments while it applies,
//  restarting it each time.
static void
s_kill_subscriber(fixture_t *fixture)
{
    for (int kill_index = 0; kill_index < KILLS; kill_index++) {
        long applied = s_query_number(fixture->sub_conn, SQL_APPLIED);
        s_wait_progress(fixture->sub_conn, SQL_APPLIED, applied + PROGRESS_MIN);
        int delay_ms = s_random_delay_ms(fixture);
        zclock_sleep(delay_ms); //  the random moment is the point of the test
        s_kill(&fixture->sub_pid, &fixture->sub_stop_fd);
        (void) fprintf(stderr, "bus_fault_test: subscriber killed after %d ms at %ld applied\n",
                       delay_ms, s_query_number(fixture->sub_conn, SQL_APPLIED));
        s_subscriber_start(fixture);
    }
}

static void
test_kill_publisher_and_subscriber(void **state)
{
    fixture_t *fixture = *state;
    s_publisher_start(fixture);
    s_subscriber_start(fixture);
    s_kill_publisher(fixture);
    s_kill_subscriber(fixture);
    //  The publisher stops publishing (its tail is then final) but keeps
    //  serving replay while the subscriber catches up.
    assert_int_equal(write(fixture->pub_stop_fd, "q", 1), 1);
    assert_true(s_read_report(fixture->pub_report_fd) >= 0);

    long tail = s_query_number(fixture->pub_conn, SQL_TAIL);
    assert_true(tail > 0);
    assert_int_equal(s_query_number(fixture->pub_conn, "SELECT count(*) FROM bus_events"), tail);
    caught_up_t wait = {fixture, tail};
    if (!ts_wait_until(s_caught_up, &wait, CATCH_UP_MS)) {
        fail_msg("applied %ld of %ld", s_query_number(fixture->sub_conn, SQL_APPLIED), tail);
    }
    PGconn *conn = fixture->sub_conn;
    assert_int_equal(s_query_number(conn, SQL_DEAD), 0);
    assert_int_equal(s_query_number(conn, SQL_APPLIED), tail);
    assert_int_equal(s_query_number(conn, "SELECT count(DISTINCT seq) FROM applied"), tail);
    assert_int_equal(s_query_number(conn, "SELECT min(seq) FROM applied"), 1);
    assert_int_equal(s_query_number(conn, "SELECT max(seq) FROM applied"), tail);
    assert_int_equal(s_query_number(conn, "SELECT seq FROM last_applied"), tail);
    //  Applied in seq order: the serial ids rise with the seqs.
    assert_int_equal(s_query_number(conn, "SELECT count(*) FROM (SELECT seq - lag(seq)"
                                          " OVER (ORDER BY id) AS step FROM applied) steps"
                                          " WHERE step <> 1"),
                     0);
    (void) fprintf(stderr, "bus_fault_test: %ld events committed and applied once, in order\n",
                   tail);
    s_stop(&fixture->sub_pid, &fixture->sub_stop_fd);
    s_stop(&fixture->pub_pid, &fixture->pub_stop_fd);
}

int
main(int argc, char *argv[])
{
    if (argc == 7 && streq(argv[1], "--publisher")) {
        return s_publisher_child(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                                 atoi(argv[6]));
    }
    if (argc == 6 && streq(argv[1], "--subscriber")) {
        return s_subscriber_child(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    }
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_publisher_and_subscriber, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
