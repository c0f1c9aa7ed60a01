/*  =========================================================================
    shim_relay - the outbox to RabbitMQ, with publisher confirms

    One zloop: the pipe, the PostgreSQL socket (notifications), the AMQP
    socket (confirms), a tick and the two connections' reconnects (each a
    shim_link, which calls back the s_self_db_* and s_self_amqp_*
    handlers below). A pipeline:
    up to `window` messages are published and unconfirmed at once, in
    `flight`, a ring in id order. Whenever it has room, the rows after the
    last id read are read and published; confirms mark slots, the
    confirmed head of the ring moves to `done`, and `done` is deleted in
    one statement (committed without waiting for the flush: a lost delete
    only publishes the same message id again) before the next read.

    Reading after the last id is safe because this replica's partitions
    are written by the shim's one stream writer, one transaction after the
    other on one connection, so ids commit in order. Where that could fail
    (a COMMIT whose connection broke finishing late, a rescale of the
    replicas), a row below the ring's head would be skipped: the tick
    counts such rows, and when there are any (and whenever the pipeline
    is empty anyway) the relay stops reading, lets the ring drain and
    reads from the head again. A nack or a lost connection abandons the
    ring and reads from the head too.

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
#include "shim_store.h"

#include <libpq-fe.h>

//  Reads per turn of the loop, at most.
#define S_TURNS_MAX 16

//  One row in flight.
typedef struct {
    int64_t id;           //  outbox row
    uint64_t tag;         //  its confirm tag; 0 = not published (only delete it)
    int64_t published_us; //  monotonic time of the publish
    bool confirmed;       //  RabbitMQ confirmed it
} s_flight_t;

typedef struct {
    shim_context_t *context; //  shared configuration and metrics (borrowed)
    svc_log_t *log;          //  (borrowed)
    zsock_t *pipe;           //  our end of the actor pipe (borrowed)
    zloop_t *loop;           //  the one loop (owned)
    shim_codec_t *codec;     //  this thread's codec (owned)
    char *amqp_name;         //  connection_name for RabbitMQ (owned)
    PGconn *db;              //  our connection, or NULL while down (owned)
    shim_link_t *db_link;    //  its reconnects, socket in the loop, outage logs (owned)
    shim_amqp_t *amqp;       //  our connection, or NULL while down (owned)
    shim_link_t *amqp_link;  //  its reconnects, socket in the loop, outage logs (owned)
    zhashx_t *declared;      //  exchanges declared on this connection (owned)
    s_flight_t *flight;      //  ring of `window` slots in id order (owned)
    size_t flight_head;      //  index of the oldest slot
    size_t flight_count;     //  slots in use
    size_t unconfirmed;      //  published rows still waiting for their confirm
    int64_t *done;           //  confirmed rows to delete: `window` ids (owned)
    size_t done_count;       //  ids in it
    int64_t last_read;       //  the highest id read since the head (0: read from the head)
    bool read_wanted;        //  rows may be there: a notification, a full read, the tick
    bool rescan;             //  a row below the ring's head exists: drain, then read the head
    int64_t republish_upto;  //  rows up to this id were published on a lost connection
} self_t;

//  --------------------------------------------------------------------------
//  Readiness: both connections up.

static void
s_self_update_up(self_t *self)
{
    atomic_store(&self->context->relay_up, self->db && self->amqp);
}

//  --------------------------------------------------------------------------
//  Slot `index` of the ring, counted from its head.

static s_flight_t *
s_self_slot(self_t *self, size_t index)
{
    return &self->flight[(self->flight_head + index) % (size_t) self->context->window];
}

//  --------------------------------------------------------------------------
//  Forget what is in flight: its rows stay in the outbox and are read
//  again from the head; those already published count as re-published
//  then. Confirmed rows in `done` stay to be deleted.

static void
s_self_abandon_flight(self_t *self)
{
    for (size_t index = 0; index < self->flight_count; index++) {
        s_flight_t *slot = s_self_slot(self, index);
        if (slot->tag && slot->id > self->republish_upto) {
            self->republish_upto = slot->id;
        }
    }
    self->flight_head = 0;
    self->flight_count = 0;
    self->unconfirmed = 0;
    self->last_read = 0;
    self->read_wanted = true;
    self->rescan = false;
}

//  --------------------------------------------------------------------------
//  Connection losses: the link logs, calls the s_self_*_close handler
//  below and reconnects.

static void
s_self_db_lost(self_t *self, const char *why, const char *error)
{
    shim_link_lost(self->db_link, why, error);
}

static void
s_self_amqp_lost(self_t *self, const char *why, const char *error)
{
    shim_link_lost_with(self->amqp_link, why, error, "unconfirmed", (int) self->unconfirmed);
}

//  --------------------------------------------------------------------------
//  A row that cannot be published: move it aside, log, count.

static int
s_self_row_failed(self_t *self, int64_t id, const char *message_id, const shim_error_t *error)
{
    const char *name = shim_rc_name(error->rc);
    svc_log_warn(self->log, "shim.outbox.rejected", "{s:I, s:s?, s:s, s:s}", "outbox_id",
                 (json_int_t) id, "message_id", message_id, "error", name, "reason", error->reason);
    svc_counter_inc(shim_context_rejected(self->context, "to_rabbitmq", name));
    char *db_error = NULL;
    if (shim_store_outbox_fail(self->db, id, name, error->reason, &db_error) != BUS_OK) {
        s_self_db_lost(self, "moving a failed row", db_error);
        zstr_free(&db_error);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Declare the message's exchange once per connection, then publish it.
//  Returns 0, or -1 when the connection failed.

static int
s_self_publish(self_t *self, const shim_message_t *message, uint64_t *tag_out)
{
    const char *exchange = shim_message_exchange(message);
    char *error = NULL;
    if (!zhashx_lookup(self->declared, exchange)) {
        if (shim_amqp_exchange_declare(self->amqp, exchange, shim_codec_exchange_type(self->codec),
                                       &error) != 0) {
            s_self_amqp_lost(self, "declaring an exchange", error);
            zstr_free(&error);
            return -1;
        }
        zhashx_insert(self->declared, exchange, (void *) 1);
    }
    if (shim_amqp_publish(self->amqp, message, tag_out, &error) != 0) {
        s_self_amqp_lost(self, "publishing", error);
        zstr_free(&error);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  One row read: decode, encode, publish into the ring's next slot (or
//  move aside, or only delete it: an event that came from RabbitMQ).
//  Returns 0, or -1 when a connection was lost (the ring is abandoned).

static int
s_self_take_row(self_t *self, const shim_outbox_row_t *row)
{
    Ev__V1__Envelope *envelope = NULL;
    bus_rc_t decoded = bus_envelope_decode(row->envelope, row->size, &envelope);
    shim_error_t error;
    shim_error_clear(&error);
    shim_rc_t rc = SHIM_OK;
    shim_message_t *message = NULL;
    if (decoded != BUS_OK) {
        rc = shim_error_set(&error, SHIM_INVALID, "the stored envelope does not decode: %s",
                            bus_strerror(decoded));
    } else {
        rc = shim_codec_encode(self->codec, envelope, &message, &error);
    }
    char message_id[SVC_UUID_TEXT_SIZE] = "";
    svc_uuid_t uuid;
    if (envelope && shim_envelope_id(&envelope->message_id, &uuid)) {
        svc_uuid_format(&uuid, message_id);
    }
    int result = 0;
    s_flight_t *slot = s_self_slot(self, self->flight_count);
    *slot = (s_flight_t){.id = row->id};
    if (rc == SHIM_OK) {
        result = s_self_publish(self, message, &slot->tag);
        if (result == 0) {
            slot->published_us = zclock_usecs();
            self->flight_count++;
            self->unconfirmed++;
            if (row->id <= self->republish_upto) {
                svc_counter_inc(self->context->republished);
            }
            svc_log_debug(self->log, "shim.message.published", "{s:s, s:s, s:s, s:I}", "message_id",
                          message_id, "type", envelope->type, "exchange",
                          shim_message_exchange(message), "seq", (json_int_t) envelope->seq);
        }
    } else if (rc == SHIM_OWN_MESSAGE) {
        //  Came from RabbitMQ: never back (the handler skips these already).
        svc_counter_inc(self->context->own_skipped_out);
        slot->confirmed = true;
        self->flight_count++;
    } else {
        result = s_self_row_failed(self, row->id, *message_id ? message_id : NULL, &error);
    }
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    return result;
}

//  --------------------------------------------------------------------------
//  Move the confirmed head of the ring to `done`, counting what was
//  bridged.

static void
s_self_retire(self_t *self)
{
    size_t published = 0;
    while (self->flight_count > 0 && s_self_slot(self, 0)->confirmed) {
        s_flight_t *slot = s_self_slot(self, 0);
        assert(self->done_count < (size_t) self->context->window);
        self->done[self->done_count++] = slot->id;
        published += slot->tag ? 1 : 0;
        self->flight_head = (self->flight_head + 1) % (size_t) self->context->window;
        self->flight_count--;
    }
    svc_counter_add(self->context->bridged_out, published);
}

//  --------------------------------------------------------------------------
//  Delete the confirmed rows. Returns 0, or -1 when the database is lost.

static int
s_self_delete_done(self_t *self)
{
    if (!self->db || self->done_count == 0) {
        return self->db ? 0 : -1;
    }
    char *error = NULL;
    if (shim_store_outbox_delete(self->db, self->done, self->done_count, &error) != BUS_OK) {
        //  Confirmed but not deleted: published again later, same ids.
        s_self_db_lost(self, "deleting confirmed rows", error);
        zstr_free(&error);
        return -1;
    }
    self->done_count = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  Read and publish while the ring has room and rows may be there.
//  Returns true when it published or moved something (the caller turns
//  again), false when there is nothing to do now.

static bool
s_self_pump(self_t *self)
{
    if (!self->db || !self->amqp || s_self_delete_done(self) != 0) {
        return false;
    }
    if (self->flight_count == 0 && (self->rescan || self->last_read > 0)) {
        //  Empty: from the head again, which also picks up any row that
        //  committed below what was read (see the top of the file).
        self->rescan = false;
        self->last_read = 0;
        self->read_wanted = true;
    }
    size_t window = (size_t) self->context->window;
    if (!self->read_wanted || self->rescan || self->flight_count == window) {
        return false;
    }
    size_t room = window - self->flight_count;
    shim_outbox_row_t *rows = NULL;
    size_t count = 0;
    char *error = NULL;
    if (shim_store_outbox_read(self->db, self->context->replica_index, self->context->replica_count,
                               self->last_read, (int) room, &rows, &count, &error) != BUS_OK) {
        s_self_db_lost(self, "reading the outbox", error);
        zstr_free(&error);
        return false;
    }
    //  Full: there may be more. Short: only a notification (or the tick)
    //  says there is more; those that came while we read are counted now.
    self->read_wanted = count == room || shim_store_notifications(self->db) > 0;
    int rc = 0;
    for (size_t index = 0; index < count && rc == 0; index++) {
        self->last_read = rows[index].id;
        rc = s_self_take_row(self, &rows[index]);
    }
    shim_store_rows_free(&rows, count);
    if (rc != 0) {
        return false;
    }
    s_self_retire(self); //  rows that needed no confirm
    return count > 0;
}

//  --------------------------------------------------------------------------
//  A confirm from RabbitMQ: mark its slots (tags are consecutive on one
//  connection; `multiple` confirms every tag up to it).

static void
s_self_take_confirm(self_t *self, const shim_amqp_event_t *event)
{
    if (!event->ack) {
        //  The broker could not store a message: publish everything
        //  unconfirmed again, on a new connection.
        s_self_amqp_lost(self, "the broker nacked a message", NULL);
        return;
    }
    int64_t now = zclock_usecs();
    for (size_t index = 0; index < self->flight_count; index++) {
        s_flight_t *slot = s_self_slot(self, index);
        if (slot->tag && !slot->confirmed &&
            (slot->tag == event->tag || (event->multiple && slot->tag <= event->tag))) {
            slot->confirmed = true;
            self->unconfirmed--;
            svc_histogram_observe(self->context->confirm_seconds,
                                  (double) (now - slot->published_us) / 1e6);
        }
    }
    s_self_retire(self);
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
            zstr_free(&error);
            return;
        } else if (type == SHIM_AMQP_CONFIRM) {
            s_self_take_confirm(self, &event);
        } else {
            shim_amqp_delivery_destroy(&event.delivery); //  we consume nothing
        }
        zstr_free(&error);
    }
}

//  --------------------------------------------------------------------------
//  Take the confirms, delete what they confirmed, read and publish more,
//  until nothing moves; then AMQP is drained.

static void
s_self_turn(self_t *self)
{
    //  Bounded, so the pipe is heard during a long backlog; what is left
    //  is published, so its confirms bring the next turn.
    int turns = 0;
    do {
        s_self_drain_amqp(self);
    } while (s_self_pump(self) && ++turns < S_TURNS_MAX);
    s_self_drain_amqp(self);
}

//  --------------------------------------------------------------------------
//  Loop handlers. Each ends with a turn.

static int
s_self_handle_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = arg;
    s_self_drain_amqp(self); //  heartbeats, and anything pending
    if (s_self_delete_done(self) == 0) {
        //  After the delete, a row below the ring's head is one the reads
        //  after last_read skipped.
        int64_t head = self->flight_count > 0 ? s_self_slot(self, 0)->id : 0;
        int64_t depth = 0;
        int64_t below = 0;
        char *error = NULL;
        if (shim_store_outbox_depth(self->db, self->context->replica_index,
                                    self->context->replica_count, head, &depth, &below,
                                    &error) == BUS_OK) {
            svc_gauge_set(self->context->outbox_depth, (double) depth);
            self->read_wanted = true;
            self->rescan = self->rescan || below > 0;
        } else {
            s_self_db_lost(self, "counting the outbox", error);
        }
        zstr_free(&error);
    }
    s_self_turn(self);
    return 0;
}

//  A connection is (back) up: read, and publish what there is.
static void
s_self_resume(self_t *self)
{
    self->read_wanted = true;
    s_self_update_up(self);
    s_self_turn(self);
}

//  --------------------------------------------------------------------------
//  The PostgreSQL link's handlers.

//  Connect (blocking, bounded), commit without waiting for the flush,
//  LISTEN.
static int
s_self_db_connect(void *arg, char **error_out)
{
    self_t *self = arg;
    char *app_name = zsys_sprintf("%s-relay", self->context->stream);
    PGconn *db = shim_store_connect(self->context->conninfo, app_name, error_out);
    zstr_free(&app_name);
    if (db && (shim_store_commit_async(db, error_out) != BUS_OK ||
               shim_store_listen(db, error_out) != BUS_OK)) {
        PQfinish(db);
        db = NULL;
    }
    if (!db) {
        return -1;
    }
    self->db = db;
    return PQsocket(db);
}

static void
s_self_db_connected(void *arg, bool recovered)
{
    self_t *self = arg;
    svc_log_info(self->log, "shim.relay.db.connected", "{s:b}", "recovered", recovered);
    s_self_resume(self);
}

//  Notifications: rows to read.
static void
s_self_db_readable(void *arg)
{
    self_t *self = arg;
    if (self->db) {
        int count = shim_store_notifications(self->db);
        if (count < 0) {
            s_self_db_lost(self, "connection closed", PQerrorMessage(self->db));
        } else if (count > 0) {
            self->read_wanted = true;
        }
    }
    s_self_turn(self);
}

static void
s_self_db_close(void *arg)
{
    self_t *self = arg;
    if (self->db) {
        PQfinish(self->db);
        self->db = NULL;
    }
    //  Confirms may still come, but nothing can be deleted without the
    //  database: start again from the head once it is back.
    s_self_abandon_flight(self);
    self->done_count = 0;
    s_self_update_up(self);
}

//  --------------------------------------------------------------------------
//  The RabbitMQ link's handlers.

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
    s_self_resume(self);
}

//  Confirms.
static void
s_self_amqp_readable(void *arg)
{
    s_self_turn(arg);
}

static void
s_self_amqp_close(void *arg)
{
    self_t *self = arg;
    shim_amqp_destroy(&self->amqp);
    zhashx_purge(self->declared);
    s_self_abandon_flight(self);
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
    self->codec = shim_codec_new(&context->codec);
    assert(self->codec); //  shim_server checked the configuration
    self->amqp_name = zsys_sprintf("broker-shim %s relay", context->stream);
    shim_link_handlers_t db_handlers = {s_self_db_connect, s_self_db_connected, s_self_db_readable,
                                        s_self_db_close};
    self->db_link = shim_link_new(self->loop, self->log, "shim.relay.db", &db_handlers, self);
    shim_link_handlers_t amqp_handlers = {s_self_amqp_connect, s_self_amqp_connected,
                                          s_self_amqp_readable, s_self_amqp_close};
    self->amqp_link =
        shim_link_new(self->loop, self->log, "shim.relay.rabbitmq", &amqp_handlers, self);
    self->declared = zhashx_new();
    self->flight = zmalloc((size_t) context->window * sizeof *self->flight);
    self->done = zmalloc((size_t) context->window * sizeof *self->done);
    return self;
}

static void
s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    shim_link_destroy(&self->amqp_link);
    shim_link_destroy(&self->db_link);
    shim_amqp_destroy(&self->amqp);
    if (self->db) {
        PQfinish(self->db);
    }
    freen(self->done);
    freen(self->flight);
    zhashx_destroy(&self->declared);
    zstr_free(&self->amqp_name);
    shim_codec_destroy(&self->codec);
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
    zloop_timer(self->loop, SHIM_TICK_MS, 0, s_self_handle_tick, self);
    //  Connect from the loop, so the caller never waits for a broker.
    shim_link_start(self->db_link);
    shim_link_start(self->amqp_link);
    svc_log_info(self->log, "shim.relay.started", "{s:i, s:i, s:i}", "window",
                 self->context->window, "replica_index", (int) self->context->replica_index,
                 "replica_count", (int) self->context->replica_count);
    zsock_signal(pipe, 0);
    zloop_start(self->loop);
    atomic_store(&self->context->relay_up, false);
    svc_log_info(self->log, "shim.relay.stopped", "{s:i}", "unconfirmed", (int) self->unconfirmed);
    s_self_destroy(&self);
}
