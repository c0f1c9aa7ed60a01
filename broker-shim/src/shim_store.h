/*  =========================================================================
    shim_store - the broker shim's SQL: the inbox of RabbitMQ message ids

    The only file of the shim that speaks SQL (STYLE rule 11). A unit of
    the consumer (the stream writer's transaction) records a RabbitMQ
    message id in shim_inbox, learning whether it was new. (Our events go
    to RabbitMQ from the subscriber's handler, with no table of their own:
    the subscriber's checkpoints are their progress, shim_relay.h.)

    Every statement is parameterised and its status checked; a failure is
    BUS_DB_UNAVAILABLE with a message in *error_out (caller owns it,
    zstr_free).

        bool inserted = false;
        if (shim_store_inbox_add(bus_tx_conn(tx), &message_id, &inserted, &error) != BUS_OK) ...
        if (!inserted) ... a duplicate: append nothing
    =========================================================================
*/
#ifndef SHIM_STORE_H_INCLUDED
#define SHIM_STORE_H_INCLUDED

#include <stdbool.h>

#include "bus_migrate.h"
#include "bus_rc.h"
#include "svc_uuid.h"

struct pg_conn;

//  The shim's schema (sql/001_init.sql, 002_direct_publish.sql), embedded
//  by the build.
extern const bus_migration_t shim_migrations[];

//  In a unit's transaction: record `message_id` in the inbox. Sets
//  *inserted_out to true if it was new, false if it was there already
//  (a duplicate: append nothing). Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t shim_store_inbox_add(struct pg_conn *conn,
                              const svc_uuid_t *message_id,
                              bool *inserted_out,
                              char **error_out);

#endif
