/*  =========================================================================
    bench_amqp - plain librabbitmq clients: the RabbitMQ baseline and a consumer

    A consumer with its own connection and thread (manual acks, one per
    message) that remembers what it received, and a publisher of
    persistent messages with publisher confirms kept `window` deep. Both
    threads block: these are benchmark clients, not service actors.

        bench_consumer_t *consumer =
            bench_consumer_new(url, "bench.x", "bench.x.q", 500, true);
        bench_publisher_t *publisher = bench_publisher_new(url, "bench.x", 1138, 256);
        size_t first = bench_consumer_count(consumer);
        while (...) {
            if (bench_publisher_in_flight(publisher) < 256) {
                bench_publisher_send(publisher);
            } else {
                bench_publisher_read(publisher, 1000000);     //  take confirms
            }
        }
        bench_publisher_settle(publisher, 60);
        bench_consumer_await(consumer, first, sent, 60);
        const bench_record_t *record = bench_consumer_record(consumer, first);
        ...
        bench_publisher_destroy(&publisher);
        bench_consumer_destroy(&consumer);
        bench_amqp_delete(url, "bench.x", (const char *[]){"bench.x.q", NULL});
    =========================================================================
*/
#ifndef BENCH_AMQP_H_INCLUDED
#define BENCH_AMQP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Received messages a consumer remembers (a ring: record i is kept until
//  message i + BENCH_AMQP_RECORDS arrives).
#define BENCH_AMQP_RECORDS (1u << 19)
//  Longest exchange or queue name kept.
#define BENCH_AMQP_NAME_MAX 128
//  Room for a message_id property kept in a record.
#define BENCH_AMQP_ID_SIZE 40

//  One message as a consumer received it.
typedef struct {
    int64_t received_us;         //  CLOCK_REALTIME when the consumer had it
    int64_t sent_us;             //  stamped bodies: publish time from the body; else 0
    uint32_t size;               //  body bytes
    char id[BENCH_AMQP_ID_SIZE]; //  message_id property, lower case ("" if none or longer)
} bench_record_t;

typedef struct bench_consumer bench_consumer_t;
typedef struct bench_publisher bench_publisher_t;

//  Connect to `url`, declare the durable fanout `exchange` and the
//  durable `queue` bound to it, set the prefetch, consume with manual
//  acks on a thread of its own. `stamped`: bodies carry their publish
//  time (bench_publisher's). NULL on failure (said on stderr). Caller
//  owns return value.
bench_consumer_t *bench_consumer_new(
    const char *url, const char *exchange, const char *queue, int prefetch, bool stamped);

//  Stop the thread, close; accepts NULL and nulls the caller's pointer.
void bench_consumer_destroy(bench_consumer_t **self_p);

//  Messages received (and acked) so far.
size_t bench_consumer_count(bench_consumer_t *self);

//  Wait until the consumer has `first` + `count` messages; returns when
//  (bench_now_ns), or -1 after `timeout_s` or if the consumer failed.
int64_t bench_consumer_await(bench_consumer_t *self, size_t first, size_t count, int timeout_s);

//  Message number `index` (0 = the first received), if still in the ring.
//  Borrowed while fewer than BENCH_AMQP_RECORDS more arrive.
const bench_record_t *bench_consumer_record(bench_consumer_t *self, size_t index);

//  Connect to `url` in confirm mode, to publish bodies of `size` bytes
//  (at least 64) to `exchange` with at most `window` unconfirmed. NULL on
//  failure (said on stderr). Caller owns return value.
bench_publisher_t *
bench_publisher_new(const char *url, const char *exchange, size_t size, int window);

//  Close; accepts NULL and nulls the caller's pointer.
void bench_publisher_destroy(bench_publisher_t **self_p);

//  Messages published and not yet confirmed (holes below an out-of-order
//  ack count as unconfirmed).
uint64_t bench_publisher_in_flight(const bench_publisher_t *self);

//  Messages published so far, and the window.
uint64_t bench_publisher_published(const bench_publisher_t *self);
int bench_publisher_window(const bench_publisher_t *self);

//  Publish one persistent message stamped with now; the window must have
//  room. Returns 0, or -1 on a connection error.
int bench_publisher_send(bench_publisher_t *self);

//  Read one frame, waiting at most `timeout_us`, then every frame already
//  buffered; take the confirms. Returns 1 if frames were read, 0 on
//  timeout, -1 on an error, a nack or a close.
int bench_publisher_read(bench_publisher_t *self, int64_t timeout_us);

//  Wait until every message published is confirmed. Returns 0, or -1
//  after `timeout_s` or on an error.
int bench_publisher_settle(bench_publisher_t *self, int timeout_s);

//  Delete the NULL-terminated `queues` and `exchange` (errors only said).
void bench_amqp_delete(const char *url, const char *exchange, const char *const *queues);

#endif
