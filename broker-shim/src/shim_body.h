/*  =========================================================================
    shim_body - our event payloads as the JSON objects of the .NET contracts

    The "message" of a MassTransit envelope and the whole body of a CAP
    message are the same .NET record serialised two ways: MassTransit's
    System.Text.Json settings write camelCase names and decimals as
    strings, CAP's defaults PascalCase names and decimals as numbers
    (INTEROP.md sections 3.3 and 8). Both write GUIDs in the D form and
    times as ISO-8601. This class holds the one field mapping both use:

    | our type       | fields (camelCase; CAP capitalises the first letter)          |
    | -------------- | ------------------------------------------------------------- |
    | OrderCreated   | orderId, customerId, total, currency, items[{sku, quantity,   |
    |                | unitPrice}], createdAt                                        |
    | OrderCancelled | orderId, reason, cancelledAt                                  |
    | StockReserved  | orderId                                                       |
    | StockRejected  | orderId, sku, requested, available                            |
    | StockReleased  | orderId                                                       |
    | PaymentStarted | orderId, amount, currency                                     |
    | PaymentVoided  | orderId                                                       |

    The seed's record OrderCreatedEvent(Guid OrderId, string CustomerId,
    decimal Total) is the first three; .NET ignores the fields it does not
    declare. Reading takes any key case, decimals as strings or numbers
    (exactly), and treats null as absent. Only what our contract needs is
    required: every orderId, and customerId and total of an OrderCreated,
    sku of a StockRejected and amount of a PaymentStarted. A message
    without currency is in the map's default currency; an OrderCreated
    without items gets none (see the README: our bus rules still want at
    least one); a missing createdAt/cancelledAt takes the envelope's
    occurred_at_us, which the caller sets first.
    =========================================================================
*/
#ifndef SHIM_BODY_H_INCLUDED
#define SHIM_BODY_H_INCLUDED

#include <jansson.h>

#include "ev/v1/envelope.pb-c.h"
#include "shim_json.h"
#include "shim_rc.h"

//  Longest customer id and sku read, in bytes.
#define SHIM_TEXT_MAX 256

//  Longest cancellation reason read, in bytes.
#define SHIM_REASON_TEXT_MAX 1024

//  How a payload is written.
typedef enum {
    SHIM_BODY_MASSTRANSIT = 0, //  camelCase names, decimals as strings
    SHIM_BODY_CAP              //  PascalCase names, decimals as numbers
} shim_body_style_t;

//  Write the payload of `envelope` as a JSON object in `style`, as the
//  next value of `writer`. Decimals have exactly their currency's digits
//  ("51.99", "500"). Returns SHIM_OK, SHIM_NOT_MAPPED if no payload this
//  build knows is set, or SHIM_INVALID if the payload cannot be written
//  (an id that is not 16 bytes, an unknown currency, an item in another
//  currency than the total, text that is not UTF-8, a time beyond year
//  9999). On failure the writer holds part of the object: discard its text.
shim_rc_t shim_body_encode(const Ev__V1__Envelope *envelope,
                           shim_body_style_t style,
                           shim_json_writer_t *writer,
                           shim_error_t *error);

//  Read the payload of a shim envelope (shim_envelope_new, its
//  payload_case chosen and occurred_at_us set) from the JSON object
//  `message`, named `path` in reasons ("message", or "" for a root).
//  `currency` is the currency of a message that names none. Returns
//  SHIM_OK, or the failure (SHIM_BAD_FIELD also if `message` is no
//  object; SHIM_BAD_ID, SHIM_BAD_AMOUNT, SHIM_MISSING_FIELD,
//  SHIM_TOO_LARGE) with the payload partly filled: destroy the envelope.
shim_rc_t shim_body_decode(const json_t *message,
                           const char *path,
                           const char *currency,
                           Ev__V1__Envelope *envelope,
                           shim_error_t *error);

#endif
