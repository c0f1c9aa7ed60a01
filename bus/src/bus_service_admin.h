/*  =========================================================================
    bus_service_admin - the dead-letter admin routes of every service

    Private to bus_service: the HTTP side of bus_inbox's dead letters, run
    on the service's query connection (bus_service.h lists the routes).
    =========================================================================
*/
#ifndef BUS_SERVICE_ADMIN_H_INCLUDED
#define BUS_SERVICE_ADMIN_H_INCLUDED

#include "bus_service.h"

//  Most bytes of the `consumer` query argument (a consumer group name).
#define BUS_SERVICE_ADMIN_CONSUMER_MAX BUS_SUBSCRIBER_CONSUMER_MAX
//  Default page size of GET /dead-letters.
#define BUS_SERVICE_ADMIN_LIMIT_DEFAULT 100

//  Register the routes on bus_service_http(service); service thread,
//  before the loop runs.
void bus_service_admin_routes(bus_service_t *service);

#endif
