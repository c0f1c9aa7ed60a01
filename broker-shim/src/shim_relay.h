/*  =========================================================================
    shim_relay - the outbox to RabbitMQ, with publisher confirms

    ZeroMQ -> RabbitMQ. The subscriber handler (shim_server) puts every
    event of our streams into shim_outbox in the transaction that raises
    its checkpoint; this actor empties it. With its own PostgreSQL
    connection (LISTEN shim_outbox, and a read every SHIM_TICK_MS in case a
    notification was missed) and its own AMQP connection in confirm mode,
    it keeps up to SHIM_WINDOW messages published and unconfirmed: while
    there is room it reads the next rows of its partitions in id order,
    encodes each (shim_codec), declares each exchange once per connection
    and publishes them; as confirms arrive it deletes the confirmed rows
    (committed without waiting for the flush). The delete is the
    checkpoint, so it moves only past confirmed messages. A nack or a lost connection means
    reconnect (backoff BUS_RECONNECT_MIN_MS doubling to _MAX_MS) and start
    again at the outbox head: the same rows are published again with the
    same message ids (counted in shim_republished_total), and MassTransit's
    inbox drops what it already has. A row that cannot be encoded (a type
    with no .NET name, an envelope this build cannot read) is moved to
    shim_outbox_failed, logged and counted, and never blocks the rest.

        shim_context_t *context = ...;   //  shim_context.h
        zactor_t *relay = zactor_new(shim_relay_actor, context);
        ...
        zactor_destroy(&relay);   //  $TERM: unconfirmed rows stay for next time

    Readiness: context->relay_up while both connections are up.
    =========================================================================
*/
#ifndef SHIM_RELAY_H_INCLUDED
#define SHIM_RELAY_H_INCLUDED

#include <czmq.h>

//  The actor; `args` is the shim_context_t (borrowed until it ends).
void shim_relay_actor(zsock_t *pipe, void *args);

#endif
