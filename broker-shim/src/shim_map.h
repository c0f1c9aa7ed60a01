/*  =========================================================================
    shim_map - which .NET message type, URN, exchange and CAP name each of
    our event types has, and back

    MassTransit names a message by its .NET type: `Contracts.OrderCreatedEvent`
    is published to the fanout exchange `Contracts:OrderCreatedEvent` with
    the message type URN `urn:message:Contracts:OrderCreatedEvent`
    (INTEROP.md sections 1.1 and 4.1). A consumer matches on the whole URN,
    ignoring case, so namespace and type name must be exactly what the .NET
    side compiled. The defaults are the names of the system this replaces
    (the seed note's `Contracts` project: `OrderCreatedEvent`,
    `OrderCancelledEvent`) and the same pattern for the rest; each can be
    changed, and each exchange can be overridden (`[EntityName]`,
    `SetEntityName` on the .NET side). A nested .NET type is written
    `Outer+Inner`: its URN keeps the `+`, its exchange gets `Outer-Inner`.

    For DotNetCore.CAP the map also holds each type's CAP message name (the
    routing key on `cap.default.router`, default our type name, e.g.
    `OrderCreated`), and the currency to assume for a message that carries
    none (the seed's `OrderCreatedEvent` has only a decimal total).

    Reverse lookups (URN, exchange, CAP name -> our type) are what the
    RabbitMQ -> ZeroMQ direction uses, so no two types may share one; a
    change that would make them ambiguous is refused.

        shim_map_t *map = shim_map_new();
        shim_map_configure(map, "OrderCreated=Sales.Contracts:OrderPlaced@sales-orders");
        shim_map_urn(map, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
            //  "urn:message:Sales.Contracts:OrderPlaced"
        shim_map_find_urn(map, "URN:MESSAGE:sales.contracts:orderplaced");
            //  EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED
        shim_map_destroy(&map);
    =========================================================================
*/
#ifndef SHIM_MAP_H_INCLUDED
#define SHIM_MAP_H_INCLUDED

#include <stddef.h>

#include "ev/v1/envelope.pb-c.h"

//  Defaults: the .NET namespace of every type, and the currency of
//  amounts in messages without one.
#define SHIM_MAP_NAMESPACE_DEFAULT "Contracts"
#define SHIM_MAP_CURRENCY_DEFAULT "EUR"

//  MassTransit's URN prefix (MessageUrn.cs).
#define SHIM_URN_PREFIX "urn:message:"

//  Longest namespace, type name, exchange and CAP name, in bytes: an AMQP
//  short string holds 255.
#define SHIM_NAME_MAX 255

typedef struct shim_map shim_map_t;

//  A map with the defaults: namespace SHIM_MAP_NAMESPACE_DEFAULT, type
//  names OrderCreatedEvent, OrderCancelledEvent, StockReservedEvent,
//  StockRejectedEvent, StockReleasedEvent, PaymentStartedEvent,
//  PaymentVoidedEvent, exchanges "Namespace:TypeName", CAP names equal to
//  our type names, currency SHIM_MAP_CURRENCY_DEFAULT. Caller owns return
//  value.
shim_map_t *shim_map_new(void);

//  Destroy a map; accepts NULL and nulls the pointer.
void shim_map_destroy(shim_map_t **self_p);

//  Set the namespace of every type not given one of its own
//  (shim_map_set_message_type with "Ns:Name"): dotted .NET identifiers,
//  e.g. "Sales.Contracts". Returns 0, or -1 (map unchanged) if the name is
//  not valid or the change would make two types share a URN or exchange.
int shim_map_set_namespace(shim_map_t *self, const char *name_space);

//  Set the .NET message type of our event type `type` ("OrderCreated"):
//  "Namespace:TypeName", or "TypeName" for the map's namespace. Resets the
//  exchange to the derived one. Returns 0, or -1 (map unchanged) for an
//  unknown `type`, an invalid name or an ambiguity.
int shim_map_set_message_type(shim_map_t *self, const char *type, const char *message_type);

//  Override the exchange of `type` (RabbitMQ's allowed characters,
//  [A-Za-z0-9_.:-], at most SHIM_NAME_MAX bytes), or go back to the
//  derived one with NULL. Returns 0, or -1 (map unchanged) as above.
int shim_map_set_exchange(shim_map_t *self, const char *type, const char *exchange);

//  Set the CAP message name (routing key) of `type`: [A-Za-z0-9_.-], at
//  most SHIM_NAME_MAX bytes. Returns 0, or -1 (map unchanged) as above.
int shim_map_set_cap_name(shim_map_t *self, const char *type, const char *name);

//  Set the currency of amounts in messages without one: an ISO 4217 code
//  svc_currency_digits knows. Returns 0, or -1 (map unchanged).
int shim_map_set_currency(shim_map_t *self, const char *code);

//  Apply a configuration text: entries separated by commas, each
//  "Type=[Namespace:]TypeName[@exchange]", spaces around entries ignored,
//  e.g. "OrderCreated=Sales:OrderPlaced@orders, PaymentVoided=RefundIssued".
//  All or nothing: returns 0, or -1 with the map unchanged if any entry is
//  invalid. An empty text changes nothing.
int shim_map_configure(shim_map_t *self, const char *spec);

//  The names of the type of `payload_case`, or NULL for a case that names
//  no event type. All borrowed from the map, valid until it changes.
//    message_type   "Contracts:OrderCreatedEvent"
//    type_name      "OrderCreatedEvent" (CAP's cap-msg-type)
//    urn            "urn:message:Contracts:OrderCreatedEvent"
//    exchange       "Contracts:OrderCreatedEvent" or the override
//    cap_name       "OrderCreated" or as set
const char *shim_map_message_type(const shim_map_t *self,
                                  Ev__V1__Envelope__PayloadCase payload_case);
const char *shim_map_type_name(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case);
const char *shim_map_urn(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case);
const char *shim_map_exchange(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case);
const char *shim_map_cap_name(const shim_map_t *self, Ev__V1__Envelope__PayloadCase payload_case);

//  The currency of amounts in messages without one ("EUR"). Borrowed.
const char *shim_map_currency(const shim_map_t *self);

//  Our type of a message type URN, compared as MassTransit does: the whole
//  string, ignoring ASCII case. EV__V1__ENVELOPE__PAYLOAD__NOT_SET if
//  none.
Ev__V1__Envelope__PayloadCase shim_map_find_urn(const shim_map_t *self, const char *urn);

//  Our type of an exchange name (exact, as RabbitMQ compares), or
//  EV__V1__ENVELOPE__PAYLOAD__NOT_SET.
Ev__V1__Envelope__PayloadCase shim_map_find_exchange(const shim_map_t *self, const char *exchange);

//  Our type of a CAP message name (exact), or
//  EV__V1__ENVELOPE__PAYLOAD__NOT_SET.
Ev__V1__Envelope__PayloadCase shim_map_find_cap_name(const shim_map_t *self, const char *name);

#endif
