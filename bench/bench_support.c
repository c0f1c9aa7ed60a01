/*  =========================================================================
    bench_support - clocks, latency samples and a typical order for bench/

    The order is what the order service publishes for a small basket:
    three lines, a total, a customer id, a correlation id and the origin
    "bus". Every id is derived from the order's index, so each event is
    distinct (and lands in a different partition) without any randomness.
    =========================================================================
*/
#include "bench_support.h"

#include <time.h>

struct bench_samples {
    int64_t *values; //  samples in nanoseconds (owned)
    size_t capacity; //  room in values
    size_t count;    //  samples recorded
    size_t dropped;  //  samples beyond capacity
    bool sorted;     //  values[0 .. count) is sorted
};

//  The shop's three products: sku, unit price in minor units, quantity.
typedef struct {
    const char *sku;
    int64_t price_minor;
    uint32_t quantity;
} s_line_t;

static const s_line_t s_lines[BENCH_ORDER_ITEMS] = {
    {"SKU-RED-MUG", 1299, 2}, {"SKU-TEA-500G", 899, 1}, {"SKU-SPOON", 150, 12}};

//  --------------------------------------------------------------------------
//  Clocks

int64_t
bench_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

void
bench_sleep_until(int64_t deadline_ns)
{
    struct timespec until = {.tv_sec = deadline_ns / 1000000000,
                             .tv_nsec = deadline_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
}

int64_t
bench_realtime_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  --------------------------------------------------------------------------
//  A 16-byte id: a tag byte, then the index, little-endian, then padding.

static void
s_id_fill(uint8_t *id, uint8_t tag, uint64_t index)
{
    memset(id, 0, BUS_ID_SIZE);
    id[0] = tag;
    for (int byte = 0; byte < 8; byte++) {
        id[1 + byte] = (uint8_t) (index >> (8 * byte));
    }
    id[6] = 0x70 | (id[6] & 0x0f); //  looks like a UUID v7
    id[8] = 0x80 | (id[8] & 0x3f); //  RFC 4122 variant
}

//  --------------------------------------------------------------------------
//  Fill an order's payload, correlation id and origin.

void
bench_order_init(bench_order_t *self, uint64_t index)
{
    assert(self);
    memset(self, 0, sizeof *self);
    int64_t total_minor = 0;
    for (int line = 0; line < BENCH_ORDER_ITEMS; line++) {
        ev__v1__money__init(&self->prices[line]);
        self->prices[line].currency = "EUR";
        self->prices[line].amount_minor = s_lines[line].price_minor;
        ev__v1__order_item__init(&self->items[line]);
        self->items[line].sku = (char *) s_lines[line].sku;
        self->items[line].quantity = s_lines[line].quantity;
        self->items[line].unit_price = &self->prices[line];
        self->item_list[line] = &self->items[line];
        total_minor += s_lines[line].price_minor * s_lines[line].quantity;
    }
    ev__v1__money__init(&self->total);
    self->total.currency = "EUR";
    self->total.amount_minor = total_minor;
    ev__v1__order_created__init(&self->created);
    self->created.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, self->order_id};
    self->created.customer_id = "customer-4711";
    self->created.total = &self->total;
    self->created.n_items = BENCH_ORDER_ITEMS;
    self->created.items = self->item_list;
    ev__v1__envelope__init(&self->envelope);
    self->envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    self->envelope.order_created = &self->created;
    self->envelope.correlation_id = (ProtobufCBinaryData){BUS_ID_SIZE, self->correlation_id};
    self->envelope.origin = "bus";
    bench_order_set_index(self, index);
}

//  --------------------------------------------------------------------------
//  Make the order number `index`.

void
bench_order_set_index(bench_order_t *self, uint64_t index)
{
    assert(self);
    s_id_fill(self->order_id, 0x42, index);
    s_id_fill(self->correlation_id, 0xc0, index);
    self->created.created_at_us = 1795000000000000 + (int64_t) (index % 1000000);
}

//  --------------------------------------------------------------------------
//  Set what the publisher sets on an appended event.

void
bench_order_stamp(bench_order_t *self, const char *stream, uint64_t seq, uint32_t partitions)
{
    assert(self);
    assert(stream);
    assert(seq >= 1);
    assert(partitions >= 1);
    self->envelope.stream = (char *) stream;
    self->envelope.seq = seq;
    self->envelope.partition = bus_partition_of(self->order_id, BUS_ID_SIZE, partitions);
    s_id_fill(self->message_id, 0x3e, seq);
    self->envelope.message_id = (ProtobufCBinaryData){BUS_ID_SIZE, self->message_id};
    self->envelope.type = (char *) bus_envelope_type_name(self->envelope.payload_case);
    self->envelope.occurred_at_us = bench_realtime_us();
}

//  --------------------------------------------------------------------------
//  Latency samples

bench_samples_t *
bench_samples_new(size_t capacity)
{
    assert(capacity >= 1);
    bench_samples_t *self = zmalloc(sizeof *self);
    self->values = zmalloc(capacity * sizeof *self->values);
    self->capacity = capacity;
    return self;
}

void
bench_samples_destroy(bench_samples_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        bench_samples_t *self = *self_p;
        freen(self->values);
        freen(self);
        *self_p = NULL;
    }
}

void
bench_samples_add(bench_samples_t *self, int64_t value_ns)
{
    assert(self);
    if (self->count == self->capacity) {
        self->dropped++;
        return;
    }
    self->values[self->count++] = value_ns;
    self->sorted = false;
}

size_t
bench_samples_count(const bench_samples_t *self)
{
    assert(self);
    return self->count;
}

static int
s_compare_int64(const void *left, const void *right)
{
    int64_t a = *(const int64_t *) left;
    int64_t b = *(const int64_t *) right;
    return (a > b) - (a < b);
}

double
bench_samples_percentile_us(bench_samples_t *self, double q)
{
    assert(self);
    assert(q > 0 && q <= 100);
    if (self->count == 0) {
        return 0;
    }
    if (!self->sorted) {
        qsort(self->values, self->count, sizeof *self->values, s_compare_int64);
        self->sorted = true;
    }
    //  Nearest rank: the smallest sample with at least q % at or below it.
    double exact = (q / 100.0) * (double) self->count;
    size_t rank = (size_t) exact;
    if ((double) rank < exact) {
        rank++;
    }
    if (rank < 1) {
        rank = 1;
    }
    if (rank > self->count) {
        rank = self->count;
    }
    return (double) self->values[rank - 1] / 1000.0;
}
