/*  =========================================================================
    svc_metrics - counters, gauges and histograms in Prometheus text format

    A registry holds families (one per metric name, with its help text and
    type) in registration order; each family holds its series, keyed by the
    rendered label set, in creation order. The mutex guards only the shape
    of the registry: creating a family or series, and rendering. A handle's
    value is updated with C11 atomics and no lock, because updates sit on
    every hot path (one per published event, one per HTTP request) while
    registration happens once per series and rendering once per scrape.

    A gauge is a double kept as its 64 bits in an atomic integer and updated
    with a compare-and-swap loop; a histogram keeps one atomic count per
    bucket (not cumulative, so an observation touches one bucket), an atomic
    total count and a CAS'd double sum. Rendering adds the buckets up.
    =========================================================================
*/
#include "svc_classes.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

//  Room for one formatted double: %.17g needs at most 24 characters.
#define S_NUMBER_MAX 32
//  Digits that always round-trip a double through text.
#define S_PRECISION_SHORT 15
#define S_PRECISION_LONG 17
//  Integral values below this print as plain integers ("3", not "3e+00").
#define S_INTEGER_PLAIN_MAX 1e15
//  First allocation of the render buffer; it doubles as needed.
#define S_TEXT_INITIAL 4096

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_type_t;

struct svc_counter {
    _Atomic uint64_t value; //  monotonic count
};

struct svc_gauge {
    _Atomic uint64_t bits; //  the IEEE 754 bits of the current double
};

struct svc_histogram {
    const double *bounds;                                  //  upper bounds, the family's
    size_t bound_count;                                    //  finite bounds; +Inf is implied
    _Atomic uint64_t buckets[SVC_METRICS_MAX_BUCKETS + 1]; //  per bucket, last is +Inf
    _Atomic uint64_t count;                                //  observations
    _Atomic uint64_t sum_bits;                             //  bits of the sum of observations
};

//  One series: a label set and its value.
typedef struct {
    char *labels; //  rendered `k="v",k2="v2"`, "" for none; owned; index key
    union {
        svc_counter_t counter;
        svc_gauge_t gauge;
        svc_histogram_t histogram;
    } value; //  by the family's type; handles point in here
} s_series_t;

//  One metric name with its help, type and series.
typedef struct {
    char *name;                             //  metric name, owned
    char *help;                             //  help text as first registered, owned
    s_type_t type;                          //  counter, gauge or histogram
    double bounds[SVC_METRICS_MAX_BUCKETS]; //  histogram bucket bounds
    size_t bound_count;                     //  entries used in bounds
    zlistx_t *series;                       //  s_series_t, creation order, owned
    zhashx_t *index;                        //  labels -> s_series_t, borrowed
} s_family_t;

struct svc_metrics {
    pthread_mutex_t mutex; //  guards families and index (not values)
    zlistx_t *families;    //  s_family_t, registration order, owned
    zhashx_t *index;       //  name -> s_family_t, borrowed
};

//  A growing text buffer for rendering.
typedef struct {
    char *data;      //  NUL-terminated text, owned
    size_t size;     //  bytes used, without the NUL
    size_t capacity; //  bytes allocated
} s_text_t;

static const double s_latency_buckets[] = {SVC_METRICS_LATENCY_BUCKETS};

//  ---------------------------------------------------------------------
//  Bits of a double, and back (memcpy is the defined way to pun).

static uint64_t
s_double_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static double
s_bits_double(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

//  ---------------------------------------------------------------------
//  Add `delta` to a double held as atomic bits.

static void
s_atomic_double_add(_Atomic uint64_t *bits, double delta)
{
    uint64_t expected = atomic_load_explicit(bits, memory_order_relaxed);
    uint64_t desired;
    do {
        desired = s_double_bits(s_bits_double(expected) + delta);
    } while (!atomic_compare_exchange_weak_explicit(bits, &expected, desired, memory_order_relaxed,
                                                    memory_order_relaxed));
}

//  ---------------------------------------------------------------------
//  Text buffer: append bytes, growing by doubling.

static void
s_text_append(s_text_t *text, const char *bytes, size_t length)
{
    if (text->size + length + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : S_TEXT_INITIAL;
        while (text->size + length + 1 > capacity) {
            capacity *= 2;
        }
        char *data = (char *) zmalloc(capacity);
        if (text->data) {
            memcpy(data, text->data, text->size);
        }
        freen(text->data);
        text->data = data;
        text->capacity = capacity;
    }
    memcpy(text->data + text->size, bytes, length);
    text->size += length;
    text->data[text->size] = '\0';
}

static void
s_text_add(s_text_t *text, const char *string)
{
    s_text_append(text, string, strlen(string));
}

//  ---------------------------------------------------------------------
//  Append `string` escaped for the exposition format: backslash and
//  newline always, the double quote too inside label values.

static void
s_text_add_escaped(s_text_t *text, const char *string, bool label_value)
{
    for (const char *cursor = string; *cursor; cursor++) {
        if (*cursor == '\\') {
            s_text_add(text, "\\\\");
        } else if (*cursor == '\n') {
            s_text_add(text, "\\n");
        } else if (*cursor == '"' && label_value) {
            s_text_add(text, "\\\"");
        } else {
            s_text_append(text, cursor, 1);
        }
    }
}

//  ---------------------------------------------------------------------
//  Format a double as Prometheus (Go) reads it: NaN, +Inf, -Inf, plain
//  integers, else the shortest %g that reads back as the same double.

static void
s_format_double(char *buffer, double value)
{
    if (isnan(value)) {
        (void) snprintf(buffer, S_NUMBER_MAX, "NaN");
    } else if (isinf(value)) {
        (void) snprintf(buffer, S_NUMBER_MAX, "%s", value > 0 ? "+Inf" : "-Inf");
    } else if (value == floor(value) && fabs(value) < S_INTEGER_PLAIN_MAX) {
        (void) snprintf(buffer, S_NUMBER_MAX, "%.0f", value);
    } else {
        for (int precision = S_PRECISION_SHORT; precision <= S_PRECISION_LONG; precision++) {
            (void) snprintf(buffer, S_NUMBER_MAX, "%.*g", precision, value);
            if (strtod(buffer, NULL) == value) {
                break;
            }
        }
    }
}

static void
s_text_add_double(s_text_t *text, double value)
{
    char buffer[S_NUMBER_MAX];
    s_format_double(buffer, value);
    s_text_add(text, buffer);
}

static void
s_text_add_uint(s_text_t *text, uint64_t value)
{
    char buffer[S_NUMBER_MAX];
    (void) snprintf(buffer, sizeof(buffer), "%" PRIu64, value);
    s_text_add(text, buffer);
}

//  ---------------------------------------------------------------------
//  True if `name` is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or with
//  `colon` false a label key ([a-zA-Z_][a-zA-Z0-9_]*).

static bool
s_identifier_valid(const char *name, bool colon)
{
    if (!name || !*name || (*name >= '0' && *name <= '9')) {
        return false;
    }
    for (const char *cursor = name; *cursor; cursor++) {
        char c = *cursor;
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !digit && !(colon && c == ':')) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Render the label pairs in `args` (key, value, ..., NULL) as the series
//  key `k="v",...`. Asserts on bad keys and on too many labels.
//  Caller owns return value.

static char *
s_labels_render(va_list args, s_type_t type)
{
    s_text_t text = {NULL, 0, 0};
    s_text_add(&text, "");
    size_t count = 0;
    const char *key = va_arg(args, const char *);
    while (key) {
        const char *value = va_arg(args, const char *);
        assert(s_identifier_valid(key, false));
        assert(strncmp(key, "__", 2) != 0);
        assert(type != S_HISTOGRAM || strcmp(key, "le") != 0);
        assert(value);
        count++;
        assert(count <= SVC_METRICS_MAX_LABELS);
        if (text.size) {
            s_text_add(&text, ",");
        }
        s_text_add(&text, key);
        s_text_add(&text, "=\"");
        s_text_add_escaped(&text, value, true);
        s_text_add(&text, "\"");
        key = va_arg(args, const char *);
    }
    return text.data;
}

//  ---------------------------------------------------------------------
//  Series and family constructors and destructors.

static s_series_t *
s_series_new(s_family_t *family, char **labels_p)
{
    s_series_t *self = (s_series_t *) zmalloc(sizeof(s_series_t));
    self->labels = *labels_p;
    *labels_p = NULL;
    if (family->type == S_HISTOGRAM) {
        self->value.histogram.bounds = family->bounds;
        self->value.histogram.bound_count = family->bound_count;
    }
    return self;
}

static void
s_series_destroy(s_series_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        s_series_t *self = *self_p;
        zstr_free(&self->labels);
        freen(self);
        *self_p = NULL;
    }
}

static s_family_t *
s_family_new(const char *name, const char *help, s_type_t type)
{
    s_family_t *self = (s_family_t *) zmalloc(sizeof(s_family_t));
    self->name = strdup(name);
    self->help = strdup(help);
    assert(self->name && self->help);
    self->type = type;
    self->series = zlistx_new();
    zlistx_set_destructor(self->series, (czmq_destructor *) s_series_destroy);
    self->index = zhashx_new();
    return self;
}

static void
s_family_destroy(s_family_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        s_family_t *self = *self_p;
        zhashx_destroy(&self->index);
        zlistx_destroy(&self->series);
        zstr_free(&self->help);
        zstr_free(&self->name);
        freen(self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Check histogram bounds (ascending, finite, not too many) and default
//  them. Returns the bounds to use and sets *count_p.

static const double *
s_bounds_check(const double *bounds, size_t *count_p)
{
    if (!bounds) {
        assert(*count_p == 0);
        *count_p = sizeof(s_latency_buckets) / sizeof(s_latency_buckets[0]);
        return s_latency_buckets;
    }
    assert(*count_p > 0 && *count_p <= SVC_METRICS_MAX_BUCKETS);
    for (size_t index = 0; index < *count_p; index++) {
        assert(isfinite(bounds[index]));
        assert(index == 0 || bounds[index - 1] < bounds[index]);
    }
    return bounds;
}

//  ---------------------------------------------------------------------
//  Find or create the family `name`; asserts if it exists with another
//  type or other buckets. Call with the mutex held.

static s_family_t *
s_family_require(svc_metrics_t *self,
                 const char *name,
                 const char *help,
                 s_type_t type,
                 const double *bounds,
                 size_t bound_count)
{
    s_family_t *family = (s_family_t *) zhashx_lookup(self->index, name);
    if (family) {
        assert(family->type == type);
        assert(family->bound_count == bound_count);
        for (size_t index = 0; index < bound_count; index++) {
            assert(family->bounds[index] == bounds[index]);
        }
        return family;
    }
    family = s_family_new(name, help, type);
    if (bound_count) {
        memcpy(family->bounds, bounds, bound_count * sizeof(double));
    }
    family->bound_count = bound_count;
    zlistx_add_end(self->families, family);
    int rc = zhashx_insert(self->index, family->name, family);
    assert(rc == 0);
    return family;
}

//  ---------------------------------------------------------------------
//  Get or create the series of `name` with the labels in `args`.

static s_series_t *
s_series_require(svc_metrics_t *self,
                 const char *name,
                 const char *help,
                 s_type_t type,
                 const double *bounds,
                 size_t bound_count,
                 va_list args)
{
    assert(self);
    assert(s_identifier_valid(name, true));
    assert(help);
    if (type == S_HISTOGRAM) {
        bounds = s_bounds_check(bounds, &bound_count);
    }
    char *labels = s_labels_render(args, type);

    int rc = pthread_mutex_lock(&self->mutex);
    assert(rc == 0);
    s_family_t *family = s_family_require(self, name, help, type, bounds, bound_count);
    s_series_t *series = (s_series_t *) zhashx_lookup(family->index, labels);
    if (!series) {
        series = s_series_new(family, &labels);
        zlistx_add_end(family->series, series);
        rc = zhashx_insert(family->index, series->labels, series);
        assert(rc == 0);
    }
    rc = pthread_mutex_unlock(&self->mutex);
    assert(rc == 0);
    zstr_free(&labels);
    return series;
}

//  ---------------------------------------------------------------------
//  Create an empty registry. Caller owns return value.

svc_metrics_t *
svc_metrics_new(void)
{
    svc_metrics_t *self = (svc_metrics_t *) zmalloc(sizeof(svc_metrics_t));
    int rc = pthread_mutex_init(&self->mutex, NULL);
    assert(rc == 0);
    self->families = zlistx_new();
    zlistx_set_destructor(self->families, (czmq_destructor *) s_family_destroy);
    self->index = zhashx_new();
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy the registry and every handle it gave out.

void
svc_metrics_destroy(svc_metrics_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        svc_metrics_t *self = *self_p;
        zhashx_destroy(&self->index);
        zlistx_destroy(&self->families);
        int rc = pthread_mutex_destroy(&self->mutex);
        assert(rc == 0);
        freen(self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Get or create a counter series.

svc_counter_t *
svc_metrics_counter(svc_metrics_t *self, const char *name, const char *help, ...)
{
    va_list args;
    va_start(args, help);
    s_series_t *series = s_series_require(self, name, help, S_COUNTER, NULL, 0, args);
    va_end(args);
    return &series->value.counter;
}

//  ---------------------------------------------------------------------
//  Get or create a gauge series.

svc_gauge_t *
svc_metrics_gauge(svc_metrics_t *self, const char *name, const char *help, ...)
{
    va_list args;
    va_start(args, help);
    s_series_t *series = s_series_require(self, name, help, S_GAUGE, NULL, 0, args);
    va_end(args);
    return &series->value.gauge;
}

//  ---------------------------------------------------------------------
//  Get or create a histogram series.

svc_histogram_t *
svc_metrics_histogram_with(svc_metrics_t *self,
                           const char *name,
                           const char *help,
                           const double *buckets,
                           size_t bucket_count,
                           ...)
{
    va_list args;
    va_start(args, bucket_count);
    s_series_t *series =
        s_series_require(self, name, help, S_HISTOGRAM, buckets, bucket_count, args);
    va_end(args);
    return &series->value.histogram;
}

//  ---------------------------------------------------------------------
//  Counter updates and reads.

void
svc_counter_inc(svc_counter_t *self)
{
    assert(self);
    atomic_fetch_add_explicit(&self->value, 1, memory_order_relaxed);
}

void
svc_counter_add(svc_counter_t *self, uint64_t amount)
{
    assert(self);
    atomic_fetch_add_explicit(&self->value, amount, memory_order_relaxed);
}

uint64_t
svc_counter_value(const svc_counter_t *self)
{
    assert(self);
    return atomic_load_explicit((_Atomic uint64_t *) &self->value, memory_order_relaxed);
}

//  ---------------------------------------------------------------------
//  Gauge updates and reads.

void
svc_gauge_set(svc_gauge_t *self, double value)
{
    assert(self);
    atomic_store_explicit(&self->bits, s_double_bits(value), memory_order_relaxed);
}

void
svc_gauge_add(svc_gauge_t *self, double delta)
{
    assert(self);
    s_atomic_double_add(&self->bits, delta);
}

double
svc_gauge_value(const svc_gauge_t *self)
{
    assert(self);
    return s_bits_double(
        atomic_load_explicit((_Atomic uint64_t *) &self->bits, memory_order_relaxed));
}

//  ---------------------------------------------------------------------
//  Count `value` in the first bucket whose bound is >= value (le is
//  inclusive); NaN and values above every bound land in +Inf.

void
svc_histogram_observe(svc_histogram_t *self, double value)
{
    assert(self);
    size_t index = 0;
    while (index < self->bound_count && !(value <= self->bounds[index])) {
        index++;
    }
    atomic_fetch_add_explicit(&self->buckets[index], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&self->count, 1, memory_order_relaxed);
    s_atomic_double_add(&self->sum_bits, value);
}

uint64_t
svc_histogram_count(const svc_histogram_t *self)
{
    assert(self);
    return atomic_load_explicit((_Atomic uint64_t *) &self->count, memory_order_relaxed);
}

double
svc_histogram_sum(const svc_histogram_t *self)
{
    assert(self);
    return s_bits_double(
        atomic_load_explicit((_Atomic uint64_t *) &self->sum_bits, memory_order_relaxed));
}

//  ---------------------------------------------------------------------
//  Append `name``suffix`{labels[,extra]} and a space.

static void
s_render_series_name(
    s_text_t *text, const char *name, const char *suffix, const char *labels, const char *extra)
{
    s_text_add(text, name);
    s_text_add(text, suffix);
    if (*labels || extra) {
        s_text_add(text, "{");
        s_text_add(text, labels);
        if (*labels && extra) {
            s_text_add(text, ",");
        }
        s_text_add(text, extra ? extra : "");
        s_text_add(text, "}");
    }
    s_text_add(text, " ");
}

//  ---------------------------------------------------------------------
//  Render one histogram series: cumulative buckets, +Inf, sum, count.
//  _count is the +Inf total rather than the separate atomic count, so
//  one scrape is always self-consistent even while observations land.

static void
s_render_histogram(s_text_t *text, const char *name, s_series_t *series)
{
    svc_histogram_t *histogram = &series->value.histogram;
    uint64_t cumulative = 0;
    for (size_t index = 0; index <= histogram->bound_count; index++) {
        cumulative += atomic_load_explicit(&histogram->buckets[index], memory_order_relaxed);
        char le[S_NUMBER_MAX + 8];
        char bound[S_NUMBER_MAX];
        s_format_double(bound,
                        index < histogram->bound_count ? histogram->bounds[index] : INFINITY);
        (void) snprintf(le, sizeof(le), "le=\"%s\"", bound);
        s_render_series_name(text, name, "_bucket", series->labels, le);
        s_text_add_uint(text, cumulative);
        s_text_add(text, "\n");
    }
    s_render_series_name(text, name, "_sum", series->labels, NULL);
    s_text_add_double(text, svc_histogram_sum(histogram));
    s_text_add(text, "\n");
    s_render_series_name(text, name, "_count", series->labels, NULL);
    s_text_add_uint(text, cumulative);
    s_text_add(text, "\n");
}

//  ---------------------------------------------------------------------
//  Render one family: HELP, TYPE, then its series in creation order.

static void
s_render_family(s_text_t *text, s_family_t *family)
{
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    s_text_add(text, "# HELP ");
    s_text_add(text, family->name);
    s_text_add(text, " ");
    s_text_add_escaped(text, family->help, false);
    s_text_add(text, "\n# TYPE ");
    s_text_add(text, family->name);
    s_text_add(text, " ");
    s_text_add(text, type_names[family->type]);
    s_text_add(text, "\n");

    s_series_t *series = (s_series_t *) zlistx_first(family->series);
    while (series) {
        if (family->type == S_HISTOGRAM) {
            s_render_histogram(text, family->name, series);
        } else {
            s_render_series_name(text, family->name, "", series->labels, NULL);
            if (family->type == S_COUNTER) {
                s_text_add_uint(text, svc_counter_value(&series->value.counter));
            } else {
                s_text_add_double(text, svc_gauge_value(&series->value.gauge));
            }
            s_text_add(text, "\n");
        }
        series = (s_series_t *) zlistx_next(family->series);
    }
}

//  ---------------------------------------------------------------------
//  Render every family in registration order. Caller owns return value.

char *
svc_metrics_render(svc_metrics_t *self)
{
    assert(self);
    s_text_t text = {NULL, 0, 0};
    s_text_add(&text, "");

    int rc = pthread_mutex_lock(&self->mutex);
    assert(rc == 0);
    s_family_t *family = (s_family_t *) zlistx_first(self->families);
    while (family) {
        s_render_family(&text, family);
        family = (s_family_t *) zlistx_next(self->families);
    }
    rc = pthread_mutex_unlock(&self->mutex);
    assert(rc == 0);
    return text.data;
}
