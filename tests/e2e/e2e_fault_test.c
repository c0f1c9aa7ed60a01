/*  =========================================================================
    e2e_fault_test - orders under load while services are killed with -9

    DESIGN section 2.3 from outside: a few thousand orders, and a cancel
    for every CANCEL_EVERY-th, are sent by CLIENTS threads (libcurl,
    keep-alive) while the main thread SIGKILLs one of the three services
    at random moments and starts it again, KILLS_EACH times each. A client
    does what a real client must to make a retry safe: a POST that got no
    answer or a 503 is sent again with the SAME Idempotency-Key until it is
    acknowledged (bounded). When the load is done and every service runs
    again, the test waits until no event is in flight and checks:

    - every order was acknowledged, once: one order per key, and each
      exists (GET 200), listed once for its customer;
    - inventory applied each OrderCreated once: one reservation row per
      order, and per SKU available + reserved is what was seeded, and
      reserved is exactly the units of the orders it holds;
    - billing applied each once: one payment per order, with the order's
      exact total;
    - the order read model recorded each event once: no (stream, seq)
      twice, and per stream as many entries as the stream's tail;
    - the outcomes agree: PAYMENT_STARTED iff reserved and paid and not
      cancelled; a cancelled order has its stock released and its payment
      voided; a rejected one took no stock and its payment is voided;
    - nothing was dead-lettered, and SIGTERM ends every service with 0.

    The random moments and the orders come from a PRNG whose seed is
    printed (E2E_FAULT_SEED replays a run). Forks happen on the main
    thread only (ts_proc.h: a child dies with the thread that forked it).
    =========================================================================
*/
#include "e2e_support.h"
#include "ts.h"

#include <czmq.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The load.
#define ORDERS 3000
#define CLIENTS 8
#define CANCEL_EVERY 7
//  Lines per order 1..LINES_MAX, units per line 1..QUANTITY_MAX.
#define LINES_MAX 3
#define QUANTITY_MAX 3
//  Percent of lines that ask for a scarce SKU.
#define SCARCE_PERCENT 8

//  The faults: kills per service, spread over the load by progress, each
//  after a random delay of up to KILL_DELAY_MAX_MS.
#define KILLS_EACH 3
#define KILLS (KILLS_EACH * E2E_SERVICES)
#define KILL_DELAY_MAX_MS 250

//  A client retries one request for at most this long, backing off from
//  RETRY_MIN_MS to RETRY_MAX_MS between attempts (a client's backoff,
//  not a wait for the test's sake).
#define RETRY_DEADLINE_MS 120000
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 500

//  The last stretch of the load, from order TAIL_FROM on, waits until
//  every kill is done, so every kill lands under load however fast the
//  services have become.
#define TAIL_FROM ((KILLS + 1) * ORDERS / (KILLS + 2))

//  The wait for the system to settle after the load, and for the load.
#define QUIET_MS 120000
#define LOAD_MS 150000

//  The SKUs: plenty of the first ones, little of the scarce ones.
#define SKUS 8
#define SCARCE_FIRST 6
static const char *s_skus[SKUS] = {"F-A", "F-B", "F-C", "F-D", "F-E", "F-F", "F-S1", "F-S2"};
static const long s_seeded[SKUS] = {1000000, 1000000, 1000000, 1000000, 1000000, 1000000, 40, 40};

//  Prices in minor units of EUR and as the API writes them.
#define PRICES 4
static const long s_price_minor[PRICES] = {100, 250, 1999, 5};
static const char *s_price_text[PRICES] = {"1.00", "2.50", "19.99", "0.05"};

//  One order: what is sent, what came back, and what the check found.
typedef struct {
    //  The request, made before the load.
    int client;              //  the client thread that sends it
    int lines;               //  1..LINES_MAX
    int sku[LINES_MAX];      //  index into s_skus
    int quantity[LINES_MAX]; //  units
    int price[LINES_MAX];    //  index into the price tables
    long total_minor;        //  sum of quantity * price
    bool cancel;             //  a cancel follows the create
    char key[64];            //  "Idempotency-Key: ..." header line
    char *body;              //  the JSON body (owned)
    //  Written by the client thread during the load.
    bool acked;              //  a 201 came
    char order_id[37];       //  from the 201
    int post_attempts;       //  POSTs sent
    int post_replays;        //  answers with Idempotent-Replayed: true
    long post_failure;       //  a status that is neither 201, 503 nor none; 0 if none
    char cancel_outcome[16]; //  "CANCELLED", "REJECTED" (409) or "" (none)
    long cancel_failure;     //  an unexpected cancel status, 0 if none
    //  Written by the check threads.
    long get_status;                     //  GET /orders/{id}
    char status[24];                     //  the order's status
    int history_dups;                    //  (stream, seq) pairs seen twice in its history
    int history_created;                 //  OrderCreated entries
    int history_by_stream[E2E_SERVICES]; //  entries per stream
    long reservation_status_code;        //  GET /reservations/{id}
    char reservation[16];                //  its status
    long payment_status_code;            //  GET /payments/{id}
    char payment[16];                    //  its status
    char amount[32];                     //  its amount, "" if null
} order_t;

typedef struct {
    e2e_system_t *system;    //  the services (owned)
    order_t *orders;         //  ORDERS orders (owned)
    uint64_t rng;            //  xorshift64 state
    atomic_int acked;        //  orders acknowledged so far
    atomic_int clients_done; //  client threads finished
    atomic_bool stop;        //  ask the clients to give up
    atomic_bool kills_done;  //  the killer has finished (or gave up)
} fixture_t;

typedef struct {
    fixture_t *fixture; //  borrowed
    int client;         //  this thread's index
} client_arg_t;

//  --------------------------------------------------------------------------
//  Orders

static uint64_t
s_random(fixture_t *fixture)
{
    fixture->rng ^= fixture->rng << 13;
    fixture->rng ^= fixture->rng >> 7;
    fixture->rng ^= fixture->rng << 17;
    return fixture->rng;
}

static int
s_random_below(fixture_t *fixture, int limit)
{
    return (int) (s_random(fixture) % (uint64_t) limit);
}

//  Draw every order and write its body.
static void
s_orders_make(fixture_t *fixture)
{
    fixture->orders = zmalloc(ORDERS * sizeof(order_t));
    for (int index = 0; index < ORDERS; index++) {
        order_t *order = &fixture->orders[index];
        order->client = index % CLIENTS;
        order->cancel = index % CANCEL_EVERY == CANCEL_EVERY - 1;
        order->lines = 1 + s_random_below(fixture, LINES_MAX);
        json_t *items = json_array();
        for (int line = 0; line < order->lines; line++) {
            bool scarce = s_random_below(fixture, 100) < SCARCE_PERCENT;
            order->sku[line] = scarce ? SCARCE_FIRST + s_random_below(fixture, SKUS - SCARCE_FIRST)
                                      : s_random_below(fixture, SCARCE_FIRST);
            order->quantity[line] = 1 + s_random_below(fixture, QUANTITY_MAX);
            order->price[line] = s_random_below(fixture, PRICES);
            order->total_minor += order->quantity[line] * s_price_minor[order->price[line]];
            json_array_append_new(items,
                                  json_pack("{s:s, s:i, s:s}", "sku", s_skus[order->sku[line]],
                                            "quantity", order->quantity[line], "unitPrice",
                                            s_price_text[order->price[line]]));
        }
        char customer[32];
        (void) snprintf(customer, sizeof customer, "fault-c%d", order->client);
        json_t *body =
            json_pack("{s:s, s:s, s:o}", "customerId", customer, "currency", "EUR", "items", items);
        order->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        (void) snprintf(order->key, sizeof order->key, "Idempotency-Key: fault-%016" PRIx64 "-%d",
                        fixture->rng, index);
    }
}

//  --------------------------------------------------------------------------
//  Clients

//  Send until an answer other than "none" or 503 comes, or the deadline.
//  Returns 0 with *reply filled (caller frees), or -1.
static int
s_send_retrying(fixture_t *fixture,
                e2e_http_t *http,
                const char *url,
                const char *const *headers,
                const char *body,
                int *attempts,
                e2e_reply_t *reply)
{
    int64_t deadline = zclock_mono() + RETRY_DEADLINE_MS;
    int backoff_ms = RETRY_MIN_MS;
    while (!atomic_load(&fixture->stop)) {
        (*attempts)++;
        (void) e2e_http_send_json(http, "POST", url, headers, body, reply);
        if (reply->status != 0 && reply->status != 503) {
            return 0;
        }
        e2e_reply_free(reply);
        if (zclock_mono() + backoff_ms > deadline) {
            break;
        }
        zclock_sleep(backoff_ms);
        backoff_ms = backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff_ms * 2;
    }
    return -1;
}

//  Create one order (and cancel it if it is one of those).
static void
s_client_order(fixture_t *fixture, e2e_http_t *http, const char *orders_url, order_t *order)
{
    const char *headers[] = {order->key, NULL};
    e2e_reply_t reply;
    int attempts = 0;
    if (s_send_retrying(fixture, http, orders_url, headers, order->body, &attempts, &reply)) {
        order->post_attempts = attempts;
        return;
    }
    order->post_attempts = attempts;
    const char *id = e2e_json_str(reply.json, "orderId");
    if (reply.status != 201 || !id || strlen(id) != 36) {
        order->post_failure = reply.status;
        e2e_reply_free(&reply);
        return;
    }
    (void) snprintf(order->order_id, sizeof order->order_id, "%s", id);
    order->post_replays += reply.replayed;
    order->acked = true;
    atomic_fetch_add(&fixture->acked, 1);
    e2e_reply_free(&reply);
    if (!order->cancel) {
        return;
    }
    char *cancel_url = zsys_sprintf("%s/%s/cancel", orders_url, order->order_id);
    attempts = 0;
    if (s_send_retrying(fixture, http, cancel_url, NULL, "{\"reason\": \"fault test\"}", &attempts,
                        &reply) == 0) {
        //  A 409 after a retry means an earlier attempt was applied (or the
        //  order was rejected first): the order in it says which.
        const json_t *current =
            reply.status == 409 ? json_object_get(reply.json, "order") : reply.json;
        const char *status = e2e_json_str(current, "status");
        if ((reply.status == 200 || reply.status == 409) && status) {
            (void) snprintf(order->cancel_outcome, sizeof order->cancel_outcome, "%s", status);
        } else {
            order->cancel_failure = reply.status;
        }
        e2e_reply_free(&reply);
    }
    zstr_free(&cancel_url);
}

static bool
s_kills_done(void *arg)
{
    fixture_t *fixture = arg;
    return atomic_load(&fixture->kills_done) || atomic_load(&fixture->stop);
}

static void *
s_client(void *arg)
{
    client_arg_t *client = arg;
    fixture_t *fixture = client->fixture;
    e2e_http_t *http = e2e_http_new();
    char *orders_url = e2e_url(fixture->system, E2E_ORDER, "/orders");
    for (int index = client->client; index < ORDERS && !atomic_load(&fixture->stop);
         index += CLIENTS) {
        if (index >= TAIL_FROM && !ts_wait_until(s_kills_done, fixture, LOAD_MS)) {
            break;
        }
        s_client_order(fixture, http, orders_url, &fixture->orders[index]);
    }
    zstr_free(&orders_url);
    e2e_http_destroy(&http);
    atomic_fetch_add(&fixture->clients_done, 1);
    return NULL;
}

//  --------------------------------------------------------------------------
//  The killer (main thread)

typedef struct {
    fixture_t *fixture; //  borrowed
    int acked;          //  waited for: at least this many acknowledged
} progress_wait_t;

static bool
s_progressed(void *arg)
{
    progress_wait_t *wait = arg;
    return atomic_load(&wait->fixture->acked) >= wait->acked ||
           atomic_load(&wait->fixture->clients_done) == CLIENTS;
}

static bool
s_clients_done(void *arg)
{
    fixture_t *fixture = arg;
    return atomic_load(&fixture->clients_done) == CLIENTS;
}

//  Kill services at KILLS moments spread over the load. Returns the kills
//  done, or -1 after a service did not come back (printed).
static int
s_kill_during_load(fixture_t *fixture)
{
    int victims[KILLS];
    for (int index = 0; index < KILLS; index++) {
        victims[index] = index % E2E_SERVICES;
    }
    for (int index = KILLS - 1; index > 0; index--) {
        int other = s_random_below(fixture, index + 1);
        int swap = victims[index];
        victims[index] = victims[other];
        victims[other] = swap;
    }
    int kills = 0;
    for (; kills < KILLS; kills++) {
        progress_wait_t wait = {fixture, (kills + 1) * ORDERS / (KILLS + 2)};
        if (!ts_wait_until(s_progressed, &wait, LOAD_MS) ||
            atomic_load(&fixture->clients_done) == CLIENTS) {
            break;
        }
        int delay_ms = s_random_below(fixture, KILL_DELAY_MAX_MS + 1);
        zclock_sleep(delay_ms); //  the random moment is the point of the test
        e2e_service_t *service = &fixture->system->services[victims[kills]];
        int acked = atomic_load(&fixture->acked);
        if (ts_proc_kill(service->proc) != 0) {
            ts_proc_log_dump(service->proc, "died before it was killed", 30);
            return -1;
        }
        int64_t down_at = zclock_mono();
        if (e2e_service_restart(fixture->system, (e2e_which_t) victims[kills]) != 0) {
            return -1;
        }
        (void) fprintf(stderr,
                       "e2e_fault_test: kill %d: %s-service at %d acknowledged orders (+%d ms),"
                       " ready again after %" PRId64 " ms\n",
                       kills + 1, service->name, acked, delay_ms, zclock_mono() - down_at);
    }
    return kills;
}

//  --------------------------------------------------------------------------
//  Checks over HTTP (threads, one client each)

//  Record the history of one order: duplicates, creates, entries per stream.
static void
s_check_history(fixture_t *fixture, order_t *order, const json_t *history)
{
    zhashx_t *seen = zhashx_new();
    size_t index;
    json_t *entry;
    json_array_foreach(history, index, entry)
    {
        const char *stream = e2e_json_str(entry, "stream");
        const char *event = e2e_json_str(entry, "event");
        json_int_t seq = json_integer_value(json_object_get(entry, "seq"));
        char key[96];
        (void) snprintf(key, sizeof key, "%s/%lld", stream ? stream : "?", (long long) seq);
        if (zhashx_insert(seen, key, (void *) 1) != 0) {
            order->history_dups++;
        }
        order->history_created += event && streq(event, "OrderCreated");
        for (int which = 0; which < E2E_SERVICES; which++) {
            order->history_by_stream[which] +=
                stream && streq(stream, fixture->system->services[which].stream);
        }
    }
    zhashx_destroy(&seen);
}

//  GET `path` of a service; the status, and the JSON answer in *json.
static long
s_check_get(
    fixture_t *fixture, e2e_http_t *http, e2e_which_t which, const char *path, json_t **json)
{
    char *url = e2e_url(fixture->system, which, path);
    e2e_reply_t reply;
    (void) e2e_http_call(http, "GET", url, NULL, NULL, &reply);
    long status = reply.status;
    *json = json_incref(reply.json);
    e2e_reply_free(&reply);
    zstr_free(&url);
    return status;
}

static void
s_check_order(fixture_t *fixture, e2e_http_t *http, order_t *order)
{
    json_t *json = NULL;
    char *path = zsys_sprintf("/orders/%s", order->order_id);
    order->get_status = s_check_get(fixture, http, E2E_ORDER, path, &json);
    (void) snprintf(order->status, sizeof order->status, "%s",
                    e2e_json_str(json, "status") ? e2e_json_str(json, "status") : "");
    s_check_history(fixture, order, json_object_get(json, "history"));
    json_decref(json);
    zstr_free(&path);

    path = zsys_sprintf("/reservations/%s", order->order_id);
    order->reservation_status_code = s_check_get(fixture, http, E2E_INVENTORY, path, &json);
    (void) snprintf(order->reservation, sizeof order->reservation, "%s",
                    e2e_json_str(json, "status") ? e2e_json_str(json, "status") : "");
    json_decref(json);
    zstr_free(&path);

    path = zsys_sprintf("/payments/%s", order->order_id);
    order->payment_status_code = s_check_get(fixture, http, E2E_BILLING, path, &json);
    (void) snprintf(order->payment, sizeof order->payment, "%s",
                    e2e_json_str(json, "status") ? e2e_json_str(json, "status") : "");
    (void) snprintf(order->amount, sizeof order->amount, "%s",
                    e2e_json_str(json, "amount") ? e2e_json_str(json, "amount") : "");
    json_decref(json);
    zstr_free(&path);
}

static void *
s_checker(void *arg)
{
    client_arg_t *client = arg;
    fixture_t *fixture = client->fixture;
    e2e_http_t *http = e2e_http_new();
    for (int index = client->client; index < ORDERS; index += CLIENTS) {
        if (fixture->orders[index].acked) {
            s_check_order(fixture, http, &fixture->orders[index]);
        }
    }
    e2e_http_destroy(&http);
    return NULL;
}

//  Run `body` in CLIENTS threads and join them.
static void
s_run_threads(fixture_t *fixture, void *(*body)(void *), bool kill_meanwhile, int *kills)
{
    pthread_t threads[CLIENTS];
    client_arg_t args[CLIENTS];
    for (int index = 0; index < CLIENTS; index++) {
        args[index] = (client_arg_t){fixture, index};
        assert_int_equal(pthread_create(&threads[index], NULL, body, &args[index]), 0);
    }
    if (kill_meanwhile) {
        *kills = s_kill_during_load(fixture);
        atomic_store(&fixture->kills_done, true);
        if (*kills < 0 || !ts_wait_until(s_clients_done, fixture, LOAD_MS)) {
            atomic_store(&fixture->stop, true);
        }
    }
    for (int index = 0; index < CLIENTS; index++) {
        pthread_join(threads[index], NULL);
    }
}

//  --------------------------------------------------------------------------
//  Checks

//  "12.34" from minor units.
static void
s_format_minor(long minor, char out[32])
{
    (void) snprintf(out, 32, "%ld.%02ld", minor / 100, minor % 100);
}

//  Every order acknowledged once, by a distinct order id.
static void
s_assert_acknowledged(fixture_t *fixture)
{
    int failed = 0, replays = 0, retried = 0;
    zhashx_t *ids = zhashx_new();
    for (int index = 0; index < ORDERS; index++) {
        order_t *order = &fixture->orders[index];
        if (!order->acked || order->cancel_failure || (order->cancel && !*order->cancel_outcome)) {
            if (failed++ < 10) {
                (void) fprintf(stderr,
                               "order %d: acked %d after %d POSTs (last unexpected status %ld),"
                               " cancel outcome \"%s\" (unexpected status %ld)\n",
                               index, order->acked, order->post_attempts, order->post_failure,
                               order->cancel_outcome, order->cancel_failure);
            }
            continue;
        }
        if (zhashx_insert(ids, order->order_id, order) != 0) {
            fail_msg("order %d got the order id %s of another order", index, order->order_id);
        }
        replays += order->post_replays;
        retried += order->post_attempts > 1;
    }
    zhashx_destroy(&ids);
    (void) fprintf(stderr, "e2e_fault_test: %d orders, %d retried, %d answered as replays\n",
                   ORDERS, retried, replays);
    if (failed) {
        fail_msg("%d of %d orders were not acknowledged or not cancelled as asked", failed, ORDERS);
    }
}

//  Each customer's list holds exactly its orders, each once.
static void
s_assert_lists(fixture_t *fixture)
{
    e2e_http_t *http = e2e_http_new();
    for (int client = 0; client < CLIENTS; client++) {
        zhashx_t *listed = zhashx_new();
        char *after = NULL;
        for (int pages = 0; pages < ORDERS; pages++) {
            char *path = after ? zsys_sprintf("/orders?customerId=fault-c%d&limit=100&after=%s",
                                              client, after)
                               : zsys_sprintf("/orders?customerId=fault-c%d&limit=100", client);
            json_t *page = NULL;
            long status = s_check_get(fixture, http, E2E_ORDER, path, &page);
            zstr_free(&path);
            assert_int_equal(status, 200);
            size_t index;
            json_t *item;
            json_array_foreach(json_object_get(page, "items"), index, item)
            {
                const char *id = e2e_json_str(item, "orderId");
                assert_non_null(id);
                if (zhashx_insert(listed, id, (void *) 1) != 0) {
                    fail_msg("fault-c%d: order %s listed twice", client, id);
                }
            }
            zstr_free(&after);
            const char *next = e2e_json_str(page, "next");
            after = next ? strdup(next) : NULL;
            json_decref(page);
            if (!after) {
                break;
            }
        }
        size_t expected = 0;
        for (int index = client; index < ORDERS; index += CLIENTS) {
            expected++;
            assert_non_null(zhashx_lookup(listed, fixture->orders[index].order_id));
        }
        assert_int_equal(zhashx_size(listed), expected);
        zhashx_destroy(&listed);
    }
    e2e_http_destroy(&http);
}

//  One order's outcome across the three services.
static void
s_assert_order(fixture_t *fixture, int index, int *outcomes)
{
    order_t *order = &fixture->orders[index];
    char total[32];
    s_format_minor(order->total_minor, total);
    bool cancelled = streq(order->cancel_outcome, "CANCELLED");
    bool reserved = streq(order->reservation, "RESERVED");
    bool paid = streq(order->payment, "STARTED");
    char *where = zsys_sprintf("order %d (%s): status %s, reservation %s, payment %s %s,"
                               " cancel %s, history dups %d creates %d",
                               index, order->order_id, order->status, order->reservation,
                               order->payment, order->amount, order->cancel_outcome,
                               order->history_dups, order->history_created);
    bool ok = order->get_status == 200 && order->reservation_status_code == 200 &&
              order->payment_status_code == 200 && order->history_dups == 0 &&
              order->history_created == 1 && streq(order->amount, total);
    //  PAYMENT_STARTED iff reserved and paid and not cancelled.
    ok &= streq(order->status, "PAYMENT_STARTED") == (reserved && paid && !cancelled);
    if (streq(order->status, "PAYMENT_STARTED")) {
        outcomes[0]++;
    } else if (streq(order->status, "CANCELLED")) {
        //  Cancelled by us: nothing held, nothing charged.
        ok &= cancelled && !reserved && streq(order->payment, "VOIDED") &&
              (streq(order->reservation, "RELEASED") || streq(order->reservation, "CANCELLED") ||
               streq(order->reservation, "REJECTED"));
        outcomes[1]++;
    } else if (streq(order->status, "REJECTED")) {
        //  Short of stock: nothing held, payment voided; our cancel (if
        //  any) came after and was refused.
        ok &=
            !cancelled && streq(order->reservation, "REJECTED") && streq(order->payment, "VOIDED");
        outcomes[2]++;
    } else {
        ok = false; //  PENDING or RESERVED: an event was not applied
    }
    if (!ok) {
        fail_msg("inconsistent: %s; expected amount %s", where, total);
    }
    zstr_free(&where);
}

//  Inventory: one reservation per order; stock conserved and equal to
//  what the reserved orders hold.
static void
s_assert_inventory(fixture_t *fixture)
{
    PGconn *conn = fixture->system->services[E2E_INVENTORY].conn;
    assert_int_equal(e2e_sql_number(conn, "SELECT count(*) FROM inventory_reservations", NULL),
                     ORDERS);
    long held[SKUS] = {0};
    for (int index = 0; index < ORDERS; index++) {
        order_t *order = &fixture->orders[index];
        for (int line = 0; line < order->lines && streq(order->reservation, "RESERVED"); line++) {
            held[order->sku[line]] += order->quantity[line];
        }
    }
    for (int sku = 0; sku < SKUS; sku++) {
        const char *params[] = {s_skus[sku], NULL};
        PGresult *rows = e2e_sql_rows(
            conn, "SELECT available, reserved FROM inventory_stock WHERE sku = $1", params);
        assert_int_equal(PQntuples(rows), 1);
        long available = atol(PQgetvalue(rows, 0, 0));
        long reserved = atol(PQgetvalue(rows, 0, 1));
        PQclear(rows);
        if (available + reserved != s_seeded[sku] || reserved != held[sku]) {
            fail_msg("%s: available %ld + reserved %ld, seeded %ld; reserved orders hold %ld",
                     s_skus[sku], available, reserved, s_seeded[sku], held[sku]);
        }
    }
}

//  Billing: one payment per order, the started ones exactly the paid
//  orders, every amount the order's total.
static void
s_assert_billing(fixture_t *fixture, int paid)
{
    PGconn *conn = fixture->system->services[E2E_BILLING].conn;
    long total_minor = 0;
    for (int index = 0; index < ORDERS; index++) {
        total_minor += fixture->orders[index].total_minor;
    }
    assert_int_equal(e2e_sql_number(conn, "SELECT count(*) FROM billing_payments", NULL), ORDERS);
    assert_int_equal(e2e_sql_number(conn,
                                    "SELECT count(*) FROM billing_payments"
                                    " WHERE status = 'STARTED'",
                                    NULL),
                     paid);
    assert_int_equal(e2e_sql_number(conn, "SELECT sum(amount_minor) FROM billing_payments", NULL),
                     total_minor);
}

//  The order service: one order and one key per request; its history
//  holds each event once and knows every seq.
static void
s_assert_order_db(fixture_t *fixture)
{
    PGconn *conn = fixture->system->services[E2E_ORDER].conn;
    assert_int_equal(e2e_sql_number(conn, "SELECT count(*) FROM orders", NULL), ORDERS);
    assert_int_equal(e2e_sql_number(conn, "SELECT count(*) FROM order_idempotency", NULL), ORDERS);
    assert_int_equal(e2e_sql_number(conn,
                                    "SELECT count(*) FROM (SELECT stream, seq FROM order_history"
                                    " GROUP BY stream, seq HAVING count(*) > 1) twice",
                                    NULL),
                     0);
    assert_int_equal(
        e2e_sql_number(conn, "SELECT count(*) FROM order_history WHERE seq IS NULL", NULL), 0);
    for (int which = 0; which < E2E_SERVICES; which++) {
        const char *params[] = {fixture->system->services[which].stream, NULL};
        long recorded =
            e2e_sql_number(conn, "SELECT count(*) FROM order_history WHERE stream = $1", params);
        long tail = e2e_stream_tail(fixture->system, (e2e_which_t) which);
        if (recorded != tail) {
            fail_msg("order_history holds %ld events of %s, whose tail is %ld", recorded, params[0],
                     tail);
        }
    }
}

//  The order read model: every event of every stream recorded once.
static void
s_assert_read_model(fixture_t *fixture)
{
    for (int which = 0; which < E2E_SERVICES; which++) {
        long entries = 0;
        for (int index = 0; index < ORDERS; index++) {
            entries += fixture->orders[index].history_by_stream[which];
        }
        long tail = e2e_stream_tail(fixture->system, (e2e_which_t) which);
        if (entries != tail) {
            fail_msg("the order histories hold %ld events of %s, whose tail is %ld", entries,
                     fixture->system->services[which].stream, tail);
        }
    }
}

//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    const char *seed = getenv("E2E_FAULT_SEED");
    fixture->rng = seed ? strtoull(seed, NULL, 10) : (uint64_t) zclock_usecs();
    fixture->rng = fixture->rng ? fixture->rng : 1;
    (void) fprintf(stderr, "e2e_fault_test: seed %" PRIu64 " (E2E_FAULT_SEED to replay)\n",
                   fixture->rng);
    fixture->system = e2e_system_new(E2E_LOG_DIR, NULL);
    s_orders_make(fixture);
    e2e_http_t *http = e2e_http_new();
    for (int sku = 0; sku < SKUS; sku++) {
        char *url = zsys_sprintf("%s/stock/%s", fixture->system->services[E2E_INVENTORY].base_url,
                                 s_skus[sku]);
        char *body = zsys_sprintf("{\"available\": %ld}", s_seeded[sku]);
        e2e_reply_t reply;
        assert_int_equal(e2e_http_send_json(http, "PUT", url, NULL, body, &reply), 0);
        assert_int_equal(reply.status, 200);
        e2e_reply_free(&reply);
        zstr_free(&body);
        zstr_free(&url);
    }
    e2e_http_destroy(&http);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    e2e_system_destroy(&fixture->system);
    for (int index = 0; index < ORDERS; index++) {
        freen(fixture->orders[index].body);
    }
    freen(fixture->orders);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  The case

static void
test_orders_under_kill_9(void **state)
{
    fixture_t *fixture = *state;
    int64_t started = zclock_mono();
    int kills = 0;
    s_run_threads(fixture, s_client, true, &kills);
    (void) fprintf(stderr, "e2e_fault_test: load done in %" PRId64 " ms with %d kills\n",
                   zclock_mono() - started, kills);
    if (kills != KILLS) {
        fail_msg("%d kills instead of %d (a service did not come back, or the load ended early)",
                 kills, KILLS);
    }
    s_assert_acknowledged(fixture);

    int64_t settling = zclock_mono();
    if (!ts_wait_until(e2e_system_quiet, fixture->system, QUIET_MS)) {
        fail_msg("events still in flight after %d ms: tails order %ld inventory %ld billing %ld",
                 QUIET_MS, e2e_stream_tail(fixture->system, E2E_ORDER),
                 e2e_stream_tail(fixture->system, E2E_INVENTORY),
                 e2e_stream_tail(fixture->system, E2E_BILLING));
    }
    (void) fprintf(stderr, "e2e_fault_test: quiet after %" PRId64 " ms\n",
                   zclock_mono() - settling);
    for (int which = 0; which < E2E_SERVICES; which++) {
        PGconn *conn = fixture->system->services[which].conn;
        long dead = e2e_sql_number(conn, "SELECT count(*) FROM bus_dead_letters", NULL);
        if (dead != 0) {
            fail_msg("%ld dead letters in %s", dead, fixture->system->services[which].name);
        }
    }

    s_run_threads(fixture, s_checker, false, NULL);
    int outcomes[3] = {0, 0, 0};
    for (int index = 0; index < ORDERS; index++) {
        s_assert_order(fixture, index, outcomes);
    }
    (void) fprintf(stderr, "e2e_fault_test: %d paid, %d cancelled, %d rejected\n", outcomes[0],
                   outcomes[1], outcomes[2]);
    //  The load is only a test if it exercised every path.
    assert_true(outcomes[0] > 0 && outcomes[1] > 0 && outcomes[2] > 0);
    s_assert_inventory(fixture);
    s_assert_billing(fixture, outcomes[0]);
    s_assert_order_db(fixture);
    s_assert_read_model(fixture);
    s_assert_lists(fixture);

    for (int which = E2E_SERVICES - 1; which >= 0; which--) {
        e2e_service_t *service = &fixture->system->services[which];
        int code = ts_proc_term(service->proc, E2E_STOP_MS);
        if (code != 0) {
            fail_msg("%s-service exited with %d after SIGTERM", service->name, code);
        }
    }
    (void) fprintf(stderr, "e2e_fault_test: done in %" PRId64 " ms\n", zclock_mono() - started);
}

int
main(void)
{
    zsys_set_logstream(stderr);
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orders_under_kill_9, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
