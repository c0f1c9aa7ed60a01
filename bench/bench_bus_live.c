/*  =========================================================================
    bench_bus_live - the bus's live path against raw ZeroMQ PUB/SUB

    Measures, in one process and one run, the in-memory part of the bus and
    its baseline (issue 3, "Benchmarks"):

    - raw: a PUB sends messages of the size of a packed typical OrderCreated
      envelope (index and send time in the first bytes) to a SUB that counts
      them;
    - bus: the publisher stamps the order (stream, seq, partition, ids,
      occurred_at_us), encodes it into the one frame it is published as,
      topic, NUL and envelope (bus_envelope_encode_live), and hands that
      message to the socket (zmq_msg_send), with a heartbeat every second
      (bus_heartbeat_encode_live), as bus_writer does after a commit; the
      subscriber, as the real one, takes what waits in bursts of up to a
      batch with one clock read each, and reads each message with the
      subscriber's own code
      (bus_live_reader_recv: zmq_msg_recv into reused messages, topic split
      from the body, heartbeats told from events, the envelope decoded with
      its bytes kept for dead letters, the topic checked against it),
      checks the stream, runs the sequencer's gap check
      (bus_sequencer_event), checks partition ownership and the handled
      types, dispatches to a handler that does no I/O, and destroys the
      envelope.

    Each path runs twice per round: flat out (at most --events events or
    --seconds of sending) for events/s, then paced at --rate events/s for
    --latency-seconds for the one-way latency from before encoding to the
    handler (p50, p99, p99.9). Rounds (--rounds) alternate raw and bus, so
    both see the same load on a shared machine; the figures reported are
    the medians over the rounds, with their spread. The codec alone is
    timed first (encode, decode + destroy), to explain the difference.

    The publisher is the main thread, the subscriber a second thread; each
    owns its socket. Before measuring, the
    publisher sends probes (heartbeats on the bus path) until the
    subscriber has one, so the slow joiner loses nothing that is measured.

    Nothing may be dropped: a dropped event would be a gap that only a
    replay (not part of this benchmark) could fill. So the publisher stays
    at most LIVE_WINDOW events ahead of what the subscriber has processed,
    and the PUB has no high-water mark (the window bounds its queue). A
    finite one is not enough: libzmq's pipe learns how far its reader got
    only every HWM - 1024 messages (lwm, max_wm_delta), so with SNDHWM
    100,000 a PUB may drop once as few as ~1,024 messages are really
    queued. The run fails if any event is lost, duplicated or out of order.

    Ends with one JSON line: {"bench": "bus_live", "value", "unit",
    "baseline", "ratio", "p50_us", "p99_us", "p999_us", "baseline_p99_us"}.
    =========================================================================
*/
#include "bench_support.h"
#include "bus_control.h"
#include "bus_live.h"
#include "bus_sequencer.h"
#include "bus_stream.h"
#include "bus_subscriber.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <time.h>

//  Defaults of the flags.
#define LIVE_EVENTS_MAX 2000000
#define LIVE_SECONDS 5
#define LIVE_RATE 10000
#define LIVE_LATENCY_SECONDS 3
#define LIVE_ROUNDS 3
#define LIVE_ROUNDS_MAX 20

//  Envelopes encoded and decoded to time the codec alone.
#define LIVE_CODEC_LOOPS 200000

//  Most events the publisher may be ahead of the subscriber (bounds the
//  PUB's queue, which has no high-water mark).
#define LIVE_WINDOW 50000
//  The publisher checks the window, and the subscriber publishes its count,
//  every this many events (keeps the shared cache line quiet).
#define LIVE_CREDIT_EVERY 256
//  How long the publisher naps when the window is full.
#define LIVE_CREDIT_NAP_NS 100000

#define LIVE_STREAM "order-0"
#define LIVE_PARTITIONS BUS_PARTITIONS_DEFAULT
#define LIVE_HEARTBEAT_MS 1000
//  Probe period and the longest wait for the subscriber to join.
#define LIVE_PROBE_NS 1000000
#define LIVE_JOIN_TIMEOUT_NS 10000000000LL
//  The subscriber gives up this long after its last event once the
//  publisher is done (something was lost).
#define LIVE_DRAIN_TIMEOUT_MS 3000
//  Receive timeout of the SUB, so the subscriber sees the end.
#define LIVE_RECV_TIMEOUT_MS 100
//  The raw payload's first 8 bytes: the index, or this for a probe.
#define LIVE_PROBE_INDEX UINT64_MAX
//  Room for the latency samples of a paced run beyond rate * seconds.
#define LIVE_SAMPLES_SLACK 1000

typedef enum { PATH_RAW, PATH_BUS } path_t;

typedef struct {
    int64_t max_events;  //  flat-out run: most events
    int seconds;         //  flat-out run: most seconds of sending
    int rate;            //  paced run: events/s
    int latency_seconds; //  paced run: seconds
    int rounds;          //  rounds of (raw, bus); figures are medians
} options_t;

//  One measured run, shared by the publisher (main thread) and the
//  subscriber thread. The atomics sit on their own cache lines: the
//  padding is deliberate.
typedef struct {                                // NOLINT(clang-analyzer-optin.performance.Padding)
    path_t path;                                //  raw or bus
    void *context;                              //  ZeroMQ context (borrowed)
    char endpoint[256];                         //  the PUB's bound address
    size_t payload_size;                        //  raw message size, bytes
    int rate;                                   //  0 = flat out, else events/s
    int64_t max_events;                         //  most events to send
    int64_t duration_ns;                        //  most time to send for
    _Alignas(64) atomic_bool joined;            //  the subscriber received a probe
    _Alignas(64) atomic_int_fast64_t processed; //  events the subscriber has processed
    _Alignas(64) atomic_int_fast64_t sent;      //  -1 while sending, then the total
    _Alignas(64) int64_t first_send_ns;         //  publisher: first event sent
    int64_t last_event_ns;                      //  subscriber: last event processed
    uint64_t applied;                           //  subscriber: events that reached the handler
    uint64_t in_order;                          //  subscriber: events applied in seq / index order
    uint64_t faults;            //  subscriber: gaps, duplicates, drops, malformed frames
    bench_samples_t *latencies; //  subscriber: one-way latencies, paced runs (owned)
} run_t;

//  What the bus subscriber keeps for the one stream it reads.
typedef struct {
    run_t *run;                 //  the run (borrowed)
    bus_sequencer_t *sequencer; //  gap check (owned)
    const char *stream;         //  the stream expected
    uint32_t replica_index;     //  this replica
    uint32_t replica_count;     //  replicas of the group
    bus_handler_fn *handler;    //  the consumer's handler
    void *handler_arg;          //  its argument
} reader_t;

//  The handler's state: it counts, checks order and samples latency.
typedef struct {
    run_t *run;        //  the run (borrowed)
    uint64_t last_seq; //  seq of the previous event applied
} consumer_t;

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_put_u64(uint8_t *buffer, uint64_t value)
{
    memcpy(buffer, &value, sizeof value);
}

static uint64_t
s_get_u64(const uint8_t *buffer)
{
    uint64_t value;
    memcpy(&value, buffer, sizeof value);
    return value;
}

//  Record the latency of an event sent at `sent_us` (Unix microseconds).
static void
s_sample(run_t *run, int64_t sent_us)
{
    if (run->latencies) {
        bench_samples_add(run->latencies, (bench_realtime_us() - sent_us) * 1000);
    }
}

//  The subscriber processed one more event: publish the count now and then.
static void
s_processed(run_t *run, int64_t *processed)
{
    (*processed)++;
    run->last_event_ns = bench_now_ns();
    if (*processed % LIVE_CREDIT_EVERY == 0) {
        atomic_store_explicit(&run->processed, *processed, memory_order_release);
    }
}

//  True when the subscriber should stop: every event sent was processed,
//  or the publisher is done and nothing came for LIVE_DRAIN_TIMEOUT_MS.
static bool
s_subscriber_done(run_t *run, int64_t processed)
{
    int64_t sent = atomic_load_explicit(&run->sent, memory_order_acquire);
    if (sent < 0) {
        return false;
    }
    if (processed >= sent) {
        return true;
    }
    return bench_now_ns() - run->last_event_ns > (int64_t) LIVE_DRAIN_TIMEOUT_MS * 1000000;
}

//  --------------------------------------------------------------------------
//  Raw subscriber: count messages, check their order, sample latency.

static void
s_raw_subscribe(run_t *run, void *sub)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int64_t processed = 0;
    uint64_t expected = 1;
    while (!s_subscriber_done(run, processed)) {
        if (zmq_msg_recv(&msg, sub, 0) < 0) {
            if (errno == EAGAIN) {
                continue;
            }
            break;
        }
        if (zmq_msg_size(&msg) < 16) {
            run->faults++;
            continue;
        }
        const uint8_t *data = zmq_msg_data(&msg);
        uint64_t index = s_get_u64(data);
        if (index == LIVE_PROBE_INDEX) {
            atomic_store(&run->joined, true);
            continue;
        }
        run->in_order += index == expected;
        expected = index + 1;
        run->applied++;
        s_sample(run, (int64_t) s_get_u64(data + 8));
        s_processed(run, &processed);
    }
    atomic_store(&run->processed, processed);
    zmq_msg_close(&msg);
}

//  --------------------------------------------------------------------------
//  Bus subscriber: the handler, then the per-frame work of a subscriber.

static int
s_handle_order(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
{
    (void) apply;
    consumer_t *consumer = arg;
    consumer->run->applied++;
    consumer->run->in_order += event->seq == consumer->last_seq + 1;
    consumer->last_seq = event->seq;
    s_sample(consumer->run, event->occurred_at_us);
    return 0;
}

//  A heartbeat: the first one says the subscriber has joined.
static void
s_reader_heartbeat(reader_t *self, const bus_heartbeat_t *heartbeat, int64_t now_ms)
{
    if (strcmp(heartbeat->stream, self->stream) != 0) {
        self->run->faults++;
        return;
    }
    atomic_store(&self->run->joined, true);
    if (bus_sequencer_heartbeat(self->sequencer, heartbeat->last_seq, now_ms) !=
        BUS_SEQUENCER_NONE) {
        self->run->faults++; //  a lost tail: cannot happen without drops
    }
}

//  Take a decoded event: sequence it, then apply or skip it.
static void
s_reader_event(reader_t *self, const Ev__V1__Envelope *envelope, int64_t now_ms)
{
    switch (bus_sequencer_event(self->sequencer, envelope->seq, now_ms)) {
        case BUS_SEQUENCER_APPLY:
            if (envelope->partition % self->replica_count == self->replica_index &&
                envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED) {
                self->handler(NULL, envelope, self->handler_arg);
            }
            break;
        default:
            self->run->faults++; //  duplicate, gap or drop: none may happen here
            break;
    }
}

//  One live message, as bus_live_reader_recv read it, in a burst read at
//  `now_ms`.
static void
s_reader_message(reader_t *self, bus_live_t *live, int64_t now_ms)
{
    if (live->kind == BUS_LIVE_HEARTBEAT) {
        s_reader_heartbeat(self, &live->heartbeat, now_ms);
    } else if (live->kind == BUS_LIVE_EVENT && strcmp(live->envelope->stream, self->stream) == 0) {
        s_reader_event(self, live->envelope, now_ms);
    } else {
        self->run->faults++; //  malformed, or another stream: none may come here
    }
    bus_envelope_destroy(&live->envelope);
}

static void
s_bus_subscribe(run_t *run, void *sub)
{
    consumer_t consumer = {.run = run};
    reader_t reader = {.run = run,
                       .sequencer = bus_sequencer_new(5000),
                       .stream = LIVE_STREAM,
                       .replica_index = 0,
                       .replica_count = 1,
                       .handler = s_handle_order,
                       .handler_arg = &consumer};
    bus_sequencer_load(reader.sequencer, 1);
    bus_live_reader_t *live_reader = bus_live_reader_new();
    int64_t processed = 0;
    while (!s_subscriber_done(run, processed)) {
        //  As the subscriber does when its SUB is readable: take what waits,
        //  up to a batch, with one clock read for the burst.
        bus_live_t live;
        if (bus_live_reader_recv(live_reader, sub, 0, &live) < 0) {
            if (errno == EAGAIN) {
                continue;
            }
            break;
        }
        int64_t now_ms = zclock_mono();
        int count = 0;
        do {
            bool heartbeat = live.kind == BUS_LIVE_HEARTBEAT;
            s_reader_message(&reader, &live, now_ms);
            if (!heartbeat) {
                s_processed(run, &processed);
            }
        } while (++count < BUS_SUBSCRIBER_BATCH_MAX_DEFAULT &&
                 bus_live_reader_recv(live_reader, sub, ZMQ_DONTWAIT, &live) == 0);
    }
    atomic_store(&run->processed, processed);
    bus_live_reader_destroy(&live_reader);
    bus_sequencer_destroy(&reader.sequencer);
}

//  --------------------------------------------------------------------------
//  The subscriber thread: its own SUB socket, connected to the PUB.

static void *
s_subscriber(void *arg)
{
    run_t *run = arg;
    void *sub = zmq_socket(run->context, ZMQ_SUB);
    int64_t max_size = BUS_FRAME_MAX + BUS_SUBSCRIBER_FRAME_SLACK; //  as bus_peers sets it
    int timeout = LIVE_RECV_TIMEOUT_MS;
    zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(sub, run->endpoint) == 0) {
        if (run->path == PATH_RAW) {
            s_raw_subscribe(run, sub);
        } else {
            s_bus_subscribe(run, sub);
        }
    }
    zmq_close(sub);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Publisher: probes and heartbeats

//  Send a heartbeat saying the stream's tail is `last_seq`.
static void
s_send_heartbeat(void *pub, uint64_t last_seq)
{
    bus_heartbeat_t heartbeat = {
        .last_seq = last_seq, .first_seq = 1, .interval_ms = LIVE_HEARTBEAT_MS};
    (void) snprintf(heartbeat.stream, sizeof heartbeat.stream, "%s", LIVE_STREAM);
    zframe_t *frame = bus_heartbeat_encode_live(&heartbeat);
    assert(frame);
    zframe_send(&frame, pub, 0);
    zframe_destroy(&frame);
}

//  Send probes until the subscriber has one. Returns 0, or -1 on timeout.
static int
s_await_join(run_t *run, void *pub, uint8_t *payload)
{
    int64_t deadline = bench_now_ns() + LIVE_JOIN_TIMEOUT_NS;
    s_put_u64(payload, LIVE_PROBE_INDEX);
    while (!atomic_load(&run->joined)) {
        if (bench_now_ns() > deadline) {
            return -1;
        }
        if (run->path == PATH_RAW) {
            zmq_send(pub, payload, run->payload_size, 0);
        } else {
            s_send_heartbeat(pub, 0);
        }
        bench_sleep_until(bench_now_ns() + LIVE_PROBE_NS);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Publisher: one event of each path

static void
s_send_raw(run_t *run, void *pub, uint8_t *payload, uint64_t index)
{
    s_put_u64(payload, index);
    s_put_u64(payload + 8, (uint64_t) bench_realtime_us());
    zmq_send(pub, payload, run->payload_size, 0);
}

static void
s_send_bus(void *pub, bench_order_t *order, uint64_t seq)
{
    bench_order_set_index(order, seq);
    bench_order_stamp(order, LIVE_STREAM, seq, LIVE_PARTITIONS);
    zmq_msg_t msg;
    int rc = bus_envelope_encode_live(&order->envelope, &msg);
    assert(rc == 0);
    //  As bus_writer publishes: the message moves to the socket, uncopied.
    zmq_msg_send(&msg, pub, 0);
    zmq_msg_close(&msg);
}

//  Wait (flat out) while the subscriber is LIVE_WINDOW events behind, or
//  (paced) until the event's planned send time.
static void
s_pace(run_t *run, int64_t index, int64_t start_ns)
{
    if (run->rate > 0) {
        bench_sleep_until(start_ns + (index - 1) * (1000000000LL / run->rate));
        return;
    }
    if (index % LIVE_CREDIT_EVERY != 0) {
        return;
    }
    while (index - atomic_load_explicit(&run->processed, memory_order_acquire) >= LIVE_WINDOW) {
        bench_sleep_until(bench_now_ns() + LIVE_CREDIT_NAP_NS);
    }
}

//  Send events 1, 2, ... within the run's bounds; returns how many.
static int64_t
s_publish(run_t *run, void *pub, uint8_t *payload, bench_order_t *order)
{
    int64_t start_ns = bench_now_ns();
    int64_t next_heartbeat_ns = start_ns + (int64_t) LIVE_HEARTBEAT_MS * 1000000;
    run->first_send_ns = start_ns;
    int64_t index = 0;
    while (index < run->max_events) {
        if (index % LIVE_CREDIT_EVERY == 0 && bench_now_ns() - start_ns >= run->duration_ns) {
            break;
        }
        index++;
        s_pace(run, index, start_ns);
        if (run->path == PATH_RAW) {
            s_send_raw(run, pub, payload, (uint64_t) index);
        } else {
            s_send_bus(pub, order, (uint64_t) index);
            if (index % LIVE_CREDIT_EVERY == 0 && bench_now_ns() >= next_heartbeat_ns) {
                s_send_heartbeat(pub, (uint64_t) index);
                next_heartbeat_ns += (int64_t) LIVE_HEARTBEAT_MS * 1000000;
            }
        }
    }
    return index;
}

//  --------------------------------------------------------------------------
//  One run: bind, start the subscriber, wait for it to join, publish, join.
//  Returns 0, or -1 if the subscriber never joined.

static int
s_run(run_t *run, size_t payload_size)
{
    void *pub = zmq_socket(run->context, ZMQ_PUB);
    int hwm = 0; //  no limit: the window bounds the queue (see the top)
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    size_t endpoint_size = sizeof run->endpoint;
    int rc = zmq_bind(pub, "tcp://127.0.0.1:*");
    assert(rc == 0);
    zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, run->endpoint, &endpoint_size);
    uint8_t *payload = zmalloc(payload_size);
    run->payload_size = payload_size;
    bench_order_t order;
    bench_order_init(&order, 0);
    pthread_t subscriber;
    rc = pthread_create(&subscriber, NULL, s_subscriber, run);
    assert(rc == 0);
    rc = s_await_join(run, pub, payload);
    int64_t sent = rc == 0 ? s_publish(run, pub, payload, &order) : 0;
    atomic_store_explicit(&run->sent, sent, memory_order_release);
    pthread_join(subscriber, NULL);
    freen(payload);
    zmq_close(pub);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reporting

typedef struct {
    double rate;   //  events/s, flat out
    double p50_us; //  paced latency percentiles
    double p99_us;
    double p999_us;
    int64_t events; //  events sent flat out
    size_t samples; //  latency samples
} result_t;

static const char *
s_path_name(path_t path)
{
    return path == PATH_RAW ? "raw zeromq" : "bus";
}

//  Check a finished run: every event sent arrived once, in order, cleanly.
static int
s_check(const run_t *run, int64_t sent)
{
    if ((int64_t) run->applied != sent || (int64_t) run->in_order != sent || run->faults) {
        (void) fprintf(stderr,
                       "bench_bus_live: %s run lost events: sent %" PRId64 ", applied %" PRIu64
                       ", in order %" PRIu64 ", faults %" PRIu64 "\n",
                       s_path_name(run->path), sent, run->applied, run->in_order, run->faults);
        return -1;
    }
    return 0;
}

//  Set up a run of `path`: zeroed, atomics initialised, no samples.
static void
s_run_init(run_t *run, path_t path, void *context, int64_t max_events, int64_t duration_ns)
{
    memset(run, 0, sizeof *run);
    run->path = path;
    run->context = context;
    run->max_events = max_events;
    run->duration_ns = duration_ns;
    atomic_init(&run->joined, false);
    atomic_init(&run->processed, 0);
    atomic_init(&run->sent, -1);
}

//  Measure one path: flat out, then paced. Returns 0, or -1 on failure.
static int
s_measure(
    path_t path, void *context, size_t payload_size, const options_t *options, result_t *result)
{
    run_t flat;
    s_run_init(&flat, path, context, options->max_events, (int64_t) options->seconds * 1000000000);
    int rc = s_run(&flat, payload_size);
    int64_t sent = atomic_load(&flat.sent);
    rc = rc == 0 ? s_check(&flat, sent) : rc;
    double elapsed_s = (double) (flat.last_event_ns - flat.first_send_ns) / 1e9;
    result->events = sent;
    result->rate = elapsed_s > 0 ? (double) sent / elapsed_s : 0;

    int64_t paced_events = (int64_t) options->rate * options->latency_seconds;
    run_t paced;
    s_run_init(&paced, path, context, paced_events, INT64_MAX);
    paced.rate = options->rate;
    paced.latencies = bench_samples_new((size_t) paced_events + LIVE_SAMPLES_SLACK);
    int paced_rc = s_run(&paced, payload_size);
    paced_rc = paced_rc == 0 ? s_check(&paced, atomic_load(&paced.sent)) : paced_rc;
    result->samples = bench_samples_count(paced.latencies);
    result->p50_us = bench_samples_percentile_us(paced.latencies, 50);
    result->p99_us = bench_samples_percentile_us(paced.latencies, 99);
    result->p999_us = bench_samples_percentile_us(paced.latencies, 99.9);
    bench_samples_destroy(&paced.latencies);
    return rc == 0 && paced_rc == 0 ? 0 : -1;
}

static void
s_print(int round, path_t path, const result_t *result, int rate)
{
    printf("round %d %-10s  flat out %9.0f events/s (%" PRId64 " events); paced at %d/s: p50 %.1f "
           "us, p99 %.1f us, p99.9 %.1f us (%zu samples)\n",
           round + 1, s_path_name(path), result->rate, result->events, rate, result->p50_us,
           result->p99_us, result->p999_us, result->samples);
    (void) fflush(stdout);
}

static int
s_compare_double(const void *left, const void *right)
{
    double a = *(const double *) left;
    double b = *(const double *) right;
    return (a > b) - (a < b);
}

//  The median of one field (`offset` bytes into result_t) over `count`
//  results; *low and *high get the smallest and the largest.
static double
s_median(const result_t *results, int count, size_t offset, double *low, double *high)
{
    double values[LIVE_ROUNDS_MAX];
    for (int index = 0; index < count; index++) {
        memcpy(&values[index], (const char *) &results[index] + offset, sizeof(double));
    }
    qsort(values, (size_t) count, sizeof *values, s_compare_double);
    *low = values[0];
    *high = values[count - 1];
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

//  The medians of one path over the rounds, printed with their spread.
static result_t
s_summary(path_t path, const result_t *results, int count)
{
    result_t median = {0};
    double low, high, p_low, p_high;
    median.rate = s_median(results, count, offsetof(result_t, rate), &low, &high);
    median.p50_us = s_median(results, count, offsetof(result_t, p50_us), &p_low, &p_high);
    median.p999_us = s_median(results, count, offsetof(result_t, p999_us), &p_low, &p_high);
    median.p99_us = s_median(results, count, offsetof(result_t, p99_us), &p_low, &p_high);
    printf("median %-10s flat out %9.0f events/s (%.0f .. %.0f); p50 %.1f us, p99 %.1f us "
           "(%.1f .. %.1f), p99.9 %.1f us\n",
           s_path_name(path), median.rate, low, high, median.p50_us, median.p99_us, p_low, p_high,
           median.p999_us);
    return median;
}

//  --------------------------------------------------------------------------
//  What the codec alone costs per envelope, in this process, on one core:
//  encode as published (validate, pack into a new frame after the topic,
//  free it) and decode (unpack, keep the bytes, validate, free).

static void
s_codec_costs(void)
{
    bench_order_t order;
    bench_order_init(&order, 1);
    bench_order_stamp(&order, LIVE_STREAM, 1, LIVE_PARTITIONS);
    int64_t start_ns = bench_now_ns();
    for (int loop = 0; loop < LIVE_CODEC_LOOPS; loop++) {
        zmq_msg_t msg;
        int rc = bus_envelope_encode_live(&order.envelope, &msg);
        assert(rc == 0);
        zmq_msg_close(&msg);
    }
    int64_t encode_ns = bench_now_ns() - start_ns;
    zframe_t *frame = bus_envelope_encode(&order.envelope);
    assert(frame);
    start_ns = bench_now_ns();
    for (int loop = 0; loop < LIVE_CODEC_LOOPS; loop++) {
        Ev__V1__Envelope *envelope = NULL;
        bus_rc_t rc = bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope);
        assert(rc == BUS_OK);
        bus_envelope_destroy(&envelope);
    }
    int64_t decode_ns = bench_now_ns() - start_ns;
    zframe_destroy(&frame);
    printf(
        "codec alone: bus_envelope_encode_live %.0f ns, bus_envelope_decode + destroy %.0f ns per "
        "envelope\n",
        (double) encode_ns / LIVE_CODEC_LOOPS, (double) decode_ns / LIVE_CODEC_LOOPS);
}

//  --------------------------------------------------------------------------
//  Flags

static void
s_usage(void)
{
    (void) fprintf(stderr, "usage: bench_bus_live [--events N] [--seconds S] [--rate R] "
                           "[--latency-seconds S] [--rounds N]\n");
}

static int
s_parse(int argc, char **argv, options_t *options)
{
    *options = (options_t){.max_events = LIVE_EVENTS_MAX,
                           .seconds = LIVE_SECONDS,
                           .rate = LIVE_RATE,
                           .latency_seconds = LIVE_LATENCY_SECONDS,
                           .rounds = LIVE_ROUNDS};
    for (int arg = 1; arg < argc; arg += 2) {
        if (arg + 1 >= argc) {
            return -1;
        }
        long long value = atoll(argv[arg + 1]);
        if (value < 1 || value > 100000000) {
            return -1;
        }
        if (streq(argv[arg], "--events")) {
            options->max_events = value;
        } else if (streq(argv[arg], "--seconds")) {
            options->seconds = (int) value;
        } else if (streq(argv[arg], "--rate")) {
            options->rate = (int) value;
        } else if (streq(argv[arg], "--latency-seconds")) {
            options->latency_seconds = (int) value;
        } else if (streq(argv[arg], "--rounds") && value <= LIVE_ROUNDS_MAX) {
            options->rounds = (int) value;
        } else {
            return -1;
        }
    }
    return options->rate <= 1000000 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  The size of the typical envelope, as the bus publishes it.

static size_t
s_envelope_size(void)
{
    bench_order_t order;
    bench_order_init(&order, 1);
    bench_order_stamp(&order, LIVE_STREAM, 1, LIVE_PARTITIONS);
    zframe_t *frame = bus_envelope_encode(&order.envelope);
    assert(frame);
    size_t size = zframe_size(frame);
    zframe_destroy(&frame);
    return size;
}

int
main(int argc, char **argv)
{
    options_t options;
    if (s_parse(argc, argv, &options)) {
        s_usage();
        return 2;
    }
    //  Sleeps of the paced publisher end when asked, not up to 50 us later.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    size_t payload_size = s_envelope_size();
    printf("bus_live: typical OrderCreated envelope %zu bytes (+ topic and NUL on the bus path); "
           "%d rounds of: flat out (at most %" PRId64 " events or %d s), paced (%d events/s for "
           "%d s)\n",
           payload_size, options.rounds, options.max_events, options.seconds, options.rate,
           options.latency_seconds);
    s_codec_costs();
    void *context = zmq_ctx_new();
    result_t raw[LIVE_ROUNDS_MAX] = {0}, bus[LIVE_ROUNDS_MAX] = {0};
    int rc = 0;
    for (int round = 0; round < options.rounds && rc == 0; round++) {
        rc = s_measure(PATH_RAW, context, payload_size, &options, &raw[round]);
        s_print(round, PATH_RAW, &raw[round], options.rate);
        rc |= s_measure(PATH_BUS, context, payload_size, &options, &bus[round]);
        s_print(round, PATH_BUS, &bus[round], options.rate);
    }
    zmq_ctx_term(context);
    if (rc) {
        return 1;
    }
    result_t raw_median = s_summary(PATH_RAW, raw, options.rounds);
    result_t bus_median = s_summary(PATH_BUS, bus, options.rounds);
    double ratio = raw_median.rate > 0 ? bus_median.rate / raw_median.rate : 0;
    double p99_ratio = raw_median.p99_us > 0 ? bus_median.p99_us / raw_median.p99_us : 0;
    printf("ratio: events/s %.3f of raw (goal >= 0.5); p99 %.2f x raw (goal <= 1.5)\n", ratio,
           p99_ratio);
    printf("{\"bench\": \"bus_live\", \"value\": %.0f, \"unit\": \"events/s\", \"baseline\": %.0f, "
           "\"ratio\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
           "\"baseline_p99_us\": %.1f}\n",
           bus_median.rate, raw_median.rate, ratio, bus_median.p50_us, bus_median.p99_us,
           bus_median.p999_us, raw_median.p99_us);
    return 0;
}
