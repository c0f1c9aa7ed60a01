/*  =========================================================================
    bus_inbox - checkpoints and dead letters of a consumer group (SQL)

    The consumer's side of exactly-once: the last seq applied per (consumer
    group, stream, partition) lives in bus_checkpoints in the consumer's
    database and is written in the same transaction as the handler's
    effects. All functions run on a connection the caller owns, inside the
    caller's transaction where it says so, and never log: they return a
    bus_rc_t and, on failure, a message the caller may log.

    Exactly-once under a rescale: bus_inbox_lock takes the checkpoint rows
    of a batch with SELECT ... FOR UPDATE, so two replicas that briefly own
    the same partition serialise on the row, and the second sees what the
    first committed and skips those events. The apply transaction must run
    at READ COMMITTED (PostgreSQL's default): only then does a row that
    another replica created meanwhile become visible to the lock.

    Advancing: after processing the stream in order up to seq S, every
    partition this replica owns may have its checkpoint raised to S (all its
    events <= S were applied or skipped), so bus_inbox_advance writes
    GREATEST(last_seq, S) for the partitions it is given. The subscriber
    gives those a batch had events of, and all owned ones now and then
    (bus_applier.c), so a restart does not replay the stream from the start.

        bus_checkpoints_t *checkpoints = NULL;
        char *error = NULL;
        bus_inbox_load(conn, "inventory", "order", 64, &checkpoints, &error);
        //  BEGIN; ...
        uint32_t touched[] = {3, 17};
        if (bus_inbox_lock(conn, NULL, "inventory", "order", touched, 2, checkpoints, &error)) ...
        //  apply events with seq > checkpoints->last_seq[partition], then
        bus_inbox_advance(conn, NULL, "inventory", "order", touched, 2, last, &error);
        //  COMMIT; free(checkpoints);

    Every function takes `char **error_out` last (may be NULL): it is set to
    NULL on BUS_OK and, on any other code, receives a message saying what
    failed (caller owns it, free with zstr_free). Every SQL failure is
    BUS_DB_UNAVAILABLE (a lost connection, SQLSTATE class 08, or a failed
    statement, which also aborts the caller's transaction): roll back, log
    the message and retry.
    =========================================================================
*/
#ifndef BUS_INBOX_H_INCLUDED
#define BUS_INBOX_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_rc.h"
#include "bus_statements.h"

struct pg_conn;

//  Most dead letters one call of bus_inbox_dead_letters or
//  bus_inbox_claim_retries returns (a larger limit is cut to this).
#define BUS_INBOX_LIST_MAX 1000

//  Most bytes of a handler's error message a dead letter keeps.
#define BUS_INBOX_ERROR_MAX 2048

//  The checkpoints one replica needs, indexed by partition.
typedef struct {
    uint32_t partitions; //  P, the deployment's partition count
    uint64_t last_seq[]; //  last applied seq per partition (0 = none)
} bus_checkpoints_t;

//  Read the checkpoints of (consumer, stream) for all P partitions (rows
//  that do not exist read as 0; `partitions` >= 1). Outside or inside a
//  transaction. Returns BUS_OK and a fresh table in *out (caller owns, free
//  with free()), or BUS_DB_UNAVAILABLE and *out NULL.
bus_rc_t bus_inbox_load(struct pg_conn *conn,
                        const char *consumer,
                        const char *stream,
                        uint32_t partitions,
                        bus_checkpoints_t **out,
                        char **error_out);

//  The statements of bus_inbox_lock and bus_inbox_advance, to prepare
//  once per connection (bus_statements.h: one instance per connection /
//  thread). Caller owns return value (bus_statements_destroy).
bus_statements_t *bus_inbox_statements_new(void);

//  Inside the apply transaction (READ COMMITTED): lock the checkpoint rows
//  of `partitions` (each < checkpoints->partitions; repeats are fine),
//  creating missing rows at 0, in ascending partition order so replicas
//  cannot deadlock on them, and refresh those entries of `checkpoints` with
//  the locked values, so the caller can skip events at or below them.
//  `prepared` (from bus_inbox_statements_new, one per connection's
//  thread) runs them prepared, here and in bus_inbox_advance. Waits
//  while another transaction holds one of the rows. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE (also when a row stays invisible, which happens only
//  at a stricter isolation level).
bus_rc_t bus_inbox_lock(struct pg_conn *conn,
                        bus_statements_t *prepared,
                        const char *consumer,
                        const char *stream,
                        const uint32_t *partitions,
                        size_t partition_count,
                        bus_checkpoints_t *checkpoints,
                        char **error_out);

//  Inside the apply transaction, for a batch whose last seq `seq` is known
//  before it runs: bus_inbox_lock and bus_inbox_advance in ONE statement
//  (one round trip fewer per batch). When every row exists, they are
//  locked, `checkpoints` refreshed with the values as locked (the caller
//  skips events at or below them) and raised to `seq`; *raised_out is
//  true. When some row does not exist yet, nothing is raised: the rows
//  are created and locked as bus_inbox_lock does, *raised_out is false,
//  and the caller calls bus_inbox_advance after its work. Raising first
//  is the same as raising last: the transaction commits both or neither.
//  Returns as bus_inbox_lock, or BUS_MALFORMED if seq > INT64_MAX.
bus_rc_t bus_inbox_lock_raise(struct pg_conn *conn,
                              bus_statements_t *prepared,
                              const char *consumer,
                              const char *stream,
                              const uint32_t *partitions,
                              size_t partition_count,
                              uint64_t seq,
                              bus_checkpoints_t *checkpoints,
                              bool *raised_out,
                              char **error_out);

//  Inside the apply transaction: raise the checkpoint of each listed
//  partition to at least `seq` (never lowers one; creates missing rows;
//  repeats are fine). Returns BUS_OK, BUS_MALFORMED if seq > INT64_MAX (a
//  bigint cannot hold it; nothing is written) or BUS_DB_UNAVAILABLE.
bus_rc_t bus_inbox_advance(struct pg_conn *conn,
                           bus_statements_t *prepared,
                           const char *consumer,
                           const char *stream,
                           const uint32_t *partitions,
                           size_t partition_count,
                           uint64_t seq,
                           char **error_out);

//  Inside the apply transaction: park an event whose handler kept failing.
//  `message_id` is the envelope's message id as UUID text; `envelope` is
//  the packed envelope as received; `error` is kept valid UTF-8 (other
//  bytes become '?') and cut to BUS_INBOX_ERROR_MAX bytes. Idempotent per
//  (consumer, stream, seq): parking again (a retry that failed) keeps the
//  row and its envelope, replaces the error, adds `attempts` to the count,
//  sets lastFailedAt and clears retryRequested. Returns BUS_OK,
//  BUS_MALFORMED if seq > INT64_MAX, or BUS_DB_UNAVAILABLE.
bus_rc_t bus_inbox_park(struct pg_conn *conn,
                        const char *consumer,
                        const char *stream,
                        uint64_t seq,
                        uint32_t partition,
                        const char *type,
                        const char *message_id,
                        const void *envelope,
                        size_t envelope_size,
                        const char *error,
                        int attempts,
                        char **error_out);

//  Dead letters of a consumer (all consumers if NULL), oldest first, at most
//  `limit` (1 .. BUS_INBOX_LIST_MAX; more is cut), with id greater than
//  `after_id` (keyset pagination: pass the last id of the previous page, 0
//  for the first). Each item: {"id", "consumer", "stream", "seq",
//  "partition", "type", "messageId", "error", "attempts", "firstFailedAt",
//  "lastFailedAt", "retryRequested"}; ids, seq, partition and attempts are
//  integers, times RFC 3339 UTC strings ("2024-05-01T12:00:00.000000Z").
//  Returns BUS_OK and a fresh JSON array in *out (caller owns, json_decref),
//  or BUS_DB_UNAVAILABLE and *out NULL.
bus_rc_t bus_inbox_dead_letters(struct pg_conn *conn,
                                const char *consumer,
                                int64_t after_id,
                                int limit,
                                json_t **out,
                                char **error_out);

//  Mark a dead letter for retry: its consumer re-applies it through the
//  handler and removes it on success. Returns BUS_OK, BUS_NOT_FOUND if
//  there is no such id, or BUS_DB_UNAVAILABLE.
bus_rc_t bus_inbox_retry(struct pg_conn *conn, int64_t id, char **error_out);

//  Remove a dead letter for good. BUS_OK, BUS_NOT_FOUND, BUS_DB_UNAVAILABLE.
bus_rc_t bus_inbox_discard(struct pg_conn *conn, int64_t id, char **error_out);

//  For the consumer: claim up to `limit` (1 .. BUS_INBOX_LIST_MAX) dead
//  letters of `consumer` marked for retry, oldest first, locking them (FOR
//  UPDATE SKIP LOCKED) inside the caller's transaction, so a concurrent
//  claimer skips them. Returns BUS_OK and a fresh JSON array of {"id",
//  "stream", "seq", "envelope" (base64, no line breaks)} in *out (caller
//  owns, json_decref), or BUS_DB_UNAVAILABLE and *out NULL.
bus_rc_t bus_inbox_claim_retries(
    struct pg_conn *conn, const char *consumer, int limit, json_t **out, char **error_out);

#endif
