/*  =========================================================================
    svc_trace - W3C Trace Context: one trace id that follows an order

    Parsing and generation of `traceparent` values (W3C Trace Context,
    level 1, section 3.2). We only ever write version 00; we read version
    00 exactly and any higher version (but ff) by its first 55 characters,
    as the recommendation asks of a version 00 parser. Random ids come from
    getrandom(2), which never blocks once the kernel's pool is initialised;
    an all-zero draw (probability 2^-64) is simply drawn again.
    =========================================================================
*/
#include "svc_classes.h"

#include <sys/random.h>

//  Offsets in "vv-<32 trace>-<16 parent>-ff": the three hyphens, each
//  field's start, and the length of a version 00 value.
#define S_VERSION_AT 0
#define S_TRACE_ID_AT 3
#define S_PARENT_ID_AT 36
#define S_FLAGS_AT 53
#define S_LENGTH (SVC_TRACEPARENT_SIZE - 1)
#define S_VERSION_HEX 2
#define S_FLAGS_HEX 2
#define S_TRACE_ID_HEX (SVC_TRACE_ID_SIZE - 1)
#define S_SPAN_ID_HEX (SVC_SPAN_ID_SIZE - 1)

//  The flags of a trace we start: sampled.
#define S_NEW_TRACE_FLAGS "01"

//  ---------------------------------------------------------------------
//  True if `size` characters from `text` are lower-case hex digits.

static bool
s_is_lower_hex(const char *text, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        char digit = text[index];
        if (!((digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f'))) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  True if `size` characters from `text` are all '0'.

static bool
s_is_all_zeros(const char *text, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        if (text[index] != '0') {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  True if `traceparent` is valid by the rules in the header.

bool
svc_trace_valid(const char *traceparent)
{
    if (!traceparent) {
        return false;
    }
    //  strnlen: one character past a version 00 value is enough to know
    //  whether more follows, and a hostile header is never scanned whole.
    size_t length = strnlen(traceparent, S_LENGTH + 1);
    if (length < S_LENGTH) {
        return false;
    }
    if (!s_is_lower_hex(traceparent + S_VERSION_AT, S_VERSION_HEX)) {
        return false;
    }
    if (strncmp(traceparent, "ff", S_VERSION_HEX) == 0) {
        return false;
    }
    if (strncmp(traceparent, "00", S_VERSION_HEX) == 0) {
        if (length != S_LENGTH) {
            return false;
        }
    } else if (length > S_LENGTH && traceparent[S_LENGTH] != '-') {
        return false;
    }
    if (traceparent[S_TRACE_ID_AT - 1] != '-' || traceparent[S_PARENT_ID_AT - 1] != '-' ||
        traceparent[S_FLAGS_AT - 1] != '-') {
        return false;
    }
    const char *trace_id = traceparent + S_TRACE_ID_AT;
    const char *parent_id = traceparent + S_PARENT_ID_AT;
    return s_is_lower_hex(trace_id, S_TRACE_ID_HEX) && !s_is_all_zeros(trace_id, S_TRACE_ID_HEX) &&
           s_is_lower_hex(parent_id, S_SPAN_ID_HEX) && !s_is_all_zeros(parent_id, S_SPAN_ID_HEX) &&
           s_is_lower_hex(traceparent + S_FLAGS_AT, S_FLAGS_HEX);
}

//  ---------------------------------------------------------------------
//  Write `hex_size` random lower-case hex digits, not all zeros, to `out`.

static void
s_random_hex(char *out, size_t hex_size)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t bytes[S_TRACE_ID_HEX / 2];
    size_t byte_size = hex_size / 2;
    assert(byte_size <= sizeof bytes);
    do {
        size_t filled = 0;
        while (filled < byte_size) {
            ssize_t got = getrandom(bytes + filled, byte_size - filled, 0);
            if (got > 0) {
                filled += (size_t) got;
            } else {
                //  Only EINTR is possible for requests of at most 256 bytes.
                assert(errno == EINTR);
            }
        }
        for (size_t index = 0; index < byte_size; index++) {
            out[2 * index] = digits[bytes[index] >> 4];
            out[2 * index + 1] = digits[bytes[index] & 0x0F];
        }
    } while (s_is_all_zeros(out, hex_size));
}

//  ---------------------------------------------------------------------
//  A child of a valid parent, or a new trace.

void
svc_trace_from_header(const char *parent, char out[SVC_TRACEPARENT_SIZE])
{
    assert(out);
    char trace_id[SVC_TRACE_ID_SIZE];
    char flags[S_FLAGS_HEX + 1];
    if (svc_trace_valid(parent)) {
        memcpy(trace_id, parent + S_TRACE_ID_AT, S_TRACE_ID_HEX);
        memcpy(flags, parent + S_FLAGS_AT, S_FLAGS_HEX);
    } else {
        s_random_hex(trace_id, S_TRACE_ID_HEX);
        memcpy(flags, S_NEW_TRACE_FLAGS, S_FLAGS_HEX);
    }
    trace_id[S_TRACE_ID_HEX] = '\0';
    flags[S_FLAGS_HEX] = '\0';
    char span_id[SVC_SPAN_ID_SIZE];
    s_random_hex(span_id, S_SPAN_ID_HEX);
    span_id[S_SPAN_ID_HEX] = '\0';
    int written = snprintf(out, SVC_TRACEPARENT_SIZE, "00-%s-%s-%s", trace_id, span_id, flags);
    assert(written == S_LENGTH);
}

//  ---------------------------------------------------------------------
//  The trace id of a valid traceparent, or "".

void
svc_trace_id(const char *traceparent, char out[SVC_TRACE_ID_SIZE])
{
    assert(out);
    if (svc_trace_valid(traceparent)) {
        memcpy(out, traceparent + S_TRACE_ID_AT, S_TRACE_ID_HEX);
        out[S_TRACE_ID_HEX] = '\0';
    } else {
        out[0] = '\0';
    }
}
