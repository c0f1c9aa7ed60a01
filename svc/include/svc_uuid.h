/*  =========================================================================
    svc_uuid - UUIDs as 16-byte values: generate, parse, print

    Time-ordered version 7 (RFC 9562) is preferred for primary keys, because
    it keeps B-tree inserts at the right edge; version 4 is plain random;
    version 5 derives a stable id from a namespace and a name. The text form
    is the 36-character "D" form (8-4-4-4-12, lower case), which is what
    PostgreSQL's uuid type and .NET's Guid print.

        svc_uuid_t id;
        svc_uuid_v7(&id);
        char text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&id, text);
    =========================================================================
*/
#ifndef SVC_UUID_H_INCLUDED
#define SVC_UUID_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t bytes[16]; //  network byte order, as on the wire
} svc_uuid_t;

//  Text size with the NUL.
#define SVC_UUID_TEXT_SIZE 37

//  Generate a version 7 UUID: 48-bit Unix time in milliseconds, then random.
//  Ids sort by millisecond; within one millisecond their order is random
//  (no monotonic counter, which would need shared state).
void svc_uuid_v7(svc_uuid_t *out);

//  Generate a version 4 (random) UUID.
void svc_uuid_v4(svc_uuid_t *out);

//  Derive a version 5 UUID from `space` and `name` (SHA-1, RFC 9562).
void svc_uuid_v5(svc_uuid_t *out, const svc_uuid_t *space, const void *name, size_t name_size);

//  Parse the 36-character D form, either case. Returns 0 and sets *out, or
//  -1 (nothing written) for anything else, including braces and surrounding
//  spaces.
int svc_uuid_parse(const char *text, svc_uuid_t *out);

//  Write the lower-case D form and a NUL into `text`.
void svc_uuid_format(const svc_uuid_t *uuid, char text[SVC_UUID_TEXT_SIZE]);

//  True if every byte is zero (the nil UUID).
bool svc_uuid_is_nil(const svc_uuid_t *uuid);

//  The version nibble (4, 5, 7, ...).
int svc_uuid_version(const svc_uuid_t *uuid);

//  The Unix time in milliseconds held by a version 7 UUID (the first 48
//  bits, read whatever the version; check svc_uuid_version if it matters).
uint64_t svc_uuid_v7_time_ms(const svc_uuid_t *uuid);

#endif
