/*  =========================================================================
    bench_http - a keep-alive HTTP client for the benchmarks (libcurl)

    Moved out of bench_e2e so that every benchmark posting orders posts
    the same ones the same way. The answer grows a buffer up to
    BENCH_HTTP_REPLY_MAX (a /metrics page is tens of kilobytes).
    =========================================================================
*/
#include "bench_support.h"
#include "bench_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  First size of the answer buffer.
#define S_REPLY_INITIAL 4096
//  Longest URL built here.
#define S_URL_MAX 512

struct bench_http {
    CURL *curl;              //  the handle, kept alive (owned)
    struct curl_slist *head; //  request headers (owned)
    char *reply;             //  answer body, NUL-terminated (owned)
    size_t reply_size;       //  bytes in reply
    size_t reply_room;       //  bytes allocated for reply
};

//  --------------------------------------------------------------------------
//  curl's write callback: append, growing up to BENCH_HTTP_REPLY_MAX.

static size_t
s_write(char *data, size_t size, size_t count, void *arg)
{
    bench_http_t *self = arg;
    size_t bytes = size * count;
    size_t wanted = self->reply_size + bytes + 1;
    if (wanted > self->reply_room && self->reply_room < BENCH_HTTP_REPLY_MAX) {
        size_t room = self->reply_room;
        while (room < wanted && room < BENCH_HTTP_REPLY_MAX) {
            room *= 2;
        }
        char *grown = realloc(self->reply, room);
        assert(grown);
        self->reply = grown;
        self->reply_room = room;
    }
    size_t free_bytes = self->reply_room - 1 - self->reply_size;
    size_t taken = bytes < free_bytes ? bytes : free_bytes;
    memcpy(self->reply + self->reply_size, data, taken);
    self->reply_size += taken;
    self->reply[self->reply_size] = '\0';
    return bytes;
}

//  --------------------------------------------------------------------------

bench_http_t *
bench_http_new(void)
{
    bench_http_t *self = zmalloc(sizeof *self);
    self->curl = curl_easy_init();
    assert(self->curl);
    self->head = curl_slist_append(NULL, "Content-Type: application/json");
    self->reply_room = S_REPLY_INITIAL;
    self->reply = zmalloc(self->reply_room);
    curl_easy_setopt(self->curl, CURLOPT_HTTPHEADER, self->head);
    curl_easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(self->curl, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->curl, CURLOPT_TIMEOUT_MS, (long) BENCH_HTTP_TIMEOUT_MS);
    curl_easy_setopt(self->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(self->curl, CURLOPT_TCP_NODELAY, 1L);
    return self;
}

void
bench_http_destroy(bench_http_t **self_p)
{
    assert(self_p);
    bench_http_t *self = *self_p;
    if (self) {
        freen(self->reply);
        curl_slist_free_all(self->head);
        curl_easy_cleanup(self->curl);
        freen(self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

long
bench_http_send(bench_http_t *self, const char *method, const char *url, const char *body)
{
    assert(self);
    assert(method);
    assert(url);
    self->reply_size = 0;
    self->reply[0] = '\0';
    curl_easy_setopt(self->curl, CURLOPT_URL, url);
    curl_easy_setopt(self->curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(self->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    } else {
        //  A GET after a POST on the same handle: no body, no POST.
        curl_easy_setopt(self->curl, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(self->curl) != CURLE_OK) {
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

const char *
bench_http_reply(const bench_http_t *self)
{
    assert(self);
    return self->reply;
}

//  --------------------------------------------------------------------------
//  An order of two lines: customer, SKUs and lines from `number`.

long
bench_http_post_order(bench_http_t *self, const char *order_url, uint64_t number, char *id)
{
    assert(self);
    assert(order_url);
    char url[S_URL_MAX], body[512];
    (void) snprintf(url, sizeof url, "%s/orders", order_url);
    int sku = (int) (number % BENCH_HTTP_SKUS) + 1;
    (void) snprintf(body, sizeof body,
                    "{\"customerId\":\"bench-%d\",\"currency\":\"EUR\",\"items\":["
                    "{\"sku\":\"SKU-%d\",\"quantity\":2,\"unitPrice\":\"19.99\"},"
                    "{\"sku\":\"SKU-%d\",\"quantity\":1,\"unitPrice\":\"5.00\"}]}",
                    (int) (number % 100), sku, sku % BENCH_HTTP_SKUS + 1);
    long status = bench_http_send(self, "POST", url, body);
    if (status == 201 && id) {
        json_t *reply = json_loads(self->reply, 0, NULL);
        const char *order_id = json_string_value(json_object_get(reply, "orderId"));
        (void) snprintf(id, BENCH_HTTP_ID_SIZE, "%s", order_id ? order_id : "");
        json_decref(reply);
    }
    return status;
}

//  --------------------------------------------------------------------------
//  Metrics: one scrape, then the sum of the series of one metric in it:
//  lines "<name> v" or "<name>{...} v" (those whose labels hold `label`,
//  if one is given).

int
bench_http_scrape(bench_http_t *self, const char *base_url)
{
    assert(self);
    assert(base_url);
    char url[S_URL_MAX];
    (void) snprintf(url, sizeof url, "%s/metrics", base_url);
    return bench_http_send(self, "GET", url, NULL) == 200 ? 0 : -1;
}

double
bench_http_value(const bench_http_t *self, const char *name, const char *label)
{
    assert(self);
    assert(name);
    size_t length = strlen(name);
    double sum = 0;
    bool found = false;
    for (const char *line = self->reply; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, name, length) == 0 && (line[length] == ' ' || line[length] == '{')) {
            const char *value = line[length] == ' ' ? line + length : strchr(line, '}');
            const char *end = strchr(line, '\n');
            const char *found_label = label ? strstr(line, label) : NULL;
            bool wanted =
                !label || (line[length] == '{' && found_label && value && found_label < value);
            if (value && (!end || value < end) && wanted) {
                sum += strtod(value + 1, NULL);
                found = true;
            }
        }
    }
    return found ? sum : -1;
}
