/*  =========================================================================
    shim_rc - the return codes of the broker shim, and why a message failed

    One table holds each code's sentence and token, so the two never drift.
    =========================================================================
*/
#include "shim_classes.h"

#include <stdarg.h>

//  One row per code, in enum order.
typedef struct {
    shim_rc_t rc;         //  the code
    const char *name;     //  stable token
    const char *sentence; //  for people
} s_code_t;

static const s_code_t s_codes[] = {
    {SHIM_OK, "ok", "success"},
    {SHIM_TOO_LARGE, "too-large", "message or field larger than the shim accepts"},
    {SHIM_NOT_JSON, "not-json", "not JSON"},
    {SHIM_NO_MESSAGE_TYPE, "no-message-type", "no message type"},
    {SHIM_UNKNOWN_TYPE, "unknown-message-type", "no message type is mapped to an event"},
    {SHIM_NO_MESSAGE, "no-message", "envelope without a message"},
    {SHIM_BAD_ID, "bad-id", "id is not a GUID"},
    {SHIM_BAD_AMOUNT, "bad-amount", "amount is not an exact decimal of its currency"},
    {SHIM_BAD_FIELD, "bad-field", "field of the wrong type or out of range"},
    {SHIM_MISSING_FIELD, "missing-field", "required field missing"},
    {SHIM_OWN_MESSAGE, "own-message", "message bridged by this shim"},
    {SHIM_NOT_MAPPED, "not-mapped", "event type not mapped"},
    {SHIM_INVALID, "invalid-envelope", "envelope breaks the contract"},
};

#define S_CODE_COUNT (sizeof s_codes / sizeof s_codes[0])
_Static_assert(S_CODE_COUNT == SHIM_INVALID + 1, "one row per shim_rc_t, in order");

//  ---------------------------------------------------------------------
//  Set a failure with its reason; returns the code.

shim_rc_t
shim_error_set(shim_error_t *error, shim_rc_t rc, const char *format, ...)
{
    assert(error);
    assert(format);
    error->rc = rc;
    va_list args;
    va_start(args, format);
    //  A reason cut at the buffer's end is still a useful reason.
    int length = vsnprintf(error->reason, sizeof error->reason, format, args);
    va_end(args);
    if (length < 0) {
        error->reason[0] = '\0';
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Reset to success.

void
shim_error_clear(shim_error_t *error)
{
    assert(error);
    error->rc = SHIM_OK;
    error->reason[0] = '\0';
}

//  ---------------------------------------------------------------------
//  The sentence of a code.

const char *
shim_strerror(shim_rc_t rc)
{
    if ((size_t) rc < S_CODE_COUNT) {
        return s_codes[rc].sentence;
    }
    return "unknown shim error";
}

//  ---------------------------------------------------------------------
//  The token of a code.

const char *
shim_rc_name(shim_rc_t rc)
{
    if ((size_t) rc < S_CODE_COUNT) {
        return s_codes[rc].name;
    }
    return "unknown";
}
