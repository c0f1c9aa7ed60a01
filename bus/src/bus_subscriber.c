/*  =========================================================================
    bus_subscriber - a consumer group's replica: catch up, apply, checkpoint

    One actor with one zloop. Its readers are the pipe and, per peer (one
    resolved publisher address), a SUB (live events, heartbeats) and a
    DEALER (replay replies); its timers are the tick (replay timeouts, lag,
    silent peers), name resolution, the dead-letter retry poll, database
    reconnects and the backoff of a failing event.

    Per stream (not per peer: a restarted pod may come back on another
    address with the same stream) the actor keeps a bus_sequencer, which
    decides what each input means, and a queue of the events it took. After
    every burst of input the queues are flushed: up to batch_max events per
    transaction through the bus_applier. A replay reply is answered by the
    request for the next chunk before its events are applied, so the
    publisher reads the next chunk while we commit this one.

    A failing event: the events before it are committed as a batch, then it
    is retried alone with exponential backoff (a zloop timer; the stream is
    paused meanwhile and replays what it dropped afterwards), and after
    max_attempts it is parked as a dead letter in the transaction that moves
    the checkpoint past it. A batch handler that fails cannot say which
    event failed: its batch is run again one event per transaction, and the
    first that fails alone takes that path. A database failure drops every
    queue and goes back to the checkpoints: simplest, and nothing is lost,
    because replay brings everything after them again.

    A handler that says it is unavailable (bus_apply_unavailable: something
    outside the events is down) is neither a failure nor counted: the
    stream waits with the reconnect backoff (its queue kept, the sequencer
    paused like a retry's) and applies the same batch again; the replica is
    not ready meanwhile.

    Each flush runs in rounds: one transaction per stream with work, all
    handed to the applier at once. Through the stream's writer they are
    submitted together, so the streams share one wait for the writer (and
    usually one commit) instead of waiting one after the other.

    zloop calls every reader whose socket was ready in one poll, even one
    that an earlier timer of the same turn removed. So a peer whose address
    vanished is taken out of the loop at once but freed only at the next
    resolution, many turns later.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_applier.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_keys.h"
#include "bus_live.h"
#include "bus_peers.h"
#include "bus_replay.h"
#include "bus_sequencer.h"
#include "bus_subscriber.h"

//  Most sockets a growing batch's handler waits on: its own and the first
//  peers' SUBs (more peers are read anyway when it takes what arrived).
#define BUS_SUBSCRIBER_WAIT_ITEMS 64

typedef struct s_self self_t;

//  One stream's state.
typedef struct {
    self_t *self;                   //  the actor (borrowed)
    char *name;                     //  stream id (owned)
    bus_sequencer_t *sequencer;     //  the sequencing rules (owned)
    bus_checkpoints_t *checkpoints; //  locked values per partition, NULL until loaded (owned)
    bus_peer_t *peer;               //  where replay requests go, NULL if none (borrowed)
    bus_applier_event_t *queue;     //  events taken, not yet committed (owned array)
    size_t head;                    //  first queued slot
    size_t count;                   //  queued events
    size_t capacity;                //  slots allocated
    uint64_t done_seq;              //  highest seq committed (or the checkpoint)
    int attempts;                   //  failed attempts of the head event
    char *error;                    //  why the head event last failed (owned)
    size_t isolate;                 //  events still to run one per transaction
    size_t prefix;                  //  run only this many next (those before a failure)
    int retry_timer;                //  backoff timer of the head event, -1 if none
    bool held;                      //  waiting for that timer
    int unavailable_ms;             //  next delay while the handler is unavailable
    int64_t unavailable_since;      //  when it first said so (zclock_mono), 0 if it did not
    bool rewound;                   //  the publisher's tail is behind our checkpoint (logged)
    svc_counter_t *applied;         //  bus_applied_total
    svc_counter_t *skipped;         //  bus_skipped_total
    svc_counter_t *duplicates;      //  bus_duplicates_total
    svc_counter_t *gaps;            //  bus_gaps_total
    svc_counter_t *replay_requests; //  bus_replay_requests_sent_total
    svc_counter_t *replayed;        //  bus_replayed_total
    svc_counter_t *dead_letters;    //  bus_dead_letters_total
    svc_counter_t *trimmed;         //  bus_trimmed_total
    svc_gauge_t *lag;               //  bus_lag
    svc_histogram_t *batch_events;  //  bus_apply_batch_events
    svc_histogram_t *apply_seconds; //  bus_apply_seconds
} s_stream_t;

struct s_self {
    zsock_t *pipe;                 //  actor pipe (borrowed)
    zloop_t *loop;                 //  the one loop (owned)
    bus_applier_t *applier;        //  the transactions (owned)
    char *consumer;                //  consumer group (owned)
    int batch_max;                 //  events per transaction
    int max_attempts;              //  handler attempts before parking
    int backoff_ms;                //  first retry delay
    int64_t ready_lag;             //  not ready beyond this lag
    svc_log_t *log;                //  borrowed
    svc_metrics_t *metrics;        //  borrowed
    bus_peers_t *peers;            //  the publishers' addresses (owned)
    bus_live_reader_t *live;       //  receives every peer's live messages (owned)
    zhashx_t *streams;             //  name -> s_stream_t (owned)
    zhashx_t *unknown_types;       //  "stream/type" -> counter (owned keys, borrowed counters)
    int reconnect_ms;              //  next database reconnect delay
    int reconnect_timer;           //  zloop timer id, -1 if none
    uint64_t applied;              //  events applied since start
    bool growing;                  //  reading live input inside a transaction (bus_apply_more)
    bus_applier_batch_t *flushing; //  the batches of the flush under way (borrowed array)
    s_stream_t **flushing_streams; //  their streams (borrowed array)
    size_t flushing_count;         //  how many
};

static void s_self_db_lost(self_t *self, const char *why, const char *error);
static void s_stream_flush(self_t *self, s_stream_t *stream);

//  --------------------------------------------------------------------------
//  Check what cannot be asserted (it comes from the environment). Logs why.
static bool
s_config_valid(const bus_subscriber_config_t *config)
{
    const char *why = NULL;
    uint32_t replicas = config->replica_count > 0 ? config->replica_count : 1;
    if (!config->consumer || !*config->consumer ||
        strlen(config->consumer) > BUS_SUBSCRIBER_CONSUMER_MAX) {
        why = "consumer must be 1-64 bytes";
    } else if (!config->publishers || !bus_peers_valid(config->publishers)) {
        why = "publishers must be a comma-separated list of tcp://host:port";
    } else if (config->replica_index >= replicas) {
        why = "replica_index must be below replica_count";
    } else if (config->partitions > BUS_SUBSCRIBER_PARTITIONS_MAX) {
        why = "partitions is too large";
    } else if (config->batch_max < 0 || config->batch_max > BUS_SUBSCRIBER_BATCH_MAX_LIMIT ||
               config->max_attempts < 0 || config->backoff_ms < 0 || config->resolve_ms < 0 ||
               config->rcvhwm < 0 || config->ready_lag < 0) {
        why = "batch_max, max_attempts, backoff_ms, resolve_ms, rcvhwm or ready_lag out of range";
    } else if (!config->curve_client_cert != !config->curve_server_public) {
        why = "CURVE needs both curve_client_cert and curve_server_public";
    }
    if (!why && config->curve_client_cert) {
        //  Try the keys on a socket now: a bad file is a start-up error.
        zsock_t *probe = zsock_new(ZMQ_SUB);
        bus_keys_rc_t rc =
            bus_keys_client_apply(probe, config->curve_client_cert, config->curve_server_public);
        zsock_destroy(&probe);
        why = rc == BUS_KEYS_OK ? NULL : bus_keys_strerror(rc);
    }
    if (why) {
        svc_log_error(config->log, "bus.subscriber.config.invalid", "{s:s?, s:s?, s:s}", "consumer",
                      config->consumer, "publishers", config->publishers, "msg", why);
    }
    return why == NULL;
}

//  --------------------------------------------------------------------------
//  Streams: the queue of taken events

static void
s_stream_push(s_stream_t *stream, Ev__V1__Envelope **envelope_p, bool unknown)
{
    if (stream->head + stream->count == stream->capacity) {
        if (stream->head > 0) {
            memmove(stream->queue, stream->queue + stream->head,
                    stream->count * sizeof *stream->queue);
            stream->head = 0;
        } else {
            stream->capacity = stream->capacity ? stream->capacity * 2 : 64;
            stream->queue = realloc(stream->queue, stream->capacity * sizeof *stream->queue);
            assert(stream->queue);
        }
    }
    stream->queue[stream->head + stream->count++] =
        (bus_applier_event_t){.envelope = *envelope_p, .unknown = unknown};
    *envelope_p = NULL;
}

static void
s_stream_pop(s_stream_t *stream, size_t count)
{
    assert(count <= stream->count);
    for (size_t index = 0; index < count; index++) {
        bus_applier_event_t *event = &stream->queue[stream->head + index];
        bus_envelope_destroy(&event->envelope);
    }
    stream->head += count;
    stream->count -= count;
    if (stream->count == 0) {
        stream->head = 0;
    }
}

static uint64_t
s_stream_lag(s_stream_t *stream)
{
    uint64_t last_seq = bus_sequencer_last_seq(stream->sequencer);
    return last_seq > stream->done_seq ? last_seq - stream->done_seq : 0;
}

//  --------------------------------------------------------------------------
//  Streams: create, destroy, load, reset

static s_stream_t *
s_stream_new(self_t *self, const char *name)
{
    static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    s_stream_t *stream = zmalloc(sizeof *stream);
    stream->self = self;
    stream->name = strdup(name);
    stream->sequencer = bus_sequencer_new(BUS_SUBSCRIBER_REPLAY_TIMEOUT_MS);
    stream->retry_timer = -1;
    svc_metrics_t *metrics = self->metrics;
    const char *consumer = self->consumer;
#define S_COUNTER(field, metric, help)                                                             \
    stream->field =                                                                                \
        svc_metrics_counter(metrics, metric, help, "consumer", consumer, "stream", name, NULL)
    S_COUNTER(applied, "bus_applied_total", "Events applied by the handler");
    S_COUNTER(skipped, "bus_skipped_total", "Events processed without the handler");
    S_COUNTER(duplicates, "bus_duplicates_total", "Events dropped as already processed");
    S_COUNTER(gaps, "bus_gaps_total", "Sequence gaps detected on the live path");
    S_COUNTER(replay_requests, "bus_replay_requests_sent_total", "Replay requests sent");
    S_COUNTER(replayed, "bus_replayed_total", "Events taken from replay replies");
    S_COUNTER(dead_letters, "bus_dead_letters_total", "Events parked as dead letters");
    S_COUNTER(trimmed, "bus_trimmed_total", "Replays refused because retention removed events");
#undef S_COUNTER
    stream->lag = svc_metrics_gauge(metrics, "bus_lag", "Publisher tail minus last processed seq",
                                    "consumer", consumer, "stream", name, NULL);
    stream->batch_events = svc_metrics_histogram_with(
        metrics, "bus_apply_batch_events", "Events per apply transaction", batch_buckets,
        sizeof batch_buckets / sizeof *batch_buckets, "consumer", consumer, "stream", name, NULL);
    stream->apply_seconds =
        svc_metrics_histogram(metrics, "bus_apply_seconds", "Duration of an apply transaction",
                              "consumer", consumer, "stream", name, NULL);
    return stream;
}

static void
s_stream_destroy(s_stream_t **self_p)
{
    assert(self_p);
    s_stream_t *self = *self_p;
    if (self) {
        s_stream_pop(self, self->count);
        freen(self->queue);
        zstr_free(&self->error);
        freen(self->checkpoints);
        bus_sequencer_destroy(&self->sequencer);
        zstr_free(&self->name);
        freen(self);
        *self_p = NULL;
    }
}

static void
s_stream_free(void **item)
{
    s_stream_destroy((s_stream_t **) item);
}

//  Send the replay request the sequencer marked in flight.
static void
s_stream_request(self_t *self, s_stream_t *stream)
{
    svc_counter_inc(stream->replay_requests);
    if (!stream->peer) {
        return; //  asked again at the timeout, once a peer names the stream
    }
    bus_replay_request_t request = {.from_seq = bus_sequencer_replay_from(stream->sequencer),
                                    .max_events = BUS_REPLAY_EVENTS_MAX};
    (void) snprintf(request.stream, sizeof request.stream, "%s", stream->name);
    zframe_t *frame = bus_replay_request_encode(&request);
    assert(frame); //  a valid stream id and from_seq >= 1
    //  A request that cannot be queued is sent again at the timeout.
    zframe_send(&frame, bus_peer_dealer(stream->peer), ZFRAME_DONTWAIT);
    zframe_destroy(&frame);
    svc_log_debug(self->log, "bus.subscriber.replay.requested", "{s:s, s:s, s:I, s:s}", "consumer",
                  self->consumer, "stream", stream->name, "seq", (json_int_t) request.from_seq,
                  "endpoint", bus_peer_endpoint(stream->peer));
}

//  Load the checkpoints and go live from them. Returns 0, or -1 when the
//  database failed (handled: everything is reset).
static int
s_stream_load(self_t *self, s_stream_t *stream)
{
    if (bus_sequencer_state(stream->sequencer) == BUS_SEQUENCER_TRIMMED) {
        return 0;
    }
    char *error = NULL;
    bus_checkpoints_t *checkpoints = NULL;
    if (bus_applier_load(self->applier, stream->name, &checkpoints, &error) != BUS_APPLIER_OK) {
        s_self_db_lost(self, "loading checkpoints", error);
        zstr_free(&error);
        return -1;
    }
    freen(stream->checkpoints);
    stream->checkpoints = checkpoints;
    uint64_t next = bus_applier_next(self->applier, checkpoints);
    stream->done_seq = next - 1;
    bus_sequencer_load(stream->sequencer, next);
    svc_log_info(self->log, "bus.subscriber.stream.loaded", "{s:s, s:s, s:I}", "consumer",
                 self->consumer, "stream", stream->name, "seq", (json_int_t) next);
    return 0;
}

//  Forget what was taken and not committed; wait for the checkpoints.
static void
s_stream_reset(self_t *self, s_stream_t *stream)
{
    s_stream_pop(stream, stream->count);
    if (stream->retry_timer != -1) {
        zloop_timer_end(self->loop, stream->retry_timer);
        stream->retry_timer = -1;
    }
    stream->held = false;
    stream->attempts = 0;
    stream->isolate = stream->prefix = 0;
    zstr_free(&stream->error);
    if (bus_sequencer_state(stream->sequencer) != BUS_SEQUENCER_TRIMMED) {
        bus_sequencer_reset(stream->sequencer);
    }
}

//  The stream named by input from `peer`, created (and loaded) on first
//  sight; NULL past BUS_SUBSCRIBER_STREAMS_MAX streams.
static s_stream_t *
s_self_stream(self_t *self, bus_peer_t *peer, const char *name)
{
    s_stream_t *stream = zhashx_lookup(self->streams, name);
    if (!stream && self->growing) {
        //  A new stream loads its checkpoints, which cannot happen inside
        //  the transaction under way: its next message makes it (this one
        //  is replayed from the checkpoints then).
        return NULL;
    }
    if (!stream) {
        if (zhashx_size(self->streams) >= BUS_SUBSCRIBER_STREAMS_MAX) {
            bus_peer_malformed(peer, "too many streams");
            return NULL;
        }
        stream = s_stream_new(self, name);
        zhashx_insert(self->streams, stream->name, stream);
        stream->peer = peer;
        if (bus_applier_connected(self->applier)) {
            s_stream_load(self, stream);
        }
    }
    stream->peer = peer;
    bus_peer_set_stream(peer, name);
    return stream;
}

//  --------------------------------------------------------------------------
//  Applying: commit, fail, retry

//  A batch committed: drop its events, count, log a dead letter.
static void
s_stream_committed(self_t *self,
                   s_stream_t *stream,
                   size_t count,
                   const bus_applier_result_t *result,
                   int64_t started_us)
{
    stream->done_seq = stream->queue[stream->head + count - 1].envelope->seq;
    s_stream_pop(stream, count);
    svc_counter_add(stream->applied, result->applied);
    svc_counter_add(stream->skipped, result->skipped);
    svc_counter_add(stream->duplicates, result->duplicates);
    svc_counter_add(stream->dead_letters, result->parked);
    svc_histogram_observe(stream->batch_events, (double) count);
    svc_histogram_observe(stream->apply_seconds, (double) (zclock_usecs() - started_us) / 1e6);
    svc_gauge_set(stream->lag, (double) s_stream_lag(stream));
    self->applied += result->applied;
    if (result->parked) {
        svc_log_error(self->log, "bus.subscriber.dead_letter", "{s:s, s:s, s:I, s:i, s:s}",
                      "consumer", self->consumer, "stream", stream->name, "seq",
                      (json_int_t) result->parked_seq, "attempts", stream->attempts, "error",
                      result->error);
    }
    stream->prefix = stream->prefix > count ? stream->prefix - count : 0;
    stream->isolate = stream->isolate > count ? stream->isolate - count : 0;
    stream->attempts = 0;
    zstr_free(&stream->error);
    if (stream->unavailable_since) {
        svc_log_info(self->log, "bus.subscriber.available", "{s:s, s:s, s:I}", "consumer",
                     self->consumer, "stream", stream->name, "unavailable_ms",
                     (json_int_t) (zclock_mono() - stream->unavailable_since));
        stream->unavailable_since = 0;
    }
    stream->unavailable_ms = BUS_RECONNECT_MIN_MS;
}

static int
s_stream_handle_retry(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_stream_t *stream = arg;
    stream->retry_timer = -1;
    stream->held = false;
    s_stream_flush(stream->self, stream);
    return 0;
}

//  Pause the stream and apply its queue again after `delay_ms` (the
//  sequencer drops live events meanwhile; they are replayed after).
static void
s_stream_hold(self_t *self, s_stream_t *stream, int64_t delay_ms)
{
    stream->held = true;
    bus_sequencer_pause(stream->sequencer);
    stream->retry_timer =
        zloop_timer(self->loop, (size_t) delay_ms, 1, s_stream_handle_retry, stream);
}

//  The head event failed alone. Park it after max_attempts, else wait
//  (backoff timer, stream paused). Returns true when the flush must stop.
static bool
s_stream_head_failed(self_t *self, s_stream_t *stream, const char *error)
{
    stream->attempts++;
    zstr_free(&stream->error);
    stream->error = strdup(error);
    const Ev__V1__Envelope *envelope = stream->queue[stream->head].envelope;
    if (stream->attempts >= self->max_attempts) {
        bus_applier_result_t result;
        int64_t started_us = zclock_usecs();
        if (bus_applier_apply(self->applier, stream->name, stream->checkpoints,
                              &stream->queue[stream->head], 1, stream->error, stream->attempts,
                              &result) != BUS_APPLIER_OK) {
            s_self_db_lost(self, "parking a dead letter", result.error);
            return true;
        }
        s_stream_committed(self, stream, 1, &result, started_us);
        return false;
    }
    int64_t delay_ms = self->backoff_ms;
    for (int doubling = 1; doubling < stream->attempts && delay_ms < BUS_SUBSCRIBER_BACKOFF_MAX_MS;
         doubling++) {
        delay_ms *= 2;
    }
    delay_ms = delay_ms < BUS_SUBSCRIBER_BACKOFF_MAX_MS ? delay_ms : BUS_SUBSCRIBER_BACKOFF_MAX_MS;
    svc_log_warn(self->log, "bus.subscriber.retry", "{s:s, s:s, s:I, s:s, s:i, s:I, s:s}",
                 "consumer", self->consumer, "stream", stream->name, "seq",
                 (json_int_t) envelope->seq, "type", envelope->type, "attempts", stream->attempts,
                 "retry_ms", (json_int_t) delay_ms, "error", error);
    s_stream_hold(self, stream, delay_ms);
    return true;
}

//  The handler cannot apply now (bus_apply_unavailable): wait with the
//  reconnect backoff and apply the same events again, counting nothing.
//  Logged once per outage.
static void
s_stream_unavailable(self_t *self, s_stream_t *stream, const char *error)
{
    int delay_ms = bus_db_backoff(&stream->unavailable_ms);
    if (stream->unavailable_since == 0) {
        stream->unavailable_since = zclock_mono();
        svc_log_warn(self->log, "bus.subscriber.unavailable", "{s:s, s:s, s:I, s:s, s:i}",
                     "consumer", self->consumer, "stream", stream->name, "seq",
                     (json_int_t) stream->queue[stream->head].envelope->seq, "error", error,
                     "retry_ms", delay_ms);
    }
    s_stream_hold(self, stream, delay_ms);
}

//  How many events the next transaction takes.
static size_t
s_stream_batch_size(self_t *self, s_stream_t *stream)
{
    size_t size =
        stream->count < (size_t) self->batch_max ? stream->count : (size_t) self->batch_max;
    if (stream->isolate > 0 || stream->attempts > 0) {
        return 1;
    }
    return stream->prefix > 0 && stream->prefix < size ? stream->prefix : size;
}

//  The stream's next transaction, if it can run now: false if not.
static bool
s_stream_next(self_t *self, s_stream_t *stream, bus_applier_batch_t *batch)
{
    if (stream->count == 0 || stream->held || !stream->checkpoints ||
        !bus_applier_connected(self->applier)) {
        return false;
    }
    *batch = (bus_applier_batch_t){.stream = stream->name,
                                   .checkpoints = stream->checkpoints,
                                   .events = &stream->queue[stream->head],
                                   .count = s_stream_batch_size(self, stream)};
    return true;
}

//  What a transaction of the stream did. A failure at event k commits the
//  k before it, then retries k alone; a failure that names no event
//  re-runs the batch one event per transaction. Returns true while the
//  stream may go on, false when it must stop (waiting for a retry, or the
//  database was lost: then every stream was reset).
static bool
s_stream_settle(self_t *self,
                s_stream_t *stream,
                const bus_applier_batch_t *batch,
                int64_t started_us)
{
    const bus_applier_result_t *result = &batch->result;
    size_t count = batch->count + result->grown; //  a batch may have grown (bus_apply_more)
    if (batch->rc == BUS_APPLIER_OK) {
        s_stream_committed(self, stream, count, result, started_us);
    } else if (batch->rc == BUS_APPLIER_UNAVAILABLE) {
        s_stream_unavailable(self, stream, result->error);
        return false;
    } else if (batch->rc == BUS_APPLIER_DB) {
        s_self_db_lost(self, "applying a batch", result->error);
        return false;
    } else if (result->failed_index != SIZE_MAX && result->failed_index > 0) {
        stream->prefix = result->failed_index;
    } else if (result->failed_index == SIZE_MAX && count > 1) {
        stream->isolate = count;
    } else if (s_stream_head_failed(self, stream, result->error)) {
        return false;
    }
    return true;
}

//  A stream with nothing left to apply asks for what it dropped while
//  paused.
static void
s_stream_drained(self_t *self, s_stream_t *stream)
{
    if (stream->count == 0 && !stream->held &&
        bus_sequencer_resume(stream->sequencer, zclock_mono()) == BUS_SEQUENCER_REPLAY) {
        s_stream_request(self, stream);
    }
}

//  The batches a flush hands the applier, while it does: a batch that
//  grows reads live input, which may move any stream's queue, so their
//  events are found again (s_self_more).
static void
s_self_flushing(self_t *self, bus_applier_batch_t *batches, s_stream_t **streams, size_t count)
{
    self->flushing = batches;
    self->flushing_streams = streams;
    self->flushing_count = count;
}

//  Apply one stream's queue in batches (its retry timer).
static void
s_stream_flush(self_t *self, s_stream_t *stream)
{
    bus_applier_batch_t batch;
    while (s_stream_next(self, stream, &batch)) {
        int64_t started_us = zclock_usecs();
        s_self_flushing(self, &batch, &stream, 1);
        bus_applier_apply_each(self->applier, &batch, 1);
        s_self_flushing(self, NULL, NULL, 0);
        if (!s_stream_settle(self, stream, &batch, started_us)) {
            return;
        }
    }
    s_stream_drained(self, stream);
}

//  Apply every stream's queue: in rounds of one transaction per stream
//  with work, handed to the applier together (through a writer they
//  share one wait, and often one commit). The committed ones are settled
//  first: a database loss while settling resets every stream.
static void
s_self_flush(self_t *self)
{
    size_t capacity = zhashx_size(self->streams);
    s_stream_t **streams = zmalloc((capacity + 1) * sizeof(s_stream_t *));
    bus_applier_batch_t *batches = zmalloc((capacity + 1) * sizeof *batches);
    bool lost = false;
    while (!lost && bus_applier_connected(self->applier)) {
        size_t count = 0;
        for (s_stream_t *stream = zhashx_first(self->streams); stream && count < capacity;
             stream = zhashx_next(self->streams)) {
            if (s_stream_next(self, stream, &batches[count])) {
                streams[count++] = stream;
            }
        }
        if (count == 0) {
            break;
        }
        int64_t started_us = zclock_usecs();
        s_self_flushing(self, batches, streams, count);
        bus_applier_apply_each(self->applier, batches, count);
        s_self_flushing(self, NULL, NULL, 0);
        for (int pass = 0; pass < 2 && !lost; pass++) {
            for (size_t index = 0; index < count && !lost; index++) {
                if ((batches[index].rc == BUS_APPLIER_OK) == (pass == 0)) {
                    lost = !s_stream_settle(self, streams[index], &batches[index], started_us) &&
                           !bus_applier_connected(self->applier);
                }
            }
        }
    }
    for (s_stream_t *stream = zhashx_first(self->streams);
         stream && !lost && bus_applier_connected(self->applier);
         stream = zhashx_next(self->streams)) {
        s_stream_drained(self, stream);
    }
    freen(batches);
    freen(streams);
}

//  --------------------------------------------------------------------------
//  The database

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

//  Drop the connection and every queue; reconnect with backoff, then
//  start again from the checkpoints.
static void
s_self_db_lost(self_t *self, const char *why, const char *error)
{
    svc_log_warn(self->log, "bus.subscriber.db.lost", "{s:s, s:s, s:s, s:i}", "consumer",
                 self->consumer, "why", why, "error", error ? error : "", "retry_ms",
                 self->reconnect_ms);
    bus_applier_disconnect(self->applier);
    for (s_stream_t *stream = zhashx_first(self->streams); stream;
         stream = zhashx_next(self->streams)) {
        s_stream_reset(self, stream);
    }
    s_self_schedule_reconnect(self);
}

//  Connect, then load every known stream and ask for what it missed.
static int
s_self_db_start(self_t *self)
{
    char *error = NULL;
    if (bus_applier_connect(self->applier, &error)) {
        svc_log_warn(self->log, "bus.subscriber.db.unavailable", "{s:s, s:s, s:i}", "consumer",
                     self->consumer, "error", error, "retry_ms", self->reconnect_ms);
        zstr_free(&error);
        s_self_schedule_reconnect(self);
        return -1;
    }
    svc_log_info(self->log, "bus.subscriber.db.ready", "{s:s}", "consumer", self->consumer);
    self->reconnect_ms = BUS_RECONNECT_MIN_MS;
    int64_t now = zclock_mono();
    for (s_stream_t *stream = zhashx_first(self->streams); stream;
         stream = zhashx_next(self->streams)) {
        if (bus_sequencer_state(stream->sequencer) == BUS_SEQUENCER_WAITING) {
            if (s_stream_load(self, stream)) {
                return -1;
            }
            if (bus_sequencer_tick(stream->sequencer, now) == BUS_SEQUENCER_REPLAY) {
                s_stream_request(self, stream);
            }
        }
    }
    return 0;
}

static int
s_self_handle_reconnect(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    self->reconnect_timer = -1;
    s_self_db_start(self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Live input: events and heartbeats, one frame or two (bus_live)

static void
s_self_count_unknown(self_t *self, s_stream_t *stream, const char *type)
{
    char *key = zsys_sprintf("%s/%s", stream->name, type);
    svc_counter_t *counter = zhashx_lookup(self->unknown_types, key);
    if (!counter) {
        //  Type names come from the wire: bound the label values.
        bool room = zhashx_size(self->unknown_types) < BUS_SUBSCRIBER_UNKNOWN_TYPES_MAX;
        counter = svc_metrics_counter(self->metrics, "bus_unknown_types_total",
                                      "Events skipped because their type is unknown here",
                                      "consumer", self->consumer, "stream", stream->name, "type",
                                      room ? type : "other", NULL);
        if (room) {
            zhashx_insert(self->unknown_types, key, counter);
        }
    }
    svc_counter_inc(counter);
    zstr_free(&key);
}

//  An event taken by the sequencer joins its stream's queue.
//  (The envelope keeps its packed bytes, which a dead letter stores.)
static void
s_stream_take(self_t *self, s_stream_t *stream, Ev__V1__Envelope **envelope_p, bool unknown)
{
    if (unknown) {
        s_self_count_unknown(self, stream, (*envelope_p)->type);
    }
    s_stream_push(stream, envelope_p, unknown);
}

//  `now_ms` is the burst's time (zclock_mono): it only dates a replay
//  request, so one clock read serves a burst of input.
static void
s_self_on_event(
    self_t *self, bus_peer_t *peer, Ev__V1__Envelope **envelope_p, bool unknown, int64_t now_ms)
{
    s_stream_t *stream = s_self_stream(self, peer, (*envelope_p)->stream);
    if (!stream) {
        return;
    }
    uint64_t seq = (*envelope_p)->seq;
    bus_sequencer_action_t action = bus_sequencer_event(stream->sequencer, seq, now_ms);
    if (action == BUS_SEQUENCER_APPLY) {
        s_stream_take(self, stream, envelope_p, unknown);
    } else if (action == BUS_SEQUENCER_DUPLICATE) {
        svc_counter_inc(stream->duplicates);
    } else if (action == BUS_SEQUENCER_GAP) {
        svc_counter_inc(stream->gaps);
        svc_log_debug(self->log, "bus.subscriber.gap", "{s:s, s:s, s:I, s:I}", "consumer",
                      self->consumer, "stream", stream->name, "seq", (json_int_t) seq, "next",
                      (json_int_t) bus_sequencer_replay_from(stream->sequencer));
        s_stream_request(self, stream);
    }
}

//  A tail behind what we applied means the stream was reset (its log
//  lost or its id reused): its new events would all look like duplicates.
static void
s_stream_check_tail(self_t *self, s_stream_t *stream, uint64_t last_seq)
{
    bool rewound = last_seq < stream->done_seq;
    if (rewound && !stream->rewound) {
        svc_log_error(self->log, "bus.subscriber.tail.behind", "{s:s, s:s, s:I, s:I, s:s}",
                      "consumer", self->consumer, "stream", stream->name, "seq",
                      (json_int_t) stream->done_seq, "last_seq", (json_int_t) last_seq, "msg",
                      "the publisher's tail is behind this consumer's checkpoint: its events"
                      " up to the checkpoint are dropped as duplicates");
    }
    stream->rewound = rewound;
}

static void
s_self_on_heartbeat(self_t *self,
                    bus_peer_t *peer,
                    const bus_heartbeat_t *heartbeat,
                    int64_t now_ms)
{
    s_stream_t *stream = s_self_stream(self, peer, heartbeat->stream);
    if (!stream) {
        return;
    }
    if (bus_sequencer_heartbeat(stream->sequencer, heartbeat->last_seq, now_ms) ==
        BUS_SEQUENCER_REPLAY) {
        s_stream_request(self, stream);
    }
    s_stream_check_tail(self, stream, heartbeat->last_seq);
    svc_gauge_set(stream->lag, (double) s_stream_lag(stream));
}

static void
s_peer_on_live(bus_peer_t *peer, bus_live_t *live, int64_t now_ms)
{
    self_t *self = bus_peer_owner(peer);
    if (live->kind == BUS_LIVE_HEARTBEAT) {
        s_self_on_heartbeat(self, peer, &live->heartbeat, now_ms);
    } else if (live->kind == BUS_LIVE_EVENT) {
        s_self_on_event(self, peer, &live->envelope, live->rc == BUS_UNKNOWN_TYPE, now_ms);
        bus_envelope_destroy(&live->envelope);
    } else {
        bus_peer_malformed(peer, live->reason);
    }
}

//  Take what a peer's SUB holds (up to a batch), without applying it.
static void
s_peer_take_live(bus_peer_t *peer, void *arg)
{
    self_t *self = arg;
    int64_t now_ms = zclock_mono();
    void *sub = zsock_resolve(bus_peer_sub(peer));
    bus_live_t live;
    for (int count = 0;
         count < self->batch_max && bus_live_reader_recv(self->live, sub, ZMQ_DONTWAIT, &live) == 0;
         count++) {
        s_peer_on_live(peer, &live, now_ms);
    }
}

static size_t
s_self_more(void *arg, const char *name, size_t count, const bus_applier_event_t **events_out);
static int s_self_wait(void *arg, void *socket, int timeout_ms);

static int
s_peer_handle_sub(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    bus_peer_t *peer = arg;
    self_t *self = bus_peer_owner(peer);
    bus_peer_heard(peer);
    //  Take what is waiting (up to a batch), then apply it together.
    s_peer_take_live(peer, self);
    s_self_flush(self);
    return 0;
}

//  A batch grows (bus_apply_more, inside its transaction): read what every
//  peer has sent, queue it, apply nothing; then point the flush's batches
//  at their queues again and say how far the growing one may reach.
static size_t
s_self_more(void *arg, const char *name, size_t count, const bus_applier_event_t **events_out)
{
    self_t *self = arg;
    assert(!self->growing);
    self->growing = true;
    bus_peers_each(self->peers, s_peer_take_live, self);
    self->growing = false;
    for (size_t index = 0; index < self->flushing_count; index++) {
        s_stream_t *stream = self->flushing_streams[index];
        self->flushing[index].events = &stream->queue[stream->head];
    }
    s_stream_t *stream = zhashx_lookup(self->streams, name);
    assert(stream && stream->count >= count);
    *events_out = &stream->queue[stream->head];
    if (stream->isolate > 0 || stream->prefix > 0 || stream->attempts > 0) {
        return count; //  running events one by one, or only those before a failure
    }
    size_t most = (size_t) self->batch_max;
    return stream->count < most ? stream->count : most;
}

//  A growing batch's handler waits: on its socket and every peer's SUB.
typedef struct {
    zmq_pollitem_t *items; //  the poll set (first: the handler's socket)
    size_t count;          //  used
    size_t capacity;       //  slots
} s_wait_t;

static void
s_wait_add_peer(bus_peer_t *peer, void *arg)
{
    s_wait_t *wait = arg;
    if (wait->count < wait->capacity) {
        wait->items[wait->count++] =
            (zmq_pollitem_t){zsock_resolve(bus_peer_sub(peer)), 0, ZMQ_POLLIN, 0};
    }
}

static int
s_self_wait(void *arg, void *socket, int timeout_ms)
{
    self_t *self = arg;
    zmq_pollitem_t items[BUS_SUBSCRIBER_WAIT_ITEMS];
    s_wait_t wait = {items, 1, BUS_SUBSCRIBER_WAIT_ITEMS};
    items[0] = (zmq_pollitem_t){socket, 0, ZMQ_POLLIN, 0};
    bus_peers_each(self->peers, s_wait_add_peer, &wait);
    if (zmq_poll(items, (int) wait.count, timeout_ms) <= 0) {
        return 0;
    }
    return (items[0].revents & ZMQ_POLLIN) ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Replay replies: [ReplayReply][envelope]...

//  Feed the events of a reply being read; stop at the first bad one.
static void
s_stream_read_reply(self_t *self, s_stream_t *stream, bus_peer_t *peer, zmsg_t *msg)
{
    zframe_t *frame = zmsg_pop(msg);
    while (frame) {
        Ev__V1__Envelope *envelope = NULL;
        bus_rc_t rc = bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope);
        bus_sequencer_action_t action = BUS_SEQUENCER_OUT_OF_ORDER;
        if ((rc == BUS_OK || rc == BUS_UNKNOWN_TYPE) && streq(envelope->stream, stream->name)) {
            action = bus_sequencer_replayed(stream->sequencer, envelope->seq);
        }
        if (action == BUS_SEQUENCER_APPLY) {
            svc_counter_inc(stream->replayed);
            s_stream_take(self, stream, &envelope, rc == BUS_UNKNOWN_TYPE);
        } else if (action == BUS_SEQUENCER_DUPLICATE) {
            svc_counter_inc(stream->duplicates);
        } else if (action == BUS_SEQUENCER_OUT_OF_ORDER) {
            bus_peer_malformed(peer, "a replayed event that does not decode or is out of order");
        }
        bus_envelope_destroy(&envelope);
        zframe_destroy(&frame);
        frame = action == BUS_SEQUENCER_OUT_OF_ORDER ? NULL : zmsg_pop(msg);
    }
}

static void
s_peer_on_reply(bus_peer_t *peer, zmsg_t *msg)
{
    self_t *self = bus_peer_owner(peer);
    zframe_t *header = zmsg_pop(msg);
    bus_replay_reply_t reply;
    if (!header || bus_replay_reply_decode(zframe_data(header), zframe_size(header), &reply)) {
        bus_peer_malformed(peer, "a replay reply that does not decode");
        zframe_destroy(&header);
        return;
    }
    zframe_destroy(&header);
    s_stream_t *stream = zhashx_lookup(self->streams, reply.stream);
    if (!stream) {
        return; //  BAD_REQUEST (no stream) or a stream we never asked about
    }
    bus_sequencer_action_t action = bus_sequencer_reply(stream->sequencer, &reply);
    if (action == BUS_SEQUENCER_READ) {
        s_stream_read_reply(self, stream, peer, msg);
        if (bus_sequencer_reply_done(stream->sequencer, zclock_mono()) == BUS_SEQUENCER_REPLAY) {
            s_stream_request(self, stream); //  the next chunk, read while we apply this one
        }
    } else if (action == BUS_SEQUENCER_STOP) {
        svc_counter_inc(stream->trimmed);
        svc_log_error(self->log, "bus.subscriber.trimmed", "{s:s, s:s, s:I, s:I, s:s}", "consumer",
                      self->consumer, "stream", stream->name, "seq", (json_int_t) reply.from_seq,
                      "first_seq", (json_int_t) reply.first_seq, "msg",
                      "the events to apply next were removed by the publisher's retention;"
                      " this stream stops until an operator moves its checkpoints");
    } else if (action == BUS_SEQUENCER_REFUSED) {
        svc_log_warn(self->log, "bus.subscriber.replay.refused", "{s:s, s:s, s:I, s:s, s:i}",
                     "consumer", self->consumer, "stream", stream->name, "seq",
                     (json_int_t) reply.from_seq, "endpoint", bus_peer_endpoint(peer), "status",
                     (int) reply.status);
    }
}

static int
s_peer_handle_dealer(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    bus_peer_t *peer = arg;
    for (int count = 0; count < BUS_SUBSCRIBER_REPLIES_PER_TURN &&
                        (zsock_events(bus_peer_dealer(peer)) & ZMQ_POLLIN);
         count++) {
        zmsg_t *msg = zmsg_recv(bus_peer_dealer(peer));
        if (!msg) {
            break;
        }
        s_peer_on_reply(peer, msg);
        zmsg_destroy(&msg);
    }
    s_self_flush(bus_peer_owner(peer));
    return 0;
}

//  --------------------------------------------------------------------------
//  Timers: the tick and the dead-letter retry poll

//  A peer's address vanished: streams ask their replays elsewhere.
static void
s_self_forget_peer(bus_peer_t *peer, void *owner)
{
    self_t *self = owner;
    for (s_stream_t *stream = zhashx_first(self->streams); stream;
         stream = zhashx_next(self->streams)) {
        if (stream->peer == peer) {
            stream->peer = NULL; //  the next heartbeat names the new one
        }
    }
}

static int
s_self_handle_resolve(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bus_peers_resolve(((self_t *) arg)->peers);
    return 0;
}

static int
s_self_handle_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    int64_t now = zclock_mono();
    for (s_stream_t *stream = zhashx_first(self->streams); stream;
         stream = zhashx_next(self->streams)) {
        if (bus_sequencer_tick(stream->sequencer, now) == BUS_SEQUENCER_REPLAY) {
            s_stream_request(self, stream);
        }
        svc_gauge_set(stream->lag, (double) s_stream_lag(stream));
    }
    bus_peers_tick(self->peers, now);
    return 0;
}

static int
s_self_handle_retries(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    for (int count = 0;
         count < BUS_SUBSCRIBER_RETRIES_PER_POLL && bus_applier_connected(self->applier); count++) {
        bus_applier_retry_t retry;
        bus_applier_rc_t rc = bus_applier_retry(self->applier, &retry);
        if (rc == BUS_APPLIER_UNAVAILABLE) {
            break; //  still marked: the next poll tries again
        }
        if (rc != BUS_APPLIER_OK) {
            s_self_db_lost(self, "retrying a dead letter", retry.error);
            break;
        }
        if (!retry.claimed) {
            break;
        }
        if (retry.applied) {
            self->applied++;
            svc_log_info(self->log, "bus.subscriber.dead_letter.applied", "{s:s, s:s, s:I, s:I}",
                         "consumer", self->consumer, "stream", retry.stream, "seq",
                         (json_int_t) retry.seq, "id", (json_int_t) retry.id);
        } else {
            svc_log_warn(self->log, "bus.subscriber.dead_letter.failed",
                         "{s:s, s:s, s:I, s:I, s:s}", "consumer", self->consumer, "stream",
                         retry.stream, "seq", (json_int_t) retry.seq, "id", (json_int_t) retry.id,
                         "error", retry.error);
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The pipe: $TERM, READY?, APPLIED?

static bool
s_self_ready(self_t *self)
{
    if (!bus_applier_connected(self->applier) || !bus_peers_ready(self->peers)) {
        return false;
    }
    for (s_stream_t *stream = zhashx_first(self->streams); stream;
         stream = zhashx_next(self->streams)) {
        if (bus_sequencer_state(stream->sequencer) == BUS_SEQUENCER_TRIMMED ||
            stream->unavailable_since || s_stream_lag(stream) > (uint64_t) self->ready_lag) {
            return false;
        }
    }
    return true;
}

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
        rc = -1;
    } else if (streq(command, "READY?")) {
        zsock_send(self->pipe, "i", s_self_ready(self) ? 1 : 0);
    } else if (streq(command, "APPLIED?")) {
        zsock_send(self->pipe, "8", self->applied);
    } else {
        svc_log_error(self->log, "bus.subscriber.command.unknown", "{s:s}", "command", command);
        assert(false); //  only bus_subscriber talks on the pipe
    }
    zstr_free(&command);
    return rc;
}

//  --------------------------------------------------------------------------
//  The actor's state

//  The publishers' addresses join our loop; their readers get the peer.
static bus_peers_t *
s_self_peers_new(self_t *self, const bus_subscriber_config_t *config)
{
    bus_peers_config_t peers = {.consumer = config->consumer,
                                .publishers = config->publishers,
                                .rcvhwm = config->rcvhwm,
                                .curve_client_cert = config->curve_client_cert,
                                .curve_server_public = config->curve_server_public,
                                .loop = self->loop,
                                .on_live = s_peer_handle_sub,
                                .on_reply = s_peer_handle_dealer,
                                .on_retire = s_self_forget_peer,
                                .owner = self,
                                .log = config->log,
                                .metrics = config->metrics};
    return bus_peers_new(&peers);
}

static self_t *
s_self_new(zsock_t *pipe, const bus_subscriber_config_t *config)
{
    self_t *self = zmalloc(sizeof *self);
    self->pipe = pipe;
    self->consumer = strdup(config->consumer);
    self->batch_max = config->batch_max > 0 ? config->batch_max : BUS_SUBSCRIBER_BATCH_MAX_DEFAULT;
    self->max_attempts =
        config->max_attempts > 0 ? config->max_attempts : BUS_SUBSCRIBER_ATTEMPTS_DEFAULT;
    self->backoff_ms =
        config->backoff_ms > 0 ? config->backoff_ms : BUS_SUBSCRIBER_BACKOFF_MS_DEFAULT;
    self->ready_lag = config->ready_lag > 0 ? config->ready_lag : BUS_SUBSCRIBER_READY_LAG_DEFAULT;
    self->log = config->log;
    self->metrics = config->metrics;
    self->applier = bus_applier_new(config);
    bus_applier_set_more(self->applier, s_self_more, s_self_wait, self);
    self->streams = zhashx_new();
    zhashx_set_destructor(self->streams, s_stream_free);
    self->unknown_types = zhashx_new();
    self->live = bus_live_reader_new();
    self->reconnect_ms = BUS_RECONNECT_MIN_MS;
    self->reconnect_timer = -1;

    int resolve_ms =
        config->resolve_ms > 0 ? config->resolve_ms : BUS_SUBSCRIBER_RESOLVE_MS_DEFAULT;
    self->loop = zloop_new();
    zloop_reader(self->loop, self->pipe, s_self_handle_pipe, self);
    zloop_timer(self->loop, BUS_SUBSCRIBER_TICK_MS, 0, s_self_handle_tick, self);
    zloop_timer(self->loop, (size_t) resolve_ms, 0, s_self_handle_resolve, self);
    zloop_timer(self->loop, BUS_SUBSCRIBER_RETRY_POLL_MS, 0, s_self_handle_retries, self);
    self->peers = s_self_peers_new(self, config);
    return self;
}

//  Free in reverse order of creation; the loop first, so no handler runs.
static void
s_self_destroy(self_t **self_p)
{
    assert(self_p);
    self_t *self = *self_p;
    if (!self) {
        return;
    }
    zloop_destroy(&self->loop);
    bus_peers_destroy(&self->peers);
    bus_live_reader_destroy(&self->live);
    zhashx_destroy(&self->unknown_types);
    zhashx_destroy(&self->streams);
    bus_applier_destroy(&self->applier);
    zstr_free(&self->consumer);
    freen(self);
    *self_p = NULL;
}

//  The actor: connect the database and the peers before signalling, so a
//  subscriber whose database is up has loaded nothing yet but is connected
//  when bus_subscriber_new returns.
static void
s_subscriber_actor(zsock_t *pipe, void *args)
{
    self_t *self = s_self_new(pipe, (const bus_subscriber_config_t *) args);
    s_self_db_start(self);
    bus_peers_resolve(self->peers);
    svc_log_info(self->log, "bus.subscriber.started", "{s:s, s:i, s:i, s:b}", "consumer",
                 self->consumer, "peers", (int) bus_peers_size(self->peers), "hosts",
                 (int) bus_peers_hosts(self->peers), "db", bus_applier_connected(self->applier));
    zsock_signal(pipe, 0);
    zloop_start(self->loop);
    svc_log_info(self->log, "bus.subscriber.stopped", "{s:s, s:I}", "consumer", self->consumer,
                 "applied", (json_int_t) self->applied);
    s_self_destroy(&self);
}

//  --------------------------------------------------------------------------
//  Public API

struct bus_subscriber {
    zactor_t *actor; //  the subscriber actor (owned)
};

bus_subscriber_t *
bus_subscriber_new(const bus_subscriber_config_t *config)
{
    assert(config);
    assert(config->conninfo);
    assert(!config->handler != !config->batch_handler); //  exactly one
    assert(config->log);
    assert(config->metrics);
    if (!s_config_valid(config)) {
        return NULL;
    }
    bus_subscriber_t *self = zmalloc(sizeof *self);
    //  The actor copies what it needs before zactor_new returns.
    self->actor = zactor_new(s_subscriber_actor, (void *) config);
    return self;
}

void
bus_subscriber_destroy(bus_subscriber_t **self_p)
{
    assert(self_p);
    bus_subscriber_t *self = *self_p;
    if (self) {
        zactor_destroy(&self->actor);
        freen(self);
        *self_p = NULL;
    }
}

bool
bus_subscriber_ready(bus_subscriber_t *self)
{
    assert(self);
    int ready = 0;
    zstr_send(self->actor, "READY?");
    zsock_recv(self->actor, "i", &ready);
    return ready == 1;
}

uint64_t
bus_subscriber_applied(bus_subscriber_t *self)
{
    assert(self);
    uint64_t applied = 0;
    zstr_send(self->actor, "APPLIED?");
    zsock_recv(self->actor, "8", &applied);
    return applied;
}
