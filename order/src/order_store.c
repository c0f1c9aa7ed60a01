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

    The read model's statement locks the order row, records the event in
    the history (ON CONFLICT on the message id: an event is applied at
    most once, also beyond the inbox's checkpoint), and looks the
    transition up in arrays built from order_logic for the event's type,
    indexed by the state's position (order_logic_state_index). The state is
    read and written in one round trip, and order_logic stays the only
    place that decides.

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

//  The subscribed events (order_event_t up to, without, CANCEL_REQUESTED).
#define S_SUBSCRIBED_EVENTS ORDER_EVENT_CANCEL_REQUESTED

//  Longest text of an int64 with its NUL; of one array element.
#define S_INT_TEXT_SIZE 24
#define S_ELEMENT_SIZE (ORDER_SKU_SIZE + S_INT_TEXT_SIZE)

//  $1 order id, $2 customer, $3 currency, $4 total, $5 trace id, $6-$8
//  skus, quantities and prices, $9 created at, $10 key (NULL: none), $11
//  canonical command, $12 our stream, $13 OrderCreated's message id.
static const char *s_create_sql =
    "WITH claim AS ("
    "  INSERT INTO order_idempotency (idempotency_key, fingerprint, order_id)"
    "  SELECT $10::text, sha256(convert_to($11::text, 'UTF8')), $1::uuid"
    "  WHERE $10::text IS NOT NULL"
    "  ON CONFLICT (idempotency_key) DO NOTHING RETURNING order_id),"
    " proceed AS (SELECT WHERE $10::text IS NULL OR EXISTS (SELECT FROM claim)),"
    " created AS ("
    "  INSERT INTO orders (order_id, customer_id, currency, total_minor, status, trace_id,"
    "   created_at, updated_at)"
    "  SELECT $1::uuid, $2::text, $3::text, $4::bigint, 'PENDING', $5::text,"
    "   $9::timestamptz, $9::timestamptz FROM proceed RETURNING order_id),"
    " lines AS ("
    "  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_minor)"
    "  SELECT $1::uuid, item.line, item.sku, item.quantity, item.price FROM proceed,"
    "   unnest($6::text[], $7::integer[], $8::bigint[])"
    "   WITH ORDINALITY AS item (sku, quantity, price, line)),"
    " history AS ("
    "  INSERT INTO order_history (order_id, event, stream, message_id, occurred_at)"
    "  SELECT $1::uuid, 'OrderCreated', $12::text, $13::uuid, $9::timestamptz FROM proceed)"
    " SELECT EXISTS (SELECT FROM created), previous.order_id::text,"
    "  previous.fingerprint = sha256(convert_to($11::text, 'UTF8'))"
    " FROM (SELECT) AS one LEFT JOIN order_idempotency AS previous"
    "  ON previous.idempotency_key = $10::text";

//  After a claim that lost to a transaction our snapshot did not see.
static const char *s_claimed_sql =
    "SELECT order_id::text, fingerprint = sha256(convert_to($2::text, 'UTF8'))"
    " FROM order_idempotency WHERE idempotency_key = $1::text";

static const char *s_lock_sql = "SELECT status, stock_reserved, payment_started FROM orders"
                                " WHERE order_id = $1::uuid FOR UPDATE";

//  $1 order id, $2 new status, $3 reason, $4 our stream, $5 OrderCancelled's
//  message id, $6 cancelled at.
static const char *s_cancel_sql =
    "WITH cancelled AS ("
    "  UPDATE orders SET status = $2::text, cancel_reason = $3::text,"
    "   updated_at = $6::timestamptz"
    "  WHERE order_id = $1::uuid RETURNING order_id)"
    " INSERT INTO order_history (order_id, event, stream, message_id, occurred_at, reason)"
    " SELECT order_id, 'OrderCancelled', $4::text, $5::uuid, $6::timestamptz, $3::text"
    " FROM cancelled";

//  $1 order id, $2-$6 the event's type, stream, seq, message id and time;
//  $7 the status names by order_status_t; $8-$11 this event type's
//  transition by state position (status, stock_reserved, payment_started
//  and compensate after it); $12 the compensation's reason, $13 our
//  stream, $14 its message id, $15 now.
static const char *s_apply_sql =
    "WITH old AS ("
    "  SELECT order_id, status, stock_reserved, payment_started, trace_id,"
    "   (array_position($7::text[], status) - 1) * 4 + stock_reserved::integer * 2"
    "   + payment_started::integer + 1 AS k"
    "  FROM orders WHERE order_id = $1::uuid FOR UPDATE),"
    " recorded AS ("
    "  INSERT INTO order_history (order_id, event, stream, seq, message_id, occurred_at)"
    "  SELECT order_id, $2::text, $3::text, $4::bigint, $5::uuid, $6::timestamptz FROM old"
    "  ON CONFLICT (message_id) DO NOTHING RETURNING order_id),"
    " next AS ("
    "  SELECT old.*, ($8::text[])[k] AS status_after, ($9::boolean[])[k] AS reserved_after,"
    "   ($10::boolean[])[k] AS started_after, ($11::boolean[])[k] AS compensate"
    "  FROM old JOIN recorded USING (order_id)),"
    " changed AS ("
    "  UPDATE orders AS o SET status = n.status_after, stock_reserved = n.reserved_after,"
    "   payment_started = n.started_after,"
    "   cancel_reason = CASE WHEN n.compensate THEN $12::text ELSE o.cancel_reason END,"
    "   updated_at = $15::timestamptz"
    "  FROM next AS n WHERE o.order_id = n.order_id"
    "   AND (n.status_after, n.reserved_after, n.started_after)"
    "   IS DISTINCT FROM (n.status, n.stock_reserved, n.payment_started)"
    "  RETURNING o.order_id),"
    " compensation AS ("
    "  INSERT INTO order_history (order_id, event, stream, message_id, occurred_at, reason)"
    "  SELECT order_id, 'OrderCancelled', $13::text, $14::uuid, $15::timestamptz, $12::text"
    "  FROM next WHERE compensate)"
    " SELECT old.order_id IS NOT NULL, next.order_id IS NOT NULL,"
    "  old.status, old.stock_reserved, old.payment_started,"
    "  next.status_after, next.reserved_after, next.started_after, next.compensate,"
    "  old.trace_id"
    " FROM (SELECT) AS one LEFT JOIN old ON true LEFT JOIN next ON true";

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

static const char *s_get_sql =
    "SELECT " S_ORDER_COLUMNS ","
    " (SELECT json_agg(json_build_array(h.event, h.stream, h.seq,"
    "   (extract(epoch FROM h.occurred_at) * 1000000)::bigint, h.reason) ORDER BY h.id)"
    "  FROM (SELECT * FROM order_history WHERE order_id = o.order_id"
    "   ORDER BY id LIMIT $2::integer) AS h)"
    " FROM orders AS o WHERE o.order_id = $1::uuid";

static const char *s_list_sql = "SELECT " S_ORDER_COLUMNS " FROM orders AS o"
                                " WHERE o.customer_id = $1::text"
                                " AND ($2::uuid IS NULL OR o.order_id < $2::uuid)"
                                " ORDER BY o.order_id DESC LIMIT $3::integer";

//  The transition of one event type, as PostgreSQL array literals indexed
//  by state position.
typedef struct {
    char *status;     //  "{RESERVED,...}" (owned)
    char *reserved;   //  "{t,f,...}" (owned)
    char *started;    //  (owned)
    char *compensate; //  (owned)
} s_transition_t;

struct order_store {
    char *stream;                                    //  our stream id (owned)
    char *status_names;                              //  "{PENDING,...}" by order_status_t (owned)
    s_transition_t transitions[S_SUBSCRIBED_EVENTS]; //  by order_event_t
};

//  --------------------------------------------------------------------------
//  A PostgreSQL array literal of `count` elements, each written by
//  `element` into a buffer of S_ELEMENT_SIZE bytes. Caller owns return
//  value.

typedef void(s_element_fn)(size_t index, const void *arg, char *buffer, size_t size);

static char *
s_array_literal(size_t count, s_element_fn *element, const void *arg)
{
    size_t capacity = count * S_ELEMENT_SIZE + 3;
    char *text = zmalloc(capacity);
    size_t used = 0;
    text[used++] = '{';
    for (size_t index = 0; index < count; index++) {
        if (index > 0) {
            text[used++] = ',';
        }
        char value[S_ELEMENT_SIZE];
        element(index, arg, value, sizeof value);
        size_t length = strlen(value);
        assert(used + length + 2 <= capacity);
        memcpy(text + used, value, length);
        used += length;
    }
    text[used++] = '}';
    text[used] = '\0';
    return text;
}

static void
s_status_name_at(size_t index, const void *arg, char *buffer, size_t size)
{
    (void) arg;
    (void) snprintf(buffer, size, "%s", order_status_name((order_status_t) index));
}

//  The transition tables: what `*arg` (an order_event_t) does to the
//  state at position `index`.

static order_outcome_t
s_outcome_at(size_t index, const void *arg)
{
    return order_logic_apply(order_logic_state_at(index), *(const order_event_t *) arg);
}

static void
s_after_status(size_t index, const void *arg, char *buffer, size_t size)
{
    (void) snprintf(buffer, size, "%s", order_status_name(s_outcome_at(index, arg).state.status));
}

static void
s_after_reserved(size_t index, const void *arg, char *buffer, size_t size)
{
    (void) snprintf(buffer, size, "%s", s_outcome_at(index, arg).state.stock_reserved ? "t" : "f");
}

static void
s_after_started(size_t index, const void *arg, char *buffer, size_t size)
{
    (void) snprintf(buffer, size, "%s", s_outcome_at(index, arg).state.payment_started ? "t" : "f");
}

static void
s_after_compensate(size_t index, const void *arg, char *buffer, size_t size)
{
    (void) snprintf(buffer, size, "%s", s_outcome_at(index, arg).compensate ? "t" : "f");
}

//  --------------------------------------------------------------------------
//  Constructor and destructor.

order_store_t *
order_store_new(const char *stream)
{
    assert(stream);
    order_store_t *self = zmalloc(sizeof *self);
    self->stream = strdup(stream);
    self->status_names = s_array_literal(ORDER_STATUS_COUNT, s_status_name_at, NULL);
    for (int event = 0; event < S_SUBSCRIBED_EVENTS; event++) {
        s_transition_t *transition = &self->transitions[event];
        order_event_t which = (order_event_t) event;
        transition->status = s_array_literal(ORDER_STATE_COUNT, s_after_status, &which);
        transition->reserved = s_array_literal(ORDER_STATE_COUNT, s_after_reserved, &which);
        transition->started = s_array_literal(ORDER_STATE_COUNT, s_after_started, &which);
        transition->compensate = s_array_literal(ORDER_STATE_COUNT, s_after_compensate, &which);
    }
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
    for (int event = S_SUBSCRIBED_EVENTS - 1; event >= 0; event--) {
        s_transition_t *transition = &self->transitions[event];
        zstr_free(&transition->compensate);
        zstr_free(&transition->started);
        zstr_free(&transition->reserved);
        zstr_free(&transition->status);
    }
    zstr_free(&self->status_names);
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
//  Failures: the statement's message (or the connection's), trimmed.

static void
s_describe(PGconn *conn, const PGresult *result, const char *what, char *buffer, size_t size)
{
    const char *message = result ? PQresultErrorMessage(result) : "";
    if (!*message) {
        message = PQerrorMessage(conn);
    }
    if (!*message && result) {
        message = PQresStatus(PQresultStatus(result));
    }
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    (void) snprintf(buffer, size, "%s: %.*s", what, (int) length, message);
}

//  Run a statement with text parameters; the result must have `expected`
//  status (and, for tuples, `rows` rows unless rows < 0). Returns the
//  result (caller clears it) or NULL with the reason in `error`.

static PGresult *
s_run(PGconn *conn,
      const char *what,
      const char *sql,
      int count,
      const char *const *values,
      ExecStatusType expected,
      int rows,
      char *error,
      size_t error_size)
{
    PGresult *result = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != expected) {
        s_describe(conn, result, what, error, error_size);
        PQclear(result);
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
//  Create: the order's statement parameters.

typedef struct {
    char order_id[SVC_UUID_TEXT_SIZE];
    char total[S_INT_TEXT_SIZE];
    char created_at[ORDER_TIME_TEXT_SIZE];
    char message_id[SVC_UUID_TEXT_SIZE];
    char *skus;       //  owned
    char *quantities; //  owned
    char *prices;     //  owned
} s_create_params_t;

//  SKUs are [A-Za-z0-9._-]; quoting keeps a SKU named NULL a string.
static void
s_sku_at(size_t index, const void *arg, char *buffer, size_t size)
{
    const order_create_t *command = arg;
    (void) snprintf(buffer, size, "\"%s\"", command->items[index].sku);
}

static void
s_quantity_at(size_t index, const void *arg, char *buffer, size_t size)
{
    const order_create_t *command = arg;
    (void) snprintf(buffer, size, "%" PRIu32, command->items[index].quantity);
}

static void
s_price_at(size_t index, const void *arg, char *buffer, size_t size)
{
    const order_create_t *command = arg;
    (void) snprintf(buffer, size, "%" PRId64, command->items[index].unit_price_minor);
}

//  --------------------------------------------------------------------------
//  The OrderCreated event of a created order.

static int
s_append_created(bus_tx_t *tx, const order_store_create_t *create, const svc_uuid_t *message_id)
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
    envelope.message_id = (ProtobufCBinaryData){16, (uint8_t *) message_id->bytes};
    envelope.occurred_at_us = create->created_at_us;
    envelope.correlation_id = (ProtobufCBinaryData){16, (uint8_t *) create->order_id.bytes};
    envelope.traceparent = (char *) create->traceparent;
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, create->order_id.bytes, sizeof create->order_id.bytes);
}

//  --------------------------------------------------------------------------
//  Not created: the key's earlier record says replay or refuse. The row
//  is the create statement's (previous.order_id, same fingerprint), or,
//  when our snapshot could not see the record, a fresh look at it.

static int
s_create_settle_key(PGconn *conn, order_store_create_t *create, PGresult *created)
{
    PGresult *claimed = NULL;
    const PGresult *row = created;
    int column = 1;
    if (PQgetisnull(created, 0, 1)) {
        const char *values[] = {create->idempotency_key, create->fingerprint};
        claimed = s_run(conn, "idempotency record", s_claimed_sql, 2, values, PGRES_TUPLES_OK, 1,
                        create->error, sizeof create->error);
        if (!claimed) {
            return -1;
        }
        row = claimed;
        column = 0;
    }
    int rc = 0;
    if (svc_uuid_parse(PQgetvalue(row, 0, column), &create->existing_id) != 0) {
        (void) snprintf(create->error, sizeof create->error, "idempotency record: bad order id");
        rc = -1;
    } else {
        create->outcome =
            s_value_bool(row, 0, column + 1) ? ORDER_CREATE_REPLAYED : ORDER_CREATE_KEY_REUSED;
    }
    PQclear(claimed);
    return rc;
}

//  --------------------------------------------------------------------------
//  Unit of work: create an order.

int
order_store_create(bus_tx_t *tx, void *arg)
{
    assert(tx);
    assert(arg);
    order_store_create_t *create = arg;
    assert(create->store);
    assert(create->command);
    assert(!create->idempotency_key == !create->fingerprint);
    const order_create_t *command = create->command;
    create->outcome = ORDER_CREATE_CREATED;
    memset(&create->existing_id, 0, sizeof create->existing_id);
    create->error[0] = '\0';

    s_create_params_t params;
    svc_uuid_format(&create->order_id, params.order_id);
    (void) snprintf(params.total, sizeof params.total, "%" PRId64, command->total_minor);
    order_api_format_time(create->created_at_us, params.created_at);
    svc_uuid_t message_id;
    svc_uuid_v7(&message_id);
    svc_uuid_format(&message_id, params.message_id);
    params.skus = s_array_literal(command->item_count, s_sku_at, command);
    params.quantities = s_array_literal(command->item_count, s_quantity_at, command);
    params.prices = s_array_literal(command->item_count, s_price_at, command);
    const char *values[] = {params.order_id,     command->customer_id,
                            command->currency,   params.total,
                            create->trace_id,    params.skus,
                            params.quantities,   params.prices,
                            params.created_at,   create->idempotency_key,
                            create->fingerprint, create->store->stream,
                            params.message_id};
    PGconn *conn = bus_tx_conn(tx);
    PGresult *result = s_run(conn, "create order", s_create_sql, 13, values, PGRES_TUPLES_OK, 1,
                             create->error, sizeof create->error);
    int rc = -1;
    if (!result) {
        goto cleanup;
    }
    if (!s_value_bool(result, 0, 0)) {
        rc = s_create_settle_key(conn, create, result);
        goto cleanup;
    }
    if (s_append_created(tx, create, &message_id) != 0) {
        (void) snprintf(create->error, sizeof create->error, "OrderCreated refused by the bus");
        goto cleanup;
    }
    rc = 0;
cleanup:
    PQclear(result);
    zstr_free(&params.prices);
    zstr_free(&params.quantities);
    zstr_free(&params.skus);
    return rc;
}

static order_store_rc_t s_read_order(
    PGconn *conn, const svc_uuid_t *order_id, order_view_t *view, char *error, size_t size);

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
    order_store_rc_t rc =
        s_read_order(conn, &cancel->order_id, &cancel->view, cancel->error, sizeof cancel->error);
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
    PGresult *result = s_run(conn, "lock order", s_lock_sql, 1, lock_values, PGRES_TUPLES_OK, -1,
                             cancel->error, sizeof cancel->error);
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
    result = s_run(conn, "cancel order", s_cancel_sql, 6, values, PGRES_COMMAND_OK, -1,
                   cancel->error, sizeof cancel->error);
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
//  Read the apply statement's row into *applied. Returns 0, or -1.

static int
s_apply_read(const PGresult *result, order_store_applied_t *applied)
{
    applied->known = s_value_bool(result, 0, 0);
    applied->recorded = s_value_bool(result, 0, 1);
    if (!applied->recorded) {
        return 0;
    }
    if (s_value_state(result, 0, 2, &applied->before) != 0 ||
        s_value_state(result, 0, 5, &applied->after) != 0) {
        return -1;
    }
    applied->compensated = s_value_bool(result, 0, 8);
    if (!*applied->trace_id) {
        (void) snprintf(applied->trace_id, sizeof applied->trace_id, "%s",
                        PQgetvalue(result, 0, 9));
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The read model's handler body.

int
order_store_apply(const order_store_t *self,
                  bus_apply_t *apply,
                  const Ev__V1__Envelope *event,
                  order_store_applied_t *applied_out)
{
    assert(self);
    assert(apply);
    assert(event);
    assert(applied_out);
    memset(applied_out, 0, sizeof *applied_out);
    const ProtobufCBinaryData *order_id = s_event_order_id(event);
    if (!order_id || order_event_of_type(event->type, &applied_out->event) != 0 ||
        order_id->len != sizeof applied_out->order_id.bytes ||
        event->message_id.len != BUS_ID_SIZE) {
        return 0;
    }
    applied_out->handled = true;
    memcpy(applied_out->order_id.bytes, order_id->data, order_id->len);
    svc_trace_id(event->traceparent, applied_out->trace_id);
    if (applied_out->event == ORDER_EVENT_STOCK_REJECTED) {
        s_rejection_reason(event->stock_rejected, applied_out->reason);
    }

    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&applied_out->order_id, order_text);
    char seq[S_INT_TEXT_SIZE];
    (void) snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
    svc_uuid_t message_id;
    memcpy(message_id.bytes, event->message_id.data, BUS_ID_SIZE);
    char message_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&message_id, message_text);
    char occurred_at[ORDER_TIME_TEXT_SIZE];
    order_api_format_time(event->occurred_at_us, occurred_at);
    svc_uuid_t compensation_id;
    svc_uuid_v7(&compensation_id);
    char compensation_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&compensation_id, compensation_text);
    int64_t now_us = order_store_now_us();
    char now_text[ORDER_TIME_TEXT_SIZE];
    order_api_format_time(now_us, now_text);
    const s_transition_t *transition = &self->transitions[applied_out->event];
    const char *values[] = {order_text,
                            event->type,
                            event->stream,
                            seq,
                            message_text,
                            occurred_at,
                            self->status_names,
                            transition->status,
                            transition->reserved,
                            transition->started,
                            transition->compensate,
                            *applied_out->reason ? applied_out->reason : NULL,
                            self->stream,
                            compensation_text,
                            now_text};
    char error[ORDER_STORE_ERROR_SIZE];
    PGresult *result = s_run(bus_apply_conn(apply), "apply event", s_apply_sql, 15, values,
                             PGRES_TUPLES_OK, 1, error, sizeof error);
    if (!result) {
        bus_apply_fail(apply, "%s", error);
        return -1;
    }
    int rc = s_apply_read(result, applied_out);
    PQclear(result);
    if (rc != 0) {
        bus_apply_fail(apply, "apply event: bad state in the order's row");
        return -1;
    }
    if (applied_out->compensated) {
        char traceparent[SVC_TRACEPARENT_SIZE];
        svc_trace_from_header(event->traceparent, traceparent);
        if (s_cancelled_envelope_append(NULL, apply, &applied_out->order_id, applied_out->reason,
                                        now_us, &compensation_id, &event->message_id,
                                        traceparent) != 0) {
            bus_apply_fail(apply, "compensating OrderCancelled refused by the bus");
            return -1;
        }
    }
    return 0;
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
s_read_order(PGconn *conn, const svc_uuid_t *order_id, order_view_t *view, char *error, size_t size)
{
    char order_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, order_text);
    char limit[S_INT_TEXT_SIZE];
    (void) snprintf(limit, sizeof limit, "%d", ORDER_HISTORY_MAX);
    const char *values[] = {order_text, limit};
    PGresult *result =
        s_run(conn, "get order", s_get_sql, 2, values, PGRES_TUPLES_OK, -1, error, size);
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
order_store_get(struct pg_conn *conn,
                const svc_uuid_t *order_id,
                order_view_t *view_out,
                char **error_out)
{
    assert(conn);
    assert(order_id);
    assert(view_out);
    char error[ORDER_STORE_ERROR_SIZE];
    order_store_rc_t rc = s_read_order(conn, order_id, view_out, error, sizeof error);
    if (rc == ORDER_STORE_UNAVAILABLE || rc == ORDER_STORE_FAILED) {
        rc = s_query_failed(conn, error, error_out);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Query: a page of a customer's orders. One row more than the page says
//  whether another page follows.

order_store_rc_t
order_store_list(struct pg_conn *conn,
                 const char *customer_id,
                 const svc_uuid_t *after,
                 int limit,
                 order_page_t *page_out,
                 char **error_out)
{
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
    PGresult *result =
        s_run(conn, "list orders", s_list_sql, 3, values, PGRES_TUPLES_OK, -1, error, sizeof error);
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
