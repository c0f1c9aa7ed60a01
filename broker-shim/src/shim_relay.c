/*  =========================================================================
    shim_relay - our events to RabbitMQ, with publisher confirms

    One zloop: the actor pipe, the batches socket (the handler's messages
    and its wait), the AMQP socket (confirms), a tick (heartbeats) and the
    connection's reconnects (a shim_link, which calls back the
    s_self_amqp_* handlers below).

    One batch at a time: the handler hands chunks of messages (PUBLISH),
    asks for the outcome (WAIT) and may hand more chunks until the answer
    comes (the batch grows while it waits); the answer says how many
    messages it settled, so the handler asks again for chunks that came
    after it. After a failed answer the relay drops whatever is handed
    until the handler's DONE. The messages are queued and published as a
    sliding window: at most
    SHIM_WINDOW unconfirmed, the next one as soon as one is confirmed
    (a broker given a whole batch at once confirms it much later than one
    kept busy at a steady depth). Confirm tags are consecutive on a
    channel, so the batch's messages are the tags from its first one on;
    a batch never spans two connections (a lost connection fails it). The
    answer is sent when every message is confirmed, or as soon as the
    batch failed and the handler waits: then the chunks still coming are
    only received, never published (the handler publishes the whole batch
    again later). No confirm for SHIM_CONFIRM_TIMEOUT_MS while some are
    due counts as a lost connection.

    Every turn ends by draining the AMQP connection, because a publish or
    an RPC may have left frames in librabbitmq's buffers that poll would
    never report (STYLE rule 9).
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_amqp.h"
#include "shim_context.h"
#include "shim_link.h"
#include "shim_relay.h"

//  What the handler's end sends: a command, a pointer and a count.
#define S_PICTURE "sp8"
#define S_PUBLISH "PUBLISH"
#define S_WAIT "WAIT"
#define S_DONE "DONE"

typedef struct {
    shim_context_t *context; //  shared configuration and metrics (borrowed)
    svc_log_t *log;          //  (borrowed)
    zsock_t *pipe;           //  our end of the actor pipe (borrowed)
    zsock_t *batches;        //  our end of relay_endpoint (owned)
    zloop_t *loop;           //  the one loop (owned)
    char *amqp_name;         //  connection_name for RabbitMQ (owned)
    shim_amqp_t *amqp;       //  our connection, or NULL while down (owned)
    shim_link_t *amqp_link;  //  its reconnects, socket in the loop, outage logs (owned)
    zhashx_t *declared;      //  exchanges declared on this connection (owned)
    //  The batch in progress.
    char *failure;                 //  why it failed (owned), NULL while it has not
    shim_message_t *const *queued; //  its messages so far, in order (owned array of
                                   //  borrowed messages: the handler's until answered)
    size_t queued_count;           //  how many
    uint64_t first_tag;            //  confirm tag of its first message
    size_t published;              //  the first `published` queued ones are published
    size_t confirmed;              //  of those, confirmed
    int64_t *published_us;         //  per message: monotonic publish time (owned array)
    bool *acked;                   //  per message: confirmed (owned array)
    size_t capacity;               //  slots of the three arrays
    bool waiting;                  //  the handler waits for the outcome
    int64_t progress_ms;           //  when a confirm (or the first publish) last came
    bool republishing;             //  a batch failed after publishing, none succeeded since: what
                                   //  is published now goes out again
} self_t;

//  --------------------------------------------------------------------------
//  The handler's end

zsock_t *
shim_relay_connect(const shim_context_t *context)
{
    assert(context);
    char *endpoint = zsys_sprintf(">%s", context->relay_endpoint);
    zsock_t *batches = zsock_new_pair(endpoint);
    assert(batches); //  inproc, bound before the actor started
    zstr_free(&endpoint);
    return batches;
}

void
shim_relay_publish(zsock_t *batches, shim_message_t *const *messages, size_t count)
{
    assert(batches);
    assert(messages);
    assert(count > 0);
    int rc = zsock_send(batches, S_PICTURE, S_PUBLISH, messages, (uint64_t) count);
    assert(rc == 0); //  inproc to a live actor
}

void
shim_relay_ask(zsock_t *batches)
{
    assert(batches);
    int rc = zsock_send(batches, S_PICTURE, S_WAIT, NULL, (uint64_t) 0);
    assert(rc == 0);
}

void
shim_relay_done(zsock_t *batches)
{
    assert(batches);
    int rc = zsock_send(batches, S_PICTURE, S_DONE, NULL, (uint64_t) 0);
    assert(rc == 0);
}

int
shim_relay_answer(zsock_t *batches, int timeout_ms, size_t *settled_out, char **error_out)
{
    assert(batches);
    assert(settled_out);
    assert(error_out);
    zmq_pollitem_t item = {zsock_resolve(batches), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        return 0; //  nothing yet (or interrupted: asked again by the caller's loop)
    }
    int outcome = -1;
    char *error = NULL;
    uint64_t settled = 0;
    if (zsock_recv(batches, "is8", &outcome, &error, &settled) != 0) {
        *error_out = strdup("rabbitmq: interrupted");
        return -1;
    }
    if (outcome != 0) {
        *error_out = error;
        return -1;
    }
    zstr_free(&error);
    *settled_out = (size_t) settled;
    return 1;
}

//  --------------------------------------------------------------------------
//  Readiness: the connection is up.

static void
s_self_update_up(self_t *self)
{
    atomic_store(&self->context->relay_up, self->amqp != NULL);
}

//  --------------------------------------------------------------------------
//  The batch fails for `why` (the first reason is kept).

static void
s_self_fail(self_t *self, const char *why, const char *error)
{
    if (!self->failure) {
        self->failure = error && *error ? zsys_sprintf("rabbitmq: %s: %s", why, error)
                                        : zsys_sprintf("rabbitmq: %s", why);
    }
}

//  The connection failed while doing `why`: a batch not yet all confirmed
//  fails with it; the link logs, closes and reconnects.
static void
s_self_amqp_lost(self_t *self, const char *why, const char *error)
{
    if (self->confirmed < self->queued_count) {
        s_self_fail(self, why, error);
    }
    shim_link_lost_with(self->amqp_link, why, error, "unconfirmed",
                        (int) (self->published - self->confirmed));
}

//  --------------------------------------------------------------------------
//  Answer a waiting handler once the batch is settled: every message
//  confirmed, or failed. Then the next batch starts from nothing.

static void
s_self_settle(self_t *self)
{
    if (!self->waiting || (!self->failure && self->confirmed < self->queued_count)) {
        return;
    }
    if (self->failure) {
        //  The failure stays until the handler's DONE: what it handed
        //  before that is dropped, never published.
        self->republishing = self->republishing || self->published > 0;
        zsock_send(self->batches, "is8", -1, self->failure, (uint64_t) 0);
    } else {
        svc_counter_add(self->context->bridged_out, self->published);
        self->republishing = false;
        zsock_send(self->batches, "is8", 0, "", (uint64_t) self->queued_count);
    }
    self->queued_count = 0;
    self->first_tag = 0;
    self->published = 0;
    self->confirmed = 0;
    self->waiting = false;
}

//  --------------------------------------------------------------------------
//  A confirm from RabbitMQ: mark the batch's messages it confirms (its
//  tag, and with `multiple` every tag up to it). A nack: the broker could
//  not store a message; the batch fails and the connection is made again.

static void
s_self_take_confirm(self_t *self, const shim_amqp_event_t *event)
{
    if (!event->ack) {
        s_self_amqp_lost(self, "the broker nacked a message", NULL);
        return;
    }
    if (self->published == 0 || event->tag < self->first_tag) {
        return; //  nothing of ours
    }
    size_t last = (size_t) (event->tag - self->first_tag);
    if (last >= self->published) {
        return;
    }
    int64_t now = zclock_usecs();
    self->progress_ms = zclock_mono();
    for (size_t index = event->multiple ? 0 : last; index <= last; index++) {
        if (!self->acked[index]) {
            self->acked[index] = true;
            self->confirmed++;
            svc_histogram_observe(self->context->confirm_seconds,
                                  (double) (now - self->published_us[index]) / 1e6);
        }
    }
}

static void s_self_pump(self_t *self);

//  Take everything the AMQP connection holds, without blocking; publish
//  what the confirms made room for; answer a waiting handler if that
//  settled the batch.
static void
s_self_drain_amqp(self_t *self)
{
    while (self->amqp) {
        shim_amqp_event_t event;
        char *error = NULL;
        shim_amqp_event_type_t type = shim_amqp_next(self->amqp, &event, &error);
        if (type == SHIM_AMQP_NOTHING) {
            break;
        }
        if (type == SHIM_AMQP_FAILED) {
            s_self_amqp_lost(self, "reading", error);
        } else if (type == SHIM_AMQP_CONFIRM) {
            s_self_take_confirm(self, &event);
        } else {
            shim_amqp_delivery_destroy(&event.delivery); //  we consume nothing
        }
        zstr_free(&error);
    }
    s_self_pump(self);
    s_self_settle(self);
}

//  --------------------------------------------------------------------------
//  Publish one message of the batch: declare its exchange once per
//  connection, publish, note the tag. Returns 0, or -1 when the
//  connection failed (the batch failed with it).

static int
s_self_publish(self_t *self, const shim_message_t *message)
{
    const char *exchange = shim_message_exchange(message);
    char *error = NULL;
    if (!zhashx_lookup(self->declared, exchange)) {
        if (shim_amqp_exchange_declare(self->amqp, exchange,
                                       shim_format_exchange_type(self->context->codec.format),
                                       &error) != 0) {
            s_self_amqp_lost(self, "declaring an exchange", error);
            zstr_free(&error);
            return -1;
        }
        zhashx_insert(self->declared, exchange, (void *) 1);
    }
    uint64_t tag = 0;
    if (shim_amqp_publish(self->amqp, message, &tag, &error) != 0) {
        s_self_amqp_lost(self, "publishing", error);
        zstr_free(&error);
        return -1;
    }
    if (self->published == 0) {
        self->first_tag = tag;
        self->progress_ms = zclock_mono();
    }
    assert(tag == self->first_tag + self->published); //  one channel: consecutive
    self->published_us[self->published] = zclock_usecs();
    self->acked[self->published] = false;
    self->published++;
    if (self->republishing) {
        svc_counter_inc(self->context->republished);
    }
    return 0;
}

//  Publish queued messages while fewer than the window are unconfirmed
//  (and the batch has not failed).
static void
s_self_pump(self_t *self)
{
    size_t window = (size_t) self->context->window;
    //  More than one to send now: in full segments (see shim_amqp_cork).
    bool corked = self->amqp && !self->failure && self->published + 1 < self->queued_count &&
                  self->published - self->confirmed + 1 < window;
    if (corked) {
        shim_amqp_cork(self->amqp);
    }
    while (!self->failure && self->published < self->queued_count &&
           self->published - self->confirmed < window) {
        if (!self->amqp) {
            s_self_fail(self, "not connected", NULL);
        } else if (s_self_publish(self, self->queued[self->published]) != 0) {
            break;
        }
    }
    if (corked && self->amqp) {
        shim_amqp_uncork(self->amqp);
    }
}

//  A chunk of the batch: queue it (unless the batch failed already).
static void
s_self_take_chunk(self_t *self, shim_message_t *const *messages, size_t count)
{
    if (self->failure) {
        return;
    }
    if (self->queued_count + count > self->capacity) {
        while (self->queued_count + count > self->capacity) {
            self->capacity = self->capacity ? self->capacity * 2 : 256;
        }
        self->queued = realloc((void *) self->queued, self->capacity * sizeof(shim_message_t *));
        self->published_us = realloc(self->published_us, self->capacity * sizeof(int64_t));
        self->acked = realloc(self->acked, self->capacity * sizeof(bool));
        assert(self->queued && self->published_us && self->acked);
    }
    memcpy((void *) (self->queued + self->queued_count), messages, count * sizeof *messages);
    self->queued_count += count;
}

//  The handler's commands, all that are there.
static int
s_self_handle_batches(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = arg;
    while (zsock_events(reader) & ZMQ_POLLIN) {
        char *command = NULL;
        void *pointer = NULL;
        uint64_t count = 0;
        if (zsock_recv(reader, S_PICTURE, &command, &pointer, &count) != 0) {
            break; //  interrupted
        }
        if (streq(command, S_PUBLISH)) {
            s_self_take_chunk(self, pointer, (size_t) count);
        } else if (streq(command, S_DONE)) {
            zstr_free(&self->failure); //  the handler starts afresh
        } else {
            assert(streq(command, S_WAIT));
            assert(!self->waiting); //  the handler waits for the answer
            self->waiting = true;
        }
        zstr_free(&command);
    }
    s_self_drain_amqp(self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Loop handlers. Each ends by draining the connection.

static int
s_self_handle_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    if (self->amqp && self->published > self->confirmed &&
        zclock_mono() - self->progress_ms > SHIM_CONFIRM_TIMEOUT_MS) {
        s_self_amqp_lost(self, "no confirm in time", NULL);
    }
    s_self_drain_amqp(self); //  heartbeats, and anything pending
    return 0;
}

//  Connect (blocking, bounded), confirms on.
static int
s_self_amqp_connect(void *arg, char **error_out)
{
    self_t *self = arg;
    shim_amqp_config_t config = {
        .url = self->context->rabbitmq_url, .name = self->amqp_name, .confirms = true};
    self->amqp = shim_amqp_new(&config, error_out);
    return self->amqp ? shim_amqp_fd(self->amqp) : -1;
}

static void
s_self_amqp_connected(void *arg, bool recovered)
{
    self_t *self = arg;
    svc_log_info(self->log, "shim.relay.rabbitmq.connected", "{s:b}", "recovered", recovered);
    s_self_update_up(self);
    s_self_drain_amqp(self);
}

//  Confirms.
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
    zhashx_purge(self->declared);
    s_self_update_up(self);
}

//  --------------------------------------------------------------------------

static self_t *
s_self_new(zsock_t *pipe, shim_context_t *context)
{
    self_t *self = zmalloc(sizeof *self);
    self->context = context;
    self->log = context->log;
    self->pipe = pipe;
    self->loop = zloop_new();
    zloop_set_nonstop(self->loop, true);
    char *endpoint = zsys_sprintf("@%s", context->relay_endpoint);
    self->batches = zsock_new_pair(endpoint);
    assert(self->batches); //  a unique inproc name
    zstr_free(&endpoint);
    self->amqp_name = zsys_sprintf("broker-shim %s relay", context->stream);
    shim_link_handlers_t amqp_handlers = {s_self_amqp_connect, s_self_amqp_connected,
                                          s_self_amqp_readable, s_self_amqp_close};
    self->amqp_link =
        shim_link_new(self->loop, self->log, "shim.relay.rabbitmq", &amqp_handlers, self);
    self->declared = zhashx_new();
    return self;
}

static void
s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    shim_link_destroy(&self->amqp_link);
    shim_amqp_destroy(&self->amqp);
    freen(self->acked);
    freen(self->published_us);
    free((void *) self->queued);
    zstr_free(&self->failure);
    zhashx_destroy(&self->declared);
    zstr_free(&self->amqp_name);
    zsock_destroy(&self->batches);
    zloop_destroy(&self->loop);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

void
shim_relay_actor(zsock_t *pipe, void *args)
{
    assert(pipe);
    assert(args);
    self_t *self = s_self_new(pipe, args);
    zloop_reader(self->loop, pipe, shim_context_handle_pipe, self);
    zloop_reader(self->loop, self->batches, s_self_handle_batches, self);
    zloop_timer(self->loop, SHIM_TICK_MS, 0, s_self_handle_tick, self);
    //  Connect from the loop, so the caller never waits for a broker.
    shim_link_start(self->amqp_link);
    svc_log_info(self->log, "shim.relay.started", "{s:s}", "endpoint",
                 self->context->relay_endpoint);
    zsock_signal(pipe, 0);
    zloop_start(self->loop);
    atomic_store(&self->context->relay_up, false);
    svc_log_info(self->log, "shim.relay.stopped", "{s:i}", "unconfirmed",
                 (int) (self->published - self->confirmed));
    s_self_destroy(&self);
}
