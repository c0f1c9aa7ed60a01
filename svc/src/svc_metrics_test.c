/*  =========================================================================
    svc_metrics_test - registry, atomic updates and the text format

    The render tests compare whole strings: Prometheus parses the exposition
    format strictly, so every byte (escapes, ordering, number format) is
    part of the contract.
    =========================================================================
*/
#include "svc_classes.h"

#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define INCREMENTS_PER_THREAD 100000

//  ---------------------------------------------------------------------
//  Usage example: the header's snippet, then a render.

static void
test_usage_example(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_counter_t *published = svc_metrics_counter(metrics, "bus_published_total",
                                                   "Events published", "stream", "order-0", NULL);
    svc_counter_inc(published);
    svc_histogram_t *commit =
        svc_metrics_histogram(metrics, "bus_commit_seconds", "Commit latency", NULL);
    svc_histogram_observe(commit, 0.0012);

    assert_int_equal(svc_counter_value(published), 1);
    assert_int_equal(svc_histogram_count(commit), 1);
    char *text = svc_metrics_render(metrics);
    assert_non_null(strstr(text, "bus_published_total{stream=\"order-0\"} 1\n"));
    assert_non_null(strstr(text, "bus_commit_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(text, "bus_commit_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(text, "bus_commit_seconds_count 1\n"));
    zstr_free(&text);

    svc_metrics_destroy(&metrics);
    assert_null(metrics);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  The same name and labels give the same handle; other labels, or the
//  same labels in another order, give another series.

static void
test_series_identity(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_counter_t *first = svc_metrics_counter(metrics, "jobs_total", "Jobs", "queue", "a", NULL);
    svc_counter_t *again = svc_metrics_counter(metrics, "jobs_total", "Jobs", "queue", "a", NULL);
    svc_counter_t *other = svc_metrics_counter(metrics, "jobs_total", "Jobs", "queue", "b", NULL);
    svc_counter_t *bare = svc_metrics_counter(metrics, "jobs_total", "Jobs", NULL);
    assert_ptr_equal(first, again);
    assert_ptr_not_equal(first, other);
    assert_ptr_not_equal(first, bare);

    svc_counter_add(first, 5);
    svc_counter_inc(again);
    svc_counter_inc(other);
    assert_int_equal(svc_counter_value(first), 6);
    assert_int_equal(svc_counter_value(other), 1);
    assert_int_equal(svc_counter_value(bare), 0);

    svc_gauge_t *xy = svc_metrics_gauge(metrics, "pair", "Pair", "x", "1", "y", "2", NULL);
    svc_gauge_t *yx = svc_metrics_gauge(metrics, "pair", "Pair", "y", "2", "x", "1", NULL);
    assert_ptr_not_equal(xy, yx);
    assert_ptr_equal(xy, svc_metrics_gauge(metrics, "pair", "Pair", "x", "1", "y", "2", NULL));
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  Lock-free counters lose no increment across threads.

static void *
s_increment_many(void *arg)
{
    svc_counter_t *counter = (svc_counter_t *) arg;
    for (int index = 0; index < INCREMENTS_PER_THREAD; index++) {
        svc_counter_inc(counter);
    }
    return NULL;
}

static void
test_counter_threads(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_counter_t *counter = svc_metrics_counter(metrics, "hits_total", "Hits", NULL);
    pthread_t threads[2];
    for (size_t index = 0; index < 2; index++) {
        assert_int_equal(pthread_create(&threads[index], NULL, s_increment_many, counter), 0);
    }
    for (size_t index = 0; index < 2; index++) {
        assert_int_equal(pthread_join(threads[index], NULL), 0);
    }
    assert_int_equal(svc_counter_value(counter), 2 * INCREMENTS_PER_THREAD);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  Gauges hold doubles: set replaces, add accumulates (also negative).

static void
test_gauge_set_add(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_gauge_t *gauge = svc_metrics_gauge(metrics, "depth", "Queue depth", NULL);
    assert_true(svc_gauge_value(gauge) == 0.0);
    svc_gauge_set(gauge, 2.5);
    assert_true(svc_gauge_value(gauge) == 2.5);
    svc_gauge_add(gauge, 1.25);
    assert_true(svc_gauge_value(gauge) == 3.75);
    svc_gauge_add(gauge, -4);
    assert_true(svc_gauge_value(gauge) == -0.25);
    svc_gauge_set(gauge, 7);
    assert_true(svc_gauge_value(gauge) == 7.0);

    char *text = svc_metrics_render(metrics);
    assert_string_equal(text, "# HELP depth Queue depth\n# TYPE depth gauge\ndepth 7\n");
    zstr_free(&text);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  A value equal to a bound counts in that bucket (le is inclusive);
//  rendered buckets are cumulative, ending in +Inf == _count.

static void
test_histogram_buckets(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    const double bounds[] = {0.5, 1, 2.5};
    svc_histogram_t *sizes =
        svc_metrics_histogram_with(metrics, "size", "Sizes", bounds, 3, "kind", "x", NULL);
    const double values[] = {0.5, 0.25, 1, 1.125, 2.5, 3, 100};
    for (size_t index = 0; index < sizeof(values) / sizeof(values[0]); index++) {
        svc_histogram_observe(sizes, values[index]);
    }
    assert_int_equal(svc_histogram_count(sizes), 7);
    assert_true(svc_histogram_sum(sizes) == 108.375);
    assert_ptr_equal(
        sizes, svc_metrics_histogram_with(metrics, "size", "Sizes", bounds, 3, "kind", "x", NULL));

    char *text = svc_metrics_render(metrics);
    assert_string_equal(text, "# HELP size Sizes\n"
                              "# TYPE size histogram\n"
                              "size_bucket{kind=\"x\",le=\"0.5\"} 2\n"
                              "size_bucket{kind=\"x\",le=\"1\"} 3\n"
                              "size_bucket{kind=\"x\",le=\"2.5\"} 5\n"
                              "size_bucket{kind=\"x\",le=\"+Inf\"} 7\n"
                              "size_sum{kind=\"x\"} 108.375\n"
                              "size_count{kind=\"x\"} 7\n");
    zstr_free(&text);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  Help escapes backslash and newline; label values also the quote.

static void
test_escaping(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_counter_t *counter = svc_metrics_counter(metrics, "odd_total", "a \\ b\nc \"q\"", "path",
                                                 "C:\\dir\n\"x\"", NULL);
    svc_counter_inc(counter);
    char *text = svc_metrics_render(metrics);
    assert_string_equal(text, "# HELP odd_total a \\\\ b\\nc \"q\"\n"
                              "# TYPE odd_total counter\n"
                              "odd_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
    zstr_free(&text);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  A small registry renders exactly, families in registration order,
//  series in creation order, numbers in the format Prometheus reads.

static void
test_render_exact(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_counter_t *created = svc_metrics_counter(metrics, "orders_created_total", "Orders created",
                                                 "svc", "order", "shard", "0", NULL);
    svc_gauge_t *lag = svc_metrics_gauge(metrics, "bus:lag_seconds", "Replay lag", NULL);
    svc_histogram_t *latency =
        svc_metrics_histogram(metrics, "http_seconds", "Latency", "route", "/x", NULL);
    svc_counter_t *other = svc_metrics_counter(metrics, "orders_created_total", "ignored help",
                                               "svc", "order", "shard", "1", NULL);
    svc_counter_add(created, 12345678901ULL);
    svc_counter_inc(other);
    svc_gauge_set(lag, 0.1);
    svc_histogram_observe(latency, 0.25);
    svc_histogram_observe(latency, 0.5);
    svc_histogram_observe(latency, 12);

    char *text = svc_metrics_render(metrics);
    const char *expected = "# HELP orders_created_total Orders created\n"
                           "# TYPE orders_created_total counter\n"
                           "orders_created_total{svc=\"order\",shard=\"0\"} 12345678901\n"
                           "orders_created_total{svc=\"order\",shard=\"1\"} 1\n"
                           "# HELP bus:lag_seconds Replay lag\n"
                           "# TYPE bus:lag_seconds gauge\n"
                           "bus:lag_seconds 0.1\n"
                           "# HELP http_seconds Latency\n"
                           "# TYPE http_seconds histogram\n"
                           "http_seconds_bucket{route=\"/x\",le=\"5e-05\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.0001\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.00025\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.0005\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.001\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.0025\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.005\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.01\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.025\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.05\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.1\"} 0\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.25\"} 1\n"
                           "http_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
                           "http_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                           "http_seconds_bucket{route=\"/x\",le=\"2.5\"} 2\n"
                           "http_seconds_bucket{route=\"/x\",le=\"5\"} 2\n"
                           "http_seconds_bucket{route=\"/x\",le=\"10\"} 2\n"
                           "http_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
                           "http_seconds_sum{route=\"/x\"} 12.75\n"
                           "http_seconds_count{route=\"/x\"} 3\n";
    assert_string_equal(text, expected);
    zstr_free(&text);

    //  An empty registry renders as an empty document.
    svc_metrics_t *empty = svc_metrics_new();
    text = svc_metrics_render(empty);
    assert_string_equal(text, "");
    zstr_free(&text);
    svc_metrics_destroy(&empty);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  Special gauge values use Go's spellings; non-integers round-trip.

static void
test_number_format(void **state)
{
    (void) state;
    svc_metrics_t *metrics = svc_metrics_new();
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "inf", NULL), INFINITY);
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "-inf", NULL), -INFINITY);
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "nan", NULL), NAN);
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "third", NULL), 1.0 / 3.0);
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "big", NULL), 1e300);
    svc_gauge_set(svc_metrics_gauge(metrics, "g", "G", "v", "neg", NULL), -42);
    char *text = svc_metrics_render(metrics);
    assert_string_equal(text, "# HELP g G\n"
                              "# TYPE g gauge\n"
                              "g{v=\"inf\"} +Inf\n"
                              "g{v=\"-inf\"} -Inf\n"
                              "g{v=\"nan\"} NaN\n"
                              "g{v=\"third\"} 0.3333333333333333\n"
                              "g{v=\"big\"} 1e+300\n"
                              "g{v=\"neg\"} -42\n");
    zstr_free(&text);
    svc_metrics_destroy(&metrics);
}

//  ---------------------------------------------------------------------
//  Invalid names, label keys and bucket orders are programmer errors:
//  the call aborts (checked in a child process).

static void
s_register_bad_name(svc_metrics_t *metrics)
{
    svc_metrics_counter(metrics, "9lives", "Bad", NULL);
}

static void
s_register_bad_key(svc_metrics_t *metrics)
{
    svc_metrics_counter(metrics, "ok_total", "Bad", "bad-key", "v", NULL);
}

static void
s_register_bad_buckets(svc_metrics_t *metrics)
{
    const double bounds[] = {1, 1};
    svc_metrics_histogram_with(metrics, "h", "Bad", bounds, 2, NULL);
}

static void
s_register_type_clash(svc_metrics_t *metrics)
{
    svc_metrics_counter(metrics, "same", "Same", NULL);
    svc_metrics_gauge(metrics, "same", "Same", NULL);
}

static void
test_programmer_errors_abort(void **state)
{
    (void) state;
    void (*cases[])(svc_metrics_t *) = {s_register_bad_name, s_register_bad_key,
                                        s_register_bad_buckets, s_register_type_clash};
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            assert_non_null(freopen("/dev/null", "w", stderr));
            svc_metrics_t *metrics = svc_metrics_new();
            cases[index](metrics);
            _exit(0);
        }
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_series_identity),
        cmocka_unit_test(test_counter_threads),
        cmocka_unit_test(test_gauge_set_add),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_number_format),
        cmocka_unit_test(test_programmer_errors_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
