/*  =========================================================================
    ordersctl_args - the command line of ordersctl, parsed strictly

    Turns argv (and ORDER_URL, INVENTORY_URL, BILLING_URL from the
    environment) into one ordersctl_args_t: which command, its positional
    arguments and its options, every number already checked. Anything the
    parser does not understand is a usage error whose message names the flag
    or argument at fault; nothing is guessed.

        ordersctl_args_t args;
        if (ordersctl_args_parse(&args, argc, argv, getenv) != 0) {
            fprintf(stderr, "ordersctl: %s\n", args.error);    //  exit 2
        } else if (args.help) {
            fputs(args.usage, stdout);                        //  exit 0
        } else {
            ... args.command, args.items[0].sku, args.limit ...
        }

    Options may come before or after the command words, as `--flag VALUE`
    or `--flag=VALUE`; `--` ends the options. A value given as a separate
    argument must not start with `--` (that is taken as a missing value;
    write `--reason=--x` to mean it). Each option may be given once, except
    --item. What the service itself checks (SKU characters, quantity and
    limit ranges, currency codes, UUIDs) is left to the service, whose
    answer names the field; the parser checks what the command line alone
    can tell: forms, numbers, sizes, and characters that cannot go into an
    HTTP header.

    All strings in ordersctl_args_t are borrowed from argv or the
    environment, except the item fields and `error`, which it holds.
    =========================================================================
*/
#ifndef ORDERSCTL_ARGS_H_INCLUDED
#define ORDERSCTL_ARGS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Exit status of ordersctl.
#define ORDERSCTL_EXIT_OK 0          //  done (also --help)
#define ORDERSCTL_EXIT_SERVICE 1     //  the service answered an error
#define ORDERSCTL_EXIT_USAGE 2       //  the command line is wrong
#define ORDERSCTL_EXIT_UNREACHABLE 3 //  no answer from the service

//  Default service URLs (docs/http-api.md) and request timeout.
#define ORDERSCTL_ORDER_URL_DEFAULT "http://127.0.0.1:8080"
#define ORDERSCTL_INVENTORY_URL_DEFAULT "http://127.0.0.1:8081"
#define ORDERSCTL_BILLING_URL_DEFAULT "http://127.0.0.1:8082"
#define ORDERSCTL_TIMEOUT_MS_DEFAULT 5000
#define ORDERSCTL_TIMEOUT_MS_MAX 3600000

//  Most --item options (the API's limit on items), and the longest SKU and
//  PRICE an item spec may carry (the API allows 64 SKU characters; a price
//  of at most 1,000,000,000 with a few fraction digits is far shorter).
#define ORDERSCTL_ITEMS_MAX 100
#define ORDERSCTL_SKU_MAX 64
#define ORDERSCTL_PRICE_MAX 24
//  Largest QTY, AVAILABLE and --limit the parser lets through; the services
//  enforce their own, smaller ranges and name the field when refusing.
#define ORDERSCTL_NUMBER_MAX 1000000000
//  Longest Idempotency-Key and traceparent passed on (the API's limit on
//  keys; a traceparent is 55 characters, longer ones are refused as well).
#define ORDERSCTL_HEADER_VALUE_MAX 255
//  Room for a usage error message, with the NUL.
#define ORDERSCTL_ERROR_SIZE 256

typedef enum {
    ORDERSCTL_NONE = 0, //  no command (only with help)
    ORDERSCTL_CREATE,
    ORDERSCTL_CANCEL,
    ORDERSCTL_GET,
    ORDERSCTL_LIST,
    ORDERSCTL_STOCK_SET,
    ORDERSCTL_STOCK_GET,
    ORDERSCTL_PAYMENT_GET,
    ORDERSCTL_DEAD_LETTERS_LIST,
    ORDERSCTL_DEAD_LETTERS_RETRY,
    ORDERSCTL_DEAD_LETTERS_DISCARD
} ordersctl_command_t;

//  Which service a request goes to.
typedef enum {
    ORDERSCTL_SERVICE_ORDER = 0,
    ORDERSCTL_SERVICE_INVENTORY,
    ORDERSCTL_SERVICE_BILLING
} ordersctl_service_t;

//  One --item SKU:QTY:PRICE.
typedef struct {
    char sku[ORDERSCTL_SKU_MAX + 1];          //  SKU, 1..ORDERSCTL_SKU_MAX characters
    int64_t quantity;                         //  QTY, 1..ORDERSCTL_NUMBER_MAX
    char unit_price[ORDERSCTL_PRICE_MAX + 1]; //  PRICE as given: digits[.digits]
} ordersctl_item_t;

typedef struct {
    ordersctl_command_t command; //  what to do
    bool help;                   //  --help: print `usage`, do nothing else
    const char *usage;           //  usage text of the command (or of all), static
    const char *name;            //  "stock set", "" before a command is known; static
    bool json;                   //  --json
    int64_t timeout_ms;          //  --timeout-ms
    const char *urls[3];         //  base URL per ordersctl_service_t (flag, env or default)
    ordersctl_service_t service; //  --service of the dead-letters commands
    const char *customer;        //  --customer, or NULL
    const char *currency;        //  --currency, or NULL
    const char *idempotency_key; //  --idempotency-key, or NULL
    const char *traceparent;     //  --traceparent, or NULL
    const char *reason;          //  --reason, or NULL
    const char *consumer;        //  --consumer, or NULL
    const char *after;           //  --after, or NULL
    int64_t limit;               //  --limit, or 0 when not given
    const char *id;              //  ORDER_ID, SKU (stock) or dead-letter ID, or NULL
    int64_t available;           //  AVAILABLE of stock set
    ordersctl_item_t items[ORDERSCTL_ITEMS_MAX]; //  --item, in the order given
    size_t item_count;                           //  items used
    char error[ORDERSCTL_ERROR_SIZE];            //  the usage error, after -1
} ordersctl_args_t;

//  Looks up an environment variable; getenv fits.
typedef char *(ordersctl_getenv_fn) (const char *name);

//  Parse argv[1..argc-1] into *args; URLs not given as flags come from
//  `env` (ORDER_URL, INVENTORY_URL, BILLING_URL), then the defaults.
//  Returns 0, or -1 with the reason (naming the flag or argument) in
//  args->error.
int ordersctl_args_parse(ordersctl_args_t *args, int argc, char **argv, ordersctl_getenv_fn *env);

//  Parse one item spec "SKU:QTY:PRICE" into *item. Returns 0, or -1 with
//  the reason in `error` (of `error_size` bytes); *item is then undefined.
int ordersctl_item_parse(const char *spec, ordersctl_item_t *item, char *error, size_t error_size);

//  The usage text of all commands. Static.
const char *ordersctl_usage(void);

//  The name of a service as the user knows it: "order-service". Static.
const char *ordersctl_service_name(ordersctl_service_t service);

#endif
