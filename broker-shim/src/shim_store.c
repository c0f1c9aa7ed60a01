/*  =========================================================================
    shim_store - the broker shim's SQL: the inbox of RabbitMQ message ids
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_store.h"

#include <libpq-fe.h>

static const char *s_inbox_sql = "INSERT INTO shim_inbox (message_id) VALUES ($1::uuid)"
                                 " ON CONFLICT (message_id) DO NOTHING RETURNING 1";

//  --------------------------------------------------------------------------
//  Record a message id from RabbitMQ. A failure names the statement, its
//  error without the trailing newline, and whether the connection is gone.

bus_rc_t
shim_store_inbox_add(PGconn *conn,
                     const svc_uuid_t *message_id,
                     bool *inserted_out,
                     char **error_out)
{
    assert(conn);
    assert(message_id);
    assert(inserted_out);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(message_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = PQexecParams(conn, s_inbox_sql, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        const char *message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
        if (!*message) {
            message = result ? PQresStatus(PQresultStatus(result)) : "no result";
        }
        int length = (int) strlen(message);
        while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
            length--;
        }
        svc_error_set(error_out, "shim inbox add: %s%.*s",
                      PQstatus(conn) == CONNECTION_OK ? "" : "connection lost: ", length, message);
        PQclear(result);
        return BUS_DB_UNAVAILABLE;
    }
    *inserted_out = PQntuples(result) == 1;
    PQclear(result);
    return BUS_OK;
}
