/*  =========================================================================
    bench_shim - events/s and latency from order-service's commit to a
    RabbitMQ consumer through the broker shim, against plain RabbitMQ

    scripts/bench.sh shim starts a private PostgreSQL (durable settings,
    track_commit_timestamp on), a private RabbitMQ node, order-service and
    broker-shim (subscribed to order-service) on free loopback ports, then
    runs this program, which measures in one run:

    - baseline, plain RabbitMQ through librabbitmq: one connection
      publishes persistent messages (delivery mode 2) of the shim's
      OrderCreated body size to a durable fanout exchange bound to a
      durable queue, with publisher confirms kept --window deep (a sliding
      window: a new message as soon as one is confirmed); a consumer on
      its own connection and thread takes them with manual acks (one
      basic.ack per message, prefetch --prefetch). Latency: the publish
      time (carried in the body) to the consumer's receive. With
      --baseline-queues N the exchange feeds N such queues (the shim's
      messages reach two: ours and the shim's own SHIM_QUEUE); counts and
      latency come from the first;
    - the shim path: --clients HTTP clients (keep-alive; 64 by default,
      since each waits for a group commit) POST orders to order-service as
      fast as they are answered; every OrderCreated goes
      through order-service's commit, its PUB, the shim's subscriber (its
      batch published by the shim's relay with confirms before the
      checkpoints commit) and
      the exchange Contracts:OrderCreatedEvent to a durable queue of ours,
      consumed the same way as the baseline's. Latency: the commit time of
      the event's row in order-service's bus_events
      (pg_xact_commit_timestamp, taken as the commit record is written,
      before its flush) to the consumer's receive, same clock
      (CLOCK_REALTIME on one machine).

    Throughput of the baseline and of the live shim path = messages the
    consumer received per second over the steady window (the sending phase
    less its first second). The live figure is bounded by how fast
    order-service answers the clients' POSTs (on a 2-core machine, far
    below RabbitMQ's rate), so with --shim-pid each round also measures
    the path itself: the shim is stopped (SIGSTOP) while the clients post
    for --drain-seconds, then resumed, and the rate at which the consumer
    receives that backlog, events order-service had committed, is the
    shim's throughput from commit to consumer: the reported value. Latency
    is measured paced, at --rate messages/s for --latency-seconds on both
    paths (at full speed each path's latency is only its queue length over
    its rate). Rounds (--rounds) run baseline, live, backlog, then both
    paced phases; the figures are medians over the rounds (p50 and p99:
    the medians of each round's).

    The last line is JSON: {"bench": "shim", "value": events/s (the
    backlog's, or the live one without --shim-pid), "unit": "events/s",
    "baseline": events/s, "ratio", "p50_ms", "p99_ms", "baseline_p99_ms",
    "live": events/s, "live_ratio"}.
    =========================================================================
*/
#include "bench_support.h"
#include "bench_amqp.h"
#include "bench_http.h"

#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHIM_BENCH_CLIENTS_MAX 64
#define SHIM_BENCH_ROUNDS_MAX 9
//  Most queues bound to the baseline's exchange (--baseline-queues).
#define SHIM_BENCH_QUEUES_MAX 4
//  The steady window starts this long after a sending phase starts.
#define SHIM_BENCH_WARMUP_NS 1000000000LL
//  Longest wait for what was sent to arrive, and for confirms.
#define SHIM_BENCH_WAIT_S 60

typedef struct {
    const char *amqp_url;  //  the RabbitMQ the shim publishes to
    const char *order_url; //  http://127.0.0.1:PORT of order-service
    const char *order_db;  //  conninfo of order-service's database (bus_events)
    const char *shim_url;  //  http://127.0.0.1:PORT of broker-shim (metrics), or NULL
    const char *exchange;  //  the shim's exchange of OrderCreated
    const char *stream;    //  order-service's stream
    int shim_pid;          //  broker-shim's pid for the backlog phase, 0 = no such phase
    int clients;           //  HTTP clients at full speed
    int seconds;           //  length of each full-speed phase
    int rate;              //  messages/s of the paced (latency) phases
    int latency_seconds;   //  length of each paced phase
    int window;            //  baseline: unconfirmed messages in flight
    int prefetch;          //  consumers' prefetch
    int rounds;            //  rounds of (baseline, shim) at full speed
    int drain_seconds;     //  backlog phase: how long orders are posted
    int baseline_queues;   //  queues bound to the baseline's exchange, each consumed
} options_t;

//  An HTTP client thread posting orders.
typedef struct {
    const options_t *options;
    int index;            //  0..threads-1
    int64_t start_ns;     //  first send (bench_now_ns)
    int64_t end_ns;       //  no send at or after this
    double interval_ns;   //  paced: between this thread's sends; 0 = full speed
    atomic_llong *acked;  //  201s, all threads
    atomic_llong *failed; //  other answers and transport errors, all threads
    pthread_t thread;
} worker_t;

//  Histogram bounds (svc_metrics' latency buckets) that the paced phase
//  counts slower transactions and confirms against: 2.5 ms and 5 ms.
#define SHIM_BENCH_SLOW 2
static const char *const SHIM_BENCH_SLOW_LE[SHIM_BENCH_SLOW] = {"le=\"0.0025\"", "le=\"0.005\""};

//  Figures of one phase of either path.
typedef struct {
    double rate;      //  received/s over the steady window
    double offered;   //  sent (published, or POSTs answered 201)/s over the same window
    int64_t sent;     //  messages sent in the phase
    int64_t received; //  of them received
    double settle_s;  //  from the end of sending until the last one arrived
    double p50_ms;    //  latency
    double p99_ms;
    size_t samples; //  latencies measured
} phase_t;

//  What the services' metrics say about a phase (sums; deltas are taken).
typedef struct {
    double apply_events;   //  shim subscriber: events applied in batches
    double apply_batches;  //  its transactions
    double apply_seconds;  //  their time
    double confirm_count;  //  shim relay: confirms
    double confirm_sum;    //  publish-to-confirm seconds
    double writer_units;   //  order-service writer: units committed
    double writer_batches; //  its transactions
    double commit_seconds; //  their BEGIN..COMMIT time
    double lag;            //  shim subscriber's lag now (events)
    //  Where a latency tail comes from: how many took longer than
    //  SHIM_BENCH_SLOW_LE[k] (count less that histogram bucket).
    double slow_commits[SHIM_BENCH_SLOW];  //  order-service writer transactions
    double slow_applies[SHIM_BENCH_SLOW];  //  shim subscriber transactions
    double slow_confirms[SHIM_BENCH_SLOW]; //  shim relay publish -> confirm
} metrics_t;

//  --------------------------------------------------------------------------
//  Latency

//  Baseline: publish time in the body -> received, for records [first, last).
static void
s_stamped_latencies(bench_consumer_t *consumer, size_t first, size_t last, phase_t *phase)
{
    bench_samples_t *samples = bench_samples_new(last - first + 1);
    for (size_t index = first; index < last; index++) {
        const bench_record_t *record = bench_consumer_record(consumer, index);
        if (record->sent_us > 0) {
            bench_samples_add(samples, (record->received_us - record->sent_us) * 1000);
        }
    }
    phase->samples = bench_samples_count(samples);
    phase->p50_ms = bench_samples_percentile_us(samples, 50.0) / 1000;
    phase->p99_ms = bench_samples_percentile_us(samples, 99.0) / 1000;
    bench_samples_destroy(&samples);
}

static PGconn *
s_pg_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        (void) fprintf(stderr, "bench_shim: connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

//  The stream's last seq in order-service's event log, or -1.
static int64_t
s_last_seq(PGconn *conn, const options_t *options)
{
    const char *params[] = {options->stream};
    PGresult *result =
        PQexecParams(conn, "SELECT coalesce(max(seq), 0) FROM bus_events WHERE stream = $1", 1,
                     NULL, params, NULL, NULL, 0);
    int64_t seq = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        seq = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
    } else {
        (void) fprintf(stderr, "bench_shim: last seq: %s", PQresultErrorMessage(result));
    }
    PQclear(result);
    return seq;
}

//  Shim path: the commit time of each event after `after_seq` (its row in
//  bus_events) -> received, for records [first, last), matched by
//  message id. Returns 0, or -1 if the query failed.
static int
s_commit_latencies(PGconn *conn,
                   const options_t *options,
                   bench_consumer_t *consumer,
                   size_t first,
                   size_t last,
                   int64_t after_seq,
                   phase_t *phase)
{
    zhashx_t *received = zhashx_new();
    for (size_t index = first; index < last; index++) {
        const bench_record_t *record = bench_consumer_record(consumer, index);
        if (record->id[0]) {
            (void) zhashx_insert(received, record->id, (void *) record);
        }
    }
    char after[24];
    (void) snprintf(after, sizeof after, "%" PRId64, after_seq);
    const char *params[] = {options->stream, after};
    PGresult *result =
        PQexecParams(conn,
                     "SELECT message_id::text,"
                     " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
                     " FROM bus_events WHERE stream = $1 AND seq > $2::bigint",
                     2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    bench_samples_t *samples = bench_samples_new(last - first + 1);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        (void) fprintf(stderr, "bench_shim: commit times (is track_commit_timestamp on?): %s",
                       PQresultErrorMessage(result));
        rc = -1;
    }
    for (int row = 0; rc == 0 && row < PQntuples(result); row++) {
        const bench_record_t *record = zhashx_lookup(received, PQgetvalue(result, row, 0));
        if (record && !PQgetisnull(result, row, 1)) {
            int64_t committed_us = strtoll(PQgetvalue(result, row, 1), NULL, 10);
            bench_samples_add(samples, (record->received_us - committed_us) * 1000);
        }
    }
    PQclear(result);
    phase->samples = bench_samples_count(samples);
    phase->p50_ms = bench_samples_percentile_us(samples, 50.0) / 1000;
    phase->p99_ms = bench_samples_percentile_us(samples, 99.0) / 1000;
    bench_samples_destroy(&samples);
    zhashx_destroy(&received);
    return rc;
}

//  --------------------------------------------------------------------------
//  HTTP clients

static void *
s_worker_run(void *arg)
{
    worker_t *self = arg;
    bench_http_t *client = bench_http_new();
    //  Order numbers of one thread never meet another's.
    uint64_t number = (uint64_t) self->index * 1000000000ULL + (uint64_t) (bench_now_ns() % 100000);
    for (uint64_t sent = 0;; sent++) {
        if (self->interval_ns > 0) {
            int64_t due_ns = self->start_ns + (int64_t) ((double) sent * self->interval_ns);
            if (due_ns >= self->end_ns) {
                break;
            }
            bench_sleep_until(due_ns);
        } else if (bench_now_ns() >= self->end_ns) {
            break;
        }
        if (bench_http_post_order(client, self->options->order_url, number++, NULL) == 201) {
            atomic_fetch_add(self->acked, 1);
        } else {
            atomic_fetch_add(self->failed, 1);
        }
    }
    bench_http_destroy(&client);
    return NULL;
}

//  Start `count` clients: full speed (rate 0) or `rate` orders/s in all,
//  from `start_ns` for `seconds`.
static void
s_workers_start(const options_t *options,
                worker_t *workers,
                int count,
                int rate,
                int64_t start_ns,
                int seconds,
                atomic_llong *acked,
                atomic_llong *failed)
{
    double interval_ns = rate > 0 ? 1e9 * count / rate : 0;
    for (int index = 0; index < count; index++) {
        workers[index] = (worker_t){.options = options,
                                    .index = index,
                                    .start_ns = start_ns + (int64_t) (interval_ns * index / count),
                                    .end_ns = start_ns + (int64_t) seconds * 1000000000,
                                    .interval_ns = interval_ns,
                                    .acked = acked,
                                    .failed = failed};
        pthread_create(&workers[index].thread, NULL, s_worker_run, &workers[index]);
    }
}

static void
s_workers_join(worker_t *workers, int count)
{
    for (int index = 0; index < count; index++) {
        pthread_join(workers[index].thread, NULL);
    }
}

//  --------------------------------------------------------------------------
//  Metrics of the services (sums over every series of a name)

//  How many observations of histogram `name` (in the last scrape) were
//  above the bucket `le`.
static double
s_slower(const bench_http_t *client, const char *name, const char *le)
{
    char count[128], bucket[128];
    (void) snprintf(count, sizeof count, "%s_count", name);
    (void) snprintf(bucket, sizeof bucket, "%s_bucket", name);
    return bench_http_value(client, count, NULL) - bench_http_value(client, bucket, le);
}

static void
s_metrics_read(const options_t *options, bench_http_t *client, metrics_t *out)
{
    memset(out, 0, sizeof *out);
    out->apply_batches = -1; //  no --shim-url, or its metrics are not there
    if (options->shim_url && bench_http_scrape(client, options->shim_url) == 0) {
        out->apply_events = bench_http_value(client, "bus_apply_batch_events_sum", NULL);
        out->apply_batches = bench_http_value(client, "bus_apply_batch_events_count", NULL);
        out->apply_seconds = bench_http_value(client, "bus_apply_seconds_sum", NULL);
        out->confirm_count = bench_http_value(client, "shim_confirm_seconds_count", NULL);
        out->confirm_sum = bench_http_value(client, "shim_confirm_seconds_sum", NULL);
        out->lag = bench_http_value(client, "bus_lag", NULL);
        for (int k = 0; k < SHIM_BENCH_SLOW; k++) {
            out->slow_applies[k] = s_slower(client, "bus_apply_seconds", SHIM_BENCH_SLOW_LE[k]);
            out->slow_confirms[k] = s_slower(client, "shim_confirm_seconds", SHIM_BENCH_SLOW_LE[k]);
        }
    }
    if (bench_http_scrape(client, options->order_url) != 0) {
        return;
    }
    for (int k = 0; k < SHIM_BENCH_SLOW; k++) {
        out->slow_commits[k] = s_slower(client, "bus_commit_seconds", SHIM_BENCH_SLOW_LE[k]);
    }
    out->writer_units = bench_http_value(client, "bus_batch_units_sum", NULL);
    out->writer_batches = bench_http_value(client, "bus_batch_units_count", NULL);
    out->commit_seconds = bench_http_value(client, "bus_commit_seconds_sum", NULL);
}

//  Per-batch means between two readings, and the backlog at the end of
//  sending (`loaded`, or NULL: not known).
static void
s_metrics_print(const char *label,
                const metrics_t *before,
                const metrics_t *after,
                const metrics_t *loaded,
                bool tail)
{
    double writer_batches = after->writer_batches - before->writer_batches;
    printf("  %s order-service writer: %.0f transactions, %.1f orders each, BEGIN..COMMIT %.2f "
           "ms\n",
           label, writer_batches,
           writer_batches > 0 ? (after->writer_units - before->writer_units) / writer_batches : 0,
           writer_batches > 0
               ? 1000 * (after->commit_seconds - before->commit_seconds) / writer_batches
               : 0);
    if (before->apply_batches < 0 || after->apply_batches < 0) {
        return; //  no --shim-url, or its metrics are not there
    }
    double batches = after->apply_batches - before->apply_batches;
    double confirms = after->confirm_count - before->confirm_count;
    printf("  %s shim subscriber: %.0f transactions, %.1f events each, %.2f ms each; relay: "
           "publish->confirm %.2f ms mean",
           label, batches, batches > 0 ? (after->apply_events - before->apply_events) / batches : 0,
           batches > 0 ? 1000 * (after->apply_seconds - before->apply_seconds) / batches : 0,
           confirms > 0 ? 1000 * (after->confirm_sum - before->confirm_sum) / confirms : 0);
    if (loaded) {
        printf("; at the end of sending: subscriber lag %.0f events (not yet confirmed by "
               "RabbitMQ)",
               loaded->lag);
    }
    printf("\n");
    if (tail) {
        printf("  %s slower than 2.5 / 5 ms: order-service commits %.0f / %.0f, shim "
               "transactions %.0f / %.0f, publish->confirm %.0f / %.0f\n",
               label, after->slow_commits[0] - before->slow_commits[0],
               after->slow_commits[1] - before->slow_commits[1],
               after->slow_applies[0] - before->slow_applies[0],
               after->slow_applies[1] - before->slow_applies[1],
               after->slow_confirms[0] - before->slow_confirms[0],
               after->slow_confirms[1] - before->slow_confirms[1]);
    }
}

//  --------------------------------------------------------------------------
//  Phases

//  Baseline at full speed for --seconds.
static int
s_baseline_flat(const options_t *options,
                bench_publisher_t *publisher,
                bench_consumer_t *consumer,
                phase_t *phase)
{
    memset(phase, 0, sizeof *phase);
    size_t first = bench_consumer_count(consumer);
    uint64_t first_tag = bench_publisher_published(publisher);
    int64_t start_ns = bench_now_ns();
    int64_t steady_ns = start_ns + SHIM_BENCH_WARMUP_NS;
    int64_t end_ns = start_ns + (int64_t) options->seconds * 1000000000;
    int64_t sampled_ns = 0;
    size_t sampled = 0;
    uint64_t sampled_tag = 0;
    int64_t now_ns = start_ns;
    while (now_ns < end_ns) {
        if (!sampled_ns && now_ns >= steady_ns) {
            sampled_ns = now_ns;
            sampled = bench_consumer_count(consumer);
            sampled_tag = bench_publisher_published(publisher);
        }
        if (bench_publisher_in_flight(publisher) < (uint64_t) bench_publisher_window(publisher)) {
            if (bench_publisher_send(publisher) != 0) {
                return -1;
            }
        } else if (bench_publisher_read(publisher, 1000000) < 0) {
            return -1;
        }
        now_ns = bench_now_ns();
    }
    size_t at_end = bench_consumer_count(consumer);
    phase->rate = (double) (at_end - sampled) / ((double) (now_ns - sampled_ns) / 1e9);
    phase->offered = (double) (bench_publisher_published(publisher) - sampled_tag) /
                     ((double) (now_ns - sampled_ns) / 1e9);
    phase->sent = (int64_t) (bench_publisher_published(publisher) - first_tag);
    if (bench_publisher_settle(publisher, SHIM_BENCH_WAIT_S) != 0) {
        (void) fprintf(stderr, "bench_shim: baseline: not every message was confirmed\n");
        return -1;
    }
    int64_t done_ns =
        bench_consumer_await(consumer, first, (size_t) phase->sent, SHIM_BENCH_WAIT_S);
    phase->received = (int64_t) (bench_consumer_count(consumer) - first);
    phase->settle_s = done_ns > 0 ? (double) (done_ns - end_ns) / 1e9 : -1;
    s_stamped_latencies(consumer, first, first + (size_t) phase->received, phase);
    return done_ns > 0 ? 0 : -1;
}

//  Baseline paced at --rate for --latency-seconds.
static int
s_baseline_paced(const options_t *options,
                 bench_publisher_t *publisher,
                 bench_consumer_t *consumer,
                 phase_t *phase)
{
    memset(phase, 0, sizeof *phase);
    size_t first = bench_consumer_count(consumer);
    uint64_t first_tag = bench_publisher_published(publisher);
    int64_t start_ns = bench_now_ns();
    int64_t end_ns = start_ns + (int64_t) options->latency_seconds * 1000000000;
    double interval_ns = 1e9 / options->rate;
    for (uint64_t sent = 0;; sent++) {
        int64_t due_ns = start_ns + (int64_t) ((double) sent * interval_ns);
        if (due_ns >= end_ns) {
            break;
        }
        //  Take confirms while waiting for the next send.
        for (int64_t now_ns = bench_now_ns(); now_ns < due_ns; now_ns = bench_now_ns()) {
            if (bench_publisher_read(publisher, (due_ns - now_ns) / 1000) < 0) {
                return -1;
            }
        }
        while (bench_publisher_in_flight(publisher) >=
               (uint64_t) bench_publisher_window(publisher)) {
            if (bench_publisher_read(publisher, 1000000) < 0) {
                return -1;
            }
        }
        if (bench_publisher_send(publisher) != 0) {
            return -1;
        }
    }
    phase->sent = (int64_t) (bench_publisher_published(publisher) - first_tag);
    phase->offered = (double) phase->sent / options->latency_seconds;
    if (bench_publisher_settle(publisher, SHIM_BENCH_WAIT_S) != 0) {
        return -1;
    }
    int64_t done_ns =
        bench_consumer_await(consumer, first, (size_t) phase->sent, SHIM_BENCH_WAIT_S);
    phase->received = (int64_t) (bench_consumer_count(consumer) - first);
    phase->rate = phase->offered;
    phase->settle_s = done_ns > 0 ? (double) (done_ns - end_ns) / 1e9 : -1;
    s_stamped_latencies(consumer, first, first + (size_t) phase->received, phase);
    return done_ns > 0 ? 0 : -1;
}

//  Shim path: orders posted at full speed (rate 0) or paced, for
//  `seconds`; wait for every order answered 201 to arrive; latencies
//  from the commit times.
static int
s_shim_phase(const options_t *options,
             bench_consumer_t *consumer,
             PGconn *db,
             bench_http_t *scraper,
             int rate,
             int seconds,
             phase_t *phase)
{
    memset(phase, 0, sizeof *phase);
    int64_t after_seq = s_last_seq(db, options);
    if (after_seq < 0) {
        return -1;
    }
    metrics_t before, loaded, after;
    s_metrics_read(options, scraper, &before);
    size_t first = bench_consumer_count(consumer);
    atomic_llong acked = 0, failed = 0;
    worker_t workers[SHIM_BENCH_CLIENTS_MAX];
    int threads = rate > 0 ? (rate >= 800 ? 16 : 4) : options->clients;
    int64_t start_ns = bench_now_ns() + 20000000;
    int64_t end_ns = start_ns + (int64_t) seconds * 1000000000;
    s_workers_start(options, workers, threads, rate, start_ns, seconds, &acked, &failed);
    bench_sleep_until(start_ns + SHIM_BENCH_WARMUP_NS);
    int64_t sampled_ns = bench_now_ns();
    size_t sampled = bench_consumer_count(consumer);
    int64_t sampled_acked = atomic_load(&acked);
    bench_sleep_until(end_ns);
    int64_t at_end_ns = bench_now_ns();
    size_t at_end = bench_consumer_count(consumer);
    int64_t acked_at_end = atomic_load(&acked);
    s_metrics_read(options, scraper, &loaded);
    s_workers_join(workers, threads);
    double window_s = (double) (at_end_ns - sampled_ns) / 1e9;
    phase->rate = (double) (at_end - sampled) / window_s;
    phase->offered = (double) (acked_at_end - sampled_acked) / window_s;
    phase->sent = atomic_load(&acked);
    if (atomic_load(&failed) > 0) {
        (void) fprintf(stderr, "bench_shim: %lld POSTs were not answered 201\n",
                       (long long) atomic_load(&failed));
    }
    int64_t done_ns =
        bench_consumer_await(consumer, first, (size_t) phase->sent, SHIM_BENCH_WAIT_S);
    phase->received = (int64_t) (bench_consumer_count(consumer) - first);
    phase->settle_s = done_ns > 0 ? (double) (done_ns - end_ns) / 1e9 : -1;
    s_metrics_read(options, scraper, &after);
    if (rate > 0) {
        phase->rate = (double) phase->received / seconds;
    }
    int rc = s_commit_latencies(db, options, consumer, first, first + (size_t) phase->received,
                                after_seq, phase);
    s_metrics_print(rate > 0 ? "paced:" : "full speed:", &before, &after, &loaded, rate > 0);
    if (done_ns < 0) {
        (void) fprintf(stderr,
                       "bench_shim: %" PRId64 " of %" PRId64 " orders arrived within %d s\n",
                       phase->received, phase->sent, SHIM_BENCH_WAIT_S);
        return -1;
    }
    return rc;
}

//  The shim's capacity: stop it, post for --drain-seconds, resume it, time
//  the delivery of the backlog. Returns events/s, or -1. (Its metrics are
//  read only while it runs: a stopped process answers nothing.)
static double
s_drain(const options_t *options,
        bench_consumer_t *consumer,
        bench_http_t *scraper,
        int64_t *backlog_out)
{
    metrics_t before, after;
    s_metrics_read(options, scraper, &before);
    size_t first = bench_consumer_count(consumer);
    if (kill(options->shim_pid, SIGSTOP) != 0) {
        (void) fprintf(stderr, "bench_shim: SIGSTOP %d: %s\n", options->shim_pid, strerror(errno));
        return -1;
    }
    atomic_llong acked = 0, failed = 0;
    worker_t workers[SHIM_BENCH_CLIENTS_MAX];
    int64_t start_ns = bench_now_ns();
    s_workers_start(options, workers, options->clients, 0, start_ns, options->drain_seconds, &acked,
                    &failed);
    s_workers_join(workers, options->clients);
    int64_t resumed_ns = bench_now_ns();
    if (kill(options->shim_pid, SIGCONT) != 0) {
        (void) fprintf(stderr, "bench_shim: SIGCONT %d: %s\n", options->shim_pid, strerror(errno));
        return -1;
    }
    *backlog_out = atomic_load(&acked);
    int64_t done_ns =
        bench_consumer_await(consumer, first, (size_t) *backlog_out, SHIM_BENCH_WAIT_S);
    if (done_ns < 0) {
        (void) fprintf(stderr, "bench_shim: the backlog did not arrive within %d s\n",
                       SHIM_BENCH_WAIT_S);
        return -1;
    }
    s_metrics_read(options, scraper, &after);
    s_metrics_print("backlog:", &before, &after, NULL, false);
    return (double) *backlog_out / ((double) (done_ns - resumed_ns) / 1e9);
}

//  --------------------------------------------------------------------------
//  Set-up: the first order through the shim tells the body size.

static int64_t
s_first_order(const options_t *options, bench_consumer_t *consumer)
{
    bench_http_t *client = bench_http_new();
    size_t first = bench_consumer_count(consumer);
    long status = bench_http_post_order(client, options->order_url, 1, NULL);
    bench_http_destroy(&client);
    if (status != 201) {
        (void) fprintf(stderr, "bench_shim: POST /orders answered %ld\n", status);
        return -1;
    }
    if (bench_consumer_await(consumer, first, 1, SHIM_BENCH_WAIT_S) < 0) {
        (void) fprintf(stderr, "bench_shim: the first order did not reach RabbitMQ within %d s\n",
                       SHIM_BENCH_WAIT_S);
        return -1;
    }
    return bench_consumer_record(consumer, first)->size;
}

//  --------------------------------------------------------------------------

static void
s_usage(void)
{
    (void) fprintf(
        stderr,
        "usage: bench_shim --amqp-url URL --order-url URL --order-db DSN [--shim-url URL]\n"
        "                  [--shim-pid PID] [--exchange NAME] [--stream NAME] [--clients N]\n"
        "                  [--seconds S] [--rate R] [--latency-seconds S] [--window N]\n"
        "                  [--prefetch N] [--rounds N] [--drain-seconds S] [--baseline-queues "
        "N]\n");
    exit(2);
}

static int
s_int(const char *text, int low, int high)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < low || value > high) {
        s_usage();
    }
    return (int) value;
}

static void
s_options_parse(int argc, char **argv, options_t *options)
{
    static const struct option longs[] = {{"amqp-url", required_argument, NULL, 'a'},
                                          {"order-url", required_argument, NULL, 'o'},
                                          {"order-db", required_argument, NULL, 'd'},
                                          {"shim-url", required_argument, NULL, 'u'},
                                          {"shim-pid", required_argument, NULL, 'p'},
                                          {"exchange", required_argument, NULL, 'e'},
                                          {"stream", required_argument, NULL, 't'},
                                          {"clients", required_argument, NULL, 'c'},
                                          {"seconds", required_argument, NULL, 's'},
                                          {"rate", required_argument, NULL, 'r'},
                                          {"latency-seconds", required_argument, NULL, 'l'},
                                          {"window", required_argument, NULL, 'w'},
                                          {"prefetch", required_argument, NULL, 'f'},
                                          {"rounds", required_argument, NULL, 'n'},
                                          {"drain-seconds", required_argument, NULL, 'D'},
                                          {"baseline-queues", required_argument, NULL, 'q'},
                                          {NULL, 0, NULL, 0}};
    *options = (options_t){.exchange = "Contracts:OrderCreatedEvent",
                           .stream = "order-0",
                           .clients = 64,
                           .seconds = 5,
                           .rate = 1000,
                           .latency_seconds = 3,
                           .window = 256,
                           .prefetch = 500,
                           .rounds = 3,
                           .drain_seconds = 4,
                           .baseline_queues = 1};
    int option;
    while ((option = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (option) {
            case 'a':
                options->amqp_url = optarg;
                break;
            case 'o':
                options->order_url = optarg;
                break;
            case 'd':
                options->order_db = optarg;
                break;
            case 'u':
                options->shim_url = optarg;
                break;
            case 'p':
                options->shim_pid = s_int(optarg, 1, INT32_MAX);
                break;
            case 'e':
                options->exchange = optarg;
                break;
            case 't':
                options->stream = optarg;
                break;
            case 'c':
                options->clients = s_int(optarg, 1, SHIM_BENCH_CLIENTS_MAX);
                break;
            case 's':
                options->seconds = s_int(optarg, 2, 600);
                break;
            case 'r':
                options->rate = s_int(optarg, 1, 100000);
                break;
            case 'l':
                options->latency_seconds = s_int(optarg, 1, 600);
                break;
            case 'w':
                options->window = s_int(optarg, 1, 65535);
                break;
            case 'f':
                options->prefetch = s_int(optarg, 1, 65535);
                break;
            case 'n':
                options->rounds = s_int(optarg, 1, SHIM_BENCH_ROUNDS_MAX);
                break;
            case 'D':
                options->drain_seconds = s_int(optarg, 1, 15);
                break;
            case 'q':
                options->baseline_queues = s_int(optarg, 1, SHIM_BENCH_QUEUES_MAX);
                break;
            default:
                s_usage();
        }
    }
    if (!options->amqp_url || !options->order_url || !options->order_db || optind != argc) {
        s_usage();
    }
}

static int
s_compare_double(const void *left, const void *right)
{
    double a = *(const double *) left;
    double b = *(const double *) right;
    return (a > b) - (a < b);
}

static double
s_median(const double *values, int count)
{
    double sorted[SHIM_BENCH_ROUNDS_MAX];
    memcpy(sorted, values, (size_t) count * sizeof *values);
    qsort(sorted, (size_t) count, sizeof *sorted, s_compare_double);
    return count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

//  --------------------------------------------------------------------------

//  The measurements, once everything is connected. Returns 0 or -1.
static int
s_run(const options_t *options,
      bench_publisher_t *publisher,
      bench_consumer_t *base,
      bench_consumer_t *shim,
      PGconn *db,
      size_t body_size)
{
    bench_http_t *scraper = bench_http_new();
    double base_rates[SHIM_BENCH_ROUNDS_MAX], live_rates[SHIM_BENCH_ROUNDS_MAX],
        drain_rates[SHIM_BENCH_ROUNDS_MAX];
    double base_p50[SHIM_BENCH_ROUNDS_MAX], base_p99[SHIM_BENCH_ROUNDS_MAX],
        shim_p50[SHIM_BENCH_ROUNDS_MAX], shim_p99[SHIM_BENCH_ROUNDS_MAX];
    int rc = 0;
    for (int round = 0; round < options->rounds && rc == 0; round++) {
        phase_t base_phase, shim_phase;
        rc = s_baseline_flat(options, publisher, base, &base_phase);
        if (rc == 0) {
            printf("round %d baseline: %.0f msg/s received (published %.0f/s; %" PRId64
                   " messages, all in %.2f s after the last publish; latency at full speed p50 "
                   "%.2f ms, p99 %.2f ms)\n",
                   round + 1, base_phase.rate, base_phase.offered, base_phase.sent,
                   base_phase.settle_s, base_phase.p50_ms, base_phase.p99_ms);
            rc = s_shim_phase(options, shim, db, scraper, 0, options->seconds, &shim_phase);
        }
        if (rc == 0) {
            printf(
                "round %d live:     %.0f events/s received (orders answered 201: %.0f/s; %" PRId64
                " orders, all in %.2f s after the last POST; commit -> consumer at full speed "
                "p50 %.2f ms, p99 %.2f ms) = %.3f x the baseline: as fast as order-service "
                "answers POSTs\n",
                round + 1, shim_phase.rate, shim_phase.offered, shim_phase.sent,
                shim_phase.settle_s, shim_phase.p50_ms, shim_phase.p99_ms,
                shim_phase.rate / base_phase.rate);
            base_rates[round] = base_phase.rate;
            live_rates[round] = shim_phase.rate;
            drain_rates[round] = 0;
        }
        if (rc == 0 && options->shim_pid > 0) {
            int64_t backlog = 0;
            drain_rates[round] = s_drain(options, shim, scraper, &backlog);
            if (drain_rates[round] > 0) {
                printf("round %d shim:     %.0f events/s = %.3f x the baseline (the shim stopped "
                       "while order-service committed %" PRId64 " orders in %d s, then resumed)\n",
                       round + 1, drain_rates[round], drain_rates[round] / base_phase.rate, backlog,
                       options->drain_seconds);
            } else {
                rc = -1;
            }
        }
        phase_t base_paced = {0}, shim_paced = {0};
        if (rc == 0) {
            rc = s_baseline_paced(options, publisher, base, &base_paced);
        }
        if (rc == 0) {
            printf("round %d latency baseline, %d msg/s for %d s: publish -> consumer p50 %.2f ms, "
                   "p99 %.2f ms (%zu messages)\n",
                   round + 1, options->rate, options->latency_seconds, base_paced.p50_ms,
                   base_paced.p99_ms, base_paced.samples);
            rc = s_shim_phase(options, shim, db, scraper, options->rate, options->latency_seconds,
                              &shim_paced);
        }
        if (rc == 0) {
            printf("round %d latency shim, %d orders/s for %d s: order-service commit -> consumer "
                   "p50 %.2f ms, p99 %.2f ms (%zu events; p99 %.2f x the baseline's)\n",
                   round + 1, options->rate, options->latency_seconds, shim_paced.p50_ms,
                   shim_paced.p99_ms, shim_paced.samples,
                   base_paced.p99_ms > 0 ? shim_paced.p99_ms / base_paced.p99_ms : 0);
            base_p50[round] = base_paced.p50_ms;
            base_p99[round] = base_paced.p99_ms;
            shim_p50[round] = shim_paced.p50_ms;
            shim_p99[round] = shim_paced.p99_ms;
        }
    }
    bench_http_destroy(&scraper);
    if (rc != 0) {
        return rc;
    }
    //  The shim's throughput: committed events through the shim to the
    //  consumer (the backlog phase); without --shim-pid only the live
    //  figure, which order-service's HTTP front bounds, is known.
    double baseline = s_median(base_rates, options->rounds);
    double live = s_median(live_rates, options->rounds);
    double value = options->shim_pid > 0 ? s_median(drain_rates, options->rounds) : live;
    double ratio = baseline > 0 ? value / baseline : 0;
    //  Latency: the medians over the rounds of each round's p50 and p99
    //  (one paced phase's p99 is its 30 or so slowest messages: one stall
    //  of either server moves it).
    phase_t base_paced = {.p50_ms = s_median(base_p50, options->rounds),
                          .p99_ms = s_median(base_p99, options->rounds)};
    phase_t shim_paced = {.p50_ms = s_median(shim_p50, options->rounds),
                          .p99_ms = s_median(shim_p99, options->rounds)};
    printf("latency, medians of %d rounds: shim p50 %.2f ms, p99 %.2f ms; RabbitMQ p50 %.2f ms, "
           "p99 %.2f ms; p99 %.2f x the baseline's (goal <= 2)\n",
           options->rounds, shim_paced.p50_ms, shim_paced.p99_ms, base_paced.p50_ms,
           base_paced.p99_ms, base_paced.p99_ms > 0 ? shim_paced.p99_ms / base_paced.p99_ms : 0);
    printf("result: %.0f events/s from order-service's commit through the shim = %.3f x plain "
           "RabbitMQ's %.0f msg/s (persistent, confirms windowed %d deep, manual acks, body %zu "
           "bytes; medians of %d rounds; goal >= 0.8); live with HTTP clients %.0f events/s "
           "(%.3f x); latency p50 %.2f ms, p99 %.2f ms vs RabbitMQ p50 %.2f ms, p99 %.2f ms "
           "(goal p99 <= 2 x)\n",
           value, ratio, baseline, options->window, body_size, options->rounds, live,
           baseline > 0 ? live / baseline : 0, shim_paced.p50_ms, shim_paced.p99_ms,
           base_paced.p50_ms, base_paced.p99_ms);
    printf("{\"bench\": \"shim\", \"value\": %.0f, \"unit\": \"events/s\", \"baseline\": %.0f, "
           "\"ratio\": %.3f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"baseline_p99_ms\": %.2f, "
           "\"live\": %.0f, \"live_ratio\": %.3f}\n",
           value, baseline, ratio, shim_paced.p50_ms, shim_paced.p99_ms, base_paced.p99_ms, live,
           baseline > 0 ? live / baseline : 0);
    return 0;
}

int
main(int argc, char **argv)
{
    options_t options;
    s_options_parse(argc, argv, &options);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char suffix[32];
    (void) snprintf(suffix, sizeof suffix, "%d.%" PRIx64, (int) getpid(),
                    (uint64_t) bench_now_ns() & 0xffffff);
    char base_exchange[BENCH_AMQP_NAME_MAX], shim_queue[BENCH_AMQP_NAME_MAX];
    char base_queues[SHIM_BENCH_QUEUES_MAX][BENCH_AMQP_NAME_MAX];
    (void) snprintf(base_exchange, sizeof base_exchange, "bench.baseline.%s", suffix);
    (void) snprintf(shim_queue, sizeof shim_queue, "bench.shim.%s", suffix);
    for (int index = 0; index < options.baseline_queues; index++) {
        (void) snprintf(base_queues[index], sizeof base_queues[index], "bench.baseline.%s.%d",
                        suffix, index);
    }

    //  The baseline's latency and counts come from the first of its
    //  queues; the others only add the broker's work of more queues.
    PGconn *db = s_pg_connect(options.order_db);
    bench_consumer_t *shim = db ? bench_consumer_new(options.amqp_url, options.exchange, shim_queue,
                                                     options.prefetch, false)
                                : NULL;
    bench_consumer_t *bases[SHIM_BENCH_QUEUES_MAX] = {NULL};
    bool ready = shim != NULL;
    for (int index = 0; index < options.baseline_queues && ready; index++) {
        bases[index] = bench_consumer_new(options.amqp_url, base_exchange, base_queues[index],
                                          options.prefetch, true);
        ready = bases[index] != NULL;
    }
    int64_t body_size = ready ? s_first_order(&options, shim) : -1;
    bench_publisher_t *publisher = body_size > 0
                                       ? bench_publisher_new(options.amqp_url, base_exchange,
                                                             (size_t) body_size, options.window)
                                       : NULL;
    int rc = -1;
    if (publisher) {
        printf("shim: %d rounds of: plain RabbitMQ %d s, then %d HTTP clients posting orders %d "
               "s; steady window = each phase less its first second;%s then %d/s paced for %d s "
               "on each path\n",
               options.rounds, options.seconds, options.clients, options.seconds,
               options.shim_pid > 0 ? " then the backlog phase;" : "", options.rate,
               options.latency_seconds);
        printf("body: the shim's OrderCreated MassTransit envelope is %" PRId64
               " bytes; the baseline publishes that size (persistent, confirms %d in flight, "
               "sliding window) to %d durable queue(s); consumers: manual acks, one per message, "
               "prefetch %d\n",
               body_size, options.window, options.baseline_queues, options.prefetch);
        rc = s_run(&options, publisher, bases[0], shim, db, (size_t) body_size);
    }
    bench_publisher_destroy(&publisher);
    const char *queues[SHIM_BENCH_QUEUES_MAX + 2] = {shim_queue};
    for (int index = 0; index < options.baseline_queues; index++) {
        bench_consumer_destroy(&bases[index]);
        queues[index + 1] = base_queues[index];
    }
    bench_consumer_destroy(&shim);
    if (db) {
        bench_amqp_delete(options.amqp_url, base_exchange, queues);
        PQfinish(db);
    }
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
