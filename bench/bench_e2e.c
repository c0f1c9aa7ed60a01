/*  =========================================================================
    bench_e2e - orders/s and POST-to-paid latency through all three services

    scripts/bench.sh e2e starts a private PostgreSQL (durable settings, with
    track_commit_timestamp on) and the order, inventory and billing services
    as processes, then runs this program, which measures in one run:

    - baseline: PostgreSQL's own commit ceiling, single-row INSERT
      transactions from --pg-clients clients for --pg-seconds (the rate a
      service without group commit could at best reach);
    - resident memory (VmRSS) of each service at idle;
    - throughput: --clients HTTP clients (keep-alive; 64 by default, as
      bench_shim: each waits for a group commit before its next POST, so
      a few clients measure their own round trip, not what the services
      sustain) POST orders as fast as they are answered for --seconds; the
      figure is orders completed end to end (status PAYMENT_STARTED in the
      read model: stock reserved and payment started) per second, from
      the first POST to the last completion; the peak VmRSS of each
      service under that load;
    - latency: --rate orders/s paced over --latency-seconds (open loop, the
      schedule does not wait for slow answers); per order, from just
      before its POST to the commit of the read-model transaction that made
      it PAYMENT_STARTED (pg_xact_commit_timestamp of the order row, the
      same clock), p50 and p99; with --inventory-db and --billing-db, the
      same orders hop by hop too (POST -> order's commit -> inventory's
      and billing's commits -> the read model's commits of StockReserved
      and PaymentStarted: commit times in one cluster, one clock), which
      says where the latency goes.

    The last line is JSON: {"bench": "e2e", "value": orders/s, "unit":
    "orders/s", "baseline": tx/s, "ratio", "p50_ms", "p99_ms",
    "rss_idle_kb", "rss_load_kb", ...}.
    =========================================================================
*/
#include "bench_support.h"
#include "bench_http.h"

#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E2E_SERVICES_MAX 3
#define E2E_CLIENTS_MAX 64
#define E2E_URL_MAX 512
#define E2E_COMPLETE_TIMEOUT_S 120
#define E2E_RSS_SAMPLE_MS 100
#define E2E_QUERY_CHUNK 1000

typedef struct {
    const char *order_url;     //  http://127.0.0.1:PORT of order-service
    const char *inventory_url; //  of inventory-service
    const char *order_db;      //  conninfo of the order database (read model)
    const char *inventory_db;  //  conninfo of inventory's database, or NULL (no hops)
    const char *billing_db;    //  conninfo of billing's database, or NULL (no hops)
    const char *base_db;       //  conninfo of a scratch database for the baseline
    const char *pids;          //  "name=pid,name=pid,..." of the services
    int clients;               //  HTTP clients in the throughput phase
    int seconds;               //  length of the throughput phase
    int rate;                  //  orders/s of the latency phase
    int latency_seconds;       //  length of the latency phase
    int pg_clients;            //  clients of the baseline
    int pg_seconds;            //  length of the baseline
} options_t;

typedef struct {
    char name[32]; //  service name
    int pid;       //  its process id
    long idle_kb;  //  VmRSS at idle
    long load_kb;  //  largest VmRSS sampled under load
} service_t;

//  An order sent in the latency phase.
typedef struct {
    char id[BENCH_HTTP_ID_SIZE]; //  order id from the 201 answer, "" if it failed
    int64_t sent_us;             //  CLOCK_REALTIME just before the POST
} sent_t;

//  A client thread of either phase.
typedef struct {
    const options_t *options;
    int index;            //  0..clients-1
    int64_t start_ns;     //  phase start (bench_now_ns)
    int64_t end_ns;       //  phase end
    double interval_ns;   //  latency phase: time between this thread's sends
    atomic_llong *acked;  //  throughput phase: 201s, all threads
    atomic_llong *failed; //  non-201 answers and transport errors, all threads
    sent_t *sent;         //  latency phase: this thread's orders (owned by main)
    size_t sent_capacity; //  entries of sent
    size_t sent_count;    //  entries used
} worker_t;

//  --------------------------------------------------------------------------
//  PostgreSQL

static PGconn *
s_pg_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        (void) fprintf(stderr, "bench_e2e: connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

//  One number from a query without parameters, or -1.
static int64_t
s_pg_number(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    int64_t value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        value = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
    } else {
        (void) fprintf(stderr, "bench_e2e: %s: %s", sql, PQresultErrorMessage(result));
    }
    PQclear(result);
    return value;
}

typedef struct {
    const char *conninfo;
    int seconds;
    int64_t tx; //  committed transactions
} baseline_t;

static void *
s_baseline_run(void *arg)
{
    baseline_t *self = arg;
    PGconn *conn = s_pg_connect(self->conninfo);
    if (!conn) {
        return NULL;
    }
    int64_t end_ns = bench_now_ns() + (int64_t) self->seconds * 1000000000;
    const char *params[] = {"OrderCreated"};
    while (bench_now_ns() < end_ns) {
        PGresult *result = PQexecParams(conn, "INSERT INTO bench_commits (payload) VALUES ($1)", 1,
                                        NULL, params, NULL, NULL, 0);
        bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
        if (!ok) {
            break;
        }
        self->tx++;
    }
    PQfinish(conn);
    return NULL;
}

//  Single-row INSERT transactions from `clients` connections; tx/s, or -1.
static double
s_baseline(const options_t *options)
{
    PGconn *conn = s_pg_connect(options->base_db);
    if (!conn) {
        return -1;
    }
    PGresult *result = PQexec(conn, "CREATE TABLE IF NOT EXISTS bench_commits ("
                                    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                    " payload text NOT NULL,"
                                    " created_at timestamptz NOT NULL DEFAULT now())");
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    PQfinish(conn);
    if (!ok) {
        return -1;
    }
    baseline_t workers[E2E_CLIENTS_MAX];
    pthread_t threads[E2E_CLIENTS_MAX];
    int64_t start_ns = bench_now_ns();
    for (int index = 0; index < options->pg_clients; index++) {
        workers[index] = (baseline_t){.conninfo = options->base_db, .seconds = options->pg_seconds};
        pthread_create(&threads[index], NULL, s_baseline_run, &workers[index]);
    }
    int64_t tx = 0;
    for (int index = 0; index < options->pg_clients; index++) {
        pthread_join(threads[index], NULL);
        tx += workers[index].tx;
    }
    return (double) tx / ((double) (bench_now_ns() - start_ns) / 1e9);
}

//  --------------------------------------------------------------------------
//  Services: stock, readiness, memory

static long
s_rss_kb(int pid)
{
    char path[64], line[256];
    (void) snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *file = fopen(path, "r");
    long kb = -1;
    while (file && fgets(line, sizeof line, file)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (file) {
        (void) fclose(file);
    }
    return kb;
}

//  Parse "order-service=123,inventory-service=456,..."; returns the count.
static int
s_services_parse(const char *text, service_t *services)
{
    int count = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && count < E2E_SERVICES_MAX;
         item = strtok_r(NULL, ",", &save)) {
        char *equals = strchr(item, '=');
        if (equals) {
            *equals = '\0';
            service_t *service = &services[count++];
            memset(service, 0, sizeof *service);
            (void) snprintf(service->name, sizeof service->name, "%s", item);
            service->pid = atoi(equals + 1);
        }
    }
    free(copy);
    return count;
}

typedef struct {
    service_t *services;
    int count;
    atomic_bool stop;
} sampler_t;

static void *
s_sampler_run(void *arg)
{
    sampler_t *self = arg;
    while (!atomic_load(&self->stop)) {
        for (int index = 0; index < self->count; index++) {
            long kb = s_rss_kb(self->services[index].pid);
            if (kb > self->services[index].load_kb) {
                self->services[index].load_kb = kb;
            }
        }
        bench_sleep_until(bench_now_ns() + (int64_t) E2E_RSS_SAMPLE_MS * 1000000);
    }
    return NULL;
}

static int
s_seed_stock(const options_t *options)
{
    bench_http_t *client = bench_http_new();
    int rc = 0;
    for (int sku = 1; sku <= BENCH_HTTP_SKUS && rc == 0; sku++) {
        char url[E2E_URL_MAX];
        (void) snprintf(url, sizeof url, "%s/stock/SKU-%d", options->inventory_url, sku);
        if (bench_http_send(client, "PUT", url, "{\"available\": 1000000000}") != 200) {
            (void) fprintf(stderr, "bench_e2e: PUT %s: %s\n", url, bench_http_reply(client));
            rc = -1;
        }
    }
    bench_http_destroy(&client);
    return rc;
}

//  --------------------------------------------------------------------------
//  Load

static void *
s_throughput_run(void *arg)
{
    worker_t *self = arg;
    bench_http_t *client = bench_http_new();
    uint64_t number = (uint64_t) self->index * 1000000000ULL;
    while (bench_now_ns() < self->end_ns) {
        long status = bench_http_post_order(client, self->options->order_url, number++, NULL);
        if (status == 201) {
            atomic_fetch_add(self->acked, 1);
        } else {
            atomic_fetch_add(self->failed, 1);
        }
    }
    bench_http_destroy(&client);
    return NULL;
}

static void *
s_latency_run(void *arg)
{
    worker_t *self = arg;
    bench_http_t *client = bench_http_new();
    for (uint64_t number = 0; self->sent_count < self->sent_capacity; number++) {
        int64_t due_ns = self->start_ns + (int64_t) ((double) number * self->interval_ns);
        if (due_ns >= self->end_ns) {
            break;
        }
        bench_sleep_until(due_ns);
        sent_t *sent = &self->sent[self->sent_count++];
        sent->sent_us = bench_realtime_us();
        if (bench_http_post_order(client, self->options->order_url,
                                  number * 64 + (uint64_t) self->index, sent->id) != 201) {
            sent->id[0] = '\0';
            atomic_fetch_add(self->failed, 1);
        }
    }
    bench_http_destroy(&client);
    return NULL;
}

//  Wait until the read model holds `count` PAYMENT_STARTED orders more
//  than `before`; returns the time it happened (bench_now_ns), or -1.
static int64_t
s_wait_complete(PGconn *conn, int64_t before, int64_t count)
{
    int64_t deadline_ns = bench_now_ns() + (int64_t) E2E_COMPLETE_TIMEOUT_S * 1000000000;
    while (bench_now_ns() < deadline_ns) {
        int64_t done =
            s_pg_number(conn, "SELECT count(*) FROM orders WHERE status = 'PAYMENT_STARTED'");
        if (done < 0) {
            return -1;
        }
        if (done - before >= count) {
            return bench_now_ns();
        }
        bench_sleep_until(bench_now_ns() + 5000000);
    }
    (void) fprintf(stderr, "bench_e2e: orders did not complete within %d s\n",
                   E2E_COMPLETE_TIMEOUT_S);
    return -1;
}

//  One array literal of the ids of sent[first..last): {id,id,...} (ids are
//  UUID text). Caller owns return value.
static char *
s_ids_literal(const worker_t *worker, size_t first, size_t last)
{
    char *ids = zmalloc((last - first) * 40 + 3);
    char *end = ids;
    *end++ = '{';
    for (size_t at = first; at < last; at++) {
        if (worker->sent[at].id[0]) {
            end += sprintf(end, "%s%s", end > ids + 1 ? "," : "", worker->sent[at].id);
        }
    }
    *end++ = '}';
    return ids;
}

//  --------------------------------------------------------------------------
//  Hop by hop: commit times of each step of the same orders.

typedef enum {
    HOP_CREATED = 0, //  order's commit of the order (its OrderCreated)
    HOP_INVENTORY,   //  inventory's commit of the reservation
    HOP_BILLING,     //  billing's commit of the payment
    HOP_RESERVED,    //  the read model's commit of StockReserved
    HOP_PAID,        //  the read model's commit of PaymentStarted
    HOP_STEPS
} hop_step_t;

#define E2E_HOPS 5
static const char *const s_hop_names[E2E_HOPS] = {
    "POST -> order committed", "order -> inventory committed", "order -> billing committed",
    "inventory -> read model committed", "billing -> read model committed"};
//  Each hop: from step, to step (-1 = the POST).
static const int s_hop_from[E2E_HOPS] = {-1, HOP_CREATED, HOP_CREATED, HOP_INVENTORY, HOP_BILLING};
static const int s_hop_to[E2E_HOPS] = {HOP_CREATED, HOP_INVENTORY, HOP_BILLING, HOP_RESERVED,
                                       HOP_PAID};

//  Fill steps[i][step] (Unix us, 0 = not seen) for sent[first + i] from
//  the rows (order id, step, commit time) of `sql` run with the ids.
static void
s_hop_rows(PGconn *conn,
           const char *sql,
           const char *ids,
           const worker_t *worker,
           size_t first,
           size_t last,
           int64_t (*steps)[HOP_STEPS])
{
    const char *params[] = {ids};
    PGresult *result = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        (void) fprintf(stderr, "bench_e2e: hop query: %s", PQresultErrorMessage(result));
    }
    for (int row = 0; row < PQntuples(result); row++) {
        const char *id = PQgetvalue(result, row, 0);
        int step = atoi(PQgetvalue(result, row, 1));
        for (size_t at = first; at < last && step >= 0 && step < HOP_STEPS; at++) {
            if (strcmp(worker->sent[at].id, id) == 0) {
                steps[at - first][step] = strtoll(PQgetvalue(result, row, 2), NULL, 10);
                break;
            }
        }
    }
    PQclear(result);
}

//  Print p50 and p99 of each hop over the latency phase's orders.
static void
s_hops(const options_t *options, PGconn *order, const worker_t *workers, int count)
{
    PGconn *inventory = PQconnectdb(options->inventory_db);
    PGconn *billing = PQconnectdb(options->billing_db);
    bench_samples_t *hops[E2E_HOPS];
    size_t capacity = (size_t) options->rate * (size_t) options->latency_seconds + 64;
    for (int hop = 0; hop < E2E_HOPS; hop++) {
        hops[hop] = bench_samples_new(capacity);
    }
    int64_t(*steps)[HOP_STEPS] = zmalloc(E2E_QUERY_CHUNK * sizeof *steps);
    for (int index = 0; index < count; index++) {
        const worker_t *worker = &workers[index];
        for (size_t first = 0; first < worker->sent_count; first += E2E_QUERY_CHUNK) {
            size_t last = first + E2E_QUERY_CHUNK < worker->sent_count ? first + E2E_QUERY_CHUNK
                                                                       : worker->sent_count;
            memset(steps, 0, E2E_QUERY_CHUNK * sizeof *steps);
            char *ids = s_ids_literal(worker, first, last);
            s_hop_rows(order,
                       "SELECT order_id::text, CASE event WHEN 'OrderCreated' THEN 0"
                       " WHEN 'StockReserved' THEN 3 ELSE 4 END,"
                       " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
                       " FROM order_history WHERE order_id = ANY($1::uuid[])"
                       " AND event IN ('OrderCreated', 'StockReserved', 'PaymentStarted')",
                       ids, worker, first, last, steps);
            s_hop_rows(inventory,
                       "SELECT order_id::text, 1,"
                       " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
                       " FROM inventory_reservations WHERE order_id = ANY($1::uuid[])",
                       ids, worker, first, last, steps);
            s_hop_rows(billing,
                       "SELECT order_id::text, 2,"
                       " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
                       " FROM billing_payments WHERE order_id = ANY($1::uuid[])",
                       ids, worker, first, last, steps);
            for (size_t at = first; at < last; at++) {
                const int64_t *step = steps[at - first];
                for (int hop = 0; hop < E2E_HOPS; hop++) {
                    int64_t from =
                        s_hop_from[hop] < 0 ? worker->sent[at].sent_us : step[s_hop_from[hop]];
                    int64_t to = step[s_hop_to[hop]];
                    if (worker->sent[at].id[0] && from > 0 && to > 0) {
                        bench_samples_add(hops[hop], (to - from) * 1000);
                    }
                }
            }
            freen(ids);
        }
    }
    for (int hop = 0; hop < E2E_HOPS; hop++) {
        printf("latency hop %-34s p50 %6.2f ms, p99 %6.2f ms (%zu orders)\n", s_hop_names[hop],
               bench_samples_percentile_us(hops[hop], 50.0) / 1000,
               bench_samples_percentile_us(hops[hop], 99.0) / 1000, bench_samples_count(hops[hop]));
        bench_samples_destroy(&hops[hop]);
    }
    freen(steps);
    PQfinish(billing);
    PQfinish(inventory);
}

//  Latency of each sent order: commit time of its read-model row minus
//  the send time, into `samples`. Returns how many were complete.
static size_t
s_latencies(PGconn *conn, worker_t *workers, int count, bench_samples_t *samples)
{
    size_t complete = 0;
    for (int index = 0; index < count; index++) {
        worker_t *worker = &workers[index];
        for (size_t first = 0; first < worker->sent_count; first += E2E_QUERY_CHUNK) {
            size_t last = first + E2E_QUERY_CHUNK < worker->sent_count ? first + E2E_QUERY_CHUNK
                                                                       : worker->sent_count;
            char *ids = s_ids_literal(worker, first, last);
            const char *params[] = {ids};
            PGresult *result = PQexecParams(
                conn,
                "SELECT order_id::text,"
                " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
                " FROM orders WHERE order_id = ANY($1::uuid[]) AND status = 'PAYMENT_STARTED'",
                1, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(result) != PGRES_TUPLES_OK) {
                (void) fprintf(stderr, "bench_e2e: latency query: %s",
                               PQresultErrorMessage(result));
            }
            for (int row = 0; row < PQntuples(result); row++) {
                const char *id = PQgetvalue(result, row, 0);
                int64_t committed_us = strtoll(PQgetvalue(result, row, 1), NULL, 10);
                for (size_t at = first; at < last; at++) {
                    if (strcmp(worker->sent[at].id, id) == 0) {
                        bench_samples_add(samples,
                                          (committed_us - worker->sent[at].sent_us) * 1000);
                        complete++;
                        break;
                    }
                }
            }
            PQclear(result);
            freen(ids);
        }
    }
    return complete;
}

//  --------------------------------------------------------------------------

static void
s_usage(void)
{
    (void) fprintf(
        stderr, "usage: bench_e2e --order-url URL --inventory-url URL --order-db DSN\n"
                "                 [--inventory-db DSN --billing-db DSN]\n"
                "                 --base-db DSN --pids NAME=PID,... [--clients N] [--seconds S]\n"
                "                 [--rate R] [--latency-seconds S] [--pg-clients N]"
                " [--pg-seconds S]\n");
    exit(2);
}

static void
s_options_parse(int argc, char **argv, options_t *options)
{
    static const struct option longs[] = {{"order-url", required_argument, NULL, 'o'},
                                          {"inventory-url", required_argument, NULL, 'i'},
                                          {"order-db", required_argument, NULL, 'd'},
                                          {"inventory-db", required_argument, NULL, 'I'},
                                          {"billing-db", required_argument, NULL, 'B'},
                                          {"base-db", required_argument, NULL, 'b'},
                                          {"pids", required_argument, NULL, 'p'},
                                          {"clients", required_argument, NULL, 'c'},
                                          {"seconds", required_argument, NULL, 's'},
                                          {"rate", required_argument, NULL, 'r'},
                                          {"latency-seconds", required_argument, NULL, 'l'},
                                          {"pg-clients", required_argument, NULL, 'C'},
                                          {"pg-seconds", required_argument, NULL, 'S'},
                                          {NULL, 0, NULL, 0}};
    *options = (options_t){.clients = 64,
                           .seconds = 10,
                           .rate = 1000,
                           .latency_seconds = 10,
                           .pg_clients = 8,
                           .pg_seconds = 5};
    int option;
    while ((option = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (option) {
            case 'o':
                options->order_url = optarg;
                break;
            case 'i':
                options->inventory_url = optarg;
                break;
            case 'd':
                options->order_db = optarg;
                break;
            case 'I':
                options->inventory_db = optarg;
                break;
            case 'B':
                options->billing_db = optarg;
                break;
            case 'b':
                options->base_db = optarg;
                break;
            case 'p':
                options->pids = optarg;
                break;
            case 'c':
                options->clients = atoi(optarg);
                break;
            case 's':
                options->seconds = atoi(optarg);
                break;
            case 'r':
                options->rate = atoi(optarg);
                break;
            case 'l':
                options->latency_seconds = atoi(optarg);
                break;
            case 'C':
                options->pg_clients = atoi(optarg);
                break;
            case 'S':
                options->pg_seconds = atoi(optarg);
                break;
            default:
                s_usage();
        }
    }
    if (!options->order_url || !options->inventory_url || !options->order_db || !options->base_db ||
        !options->pids || optind != argc || options->clients < 1 ||
        options->clients > E2E_CLIENTS_MAX || options->seconds < 1 || options->rate < 1 ||
        options->latency_seconds < 1 || options->pg_clients < 1 ||
        options->pg_clients > E2E_CLIENTS_MAX || options->pg_seconds < 1) {
        s_usage();
    }
}

//  Run the throughput phase; returns completed orders/s, or -1.
static double
s_throughput(const options_t *options, PGconn *conn, int64_t *acked_out, int64_t *failed_out)
{
    int64_t before =
        s_pg_number(conn, "SELECT count(*) FROM orders WHERE status = 'PAYMENT_STARTED'");
    atomic_llong acked = 0, failed = 0;
    worker_t workers[E2E_CLIENTS_MAX];
    pthread_t threads[E2E_CLIENTS_MAX];
    int64_t start_ns = bench_now_ns();
    for (int index = 0; index < options->clients; index++) {
        workers[index] = (worker_t){.options = options,
                                    .index = index,
                                    .start_ns = start_ns,
                                    .end_ns = start_ns + (int64_t) options->seconds * 1000000000,
                                    .acked = &acked,
                                    .failed = &failed};
        pthread_create(&threads[index], NULL, s_throughput_run, &workers[index]);
    }
    for (int index = 0; index < options->clients; index++) {
        pthread_join(threads[index], NULL);
    }
    int64_t answered_ns = bench_now_ns();
    *acked_out = atomic_load(&acked);
    *failed_out = atomic_load(&failed);
    int64_t done_ns = s_wait_complete(conn, before, *acked_out);
    if (done_ns < 0) {
        return -1;
    }
    printf("throughput: %d clients, %d s: %" PRId64 " orders acknowledged (%.0f/s), %" PRId64
           " failed; all complete %.2f s after the last answer\n",
           options->clients, options->seconds, *acked_out,
           (double) *acked_out / ((double) (answered_ns - start_ns) / 1e9), *failed_out,
           (double) (done_ns - answered_ns) / 1e9);
    return (double) *acked_out / ((double) (done_ns - start_ns) / 1e9);
}

//  Run the paced latency phase; fills samples, returns the failed count.
static int64_t
s_latency(const options_t *options, PGconn *conn, bench_samples_t *samples, size_t *sent_out)
{
    int64_t before =
        s_pg_number(conn, "SELECT count(*) FROM orders WHERE status = 'PAYMENT_STARTED'");
    //  Enough threads that one slow answer does not hold back the schedule.
    int threads_count = options->rate >= 800 ? 16 : 4;
    atomic_llong failed = 0;
    worker_t workers[E2E_CLIENTS_MAX];
    pthread_t threads[E2E_CLIENTS_MAX];
    int64_t start_ns = bench_now_ns() + 50000000;
    size_t per_thread =
        (size_t) options->rate * (size_t) options->latency_seconds / (size_t) threads_count + 2;
    for (int index = 0; index < threads_count; index++) {
        double interval_ns = 1e9 * threads_count / options->rate;
        workers[index] =
            (worker_t){.options = options,
                       .index = index,
                       .start_ns = start_ns + (int64_t) (interval_ns * index / threads_count),
                       .end_ns = start_ns + (int64_t) options->latency_seconds * 1000000000,
                       .interval_ns = interval_ns,
                       .failed = &failed,
                       .sent = zmalloc(per_thread * sizeof(sent_t)),
                       .sent_capacity = per_thread};
        pthread_create(&threads[index], NULL, s_latency_run, &workers[index]);
    }
    size_t sent = 0;
    for (int index = 0; index < threads_count; index++) {
        pthread_join(threads[index], NULL);
        sent += workers[index].sent_count;
    }
    *sent_out = sent;
    int64_t ok = (int64_t) sent - atomic_load(&failed);
    if (s_wait_complete(conn, before, ok) >= 0) {
        size_t complete = s_latencies(conn, workers, threads_count, samples);
        printf("latency: %d orders/s for %d s: %zu sent, %zu complete\n", options->rate,
               options->latency_seconds, sent, complete);
        if (options->inventory_db && options->billing_db) {
            s_hops(options, conn, workers, threads_count);
        }
    }
    for (int index = 0; index < threads_count; index++) {
        freen(workers[index].sent);
    }
    return atomic_load(&failed);
}

int
main(int argc, char **argv)
{
    options_t options;
    s_options_parse(argc, argv, &options);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    service_t services[E2E_SERVICES_MAX];
    int service_count = s_services_parse(options.pids, services);
    PGconn *conn = s_pg_connect(options.order_db);
    if (!conn || s_seed_stock(&options)) {
        return 1;
    }

    double baseline = s_baseline(&options);
    printf("baseline: postgres single-row insert transactions, %d clients, %d s: %.0f tx/s\n",
           options.pg_clients, options.pg_seconds, baseline);

    long rss_idle = 0, rss_load = 0;
    for (int index = 0; index < service_count; index++) {
        services[index].idle_kb = s_rss_kb(services[index].pid);
        rss_idle = services[index].idle_kb > rss_idle ? services[index].idle_kb : rss_idle;
    }

    sampler_t sampler = {.services = services, .count = service_count};
    pthread_t sampler_thread;
    pthread_create(&sampler_thread, NULL, s_sampler_run, &sampler);
    int64_t acked = 0, failed = 0;
    double value = s_throughput(&options, conn, &acked, &failed);
    atomic_store(&sampler.stop, true);
    pthread_join(sampler_thread, NULL);
    for (int index = 0; index < service_count; index++) {
        printf("memory: %-18s idle %6ld kB, under load %6ld kB (VmRSS)\n", services[index].name,
               services[index].idle_kb, services[index].load_kb);
        rss_load = services[index].load_kb > rss_load ? services[index].load_kb : rss_load;
    }

    bench_samples_t *samples =
        bench_samples_new((size_t) options.rate * (size_t) options.latency_seconds + 64);
    size_t sent = 0;
    int64_t latency_failed = s_latency(&options, conn, samples, &sent);
    double p50 = bench_samples_percentile_us(samples, 50.0) / 1000;
    double p99 = bench_samples_percentile_us(samples, 99.0) / 1000;
    printf("latency POST -> reserved and payment started in the read model: p50 %.2f ms, p99 "
           "%.2f ms (%zu orders, %" PRId64 " failed; goal p99 <= 20 ms)\n",
           p50, p99, bench_samples_count(samples), latency_failed);
    double ratio = baseline > 0 ? value / baseline : 0;
    printf("result: %.0f orders/s end to end = %.2f x PostgreSQL's %d-client single-row commit "
           "rate (goal >= 5000 orders/s); largest service %ld kB idle, %ld kB under load (goals "
           "16 MB, 64 MB)\n",
           value, ratio, options.pg_clients, rss_idle, rss_load);
    printf("{\"bench\": \"e2e\", \"value\": %.0f, \"unit\": \"orders/s\", \"baseline\": %.0f, "
           "\"ratio\": %.3f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"rss_idle_kb\": %ld, "
           "\"rss_load_kb\": %ld, \"acked\": %" PRId64 ", \"failed\": %" PRId64
           ", \"latency_orders\": %zu}\n",
           value, baseline, ratio, p50, p99, rss_idle, rss_load, acked, failed + latency_failed,
           bench_samples_count(samples));
    bench_samples_destroy(&samples);
    PQfinish(conn);
    curl_global_cleanup();
    return value > 0 ? 0 : 1;
}
