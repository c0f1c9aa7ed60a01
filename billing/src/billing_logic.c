/*  =========================================================================
    billing_logic - billing's rules, without I/O

    Small on purpose: the transitions themselves are made by the store in
    one statement each, so what remains here is what an outcome means,
    what a valid total is, and the texts. The total is checked again here
    although the bus's decoder already refuses a malformed Money: a
    currency this build does not know cannot be formatted, and a payment
    that nobody can show must not be started (the event is dead-lettered
    instead, where an operator sees it).
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_logic.h"

//  --------------------------------------------------------------------------
//  Which outcomes are announced.

bool
billing_logic_publishes(billing_outcome_t outcome)
{
    return outcome == BILLING_STARTED || outcome == BILLING_VOIDED;
}

//  --------------------------------------------------------------------------
//  Names for logs.

const char *
billing_logic_outcome_name(billing_outcome_t outcome)
{
    switch (outcome) {
        case BILLING_STARTED:
            return "started";
        case BILLING_FILLED:
            return "filled";
        case BILLING_VOIDED:
            return "voided";
        case BILLING_TOMBSTONE:
            return "tombstone";
        case BILLING_UNCHANGED:
            return "unchanged";
        default:
            return "unknown";
    }
}

//  --------------------------------------------------------------------------
//  A total a payment can be made of.

int
billing_logic_check_total(const char *currency,
                          int64_t amount_minor,
                          int *digits_out,
                          const char **why_out)
{
    assert(digits_out);
    assert(why_out);
    int digits = currency ? svc_currency_digits(currency) : -1;
    if (digits < 0) {
        *why_out = "the total's currency is not an ISO 4217 code we know";
        return -1;
    }
    if (amount_minor < 0) {
        *why_out = "the total is negative";
        return -1;
    }
    *digits_out = digits;
    return 0;
}

//  --------------------------------------------------------------------------
//  "59.97"

char *
billing_logic_format_amount(int64_t amount_minor, int digits, char buffer[SVC_MONEY_TEXT_MAX])
{
    assert(buffer);
    //  SVC_MONEY_TEXT_MAX holds any int64 with any digits 0..18.
    int length = svc_money_format(amount_minor, digits, buffer, SVC_MONEY_TEXT_MAX);
    assert(length > 0);
    return buffer;
}

//  --------------------------------------------------------------------------
//  The seed's log sentence.

char *
billing_logic_started_message(const char *order_text)
{
    assert(order_text);
    return zsys_sprintf("Payment started for order %s", order_text);
}
