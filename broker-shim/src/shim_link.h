/*  =========================================================================
    shim_link - one reconnecting connection inside an actor's zloop

    The relay and the consumer each keep a RabbitMQ connection that comes
    and goes (and could keep others, a database's, the same way). A link is the loop plumbing of one
    of them, the same for every kind: the connect timer with its backoff
    (BUS_RECONNECT_MIN_MS doubling to _MAX_MS, shim_context_backoff), the
    poller on the connection's socket, and the logs of an outage, each
    written once per outage: <name>.unavailable (a connect failed),
    <name>.lost (an open connection failed). The connection itself, its
    readiness flag and what depended on it stay with the owning actor,
    which the link calls back: `connect` opens the connection (blocking,
    bounded), `connected` resumes work on it (and logs <name>.connected),
    `readable` serves its socket, `close` tears it down after a loss.

        shim_link_handlers_t handlers = {s_self_amqp_connect, s_self_amqp_connected,
                                         s_self_amqp_readable, s_self_amqp_close};
        self->amqp_link = shim_link_new(loop, log, "shim.relay.rabbitmq", &handlers, self);
        shim_link_start(self->amqp_link);   //  connects from the loop
        ...
        shim_link_lost(self->amqp_link, "publishing", error);
        ...
        shim_link_destroy(&self->amqp_link);   //  then close the connection

    An AMQP connection's owner still drains it at the end of every handler
    of its loop, `readable` and `connected` included (STYLE rule 9):
    librabbitmq buffers frames that poll never reports.
    =========================================================================
*/
#ifndef SHIM_LINK_H_INCLUDED
#define SHIM_LINK_H_INCLUDED

#include <stdbool.h>

#include <czmq.h>

#include "svc_log.h"

typedef struct shim_link shim_link_t;

//  The owner's side of a link; each gets the `arg` given to shim_link_new.
typedef struct {
    //  Open the connection (blocking, bounded) and keep it. Returns its
    //  socket, or -1 with the reason in *error_out (the link frees it).
    int (*connect)(void *arg, char **error_out);
    //  The connection is up and its socket in the loop: log
    //  <name>.connected (`recovered`: after an outage) and resume. May
    //  call shim_link_lost.
    void (*connected)(void *arg, bool recovered);
    //  The connection's socket is readable. May call shim_link_lost.
    void (*readable)(void *arg);
    //  The connection was lost and its socket left the loop: close it and
    //  drop what depended on it. Must not call shim_link_lost.
    void (*close)(void *arg);
} shim_link_handlers_t;

//  Create a link in `loop` (borrowed, outlives the link), logging to `log`
//  (borrowed) under the event prefix `name` ("shim.relay.rabbitmq"; copied).
//  `handlers` is copied; `arg` is borrowed. Nothing happens before
//  shim_link_start. Caller owns return value (shim_link_destroy).
shim_link_t *shim_link_new(zloop_t *loop,
                           svc_log_t *log,
                           const char *name,
                           const shim_link_handlers_t *handlers,
                           void *arg);

//  Leave the loop (socket and pending connect) and free the link; the
//  owner closes its connection afterwards. Accepts NULL and nulls the
//  caller's pointer.
void shim_link_destroy(shim_link_t **self_p);

//  Connect from the loop at its next turn, so the actor's caller never
//  waits for a server.
void shim_link_start(shim_link_t *self);

//  The connection failed while doing `why` (`error`: the library's reason,
//  or NULL). Logs <name>.lost once per outage with why, error and
//  retry_ms, takes the socket out of the loop, calls `close`, and
//  schedules a reconnect with backoff unless one is pending.
void shim_link_lost(shim_link_t *self, const char *why, const char *error);

//  As shim_link_lost, with one more integer field `field` = `value` in
//  the log line, before retry_ms (the relay's "unconfirmed").
void shim_link_lost_with(
    shim_link_t *self, const char *why, const char *error, const char *field, int value);

#endif
