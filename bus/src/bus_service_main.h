/*  =========================================================================
    bus_service_main - the configuration side of bus_service

    Private to bus_service: the standard options, how a loaded
    configuration is read against the definition's defaults, and the
    checks that span several options. bus_service_main lives beside them.
    =========================================================================
*/
#ifndef BUS_SERVICE_MAIN_H_INCLUDED
#define BUS_SERVICE_MAIN_H_INCLUDED

#include "bus_service.h"

//  Names of the standard options.
#define BUS_SERVICE_HTTP_ADDR "HTTP_ADDR"
#define BUS_SERVICE_DATABASE_URL "DATABASE_URL"
#define BUS_SERVICE_STREAM "STREAM"
#define BUS_SERVICE_PUB_ENDPOINT "PUB_ENDPOINT"
#define BUS_SERVICE_PUBLISHERS "PUBLISHERS"

//  A string option, or `fallback` (the definition's default) when it was
//  neither in the environment nor a flag. Borrowed from either.
const char *
bus_service_option_or(const svc_config_t *config, const char *name, const char *fallback);

//  A file option (CURVE): its value, or NULL when empty. Borrowed.
const char *bus_service_option_path(const svc_config_t *config, const char *name);

//  The stream id: STREAM, or "<name>-<REPLICA_INDEX>". Caller owns
//  return value.
char *bus_service_stream_of(const bus_service_def_t *def, const svc_config_t *config);

//  What is wrong with a loaded configuration beyond single values (an
//  invalid stream id, REPLICA_INDEX >= REPLICA_COUNT, half a CURVE
//  setting), or NULL. Caller owns return value.
char *bus_service_config_problem(const bus_service_def_t *def, const svc_config_t *config);

#endif
