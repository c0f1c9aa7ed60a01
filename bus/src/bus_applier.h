/*  =========================================================================
    bus_applier - the transactions of a subscriber (private to bus)

    bus_subscriber.c decides WHAT to apply (sequencing, batching, retries,
    backoff); this class runs each decision as one transaction on the
    consumer's database (docs/protocol.md sections 6 to 8):

        BEGIN
        lock the checkpoint rows of every partition this replica owns
        for each event: skip it (not owned, type not handled or unknown,
            at or below its partition's locked checkpoint: another replica
            applied it), park it (dead letter), or call the handler
        or, with a batch handler: call it once with the events that reach it
        raise every owned checkpoint to the batch's last seq
        COMMIT

    Locking all owned rows in partition order, rather than only the rows a
    batch touches, means two replicas that briefly share partitions during
    a rescale take their locks in one global order and never deadlock.

    Without a stream the transaction runs on the applier's own connection.
    With one (a service that publishes what it applies) it is a unit of work
    of that stream's writer, submitted with bus_producer_call, so the
    handler's effects, the checkpoints and the events it appends commit
    together; the writer may run a unit more than once, so the work only
    touches the result struct it is given.

    Dead-letter retries: one transaction claims a dead letter marked for
    retry, re-applies it through the handler and deletes it; if the handler
    fails, a second one records the failure and clears the mark.

    Every function blocks on the database (v1) and runs on the subscriber's
    actor thread; the applier and its connection belong to that thread.
    =========================================================================
*/
#ifndef BUS_APPLIER_H_INCLUDED
#define BUS_APPLIER_H_INCLUDED

#include "bus_inbox.h"
#include "bus_subscriber.h"

typedef struct bus_applier bus_applier_t;

//  One event taken by the sequencer, waiting to be applied.
typedef struct {
    Ev__V1__Envelope
        *envelope; //  decoded, its bytes as received kept (owned by the caller's queue)
    bool unknown;  //  a type this build does not know: skipped, counted
} bus_applier_event_t;

typedef enum {
    BUS_APPLIER_OK = 0,     //  committed
    BUS_APPLIER_FAILED,     //  a handler failed, or the COMMIT was refused: rolled back
    BUS_APPLIER_DB,         //  the database failed: rolled back or unknown; reload checkpoints
    BUS_APPLIER_UNAVAILABLE //  a handler said it cannot apply now (bus_apply_unavailable):
                            //  rolled back, no event failed; apply the same again later
} bus_applier_rc_t;

//  What one batch did (on BUS_APPLIER_OK) or why it failed.
typedef struct {
    size_t applied;                       //  events the handler applied
    size_t skipped;                       //  not owned, type not handled or unknown
    size_t duplicates;                    //  at or below the locked checkpoint
    size_t parked;                        //  written to the dead letters
    uint64_t parked_seq;                  //  seq of the last event parked
    size_t failed_index;                  //  the event whose handler failed, or SIZE_MAX
    size_t grown;                         //  events the batch grew by (bus_apply_more), whatever
                                          //  the outcome: the batch was count + grown events
    char error[BUS_SUBSCRIBER_ERROR_MAX]; //  why it failed ("" if it did not)
} bus_applier_result_t;

//  How a batch grows (bus_apply_more): the subscriber reads what arrived
//  (without applying it), then says where the queue of `stream` holds the
//  batch now (*events_out, its first event at index 0: reading may have
//  moved the queue) and how many of its events, from there on, the batch
//  may now hold: at least `count` (its events so far), more when more
//  followed in order and growing is allowed.
typedef size_t(bus_applier_more_fn)(void *arg,
                                    const char *stream,
                                    size_t count,
                                    const bus_applier_event_t **events_out);

//  What one dead-letter retry did.
typedef struct {
    bool claimed;                         //  a dead letter marked for retry was found
    bool applied;                         //  its handler succeeded and it was removed
    int64_t id;                           //  its id
    char stream[BUS_STREAM_NAME_MAX + 1]; //  its stream
    uint64_t seq;                         //  its seq
    char error[BUS_SUBSCRIBER_ERROR_MAX]; //  why it failed again, or why the database failed
} bus_applier_retry_t;

//  Create an applier for the configuration (copied, except the borrowed
//  stream, handler argument and log). Create it on the thread that will
//  use it: with a stream it makes a bus_producer there. Not connected yet.
//  Caller owns return value.
bus_applier_t *bus_applier_new(const bus_subscriber_config_t *config);

//  Close the connection and the producer; nulls the pointer.
void bus_applier_destroy(bus_applier_t **self_p);

//  How a growing batch's handler waits (bus_apply_wait): until `socket`
//  or live input is readable, at most `timeout_ms`. Returns 1 if `socket`
//  is readable, else 0.
typedef int(bus_applier_wait_fn)(void *arg, void *socket, int timeout_ms);

//  Let batch handlers grow their batch through `fn` (bus_apply_more) and
//  wait through `wait` (bus_apply_wait).
void bus_applier_set_more(bus_applier_t *self,
                          bus_applier_more_fn *fn,
                          bus_applier_wait_fn *wait,
                          void *arg);

//  Connect to the consumer's database and migrate the bus schema. Returns
//  0, or -1 and a message in *error_out (caller owns, zstr_free).
int bus_applier_connect(bus_applier_t *self, char **error_out);

//  Drop the connection (after a failure); connect again later.
void bus_applier_disconnect(bus_applier_t *self);

//  True while connected.
bool bus_applier_connected(bus_applier_t *self);

//  Read the checkpoints of `stream`. Returns BUS_APPLIER_OK and a fresh
//  table in *out (caller owns, free()), or BUS_APPLIER_DB and the reason
//  in *error_out (caller owns, zstr_free).
bus_applier_rc_t bus_applier_load(bus_applier_t *self,
                                  const char *stream,
                                  bus_checkpoints_t **out,
                                  char **error_out);

//  The seq to start from: the lowest checkpoint of an owned partition, + 1.
uint64_t bus_applier_next(bus_applier_t *self, const bus_checkpoints_t *checkpoints);

//  Apply `count` events (at least 1, in seq order, of `stream`) in one
//  transaction, refreshing `checkpoints` with the locked values. With
//  `park_error` set, an event that would reach the handler is parked
//  instead, with that error and `attempts`. Fills *result.
bus_applier_rc_t bus_applier_apply(bus_applier_t *self,
                                   const char *stream,
                                   bus_checkpoints_t *checkpoints,
                                   const bus_applier_event_t *events,
                                   size_t count,
                                   const char *park_error,
                                   int attempts,
                                   bus_applier_result_t *result);

//  One batch of bus_applier_apply_each: the inputs of bus_applier_apply
//  (without parking) and its outcome.
typedef struct {
    const char *stream;                //  in: the stream (borrowed)
    bus_checkpoints_t *checkpoints;    //  in: refreshed by the lock (borrowed)
    const bus_applier_event_t *events; //  in: at least 1, in seq order (borrowed)
    size_t count;                      //  in: how many
    bus_applier_rc_t rc;               //  out
    bus_applier_result_t result;       //  out
} bus_applier_batch_t;

//  Apply `count` batches of DIFFERENT streams, each in its own transaction
//  as bus_applier_apply does. With a stream the units are submitted to
//  the writer together, in stream name order (so replicas that briefly
//  share partitions lock the checkpoints of several streams in one
//  order), and the writer may commit them in one transaction of its own:
//  one wait for the writer instead of one per stream. Each still succeeds
//  or fails alone. Without a stream, one after the other.
void bus_applier_apply_each(bus_applier_t *self, bus_applier_batch_t *batches, size_t count);

//  Re-apply the oldest dead letter marked for retry, if any. Returns
//  BUS_APPLIER_OK (see *retry for what happened), BUS_APPLIER_DB, or
//  BUS_APPLIER_UNAVAILABLE (rolled back, still marked: try again later).
bus_applier_rc_t bus_applier_retry(bus_applier_t *self, bus_applier_retry_t *retry);

#endif
