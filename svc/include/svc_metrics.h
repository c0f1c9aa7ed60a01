/*  =========================================================================
    svc_metrics - counters, gauges and histograms in Prometheus text format

    One registry per process, created in main and lent to every actor.
    Registering a series takes a lock and returns a handle that lives as long
    as the registry; updating a handle is lock-free (C11 atomics), so the hot
    path costs one atomic add. Asking again for the same name and labels
    returns the same handle. svc_metrics_render produces the text
    exposition format 0.0.4 served at /metrics.

        svc_counter_t *published = svc_metrics_counter(
            metrics, "bus_published_total", "Events published", "stream", "order-0", NULL);
        svc_counter_inc(published);
        svc_histogram_t *commit = svc_metrics_histogram(
            metrics, "bus_commit_seconds", "Commit latency", NULL, NULL);
        svc_histogram_observe(commit, 0.0012);

    Labels are key/value string pairs ended by NULL. A name or label key
    that is not a valid Prometheus identifier, or one name used with two
    types, is a programmer error and asserts; label values are escaped.
    =========================================================================
*/
#ifndef SVC_METRICS_H_INCLUDED
#define SVC_METRICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct svc_metrics svc_metrics_t;
typedef struct svc_counter svc_counter_t;
typedef struct svc_gauge svc_gauge_t;
typedef struct svc_histogram svc_histogram_t;

//  Default histogram buckets, in seconds: 50 us .. 10 s.
#define SVC_METRICS_LATENCY_BUCKETS                                                                \
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,  \
        2.5, 5, 10
#define SVC_METRICS_MAX_BUCKETS 32
#define SVC_METRICS_MAX_LABELS 8

//  Create an empty registry. Caller owns return value.
svc_metrics_t *svc_metrics_new(void);

//  Destroy the registry and every handle it gave out; nulls the pointer.
void svc_metrics_destroy(svc_metrics_t **self_p);

//  Get or create a counter series. Varargs: label key, value, ..., NULL.
//  Returns a handle owned by the registry.
svc_counter_t *svc_metrics_counter(svc_metrics_t *self, const char *name, const char *help, ...);

//  Get or create a gauge series. Varargs as for counters.
svc_gauge_t *svc_metrics_gauge(svc_metrics_t *self, const char *name, const char *help, ...);

//  Get or create a histogram series with `buckets` (ascending upper bounds,
//  +Inf implied; NULL and 0 for SVC_METRICS_LATENCY_BUCKETS). Varargs as
//  for counters. Every series of one name must use the same buckets
//  (asserted); "le" is not a valid label key here.
svc_histogram_t *svc_metrics_histogram_with(svc_metrics_t *self,
                                            const char *name,
                                            const char *help,
                                            const double *buckets,
                                            size_t bucket_count,
                                            ...);

//  Get or create a latency histogram with the default buckets.
#define svc_metrics_histogram(self, name, help, ...)                                               \
    svc_metrics_histogram_with((self), (name), (help), NULL, 0, __VA_ARGS__)

void svc_counter_inc(svc_counter_t *self);
void svc_counter_add(svc_counter_t *self, uint64_t amount);
uint64_t svc_counter_value(const svc_counter_t *self);

void svc_gauge_set(svc_gauge_t *self, double value);
void svc_gauge_add(svc_gauge_t *self, double delta);
double svc_gauge_value(const svc_gauge_t *self);

void svc_histogram_observe(svc_histogram_t *self, double value);
uint64_t svc_histogram_count(const svc_histogram_t *self);
double svc_histogram_sum(const svc_histogram_t *self);

//  Render every series in the text exposition format 0.0.4 (# HELP, # TYPE,
//  one line per series; histograms as _bucket{le=..}, _sum, _count).
//  Caller owns return value (free with zstr_free or free).
char *svc_metrics_render(svc_metrics_t *self);

#endif
