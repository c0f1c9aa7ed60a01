/*  =========================================================================
    inventory_main - the inventory-service process

    The service's definition and nothing else: bus_service_main loads the
    options (--help lists them), runs HTTP, the stream, the subscriber and
    the query connection, and calls the hooks of inventory_server.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_server.h"
#include "inventory_store.h"

static const bus_service_def_t s_def = {
    .name = "inventory",
    .description = "Inventory service: stock per SKU, reserved all or nothing per order",
    .http_addr = "127.0.0.1:8081",
    .pub_endpoint = "tcp://127.0.0.1:5570",
    .publishers = "tcp://127.0.0.1:5560",
    .database = "dbname=evbus_inventory",
    .options = NULL,
    .migrations = inventory_migrations,
    .types = inventory_server_types,
    .batch_handler = inventory_server_apply,
    .start = inventory_server_start,
    .stop = inventory_server_stop,
    .ready = NULL};

int
main(int argc, char **argv)
{
    return bus_service_main(&s_def, argc, argv);
}
