/*  =========================================================================
    billing_logic - billing's rules, without I/O

    A payment per order, as a small state machine whose every transition is
    one SQL statement in billing_store (so that two events of one order can
    never interleave between a read and a write). The store reports which
    transition happened, as a billing_outcome_t; the rules here say what
    each outcome means for the world outside the table (an event to
    publish or not), check an order's total before a payment is made of
    it, and write the texts the handler logs and the API shows.

        (none)    --OrderCreated-->    STARTED      BILLING_STARTED    PaymentStarted
        (none)    --OrderCancelled-->  VOIDED, no amount (tombstone)
                                                    BILLING_TOMBSTONE  -
        tombstone --OrderCreated-->    VOIDED, amount filled in
                                                    BILLING_FILLED     -
        STARTED   --OrderCancelled-->  VOIDED       BILLING_VOIDED     PaymentVoided
        anything else                  unchanged    BILLING_UNCHANGED  -

        int digits = 0;
        const char *why = NULL;
        if (billing_logic_check_total("EUR", 5997, &digits, &why) == 0) ...
        char amount[SVC_MONEY_TEXT_MAX];
        billing_logic_format_amount(5997, digits, amount);         //  "59.97"
        char *message = billing_logic_started_message(order_text);
        //  "Payment started for order 0193..."
    =========================================================================
*/
#ifndef BILLING_LOGIC_H_INCLUDED
#define BILLING_LOGIC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "svc_money.h"

//  Which transition an event made (the table above).
typedef enum {
    BILLING_STARTED = 0, //  OrderCreated, no row: a payment STARTED
    BILLING_FILLED,      //  OrderCreated, tombstone: amount filled in, still VOIDED
    BILLING_VOIDED,      //  OrderCancelled, STARTED: now VOIDED
    BILLING_TOMBSTONE,   //  OrderCancelled, no row: a VOIDED tombstone without amount
    BILLING_UNCHANGED    //  the event changes nothing (seen before, or already final)
} billing_outcome_t;

//  True if the outcome is announced with an event (PaymentStarted or
//  PaymentVoided): only a payment that really started or was voided is.
bool billing_logic_publishes(billing_outcome_t outcome);

//  A short name for logs ("started", "filled", ...); "unknown" for a value
//  that is no outcome. Static.
const char *billing_logic_outcome_name(billing_outcome_t outcome);

//  Check an order's total: a known ISO 4217 currency and an amount >= 0.
//  Returns 0 and sets *digits_out to the currency's minor digits, or -1
//  and sets *why_out to a static sentence.
int billing_logic_check_total(const char *currency,
                              int64_t amount_minor,
                              int *digits_out,
                              const char **why_out);

//  Write an amount as the API and the log show it ("59.97"), `digits`
//  fraction digits. Returns `buffer`.
char *
billing_logic_format_amount(int64_t amount_minor, int digits, char buffer[SVC_MONEY_TEXT_MAX]);

//  "Payment started for order <order_text>", the line the system this
//  replaces wrote. Caller owns return value.
char *billing_logic_started_message(const char *order_text);

#endif
