/*  =========================================================================
    shim_rc - the return codes of the broker shim, and why a message failed

    The mapping between our envelopes and the JSON of MassTransit and CAP
    answers every failure with a shim_rc_t (STYLE rule 5, the nng pattern)
    and a reason that names the field ("message.items[2].unitPrice: more
    fraction digits than the currency has"). The reason goes into the
    dead-letter headers, so it never quotes the message's own content,
    only our field names and fixed texts. shim_rc_name gives a stable
    token per code for headers and metric labels.

        shim_error_t error;
        if (shim_masstransit_decode(codec, &delivery, &envelope, &error) != SHIM_OK) {
            //  dead-letter with headers x-shim-error: shim_rc_name(error.rc),
            //  x-shim-reason: error.reason
        }

    New codes are appended at the end; a code's value never changes.
    =========================================================================
*/
#ifndef SHIM_RC_H_INCLUDED
#define SHIM_RC_H_INCLUDED

#include <stddef.h>

typedef enum {
    SHIM_OK = 0,          //  success
    SHIM_TOO_LARGE,       //  a body, text or list beyond the shim's bounds
    SHIM_NOT_JSON,        //  not JSON, or not a JSON object where one must be
    SHIM_NO_MESSAGE_TYPE, //  no message type at all (messageType, MT-MessageType, cap-msg-name)
    SHIM_UNKNOWN_TYPE,    //  message types of which none is mapped to an event of ours
    SHIM_NO_MESSAGE,      //  a MassTransit envelope without its "message" object
    SHIM_BAD_ID,          //  an id that is not a GUID
    SHIM_BAD_AMOUNT,      //  an amount that is not an exact, non-negative decimal of its currency
    SHIM_BAD_FIELD,       //  a field of the wrong JSON type or out of its range
    SHIM_MISSING_FIELD,   //  a required field that is absent or null
    SHIM_OWN_MESSAGE,     //  a message the shim itself bridged: never bridge it back
    SHIM_NOT_MAPPED,      //  an envelope whose event type has no mapping (encode)
    SHIM_INVALID          //  an envelope that breaks our contract (encode)
} shim_rc_t;

//  Size of a reason text with its NUL.
#define SHIM_REASON_SIZE 256

//  A failure: its code and a one-line English reason (empty on SHIM_OK).
typedef struct {
    shim_rc_t rc;                  //  what failed
    char reason[SHIM_REASON_SIZE]; //  which field, and why; NUL-terminated
} shim_error_t;

//  Set `error` to `rc` with a printf-style reason (cut to fit) and return
//  `rc`, so a failing path ends in one line: return shim_error_set(...).
shim_rc_t shim_error_set(shim_error_t *error, shim_rc_t rc, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

//  Reset `error` to SHIM_OK with an empty reason.
void shim_error_clear(shim_error_t *error);

//  A short sentence for `rc` ("not JSON"), or "unknown shim error" for a
//  value that is no shim_rc_t. Borrowed, static.
const char *shim_strerror(shim_rc_t rc);

//  A stable lower-case token for `rc` ("not-json", "bad-amount"), for
//  dead-letter headers and metric labels; "unknown" for a value that is no
//  shim_rc_t. Borrowed, static.
const char *shim_rc_name(shim_rc_t rc);

#endif
