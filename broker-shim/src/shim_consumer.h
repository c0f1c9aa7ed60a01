/*  =========================================================================
    shim_consumer - RabbitMQ to the shim's own stream, deduplicated

    RabbitMQ -> ZeroMQ. With its own AMQP connection (prefetch SHIM_WINDOW,
    manual acks, confirms for its dead letters) the actor declares the
    shim's durable queue SHIM_QUEUE, binds it to the exchange of every
    message type SHIM_CONSUME names and unbinds it from the others
    (shim_codec: MassTransit's fanouts, or CAP's topic exchange),
    declares the dead-letter exchange and queue "<SHIM_QUEUE>_error"
    (fanout, durable, MassTransit's naming) and consumes. Each delivery is
    decoded (shim_codec), then:

    - the shim's own message (its origin mark): acked and counted
      (shim_own_skipped_total{direction="from_rabbitmq"}), never bridged;
    - poison (any other failure): published as it came, with the headers
      x-shim-reason (which field, and why) and x-shim-error (shim_rc_name),
      to the dead-letter exchange; acked only once RabbitMQ confirmed that
      copy (never acked into oblivion, never blocking the queue), logged
      and counted (shim_rejected_total{direction="from_rabbitmq", error});
    - valid: a unit of work on the stream's writer records the message id
      in shim_inbox and, if it was new, appends the event (partition key:
      its order id) in the same transaction, so a redelivery or a
      MassTransit re-publish is appended once with no time window
      (shim_duplicates_total). The delivery is acked when the unit
      committed. A unit that did not commit (the database is down) is
      submitted again with backoff, the delivery still unacked.

    A lost connection drops what waits for it: unacked deliveries come
    back from RabbitMQ (and are deduplicated). shim_server starts no
    consumer when SHIM_CONSUME is empty. Readiness:
    context->consumer_up while the connection is up and consuming.

        zactor_t *consumer = zactor_new(shim_consumer_actor, context);
        ...
        zactor_destroy(&consumer);   //  $TERM: waits for units in flight
    =========================================================================
*/
#ifndef SHIM_CONSUMER_H_INCLUDED
#define SHIM_CONSUMER_H_INCLUDED

#include <czmq.h>

//  How long $TERM waits for units in flight before giving up on them.
#define SHIM_CONSUMER_STOP_MS 10000

//  The actor; `args` is the shim_context_t (borrowed until it ends).
void shim_consumer_actor(zsock_t *pipe, void *args);

#endif
