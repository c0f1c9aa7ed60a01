/*  =========================================================================
    ordersctl_args - the command line of ordersctl, parsed strictly

    Two tables drive the parser: the options (name, whether it takes a
    value) and the commands (their words, positional arguments, which
    options they allow and which they require, usage text). Parsing runs
    over argv twice: the first pass finds the command words and --help, so
    that the second can check every option against the command, wherever
    it stands on the line.
    =========================================================================
*/
#include "ordersctl_classes.h"

//  Most positional arguments kept: two command words and two arguments.
#define S_POSITIONALS_MAX 4
//  Characters of a number (INT64_MAX has 19 digits).
#define S_DIGITS_MAX 19

typedef enum {
    OPT_HELP = 0,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_ORDER_URL,
    OPT_INVENTORY_URL,
    OPT_BILLING_URL,
    OPT_CUSTOMER,
    OPT_CURRENCY,
    OPT_ITEM,
    OPT_IDEMPOTENCY_KEY,
    OPT_TRACEPARENT,
    OPT_REASON,
    OPT_LIMIT,
    OPT_AFTER,
    OPT_SERVICE,
    OPT_CONSUMER,
    OPT_COUNT
} s_option_id_t;

#define S_BIT(option) (1u << (option))
#define S_GLOBAL                                                                                   \
    (S_BIT(OPT_HELP) | S_BIT(OPT_JSON) | S_BIT(OPT_TIMEOUT) | S_BIT(OPT_ORDER_URL) |               \
     S_BIT(OPT_INVENTORY_URL) | S_BIT(OPT_BILLING_URL))
#define S_PAGE (S_BIT(OPT_LIMIT) | S_BIT(OPT_AFTER))

typedef struct {
    const char *name; //  "--customer"
    bool has_value;   //  takes a value
} s_option_t;

static const s_option_t s_options[OPT_COUNT] = {
    [OPT_HELP] = {"--help", false},
    [OPT_JSON] = {"--json", false},
    [OPT_TIMEOUT] = {"--timeout-ms", true},
    [OPT_ORDER_URL] = {"--order-url", true},
    [OPT_INVENTORY_URL] = {"--inventory-url", true},
    [OPT_BILLING_URL] = {"--billing-url", true},
    [OPT_CUSTOMER] = {"--customer", true},
    [OPT_CURRENCY] = {"--currency", true},
    [OPT_ITEM] = {"--item", true},
    [OPT_IDEMPOTENCY_KEY] = {"--idempotency-key", true},
    [OPT_TRACEPARENT] = {"--traceparent", true},
    [OPT_REASON] = {"--reason", true},
    [OPT_LIMIT] = {"--limit", true},
    [OPT_AFTER] = {"--after", true},
    [OPT_SERVICE] = {"--service", true},
    [OPT_CONSUMER] = {"--consumer", true},
};

//  Where each service's URL comes from when no flag names it.
static const struct {
    const char *env;      //  its environment variable
    const char *fallback; //  its default
} s_urls[] = {
    [ORDERSCTL_SERVICE_ORDER] = {"ORDER_URL", ORDERSCTL_ORDER_URL_DEFAULT},
    [ORDERSCTL_SERVICE_INVENTORY] = {"INVENTORY_URL", ORDERSCTL_INVENTORY_URL_DEFAULT},
    [ORDERSCTL_SERVICE_BILLING] = {"BILLING_URL", ORDERSCTL_BILLING_URL_DEFAULT},
};

static const char *s_service_names[] = {
    [ORDERSCTL_SERVICE_ORDER] = "order",
    [ORDERSCTL_SERVICE_INVENTORY] = "inventory",
    [ORDERSCTL_SERVICE_BILLING] = "billing",
};

static const char s_usage_all[] =
    "Usage: ordersctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Talk to the order, inventory and billing services over their HTTP APIs\n"
    "(docs/http-api.md) and show the answers as tables.\n"
    "\n"
    "Commands:\n"
    "  create --customer C --currency CUR --item SKU:QTY:PRICE [--item ...]\n"
    "         [--idempotency-key K] [--traceparent TP]     place an order\n"
    "  cancel ORDER_ID [--reason TEXT]                    cancel an order\n"
    "  get ORDER_ID                                       an order, its items and history\n"
    "  list --customer C [--limit N] [--after ORDER_ID]   a customer's orders, newest first\n"
    "  stock set SKU AVAILABLE                            set the units free to reserve\n"
    "  stock get [SKU] [--limit N] [--after SKU]          one SKU, or all in SKU order\n"
    "  payment get ORDER_ID                               the payment of an order\n"
    "  dead-letters list --service S [--consumer C] [--limit N] [--after ID]\n"
    "  dead-letters retry --service S ID\n"
    "  dead-letters discard --service S ID\n"
    "\n"
    "Options of every command:\n"
    "  --json               print the service's JSON answer (pretty) instead of tables\n"
    "  --timeout-ms N       give up on a request after N ms (default 5000)\n"
    "  --order-url URL      order-service (env ORDER_URL, default http://127.0.0.1:8080)\n"
    "  --inventory-url URL  inventory-service (env INVENTORY_URL, default :8081)\n"
    "  --billing-url URL    billing-service (env BILLING_URL, default :8082)\n"
    "  -h, --help           this text; `ordersctl COMMAND --help` for one command\n"
    "\n"
    "Exit status: 0 done, 1 the service answered an error (its code, field and\n"
    "message on stderr), 2 usage error, 3 the service did not answer.\n";

static const char s_usage_create[] =
    "Usage: ordersctl create --customer C --currency CUR --item SKU:QTY:PRICE [--item ...]\n"
    "                        [--idempotency-key K] [--traceparent TP]\n"
    "\n"
    "Place an order (POST /orders on order-service) and show it, status PENDING.\n"
    "\n"
    "  --customer C           customer id (1-64 characters)\n"
    "  --currency CUR         ISO 4217 code of every price (EUR, JPY, ...)\n"
    "  --item SKU:QTY:PRICE   one line: SKU, whole quantity, unit price as a decimal\n"
    "                         (SKU-1:2:19.99); repeat for more lines (at most 100)\n"
    "  --idempotency-key K    send again with the same K and the same items to get\n"
    "                         the order created the first time, not a second one\n"
    "  --traceparent TP       W3C trace context (00-<32 hex>-<16 hex>-01): the\n"
    "                         trace id then appears in every service's log lines\n";

static const char s_usage_cancel[] =
    "Usage: ordersctl cancel ORDER_ID [--reason TEXT]\n"
    "\n"
    "Cancel an order (POST /orders/ORDER_ID/cancel on order-service) and show it.\n"
    "Inventory then releases its stock and billing voids its payment.\n"
    "\n"
    "  --reason TEXT   why (1-200 characters; default \"cancelled by request\")\n";

static const char s_usage_get[] =
    "Usage: ordersctl get ORDER_ID\n"
    "\n"
    "Show an order as order-service knows it (GET /orders/ORDER_ID): its status,\n"
    "its items and the history of events about it.\n";

static const char s_usage_list[] =
    "Usage: ordersctl list --customer C [--limit N] [--after ORDER_ID]\n"
    "\n"
    "List a customer's orders, newest first (GET /orders on order-service).\n"
    "\n"
    "  --customer C        whose orders\n"
    "  --limit N           orders per page (1-100, default 20)\n"
    "  --after ORDER_ID    the page after this order (printed as the next page)\n";

static const char s_usage_stock[] =
    "Usage: ordersctl stock set SKU AVAILABLE\n"
    "       ordersctl stock get [SKU] [--limit N] [--after SKU]\n"
    "\n"
    "set: set the units of SKU free to reserve (PUT /stock/SKU on\n"
    "     inventory-service); units already reserved are not touched.\n"
    "get: show one SKU, or without SKU all of them in SKU order (GET /stock).\n"
    "\n"
    "  --limit N      SKUs per page (1-1000, default 100)\n"
    "  --after SKU    the page after this SKU (printed as the next page)\n";

static const char s_usage_payment[] =
    "Usage: ordersctl payment get ORDER_ID\n"
    "\n"
    "Show the payment billing-service started (or voided) for an order\n"
    "(GET /payments/ORDER_ID).\n";

static const char s_usage_dead_letters[] =
    "Usage: ordersctl dead-letters list --service S [--consumer C] [--limit N] [--after ID]\n"
    "       ordersctl dead-letters retry --service S ID\n"
    "       ordersctl dead-letters discard --service S ID\n"
    "\n"
    "Events a service's handler kept failing on are parked as dead letters.\n"
    "list: show them, oldest first (GET /dead-letters).\n"
    "retry: have the consumer apply dead letter ID again (POST\n"
    "       /dead-letters/ID/retry); it is removed once that succeeds.\n"
    "discard: remove dead letter ID for good (DELETE /dead-letters/ID).\n"
    "\n"
    "  --service S    order, inventory or billing: whose dead letters\n"
    "  --consumer C   only those of consumer group C\n"
    "  --limit N      dead letters per page (default 100)\n"
    "  --after ID     the page after this id (printed as the next page)\n";

//  A command: its words, its positional arguments, its options.
typedef struct {
    ordersctl_command_t command; //  what it is
    const char *group;           //  first word of a two-word command, or NULL
    const char *name;            //  the command as typed: "stock set"
    const char *arguments[2];    //  names of its positional arguments
    size_t required;             //  how many of them are required
    unsigned options;            //  options it allows (S_BIT of s_option_id_t)
    unsigned mandatory;          //  options it requires
    const char *usage;           //  its usage text
} s_command_t;

static const s_command_t s_commands[] = {
    {ORDERSCTL_CREATE,
     NULL,
     "create",
     {NULL, NULL},
     0,
     S_GLOBAL | S_BIT(OPT_CUSTOMER) | S_BIT(OPT_CURRENCY) | S_BIT(OPT_ITEM) |
         S_BIT(OPT_IDEMPOTENCY_KEY) | S_BIT(OPT_TRACEPARENT),
     S_BIT(OPT_CUSTOMER) | S_BIT(OPT_CURRENCY) | S_BIT(OPT_ITEM),
     s_usage_create},
    {ORDERSCTL_CANCEL,
     NULL,
     "cancel",
     {"ORDER_ID", NULL},
     1,
     S_GLOBAL | S_BIT(OPT_REASON),
     0,
     s_usage_cancel},
    {ORDERSCTL_GET, NULL, "get", {"ORDER_ID", NULL}, 1, S_GLOBAL, 0, s_usage_get},
    {ORDERSCTL_LIST,
     NULL,
     "list",
     {NULL, NULL},
     0,
     S_GLOBAL | S_BIT(OPT_CUSTOMER) | S_PAGE,
     S_BIT(OPT_CUSTOMER),
     s_usage_list},
    {ORDERSCTL_STOCK_SET,
     "stock",
     "stock set",
     {"SKU", "AVAILABLE"},
     2,
     S_GLOBAL,
     0,
     s_usage_stock},
    {ORDERSCTL_STOCK_GET,
     "stock",
     "stock get",
     {"SKU", NULL},
     0,
     S_GLOBAL | S_PAGE,
     0,
     s_usage_stock},
    {ORDERSCTL_PAYMENT_GET,
     "payment",
     "payment get",
     {"ORDER_ID", NULL},
     1,
     S_GLOBAL,
     0,
     s_usage_payment},
    {ORDERSCTL_DEAD_LETTERS_LIST,
     "dead-letters",
     "dead-letters list",
     {NULL, NULL},
     0,
     S_GLOBAL | S_BIT(OPT_SERVICE) | S_BIT(OPT_CONSUMER) | S_PAGE,
     S_BIT(OPT_SERVICE),
     s_usage_dead_letters},
    {ORDERSCTL_DEAD_LETTERS_RETRY,
     "dead-letters",
     "dead-letters retry",
     {"ID", NULL},
     1,
     S_GLOBAL | S_BIT(OPT_SERVICE),
     S_BIT(OPT_SERVICE),
     s_usage_dead_letters},
    {ORDERSCTL_DEAD_LETTERS_DISCARD,
     "dead-letters",
     "dead-letters discard",
     {"ID", NULL},
     1,
     S_GLOBAL | S_BIT(OPT_SERVICE),
     S_BIT(OPT_SERVICE),
     s_usage_dead_letters},
};

#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

//  What one step of the scan over argv found.
typedef enum { S_SCAN_END = 0, S_SCAN_OPTION, S_SCAN_POSITIONAL, S_SCAN_ERROR } s_scan_t;

//  The scan's position in argv.
typedef struct {
    int argc;          //  argument count
    char **argv;       //  arguments (borrowed)
    int index;         //  next argument to read
    bool options_done; //  `--` was seen
} s_cursor_t;

//  ---------------------------------------------------------------------
//  Write a usage error into args->error; returns -1 for the caller.

static int
s_fail(ordersctl_args_t *args, const char *format, ...)
{
    va_list list;
    va_start(list, format);
    (void) vsnprintf(args->error, sizeof args->error, format, list);
    va_end(list);
    return -1;
}

//  ---------------------------------------------------------------------
//  Parse a whole number in [min, max]: decimal digits only, no sign, no
//  spaces. Returns 0 and sets *out, or -1.

static int
s_parse_number(const char *text, int64_t min, int64_t max, int64_t *out)
{
    size_t length = strlen(text);
    if (length == 0 || length > S_DIGITS_MAX || strspn(text, "0123456789") != length) {
        return -1;
    }
    int64_t value = 0;
    for (size_t index = 0; index < length; index++) {
        int digit = text[index] - '0';
        if (value > (INT64_MAX - digit) / 10) {
            return -1;
        }
        value = value * 10 + digit;
    }
    if (value < min || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

//  ---------------------------------------------------------------------
//  Whether `text` is 1..max_length printable ASCII characters (what may go
//  into an HTTP header value without breaking the request).

static bool
s_is_header_value(const char *text, size_t max_length)
{
    size_t length = strlen(text);
    if (length == 0 || length > max_length) {
        return false;
    }
    for (size_t index = 0; index < length; index++) {
        if (text[index] < 0x20 || text[index] > 0x7e) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Whether `text` is an http:// or https:// URL with no spaces or control
//  characters in it.

static bool
s_is_url(const char *text)
{
    const char *rest = NULL;
    if (strncmp(text, "http://", 7) == 0) {
        rest = text + 7;
    } else if (strncmp(text, "https://", 8) == 0) {
        rest = text + 8;
    } else {
        return false;
    }
    if (*rest == '\0' || *rest == '/') {
        return false;
    }
    for (const char *c = text; *c; c++) {
        if ((unsigned char) *c <= 0x20 || *c == 0x7f) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Whether `text` is a decimal: digits, optionally a point and digits.

static bool
s_is_decimal(const char *text)
{
    size_t whole = strspn(text, "0123456789");
    if (whole == 0) {
        return false;
    }
    if (text[whole] == '\0') {
        return true;
    }
    if (text[whole] != '.') {
        return false;
    }
    const char *fraction = text + whole + 1;
    size_t digits = strspn(fraction, "0123456789");
    return digits > 0 && fraction[digits] == '\0';
}

//  ---------------------------------------------------------------------
//  Parse one item spec "SKU:QTY:PRICE".

int
ordersctl_item_parse(const char *spec, ordersctl_item_t *item, char *error, size_t error_size)
{
    assert(spec);
    assert(item);
    assert(error);
    assert(error_size > 0);
    const char *first = strchr(spec, ':');
    const char *last = strrchr(spec, ':');
    if (!first || first == last || strchr(first + 1, ':') != last) {
        (void) snprintf(error, error_size, "--item '%s' is not SKU:QTY:PRICE (like SKU-1:2:19.99)",
                        spec);
        return -1;
    }
    size_t sku_length = (size_t) (first - spec);
    if (sku_length == 0 || sku_length > ORDERSCTL_SKU_MAX) {
        (void) snprintf(error, error_size, "--item '%s': SKU must be 1 to %d characters", spec,
                        ORDERSCTL_SKU_MAX);
        return -1;
    }
    memcpy(item->sku, spec, sku_length);
    item->sku[sku_length] = '\0';

    char quantity[S_DIGITS_MAX + 2];
    size_t quantity_length = (size_t) (last - first - 1);
    if (quantity_length >= sizeof quantity) {
        quantity_length = sizeof quantity - 1; //  too many digits: refused below
    }
    memcpy(quantity, first + 1, quantity_length);
    quantity[quantity_length] = '\0';
    if (s_parse_number(quantity, 1, ORDERSCTL_NUMBER_MAX, &item->quantity) != 0) {
        (void) snprintf(error, error_size, "--item '%s': QTY must be a whole number from 1 to %d",
                        spec, ORDERSCTL_NUMBER_MAX);
        return -1;
    }
    const char *price = last + 1;
    if (strlen(price) > ORDERSCTL_PRICE_MAX || !s_is_decimal(price)) {
        (void) snprintf(error, error_size,
                        "--item '%s': PRICE must be a decimal like 19.99 (at most %d characters)",
                        spec, ORDERSCTL_PRICE_MAX);
        return -1;
    }
    memcpy(item->unit_price, price, strlen(price) + 1);
    return 0;
}

//  ---------------------------------------------------------------------
//  Read the next argument. For an option, sets *option and *value (NULL
//  when it takes none); for a positional argument, *value.

static s_scan_t
s_scan(s_cursor_t *cursor, ordersctl_args_t *args, s_option_id_t *option, const char **value)
{
    if (cursor->index >= cursor->argc) {
        return S_SCAN_END;
    }
    const char *arg = cursor->argv[cursor->index++];
    if (!cursor->options_done && streq(arg, "--")) {
        cursor->options_done = true;
        return s_scan(cursor, args, option, value);
    }
    //  "-" and negative numbers are arguments (a number check then says why).
    if (cursor->options_done || arg[0] != '-' || arg[1] == '\0' ||
        isdigit((unsigned char) arg[1])) {
        *value = arg;
        return S_SCAN_POSITIONAL;
    }
    if (streq(arg, "-h")) {
        arg = "--help";
    }
    const char *equals = strchr(arg, '=');
    size_t name_length = equals ? (size_t) (equals - arg) : strlen(arg);
    for (int index = 0; index < OPT_COUNT; index++) {
        const s_option_t *known = &s_options[index];
        if (strlen(known->name) != name_length || strncmp(known->name, arg, name_length) != 0) {
            continue;
        }
        *option = (s_option_id_t) index;
        *value = NULL;
        if (!known->has_value) {
            if (equals) {
                s_fail(args, "%s takes no value", known->name);
                return S_SCAN_ERROR;
            }
        } else if (equals) {
            *value = equals + 1;
        } else if (cursor->index < cursor->argc &&
                   strncmp(cursor->argv[cursor->index], "--", 2) != 0) {
            *value = cursor->argv[cursor->index++];
        } else {
            s_fail(args, "%s needs a value", known->name);
            return S_SCAN_ERROR;
        }
        if (*value && **value == '\0') {
            s_fail(args, "%s needs a value", known->name);
            return S_SCAN_ERROR;
        }
        return S_SCAN_OPTION;
    }
    s_fail(args, "unknown option '%.*s'", (int) name_length, arg);
    return S_SCAN_ERROR;
}

//  ---------------------------------------------------------------------
//  The command named by the command words, or NULL after setting
//  args->error. With --help, a group word alone (`stock`) is enough: then
//  *usage is the group's usage and NULL is returned without an error.

static const s_command_t *
s_find_command(ordersctl_args_t *args,
               const char *const *words,
               size_t count,
               size_t *used,
               const char **usage)
{
    *usage = NULL;
    if (count == 0) {
        s_fail(args, "no command given");
        return NULL;
    }
    bool is_group = false;
    for (size_t index = 0; index < S_COMMAND_COUNT; index++) {
        const s_command_t *command = &s_commands[index];
        if (!command->group) {
            if (streq(command->name, words[0])) {
                *used = 1;
                return command;
            }
            continue;
        }
        if (!streq(command->group, words[0])) {
            continue;
        }
        is_group = true;
        *usage = command->usage;
        if (count > 1 && streq(command->name + strlen(command->group) + 1, words[1])) {
            *used = 2;
            return command;
        }
    }
    if (!is_group) {
        s_fail(args, "unknown command '%s'", words[0]);
    } else if (count == 1) {
        s_fail(args, "'%s' needs a subcommand", words[0]);
    } else {
        s_fail(args, "unknown command '%s %s'", words[0], words[1]);
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Apply one option to *args, checking that the command allows it.

static int
s_apply_option(ordersctl_args_t *args,
               const s_command_t *command,
               s_option_id_t option,
               const char *value,
               unsigned *seen)
{
    const char *name = s_options[option].name;
    if (!(command->options & S_BIT(option))) {
        return s_fail(args, "%s is not an option of 'ordersctl %s'", name, command->name);
    }
    if (option != OPT_ITEM && (*seen & S_BIT(option))) {
        return s_fail(args, "%s given more than once", name);
    }
    *seen |= S_BIT(option);
    switch (option) {
        case OPT_HELP:
            break;
        case OPT_JSON:
            args->json = true;
            break;
        case OPT_TIMEOUT:
            if (s_parse_number(value, 1, ORDERSCTL_TIMEOUT_MS_MAX, &args->timeout_ms) != 0) {
                return s_fail(args, "--timeout-ms '%s' is not a whole number from 1 to %d", value,
                              ORDERSCTL_TIMEOUT_MS_MAX);
            }
            break;
        case OPT_ORDER_URL:
        case OPT_INVENTORY_URL:
        case OPT_BILLING_URL:
            if (!s_is_url(value)) {
                return s_fail(args, "%s '%s' is not an http:// or https:// URL", name, value);
            }
            //  OPT_*_URL follow each other in the order of ordersctl_service_t.
            args->urls[option - OPT_ORDER_URL] = value;
            break;
        case OPT_CUSTOMER:
            args->customer = value;
            break;
        case OPT_CURRENCY:
            args->currency = value;
            break;
        case OPT_ITEM:
            if (args->item_count == ORDERSCTL_ITEMS_MAX) {
                return s_fail(args, "--item given more than %d times", ORDERSCTL_ITEMS_MAX);
            }
            if (ordersctl_item_parse(value, &args->items[args->item_count], args->error,
                                     sizeof args->error) != 0) {
                return -1;
            }
            args->item_count++;
            break;
        case OPT_IDEMPOTENCY_KEY:
        case OPT_TRACEPARENT:
            if (!s_is_header_value(value, ORDERSCTL_HEADER_VALUE_MAX)) {
                return s_fail(args, "%s must be 1 to %d printable ASCII characters", name,
                              ORDERSCTL_HEADER_VALUE_MAX);
            }
            if (option == OPT_TRACEPARENT) {
                args->traceparent = value;
            } else {
                args->idempotency_key = value;
            }
            break;
        case OPT_REASON:
            args->reason = value;
            break;
        case OPT_LIMIT:
            if (s_parse_number(value, 1, ORDERSCTL_NUMBER_MAX, &args->limit) != 0) {
                return s_fail(args, "--limit '%s' is not a whole number from 1 to %d", value,
                              ORDERSCTL_NUMBER_MAX);
            }
            break;
        case OPT_AFTER:
            args->after = value;
            break;
        case OPT_SERVICE: {
            size_t index = 0;
            while (index < 3 && !streq(s_service_names[index], value)) {
                index++;
            }
            if (index == 3) {
                return s_fail(args, "--service '%s' is not order, inventory or billing", value);
            }
            args->service = (ordersctl_service_t) index;
            break;
        }
        case OPT_CONSUMER:
            args->consumer = value;
            break;
        case OPT_COUNT:
            assert(false);
            break;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Check and store the positional arguments that follow the command words.

static int
s_apply_arguments(ordersctl_args_t *args,
                  const s_command_t *command,
                  const char *const *values,
                  size_t count)
{
    size_t allowed = command->arguments[1] ? 2 : command->arguments[0] ? 1 : 0;
    if (count < command->required) {
        return s_fail(args, "%s is missing", command->arguments[count]);
    }
    if (count > allowed) {
        return s_fail(args, "unexpected argument '%s'", values[allowed]);
    }
    for (size_t index = 0; index < count; index++) {
        if (!*values[index]) {
            return s_fail(args, "%s is empty", command->arguments[index]);
        }
    }
    if (count == 0) {
        return 0;
    }
    args->id = values[0];
    if (command->command == ORDERSCTL_DEAD_LETTERS_RETRY ||
        command->command == ORDERSCTL_DEAD_LETTERS_DISCARD) {
        int64_t id;
        if (s_parse_number(values[0], 1, INT64_MAX, &id) != 0) {
            return s_fail(args, "ID '%s' is not a dead-letter id (a whole number from 1)",
                          values[0]);
        }
    }
    if (command->command == ORDERSCTL_STOCK_SET &&
        s_parse_number(values[1], 0, ORDERSCTL_NUMBER_MAX, &args->available) != 0) {
        return s_fail(args, "AVAILABLE '%s' is not a whole number from 0 to %d", values[1],
                      ORDERSCTL_NUMBER_MAX);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  What the options alone cannot check: required options and combinations.

static int
s_check_command(ordersctl_args_t *args, const s_command_t *command, unsigned seen)
{
    unsigned missing = command->mandatory & ~seen;
    for (int option = 0; option < OPT_COUNT; option++) {
        if (missing & S_BIT(option)) {
            return s_fail(args, "%s is required by 'ordersctl %s'", s_options[option].name,
                          command->name);
        }
    }
    if (command->command == ORDERSCTL_STOCK_GET && args->id && (seen & S_PAGE)) {
        return s_fail(args, "%s lists all SKUs: give it without SKU",
                      (seen & S_BIT(OPT_LIMIT)) ? "--limit" : "--after");
    }
    if (command->command == ORDERSCTL_DEAD_LETTERS_LIST && args->after) {
        int64_t after;
        if (s_parse_number(args->after, 0, INT64_MAX, &after) != 0) {
            return s_fail(args, "--after '%s' is not a dead-letter id (a whole number)",
                          args->after);
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Fill in the service URLs that no flag gave: environment, then default.

static int
s_resolve_urls(ordersctl_args_t *args, ordersctl_getenv_fn *env)
{
    for (size_t index = 0; index < 3; index++) {
        if (args->urls[index]) {
            continue;
        }
        const char *value = env(s_urls[index].env);
        if (value && *value) {
            if (!s_is_url(value)) {
                return s_fail(args, "%s '%s' is not an http:// or https:// URL", s_urls[index].env,
                              value);
            }
            args->urls[index] = value;
        } else {
            args->urls[index] = s_urls[index].fallback;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Parse the command line.

int
ordersctl_args_parse(ordersctl_args_t *args, int argc, char **argv, ordersctl_getenv_fn *env)
{
    assert(args);
    assert(argc >= 1);
    assert(argv);
    assert(env);
    memset(args, 0, sizeof *args);
    args->timeout_ms = ORDERSCTL_TIMEOUT_MS_DEFAULT;
    args->usage = s_usage_all;
    args->name = "";

    //  First pass: the positional arguments (command words first) and --help.
    const char *positionals[S_POSITIONALS_MAX + 1];
    size_t count = 0;
    s_cursor_t cursor = {argc, argv, 1, false};
    s_option_id_t option = OPT_HELP;
    const char *value = NULL;
    s_scan_t scan;
    char scan_error[ORDERSCTL_ERROR_SIZE] = "";
    while ((scan = s_scan(&cursor, args, &option, &value)) != S_SCAN_END) {
        //  Keep the first error, and scan on to name the command in it.
        if (scan == S_SCAN_ERROR && !*scan_error) {
            memcpy(scan_error, args->error, sizeof scan_error);
        }
        if (scan == S_SCAN_OPTION && option == OPT_HELP) {
            args->help = true;
        } else if (scan == S_SCAN_POSITIONAL && count <= S_POSITIONALS_MAX) {
            positionals[count++] = value;
        }
    }
    if (count == 0 && args->help && !*scan_error) {
        return 0;
    }
    size_t used = 0;
    const char *group_usage = NULL;
    const s_command_t *command = s_find_command(args, positionals, count, &used, &group_usage);
    if (*scan_error) {
        memcpy(args->error, scan_error, sizeof args->error);
        args->name = command ? command->name : "";
        return -1;
    }
    if (!command) {
        if (args->help && group_usage) {
            args->error[0] = '\0';
            args->usage = group_usage;
            return 0;
        }
        return -1;
    }
    args->command = command->command;
    args->usage = command->usage;
    args->name = command->name;
    if (args->help) {
        return 0;
    }
    //  Second pass: every option, checked against the command.
    unsigned seen = 0;
    cursor = (s_cursor_t){argc, argv, 1, false};
    while ((scan = s_scan(&cursor, args, &option, &value)) != S_SCAN_END) {
        if (scan == S_SCAN_OPTION && s_apply_option(args, command, option, value, &seen) != 0) {
            return -1;
        }
    }
    if (s_apply_arguments(args, command, positionals + used, count - used) != 0) {
        return -1;
    }
    if (s_check_command(args, command, seen) != 0) {
        return -1;
    }
    return s_resolve_urls(args, env);
}

//  ---------------------------------------------------------------------
//  The usage text of all commands.

const char *
ordersctl_usage(void)
{
    return s_usage_all;
}

//  ---------------------------------------------------------------------
//  The name of a service: "order-service".

const char *
ordersctl_service_name(ordersctl_service_t service)
{
    static const char *const names[] = {
        [ORDERSCTL_SERVICE_ORDER] = "order-service",
        [ORDERSCTL_SERVICE_INVENTORY] = "inventory-service",
        [ORDERSCTL_SERVICE_BILLING] = "billing-service",
    };
    assert(service <= ORDERSCTL_SERVICE_BILLING);
    return names[service];
}
