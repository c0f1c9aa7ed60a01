/*  =========================================================================
    billing_logic_test - billing's rules, case by case

    The first case is the usage example: a total checked, formatted and
    logged the way the handler does it.
    =========================================================================
*/
#include "billing_classes.h"
#include "billing_logic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  --------------------------------------------------------------------------
//  Usage: an order total of 59.97 EUR becomes a started payment's texts.

static void
test_usage(void **state)
{
    (void) state;
    int digits = -1;
    const char *why = NULL;
    assert_int_equal(billing_logic_check_total("EUR", 5997, &digits, &why), 0);
    assert_int_equal(digits, 2);
    assert_null(why);
    char amount[SVC_MONEY_TEXT_MAX];
    assert_string_equal(billing_logic_format_amount(5997, digits, amount), "59.97");
    char *message = billing_logic_started_message("0193c3a0-0000-7000-8000-000000000001");
    assert_string_equal(message, "Payment started for order 0193c3a0-0000-7000-8000-000000000001");
    zstr_free(&message);
    assert_true(billing_logic_publishes(BILLING_STARTED));
}

//  --------------------------------------------------------------------------
//  Only a payment that started or was voided is announced.

static void
test_outcomes(void **state)
{
    (void) state;
    assert_true(billing_logic_publishes(BILLING_STARTED));
    assert_true(billing_logic_publishes(BILLING_VOIDED));
    assert_false(billing_logic_publishes(BILLING_FILLED));
    assert_false(billing_logic_publishes(BILLING_TOMBSTONE));
    assert_false(billing_logic_publishes(BILLING_UNCHANGED));
    assert_string_equal(billing_logic_outcome_name(BILLING_STARTED), "started");
    assert_string_equal(billing_logic_outcome_name(BILLING_FILLED), "filled");
    assert_string_equal(billing_logic_outcome_name(BILLING_VOIDED), "voided");
    assert_string_equal(billing_logic_outcome_name(BILLING_TOMBSTONE), "tombstone");
    assert_string_equal(billing_logic_outcome_name(BILLING_UNCHANGED), "unchanged");
    assert_string_equal(billing_logic_outcome_name((billing_outcome_t) 99), "unknown");
}

//  --------------------------------------------------------------------------
//  Totals: known currencies of 0, 2 and 3 digits; unknown, lower-case,
//  absent currencies and negative amounts refused with a reason.

static void
test_check_total(void **state)
{
    (void) state;
    int digits = -1;
    const char *why = NULL;
    assert_int_equal(billing_logic_check_total("JPY", 500, &digits, &why), 0);
    assert_int_equal(digits, 0);
    assert_int_equal(billing_logic_check_total("KWD", 1234, &digits, &why), 0);
    assert_int_equal(digits, 3);
    assert_int_equal(billing_logic_check_total("EUR", 0, &digits, &why), 0);
    assert_int_equal(billing_logic_check_total("EUR", INT64_MAX, &digits, &why), 0);

    const char *refused[] = {"XXX", "eur", "", "EURO", NULL};
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        why = NULL;
        digits = -7;
        assert_int_equal(billing_logic_check_total(refused[index], 100, &digits, &why), -1);
        assert_non_null(why);
        assert_int_equal(digits, -7);
    }
    why = NULL;
    assert_int_equal(billing_logic_check_total("EUR", -1, &digits, &why), -1);
    assert_non_null(strstr(why, "negative"));
}

//  --------------------------------------------------------------------------
//  Amounts keep exactly the currency's digits.

static void
test_format_amount(void **state)
{
    (void) state;
    char amount[SVC_MONEY_TEXT_MAX];
    assert_string_equal(billing_logic_format_amount(1990, 2, amount), "19.90");
    assert_string_equal(billing_logic_format_amount(5, 2, amount), "0.05");
    assert_string_equal(billing_logic_format_amount(0, 2, amount), "0.00");
    assert_string_equal(billing_logic_format_amount(1000, 0, amount), "1000");
    assert_string_equal(billing_logic_format_amount(1234, 3, amount), "1.234");
    assert_string_equal(billing_logic_format_amount(INT64_MAX, 2, amount), "92233720368547758.07");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_check_total),
        cmocka_unit_test(test_format_amount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
