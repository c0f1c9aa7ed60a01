/*  =========================================================================
    ordersctl_request - the HTTP request a parsed command line stands for

    Maps one ordersctl_args_t to the request of docs/http-api.md: which
    service, method, full URL (path parameters and query arguments
    percent-encoded), headers and JSON body. Pure: nothing is sent here
    (ordersctl_http.c sends it), so tests can check every mapping.

        ordersctl_request_t *request = ordersctl_request_new(&args);
        //  request->method "POST", request->url "http://127.0.0.1:8080/orders",
        //  request->headers {"Accept: application/json",
        //                    "Content-Type: application/json", ..., NULL},
        //  request->body "{\"customerId\":\"c-42\",...}"
        ordersctl_request_destroy(&request);
    =========================================================================
*/
#ifndef ORDERSCTL_REQUEST_H_INCLUDED
#define ORDERSCTL_REQUEST_H_INCLUDED

#include "ordersctl_args.h"

//  Most headers a request carries.
#define ORDERSCTL_REQUEST_HEADERS_MAX 4

//  One request, ready to send. Every string belongs to the request.
typedef struct {
    ordersctl_service_t service;                      //  where it goes
    const char *method;                               //  "GET", "POST", "PUT", "DELETE" (static)
    char *url;                                        //  full URL
    char *body;                                       //  JSON text, or NULL for none
    char *headers[ORDERSCTL_REQUEST_HEADERS_MAX + 1]; //  "Name: value" lines, NULL-terminated
} ordersctl_request_t;

//  The request of a parsed command (args->command must not be
//  ORDERSCTL_NONE, and args must come from a successful
//  ordersctl_args_parse without help). Caller owns return value.
ordersctl_request_t *ordersctl_request_new(const ordersctl_args_t *args);

//  Free a request; accepts NULL and nulls the caller's pointer.
void ordersctl_request_destroy(ordersctl_request_t **self_p);

//  `text` percent-encoded for a path segment or a query value: every byte
//  but A-Z a-z 0-9 - . _ ~ becomes %XX. Caller owns return value.
char *ordersctl_url_escape(const char *text);

#endif
