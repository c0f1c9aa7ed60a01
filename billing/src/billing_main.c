/*  =========================================================================
    billing_main - the billing-service process

    The service's definition and nothing else: bus_service_main loads the
    options (--help lists them), runs HTTP, the stream, the subscriber and
    the query connection, and calls the hooks of billing_server.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_server.h"
#include "billing_store.h"

static const bus_service_def_t s_def = {
    .name = "billing",
    .description = "Billing service: a payment per order, voided on cancel",
    .http_addr = "127.0.0.1:8082",
    .pub_endpoint = "tcp://127.0.0.1:5580",
    .publishers = "tcp://127.0.0.1:5560",
    .database = "dbname=evbus_billing",
    .options = NULL,
    .migrations = billing_migrations,
    .types = billing_server_types,
    .batch_handler = billing_server_apply,
    .start = billing_server_start,
    .stop = billing_server_stop,
    .ready = NULL};

int
main(int argc, char **argv)
{
    return bus_service_main(&s_def, argc, argv);
}
