/*  =========================================================================
    shim_context - what the shim's two actors share with its service thread

    shim_server fills one context at start and lends it to the relay and
    the consumer actor (and the subscriber handler) until they stopped.
    Everything in it is immutable after start, except the two connection
    flags, which the actors set and the readiness check reads (atomics),
    and the metric handles, which are thread-safe. Each actor makes its own
    codec from `codec` (a codec belongs to one thread; the map it borrows
    is never changed after start).
    =========================================================================
*/
#ifndef SHIM_CONTEXT_H_INCLUDED
#define SHIM_CONTEXT_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_stream.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "shim_codec.h"

//  How often both actors service their AMQP connection's heartbeats.
#define SHIM_TICK_MS 1000

//  The dead-letter exchange and queue of the shim's queue: MassTransit's
//  naming (INTEROP.md 1.5).
#define SHIM_ERROR_SUFFIX "_error"

//  Headers of a dead-lettered message: why, and the shim_rc_name.
#define SHIM_HEADER_REASON "x-shim-reason"
#define SHIM_HEADER_ERROR "x-shim-error"

typedef struct {
    //  Configuration (strings owned by shim_server).
    const char *rabbitmq_url;   //  RABBITMQ_URL
    const char *stream;         //  the shim's stream ("shim-0")
    const char *queue;          //  SHIM_QUEUE, the consumer's queue
    const char *error_exchange; //  "<queue>_error": exchange and queue of dead letters
    const char *relay_endpoint; //  inproc endpoint of the relay's batches (shim_relay.h)
    int window;                 //  SHIM_WINDOW: the consumer's prefetch
    shim_codec_config_t codec;  //  each actor's codec (map and strings borrowed)
    bus_stream_t *bus_stream;   //  the consumer makes its producer from it (borrowed)
    svc_log_t *log;             //  (borrowed, thread-safe)
    svc_metrics_t *metrics;     //  for labels made on the way (thread-safe)
    //  Metric handles (the registry's).
    svc_counter_t *bridged_out;       //  shim_bridged_total{direction="to_rabbitmq"}
    svc_counter_t *bridged_in;        //  shim_bridged_total{direction="from_rabbitmq"}
    svc_counter_t *republished;       //  shim_republished_total
    svc_counter_t *own_skipped_out;   //  shim_own_skipped_total{direction="to_rabbitmq"}
    svc_counter_t *own_skipped_in;    //  shim_own_skipped_total{direction="from_rabbitmq"}
    svc_counter_t *duplicates;        //  shim_duplicates_total
    svc_histogram_t *confirm_seconds; //  shim_confirm_seconds
    //  Set by the actors, read by readiness.
    atomic_bool relay_up;    //  the relay has RabbitMQ
    atomic_bool consumer_up; //  the consumer has RabbitMQ and consumes
} shim_context_t;

//  The actors' backoff (reconnects, retries), as the bus's: returns the
//  delay to wait now and doubles *delay_ms for next time, up to
//  BUS_RECONNECT_MAX_MS. Start (and restart after a success) with
//  BUS_RECONNECT_MIN_MS.
int shim_context_backoff(int *delay_ms);

//  The actors' pipe reader (a zloop_reader_fn): -1, ending the loop, on
//  $TERM or when the pipe is gone; other commands are ignored.
int shim_context_handle_pipe(zloop_t *loop, zsock_t *reader, void *arg);

//  shim_rejected_total{direction, error}: a message the shim could not
//  bridge. Thread-safe (the registry returns the same handle again).
svc_counter_t *
shim_context_rejected(const shim_context_t *self, const char *direction, const char *error);

#endif
