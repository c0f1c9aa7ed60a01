/*  =========================================================================
    ts_peer - test support: a stand-in publisher for a service under test

    A service's in-process test plays the services it subscribes to: a
    bus_stream of the peer's name ("order-0") in the test process, on a
    fresh database of its own, its PUB and replay on ephemeral loopback
    ports, logging warnings on stderr. The service under test gets
    ts_peer_publishers as its PUBLISHERS. Events are appended through the
    test thread's producer: with a unit of the test's own
    (ts_peer_producer), or, for the order service's events, with
    ts_peer_publish_orders, which gives each a fresh message id, the
    order as correlation id and partition key, and TS_PEER_TRACEPARENT.
    What the service did with an event is then awaited on its
    checkpoint (ts_peer_wait_applied), and the events it appended in
    answer checked with ts_peer_assert_caused.

        ts_peer_t *peer = ts_peer_new("order-0", 100);
        ... "--publishers", ts_peer_publishers(peer) ...
        ts_order_line_t line = {"SKU-1", 2};
        ts_order_event_t *event = zmalloc(sizeof *event);
        ts_order_created(event, &order_id, "EUR", 1999, &line, 1);
        svc_uuid_t cause_id;
        uint64_t seq = ts_peer_publish_one(peer, &event, &cause_id);
        ts_peer_wait_applied(peer, conn, "inventory", &order_id, seq);
        ... ts_peer_assert_caused(answer, &order_id, &cause_id);
        ts_peer_destroy(&peer);

    For cmocka tests: the helpers check with cmocka's assertions, so a
    failure fails the running case, as an assertion in the case would.
    =========================================================================
*/
#ifndef TS_PEER_H_INCLUDED
#define TS_PEER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

//  The traceparent on every event ts_peer_publish_orders publishes, and
//  its trace id (what the answers' traces must continue).
#define TS_PEER_TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TS_PEER_TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

//  How long ts_peer_wait_applied waits.
#define TS_PEER_WAIT_MS 30000

struct pg_conn;

typedef struct ts_peer ts_peer_t;

//  Start stream `stream` on a fresh database, PUB on tcp://127.0.0.1:*,
//  heartbeats every `heartbeat_ms`, and a producer for the calling
//  thread. Fails the test if the stream does not start. Caller owns
//  return value.
ts_peer_t *ts_peer_new(const char *stream, int heartbeat_ms);

//  Stop the stream and drop its database; accepts NULL and nulls the
//  caller's pointer.
void ts_peer_destroy(ts_peer_t **self_p);

//  "tcp://127.0.0.1:<PUB port>": the PUBLISHERS of the service under
//  test. Borrowed, valid for the peer's lifetime.
const char *ts_peer_publishers(ts_peer_t *self);

//  The producer of the thread that created the peer, for units of the
//  test's own. Borrowed, valid for the peer's lifetime.
bus_producer_t *ts_peer_producer(ts_peer_t *self);

//  Wait until `consumer`, in the database of `conn`, has applied (or
//  parked) the peer's event `seq` about `key` (the order; its partition
//  among BUS_PARTITIONS_DEFAULT): its checkpoint reached it. Fails the
//  test after TS_PEER_WAIT_MS.
void ts_peer_wait_applied(ts_peer_t *self,
                          struct pg_conn *conn,
                          const char *consumer,
                          const svc_uuid_t *key,
                          uint64_t seq);

//  Check the rules every event appended in answer to one of the peer's
//  follows: correlation id = the order, causation id = the cause's
//  message id, a child of TS_PEER_TRACEPARENT's trace (a new span), and
//  the order's partition (of BUS_PARTITIONS_DEFAULT).
void ts_peer_assert_caused(const Ev__V1__Envelope *answer,
                           const svc_uuid_t *order_id,
                           const svc_uuid_t *cause_id);

//  ---------------------------------------------------------------------
//  The order service's events

//  One line of an order: a SKU and how many.
typedef struct {
    const char *sku;   //  borrowed until published
    uint32_t quantity; //  units
} ts_order_line_t;

//  An OrderCreated or OrderCancelled with the storage of its envelope,
//  filled by ts_order_created or ts_order_cancelled. Large (room for
//  BUS_ITEMS_MAX items): allocate arrays of it on the heap.
typedef struct {
    Ev__V1__Envelope envelope;                       //  what is appended
    Ev__V1__OrderCreated created;                    //  its payload, or
    Ev__V1__OrderCancelled cancelled;                //  this one
    Ev__V1__Money price;                             //  every item's unit price
    Ev__V1__Money total;                             //  the order's total
    Ev__V1__OrderItem items[BUS_ITEMS_MAX];          //  the items
    Ev__V1__OrderItem *item_pointers[BUS_ITEMS_MAX]; //  and their pointers
    svc_uuid_t order_id;                             //  the order, the partition key
    svc_uuid_t message_id;                           //  given by ts_peer_publish_orders
} ts_order_event_t;

//  Fill `self` as an OrderCreated of customer "c-42" for `order_id`, with
//  `count` (at most BUS_ITEMS_MAX) lines, each unit at `unit_price_minor`
//  of `currency` (borrowed until published), and their sum as the total.
void ts_order_created(ts_order_event_t *self,
                      const svc_uuid_t *order_id,
                      const char *currency,
                      int64_t unit_price_minor,
                      const ts_order_line_t *lines,
                      size_t count);

//  Fill `self` as an OrderCancelled for `order_id` ("customer request").
void ts_order_cancelled(ts_order_event_t *self, const svc_uuid_t *order_id);

//  Append `count` events in one unit (one transaction), in order, each
//  with a fresh message id (kept in the event), the order as correlation
//  id and partition key, and TS_PEER_TRACEPARENT. Returns the seq of the
//  last. Fails the test if the stream refuses them.
uint64_t ts_peer_publish_orders(ts_peer_t *self, ts_order_event_t *events, size_t count);

//  Publish one event as ts_peer_publish_orders does, and free it: the
//  peer takes *event_p (made with zmalloc; the pointer is nulled). Its
//  message id in *message_id_out if asked. Returns its seq.
uint64_t
ts_peer_publish_one(ts_peer_t *self, ts_order_event_t **event_p, svc_uuid_t *message_id_out);

//  Publish one OrderCancelled for `order_id` (ts_order_cancelled), as
//  ts_peer_publish_one does.
uint64_t
ts_peer_publish_cancelled(ts_peer_t *self, const svc_uuid_t *order_id, svc_uuid_t *message_id_out);

#endif
