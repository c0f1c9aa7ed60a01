/*  =========================================================================
    order_logic - the read model's state machine, without I/O

    While an order is not final its status is derived from the two flags,
    so StockReserved and PaymentStarted commute: whichever comes second
    makes the order PAYMENT_STARTED. A final order keeps its state whatever
    arrives later; that is what makes the compensating OrderCancelled of a
    StockRejected happen once, even if a second rejection came in.
    =========================================================================
*/
#include "order_classes.h"
#include "order_logic.h"

static const char *const s_status_names[ORDER_STATUS_COUNT] = {
    "PENDING", "RESERVED", "PAYMENT_STARTED", "REJECTED", "CANCELLED"};

//  The subscribed event types, by order_event_t (cancel requests have none).
static const char *const s_event_types[ORDER_EVENT_COUNT] = {
    "StockReserved", "StockRejected", "StockReleased", "PaymentStarted", "PaymentVoided", NULL};

//  --------------------------------------------------------------------------
//  The status a non-final order has with these flags.

static order_status_t
s_derived_status(bool stock_reserved, bool payment_started)
{
    if (!stock_reserved) {
        return ORDER_PENDING;
    }
    return payment_started ? ORDER_PAYMENT_STARTED : ORDER_RESERVED;
}

static bool
s_state_equal(order_state_t left, order_state_t right)
{
    return left.status == right.status && left.stock_reserved == right.stock_reserved &&
           left.payment_started == right.payment_started;
}

//  --------------------------------------------------------------------------
//  Apply an event to a state.

order_outcome_t
order_logic_apply(order_state_t state, order_event_t event)
{
    assert(state.status < ORDER_STATUS_COUNT);
    assert(event < ORDER_EVENT_COUNT);
    order_outcome_t outcome = {.state = state};
    if (order_status_final(state.status)) {
        outcome.refused = event == ORDER_EVENT_CANCEL_REQUESTED;
        return outcome;
    }
    order_state_t *next = &outcome.state;
    switch (event) {
        case ORDER_EVENT_STOCK_RESERVED:
            next->stock_reserved = true;
            next->status = s_derived_status(next->stock_reserved, next->payment_started);
            break;
        case ORDER_EVENT_PAYMENT_STARTED:
            next->payment_started = true;
            next->status = s_derived_status(next->stock_reserved, next->payment_started);
            break;
        case ORDER_EVENT_STOCK_REJECTED:
            next->status = ORDER_REJECTED;
            outcome.compensate = true;
            break;
        case ORDER_EVENT_CANCEL_REQUESTED:
            next->status = ORDER_CANCELLED;
            break;
        case ORDER_EVENT_STOCK_RELEASED:
        case ORDER_EVENT_PAYMENT_VOIDED:
            //  They follow our own cancel; before it they tell us nothing.
            break;
    }
    outcome.changed = !s_state_equal(state, outcome.state);
    return outcome;
}

bool
order_status_final(order_status_t status)
{
    assert(status < ORDER_STATUS_COUNT);
    return status == ORDER_REJECTED || status == ORDER_CANCELLED;
}

const char *
order_status_name(order_status_t status)
{
    assert(status < ORDER_STATUS_COUNT);
    return s_status_names[status];
}

int
order_status_parse(const char *name, order_status_t *status_out)
{
    assert(name);
    assert(status_out);
    for (int status = 0; status < ORDER_STATUS_COUNT; status++) {
        if (streq(name, s_status_names[status])) {
            *status_out = (order_status_t) status;
            return 0;
        }
    }
    return -1;
}

int
order_event_of_type(const char *type_name, order_event_t *event_out)
{
    assert(type_name);
    assert(event_out);
    for (int event = 0; event < ORDER_EVENT_COUNT; event++) {
        if (s_event_types[event] && streq(type_name, s_event_types[event])) {
            *event_out = (order_event_t) event;
            return 0;
        }
    }
    return -1;
}

size_t
order_logic_state_index(order_state_t state)
{
    assert(state.status < ORDER_STATUS_COUNT);
    return (size_t) state.status * 4 + (state.stock_reserved ? 2 : 0) +
           (state.payment_started ? 1 : 0);
}

order_state_t
order_logic_state_at(size_t index)
{
    assert(index < ORDER_STATE_COUNT);
    order_state_t state = {.status = (order_status_t) (index / 4),
                           .stock_reserved = (index & 2) != 0,
                           .payment_started = (index & 1) != 0};
    return state;
}
