/*  =========================================================================
    svc_trace - W3C Trace Context: one trace id that follows an order

    A request's `traceparent` header ("00-<32 hex trace id>-<16 hex parent
    id>-<2 hex flags>") names the trace it belongs to. Every event the
    request causes carries a child of it (same trace id, a new span id) in
    its envelope, and every service reacting to that event does the same,
    so one trace id appears in every log line about an order.

        char traceparent[SVC_TRACEPARENT_SIZE];
        svc_trace_from_header(svc_http_request_header(request, "traceparent"), traceparent);
        char trace_id[SVC_TRACE_ID_SIZE];
        svc_trace_id(traceparent, trace_id);      //  for log lines: "trace_id"

    Parsing follows the W3C rules: version 00 exactly 55 characters;
    lower-case hex; trace id and parent id not all zeros; version ff
    invalid; a higher version is read by its first 55 characters when the
    next one is '-' or the end. Span ids come from getrandom (not
    cryptographic quality needed, but never all zeros).
    =========================================================================
*/
#ifndef SVC_TRACE_H_INCLUDED
#define SVC_TRACE_H_INCLUDED

#include <stdbool.h>

//  Buffer sizes, NUL included: a version 00 traceparent, a trace id (32
//  hex), a span/parent id (16 hex).
#define SVC_TRACEPARENT_SIZE 56
#define SVC_TRACE_ID_SIZE 33
#define SVC_SPAN_ID_SIZE 17

//  True if `traceparent` (may be NULL) is a valid traceparent as above.
bool svc_trace_valid(const char *traceparent);

//  A child of `parent` (same trace id and flags, a new span id) when
//  `parent` is valid; else a new trace (random trace id and span id, flags
//  01). Always writes a valid version 00 traceparent to `out`.
void svc_trace_from_header(const char *parent, char out[SVC_TRACEPARENT_SIZE]);

//  The trace id of a valid traceparent; "" in `out` when it is not valid.
void svc_trace_id(const char *traceparent, char out[SVC_TRACE_ID_SIZE]);

#endif
