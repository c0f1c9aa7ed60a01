/*  =========================================================================
    bus_db - opening PostgreSQL connections and pacing reconnects (private)

    Every actor of the bus that owns a connection (the stream writer, the
    replay server, the subscriber's applier, the service host) opens it the
    same way and, when the database is lost, retries on the same schedule:
    BUS_RECONNECT_MIN_MS doubling up to BUS_RECONNECT_MAX_MS (bus_stream.h).
    =========================================================================
*/
#ifndef BUS_DB_H_INCLUDED
#define BUS_DB_H_INCLUDED

#include "svc_log.h"

struct pg_conn;

//  Connect to `conninfo` with connect_timeout BUS_CONNECT_TIMEOUT_S and
//  application_name `app_name`, unless the conninfo sets them itself.
//  Server notices go to `log` at debug level as bus.db.notice. Blocks for
//  at most the connect timeout. Returns the connection, or NULL with the
//  reason in *error_out (caller owns it; free with zstr_free). Caller owns
//  return value (PQfinish).
struct pg_conn *
bus_db_connect(const char *conninfo, const char *app_name, svc_log_t *log, char **error_out);

//  The backoff schedule: returns the delay to wait now, *delay_ms, and
//  doubles *delay_ms for the next time, up to BUS_RECONNECT_MAX_MS. Start
//  (and restart after a success) with *delay_ms = BUS_RECONNECT_MIN_MS.
int bus_db_backoff(int *delay_ms);

#endif
