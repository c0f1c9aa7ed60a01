/*  =========================================================================
    bus_writer - the writer actor of a stream: group commit, then publish

    The writer is one actor with one zloop: its pipe, an inproc ROUTER that
    producers' DEALERs submit units to, and timers (heartbeat, retention,
    reconnect). Its PostgreSQL connection is blocking (v1): while a batch
    runs, new submissions queue in the ROUTER, and the next readable event
    drains them into the next batch. That queue is the group commit.

    A batch is one transaction: BEGIN, every unit, one prepared statement
    that inserts the events they appended into bus_events (from binary
    arrays, one element per event) and moves bus_streams.last_seq, fenced by
    its old value (and returns the transaction id), COMMIT. A unit that fails is
    marked and the whole batch is rerun from BEGIN without it, after one
    more run with it (its failure may have been transient: a deadlock's
    victim); each rerun drops a unit or gives one its second run, so a
    batch runs at most 2n + 1 times (2n + 2 with sets, below). Only after
    COMMIT does the writer publish the events, in seq order, then answer
    each producer. The envelope is packed once, in bus_tx_append, into the
    frame it is published as (its topic, a NUL, the envelope: one frame,
    docs/protocol.md section 4.1); the envelope's bytes in it are stored,
    and the frame itself is handed to the PUB socket, not copied.

    Units submitted with a set-based half (bus_producer_submit_set) that
    sit next to each other in the batch with the same bus_batch_fn run as
    one set: one call of that function for all of them (one statement
    instead of one per unit), then each unit's own function, in order,
    which appends its events. A set that fails cannot say which unit broke
    it: the batch is rerun with every set split into sets of one
    ("isolated"), and the unit that then fails alone is removed as above.

    When a COMMIT's outcome is unknown (the connection broke while it ran),
    the batch is held "in doubt": on reconnect, pg_xact_status of the
    transaction id says whether it committed (then it is published and
    answered BUS_OK) or not (BUS_DB_UNAVAILABLE). A caller is therefore
    never told "retry" for work that was in fact committed.

    bus_tx (the handle a unit gets) lives here too: it is the batch's
    transaction state, and nothing outside the writer touches it.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_live.h"
#include "bus_replay.h"
#include "bus_stream.h"
#include "bus_writer.h"

#include <sys/random.h>
#include <time.h>

//  One event appended in the current attempt of a batch.
typedef struct {
    uint64_t seq;                     //  its seq, assigned at append
    zmq_msg_t frame;                  //  as published: topic, NUL, packed envelope (owned)
    size_t envelope_at;               //  where the packed envelope starts in the frame
    char type[BUS_TYPE_NAME_MAX + 1]; //  event type name
    uint32_t partition;               //  its partition
    uint8_t message_id[BUS_ID_SIZE];  //  message id (binary uuid)
} s_event_t;

//  Random bytes drawn at once for message ids: 10 per id, so one
//  getrandom() serves 409 events.
#define BUS_RANDOM_POOL 4096
#define BUS_ID_RANDOM 10

//  A growable byte buffer: the binary array parameters of a batch.
typedef struct {
    uint8_t *data;   //  owned
    size_t size;     //  bytes used
    size_t capacity; //  bytes allocated
} s_buffer_t;

//  The transaction a unit runs in.
struct bus_tx {
    PGconn *conn;                    //  the writer's connection (borrowed)
    const char *stream;              //  stream id (borrowed)
    uint32_t partitions;             //  partition count P
    uint64_t base_seq;               //  committed tail before this batch
    s_event_t *events;               //  events appended so far in this attempt (owned array)
    size_t count;                    //  events used
    size_t capacity;                 //  events allocated
    bus_rc_t append_rc;              //  first bus_tx_append failure of the running unit
    s_buffer_t params;               //  array parameters being built (owned, reused)
    uint8_t random[BUS_RANDOM_POOL]; //  random bytes for message ids
    size_t random_left;              //  unused bytes at the end of `random`
};

//  The longest routing id ZeroMQ gives a peer.
#define BUS_PEER_MAX 255

//  One submitted unit of work.
typedef struct {
    uint8_t peer[BUS_PEER_MAX]; //  routing id of the producer
    size_t peer_size;           //  its length
    bus_batch_fn *batch;        //  its set-based half, or NULL
    bus_work_fn *fn;            //  the work
    void *arg;                  //  its argument (the producer's)
    void *tag;                  //  the producer's tag
    bus_rc_t rc;                //  BUS_OK until the unit is known to have failed
    uint64_t last_seq;          //  seq of its last event, 0 if none
    bool failed_once;           //  it failed once in this batch (it gets one more run)
} s_unit_t;

//  How one attempt at a batch ended.
typedef enum {
    ATTEMPT_COMMITTED, //  COMMIT succeeded
    ATTEMPT_RERUN,     //  a unit failed and was marked; run the batch again
    ATTEMPT_NO_BEGIN,  //  the connection was found broken at BEGIN: nothing ran
    ATTEMPT_DB_LOST,   //  the connection broke before COMMIT: nothing committed
    ATTEMPT_IN_DOUBT,  //  the connection broke during COMMIT: outcome unknown
    ATTEMPT_FAILED     //  the database refused (fenced, or an error): nothing committed
} s_attempt_t;

typedef struct {
    zsock_t *pipe;                       //  actor pipe (borrowed)
    zloop_t *loop;                       //  the one loop (owned)
    zsock_t *pub;                        //  live events and heartbeats (owned)
    zsock_t *units;                      //  inproc ROUTER of producers (owned)
    zactor_t *replay;                    //  replay server (owned)
    PGconn *conn;                        //  NULL while the database is unreachable (owned)
    char *stream;                        //  stream id (owned)
    char *conninfo;                      //  libpq connection string (owned)
    char *app_name;                      //  application_name of our connection (owned)
    char *component;                     //  the service's schema component, or NULL (owned)
    const bus_migration_t *migrations;   //  the service's migrations, or NULL (borrowed)
    int pub_port;                        //  bound PUB port
    int replay_port;                     //  bound ROUTER port
    int batch_max;                       //  most units per batch
    int heartbeat_ms;                    //  heartbeat period
    int64_t retention_events;            //  newest events kept, 0 = all
    void (*on_commit)(uint64_t, void *); //  observer hook or NULL
    void *on_commit_arg;                 //  its argument
    svc_log_t *log;                      //  borrowed
    bool ready;                          //  connected, tail known, nothing in doubt
    bool tail_known;                     //  the tail was read at least once
    bool in_doubt;                       //  the batch in `batch` awaits its COMMIT's outcome
    uint64_t last_seq;                   //  committed tail
    uint64_t published_seq;              //  highest seq published (heartbeat last_seq)
    uint64_t first_seq;                  //  lowest seq the log holds
    int reconnect_ms;                    //  next reconnect delay
    int reconnect_timer;                 //  zloop timer id, or -1
    s_unit_t *batch;                     //  units of the batch (owned array of batch_max)
    size_t batch_size;                   //  units in it
    void **set_args;                     //  the args of one set (owned array of batch_max)
    bool isolated;                       //  a set failed: run this batch in sets of one
    bus_tx_t tx;                         //  the batch's transaction state (owned events)
    char xid[32];                        //  transaction id of the batch (text), for the doubt
    svc_counter_t *published;            //  bus_published_total
    svc_counter_t *batches;              //  bus_batches_total
    svc_histogram_t *batch_units;        //  bus_batch_units
    svc_histogram_t *commit_seconds;     //  bus_commit_seconds
    svc_counter_t *units_failed;         //  bus_units_failed_total
    svc_gauge_t *last_seq_gauge;         //  bus_last_seq
} self_t;

static int s_self_db_start(self_t *self);

//  --------------------------------------------------------------------------
//  PostgreSQL helpers

//  The end of every batch, prepared once per connection (at connect):
//  parsing and planning cost more than running. A batch that appended
//  events runs the append statement: ONE round trip inserts them from five
//  binary arrays ($4..$8, element i is event i) and moves the tail, fenced
//  by its old value ($3). A data-modifying WITH always runs to completion,
//  and bus_events' statement-level AFTER INSERT triggers (order's history)
//  fire as for any INSERT. A batch without events runs only the tail
//  update: an INSERT of no rows would still fire those triggers.
#define BUS_WRITER_TAIL_STATEMENT "bus_writer_tail"
static const char *s_tail_sql = "UPDATE bus_streams SET last_seq = $2"
                                " WHERE stream = $1 AND last_seq = $3"
                                " RETURNING pg_current_xact_id()::text";

#define BUS_WRITER_APPEND_STATEMENT "bus_writer_append"
static const char *s_append_sql =
    "WITH appended AS ("
    " INSERT INTO bus_events (stream, seq, type, partition, message_id, envelope)"
    " SELECT $1, e.seq, e.type, e.partition, e.message_id, e.envelope"
    " FROM unnest($4, $5, $6, $7, $8) AS e (seq, type, partition, message_id, envelope))"
    " UPDATE bus_streams SET last_seq = $2 WHERE stream = $1 AND last_seq = $3"
    " RETURNING pg_current_xact_id()::text";

//  Type OIDs of PostgreSQL's catalog (pg_type_d.h is a server header): a
//  binary array names its element type, and the server checks it.
#define BUS_OID_BYTEA 17
#define BUS_OID_INT8 20
#define BUS_OID_INT4 23
#define BUS_OID_TEXT 25
#define BUS_OID_UUID 2950
#define BUS_OID_BYTEA_ARRAY 1001
#define BUS_OID_INT4_ARRAY 1007
#define BUS_OID_TEXT_ARRAY 1009
#define BUS_OID_INT8_ARRAY 1016
#define BUS_OID_UUID_ARRAY 2951

//  The append statement's parameters: stream, new and old tail as text,
//  then the arrays (seq, type, partition, message_id, envelope) in binary.
#define BUS_APPEND_PARAMS 8
#define BUS_APPEND_ARRAYS 5
static const Oid s_append_types[BUS_APPEND_PARAMS] = {
    BUS_OID_TEXT,       BUS_OID_INT8,       BUS_OID_INT8,       BUS_OID_INT8_ARRAY,
    BUS_OID_TEXT_ARRAY, BUS_OID_INT4_ARRAY, BUS_OID_UUID_ARRAY, BUS_OID_BYTEA_ARRAY};
static const int s_append_formats[BUS_APPEND_PARAMS] = {0, 0, 0, 1, 1, 1, 1, 1};

//  PostgreSQL takes no message and no value of 1 GiB or more; all the
//  arrays travel in one message, so a batch's events must fit in it
//  together (with room for the other parameters and the array headers).
#define BUS_APPEND_BYTES_MAX ((1 << 30) - (1 << 20))

//  libpq notices (e.g. "relation exists, skipping") go to our log at debug
//  rather than to stderr.
//  Run a statement without parameters; returns 0 if it gave `expected`.
static int
s_exec(PGconn *conn, const char *sql, ExecStatusType expected)
{
    PGresult *result = PQexec(conn, sql);
    int rc = PQresultStatus(result) == expected ? 0 : -1;
    PQclear(result);
    return rc;
}

static bool
s_conn_broken(PGconn *conn)
{
    return PQstatus(conn) != CONNECTION_OK;
}

//  --------------------------------------------------------------------------
//  Submissions and completions: [peer][one fixed-size struct] each way,
//  with plain zmq_send/zmq_recv (no per-frame allocations).

static void
s_self_complete(self_t *self, const s_unit_t *unit, bus_rc_t rc, uint64_t last_seq)
{
    //  The units ROUTER has no send HWM, so a completion is never dropped
    //  while its producer exists; to a producer that is gone it is dropped.
    bus_writer_completion_t completion = {
        .tag = unit->tag, .last_seq = last_seq, .rc = (int32_t) rc};
    void *units = zsock_resolve(self->units);
    zmq_send(units, unit->peer, unit->peer_size, ZMQ_SNDMORE);
    zmq_send(units, &completion, sizeof completion, 0);
}

//  Skip the rest of a message; returns how many frames were skipped.
static int
s_skip_frames(void *socket)
{
    int frames = 0;
    int more = 1;
    size_t more_size = sizeof more;
    while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_size) == 0 && more) {
        uint8_t scratch;
        (void) zmq_recv(socket, &scratch, sizeof scratch, 0);
        frames++;
    }
    return frames;
}

//  Receive one queued submission into `unit`, without waiting. Returns 0,
//  -1 if none is queued, 1 if the message was not a submission (only our
//  producers connect, so that is a programmer error, logged and dropped).
static int
s_self_recv_unit(self_t *self, s_unit_t *unit)
{
    void *units = zsock_resolve(self->units);
    int peer_size = zmq_recv(units, unit->peer, sizeof unit->peer, ZMQ_DONTWAIT);
    if (peer_size < 0) {
        return -1;
    }
    bus_writer_submit_t submit;
    int size = -1;
    int more = 0;
    size_t more_size = sizeof more;
    if (zmq_getsockopt(units, ZMQ_RCVMORE, &more, &more_size) == 0 && more) {
        size = zmq_recv(units, &submit, sizeof submit, 0); //  parts arrive together
    }
    if (s_skip_frames(units) > 0 || size != (int) sizeof submit ||
        peer_size > (int) sizeof unit->peer) {
        svc_log_error(self->log, "bus.stream.unit.malformed", "{s:s}", "stream", self->stream);
        return 1;
    }
    unit->peer_size = (size_t) peer_size;
    unit->batch = submit.batch;
    unit->fn = submit.fn;
    unit->arg = submit.arg;
    unit->tag = submit.tag;
    unit->rc = BUS_OK;
    unit->last_seq = 0;
    unit->failed_once = false;
    return 0;
}

//  Drain up to batch_max queued submissions, answering each with `rc` at
//  once (database down, or closing). Returns how many messages it took.
static int
s_self_refuse_queued(self_t *self, bus_rc_t rc)
{
    //  Not a slot of self->batch: that may hold a batch in doubt.
    s_unit_t unit;
    int count = 0;
    while (count < self->batch_max) {
        int recv_rc = s_self_recv_unit(self, &unit);
        if (recv_rc < 0) {
            break;
        }
        if (recv_rc == 0) {
            s_self_complete(self, &unit, rc, 0);
        }
        count++;
    }
    return count;
}

//  --------------------------------------------------------------------------
//  The transaction's events

static void
s_tx_reset(bus_tx_t *tx)
{
    for (size_t index = 0; index < tx->count; index++) {
        zmq_msg_close(&tx->events[index].frame); //  empty if it was sent
    }
    tx->count = 0;
    tx->append_rc = BUS_OK;
}

//  Room for one more event. A message may not be copied as plain bytes
//  (ZeroMQ's rule), so a larger array takes each one by zmq_msg_move.
static void
s_tx_grow(bus_tx_t *tx)
{
    if (tx->count < tx->capacity) {
        return;
    }
    size_t capacity = tx->capacity ? tx->capacity * 2 : 64;
    s_event_t *events = (s_event_t *) zmalloc(capacity * sizeof *events);
    for (size_t index = 0; index < tx->count; index++) {
        s_event_t *from = &tx->events[index];
        events[index] = *from;
        zmq_msg_init(&events[index].frame);
        zmq_msg_move(&events[index].frame, &from->frame);
        zmq_msg_close(&from->frame);
    }
    freen(tx->events);
    tx->events = events;
    tx->capacity = capacity;
}

static int64_t
s_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  A version 7 message id (RFC 9562): 48 bits of Unix milliseconds, then
//  74 random bits from the transaction's pool, refilled with one getrandom()
//  when used up (libuuid costs several system calls per id). Falls back to
//  svc_uuid_v7 if the kernel gives no randomness.

static void
s_tx_message_id(bus_tx_t *tx, int64_t now_us, svc_uuid_t *out)
{
    if (tx->random_left < BUS_ID_RANDOM) {
        ssize_t got = getrandom(tx->random, sizeof tx->random, GRND_NONBLOCK);
        if (got < BUS_ID_RANDOM) {
            tx->random_left = 0;
            svc_uuid_v7(out);
            return;
        }
        //  The fresh bytes are the pool's last `random_left` (a signal may
        //  cut the read short).
        memmove(tx->random + sizeof tx->random - (size_t) got, tx->random, (size_t) got);
        tx->random_left = (size_t) got;
    }
    const uint8_t *random = tx->random + sizeof tx->random - tx->random_left;
    tx->random_left -= BUS_ID_RANDOM;
    uint64_t unix_ms = (uint64_t) now_us / 1000;
    for (int index = 0; index < 6; index++) {
        out->bytes[index] = (uint8_t) (unix_ms >> (8 * (5 - index)));
    }
    out->bytes[6] = (uint8_t) (0x70 | (random[0] & 0x0f)); //  version 7
    out->bytes[7] = random[1];
    out->bytes[8] = (uint8_t) (0x80 | (random[2] & 0x3f)); //  variant 10
    memcpy(out->bytes + 9, random + 3, 7);
}

//  --------------------------------------------------------------------------
//  Append an event: fill the writer's fields into a shallow copy (the
//  caller's envelope is not changed), pack it once, keep the bytes.

int
bus_tx_append(bus_tx_t *tx,
              Ev__V1__Envelope *envelope,
              const void *partition_key,
              size_t partition_key_size)
{
    assert(tx);
    assert(envelope);
    assert(partition_key || partition_key_size == 0);
    svc_uuid_t message_id;
    Ev__V1__Envelope filled = *envelope;
    filled.stream = (char *) tx->stream;
    filled.seq = tx->base_seq + tx->count + 1;
    filled.partition = bus_partition_of(partition_key, partition_key_size, tx->partitions);
    int64_t now_us = s_now_us();
    if (filled.message_id.len == 0) {
        s_tx_message_id(tx, now_us, &message_id);
        filled.message_id.data = message_id.bytes;
        filled.message_id.len = sizeof message_id.bytes;
    }
    if (filled.occurred_at_us == 0) {
        filled.occurred_at_us = now_us;
    }
    const char *type_name = bus_envelope_type_name(filled.payload_case);
    if ((!filled.type || !*filled.type) && type_name) {
        filled.type = (char *) type_name;
    }
    s_tx_grow(tx);
    s_event_t *event = &tx->events[tx->count];
    if (bus_envelope_encode_live(&filled, &event->frame) != 0) {
        //  Either too large or breaking the contract; the unit fails with it.
        bus_rc_t rc =
            bus_envelope_validate(&filled) == BUS_MALFORMED ? BUS_MALFORMED : BUS_TOO_LARGE;
        if (tx->append_rc == BUS_OK) {
            tx->append_rc = rc;
        }
        return -1;
    }
    tx->count++;
    event->seq = filled.seq;
    int topic_length =
        bus_live_topic_length(zmq_msg_data(&event->frame), zmq_msg_size(&event->frame));
    assert(topic_length > 0); //  bus_envelope_encode_live wrote it
    event->envelope_at = (size_t) topic_length + 1;
    (void) snprintf(event->type, sizeof event->type, "%s", filled.type);
    event->partition = filled.partition;
    memcpy(event->message_id, filled.message_id.data, BUS_ID_SIZE);
    return 0;
}

PGconn *
bus_tx_conn(bus_tx_t *tx)
{
    assert(tx);
    return tx->conn;
}

//  --------------------------------------------------------------------------
//  The events as the append statement's binary array parameters, built in
//  tx->params, which is reused from batch to batch.

static void
s_buffer_put(s_buffer_t *buffer, const void *data, size_t size)
{
    if (buffer->size + size > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->size + size) {
            capacity *= 2;
        }
        buffer->data = realloc(buffer->data, capacity);
        assert(buffer->data);
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, data, size);
    buffer->size += size;
}

//  A big-endian integer of `bytes` (4 or 8) bytes.
static void
s_buffer_put_int(s_buffer_t *buffer, uint64_t value, size_t bytes)
{
    uint8_t network[8];
    for (size_t index = 0; index < bytes; index++) {
        network[index] = (uint8_t) (value >> (8 * (bytes - 1 - index)));
    }
    s_buffer_put(buffer, network, bytes);
}

//  One array element: its length, then its bytes.
static void
s_buffer_put_field(s_buffer_t *buffer, const void *data, size_t size)
{
    s_buffer_put_int(buffer, size, 4);
    s_buffer_put(buffer, data, size);
}

//  The head of a binary array (array_recv's format): one dimension, no
//  NULLs, the element type, `count` elements from index 1. The elements
//  follow.
static void
s_buffer_put_array_head(s_buffer_t *buffer, uint32_t element_type, size_t count)
{
    s_buffer_put_int(buffer, 1, 4); //  dimensions
    s_buffer_put_int(buffer, 0, 4); //  flags: no NULLs
    s_buffer_put_int(buffer, element_type, 4);
    s_buffer_put_int(buffer, count, 4);
    s_buffer_put_int(buffer, 1, 4); //  lower bound
}

//  The five arrays, one after the other, and where each one starts.
static void
s_tx_put_arrays(bus_tx_t *tx, size_t starts[BUS_APPEND_ARRAYS])
{
    s_buffer_t *params = &tx->params;
    params->size = 0;
    starts[0] = params->size;
    s_buffer_put_array_head(params, BUS_OID_INT8, tx->count);
    for (size_t index = 0; index < tx->count; index++) {
        s_buffer_put_int(params, 8, 4);
        s_buffer_put_int(params, tx->events[index].seq, 8);
    }
    starts[1] = params->size;
    s_buffer_put_array_head(params, BUS_OID_TEXT, tx->count);
    for (size_t index = 0; index < tx->count; index++) {
        const char *type = tx->events[index].type;
        s_buffer_put_field(params, type, strlen(type));
    }
    starts[2] = params->size;
    s_buffer_put_array_head(params, BUS_OID_INT4, tx->count);
    for (size_t index = 0; index < tx->count; index++) {
        s_buffer_put_int(params, 4, 4);
        s_buffer_put_int(params, tx->events[index].partition, 4);
    }
    starts[3] = params->size;
    s_buffer_put_array_head(params, BUS_OID_UUID, tx->count);
    for (size_t index = 0; index < tx->count; index++) {
        s_buffer_put_field(params, tx->events[index].message_id, BUS_ID_SIZE);
    }
    starts[4] = params->size;
    s_buffer_put_array_head(params, BUS_OID_BYTEA, tx->count);
    for (size_t index = 0; index < tx->count; index++) {
        s_event_t *event = &tx->events[index];
        s_buffer_put_field(params, (uint8_t *) zmq_msg_data(&event->frame) + event->envelope_at,
                           zmq_msg_size(&event->frame) - event->envelope_at);
    }
}

//  --------------------------------------------------------------------------
//  The batch: run every live unit in the open transaction. Returns
//  ATTEMPT_COMMITTED when all ran (nothing is committed yet), else how it
//  ended.

//  After a unit's or a set's function returned `rc`: ATTEMPT_COMMITTED if
//  the transaction goes on, ATTEMPT_DB_LOST, or ATTEMPT_RERUN after the
//  ROLLBACK (the caller marks what failed).
static s_attempt_t
s_self_check_step(self_t *self, int rc)
{
    PGTransactionStatusType status = PQtransactionStatus(self->conn);
    if (s_conn_broken(self->conn) || status == PQTRANS_UNKNOWN) {
        return ATTEMPT_DB_LOST;
    }
    if (rc == 0 && status == PQTRANS_INTRANS && self->tx.append_rc == BUS_OK) {
        return ATTEMPT_COMMITTED;
    }
    if (status == PQTRANS_IDLE) {
        //  The unit ended the transaction itself: a programmer error that
        //  may have committed earlier units without their events.
        svc_log_error(self->log, "bus.stream.unit.ended_transaction", "{s:s}", "stream",
                      self->stream);
    } else if (s_exec(self->conn, "ROLLBACK", PGRES_COMMAND_OK)) {
        return ATTEMPT_DB_LOST;
    }
    return ATTEMPT_RERUN;
}

//  A unit failed with `rc`. Its SQL failing may have been transient (a
//  deadlock's victim, a serialization failure, a statement cancelled):
//  the first time it runs once more in the rerun; the second time, or for
//  an envelope bus_tx_append refused (that will not change), it is removed.
static void
s_unit_fail(s_unit_t *unit, bus_rc_t rc)
{
    if (rc == BUS_HANDLER_FAILED && !unit->failed_once) {
        unit->failed_once = true;
    } else {
        unit->rc = rc;
    }
}

//  Run the set that starts at live unit `first`: every following unit
//  with the same batch function (failed ones skipped), or only `first`
//  when the batch is isolated. Sets *end to the index after the set.
static s_attempt_t
s_self_run_set(self_t *self, size_t first, size_t *end)
{
    bus_batch_fn *batch = self->batch[first].batch;
    size_t count = 0;
    size_t index = first;
    for (; index < self->batch_size && (count == 0 || !self->isolated); index++) {
        s_unit_t *unit = &self->batch[index];
        if (unit->rc != BUS_OK) {
            continue;
        }
        if (unit->batch != batch) {
            break;
        }
        self->set_args[count++] = unit->arg;
    }
    *end = index;
    size_t events = self->tx.count;
    self->tx.append_rc = BUS_OK;
    int rc = batch(&self->tx, self->set_args, count);
    assert(self->tx.count == events); //  a set appends no events: its units do
    s_attempt_t outcome = s_self_check_step(self, rc);
    if (outcome == ATTEMPT_RERUN) {
        if (count == 1) {
            s_unit_fail(&self->batch[first], BUS_HANDLER_FAILED);
        } else {
            self->isolated = true;
        }
    }
    return outcome;
}

static s_attempt_t
s_self_run_units(self_t *self)
{
    bus_tx_t *tx = &self->tx;
    for (size_t index = 0; index < self->batch_size;) {
        size_t end = index + 1;
        if (self->batch[index].rc == BUS_OK && self->batch[index].batch) {
            s_attempt_t outcome = s_self_run_set(self, index, &end);
            if (outcome != ATTEMPT_COMMITTED) {
                return outcome;
            }
        }
        for (; index < end; index++) {
            s_unit_t *unit = &self->batch[index];
            if (unit->rc != BUS_OK) {
                continue;
            }
            size_t first = tx->count;
            tx->append_rc = BUS_OK;
            int rc = unit->fn(tx, unit->arg);
            s_attempt_t outcome = s_self_check_step(self, rc);
            if (outcome == ATTEMPT_RERUN) {
                s_unit_fail(unit, tx->append_rc != BUS_OK ? tx->append_rc : BUS_HANDLER_FAILED);
            }
            if (outcome != ATTEMPT_COMMITTED) {
                return outcome;
            }
            unit->last_seq = tx->count > first ? tx->base_seq + tx->count : 0;
        }
    }
    return ATTEMPT_COMMITTED;
}

//  After the units: the events and the fenced tail update (one statement),
//  COMMIT.

//  Run the batch's end statement: the append statement with the arrays
//  that start at `starts` in tx->params (the last one ends at the last
//  start), or the tail update alone for a batch without events. Caller
//  owns return value (PQclear).
static PGresult *
s_self_exec_end(self_t *self, const size_t starts[BUS_APPEND_ARRAYS + 1])
{
    bus_tx_t *tx = &self->tx;
    char new_text[24], old_text[24];
    (void) snprintf(new_text, sizeof new_text, "%" PRIu64, tx->base_seq + tx->count);
    (void) snprintf(old_text, sizeof old_text, "%" PRIu64, tx->base_seq);
    const char *values[BUS_APPEND_PARAMS] = {self->stream, new_text, old_text};
    if (tx->count == 0) {
        return PQexecPrepared(self->conn, BUS_WRITER_TAIL_STATEMENT, 3, values, NULL, NULL, 0);
    }
    int lengths[BUS_APPEND_PARAMS] = {0};
    for (size_t array = 0; array < BUS_APPEND_ARRAYS; array++) {
        values[3 + array] = (const char *) tx->params.data + starts[array];
        lengths[3 + array] = (int) (starts[array + 1] - starts[array]);
    }
    return PQexecPrepared(self->conn, BUS_WRITER_APPEND_STATEMENT, BUS_APPEND_PARAMS, values,
                          lengths, s_append_formats, 0);
}

//  ATTEMPT_COMMITTED (nothing is committed yet) if the end statement moved
//  the tail, keeping the transaction id, else how the attempt ended.
static s_attempt_t
s_self_check_end(self_t *self, PGresult *result)
{
    bus_tx_t *tx = &self->tx;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        (void) snprintf(self->xid, sizeof self->xid, "%s", PQgetvalue(result, 0, 0));
        return ATTEMPT_COMMITTED;
    }
    if (s_conn_broken(self->conn)) {
        return ATTEMPT_DB_LOST;
    }
    if (PQresultStatus(result) == PGRES_TUPLES_OK) {
        //  Someone else moved the tail: two writers for one stream.
        svc_log_error(self->log, "bus.stream.fenced", "{s:s, s:I, s:s}", "stream", self->stream,
                      "seq", (json_int_t) tx->base_seq, "msg",
                      "bus_streams.last_seq moved under this writer: another writer owns it");
        return ATTEMPT_FAILED;
    }
    const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    //  23505: another writer already holds one of these seqs.
    bool fenced = sqlstate && streq(sqlstate, "23505");
    svc_log_error(self->log, fenced ? "bus.stream.fenced" : "bus.stream.insert.failed",
                  "{s:s, s:I, s:s}", "stream", self->stream, "seq", (json_int_t) tx->base_seq + 1,
                  "error", result ? PQresultErrorMessage(result) : PQerrorMessage(self->conn));
    return ATTEMPT_FAILED;
}

static s_attempt_t
s_self_finish_batch(self_t *self)
{
    bus_tx_t *tx = &self->tx;
    size_t starts[BUS_APPEND_ARRAYS + 1] = {0};
    if (tx->count > 0) {
        s_tx_put_arrays(tx, starts);
        starts[BUS_APPEND_ARRAYS] = tx->params.size;
        if (tx->params.size > BUS_APPEND_BYTES_MAX) {
            svc_log_error(self->log, "bus.stream.insert.failed", "{s:s, s:I, s:s}", "stream",
                          self->stream, "seq", (json_int_t) tx->base_seq + 1, "error",
                          "the batch's events exceed what one PostgreSQL message can carry");
            return ATTEMPT_FAILED;
        }
    }
    PGresult *result = s_self_exec_end(self, starts);
    s_attempt_t outcome = s_self_check_end(self, result);
    PQclear(result);
    if (outcome != ATTEMPT_COMMITTED) {
        return outcome;
    }
    result = PQexec(self->conn, "COMMIT");
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        outcome = s_conn_broken(self->conn) ? ATTEMPT_IN_DOUBT : ATTEMPT_FAILED;
        if (outcome == ATTEMPT_FAILED) {
            //  A deferred constraint of some unit: we cannot tell which one.
            svc_log_error(self->log, "bus.stream.commit.failed", "{s:s, s:I, s:s}", "stream",
                          self->stream, "seq", (json_int_t) tx->base_seq, "error",
                          PQresultErrorMessage(result));
        }
    }
    PQclear(result);
    return outcome;
}

//  One attempt: BEGIN, the units, the events, COMMIT.

static s_attempt_t
s_self_attempt(self_t *self)
{
    s_tx_reset(&self->tx);
    self->tx.conn = self->conn;
    self->tx.base_seq = self->last_seq;
    if (s_exec(self->conn, "BEGIN", PGRES_COMMAND_OK)) {
        return s_conn_broken(self->conn) ? ATTEMPT_NO_BEGIN : ATTEMPT_FAILED;
    }
    s_attempt_t outcome = s_self_run_units(self);
    if (outcome == ATTEMPT_COMMITTED) {
        outcome = s_self_finish_batch(self);
    }
    if (outcome == ATTEMPT_FAILED && !s_conn_broken(self->conn) &&
        PQtransactionStatus(self->conn) != PQTRANS_IDLE) {
        s_exec(self->conn, "ROLLBACK", PGRES_COMMAND_OK);
    }
    return outcome;
}

//  --------------------------------------------------------------------------
//  Answer every unit of the batch: the failed ones with their code, the
//  others with `rc` (their seq only if committed). Empties the batch.

static void
s_self_complete_batch(self_t *self, bus_rc_t rc)
{
    for (size_t index = 0; index < self->batch_size; index++) {
        s_unit_t *unit = &self->batch[index];
        if (unit->rc != BUS_OK) {
            svc_counter_inc(self->units_failed);
            s_self_complete(self, unit, unit->rc, 0);
        } else {
            s_self_complete(self, unit, rc, rc == BUS_OK ? unit->last_seq : 0);
        }
    }
    self->batch_size = 0;
    s_tx_reset(&self->tx);
}

//  The batch committed: observer hook, publish in seq order, answer.

static void
s_self_publish_batch(self_t *self)
{
    bus_tx_t *tx = &self->tx;
    self->last_seq = tx->base_seq + tx->count;
    if (self->on_commit) {
        self->on_commit(self->last_seq, self->on_commit_arg);
    }
    void *pub = zsock_resolve(self->pub);
    for (size_t index = 0; index < tx->count; index++) {
        //  PUB never blocks: past its HWM a subscriber loses the message and
        //  recovers it by replay. Nothing reads the message after this: it
        //  moves to the socket without a copy (s_tx_reset closes it, sent
        //  or not).
        zmq_msg_send(&tx->events[index].frame, pub, 0);
    }
    self->published_seq = self->last_seq;
    svc_counter_add(self->published, tx->count);
    svc_gauge_set(self->last_seq_gauge, (double) self->last_seq);
    svc_counter_inc(self->batches);
    svc_histogram_observe(self->batch_units, (double) self->batch_size);
    s_self_complete_batch(self, BUS_OK);
}

//  --------------------------------------------------------------------------
//  Database lost: drop the connection, go not ready, retry with backoff.

static int s_self_handle_reconnect(zloop_t *loop, int timer_id, void *arg);

static void
s_self_schedule_reconnect(self_t *self)
{
    if (self->reconnect_timer == -1) {
        int delay_ms = bus_db_backoff(&self->reconnect_ms);
        self->reconnect_timer =
            zloop_timer(self->loop, (size_t) delay_ms, 1, s_self_handle_reconnect, self);
    }
}

//  Drop the connection and start again from connect: the tail is read
//  anew before anything else is written.
static void
s_self_disconnect(self_t *self)
{
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    self->ready = false;
    self->reconnect_ms = BUS_RECONNECT_MIN_MS;
    s_self_schedule_reconnect(self);
}

static void
s_self_db_lost(self_t *self, const char *why)
{
    svc_log_warn(self->log, "bus.stream.db.lost", "{s:s, s:I, s:s, s:s}", "stream", self->stream,
                 "seq", (json_int_t) self->last_seq, "why", why, "error",
                 self->conn ? PQerrorMessage(self->conn) : "");
    s_self_disconnect(self);
}

//  --------------------------------------------------------------------------
//  Run one batch (self->batch) to its end.

static void
s_self_run_batch(self_t *self)
{
    int64_t started_us = zclock_usecs();
    s_attempt_t outcome = s_self_attempt(self);
    if (outcome == ATTEMPT_NO_BEGIN) {
        //  The server closed the idle connection (restart, terminated
        //  backend): nothing ran yet, so one reconnect is free of doubt.
        PQfinish(self->conn);
        self->conn = NULL;
        outcome = s_self_db_start(self) == 0 ? s_self_attempt(self) : ATTEMPT_DB_LOST;
        if (outcome == ATTEMPT_NO_BEGIN) {
            outcome = ATTEMPT_DB_LOST;
        }
    }
    //  Each rerun gives a unit its second run, marks one failed, or (once)
    //  isolates the batch's sets, so this loop is bounded.
    for (size_t runs = 0; outcome == ATTEMPT_RERUN && runs <= 2 * self->batch_size + 1; runs++) {
        outcome = s_self_attempt(self);
    }
    assert(outcome != ATTEMPT_RERUN);
    if (outcome == ATTEMPT_NO_BEGIN) {
        outcome = ATTEMPT_DB_LOST;
    }
    if (outcome == ATTEMPT_COMMITTED) {
        svc_histogram_observe(self->commit_seconds, (double) (zclock_usecs() - started_us) / 1e6);
        s_self_publish_batch(self);
    } else if (outcome == ATTEMPT_IN_DOUBT) {
        //  Keep the batch and its events: s_self_db_start decides.
        self->in_doubt = true;
        s_self_db_lost(self, "connection lost during COMMIT");
    } else {
        s_self_complete_batch(self, BUS_DB_UNAVAILABLE);
        if (outcome == ATTEMPT_DB_LOST) {
            s_self_db_lost(self, "connection lost during a batch");
        } else {
            s_self_disconnect(self); //  fenced or refused: re-read the tail first
        }
    }
}

//  --------------------------------------------------------------------------
//  The units ROUTER is readable: gather a batch and run it.

static int
s_self_handle_units(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    self_t *self = arg;
    if (!self->ready) {
        s_self_refuse_queued(self, BUS_DB_UNAVAILABLE);
        return 0;
    }
    self->batch_size = 0;
    self->isolated = false;
    for (int rc = 0; rc >= 0 && self->batch_size < (size_t) self->batch_max;) {
        rc = s_self_recv_unit(self, &self->batch[self->batch_size]);
        if (rc == 0) {
            self->batch_size++;
        }
    }
    if (self->batch_size > 0) {
        s_self_run_batch(self);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Heartbeat: "$hb/<stream>", NUL, Heartbeat{stream, last published, first_seq}.

static void
s_self_send_heartbeat(self_t *self)
{
    if (!self->tail_known) {
        return; //  nothing true to say yet
    }
    bus_heartbeat_t heartbeat = {.last_seq = self->published_seq,
                                 .first_seq = self->first_seq <= self->published_seq + 1
                                                  ? self->first_seq
                                                  : self->published_seq + 1,
                                 .interval_ms = (uint32_t) self->heartbeat_ms};
    (void) snprintf(heartbeat.stream, sizeof heartbeat.stream, "%s", self->stream);
    zframe_t *frame = bus_heartbeat_encode_live(&heartbeat);
    assert(frame); //  the stream id was validated at start
    zframe_send(&frame, self->pub, 0);
    zframe_destroy(&frame); //  if the send failed
}

static int
s_self_handle_heartbeat(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_self_send_heartbeat((self_t *) arg);
    return 0;
}

//  --------------------------------------------------------------------------
//  Connecting: connect, migrate, make sure our row exists.

static PGconn *
s_self_connect(self_t *self)
{
    char *error = NULL;
    PGconn *conn = bus_db_connect(self->conninfo, self->app_name, self->log, &error);
    if (conn) {
        if (bus_migrate(conn, "bus", bus_migrations, &error) < 0 ||
            (self->migrations &&
             bus_migrate(conn, self->component, self->migrations, &error) < 0)) {
            //  The schema, not the network: an operator must act.
            svc_log_error(self->log, "bus.stream.migrate.failed", "{s:s, s:s}", "stream",
                          self->stream, "error", error);
        } else {
            const char *params[] = {self->stream};
            PGresult *result = PQexecParams(conn,
                                            "INSERT INTO bus_streams (stream) VALUES ($1)"
                                            " ON CONFLICT (stream) DO NOTHING",
                                            1, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(result) == PGRES_COMMAND_OK) {
                PQclear(result);
                result = PQprepare(conn, BUS_WRITER_TAIL_STATEMENT, s_tail_sql, 3, NULL);
            }
            if (PQresultStatus(result) == PGRES_COMMAND_OK) {
                PQclear(result);
                result = PQprepare(conn, BUS_WRITER_APPEND_STATEMENT, s_append_sql,
                                   BUS_APPEND_PARAMS, s_append_types);
            }
            if (PQresultStatus(result) != PGRES_COMMAND_OK) {
                error = strdup(PQresultErrorMessage(result));
            }
            PQclear(result);
        }
    }
    if (error) {
        svc_log_warn(self->log, "bus.stream.db.unavailable", "{s:s, s:s, s:i}", "stream",
                     self->stream, "error", error, "retry_ms", self->reconnect_ms);
        zstr_free(&error);
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

//  Settle the batch whose COMMIT's outcome is unknown. Returns 0 when
//  settled (published or refused), -1 if it must wait (still in progress
//  on the server, or the query failed). pg_xact_status answers for any
//  transaction newer than the server's commit-log horizon, far beyond any
//  reconnect delay.

static int
s_self_settle_doubt(self_t *self)
{
    const char *params[] = {self->xid};
    PGresult *result =
        PQexecParams(self->conn, "SELECT pg_xact_status($1::xid8)", 1, NULL, params, NULL, NULL, 0);
    const char *status = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
                                 !PQgetisnull(result, 0, 0)
                             ? PQgetvalue(result, 0, 0)
                             : NULL;
    uint64_t batch_last_seq = self->tx.base_seq + self->tx.count;
    int rc = -1;
    if (status && streq(status, "committed")) {
        s_self_publish_batch(self);
        rc = 0;
    } else if (status && streq(status, "aborted")) {
        s_self_complete_batch(self, BUS_DB_UNAVAILABLE);
        rc = 0;
    } else if (status && streq(status, "in progress")) {
        //  Our old backend still holds the transaction (the server has not
        //  noticed the broken connection): end it, and ask again next time.
        PGresult *killed = PQexecParams(self->conn,
                                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                        " WHERE backend_xid = $1::xid8::xid",
                                        1, NULL, params, NULL, NULL, 0);
        PQclear(killed);
    }
    svc_log_warn(self->log, "bus.stream.doubt", "{s:s, s:I, s:s, s:s}", "stream", self->stream,
                 "seq", (json_int_t) batch_last_seq, "xid", self->xid, "status",
                 status ? status : "unknown");
    PQclear(result);
    if (rc == 0) {
        self->in_doubt = false;
    }
    return rc;
}

//  Read bus_streams' tail and retention floor. Returns 0 or -1.

static int
s_self_read_tail(self_t *self)
{
    const char *params[] = {self->stream};
    PGresult *result =
        PQexecParams(self->conn, "SELECT last_seq, first_seq FROM bus_streams WHERE stream = $1", 1,
                     NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        uint64_t last_seq = strtoull(PQgetvalue(result, 0, 0), NULL, 10);
        if (self->tail_known && last_seq != self->last_seq) {
            svc_log_warn(self->log, "bus.stream.tail.moved", "{s:s, s:I, s:I}", "stream",
                         self->stream, "seq", (json_int_t) self->last_seq, "db_seq",
                         (json_int_t) last_seq);
        }
        self->last_seq = last_seq;
        self->published_seq = last_seq; //  anything unpublished is replayed
        self->first_seq = strtoull(PQgetvalue(result, 0, 1), NULL, 10);
        self->tail_known = true;
        rc = 0;
    }
    PQclear(result);
    return rc;
}

//  (Re)start on the database: connect, settle any doubt, read the tail,
//  become ready and say so with a heartbeat. Returns 0 or -1.

static int
s_self_db_start(self_t *self)
{
    assert(!self->conn);
    self->conn = s_self_connect(self);
    if (!self->conn) {
        return -1;
    }
    if ((self->in_doubt && s_self_settle_doubt(self)) || s_self_read_tail(self)) {
        PQfinish(self->conn);
        self->conn = NULL;
        return -1;
    }
    self->ready = true;
    self->reconnect_ms = BUS_RECONNECT_MIN_MS;
    svc_gauge_set(self->last_seq_gauge, (double) self->last_seq);
    svc_log_info(self->log, "bus.stream.db.ready", "{s:s, s:I, s:I}", "stream", self->stream, "seq",
                 (json_int_t) self->last_seq, "first_seq", (json_int_t) self->first_seq);
    s_self_send_heartbeat(self);
    return 0;
}

static int
s_self_handle_reconnect(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    self->reconnect_timer = -1;
    if (s_self_db_start(self)) {
        s_self_schedule_reconnect(self);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Retention: delete up to one chunk below the floor and raise first_seq,
//  in one transaction. Returns 1 if more is due, 0 if done, -1 on failure.

static int
s_self_trim_chunk(self_t *self)
{
    if (self->last_seq < (uint64_t) self->retention_events) {
        return 0;
    }
    uint64_t floor = self->last_seq - (uint64_t) self->retention_events + 1;
    if (floor <= self->first_seq) {
        return 0;
    }
    uint64_t upto = floor - self->first_seq > BUS_RETENTION_CHUNK
                        ? self->first_seq + BUS_RETENTION_CHUNK
                        : floor;
    char from_text[24], upto_text[24];
    (void) snprintf(from_text, sizeof from_text, "%" PRIu64, self->first_seq);
    (void) snprintf(upto_text, sizeof upto_text, "%" PRIu64, upto);
    const char *params[] = {self->stream, from_text, upto_text};
    PGresult *result = PQexecParams(self->conn,
                                    "WITH gone AS (DELETE FROM bus_events"
                                    " WHERE stream = $1 AND seq >= $2 AND seq < $3)"
                                    " UPDATE bus_streams SET first_seq = $3"
                                    " WHERE stream = $1 AND first_seq = $2",
                                    3, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(result) == PGRES_COMMAND_OK && streq(PQcmdTuples(result), "1")) {
        self->first_seq = upto;
        rc = upto < floor ? 1 : 0;
    } else {
        svc_log_warn(self->log, "bus.stream.retention.failed", "{s:s, s:I, s:s}", "stream",
                     self->stream, "seq", (json_int_t) self->first_seq, "error",
                     PQresultErrorMessage(result));
    }
    PQclear(result);
    return rc;
}

static int
s_self_handle_retention(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    int more = 1;
    for (int chunk = 0; self->ready && more == 1 && chunk < BUS_RETENTION_CHUNKS_PER_RUN; chunk++) {
        //  A single statement is its own transaction: the rows go and the
        //  floor rises together.
        more = s_self_trim_chunk(self);
        if (more < 0 && s_conn_broken(self->conn)) {
            s_self_db_lost(self, "connection lost during retention");
        } else if (more < 0) {
            s_self_disconnect(self); //  someone else moved first_seq: read it again
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The pipe: $TERM, PORTS, READY?

static int
s_self_handle_pipe(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = arg;
    char *command = zstr_recv(reader);
    if (!command) {
        return -1; //  interrupted
    }
    int rc = 0;
    if (streq(command, "$TERM")) {
        //  The batch in flight has finished (we are single-threaded); one
        //  last try settles a batch in doubt, and whatever is still queued
        //  is answered BUS_CLOSED.
        if (self->in_doubt && !self->conn && s_self_db_start(self) == 0) {
            svc_log_info(self->log, "bus.stream.doubt.settled", "{s:s}", "stream", self->stream);
        }
        while (s_self_refuse_queued(self, BUS_CLOSED) == self->batch_max) {
        }
        rc = -1;
    } else if (streq(command, "PORTS")) {
        zsock_send(self->pipe, "ii", self->pub_port, self->replay_port);
    } else if (streq(command, "READY?")) {
        zsock_send(self->pipe, "i", self->ready ? 1 : 0);
    } else {
        svc_log_error(self->log, "bus.stream.command.unknown", "{s:s}", "command", command);
        assert(false); //  only bus_stream talks on the pipe
    }
    zstr_free(&command);
    return rc;
}

//  --------------------------------------------------------------------------
//  Metrics of the stream.

static void
s_self_register_metrics(self_t *self, svc_metrics_t *metrics)
{
    static const double unit_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    const char *stream = self->stream;
    self->published =
        svc_metrics_counter(metrics, "bus_published_total", "Events published live after commit",
                            "stream", stream, NULL);
    self->batches = svc_metrics_counter(metrics, "bus_batches_total",
                                        "Batches (transactions) committed by the writer", "stream",
                                        stream, NULL);
    self->batch_units = svc_metrics_histogram_with(
        metrics, "bus_batch_units", "Units of work per committed batch", unit_buckets,
        sizeof unit_buckets / sizeof *unit_buckets, "stream", stream, NULL);
    self->commit_seconds = svc_metrics_histogram(
        metrics, "bus_commit_seconds",
        "Time from BEGIN to COMMIT of a committed batch, reruns included", "stream", stream, NULL);
    self->units_failed =
        svc_metrics_counter(metrics, "bus_units_failed_total",
                            "Units rolled back alone (handler failed)", "stream", stream, NULL);
    self->last_seq_gauge = svc_metrics_gauge(
        metrics, "bus_last_seq", "Highest committed seq of the stream", "stream", stream, NULL);
}

//  --------------------------------------------------------------------------
//  Take the sockets, start the replay actor, bind the units ROUTER.

static self_t *
s_self_new(zsock_t *pipe, bus_writer_args_t *args)
{
    const bus_stream_config_t *config = args->config;
    self_t *self = zmalloc(sizeof *self);
    self->pipe = pipe;
    self->stream = strdup(config->stream);
    self->conninfo = strdup(config->conninfo);
    self->app_name = zsys_sprintf("bus-stream-%s", config->stream);
    if (config->migrations) {
        self->component = strdup(config->component);
        self->migrations = config->migrations;
    }
    self->pub = args->pub;
    args->pub = NULL;
    self->pub_port = args->pub_port;
    self->replay_port = args->replay_port;
    self->batch_max = config->batch_max > 0 ? config->batch_max : BUS_BATCH_MAX_DEFAULT;
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : BUS_HEARTBEAT_MS_DEFAULT;
    self->retention_events = config->retention_events;
    self->on_commit = config->on_commit;
    self->on_commit_arg = config->on_commit_arg;
    self->log = config->log;
    self->reconnect_ms = BUS_RECONNECT_MIN_MS;
    self->reconnect_timer = -1;
    self->batch = zmalloc((size_t) self->batch_max * sizeof *self->batch);
    self->set_args = zmalloc((size_t) self->batch_max * sizeof *self->set_args);
    self->tx.stream = self->stream;
    self->tx.partitions = config->partitions > 0 ? config->partitions : BUS_PARTITIONS_DEFAULT;
    s_self_register_metrics(self, config->metrics);

    bus_replay_config_t replay_config = {.stream = config->stream,
                                         .conninfo = config->conninfo,
                                         .router = args->router,
                                         .log = config->log,
                                         .metrics = config->metrics};
    args->router = NULL;
    self->replay = zactor_new(bus_replay_server, &replay_config);

    //  No HWM on completions: a producer's outstanding units bound them,
    //  and a dropped completion would leave its caller waiting forever.
    self->units = zsock_new(ZMQ_ROUTER);
    zsock_set_sndhwm(self->units, 0);
    int bound = zsock_bind(self->units, "%s", args->units_endpoint);
    assert(bound == 0); //  a unique inproc name

    self->loop = zloop_new();
    zloop_reader(self->loop, self->pipe, s_self_handle_pipe, self);
    zloop_reader(self->loop, self->units, s_self_handle_units, self);
    zloop_timer(self->loop, (size_t) self->heartbeat_ms, 0, s_self_handle_heartbeat, self);
    if (self->retention_events > 0) {
        int interval_ms = config->retention_interval_ms > 0 ? config->retention_interval_ms
                                                            : BUS_RETENTION_INTERVAL_MS_DEFAULT;
        zloop_timer(self->loop, (size_t) interval_ms, 0, s_self_handle_retention, self);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Free in reverse order of creation. A batch still in doubt is answered
//  BUS_CLOSED with an error log: nobody can settle it any more.

static void
s_self_destroy(self_t **self_p)
{
    assert(self_p);
    self_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->in_doubt) {
        //  Not BUS_DB_UNAVAILABLE: that promises "not committed".
        svc_log_error(self->log, "bus.stream.doubt.abandoned", "{s:s, s:s}", "stream", self->stream,
                      "xid", self->xid);
        s_self_complete_batch(self, BUS_CLOSED);
    }
    zloop_destroy(&self->loop);
    zsock_destroy(&self->units);
    zactor_destroy(&self->replay);
    if (self->conn) {
        PQfinish(self->conn);
    }
    s_tx_reset(&self->tx);
    freen(self->tx.events);
    freen(self->tx.params.data);
    freen(self->set_args);
    freen(self->batch);
    zsock_destroy(&self->pub);
    zstr_free(&self->component);
    zstr_free(&self->app_name);
    zstr_free(&self->conninfo);
    zstr_free(&self->stream);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The writer actor: try the database once before signalling, so that a
//  stream whose database is up is ready when bus_stream_new returns.

void
bus_writer(zsock_t *pipe, void *args)
{
    assert(pipe);
    assert(args);
    self_t *self = s_self_new(pipe, (bus_writer_args_t *) args);
    if (s_self_db_start(self)) {
        s_self_schedule_reconnect(self);
    }
    svc_log_info(self->log, "bus.stream.started", "{s:s, s:I, s:i, s:i, s:b}", "stream",
                 self->stream, "seq", (json_int_t) self->last_seq, "pub_port", self->pub_port,
                 "replay_port", self->replay_port, "ready", self->ready);
    zsock_signal(pipe, 0);
    zloop_start(self->loop);
    svc_log_info(self->log, "bus.stream.stopped", "{s:s, s:I}", "stream", self->stream, "seq",
                 (json_int_t) self->last_seq);
    s_self_destroy(&self);
}
