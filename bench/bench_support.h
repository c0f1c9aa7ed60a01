/*  =========================================================================
    bench_support - what the benchmarks share: clocks, samples, an order

    The benchmarks in bench/ are programs run by hand (scripts/bench.sh),
    not tests. Each includes this header first (it plays the part of a
    private umbrella header: asserts on, czmq before the C library), and
    links bench_support.c for the three things they all need:

    - clocks: monotonic nanoseconds for durations, Unix microseconds for
      occurred_at_us;
    - bench_samples: a bounded array of latencies and its percentiles;
    - bench_order: a typical OrderCreated envelope (three items, ids,
      correlation id, origin) built in place, with no heap, so a producer
      can fill one per event and hand it to bus_envelope_encode or
      bus_tx_append.

        bench_order_t order;
        bench_order_init(&order, 42);                  //  payload and ids from 42
        bench_order_stamp(&order, "order-0", 7, 64);   //  stream, seq, partition, type
        zframe_t *frame = bus_envelope_encode(&order.envelope);

        bench_samples_t *samples = bench_samples_new(30000);
        bench_samples_add(samples, 65000);             //  nanoseconds
        double p99_us = bench_samples_percentile_us(samples, 99.0);
        bench_samples_destroy(&samples);
    =========================================================================
*/
#ifndef BENCH_SUPPORT_H_INCLUDED
#define BENCH_SUPPORT_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_envelope.h"

//  Items in the typical order.
#define BENCH_ORDER_ITEMS 3

//  A typical OrderCreated envelope and the storage it points into. Built
//  in place: do not copy it after bench_order_init (the pointers inside
//  point into the struct itself).
typedef struct {
    Ev__V1__Envelope envelope;                       //  the envelope to encode or append
    Ev__V1__OrderCreated created;                    //  its payload
    Ev__V1__OrderItem items[BENCH_ORDER_ITEMS];      //  order lines
    Ev__V1__OrderItem *item_list[BENCH_ORDER_ITEMS]; //  pointers to items, for protobuf-c
    Ev__V1__Money prices[BENCH_ORDER_ITEMS];         //  unit prices
    Ev__V1__Money total;                             //  order total
    uint8_t order_id[BUS_ID_SIZE];                   //  order id (from the index)
    uint8_t message_id[BUS_ID_SIZE];                 //  message id (from the index)
    uint8_t correlation_id[BUS_ID_SIZE];             //  correlation id (from the index)
} bench_order_t;

//  Monotonic clock in nanoseconds (durations).
int64_t bench_now_ns(void);

//  Sleep until bench_now_ns() reaches `deadline_ns` (signals do not cut it short).
void bench_sleep_until(int64_t deadline_ns);

//  Wall clock, Unix time in microseconds (occurred_at_us).
int64_t bench_realtime_us(void);

//  Fill `self` with a valid OrderCreated for order number `index`: payload,
//  correlation id and origin. Stream, seq, partition, message id, type and
//  occurred_at_us stay empty, as a unit of work hands them to
//  bus_tx_append (the writer sets them).
void bench_order_init(bench_order_t *self, uint64_t index);

//  Make `self` order number `index`: order id, correlation id and
//  created_at_us change, the rest stays. Cheaper than bench_order_init.
void bench_order_set_index(bench_order_t *self, uint64_t index);

//  Set what a publisher sets: stream (borrowed: must outlive the order),
//  seq, partition (of the order id, mod `partitions`), message id, type
//  and occurred_at_us (now). The envelope then encodes.
void bench_order_stamp(bench_order_t *self, const char *stream, uint64_t seq, uint32_t partitions);

//  A bounded set of latency samples, in nanoseconds.
typedef struct bench_samples bench_samples_t;

//  Create room for `capacity` samples (at least 1); samples beyond it are
//  counted as dropped. Caller owns return value.
bench_samples_t *bench_samples_new(size_t capacity);

//  Destroy; accepts NULL and nulls the caller's pointer.
void bench_samples_destroy(bench_samples_t **self_p);

//  Record one sample. Not thread-safe: one thread records.
void bench_samples_add(bench_samples_t *self, int64_t value_ns);

//  Samples recorded (not counting dropped ones).
size_t bench_samples_count(const bench_samples_t *self);

//  The q-th percentile (0 < q <= 100, nearest rank) in microseconds, or 0
//  with no samples. Sorts the samples the first time it is asked.
double bench_samples_percentile_us(bench_samples_t *self, double q);

#endif
