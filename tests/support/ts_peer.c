/*  =========================================================================
    ts_peer - test support: a stand-in publisher for a service under test

    The peer is an ordinary bus_stream, so the service under test meets
    what production gives it: heartbeats, replay, sequence numbers, and
    envelopes validated by the writer. Its log and metrics are its own,
    so the service's log file and counters hold only the service's.
    =========================================================================
*/
#include <czmq.h>
#include <inttypes.h>
#include <libpq-fe.h>

#undef NDEBUG
#include <assert.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ts.h"
#include "ts_peer.h"

struct ts_peer {
    char *db;                 //  the peer's database (owned)
    svc_log_t *log;           //  warnings on stderr (owned)
    svc_metrics_t *metrics;   //  the stream's registry (owned)
    bus_stream_t *stream;     //  the stream (owned)
    bus_producer_t *producer; //  the creating thread's producer (owned)
    char *publishers;         //  "tcp://127.0.0.1:<PUB port>" (owned)
    char *name;               //  the stream id (owned)
};

//  --------------------------------------------------------------------------
//  Create and destroy

ts_peer_t *
ts_peer_new(const char *stream, int heartbeat_ms)
{
    assert(stream);
    assert(heartbeat_ms > 0);
    ts_peer_t *self = zmalloc(sizeof *self);
    self->name = strdup(stream);
    self->db = ts_pg_create_db();
    self->log = svc_log_new("peer", stream, SVC_LOG_WARN, stderr);
    self->metrics = svc_metrics_new();
    bus_stream_config_t config = {.stream = stream,
                                  .conninfo = self->db,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .heartbeat_ms = heartbeat_ms,
                                  .log = self->log,
                                  .metrics = self->metrics};
    self->stream = bus_stream_new(&config);
    assert_non_null(self->stream);
    self->producer = bus_producer_new(self->stream);
    self->publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(self->stream));
    return self;
}

void
ts_peer_destroy(ts_peer_t **self_p)
{
    assert(self_p);
    ts_peer_t *self = *self_p;
    if (!self) {
        return;
    }
    zstr_free(&self->publishers);
    bus_producer_destroy(&self->producer);
    bus_stream_destroy(&self->stream);
    svc_metrics_destroy(&self->metrics);
    svc_log_destroy(&self->log);
    ts_pg_drop_db(&self->db);
    zstr_free(&self->name);
    freen(*self_p);
}

const char *
ts_peer_publishers(ts_peer_t *self)
{
    assert(self);
    return self->publishers;
}

bus_producer_t *
ts_peer_producer(ts_peer_t *self)
{
    assert(self);
    return self->producer;
}

//  --------------------------------------------------------------------------
//  Waiting for a consumer's checkpoint.

typedef struct {
    PGconn *conn;         //  the consumer's database (borrowed)
    const char *consumer; //  its group (borrowed)
    const char *stream;   //  the peer's stream (borrowed)
    char partition[16];   //  the event's partition
    char seq[24];         //  the event's seq
} s_applied_t;

static bool
s_applied(void *arg)
{
    s_applied_t *wait = arg;
    const char *values[] = {wait->consumer, wait->stream, wait->partition, wait->seq};
    PGresult *result = PQexecParams(wait->conn,
                                    "SELECT 1 FROM bus_checkpoints WHERE consumer = $1"
                                    " AND stream = $2 AND partition = $3::int"
                                    " AND last_seq >= $4::bigint",
                                    4, NULL, values, NULL, NULL, 0);
    bool applied = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1;
    PQclear(result);
    return applied;
}

void
ts_peer_wait_applied(
    ts_peer_t *self, PGconn *conn, const char *consumer, const svc_uuid_t *key, uint64_t seq)
{
    assert(self);
    assert(conn);
    assert(consumer);
    assert(key);
    s_applied_t wait = {.conn = conn, .consumer = consumer, .stream = self->name};
    (void) snprintf(wait.partition, sizeof wait.partition, "%" PRIu32,
                    bus_partition_of(key->bytes, BUS_ID_SIZE, BUS_PARTITIONS_DEFAULT));
    (void) snprintf(wait.seq, sizeof wait.seq, "%" PRIu64, seq);
    if (!ts_wait_until(s_applied, &wait, TS_PEER_WAIT_MS)) {
        fail_msg("%s: event %" PRIu64 " of %s not applied in time", consumer, seq, self->name);
    }
}

//  --------------------------------------------------------------------------
//  The envelope rules of an answer.

void
ts_peer_assert_caused(const Ev__V1__Envelope *answer,
                      const svc_uuid_t *order_id,
                      const svc_uuid_t *cause_id)
{
    assert(answer);
    assert(order_id);
    assert(cause_id);
    assert_int_equal(answer->correlation_id.len, BUS_ID_SIZE);
    assert_memory_equal(answer->correlation_id.data, order_id->bytes, BUS_ID_SIZE);
    assert_int_equal(answer->causation_id.len, BUS_ID_SIZE);
    assert_memory_equal(answer->causation_id.data, cause_id->bytes, BUS_ID_SIZE);
    char trace_id[SVC_TRACE_ID_SIZE];
    svc_trace_id(answer->traceparent, trace_id);
    assert_string_equal(trace_id, TS_PEER_TRACE_ID);
    assert_string_not_equal(answer->traceparent, TS_PEER_TRACEPARENT);
    assert_int_equal(answer->partition,
                     bus_partition_of(order_id->bytes, BUS_ID_SIZE, BUS_PARTITIONS_DEFAULT));
}

//  --------------------------------------------------------------------------
//  The order service's events.

void
ts_order_created(ts_order_event_t *self,
                 const svc_uuid_t *order_id,
                 const char *currency,
                 int64_t unit_price_minor,
                 const ts_order_line_t *lines,
                 size_t count)
{
    assert(self);
    assert(order_id);
    assert(currency);
    assert(lines || count == 0);
    assert(count <= BUS_ITEMS_MAX);
    memset(self, 0, sizeof *self);
    ev__v1__money__init(&self->price);
    self->price.currency = (char *) currency;
    self->price.amount_minor = unit_price_minor;
    ev__v1__money__init(&self->total);
    self->total.currency = (char *) currency;
    for (size_t index = 0; index < count; index++) {
        ev__v1__order_item__init(&self->items[index]);
        self->items[index].sku = (char *) lines[index].sku;
        self->items[index].quantity = lines[index].quantity;
        self->items[index].unit_price = &self->price;
        self->item_pointers[index] = &self->items[index];
        self->total.amount_minor += unit_price_minor * (int64_t) lines[index].quantity;
    }
    self->order_id = *order_id;
    ev__v1__order_created__init(&self->created);
    self->created.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, self->order_id.bytes};
    self->created.customer_id = "c-42";
    self->created.total = &self->total;
    self->created.n_items = count;
    self->created.items = self->item_pointers;
    self->created.created_at_us = zclock_time() * 1000;
    ev__v1__envelope__init(&self->envelope);
    self->envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    self->envelope.order_created = &self->created;
}

void
ts_order_cancelled(ts_order_event_t *self, const svc_uuid_t *order_id)
{
    assert(self);
    assert(order_id);
    memset(self, 0, sizeof *self);
    self->order_id = *order_id;
    ev__v1__order_cancelled__init(&self->cancelled);
    self->cancelled.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, self->order_id.bytes};
    self->cancelled.reason = "customer request";
    self->cancelled.cancelled_at_us = zclock_time() * 1000;
    ev__v1__envelope__init(&self->envelope);
    self->envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED;
    self->envelope.order_cancelled = &self->cancelled;
}

//  A unit that appends prepared events, in one transaction of the peer.
typedef struct {
    ts_order_event_t *events; //  borrowed
    size_t count;             //  how many
} s_orders_unit_t;

static int
s_orders_unit(bus_tx_t *tx, void *arg)
{
    s_orders_unit_t *unit = arg;
    for (size_t index = 0; index < unit->count; index++) {
        ts_order_event_t *event = &unit->events[index];
        if (bus_tx_append(tx, &event->envelope, event->order_id.bytes, BUS_ID_SIZE) != 0) {
            return -1;
        }
    }
    return 0;
}

uint64_t
ts_peer_publish_orders(ts_peer_t *self, ts_order_event_t *events, size_t count)
{
    assert(self);
    assert(events);
    assert(count >= 1);
    for (size_t index = 0; index < count; index++) {
        ts_order_event_t *event = &events[index];
        svc_uuid_v7(&event->message_id);
        event->envelope.message_id = (ProtobufCBinaryData){BUS_ID_SIZE, event->message_id.bytes};
        event->envelope.correlation_id = (ProtobufCBinaryData){BUS_ID_SIZE, event->order_id.bytes};
        event->envelope.traceparent = TS_PEER_TRACEPARENT;
    }
    s_orders_unit_t unit = {events, count};
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(self->producer, s_orders_unit, &unit, &seq), BUS_OK);
    return seq;
}

uint64_t
ts_peer_publish_one(ts_peer_t *self, ts_order_event_t **event_p, svc_uuid_t *message_id_out)
{
    assert(self);
    assert(event_p);
    assert(*event_p);
    uint64_t seq = ts_peer_publish_orders(self, *event_p, 1);
    if (message_id_out) {
        *message_id_out = (*event_p)->message_id;
    }
    freen(*event_p);
    return seq;
}

uint64_t
ts_peer_publish_cancelled(ts_peer_t *self, const svc_uuid_t *order_id, svc_uuid_t *message_id_out)
{
    ts_order_event_t *event = zmalloc(sizeof *event);
    ts_order_cancelled(event, order_id);
    return ts_peer_publish_one(self, &event, message_id_out);
}
