/*  =========================================================================
    inventory_store - the inventory's SQL: stock, reservations, queries

    Round trips are what limits a handler that runs inside the writer's
    batch transaction, so each step is one statement: the lock (which also
    answers "seen before?"), the record (stock update and reservation
    insert as one statement with data-modifying CTEs), the cancel (state
    change, give-back and tombstone in one), each a prepared statement so
    the server does not plan its CTEs for every event. Arrays travel as
    text array literals ({"SKU-1","SKU-2"}), still as parameters, never
    spliced in.

    Lock order: every statement that locks stock rows locks them in SKU
    order (ORDER BY under FOR UPDATE takes the locks in that order), so two
    replicas reserving overlapping orders queue up instead of deadlocking.
    The UPDATE that follows a lock only touches rows this transaction
    already holds.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_store.h"

#include <libpq-fe.h>

#include <inttypes.h>

//  RFC 3339 UTC with microseconds, as to_char writes it.
#define S_UTC_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

//  The reservation row of the order, if any; else the order's stock rows,
//  locked in SKU order. MATERIALIZED keeps each CTE evaluated once, before
//  the rows are returned.
static const char s_lock_sql[] =
    "WITH seen AS MATERIALIZED ("
    " SELECT status FROM inventory_reservations WHERE order_id = $1::uuid),"
    " locked AS MATERIALIZED ("
    " SELECT sku, available FROM inventory_stock"
    " WHERE sku = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM seen)"
    " ORDER BY sku FOR UPDATE)"
    " SELECT status, NULL::text, NULL::bigint FROM seen"
    " UNION ALL SELECT NULL::text, sku, available FROM locked";

//  Move the units (only for RESERVED) and insert the row; the insert only
//  happens if the update found every locked row ($6 of them), so a lost
//  row fails the step instead of reserving part of an order.
static const char s_record_sql[] =
    "WITH demand AS ("
    " SELECT sku, quantity FROM unnest($2::text[], $3::bigint[]) AS line(sku, quantity)),"
    " taken AS ("
    " UPDATE inventory_stock stock SET available = stock.available - demand.quantity,"
    " reserved = stock.reserved + demand.quantity, updated_at = now()"
    " FROM demand WHERE stock.sku = demand.sku AND $4::text = 'RESERVED'"
    " RETURNING stock.sku)"
    " INSERT INTO inventory_reservations (order_id, status, items, reason)"
    " SELECT $1::uuid, $4::text, coalesce((SELECT jsonb_agg(jsonb_build_object('sku', sku,"
    " 'quantity', quantity) ORDER BY sku COLLATE \"C\") FROM demand), '[]'), $5::text"
    " WHERE (SELECT count(*) FROM taken) = $6::bigint";

//  RESERVED -> RELEASED with its items given back (locked in SKU order
//  first), no row -> CANCELLED tombstone, else nothing (no row returned).
//  Returns the new status, the stock rows given back and the items.
static const char s_cancel_sql[] =
    "WITH changed AS ("
    " INSERT INTO inventory_reservations (order_id, status, reason)"
    " VALUES ($1::uuid, 'CANCELLED', $2::text)"
    " ON CONFLICT (order_id) DO UPDATE SET status = 'RELEASED',"
    " reason = EXCLUDED.reason, updated_at = now()"
    " WHERE inventory_reservations.status = 'RESERVED'"
    " RETURNING status, items),"
    " given AS ("
    " SELECT item.sku, item.quantity FROM changed,"
    " jsonb_to_recordset(changed.items) AS item(sku text, quantity bigint)"
    " WHERE changed.status = 'RELEASED'),"
    " locked AS MATERIALIZED ("
    " SELECT stock.sku, given.quantity FROM inventory_stock stock"
    " JOIN given ON given.sku = stock.sku ORDER BY stock.sku FOR UPDATE OF stock),"
    " returned AS ("
    " UPDATE inventory_stock stock SET available = stock.available + locked.quantity,"
    " reserved = stock.reserved - locked.quantity, updated_at = now()"
    " FROM locked WHERE stock.sku = locked.sku RETURNING stock.sku)"
    " SELECT status, (SELECT count(*) FROM returned), (SELECT count(*) FROM given)"
    " FROM changed";

//  The statements of the event steps, prepared once per connection.
typedef enum { S_LOCK = 0, S_RECORD, S_CANCEL, S_PREPARED_COUNT } s_prepared_t;

static const struct {
    const char *name; //  prepared statement name
    const char *sql;  //  its text
    int params;       //  its parameter count
} s_prepared[S_PREPARED_COUNT] = {{"inventory_lock", s_lock_sql, 2},
                                  {"inventory_record", s_record_sql, 6},
                                  {"inventory_cancel", s_cancel_sql, 2}};

//  Which of them a connection already has: one round trip, once per
//  connection.
static const char *s_prepared_sql =
    "SELECT name FROM pg_prepared_statements WHERE name LIKE 'inventory\\_%'";

//  SQLSTATE of "prepared statement does not exist".
#define S_NO_SUCH_STATEMENT "26000"

struct inventory_store {
    PGconn *conn; //  the connection the statements are known to exist on (not owned), or NULL
    int pid;      //  its backend's pid then (a new connection at the same address differs)
};

#define S_STOCK_COLUMNS                                                                            \
    "sku, available, reserved, to_char(updated_at AT TIME ZONE 'UTC', " S_UTC_FORMAT ")"

static const char *s_put_stock_sql =
    "INSERT INTO inventory_stock (sku, available) VALUES ($1, $2::bigint)"
    " ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()"
    " RETURNING " S_STOCK_COLUMNS;

static const char *s_stock_sql = "SELECT " S_STOCK_COLUMNS " FROM inventory_stock WHERE sku = $1";

static const char *s_stock_page_sql =
    "SELECT " S_STOCK_COLUMNS " FROM inventory_stock"
    " WHERE $1::text IS NULL OR sku > $1::text ORDER BY sku LIMIT $2::int";

static const char *s_reservation_sql = "SELECT order_id::text, status, items::text, reason,"
                                       " to_char(created_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "),"
                                       " to_char(updated_at AT TIME ZONE 'UTC', " S_UTC_FORMAT ")"
                                       " FROM inventory_reservations WHERE order_id = $1::uuid";

//  --------------------------------------------------------------------------
//  Give the caller a message, if it asked for one.

static void
s_set_error(char **error_out, const char *format, ...)
{
    if (!error_out) {
        return;
    }
    zstr_free(error_out);
    va_list args;
    va_start(args, format);
    *error_out = zsys_vprintf(format, args);
    va_end(args);
}

//  --------------------------------------------------------------------------
//  Explain a failed statement: its error without the trailing newline,
//  marked when the connection is gone.

static void
s_result_error(PGconn *conn, const PGresult *result, const char *what, char **error_out)
{
    const char *message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
    if (!*message) {
        message = PQresStatus(PQresultStatus(result));
    }
    int length = (int) strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    s_set_error(error_out, "%s: %s%.*s", what,
                PQstatus(conn) == CONNECTION_OK ? "" : "connection lost: ", length, message);
}

//  --------------------------------------------------------------------------
//  Run one statement with text parameters that must end with `expected`.
//  Returns BUS_OK and the result in *result_out (caller clears it), or
//  BUS_DB_UNAVAILABLE with a message naming `what`.

static bus_rc_t
s_run(PGconn *conn,
      const char *what,
      const char *sql,
      int count,
      const char *const *values,
      ExecStatusType expected,
      PGresult **result_out,
      char **error_out)
{
    *result_out = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        s_set_error(error_out, "%s: connection lost: %s", what, PQerrorMessage(conn));
        return BUS_DB_UNAVAILABLE;
    }
    PGresult *result = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != expected) {
        s_result_error(conn, result, what, error_out);
        PQclear(result);
        return BUS_DB_UNAVAILABLE;
    }
    *result_out = result;
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Create and destroy the memory of prepared statements.

inventory_store_t *
inventory_store_new(void)
{
    inventory_store_t *self = zmalloc(sizeof *self);
    return self;
}

void
inventory_store_destroy(inventory_store_t **self_p)
{
    assert(self_p);
    freen(*self_p);
}

//  --------------------------------------------------------------------------
//  Make sure `conn` has the event steps' statements: ask which it has and
//  prepare the others. Preparing is not transactional, so statements made
//  in a transaction that rolls back stay. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE.

static bus_rc_t
s_prepare(inventory_store_t *self, PGconn *conn, char **error_out)
{
    if (self->conn == conn && self->pid == PQbackendPID(conn)) {
        return BUS_OK;
    }
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "listing prepared statements", s_prepared_sql, 0, NULL,
                        PGRES_TUPLES_OK, &result, error_out);
    for (int index = 0; rc == BUS_OK && index < S_PREPARED_COUNT; index++) {
        bool exists = false;
        for (int row = 0; row < PQntuples(result); row++) {
            exists = exists || streq(PQgetvalue(result, row, 0), s_prepared[index].name);
        }
        if (!exists) {
            PGresult *prepared = PQprepare(conn, s_prepared[index].name, s_prepared[index].sql,
                                           s_prepared[index].params, NULL);
            if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
                s_set_error(error_out, "preparing %s: %s", s_prepared[index].name,
                            PQresultErrorMessage(prepared));
                rc = BUS_DB_UNAVAILABLE;
            }
            PQclear(prepared);
        }
    }
    PQclear(result);
    if (rc == BUS_OK) {
        self->conn = conn;
        self->pid = PQbackendPID(conn);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Run prepared statement `id` (preparing it on a new connection), as
//  s_run does. If the server no longer knows the statement, it is
//  prepared again on the next call.

static bus_rc_t
s_run_prepared(inventory_store_t *self,
               PGconn *conn,
               s_prepared_t id,
               const char *what,
               const char *const *values,
               ExecStatusType expected,
               PGresult **result_out,
               char **error_out)
{
    *result_out = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        s_set_error(error_out, "%s: connection lost: %s", what, PQerrorMessage(conn));
        return BUS_DB_UNAVAILABLE;
    }
    bus_rc_t rc = s_prepare(self, conn, error_out);
    if (rc != BUS_OK) {
        return rc;
    }
    PGresult *result =
        PQexecPrepared(conn, s_prepared[id].name, s_prepared[id].params, values, NULL, NULL, 0);
    if (PQresultStatus(result) != expected) {
        const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        if (sqlstate && streq(sqlstate, S_NO_SUCH_STATEMENT)) {
            self->conn = NULL;
        }
        s_result_error(conn, result, what, error_out);
        PQclear(result);
        return BUS_DB_UNAVAILABLE;
    }
    *result_out = result;
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  The lines' SKUs as a text[] literal: {"SKU-1","SKU-2"}, each element
//  quoted with '"' and '\' escaped, so any UTF-8 SKU an event carries
//  arrives intact. Caller owns return value.

static char *
s_sku_array(const inventory_line_t *lines, size_t count)
{
    size_t size = 3;
    for (size_t index = 0; index < count; index++) {
        size += 2 * strlen(lines[index].sku) + 3;
    }
    char *text = zmalloc(size);
    char *cursor = text;
    *cursor++ = '{';
    for (size_t index = 0; index < count; index++) {
        if (index > 0) {
            *cursor++ = ',';
        }
        *cursor++ = '"';
        for (const char *ch = lines[index].sku; *ch; ch++) {
            if (*ch == '"' || *ch == '\\') {
                *cursor++ = '\\';
            }
            *cursor++ = *ch;
        }
        *cursor++ = '"';
    }
    *cursor = '}';
    return text;
}

//  --------------------------------------------------------------------------
//  The lines' quantities as a bigint[] literal: {2,4}. Caller owns return
//  value.

static char *
s_quantity_array(const inventory_line_t *lines, size_t count)
{
    char *text = zmalloc(count * 21 + 3);
    char *cursor = text;
    *cursor++ = '{';
    for (size_t index = 0; index < count; index++) {
        cursor += sprintf(cursor, "%s%" PRIu64, index ? "," : "", lines[index].quantity);
    }
    *cursor = '}';
    return text;
}

//  --------------------------------------------------------------------------
//  Parse a bigint column as PostgreSQL prints it. Returns false for
//  anything else.

static bool
s_parse_bigint(const char *text, int64_t *value)
{
    if (!*text) {
        return false;
    }
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (errno || *end) {
        return false;
    }
    *value = parsed;
    return true;
}

//  --------------------------------------------------------------------------
//  Read the lock's rows into *seen_out or available_out. Returns false if
//  a row is not what s_lock_sql returns.

static bool
s_read_locked(const PGresult *result,
              const inventory_line_t *lines,
              size_t count,
              bool *seen_out,
              int64_t *available_out)
{
    int rows = PQntuples(result);
    if (rows > 0 && !PQgetisnull(result, 0, 0)) {
        *seen_out = true;
        return true;
    }
    for (int row = 0; row < rows; row++) {
        long line = inventory_logic_find(lines, count, PQgetvalue(result, row, 1));
        if (line < 0 || !s_parse_bigint(PQgetvalue(result, row, 2), &available_out[line])) {
            return false;
        }
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Seen before? Else lock and read the stock rows.

bus_rc_t
inventory_store_lock(inventory_store_t *self,
                     PGconn *conn,
                     const svc_uuid_t *order_id,
                     const inventory_line_t *lines,
                     size_t count,
                     bool *seen_out,
                     int64_t *available_out,
                     char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(lines);
    assert(seen_out);
    assert(available_out);
    *seen_out = false;
    for (size_t index = 0; index < count; index++) {
        available_out[index] = 0;
    }
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    char *skus = s_sku_array(lines, count);
    const char *values[] = {id_text, skus};
    PGresult *result = NULL;
    bus_rc_t rc = s_run_prepared(self, conn, S_LOCK, "locking stock", values, PGRES_TUPLES_OK,
                                 &result, error_out);
    if (rc == BUS_OK && !s_read_locked(result, lines, count, seen_out, available_out)) {
        s_set_error(error_out, "locking stock: a row is not a stock row of the order");
        rc = BUS_DB_UNAVAILABLE;
    }
    PQclear(result);
    freen(skus);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reserve every line, or record the rejection.

bus_rc_t
inventory_store_record(inventory_store_t *self,
                       PGconn *conn,
                       const svc_uuid_t *order_id,
                       const inventory_line_t *lines,
                       size_t count,
                       const char *reject_reason,
                       char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(lines);
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    char *skus = s_sku_array(lines, count);
    char *quantities = s_quantity_array(lines, count);
    char expected_text[24];
    (void) snprintf(expected_text, sizeof expected_text, "%zu", reject_reason ? 0 : count);
    const char *values[] = {id_text,       skus,
                            quantities,    reject_reason ? "REJECTED" : "RESERVED",
                            reject_reason, expected_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run_prepared(self, conn, S_RECORD, "recording a reservation", values,
                                 PGRES_COMMAND_OK, &result, error_out);
    if (rc == BUS_OK && !streq(PQcmdTuples(result), "1")) {
        s_set_error(error_out, "recording a reservation: a locked stock row is missing");
        rc = BUS_DB_UNAVAILABLE;
    }
    PQclear(result);
    freen(quantities);
    freen(skus);
    return rc;
}

//  --------------------------------------------------------------------------
//  Release, tombstone or nothing.

bus_rc_t
inventory_store_cancel(inventory_store_t *self,
                       PGconn *conn,
                       const svc_uuid_t *order_id,
                       const char *reason,
                       inventory_cancel_t *outcome_out,
                       char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(outcome_out);
    *outcome_out = INVENTORY_CANCEL_NONE;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    char *kept = NULL;
    if (reason && *reason) {
        kept = strndup(reason, inventory_logic_text_cut(reason, INVENTORY_REASON_MAX));
        assert(kept);
    }
    const char *values[] = {id_text, kept};
    PGresult *result = NULL;
    bus_rc_t rc = s_run_prepared(self, conn, S_CANCEL, "cancelling a reservation", values,
                                 PGRES_TUPLES_OK, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 1) {
        const char *status = PQgetvalue(result, 0, 0);
        if (streq(status, "CANCELLED")) {
            *outcome_out = INVENTORY_CANCEL_TOMBSTONE;
        } else if (streq(status, "RELEASED") &&
                   streq(PQgetvalue(result, 0, 1), PQgetvalue(result, 0, 2))) {
            *outcome_out = INVENTORY_CANCEL_RELEASED;
        } else {
            s_set_error(error_out, "cancelling a reservation: %s of %s reserved stock rows found",
                        PQgetvalue(result, 0, 1), PQgetvalue(result, 0, 2));
            rc = BUS_DB_UNAVAILABLE;
        }
    }
    PQclear(result);
    freen(kept);
    return rc;
}

//  --------------------------------------------------------------------------
//  A JSON string of a text column, null for SQL NULL or text that is not
//  UTF-8.

static json_t *
s_text_json(const PGresult *result, int row, int column)
{
    if (PQgetisnull(result, row, column)) {
        return json_null();
    }
    json_t *value = json_string(PQgetvalue(result, row, column));
    return value ? value : json_null();
}

//  --------------------------------------------------------------------------
//  A JSON integer of a bigint column.

static json_t *
s_bigint_json(const PGresult *result, int row, int column)
{
    int64_t value = 0;
    (void) s_parse_bigint(PQgetvalue(result, row, column), &value);
    return json_integer(value);
}

//  --------------------------------------------------------------------------
//  One row of S_STOCK_COLUMNS as the API shows it.

static json_t *
s_stock_json(const PGresult *result, int row)
{
    json_t *stock = json_object();
    json_object_set_new(stock, "sku", s_text_json(result, row, 0));
    json_object_set_new(stock, "available", s_bigint_json(result, row, 1));
    json_object_set_new(stock, "reserved", s_bigint_json(result, row, 2));
    json_object_set_new(stock, "updatedAt", s_text_json(result, row, 3));
    return stock;
}

//  --------------------------------------------------------------------------
//  Run a query for at most one stock row and hand it out as JSON.

static bus_rc_t
s_stock_query(PGconn *conn,
              const char *what,
              const char *sql,
              int count,
              const char *const *values,
              json_t **out,
              char **error_out)
{
    *out = NULL;
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, what, sql, count, values, PGRES_TUPLES_OK, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 0) {
        s_set_error(error_out, "%s: no such SKU", what);
        rc = BUS_NOT_FOUND;
    } else if (rc == BUS_OK) {
        *out = s_stock_json(result, 0);
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  PUT /stock/{sku}

bus_rc_t
inventory_store_put_stock(
    PGconn *conn, const char *sku, int64_t available, json_t **out, char **error_out)
{
    assert(conn);
    assert(inventory_logic_sku_valid(sku));
    assert(available >= 0);
    assert(out);
    char available_text[24];
    (void) snprintf(available_text, sizeof available_text, "%" PRId64, available);
    const char *values[] = {sku, available_text};
    return s_stock_query(conn, "setting stock", s_put_stock_sql, 2, values, out, error_out);
}

//  --------------------------------------------------------------------------
//  GET /stock/{sku}

bus_rc_t
inventory_store_stock(PGconn *conn, const char *sku, json_t **out, char **error_out)
{
    assert(conn);
    assert(sku);
    assert(out);
    const char *values[] = {sku};
    return s_stock_query(conn, "reading stock", s_stock_sql, 1, values, out, error_out);
}

//  --------------------------------------------------------------------------
//  GET /stock: one more row than asked tells whether a next page exists.

bus_rc_t
inventory_store_stock_page(
    PGconn *conn, const char *after, int limit, json_t **out, char **error_out)
{
    assert(conn);
    assert(limit >= 1);
    assert(out);
    *out = NULL;
    char limit_text[16];
    (void) snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    const char *values[] = {after, limit_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "listing stock", s_stock_page_sql, 2, values, PGRES_TUPLES_OK,
                        &result, error_out);
    if (rc != BUS_OK) {
        return rc;
    }
    int rows = PQntuples(result);
    bool more = rows > limit;
    json_t *items = json_array();
    for (int row = 0; row < rows && row < limit; row++) {
        json_array_append_new(items, s_stock_json(result, row));
    }
    *out = json_pack("{s:o, s:o}", "items", items, "next",
                     more ? s_text_json(result, limit - 1, 0) : json_null());
    PQclear(result);
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  GET /reservations/{orderId}

bus_rc_t
inventory_store_reservation(PGconn *conn,
                            const svc_uuid_t *order_id,
                            json_t **out,
                            char **error_out)
{
    assert(conn);
    assert(order_id);
    assert(out);
    *out = NULL;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "reading a reservation", s_reservation_sql, 1, values,
                        PGRES_TUPLES_OK, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 0) {
        s_set_error(error_out, "reading a reservation: no such order");
        rc = BUS_NOT_FOUND;
    } else if (rc == BUS_OK) {
        json_t *items = json_loads(PQgetvalue(result, 0, 2), 0, NULL);
        if (!json_is_array(items)) {
            json_decref(items);
            items = json_array();
        }
        json_t *reservation = json_object();
        json_object_set_new(reservation, "orderId", s_text_json(result, 0, 0));
        json_object_set_new(reservation, "status", s_text_json(result, 0, 1));
        json_object_set_new(reservation, "items", items);
        json_object_set_new(reservation, "reason", s_text_json(result, 0, 3));
        json_object_set_new(reservation, "createdAt", s_text_json(result, 0, 4));
        json_object_set_new(reservation, "updatedAt", s_text_json(result, 0, 5));
        *out = reservation;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Has the connection lost its server?

bool
inventory_store_conn_bad(PGconn *conn)
{
    assert(conn);
    return PQstatus(conn) == CONNECTION_BAD;
}
