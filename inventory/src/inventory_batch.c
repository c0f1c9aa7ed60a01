/*  =========================================================================
    inventory_batch - the decisions of a batch of events, without I/O

    Three arrays: the events in seq order, the orders and the SKUs. Orders
    and SKUs are appended as events arrive and sorted (and merged) once,
    when the store first asks for them, so that a batch of n events costs
    n log n and not n squared; events then find their order, and lines
    their SKU, by binary search.

    The decision walks the events in seq order over a running state: each
    order's status (from its stored row, then as the batch changes it) and
    each SKU's free units (as locked, minus what the batch reserved, plus
    what it gave back). That walk is the one-event-per-transaction history
    the batch replaces, so its outcomes are the same.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_batch.h"

//  The steps, in the order they must happen.
typedef enum {
    S_ADDING = 0, //  events are being added
    S_LOCKED,     //  orders and SKUs sorted; reservation rows being set
    S_AVAILABLE,  //  stock rows being set
    S_DECIDED     //  decided: read only
} s_phase_t;

struct inventory_batch {
    s_phase_t phase;           //  where the batch is
    inventory_event_t *events; //  in seq order (owned, with their lines)
    size_t event_count;        //  events used
    size_t event_capacity;     //  events allocated
    inventory_order_t *orders; //  distinct once sorted (owned, with stored lines and reasons)
    size_t order_count;        //  orders used
    size_t order_capacity;     //  orders allocated
    bool orders_sorted;        //  sorted and merged since the last append
    inventory_stock_t *stock;  //  distinct once sorted (owned; SKUs borrowed)
    size_t stock_count;        //  SKUs used
    size_t stock_capacity;     //  SKUs allocated
    bool stock_sorted;         //  sorted and merged since the last append
};

//  The table's text of each status, by value.
static const char *const s_status_names[] = {[INVENTORY_STATUS_RESERVED] = "RESERVED",
                                             [INVENTORY_STATUS_REJECTED] = "REJECTED",
                                             [INVENTORY_STATUS_RELEASED] = "RELEASED",
                                             [INVENTORY_STATUS_CANCELLED] = "CANCELLED"};

//  --------------------------------------------------------------------------
//  Grow an array to hold one more element.

static void *
s_grow(void *array, size_t count, size_t *capacity, size_t size)
{
    if (count < *capacity) {
        return array;
    }
    *capacity = *capacity ? *capacity * 2 : 16;
    array = realloc(array, *capacity * size);
    assert(array);
    return array;
}

//  --------------------------------------------------------------------------
//  Create and destroy.

inventory_batch_t *
inventory_batch_new(void)
{
    inventory_batch_t *self = zmalloc(sizeof *self);
    return self;
}

void
inventory_batch_destroy(inventory_batch_t **self_p)
{
    assert(self_p);
    inventory_batch_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t index = 0; index < self->order_count; index++) {
        inventory_order_t *order = &self->orders[index];
        for (size_t line = 0; line < order->stored_count; line++) {
            free((char *) order->stored_lines[line].sku);
        }
        freen(order->stored_lines);
        freen(order->reason);
    }
    for (size_t index = 0; index < self->event_count; index++) {
        freen(self->events[index].lines);
        freen(self->events[index].reason);
    }
    freen(self->stock);
    freen(self->orders);
    freen(self->events);
    freen(*self_p);
}

//  --------------------------------------------------------------------------
//  Append an event and its order; returns the event.

static inventory_event_t *
s_add_event(inventory_batch_t *self, const svc_uuid_t *order_id, bool created)
{
    assert(self->phase == S_ADDING);
    self->events =
        s_grow(self->events, self->event_count, &self->event_capacity, sizeof *self->events);
    inventory_event_t *event = &self->events[self->event_count++];
    *event = (inventory_event_t){.order_id = *order_id, .created = created};

    self->orders =
        s_grow(self->orders, self->order_count, &self->order_capacity, sizeof *self->orders);
    self->orders[self->order_count++] =
        (inventory_order_t){.order_id = *order_id, .cancelled = !created};
    self->orders_sorted = false;
    return event;
}

//  Append a SKU (units unknown yet).
static void
s_add_sku(inventory_batch_t *self, const char *sku)
{
    self->stock =
        s_grow(self->stock, self->stock_count, &self->stock_capacity, sizeof *self->stock);
    self->stock[self->stock_count++] = (inventory_stock_t){.sku = sku};
    self->stock_sorted = false;
}

//  --------------------------------------------------------------------------
//  Add an OrderCreated: copy and merge its lines, note its SKUs.

void
inventory_batch_add_created(inventory_batch_t *self,
                            const svc_uuid_t *order_id,
                            const inventory_line_t *lines,
                            size_t count)
{
    assert(self);
    assert(order_id);
    assert(lines || count == 0);
    assert(count <= BUS_ITEMS_MAX);
    inventory_event_t *event = s_add_event(self, order_id, true);
    if (count > 0) {
        event->lines = zmalloc(count * sizeof *event->lines);
        memcpy(event->lines, lines, count * sizeof *lines);
    }
    event->count = inventory_logic_merge(event->lines, count);
    for (size_t index = 0; index < event->count; index++) {
        s_add_sku(self, event->lines[index].sku);
    }
}

//  --------------------------------------------------------------------------
//  Add an OrderCancelled: keep its reason, cut between characters.

void
inventory_batch_add_cancelled(inventory_batch_t *self,
                              const svc_uuid_t *order_id,
                              const char *reason)
{
    assert(self);
    assert(order_id);
    inventory_event_t *event = s_add_event(self, order_id, false);
    if (reason && *reason) {
        event->reason = strndup(reason, inventory_logic_text_cut(reason, INVENTORY_REASON_MAX));
        assert(event->reason);
    }
}

//  --------------------------------------------------------------------------
//  Events

size_t
inventory_batch_size(inventory_batch_t *self)
{
    assert(self);
    return self->event_count;
}

const inventory_event_t *
inventory_batch_event(inventory_batch_t *self, size_t index)
{
    assert(self);
    assert(index < self->event_count);
    return &self->events[index];
}

//  --------------------------------------------------------------------------
//  Sort orders by id and merge the entries of one order; then point every
//  event at its order.

static int
s_compare_orders(const void *left, const void *right)
{
    const inventory_order_t *first = left;
    const inventory_order_t *second = right;
    return memcmp(first->order_id.bytes, second->order_id.bytes, sizeof first->order_id.bytes);
}

static inventory_order_t *
s_find_order(inventory_batch_t *self, const svc_uuid_t *order_id)
{
    inventory_order_t key = {.order_id = *order_id};
    return bsearch(&key, self->orders, self->order_count, sizeof *self->orders, s_compare_orders);
}

static void
s_sort_orders(inventory_batch_t *self)
{
    if (self->orders_sorted) {
        return;
    }
    size_t merged = 0;
    if (self->order_count > 0) {
        qsort(self->orders, self->order_count, sizeof *self->orders, s_compare_orders);
        for (size_t index = 1; index < self->order_count; index++) {
            if (s_compare_orders(&self->orders[index], &self->orders[merged]) == 0) {
                self->orders[merged].cancelled |= self->orders[index].cancelled;
            } else {
                self->orders[++merged] = self->orders[index];
            }
        }
        merged++;
    }
    self->order_count = merged;
    for (size_t index = 0; index < self->event_count; index++) {
        inventory_order_t *order = s_find_order(self, &self->events[index].order_id);
        assert(order);
        self->events[index].order = (size_t) (order - self->orders);
    }
    self->orders_sorted = true;
}

//  --------------------------------------------------------------------------
//  Sort SKUs bytewise and merge duplicates (before any units are known).

static int
s_compare_stock(const void *left, const void *right)
{
    const inventory_stock_t *first = left;
    const inventory_stock_t *second = right;
    return strcmp(first->sku, second->sku);
}

static inventory_stock_t *
s_find_stock(inventory_batch_t *self, const char *sku)
{
    inventory_stock_t key = {.sku = sku};
    return bsearch(&key, self->stock, self->stock_count, sizeof *self->stock, s_compare_stock);
}

static void
s_sort_stock(inventory_batch_t *self)
{
    if (self->stock_sorted) {
        return;
    }
    assert(self->phase <= S_LOCKED);
    size_t merged = 0;
    if (self->stock_count > 0) {
        qsort(self->stock, self->stock_count, sizeof *self->stock, s_compare_stock);
        for (size_t index = 1; index < self->stock_count; index++) {
            if (strcmp(self->stock[index].sku, self->stock[merged].sku) != 0) {
                self->stock[++merged] = self->stock[index];
            }
        }
        merged++;
    }
    self->stock_count = merged;
    self->stock_sorted = true;
}

//  Leave the adding step: orders and SKUs sorted.
static void
s_lock(inventory_batch_t *self)
{
    if (self->phase == S_ADDING) {
        self->phase = S_LOCKED;
    }
    s_sort_orders(self);
    s_sort_stock(self);
}

//  --------------------------------------------------------------------------
//  Orders and SKUs, sorted.

const inventory_order_t *
inventory_batch_orders(inventory_batch_t *self, size_t *count_out)
{
    assert(self);
    assert(count_out);
    s_lock(self);
    *count_out = self->order_count;
    return self->orders;
}

const inventory_stock_t *
inventory_batch_stock(inventory_batch_t *self, size_t *count_out)
{
    assert(self);
    assert(count_out);
    s_lock(self);
    *count_out = self->stock_count;
    return self->stock;
}

//  --------------------------------------------------------------------------
//  What the lock found: a reservation row.

int
inventory_batch_set_stored(inventory_batch_t *self,
                           const svc_uuid_t *order_id,
                           inventory_status_t status,
                           const inventory_line_t *lines,
                           size_t count)
{
    assert(self);
    assert(order_id);
    assert(status > INVENTORY_STATUS_NONE && status < INVENTORY_STATUS_INVALID);
    assert(lines || count == 0);
    s_lock(self);
    assert(self->phase == S_LOCKED);
    inventory_order_t *order = s_find_order(self, order_id);
    if (!order || order->stored != INVENTORY_STATUS_NONE) {
        return -1;
    }
    order->stored = status;
    //  Only a cancel in the batch gives a stored reservation's units back.
    if (status != INVENTORY_STATUS_RESERVED || !order->cancelled || count == 0) {
        return 0;
    }
    order->stored_lines = zmalloc(count * sizeof *order->stored_lines);
    for (size_t index = 0; index < count; index++) {
        char *sku = strdup(lines[index].sku);
        assert(sku);
        order->stored_lines[index] = (inventory_line_t){sku, lines[index].quantity};
        s_add_sku(self, sku);
    }
    order->stored_count = count;
    return 0;
}

//  --------------------------------------------------------------------------
//  What the lock found: a stock row.

int
inventory_batch_set_available(inventory_batch_t *self, const char *sku, int64_t available)
{
    assert(self);
    assert(sku);
    s_lock(self);
    assert(self->phase == S_LOCKED || self->phase == S_AVAILABLE);
    self->phase = S_AVAILABLE;
    inventory_stock_t *stock = s_find_stock(self, sku);
    if (!stock) {
        return -1;
    }
    //  The table's CHECK keeps counts >= 0; read anything else as none.
    stock->available = available > 0 ? available : 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  Move units of `lines` between free and reserved: `sign` 1 reserves,
//  -1 gives back.

static void
s_move(inventory_batch_t *self, const inventory_line_t *lines, size_t count, int sign)
{
    for (size_t index = 0; index < count; index++) {
        inventory_stock_t *stock = s_find_stock(self, lines[index].sku);
        assert(stock); //  every SKU of the batch's lines was added
        int64_t units = (int64_t) lines[index].quantity * sign;
        stock->available -= units;
        stock->taken += units;
    }
}

//  OrderCreated: an order without a row is decided on the units left now.
static void
s_decide_created(inventory_batch_t *self, inventory_event_t *event, inventory_order_t *order)
{
    if (order->status != INVENTORY_STATUS_NONE) {
        event->outcome = INVENTORY_OUTCOME_SEEN;
        return;
    }
    int64_t available[BUS_ITEMS_MAX];
    for (size_t index = 0; index < event->count; index++) {
        available[index] = s_find_stock(self, event->lines[index].sku)->available;
    }
    //  An order without items (a .NET contract with only the total) has
    //  nothing to reserve: reserved as nothing.
    event->decision = event->count == 0
                          ? (inventory_decision_t){.reserved = true}
                          : inventory_logic_decide(event->lines, available, event->count);
    order->lines = event->lines;
    order->count = event->count;
    if (event->decision.reserved) {
        s_move(self, event->lines, event->count, 1);
        order->status = INVENTORY_STATUS_RESERVED;
        event->outcome = INVENTORY_OUTCOME_RESERVED;
    } else {
        order->status = INVENTORY_STATUS_REJECTED;
        order->reason = inventory_logic_reject_reason(event->lines, &event->decision);
        event->outcome = INVENTORY_OUTCOME_REJECTED;
    }
}

//  OrderCancelled: release a reservation, or leave a tombstone.
static void
s_decide_cancelled(inventory_batch_t *self, inventory_event_t *event, inventory_order_t *order)
{
    if (order->status == INVENTORY_STATUS_RESERVED) {
        s_move(self, order->lines, order->count, -1);
        order->status = INVENTORY_STATUS_RELEASED;
        event->outcome = INVENTORY_OUTCOME_RELEASED;
    } else if (order->status == INVENTORY_STATUS_NONE) {
        order->status = INVENTORY_STATUS_CANCELLED;
        event->outcome = INVENTORY_OUTCOME_TOMBSTONE;
    } else {
        event->outcome = INVENTORY_OUTCOME_UNCHANGED;
        return;
    }
    //  As the one-event statement did: the cancel's reason replaces the
    //  row's (none when the cancel has none).
    freen(order->reason);
    if (event->reason) {
        order->reason = strdup(event->reason);
        assert(order->reason);
    }
}

//  --------------------------------------------------------------------------
//  Every event in seq order.

void
inventory_batch_decide(inventory_batch_t *self)
{
    assert(self);
    s_lock(self);
    assert(self->phase != S_DECIDED);
    self->phase = S_DECIDED;
    for (size_t index = 0; index < self->order_count; index++) {
        inventory_order_t *order = &self->orders[index];
        order->status = order->stored;
        order->lines = order->stored_lines;
        order->count = order->stored_count;
    }
    for (size_t index = 0; index < self->event_count; index++) {
        inventory_event_t *event = &self->events[index];
        inventory_order_t *order = &self->orders[event->order];
        if (event->created) {
            s_decide_created(self, event, order);
        } else {
            s_decide_cancelled(self, event, order);
        }
    }
}

//  --------------------------------------------------------------------------
//  Status texts.

inventory_status_t
inventory_batch_status_parse(const char *text)
{
    assert(text);
    for (size_t status = INVENTORY_STATUS_RESERVED; status < INVENTORY_STATUS_INVALID; status++) {
        if (streq(text, s_status_names[status])) {
            return (inventory_status_t) status;
        }
    }
    return INVENTORY_STATUS_INVALID;
}

const char *
inventory_batch_status_name(inventory_status_t status)
{
    if (status <= INVENTORY_STATUS_NONE || status >= INVENTORY_STATUS_INVALID) {
        return NULL;
    }
    return s_status_names[status];
}
