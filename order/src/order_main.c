/*  =========================================================================
    order_main - the order-service process

    The service's definition and nothing else: bus_service_main reads the
    options (--help lists them), runs HTTP, the stream, the subscriber and
    the query connection, and calls order_server's hooks.
    =========================================================================
*/
#include "order_classes.h"
#include "order_server.h"
#include "order_store.h"

static const bus_service_def_t s_def = {
    .name = "order",
    .description = "Order service: orders over HTTP, published as events, with a read model",
    .http_addr = "127.0.0.1:8080",
    .pub_endpoint = "tcp://127.0.0.1:5560",
    .publishers = "tcp://127.0.0.1:5570,tcp://127.0.0.1:5580",
    .database = "dbname=evbus_order",
    .options = NULL,
    .migrations = order_migrations,
    .types = order_server_types,
    .batch_handler = order_server_apply,
    //  Only a rejection's compensation appends: the read model's batches
    //  commit on the subscriber's own connection, beside the creates.
    .writer_for_appends = true,
    .start = order_server_start,
    .stop = order_server_stop};

int
main(int argc, char **argv)
{
    return bus_service_main(&s_def, argc, argv);
}
