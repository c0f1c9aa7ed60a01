/*  =========================================================================
    svc_money - exact decimal amounts in integer minor units

    Amounts cross our boundaries as text ("19.99") or as JSON numbers, and
    are held as an int64 count of minor units. Text is read digit by digit
    with overflow checks, so no binary rounding ever touches an amount. A
    JSON real is first turned back into the shortest decimal text that
    reproduces the same double (what the sender most likely wrote) and then
    read as text; if that needs more than 15 significant digits the double
    no longer identifies one decimal and the value is refused.

    The currency table is ISO 4217 List One as published on 2026-01-01,
    restricted to codes that have numeric minor units. Codes whose minor
    unit is "N.A." (XAU, XAG, XPD, XPT, XBA..XBD, XDR, XSU, XUA, XTS, XXX)
    are not money in this system and are unknown here, as are withdrawn
    codes (HRK, SLL, ZWL, ANG, CUC, BGN ...). Lookups are strict: exactly
    three upper-case letters, so "eur" is unknown; callers normalise case
    at their edge if they want to accept it.
    =========================================================================
*/
#include "svc_classes.h"

#include <inttypes.h>
#include <math.h>

//  Largest `digits` we accept: 10^18 is the largest power of ten in int64.
#define S_DIGITS_MAX 18

//  A double has at most 17 significant decimal digits; beyond 15 it can
//  no longer tell which decimal the sender wrote.
#define S_REAL_PRECISION_MAX 17
#define S_REAL_SIGNIFICANT_MAX 15
#define S_REAL_TEXT_MAX 32

//  Plain decimal text made from a real is bounded by refusing decimal
//  exponents beyond this, which are far outside int64 minor units anyway.
#define S_PLAIN_EXPONENT_MAX 24
#define S_PLAIN_TEXT_MAX 80

//  A decimal split into sign, significant digits without leading zeros,
//  and the position of the radix point relative to the first of them
//  (19.99 is "1999" at 2; 0.001 is "1" at -2; 1e20 is "1" at 21).
typedef struct {
    bool negative;                //  a leading '-'
    char digits[S_REAL_TEXT_MAX]; //  significant digits, NUL-terminated
    size_t length;                //  strlen(digits); 0 for zero
    long position;                //  digits before the radix point
} s_decimal_t;

//  One row of the currency table.
typedef struct {
    char code[4]; //  ISO 4217 alphabetic code, NUL-terminated
    int digits;   //  minor-unit digits
} s_currency_t;

//  ISO 4217 List One (published 2026-01-01), codes with numeric minor
//  units only, sorted by code for bsearch.
static const s_currency_t s_currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2}, {"AWG", 2},
    {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
    {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2},
    {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2},
    {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
    {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2},
    {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2},
    {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3},
    {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2},
    {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2},
    {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
    {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
    {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2},
    {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2},
    {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2},
    {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2},
    {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
    {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0},
    {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0},
    {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

//  ---------------------------------------------------------------------
//  Order two currency entries by code, for bsearch.

static int
s_currency_compare(const void *key, const void *entry)
{
    return memcmp(key, ((const s_currency_t *) entry)->code, 3);
}

//  ---------------------------------------------------------------------
//  Minor-unit digits of an active ISO 4217 code, or -1.

int
svc_currency_digits(const char *code)
{
    assert(code);
    //  Short-circuit stops at the NUL of a shorter string, so this never
    //  reads past the end; a fourth character makes the code unknown.
    for (int index = 0; index < 3; index++) {
        if (code[index] < 'A' || code[index] > 'Z') {
            return -1;
        }
    }
    if (code[3] != '\0') {
        return -1;
    }
    const s_currency_t *found =
        bsearch(code, s_currencies, sizeof s_currencies / sizeof s_currencies[0],
                sizeof s_currencies[0], s_currency_compare);
    return found ? found->digits : -1;
}

//  ---------------------------------------------------------------------
//  Check the grammar -?[0-9]+(\.[0-9]+)? and count the fraction digits.
//  Returns true and sets the outputs, or false for anything else.

static bool
s_scan_decimal(const char *text, bool *negative, size_t *frac_count)
{
    const char *cursor = text;
    *negative = (*cursor == '-');
    if (*negative) {
        cursor++;
    }
    size_t count = strspn(cursor, "0123456789");
    if (count == 0) {
        return false;
    }
    *frac_count = 0;
    cursor += count;
    if (*cursor == '.') {
        cursor++;
        count = strspn(cursor, "0123456789");
        if (count == 0) {
            return false;
        }
        *frac_count = count;
        cursor += count;
    }
    return *cursor == '\0';
}

//  ---------------------------------------------------------------------
//  Append one decimal digit to a magnitude. Returns false on overflow of
//  `limit`.

static bool
s_push_digit(uint64_t *magnitude, unsigned digit, uint64_t limit)
{
    uint64_t value;
    if (__builtin_mul_overflow(*magnitude, 10u, &value) ||
        __builtin_add_overflow(value, digit, &value) || value > limit) {
        return false;
    }
    *magnitude = value;
    return true;
}

//  ---------------------------------------------------------------------
//  Parse decimal text into minor units.

svc_money_rc_t
svc_money_parse(const char *text, int digits, int64_t *minor_out)
{
    assert(text);
    assert(digits >= 0 && digits <= S_DIGITS_MAX);
    assert(minor_out);

    bool negative;
    size_t frac_count;
    if (!s_scan_decimal(text, &negative, &frac_count)) {
        return SVC_MONEY_SYNTAX;
    }
    if (frac_count > (size_t) digits) {
        return SVC_MONEY_PRECISION;
    }
    //  Accumulate the magnitude unsigned so that INT64_MIN, whose magnitude
    //  is one more than INT64_MAX, is reachable.
    uint64_t limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    uint64_t magnitude = 0;
    const char *cursor = text + (negative ? 1 : 0);
    for (; *cursor; cursor++) {
        if (*cursor != '.' && !s_push_digit(&magnitude, (unsigned) (*cursor - '0'), limit)) {
            return SVC_MONEY_OVERFLOW;
        }
    }
    for (size_t pad = frac_count; pad < (size_t) digits; pad++) {
        if (!s_push_digit(&magnitude, 0, limit)) {
            return SVC_MONEY_OVERFLOW;
        }
    }
    if (!negative) {
        *minor_out = (int64_t) magnitude;
    } else if (magnitude == (uint64_t) INT64_MAX + 1) {
        *minor_out = INT64_MIN;
    } else {
        *minor_out = -(int64_t) magnitude;
    }
    return SVC_MONEY_OK;
}

//  ---------------------------------------------------------------------
//  Scale a JSON integer of major units to minor units.

static svc_money_rc_t
s_from_integer(json_int_t major, int digits, int64_t *minor_out)
{
    int64_t minor = (int64_t) major;
    for (int step = 0; step < digits; step++) {
        if (__builtin_mul_overflow(minor, 10, &minor)) {
            return SVC_MONEY_OVERFLOW;
        }
    }
    *minor_out = minor;
    return SVC_MONEY_OK;
}

//  ---------------------------------------------------------------------
//  Split "%g" output ("-1.5e+20", "1e-05", "0.001", "19.99") into an
//  s_decimal_t. The radix is whichever character is not a digit, sign or
//  exponent, so a non-C LC_NUMERIC cannot break it.

static void
s_decimal_split(const char *shortest, s_decimal_t *decimal)
{
    memset(decimal, 0, sizeof *decimal);
    const char *cursor = shortest;
    decimal->negative = (*cursor == '-');
    if (decimal->negative) {
        cursor++;
    }
    long point = -1;
    for (; *cursor && *cursor != 'e' && *cursor != 'E'; cursor++) {
        if (*cursor >= '0' && *cursor <= '9') {
            //  Leading zeros are dropped; each one after the radix moves
            //  the point one place left of the first significant digit.
            if (decimal->length > 0 || *cursor != '0') {
                decimal->digits[decimal->length++] = *cursor;
            } else if (point >= 0) {
                decimal->position--;
            }
        } else {
            point = (long) decimal->length;
        }
    }
    decimal->position += (point < 0 ? (long) decimal->length : point);
    if (*cursor) {
        decimal->position += strtol(cursor + 1, NULL, 10);
    }
}

//  ---------------------------------------------------------------------
//  Write a split decimal as plain text into `plain` (S_PLAIN_TEXT_MAX
//  bytes). Returns SVC_MONEY_OVERFLOW or SVC_MONEY_PRECISION, without
//  writing, when the point lies so far out that no int64 amount with at
//  most S_DIGITS_MAX fraction digits could hold it.

static svc_money_rc_t
s_decimal_write(const s_decimal_t *decimal, char *plain)
{
    if (decimal->length == 0) {
        plain[0] = '0';
        plain[1] = '\0';
        return SVC_MONEY_OK;
    }
    if (decimal->position > S_PLAIN_EXPONENT_MAX) {
        return SVC_MONEY_OVERFLOW;
    }
    if (decimal->position < -S_PLAIN_EXPONENT_MAX) {
        return SVC_MONEY_PRECISION;
    }
    char *out = plain;
    if (decimal->negative) {
        *out++ = '-';
    }
    size_t length = decimal->length;
    if (decimal->position <= 0) {
        size_t zeros = (size_t) -decimal->position;
        *out++ = '0';
        *out++ = '.';
        memset(out, '0', zeros);
        out += zeros;
        memcpy(out, decimal->digits, length + 1);
    } else if ((size_t) decimal->position >= length) {
        size_t zeros = (size_t) decimal->position - length;
        memcpy(out, decimal->digits, length);
        out += length;
        memset(out, '0', zeros);
        out[zeros] = '\0';
    } else {
        size_t whole = (size_t) decimal->position;
        memcpy(out, decimal->digits, whole);
        out[whole] = '.';
        memcpy(out + whole + 1, decimal->digits + whole, length - whole + 1);
    }
    return SVC_MONEY_OK;
}

//  ---------------------------------------------------------------------
//  Find the shortest "%.*g" text that reads back as exactly `real`. Returns
//  its precision (significant digits), writing it to `shortest`
//  (S_REAL_TEXT_MAX bytes).

static int
s_real_shortest(double real, char *shortest)
{
    for (int precision = 1; precision <= S_REAL_PRECISION_MAX; precision++) {
        int length = snprintf(shortest, S_REAL_TEXT_MAX, "%.*g", precision, real);
        if (length > 0 && length < S_REAL_TEXT_MAX && strtod(shortest, NULL) == real) {
            return precision;
        }
    }
    //  Seventeen digits round-trip every finite double, so this is never
    //  reached; if it were, the caller refuses the value as too precise.
    return S_REAL_PRECISION_MAX + 1;
}

//  ---------------------------------------------------------------------
//  Read a JSON real by way of its shortest round-trip decimal text.

static svc_money_rc_t
s_from_real(double real, int digits, int64_t *minor_out)
{
    //  jansson never produces these, but a hand-built json_t might.
    if (!isfinite(real)) {
        return SVC_MONEY_SYNTAX;
    }
    char shortest[S_REAL_TEXT_MAX];
    if (s_real_shortest(real, shortest) > S_REAL_SIGNIFICANT_MAX) {
        return SVC_MONEY_PRECISION;
    }
    s_decimal_t decimal;
    s_decimal_split(shortest, &decimal);
    char plain[S_PLAIN_TEXT_MAX];
    svc_money_rc_t rc = s_decimal_write(&decimal, plain);
    if (rc != SVC_MONEY_OK) {
        return rc;
    }
    return svc_money_parse(plain, digits, minor_out);
}

//  ---------------------------------------------------------------------
//  Parse a JSON string or number as svc_money_parse does.

svc_money_rc_t
svc_money_from_json(const json_t *value, int digits, int64_t *minor_out)
{
    assert(value);
    assert(digits >= 0 && digits <= S_DIGITS_MAX);
    assert(minor_out);

    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        //  JSON strings may hold "\u0000"; "1\u00009" must not read as "1".
        if (strlen(text) != json_string_length(value)) {
            return SVC_MONEY_SYNTAX;
        }
        return svc_money_parse(text, digits, minor_out);
    }
    if (json_is_integer(value)) {
        return s_from_integer(json_integer_value(value), digits, minor_out);
    }
    if (json_is_real(value)) {
        return s_from_real(json_real_value(value), digits, minor_out);
    }
    return SVC_MONEY_TYPE;
}

//  ---------------------------------------------------------------------
//  Write minor units as a decimal with exactly `digits` fraction digits.
//  On -1 the buffer is left untouched.

int
svc_money_format(int64_t minor, int digits, char *buffer, size_t size)
{
    assert(digits >= 0 && digits <= S_DIGITS_MAX);
    assert(buffer);

    //  Negate in unsigned arithmetic: -INT64_MIN does not fit in int64.
    //  Digits by hand, from the last one, not snprintf: this is on the
    //  shim's event path (several amounts per message).
    uint64_t magnitude = minor < 0 ? 0 - (uint64_t) minor : (uint64_t) minor;
    char text[SVC_MONEY_TEXT_MAX];
    char *at = text + sizeof text;
    *--at = '\0';
    for (int step = 0; step < digits; step++) {
        *--at = (char) ('0' + magnitude % 10);
        magnitude /= 10;
    }
    if (digits > 0) {
        *--at = '.';
    }
    do {
        *--at = (char) ('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (minor < 0) {
        *--at = '-';
    }
    int length = (int) (text + sizeof text - 1 - at);
    assert(length > 0 && length < (int) sizeof text);
    if ((size_t) length >= size) {
        return -1;
    }
    memcpy(buffer, at, (size_t) length + 1);
    return length;
}

//  ---------------------------------------------------------------------
//  A sentence describing a return code.

const char *
svc_money_strerror(svc_money_rc_t rc)
{
    switch (rc) {
        case SVC_MONEY_OK:
            return "success";
        case SVC_MONEY_SYNTAX:
            return "not a plain decimal amount";
        case SVC_MONEY_PRECISION:
            return "more fraction digits than the currency has";
        case SVC_MONEY_OVERFLOW:
            return "amount does not fit in 64-bit minor units";
        case SVC_MONEY_TYPE:
            return "JSON value is neither a string nor a number";
        case SVC_MONEY_CURRENCY:
            return "not an active ISO 4217 currency code";
    }
    return "unknown money error";
}
