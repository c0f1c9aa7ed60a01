/*  =========================================================================
    shim_amqp - one AMQP 0-9-1 connection to RabbitMQ, for an actor's loop

    librabbitmq decodes a frame into its per-channel memory pools, which it
    recycles; frames that arrive while it waits for an RPC's reply (or while
    a send would block) are queued in those pools too. So everything we
    hand out is copied first (a delivery owns a pool of its own), and pools
    are only recycled per channel, by the call that checks that no queued
    frame of that channel still lives there.

    A delivery is three kinds of frames in a row on its channel:
    basic.deliver, a content header (properties, body size), then body
    frames until the size is reached. shim_amqp_next reads them one by one
    without blocking and keeps the partial delivery between calls.
    basic.return is read the same way and dropped (we never publish
    mandatory messages, so none should come).
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_amqp.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <ctype.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

//  AMQP's reply code of a normal close.
#define S_REPLY_SUCCESS 200

//  The one channel of every connection.
#define S_CHANNEL 1

//  A delivery pool's page size.
#define S_POOL_PAGE 4096

struct shim_amqp_delivery {
    amqp_pool_t pool;                             //  properties and strings (owned)
    amqp_basic_properties_t properties;           //  a deep copy in `pool`
    uint64_t tag;                                 //  delivery tag
    bool redelivered;                             //  delivered before
    uint64_t body_size;                           //  size announced by the content header
    size_t received;                              //  body bytes read so far
    char *body;                                   //  body_size bytes and a NUL (owned), or NULL
    bool truncated;                               //  body over SHIM_AMQP_BODY_MAX: not kept
    shim_header_t headers[SHIM_AMQP_HEADERS_MAX]; //  string headers (strings in `pool`)
    shim_delivery_t view;                         //  what decoders read
};

typedef enum {
    S_CONTENT_NONE = 0, //  between messages
    S_CONTENT_HEADER,   //  a deliver or return was read: its content header is next
    S_CONTENT_BODY      //  body frames are next
} s_content_t;

struct shim_amqp {
    amqp_connection_state_t conn;  //  the connection (owned)
    bool failed;                   //  a call failed: no more calls
    bool confirms;                 //  publisher confirms are on
    uint64_t published;            //  tags given out so far
    s_content_t content;           //  where in a message's frames we are
    uint64_t remaining;            //  body bytes still to come
    shim_amqp_delivery_t *partial; //  the delivery being read (owned), or NULL while
                                   //  reading a returned message to drop it
};

//  --------------------------------------------------------------------------
//  Mark the connection failed and say why. Returns -1.

static int
s_fail(shim_amqp_t *self, char **error_out, const char *what, const char *why)
{
    self->failed = true;
    svc_error_set(error_out, "%s: %s", what, why);
    return -1;
}

//  --------------------------------------------------------------------------
//  A close method's code and text, "320 CONNECTION_FORCED - ...".

static void
s_close_text(char *buffer, size_t size, uint16_t code, amqp_bytes_t text)
{
    int length = text.len > 200 ? 200 : (int) text.len;
    (void) snprintf(buffer, size, "%u %.*s", code, length, (const char *) text.bytes);
}

//  --------------------------------------------------------------------------
//  Check the outcome of the last RPC. Returns 0, or -1 (failed).

static int
s_rpc_check(shim_amqp_t *self, amqp_rpc_reply_t reply, const char *what, char **error_out)
{
    char text[320] = "no reply";
    switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return 0;
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            (void) snprintf(text, sizeof text, "%s", amqp_error_string2(reply.library_error));
            break;
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                amqp_connection_close_t *close = reply.reply.decoded;
                char detail[224];
                s_close_text(detail, sizeof detail, close->reply_code, close->reply_text);
                (void) snprintf(text, sizeof text, "connection closed by the broker: %s", detail);
            } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                amqp_channel_close_t *close = reply.reply.decoded;
                char detail[224];
                s_close_text(detail, sizeof detail, close->reply_code, close->reply_text);
                (void) snprintf(text, sizeof text, "channel closed by the broker: %s", detail);
            } else {
                (void) snprintf(text, sizeof text, "unexpected method 0x%08x", reply.reply.id);
            }
            break;
        default:
            break;
    }
    return s_fail(self, error_out, what, text);
}

//  --------------------------------------------------------------------------
//  A name for the broker (a queue, exchange or routing key): bounded, no NUL.

static bool
s_name_valid(const char *name)
{
    return name && strlen(name) <= SHIM_AMQP_NAME_MAX;
}

//  --------------------------------------------------------------------------
//  Parse `url` into `info` (pointing into `copy`, which the caller frees).
//  Returns 0, or -1 with a reason.

static int
s_url_parse(const char *url, char **copy_out, struct amqp_connection_info *info, char **error_out)
{
    *copy_out = NULL;
    if (!url || strlen(url) > SHIM_AMQP_URL_MAX) {
        svc_error_set(error_out, "not an AMQP URL (missing or over %d bytes)", SHIM_AMQP_URL_MAX);
        return -1;
    }
    char *copy = strdup(url);
    amqp_default_connection_info(info);
    if (amqp_parse_url(copy, info) != AMQP_STATUS_OK) {
        freen(copy);
        svc_error_set(error_out, "not an AMQP URL (amqp://user:password@host:port/vhost)");
        return -1;
    }
    if (info->ssl) {
        freen(copy);
        svc_error_set(error_out, "amqps:// (TLS) is not supported; use amqp://");
        return -1;
    }
    if (!*info->host || info->port <= 0 || info->port > 65535) {
        freen(copy);
        svc_error_set(error_out, "the URL has no host or a bad port");
        return -1;
    }
    *copy_out = copy;
    return 0;
}

//  --------------------------------------------------------------------------

int
shim_amqp_url_check(const char *url, char **error_out)
{
    char *copy = NULL;
    struct amqp_connection_info info;
    int rc = s_url_parse(url, &copy, &info, error_out);
    freen(copy);
    return rc;
}

//  --------------------------------------------------------------------------
//  MassTransit's broker address.

char *
shim_amqp_broker_address(const char *url)
{
    char *copy = NULL;
    struct amqp_connection_info info;
    int rc = s_url_parse(url, &copy, &info, NULL);
    assert(rc == 0);
    char port[16] = "";
    if (info.port != 5672) {
        (void) snprintf(port, sizeof port, ":%d", info.port);
    }
    //  The vhost as a path segment: unreserved bytes as they are, the rest
    //  percent-encoded (a vhost may hold '/').
    char *vhost = zmalloc(strlen(info.vhost) * 3 + 2);
    size_t used = 0;
    if (!streq(info.vhost, "/") && *info.vhost) {
        vhost[used++] = '/';
        for (const unsigned char *byte = (const unsigned char *) info.vhost; *byte; byte++) {
            if (isalnum(*byte) || strchr("-._~", *byte)) {
                vhost[used++] = (char) *byte;
            } else {
                used += (size_t) sprintf(vhost + used, "%%%02X", *byte);
            }
        }
    }
    vhost[used] = '\0';
    char *address = zsys_sprintf("rabbitmq://%s%s%s", info.host, port, vhost);
    freen(vhost);
    freen(copy);
    return address;
}

//  --------------------------------------------------------------------------
//  Connect, log in, open the channel, set it up.

static int
s_self_open(shim_amqp_t *self,
            const shim_amqp_config_t *config,
            struct amqp_connection_info *info,
            char **error_out)
{
    int timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : SHIM_AMQP_TIMEOUT_MS_DEFAULT;
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    amqp_socket_t *socket = amqp_tcp_socket_new(self->conn);
    if (!socket) {
        return s_fail(self, error_out, "connect", "cannot create a socket");
    }
    int status = amqp_socket_open_noblock(socket, info->host, info->port, &timeout);
    if (status != AMQP_STATUS_OK) {
        return s_fail(self, error_out, "connect", amqp_error_string2(status));
    }
    (void) amqp_set_handshake_timeout(self->conn, &timeout);
    (void) amqp_set_rpc_timeout(self->conn, &timeout);
    amqp_table_entry_t property = {.key = amqp_cstring_bytes("connection_name"),
                                   .value = {.kind = AMQP_FIELD_KIND_UTF8}};
    property.value.value.bytes = amqp_cstring_bytes(config->name ? config->name : "broker-shim");
    amqp_table_t properties = {.num_entries = 1, .entries = &property};
    int heartbeat = config->heartbeat_s == 0  ? SHIM_AMQP_HEARTBEAT_S_DEFAULT
                    : config->heartbeat_s < 0 ? 0
                                              : config->heartbeat_s;
    amqp_rpc_reply_t reply =
        amqp_login_with_properties(self->conn, info->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat,
                                   &properties, AMQP_SASL_METHOD_PLAIN, info->user, info->password);
    if (s_rpc_check(self, reply, "login", error_out) != 0) {
        return -1;
    }
    amqp_channel_open(self->conn, S_CHANNEL);
    if (s_rpc_check(self, amqp_get_rpc_reply(self->conn), "channel.open", error_out) != 0) {
        return -1;
    }
    if (config->prefetch > 0) {
        uint16_t prefetch =
            config->prefetch > UINT16_MAX ? UINT16_MAX : (uint16_t) config->prefetch;
        amqp_basic_qos(self->conn, S_CHANNEL, 0, prefetch, 0);
        if (s_rpc_check(self, amqp_get_rpc_reply(self->conn), "basic.qos", error_out) != 0) {
            return -1;
        }
    }
    if (config->confirms) {
        amqp_confirm_select(self->conn, S_CHANNEL);
        if (s_rpc_check(self, amqp_get_rpc_reply(self->conn), "confirm.select", error_out) != 0) {
            return -1;
        }
        self->confirms = true;
    }
    return 0;
}

//  --------------------------------------------------------------------------

shim_amqp_t *
shim_amqp_new(const shim_amqp_config_t *config, char **error_out)
{
    assert(config);
    assert(error_out);
    char *copy = NULL;
    struct amqp_connection_info info;
    if (s_url_parse(config->url, &copy, &info, error_out) != 0) {
        return NULL;
    }
    shim_amqp_t *self = zmalloc(sizeof *self);
    self->conn = amqp_new_connection();
    int rc = s_self_open(self, config, &info, error_out);
    freen(copy);
    if (rc != 0) {
        shim_amqp_destroy(&self);
    }
    return self;
}

//  --------------------------------------------------------------------------

void
shim_amqp_destroy(shim_amqp_t **self_p)
{
    assert(self_p);
    shim_amqp_t *self = *self_p;
    if (!self) {
        return;
    }
    if (!self->failed && amqp_get_sockfd(self->conn) >= 0) {
        (void) amqp_channel_close(self->conn, S_CHANNEL, S_REPLY_SUCCESS);
        (void) amqp_connection_close(self->conn, S_REPLY_SUCCESS);
    }
    (void) amqp_destroy_connection(self->conn);
    shim_amqp_delivery_destroy(&self->partial);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

int
shim_amqp_fd(const shim_amqp_t *self)
{
    assert(self);
    return amqp_get_sockfd(self->conn);
}

static void
s_self_set_cork(shim_amqp_t *self, int on)
{
    //  Best effort: without it, each publish is sent on its own.
    (void) setsockopt(amqp_get_sockfd(self->conn), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

void
shim_amqp_cork(shim_amqp_t *self)
{
    assert(self);
    s_self_set_cork(self, 1);
}

void
shim_amqp_uncork(shim_amqp_t *self)
{
    assert(self);
    s_self_set_cork(self, 0);
}

bool
shim_amqp_failed(const shim_amqp_t *self)
{
    assert(self);
    return self->failed;
}

//  --------------------------------------------------------------------------
//  Refuse calls on a failed connection, and bad names. Returns 0 or -1.

static int
s_self_usable(shim_amqp_t *self, const char *what, const char *name, char **error_out)
{
    if (self->failed) {
        svc_error_set(error_out, "%s: the connection failed earlier", what);
        return -1;
    }
    if (!s_name_valid(name)) {
        svc_error_set(error_out, "%s: name missing or over %d bytes", what, SHIM_AMQP_NAME_MAX);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The RPCs.

int
shim_amqp_exchange_declare(shim_amqp_t *self,
                           const char *exchange,
                           const char *type,
                           char **error_out)
{
    assert(self);
    assert(type);
    if (s_self_usable(self, "exchange.declare", exchange, error_out) != 0) {
        return -1;
    }
    amqp_exchange_declare(self->conn, S_CHANNEL, amqp_cstring_bytes(exchange),
                          amqp_cstring_bytes(type), 0, 1, 0, 0, amqp_empty_table);
    return s_rpc_check(self, amqp_get_rpc_reply(self->conn), "exchange.declare", error_out);
}

int
shim_amqp_queue_declare(shim_amqp_t *self, const char *queue, char **error_out)
{
    assert(self);
    if (s_self_usable(self, "queue.declare", queue, error_out) != 0) {
        return -1;
    }
    amqp_queue_declare(self->conn, S_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0,
                       amqp_empty_table);
    return s_rpc_check(self, amqp_get_rpc_reply(self->conn), "queue.declare", error_out);
}

int
shim_amqp_queue_bind(shim_amqp_t *self,
                     const char *queue,
                     const char *exchange,
                     const char *routing_key,
                     char **error_out)
{
    assert(self);
    if (s_self_usable(self, "queue.bind", queue, error_out) != 0 ||
        s_self_usable(self, "queue.bind", exchange, error_out) != 0 ||
        s_self_usable(self, "queue.bind", routing_key, error_out) != 0) {
        return -1;
    }
    amqp_queue_bind(self->conn, S_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(routing_key), amqp_empty_table);
    return s_rpc_check(self, amqp_get_rpc_reply(self->conn), "queue.bind", error_out);
}

int
shim_amqp_queue_unbind(shim_amqp_t *self,
                       const char *queue,
                       const char *exchange,
                       const char *routing_key,
                       char **error_out)
{
    assert(self);
    if (s_self_usable(self, "queue.unbind", queue, error_out) != 0 ||
        s_self_usable(self, "queue.unbind", exchange, error_out) != 0 ||
        s_self_usable(self, "queue.unbind", routing_key, error_out) != 0) {
        return -1;
    }
    amqp_queue_unbind(self->conn, S_CHANNEL, amqp_cstring_bytes(queue),
                      amqp_cstring_bytes(exchange), amqp_cstring_bytes(routing_key),
                      amqp_empty_table);
    return s_rpc_check(self, amqp_get_rpc_reply(self->conn), "queue.unbind", error_out);
}

int
shim_amqp_consume(shim_amqp_t *self, const char *queue, char **error_out)
{
    assert(self);
    if (s_self_usable(self, "basic.consume", queue, error_out) != 0) {
        return -1;
    }
    amqp_basic_consume(self->conn, S_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return s_rpc_check(self, amqp_get_rpc_reply(self->conn), "basic.consume", error_out);
}

//  --------------------------------------------------------------------------
//  Send a basic.publish with its content. Returns 0 or -1 (failed).

static int
s_self_publish(shim_amqp_t *self,
               const char *exchange,
               const char *routing_key,
               const amqp_basic_properties_t *properties,
               amqp_bytes_t body,
               uint64_t *tag_out,
               char **error_out)
{
    int status = amqp_basic_publish(self->conn, S_CHANNEL, amqp_cstring_bytes(exchange),
                                    amqp_cstring_bytes(routing_key), 0, 0, properties, body);
    if (status != AMQP_STATUS_OK) {
        return s_fail(self, error_out, "basic.publish", amqp_error_string2(status));
    }
    *tag_out = self->confirms ? ++self->published : 0;
    return 0;
}

//  --------------------------------------------------------------------------

int
shim_amqp_publish(shim_amqp_t *self,
                  const shim_message_t *message,
                  uint64_t *tag_out,
                  char **error_out)
{
    assert(self);
    assert(message);
    assert(tag_out);
    if (s_self_usable(self, "basic.publish", shim_message_exchange(message), error_out) != 0 ||
        s_self_usable(self, "basic.publish", shim_message_routing_key(message), error_out) != 0) {
        return -1;
    }
    amqp_basic_properties_t properties = {
        ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG, .delivery_mode = 2};
    const char *content_type = shim_message_content_type(message);
    if (content_type) {
        properties._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        properties.content_type = amqp_cstring_bytes(content_type);
    }
    const char *message_id = shim_message_message_id(message);
    if (message_id) {
        properties._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        properties.message_id = amqp_cstring_bytes(message_id);
    }
    const char *correlation_id = shim_message_correlation_id(message);
    if (correlation_id) {
        properties._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        properties.correlation_id = amqp_cstring_bytes(correlation_id);
    }
    amqp_table_entry_t entries[SHIM_HEADERS_MAX];
    size_t count = shim_message_header_count(message);
    assert(count <= SHIM_HEADERS_MAX);
    for (size_t index = 0; index < count; index++) {
        entries[index].key = amqp_cstring_bytes(shim_message_header_name(message, index));
        entries[index].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[index].value.value.bytes =
            amqp_cstring_bytes(shim_message_header_value(message, index));
    }
    properties.headers = (amqp_table_t){.num_entries = (int) count, .entries = entries};
    amqp_bytes_t body = {shim_message_body_size(message), (void *) shim_message_body(message)};
    return s_self_publish(self, shim_message_exchange(message), shim_message_routing_key(message),
                          &properties, body, tag_out, error_out);
}

//  --------------------------------------------------------------------------

int
shim_amqp_dead_letter(shim_amqp_t *self,
                      const char *exchange,
                      const shim_amqp_delivery_t *delivery,
                      const shim_header_t *extra,
                      size_t extra_count,
                      uint64_t *tag_out,
                      char **error_out)
{
    assert(self);
    assert(delivery);
    assert(extra || extra_count == 0);
    assert(tag_out);
    if (s_self_usable(self, "basic.publish", exchange, error_out) != 0) {
        return -1;
    }
    amqp_basic_properties_t properties = delivery->properties;
    properties._flags &= ~(amqp_flags_t) (AMQP_BASIC_EXPIRATION_FLAG | AMQP_BASIC_USER_ID_FLAG);
    const amqp_table_t *original = &delivery->properties.headers;
    int original_count =
        (delivery->properties._flags & AMQP_BASIC_HEADERS_FLAG) ? original->num_entries : 0;
    amqp_table_entry_t *entries =
        zmalloc(((size_t) original_count + extra_count + 1) * sizeof *entries);
    int count = 0;
    for (int index = 0; index < original_count; index++) {
        amqp_bytes_t key = original->entries[index].key;
        bool replaced = false;
        for (size_t added = 0; added < extra_count && !replaced; added++) {
            replaced = key.len == strlen(extra[added].name) &&
                       memcmp(key.bytes, extra[added].name, key.len) == 0;
        }
        if (!replaced) {
            entries[count++] = original->entries[index];
        }
    }
    for (size_t added = 0; added < extra_count; added++) {
        entries[count].key = amqp_cstring_bytes(extra[added].name);
        entries[count].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[count].value.value.bytes = amqp_cstring_bytes(extra[added].value);
        count++;
    }
    properties._flags |= AMQP_BASIC_HEADERS_FLAG;
    properties.headers = (amqp_table_t){.num_entries = count, .entries = entries};
    amqp_bytes_t body = {delivery->body ? delivery->body_size : 0, delivery->body};
    int rc = s_self_publish(self, exchange, "", &properties, body, tag_out, error_out);
    freen(entries);
    return rc;
}

//  --------------------------------------------------------------------------

int
shim_amqp_ack(shim_amqp_t *self, uint64_t delivery_tag, char **error_out)
{
    assert(self);
    if (self->failed) {
        svc_error_set(error_out, "basic.ack: the connection failed earlier");
        return -1;
    }
    int status = amqp_basic_ack(self->conn, S_CHANNEL, delivery_tag, 0);
    if (status != AMQP_STATUS_OK) {
        return s_fail(self, error_out, "basic.ack", amqp_error_string2(status));
    }
    return 0;
}

int
shim_amqp_reject(shim_amqp_t *self, uint64_t delivery_tag, bool requeue, char **error_out)
{
    assert(self);
    if (self->failed) {
        svc_error_set(error_out, "basic.reject: the connection failed earlier");
        return -1;
    }
    int status = amqp_basic_reject(self->conn, S_CHANNEL, delivery_tag, requeue);
    if (status != AMQP_STATUS_OK) {
        return s_fail(self, error_out, "basic.reject", amqp_error_string2(status));
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Copies into a delivery's pool.

static amqp_bytes_t
s_pool_bytes(amqp_pool_t *pool, amqp_bytes_t source)
{
    amqp_bytes_t copy = {0, NULL};
    if (source.len > 0) {
        copy.bytes = amqp_pool_alloc(pool, source.len);
        assert(copy.bytes);
        memcpy(copy.bytes, source.bytes, source.len);
        copy.len = source.len;
    }
    return copy;
}

//  A NUL-terminated copy of `source`, or NULL if it holds a NUL byte.
static char *
s_pool_string(amqp_pool_t *pool, amqp_bytes_t source)
{
    if (source.len > 0 && memchr(source.bytes, '\0', source.len)) {
        return NULL;
    }
    char *text = amqp_pool_alloc(pool, source.len + 1);
    assert(text);
    if (source.len > 0) {
        memcpy(text, source.bytes, source.len);
    }
    text[source.len] = '\0';
    return text;
}

//  A delivery's copy of the properties, and the view's strings from them.
static void
s_delivery_take_properties(shim_amqp_delivery_t *self, const amqp_basic_properties_t *source)
{
    amqp_pool_t *pool = &self->pool;
    amqp_basic_properties_t *copy = &self->properties;
    //  Only the fields whose flag is set were decoded; the rest hold junk.
    amqp_flags_t flags = source->_flags;
    *copy = (amqp_basic_properties_t){._flags = flags,
                                      .headers = amqp_empty_table,
                                      .delivery_mode = source->delivery_mode,
                                      .priority = source->priority,
                                      .timestamp = source->timestamp};
    if (!(flags & AMQP_BASIC_DELIVERY_MODE_FLAG)) {
        copy->delivery_mode = 0;
    }
    if (!(flags & AMQP_BASIC_PRIORITY_FLAG)) {
        copy->priority = 0;
    }
    if (!(flags & AMQP_BASIC_TIMESTAMP_FLAG)) {
        copy->timestamp = 0;
    }
    const struct {
        amqp_flags_t flag;          //  the field's flag
        const amqp_bytes_t *source; //  its value in the frame
        amqp_bytes_t *copy;         //  our copy
    } fields[] = {
        {AMQP_BASIC_CONTENT_TYPE_FLAG, &source->content_type, &copy->content_type},
        {AMQP_BASIC_CONTENT_ENCODING_FLAG, &source->content_encoding, &copy->content_encoding},
        {AMQP_BASIC_CORRELATION_ID_FLAG, &source->correlation_id, &copy->correlation_id},
        {AMQP_BASIC_REPLY_TO_FLAG, &source->reply_to, &copy->reply_to},
        {AMQP_BASIC_EXPIRATION_FLAG, &source->expiration, &copy->expiration},
        {AMQP_BASIC_MESSAGE_ID_FLAG, &source->message_id, &copy->message_id},
        {AMQP_BASIC_TYPE_FLAG, &source->type, &copy->type},
        {AMQP_BASIC_USER_ID_FLAG, &source->user_id, &copy->user_id},
        {AMQP_BASIC_APP_ID_FLAG, &source->app_id, &copy->app_id},
        {AMQP_BASIC_CLUSTER_ID_FLAG, &source->cluster_id, &copy->cluster_id}};
    for (size_t index = 0; index < sizeof fields / sizeof fields[0]; index++) {
        if (flags & fields[index].flag) {
            *fields[index].copy = s_pool_bytes(pool, *fields[index].source);
        }
    }
    if ((source->_flags & AMQP_BASIC_HEADERS_FLAG) &&
        amqp_table_clone(&source->headers, &copy->headers, pool) != AMQP_STATUS_OK) {
        copy->_flags &= ~(amqp_flags_t) AMQP_BASIC_HEADERS_FLAG;
        copy->headers = amqp_empty_table;
    }
    shim_delivery_t *view = &self->view;
    if (copy->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG) {
        view->content_type = s_pool_string(pool, copy->content_type);
    }
    if (copy->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        view->message_id = s_pool_string(pool, copy->message_id);
    }
    if (copy->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
        view->correlation_id = s_pool_string(pool, copy->correlation_id);
    }
    //  String headers: longstr, or bytes read as UTF-8 (as MassTransit does).
    size_t count = 0;
    for (int index = 0; index < copy->headers.num_entries && count < SHIM_AMQP_HEADERS_MAX;
         index++) {
        const amqp_table_entry_t *entry = &copy->headers.entries[index];
        if (entry->value.kind != AMQP_FIELD_KIND_UTF8 &&
            entry->value.kind != AMQP_FIELD_KIND_BYTES) {
            continue;
        }
        const char *name = s_pool_string(pool, entry->key);
        const char *value = s_pool_string(pool, entry->value.value.bytes);
        if (name && value) {
            self->headers[count++] = (shim_header_t){name, value};
        }
    }
    view->headers = self->headers;
    view->header_count = count;
}

//  --------------------------------------------------------------------------
//  A delivery: from basic.deliver.

static shim_amqp_delivery_t *
s_delivery_new(const amqp_basic_deliver_t *deliver)
{
    shim_amqp_delivery_t *self = zmalloc(sizeof *self);
    init_amqp_pool(&self->pool, S_POOL_PAGE);
    self->tag = deliver->delivery_tag;
    self->redelivered = deliver->redelivered != 0;
    self->view.exchange = s_pool_string(&self->pool, deliver->exchange);
    self->view.routing_key = s_pool_string(&self->pool, deliver->routing_key);
    return self;
}

void
shim_amqp_delivery_destroy(shim_amqp_delivery_t **self_p)
{
    assert(self_p);
    shim_amqp_delivery_t *self = *self_p;
    if (!self) {
        return;
    }
    freen(self->body);
    empty_amqp_pool(&self->pool);
    freen(self);
    *self_p = NULL;
}

const shim_delivery_t *
shim_amqp_delivery_view(const shim_amqp_delivery_t *self)
{
    assert(self);
    return &self->view;
}

uint64_t
shim_amqp_delivery_tag(const shim_amqp_delivery_t *self)
{
    assert(self);
    return self->tag;
}

bool
shim_amqp_delivery_redelivered(const shim_amqp_delivery_t *self)
{
    assert(self);
    return self->redelivered;
}

bool
shim_amqp_delivery_truncated(const shim_amqp_delivery_t *self)
{
    assert(self);
    return self->truncated;
}

uint64_t
shim_amqp_delivery_size(const shim_amqp_delivery_t *self)
{
    assert(self);
    return self->body_size;
}

//  --------------------------------------------------------------------------
//  The message whose frames we were reading is complete: hand out a
//  delivery (SHIM_AMQP_DELIVERY) or drop a returned message (NOTHING).

static shim_amqp_event_type_t
s_self_content_done(shim_amqp_t *self, shim_amqp_event_t *event)
{
    self->content = S_CONTENT_NONE;
    shim_amqp_delivery_t *delivery = self->partial;
    self->partial = NULL;
    if (!delivery) {
        return SHIM_AMQP_NOTHING;
    }
    delivery->view.body = delivery->body ? delivery->body : "";
    delivery->view.body_size = delivery->body ? delivery->body_size : 0;
    event->type = SHIM_AMQP_DELIVERY;
    event->delivery = delivery;
    return SHIM_AMQP_DELIVERY;
}

//  --------------------------------------------------------------------------
//  A method frame.

static shim_amqp_event_type_t
s_self_take_method(shim_amqp_t *self,
                   const amqp_frame_t *frame,
                   shim_amqp_event_t *event,
                   char **error_out)
{
    amqp_method_number_t id = frame->payload.method.id;
    void *decoded = frame->payload.method.decoded;
    char text[256];
    if ((id == AMQP_BASIC_DELIVER_METHOD || id == AMQP_BASIC_RETURN_METHOD) &&
        self->content != S_CONTENT_NONE) {
        s_fail(self, error_out, "read", "a message began inside another");
        return SHIM_AMQP_FAILED;
    }
    switch (id) {
        case AMQP_BASIC_DELIVER_METHOD:
            self->partial = s_delivery_new(decoded);
            self->content = S_CONTENT_HEADER;
            return SHIM_AMQP_NOTHING;
        case AMQP_BASIC_RETURN_METHOD:
            self->content = S_CONTENT_HEADER;
            return SHIM_AMQP_NOTHING;
        case AMQP_BASIC_ACK_METHOD: {
            const amqp_basic_ack_t *ack = decoded;
            *event = (shim_amqp_event_t){SHIM_AMQP_CONFIRM, ack->delivery_tag, ack->multiple != 0,
                                         true, NULL};
            return SHIM_AMQP_CONFIRM;
        }
        case AMQP_BASIC_NACK_METHOD: {
            const amqp_basic_nack_t *nack = decoded;
            *event = (shim_amqp_event_t){SHIM_AMQP_CONFIRM, nack->delivery_tag, nack->multiple != 0,
                                         false, NULL};
            return SHIM_AMQP_CONFIRM;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            const amqp_channel_close_t *close = decoded;
            s_close_text(text, sizeof text, close->reply_code, close->reply_text);
            s_fail(self, error_out, "channel closed by the broker", text);
            return SHIM_AMQP_FAILED;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            const amqp_connection_close_t *close = decoded;
            s_close_text(text, sizeof text, close->reply_code, close->reply_text);
            amqp_connection_close_ok_t ok = {0};
            (void) amqp_send_method(self->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
            s_fail(self, error_out, "connection closed by the broker", text);
            return SHIM_AMQP_FAILED;
        }
        case AMQP_BASIC_CANCEL_METHOD:
            s_fail(self, error_out, "basic.cancel", "the broker cancelled our consumer");
            return SHIM_AMQP_FAILED;
        default:
            //  connection.blocked/unblocked and the like: nothing to do.
            return SHIM_AMQP_NOTHING;
    }
}

//  --------------------------------------------------------------------------
//  A content header frame.

static shim_amqp_event_type_t
s_self_take_header(shim_amqp_t *self,
                   const amqp_frame_t *frame,
                   shim_amqp_event_t *event,
                   char **error_out)
{
    if (self->content != S_CONTENT_HEADER) {
        s_fail(self, error_out, "read", "a content header outside a message");
        return SHIM_AMQP_FAILED;
    }
    uint64_t size = frame->payload.properties.body_size;
    shim_amqp_delivery_t *delivery = self->partial;
    if (delivery) {
        s_delivery_take_properties(delivery, frame->payload.properties.decoded);
        delivery->body_size = size;
        if (size > SHIM_AMQP_BODY_MAX) {
            delivery->truncated = true;
        } else {
            delivery->body = zmalloc((size_t) size + 1);
        }
    }
    self->remaining = size;
    self->content = S_CONTENT_BODY;
    return size == 0 ? s_self_content_done(self, event) : SHIM_AMQP_NOTHING;
}

//  --------------------------------------------------------------------------
//  A body frame.

static shim_amqp_event_type_t
s_self_take_body(shim_amqp_t *self,
                 const amqp_frame_t *frame,
                 shim_amqp_event_t *event,
                 char **error_out)
{
    amqp_bytes_t fragment = frame->payload.body_fragment;
    if (self->content != S_CONTENT_BODY || fragment.len > self->remaining) {
        s_fail(self, error_out, "read", "a body frame outside a message or beyond its size");
        return SHIM_AMQP_FAILED;
    }
    shim_amqp_delivery_t *delivery = self->partial;
    if (delivery && delivery->body) {
        memcpy(delivery->body + delivery->received, fragment.bytes, fragment.len);
    }
    if (delivery) {
        delivery->received += fragment.len;
    }
    self->remaining -= fragment.len;
    return self->remaining == 0 ? s_self_content_done(self, event) : SHIM_AMQP_NOTHING;
}

//  --------------------------------------------------------------------------

shim_amqp_event_type_t
shim_amqp_next(shim_amqp_t *self, shim_amqp_event_t *event, char **error_out)
{
    assert(self);
    assert(event);
    *event = (shim_amqp_event_t){.type = SHIM_AMQP_NOTHING};
    while (!self->failed) {
        //  What we took from earlier frames is copied: their memory can go,
        //  unless a queued frame of the channel still lives in it.
        amqp_maybe_release_buffers_on_channel(self->conn, 0);
        amqp_maybe_release_buffers_on_channel(self->conn, S_CHANNEL);
        amqp_frame_t frame;
        struct timeval zero = {0, 0};
        int status = amqp_simple_wait_frame_noblock(self->conn, &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) {
            return SHIM_AMQP_NOTHING;
        }
        if (status != AMQP_STATUS_OK) {
            s_fail(self, error_out, "read", amqp_error_string2(status));
            break;
        }
        shim_amqp_event_type_t type = SHIM_AMQP_NOTHING;
        if (frame.frame_type == AMQP_FRAME_METHOD) {
            type = s_self_take_method(self, &frame, event, error_out);
        } else if (frame.frame_type == AMQP_FRAME_HEADER) {
            type = s_self_take_header(self, &frame, event, error_out);
        } else if (frame.frame_type == AMQP_FRAME_BODY) {
            type = s_self_take_body(self, &frame, event, error_out);
        }
        if (type != SHIM_AMQP_NOTHING) {
            event->type = type;
            return type;
        }
    }
    if (error_out && !*error_out) {
        svc_error_set(error_out, "read: the connection failed earlier");
    }
    event->type = SHIM_AMQP_FAILED;
    return SHIM_AMQP_FAILED;
}
