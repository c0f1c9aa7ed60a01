/*  =========================================================================
    bus_stream - the single writer of a stream: group commit, then publish

    One process instance owns one stream ("order-0"). Its writer is an actor
    with its own PostgreSQL connection, a PUB socket (live events and
    heartbeats) and a ROUTER socket (replay), as docs/protocol.md sections 3
    to 5 specify. Callers on other actors hand it units of work through a
    bus_producer; the writer drains whatever is queued (up to batch_max),
    runs every unit in ONE transaction, inserts the events they appended
    into the event log with gap-free sequence numbers, commits, and only
    then publishes the events and reports completion to each caller. A unit
    that fails runs once more (a deadlock's victim or a serialization
    failure may succeed), then is removed and the batch is run again
    without it, so it rolls back alone; a unit must therefore have no
    effect outside the transaction (it may run more than once).

    A COMMIT whose outcome is unknown (the connection broke during it) is
    settled on reconnect from the transaction's id before its units are
    answered, so BUS_DB_UNAVAILABLE always means "not committed". The
    replay server (bus_replay.h) runs beside the writer on a connection of
    its own. Threads: the stream and its producers may be used from any one
    thread each; producers must be destroyed before their stream.

        bus_stream_config_t config = {
            .stream = "order-0", .conninfo = dsn, .pub_endpoint = "tcp://127.0.0.1:*",
            .log = log, .metrics = metrics};
        bus_stream_t *stream = bus_stream_new(&config);
        bus_producer_t *producer = bus_producer_new(stream);
        bus_producer_submit(producer, s_create_order, order, order);   //  tag = order
        ... in the caller's loop, when bus_producer_sock(producer) is readable:
        bus_completion_t done;
        bus_producer_recv(producer, &done);   //  done.tag == order, done.rc == BUS_OK
    =========================================================================
*/
#ifndef BUS_STREAM_H_INCLUDED
#define BUS_STREAM_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "bus_rc.h"
#include "bus_envelope.h"
#include "svc_log.h"
#include "svc_metrics.h"

struct pg_conn;
struct bus_migration;

typedef struct bus_stream bus_stream_t;
typedef struct bus_producer bus_producer_t;
typedef struct bus_tx bus_tx_t;

#define BUS_BATCH_MAX_DEFAULT 512
#define BUS_HEARTBEAT_MS_DEFAULT 1000
#define BUS_PARTITIONS_DEFAULT 64
#define BUS_RETENTION_INTERVAL_MS_DEFAULT 10000

//  Most events one retention transaction deletes; a tick runs at most
//  BUS_RETENTION_CHUNKS_PER_RUN of them, so the writer is never held long.
#define BUS_RETENTION_CHUNK 5000
#define BUS_RETENTION_CHUNKS_PER_RUN 4

//  Reconnect backoff while the database is unreachable: doubles from MIN.
#define BUS_RECONNECT_MIN_MS 100
#define BUS_RECONNECT_MAX_MS 5000

//  libpq connect_timeout (seconds) unless the conninfo sets one: the writer
//  blocks in connect for at most this long.
#define BUS_CONNECT_TIMEOUT_S "5"

//  PUB send high-water mark per subscriber, in messages (one per event or
//  heartbeat). Beyond it ZeroMQ drops live events for that subscriber;
//  it sees the gap and replays. 100k envelopes of ~200 bytes is ~20 MB per
//  slow subscriber at worst.
#define BUS_PUB_SNDHWM 100000

typedef struct {
    const char *stream;            //  stream id, as bus_envelope_stream_valid: [a-z0-9._-], 1-64
    const char *conninfo;          //  libpq connection string of the publisher's database
    const char *pub_endpoint;      //  PUB bind address; "tcp://127.0.0.1:*" picks a port
    const char *replay_endpoint;   //  ROUTER bind address; NULL = PUB host, PUB port + 1
    int batch_max;                 //  largest number of units per transaction; 0 = default
    int heartbeat_ms;              //  heartbeat interval; 0 = default
    uint32_t partitions;           //  partition count P; 0 = default
    int64_t retention_events;      //  keep at least this many newest events; 0 = keep all
    int retention_interval_ms;     //  how often retention runs; 0 = default
    const char *curve_server_cert; //  secret cert file for CURVE, or NULL for none; needs a
                                   //  running bus_auth (bus_keys.h)
    svc_log_t *log;                //  borrowed, outlives the stream
    svc_metrics_t *metrics;        //  borrowed, outlives the stream
    //  The owning service's schema: migrated (bus_migrate.h, as component
    //  `component`) after the bus's own on every connect, before any unit
    //  runs, so units and subscriber handlers never meet a missing table.
    //  NULL for none. A failing migration is logged as
    //  bus.stream.migrate.failed and retried like a lost database.
    const char *component;                  //  e.g. "order"; required with migrations
    const struct bus_migration *migrations; //  borrowed, static table
    //  Observer hook, for tests: called on the writer's thread after a
    //  batch's COMMIT succeeded and BEFORE its events are published, with
    //  the new committed tail. NULL for none. It must not block; tests use
    //  it to kill the process between commit and publish.
    void (*on_commit)(uint64_t last_seq, void *arg);
    void *on_commit_arg; //  passed to on_commit
} bus_stream_config_t;

//  The outcome of one unit of work, delivered to the producer that sent it.
typedef struct {
    void *tag;         //  the tag given to bus_producer_submit
    bus_rc_t rc;       //  BUS_OK; BUS_HANDLER_FAILED (the unit returned -1, or its SQL
                       //  failed); BUS_MALFORMED or BUS_TOO_LARGE (bus_tx_append refused
                       //  an envelope); BUS_DB_UNAVAILABLE (not committed: the database is
                       //  unreachable, or the stream is fenced; safe to retry); BUS_CLOSED
                       //  (the stream was destroyed before the unit ran, or, logged as
                       //  bus.stream.doubt.abandoned, while its COMMIT was in doubt)
    uint64_t last_seq; //  seq of the unit's last appended event (0 if none or not OK)
} bus_completion_t;

//  A unit of work: run SQL on bus_tx_conn(tx) and append events with
//  bus_tx_append. Return 0 to keep the unit, -1 to roll it back alone.
typedef int(bus_work_fn)(bus_tx_t *tx, void *arg);

//  The set-based half of units of one kind (bus_producer_submit_set): run
//  the SQL of `count` units at once (their args in submission order) on
//  bus_tx_conn(tx), leaving in each arg what its bus_work_fn needs; append
//  no events here (asserted: events belong to the unit whose fn appends
//  them). Return 0, or -1 to roll the set back: the writer then runs the
//  batch again with every unit of it alone (a set of one), so only the
//  unit that fails alone is refused.
typedef int(bus_batch_fn)(bus_tx_t *tx, void *const *args, size_t count);

//  Start the writer: bind PUB and ROUTER (CURVE servers if configured),
//  connect, migrate the bus schema, read the stream's tail, send the first
//  heartbeat. Returns NULL if the configuration is invalid or a socket
//  cannot be bound (logged). With no replay_endpoint the ROUTER takes the
//  PUB port + 1; for an ephemeral PUB port ("...:*") another pair is tried
//  when port + 1 is taken. A database that is unreachable at start is NOT
//  a failure: the writer retries with backoff (BUS_RECONNECT_MIN_MS to
//  _MAX_MS) and reports not ready meanwhile. Blocks for the first connect
//  attempt (at most BUS_CONNECT_TIMEOUT_S unless the conninfo says
//  otherwise). Caller owns return value.
bus_stream_t *bus_stream_new(const bus_stream_config_t *config);

//  Finish the batch in flight, publish it, close sockets and the
//  connection; pending units complete with BUS_CLOSED. Destroy the
//  stream's producers first. Nulls the pointer.
void bus_stream_destroy(bus_stream_t **self_p);

//  Bound PUB and ROUTER ports.
int bus_stream_pub_port(bus_stream_t *self);
int bus_stream_replay_port(bus_stream_t *self);

//  True while the database is reachable, the tail is known and no batch is
//  in doubt. Asks the writer, so it waits for a batch in flight.
bool bus_stream_ready(bus_stream_t *self);

//  A producer is one caller actor's connection to the writer (an inproc
//  DEALER). Create it on the actor that will use it; it belongs to that
//  thread. Caller owns return value.
bus_producer_t *bus_producer_new(bus_stream_t *stream);
void bus_producer_destroy(bus_producer_t **self_p);

//  Queue a unit of work; `arg` and `tag` are borrowed until its completion
//  is received. Blocks while the producer's queue to the writer is full
//  (ZeroMQ's default high-water marks, about 2,000 units): that is the
//  back-pressure. Completions are never dropped. Returns 0, or -1 if the
//  send was interrupted.
int bus_producer_submit(bus_producer_t *self, bus_work_fn *fn, void *arg, void *tag);

//  Queue a unit that runs set-based with the units of the same `batch`
//  queued beside it: the writer gathers consecutive ones of a batch into
//  ONE call of `batch` (one statement for many units instead of one
//  each), then calls `fn` for each of them, in submission order, to
//  append its events (and finish anything its row of the set left to do).
//  Completions are per unit, as with bus_producer_submit, whose
//  arguments and return value these share.
int bus_producer_submit_set(
    bus_producer_t *self, bus_batch_fn *batch, bus_work_fn *fn, void *arg, void *tag);

//  The socket to poll for completions (readable = one is waiting).
zsock_t *bus_producer_sock(bus_producer_t *self);

//  Receive one completion (blocks if none is waiting). Returns 0, or -1 if
//  interrupted.
int bus_producer_recv(bus_producer_t *self, bus_completion_t *completion);

//  Submit and wait for the completion: for tools and tests. Nothing else
//  may be outstanding on this producer (asserted). Returns the unit's rc,
//  BUS_CLOSED if interrupted.
bus_rc_t
bus_producer_call(bus_producer_t *self, bus_work_fn *fn, void *arg, uint64_t *last_seq_out);

//  Inside a unit of work: the writer's connection, in an open transaction.
//  Borrowed for the duration of the call.
struct pg_conn *bus_tx_conn(bus_tx_t *tx);

//  Inside a unit of work: append an event. The writer sets stream, seq and
//  partition (from `partition_key`, e.g. the order id's 16 bytes), and
//  message_id (UUID v7), occurred_at_us (now) and type (the payload's name)
//  when they are empty, on a copy: the caller's envelope is not changed.
//  It is packed once, here, and those bytes are stored and published. The
//  envelope is borrowed for the call only. Returns 0, or -1 if the
//  envelope is invalid or packs to more than BUS_FRAME_MAX bytes: the unit
//  then fails with BUS_MALFORMED or BUS_TOO_LARGE whatever it returns.
int bus_tx_append(bus_tx_t *tx,
                  Ev__V1__Envelope *envelope,
                  const void *partition_key,
                  size_t partition_key_size);

#endif
