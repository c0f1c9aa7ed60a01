/*  =========================================================================
    bench_amqp - plain librabbitmq clients: the RabbitMQ baseline and a consumer

    What a benchmark needs to measure RabbitMQ itself and to receive what
    another path delivers to it, written the way a careful librabbitmq
    user would (STYLE's one-loop rules are for services; these are
    benchmark threads that block):

    - bench_consumer: its own connection and thread; declares a durable
      fanout exchange (as MassTransit does: durable, not auto-delete, no
      arguments, so declaring an existing one of a MassTransit topology is
      harmless) and a durable queue bound to it, consumes with manual acks
      (one basic.ack per message) and prefetch, and remembers for each
      message its receive time (CLOCK_REALTIME), its message_id property
      and, for bodies this module stamped, the publish time;
    - bench_publisher: one connection in confirm mode that publishes
      persistent messages (delivery mode 2) of a given body size, each
      stamped with its publish time, and keeps at most `window` of them
      unconfirmed: a sliding window, a new message as soon as one is
      confirmed (basic.ack with or without `multiple`).
    =========================================================================
*/
#include "bench_support.h"
#include "bench_amqp.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The one channel of every connection.
#define BENCH_AMQP_CHANNEL 1
//  Bytes of a stamped body's header: {"sentUs":<20 digits>,
#define BENCH_AMQP_STAMP_SIZE 31

//  A consumer: its own connection, queue and thread; manual acks.
struct bench_consumer {
    amqp_connection_state_t conn;    //  owned; used by the thread once it runs
    char queue[BENCH_AMQP_NAME_MAX]; //  its durable queue
    bool stamped;                    //  bodies carry the publish time (baseline)
    bench_record_t *records;         //  ring of BENCH_AMQP_RECORDS (owned)
    atomic_size_t received;          //  messages taken and acked so far
    atomic_bool stop;                //  main asks the thread to end
    atomic_bool failed;              //  the thread ended on an error
    pthread_t thread;
};

//  The baseline's publisher: one connection in confirm mode.
struct bench_publisher {
    amqp_connection_state_t conn; //  owned
    char exchange[BENCH_AMQP_NAME_MAX];
    char *body;         //  the message body (owned)
    size_t size;        //  its bytes
    int window;         //  most unconfirmed messages
    uint64_t published; //  delivery tags given out (tag n = n-th message)
    uint64_t confirmed; //  every tag up to this one is confirmed
    bool *acked;        //  tags above `confirmed` acked out of order (ring)
};

//  --------------------------------------------------------------------------
//  AMQP: connect, check replies, close

static bool
s_reply_ok(amqp_rpc_reply_t reply, const char *what)
{
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        return true;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        (void) fprintf(stderr, "bench_amqp: %s: %s\n", what,
                       amqp_error_string2(reply.library_error));
    } else if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD ||
                reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        //  Both close methods start with reply_code and reply_text.
        amqp_channel_close_t *close = reply.reply.decoded;
        (void) fprintf(stderr, "bench_amqp: %s: closed by the broker: %u %.*s\n", what,
                       close->reply_code, (int) close->reply_text.len,
                       (const char *) close->reply_text.bytes);
    } else {
        (void) fprintf(stderr, "bench_amqp: %s: failed\n", what);
    }
    return false;
}

//  Open a connection and channel 1 (no heartbeats). NULL on failure.
static amqp_connection_state_t
s_amqp_connect(const char *url)
{
    char *copy = strdup(url);
    struct amqp_connection_info info;
    amqp_default_connection_info(&info);
    if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
        (void) fprintf(stderr, "bench_amqp: not an AMQP URL: %s\n", url);
        freen(copy);
        return NULL;
    }
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    struct timeval timeout = {10, 0};
    int status = socket ? amqp_socket_open_noblock(socket, info.host, info.port, &timeout)
                        : AMQP_STATUS_NO_MEMORY;
    bool ok = status == AMQP_STATUS_OK;
    if (!ok) {
        (void) fprintf(stderr, "bench_amqp: connect %s:%d: %s\n", info.host, info.port,
                       amqp_error_string2(status));
    }
    ok = ok && s_reply_ok(amqp_login(conn, info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                                     AMQP_SASL_METHOD_PLAIN, info.user, info.password),
                          "login");
    if (ok) {
        amqp_channel_open(conn, BENCH_AMQP_CHANNEL);
        ok = s_reply_ok(amqp_get_rpc_reply(conn), "channel.open");
    }
    freen(copy);
    if (!ok) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void
s_amqp_close(amqp_connection_state_t *conn_p)
{
    if (*conn_p) {
        (void) amqp_channel_close(*conn_p, BENCH_AMQP_CHANNEL, AMQP_REPLY_SUCCESS);
        (void) amqp_connection_close(*conn_p, AMQP_REPLY_SUCCESS);
        (void) amqp_destroy_connection(*conn_p);
        *conn_p = NULL;
    }
}

//  A durable fanout exchange (as MassTransit declares it: not auto-delete,
//  no arguments, so declaring an existing one again is harmless), a durable
//  queue bound to it.
static bool
s_amqp_topology(amqp_connection_state_t conn, const char *exchange, const char *queue)
{
    amqp_exchange_declare(conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(exchange),
                          amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
    if (!s_reply_ok(amqp_get_rpc_reply(conn), "exchange.declare")) {
        return false;
    }
    amqp_queue_declare(conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0,
                       amqp_empty_table);
    if (!s_reply_ok(amqp_get_rpc_reply(conn), "queue.declare")) {
        return false;
    }
    amqp_queue_bind(conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(queue),
                    amqp_cstring_bytes(exchange), amqp_empty_bytes, amqp_empty_table);
    return s_reply_ok(amqp_get_rpc_reply(conn), "queue.bind");
}

//  --------------------------------------------------------------------------
//  Consumer

//  The publish time in a baseline body, or 0.
static int64_t
s_body_sent_us(const amqp_bytes_t *body)
{
    static const char prefix[] = "{\"sentUs\":";
    if (body->len < BENCH_AMQP_STAMP_SIZE || memcmp(body->bytes, prefix, sizeof prefix - 1) != 0) {
        return 0;
    }
    char digits[21];
    memcpy(digits, (const char *) body->bytes + sizeof prefix - 1, 20);
    digits[20] = '\0';
    return strtoll(digits, NULL, 10);
}

static void
s_consumer_take(bench_consumer_t *self, const amqp_envelope_t *envelope)
{
    int64_t now_us = bench_realtime_us();
    size_t index = atomic_load_explicit(&self->received, memory_order_relaxed);
    bench_record_t *record = &self->records[index % BENCH_AMQP_RECORDS];
    record->received_us = now_us;
    record->size = (uint32_t) envelope->message.body.len;
    record->sent_us = self->stamped ? s_body_sent_us(&envelope->message.body) : 0;
    record->id[0] = '\0';
    const amqp_basic_properties_t *properties = &envelope->message.properties;
    if ((properties->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) &&
        properties->message_id.len < BENCH_AMQP_ID_SIZE) {
        size_t length = properties->message_id.len;
        for (size_t at = 0; at < length; at++) {
            record->id[at] =
                (char) tolower(((const unsigned char *) properties->message_id.bytes)[at]);
        }
        record->id[length] = '\0';
    }
    atomic_store_explicit(&self->received, index + 1, memory_order_release);
}

static void *
s_consumer_run(void *arg)
{
    bench_consumer_t *self = arg;
    while (!atomic_load(&self->stop)) {
        amqp_maybe_release_buffers(self->conn);
        amqp_envelope_t envelope;
        struct timeval timeout = {0, 100000};
        amqp_rpc_reply_t reply = amqp_consume_message(self->conn, &envelope, &timeout, 0);
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            reply.library_error == AMQP_STATUS_TIMEOUT) {
            continue;
        }
        if (!s_reply_ok(reply, "consume")) {
            atomic_store(&self->failed, true);
            break;
        }
        s_consumer_take(self, &envelope);
        int rc = amqp_basic_ack(self->conn, BENCH_AMQP_CHANNEL, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
        if (rc != AMQP_STATUS_OK) {
            (void) fprintf(stderr, "bench_amqp: basic.ack: %s\n", amqp_error_string2(rc));
            atomic_store(&self->failed, true);
            break;
        }
    }
    return NULL;
}

//  Declare the queue bound to `exchange`, consume it, start the thread.
//  NULL on failure. Caller owns return value.
bench_consumer_t *
bench_consumer_new(
    const char *url, const char *exchange, const char *queue, int prefetch, bool stamped)
{
    assert(url);
    assert(exchange);
    assert(queue);
    assert(prefetch >= 1 && prefetch <= UINT16_MAX);
    bench_consumer_t *self = zmalloc(sizeof *self);
    self->conn = s_amqp_connect(url);
    (void) snprintf(self->queue, sizeof self->queue, "%s", queue);
    self->stamped = stamped;
    bool ok = self->conn && s_amqp_topology(self->conn, exchange, queue);
    if (ok) {
        amqp_basic_qos(self->conn, BENCH_AMQP_CHANNEL, 0, (uint16_t) prefetch, 0);
        ok = s_reply_ok(amqp_get_rpc_reply(self->conn), "basic.qos");
    }
    if (ok) {
        amqp_basic_consume(self->conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(queue),
                           amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        ok = s_reply_ok(amqp_get_rpc_reply(self->conn), "basic.consume");
    }
    if (!ok) {
        s_amqp_close(&self->conn);
        freen(self);
        return NULL;
    }
    self->records = zmalloc(BENCH_AMQP_RECORDS * sizeof *self->records);
    atomic_init(&self->received, 0);
    atomic_init(&self->stop, false);
    atomic_init(&self->failed, false);
    pthread_create(&self->thread, NULL, s_consumer_run, self);
    return self;
}

void
bench_consumer_destroy(bench_consumer_t **self_p)
{
    assert(self_p);
    bench_consumer_t *self = *self_p;
    if (self) {
        atomic_store(&self->stop, true);
        pthread_join(self->thread, NULL);
        s_amqp_close(&self->conn);
        freen(self->records);
        freen(self);
        *self_p = NULL;
    }
}

size_t
bench_consumer_count(bench_consumer_t *self)
{
    assert(self);
    return atomic_load_explicit(&self->received, memory_order_acquire);
}

//  Wait until the consumer has `first` + `count` messages; returns when
//  (bench_now_ns), or -1 after `timeout_s` or if it failed.
int64_t
bench_consumer_await(bench_consumer_t *self, size_t first, size_t count, int timeout_s)
{
    assert(self);
    int64_t deadline_ns = bench_now_ns() + (int64_t) timeout_s * 1000000000;
    while (bench_consumer_count(self) - first < count) {
        if (atomic_load(&self->failed) || bench_now_ns() >= deadline_ns) {
            return -1;
        }
        bench_sleep_until(bench_now_ns() + 1000000);
    }
    return bench_now_ns();
}

const bench_record_t *
bench_consumer_record(bench_consumer_t *self, size_t index)
{
    assert(self);
    assert(index < bench_consumer_count(self));
    return &self->records[index % BENCH_AMQP_RECORDS];
}

//  --------------------------------------------------------------------------
//  The baseline's publisher

//  Connect, confirm.select, make the body. NULL on failure.
bench_publisher_t *
bench_publisher_new(const char *url, const char *exchange, size_t size, int window)
{
    assert(url);
    assert(exchange);
    assert(window >= 1);
    bench_publisher_t *self = zmalloc(sizeof *self);
    (void) snprintf(self->exchange, sizeof self->exchange, "%s", exchange);
    self->window = window;
    self->acked = zmalloc((size_t) self->window * sizeof *self->acked);
    //  {"sentUs":<20 digits>,"index":<12 digits>,"pad":"xxx...x"} of `size` bytes.
    self->size = size < 64 ? 64 : size;
    self->body = zmalloc(self->size + 1);
    memset(self->body, 'x', self->size);
    memcpy(self->body + self->size - 2, "\"}", 2);
    self->conn = s_amqp_connect(url);
    bool ok = self->conn != NULL;
    if (ok) {
        amqp_confirm_select(self->conn, BENCH_AMQP_CHANNEL);
        ok = s_reply_ok(amqp_get_rpc_reply(self->conn), "confirm.select");
    }
    if (!ok) {
        s_amqp_close(&self->conn);
        freen(self->acked);
        freen(self->body);
        freen(self);
        return NULL;
    }
    return self;
}

void
bench_publisher_destroy(bench_publisher_t **self_p)
{
    assert(self_p);
    bench_publisher_t *self = *self_p;
    if (self) {
        s_amqp_close(&self->conn);
        freen(self->acked);
        freen(self->body);
        freen(self);
        *self_p = NULL;
    }
}

uint64_t
bench_publisher_in_flight(const bench_publisher_t *self)
{
    assert(self);
    return self->published - self->confirmed;
}

uint64_t
bench_publisher_published(const bench_publisher_t *self)
{
    assert(self);
    return self->published;
}

int
bench_publisher_window(const bench_publisher_t *self)
{
    assert(self);
    return self->window;
}

//  Publish one persistent message stamped with now. Returns 0 or -1.
int
bench_publisher_send(bench_publisher_t *self)
{
    assert(self);
    assert(bench_publisher_in_flight(self) < (uint64_t) self->window);
    uint64_t tag = self->published + 1;
    char stamp[64];
    int length = snprintf(stamp, sizeof stamp,
                          "{\"sentUs\":%020" PRId64 ",\"index\":%012" PRIu64 ",\"pad\":\"",
                          bench_realtime_us(), (uint64_t) (tag % 1000000000000ULL));
    assert(length > 0 && (size_t) length < self->size - 2);
    memcpy(self->body, stamp, (size_t) length);
    char message_id[40];
    (void) snprintf(message_id, sizeof message_id, "00000000-0000-7000-8000-%012" PRIx64,
                    (uint64_t) (tag & 0xffffffffffffULL));
    amqp_basic_properties_t properties = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                  AMQP_BASIC_MESSAGE_ID_FLAG,
        .content_type = amqp_cstring_bytes("application/vnd.masstransit+json"),
        .delivery_mode = AMQP_DELIVERY_PERSISTENT,
        .message_id = amqp_cstring_bytes(message_id)};
    amqp_bytes_t body = {.len = self->size, .bytes = self->body};
    int rc = amqp_basic_publish(self->conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(self->exchange),
                                amqp_empty_bytes, 0, 0, &properties, body);
    if (rc != AMQP_STATUS_OK) {
        (void) fprintf(stderr, "bench_amqp: basic.publish: %s\n", amqp_error_string2(rc));
        return -1;
    }
    self->published = tag;
    return 0;
}

//  A basic.ack: mark the tags, move `confirmed` over every acked one.
static void
s_publisher_ack_tags(bench_publisher_t *self, uint64_t tag, bool multiple)
{
    if (tag <= self->confirmed || tag > self->published) {
        return;
    }
    uint64_t from = multiple ? self->confirmed + 1 : tag;
    for (uint64_t at = from; at <= tag; at++) {
        self->acked[at % (uint64_t) self->window] = true;
    }
    while (self->confirmed < self->published &&
           self->acked[(self->confirmed + 1) % (uint64_t) self->window]) {
        self->acked[(self->confirmed + 1) % (uint64_t) self->window] = false;
        self->confirmed++;
    }
}

//  Read one frame, waiting at most `timeout_us` (then also every frame
//  already buffered). Returns 1 if frames were read, 0 on timeout, -1 on
//  an error or a nack.
int
bench_publisher_read(bench_publisher_t *self, int64_t timeout_us)
{
    assert(self);
    assert(timeout_us >= 0);
    int read = 0;
    do {
        struct timeval timeout = {read ? 0 : timeout_us / 1000000, read ? 0 : timeout_us % 1000000};
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(self->conn, &frame, &timeout);
        if (rc == AMQP_STATUS_TIMEOUT) {
            break;
        }
        if (rc != AMQP_STATUS_OK) {
            (void) fprintf(stderr, "bench_amqp: reading confirms: %s\n", amqp_error_string2(rc));
            return -1;
        }
        read = 1;
        if (frame.frame_type != AMQP_FRAME_METHOD) {
            continue;
        }
        if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            s_publisher_ack_tags(self, ack->delivery_tag, ack->multiple);
        } else {
            (void) fprintf(stderr, "bench_amqp: publisher got method 0x%08x (a nack or a close)\n",
                           frame.payload.method.id);
            return -1;
        }
    } while (amqp_frames_enqueued(self->conn) || amqp_data_in_buffer(self->conn));
    amqp_maybe_release_buffers(self->conn);
    return read;
}

//  Wait until every message published is confirmed. Returns 0 or -1.
int
bench_publisher_settle(bench_publisher_t *self, int timeout_s)
{
    assert(self);
    int64_t deadline_ns = bench_now_ns() + (int64_t) timeout_s * 1000000000;
    while (bench_publisher_in_flight(self) > 0) {
        if (bench_now_ns() >= deadline_ns || bench_publisher_read(self, 1000000) < 0) {
            return -1;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Clean-up

void
bench_amqp_delete(const char *url, const char *exchange, const char *const *queues)
{
    assert(url);
    assert(exchange);
    assert(queues);
    amqp_connection_state_t conn = s_amqp_connect(url);
    if (!conn) {
        return;
    }
    for (const char *const *queue = queues; *queue; queue++) {
        amqp_queue_delete(conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(*queue), 0, 0);
        (void) s_reply_ok(amqp_get_rpc_reply(conn), "queue.delete");
    }
    amqp_exchange_delete(conn, BENCH_AMQP_CHANNEL, amqp_cstring_bytes(exchange), 0);
    (void) s_reply_ok(amqp_get_rpc_reply(conn), "exchange.delete");
    s_amqp_close(&conn);
}
