/*  =========================================================================
    order_api - the order API's JSON: validated commands in, orders out

    Pure functions (no I/O) between the JSON of docs/http-api.md and the
    service's plain structs. Parsing checks every rule of the contract and,
    on the first broken one, fills an order_api_error_t that names the
    field by its JSON path ("items[2].unitPrice"), ready for
    svc_http_respond_error. Rendering turns an order_view_t (what the store
    read, or what a create just committed) into the API's order object.

        order_create_t command;
        order_api_error_t error;
        if (order_api_parse_create(body, &command, &error) != 0) {
            svc_http_respond_error(request, error.status, error.code,
                                   *error.field ? error.field : NULL, error.message);
            return;
        }
        char *fingerprint = order_api_fingerprint(&command);  //  for Idempotency-Key
    =========================================================================
*/
#ifndef ORDER_API_H_INCLUDED
#define ORDER_API_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "order_logic.h"
#include "svc_uuid.h"

//  Limits of docs/http-api.md. Lengths in characters (code points) unless
//  they say bytes.
#define ORDER_ITEMS_MAX 100
#define ORDER_QUANTITY_MAX 1000
#define ORDER_CUSTOMER_ID_MAX 64
#define ORDER_SKU_MAX 64
#define ORDER_REASON_MAX 200
#define ORDER_IDEMPOTENCY_KEY_MAX 255
//  Largest unit price, in major units.
#define ORDER_UNIT_PRICE_MAX_MAJOR 1000000000
//  GET /orders?limit=
#define ORDER_LIST_LIMIT_DEFAULT 20
#define ORDER_LIST_LIMIT_MAX 100
//  Most history entries GET /orders/{id} shows (the oldest ones).
#define ORDER_HISTORY_MAX 1000

//  Reason of a cancel request without one.
#define ORDER_CANCEL_REASON_DEFAULT "cancelled by request"

//  Buffer sizes, NUL included: UTF-8 takes at most 4 bytes a character.
#define ORDER_CUSTOMER_ID_SIZE (ORDER_CUSTOMER_ID_MAX * 4 + 1)
#define ORDER_SKU_SIZE (ORDER_SKU_MAX + 1)
#define ORDER_REASON_SIZE (ORDER_REASON_MAX * 4 + 1)
#define ORDER_CURRENCY_SIZE 4
//  An error's field path and message.
#define ORDER_API_FIELD_SIZE 128
#define ORDER_API_MESSAGE_SIZE 256
//  A time as the API writes it: "2026-11-28T04:10:00.123456Z".
#define ORDER_TIME_TEXT_SIZE 32

//  One order line.
typedef struct {
    char sku[ORDER_SKU_SIZE]; //  1-64 of [A-Za-z0-9._-]
    uint32_t quantity;        //  1-ORDER_QUANTITY_MAX
    int64_t unit_price_minor; //  minor units of the order's currency, >= 0
} order_item_t;

//  A validated POST /orders. Plain data: nothing to free.
typedef struct {
    char customer_id[ORDER_CUSTOMER_ID_SIZE]; //  1-64 characters, no control characters
    char currency[ORDER_CURRENCY_SIZE];       //  ISO 4217 code
    int digits;                               //  the currency's minor digits
    size_t item_count;                        //  1-ORDER_ITEMS_MAX
    order_item_t items[ORDER_ITEMS_MAX];      //  in request order
    int64_t total_minor;                      //  sum of quantity * unit price
} order_create_t;

//  Why a request was refused, as docs/http-api.md's error body wants it.
typedef struct {
    unsigned status;                      //  HTTP status (400)
    const char *code;                     //  "invalid_value", ... (static)
    char field[ORDER_API_FIELD_SIZE];     //  JSON path, or "" for none (null)
    char message[ORDER_API_MESSAGE_SIZE]; //  a sentence for people
} order_api_error_t;

//  One history entry of an order.
typedef struct {
    char *event;   //  "StockReserved" (owned)
    char *stream;  //  "inventory-0" (owned)
    uint64_t seq;  //  the event's seq in its stream, 0 if not known
    int64_t at_us; //  the event's own time, Unix microseconds
    char *reason;  //  OrderCancelled's reason (owned), or NULL
} order_history_entry_t;

//  An order as the API shows it. Fill with the store or with
//  order_view_set_created; order_view_clear frees what it owns.
typedef struct {
    svc_uuid_t order_id;                      //  UUID v7
    char customer_id[ORDER_CUSTOMER_ID_SIZE]; //  as created
    char currency[ORDER_CURRENCY_SIZE];       //  ISO 4217
    int64_t total_minor;                      //  minor units
    order_state_t state;                      //  read-model state
    char *cancel_reason;                      //  owned, or NULL
    char trace_id[33];                        //  32 hex, "" if none
    int64_t created_at_us;                    //  Unix microseconds
    int64_t updated_at_us;                    //  Unix microseconds
    order_item_t *items;                      //  owned array
    size_t item_count;                        //  entries in items
    order_history_entry_t *history;           //  owned array, in recorded order
    size_t history_count;                     //  entries in history
} order_view_t;

//  Validate a POST /orders body (a JSON object). Returns 0 and fills
//  *command_out, or -1 and fills *error_out (the first broken rule, in the
//  order: unknown fields, customerId, currency, items). *command_out is
//  unspecified after -1.
int order_api_parse_create(const json_t *body,
                           order_create_t *command_out,
                           order_api_error_t *error_out);

//  Validate a cancel body, which is optional: `body` NULL (no body), {}
//  or {"reason": null} give ORDER_CANCEL_REASON_DEFAULT. Returns 0 and
//  writes the reason (NUL-terminated) into `reason_out`, or -1 and fills
//  *error_out.
int order_api_parse_cancel(const json_t *body,
                           char reason_out[ORDER_REASON_SIZE],
                           order_api_error_t *error_out);

//  Check a customerId query argument (NULL = absent) as POST checks the
//  field: missing_field or invalid_value naming "customerId". Returns 0, or
//  -1 and fills *error_out.
int order_api_check_customer_id(const char *customer_id, order_api_error_t *error_out);

//  Check an Idempotency-Key header (NULL = absent, which is fine): 1-255
//  printable ASCII characters, else invalid_value naming the header.
//  Returns 0, or -1 and fills *error_out.
int order_api_check_idempotency_key(const char *key, order_api_error_t *error_out);

//  Parse an order id from a path (`field` "id") or a query (`field`
//  "after"). Returns 0 and sets *id_out, or -1 and fills *error_out with
//  invalid_uuid naming `field`.
int order_api_parse_id(const char *text,
                       const char *field,
                       svc_uuid_t *id_out,
                       order_api_error_t *error_out);

//  The canonical form of a command for idempotency: the same for every
//  body that validates to the same command, whatever its key order,
//  spacing or number spelling ("5" and "5.00" EUR), different for any
//  other. Caller owns return value (free).
char *order_api_fingerprint(const order_create_t *command);

//  Fill `view` with the order a create just committed: status PENDING,
//  one history entry (OrderCreated, `stream`, `seq`, created_at_us).
//  `view` must be empty (zeroed or cleared).
void order_view_set_created(order_view_t *view,
                            const svc_uuid_t *order_id,
                            const order_create_t *command,
                            const char *trace_id,
                            int64_t created_at_us,
                            const char *stream,
                            uint64_t seq);

//  Free what `view` owns and zero it.
void order_view_clear(order_view_t *view);

//  The API's order object; with `with_history` false (list pages) there is
//  no "history" member. Caller owns return value (json_decref).
json_t *order_api_render(const order_view_t *view, bool with_history);

//  Write Unix microseconds as the API's UTC time text. Returns `buffer`.
char *order_api_format_time(int64_t at_us, char buffer[ORDER_TIME_TEXT_SIZE]);

#endif
