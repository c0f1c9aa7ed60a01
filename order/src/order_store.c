/*  =========================================================================
    order_store - all SQL of the order service

    Why the statements look the way they do:

    Create is one data-modifying WITH: the idempotency claim (INSERT ... ON
    CONFLICT DO NOTHING, only when a key is given) gates the inserts of
    the order, its lines (unnest of three arrays) and its first history
    row, and the same statement reads the key's earlier record, if any. A
    record made by an earlier unit of the same batch (the same
    transaction) or committed before the statement is visible to that
    read, so two requests with one key in one batch create one order. Only
    when the key was claimed by a transaction that committed after our
    statement's snapshot (another replica) is neither visible; a second
    SELECT, with a fresh snapshot, then finds it.

    The read model's handler takes a batch of events of one stream and
    runs two statements for it, whatever its size: the first locks the
    batch's orders (in id order) and reads their state and which of the
    batch's message ids they already recorded; order_logic then folds the
    events into each order in seq order, here in C (several events of one
    order may be in one batch); the second writes every new history row
    (in recorded order, ON CONFLICT on the message id: an event is applied
    at most once, also beyond the inbox's checkpoint) and every changed
    order, from arrays through unnest. A row the second statement did not
    insert (the same message recorded meanwhile by another transaction)
    fails the batch, which the subscriber then runs again.

    Every statement is prepared once per connection (bus_statements.h):
    the store keeps one set for the writer's thread (units, and the
    handler for batches that compensate), one for the handler on the
    subscriber's own connection (batches that append nothing: the order
    service applies with writer_for_appends) and one for queries.

    Parameters are text, except none: uuids, integers and arrays are sent
    in PostgreSQL's text forms and cast in SQL. Times travel as Unix
    microseconds and are converted exactly ('epoch' + n microseconds).
    =========================================================================
*/
#include "order_classes.h"
#include "order_store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <time.h>

//  Longest text of an int64 with its NUL.
#define S_INT_TEXT_SIZE 24

//  A set of creates (one row per unit, in submission order; arrays): $1
//  order ids, $2 customers, $3 currencies, $4 totals, $5 trace ids, $6
//  created at, $7 keys (NULL: none), $8 canonical commands (NULL without
//  a key), $9 OrderCreated's message ids; the lines of all of them: $10
//  the unit's row (1-based), $11 line number, $12 skus, $13 quantities,
//  $14 prices; $15 our stream. One result row per unit, in order: whether
//  it created its order, and the key's record if any (the order it names,
//  and whether it was made for the same command). The claims run in
//  submission order, so of two units with one key the first wins and the
//  second finds the winner's record in `won` (the statement's own rows are
//  invisible to its snapshot, so `previous` sees only older ones).
static const char s_create_sql[] =
    "WITH input AS ("
    "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[],"
    "   $6::timestamptz[], $7::text[], $8::text[], $9::uuid[])"
    "   WITH ORDINALITY AS i (order_id, customer_id, currency, total_minor, trace_id,"
    "    created_at, idempotency_key, canonical, message_id, n)),"
    " claim AS ("
    "  INSERT INTO order_idempotency (idempotency_key, fingerprint, order_id)"
    "  SELECT idempotency_key, sha256(convert_to(canonical, 'UTF8')), order_id FROM input"
    "  WHERE idempotency_key IS NOT NULL ORDER BY n"
    "  ON CONFLICT (idempotency_key) DO NOTHING"
    "  RETURNING idempotency_key, fingerprint, order_id),"
    " proceed AS ("
    "  SELECT * FROM input"
    "  WHERE idempotency_key IS NULL OR order_id IN (SELECT order_id FROM claim)),"
    " created AS ("
    "  INSERT INTO orders (order_id, customer_id, currency, total_minor, status, trace_id,"
    "   created_at, updated_at)"
    "  SELECT order_id, customer_id, currency, total_minor, 'PENDING', trace_id,"
    "   created_at, created_at FROM proceed ORDER BY n),"
    " lines AS ("
    "  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_minor)"
    "  SELECT proceed.order_id, item.line, item.sku, item.quantity, item.price"
    "  FROM unnest($10::integer[], $11::integer[], $12::text[], $13::integer[], $14::bigint[])"
    "   AS item (n, line, sku, quantity, price)"
    "  JOIN proceed ON proceed.n = item.n),"
    " history AS ("
    "  INSERT INTO order_history (order_id, event, stream, message_id, occurred_at)"
    "  SELECT order_id, 'OrderCreated', $15::text, message_id, created_at FROM proceed"
    "  ORDER BY n)"
    " SELECT proceed.n IS NOT NULL, coalesce(won.order_id, previous.order_id)::text,"
    "  coalesce(won.fingerprint, previous.fingerprint)"
    "   = sha256(convert_to(input.canonical, 'UTF8'))"
    " FROM input LEFT JOIN proceed ON proceed.n = input.n"
    " LEFT JOIN claim AS won ON won.idempotency_key = input.idempotency_key"
    " LEFT JOIN order_idempotency AS previous"
    "  ON previous.idempotency_key = input.idempotency_key"
    " ORDER BY input.n";

//  After a claim that lost to a transaction our snapshot did not see.
static const char s_claimed_sql[] =
    "SELECT order_id::text, fingerprint = sha256(convert_to($2::text, 'UTF8'))"
    " FROM order_idempotency WHERE idempotency_key = $1::text";

static const char s_lock_sql[] = "SELECT status, stock_reserved, payment_started FROM orders"
                                 " WHERE order_id = $1::uuid FOR UPDATE";

//  $1 order id, $2 new status, $3 reason, $4 our stream, $5 OrderCancelled's
//  message id, $6 cancelled at.
static const char s_cancel_sql[] =
    "WITH cancelled AS ("
    "  UPDATE orders SET status = $2::text, cancel_reason = $3::text,"
    "   updated_at = $6::timestamptz"
    "  WHERE order_id = $1::uuid RETURNING order_id)"
    " INSERT INTO order_history (order_id, event, stream, message_id, occurred_at, reason)"
    " SELECT order_id, 'OrderCancelled', $4::text, $5::uuid, $6::timestamptz, $3::text"
    " FROM cancelled";

//  $1 the batch's order ids, $2 its message ids: lock the orders that
//  exist, in id order (two writers that lock several never deadlock), and
//  list which of the message ids each already recorded ("id,id,...").
#define S_APPLY_LOCK_SQL                                                                           \
    "WITH seen AS ("                                                                               \
    "  SELECT order_id, string_agg(message_id::text, ',') AS ids FROM order_history"               \
    "  WHERE message_id = ANY($2::uuid[]) GROUP BY order_id)"                                      \
    " SELECT o.order_id::text, o.status, o.stock_reserved, o.payment_started, o.trace_id,"         \
    "  seen.ids"                                                                                   \
    " FROM orders AS o LEFT JOIN seen ON seen.order_id = o.order_id"                               \
    " WHERE o.order_id = ANY($1::uuid[]) ORDER BY o.order_id FOR UPDATE OF o"
static const char s_apply_lock_sql[] = S_APPLY_LOCK_SQL;

//  The same outside the writer's transaction: an order the writer holds
//  (a cancel) is not waited for (SQLSTATE 55P03) but sends the batch into
//  the writer, because the writer's units lock orders in any order and a
//  wait could close a deadlock.
static const char s_apply_lock_nowait_sql[] = S_APPLY_LOCK_SQL " NOWAIT";

//  $1-$7 the new history rows in recorded order (order, event, stream,
//  seq, message id, time, reason); $8-$12 the changed orders (id, status,
//  stock_reserved, payment_started, cancel reason or NULL to keep it);
//  $13 now. Returns the rows inserted and the orders updated.
static const char s_apply_write_sql[] =
    "WITH recorded AS ("
    "  INSERT INTO order_history (order_id, event, stream, seq, message_id, occurred_at, reason)"
    "  SELECT r.order_id, r.event, r.stream, r.seq, r.message_id, r.occurred_at, r.reason"
    "  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::uuid[],"
    "   $6::timestamptz[], $7::text[])"
    "   WITH ORDINALITY AS r (order_id, event, stream, seq, message_id, occurred_at, reason, n)"
    "  ORDER BY r.n ON CONFLICT (message_id) DO NOTHING RETURNING 1),"
    " changed AS ("
    "  UPDATE orders AS o SET status = c.status, stock_reserved = c.reserved,"
    "   payment_started = c.started, cancel_reason = coalesce(c.reason, o.cancel_reason),"
    "   updated_at = $13::timestamptz"
    "  FROM unnest($8::uuid[], $9::text[], $10::boolean[], $11::boolean[], $12::text[])"
    "   AS c (order_id, status, reserved, started, reason)"
    "  WHERE o.order_id = c.order_id RETURNING 1)"
    " SELECT (SELECT count(*) FROM recorded), (SELECT count(*) FROM changed)";

//  The columns of an order, as s_view_from_row reads them; times as Unix
//  microseconds (extract gives an exact numeric).
#define S_ORDER_COLUMNS                                                                            \
    "o.order_id::text, o.customer_id, o.currency, o.total_minor, o.status, o.stock_reserved,"      \
    " o.payment_started, o.cancel_reason, o.trace_id,"                                             \
    " (extract(epoch FROM o.created_at) * 1000000)::bigint,"                                       \
    " (extract(epoch FROM o.updated_at) * 1000000)::bigint,"                                       \
    " (SELECT json_agg(json_build_array(i.sku, i.quantity, i.unit_price_minor) ORDER BY i.line)"   \
    "  FROM order_items AS i WHERE i.order_id = o.order_id)"
#define S_ORDER_COLUMN_COUNT 12

static const char s_get_sql[] =
    "SELECT " S_ORDER_COLUMNS ","
    " (SELECT json_agg(json_build_array(h.event, h.stream, h.seq,"
    "   (extract(epoch FROM h.occurred_at) * 1000000)::bigint, h.reason) ORDER BY h.id)"
    "  FROM (SELECT * FROM order_history WHERE order_id = o.order_id"
    "   ORDER BY id LIMIT $2::integer) AS h)"
    " FROM orders AS o WHERE o.order_id = $1::uuid";

static const char s_list_sql[] = "SELECT " S_ORDER_COLUMNS " FROM orders AS o"
                                 " WHERE o.customer_id = $1::text"
                                 " AND ($2::uuid IS NULL OR o.order_id < $2::uuid)"
                                 " ORDER BY o.order_id DESC LIMIT $3::integer";

//  The statements, prepared once per connection (bus_statements.h).
typedef enum {
    S_CREATE = 0,
    S_CLAIMED,
    S_LOCK,
    S_CANCEL,
    S_APPLY_LOCK,
    S_APPLY_LOCK_NOWAIT,
    S_APPLY_WRITE,
    S_GET,
    S_LIST
} s_statement_t;

static const bus_statement_t s_statements[] = {
    {.name = "order_create", .sql = s_create_sql, .params = 15},
    {.name = "order_claimed", .sql = s_claimed_sql, .params = 2},
    {.name = "order_lock", .sql = s_lock_sql, .params = 1},
    {.name = "order_cancel", .sql = s_cancel_sql, .params = 6},
    {.name = "order_apply_lock", .sql = s_apply_lock_sql, .params = 2},
    {.name = "order_apply_lock_nowait", .sql = s_apply_lock_nowait_sql, .params = 2},
    {.name = "order_apply_write", .sql = s_apply_write_sql, .params = 13},
    {.name = "order_get", .sql = s_get_sql, .params = 2},
    {.name = "order_list", .sql = s_list_sql, .params = 3},
    {.name = NULL}};

struct order_store {
    char *stream;              //  our stream id (owned)
    bus_statements_t *writer;  //  for units and the handler: the writer's thread (owned)
    bus_statements_t *applier; //  for the handler on the subscriber's thread (owned)
    bus_statements_t *queries; //  for order_store_get and _list: one other thread (owned)
};

//  --------------------------------------------------------------------------
//  Constructor and destructor.

order_store_t *
order_store_new(const char *stream)
{
    assert(stream);
    order_store_t *self = zmalloc(sizeof *self);
    self->stream = strdup(stream);
    self->writer = bus_statements_new(s_statements);
    self->applier = bus_statements_new(s_statements);
    self->queries = bus_statements_new(s_statements);
    return self;
}

void
order_store_destroy(order_store_t **self_p)
{
    assert(self_p);
    order_store_t *self = *self_p;
    if (!self) {
        return;
    }
    bus_statements_destroy(&self->queries);
    bus_statements_destroy(&self->applier);
    bus_statements_destroy(&self->writer);
    zstr_free(&self->stream);
    freen(self);
    *self_p = NULL;
}

const char *
order_store_stream(const order_store_t *self)
{
    assert(self);
    return self->stream;
}

int64_t
order_store_now_us(void)
{
    struct timespec now;
    int rc = clock_gettime(CLOCK_REALTIME, &now);
    assert(rc == 0);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  --------------------------------------------------------------------------
//  Run prepared statement `which` with text parameters; the result must
//  have `expected` status (and, for tuples, `rows` rows unless rows < 0).
//  Returns the result (caller clears it) or NULL with the reason in
//  `error`.

static PGresult *
s_exec(bus_statements_t *statements,
       PGconn *conn,
       s_statement_t which,
       const char *what,
       const char *const *values,
       ExecStatusType expected,
       int rows,
       char *error,
       size_t error_size)
{
    char *failure = NULL;
    PGresult *result =
        bus_statements_run(statements, conn, which, values, expected, what, &failure);
    if (!result) {
        (void) snprintf(error, error_size, "%s", failure);
        zstr_free(&failure);
        return NULL;
    }
    if (expected == PGRES_TUPLES_OK && rows >= 0 && PQntuples(result) != rows) {
        (void) snprintf(error, error_size, "%s: %d rows, expected %d", what, PQntuples(result),
                        rows);
        PQclear(result);
        return NULL;
    }
    return result;
}

//  --------------------------------------------------------------------------
//  Values from rows (from our own database, but still outside the process:
//  a bad value is an error, never an assert).

static bool
s_value_bool(const PGresult *result, int row, int column)
{
    return !PQgetisnull(result, row, column) && PQgetvalue(result, row, column)[0] == 't';
}

static int
s_value_int64(const PGresult *result, int row, int column, int64_t *value)
{
    if (PQgetisnull(result, row, column)) {
        return -1;
    }
    const char *text = PQgetvalue(result, row, column);
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (errno || end == text || *end) {
        return -1;
    }
    *value = parsed;
    return 0;
}

static int
s_value_state(const PGresult *result, int row, int column, order_state_t *state)
{
    if (PQgetisnull(result, row, column) ||
        order_status_parse(PQgetvalue(result, row, column), &state->status) != 0) {
        return -1;
    }
    state->stock_reserved = s_value_bool(result, row, column + 1);
    state->payment_started = s_value_bool(result, row, column + 2);
    return 0;
}

//  --------------------------------------------------------------------------
//  Create: the set's statement parameters, one array per column.

typedef enum {
    S_SET_ORDER = 0,
    S_SET_CUSTOMER,
    S_SET_CURRENCY,
    S_SET_TOTAL,
    S_SET_TRACE,
    S_SET_CREATED_AT,
    S_SET_KEY,
    S_SET_CANONICAL,
    S_SET_MESSAGE,
    S_SET_LINE_ROW,
    S_SET_LINE,
    S_SET_SKU,
    S_SET_QUANTITY,
    S_SET_PRICE,
    S_SET_COLUMNS
} s_set_column_t;

static void
s_create_columns(void *const *args, size_t count, bus_sqlarray_t *columns)
{
    for (size_t row = 0; row < count; row++) {
        order_store_create_t *create = args[row];
        const order_create_t *command = create->command;
        char created_at[ORDER_TIME_TEXT_SIZE];
        bus_sqlarray_add_uuid(&columns[S_SET_ORDER], &create->order_id);
        bus_sqlarray_add(&columns[S_SET_CUSTOMER], command->customer_id);
        bus_sqlarray_add(&columns[S_SET_CURRENCY], command->currency);
        bus_sqlarray_add_int(&columns[S_SET_TOTAL], command->total_minor);
        bus_sqlarray_add(&columns[S_SET_TRACE], create->trace_id);
        bus_sqlarray_add(&columns[S_SET_CREATED_AT],
                         order_api_format_time(create->created_at_us, created_at));
        bus_sqlarray_add(&columns[S_SET_KEY], create->idempotency_key);
        bus_sqlarray_add(&columns[S_SET_CANONICAL], create->fingerprint);
        bus_sqlarray_add_uuid(&columns[S_SET_MESSAGE], &create->message_id);
        for (size_t index = 0; index < command->item_count; index++) {
            bus_sqlarray_add_int(&columns[S_SET_LINE_ROW], (int64_t) row + 1);
            bus_sqlarray_add_int(&columns[S_SET_LINE], (int64_t) index + 1);
            bus_sqlarray_add(&columns[S_SET_SKU], command->items[index].sku);
            bus_sqlarray_add_int(&columns[S_SET_QUANTITY], command->items[index].quantity);
            bus_sqlarray_add_int(&columns[S_SET_PRICE], command->items[index].unit_price_minor);
        }
    }
}

//  --------------------------------------------------------------------------
//  The OrderCreated event of a created order.

static int
s_append_created(bus_tx_t *tx, const order_store_create_t *create)
{
    const order_create_t *command = create->command;
    Ev__V1__Money prices[ORDER_ITEMS_MAX];
    Ev__V1__OrderItem items[ORDER_ITEMS_MAX];
    Ev__V1__OrderItem *item_list[ORDER_ITEMS_MAX];
    for (size_t index = 0; index < command->item_count; index++) {
        ev__v1__money__init(&prices[index]);
        prices[index].currency = (char *) command->currency;
        prices[index].amount_minor = command->items[index].unit_price_minor;
        ev__v1__order_item__init(&items[index]);
        items[index].sku = (char *) command->items[index].sku;
        items[index].quantity = command->items[index].quantity;
        items[index].unit_price = &prices[index];
        item_list[index] = &items[index];
    }
    Ev__V1__Money total;
    ev__v1__money__init(&total);
    total.currency = (char *) command->currency;
    total.amount_minor = command->total_minor;
    Ev__V1__OrderCreated created;
    ev__v1__order_created__init(&created);
    created.order_id = (ProtobufCBinaryData){16, (uint8_t *) create->order_id.bytes};
    created.customer_id = (char *) command->customer_id;
    created.total = &total;
    created.n_items = command->item_count;
    created.items = item_list;
    created.created_at_us = create->created_at_us;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.message_id = (ProtobufCBinaryData){16, (uint8_t *) create->message_id.bytes};
    envelope.occurred_at_us = create->created_at_us;
    envelope.correlation_id = (ProtobufCBinaryData){16, (uint8_t *) create->order_id.bytes};
    envelope.traceparent = (char *) create->traceparent;
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, create->order_id.bytes, sizeof create->order_id.bytes);
}

//  --------------------------------------------------------------------------
//  A set's result row for one unit: created, or the key's record says
//  replay or refuse, or (no record visible) it must be looked up again.

static int
s_create_take_row(order_store_create_t *create, const PGresult *result, int row)
{
    create->set_ran = true;
    create->claim_unseen = false;
    memset(&create->existing_id, 0, sizeof create->existing_id);
    if (s_value_bool(result, row, 0)) {
        create->outcome = ORDER_CREATE_CREATED;
    } else if (PQgetisnull(result, row, 1)) {
        create->claim_unseen = true;
    } else if (svc_uuid_parse(PQgetvalue(result, row, 1), &create->existing_id) != 0) {
        (void) snprintf(create->error, sizeof create->error, "idempotency record: bad order id");
        return -1;
    } else {
        create->outcome =
            s_value_bool(result, row, 2) ? ORDER_CREATE_REPLAYED : ORDER_CREATE_KEY_REUSED;
    }
    return 0;
}

//  The key was claimed by a transaction that committed after the set's
//  snapshot: a fresh look at its record.
static int
s_create_settle_key(PGconn *conn, order_store_create_t *create)
{
    const char *values[] = {create->idempotency_key, create->fingerprint};
    PGresult *claimed = s_exec(create->store->writer, conn, S_CLAIMED, "idempotency record", values,
                               PGRES_TUPLES_OK, 1, create->error, sizeof create->error);
    if (!claimed) {
        return -1;
    }
    int rc = 0;
    if (svc_uuid_parse(PQgetvalue(claimed, 0, 0), &create->existing_id) != 0) {
        (void) snprintf(create->error, sizeof create->error, "idempotency record: bad order id");
        rc = -1;
    } else {
        create->outcome =
            s_value_bool(claimed, 0, 1) ? ORDER_CREATE_REPLAYED : ORDER_CREATE_KEY_REUSED;
    }
    PQclear(claimed);
    return rc;
}

//  --------------------------------------------------------------------------
//  The set-based half of creates: one statement for `count` units.

int
order_store_create_set(bus_tx_t *tx, void *const *args, size_t count)
{
    assert(tx);
    assert(args);
    assert(count > 0);
    order_store_create_t *first = args[0];
    for (size_t row = 0; row < count; row++) {
        order_store_create_t *create = args[row];
        assert(create->store == first->store);
        assert(create->command);
        assert(!create->idempotency_key == !create->fingerprint);
        create->set_ran = false;
        create->error[0] = '\0';
        svc_uuid_v7(&create->message_id);
    }
    bus_sqlarray_t columns[S_SET_COLUMNS] = {{0}};
    s_create_columns(args, count, columns);
    const char *values[S_SET_COLUMNS + 1];
    for (size_t column = 0; column < S_SET_COLUMNS; column++) {
        values[column] = bus_sqlarray_text(&columns[column]);
    }
    values[S_SET_COLUMNS] = first->store->stream;
    char error[ORDER_STORE_ERROR_SIZE];
    PGresult *result = s_exec(first->store->writer, bus_tx_conn(tx), S_CREATE, "create orders",
                              values, PGRES_TUPLES_OK, (int) count, error, sizeof error);
    int rc = result ? 0 : -1;
    for (size_t row = 0; row < count && rc == 0; row++) {
        rc = s_create_take_row(args[row], result, (int) row);
    }
    PQclear(result);
    for (size_t column = 0; column < S_SET_COLUMNS; column++) {
        bus_sqlarray_reset(&columns[column]);
    }
    if (rc != 0) {
        //  A set cannot say which unit failed: each keeps the reason (the
        //  writer runs them alone next).
        for (size_t row = 0; row < count; row++) {
            order_store_create_t *create = args[row];
            create->set_ran = false;
            if (!result) {
                (void) snprintf(create->error, sizeof create->error, "%s", error);
            }
        }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Unit of work: create an order (its own half, after the set's).

int
order_store_create(bus_tx_t *tx, void *arg)
{
    assert(tx);
    assert(arg);
    order_store_create_t *create = arg;
    if (!create->set_ran) {
        //  Submitted alone (bus_producer_submit), or the set's result was
        //  used by an earlier run of this batch: a set of one.
        void *const args[] = {create};
        if (order_store_create_set(tx, args, 1) != 0) {
            return -1;
        }
    }
    create->set_ran = false; //  consumed: a rerun of the batch runs the set again
    if (create->claim_unseen) {
        return s_create_settle_key(bus_tx_conn(tx), create);
    }
    if (create->outcome == ORDER_CREATE_CREATED && s_append_created(tx, create) != 0) {
        (void) snprintf(create->error, sizeof create->error, "OrderCreated refused by the bus");
        return -1;
    }
    return 0;
}

static order_store_rc_t s_read_order(bus_statements_t *statements,
                                     PGconn *conn,
                                     const svc_uuid_t *order_id,
                                     order_view_t *view,
                                     char *error,
                                     size_t size);

//  --------------------------------------------------------------------------
//  The OrderCancelled event, of a cancel request or a compensation.

static int
s_cancelled_envelope_append(bus_tx_t *tx,
                            bus_apply_t *apply,
                            const svc_uuid_t *order_id,
                            const char *reason,
                            int64_t cancelled_at_us,
                            const svc_uuid_t *message_id,
                            const ProtobufCBinaryData *causation_id,
                            const char *traceparent)
{
    Ev__V1__OrderCancelled cancelled;
    ev__v1__order_cancelled__init(&cancelled);
    cancelled.order_id = (ProtobufCBinaryData){16, (uint8_t *) order_id->bytes};
    cancelled.reason = (char *) reason;
    cancelled.cancelled_at_us = cancelled_at_us;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.message_id = (ProtobufCBinaryData){16, (uint8_t *) message_id->bytes};
    envelope.occurred_at_us = cancelled_at_us;
    envelope.correlation_id = (ProtobufCBinaryData){16, (uint8_t *) order_id->bytes};
    if (causation_id) {
        envelope.causation_id = *causation_id;
    }
    envelope.traceparent = (char *) traceparent;
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED;
    envelope.order_cancelled = &cancelled;
    if (apply) {
        return bus_apply_append(apply, &envelope, order_id->bytes, sizeof order_id->bytes);
    }
    return bus_tx_append(tx, &envelope, order_id->bytes, sizeof order_id->bytes);
}

//  --------------------------------------------------------------------------
//  The order as the cancel unit leaves it, for the answer: read in the
//  unit, so the answer needs no other connection. Returns 0 or -1.

static int
s_cancel_read_back(PGconn *conn, order_store_cancel_t *cancel)
{
    order_store_rc_t rc = s_read_order(cancel->store->writer, conn, &cancel->order_id,
                                       &cancel->view, cancel->error, sizeof cancel->error);
    if (rc == ORDER_STORE_NOT_FOUND) {
        (void) snprintf(cancel->error, sizeof cancel->error, "read back: order not found");
    }
    return rc == ORDER_STORE_OK ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Unit of work: cancel an order.

int
order_store_cancel(bus_tx_t *tx, void *arg)
{
    assert(tx);
    assert(arg);
    order_store_cancel_t *cancel = arg;
    assert(cancel->store);
    assert(cancel->reason);
    cancel->outcome = ORDER_CANCEL_CANCELLED;
    cancel->error[0] = '\0';
    order_view_clear(&cancel->view);
    PGconn *conn = bus_tx_conn(tx);
    char order_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&cancel->order_id, order_id);

    const char *lock_values[] = {order_id};
    PGresult *result = s_exec(cancel->store->writer, conn, S_LOCK, "lock order", lock_values,
                              PGRES_TUPLES_OK, -1, cancel->error, sizeof cancel->error);
    if (!result) {
        return -1;
    }
    int rc = -1;
    order_state_t state;
    if (PQntuples(result) == 0) {
        cancel->outcome = ORDER_CANCEL_NOT_FOUND;
        rc = 0;
        goto cleanup;
    }
    if (s_value_state(result, 0, 0, &state) != 0) {
        (void) snprintf(cancel->error, sizeof cancel->error, "lock order: bad state");
        goto cleanup;
    }
    order_outcome_t outcome = order_logic_apply(state, ORDER_EVENT_CANCEL_REQUESTED);
    cancel->status = outcome.state.status;
    if (outcome.refused) {
        cancel->outcome = ORDER_CANCEL_REFUSED;
        rc = s_cancel_read_back(conn, cancel);
        goto cleanup;
    }
    PQclear(result);
    svc_uuid_t message_id;
    svc_uuid_v7(&message_id);
    char message_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&message_id, message_text);
    char at[ORDER_TIME_TEXT_SIZE];
    order_api_format_time(cancel->cancelled_at_us, at);
    const char *values[] = {order_id,       order_status_name(outcome.state.status),
                            cancel->reason, cancel->store->stream,
                            message_text,   at};
    result = s_exec(cancel->store->writer, conn, S_CANCEL, "cancel order", values, PGRES_COMMAND_OK,
                    -1, cancel->error, sizeof cancel->error);
    if (!result) {
        return -1;
    }
    if (s_cancelled_envelope_append(tx, NULL, &cancel->order_id, cancel->reason,
                                    cancel->cancelled_at_us, &message_id, NULL,
                                    cancel->traceparent) != 0) {
        (void) snprintf(cancel->error, sizeof cancel->error, "OrderCancelled refused by the bus");
        goto cleanup;
    }
    rc = s_cancel_read_back(conn, cancel);
cleanup:
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  The order id and, for StockRejected, the compensation's reason.

static const ProtobufCBinaryData *
s_event_order_id(const Ev__V1__Envelope *event)
{
    switch (event->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return &event->stock_reserved->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            return &event->stock_rejected->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return &event->stock_released->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            return &event->payment_started->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return &event->payment_voided->order_id;
        default:
            return NULL;
    }
}

//  "out of stock: <sku> (requested N, available M)"; the SKU comes from
//  another service, so it is cut to ORDER_SKU_MAX bytes on a character
//  boundary (the decoder checked it is UTF-8).

static void
s_rejection_reason(const Ev__V1__StockRejected *rejected, char reason[ORDER_REASON_SIZE])
{
    const char *sku = rejected->sku ? rejected->sku : "";
    size_t length = strlen(sku);
    if (length > ORDER_SKU_MAX) {
        length = ORDER_SKU_MAX;
        while (length > 0 && ((unsigned char) sku[length] & 0xC0) == 0x80) {
            length--;
        }
    }
    (void) snprintf(reason, ORDER_REASON_SIZE,
                    "out of stock: %.*s (requested %" PRIu32 ", available %" PRIu32 ")",
                    (int) length, sku, rejected->requested, rejected->available);
}

//  --------------------------------------------------------------------------
//  The read model's handler: a batch of events in four steps (read the
//  events, lock their orders, fold the events into the orders in C,
//  write), then the compensations' events.

//  One order of a batch: as locked, and as the batch's events leave it.
typedef struct {
    order_state_t locked;             //  its state when locked
    order_state_t state;              //  after the events folded so far
    const char *reason;               //  its compensation's reason (borrowed), or NULL
    char trace_id[SVC_TRACE_ID_SIZE]; //  the order's trace id
} s_order_t;

//  The new history rows of a batch, column by column, in recorded order.
typedef struct {
    bus_sqlarray_t order_id;    //  (owned, as each)
    bus_sqlarray_t event;       //
    bus_sqlarray_t stream;      //
    bus_sqlarray_t seq;         //  NULL for our own events (the trigger fills it)
    bus_sqlarray_t message_id;  //
    bus_sqlarray_t occurred_at; //
    bus_sqlarray_t reason;      //
    size_t rows;                //  rows added
} s_history_t;

//  A batch on its way through the four steps.
typedef struct {
    order_store_t *store;                  //  (borrowed)
    bus_apply_t *apply;                    //  (borrowed)
    bus_statements_t *statements;          //  the store's set for this thread (borrowed)
    const Ev__V1__Envelope *const *events; //  the batch (borrowed)
    size_t count;                          //  its events
    order_store_applied_t *applied;        //  one per event (borrowed)
    svc_uuid_t *compensations;             //  each event's compensation id (owned array)
    zhashx_t *orders;                      //  order id text -> s_order_t (owned)
    zhashx_t *messages;                    //  message id texts recorded, before or now (owned)
    s_history_t history;                   //  the rows to insert (owned)
    int64_t now_us;                        //  the batch's time
    char now[ORDER_TIME_TEXT_SIZE];        //  as text
    char error[ORDER_STORE_ERROR_SIZE];    //  why a statement failed
} s_batch_t;

static void
s_order_free(void **item)
{
    freen(*item);
}

static bool
s_state_equal(order_state_t one, order_state_t other)
{
    return one.status == other.status && one.stock_reserved == other.stock_reserved &&
           one.payment_started == other.payment_started;
}

static void
s_history_add(s_history_t *history,
              const char *order_id,
              const char *event,
              const char *stream,
              const char *seq,
              const char *message_id,
              const char *occurred_at,
              const char *reason)
{
    bus_sqlarray_add(&history->order_id, order_id);
    bus_sqlarray_add(&history->event, event);
    bus_sqlarray_add(&history->stream, stream);
    bus_sqlarray_add(&history->seq, seq);
    bus_sqlarray_add(&history->message_id, message_id);
    bus_sqlarray_add(&history->occurred_at, occurred_at);
    bus_sqlarray_add(&history->reason, reason);
    history->rows++;
}

static void
s_history_reset(s_history_t *history)
{
    bus_sqlarray_reset(&history->order_id);
    bus_sqlarray_reset(&history->event);
    bus_sqlarray_reset(&history->stream);
    bus_sqlarray_reset(&history->seq);
    bus_sqlarray_reset(&history->message_id);
    bus_sqlarray_reset(&history->occurred_at);
    bus_sqlarray_reset(&history->reason);
    history->rows = 0;
}

//  Step 1: what each event is about. Adds the order and message ids of
//  the subscribed events to `ids` and `messages`; returns how many.
static size_t
s_batch_read(s_batch_t *batch, bus_sqlarray_t *ids, bus_sqlarray_t *messages)
{
    size_t handled = 0;
    for (size_t index = 0; index < batch->count; index++) {
        const Ev__V1__Envelope *event = batch->events[index];
        order_store_applied_t *applied = &batch->applied[index];
        memset(applied, 0, sizeof *applied);
        const ProtobufCBinaryData *order_id = s_event_order_id(event);
        if (!order_id || order_event_of_type(event->type, &applied->event) != 0 ||
            order_id->len != sizeof applied->order_id.bytes ||
            event->message_id.len != BUS_ID_SIZE) {
            continue;
        }
        applied->handled = true;
        memcpy(applied->order_id.bytes, order_id->data, order_id->len);
        svc_trace_id(event->traceparent, applied->trace_id);
        if (applied->event == ORDER_EVENT_STOCK_REJECTED) {
            s_rejection_reason(event->stock_rejected, applied->reason);
        }
        bus_sqlarray_add_uuid(ids, &applied->order_id);
        svc_uuid_t message_id;
        memcpy(message_id.bytes, event->message_id.data, BUS_ID_SIZE);
        bus_sqlarray_add_uuid(messages, &message_id);
        handled++;
    }
    return handled;
}

//  Step 2, one locked row: the order, and the message ids it recorded
//  ("id,id,..." or NULL). Returns 0, or -1 if the row does not parse.
static int
s_batch_take_row(s_batch_t *batch, const PGresult *result, int row)
{
    svc_uuid_t order_id;
    s_order_t *order = zmalloc(sizeof *order);
    const char *trace_id = PQgetvalue(result, row, 4);
    if (svc_uuid_parse(PQgetvalue(result, row, 0), &order_id) != 0 ||
        s_value_state(result, row, 1, &order->locked) != 0 ||
        strlen(trace_id) >= sizeof order->trace_id) {
        freen(order);
        return -1;
    }
    order->state = order->locked;
    (void) snprintf(order->trace_id, sizeof order->trace_id, "%s", trace_id);
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&order_id, text);
    if (zhashx_insert(batch->orders, text, order) != 0) {
        freen(order); //  the same row twice: not from this statement
        return -1;
    }
    const char *seen = PQgetvalue(result, row, 5);
    while (*seen) {
        svc_uuid_t message_id;
        char one[SVC_UUID_TEXT_SIZE];
        size_t length = strcspn(seen, ",");
        if (length != SVC_UUID_TEXT_SIZE - 1) {
            return -1;
        }
        memcpy(one, seen, length);
        one[length] = '\0';
        if (svc_uuid_parse(one, &message_id) != 0) {
            return -1;
        }
        svc_uuid_format(&message_id, one);
        zhashx_insert(batch->messages, one, batch);
        seen += length + (seen[length] == ',' ? 1 : 0);
    }
    return 0;
}

//  Step 2: lock the batch's orders. Returns 0, or -1 with batch->error.
static int
s_batch_lock(s_batch_t *batch, bus_sqlarray_t *ids, bus_sqlarray_t *messages)
{
    bool writing = bus_apply_writing(batch->apply);
    const char *values[] = {bus_sqlarray_text(ids), bus_sqlarray_text(messages)};
    char *failure = NULL;
    PGresult *result =
        bus_statements_exec(batch->statements, bus_apply_conn(batch->apply),
                            writing ? S_APPLY_LOCK : S_APPLY_LOCK_NOWAIT, values, &failure);
    if (!result) {
        (void) snprintf(batch->error, sizeof batch->error, "lock orders: %s", failure);
        zstr_free(&failure);
        return -1;
    }
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        //  55P03 lock_not_available: NOWAIT met a row the writer holds.
        if (!writing && sqlstate && streq(sqlstate, "55P03") &&
            bus_apply_to_writer(batch->apply) == 0) {
            (void) snprintf(batch->error, sizeof batch->error,
                            "lock orders: the writer holds one; the batch runs there");
        } else {
            (void) snprintf(batch->error, sizeof batch->error, "lock orders: %s",
                            PQresultErrorMessage(result));
        }
        PQclear(result);
        return -1;
    }
    int rc = 0;
    for (int row = 0; rc == 0 && row < PQntuples(result); row++) {
        rc = s_batch_take_row(batch, result, row);
    }
    PQclear(result);
    if (rc != 0) {
        (void) snprintf(batch->error, sizeof batch->error, "lock orders: a row did not parse");
    }
    return rc;
}

//  Step 3, one event of a known order that was not recorded before: its
//  transition, its history row and, for a rejection, the compensation.
static void
s_batch_fold_event(s_batch_t *batch, size_t index, s_order_t *order, const char *order_text)
{
    const Ev__V1__Envelope *event = batch->events[index];
    order_store_applied_t *applied = &batch->applied[index];
    order_outcome_t outcome = order_logic_apply(order->state, applied->event);
    applied->recorded = true;
    applied->before = order->state;
    applied->after = outcome.state;
    order->state = outcome.state;
    char seq[S_INT_TEXT_SIZE];
    (void) snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
    svc_uuid_t message_id;
    memcpy(message_id.bytes, event->message_id.data, BUS_ID_SIZE);
    char message_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&message_id, message_text);
    char occurred_at[ORDER_TIME_TEXT_SIZE];
    order_api_format_time(event->occurred_at_us, occurred_at);
    s_history_add(&batch->history, order_text, event->type, event->stream, seq, message_text,
                  occurred_at, NULL);
    if (outcome.compensate) {
        svc_uuid_v7(&batch->compensations[index]);
        svc_uuid_format(&batch->compensations[index], message_text);
        s_history_add(&batch->history, order_text, "OrderCancelled", batch->store->stream, NULL,
                      message_text, batch->now, applied->reason);
        applied->compensated = true;
        order->reason = applied->reason;
    }
}

//  Step 3: the events in seq order, each on its order's state so far.
//  Unknown orders and message ids recorded before (or earlier in this
//  batch) are left out.
static void
s_batch_fold(s_batch_t *batch)
{
    for (size_t index = 0; index < batch->count; index++) {
        order_store_applied_t *applied = &batch->applied[index];
        if (!applied->handled) {
            continue;
        }
        char order_text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&applied->order_id, order_text);
        s_order_t *order = zhashx_lookup(batch->orders, order_text);
        if (!order) {
            continue;
        }
        applied->known = true;
        if (!*applied->trace_id) {
            (void) snprintf(applied->trace_id, sizeof applied->trace_id, "%s", order->trace_id);
        }
        svc_uuid_t message_id;
        memcpy(message_id.bytes, batch->events[index]->message_id.data, BUS_ID_SIZE);
        char message_text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&message_id, message_text);
        if (zhashx_insert(batch->messages, message_text, batch) != 0) {
            continue; //  recorded before: a duplicate
        }
        s_batch_fold_event(batch, index, order, order_text);
    }
}

//  Step 4: every new history row and every changed order in one
//  statement. Returns 0, or -1 with batch->error.
static int
s_batch_write(s_batch_t *batch)
{
    bus_sqlarray_t ids = {0}, statuses = {0}, reserved = {0}, started = {0}, reasons = {0};
    size_t changed = 0;
    for (s_order_t *order = zhashx_first(batch->orders); order;
         order = zhashx_next(batch->orders)) {
        if (s_state_equal(order->state, order->locked) && !order->reason) {
            continue;
        }
        bus_sqlarray_add(&ids, zhashx_cursor(batch->orders));
        bus_sqlarray_add(&statuses, order_status_name(order->state.status));
        bus_sqlarray_add(&reserved, order->state.stock_reserved ? "t" : "f");
        bus_sqlarray_add(&started, order->state.payment_started ? "t" : "f");
        bus_sqlarray_add(&reasons, order->reason);
        changed++;
    }
    s_history_t *history = &batch->history;
    const char *values[] = {bus_sqlarray_text(&history->order_id),
                            bus_sqlarray_text(&history->event),
                            bus_sqlarray_text(&history->stream),
                            bus_sqlarray_text(&history->seq),
                            bus_sqlarray_text(&history->message_id),
                            bus_sqlarray_text(&history->occurred_at),
                            bus_sqlarray_text(&history->reason),
                            bus_sqlarray_text(&ids),
                            bus_sqlarray_text(&statuses),
                            bus_sqlarray_text(&reserved),
                            bus_sqlarray_text(&started),
                            bus_sqlarray_text(&reasons),
                            batch->now};
    PGresult *result =
        s_exec(batch->statements, bus_apply_conn(batch->apply), S_APPLY_WRITE, "apply events",
               values, PGRES_TUPLES_OK, 1, batch->error, sizeof batch->error);
    int rc = result ? 0 : -1;
    int64_t rows = 0, updated = 0;
    if (result &&
        (s_value_int64(result, 0, 0, &rows) != 0 || s_value_int64(result, 0, 1, &updated) != 0 ||
         rows != (int64_t) history->rows || updated != (int64_t) changed)) {
        //  A message id recorded by a transaction our lock's snapshot did
        //  not see: run again, it is then seen as a duplicate.
        (void) snprintf(batch->error, sizeof batch->error,
                        "apply events: %" PRId64 " of %zu history rows and %" PRId64
                        " of %zu orders written",
                        rows, history->rows, updated, changed);
        rc = -1;
    }
    PQclear(result);
    bus_sqlarray_reset(&reasons);
    bus_sqlarray_reset(&started);
    bus_sqlarray_reset(&reserved);
    bus_sqlarray_reset(&statuses);
    bus_sqlarray_reset(&ids);
    return rc;
}

//  After the write: the compensations' OrderCancelled, in event order.
static int
s_batch_compensate(s_batch_t *batch)
{
    for (size_t index = 0; index < batch->count; index++) {
        const Ev__V1__Envelope *event = batch->events[index];
        order_store_applied_t *applied = &batch->applied[index];
        if (!applied->compensated) {
            continue;
        }
        char traceparent[SVC_TRACEPARENT_SIZE];
        svc_trace_from_header(event->traceparent, traceparent);
        if (s_cancelled_envelope_append(NULL, batch->apply, &applied->order_id, applied->reason,
                                        batch->now_us, &batch->compensations[index],
                                        &event->message_id, traceparent) != 0) {
            (void) snprintf(batch->error, sizeof batch->error,
                            "compensating OrderCancelled refused by the bus");
            return -1;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The read model's handler body.

int
order_store_apply(order_store_t *self,
                  bus_apply_t *apply,
                  const Ev__V1__Envelope *const *events,
                  size_t count,
                  order_store_applied_t *applied_out)
{
    assert(self);
    assert(apply);
    assert(events);
    assert(count >= 1);
    assert(applied_out);
    //  In the writer's transaction (its thread) or, for batches that
    //  append nothing, on the subscriber's own connection (its thread).
    s_batch_t batch = {.store = self,
                       .apply = apply,
                       .statements = bus_apply_writing(apply) ? self->writer : self->applier,
                       .events = events,
                       .count = count,
                       .applied = applied_out,
                       .now_us = order_store_now_us()};
    order_api_format_time(batch.now_us, batch.now);
    bus_sqlarray_t ids = {0}, messages = {0};
    int rc = 0;
    if (s_batch_read(&batch, &ids, &messages) == 0) {
        goto cleanup; //  nothing subscribed: no SQL
    }
    batch.compensations = zmalloc(count * sizeof *batch.compensations);
    batch.orders = zhashx_new();
    zhashx_set_destructor(batch.orders, s_order_free);
    batch.messages = zhashx_new();
    rc = s_batch_lock(&batch, &ids, &messages);
    if (rc == 0) {
        s_batch_fold(&batch);
        rc = batch.history.rows > 0 ? s_batch_write(&batch) : 0;
    }
    if (rc == 0) {
        rc = s_batch_compensate(&batch);
    }
    if (rc != 0) {
        bus_apply_fail(apply, "%s", batch.error);
    }
cleanup:
    s_history_reset(&batch.history);
    zhashx_destroy(&batch.messages);
    zhashx_destroy(&batch.orders);
    freen(batch.compensations);
    bus_sqlarray_reset(&messages);
    bus_sqlarray_reset(&ids);
    return rc;
}

//  --------------------------------------------------------------------------
//  Queries: classify a failure and keep its message.

static order_store_rc_t
s_query_failed(PGconn *conn, const char *error, char **error_out)
{
    if (error_out) {
        zstr_free(error_out);
        *error_out = strdup(error);
    }
    return PQstatus(conn) == CONNECTION_OK ? ORDER_STORE_FAILED : ORDER_STORE_UNAVAILABLE;
}

//  Lines from [[sku, quantity, price], ...] (json_agg; SQL NULL = none).

static int
s_items_from_json(const char *text, order_view_t *view)
{
    json_t *items = json_loads(text, 0, NULL);
    int rc = -1;
    if (!json_is_array(items) || json_array_size(items) > ORDER_ITEMS_MAX) {
        goto cleanup;
    }
    view->items = zmalloc((json_array_size(items) + 1) * sizeof *view->items);
    size_t index;
    json_t *item;
    json_array_foreach(items, index, item)
    {
        const char *sku = json_string_value(json_array_get(item, 0));
        json_t *quantity = json_array_get(item, 1);
        json_t *price = json_array_get(item, 2);
        if (!sku || strlen(sku) > ORDER_SKU_MAX || !json_is_integer(quantity) ||
            json_integer_value(quantity) < 1 || json_integer_value(quantity) > UINT32_MAX ||
            !json_is_integer(price)) {
            goto cleanup;
        }
        order_item_t *line = &view->items[view->item_count++];
        (void) snprintf(line->sku, sizeof line->sku, "%s", sku);
        line->quantity = (uint32_t) json_integer_value(quantity);
        line->unit_price_minor = json_integer_value(price);
    }
    rc = 0;
cleanup:
    json_decref(items);
    return rc;
}

//  History from [[event, stream, seq, at_us, reason], ...].

static int
s_history_from_json(const char *text, order_view_t *view)
{
    json_t *history = json_loads(text, 0, NULL);
    int rc = -1;
    if (!json_is_array(history) || json_array_size(history) > ORDER_HISTORY_MAX) {
        goto cleanup;
    }
    view->history = zmalloc((json_array_size(history) + 1) * sizeof *view->history);
    size_t index;
    json_t *entry;
    json_array_foreach(history, index, entry)
    {
        const char *event = json_string_value(json_array_get(entry, 0));
        const char *stream = json_string_value(json_array_get(entry, 1));
        json_t *seq = json_array_get(entry, 2);
        json_t *at = json_array_get(entry, 3);
        json_t *reason = json_array_get(entry, 4);
        if (!event || !stream || !(json_is_integer(seq) || json_is_null(seq)) ||
            !json_is_integer(at) || !(json_is_string(reason) || json_is_null(reason))) {
            goto cleanup;
        }
        order_history_entry_t *item = &view->history[view->history_count++];
        item->event = strdup(event);
        item->stream = strdup(stream);
        item->seq = json_is_integer(seq) ? (uint64_t) json_integer_value(seq) : 0;
        item->at_us = json_integer_value(at);
        item->reason = json_is_string(reason) ? strdup(json_string_value(reason)) : NULL;
    }
    rc = 0;
cleanup:
    json_decref(history);
    return rc;
}

//  An order from the S_ORDER_COLUMNS of `row` (and its history from
//  column S_ORDER_COLUMN_COUNT when `with_history`). Returns 0, or -1
//  (the view may hold parts; the caller clears it).

static int
s_view_from_row(const PGresult *result, int row, bool with_history, order_view_t *view)
{
    const char *customer_id = PQgetvalue(result, row, 1);
    const char *currency = PQgetvalue(result, row, 2);
    const char *trace_id = PQgetvalue(result, row, 8);
    if (svc_uuid_parse(PQgetvalue(result, row, 0), &view->order_id) != 0 ||
        strlen(customer_id) >= sizeof view->customer_id ||
        strlen(currency) >= sizeof view->currency || strlen(trace_id) >= sizeof view->trace_id ||
        s_value_int64(result, row, 3, &view->total_minor) != 0 ||
        s_value_state(result, row, 4, &view->state) != 0 ||
        s_value_int64(result, row, 9, &view->created_at_us) != 0 ||
        s_value_int64(result, row, 10, &view->updated_at_us) != 0) {
        return -1;
    }
    (void) snprintf(view->customer_id, sizeof view->customer_id, "%s", customer_id);
    (void) snprintf(view->currency, sizeof view->currency, "%s", currency);
    (void) snprintf(view->trace_id, sizeof view->trace_id, "%s", trace_id);
    if (!PQgetisnull(result, row, 7)) {
        view->cancel_reason = strdup(PQgetvalue(result, row, 7));
    }
    if (!PQgetisnull(result, row, 11) && s_items_from_json(PQgetvalue(result, row, 11), view)) {
        return -1;
    }
    if (with_history && !PQgetisnull(result, row, S_ORDER_COLUMN_COUNT) &&
        s_history_from_json(PQgetvalue(result, row, S_ORDER_COLUMN_COUNT), view)) {
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Read one order into `view` on any connection (a unit's too). Returns
//  OK, NOT_FOUND, or UNAVAILABLE/FAILED with the reason in `error`.

static order_store_rc_t
s_read_order(bus_statements_t *statements,
             PGconn *conn,
             const svc_uuid_t *order_id,
             order_view_t *view,
             char *error,
             size_t size)
{
    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, order_text);
    char limit[S_INT_TEXT_SIZE];
    (void) snprintf(limit, sizeof limit, "%d", ORDER_HISTORY_MAX);
    const char *values[] = {order_text, limit};
    PGresult *result =
        s_exec(statements, conn, S_GET, "get order", values, PGRES_TUPLES_OK, -1, error, size);
    if (!result) {
        return PQstatus(conn) == CONNECTION_OK ? ORDER_STORE_FAILED : ORDER_STORE_UNAVAILABLE;
    }
    order_store_rc_t rc = ORDER_STORE_OK;
    if (PQntuples(result) == 0) {
        rc = ORDER_STORE_NOT_FOUND;
    } else if (s_view_from_row(result, 0, true, view) != 0) {
        order_view_clear(view);
        (void) snprintf(error, size, "get order: a row did not parse");
        rc = ORDER_STORE_FAILED;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Query: one order.

order_store_rc_t
order_store_get(order_store_t *self,
                struct pg_conn *conn,
                const svc_uuid_t *order_id,
                order_view_t *view_out,
                char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(view_out);
    char error[ORDER_STORE_ERROR_SIZE];
    order_store_rc_t rc =
        s_read_order(self->queries, conn, order_id, view_out, error, sizeof error);
    if (rc == ORDER_STORE_UNAVAILABLE || rc == ORDER_STORE_FAILED) {
        rc = s_query_failed(conn, error, error_out);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Query: a page of a customer's orders. One row more than the page says
//  whether another page follows.

order_store_rc_t
order_store_list(order_store_t *self,
                 struct pg_conn *conn,
                 const char *customer_id,
                 const svc_uuid_t *after,
                 int limit,
                 order_page_t *page_out,
                 char **error_out)
{
    assert(self);
    assert(conn);
    assert(customer_id);
    assert(limit >= 1 && limit <= ORDER_LIST_LIMIT_MAX);
    assert(page_out);
    char after_text[SVC_UUID_TEXT_SIZE];
    if (after) {
        svc_uuid_format(after, after_text);
    }
    char limit_text[S_INT_TEXT_SIZE];
    (void) snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    const char *values[] = {customer_id, after ? after_text : NULL, limit_text};
    char error[ORDER_STORE_ERROR_SIZE];
    PGresult *result = s_exec(self->queries, conn, S_LIST, "list orders", values, PGRES_TUPLES_OK,
                              -1, error, sizeof error);
    if (!result) {
        return s_query_failed(conn, error, error_out);
    }
    int rows = PQntuples(result);
    page_out->more = rows > limit;
    size_t count = (size_t) (rows > limit ? limit : rows);
    page_out->views = zmalloc((count + 1) * sizeof *page_out->views);
    order_store_rc_t rc = ORDER_STORE_OK;
    for (size_t index = 0; index < count; index++) {
        page_out->count++;
        if (s_view_from_row(result, (int) index, false, &page_out->views[index]) != 0) {
            order_page_clear(page_out);
            rc = s_query_failed(conn, "list orders: a row did not parse", error_out);
            break;
        }
    }
    PQclear(result);
    return rc;
}

void
order_page_clear(order_page_t *page)
{
    assert(page);
    for (size_t index = 0; index < page->count; index++) {
        order_view_clear(&page->views[index]);
    }
    freen(page->views);
    memset(page, 0, sizeof *page);
}
