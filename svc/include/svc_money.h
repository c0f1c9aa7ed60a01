/*  =========================================================================
    svc_money - exact decimal amounts in integer minor units

    Money is an int64 count of the currency's minor units plus an ISO 4217
    code: 19.99 EUR is 1999 with 2 digits, 500 JPY is 500 with 0 digits,
    1.234 KWD is 1234 with 3 digits. Text is parsed digit by digit, never
    through binary floating point. JSON numbers (which jansson holds as
    doubles) are turned back into their shortest round-trip decimal text
    first, and refused if they carry more than 15 significant digits, where
    a double can no longer say which decimal was meant.

        int digits = svc_currency_digits("EUR");           //  2
        int64_t minor;
        if (svc_money_parse("19.99", digits, &minor) == SVC_MONEY_OK) ...  //  1999
        char text[SVC_MONEY_TEXT_MAX];
        svc_money_format(1999, digits, text, sizeof text);  //  "19.99"
    =========================================================================
*/
#ifndef SVC_MONEY_H_INCLUDED
#define SVC_MONEY_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SVC_MONEY_OK = 0,
    SVC_MONEY_SYNTAX,    //  not a plain decimal: empty, sign only, exponent, spaces, "1.", ".5"
    SVC_MONEY_PRECISION, //  more fraction digits than the currency has
    SVC_MONEY_OVERFLOW,  //  does not fit in int64 minor units
    SVC_MONEY_TYPE,      //  JSON value neither string nor number
    SVC_MONEY_CURRENCY   //  not an active ISO 4217 code
} svc_money_rc_t;

//  Longest text svc_money_format writes, with the NUL.
#define SVC_MONEY_TEXT_MAX 32

//  Minor-unit digits of an ISO 4217 code ("EUR" 2, "JPY" 0, "KWD" 3), or -1
//  if the code is not an active three-letter upper-case code. Lower case
//  ("eur"), withdrawn codes and codes without minor units (XAU, XDR, XXX)
//  are -1. The table is ISO 4217 List One as published 2026-01-01.
int svc_currency_digits(const char *code);

//  Parse a decimal text ("19.99", "-0.50", "7") into minor units for a
//  currency with `digits` (0..18) fraction digits. At most `digits` fraction
//  digits are accepted, even if the extra ones are zeros. Returns
//  SVC_MONEY_OK and sets *minor_out, or an error code and leaves *minor_out
//  unchanged. Asserts `digits` outside 0..18 (a programmer error).
svc_money_rc_t svc_money_parse(const char *text, int digits, int64_t *minor_out);

//  Parse a JSON string or number as svc_money_parse does. A string is parsed
//  as text; an integer counts major units; a real is read through its
//  shortest round-trip decimal text and refused with SVC_MONEY_PRECISION if
//  that has more than 15 significant digits. Other types: SVC_MONEY_TYPE.
svc_money_rc_t svc_money_from_json(const json_t *value, int digits, int64_t *minor_out);

//  Write `minor` as a decimal with exactly `digits` fraction digits
//  ("19.90", "-0.05", "500"). Returns the length written, or -1 if `size`
//  is too small, leaving `buffer` untouched.
int svc_money_format(int64_t minor, int digits, char *buffer, size_t size);

//  A sentence describing a return code ("more fraction digits than the
//  currency has").
const char *svc_money_strerror(svc_money_rc_t rc);

#endif
