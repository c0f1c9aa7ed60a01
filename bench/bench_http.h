/*  =========================================================================
    bench_http - a keep-alive HTTP client for the benchmarks (libcurl)

    The benchmarks that drive the services over HTTP (bench_e2e,
    bench_shim) share this: one curl handle per client thread, kept alive
    across requests, TCP_NODELAY, a bounded timeout, and the order every
    benchmark posts (two lines over BENCH_HTTP_SKUS SKUs, so inventory can
    be seeded for all of them). curl_global_init is the program's job.

        bench_http_t *client = bench_http_new();
        char id[BENCH_HTTP_ID_SIZE];
        long status = bench_http_post_order(client, "http://127.0.0.1:8080", 42, id);
        status = bench_http_send(client, "GET", "http://127.0.0.1:8080/metrics", NULL);
        printf("%s", bench_http_reply(client));
        bench_http_destroy(&client);
    =========================================================================
*/
#ifndef BENCH_HTTP_H_INCLUDED
#define BENCH_HTTP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  SKUs the posted orders use: SKU-1 .. SKU-<BENCH_HTTP_SKUS>.
#define BENCH_HTTP_SKUS 8
//  Room for an order id (UUID text) and its NUL.
#define BENCH_HTTP_ID_SIZE 40
//  Longest wait for one answer.
#define BENCH_HTTP_TIMEOUT_MS 10000
//  Largest answer kept (the rest is read and dropped).
#define BENCH_HTTP_REPLY_MAX (4 * 1024 * 1024)

typedef struct bench_http bench_http_t;

//  A client with its own connection (opened at the first request).
//  Caller owns return value.
bench_http_t *bench_http_new(void);

//  Close and free; accepts NULL and nulls the caller's pointer.
void bench_http_destroy(bench_http_t **self_p);

//  Send one request (`body` may be NULL) and read the answer. Returns the
//  HTTP status, or -1 on a transport error.
long bench_http_send(bench_http_t *self, const char *method, const char *url, const char *body);

//  The body of the last answer, NUL-terminated (borrowed until the next
//  request).
const char *bench_http_reply(const bench_http_t *self);

//  POST `order_url`/orders with order number `number` (customer, SKUs and
//  lines derived from it). Returns the status; on 201 copies the order id
//  into `id` (BENCH_HTTP_ID_SIZE bytes) unless `id` is NULL.
long bench_http_post_order(bench_http_t *self, const char *order_url, uint64_t number, char *id);

//  GET `base_url`/metrics into the client's reply, for bench_http_value
//  (one scrape, then as many values as needed: one consistent reading).
//  Returns 0, or -1 if unreachable.
int bench_http_scrape(bench_http_t *self, const char *base_url);

//  The sum of every series of metric `name` (a histogram's "<name>_sum"
//  or "<name>_count" as `name`) in the last scrape, only those whose
//  labels include `label` (e.g. "le=\"0.0025\"", one bucket) unless it is
//  NULL; -1 if absent.
double bench_http_value(const bench_http_t *self, const char *name, const char *label);

#endif
