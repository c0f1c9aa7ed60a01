/*  =========================================================================
    order_logic - the read model's state machine, without I/O

    An order's read-model state is its status plus two facts learned from
    the other services: whether its stock is reserved and whether its
    payment was started. Each event about the order (and a cancel request)
    moves that state, as docs/http-api.md describes:

        PENDING --StockReserved--> RESERVED --PaymentStarted--> PAYMENT_STARTED
        PENDING --PaymentStarted--> PENDING (payment_started) --StockReserved--> PAYMENT_STARTED
        any non-final --StockRejected--> REJECTED, and compensate (OrderCancelled)
        any non-final --cancel request--> CANCELLED
        REJECTED, CANCELLED: final; events only add history, a cancel is refused

    StockReleased and PaymentVoided only follow our own OrderCancelled, so
    they never move the state: they add history. The decisions are pure so
    that they are tested exhaustively here (order_logic_state_at enumerates
    every state); order_store folds a batch of events into each order's
    state with order_logic_apply, in seq order, between the statement that
    reads the states and the one that writes them.

        order_state_t state = {.status = ORDER_PENDING};
        order_outcome_t outcome = order_logic_apply(state, ORDER_EVENT_STOCK_REJECTED);
        //  outcome.state.status == ORDER_REJECTED, outcome.compensate == true
    =========================================================================
*/
#ifndef ORDER_LOGIC_H_INCLUDED
#define ORDER_LOGIC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  An order's status, as the API shows it.
typedef enum {
    ORDER_PENDING = 0,     //  created; nothing heard yet (or only PaymentStarted)
    ORDER_RESERVED,        //  StockReserved, no PaymentStarted yet
    ORDER_PAYMENT_STARTED, //  StockReserved and PaymentStarted, in either order
    ORDER_REJECTED,        //  StockRejected: cancelled by the service itself (final)
    ORDER_CANCELLED        //  cancelled by request (final)
} order_status_t;

#define ORDER_STATUS_COUNT 5

//  What can happen to an order after its creation.
typedef enum {
    ORDER_EVENT_STOCK_RESERVED = 0,
    ORDER_EVENT_STOCK_REJECTED,
    ORDER_EVENT_STOCK_RELEASED,
    ORDER_EVENT_PAYMENT_STARTED,
    ORDER_EVENT_PAYMENT_VOIDED,
    ORDER_EVENT_CANCEL_REQUESTED //  POST /orders/{id}/cancel
} order_event_t;

#define ORDER_EVENT_COUNT 6

//  The read-model state of one order.
typedef struct {
    order_status_t status; //  as above
    bool stock_reserved;   //  a StockReserved was applied while not final
    bool payment_started;  //  a PaymentStarted was applied while not final
} order_state_t;

//  Number of distinct states (status x two flags); see order_logic_state_at.
#define ORDER_STATE_COUNT ((size_t) ORDER_STATUS_COUNT * 4)

//  What an event does to a state.
typedef struct {
    order_state_t state; //  the state after the event
    bool changed;        //  state differs from the one before
    bool compensate;     //  append the compensating OrderCancelled (StockRejected)
    bool refused;        //  a cancel request on a final order: 409, nothing changes
} order_outcome_t;

//  Apply `event` to `state`. Total: every state and event has an outcome.
order_outcome_t order_logic_apply(order_state_t state, order_event_t event);

//  True for REJECTED and CANCELLED.
bool order_status_final(order_status_t status);

//  "PENDING", "RESERVED", "PAYMENT_STARTED", "REJECTED", "CANCELLED".
//  Borrowed, static.
const char *order_status_name(order_status_t status);

//  Parse a status name. Returns 0 and sets *status_out, or -1 (not set).
int order_status_parse(const char *name, order_status_t *status_out);

//  The event of a subscribed type name ("StockReserved"). Returns 0 and
//  sets *event_out, or -1 for any other name (OrderCreated included).
int order_event_of_type(const char *type_name, order_event_t *event_out);

//  The position of a state in 0..ORDER_STATE_COUNT-1: status * 4 +
//  stock_reserved * 2 + payment_started (order_store relies on this form).
size_t order_logic_state_index(order_state_t state);

//  The state at position `index` (< ORDER_STATE_COUNT, asserted).
order_state_t order_logic_state_at(size_t index);

#endif
