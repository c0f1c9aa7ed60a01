/*  =========================================================================
    shim_main - the broker-shim process

    The service's definition and nothing else: its own options are checked
    first (a bad SHIM_MAP is exit 2, as a bad standard option is), then
    bus_service_main runs HTTP, the stream, the subscriber and the query
    connection, and calls the hooks of shim_server.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_server.h"
#include "shim_store.h"

static const bus_service_def_t s_def = {
    .name = "shim",
    .description = "Broker shim: our event bus <-> RabbitMQ, wire-compatible with MassTransit",
    .http_addr = SHIM_HTTP_ADDR_DEFAULT,
    .pub_endpoint = SHIM_PUB_ENDPOINT_DEFAULT,
    .publishers = SHIM_PUBLISHERS_DEFAULT,
    .database = SHIM_DATABASE_DEFAULT,
    .options = shim_server_options,
    .migrations = shim_migrations,
    .types = shim_server_types,
    .batch_handler = shim_server_apply,
    //  The handler never appends (it publishes to RabbitMQ): its batches
    //  commit on the subscriber's own connection, never waiting for the
    //  writer, which appends what comes from RabbitMQ.
    .writer_for_appends = true,
    //  Its checkpoints are its only effect in the database, and what it
    //  publishes is idempotent by message id: a checkpoint lost with a
    //  database crash means the same messages again, as after a crash of
    //  the shim; the commit's flush need not hold up the next batch.
    .commit_async = true,
    //  A batch is published as one window and committed once confirmed:
    //  the larger, the less the broker idles between batches (bench/).
    .apply_batch_max = SHIM_APPLY_BATCH_MAX_DEFAULT,
    .start = shim_server_start,
    .stop = shim_server_stop,
    .ready = shim_server_ready};

int
main(int argc, char **argv)
{
    int exit_code = shim_server_preflight(&s_def, argc, argv);
    return exit_code >= 0 ? exit_code : bus_service_main(&s_def, argc, argv);
}
