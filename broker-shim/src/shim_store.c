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
//  Explain a failed statement: its error without the trailing newline,
//  marked when the connection is gone.

static void
s_result_error(PGconn *conn, const PGresult *result, const char *what, char **error_out)
{
    const char *message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
    if (!*message) {
        message = result ? PQresStatus(PQresultStatus(result)) : "no result";
    }
    int length = (int) strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    svc_error_set(error_out, "%s: %s%.*s", what,
                  PQstatus(conn) == CONNECTION_OK ? "" : "connection lost: ", length, message);
}

//  --------------------------------------------------------------------------
//  Run one statement that must end with `expected`. Returns BUS_OK and the
//  result in *result_out (caller clears it; NULL may be passed to drop
//  it), or BUS_DB_UNAVAILABLE with a message naming `what`.

static bus_rc_t
s_run(PGconn *conn,
      const char *what,
      const char *sql,
      int count,
      const char *const *values,
      const int *lengths,
      const int *formats,
      int result_format,
      ExecStatusType expected,
      PGresult **result_out,
      char **error_out)
{
    if (result_out) {
        *result_out = NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        svc_error_set(error_out, "%s: connection lost: %s", what, PQerrorMessage(conn));
        return BUS_DB_UNAVAILABLE;
    }
    PGresult *result =
        PQexecParams(conn, sql, count, NULL, values, lengths, formats, result_format);
    if (PQresultStatus(result) != expected) {
        s_result_error(conn, result, what, error_out);
        PQclear(result);
        return BUS_DB_UNAVAILABLE;
    }
    if (result_out) {
        *result_out = result;
    } else {
        PQclear(result);
    }
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Record a message id from RabbitMQ.

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
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "shim inbox add", s_inbox_sql, 1, values, NULL, NULL, 0,
                        PGRES_TUPLES_OK, &result, error_out);
    if (rc == BUS_OK) {
        *inserted_out = PQntuples(result) == 1;
        PQclear(result);
    }
    return rc;
}
