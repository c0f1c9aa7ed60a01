/*  =========================================================================
    inventory_batch_test - a batch decided as one transaction per event

    The batch is pure, so each case plays the store by hand: it adds the
    events, says which reservation rows and stock rows "the lock" found,
    decides, and checks the outcomes, the rows and the units taken. The
    last case draws random batches and checks that one batch decides
    exactly what the same events decide one batch each, the history the
    batch replaces.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_batch.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  An order id derived from `index`.
static svc_uuid_t
s_id(int index)
{
    svc_uuid_t id = {{0}};
    id.bytes[0] = 0x01;
    id.bytes[6] = 0x70;
    id.bytes[15] = (uint8_t) index;
    return id;
}

//  Add events and stored rows about order `index`.
static void
s_created(inventory_batch_t *batch, int index, const inventory_line_t *lines, size_t count)
{
    svc_uuid_t id = s_id(index);
    inventory_batch_add_created(batch, &id, lines, count);
}

static void
s_cancelled(inventory_batch_t *batch, int index, const char *reason)
{
    svc_uuid_t id = s_id(index);
    inventory_batch_add_cancelled(batch, &id, reason);
}

static int
s_stored(inventory_batch_t *batch,
         int index,
         inventory_status_t status,
         const inventory_line_t *lines,
         size_t count)
{
    svc_uuid_t id = s_id(index);
    return inventory_batch_set_stored(batch, &id, status, lines, count);
}

//  The order of `index` in the batch (asserts it is there).
static const inventory_order_t *
s_order(inventory_batch_t *batch, int index)
{
    svc_uuid_t id = s_id(index);
    size_t count = 0;
    const inventory_order_t *orders = inventory_batch_orders(batch, &count);
    for (size_t order = 0; order < count; order++) {
        if (memcmp(orders[order].order_id.bytes, id.bytes, sizeof id.bytes) == 0) {
            return &orders[order];
        }
    }
    fail_msg("order %d is not in the batch", index);
    return NULL;
}

//  The stock entry of `sku` (asserts it is there).
static const inventory_stock_t *
s_stock(inventory_batch_t *batch, const char *sku)
{
    size_t count = 0;
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    for (size_t index = 0; index < count; index++) {
        if (streq(stock[index].sku, sku)) {
            return &stock[index];
        }
    }
    fail_msg("SKU %s is not in the batch", sku);
    return NULL;
}

static inventory_outcome_t
s_outcome(inventory_batch_t *batch, size_t index)
{
    return inventory_batch_event(batch, index)->outcome;
}

//  --------------------------------------------------------------------------
//  Usage: two orders want the last unit in one batch; the first in seq
//  order wins, the second is rejected naming what the first left.

static void
test_usage(void **state)
{
    (void) state;
    inventory_batch_t *batch = inventory_batch_new();
    inventory_line_t lines[] = {{"SKU-1", 1}};
    svc_uuid_t first = s_id(2);
    svc_uuid_t second = s_id(1);
    inventory_batch_add_created(batch, &first, lines, 1);
    inventory_batch_add_created(batch, &second, lines, 1);
    assert_int_equal(inventory_batch_size(batch), 2);

    //  What to lock: both orders (in id order), SKU-1 once.
    size_t count = 0;
    const inventory_order_t *orders = inventory_batch_orders(batch, &count);
    assert_int_equal(count, 2);
    assert_memory_equal(orders[0].order_id.bytes, second.bytes, sizeof second.bytes);
    assert_false(orders[0].cancelled);
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    assert_int_equal(count, 1);
    assert_string_equal(stock[0].sku, "SKU-1");

    //  The lock found no reservation and one unit.
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 1), 0);
    inventory_batch_decide(batch);

    const inventory_event_t *event = inventory_batch_event(batch, 0);
    assert_int_equal(event->outcome, INVENTORY_OUTCOME_RESERVED);
    assert_true(event->decision.reserved);
    assert_memory_equal(event->order_id.bytes, first.bytes, sizeof first.bytes);
    event = inventory_batch_event(batch, 1);
    assert_int_equal(event->outcome, INVENTORY_OUTCOME_REJECTED);
    assert_false(event->decision.reserved);
    assert_int_equal(event->decision.requested, 1);
    assert_int_equal(event->decision.available, 0);

    assert_int_equal(s_stock(batch, "SKU-1")->taken, 1);
    assert_int_equal(s_stock(batch, "SKU-1")->available, 0);
    const inventory_order_t *winner = s_order(batch, 2);
    assert_int_equal(winner->stored, INVENTORY_STATUS_NONE);
    assert_int_equal(winner->status, INVENTORY_STATUS_RESERVED);
    assert_int_equal(winner->count, 1);
    assert_null(winner->reason);
    const inventory_order_t *loser = s_order(batch, 1);
    assert_int_equal(loser->status, INVENTORY_STATUS_REJECTED);
    assert_int_equal(loser->count, 1);
    assert_string_equal(loser->reason, "out of stock: SKU-1 (requested 1, available 0)");
    inventory_batch_destroy(&batch);
    inventory_batch_destroy(&batch);
    assert_null(batch);
}

//  --------------------------------------------------------------------------
//  Created and cancelled in one batch: reserved, then released; the
//  units come back for the order after it, and the row is RELEASED with
//  the order's items and the cancel's reason.

static void
test_create_then_cancel(void **state)
{
    (void) state;
    inventory_batch_t *batch = inventory_batch_new();
    inventory_line_t lines[] = {{"SKU-2", 1}, {"SKU-1", 2}};
    inventory_line_t later[] = {{"SKU-1", 3}};
    svc_uuid_t order = s_id(1);
    svc_uuid_t other = s_id(2);
    inventory_batch_add_created(batch, &order, lines, 2);
    inventory_batch_add_created(batch, &other, later, 1); //  short while order 1 holds 2
    inventory_batch_add_cancelled(batch, &order, "customer request");
    s_created(batch, 3, later, 1); //  fits once they are back
    assert_true(s_order(batch, 1)->cancelled);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 3), 0);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-2", 1), 0);
    inventory_batch_decide(batch);

    assert_int_equal(s_outcome(batch, 0), INVENTORY_OUTCOME_RESERVED);
    assert_int_equal(s_outcome(batch, 1), INVENTORY_OUTCOME_REJECTED);
    assert_int_equal(inventory_batch_event(batch, 1)->decision.available, 1);
    assert_int_equal(s_outcome(batch, 2), INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(s_outcome(batch, 3), INVENTORY_OUTCOME_RESERVED);

    const inventory_order_t *released = s_order(batch, 1);
    assert_int_equal(released->stored, INVENTORY_STATUS_NONE);
    assert_int_equal(released->status, INVENTORY_STATUS_RELEASED);
    assert_int_equal(released->count, 2);
    assert_string_equal(released->lines[0].sku, "SKU-1"); //  merged, in SKU order
    assert_string_equal(released->reason, "customer request");
    //  Net: SKU-1 3 taken by order 3; SKU-2 taken and given back.
    assert_int_equal(s_stock(batch, "SKU-1")->taken, 3);
    assert_int_equal(s_stock(batch, "SKU-2")->taken, 0);
    assert_int_equal(s_stock(batch, "SKU-2")->available, 1);
    inventory_batch_destroy(&batch);
}

//  --------------------------------------------------------------------------
//  Cancelled before created in one batch: a tombstone, then the create
//  is seen and reserves nothing. A second cancel changes nothing.

static void
test_cancel_then_create(void **state)
{
    (void) state;
    inventory_batch_t *batch = inventory_batch_new();
    inventory_line_t lines[] = {{"SKU-1", 1}};
    svc_uuid_t order = s_id(1);
    inventory_batch_add_cancelled(batch, &order, NULL);
    inventory_batch_add_created(batch, &order, lines, 1);
    inventory_batch_add_cancelled(batch, &order, "again");
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 5), 0);
    inventory_batch_decide(batch);
    assert_int_equal(s_outcome(batch, 0), INVENTORY_OUTCOME_TOMBSTONE);
    assert_int_equal(s_outcome(batch, 1), INVENTORY_OUTCOME_SEEN);
    assert_int_equal(s_outcome(batch, 2), INVENTORY_OUTCOME_UNCHANGED);
    const inventory_order_t *tombstone = s_order(batch, 1);
    assert_int_equal(tombstone->status, INVENTORY_STATUS_CANCELLED);
    assert_int_equal(tombstone->count, 0);
    assert_null(tombstone->reason);
    assert_int_equal(s_stock(batch, "SKU-1")->taken, 0);
    assert_int_equal(s_stock(batch, "SKU-1")->available, 5);
    inventory_batch_destroy(&batch);
}

//  --------------------------------------------------------------------------
//  Duplicate SKUs: within an order they are merged and must fit as a
//  sum; across orders the SKU is locked once and its units run down.

static void
test_duplicate_skus(void **state)
{
    (void) state;
    inventory_batch_t *batch = inventory_batch_new();
    inventory_line_t twice[] = {{"SKU-1", 2}, {"SKU-2", 1}, {"SKU-1", 2}};
    inventory_line_t once[] = {{"SKU-1", 1}};
    s_created(batch, 1, twice, 3); //  4 of SKU-1: fits
    s_created(batch, 2, twice, 3); //  4 more: 1 left, short
    s_created(batch, 3, once, 1);  //  the last one
    size_t count = 0;
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    assert_int_equal(count, 2);
    assert_string_equal(stock[0].sku, "SKU-1");
    assert_string_equal(stock[1].sku, "SKU-2");
    assert_int_equal(inventory_batch_event(batch, 0)->count, 2);
    assert_int_equal(inventory_batch_event(batch, 0)->lines[0].quantity, 4);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 5), 0);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-2", 9), 0);
    inventory_batch_decide(batch);
    assert_int_equal(s_outcome(batch, 0), INVENTORY_OUTCOME_RESERVED);
    assert_int_equal(s_outcome(batch, 1), INVENTORY_OUTCOME_REJECTED);
    assert_string_equal(s_order(batch, 2)->reason,
                        "out of stock: SKU-1 (requested 4, available 1)");
    assert_int_equal(s_outcome(batch, 2), INVENTORY_OUTCOME_RESERVED);
    assert_int_equal(s_stock(batch, "SKU-1")->taken, 5);
    assert_int_equal(s_stock(batch, "SKU-2")->taken, 1);
    inventory_batch_destroy(&batch);
}

//  --------------------------------------------------------------------------
//  Stored rows: a create of a stored order is seen, a cancel of a stored
//  rejection changes nothing, a cancel of a stored reservation gives its
//  stored items back (their SKUs join the stock to lock) and an unknown
//  SKU has 0 units.

static void
test_stored_rows(void **state)
{
    (void) state;
    inventory_batch_t *batch = inventory_batch_new();
    inventory_line_t lines[] = {{"SKU-1", 1}};
    inventory_line_t unknown[] = {{"SKU-404", 1}};
    s_created(batch, 1, lines, 1);
    s_cancelled(batch, 2, "no longer wanted");
    s_cancelled(batch, 3, NULL);
    s_created(batch, 4, lines, 1);
    s_created(batch, 5, unknown, 1);
    size_t count = 0;
    (void) inventory_batch_stock(batch, &count);
    assert_int_equal(count, 2); //  SKU-1, SKU-404: the lock is still to come

    char *stored_sku = strdup("SKU-0");
    inventory_line_t stored[] = {{stored_sku, 2}, {"SKU-1", 1}};
    assert_int_equal(s_stored(batch, 1, INVENTORY_STATUS_REJECTED, NULL, 0), 0);
    assert_int_equal(s_stored(batch, 2, INVENTORY_STATUS_RESERVED, stored, 2), 0);
    assert_int_equal(s_stored(batch, 3, INVENTORY_STATUS_RELEASED, NULL, 0), 0);
    //  Not in the batch, or twice: refused.
    assert_int_equal(s_stored(batch, 9, INVENTORY_STATUS_RESERVED, NULL, 0), -1);
    assert_int_equal(s_stored(batch, 2, INVENTORY_STATUS_RESERVED, NULL, 0), -1);
    freen(stored_sku); //  the batch keeps its own copy
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    assert_int_equal(count, 3);
    assert_string_equal(stock[0].sku, "SKU-0");
    assert_int_equal(inventory_batch_set_available(batch, "SKU-0", 0), 0);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-1", 0), 0);
    assert_int_equal(inventory_batch_set_available(batch, "SKU-9", 3), -1);
    inventory_batch_decide(batch);

    assert_int_equal(s_outcome(batch, 0), INVENTORY_OUTCOME_SEEN);
    assert_int_equal(s_outcome(batch, 1), INVENTORY_OUTCOME_RELEASED);
    assert_int_equal(s_outcome(batch, 2), INVENTORY_OUTCOME_UNCHANGED);
    //  The released unit of SKU-1 is what order 4 reserves.
    assert_int_equal(s_outcome(batch, 3), INVENTORY_OUTCOME_RESERVED);
    assert_int_equal(s_outcome(batch, 4), INVENTORY_OUTCOME_REJECTED);
    assert_int_equal(inventory_batch_event(batch, 4)->decision.available, 0);

    const inventory_order_t *released = s_order(batch, 2);
    assert_int_equal(released->stored, INVENTORY_STATUS_RESERVED);
    assert_int_equal(released->status, INVENTORY_STATUS_RELEASED);
    assert_string_equal(released->reason, "no longer wanted");
    assert_int_equal(s_order(batch, 1)->status, INVENTORY_STATUS_REJECTED);
    assert_null(s_order(batch, 1)->reason); //  untouched: the batch writes nothing for it
    assert_int_equal(s_stock(batch, "SKU-0")->taken, -2);
    assert_int_equal(s_stock(batch, "SKU-0")->available, 2);
    assert_int_equal(s_stock(batch, "SKU-1")->taken, 0);
    assert_int_equal(s_stock(batch, "SKU-404")->taken, 0);
    inventory_batch_destroy(&batch);
}

//  --------------------------------------------------------------------------
//  A reason is cut between characters; statuses read and write the
//  table's text.

static void
test_reasons_and_statuses(void **state)
{
    (void) state;
    char reason[INVENTORY_REASON_MAX + 8];
    memset(reason, 'x', INVENTORY_REASON_MAX - 1);
    memcpy(reason + INVENTORY_REASON_MAX - 1, "\xc3\xa9tc", 5); //  "é" across the limit
    inventory_batch_t *batch = inventory_batch_new();
    s_cancelled(batch, 1, reason);
    s_cancelled(batch, 2, "");
    assert_int_equal(strlen(inventory_batch_event(batch, 0)->reason), INVENTORY_REASON_MAX - 1);
    assert_null(inventory_batch_event(batch, 1)->reason);
    inventory_batch_decide(batch);
    assert_int_equal(strlen(s_order(batch, 1)->reason), INVENTORY_REASON_MAX - 1);
    inventory_batch_destroy(&batch);

    for (int status = INVENTORY_STATUS_RESERVED; status < INVENTORY_STATUS_INVALID; status++) {
        const char *name = inventory_batch_status_name((inventory_status_t) status);
        assert_non_null(name);
        assert_int_equal(inventory_batch_status_parse(name), status);
    }
    assert_null(inventory_batch_status_name(INVENTORY_STATUS_NONE));
    assert_int_equal(inventory_batch_status_parse("reserved"), INVENTORY_STATUS_INVALID);
    assert_int_equal(inventory_batch_status_parse(""), INVENTORY_STATUS_INVALID);

    //  An empty batch decides nothing.
    batch = inventory_batch_new();
    inventory_batch_decide(batch);
    assert_int_equal(inventory_batch_size(batch), 0);
    inventory_batch_destroy(&batch);
}

//  --------------------------------------------------------------------------
//  Random batches: one batch against one batch per event, over a model
//  of the tables that the single batches keep up to date.

#define S_ORDERS 6
#define S_SKUS 4
#define S_EVENTS_MAX 40
static const char *const s_skus[S_SKUS] = {"SKU-1", "SKU-2", "SKU-3", "SKU-404"};

typedef struct {
    inventory_status_t status[S_ORDERS];      //  each order's row
    inventory_line_t lines[S_ORDERS][S_SKUS]; //  its items
    size_t count[S_ORDERS];                   //  how many
    int64_t available[S_SKUS];                //  free units; SKU-404 has no row
} model_t;

typedef struct {
    bool created;                       //  or cancelled
    int order;                          //  0 .. S_ORDERS - 1
    inventory_line_t lines[S_SKUS + 1]; //  for a create
    size_t count;                       //  how many
} draw_t;

static uint32_t
s_random(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*seed >> 33);
}

static int
s_sku_index(const char *sku)
{
    for (int index = 0; index < S_SKUS; index++) {
        if (streq(sku, s_skus[index])) {
            return index;
        }
    }
    fail_msg("unknown SKU %s", sku);
    return -1;
}

//  Add `draws` to a batch, play the lock from `model`, decide.
static inventory_batch_t *
s_run(const model_t *model, const draw_t *draws, size_t count)
{
    inventory_batch_t *batch = inventory_batch_new();
    for (size_t index = 0; index < count; index++) {
        svc_uuid_t id = s_id(draws[index].order);
        if (draws[index].created) {
            inventory_batch_add_created(batch, &id, draws[index].lines, draws[index].count);
        } else {
            inventory_batch_add_cancelled(batch, &id, "reason");
        }
    }
    size_t orders_count = 0;
    const inventory_order_t *orders = inventory_batch_orders(batch, &orders_count);
    int present[S_ORDERS];
    size_t present_count = 0;
    for (size_t index = 0; index < orders_count; index++) {
        present[present_count++] = orders[index].order_id.bytes[15];
    }
    for (size_t index = 0; index < present_count; index++) {
        int order = present[index];
        if (model->status[order] != INVENTORY_STATUS_NONE) {
            svc_uuid_t id = s_id(order);
            assert_int_equal(inventory_batch_set_stored(batch, &id, model->status[order],
                                                        model->lines[order], model->count[order]),
                             0);
        }
    }
    size_t stock_count = 0;
    const inventory_stock_t *stock = inventory_batch_stock(batch, &stock_count);
    const char *skus[S_SKUS];
    for (size_t index = 0; index < stock_count; index++) {
        skus[index] = stock[index].sku;
    }
    for (size_t index = 0; index < stock_count; index++) {
        int sku = s_sku_index(skus[index]);
        if (sku != S_SKUS - 1) {
            assert_int_equal(
                inventory_batch_set_available(batch, skus[index], model->available[sku]), 0);
        }
    }
    inventory_batch_decide(batch);
    return batch;
}

//  Write a decided batch into the model, as the store would.
static void
s_write(model_t *model, inventory_batch_t *batch)
{
    size_t count = 0;
    const inventory_stock_t *stock = inventory_batch_stock(batch, &count);
    for (size_t index = 0; index < count; index++) {
        model->available[s_sku_index(stock[index].sku)] -= stock[index].taken;
    }
    const inventory_order_t *orders = inventory_batch_orders(batch, &count);
    for (size_t index = 0; index < count; index++) {
        int order = orders[index].order_id.bytes[15];
        if (orders[index].stored == INVENTORY_STATUS_NONE) {
            //  A new row keeps its items (the draws' SKUs are static text).
            model->count[order] = orders[index].count;
            for (size_t line = 0; line < orders[index].count; line++) {
                const char *sku = s_skus[s_sku_index(orders[index].lines[line].sku)];
                model->lines[order][line] =
                    (inventory_line_t){sku, orders[index].lines[line].quantity};
            }
        }
        model->status[order] = orders[index].status;
    }
}

static void
test_batch_equals_singles(void **state)
{
    (void) state;
    uint64_t seed = 42;
    for (int round = 0; round < 300; round++) {
        model_t start;
        memset(&start, 0, sizeof start);
        for (int sku = 0; sku < S_SKUS - 1; sku++) {
            start.available[sku] = s_random(&seed) % 6;
        }
        draw_t draws[S_EVENTS_MAX];
        size_t count = 1 + s_random(&seed) % S_EVENTS_MAX;
        for (size_t index = 0; index < count; index++) {
            draw_t *draw = &draws[index];
            draw->created = s_random(&seed) % 5 < 3;
            draw->order = (int) (s_random(&seed) % S_ORDERS);
            draw->count = s_random(&seed) % (S_SKUS + 2); //  0 .. 5 lines, duplicates too
            for (size_t line = 0; line < draw->count; line++) {
                draw->lines[line] =
                    (inventory_line_t){s_skus[s_random(&seed) % S_SKUS], 1 + s_random(&seed) % 3};
            }
        }
        model_t batched = start;
        inventory_batch_t *batch = s_run(&batched, draws, count);
        s_write(&batched, batch);

        model_t single = start;
        for (size_t index = 0; index < count; index++) {
            inventory_batch_t *one = s_run(&single, &draws[index], 1);
            const inventory_event_t *expected = inventory_batch_event(one, 0);
            const inventory_event_t *actual = inventory_batch_event(batch, index);
            assert_int_equal(actual->outcome, expected->outcome);
            if (expected->outcome == INVENTORY_OUTCOME_REJECTED) {
                assert_int_equal(actual->decision.line, expected->decision.line);
                assert_int_equal(actual->decision.requested, expected->decision.requested);
                assert_int_equal(actual->decision.available, expected->decision.available);
            }
            s_write(&single, one);
            inventory_batch_destroy(&one);
        }
        inventory_batch_destroy(&batch);
        assert_memory_equal(batched.available, single.available, sizeof single.available);
        assert_memory_equal(batched.status, single.status, sizeof single.status);
        for (int sku = 0; sku < S_SKUS; sku++) {
            assert_true(single.available[sku] >= 0);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_create_then_cancel),
        cmocka_unit_test(test_cancel_then_create),
        cmocka_unit_test(test_duplicate_skus),
        cmocka_unit_test(test_stored_rows),
        cmocka_unit_test(test_reasons_and_statuses),
        cmocka_unit_test(test_batch_equals_singles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
