/*  =========================================================================
    ordersctl_http - send one ordersctl request with libcurl

    The only file of ordersctl that includes curl/curl.h. It sends a
    request built by ordersctl_request and collects the whole answer,
    bounded in size and time. Proxies from the environment are not used:
    the services listen on loopback, where a proxy would only be in the way.

        ordersctl_reply_t reply;
        if (ordersctl_http_send(request, timeout_ms, &reply) != 0) {
            ... reply.error says why nothing came back (exit 3) ...
        }
        ... reply.status, reply.body ...
        ordersctl_reply_free(&reply);
    =========================================================================
*/
#ifndef ORDERSCTL_HTTP_H_INCLUDED
#define ORDERSCTL_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ordersctl_request.h"

//  Largest answer body accepted, in bytes; a longer one fails the request.
#define ORDERSCTL_BODY_MAX ((size_t) 16 * 1024 * 1024)

typedef struct {
    long status;      //  HTTP status, 0 when no answer came
    char *body;       //  the body, NUL-terminated (owned), or NULL
    size_t body_size; //  bytes in body, without the NUL
    bool replayed;    //  header Idempotent-Replayed: true
    char *error;      //  why no answer came (owned), or NULL
} ordersctl_reply_t;

//  Call once before the first request (curl_global_init); returns 0 or -1.
int ordersctl_http_init(void);

//  Call once after the last request (curl_global_cleanup).
void ordersctl_http_term(void);

//  Send `request` and wait at most `timeout_ms` for the whole answer.
//  Returns 0 with *reply filled (any status), or -1 when no answer came
//  (connection refused, timeout, body too large): reply->error says why.
//  Release *reply with ordersctl_reply_free either way.
int ordersctl_http_send(const ordersctl_request_t *request,
                        int64_t timeout_ms,
                        ordersctl_reply_t *reply);

//  Free what a reply holds and zero it.
void ordersctl_reply_free(ordersctl_reply_t *reply);

#endif
