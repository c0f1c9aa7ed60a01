/*  =========================================================================
    shim_amqp - one AMQP 0-9-1 connection to RabbitMQ, for an actor's loop

    The only file of the shim that includes amqp.h (librabbitmq). A
    shim_amqp_t is one connection with one channel, owned by one actor:
    the relay publishes on it with publisher confirms, the consumer
    consumes from it (and publishes its dead letters). Everything the
    broker sends arrives through shim_amqp_next, which never blocks: the
    actor polls shim_amqp_fd and, whenever it was readable or any call was
    made (librabbitmq buffers frames it read while waiting for an RPC's
    reply, or while a send would have blocked), calls shim_amqp_next until
    it answers SHIM_AMQP_NOTHING (STYLE rule 9). Deliveries are assembled
    frame by frame and copied out of librabbitmq's buffers, so they live as
    long as the caller keeps them.

    Declarations are MassTransit's (INTEROP.md 1.2 and 1.3): exchanges
    durable, not auto-delete, not internal, no arguments; queues durable,
    not exclusive, not auto-delete, no arguments. Connecting and each RPC
    are bounded by the configured timeout; a call that fails leaves the
    connection failed (every later call fails too): destroy it and connect
    again with backoff.

        shim_amqp_config_t config = {.url = url, .name = "broker-shim relay",
                                     .confirms = true};
        char *error = NULL;
        shim_amqp_t *amqp = shim_amqp_new(&config, &error);
        shim_amqp_exchange_declare(amqp, "Contracts:OrderCreatedEvent", "fanout", &error);
        uint64_t tag = 0;
        shim_amqp_publish(amqp, message, &tag, &error);
        shim_amqp_event_t event;
        while (shim_amqp_next(amqp, &event, &error) != SHIM_AMQP_NOTHING) ...
        shim_amqp_destroy(&amqp);
    =========================================================================
*/
#ifndef SHIM_AMQP_H_INCLUDED
#define SHIM_AMQP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim_message.h"

//  Default bound of connecting, logging in and each RPC, in milliseconds.
#define SHIM_AMQP_TIMEOUT_MS_DEFAULT 5000

//  Default heartbeat asked of the broker, in seconds (the actor must call
//  shim_amqp_next at least every second so that ours are sent).
#define SHIM_AMQP_HEARTBEAT_S_DEFAULT 10

//  Largest body kept of a delivery, in bytes. A longer one is still read
//  (and must still be dead-lettered), but arrives with no body and
//  shim_amqp_delivery_truncated true.
#define SHIM_AMQP_BODY_MAX ((size_t) 4 * 1024 * 1024)

//  Most string headers of a delivery handed to the decoders; the rest of
//  the table is kept for dead-lettering but not looked at.
#define SHIM_AMQP_HEADERS_MAX 64

//  Longest URL, queue, exchange or routing key accepted, in bytes.
#define SHIM_AMQP_NAME_MAX 255
#define SHIM_AMQP_URL_MAX 2048

typedef struct shim_amqp shim_amqp_t;
typedef struct shim_amqp_delivery shim_amqp_delivery_t;

typedef struct {
    const char *url;  //  amqp://user:password@host[:port]/vhost ("%2F" for "/")
    const char *name; //  connection_name the broker shows, e.g. "broker-shim shim-0 relay"
    int timeout_ms;   //  connect, login and each RPC; 0 = SHIM_AMQP_TIMEOUT_MS_DEFAULT
    int heartbeat_s;  //  heartbeat asked for; 0 = SHIM_AMQP_HEARTBEAT_S_DEFAULT, -1 = none
    int prefetch;     //  basic.qos prefetch count of the channel; 0 = unlimited
    bool confirms;    //  publisher confirms on the channel (confirm.select)
} shim_amqp_config_t;

typedef enum {
    SHIM_AMQP_NOTHING = 0, //  nothing more without blocking: poll the fd
    SHIM_AMQP_CONFIRM,     //  a publisher confirm (ack or nack) of tag (and those before it)
    SHIM_AMQP_DELIVERY,    //  a delivery from the consumed queue
    SHIM_AMQP_FAILED       //  the connection failed (error says why): destroy it
} shim_amqp_event_type_t;

typedef struct {
    shim_amqp_event_type_t type;    //  what happened
    uint64_t tag;                   //  CONFIRM: the publish tag confirmed
    bool multiple;                  //  CONFIRM: every tag up to `tag` too
    bool ack;                       //  CONFIRM: ack (stored) or nack (lost: publish again)
    shim_amqp_delivery_t *delivery; //  DELIVERY: the message (caller owns it)
} shim_amqp_event_t;

//  Check an AMQP URL without connecting: amqp:// (TLS is not supported
//  yet), a host, a port, at most SHIM_AMQP_URL_MAX bytes. Returns 0, or -1
//  with the reason in *error_out (caller owns it).
int shim_amqp_url_check(const char *url, char **error_out);

//  MassTransit's address of the broker of a valid `url`, as its
//  RabbitMqEndpointAddress writes it (INTEROP.md 1.7):
//  "rabbitmq://host[:port][/vhost]", the port left out when it is 5672
//  and the vhost when it is "/". Caller owns return value.
char *shim_amqp_broker_address(const char *url);

//  Connect and log in (PLAIN, with the URL's user and password), open
//  channel 1, set its prefetch, turn confirms on if asked. Blocks for at
//  most a few timeouts. Returns NULL with the reason in *error_out when
//  the broker is unreachable or refuses. Caller owns return value.
shim_amqp_t *shim_amqp_new(const shim_amqp_config_t *config, char **error_out);

//  Close the channel and the connection (politely if it has not failed)
//  and free; accepts NULL and nulls the pointer.
void shim_amqp_destroy(shim_amqp_t **self_p);

//  The socket to poll for reading.
int shim_amqp_fd(const shim_amqp_t *self);

//  Hold what is written until shim_amqp_uncork (TCP_CORK), so a run of
//  publishes leaves in full segments: the broker reads them in a few
//  large reads rather than one per message. Uncork sends what is held.
void shim_amqp_cork(shim_amqp_t *self);
void shim_amqp_uncork(shim_amqp_t *self);

//  True once a call failed or the broker closed the connection.
bool shim_amqp_failed(const shim_amqp_t *self);

//  RPCs (each waits for the broker's answer, at most the timeout). Return
//  0, or -1 with the reason in *error_out; the connection is then failed.
int shim_amqp_exchange_declare(shim_amqp_t *self,
                               const char *exchange,
                               const char *type,
                               char **error_out);
int shim_amqp_queue_declare(shim_amqp_t *self, const char *queue, char **error_out);
int shim_amqp_queue_bind(shim_amqp_t *self,
                         const char *queue,
                         const char *exchange,
                         const char *routing_key,
                         char **error_out);
//  Remove a binding; RabbitMQ answers unbind-ok when there is none (the
//  exchange and the queue must exist).
int shim_amqp_queue_unbind(shim_amqp_t *self,
                           const char *queue,
                           const char *exchange,
                           const char *routing_key,
                           char **error_out);
//  Start consuming `queue` with manual acknowledgements.
int shim_amqp_consume(shim_amqp_t *self, const char *queue, char **error_out);

//  Publish `message` (not mandatory): its exchange, routing key, body,
//  content_type, message_id, correlation_id, delivery_mode 2 and its
//  string headers. With confirms, *tag_out is the tag its confirm will
//  carry (1, 2, ... per connection); else 0. Returns 0, or -1 (failed).
int shim_amqp_publish(shim_amqp_t *self,
                      const shim_message_t *message,
                      uint64_t *tag_out,
                      char **error_out);

//  Publish a delivery as it came (its body and every property but
//  expiration and user_id, which a broker would act on again) to
//  `exchange` with routing key "", with `extra` string headers added to
//  (or replacing those of) its headers table. *tag_out as for publish.
//  Returns 0, or -1 (failed).
int shim_amqp_dead_letter(shim_amqp_t *self,
                          const char *exchange,
                          const shim_amqp_delivery_t *delivery,
                          const shim_header_t *extra,
                          size_t extra_count,
                          uint64_t *tag_out,
                          char **error_out);

//  Acknowledge a delivery, or reject it (back to the queue with
//  `requeue`). Return 0, or -1 (failed).
int shim_amqp_ack(shim_amqp_t *self, uint64_t delivery_tag, char **error_out);
int shim_amqp_reject(shim_amqp_t *self, uint64_t delivery_tag, bool requeue, char **error_out);

//  The next thing the broker sent, without blocking (also sends our
//  heartbeat when it is due). Fills *event and returns its type;
//  SHIM_AMQP_FAILED sets *error_out.
shim_amqp_event_type_t
shim_amqp_next(shim_amqp_t *self, shim_amqp_event_t *event, char **error_out);

//  A delivery: what the decoders read (borrowed from it; the string
//  headers of its table, at most SHIM_AMQP_HEADERS_MAX), its delivery tag,
//  whether the broker delivered it before, and whether its body was over
//  SHIM_AMQP_BODY_MAX (and dropped; body_size is then 0).
const shim_delivery_t *shim_amqp_delivery_view(const shim_amqp_delivery_t *self);
uint64_t shim_amqp_delivery_tag(const shim_amqp_delivery_t *self);
bool shim_amqp_delivery_redelivered(const shim_amqp_delivery_t *self);
bool shim_amqp_delivery_truncated(const shim_amqp_delivery_t *self);
//  The body size the broker announced.
uint64_t shim_amqp_delivery_size(const shim_amqp_delivery_t *self);

//  Free a delivery; accepts NULL and nulls the pointer.
void shim_amqp_delivery_destroy(shim_amqp_delivery_t **self_p);

#endif
