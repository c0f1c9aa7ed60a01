/*  =========================================================================
    ordersctl_http - send one ordersctl request with libcurl

    One easy handle per request: ordersctl makes one request per run. The
    body is collected into a zchunk up to ORDERSCTL_BODY_MAX; the only
    header read back is Idempotent-Replayed.
    =========================================================================
*/
#include "ordersctl_classes.h"
#include "ordersctl_http.h"

#include <curl/curl.h>

//  ---------------------------------------------------------------------
//  libcurl write callback: append to the body, refusing past the limit.

static size_t
s_collect(char *data, size_t size, size_t count, void *arg)
{
    zchunk_t *body = (zchunk_t *) arg;
    size_t bytes = size * count;
    if (zchunk_size(body) + bytes > ORDERSCTL_BODY_MAX) {
        return 0; //  makes curl fail the transfer with CURLE_WRITE_ERROR
    }
    zchunk_extend(body, data, bytes);
    return bytes;
}

//  ---------------------------------------------------------------------
//  Initialise libcurl.

int
ordersctl_http_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Release libcurl.

void
ordersctl_http_term(void)
{
    curl_global_cleanup();
}

//  ---------------------------------------------------------------------
//  Set the options of one transfer.

static void
s_setup(CURL *curl,
        const ordersctl_request_t *request,
        struct curl_slist *headers,
        int64_t timeout_ms,
        zchunk_t *body,
        char *error)
{
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    if (request->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(request->body));
    } else if (!streq(request->method, "GET") && !streq(request->method, "DELETE")) {
        //  A POST without a body: no body, and no form content type either.
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method);
}

//  ---------------------------------------------------------------------
//  Send a request and collect the answer.

int
ordersctl_http_send(const ordersctl_request_t *request,
                    int64_t timeout_ms,
                    ordersctl_reply_t *reply)
{
    assert(request);
    assert(timeout_ms > 0);
    assert(reply);
    memset(reply, 0, sizeof *reply);
    char error[CURL_ERROR_SIZE] = "";
    CURL *curl = curl_easy_init();
    assert(curl);
    struct curl_slist *headers = NULL;
    for (size_t index = 0; request->headers[index]; index++) {
        headers = curl_slist_append(headers, request->headers[index]);
        assert(headers);
    }
    //  A POST without a body would otherwise carry a form content type.
    if (!request->body) {
        headers = curl_slist_append(headers, "Content-Type:");
        assert(headers);
    }
    zchunk_t *body = zchunk_new(NULL, 0);
    s_setup(curl, request, headers, timeout_ms, body, error);
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        struct curl_header *header = NULL;
        reply->replayed = curl_easy_header(curl, "Idempotent-Replayed", 0, CURLH_HEADER, -1,
                                           &header) == CURLHE_OK &&
                          strcasecmp(header->value, "true") == 0;
        reply->body_size = zchunk_size(body);
        reply->body = (char *) zmalloc(reply->body_size + 1);
        memcpy(reply->body, zchunk_data(body), reply->body_size);
    } else if (code == CURLE_WRITE_ERROR) {
        reply->error = zsys_sprintf("answer larger than %zu bytes", ORDERSCTL_BODY_MAX);
    } else {
        reply->error = strdup(*error ? error : curl_easy_strerror(code));
    }
    zchunk_destroy(&body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return code == CURLE_OK ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Free a reply.

void
ordersctl_reply_free(ordersctl_reply_t *reply)
{
    assert(reply);
    freen(reply->body);
    freen(reply->error);
    memset(reply, 0, sizeof *reply);
}
