/*  =========================================================================
    bench_bus_durable - committed events/s through writer and subscriber,
    against PostgreSQL's own commit rates

    One run against one PostgreSQL cluster (the DSN comes from --dsn or
    TEST_PG_DSN; scripts/bench.sh starts a private one with the default
    durable settings, fsync and synchronous_commit on). It creates three
    fresh databases and drops them at the end:

    - baseline single: one client inserts one event-log row per transaction
      (autocommit) for --baseline-seconds: PostgreSQL's commit rate;
    - baseline batched: one client inserts 100 rows per transaction (one
      multi-row INSERT, autocommit) for --baseline-seconds: PostgreSQL's
      batched ceiling, the figure the bus is compared with;
    - ours: a bus_stream (its writer in the publisher database) and a
      bus_subscriber (consumer group "bench" in the consumer database, a
      handler that does nothing) on loopback. --producers threads each keep
      --window units of work outstanding (bus_producer_submit, then
      bus_producer_recv); each unit appends one OrderCreated. Measured from
      the first submission until the subscriber has committed the last
      event (bus_applied_total, then the checkpoint row is checked).

    The rows of the baselines have the shape of bus_events and carry the
    same packed envelope, so PostgreSQL does the same work per row. Each
    of --rounds rounds runs both baselines and then the bus, so the three
    see the same load on a shared machine; the figures reported are the
    medians over the rounds. The stream and the subscriber live through all
    rounds (each round's figures are deltas). Ends with one JSON line:
    {"bench": "bus_durable", "value" (end-to-end events/s), "unit",
    "baseline" (batched rows/s), "ratio", "baseline_single" (tx/s),
    "writer_rate", "avg_batch", ...}.
    =========================================================================
*/
#include "bench_support.h"
#include "bus_stream.h"
#include "bus_subscriber.h"

#include <libpq-fe.h>
#include <pthread.h>

//  Defaults of the flags.
#define DURABLE_EVENTS 200000
#define DURABLE_SECONDS 10
#define DURABLE_PRODUCERS 4
#define DURABLE_WINDOW 500
#define DURABLE_BASELINE_SECONDS 3
#define DURABLE_ROUNDS 3
#define DURABLE_ROUNDS_MAX 20

//  Rows per transaction of the batched baseline.
#define DURABLE_BATCH_ROWS 100
//  Most producers and most units one producer keeps outstanding.
#define DURABLE_PRODUCERS_MAX 64
#define DURABLE_WINDOW_MAX 2000
//  Longest wait for one completion, and for the subscriber to catch up.
#define DURABLE_COMPLETION_TIMEOUT_MS 60000
#define DURABLE_CATCH_UP_TIMEOUT_MS 120000
//  How often the main thread looks at the subscriber's progress.
#define DURABLE_POLL_NS 1000000

#define DURABLE_STREAM "bench-0"
#define DURABLE_CONSUMER "bench"
#define DURABLE_DB_BASE "evbus_bench_base"
#define DURABLE_DB_PUB "evbus_bench_pub"
#define DURABLE_DB_CON "evbus_bench_con"

typedef struct {
    const char *dsn;      //  admin connection string (borrowed)
    int64_t events;       //  most units in the bus run
    int seconds;          //  most seconds of submitting
    int producers;        //  producer threads
    int window;           //  units outstanding per producer
    int baseline_seconds; //  length of each baseline
    int rounds;           //  rounds of (baselines, bus), figures are medians
} options_t;

//  One producer thread: its share of the units and what came of them.
typedef struct {
    bus_stream_t *stream;       //  the writer (borrowed)
    int index;                  //  0, 1, ...
    int window;                 //  units outstanding at most
    int64_t quota;              //  units to submit at most
    int64_t deadline_ns;        //  submit nothing after this
    int64_t ok;                 //  units committed
    int64_t failed;             //  units that failed or never completed
    int64_t last_completion_ns; //  when the last completion arrived
} producer_t;

//  What the bus run measured.
typedef struct {
    int64_t events;         //  units committed in the measured window
    double writer_rate;     //  events/s, first submit to last completion
    double end_to_end_rate; //  events/s, first submit to subscriber commit
    double batches;         //  writer batches in the window
    double avg_batch;       //  units per writer batch
    double avg_commit_ms;   //  writer BEGIN..COMMIT, average
    double apply_batches;   //  subscriber transactions in the window
    double avg_apply_batch; //  events per subscriber transaction
    uint64_t checkpoint;    //  the checkpoint at the end
    int64_t failed;         //  units that failed
} bus_result_t;

//  --------------------------------------------------------------------------
//  Connection strings and databases

//  Append keyword='value' to `out`, quoted as libpq wants.
static void
s_conninfo_append(zchunk_t *out, const char *keyword, const char *value)
{
    zchunk_extend(out, keyword, strlen(keyword));
    zchunk_extend(out, "='", 2);
    for (const char *c = value; *c; c++) {
        if (*c == '\'' || *c == '\\') {
            zchunk_extend(out, "\\", 1);
        }
        zchunk_extend(out, c, 1);
    }
    zchunk_extend(out, "' ", 2);
}

//  `dsn` with its dbname replaced. Caller owns return value; NULL if the
//  DSN does not parse.
static char *
s_conninfo_with_dbname(const char *dsn, const char *dbname)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(dsn, &error);
    if (!options) {
        (void) fprintf(stderr, "bench_bus_durable: the DSN does not parse: %s\n",
                       error ? error : "");
        PQfreemem(error);
        return NULL;
    }
    zchunk_t *out = zchunk_new(NULL, 256);
    for (PQconninfoOption *option = options; option->keyword; option++) {
        if (option->val && strcmp(option->keyword, "dbname") != 0) {
            s_conninfo_append(out, option->keyword, option->val);
        }
    }
    s_conninfo_append(out, "dbname", dbname);
    PQconninfoFree(options);
    char *conninfo = zsys_sprintf("%.*s", (int) zchunk_size(out), (char *) zchunk_data(out));
    zchunk_destroy(&out);
    return conninfo;
}

//  Run one statement; returns 0 if it succeeded (says why on stderr if not).
static int
s_exec(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : -1;
    if (rc) {
        (void) fprintf(stderr, "bench_bus_durable: %s: %s", sql, PQresultErrorMessage(result));
    }
    PQclear(result);
    return rc;
}

//  libpq notices ("does not exist, skipping") are not figures: drop them.
static void
s_notice_ignore(void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

static PGconn *
s_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        (void) fprintf(stderr, "bench_bus_durable: cannot connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, s_notice_ignore, NULL);
    return conn;
}

//  Drop (and with `create`, create again) the three benchmark databases.
static int
s_databases_reset(const char *dsn, bool create)
{
    PGconn *conn = s_connect(dsn);
    if (!conn) {
        return -1;
    }
    const char *names[] = {DURABLE_DB_BASE, DURABLE_DB_PUB, DURABLE_DB_CON};
    int rc = 0;
    for (size_t index = 0; index < sizeof names / sizeof *names && rc == 0; index++) {
        char sql[256];
        (void) snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", names[index]);
        rc = s_exec(conn, sql);
        if (rc == 0 && create) {
            (void) snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", names[index]);
            rc = s_exec(conn, sql);
        }
    }
    PQfinish(conn);
    return rc;
}

//  --------------------------------------------------------------------------
//  Baselines: PostgreSQL alone, one client, rows shaped like bus_events.

//  The statement inserting `rows` rows: $1 is the stream, then per row seq,
//  type, partition, message_id (binary uuid), envelope (binary bytea).
static char *
s_insert_sql(int rows)
{
    zchunk_t *sql = zchunk_new(NULL, 4096);
    const char *head =
        "INSERT INTO bench_events (stream, seq, type, partition, message_id, envelope) VALUES ";
    zchunk_extend(sql, head, strlen(head));
    for (int row = 0; row < rows; row++) {
        char values[96];
        int base = 2 + row * 5;
        int length = snprintf(values, sizeof values, "%s($1, $%d, $%d, $%d, $%d, $%d)",
                              row ? ", " : "", base, base + 1, base + 2, base + 3, base + 4);
        zchunk_extend(sql, values, (size_t) length);
    }
    char *text = zsys_sprintf("%.*s", (int) zchunk_size(sql), (char *) zchunk_data(sql));
    zchunk_destroy(&sql);
    return text;
}

//  Parameters of one baseline statement, and their storage.
typedef struct {
    int count;                                      //  parameters used
    const char *values[1 + 5 * DURABLE_BATCH_ROWS]; //  parameter values
    int lengths[1 + 5 * DURABLE_BATCH_ROWS];        //  their lengths (binary ones)
    int formats[1 + 5 * DURABLE_BATCH_ROWS];        //  1 = binary
    char seq_text[DURABLE_BATCH_ROWS][24];          //  seq as text, per row
    uint8_t ids[DURABLE_BATCH_ROWS][BUS_ID_SIZE];   //  message ids, per row
} params_t;

//  Fill the parameters of `rows` rows starting at seq `first`; every row
//  carries the same packed envelope.
static void
s_params_fill(params_t *params, int rows, int64_t first, zframe_t *envelope)
{
    params->count = 1 + 5 * rows;
    params->values[0] = DURABLE_STREAM;
    for (int row = 0; row < rows; row++) {
        int base = 1 + row * 5;
        (void) snprintf(params->seq_text[row], sizeof params->seq_text[row], "%" PRId64,
                        first + row);
        memset(params->ids[row], 0, BUS_ID_SIZE);
        memcpy(params->ids[row], &(int64_t){first + row}, sizeof(int64_t));
        params->values[base] = params->seq_text[row];
        params->values[base + 1] = "OrderCreated";
        params->values[base + 2] = "17";
        params->values[base + 3] = (const char *) params->ids[row];
        params->lengths[base + 3] = BUS_ID_SIZE;
        params->formats[base + 3] = 1;
        params->values[base + 4] = (const char *) zframe_data(envelope);
        params->lengths[base + 4] = (int) zframe_size(envelope);
        params->formats[base + 4] = 1;
    }
}

//  Insert `rows` rows per transaction for `seconds`; returns rows/s, or -1.
static double
s_baseline(const char *conninfo, int rows, int seconds, zframe_t *envelope, int64_t *tx_out)
{
    PGconn *conn = s_connect(conninfo);
    if (!conn) {
        return -1;
    }
    char *sql = s_insert_sql(rows);
    char name[32];
    (void) snprintf(name, sizeof name, "insert_%d", rows);
    PGresult *prepared = PQprepare(conn, name, sql, 0, NULL);
    double rate = -1;
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK || s_exec(conn, "TRUNCATE bench_events")) {
        (void) fprintf(stderr, "bench_bus_durable: prepare: %s", PQresultErrorMessage(prepared));
        goto cleanup;
    }
    params_t *params = zmalloc(sizeof *params);
    static_assert(sizeof(int64_t) <= BUS_ID_SIZE, "ids hold a seq");
    int64_t start_ns = bench_now_ns(), end_ns = start_ns + (int64_t) seconds * 1000000000;
    int64_t seq = 1, tx = 0, now_ns = start_ns;
    while (now_ns < end_ns) {
        s_params_fill(params, rows, seq, envelope);
        PGresult *result = PQexecPrepared(conn, name, params->count, params->values,
                                          params->lengths, params->formats, 0);
        bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        if (!ok) {
            (void) fprintf(stderr, "bench_bus_durable: insert: %s", PQresultErrorMessage(result));
        }
        PQclear(result);
        if (!ok) {
            freen(params);
            goto cleanup;
        }
        seq += rows;
        tx++;
        now_ns = bench_now_ns();
    }
    freen(params);
    *tx_out = tx;
    rate = (double) (seq - 1) / ((double) (now_ns - start_ns) / 1e9);
cleanup:
    PQclear(prepared);
    zstr_free(&sql);
    PQfinish(conn);
    return rate;
}

//  Create the baseline table in the base database.
static int
s_baseline_prepare(const char *conninfo)
{
    PGconn *conn = s_connect(conninfo);
    if (!conn) {
        return -1;
    }
    int rc = s_exec(conn, "CREATE TABLE bench_events ("
                          " stream text NOT NULL, seq bigint NOT NULL, type text NOT NULL,"
                          " partition integer NOT NULL, message_id uuid NOT NULL,"
                          " envelope bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
                          " PRIMARY KEY (stream, seq))");
    PQfinish(conn);
    return rc;
}

//  --------------------------------------------------------------------------
//  The bus: units of work and producer threads

//  A unit of work: append the order it is given.
static int
s_create_order(bus_tx_t *tx, void *arg)
{
    bench_order_t *order = arg;
    return bus_tx_append(tx, &order->envelope, order->order_id, BUS_ID_SIZE);
}

//  The consumer's handler: no I/O, no SQL.
static int
s_apply_nothing(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
{
    (void) apply;
    (void) event;
    (void) arg;
    return 0;
}

//  Take every completion waiting; returns how many. The producer's socket
//  has a receive timeout of 0, so bus_producer_recv returns -1 once none is
//  left: one check per burst instead of a zsock_events (two system calls
//  in libzmq) per completion.
static int
s_producer_drain(producer_t *self,
                 bus_producer_t *producer,
                 bench_order_t **free_slots,
                 int *free_count)
{
    int taken = 0;
    bus_completion_t done;
    while (bus_producer_recv(producer, &done) == 0) {
        free_slots[(*free_count)++] = done.tag;
        self->ok += done.rc == BUS_OK;
        self->failed += done.rc != BUS_OK;
        taken++;
    }
    if (taken > 0) {
        self->last_completion_ns = bench_now_ns();
    }
    return taken;
}

//  Submit while there is room and time, then wait for completions.
static void
s_producer_loop(producer_t *self, bus_producer_t *producer, bench_order_t **free_slots)
{
    zpoller_t *poller = zpoller_new(bus_producer_sock(producer), NULL);
    int free_count = self->window, outstanding = 0;
    int64_t submitted = 0;
    for (;;) {
        while (outstanding < self->window && submitted < self->quota &&
               (submitted % 64 != 0 || bench_now_ns() < self->deadline_ns)) {
            bench_order_t *order = free_slots[--free_count];
            bench_order_set_index(order, (uint64_t) self->index * 1000000000 + submitted);
            if (bus_producer_submit(producer, s_create_order, order, order)) {
                free_count++;
                self->quota = submitted; //  interrupted: stop submitting
                break;
            }
            outstanding++;
            submitted++;
        }
        if (outstanding == 0) {
            break;
        }
        if (!zpoller_wait(poller, DURABLE_COMPLETION_TIMEOUT_MS)) {
            (void) fprintf(stderr, "bench_bus_durable: producer %d: no completion within %d ms\n",
                           self->index, DURABLE_COMPLETION_TIMEOUT_MS);
            self->failed += outstanding;
            break;
        }
        outstanding -= s_producer_drain(self, producer, free_slots, &free_count);
    }
    zpoller_destroy(&poller);
}

static void *
s_producer(void *arg)
{
    producer_t *self = arg;
    bus_producer_t *producer = bus_producer_new(self->stream);
    zsock_set_rcvtimeo(bus_producer_sock(producer), 0);
    bench_order_t *orders = zmalloc((size_t) self->window * sizeof *orders);
    bench_order_t **free_slots = zmalloc((size_t) self->window * sizeof(bench_order_t *));
    for (int slot = 0; slot < self->window; slot++) {
        bench_order_init(&orders[slot], 0);
        free_slots[slot] = &orders[slot];
    }
    s_producer_loop(self, producer, free_slots);
    bus_producer_destroy(&producer);
    freen(free_slots);
    freen(orders);
    return NULL;
}

//  --------------------------------------------------------------------------
//  The bus: progress and metrics

//  The stream, its subscriber and what watches them, for all rounds.
typedef struct {
    svc_log_t *log;               //  warnings and errors on stderr (owned)
    svc_metrics_t *metrics;       //  the writer's and the subscriber's (owned)
    bus_stream_t *stream;         //  the writer (owned)
    bus_subscriber_t *subscriber; //  the consumer (owned)
    PGconn *con;                  //  the consumer's database, to read checkpoints (owned)
    uint64_t committed;           //  events committed so far (the warm-up's included)
} bench_bus_t;

//  The checkpoint of the bench consumer (max over partitions), or -1.
static int64_t
s_checkpoint(PGconn *conn)
{
    const char *values[] = {DURABLE_CONSUMER, DURABLE_STREAM};
    PGresult *result = PQexecParams(conn,
                                    "SELECT coalesce(max(last_seq), 0) FROM bus_checkpoints"
                                    " WHERE consumer = $1 AND stream = $2",
                                    2, NULL, values, NULL, NULL, 0);
    int64_t value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        value = atoll(PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return value;
}

//  Sum of every series of `name` (e.g. "bus_batch_units_count") in the
//  rendered registry: the number after the last space of each line.
static double
s_metric(svc_metrics_t *metrics, const char *name)
{
    char *text = svc_metrics_render(metrics);
    size_t length = strlen(name);
    double sum = 0;
    char *line = text;
    while (line && *line) {
        char *end = strchr(line, '\n');
        if (end) {
            *end = '\0';
        }
        if (strncmp(line, name, length) == 0 && (line[length] == '{' || line[length] == ' ')) {
            char *value = strrchr(line, ' ');
            sum += value ? strtod(value + 1, NULL) : 0;
        }
        line = end ? end + 1 : NULL;
    }
    zstr_free(&text);
    return sum;
}

//  Events the subscriber has committed (bus_applied_total: counted after
//  the apply transaction's COMMIT). A lock-free read of the counter.
static uint64_t
s_applied(svc_metrics_t *metrics)
{
    return svc_counter_value(svc_metrics_counter(metrics, "bus_applied_total", "", "consumer",
                                                 DURABLE_CONSUMER, "stream", DURABLE_STREAM, NULL));
}

//  Wait until the subscriber has committed `count` events in all (or the
//  timeout); returns when it did (monotonic ns), or -1.
static int64_t
s_await_applied(svc_metrics_t *metrics, uint64_t count, int timeout_ms)
{
    int64_t deadline = bench_now_ns() + (int64_t) timeout_ms * 1000000;
    while (s_applied(metrics) < count) {
        if (bench_now_ns() > deadline) {
            return -1;
        }
        zclock_sleep(1);
    }
    return bench_now_ns();
}

//  The writer's and the subscriber's batch metrics at one moment.
typedef struct {
    double batches;       //  writer transactions
    double units;         //  units in them
    double commit_s;      //  writer BEGIN..COMMIT, summed
    double apply_batches; //  subscriber transactions
    double apply_events;  //  events in them
} snapshot_t;

static snapshot_t
s_snapshot(svc_metrics_t *metrics)
{
    return (snapshot_t){.batches = s_metric(metrics, "bus_batch_units_count"),
                        .units = s_metric(metrics, "bus_batch_units_sum"),
                        .commit_s = s_metric(metrics, "bus_commit_seconds_sum"),
                        .apply_batches = s_metric(metrics, "bus_apply_batch_events_count"),
                        .apply_events = s_metric(metrics, "bus_apply_batch_events_sum")};
}

//  Fill the rates and batch figures of `result` from the round's times and
//  the metrics before and after it.
static void
s_bus_figures(bus_result_t *result,
              const snapshot_t *before,
              const snapshot_t *after,
              int64_t start_ns,
              int64_t writer_end_ns,
              int64_t end_ns)
{
    double events = (double) result->events;
    result->writer_rate =
        writer_end_ns > start_ns ? events / ((double) (writer_end_ns - start_ns) / 1e9) : 0;
    result->end_to_end_rate = end_ns > start_ns ? events / ((double) (end_ns - start_ns) / 1e9) : 0;
    result->batches = after->batches - before->batches;
    result->avg_batch = result->batches > 0 ? (after->units - before->units) / result->batches : 0;
    result->avg_commit_ms =
        result->batches > 0 ? 1000 * (after->commit_s - before->commit_s) / result->batches : 0;
    result->apply_batches = after->apply_batches - before->apply_batches;
    result->avg_apply_batch =
        result->apply_batches > 0
            ? (after->apply_events - before->apply_events) / result->apply_batches
            : 0;
}

//  --------------------------------------------------------------------------
//  The bus: one measured round. Returns 0, or -1 if the subscriber did not
//  catch up or its checkpoint is not where the writer's tail is.

static int
s_bus_measure(const options_t *options, bench_bus_t *bus, bus_result_t *result)
{
    snapshot_t before = s_snapshot(bus->metrics);
    producer_t producers[DURABLE_PRODUCERS_MAX];
    pthread_t threads[DURABLE_PRODUCERS_MAX];
    int64_t start_ns = bench_now_ns();
    for (int index = 0; index < options->producers; index++) {
        int64_t share = options->events / options->producers;
        producers[index] =
            (producer_t){.stream = bus->stream,
                         .index = index,
                         .window = options->window,
                         .quota = share + (index < options->events % options->producers),
                         .deadline_ns = start_ns + (int64_t) options->seconds * 1000000000};
        int rc = pthread_create(&threads[index], NULL, s_producer, &producers[index]);
        assert(rc == 0);
    }
    int64_t writer_end_ns = start_ns;
    for (int index = 0; index < options->producers; index++) {
        pthread_join(threads[index], NULL);
        result->events += producers[index].ok;
        result->failed += producers[index].failed;
        if (producers[index].last_completion_ns > writer_end_ns) {
            writer_end_ns = producers[index].last_completion_ns;
        }
    }
    bus->committed += (uint64_t) result->events;
    int64_t end_ns = s_await_applied(bus->metrics, bus->committed, DURABLE_CATCH_UP_TIMEOUT_MS);
    snapshot_t after = s_snapshot(bus->metrics);
    s_bus_figures(result, &before, &after, start_ns, writer_end_ns, end_ns);
    result->checkpoint = (uint64_t) s_checkpoint(bus->con);
    if (end_ns < 0 || result->checkpoint != bus->committed) {
        (void) fprintf(stderr,
                       "bench_bus_durable: the subscriber did not catch up: checkpoint %" PRIu64
                       ", applied %" PRIu64 ", committed %" PRIu64 "\n",
                       result->checkpoint, s_applied(bus->metrics), bus->committed);
        return -1;
    }
    return 0;
}

//  Start the stream and the subscriber, and run one unit through both, so
//  the subscriber has joined and caught up before anything is measured.
static int
s_bus_start(bench_bus_t *bus, const char *pub_db, const char *con_db)
{
    memset(bus, 0, sizeof *bus);
    bus->log = svc_log_new("bench", "bench_bus_durable", SVC_LOG_WARN, stderr);
    bus->metrics = svc_metrics_new();
    bus_stream_config_t stream_config = {.stream = DURABLE_STREAM,
                                         .conninfo = pub_db,
                                         .pub_endpoint = "tcp://127.0.0.1:*",
                                         .log = bus->log,
                                         .metrics = bus->metrics};
    bus->stream = bus_stream_new(&stream_config);
    bus->con = s_connect(con_db);
    if (!bus->stream || !bus->con) {
        return -1;
    }
    char *publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(bus->stream));
    bus_subscriber_config_t subscriber_config = {.consumer = DURABLE_CONSUMER,
                                                 .conninfo = con_db,
                                                 .publishers = publishers,
                                                 .handler = s_apply_nothing,
                                                 .log = bus->log,
                                                 .metrics = bus->metrics};
    bus->subscriber = bus_subscriber_new(&subscriber_config);
    zstr_free(&publishers);
    if (!bus->subscriber) {
        return -1;
    }
    bus_producer_t *producer = bus_producer_new(bus->stream);
    bench_order_t order;
    bench_order_init(&order, UINT32_MAX);
    bus_rc_t rc = bus_producer_call(producer, s_create_order, &order, &bus->committed);
    bus_producer_destroy(&producer);
    if (rc != BUS_OK || s_await_applied(bus->metrics, 1, DURABLE_CATCH_UP_TIMEOUT_MS) < 0) {
        (void) fprintf(stderr, "bench_bus_durable: the warm-up event was not applied (%s)\n",
                       bus_strerror(rc));
        return -1;
    }
    return 0;
}

static void
s_bus_stop(bench_bus_t *bus)
{
    bus_subscriber_destroy(&bus->subscriber);
    if (bus->con) {
        PQfinish(bus->con);
        bus->con = NULL;
    }
    bus_stream_destroy(&bus->stream);
    svc_metrics_destroy(&bus->metrics);
    svc_log_destroy(&bus->log);
}

//  --------------------------------------------------------------------------
//  Flags

static void
s_usage(void)
{
    (void) fprintf(stderr,
                   "usage: bench_bus_durable [--dsn CONNINFO] [--events N] [--seconds S]\n"
                   "       [--producers N] [--window N] [--baseline-seconds S] [--rounds N]\n"
                   "       (the DSN defaults to $TEST_PG_DSN)\n");
}

//  Parse `text` as an integer in [low, high] into *value; 0 or -1.
static int
s_parse_int(const char *text, long long low, long long high, long long *value)
{
    char *end = NULL;
    *value = strtoll(text, &end, 10);
    return end != text && *end == '\0' && *value >= low && *value <= high ? 0 : -1;
}

//  One numeric flag: where it goes and its bounds.
typedef struct {
    const char *name;
    long long low, high;
} s_flag_t;

static const s_flag_t s_flags[] = {{"--events", 1, 100000000},
                                   {"--seconds", 1, 3600},
                                   {"--producers", 1, DURABLE_PRODUCERS_MAX},
                                   {"--window", 1, DURABLE_WINDOW_MAX},
                                   {"--baseline-seconds", 1, 3600},
                                   {"--rounds", 1, DURABLE_ROUNDS_MAX}};

//  Store flag number `flag` (an index into s_flags) into `options`.
static void
s_flag_store(options_t *options, size_t flag, long long value)
{
    switch (flag) {
        case 0:
            options->events = value;
            break;
        case 1:
            options->seconds = (int) value;
            break;
        case 2:
            options->producers = (int) value;
            break;
        case 3:
            options->window = (int) value;
            break;
        case 4:
            options->baseline_seconds = (int) value;
            break;
        default:
            options->rounds = (int) value;
            break;
    }
}

static int
s_parse(int argc, char **argv, options_t *options)
{
    *options = (options_t){.dsn = getenv("TEST_PG_DSN"),
                           .events = DURABLE_EVENTS,
                           .seconds = DURABLE_SECONDS,
                           .producers = DURABLE_PRODUCERS,
                           .window = DURABLE_WINDOW,
                           .baseline_seconds = DURABLE_BASELINE_SECONDS,
                           .rounds = DURABLE_ROUNDS};
    if (argc % 2 == 0) {
        return -1;
    }
    for (int arg = 1; arg + 1 < argc; arg += 2) {
        if (streq(argv[arg], "--dsn")) {
            options->dsn = argv[arg + 1];
            continue;
        }
        size_t flag = 0;
        while (flag < sizeof s_flags / sizeof *s_flags && !streq(argv[arg], s_flags[flag].name)) {
            flag++;
        }
        long long value = 0;
        if (flag == sizeof s_flags / sizeof *s_flags ||
            s_parse_int(argv[arg + 1], s_flags[flag].low, s_flags[flag].high, &value)) {
            return -1;
        }
        s_flag_store(options, flag, value);
    }
    return options->dsn && *options->dsn ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Rounds and reporting

//  One round: both baselines, then the bus.
typedef struct {
    double single;    //  single-row tx/s
    double batched;   //  rows/s in 100-row transactions
    bus_result_t bus; //  the bus
} round_t;

static int
s_compare_double(const void *left, const void *right)
{
    double a = *(const double *) left;
    double b = *(const double *) right;
    return (a > b) - (a < b);
}

//  The median of `count` values taken at `offset` bytes into each round.
static double
s_median(const round_t *rounds, int count, size_t offset)
{
    double values[DURABLE_ROUNDS_MAX];
    for (int index = 0; index < count; index++) {
        memcpy(&values[index], (const char *) &rounds[index] + offset, sizeof(double));
    }
    qsort(values, (size_t) count, sizeof *values, s_compare_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

static int
s_round_baselines(const options_t *options, const char *base_db, zframe_t *envelope, round_t *round)
{
    int64_t single_tx = 0, batched_tx = 0;
    round->single = s_baseline(base_db, 1, options->baseline_seconds, envelope, &single_tx);
    round->batched = round->single < 0
                         ? -1
                         : s_baseline(base_db, DURABLE_BATCH_ROWS, options->baseline_seconds,
                                      envelope, &batched_tx);
    return round->single < 0 || round->batched < 0 ? -1 : 0;
}

static void
s_print_round(int index, const round_t *round)
{
    const bus_result_t *bus = &round->bus;
    printf("round %d: postgres single-row %.0f tx/s, %d-row %.0f rows/s | bus writer %.0f "
           "events/s, end to end %.0f events/s (%" PRId64 " events, %" PRId64 " failed), ratio "
           "%.3f\n",
           index + 1, round->single, DURABLE_BATCH_ROWS, round->batched, bus->writer_rate,
           bus->end_to_end_rate, bus->events, bus->failed,
           round->batched > 0 ? bus->end_to_end_rate / round->batched : 0);
    printf("         writer %.0f batches of %.1f units, %.2f ms BEGIN..COMMIT; subscriber %.0f "
           "transactions of %.1f events; checkpoint %" PRIu64 "\n",
           bus->batches, bus->avg_batch, bus->avg_commit_ms, bus->apply_batches,
           bus->avg_apply_batch, bus->checkpoint);
    (void) fflush(stdout);
}

//  Print the medians over the rounds and the JSON line.
static void
s_print_summary(const round_t *rounds, int count)
{
    double single = s_median(rounds, count, offsetof(round_t, single));
    double batched = s_median(rounds, count, offsetof(round_t, batched));
    double value = s_median(rounds, count, offsetof(round_t, bus.end_to_end_rate));
    double writer = s_median(rounds, count, offsetof(round_t, bus.writer_rate));
    double avg_batch = s_median(rounds, count, offsetof(round_t, bus.avg_batch));
    double commit_ms = s_median(rounds, count, offsetof(round_t, bus.avg_commit_ms));
    double apply_batch = s_median(rounds, count, offsetof(round_t, bus.avg_apply_batch));
    double ratio = batched > 0 ? value / batched : 0;
    printf("median of %d rounds: postgres single-row %.0f tx/s, %d-row %.0f rows/s; bus writer "
           "%.0f events/s, end to end %.0f events/s\n",
           count, single, DURABLE_BATCH_ROWS, batched, writer, value);
    printf("ratio: end to end %.3f of PostgreSQL's %d-row ceiling (goal >= 0.7); %.1f x its "
           "single-row rate\n",
           ratio, DURABLE_BATCH_ROWS, single > 0 ? value / single : 0);
    printf("{\"bench\": \"bus_durable\", \"value\": %.0f, \"unit\": \"events/s\", "
           "\"baseline\": %.0f, \"ratio\": %.3f, \"baseline_single\": %.0f, "
           "\"writer_rate\": %.0f, \"avg_batch\": %.1f, \"avg_commit_ms\": %.2f, "
           "\"avg_apply_batch\": %.1f, \"rounds\": %d}\n",
           value, batched, ratio, single, writer, avg_batch, commit_ms, apply_batch, count);
}

//  The rounds: baselines and bus, interleaved, so each ratio compares
//  figures taken under the same load. Returns 0, or -1.
static int
s_rounds(const options_t *options, const char *base_db, bench_bus_t *bus, round_t *rounds)
{
    bench_order_t order;
    bench_order_init(&order, 1);
    bench_order_stamp(&order, DURABLE_STREAM, 1, BUS_PARTITIONS_DEFAULT);
    zframe_t *envelope = bus_envelope_encode(&order.envelope);
    assert(envelope);
    printf("rows and events carry a %zu-byte OrderCreated envelope\n", zframe_size(envelope));
    int rc = 0;
    for (int index = 0; index < options->rounds && rc == 0; index++) {
        rc = s_round_baselines(options, base_db, envelope, &rounds[index]);
        if (rc == 0) {
            rc = s_bus_measure(options, bus, &rounds[index].bus);
            s_print_round(index, &rounds[index]);
        }
    }
    zframe_destroy(&envelope);
    return rc;
}

int
main(int argc, char **argv)
{
    options_t options;
    if (s_parse(argc, argv, &options)) {
        s_usage();
        return 2;
    }
    char *base_db = s_conninfo_with_dbname(options.dsn, DURABLE_DB_BASE);
    char *pub_db = s_conninfo_with_dbname(options.dsn, DURABLE_DB_PUB);
    char *con_db = s_conninfo_with_dbname(options.dsn, DURABLE_DB_CON);
    int rc = base_db && pub_db && con_db ? s_databases_reset(options.dsn, true) : -1;
    printf("bus_durable: %d rounds of: postgres single-row and %d-row transactions, %d s each; "
           "bus: at most %" PRId64 " units or %d s, %d producers x %d outstanding\n",
           options.rounds, DURABLE_BATCH_ROWS, options.baseline_seconds, options.events,
           options.seconds, options.producers, options.window);
    bench_bus_t bus = {0};
    round_t rounds[DURABLE_ROUNDS_MAX] = {0};
    if (rc == 0) {
        rc = s_baseline_prepare(base_db);
    }
    if (rc == 0) {
        rc = s_bus_start(&bus, pub_db, con_db);
    }
    if (rc == 0) {
        rc = s_rounds(&options, base_db, &bus, rounds);
    }
    s_bus_stop(&bus);
    if (rc == 0) {
        s_print_summary(rounds, options.rounds);
    }
    if (base_db && s_databases_reset(options.dsn, false)) {
        rc = -1;
    }
    zstr_free(&con_db);
    zstr_free(&pub_db);
    zstr_free(&base_db);
    return rc ? 1 : 0;
}
