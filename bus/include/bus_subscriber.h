/*  =========================================================================
    bus_subscriber - a consumer group's replica: catch up, apply, checkpoint

    The subscriber side of docs/protocol.md (sections 3, 4, 6, 7, 8, 10). For
    each configured publisher address (a host name may resolve to several
    pods, and is resolved again every resolve_ms) it keeps a peer: a SUB
    socket on the PUB and a DEALER on the ROUTER (port + 1). It learns each
    peer's stream from the first heartbeat or event, loads that stream's
    checkpoints, replays from them (without the Clone race: replay is asked
    only after the SUB has heard the publisher), then applies live events,
    detecting gaps and lost tails by sequence number and filling them by
    replay. Events are applied in batches: one transaction runs the handler
    for many events and raises the checkpoints, so each event has exactly
    one effect per consumer group even across kill -9, restarts and
    rescales (replica i of n applies the partitions p with p % n == i).

    The handler runs inside that transaction. In a service that also
    publishes (inventory answers OrderCreated with StockReserved), give the
    subscriber the service's bus_stream: batches are then submitted as units
    of work to that writer, so the handler's effects, the checkpoint and the
    events it appends commit together. bus_apply_append_caused appends such
    an answer with the cause's correlation, causation and trace.

    A handler that fails is retried alone with exponential backoff (the
    events before it are committed first), then its event is parked in
    bus_dead_letters with the handler's message and the stream moves on;
    bus_inbox_retry marks a dead letter for retry, and every replica of the
    group polls for such marks (BUS_SUBSCRIBER_RETRY_POLL_MS), re-applies the
    event through the handler and removes it on success. Unknown event types
    are skipped and counted; malformed frames are dropped, counted and
    logged at most once per peer per BUS_SUBSCRIBER_LOG_MS. A replay that
    finds the needed events removed by retention (TRIMMED) stops that stream
    with an error log and bus_trimmed_total: nothing is skipped silently.

    Metrics, labelled consumer and stream: bus_applied_total,
    bus_skipped_total, bus_duplicates_total, bus_gaps_total,
    bus_replay_requests_sent_total, bus_replayed_total,
    bus_dead_letters_total, bus_trimmed_total, bus_malformed_frames_total,
    bus_unknown_types_total (+ type), bus_lag (gauge),
    bus_apply_batch_events and bus_apply_seconds (histograms).

        bus_subscriber_config_t config = {
            .consumer = "inventory", .conninfo = dsn,
            .publishers = "tcp://order-0.order:5560,tcp://order-1.order:5560",
            .handler = s_apply, .handler_arg = self, .log = log, .metrics = metrics};
        bus_subscriber_t *subscriber = bus_subscriber_new(&config);
        ...
        bus_subscriber_destroy(&subscriber);

    with a handler such as

        static int
        s_apply(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
        {
            PGresult *result = PQexecParams(bus_apply_conn(apply), ...);
            if (PQresultStatus(result) != PGRES_COMMAND_OK) {
                bus_apply_fail(apply, "%s", PQresultErrorMessage(result));
                PQclear(result);
                return -1;
            }
            PQclear(result);
            return 0;
        }
    =========================================================================
*/
#ifndef BUS_SUBSCRIBER_H_INCLUDED
#define BUS_SUBSCRIBER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_rc.h"
#include "bus_envelope.h"
#include "bus_stream.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "svc_trace.h"
#include "svc_uuid.h"

struct pg_conn;

typedef struct bus_subscriber bus_subscriber_t;
typedef struct bus_apply bus_apply_t;

#define BUS_SUBSCRIBER_BATCH_MAX_DEFAULT 256
#define BUS_SUBSCRIBER_ATTEMPTS_DEFAULT 5
#define BUS_SUBSCRIBER_BACKOFF_MS_DEFAULT 100
#define BUS_SUBSCRIBER_READY_LAG_DEFAULT 1000
#define BUS_SUBSCRIBER_RESOLVE_MS_DEFAULT 10000

//  Limits on the configuration (it comes from the environment): bytes of
//  a consumer group name, entries in `publishers`, bytes of one of them,
//  the largest partition count and the largest batch_max.
#define BUS_SUBSCRIBER_CONSUMER_MAX 64
#define BUS_SUBSCRIBER_HOSTS_MAX 64
#define BUS_SUBSCRIBER_ENDPOINT_MAX 300
#define BUS_SUBSCRIBER_PARTITIONS_MAX 65536
#define BUS_SUBSCRIBER_BATCH_MAX_LIMIT 10000

//  Limits on what the network can make a subscriber hold: resolved
//  addresses (all hosts together), distinct streams, type labels of
//  bus_unknown_types_total (past this, type="other"), ZMQ_MAXMSGSIZE above
//  BUS_FRAME_MAX, and replay replies read before applying.
#define BUS_SUBSCRIBER_PEERS_MAX 256
#define BUS_SUBSCRIBER_STREAMS_MAX 1024
#define BUS_SUBSCRIBER_UNKNOWN_TYPES_MAX 32
#define BUS_SUBSCRIBER_FRAME_SLACK 4096
#define BUS_SUBSCRIBER_REPLIES_PER_TURN 4

//  Timing: the tick (replay timeouts, lag gauge, silent peers); a replay
//  request unanswered this long is sent again; a peer silent this long is
//  connected again; how often and how many dead letters marked for retry
//  are re-applied; the longest delay between attempts of one event; one
//  malformed-frame log line per peer per LOG_MS; ZeroMQ's reconnect
//  interval, doubling up to its maximum.
#define BUS_SUBSCRIBER_TICK_MS 100
#define BUS_SUBSCRIBER_REPLAY_TIMEOUT_MS 5000
#define BUS_SUBSCRIBER_PEER_SILENT_MS 10000
#define BUS_SUBSCRIBER_RETRY_POLL_MS 1000
#define BUS_SUBSCRIBER_RETRIES_PER_POLL 16
#define BUS_SUBSCRIBER_BACKOFF_MAX_MS 60000
#define BUS_SUBSCRIBER_LOG_MS 10000
#define BUS_SUBSCRIBER_RECONNECT_IVL_MS 100
#define BUS_SUBSCRIBER_RECONNECT_IVL_MAX_MS 5000

//  Longest failure message kept from a handler (bus_apply_fail).
#define BUS_SUBSCRIBER_ERROR_MAX 1024

//  Apply one event inside the batch transaction. Return 0 when applied, -1
//  when it failed (say why with bus_apply_fail). The event and the context
//  are borrowed for the call. A handler may run more than once for one
//  event (a failed batch is retried), so it must have no effect outside the
//  transaction. A handler whose SQL fails must return -1; if it returns 0
//  anyway, the aborted transaction is noticed and counted as its failure.
//  It runs on the subscriber's thread, or on the stream writer's thread
//  while the subscriber waits for it (config.stream set): never on two
//  threads at once for one subscriber, but `handler_arg` shared by several
//  subscribers is used concurrently.
typedef int(bus_handler_fn)(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg);

//  Apply a batch of events at once, inside the batch transaction: `events`
//  are `count` (1 .. batch_max) owned events of handled types from ONE
//  stream, in seq order, all above their checkpoints; the array and the
//  events are borrowed for the call. This is how a handler does set-based
//  SQL (one statement for many events) instead of a round trip per event.
//  Return 0 when every event was applied, -1 when the batch failed (say
//  why with bus_apply_fail): the subscriber then re-runs the same events
//  one per transaction (count 1) to find the one that fails, which is
//  retried with backoff and dead-lettered exactly as with `handler`. The
//  same rules as bus_handler_fn otherwise (may run more than once; no
//  effect outside the transaction; same threads).
typedef int(bus_batch_handler_fn)(bus_apply_t *apply,
                                  const Ev__V1__Envelope *const *events,
                                  size_t count,
                                  void *arg);

typedef struct {
    const char *consumer;     //  consumer group name, e.g. "inventory"
    const char *conninfo;     //  the consumer's database (used when stream is NULL,
                              //  and always for reading checkpoints and dead letters;
                              //  with a stream, the stream's own database)
    bus_stream_t *stream;     //  optional: apply through this writer (effects, checkpoint
                              //  and appended events in one transaction); borrowed,
                              //  outlives the subscriber
    bool writer_for_appends;  //  with stream: apply each batch in a transaction on the
                              //  subscriber's own connection, and through the writer
                              //  only a batch whose handler appends (it is rolled back
                              //  and run again as a unit of the writer): for handlers
                              //  that seldom append, whose batches then need not wait
                              //  for the writer's (bus_apply_writing says where a call
                              //  runs)
    bool commit_async;        //  commit on the subscriber's own connection with
                              //  synchronous_commit off: only for a consumer whose effects
                              //  are all outside the database and idempotent by message id
                              //  (the broker shim). A database crash may then lose the last
                              //  checkpoint advances: those events are handed again, in
                              //  order, never skipped. The writer's transactions (appends)
                              //  stay durable
    const char *publishers;   //  comma-separated PUB endpoints "tcp://host:port"; each
                              //  host is resolved to all its addresses; replay is port + 1
    const char *const *types; //  NULL-terminated event type names handled; NULL = all.
                              //  Other types are skipped (their seq still advances)
    uint32_t replica_index;   //  i in [0, n)
    uint32_t replica_count;   //  n >= 1; 0 = 1
    uint32_t partitions;      //  P, as the publishers use; 0 = BUS_PARTITIONS_DEFAULT
    bus_handler_fn *handler;  //  called for each owned event of a handled type, or NULL
    bus_batch_handler_fn *batch_handler; //  or this, called once per batch (exactly one of the
                                         //  two is set)
    void *handler_arg;                   //  borrowed
    int batch_max;                       //  events per transaction; 0 = default
    int max_attempts;                    //  handler attempts before dead-lettering; 0 = default
    int backoff_ms;                      //  first retry delay, doubling; 0 = default
    int64_t ready_lag;                   //  not ready while lag exceeds this; 0 = default
    int resolve_ms;                      //  re-resolve host names this often; 0 = default
    int rcvhwm;                          //  SUB receive high-water mark; 0 = ZeroMQ's default
    const char *curve_client_cert;       //  this process's secret cert, or NULL for no CURVE
    const char *curve_server_public;     //  the publishers' public cert
    svc_log_t *log;                      //  borrowed, outlives the subscriber
    svc_metrics_t *metrics;              //  borrowed, outlives the subscriber
} bus_subscriber_config_t;

//  Start the replica. Returns NULL if the configuration is invalid (logged
//  as bus.subscriber.config.invalid): consumer empty or too long,
//  publishers not a list of tcp://host:port, replica_index >= replica_count,
//  a negative or too large number, or CURVE files that do not load. The
//  configuration is copied (except what is marked borrowed) before this
//  returns. Unreachable publishers or database are not failures: it
//  retries (database: backoff from BUS_RECONNECT_MIN_MS to
//  BUS_RECONNECT_MAX_MS) and reports not ready. Caller owns return value.
bus_subscriber_t *bus_subscriber_new(const bus_subscriber_config_t *config);

//  Finish the batch in flight, close sockets and connections; nulls the
//  pointer. Events taken but not yet applied are dropped: they are above
//  the checkpoints, so the next start replays them.
void bus_subscriber_destroy(bus_subscriber_t **self_p);

//  True when the database is reachable; every configured publisher host
//  has at least one address heard from (a heartbeat or an event), none
//  silent for BUS_SUBSCRIBER_PEER_SILENT_MS; every stream heard of is
//  within ready_lag of its publisher's tail; and no stream is TRIMMED.
//  (Publishers resolvable only once ready would deadlock with this when
//  services subscribe to each other: their headless Services must publish
//  not-ready addresses.)
bool bus_subscriber_ready(bus_subscriber_t *self);

//  Total events applied by this replica since start (for tests and tools).
uint64_t bus_subscriber_applied(bus_subscriber_t *self);

//  Inside a handler: the transaction's connection (the consumer's
//  database, or the stream writer's when config.stream is set), in an open
//  transaction; never BEGIN, COMMIT or ROLLBACK on it. Borrowed for the call.
struct pg_conn *bus_apply_conn(bus_apply_t *apply);

//  Inside a handler that runs outside the writer (writer_for_appends): ask
//  for this batch to run again in the writer's transaction instead, as an
//  append does, e.g. when a row it needs is locked by the writer (waiting
//  for it could deadlock with the writer's units, which lock in any
//  order). Returns 0, and the handler then returns -1: the batch is
//  rolled back and run in the writer, not counted as a failure. Returns -1
//  when that is not possible (in the writer already, or no
//  writer_for_appends).
int bus_apply_to_writer(bus_apply_t *apply);

//  Inside a batch handler running on the subscriber's own connection (no
//  stream, or writer_for_appends; not in the writer): let the batch grow.
//  The subscriber reads the live input that has arrived since (without
//  waiting and without applying anything), and the events of the batch's
//  stream that follow it in order join it, up to batch_max in all: this
//  transaction applies them and raises the checkpoints past them, exactly
//  as if they had been in the batch from the start (the same checks: not
//  owned, not handled, already applied are skipped). Sets *events_out to
//  those of them the handler must apply, in seq order (valid until the
//  next call or the handler's return), and returns how many; 0 when none
//  arrived or the batch may not grow (in the writer, a retry one event at
//  a time, the database failed: then the batch fails as if the handler
//  had). For a handler that waits on something outside (a broker's
//  confirms) and would rather apply what arrives meanwhile than hold it
//  until the next transaction. Call it repeatedly; stop when it returns 0
//  and the wait is over.
size_t bus_apply_more(bus_apply_t *apply, const Ev__V1__Envelope *const **events_out);

//  Inside a batch handler that grows its batch: wait until the libzmq
//  socket `socket` (what the handler waits on) is readable, or live input
//  has arrived for bus_apply_more, at most `timeout_ms` (-1: no limit).
//  Returns 1 when `socket` is readable, else 0. Where the batch cannot
//  grow, it waits on `socket` alone.
int bus_apply_wait(bus_apply_t *apply, void *socket, int timeout_ms);

//  Inside a handler: true when it runs in the stream writer's transaction
//  (on the writer's thread, bus_apply_append available), false in the
//  subscriber's own (its thread). With writer_for_appends a handler runs
//  on either, never on both at once: one that keeps prepared statements
//  per connection keeps a set for each.
bool bus_apply_writing(bus_apply_t *apply);

//  Inside a handler: append an event to the service's own stream in the
//  same transaction (as bus_tx_append: the writer fills stream, seq,
//  partition and missing ids; the envelope is borrowed for the call). Only
//  when the subscriber was given a stream; returns -1 otherwise or if the
//  envelope is invalid, and the handler's event then fails even if the
//  handler returns 0.
int bus_apply_append(bus_apply_t *apply,
                     Ev__V1__Envelope *envelope,
                     const void *partition_key,
                     size_t partition_key_size);

//  What an event appended in answer to the event being handled takes
//  from that cause: the entity both are about (the order: the answer's
//  correlation id and partition key), the cause's message id (the
//  answer's causation id) and a child of the cause's trace, one per cause
//  and entity, with their text forms for log lines. The caller's struct
//  (on its stack); it owns nothing, so there is no reset.
typedef struct {
    const Ev__V1__Envelope *event;          //  the event being handled (borrowed)
    svc_uuid_t id;                          //  the entity, e.g. the order id
    char id_text[SVC_UUID_TEXT_SIZE];       //  its text form, for logs
    char traceparent[SVC_TRACEPARENT_SIZE]; //  a child of the cause's trace (a new
                                            //  trace if the cause has none)
    char trace_id[SVC_TRACE_ID_SIZE];       //  its trace id, for logs
} bus_cause_t;

//  Fill `self` for answers to `cause` (borrowed: it must outlive `self`'s
//  use) about entity `id`.
void bus_cause_init(bus_cause_t *self, const Ev__V1__Envelope *cause, const svc_uuid_t *id);

//  Inside a handler: append `envelope` as an answer to `cause` with
//  bus_apply_append: its correlation_id, causation_id and traceparent are
//  set to borrow from `cause` (valid while `cause` is), and the entity is
//  the partition key. Returns 0, or -1 after bus_apply_fail ("<cause
//  type>: appending <type> was refused").
int
bus_apply_append_caused(bus_apply_t *apply, const bus_cause_t *cause, Ev__V1__Envelope *envelope);

//  Inside a handler: the batch cannot be applied now for a reason outside
//  its events (a broker the handler forwards them to is down, printf-style
//  why), and the handler then returns -1. Not a failure of any event: the
//  batch is rolled back and the same events are applied again after a
//  backoff (BUS_RECONNECT_MIN_MS doubling to BUS_RECONNECT_MAX_MS), with
//  no attempt counted and nothing dead-lettered, however long it lasts;
//  the stream waits meanwhile (live events it drops are replayed), the
//  replica is not ready, and bus.subscriber.unavailable and
//  bus.subscriber.available are logged once per outage. A dead-letter
//  retry that is unavailable stays marked for the next poll.
void bus_apply_unavailable(bus_apply_t *apply, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

//  Inside a handler: say why it failed, printf-style (logged, and kept with
//  the dead letter, cut to BUS_SUBSCRIBER_ERROR_MAX bytes).
void bus_apply_fail(bus_apply_t *apply, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
