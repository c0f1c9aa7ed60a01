/*  =========================================================================
    bus_db - opening PostgreSQL connections and pacing reconnects (private)
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_stream.h"

//  --------------------------------------------------------------------------
//  Server notices (RAISE NOTICE, "relation already exists, skipping") are
//  not errors; keep them for debugging only.

static void
s_notice(void *arg, const char *message)
{
    svc_log_debug((svc_log_t *) arg, "bus.db.notice", "{s:s}", "message", message);
}

//  --------------------------------------------------------------------------

PGconn *
bus_db_connect(const char *conninfo, const char *app_name, svc_log_t *log, char **error_out)
{
    assert(conninfo);
    assert(app_name);
    assert(log);
    assert(error_out);
    //  connect_timeout and application_name come first so that the
    //  conninfo (expanded from "dbname") can override them.
    const char *keywords[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {BUS_CONNECT_TIMEOUT_S, app_name, conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    *error_out = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        *error_out = strdup(PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, s_notice, log);
    return conn;
}

//  --------------------------------------------------------------------------

int
bus_db_backoff(int *delay_ms)
{
    assert(delay_ms);
    int now = *delay_ms < BUS_RECONNECT_MIN_MS ? BUS_RECONNECT_MIN_MS : *delay_ms;
    *delay_ms = now * 2 > BUS_RECONNECT_MAX_MS ? BUS_RECONNECT_MAX_MS : now * 2;
    return now;
}
