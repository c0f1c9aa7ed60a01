/*  =========================================================================
    inventory_store - the inventory's SQL: stock, reservations, queries

    Round trips are what limits a handler that runs inside the writer's
    batch transaction, so a whole batch of events is two statements: the
    lock (reservation rows and stock rows, which also answers "seen
    before?" for every order) and the write (stock moves, new rows and
    releases as data-modifying CTEs). The decisions between them are the
    pure inventory_batch's. Every statement, the HTTP queries too, is
    prepared once per connection through bus_statements. Arrays travel as
    array literals ({"SKU-1","SKU-2"}, bus_sqlarray.h), still as
    parameters, never spliced in.

    Lock order: reservation rows first, in order id order, then stock rows
    in SKU order (ORDER BY under FOR UPDATE takes the locks in that order),
    so two replicas applying overlapping batches queue up instead of
    deadlocking, and the one that locks a SKU second sees what the first
    left. The write only updates rows the lock holds; a row it inserts
    that another transaction inserted meanwhile fails the batch, which the
    subscriber then applies one event at a time.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_store.h"

#include <libpq-fe.h>

#include <inttypes.h>

//  RFC 3339 UTC with microseconds, as to_char writes it.
#define S_UTC_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

//  The reservation rows of the batch's orders ($1), with the items of the
//  RESERVED ones it cancels ($2); then the stock rows of the SKUs of its
//  creates ($3) and of those items, each set locked in its order.
//  MATERIALIZED keeps each CTE evaluated once, before the rows are
//  returned. Rows: (order_id, status, items, NULL, NULL) then (NULL, NULL,
//  NULL, sku, available).
static const char s_lock_sql[] =
    "WITH seen AS MATERIALIZED ("
    " SELECT order_id, status, CASE WHEN status = 'RESERVED' AND order_id = ANY($2::uuid[])"
    " THEN items END AS items FROM inventory_reservations"
    " WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE),"
    " wanted AS ("
    " SELECT line.sku FROM unnest($3::text[]) AS line(sku)"
    " UNION SELECT item.sku FROM seen,"
    " jsonb_to_recordset(seen.items) AS item(sku text, quantity bigint)),"
    " locked AS MATERIALIZED ("
    " SELECT sku, available FROM inventory_stock WHERE sku IN (SELECT sku FROM wanted)"
    " ORDER BY sku FOR UPDATE)"
    " SELECT order_id::text, status, items::text, NULL::text, NULL::bigint FROM seen"
    " UNION ALL SELECT NULL, NULL, NULL, sku, available FROM locked";

//  Units taken per SKU ($1, $2; negative gives back), new rows ($3-$5)
//  with their items ($6-$8, one element per line), releases ($9, $10).
//  Returns how many stock rows, inserts and releases happened.
static const char s_write_sql[] =
    "WITH moved AS ("
    " UPDATE inventory_stock stock SET available = stock.available - delta.taken,"
    " reserved = stock.reserved + delta.taken, updated_at = now()"
    " FROM unnest($1::text[], $2::bigint[]) AS delta(sku, taken)"
    " WHERE stock.sku = delta.sku RETURNING stock.sku),"
    " items AS ("
    " SELECT line.order_id, jsonb_agg(jsonb_build_object('sku', line.sku,"
    " 'quantity', line.quantity) ORDER BY line.sku COLLATE \"C\") AS items"
    " FROM unnest($6::uuid[], $7::text[], $8::bigint[]) AS line(order_id, sku, quantity)"
    " GROUP BY line.order_id),"
    " inserted AS ("
    " INSERT INTO inventory_reservations (order_id, status, items, reason)"
    " SELECT entry.order_id, entry.status, coalesce(items.items, '[]'), entry.reason"
    " FROM unnest($3::uuid[], $4::text[], $5::text[]) AS entry(order_id, status, reason)"
    " LEFT JOIN items ON items.order_id = entry.order_id RETURNING order_id),"
    " released AS ("
    " UPDATE inventory_reservations reservation SET status = 'RELEASED',"
    " reason = entry.reason, updated_at = now()"
    " FROM unnest($9::uuid[], $10::text[]) AS entry(order_id, reason)"
    " WHERE reservation.order_id = entry.order_id AND reservation.status = 'RESERVED'"
    " RETURNING reservation.order_id)"
    " SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM inserted),"
    " (SELECT count(*) FROM released)";

#define S_STOCK_COLUMNS                                                                            \
    "sku, available, reserved, to_char(updated_at AT TIME ZONE 'UTC', " S_UTC_FORMAT ")"

static const char s_put_stock_sql[] =
    "INSERT INTO inventory_stock (sku, available) VALUES ($1, $2::bigint)"
    " ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()"
    " RETURNING " S_STOCK_COLUMNS;

static const char s_stock_sql[] = "SELECT " S_STOCK_COLUMNS " FROM inventory_stock WHERE sku = $1";

static const char s_stock_page_sql[] =
    "SELECT " S_STOCK_COLUMNS " FROM inventory_stock"
    " WHERE $1::text IS NULL OR sku > $1::text ORDER BY sku LIMIT $2::int";

static const char s_reservation_sql[] = "SELECT order_id::text, status, items::text, reason,"
                                        " to_char(created_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "),"
                                        " to_char(updated_at AT TIME ZONE 'UTC', " S_UTC_FORMAT ")"
                                        " FROM inventory_reservations WHERE order_id = $1::uuid";

//  The service's statements, by index.
typedef enum {
    S_LOCK = 0,
    S_WRITE,
    S_PUT_STOCK,
    S_STOCK,
    S_STOCK_PAGE,
    S_RESERVATION
} s_statement_t;

static const bus_statement_t s_statements[] = {
    [S_LOCK] = {.name = "inventory_batch_lock", .sql = s_lock_sql, .params = 3},
    [S_WRITE] = {.name = "inventory_batch_write", .sql = s_write_sql, .params = 10},
    [S_PUT_STOCK] = {.name = "inventory_put_stock", .sql = s_put_stock_sql, .params = 2},
    [S_STOCK] = {.name = "inventory_stock", .sql = s_stock_sql, .params = 1},
    [S_STOCK_PAGE] = {.name = "inventory_stock_page", .sql = s_stock_page_sql, .params = 2},
    [S_RESERVATION] = {.name = "inventory_reservation", .sql = s_reservation_sql, .params = 1},
    {.name = NULL}};

struct inventory_store {
    bus_statements_t *statements; //  the table, prepared on one connection (owned)
};

//  --------------------------------------------------------------------------
//  Create and destroy the memory of prepared statements.

inventory_store_t *
inventory_store_new(void)
{
    inventory_store_t *self = zmalloc(sizeof *self);
    self->statements = bus_statements_new(s_statements);
    return self;
}

void
inventory_store_destroy(inventory_store_t **self_p)
{
    assert(self_p);
    inventory_store_t *self = *self_p;
    if (self) {
        bus_statements_destroy(&self->statements);
        freen(*self_p);
    }
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
//  A stored reservation row, as the lock returns it, told to the batch.
//  `items` (NULL unless the batch needs them) is the row's JSON:
//  [{"sku": "SKU-1", "quantity": 2}, ...]. Returns false if the row is not
//  one the batch can take.

static bool
s_read_stored(inventory_batch_t *batch,
              const char *id_text,
              const char *status_text,
              const char *items)
{
    svc_uuid_t order_id;
    inventory_status_t status = inventory_batch_status_parse(status_text);
    if (svc_uuid_parse(id_text, &order_id) != 0 || status == INVENTORY_STATUS_INVALID) {
        return false;
    }
    json_t *array = items ? json_loads(items, 0, NULL) : json_array();
    size_t count = json_is_array(array) ? json_array_size(array) : 0;
    inventory_line_t *lines = zmalloc((count ? count : 1) * sizeof *lines);
    bool valid = json_is_array(array);
    for (size_t index = 0; valid && index < count; index++) {
        json_t *item = json_array_get(array, index);
        json_t *quantity = json_object_get(item, "quantity");
        lines[index].sku = json_string_value(json_object_get(item, "sku"));
        valid = lines[index].sku && json_is_integer(quantity) && json_integer_value(quantity) >= 0;
        lines[index].quantity = valid ? (uint64_t) json_integer_value(quantity) : 0;
    }
    //  The batch copies the lines; their SKUs belong to `array` until here.
    valid = valid && inventory_batch_set_stored(batch, &order_id, status, lines, count) == 0;
    freen(lines);
    json_decref(array);
    return valid;
}

//  --------------------------------------------------------------------------
//  Read the lock's rows into the batch: reservation rows first (their
//  items may add SKUs), then stock rows. Returns false if a row is not
//  what s_lock_sql returns for this batch.

static bool
s_read_locked(const PGresult *result, inventory_batch_t *batch)
{
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        if (!PQgetisnull(result, row, 0) &&
            !s_read_stored(batch, PQgetvalue(result, row, 0), PQgetvalue(result, row, 1),
                           PQgetisnull(result, row, 2) ? NULL : PQgetvalue(result, row, 2))) {
            return false;
        }
    }
    for (int row = 0; row < rows; row++) {
        if (!PQgetisnull(result, row, 0)) {
            continue;
        }
        int64_t available = 0;
        if (!s_parse_bigint(PQgetvalue(result, row, 4), &available) ||
            inventory_batch_set_available(batch, PQgetvalue(result, row, 3), available) != 0) {
            return false;
        }
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Lock what the batch touches and tell it what was there.

bus_rc_t
inventory_store_lock(inventory_store_t *self,
                     PGconn *conn,
                     inventory_batch_t *batch,
                     char **error_out)
{
    assert(self);
    assert(conn);
    assert(batch);
    bus_sqlarray_t order_ids = {0};
    bus_sqlarray_t cancelled_ids = {0};
    bus_sqlarray_t skus = {0};
    size_t count = 0;
    const inventory_order_t *orders = inventory_batch_orders(batch, &count);
    for (size_t index = 0; index < count; index++) {
        bus_sqlarray_add_uuid(&order_ids, &orders[index].order_id);
        if (orders[index].cancelled) {
            bus_sqlarray_add_uuid(&cancelled_ids, &orders[index].order_id);
        }
    }
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    for (size_t index = 0; index < count; index++) {
        bus_sqlarray_add(&skus, stock[index].sku);
    }
    const char *values[] = {bus_sqlarray_text(&order_ids), bus_sqlarray_text(&cancelled_ids),
                            bus_sqlarray_text(&skus)};
    PGresult *result = bus_statements_run(self->statements, conn, S_LOCK, values, PGRES_TUPLES_OK,
                                          "locking stock and reservations", error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK && !s_read_locked(result, batch)) {
        svc_error_set(error_out, "locking stock and reservations: a row is not one of the batch");
        rc = BUS_DB_UNAVAILABLE;
    }
    PQclear(result);
    bus_sqlarray_reset(&skus);
    bus_sqlarray_reset(&cancelled_ids);
    bus_sqlarray_reset(&order_ids);
    return rc;
}

//  --------------------------------------------------------------------------
//  The write statement's parameters, built from a decided batch, and how
//  many rows each part must touch.

typedef struct {
    bus_sqlarray_t skus;            //  $1
    bus_sqlarray_t taken;           //  $2
    bus_sqlarray_t insert_ids;      //  $3
    bus_sqlarray_t insert_statuses; //  $4
    bus_sqlarray_t insert_reasons;  //  $5
    bus_sqlarray_t line_ids;        //  $6
    bus_sqlarray_t line_skus;       //  $7
    bus_sqlarray_t line_quantities; //  $8
    bus_sqlarray_t release_ids;     //  $9
    bus_sqlarray_t release_reasons; //  $10
} s_write_t;

static void
s_write_fill(s_write_t *write, inventory_batch_t *batch)
{
    size_t count = 0;
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    for (size_t index = 0; index < count; index++) {
        if (stock[index].taken != 0) {
            bus_sqlarray_add(&write->skus, stock[index].sku);
            bus_sqlarray_add_int(&write->taken, stock[index].taken);
        }
    }
    const inventory_order_t *orders = inventory_batch_orders(batch, &count);
    for (size_t index = 0; index < count; index++) {
        const inventory_order_t *order = &orders[index];
        if (order->stored == INVENTORY_STATUS_NONE && order->status != INVENTORY_STATUS_NONE) {
            bus_sqlarray_add_uuid(&write->insert_ids, &order->order_id);
            bus_sqlarray_add(&write->insert_statuses, inventory_batch_status_name(order->status));
            bus_sqlarray_add(&write->insert_reasons, order->reason);
            for (size_t line = 0; line < order->count; line++) {
                bus_sqlarray_add_uuid(&write->line_ids, &order->order_id);
                bus_sqlarray_add(&write->line_skus, order->lines[line].sku);
                bus_sqlarray_add_int(&write->line_quantities,
                                     (int64_t) order->lines[line].quantity);
            }
        } else if (order->stored == INVENTORY_STATUS_RESERVED &&
                   order->status == INVENTORY_STATUS_RELEASED) {
            bus_sqlarray_add_uuid(&write->release_ids, &order->order_id);
            bus_sqlarray_add(&write->release_reasons, order->reason);
        }
    }
}

static void
s_write_reset(s_write_t *write)
{
    bus_sqlarray_t *arrays[] = {
        &write->skus,           &write->taken,          &write->insert_ids, &write->insert_statuses,
        &write->insert_reasons, &write->line_ids,       &write->line_skus,  &write->line_quantities,
        &write->release_ids,    &write->release_reasons};
    for (size_t index = 0; index < sizeof arrays / sizeof arrays[0]; index++) {
        bus_sqlarray_reset(arrays[index]);
    }
}

//  --------------------------------------------------------------------------
//  Write what the batch decided.

bus_rc_t
inventory_store_write(inventory_store_t *self,
                      PGconn *conn,
                      inventory_batch_t *batch,
                      char **error_out)
{
    assert(self);
    assert(conn);
    assert(batch);
    s_write_t write;
    memset(&write, 0, sizeof write);
    s_write_fill(&write, batch);
    const char *values[] = {
        bus_sqlarray_text(&write.skus),           bus_sqlarray_text(&write.taken),
        bus_sqlarray_text(&write.insert_ids),     bus_sqlarray_text(&write.insert_statuses),
        bus_sqlarray_text(&write.insert_reasons), bus_sqlarray_text(&write.line_ids),
        bus_sqlarray_text(&write.line_skus),      bus_sqlarray_text(&write.line_quantities),
        bus_sqlarray_text(&write.release_ids),    bus_sqlarray_text(&write.release_reasons)};
    PGresult *result = bus_statements_run(self->statements, conn, S_WRITE, values, PGRES_TUPLES_OK,
                                          "writing reservations", error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK) {
        char expected[3][24];
        (void) snprintf(expected[0], sizeof expected[0], "%zu", bus_sqlarray_count(&write.skus));
        (void) snprintf(expected[1], sizeof expected[1], "%zu",
                        bus_sqlarray_count(&write.insert_ids));
        (void) snprintf(expected[2], sizeof expected[2], "%zu",
                        bus_sqlarray_count(&write.release_ids));
        for (int column = 0; rc == BUS_OK && column < 3; column++) {
            if (PQntuples(result) != 1 || !streq(PQgetvalue(result, 0, column), expected[column])) {
                svc_error_set(error_out,
                              "writing reservations: %s of %zu stock rows, %s of %zu new rows,"
                              " %s of %zu releases written: a locked row is missing",
                              PQgetvalue(result, 0, 0), bus_sqlarray_count(&write.skus),
                              PQgetvalue(result, 0, 1), bus_sqlarray_count(&write.insert_ids),
                              PQgetvalue(result, 0, 2), bus_sqlarray_count(&write.release_ids));
                rc = BUS_DB_UNAVAILABLE;
            }
        }
    }
    PQclear(result);
    s_write_reset(&write);
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
s_stock_query(inventory_store_t *self,
              PGconn *conn,
              const char *what,
              s_statement_t id,
              const char *const *values,
              json_t **out,
              char **error_out)
{
    *out = NULL;
    PGresult *result =
        bus_statements_run(self->statements, conn, id, values, PGRES_TUPLES_OK, what, error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK && PQntuples(result) == 0) {
        svc_error_set(error_out, "%s: no such SKU", what);
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
inventory_store_put_stock(inventory_store_t *self,
                          PGconn *conn,
                          const char *sku,
                          int64_t available,
                          json_t **out,
                          char **error_out)
{
    assert(self);
    assert(conn);
    assert(inventory_logic_sku_valid(sku));
    assert(available >= 0);
    assert(out);
    char available_text[24];
    (void) snprintf(available_text, sizeof available_text, "%" PRId64, available);
    const char *values[] = {sku, available_text};
    return s_stock_query(self, conn, "setting stock", S_PUT_STOCK, values, out, error_out);
}

//  --------------------------------------------------------------------------
//  GET /stock/{sku}

bus_rc_t
inventory_store_stock(
    inventory_store_t *self, PGconn *conn, const char *sku, json_t **out, char **error_out)
{
    assert(self);
    assert(conn);
    assert(sku);
    assert(out);
    const char *values[] = {sku};
    return s_stock_query(self, conn, "reading stock", S_STOCK, values, out, error_out);
}

//  --------------------------------------------------------------------------
//  GET /stock: one more row than asked tells whether a next page exists.

bus_rc_t
inventory_store_stock_page(inventory_store_t *self,
                           PGconn *conn,
                           const char *after,
                           int limit,
                           json_t **out,
                           char **error_out)
{
    assert(self);
    assert(conn);
    assert(limit >= 1);
    assert(out);
    *out = NULL;
    char limit_text[16];
    (void) snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    const char *values[] = {after, limit_text};
    PGresult *result = bus_statements_run(self->statements, conn, S_STOCK_PAGE, values,
                                          PGRES_TUPLES_OK, "listing stock", error_out);
    if (!result) {
        return BUS_DB_UNAVAILABLE;
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
inventory_store_reservation(inventory_store_t *self,
                            PGconn *conn,
                            const svc_uuid_t *order_id,
                            json_t **out,
                            char **error_out)
{
    assert(self);
    assert(conn);
    assert(order_id);
    assert(out);
    *out = NULL;
    char id_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, id_text);
    const char *values[] = {id_text};
    PGresult *result = bus_statements_run(self->statements, conn, S_RESERVATION, values,
                                          PGRES_TUPLES_OK, "reading a reservation", error_out);
    bus_rc_t rc = result ? BUS_OK : BUS_DB_UNAVAILABLE;
    if (rc == BUS_OK && PQntuples(result) == 0) {
        svc_error_set(error_out, "reading a reservation: no such order");
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
