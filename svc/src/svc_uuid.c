/*  =========================================================================
    svc_uuid - UUIDs as 16-byte values: generate, parse, print

    Randomness comes from the kernel's getrandom, one call per id (libuuid's
    uuid_generate_random costs five system calls: it checks for a fork
    with getpid and getuid each time); SHA-1 from libuuid
    (uuid_generate_sha1 implements version 5). Debian's
    libuuid (util-linux 2.38) has no version 7, so we lay it out here per
    RFC 9562 section 5.7: 48 bits of big-endian Unix milliseconds from
    CLOCK_REALTIME, then 74 random bits around the version and variant.

    Ordering is per millisecond only: ids from different milliseconds sort
    by time, ids from the same millisecond sort randomly. The RFC's optional
    monotonic counter would need state shared between calls, and this
    runtime keeps no mutable statics, so we do without it.
    =========================================================================
*/
#include "svc_classes.h"

#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

//  RFC 9562 layout: version in the high nibble of byte 6, variant in the
//  high two bits of byte 8 (binary 10), 48-bit time in bytes 0..5.
#define S_VERSION_BYTE 6
#define S_VARIANT_BYTE 8
#define S_VARIANT_RFC 0x80
#define S_VARIANT_MASK 0xC0
#define S_TIME_BYTES 6
#define S_MS_PER_SECOND 1000
#define S_NS_PER_MS 1000000

//  Characters in the D form, without the NUL.
#define S_TEXT_LENGTH (SVC_UUID_TEXT_SIZE - 1)

//  ---------------------------------------------------------------------
//  Stamp version and RFC variant bits onto the 16 bytes.

static void
s_set_version(svc_uuid_t *uuid, int version)
{
    uuid->bytes[S_VERSION_BYTE] = (uint8_t) ((uuid->bytes[S_VERSION_BYTE] & 0x0F) | (version << 4));
    uuid->bytes[S_VARIANT_BYTE] =
        (uint8_t) ((uuid->bytes[S_VARIANT_BYTE] & ~S_VARIANT_MASK) | S_VARIANT_RFC);
}

//  ---------------------------------------------------------------------
//  Fill `size` bytes from the kernel's random source. It blocks only
//  before the kernel's pool is first initialised, at boot; a signal may
//  interrupt it, and then it is asked again.

static void
s_random(uint8_t *bytes, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got = getrandom(bytes + done, size - done, 0);
        if (got > 0) {
            done += (size_t) got;
        } else {
            //  Only EINTR can happen with a valid buffer and flags 0.
            assert(got < 0 && errno == EINTR);
        }
    }
}

//  ---------------------------------------------------------------------
//  Generate a version 7 UUID.

void
svc_uuid_v7(svc_uuid_t *out)
{
    assert(out);
    struct timespec now;
    int rc = clock_gettime(CLOCK_REALTIME, &now);
    assert(rc == 0);
    uint64_t unix_ms =
        (uint64_t) now.tv_sec * S_MS_PER_SECOND + (uint64_t) now.tv_nsec / S_NS_PER_MS;

    //  Bytes 6..15 are random; the version and variant bits are stamped
    //  over them, which leaves the 74 random bits the layout asks for.
    for (int index = 0; index < S_TIME_BYTES; index++) {
        out->bytes[index] = (uint8_t) (unix_ms >> (8 * (S_TIME_BYTES - 1 - index)));
    }
    s_random(out->bytes + S_TIME_BYTES, sizeof out->bytes - S_TIME_BYTES);
    s_set_version(out, 7);
}

//  ---------------------------------------------------------------------
//  Generate a version 4 (random) UUID.

void
svc_uuid_v4(svc_uuid_t *out)
{
    assert(out);
    s_random(out->bytes, sizeof out->bytes);
    s_set_version(out, 4);
}

//  ---------------------------------------------------------------------
//  Derive a version 5 UUID from a namespace and a name.

void
svc_uuid_v5(svc_uuid_t *out, const svc_uuid_t *space, const void *name, size_t name_size)
{
    assert(out);
    assert(space);
    assert(name || name_size == 0);
    //  libuuid hashes exactly name_size bytes; it never reads a NUL.
    uuid_generate_sha1(out->bytes, space->bytes, name_size ? name : "", name_size);
}

//  ---------------------------------------------------------------------
//  Value of one hex digit, or -1.

static int
s_hex_value(char digit)
{
    if (digit >= '0' && digit <= '9') {
        return digit - '0';
    }
    if (digit >= 'a' && digit <= 'f') {
        return digit - 'a' + 10;
    }
    if (digit >= 'A' && digit <= 'F') {
        return digit - 'A' + 10;
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  True if a hyphen belongs at this offset of the D form.

static bool
s_is_hyphen_offset(size_t offset)
{
    return offset == 8 || offset == 13 || offset == 18 || offset == 23;
}

//  ---------------------------------------------------------------------
//  Parse the 36-character D form into *out; write nothing on failure.

int
svc_uuid_parse(const char *text, svc_uuid_t *out)
{
    assert(text);
    assert(out);
    svc_uuid_t parsed;
    size_t byte = 0;
    size_t offset = 0;
    //  Stop at the first NUL, so a short text is never read past its end.
    for (; offset < S_TEXT_LENGTH && text[offset]; offset++) {
        if (s_is_hyphen_offset(offset)) {
            if (text[offset] != '-') {
                return -1;
            }
            continue;
        }
        int high = s_hex_value(text[offset]);
        int low = s_hex_value(text[offset + 1]);
        if (high < 0 || low < 0) {
            return -1;
        }
        parsed.bytes[byte++] = (uint8_t) (high << 4 | low);
        offset++;
    }
    if (offset != S_TEXT_LENGTH || text[S_TEXT_LENGTH] != '\0') {
        return -1;
    }
    *out = parsed;
    return 0;
}

//  ---------------------------------------------------------------------
//  Write the lower-case D form.

void
svc_uuid_format(const svc_uuid_t *uuid, char text[SVC_UUID_TEXT_SIZE])
{
    assert(uuid);
    assert(text);
    static const char hex[] = "0123456789abcdef";
    char *out = text;
    for (size_t byte = 0; byte < sizeof uuid->bytes; byte++) {
        if (s_is_hyphen_offset((size_t) (out - text))) {
            *out++ = '-';
        }
        *out++ = hex[uuid->bytes[byte] >> 4];
        *out++ = hex[uuid->bytes[byte] & 0x0F];
    }
    *out = '\0';
}

//  ---------------------------------------------------------------------
//  True if every byte is zero.

bool
svc_uuid_is_nil(const svc_uuid_t *uuid)
{
    assert(uuid);
    for (size_t byte = 0; byte < sizeof uuid->bytes; byte++) {
        if (uuid->bytes[byte]) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  The version nibble.

int
svc_uuid_version(const svc_uuid_t *uuid)
{
    assert(uuid);
    return uuid->bytes[S_VERSION_BYTE] >> 4;
}

//  ---------------------------------------------------------------------
//  The 48-bit Unix milliseconds of a version 7 UUID. The bytes are read
//  whatever the version; callers that care check svc_uuid_version.

uint64_t
svc_uuid_v7_time_ms(const svc_uuid_t *uuid)
{
    assert(uuid);
    uint64_t unix_ms = 0;
    for (int index = 0; index < S_TIME_BYTES; index++) {
        unix_ms = unix_ms << 8 | uuid->bytes[index];
    }
    return unix_ms;
}
