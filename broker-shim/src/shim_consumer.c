/*  =========================================================================
    shim_consumer - RabbitMQ to the shim's own stream, deduplicated

    One zloop: the pipe, the AMQP socket and its reconnects (a shim_link,
    which calls back the s_self_amqp_* handlers below), the producer's
    completions, a tick (heartbeats) and the retry timer. Every delivery
    becomes a pending record that lives until the delivery was acked or
    given up: SUBMITTED while its unit is with the writer (the writer
    borrows the record, so it is never freed before the completion came
    back, even when the connection it came on is gone), RETRY while it
    waits to be submitted again, DEAD_LETTER while its copy waits for
    RabbitMQ's confirm. Records carry the generation of the connection
    they came on: a delivery tag means nothing on another connection, so a
    stale record is dropped unacked and RabbitMQ delivers the message again.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_amqp.h"
#include "shim_consumer.h"
#include "shim_context.h"
#include "shim_link.h"
#include "shim_store.h"

#include <inttypes.h>

typedef enum {
    S_SUBMITTED = 0, //  its unit is with the writer
    S_RETRY,         //  its unit did not commit: submit again after the backoff
    S_DEAD_LETTER    //  its copy was published to the dead-letter exchange: wait for the confirm
} s_stage_t;

typedef struct {
    shim_amqp_delivery_t *delivery; //  the message (owned)
    Ev__V1__Envelope *envelope;     //  what it decoded to (owned), or NULL for poison
    svc_uuid_t message_id;          //  the envelope's message id
    uint64_t generation;            //  the connection it came on
    s_stage_t stage;                //  where it is
    uint64_t dead_tag;              //  S_DEAD_LETTER: the confirm tag of its copy
    shim_error_t error;             //  why it is poison
    bool duplicate;                 //  set by the unit: the id was in the inbox already
    char *unit_error;               //  set by the unit: why it failed (owned), or NULL
    void *handle;                   //  our entry in the pending list
} s_pending_t;

typedef struct {
    shim_context_t *context;  //  shared configuration and metrics (borrowed)
    svc_log_t *log;           //  (borrowed)
    zloop_t *loop;            //  the one loop (owned)
    shim_codec_t *codec;      //  this thread's codec (owned)
    bus_producer_t *producer; //  our connection to the writer (owned)
    char *amqp_name;          //  connection_name for RabbitMQ (owned)
    shim_amqp_t *amqp;        //  our connection, or NULL while down (owned)
    shim_link_t *amqp_link;   //  its reconnects, socket in the loop, outage logs (owned)
    uint64_t generation;      //  counts connections: tags of older ones are void
    zlistx_t *pending;        //  every s_pending_t alive (owned records)
    size_t in_flight;         //  of them S_SUBMITTED
    int retry_timer;          //  pending retry, or -1
    int retry_backoff_ms;     //  next retry delay
    bool commit_failing;      //  a failed unit was logged: log the recovery
} self_t;

static const char *s_direction = "from_rabbitmq";

//  --------------------------------------------------------------------------
//  Pending records.

static s_pending_t *
s_self_pending_new(self_t *self, shim_amqp_delivery_t *delivery)
{
    s_pending_t *pending = zmalloc(sizeof *pending);
    pending->delivery = delivery;
    pending->generation = self->generation;
    pending->handle = zlistx_add_end(self->pending, pending);
    return pending;
}

static void
s_self_pending_destroy(self_t *self, s_pending_t **pending_p)
{
    s_pending_t *pending = *pending_p;
    zlistx_delete(self->pending, pending->handle);
    shim_amqp_delivery_destroy(&pending->delivery);
    shim_envelope_destroy(&pending->envelope);
    zstr_free(&pending->unit_error);
    freen(pending);
    *pending_p = NULL;
}

//  The message_id property of a delivery (for logs), or NULL.
static const char *
s_property_id(const s_pending_t *pending)
{
    return shim_amqp_delivery_view(pending->delivery)->message_id;
}

//  Drop the records of deliveries on a closed connection: unacked, so
//  RabbitMQ delivers them again. Units in flight stay ours until their
//  completion.
static void
s_self_drop_unsubmitted(self_t *self)
{
    s_pending_t *pending = zlistx_first(self->pending);
    while (pending) {
        s_pending_t *next = zlistx_next(self->pending);
        if (pending->stage != S_SUBMITTED) {
            s_self_pending_destroy(self, &pending);
        }
        pending = next;
    }
}

//  --------------------------------------------------------------------------
//  The connection's loss: the link logs, calls s_self_amqp_close and
//  reconnects.

static void
s_self_amqp_lost(self_t *self, const char *why, const char *error)
{
    shim_link_lost(self->amqp_link, why, error);
}

//  True when the record's delivery can still be acked.
static bool
s_self_current(const self_t *self, const s_pending_t *pending)
{
    return self->amqp && pending->generation == self->generation;
}

//  --------------------------------------------------------------------------
//  Ack or reject a delivery; on failure the connection is lost. Frees the
//  record either way.

static void
s_self_settle(self_t *self, s_pending_t **pending_p, bool ack)
{
    s_pending_t *pending = *pending_p;
    uint64_t tag = shim_amqp_delivery_tag(pending->delivery);
    s_self_pending_destroy(self, pending_p);
    char *error = NULL;
    int rc = ack ? shim_amqp_ack(self->amqp, tag, &error)
                 : shim_amqp_reject(self->amqp, tag, true, &error);
    if (rc != 0) {
        s_self_amqp_lost(self, ack ? "acking" : "rejecting", error);
    }
    zstr_free(&error);
}

//  --------------------------------------------------------------------------
//  Poison: publish the message as it came to the dead-letter exchange; the
//  confirm acks it.

static void
s_self_dead_letter(self_t *self, s_pending_t *pending)
{
    const char *name = shim_rc_name(pending->error.rc);
    svc_log_warn(self->log, "shim.message.rejected", "{s:s?, s:s, s:s, s:s?, s:b}", "message_id",
                 s_property_id(pending), "error", name, "reason", pending->error.reason, "exchange",
                 shim_amqp_delivery_view(pending->delivery)->exchange, "redelivered",
                 shim_amqp_delivery_redelivered(pending->delivery));
    shim_header_t extra[] = {{SHIM_HEADER_REASON, pending->error.reason},
                             {SHIM_HEADER_ERROR, name}};
    char *error = NULL;
    if (shim_amqp_dead_letter(self->amqp, self->context->error_exchange, pending->delivery, extra,
                              2, &pending->dead_tag, &error) != 0) {
        pending->stage = S_DEAD_LETTER; //  freed with the connection
        s_self_amqp_lost(self, "dead-lettering", error);
    } else {
        pending->stage = S_DEAD_LETTER;
    }
    zstr_free(&error);
}

//  --------------------------------------------------------------------------
//  The unit, on the writer's thread: record the id; append if it is new.

static int
s_unit(bus_tx_t *tx, void *arg)
{
    s_pending_t *pending = arg;
    zstr_free(&pending->unit_error);
    bool inserted = false;
    if (shim_store_inbox_add(bus_tx_conn(tx), &pending->message_id, &inserted,
                             &pending->unit_error) != BUS_OK) {
        return -1;
    }
    pending->duplicate = !inserted;
    if (!inserted) {
        return 0;
    }
    const ProtobufCBinaryData *key = shim_envelope_order_id(pending->envelope);
    assert(key);
    return bus_tx_append(tx, pending->envelope, key->data, key->len) == 0 ? 0 : -1;
}

static int s_self_handle_retry_timer(zloop_t *loop, int timer_id, void *arg);

static void
s_self_submit(self_t *self, s_pending_t *pending)
{
    pending->stage = S_SUBMITTED;
    if (bus_producer_submit(self->producer, s_unit, pending, pending) != 0) {
        pending->stage = S_RETRY; //  interrupted: try again later
        if (self->retry_timer == -1) {
            self->retry_timer = zloop_timer(self->loop, (size_t) self->retry_backoff_ms, 1,
                                            s_self_handle_retry_timer, self);
        }
        return;
    }
    self->in_flight++;
}

//  --------------------------------------------------------------------------
//  A delivery: decode, then ack (ours), dead-letter (poison) or submit.

static void
s_self_take_delivery(self_t *self, shim_amqp_delivery_t *delivery)
{
    s_pending_t *pending = s_self_pending_new(self, delivery);
    shim_rc_t rc = SHIM_OK;
    if (shim_amqp_delivery_truncated(delivery)) {
        rc = shim_error_set(&pending->error, SHIM_TOO_LARGE,
                            "body: %" PRIu64 " bytes, over the shim's limit of %zu",
                            shim_amqp_delivery_size(delivery), SHIM_AMQP_BODY_MAX);
    } else {
        rc = shim_codec_decode(self->codec, shim_amqp_delivery_view(delivery), &pending->envelope,
                               &pending->error);
    }
    if (rc == SHIM_OWN_MESSAGE) {
        svc_counter_inc(self->context->own_skipped_in);
        svc_log_debug(self->log, "shim.message.own", "{s:s?}", "message_id",
                      s_property_id(pending));
        s_self_settle(self, &pending, true);
    } else if (rc != SHIM_OK) {
        s_self_dead_letter(self, pending);
    } else {
        bool has_id = shim_envelope_id(&pending->envelope->message_id, &pending->message_id);
        assert(has_id); //  the decoders refuse a message without one
        s_self_submit(self, pending);
    }
}

//  --------------------------------------------------------------------------
//  A confirm of our dead letters: ack (or requeue) their originals.

static void
s_self_take_confirm(self_t *self, const shim_amqp_event_t *event)
{
    s_pending_t *pending = zlistx_first(self->pending);
    while (pending) {
        s_pending_t *next = zlistx_next(self->pending);
        if (pending->stage == S_DEAD_LETTER && s_self_current(self, pending) &&
            (pending->dead_tag == event->tag ||
             (event->multiple && pending->dead_tag <= event->tag))) {
            if (event->ack) {
                svc_counter_inc(shim_context_rejected(self->context, s_direction,
                                                      shim_rc_name(pending->error.rc)));
            } else {
                svc_log_warn(self->log, "shim.message.dead_letter.nacked", "{s:s?}", "message_id",
                             s_property_id(pending));
            }
            //  Nacked: the copy is lost, so the original goes back to the
            //  queue and is dead-lettered again.
            s_self_settle(self, &pending, event->ack);
            if (!self->amqp) {
                return;
            }
            //  Settling may have lost the connection and freed records:
            //  start over from the first.
            next = zlistx_first(self->pending);
        }
        pending = next;
    }
}

//  --------------------------------------------------------------------------
//  Take everything the AMQP connection holds, without blocking.

static void
s_self_drain_amqp(self_t *self)
{
    while (self->amqp) {
        shim_amqp_event_t event;
        char *error = NULL;
        shim_amqp_event_type_t type = shim_amqp_next(self->amqp, &event, &error);
        if (type == SHIM_AMQP_NOTHING) {
            return;
        }
        if (type == SHIM_AMQP_FAILED) {
            s_self_amqp_lost(self, "reading", error);
        } else if (type == SHIM_AMQP_CONFIRM) {
            s_self_take_confirm(self, &event);
        } else {
            s_self_take_delivery(self, event.delivery);
        }
        zstr_free(&error);
    }
}

//  --------------------------------------------------------------------------
//  A unit's completion.

static void
s_self_take_completion(self_t *self, const bus_completion_t *done)
{
    s_pending_t *pending = done->tag;
    assert(pending->stage == S_SUBMITTED);
    self->in_flight--;
    if (!s_self_current(self, pending) || done->rc == BUS_CLOSED) {
        //  The delivery's connection is gone (or we are stopping): RabbitMQ
        //  delivers it again, and the inbox knows it if it was committed.
        s_self_pending_destroy(self, &pending);
        return;
    }
    if (done->rc == BUS_OK) {
        if (self->commit_failing) {
            svc_log_info(self->log, "shim.consumer.commit.recovered", NULL);
        }
        self->commit_failing = false;
        self->retry_backoff_ms = BUS_RECONNECT_MIN_MS;
        if (pending->duplicate) {
            svc_counter_inc(self->context->duplicates);
            svc_log_debug(self->log, "shim.message.duplicate", "{s:s?}", "message_id",
                          s_property_id(pending));
        } else {
            svc_counter_inc(self->context->bridged_in);
            char id[SVC_UUID_TEXT_SIZE];
            svc_uuid_format(&pending->message_id, id);
            svc_log_debug(self->log, "shim.message.bridged", "{s:s, s:s, s:I}", "message_id", id,
                          "type", pending->envelope->type, "seq", (json_int_t) done->last_seq);
        }
        s_self_settle(self, &pending, true);
    } else if (done->rc == BUS_MALFORMED || done->rc == BUS_TOO_LARGE) {
        shim_error_set(&pending->error, SHIM_INVALID, "the event breaks the bus contract (%s)",
                       bus_strerror(done->rc));
        s_self_dead_letter(self, pending);
    } else {
        //  Not committed (the database is down, or a statement failed):
        //  keep the delivery and submit it again after the backoff.
        if (!self->commit_failing) {
            svc_log_warn(self->log, "shim.consumer.commit.failed", "{s:s, s:s?, s:i}", "rc",
                         bus_strerror(done->rc), "error", pending->unit_error, "retry_ms",
                         self->retry_backoff_ms);
        }
        self->commit_failing = true;
        pending->stage = S_RETRY;
        if (self->retry_timer == -1) {
            self->retry_timer =
                zloop_timer(self->loop, (size_t) shim_context_backoff(&self->retry_backoff_ms), 1,
                            s_self_handle_retry_timer, self);
        }
    }
}

//  --------------------------------------------------------------------------
//  Declare what we consume from and dead-letter to, then consume. CAP's
//  bindings share one exchange, declared again per binding (idempotent).

static int
s_self_setup(self_t *self, char **error_out)
{
    shim_amqp_t *amqp = self->amqp;
    const char *queue = self->context->queue;
    const char *error_exchange = self->context->error_exchange;
    if (shim_amqp_exchange_declare(amqp, error_exchange, "fanout", error_out) != 0 ||
        shim_amqp_queue_declare(amqp, error_exchange, error_out) != 0 ||
        shim_amqp_queue_bind(amqp, error_exchange, error_exchange, "", error_out) != 0 ||
        shim_amqp_queue_declare(amqp, queue, error_out) != 0) {
        return -1;
    }
    const char *type = shim_codec_exchange_type(self->codec);
    for (size_t index = 0; index < shim_codec_binding_count(self->codec); index++) {
        const char *exchange = NULL;
        const char *routing_key = NULL;
        shim_codec_binding(self->codec, index, &exchange, &routing_key);
        //  A type SHIM_CONSUME leaves out is unbound: the queue is durable
        //  and may keep the binding of an earlier configuration.
        if (shim_amqp_exchange_declare(amqp, exchange, type, error_out) != 0 ||
            (shim_codec_bound(self->codec, index)
                 ? shim_amqp_queue_bind(amqp, queue, exchange, routing_key, error_out)
                 : shim_amqp_queue_unbind(amqp, queue, exchange, routing_key, error_out)) != 0) {
            return -1;
        }
    }
    return shim_amqp_consume(amqp, queue, error_out);
}

//  --------------------------------------------------------------------------
//  Loop handlers. Each ends by draining AMQP, as do the link's handlers
//  below.

static int
s_self_handle_completions(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = arg;
    while (zsock_events(reader) & ZMQ_POLLIN) {
        bus_completion_t done;
        if (bus_producer_recv(self->producer, &done) != 0) {
            break;
        }
        s_self_take_completion(self, &done);
    }
    s_self_drain_amqp(self);
    return 0;
}

static int
s_self_handle_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_self_drain_amqp(arg); //  heartbeats, and anything pending
    return 0;
}

static int
s_self_handle_retry_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    self->retry_timer = -1;
    s_pending_t *pending = zlistx_first(self->pending);
    while (pending) {
        s_pending_t *next = zlistx_next(self->pending);
        if (pending->stage == S_RETRY) {
            if (s_self_current(self, pending)) {
                s_self_submit(self, pending);
            } else {
                s_self_pending_destroy(self, &pending);
            }
        }
        pending = next;
    }
    s_self_drain_amqp(self);
    return 0;
}

//  --------------------------------------------------------------------------
//  The RabbitMQ link's handlers.

//  Connect (blocking, bounded), declare, bind and consume.
static int
s_self_amqp_connect(void *arg, char **error_out)
{
    self_t *self = arg;
    shim_amqp_config_t config = {.url = self->context->rabbitmq_url,
                                 .name = self->amqp_name,
                                 .prefetch = self->context->window,
                                 .confirms = true};
    self->amqp = shim_amqp_new(&config, error_out);
    if (self->amqp && s_self_setup(self, error_out) != 0) {
        shim_amqp_destroy(&self->amqp);
    }
    return self->amqp ? shim_amqp_fd(self->amqp) : -1;
}

static void
s_self_amqp_connected(void *arg, bool recovered)
{
    self_t *self = arg;
    svc_log_info(self->log, "shim.consumer.rabbitmq.connected", "{s:s, s:s, s:i, s:b}", "queue",
                 self->context->queue, "error_queue", self->context->error_exchange, "bindings",
                 (int) shim_codec_bound_count(self->codec), "recovered", recovered);
    atomic_store(&self->context->consumer_up, true);
    s_self_drain_amqp(self);
}

//  Deliveries and confirms.
static void
s_self_amqp_readable(void *arg)
{
    s_self_drain_amqp(arg);
}

static void
s_self_amqp_close(void *arg)
{
    self_t *self = arg;
    shim_amqp_destroy(&self->amqp);
    atomic_store(&self->context->consumer_up, false);
    self->generation++;
    s_self_drop_unsubmitted(self);
}

//  --------------------------------------------------------------------------
//  After $TERM: close the connection (RabbitMQ requeues what was not
//  acked), then wait for the units in flight, which borrow their records.

static void
s_self_stop(self_t *self)
{
    shim_link_destroy(&self->amqp_link);
    shim_amqp_destroy(&self->amqp);
    self->generation++;
    int64_t deadline = zclock_mono() + SHIM_CONSUMER_STOP_MS;
    zsock_t *sock = bus_producer_sock(self->producer);
    while (self->in_flight > 0 && zclock_mono() < deadline) {
        zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) (deadline - zclock_mono())) == 1) {
            bus_completion_t done;
            if (bus_producer_recv(self->producer, &done) == 0) {
                s_self_take_completion(self, &done);
            }
        }
    }
    if (self->in_flight > 0) {
        //  The writer may still run them: their records must outlive us.
        svc_log_error(self->log, "shim.consumer.stop.abandoned", "{s:i}", "units",
                      (int) self->in_flight);
    }
    s_self_drop_unsubmitted(self);
}

//  --------------------------------------------------------------------------

static self_t *
s_self_new(shim_context_t *context)
{
    self_t *self = zmalloc(sizeof *self);
    self->context = context;
    self->log = context->log;
    self->loop = zloop_new();
    zloop_set_nonstop(self->loop, true);
    self->codec = shim_codec_new(&context->codec);
    assert(self->codec); //  shim_server checked the configuration
    self->producer = bus_producer_new(context->bus_stream);
    self->amqp_name = zsys_sprintf("broker-shim %s consumer", context->stream);
    shim_link_handlers_t handlers = {s_self_amqp_connect, s_self_amqp_connected,
                                     s_self_amqp_readable, s_self_amqp_close};
    self->amqp_link =
        shim_link_new(self->loop, self->log, "shim.consumer.rabbitmq", &handlers, self);
    self->retry_timer = -1;
    self->retry_backoff_ms = BUS_RECONNECT_MIN_MS;
    self->pending = zlistx_new();
    return self;
}

static void
s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    shim_link_destroy(&self->amqp_link);
    shim_amqp_destroy(&self->amqp);
    zlistx_destroy(&self->pending); //  only abandoned records are left: not ours to free
    zstr_free(&self->amqp_name);
    bus_producer_destroy(&self->producer);
    shim_codec_destroy(&self->codec);
    zloop_destroy(&self->loop);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

void
shim_consumer_actor(zsock_t *pipe, void *args)
{
    assert(pipe);
    assert(args);
    self_t *self = s_self_new(args);
    zloop_reader(self->loop, pipe, shim_context_handle_pipe, self);
    zloop_reader(self->loop, bus_producer_sock(self->producer), s_self_handle_completions, self);
    zloop_timer(self->loop, SHIM_TICK_MS, 0, s_self_handle_tick, self);
    shim_link_start(self->amqp_link);
    svc_log_info(self->log, "shim.consumer.started", "{s:s, s:i}", "queue", self->context->queue,
                 "prefetch", self->context->window);
    zsock_signal(pipe, 0);
    zloop_start(self->loop);
    atomic_store(&self->context->consumer_up, false);
    s_self_stop(self);
    svc_log_info(self->log, "shim.consumer.stopped", NULL);
    s_self_destroy(&self);
}
