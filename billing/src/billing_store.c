/*  =========================================================================
    billing_store - billing's SQL: one payment row per order

    A batch of events is one statement. Its CTEs lock the rows the batch's
    orders already have (in order id order), then say, with window
    functions over each order's events in seq order, which transition each
    event makes. The state machine is small enough for that: from an
    order's state before the batch, only its first event, its first
    cancel and its first create can change anything:

      no row     the first event starts the payment (create) or leaves a
                 tombstone (cancel); after a start, the first cancel voids
                 it; after a tombstone, the first create fills it in
      STARTED    the first cancel voids it
      tombstone  the first create fills it in
      otherwise  nothing

    Then one insert for the orders that had no row (their final state at
    once) and one update for the others, and the outcome of every event, in
    seq order. The insert does nothing for a row another transaction
    inserted since the statement began; the counts tell, and the batch
    fails instead of writing over it (the subscriber then applies its
    events one at a time, and sees the row). The statements, the query
    too, are prepared once per connection through bus_statements.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_store.h"

#include <libpq-fe.h>

//  RFC 3339 UTC with microseconds, as to_char writes it.
#define S_UTC_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

//  The events as arrays in seq order: order ids, created?, amounts,
//  currencies, trace ids (NULL for none). State before the batch: N (no
//  row), S (STARTED), T (tombstone without amount), D (anything else:
//  final). Returns each event's outcome in seq order, with the rows
//  written and the rows that had to be.
static const char s_apply_sql[] =
    "WITH event AS ("
    " SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::bigint[], $4::text[], $5::text[])"
    " WITH ORDINALITY AS event(order_id, created, amount_minor, currency, trace_id, ord)),"
    " locked AS MATERIALIZED ("
    " SELECT order_id, CASE WHEN status = 'STARTED' THEN 'S'"
    " WHEN amount_minor IS NULL THEN 'T' ELSE 'D' END AS state"
    " FROM billing_payments WHERE order_id IN (SELECT order_id FROM event)"
    " ORDER BY order_id FOR UPDATE),"
    " step AS MATERIALIZED ("
    " SELECT event.*, coalesce(locked.state, 'N') AS state,"
    " row_number() OVER (PARTITION BY event.order_id ORDER BY event.ord) AS nth,"
    " row_number() OVER (PARTITION BY event.order_id, event.created ORDER BY event.ord)"
    " AS nth_kind,"
    " first_value(event.created) OVER (PARTITION BY event.order_id ORDER BY event.ord)"
    " AS first_created"
    " FROM event LEFT JOIN locked ON locked.order_id = event.order_id),"
    " outcome AS MATERIALIZED ("
    " SELECT step.*, CASE"
    " WHEN state = 'N' AND nth = 1 THEN CASE WHEN created THEN 'STARTED' ELSE 'TOMBSTONE' END"
    " WHEN NOT created AND nth_kind = 1 AND (state = 'S' OR (state = 'N' AND first_created))"
    " THEN 'VOIDED'"
    " WHEN created AND nth_kind = 1 AND (state = 'T' OR (state = 'N' AND NOT first_created))"
    " THEN 'FILLED'"
    " ELSE 'UNCHANGED' END AS outcome FROM step),"
    " final AS ("
    " SELECT order_id, min(state) AS state, bool_or(outcome = 'STARTED') AS started,"
    " bool_or(outcome IN ('VOIDED', 'TOMBSTONE')) AS voided,"
    " max(amount_minor) FILTER (WHERE outcome IN ('STARTED', 'FILLED')) AS amount_minor,"
    " max(currency) FILTER (WHERE outcome IN ('STARTED', 'FILLED')) AS currency,"
    " coalesce(max(trace_id) FILTER (WHERE outcome = 'FILLED'),"
    " max(trace_id) FILTER (WHERE outcome IN ('STARTED', 'TOMBSTONE'))) AS trace_id"
    " FROM outcome GROUP BY order_id HAVING bool_or(outcome <> 'UNCHANGED')),"
    " inserted AS ("
    " INSERT INTO billing_payments (order_id, status, amount_minor, currency, trace_id,"
    " started_at, voided_at)"
    " SELECT order_id, CASE WHEN voided THEN 'VOIDED' ELSE 'STARTED' END, amount_minor,"
    " currency, trace_id, CASE WHEN started THEN now() END, CASE WHEN voided THEN now() END"
    " FROM final WHERE state = 'N'"
    " ON CONFLICT (order_id) DO NOTHING RETURNING order_id),"
    " updated AS ("
    " UPDATE billing_payments payment SET"
    " status = CASE WHEN final.voided THEN 'VOIDED' ELSE payment.status END,"
    " voided_at = CASE WHEN final.voided THEN now() ELSE payment.voided_at END,"
    " amount_minor = coalesce(final.amount_minor, payment.amount_minor),"
    " currency = coalesce(final.currency, payment.currency),"
    " trace_id = coalesce(final.trace_id, payment.trace_id), updated_at = now()"
    " FROM final WHERE payment.order_id = final.order_id AND final.state <> 'N'"
    " RETURNING payment.order_id)"
    " SELECT outcome, (SELECT count(*) FROM inserted) + (SELECT count(*) FROM updated),"
    " (SELECT count(*) FROM final) FROM outcome ORDER BY ord";

static const char s_payment_sql[] =
    "SELECT order_id::text, status, amount_minor, currency,"
    " to_char(started_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "),"
    " to_char(voided_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "), trace_id"
    " FROM billing_payments WHERE order_id = $1::uuid";

//  The service's statements, by index.
typedef enum { S_APPLY = 0, S_PAYMENT } s_statement_t;

static const bus_statement_t s_statements[] = {
    [S_APPLY] = {.name = "billing_batch_apply", .sql = s_apply_sql, .params = 5},
    [S_PAYMENT] = {.name = "billing_payment", .sql = s_payment_sql, .params = 1},
    {.name = NULL}};

struct billing_store {
    bus_statements_t *statements; //  the table, prepared on one connection (owned)
};

//  --------------------------------------------------------------------------
//  Create and destroy the memory of prepared statements.

billing_store_t *
billing_store_new(void)
{
    billing_store_t *self = zmalloc(sizeof *self);
    self->statements = bus_statements_new(s_statements);
    return self;
}

void
billing_store_destroy(billing_store_t **self_p)
{
    assert(self_p);
    billing_store_t *self = *self_p;
    if (self) {
        bus_statements_destroy(&self->statements);
        freen(*self_p);
    }
}

//  --------------------------------------------------------------------------
//  The outcome an s_apply_sql row names; -1 for none.

static int
s_outcome(const char *text)
{
    static const struct {
        const char *name;          //  as the statement writes it
        billing_outcome_t outcome; //  its value
    } outcomes[] = {{"STARTED", BILLING_STARTED},
                    {"FILLED", BILLING_FILLED},
                    {"VOIDED", BILLING_VOIDED},
                    {"TOMBSTONE", BILLING_TOMBSTONE},
                    {"UNCHANGED", BILLING_UNCHANGED}};
    for (size_t index = 0; index < sizeof outcomes / sizeof outcomes[0]; index++) {
        if (streq(text, outcomes[index].name)) {
            return (int) outcomes[index].outcome;
        }
    }
    return -1;
}

//  Read the statement's rows into outcomes_out. Returns false (with the
//  reason) if they are not one outcome per event with every row written.
static bool
s_read_outcomes(const PGresult *result,
                size_t count,
                billing_outcome_t *outcomes_out,
                char **error_out)
{
    if ((size_t) PQntuples(result) != count) {
        svc_error_set(error_out, "applying payments: %d outcomes for %zu events", PQntuples(result),
                      count);
        return false;
    }
    if (!streq(PQgetvalue(result, 0, 1), PQgetvalue(result, 0, 2))) {
        svc_error_set(error_out,
                      "applying payments: %s of %s payment rows written: another transaction"
                      " wrote one meanwhile",
                      PQgetvalue(result, 0, 1), PQgetvalue(result, 0, 2));
        return false;
    }
    for (size_t index = 0; index < count; index++) {
        int outcome = s_outcome(PQgetvalue(result, (int) index, 0));
        if (outcome < 0) {
            svc_error_set(error_out, "applying payments: unknown outcome %s",
                          PQgetvalue(result, (int) index, 0));
            return false;
        }
        outcomes_out[index] = (billing_outcome_t) outcome;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Every event's transition, in one statement.

bus_rc_t
billing_store_apply(billing_store_t *self,
                    PGconn *conn,
                    const billing_event_t *events,
                    size_t count,
                    billing_outcome_t *outcomes_out,
                    char **error_out)
{
    assert(self);
    assert(conn);
    assert(events);
    assert(count >= 1);
    assert(outcomes_out);
    bus_sqlarray_t ids = {0};
    bus_sqlarray_t created = {0};
    bus_sqlarray_t amounts = {0};
    bus_sqlarray_t currencies = {0};
    bus_sqlarray_t trace_ids = {0};
    for (size_t index = 0; index < count; index++) {
        const billing_event_t *event = &events[index];
        assert(event->trace_id);
        assert(!event->created || (event->currency && event->amount_minor >= 0));
        outcomes_out[index] = BILLING_UNCHANGED;
        bus_sqlarray_add_uuid(&ids, &event->order_id);
        bus_sqlarray_add(&created, event->created ? "t" : "f");
        if (event->created) {
            bus_sqlarray_add_int(&amounts, event->amount_minor);
        } else {
            bus_sqlarray_add(&amounts, NULL);
        }
        bus_sqlarray_add(&currencies, event->created ? event->currency : NULL);
        bus_sqlarray_add(&trace_ids, *event->trace_id ? event->trace_id : NULL);
    }
    const char *values[] = {bus_sqlarray_text(&ids), bus_sqlarray_text(&created),
                            bus_sqlarray_text(&amounts), bus_sqlarray_text(&currencies),
                            bus_sqlarray_text(&trace_ids)};
    PGresult *result = bus_statements_run(self->statements, conn, S_APPLY, values, PGRES_TUPLES_OK,
                                          "applying payments", error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK && !s_read_outcomes(result, count, outcomes_out, error_out)) {
        for (size_t index = 0; index < count; index++) {
            outcomes_out[index] = BILLING_UNCHANGED;
        }
        rc = BUS_DB_UNAVAILABLE;
    }
    PQclear(result);
    bus_sqlarray_reset(&trace_ids);
    bus_sqlarray_reset(&currencies);
    bus_sqlarray_reset(&amounts);
    bus_sqlarray_reset(&created);
    bus_sqlarray_reset(&ids);
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
billing_store_payment(
    billing_store_t *self, PGconn *conn, const svc_uuid_t *order_id, json_t **out, char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(out);
    *out = NULL;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = bus_statements_run(self->statements, conn, S_PAYMENT, values,
                                          PGRES_TUPLES_OK, "reading a payment", error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK && PQntuples(result) == 0) {
        svc_error_set(error_out, "reading a payment: no such order");
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
