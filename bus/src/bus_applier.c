/*  =========================================================================
    bus_applier - the transactions of a subscriber (private to bus)

    The shape of every transaction is the same: a work function runs on a
    connection inside an open transaction and returns 0 (keep), -1 (a
    handler failed: roll back), -2 (the database failed) or -3 (a handler
    said something outside the events is unavailable: roll back, no
    failure of the events). s_transact runs
    it either between our own BEGIN and COMMIT, or as a unit of the
    stream's writer. A work function may run more than once (the writer
    reruns a batch whose other unit failed), so it resets its result at
    the start and has no other effect outside the transaction.

    With writer_for_appends (and a stream) a batch runs on our own
    connection first; a handler that appends there is refused (or asks,
    bus_apply_to_writer), the batch is rolled back and run again as a unit
    of the writer.

    A batch locks and raises only the checkpoints of the partitions whose
    events it must check (owned, handled, known): a batch of ten events
    writes about ten checkpoint rows, not all 64 / n owned ones. The others
    stay where they were, which is still exact (every event of partition p
    at or below p's checkpoint is applied, none above it), but a restart
    replays from the lowest owned checkpoint (bus_applier_next) and skips
    what the locks show applied. To keep that replay short, a batch whose
    last seq is more than BUS_APPLIER_RAISE_LAG past any owned checkpoint
    (as this replica last knew it) locks and raises them all, as every
    batch did before; so does a batch of skipped events only (the
    checkpoints still show how far the stream was read) and one with an
    event of a partition outside [0, P) (parked once, never again). The
    known values are raised in memory after the advance; they only choose
    between the two, because every checkpoint an event is checked against
    was refreshed by this transaction's lock.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_applier.h"
#include "bus_envelope.h"
#include "bus_inbox.h"
#include "bus_statements.h"
#include "bus_stream.h"
#include "bus_subscriber.h"

//  Work inside a transaction: 0 keep, -1 roll back (handler), -2 database,
//  -3 roll back (unavailable, bus_apply_unavailable).
typedef int(s_work_fn)(bus_applier_t *self, void *work, PGconn *conn, bus_tx_t *tx);

struct bus_applier {
    char *consumer;                      //  consumer group (owned)
    char *conninfo;                      //  the consumer's database (owned)
    char *app_name;                      //  application_name of our connection (owned)
    PGconn *conn;                        //  NULL while unreachable (owned)
    bus_producer_t *producer;            //  to the stream's writer, NULL without one (owned)
    bool writer_for_appends;             //  own transaction first, the writer for appends
    bool commit_async;                   //  our connection commits with synchronous_commit off
    uint32_t replica_index;              //  i
    uint32_t replica_count;              //  n
    uint32_t partitions;                 //  P
    uint32_t *owned;                     //  partitions p with p % n == i, ascending (owned)
    size_t owned_count;                  //  how many
    char **types;                        //  handled type names, NULL = all (owned)
    bus_handler_fn *handler;             //  the consumer's handler, or NULL
    bus_batch_handler_fn *batch_handler; //  or its batch handler, or NULL
    void *handler_arg;                   //  its argument (borrowed)
    svc_log_t *log;                      //  borrowed
    bus_apply_t *apply;                  //  the context handed to the handler (owned)
    const Ev__V1__Envelope **handed;     //  a batch's events for the batch handler (owned array)
    size_t *handed_index;                //  their indexes in the batch (owned array)
    size_t handed_capacity;              //  slots of both
    uint32_t *touched;                   //  a batch's partitions to lock and raise (owned array)
    bool *marked;                        //  per partition: in `touched` (owned array)
    bus_statements_t *inbox;             //  lock and advance, prepared (owned)
    svc_counter_t *rerouted;             //  bus_apply_rerouted_total, or NULL (borrowed)
    bus_applier_more_fn *more;           //  how a batch grows (bus_apply_more), or NULL
    bus_applier_wait_fn *wait;           //  how its handler waits (bus_apply_wait), or NULL
    void *more_arg;                      //  its argument (borrowed)
    uint32_t *locked;                    //  a growing batch's locked partitions (owned array)
    size_t locked_count;                 //  how many
    bool *locked_marked;                 //  per partition: in `locked` (owned array)
};

//  How far (in seqs) a batch may run ahead of an owned partition's known
//  checkpoint before it raises them all (see above).
#define BUS_APPLIER_RAISE_LAG 1024

struct s_batch;

//  The handler's view of the transaction.
struct bus_apply {
    bus_applier_t *owner;                 //  the applier (borrowed)
    struct s_batch *batch;                //  the batch of a batch handler's call, or NULL
    bool grow_failed;                     //  growing it failed in the database (error in the
                                          //  batch's result): the batch fails with -2
    size_t more_handed;                   //  events handed by bus_apply_more in this call
    const Ev__V1__Envelope **more;        //  the last ones it handed (owned array)
    size_t more_capacity;                 //  slots of `more`
    PGconn *conn;                         //  the transaction's connection (borrowed)
    bus_tx_t *tx;                         //  the writer's unit, NULL without a stream
    bool append_failed;                   //  a bus_apply_append was refused
    bool writer_possible;                 //  outside the writer, the batch could run in it
    bool wants_writer;                    //  an append asked for it: rerun there
    bool unavailable;                     //  bus_apply_unavailable was called
    char error[BUS_SUBSCRIBER_ERROR_MAX]; //  why the handler failed, "" if it did not say
};

//  A unit of the writer wrapping a work function.
typedef struct {
    bus_applier_t *self; //  the applier
    s_work_fn *fn;       //  the work
    void *work;          //  its argument
    int rc;              //  what the work returned in its last run
} s_unit_t;

//  A batch of events for s_batch_work.
typedef struct s_batch {
    const char *stream;                //  the stream (borrowed)
    bus_checkpoints_t *checkpoints;    //  refreshed by the lock (borrowed)
    const bus_applier_event_t *events; //  the events (borrowed)
    size_t count;                      //  how many
    const char *park_error;            //  park instead of calling the handler, or NULL
    int attempts;                      //  attempts recorded with a park
    bus_applier_result_t *result;      //  what it did (borrowed)
    const uint32_t *partitions;        //  the partitions its first lock took
    size_t partition_count;            //  how many
    bool grown;                        //  bus_apply_more added events: the partitions locked
                                       //  (the applier's `locked`) end at its last seq
} s_batch_t;

//  A dead letter claimed for retry, for s_retry_work and s_retry_record_work.
typedef struct {
    bus_applier_retry_t *out;   //  what the caller sees (borrowed)
    zchunk_t *packed;           //  the stored envelope (owned)
    Ev__V1__Envelope *envelope; //  decoded, NULL if it does not decode (owned)
} s_retry_t;

//  --------------------------------------------------------------------------
//  Copy a message into a fixed buffer (cut to fit), and free it.

static void
s_take_error(char *buffer, size_t size, char **error_p)
{
    (void) snprintf(buffer, size, "%s", *error_p ? *error_p : "unknown database error");
    zstr_free(error_p);
}

//  The connection's last error without its trailing newline.
static void
s_conn_error(PGconn *conn, const char *what, char *buffer, size_t size)
{
    const char *message = PQerrorMessage(conn);
    int length = (int) strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    (void) snprintf(buffer, size, "%s: %.*s", what, length, message);
}

//  --------------------------------------------------------------------------
//  Create and destroy

bus_applier_t *
bus_applier_new(const bus_subscriber_config_t *config)
{
    assert(config);
    bus_applier_t *self = zmalloc(sizeof *self);
    self->consumer = strdup(config->consumer);
    self->conninfo = strdup(config->conninfo);
    self->app_name = zsys_sprintf("bus-subscriber-%s", config->consumer);
    self->replica_count = config->replica_count > 0 ? config->replica_count : 1;
    self->replica_index = config->replica_index;
    self->partitions = config->partitions > 0 ? config->partitions : BUS_PARTITIONS_DEFAULT;
    self->owned = zmalloc(self->partitions * sizeof *self->owned);
    self->touched = zmalloc(self->partitions * sizeof *self->touched);
    self->marked = zmalloc(self->partitions * sizeof *self->marked);
    self->locked = zmalloc(self->partitions * sizeof *self->locked);
    self->locked_marked = zmalloc(self->partitions * sizeof *self->locked_marked);
    self->inbox = bus_inbox_statements_new();
    for (uint32_t partition = 0; partition < self->partitions; partition++) {
        if (partition % self->replica_count == self->replica_index) {
            self->owned[self->owned_count++] = partition;
        }
    }
    if (config->types) {
        size_t count = 0;
        while (config->types[count]) {
            count++;
        }
        self->types = zmalloc((count + 1) * sizeof *self->types);
        for (size_t index = 0; index < count; index++) {
            self->types[index] = strdup(config->types[index]);
        }
    }
    self->commit_async = config->commit_async;
    self->handler = config->handler;
    self->batch_handler = config->batch_handler;
    self->handler_arg = config->handler_arg;
    self->log = config->log;
    self->apply = zmalloc(sizeof *self->apply);
    self->apply->owner = self;
    if (config->stream) {
        self->producer = bus_producer_new(config->stream);
        self->writer_for_appends = config->writer_for_appends;
        self->apply->writer_possible = config->writer_for_appends;
    }
    if (self->writer_for_appends && config->metrics) {
        self->rerouted = svc_metrics_counter(
            config->metrics, "bus_apply_rerouted_total",
            "Batches run again in the writer's transaction (they append, or asked to)", "consumer",
            self->consumer, NULL);
    }
    return self;
}

void
bus_applier_destroy(bus_applier_t **self_p)
{
    assert(self_p);
    bus_applier_t *self = *self_p;
    if (!self) {
        return;
    }
    bus_producer_destroy(&self->producer);
    freen(self->handed_index);
    freen(self->handed);
    free((void *) self->apply->more);
    freen(self->apply);
    for (size_t index = 0; self->types && self->types[index]; index++) {
        zstr_free(&self->types[index]);
    }
    freen(self->types);
    bus_statements_destroy(&self->inbox);
    freen(self->locked_marked);
    freen(self->locked);
    freen(self->marked);
    freen(self->touched);
    freen(self->owned);
    bus_applier_disconnect(self);
    zstr_free(&self->app_name);
    zstr_free(&self->conninfo);
    zstr_free(&self->consumer);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The connection

//  Run a statement without parameters; 0 if its status is `expected_status`.
static int
s_exec(PGconn *conn, const char *sql, const char *expected_status)
{
    PGresult *result = PQexec(conn, sql);
    int rc =
        PQresultStatus(result) == PGRES_COMMAND_OK && streq(PQcmdStatus(result), expected_status)
            ? 0
            : -1;
    PQclear(result);
    return rc;
}

int
bus_applier_connect(bus_applier_t *self, char **error_out)
{
    assert(self);
    assert(error_out);
    bus_applier_disconnect(self);
    PGconn *conn = bus_db_connect(self->conninfo, self->app_name, self->log, error_out);
    if (!conn) {
        return -1;
    }
    if (bus_migrate(conn, "bus", bus_migrations, error_out) < 0) {
        PQfinish(conn);
        return -1;
    }
    if (self->commit_async && s_exec(conn, "SET synchronous_commit TO off", "SET") != 0) {
        *error_out = strdup(PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    self->conn = conn;
    return 0;
}

void
bus_applier_disconnect(bus_applier_t *self)
{
    assert(self);
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
}

bool
bus_applier_connected(bus_applier_t *self)
{
    assert(self);
    return self->conn != NULL;
}

//  --------------------------------------------------------------------------
//  Checkpoints

bus_applier_rc_t
bus_applier_load(bus_applier_t *self, const char *stream, bus_checkpoints_t **out, char **error_out)
{
    assert(self);
    assert(stream);
    assert(out);
    assert(error_out);
    *error_out = NULL;
    if (!self->conn) {
        *error_out = strdup("not connected");
        return BUS_APPLIER_DB;
    }
    bus_rc_t rc =
        bus_inbox_load(self->conn, self->consumer, stream, self->partitions, out, error_out);
    return rc == BUS_OK ? BUS_APPLIER_OK : BUS_APPLIER_DB;
}

uint64_t
bus_applier_next(bus_applier_t *self, const bus_checkpoints_t *checkpoints)
{
    assert(self);
    assert(checkpoints);
    assert(checkpoints->partitions == self->partitions);
    uint64_t lowest = UINT64_MAX;
    for (size_t index = 0; index < self->owned_count; index++) {
        uint64_t last_seq = checkpoints->last_seq[self->owned[index]];
        lowest = last_seq < lowest ? last_seq : lowest;
    }
    //  A replica that owns no partition (n > P) processes the stream from
    //  its end: nothing is ever applied, and `next` only follows the tail.
    return lowest == UINT64_MAX ? 1 : lowest + 1;
}

//  --------------------------------------------------------------------------
//  Run a work function as one transaction. Returns OK, FAILED or DB, with
//  the reason of a transaction-level failure in `error`.

static int
s_unit_run(bus_tx_t *tx, void *arg)
{
    s_unit_t *unit = arg;
    unit->rc = unit->fn(unit->self, unit->work, bus_tx_conn(tx), tx);
    return unit->rc == 0 ? 0 : -1;
}

//  What the writer's completion `rc` of a unit means for its work.
static bus_applier_rc_t
s_unit_outcome(const s_unit_t *unit, bus_rc_t rc, char *error, size_t size)
{
    if (rc == BUS_OK) {
        return BUS_APPLIER_OK;
    }
    if (rc == BUS_HANDLER_FAILED && unit->rc == -3) {
        return BUS_APPLIER_UNAVAILABLE;
    }
    if ((rc == BUS_HANDLER_FAILED || rc == BUS_MALFORMED || rc == BUS_TOO_LARGE) &&
        unit->rc != -2) {
        if (!*error) {
            (void) snprintf(error, size, "the writer rolled the unit back: %s", bus_strerror(rc));
        }
        return BUS_APPLIER_FAILED;
    }
    if (!*error) {
        (void) snprintf(error, size, "the stream's writer: %s", bus_strerror(rc));
    }
    return BUS_APPLIER_DB;
}

static bus_applier_rc_t
s_transact_unit(bus_applier_t *self, s_work_fn *fn, void *work, char *error, size_t size)
{
    s_unit_t unit = {.self = self, .fn = fn, .work = work, .rc = -2};
    bus_rc_t rc = bus_producer_call(self->producer, s_unit_run, &unit, NULL);
    return s_unit_outcome(&unit, rc, error, size);
}

static bus_applier_rc_t
s_transact(bus_applier_t *self, s_work_fn *fn, void *work, char *error, size_t size)
{
    if (!self->conn) {
        (void) snprintf(error, size, "not connected");
        return BUS_APPLIER_DB;
    }
    if (self->producer && !self->writer_for_appends) {
        return s_transact_unit(self, fn, work, error, size);
    }
    PGconn *conn = self->conn;
    if (s_exec(conn, "BEGIN", "BEGIN")) {
        s_conn_error(conn, "BEGIN", error, size);
        return BUS_APPLIER_DB;
    }
    self->apply->wants_writer = false;
    int rc = fn(self, work, conn, NULL);
    if (rc == -1 && self->apply->wants_writer) {
        //  The handler appends: this batch belongs in the writer's
        //  transaction. Not a failure: roll back and run it there.
        if (s_exec(conn, "ROLLBACK", "ROLLBACK")) {
            s_conn_error(conn, "ROLLBACK", error, size);
            return BUS_APPLIER_DB;
        }
        error[0] = '\0';
        if (self->rerouted) {
            svc_counter_inc(self->rerouted);
        }
        return s_transact_unit(self, fn, work, error, size);
    }
    //  An aborted transaction "commits" as ROLLBACK: the tag says which.
    if (rc == 0 && s_exec(conn, "COMMIT", "COMMIT") == 0) {
        return BUS_APPLIER_OK;
    }
    bool lost = PQstatus(conn) != CONNECTION_OK;
    if (rc == 0) {
        //  A deferred constraint, or the connection broke during COMMIT
        //  (then the outcome is unknown: the caller reloads checkpoints).
        s_conn_error(conn, "COMMIT", error, size);
        return lost ? BUS_APPLIER_DB : BUS_APPLIER_FAILED;
    }
    if (lost || s_exec(conn, "ROLLBACK", "ROLLBACK")) {
        if (!*error) {
            s_conn_error(conn, "ROLLBACK", error, size);
        }
        return BUS_APPLIER_DB;
    }
    return rc == -1 ? BUS_APPLIER_FAILED : rc == -3 ? BUS_APPLIER_UNAVAILABLE : BUS_APPLIER_DB;
}

//  --------------------------------------------------------------------------
//  True if this replica's consumer handles events of `type`.

static bool
s_handles(bus_applier_t *self, const char *type)
{
    if (!self->types) {
        return true;
    }
    for (size_t index = 0; self->types[index]; index++) {
        if (streq(self->types[index], type)) {
            return true;
        }
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Park one event. Returns 0 or -2.

static int
s_park(bus_applier_t *self,
       PGconn *conn,
       const s_batch_t *batch,
       const bus_applier_event_t *event,
       const char *reason,
       int attempts)
{
    const Ev__V1__Envelope *envelope = event->envelope;
    svc_uuid_t message_id;
    memcpy(message_id.bytes, envelope->message_id.data, sizeof message_id.bytes);
    char message_id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&message_id, message_id_text);
    char *error = NULL;
    bus_rc_t rc =
        bus_inbox_park(conn, self->consumer, batch->stream, envelope->seq, envelope->partition,
                       envelope->type, message_id_text, bus_envelope_packed(envelope),
                       bus_envelope_packed_size(envelope), reason, attempts, &error);
    if (rc != BUS_OK) {
        s_take_error(batch->result->error, sizeof batch->result->error, &error);
        return -2;
    }
    batch->result->parked++;
    batch->result->parked_seq = envelope->seq;
    (void) snprintf(batch->result->error, sizeof batch->result->error, "%s", reason);
    return 0;
}

//  --------------------------------------------------------------------------
//  Hand the transaction to the handler, before a call.

static bus_apply_t *
s_apply_open(bus_applier_t *self, PGconn *conn, bus_tx_t *tx)
{
    bus_apply_t *apply = self->apply;
    apply->conn = conn;
    apply->tx = tx;
    apply->append_failed = false;
    apply->unavailable = false;
    apply->error[0] = '\0';
    apply->batch = NULL;
    apply->grow_failed = false;
    apply->more_handed = 0;
    return apply;
}

//  After a call that handed `count` events and returned `rc`: did it
//  apply them? `index` is the event to blame for a failure, SIZE_MAX when
//  the call cannot tell which. Returns 0, -1 (handler failed), -2 or -3
//  (unavailable: no event failed).

static int
s_apply_close(
    bus_applier_t *self, PGconn *conn, s_batch_t *batch, int rc, size_t count, size_t index)
{
    bus_apply_t *apply = self->apply;
    apply->conn = NULL;
    apply->tx = NULL;
    bus_applier_result_t *result = batch->result;
    if (PQstatus(conn) != CONNECTION_OK) {
        s_conn_error(conn, "connection lost in the handler", result->error, sizeof result->error);
        return -2;
    }
    bool aborted = PQtransactionStatus(conn) != PQTRANS_INTRANS;
    if (rc == 0 && !aborted && !apply->append_failed && !apply->unavailable) {
        result->applied += count;
        return 0;
    }
    if (apply->unavailable) {
        (void) snprintf(result->error, sizeof result->error, "%s", apply->error);
        return -3;
    }
    result->failed_index = index;
    if (apply->error[0]) {
        (void) snprintf(result->error, sizeof result->error, "%s", apply->error);
    } else if (aborted) {
        s_conn_error(conn, "the handler's SQL failed", result->error, sizeof result->error);
    } else if (apply->append_failed) {
        (void) snprintf(result->error, sizeof result->error, "an appended event was refused");
    } else {
        (void) snprintf(result->error, sizeof result->error,
                        "the handler failed without saying why");
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Call the handler for one event (the batch handler with a batch of
//  one). Returns 0, -1 or -2.

static int
s_call_handler(bus_applier_t *self, PGconn *conn, bus_tx_t *tx, s_batch_t *batch, size_t index)
{
    bus_apply_t *apply = s_apply_open(self, conn, tx);
    const Ev__V1__Envelope *event = batch->events[index].envelope;
    int rc = 0;
    if (self->handler) {
        rc = self->handler(apply, event, self->handler_arg);
    } else {
        assert(self->batch_handler); //  exactly one of the two is set
        rc = self->batch_handler(apply, &event, 1, self->handler_arg);
    }
    return s_apply_close(self, conn, batch, rc, 1, index);
}

//  Call the batch handler once for the events collected in self->handed.
//  A failure names its event only when there was one. Returns 0, -1 or -2.

static int
s_call_batch_handler(
    bus_applier_t *self, PGconn *conn, bus_tx_t *tx, s_batch_t *batch, size_t count)
{
    assert(self->batch_handler);
    bus_apply_t *apply = s_apply_open(self, conn, tx);
    apply->batch = batch;
    int rc = self->batch_handler(apply, self->handed, count, self->handler_arg);
    apply->batch = NULL;
    if (apply->grow_failed) {
        apply->conn = NULL;
        apply->tx = NULL;
        return -2;
    }
    bool grown = batch->grown;
    return s_apply_close(self, conn, batch, rc, count + apply->more_handed,
                         count == 1 && !grown ? self->handed_index[0] : SIZE_MAX);
}

//  --------------------------------------------------------------------------
//  One event of a batch: skip or park it (0), or say it goes to the
//  handler (1). Returns -2 when parking failed.

static int
s_batch_event(bus_applier_t *self, PGconn *conn, s_batch_t *batch, size_t index)
{
    const bus_applier_event_t *event = &batch->events[index];
    const Ev__V1__Envelope *envelope = event->envelope;
    uint32_t partition = envelope->partition;
    bus_applier_result_t *result = batch->result;
    if (partition % self->replica_count != self->replica_index) {
        result->skipped++;
        return 0;
    }
    if (partition >= self->partitions) {
        //  The publisher counts partitions differently: nobody can place
        //  this event, so it waits as a dead letter instead of vanishing.
        char reason[128];
        (void) snprintf(reason, sizeof reason,
                        "partition %" PRIu32 " is outside [0, %" PRIu32 "): publisher and consumer"
                        " disagree on the partition count",
                        partition, self->partitions);
        return s_park(self, conn, batch, event, reason, 0);
    }
    if (event->unknown || !s_handles(self, envelope->type)) {
        result->skipped++;
        return 0;
    }
    if (envelope->seq <= batch->checkpoints->last_seq[partition]) {
        result->duplicates++; //  another replica applied it (a rescale)
        return 0;
    }
    if (batch->park_error) {
        return s_park(self, conn, batch, event, batch->park_error, batch->attempts);
    }
    return 1;
}

//  Room for `count` events in self->handed.
static void
s_handed_reserve(bus_applier_t *self, size_t count)
{
    if (count > self->handed_capacity) {
        self->handed = realloc(self->handed, count * sizeof(const Ev__V1__Envelope *));
        self->handed_index = realloc(self->handed_index, count * sizeof *self->handed_index);
        assert(self->handed && self->handed_index);
        self->handed_capacity = count;
    }
}

//  --------------------------------------------------------------------------
//  The batch: lock (and raise: one statement, unless rows are new), each
//  event, advance (if the lock did not raise).

//  The partitions whose checkpoints the batch locks and raises: those of
//  its events that s_batch_event checks against a checkpoint, or every
//  owned one when one lags too far (see the top). Sets *count_out; the
//  list is self->owned or self->touched.

static const uint32_t *
s_batch_partitions(bus_applier_t *self, const s_batch_t *batch, size_t *count_out)
{
    uint64_t last_seq = batch->events[batch->count - 1].envelope->seq;
    for (size_t index = 0; index < self->owned_count; index++) {
        if (batch->checkpoints->last_seq[self->owned[index]] + BUS_APPLIER_RAISE_LAG < last_seq) {
            *count_out = self->owned_count;
            return self->owned;
        }
    }
    for (size_t index = 0; index < batch->count; index++) {
        if (batch->events[index].envelope->partition >= self->partitions) {
            //  Parked below for every replica: all raise past it, so that no
            //  replay parks it again.
            *count_out = self->owned_count;
            return self->owned;
        }
    }
    size_t count = 0;
    for (size_t index = 0; index < batch->count; index++) {
        const bus_applier_event_t *event = &batch->events[index];
        uint32_t partition = event->envelope->partition;
        if (partition < self->partitions &&
            partition % self->replica_count == self->replica_index && !event->unknown &&
            s_handles(self, event->envelope->type) && !self->marked[partition]) {
            self->marked[partition] = true;
            self->touched[count++] = partition;
        }
    }
    for (size_t index = 0; index < count; index++) {
        self->marked[self->touched[index]] = false;
    }
    if (count == 0) {
        //  Only skipped events: they move every owned checkpoint, so the
        //  checkpoints still say how far the consumer has read the stream.
        *count_out = self->owned_count;
        return self->owned;
    }
    *count_out = count;
    return self->touched;
}

static int
s_batch_work(bus_applier_t *self, void *work, PGconn *conn, bus_tx_t *tx)
{
    s_batch_t *batch = work;
    bus_applier_result_t *result = batch->result;
    //  A batch that grew and runs again (in the writer) is a larger batch.
    *result = (bus_applier_result_t){.failed_index = SIZE_MAX, .grown = result->grown};
    batch->grown = false;
    char *error = NULL;
    size_t partition_count = 0;
    const uint32_t *partitions = s_batch_partitions(self, batch, &partition_count);
    uint64_t last_seq = batch->events[batch->count - 1].envelope->seq;
    bool raised = false;
    if (partition_count > 0 &&
        bus_inbox_lock_raise(conn, self->inbox, self->consumer, batch->stream, partitions,
                             partition_count, last_seq, batch->checkpoints, &raised,
                             &error) != BUS_OK) {
        s_take_error(result->error, sizeof result->error, &error);
        return -2;
    }
    batch->partitions = partitions;
    batch->partition_count = partition_count;
    //  The handler is called per event as it comes; the batch handler
    //  once, after the loop, with the events that reach it, in seq order.
    s_handed_reserve(self, batch->count);
    size_t handed = 0;
    for (size_t index = 0; index < batch->count; index++) {
        int rc = s_batch_event(self, conn, batch, index);
        if (rc == 1 && self->batch_handler) {
            self->handed[handed] = batch->events[index].envelope;
            self->handed_index[handed++] = index;
            rc = 0;
        } else if (rc == 1) {
            rc = s_call_handler(self, conn, tx, batch, index);
        }
        if (rc) {
            return rc;
        }
    }
    if (handed > 0) {
        int rc = s_call_batch_handler(self, conn, tx, batch, handed);
        if (rc) {
            return rc;
        }
    }
    if (batch->grown) {
        //  It grew (bus_apply_more): every partition it locked moves to its
        //  new last seq.
        last_seq = batch->events[batch->count - 1].envelope->seq;
        partitions = self->locked;
        partition_count = self->locked_count;
        raised = false;
        for (size_t index = 0; index < self->locked_count; index++) {
            self->locked_marked[self->locked[index]] = false;
        }
        batch->grown = false;
    }
    if (partition_count > 0 && !raised &&
        bus_inbox_advance(conn, self->inbox, self->consumer, batch->stream, partitions,
                          partition_count, last_seq, &error) != BUS_OK) {
        s_take_error(result->error, sizeof result->error, &error);
        return -2;
    }
    for (size_t index = 0; index < partition_count; index++) {
        uint64_t *known = &batch->checkpoints->last_seq[partitions[index]];
        *known = *known > last_seq ? *known : last_seq;
    }
    return 0;
}

bus_applier_rc_t
bus_applier_apply(bus_applier_t *self,
                  const char *stream,
                  bus_checkpoints_t *checkpoints,
                  const bus_applier_event_t *events,
                  size_t count,
                  const char *park_error,
                  int attempts,
                  bus_applier_result_t *result)
{
    assert(self);
    assert(stream);
    assert(checkpoints);
    assert(events);
    assert(count >= 1);
    assert(result);
    s_batch_t batch = {.stream = stream,
                       .checkpoints = checkpoints,
                       .events = events,
                       .count = count,
                       .park_error = park_error,
                       .attempts = attempts,
                       .result = result};
    *result = (bus_applier_result_t){.failed_index = SIZE_MAX};
    bus_applier_rc_t rc =
        s_transact(self, s_batch_work, &batch, result->error, sizeof result->error);
    if (rc == BUS_APPLIER_OK && !result->parked) {
        result->error[0] = '\0'; //  the error of a park says why it was parked
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Several streams' batches at once through the writer.

static int
s_compare_batches(const void *one, const void *other)
{
    const bus_applier_batch_t *const *first = one;
    const bus_applier_batch_t *const *second = other;
    return strcmp((*first)->stream, (*second)->stream);
}

//  Submit every batch's unit, in stream name order, then take the
//  completions (in any order: the tag is the unit). A unit that cannot be
//  submitted, or whose completion cannot be received, is a writer failure.
static void
s_apply_each_unit(bus_applier_t *self, bus_applier_batch_t **sorted, size_t count)
{
    s_batch_t *works = zmalloc(count * sizeof *works);
    s_unit_t *units = zmalloc(count * sizeof *units);
    bus_rc_t *rcs = zmalloc(count * sizeof *rcs);
    size_t submitted = 0;
    for (size_t index = 0; index < count; index++) {
        bus_applier_batch_t *batch = sorted[index];
        batch->result = (bus_applier_result_t){.failed_index = SIZE_MAX};
        works[index] = (s_batch_t){.stream = batch->stream,
                                   .checkpoints = batch->checkpoints,
                                   .events = batch->events,
                                   .count = batch->count,
                                   .result = &batch->result};
        units[index] =
            (s_unit_t){.self = self, .fn = s_batch_work, .work = &works[index], .rc = -2};
        rcs[index] = BUS_CLOSED;
        if (submitted == index &&
            bus_producer_submit(self->producer, s_unit_run, &units[index], &units[index]) == 0) {
            submitted++;
        }
    }
    for (size_t received = 0; received < submitted; received++) {
        bus_completion_t completion;
        if (bus_producer_recv(self->producer, &completion) != 0) {
            break; //  interrupted: the rest stay BUS_CLOSED
        }
        size_t index = (size_t) ((s_unit_t *) completion.tag - units);
        assert(index < submitted); //  nothing else may be outstanding
        rcs[index] = completion.rc;
    }
    for (size_t index = 0; index < count; index++) {
        bus_applier_batch_t *batch = sorted[index];
        batch->rc = s_unit_outcome(&units[index], rcs[index], batch->result.error,
                                   sizeof batch->result.error);
    }
    freen(rcs);
    freen(units);
    freen(works);
}

void
bus_applier_apply_each(bus_applier_t *self, bus_applier_batch_t *batches, size_t count)
{
    assert(self);
    assert(batches);
    assert(count >= 1);
    if (!self->producer || self->writer_for_appends || !self->conn || count == 1) {
        for (size_t index = 0; index < count; index++) {
            bus_applier_batch_t *batch = &batches[index];
            batch->rc = bus_applier_apply(self, batch->stream, batch->checkpoints, batch->events,
                                          batch->count, NULL, 0, &batch->result);
        }
        return;
    }
    bus_applier_batch_t **sorted = zmalloc(count * sizeof(bus_applier_batch_t *));
    for (size_t index = 0; index < count; index++) {
        assert(batches[index].count >= 1);
        sorted[index] = &batches[index];
    }
    qsort(sorted, count, sizeof(bus_applier_batch_t *), s_compare_batches);
    s_apply_each_unit(self, sorted, count);
    for (size_t index = 0; index < count; index++) {
        if (batches[index].rc == BUS_APPLIER_OK && !batches[index].result.parked) {
            batches[index].result.error[0] = '\0';
        }
    }
    freen(sorted);
}

//  --------------------------------------------------------------------------
//  Base64 (RFC 4648, padded, no line breaks) as PostgreSQL's encode() and
//  bus_inbox_claim_retries write it. Returns the bytes, or NULL if `text`
//  is not such base64. Caller owns return value.

static int
s_base64_value(char c)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *found = c ? strchr(alphabet, c) : NULL;
    return found ? (int) (found - alphabet) : -1;
}

static zchunk_t *
s_base64_decode(const char *text)
{
    size_t length = strlen(text);
    if (length % 4 != 0 || length / 4 * 3 > BUS_FRAME_MAX) {
        return NULL;
    }
    size_t padding = 0;
    while (padding < 2 && padding < length && text[length - 1 - padding] == '=') {
        padding++;
    }
    zchunk_t *chunk = zchunk_new(NULL, length / 4 * 3);
    for (size_t index = 0; index < length; index += 4) {
        uint32_t group = 0;
        for (size_t offset = 0; offset < 4; offset++) {
            bool pad = index + offset >= length - padding;
            int value = pad ? 0 : s_base64_value(text[index + offset]);
            if (value < 0) {
                zchunk_destroy(&chunk);
                return NULL;
            }
            group = group << 6 | (uint32_t) value;
        }
        byte bytes[3] = {(byte) (group >> 16), (byte) (group >> 8), (byte) group};
        size_t used = index + 4 == length ? 3 - padding : 3;
        zchunk_append(chunk, bytes, used);
    }
    return chunk;
}

//  --------------------------------------------------------------------------
//  Dead-letter retry, step 1: claim one, re-apply it, delete it.

static void
s_retry_reset(s_retry_t *retry)
{
    bus_envelope_destroy(&retry->envelope);
    zchunk_destroy(&retry->packed);
}

//  Read the claimed item into `retry`; -1 if it is not what the claim gives.
static int
s_retry_read(s_retry_t *retry, json_t *item)
{
    bus_applier_retry_t *out = retry->out;
    const char *stream = json_string_value(json_object_get(item, "stream"));
    const char *packed = json_string_value(json_object_get(item, "envelope"));
    if (!json_is_integer(json_object_get(item, "id")) || !stream || !packed ||
        !json_is_integer(json_object_get(item, "seq"))) {
        return -1;
    }
    out->claimed = true;
    out->id = json_integer_value(json_object_get(item, "id"));
    out->seq = (uint64_t) json_integer_value(json_object_get(item, "seq"));
    (void) snprintf(out->stream, sizeof out->stream, "%s", stream);
    retry->packed = s_base64_decode(packed);
    if (retry->packed) {
        Ev__V1__Envelope *envelope = NULL;
        bus_rc_t rc =
            bus_envelope_decode(zchunk_data(retry->packed), zchunk_size(retry->packed), &envelope);
        if (rc == BUS_OK) {
            retry->envelope = envelope;
        } else {
            bus_envelope_destroy(&envelope);
        }
    }
    return 0;
}

static int
s_retry_work(bus_applier_t *self, void *work, PGconn *conn, bus_tx_t *tx)
{
    s_retry_t *retry = work;
    bus_applier_retry_t *out = retry->out;
    s_retry_reset(retry);
    *out = (bus_applier_retry_t){.claimed = false};
    json_t *items = NULL;
    char *error = NULL;
    if (bus_inbox_claim_retries(conn, self->consumer, 1, &items, &error) != BUS_OK) {
        s_take_error(out->error, sizeof out->error, &error);
        return -2;
    }
    int rc = 0;
    if (json_array_size(items) == 1 && s_retry_read(retry, json_array_get(items, 0)) == 0) {
        if (!retry->envelope) {
            (void) snprintf(out->error, sizeof out->error, "the stored envelope does not decode");
            rc = -1;
        } else {
            s_batch_t batch = {.stream = out->stream};
            bus_applier_result_t result = {.failed_index = SIZE_MAX};
            batch.result = &result;
            batch.events = &(bus_applier_event_t){.envelope = retry->envelope};
            rc = s_call_handler(self, conn, tx, &batch, 0);
            (void) snprintf(out->error, sizeof out->error, "%s", result.error);
        }
        if (rc == 0 && bus_inbox_discard(conn, out->id, &error) != BUS_OK) {
            s_take_error(out->error, sizeof out->error, &error);
            rc = -2;
        }
    }
    json_decref(items);
    out->applied = out->claimed && rc == 0;
    return rc;
}

//  Dead-letter retry, step 2 (the handler failed): record the failure and
//  clear the retry mark, by parking the event again.
static int
s_retry_record_work(bus_applier_t *self, void *work, PGconn *conn, bus_tx_t *tx)
{
    (void) tx;
    s_retry_t *retry = work;
    bus_applier_retry_t *out = retry->out;
    const Ev__V1__Envelope *envelope = retry->envelope;
    char message_id_text[SVC_UUID_TEXT_SIZE] = "00000000-0000-0000-0000-000000000000";
    if (envelope) {
        svc_uuid_t message_id;
        memcpy(message_id.bytes, envelope->message_id.data, sizeof message_id.bytes);
        svc_uuid_format(&message_id, message_id_text);
    }
    //  Parking again keeps the row (type, id and envelope as first parked)
    //  and updates error, attempts and the mark.
    char *error = NULL;
    bus_rc_t rc = bus_inbox_park(
        conn, self->consumer, out->stream, out->seq, envelope ? envelope->partition : 0,
        envelope ? envelope->type : "unknown", message_id_text,
        retry->packed ? zchunk_data(retry->packed) : (const void *) "",
        retry->packed ? zchunk_size(retry->packed) : 0, out->error, 1, &error);
    if (rc != BUS_OK) {
        zstr_free(&error);
        return -2;
    }
    return 0;
}

bus_applier_rc_t
bus_applier_retry(bus_applier_t *self, bus_applier_retry_t *out)
{
    assert(self);
    assert(out);
    s_retry_t retry = {.out = out};
    *out = (bus_applier_retry_t){.claimed = false};
    bus_applier_rc_t rc = s_transact(self, s_retry_work, &retry, out->error, sizeof out->error);
    if (rc == BUS_APPLIER_UNAVAILABLE) {
        //  Rolled back with its mark: tried again at the next poll.
        out->applied = false;
    } else if (rc == BUS_APPLIER_FAILED && out->claimed) {
        char ignored[BUS_SUBSCRIBER_ERROR_MAX] = "";
        out->applied = false;
        rc = s_transact(self, s_retry_record_work, &retry, ignored, sizeof ignored);
    } else if (rc == BUS_APPLIER_FAILED) {
        rc = BUS_APPLIER_DB; //  a refused COMMIT of a claim without a handler
    }
    s_retry_reset(&retry);
    return rc;
}

//  --------------------------------------------------------------------------
//  The handler's API (bus_subscriber.h)

void
bus_applier_set_more(bus_applier_t *self,
                     bus_applier_more_fn *fn,
                     bus_applier_wait_fn *wait,
                     void *arg)
{
    assert(self);
    self->more = fn;
    self->wait = wait;
    self->more_arg = arg;
}

int
bus_apply_wait(bus_apply_t *apply, void *socket, int timeout_ms)
{
    assert(apply);
    assert(socket);
    bus_applier_t *self = apply->owner;
    if (!apply->batch || !self->wait || apply->tx || apply->grow_failed) {
        zmq_pollitem_t item = {socket, 0, ZMQ_POLLIN, 0};
        return zmq_poll(&item, 1, timeout_ms) > 0 && (item.revents & ZMQ_POLLIN) ? 1 : 0;
    }
    return self->wait(self->more_arg, socket, timeout_ms);
}

//  The batch takes what followed it (see bus_subscriber.h): lock the
//  partitions of its new events that it had not locked (the lock reads
//  their checkpoints; those it locked already stay as they were read),
//  check each new event as the batch's own were checked, and at the end
//  (s_batch_work) raise every partition it locked to its last seq.
size_t
bus_apply_more(bus_apply_t *apply, const Ev__V1__Envelope *const **events_out)
{
    assert(apply);
    assert(events_out);
    *events_out = NULL;
    bus_applier_t *self = apply->owner;
    s_batch_t *batch = apply->batch;
    if (!batch || !self->more || apply->tx || apply->grow_failed || batch->park_error) {
        return 0; //  not a batch handler on our own connection, or nothing to grow
    }
    const bus_applier_event_t *events = NULL;
    size_t total = self->more(self->more_arg, batch->stream, batch->count, &events);
    batch->events = events;
    if (total <= batch->count) {
        return 0;
    }
    PGconn *conn = apply->conn;
    if (!batch->grown) {
        //  The first growth: the partitions the batch locked so far (marks
        //  a failed batch left are cleared first).
        for (size_t index = 0; index < self->locked_count; index++) {
            self->locked_marked[self->locked[index]] = false;
        }
        memcpy(self->locked, batch->partitions, batch->partition_count * sizeof *self->locked);
        self->locked_count = batch->partition_count;
        for (size_t index = 0; index < self->locked_count; index++) {
            self->locked_marked[self->locked[index]] = true;
        }
        batch->grown = true;
    }
    //  Lock (and raise) the partitions of new events it applies that are
    //  not locked yet. An event whose partition is outside [0, P) stops
    //  the growth: a batch that starts with it parks it (s_batch_event).
    size_t fresh = 0;
    for (size_t index = batch->count; index < total; index++) {
        const bus_applier_event_t *event = &events[index];
        uint32_t partition = event->envelope->partition;
        if (partition >= self->partitions) {
            total = index;
            break;
        }
        if (partition % self->replica_count == self->replica_index && !event->unknown &&
            s_handles(self, event->envelope->type) && !self->locked_marked[partition]) {
            self->locked_marked[partition] = true;
            self->touched[fresh++] = partition;
        }
    }
    if (total <= batch->count) {
        return 0;
    }
    uint64_t last_seq = events[total - 1].envelope->seq;
    char *error = NULL;
    bool raised = false;
    if (fresh > 0 &&
        bus_inbox_lock_raise(conn, self->inbox, self->consumer, batch->stream, self->touched, fresh,
                             last_seq, batch->checkpoints, &raised, &error) != BUS_OK) {
        s_take_error(batch->result->error, sizeof batch->result->error, &error);
        apply->grow_failed = true;
        return 0;
    }
    memcpy(self->locked + self->locked_count, self->touched, fresh * sizeof *self->locked);
    self->locked_count += fresh;
    size_t from = batch->count;
    batch->result->grown += total - from;
    batch->count = total;
    if (total - from > apply->more_capacity) {
        apply->more = realloc((void *) apply->more, (total - from) * sizeof *apply->more);
        assert(apply->more);
        apply->more_capacity = total - from;
    }
    size_t handed = 0;
    for (size_t index = from; index < total; index++) {
        int rc = s_batch_event(self, conn, batch, index);
        if (rc == 1) {
            apply->more[handed++] = events[index].envelope;
        } else if (rc != 0) {
            apply->grow_failed = true; //  parking failed: the database
            return 0;
        }
    }
    apply->more_handed += handed;
    *events_out = apply->more;
    return handed;
}

PGconn *
bus_apply_conn(bus_apply_t *apply)
{
    assert(apply);
    assert(apply->conn); //  only inside a handler
    return apply->conn;
}

int
bus_apply_to_writer(bus_apply_t *apply)
{
    assert(apply);
    assert(apply->conn); //  only inside a handler
    if (apply->tx || !apply->writer_possible) {
        return -1;
    }
    apply->wants_writer = true;
    return 0;
}

bool
bus_apply_writing(bus_apply_t *apply)
{
    assert(apply);
    assert(apply->conn); //  only inside a handler
    return apply->tx != NULL;
}

int
bus_apply_append(bus_apply_t *apply,
                 Ev__V1__Envelope *envelope,
                 const void *partition_key,
                 size_t partition_key_size)
{
    assert(apply);
    assert(envelope);
    assert(apply->conn); //  only inside a handler
    //  Outside the writer the append is refused, and with writer_for_appends
    //  the batch runs again in it; without a stream there is nowhere to
    //  append.
    if (!apply->tx) {
        (void) bus_apply_to_writer(apply);
        apply->append_failed = true;
        return -1;
    }
    if (bus_tx_append(apply->tx, envelope, partition_key, partition_key_size)) {
        apply->append_failed = true;
        return -1;
    }
    return 0;
}

//  What an answer to `cause` about `id` takes from it.
void
bus_cause_init(bus_cause_t *self, const Ev__V1__Envelope *cause, const svc_uuid_t *id)
{
    assert(self);
    assert(cause);
    assert(id);
    self->event = cause;
    self->id = *id;
    svc_uuid_format(&self->id, self->id_text);
    svc_trace_from_header(cause->traceparent, self->traceparent);
    svc_trace_id(self->traceparent, self->trace_id);
}

//  Append an answer with its cause's correlation, causation and trace.
int
bus_apply_append_caused(bus_apply_t *apply, const bus_cause_t *cause, Ev__V1__Envelope *envelope)
{
    assert(apply);
    assert(cause);
    assert(envelope);
    envelope->correlation_id = (ProtobufCBinaryData){BUS_ID_SIZE, (uint8_t *) cause->id.bytes};
    envelope->causation_id = cause->event->message_id;
    envelope->traceparent = (char *) cause->traceparent;
    if (bus_apply_append(apply, envelope, cause->id.bytes, BUS_ID_SIZE) != 0) {
        bus_apply_fail(apply, "%s: appending %s was refused", cause->event->type,
                       bus_envelope_type_name(envelope->payload_case));
        return -1;
    }
    return 0;
}

//  Keep a handler's printf-style message in apply->error (cut to fit).
static void
s_apply_say(bus_apply_t *apply, const char *format, va_list args)
{
    char *error = zsys_vprintf(format, args);
    (void) snprintf(apply->error, sizeof apply->error, "%s", error ? error : format);
    zstr_free(&error);
}

void
bus_apply_fail(bus_apply_t *apply, const char *format, ...)
{
    assert(apply);
    assert(format);
    va_list args;
    va_start(args, format);
    s_apply_say(apply, format, args);
    va_end(args);
}

void
bus_apply_unavailable(bus_apply_t *apply, const char *format, ...)
{
    assert(apply);
    assert(apply->conn); //  only inside a handler
    assert(format);
    va_list args;
    va_start(args, format);
    s_apply_say(apply, format, args);
    va_end(args);
    apply->unavailable = true;
}
