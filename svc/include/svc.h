/*  =========================================================================
    svc - service runtime: the pieces every process of ours needs

    Logging (JSON lines), configuration (environment + flags), an HTTP server
    that runs inside the owning actor's loop, Prometheus metrics, exact money,
    UUIDs and W3C trace context. None of it is about the event bus; the bus
    library and every service build on it. Include this umbrella header; it brings in czmq.
    =========================================================================
*/
#ifndef SVC_H_INCLUDED
#define SVC_H_INCLUDED

#include <czmq.h>

#define SVC_VERSION_MAJOR 0
#define SVC_VERSION_MINOR 1
#define SVC_VERSION_PATCH 0
#define SVC_VERSION "0.1.0"

//  Process exit codes: each says what failed, so an operator (or systemd's
//  RestartPreventExitStatus=) can tell a bad configuration from a lost peer.
#define SVC_EXIT_OK 0       //  clean shutdown (SIGTERM, --help)
#define SVC_EXIT_FAILURE 1  //  internal error
#define SVC_EXIT_CONFIG 2   //  invalid configuration value or flag
#define SVC_EXIT_BIND 3     //  could not bind a listening address
#define SVC_EXIT_DATABASE 4 //  database schema or migration failure
#define SVC_EXIT_SECURITY 5 //  key files missing or unreadable

#include "svc_log.h"
#include "svc_config.h"
#include "svc_metrics.h"
#include "svc_http.h"
#include "svc_money.h"
#include "svc_uuid.h"
#include "svc_trace.h"

#endif
