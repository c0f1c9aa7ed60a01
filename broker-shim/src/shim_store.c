/*  =========================================================================
    shim_store - the broker shim's SQL: outbox, failed rows, inbox

    The outbox is read by its head, never by a cursor: the relay always
    takes the oldest rows still there and deletes exactly those it had
    confirmed, so a row whose transaction committed late (a lower id seen
    after higher ones) is simply read next time, never skipped. Envelopes
    travel as binary bytea parameters and results, so nothing is escaped.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_store.h"

#include "bus_sqlarray.h"
#include "bus_statements.h"

#include <libpq-fe.h>

#include <inttypes.h>

//  A batch of the subscriber in one statement, prepared once per
//  connection: each column an array literal, unnested on the server; the
//  envelopes as hex bytea text ("\\x0a12..."). Duplicates (a batch run
//  again) are dropped by the unique (stream, seq).
static const bus_statement_t s_statements[] = {
    {.name = "shim_outbox_add_batch",
     .sql = "WITH added AS (INSERT INTO shim_outbox"
            " (stream, seq, partition, type, message_id, envelope)"
            " SELECT * FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[],"
            " $5::uuid[], $6::bytea[])"
            " ON CONFLICT (stream, seq) DO NOTHING RETURNING id)"
            " SELECT pg_notify('" SHIM_STORE_CHANNEL "', ''), (SELECT count(*) FROM added)",
     .params = 6},
    {.name = NULL}};

enum { S_ADD_BATCH };

static const char *s_read_sql = "SELECT id, envelope FROM shim_outbox"
                                " WHERE partition % $1::integer = $2::integer"
                                " AND id > $4::bigint ORDER BY id LIMIT $3::integer";

static const char *s_async_sql = "SET synchronous_commit = off";

static const char *s_delete_sql = "DELETE FROM shim_outbox WHERE id = ANY($1::bigint[])";

static const char *s_fail_sql =
    "WITH moved AS (DELETE FROM shim_outbox WHERE id = $1::bigint RETURNING *)"
    " INSERT INTO shim_outbox_failed (id, stream, seq, partition, type, message_id, envelope,"
    " error, reason, created_at)"
    " SELECT id, stream, seq, partition, type, message_id, envelope, $2, $3, created_at"
    " FROM moved";

static const char *s_depth_sql =
    "SELECT count(*), count(*) FILTER (WHERE id < $3::bigint) FROM shim_outbox"
    " WHERE partition % $1::integer = $2::integer";

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
//  Connect, as bus_db_connect does for the bus's own connections.

PGconn *
shim_store_connect(const char *conninfo, const char *app_name, char **error_out)
{
    assert(conninfo);
    assert(app_name);
    assert(error_out);
    //  Defaults first, so that the conninfo (expanded from "dbname") wins.
    const char *keywords[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {BUS_CONNECT_TIMEOUT_S, app_name, conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        s_result_error(conn, NULL, "connect", error_out);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

//  --------------------------------------------------------------------------
//  The statements of shim_store_outbox_add_batch.

bus_statements_t *
shim_store_statements_new(void)
{
    return bus_statements_new(s_statements);
}

//  --------------------------------------------------------------------------
//  A bytea element in hex text: "\x" and two digits a byte.

static void
s_add_bytea(bus_sqlarray_t *array, const uint8_t *bytes, size_t size, char **text_p)
{
    static const char digits[] = "0123456789abcdef";
    char *text = *text_p = realloc(*text_p, 2 * size + 3);
    assert(text);
    text[0] = '\\';
    text[1] = 'x';
    for (size_t index = 0; index < size; index++) {
        text[2 + 2 * index] = digits[bytes[index] >> 4];
        text[3 + 2 * index] = digits[bytes[index] & 0x0f];
    }
    text[2 + 2 * size] = '\0';
    bus_sqlarray_add(array, text);
}

//  --------------------------------------------------------------------------
//  Add a batch of events to the outbox and notify the relay, in one
//  prepared statement.

bus_rc_t
shim_store_outbox_add_batch(bus_statements_t *statements,
                            PGconn *conn,
                            const shim_outbox_event_t *events,
                            size_t count,
                            int64_t *added_out,
                            char **error_out)
{
    assert(statements);
    assert(conn);
    assert(events || count == 0);
    assert(added_out);
    *added_out = 0;
    if (count == 0) {
        return BUS_OK;
    }
    bus_sqlarray_t columns[6] = {{0}};
    char *hex = NULL;
    for (size_t index = 0; index < count; index++) {
        const shim_outbox_event_t *event = &events[index];
        assert(event->seq <= INT64_MAX);
        bus_sqlarray_add(&columns[0], event->stream);
        bus_sqlarray_add_int(&columns[1], (int64_t) event->seq);
        bus_sqlarray_add_int(&columns[2], (int64_t) event->partition);
        bus_sqlarray_add(&columns[3], event->type);
        svc_uuid_t uuid;
        memcpy(uuid.bytes, event->message_id, sizeof uuid.bytes);
        bus_sqlarray_add_uuid(&columns[4], &uuid);
        s_add_bytea(&columns[5], event->envelope, event->size, &hex);
    }
    freen(hex);
    const char *values[6];
    for (size_t column = 0; column < 6; column++) {
        values[column] = bus_sqlarray_text(&columns[column]);
    }
    PGresult *result = bus_statements_run(statements, conn, S_ADD_BATCH, values, PGRES_TUPLES_OK,
                                          "shim outbox add", error_out);
    for (size_t column = 0; column < 6; column++) {
        bus_sqlarray_reset(&columns[column]);
    }
    if (!result) {
        return BUS_DB_UNAVAILABLE;
    }
    *added_out = strtoll(PQgetvalue(result, 0, 1), NULL, 10);
    PQclear(result);
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  The relay's session: its deletes need no fsync.

bus_rc_t
shim_store_commit_async(PGconn *conn, char **error_out)
{
    assert(conn);
    return s_run(conn, "shim async commit", s_async_sql, 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK,
                 NULL, error_out);
}

//  --------------------------------------------------------------------------
//  LISTEN on the outbox channel.

bus_rc_t
shim_store_listen(PGconn *conn, char **error_out)
{
    assert(conn);
    return s_run(conn, "shim listen", "LISTEN " SHIM_STORE_CHANNEL, 0, NULL, NULL, NULL, 0,
                 PGRES_COMMAND_OK, NULL, error_out);
}

//  --------------------------------------------------------------------------
//  Consume input and count the notifications that arrived.

int
shim_store_notifications(PGconn *conn)
{
    assert(conn);
    if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
        return -1;
    }
    int count = 0;
    PGnotify *notify = PQnotifies(conn);
    while (notify) {
        count++;
        PQfreemem(notify);
        notify = PQnotifies(conn);
    }
    return count;
}

//  --------------------------------------------------------------------------
//  A big-endian int8 of a binary result.

static int64_t
s_binary_int8(const PGresult *result, int row, int column)
{
    const uint8_t *bytes = (const uint8_t *) PQgetvalue(result, row, column);
    uint64_t value = 0;
    for (int index = 0; index < 8; index++) {
        value = value << 8 | bytes[index];
    }
    return (int64_t) value;
}

//  --------------------------------------------------------------------------
//  Read the oldest rows of the replica's partitions.

bus_rc_t
shim_store_outbox_read(PGconn *conn,
                       uint32_t replica_index,
                       uint32_t replica_count,
                       int64_t after_id,
                       int limit,
                       shim_outbox_row_t **rows_out,
                       size_t *count_out,
                       char **error_out)
{
    assert(conn);
    assert(replica_count > 0 && replica_index < replica_count);
    assert(limit > 0);
    assert(rows_out);
    assert(count_out);
    *rows_out = NULL;
    *count_out = 0;
    char count_text[16], index_text[16], limit_text[16], after_text[24];
    (void) snprintf(count_text, sizeof count_text, "%" PRIu32, replica_count);
    (void) snprintf(index_text, sizeof index_text, "%" PRIu32, replica_index);
    (void) snprintf(limit_text, sizeof limit_text, "%d", limit);
    (void) snprintf(after_text, sizeof after_text, "%" PRId64, after_id);
    const char *values[] = {count_text, index_text, limit_text, after_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "shim outbox read", s_read_sql, 4, values, NULL, NULL, 1,
                        PGRES_TUPLES_OK, &result, error_out);
    if (rc != BUS_OK) {
        return rc;
    }
    int rows = PQntuples(result);
    if (rows > 0) {
        shim_outbox_row_t *out = zmalloc((size_t) rows * sizeof *out);
        for (int row = 0; row < rows; row++) {
            out[row].id = s_binary_int8(result, row, 0);
            out[row].size = (size_t) PQgetlength(result, row, 1);
            out[row].envelope = zmalloc(out[row].size + 1);
            memcpy(out[row].envelope, PQgetvalue(result, row, 1), out[row].size);
        }
        *rows_out = out;
        *count_out = (size_t) rows;
    }
    PQclear(result);
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Free rows.

void
shim_store_rows_free(shim_outbox_row_t **rows_p, size_t count)
{
    assert(rows_p);
    shim_outbox_row_t *rows = *rows_p;
    if (!rows) {
        return;
    }
    for (size_t index = 0; index < count; index++) {
        freen(rows[index].envelope);
    }
    freen(rows);
    *rows_p = NULL;
}

//  --------------------------------------------------------------------------
//  Delete confirmed rows.

bus_rc_t
shim_store_outbox_delete(PGconn *conn, const int64_t *ids, size_t count, char **error_out)
{
    assert(conn);
    assert(ids || count == 0);
    if (count == 0) {
        return BUS_OK;
    }
    //  "{1,2,3}": at most 20 digits and a comma per id.
    size_t capacity = count * 21 + 3;
    char *array = zmalloc(capacity);
    size_t used = 0;
    array[used++] = '{';
    for (size_t index = 0; index < count; index++) {
        int written =
            snprintf(array + used, capacity - used, "%s%" PRId64, index ? "," : "", ids[index]);
        assert(written > 0 && (size_t) written < capacity - used);
        used += (size_t) written;
    }
    array[used++] = '}';
    array[used] = '\0';
    const char *values[] = {array};
    bus_rc_t rc = s_run(conn, "shim outbox delete", s_delete_sql, 1, values, NULL, NULL, 0,
                        PGRES_COMMAND_OK, NULL, error_out);
    freen(array);
    return rc;
}

//  --------------------------------------------------------------------------
//  Move a row that cannot be encoded aside.

bus_rc_t
shim_store_outbox_fail(
    PGconn *conn, int64_t id, const char *error, const char *reason, char **error_out)
{
    assert(conn);
    assert(error);
    assert(reason);
    char id_text[24];
    (void) snprintf(id_text, sizeof id_text, "%" PRId64, id);
    char *kept_error = strndup(error, SHIM_STORE_REASON_MAX);
    char *kept_reason = strndup(reason, SHIM_STORE_REASON_MAX);
    const char *values[] = {id_text, kept_error, kept_reason};
    bus_rc_t rc = s_run(conn, "shim outbox fail", s_fail_sql, 3, values, NULL, NULL, 0,
                        PGRES_COMMAND_OK, NULL, error_out);
    freen(kept_reason);
    freen(kept_error);
    return rc;
}

//  --------------------------------------------------------------------------
//  Count the replica's rows.

bus_rc_t
shim_store_outbox_depth(PGconn *conn,
                        uint32_t replica_index,
                        uint32_t replica_count,
                        int64_t before_id,
                        int64_t *depth_out,
                        int64_t *before_out,
                        char **error_out)
{
    assert(conn);
    assert(replica_count > 0 && replica_index < replica_count);
    assert(depth_out);
    assert(before_out);
    char count_text[16], index_text[16], before_text[24];
    (void) snprintf(count_text, sizeof count_text, "%" PRIu32, replica_count);
    (void) snprintf(index_text, sizeof index_text, "%" PRIu32, replica_index);
    (void) snprintf(before_text, sizeof before_text, "%" PRId64, before_id);
    const char *values[] = {count_text, index_text, before_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "shim outbox depth", s_depth_sql, 3, values, NULL, NULL, 0,
                        PGRES_TUPLES_OK, &result, error_out);
    if (rc == BUS_OK) {
        *depth_out = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
        *before_out = strtoll(PQgetvalue(result, 0, 1), NULL, 10);
        PQclear(result);
    }
    return rc;
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
