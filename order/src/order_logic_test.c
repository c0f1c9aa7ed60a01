/*  =========================================================================
    order_logic_test - the read model's state machine, exhaustively

    The first case is the usage example from order_logic.h. Then a table of
    every transition that matters by name, both orders of StockReserved and
    PaymentStarted, a rejection that compensates exactly once, the final
    states (every event only adds history, a cancel is refused), and
    properties checked over all ORDER_STATE_COUNT x ORDER_EVENT_COUNT pairs.
    =========================================================================
*/
#include "order_classes.h"
#include "order_logic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static order_state_t
s_state(order_status_t status, bool stock_reserved, bool payment_started)
{
    order_state_t state = {
        .status = status, .stock_reserved = stock_reserved, .payment_started = payment_started};
    return state;
}

static void
s_assert_state(order_state_t actual, order_state_t expected)
{
    assert_string_equal(order_status_name(actual.status), order_status_name(expected.status));
    assert_int_equal(actual.stock_reserved, expected.stock_reserved);
    assert_int_equal(actual.payment_started, expected.payment_started);
}

//  --------------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    order_state_t order = {.status = ORDER_PENDING};
    order_outcome_t outcome = order_logic_apply(order, ORDER_EVENT_STOCK_REJECTED);
    assert_int_equal(outcome.state.status, ORDER_REJECTED);
    assert_true(outcome.compensate);
    assert_true(outcome.changed);
    assert_false(outcome.refused);
}

//  --------------------------------------------------------------------------
//  Every transition of a non-final order, by name.

typedef struct {
    order_state_t before;
    order_event_t event;
    order_state_t after;
    bool changed;
    bool compensate;
} transition_case_t;

static void
test_transitions(void **state)
{
    (void) state;
    const transition_case_t cases[] = {
        //  PENDING, nothing heard
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_STOCK_RESERVED,
         s_state(ORDER_RESERVED, true, false), true, false},
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_PAYMENT_STARTED,
         s_state(ORDER_PENDING, false, true), true, false},
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_STOCK_REJECTED,
         s_state(ORDER_REJECTED, false, false), true, true},
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_CANCEL_REQUESTED,
         s_state(ORDER_CANCELLED, false, false), true, false},
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_STOCK_RELEASED,
         s_state(ORDER_PENDING, false, false), false, false},
        {s_state(ORDER_PENDING, false, false), ORDER_EVENT_PAYMENT_VOIDED,
         s_state(ORDER_PENDING, false, false), false, false},
        //  PENDING with the payment started first
        {s_state(ORDER_PENDING, false, true), ORDER_EVENT_STOCK_RESERVED,
         s_state(ORDER_PAYMENT_STARTED, true, true), true, false},
        {s_state(ORDER_PENDING, false, true), ORDER_EVENT_PAYMENT_STARTED,
         s_state(ORDER_PENDING, false, true), false, false},
        {s_state(ORDER_PENDING, false, true), ORDER_EVENT_STOCK_REJECTED,
         s_state(ORDER_REJECTED, false, true), true, true},
        {s_state(ORDER_PENDING, false, true), ORDER_EVENT_CANCEL_REQUESTED,
         s_state(ORDER_CANCELLED, false, true), true, false},
        //  RESERVED
        {s_state(ORDER_RESERVED, true, false), ORDER_EVENT_PAYMENT_STARTED,
         s_state(ORDER_PAYMENT_STARTED, true, true), true, false},
        {s_state(ORDER_RESERVED, true, false), ORDER_EVENT_STOCK_RESERVED,
         s_state(ORDER_RESERVED, true, false), false, false},
        {s_state(ORDER_RESERVED, true, false), ORDER_EVENT_STOCK_REJECTED,
         s_state(ORDER_REJECTED, true, false), true, true},
        {s_state(ORDER_RESERVED, true, false), ORDER_EVENT_CANCEL_REQUESTED,
         s_state(ORDER_CANCELLED, true, false), true, false},
        {s_state(ORDER_RESERVED, true, false), ORDER_EVENT_STOCK_RELEASED,
         s_state(ORDER_RESERVED, true, false), false, false},
        //  PAYMENT_STARTED
        {s_state(ORDER_PAYMENT_STARTED, true, true), ORDER_EVENT_STOCK_RESERVED,
         s_state(ORDER_PAYMENT_STARTED, true, true), false, false},
        {s_state(ORDER_PAYMENT_STARTED, true, true), ORDER_EVENT_PAYMENT_STARTED,
         s_state(ORDER_PAYMENT_STARTED, true, true), false, false},
        {s_state(ORDER_PAYMENT_STARTED, true, true), ORDER_EVENT_CANCEL_REQUESTED,
         s_state(ORDER_CANCELLED, true, true), true, false},
        {s_state(ORDER_PAYMENT_STARTED, true, true), ORDER_EVENT_STOCK_REJECTED,
         s_state(ORDER_REJECTED, true, true), true, true},
        {s_state(ORDER_PAYMENT_STARTED, true, true), ORDER_EVENT_PAYMENT_VOIDED,
         s_state(ORDER_PAYMENT_STARTED, true, true), false, false},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        const transition_case_t *c = &cases[index];
        order_outcome_t outcome = order_logic_apply(c->before, c->event);
        s_assert_state(outcome.state, c->after);
        if (outcome.changed != c->changed || outcome.compensate != c->compensate) {
            fail_msg("case %zu: changed %d compensate %d", index, outcome.changed,
                     outcome.compensate);
        }
        assert_false(outcome.refused);
    }
}

//  --------------------------------------------------------------------------
//  StockReserved and PaymentStarted commute.

static void
test_either_order(void **state)
{
    (void) state;
    order_state_t start = s_state(ORDER_PENDING, false, false);
    order_state_t first =
        order_logic_apply(order_logic_apply(start, ORDER_EVENT_STOCK_RESERVED).state,
                          ORDER_EVENT_PAYMENT_STARTED)
            .state;
    order_state_t second =
        order_logic_apply(order_logic_apply(start, ORDER_EVENT_PAYMENT_STARTED).state,
                          ORDER_EVENT_STOCK_RESERVED)
            .state;
    s_assert_state(first, s_state(ORDER_PAYMENT_STARTED, true, true));
    s_assert_state(second, first);
}

//  --------------------------------------------------------------------------
//  A rejection compensates once, however often (and from wherever) it
//  comes, and nothing after it moves the order.

static void
test_rejected_compensates_once(void **state)
{
    (void) state;
    const order_event_t flows[][3] = {
        {ORDER_EVENT_STOCK_REJECTED, ORDER_EVENT_STOCK_REJECTED, ORDER_EVENT_STOCK_REJECTED},
        {ORDER_EVENT_PAYMENT_STARTED, ORDER_EVENT_STOCK_REJECTED, ORDER_EVENT_STOCK_REJECTED},
        {ORDER_EVENT_STOCK_REJECTED, ORDER_EVENT_PAYMENT_STARTED, ORDER_EVENT_STOCK_RESERVED},
        {ORDER_EVENT_STOCK_REJECTED, ORDER_EVENT_PAYMENT_VOIDED, ORDER_EVENT_CANCEL_REQUESTED},
    };
    for (size_t flow = 0; flow < sizeof flows / sizeof flows[0]; flow++) {
        order_state_t order = s_state(ORDER_PENDING, false, false);
        int compensations = 0;
        for (size_t step = 0; step < 3; step++) {
            order_outcome_t outcome = order_logic_apply(order, flows[flow][step]);
            compensations += outcome.compensate ? 1 : 0;
            order = outcome.state;
        }
        assert_int_equal(compensations, 1);
        assert_int_equal(order.status, ORDER_REJECTED);
    }
}

//  --------------------------------------------------------------------------
//  Final states: every event only adds history; a cancel is refused.

static void
test_final_states(void **state)
{
    (void) state;
    for (size_t index = 0; index < ORDER_STATE_COUNT; index++) {
        order_state_t before = order_logic_state_at(index);
        if (!order_status_final(before.status)) {
            continue;
        }
        for (int event = 0; event < ORDER_EVENT_COUNT; event++) {
            order_outcome_t outcome = order_logic_apply(before, (order_event_t) event);
            s_assert_state(outcome.state, before);
            assert_false(outcome.changed);
            assert_false(outcome.compensate);
            assert_int_equal(outcome.refused, event == ORDER_EVENT_CANCEL_REQUESTED);
        }
    }
    assert_true(order_status_final(ORDER_REJECTED));
    assert_true(order_status_final(ORDER_CANCELLED));
    assert_false(order_status_final(ORDER_PENDING));
    assert_false(order_status_final(ORDER_RESERVED));
    assert_false(order_status_final(ORDER_PAYMENT_STARTED));
}

//  --------------------------------------------------------------------------
//  Properties over every (state, event) pair.

static void
test_every_pair(void **state)
{
    (void) state;
    for (size_t index = 0; index < ORDER_STATE_COUNT; index++) {
        order_state_t before = order_logic_state_at(index);
        assert_int_equal(order_logic_state_index(before), index);
        for (int event = 0; event < ORDER_EVENT_COUNT; event++) {
            order_outcome_t outcome = order_logic_apply(before, (order_event_t) event);
            order_state_t after = outcome.state;
            bool differs = after.status != before.status ||
                           after.stock_reserved != before.stock_reserved ||
                           after.payment_started != before.payment_started;
            assert_int_equal(outcome.changed, differs);
            //  Compensation is exactly "a non-final order was rejected".
            assert_int_equal(outcome.compensate, event == ORDER_EVENT_STOCK_REJECTED &&
                                                     !order_status_final(before.status));
            //  A non-final order's status follows its flags.
            if (!order_status_final(after.status)) {
                order_status_t derived = !after.stock_reserved   ? ORDER_PENDING
                                         : after.payment_started ? ORDER_PAYMENT_STARTED
                                                                 : ORDER_RESERVED;
                if (!order_status_final(before.status) && outcome.changed) {
                    assert_int_equal(after.status, derived);
                }
            }
            //  Flags are only ever set, never cleared.
            assert_true(after.stock_reserved >= before.stock_reserved);
            assert_true(after.payment_started >= before.payment_started);
        }
    }
}

//  --------------------------------------------------------------------------
//  Names.

static void
test_names(void **state)
{
    (void) state;
    const char *names[] = {"PENDING", "RESERVED", "PAYMENT_STARTED", "REJECTED", "CANCELLED"};
    for (int status = 0; status < ORDER_STATUS_COUNT; status++) {
        assert_string_equal(order_status_name((order_status_t) status), names[status]);
        order_status_t parsed = ORDER_CANCELLED;
        assert_int_equal(order_status_parse(names[status], &parsed), 0);
        assert_int_equal(parsed, status);
    }
    order_status_t untouched = ORDER_RESERVED;
    assert_int_equal(order_status_parse("pending", &untouched), -1);
    assert_int_equal(order_status_parse("", &untouched), -1);
    assert_int_equal(untouched, ORDER_RESERVED);

    const char *types[] = {"StockReserved", "StockRejected", "StockReleased", "PaymentStarted",
                           "PaymentVoided"};
    for (int event = 0; event < 5; event++) {
        order_event_t parsed = ORDER_EVENT_CANCEL_REQUESTED;
        assert_int_equal(order_event_of_type(types[event], &parsed), 0);
        assert_int_equal(parsed, event);
    }
    order_event_t parsed = ORDER_EVENT_PAYMENT_VOIDED;
    assert_int_equal(order_event_of_type("OrderCreated", &parsed), -1);
    assert_int_equal(order_event_of_type("OrderCancelled", &parsed), -1);
    assert_int_equal(order_event_of_type("", &parsed), -1);
    assert_int_equal(parsed, ORDER_EVENT_PAYMENT_VOIDED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example), cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_either_order),  cmocka_unit_test(test_rejected_compensates_once),
        cmocka_unit_test(test_final_states),  cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
