/*  =========================================================================
    ordersctl_request - the HTTP request a parsed command line stands for

    One function per kind of path builds the URL; bodies are built with
    jansson, so every string the user gave is escaped as JSON, and every
    path segment and query value is percent-encoded, so an id or SKU can
    never change which route is asked.
    =========================================================================
*/
#include "ordersctl_classes.h"

//  ---------------------------------------------------------------------
//  Percent-encode `text` (RFC 3986 unreserved characters pass).

char *
ordersctl_url_escape(const char *text)
{
    assert(text);
    static const char hex[] = "0123456789ABCDEF";
    size_t length = strlen(text);
    char *escaped = (char *) zmalloc(length * 3 + 1);
    char *out = escaped;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            *out++ = (char) *c;
        } else {
            *out++ = '%';
            *out++ = hex[*c >> 4];
            *out++ = hex[*c & 0x0f];
        }
    }
    *out = '\0';
    return escaped;
}

//  ---------------------------------------------------------------------
//  A new URL: the service's base (trailing slashes dropped), `path` and
//  `segment` percent-encoded after it, then `suffix`. Caller owns it.

static char *
s_url_new(const ordersctl_args_t *args,
          ordersctl_service_t service,
          const char *path,
          const char *segment,
          const char *suffix)
{
    const char *base = args->urls[service];
    assert(base);
    int base_length = (int) strlen(base);
    while (base_length > 0 && base[base_length - 1] == '/') {
        base_length--;
    }
    char *escaped = ordersctl_url_escape(segment ? segment : "");
    char *url = zsys_sprintf("%.*s%s%s%s", base_length, base, path, escaped, suffix);
    assert(url);
    zstr_free(&escaped);
    return url;
}

//  ---------------------------------------------------------------------
//  Append "?key=value" or "&key=value" to *url_p, unless value is NULL.

static void
s_url_add_query(char **url_p, const char *key, const char *value)
{
    if (!value) {
        return;
    }
    char *escaped = ordersctl_url_escape(value);
    char *url = zsys_sprintf("%s%c%s=%s", *url_p, strchr(*url_p, '?') ? '&' : '?', key, escaped);
    assert(url);
    zstr_free(&escaped);
    zstr_free(url_p);
    *url_p = url;
}

//  ---------------------------------------------------------------------
//  Append --limit to *url_p when it was given.

static void
s_url_add_limit(char **url_p, const ordersctl_args_t *args)
{
    if (args->limit > 0) {
        char limit[24];
        (void) snprintf(limit, sizeof limit, "%" PRId64, args->limit);
        s_url_add_query(url_p, "limit", limit);
    }
}

//  ---------------------------------------------------------------------
//  The body of POST /orders.

static json_t *
s_create_body(const ordersctl_args_t *args)
{
    json_t *items = json_array();
    for (size_t index = 0; index < args->item_count; index++) {
        const ordersctl_item_t *item = &args->items[index];
        json_array_append_new(items, json_pack("{s:s, s:I, s:s}", "sku", item->sku, "quantity",
                                               (json_int_t) item->quantity, "unitPrice",
                                               item->unit_price));
    }
    json_t *body = json_pack("{s:s, s:s, s:o}", "customerId", args->customer, "currency",
                             args->currency, "items", items);
    assert(body);
    return body;
}

//  ---------------------------------------------------------------------
//  Fill in method, URL and body of the order-service commands.

static void
s_build_order(ordersctl_request_t *self, const ordersctl_args_t *args, json_t **body_p)
{
    switch (args->command) {
        case ORDERSCTL_CREATE:
            self->method = "POST";
            self->url = s_url_new(args, self->service, "/orders", NULL, "");
            *body_p = s_create_body(args);
            break;
        case ORDERSCTL_CANCEL:
            self->method = "POST";
            self->url = s_url_new(args, self->service, "/orders/", args->id, "/cancel");
            if (args->reason) {
                *body_p = json_pack("{s:s}", "reason", args->reason);
            }
            break;
        case ORDERSCTL_GET:
            self->method = "GET";
            self->url = s_url_new(args, self->service, "/orders/", args->id, "");
            break;
        default:
            assert(args->command == ORDERSCTL_LIST);
            self->method = "GET";
            self->url = s_url_new(args, self->service, "/orders", NULL, "");
            s_url_add_query(&self->url, "customerId", args->customer);
            s_url_add_limit(&self->url, args);
            s_url_add_query(&self->url, "after", args->after);
            break;
    }
}

//  ---------------------------------------------------------------------
//  Fill in method, URL and body of the other commands.

static void
s_build_other(ordersctl_request_t *self, const ordersctl_args_t *args, json_t **body_p)
{
    switch (args->command) {
        case ORDERSCTL_STOCK_SET:
            self->method = "PUT";
            self->url = s_url_new(args, self->service, "/stock/", args->id, "");
            *body_p = json_pack("{s:I}", "available", (json_int_t) args->available);
            break;
        case ORDERSCTL_STOCK_GET:
            self->method = "GET";
            if (args->id) {
                self->url = s_url_new(args, self->service, "/stock/", args->id, "");
            } else {
                self->url = s_url_new(args, self->service, "/stock", NULL, "");
                s_url_add_limit(&self->url, args);
                s_url_add_query(&self->url, "after", args->after);
            }
            break;
        case ORDERSCTL_PAYMENT_GET:
            self->method = "GET";
            self->url = s_url_new(args, self->service, "/payments/", args->id, "");
            break;
        case ORDERSCTL_DEAD_LETTERS_LIST:
            self->method = "GET";
            self->url = s_url_new(args, self->service, "/dead-letters", NULL, "");
            s_url_add_query(&self->url, "consumer", args->consumer);
            s_url_add_query(&self->url, "after", args->after);
            s_url_add_limit(&self->url, args);
            break;
        case ORDERSCTL_DEAD_LETTERS_RETRY:
            self->method = "POST";
            self->url = s_url_new(args, self->service, "/dead-letters/", args->id, "/retry");
            break;
        default:
            assert(args->command == ORDERSCTL_DEAD_LETTERS_DISCARD);
            self->method = "DELETE";
            self->url = s_url_new(args, self->service, "/dead-letters/", args->id, "");
            break;
    }
}

//  ---------------------------------------------------------------------
//  The service a command talks to.

static ordersctl_service_t
s_service_of(const ordersctl_args_t *args)
{
    switch (args->command) {
        case ORDERSCTL_STOCK_SET:
        case ORDERSCTL_STOCK_GET:
            return ORDERSCTL_SERVICE_INVENTORY;
        case ORDERSCTL_PAYMENT_GET:
            return ORDERSCTL_SERVICE_BILLING;
        case ORDERSCTL_DEAD_LETTERS_LIST:
        case ORDERSCTL_DEAD_LETTERS_RETRY:
        case ORDERSCTL_DEAD_LETTERS_DISCARD:
            return args->service;
        default:
            return ORDERSCTL_SERVICE_ORDER;
    }
}

//  ---------------------------------------------------------------------
//  Build the request of a parsed command.

ordersctl_request_t *
ordersctl_request_new(const ordersctl_args_t *args)
{
    assert(args);
    assert(args->command != ORDERSCTL_NONE);
    ordersctl_request_t *self = (ordersctl_request_t *) zmalloc(sizeof *self);
    self->service = s_service_of(args);
    json_t *body = NULL;
    if (self->service == ORDERSCTL_SERVICE_ORDER && args->command <= ORDERSCTL_LIST) {
        s_build_order(self, args, &body);
    } else {
        s_build_other(self, args, &body);
    }
    size_t count = 0;
    self->headers[count++] = strdup("Accept: application/json");
    if (body) {
        self->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert(self->body);
        self->headers[count++] = strdup("Content-Type: application/json");
        json_decref(body);
    }
    if (args->command == ORDERSCTL_CREATE && args->idempotency_key) {
        self->headers[count++] = zsys_sprintf("Idempotency-Key: %s", args->idempotency_key);
    }
    if (args->command == ORDERSCTL_CREATE && args->traceparent) {
        self->headers[count++] = zsys_sprintf("traceparent: %s", args->traceparent);
    }
    for (size_t index = 0; index < count; index++) {
        assert(self->headers[index]);
    }
    return self;
}

//  ---------------------------------------------------------------------
//  Free a request.

void
ordersctl_request_destroy(ordersctl_request_t **self_p)
{
    assert(self_p);
    ordersctl_request_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t index = 0; self->headers[index]; index++) {
        freen(self->headers[index]);
    }
    freen(self->body);
    zstr_free(&self->url);
    freen(self);
    *self_p = NULL;
}
