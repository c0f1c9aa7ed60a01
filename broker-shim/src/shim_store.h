/*  =========================================================================
    shim_store - the broker shim's SQL: outbox, failed rows, inbox

    The only file of the shim that speaks SQL (STYLE rule 11). Three
    callers on three connections:

    - the subscriber's batch handler (the stream writer's transaction)
      adds each batch of events of our streams to shim_outbox in one
      prepared statement and notifies the relay;
    - the relay (its own connection, outside transactions, commits
      without waiting for the flush) listens for that notification, reads
      the rows of its partitions after the last one it read, deletes them
      once RabbitMQ confirmed them, and moves a row it cannot encode to
      shim_outbox_failed;
    - a unit of the consumer (the writer's transaction) records a RabbitMQ
      message id in shim_inbox, learning whether it was new.

    Every statement is parameterised and its status checked; a failure is
    BUS_DB_UNAVAILABLE with a message in *error_out (caller owns it,
    zstr_free).

        bus_statements_t *statements = shim_store_statements_new();
        shim_outbox_event_t event = {"order-0", 42, 7, "OrderCreated", id, bytes, size};
        int64_t added = 0;
        shim_store_outbox_add_batch(statements, conn, &event, 1, &added, &error);
        shim_outbox_row_t *rows = NULL;
        size_t count = 0;
        shim_store_outbox_read(conn, 0, 1, 0, 256, &rows, &count, &error);
        ... publish, wait for the confirms ...
        shim_store_outbox_delete(conn, ids, count, &error);
        shim_store_rows_free(&rows, count);
    =========================================================================
*/
#ifndef SHIM_STORE_H_INCLUDED
#define SHIM_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_migrate.h"
#include "bus_rc.h"
#include "bus_statements.h"
#include "svc_uuid.h"

struct pg_conn;

//  The shim's schema (sql/001_init.sql), embedded by the build.
extern const bus_migration_t shim_migrations[];

//  The channel the handler notifies and the relay listens on.
#define SHIM_STORE_CHANNEL "shim_outbox"

//  Longest error name and reason kept with a failed row, in bytes.
#define SHIM_STORE_REASON_MAX 1024

//  One outbox row as the relay reads it.
typedef struct {
    int64_t id;        //  the row's id (delete it by this)
    uint8_t *envelope; //  the packed envelope (owned by the array's owner)
    size_t size;       //  its size in bytes
} shim_outbox_row_t;

//  One event for shim_store_outbox_add_batch; everything borrowed.
typedef struct {
    const char *stream;        //  its stream
    uint64_t seq;              //  its seq there (<= INT64_MAX)
    uint32_t partition;        //  its partition
    const char *type;          //  its type name
    const uint8_t *message_id; //  16 bytes
    const uint8_t *envelope;   //  the packed envelope
    size_t size;               //  its size in bytes
} shim_outbox_event_t;

//  Connect to `conninfo` (connect_timeout BUS_CONNECT_TIMEOUT_S and
//  application_name `app_name` unless the conninfo sets them). Blocks for at
//  most the connect timeout. Returns the connection, or NULL with the reason
//  in *error_out. Caller owns return value (PQfinish).
struct pg_conn *shim_store_connect(const char *conninfo, const char *app_name, char **error_out);

//  The prepared statements of shim_store_outbox_add_batch, for ONE
//  connection's thread (bus_statements.h). Caller owns return value
//  (bus_statements_destroy).
bus_statements_t *shim_store_statements_new(void);

//  In the handler's transaction: add `count` events to the outbox in one
//  statement (each once per (stream, seq): events added before are
//  skipped) and notify SHIM_STORE_CHANNEL. Sets *added_out to the number
//  of rows added. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_outbox_add_batch(bus_statements_t *statements,
                                     struct pg_conn *conn,
                                     const shim_outbox_event_t *events,
                                     size_t count,
                                     int64_t *added_out,
                                     char **error_out);

//  On the relay's connection: commit without waiting for the WAL flush
//  (SET synchronous_commit = off). A delete lost in a crash only makes the
//  relay publish the same message again. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_commit_async(struct pg_conn *conn, char **error_out);

//  LISTEN on SHIM_STORE_CHANNEL (the relay's connection, once per
//  connect). Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_listen(struct pg_conn *conn, char **error_out);

//  Read what arrived on the connection's socket and drop the
//  notifications. Returns how many there were (0 or more), or -1 when the
//  connection is lost.
int shim_store_notifications(struct pg_conn *conn);

//  The oldest `limit` rows (1..) with an id above `after_id` (0: from the
//  head) of the outbox whose partition p has p % `replica_count` ==
//  `replica_index`, in id order. Sets *rows_out (free
//  with shim_store_rows_free; NULL when there are none) and *count_out.
//  Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_outbox_read(struct pg_conn *conn,
                                uint32_t replica_index,
                                uint32_t replica_count,
                                int64_t after_id,
                                int limit,
                                shim_outbox_row_t **rows_out,
                                size_t *count_out,
                                char **error_out);

//  Free rows from shim_store_outbox_read; accepts NULL and nulls the
//  pointer.
void shim_store_rows_free(shim_outbox_row_t **rows_p, size_t count);

//  Delete the rows with these `count` ids (those already gone are
//  ignored). Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t
shim_store_outbox_delete(struct pg_conn *conn, const int64_t *ids, size_t count, char **error_out);

//  Move row `id` to shim_outbox_failed with `error` (a shim_rc_name) and
//  `reason` (cut to SHIM_STORE_REASON_MAX bytes), in one statement. A row
//  already gone is not a failure. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_outbox_fail(
    struct pg_conn *conn, int64_t id, const char *error, const char *reason, char **error_out);

//  How many rows of the replica's partitions the outbox holds, into
//  *depth_out, and how many of them have an id below `before_id`, into
//  *before_out. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_outbox_depth(struct pg_conn *conn,
                                 uint32_t replica_index,
                                 uint32_t replica_count,
                                 int64_t before_id,
                                 int64_t *depth_out,
                                 int64_t *before_out,
                                 char **error_out);

//  In a unit's transaction: record `message_id` in the inbox. Sets
//  *inserted_out to true if it was new, false if it was there already
//  (a duplicate: append nothing). Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_inbox_add(struct pg_conn *conn,
                              const svc_uuid_t *message_id,
                              bool *inserted_out,
                              char **error_out);

#endif
