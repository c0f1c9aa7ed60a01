/*  =========================================================================
    shim_relay - our events to RabbitMQ, with publisher confirms

    ZeroMQ -> RabbitMQ. The subscriber's batch handler (shim_server_apply,
    on the subscriber's thread, inside the transaction that raises the
    shim's checkpoints) encodes the batch and hands the messages to this
    actor, then waits: the actor publishes them on its AMQP connection in
    confirm mode as they come, at most SHIM_WINDOW unconfirmed at a time
    (declaring each exchange once per connection exactly as MassTransit
    does), and answers once RabbitMQ confirmed every one. Only then does the handler return and the checkpoints commit, so
    a checkpoint never passes an unconfirmed message. A nack, a lost
    connection, no connection or no confirm within SHIM_CONFIRM_TIMEOUT_MS
    fails the batch as unavailable (bus_apply_unavailable): it is rolled
    back and published again after a backoff, with the same message ids,
    which MassTransit's inbox drops; the connection is made again with
    backoff (BUS_RECONNECT_MIN_MS doubling to _MAX_MS).

    The two ends talk over an inproc PAIR (the context's relay_endpoint):

        zsock_t *batches = shim_relay_connect(context);       //  subscriber's thread
        shim_relay_publish(batches, messages, 64);            //  borrowed until settled
        shim_relay_ask(batches);
        shim_relay_publish(batches, messages + 64, 10);       //  more while it is due
        size_t settled = 0;
        char *error = NULL;
        int answer = shim_relay_answer(batches, 10, &settled, &error);
        //  1: `settled` of them confirmed (ask again for the rest), 0: not
        //  yet, -1: failed ("rabbitmq: ..."): shim_relay_done, publish again
        zsock_destroy(&batches);

    and the actor itself:

        zactor_t *relay = zactor_new(shim_relay_actor, context);
        ...
        zactor_destroy(&relay);   //  after the subscriber stopped

    Readiness: context->relay_up while its RabbitMQ connection is up.
    Metrics: shim_bridged_total{direction="to_rabbitmq"} (confirmed),
    shim_confirm_seconds, shim_republished_total (messages of a batch
    published again after a failure).
    =========================================================================
*/
#ifndef SHIM_RELAY_H_INCLUDED
#define SHIM_RELAY_H_INCLUDED

#include <czmq.h>

#include "shim_context.h"
#include "shim_message.h"

//  Longest wait for a confirm while some are due; past it the connection
//  counts as lost.
#define SHIM_CONFIRM_TIMEOUT_MS 30000

//  The actor; `args` is the shim_context_t (borrowed until it ends). Its
//  end of relay_endpoint is bound before zactor_new returns.
void shim_relay_actor(zsock_t *pipe, void *args);

//  The handler's end of relay_endpoint, for the thread that uses it.
//  Caller owns return value (zsock_destroy).
zsock_t *shim_relay_connect(const shim_context_t *context);

//  Hand `count` messages to the relay, which publishes them at once. The
//  messages stay the caller's and must stay untouched until an answer
//  settled them, or shim_relay_done after a failure.
void shim_relay_publish(zsock_t *batches, shim_message_t *const *messages, size_t count);

//  Ask for the outcome of what was handed and not yet settled: the relay
//  answers once RabbitMQ confirmed all of it (or it failed). More may be
//  handed while waiting; they join what the answer settles, unless it was
//  sent before they arrived.
void shim_relay_ask(zsock_t *batches);

//  The answer to shim_relay_ask, waiting at most `timeout_ms` (0: only if
//  it is there). Returns 1 with the number of messages it settled (all
//  confirmed) in *settled_out, 0 if no answer came in time, or -1 with why
//  in *error_out (caller owns, zstr_free): then some may be stored and
//  some not; publish them all again later, and call shim_relay_done.
int shim_relay_answer(zsock_t *batches, int timeout_ms, size_t *settled_out, char **error_out);

//  After a failed answer: the relay drops what was handed and is not
//  published (nothing of it is read again) and starts afresh.
void shim_relay_done(zsock_t *batches);

#endif
