/*  =========================================================================
    billing_store - billing's SQL: one payment row per order

    Each transition is an INSERT ... ON CONFLICT DO UPDATE ... WHERE: the
    insert covers "no row yet", the guarded update covers the one state
    the event may change, and RETURNING says which of the two happened (no
    row returned: the guard refused, nothing changed). One round trip per
    event, a prepared statement, and the row lock the upsert takes orders
    two events of one order even across replicas.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_store.h"

#include <libpq-fe.h>

#include <inttypes.h>

//  RFC 3339 UTC with microseconds, as to_char writes it.
#define S_UTC_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

//  No row: STARTED. A tombstone without amount: fill it in, keep VOIDED.
static const char s_start_sql[] =
    "INSERT INTO billing_payments (order_id, status, amount_minor, currency, trace_id,"
    " started_at) VALUES ($1::uuid, 'STARTED', $2::bigint, $3::text, $4::text, now())"
    " ON CONFLICT (order_id) DO UPDATE SET amount_minor = EXCLUDED.amount_minor,"
    " currency = EXCLUDED.currency, trace_id = COALESCE(EXCLUDED.trace_id,"
    " billing_payments.trace_id), updated_at = now()"
    " WHERE billing_payments.status = 'VOIDED' AND billing_payments.amount_minor IS NULL"
    " RETURNING status";

//  STARTED: VOIDED. No row: a VOIDED tombstone. Returns whether it had
//  started.
static const char s_void_sql[] =
    "INSERT INTO billing_payments (order_id, status, trace_id, voided_at)"
    " VALUES ($1::uuid, 'VOIDED', $2::text, now())"
    " ON CONFLICT (order_id) DO UPDATE SET status = 'VOIDED', voided_at = now(),"
    " updated_at = now() WHERE billing_payments.status = 'STARTED'"
    " RETURNING started_at IS NOT NULL";

//  The statements of the event steps, prepared once per connection.
typedef enum { S_START = 0, S_VOID, S_PREPARED_COUNT } s_prepared_t;

static const struct {
    const char *name; //  prepared statement name
    const char *sql;  //  its text
    int params;       //  its parameter count
} s_prepared[S_PREPARED_COUNT] = {{"billing_start", s_start_sql, 4},
                                  {"billing_void", s_void_sql, 2}};

//  Which of them a connection already has: one round trip, once per
//  connection.
static const char *s_prepared_sql =
    "SELECT name FROM pg_prepared_statements WHERE name LIKE 'billing\\_%'";

//  SQLSTATE of "prepared statement does not exist".
#define S_NO_SUCH_STATEMENT "26000"

struct billing_store {
    PGconn *conn; //  the connection the statements are known to exist on (not owned), or NULL
    int pid;      //  its backend's pid then (a new connection at the same address differs)
};

static const char *s_payment_sql =
    "SELECT order_id::text, status, amount_minor, currency,"
    " to_char(started_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "),"
    " to_char(voided_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "), trace_id"
    " FROM billing_payments WHERE order_id = $1::uuid";

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
//  Run one statement with text parameters that must end with
//  PGRES_TUPLES_OK. Returns BUS_OK and the result in *result_out (caller
//  clears it), or BUS_DB_UNAVAILABLE with a message naming `what`.

static bus_rc_t
s_run(PGconn *conn,
      const char *what,
      const char *sql,
      int count,
      const char *const *values,
      PGresult **result_out,
      char **error_out)
{
    *result_out = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        s_set_error(error_out, "%s: connection lost: %s", what, PQerrorMessage(conn));
        return BUS_DB_UNAVAILABLE;
    }
    PGresult *result = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        s_result_error(conn, result, what, error_out);
        PQclear(result);
        return BUS_DB_UNAVAILABLE;
    }
    *result_out = result;
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Create and destroy the memory of prepared statements.

billing_store_t *
billing_store_new(void)
{
    billing_store_t *self = zmalloc(sizeof *self);
    return self;
}

void
billing_store_destroy(billing_store_t **self_p)
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
s_prepare(billing_store_t *self, PGconn *conn, char **error_out)
{
    if (self->conn == conn && self->pid == PQbackendPID(conn)) {
        return BUS_OK;
    }
    PGresult *result = NULL;
    bus_rc_t rc =
        s_run(conn, "listing prepared statements", s_prepared_sql, 0, NULL, &result, error_out);
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
s_run_prepared(billing_store_t *self,
               PGconn *conn,
               s_prepared_t id,
               const char *what,
               const char *const *values,
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
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
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
//  OrderCreated's transition.

bus_rc_t
billing_store_start(billing_store_t *self,
                    PGconn *conn,
                    const svc_uuid_t *order_id,
                    int64_t amount_minor,
                    const char *currency,
                    const char *trace_id,
                    billing_outcome_t *outcome_out,
                    char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(amount_minor >= 0);
    assert(currency);
    assert(trace_id);
    assert(outcome_out);
    *outcome_out = BILLING_UNCHANGED;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    char amount_text[24];
    (void) snprintf(amount_text, sizeof amount_text, "%" PRId64, amount_minor);
    const char *values[] = {id_text, amount_text, currency, *trace_id ? trace_id : NULL};
    PGresult *result = NULL;
    bus_rc_t rc =
        s_run_prepared(self, conn, S_START, "starting a payment", values, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 1) {
        *outcome_out =
            streq(PQgetvalue(result, 0, 0), "STARTED") ? BILLING_STARTED : BILLING_FILLED;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  OrderCancelled's transition.

bus_rc_t
billing_store_void(billing_store_t *self,
                   PGconn *conn,
                   const svc_uuid_t *order_id,
                   const char *trace_id,
                   billing_outcome_t *outcome_out,
                   char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(trace_id);
    assert(outcome_out);
    *outcome_out = BILLING_UNCHANGED;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text, *trace_id ? trace_id : NULL};
    PGresult *result = NULL;
    bus_rc_t rc =
        s_run_prepared(self, conn, S_VOID, "voiding a payment", values, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 1) {
        *outcome_out = streq(PQgetvalue(result, 0, 0), "t") ? BILLING_VOIDED : BILLING_TOMBSTONE;
    }
    PQclear(result);
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
//  The amount column as the API's decimal string, null when there is none
//  (a tombstone) or it cannot be shown.

static json_t *
s_amount_json(const PGresult *result, int row)
{
    if (PQgetisnull(result, row, 2) || PQgetisnull(result, row, 3)) {
        return json_null();
    }
    int digits = svc_currency_digits(PQgetvalue(result, row, 3));
    errno = 0;
    char *end = NULL;
    long long amount = strtoll(PQgetvalue(result, row, 2), &end, 10);
    if (digits < 0 || errno || *end || amount < 0) {
        return json_null();
    }
    char text[SVC_MONEY_TEXT_MAX];
    return json_string(billing_logic_format_amount(amount, digits, text));
}

//  --------------------------------------------------------------------------
//  GET /payments/{orderId}

bus_rc_t
billing_store_payment(PGconn *conn, const svc_uuid_t *order_id, json_t **out, char **error_out)
{
    assert(conn);
    assert(order_id);
    assert(out);
    *out = NULL;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = NULL;
    bus_rc_t rc = s_run(conn, "reading a payment", s_payment_sql, 1, values, &result, error_out);
    if (rc == BUS_OK && PQntuples(result) == 0) {
        s_set_error(error_out, "reading a payment: no such order");
        rc = BUS_NOT_FOUND;
    } else if (rc == BUS_OK) {
        json_t *payment = json_object();
        json_object_set_new(payment, "orderId", s_text_json(result, 0, 0));
        json_object_set_new(payment, "amount", s_amount_json(result, 0));
        json_object_set_new(payment, "currency", s_text_json(result, 0, 3));
        json_object_set_new(payment, "status", s_text_json(result, 0, 1));
        json_object_set_new(payment, "startedAt", s_text_json(result, 0, 4));
        json_object_set_new(payment, "voidedAt", s_text_json(result, 0, 5));
        json_object_set_new(payment, "traceId", s_text_json(result, 0, 6));
        *out = payment;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Has the connection lost its server?

bool
billing_store_conn_bad(PGconn *conn)
{
    assert(conn);
    return PQstatus(conn) == CONNECTION_BAD;
}
