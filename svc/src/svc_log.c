/*  =========================================================================
    svc_log - one JSON line per event on a stream, gated by level

    Each call builds a jansson object in a fixed key order (ts, level, svc,
    instance, event, then the caller's fields), dumps it compactly into one
    buffer ending in '\n', and hands that buffer to a single fwrite followed
    by fflush. stdio locks the stream for the duration of each call, so lines
    from different threads never interleave, and the logger itself is never
    written after svc_log_new, so it needs no lock of its own.

    Caller fields never replace the five reserved keys: a caller key named
    like one of them is written as "field_<key>" instead (dropped if that
    name is taken too), so nothing the caller logged is lost silently.

    A malformed json_pack format is a programmer error and asserts. A field
    value the format cannot encode (a NULL "s" argument, invalid UTF-8 from
    the wire, a NaN) is data from outside: the line is still written, without
    the caller's fields and with "fields_error" saying what was wrong. Use
    "s?" (null) or "s*" (omitted) for strings that may be NULL.
    =========================================================================
*/
#include "svc_classes.h"

#include <time.h>

//  Flags for every dump: one line, keys in insertion order.
#define S_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

//  "2026-11-28T01:02:03.456789Z" plus the terminating NUL, with room spare.
#define S_TIMESTAMP_SIZE 40

//  Prefix given to a caller field whose key is reserved.
#define S_COLLISION_PREFIX "field_"

struct svc_log {
    char *svc;             //  owned copy: service name, valid UTF-8
    char *instance;        //  owned copy: instance name, valid UTF-8
    svc_log_level_t level; //  highest level written
    FILE *stream;          //  borrowed output stream
};

//  Keys of our own that a caller field may not replace, in line order.
static const char *const s_reserved_keys[] = {"ts", "level", "svc", "instance", "event"};

//  Level names indexed by svc_log_level_t.
static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

//  ---------------------------------------------------------------------------
//  True if `text` is valid UTF-8 (the only strings JSON may carry).

static bool
s_is_utf8(const char *text)
{
    json_t *string = json_string(text);
    bool valid = string != NULL;
    json_decref(string);
    return valid;
}

//  ---------------------------------------------------------------------------
//  Create a logger.

svc_log_t *
svc_log_new(const char *svc, const char *instance, svc_log_level_t level, FILE *stream)
{
    assert(svc);
    assert(instance);
    assert((unsigned) level <= SVC_LOG_DEBUG);
    assert(stream);

    //  Both names come from configuration, so a bad one is not an assert.
    if (!s_is_utf8(svc) || !s_is_utf8(instance)) {
        return NULL;
    }
    svc_log_t *self = (svc_log_t *) zmalloc(sizeof(svc_log_t));
    self->svc = strdup(svc);
    self->instance = strdup(instance);
    assert(self->svc && self->instance);
    self->level = level;
    self->stream = stream;
    return self;
}

//  ---------------------------------------------------------------------------
//  Destroy the logger.

void
svc_log_destroy(svc_log_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        svc_log_t *self = *self_p;
        freen(self->instance);
        freen(self->svc);
        freen(self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------------
//  True if a line at `level` would be written.

bool
svc_log_enabled(const svc_log_t *self, svc_log_level_t level)
{
    assert(self);
    return level <= self->level;
}

//  ---------------------------------------------------------------------------
//  Format the current UTC time as RFC 3339 with microseconds into `buffer`.

static void
s_format_timestamp(char *buffer, size_t size)
{
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t length = strftime(buffer, size, "%Y-%m-%dT%H:%M:%S", &utc);
    assert(length > 0);
    (void) snprintf(buffer + length, size - length, ".%06ldZ", (long) (now.tv_nsec / 1000));
}

//  ---------------------------------------------------------------------------
//  True if `key` is one of the keys the logger writes itself.

static bool
s_is_reserved(const char *key)
{
    for (size_t index = 0; index < sizeof(s_reserved_keys) / sizeof(s_reserved_keys[0]); index++) {
        if (streq(key, s_reserved_keys[index])) {
            return true;
        }
    }
    return false;
}

//  ---------------------------------------------------------------------------
//  Append the caller's fields to `line` in their order; reserved keys get
//  the collision prefix, and a key already present is dropped.

static void
s_append_fields(json_t *line, json_t *fields)
{
    const char *key;
    json_t *value;
    json_object_foreach(fields, key, value)
    {
        char *renamed = s_is_reserved(key) ? zsys_sprintf(S_COLLISION_PREFIX "%s", key) : NULL;
        const char *target = renamed ? renamed : key;
        if (json_object_get(line, target) == NULL) {
            json_object_set(line, target, value);
        }
        zstr_free(&renamed);
    }
}

//  ---------------------------------------------------------------------------
//  Build the caller's fields from `format` and `args`, then append them to
//  `line`. Only a malformed format asserts; a value jansson cannot encode
//  is reported in the line itself.

static void
s_pack_fields(json_t *line, const char *format, va_list args)
{
    json_error_t error;
    json_t *fields = json_vpack_ex(&error, 0, format, args);
    if (fields == NULL) {
        bool bad_format = json_error_code(&error) == json_error_invalid_format;
        if (bad_format) {
            (void) fprintf(stderr, "svc_log: bad fields format \"%s\": %s\n", format, error.text);
        }
        assert(!bad_format);
        json_object_set_new(line, "fields_error", json_string(error.text));
        return;
    }
    assert(json_is_object(fields));
    s_append_fields(line, fields);
    json_decref(fields);
}

//  ---------------------------------------------------------------------------
//  Dump `line` plus '\n' into one buffer and write it with one fwrite.

static void
s_write_line(const svc_log_t *self, const json_t *line)
{
    size_t size = json_dumpb(line, NULL, 0, S_DUMP_FLAGS);
    assert(size > 0);
    char *buffer = (char *) zmalloc(size + 1);
    size_t written = json_dumpb(line, buffer, size, S_DUMP_FLAGS);
    assert(written == size);
    buffer[size] = '\n';
    //  A failed write (closed pipe, full disk) has nowhere to be reported.
    if (fwrite(buffer, 1, size + 1, self->stream) == size + 1) {
        (void) fflush(self->stream);
    }
    freen(buffer);
}

//  ---------------------------------------------------------------------------
//  Write one line.

void
svc_log_write(
    const svc_log_t *self, svc_log_level_t level, const char *event, const char *fields, ...)
{
    assert(self);
    assert((unsigned) level <= SVC_LOG_DEBUG);
    assert(event);
    if (!svc_log_enabled(self, level)) {
        return;
    }
    json_t *event_string = json_string(event);
    assert(event_string); //  event ids are literals in our code, so UTF-8

    char timestamp[S_TIMESTAMP_SIZE];
    s_format_timestamp(timestamp, sizeof(timestamp));
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string_nocheck(timestamp));
    json_object_set_new(line, "level", json_string_nocheck(svc_log_level_name(level)));
    json_object_set_new(line, "svc", json_string_nocheck(self->svc));
    json_object_set_new(line, "instance", json_string_nocheck(self->instance));
    json_object_set_new(line, "event", event_string);
    if (fields) {
        va_list args;
        va_start(args, fields);
        s_pack_fields(line, fields, args);
        va_end(args);
    }
    s_write_line(self, line);
    json_decref(line);
}

//  ---------------------------------------------------------------------------
//  Parse a level name.

int
svc_log_level_parse(const char *text)
{
    assert(text);
    for (int level = SVC_LOG_ERROR; level <= SVC_LOG_DEBUG; level++) {
        if (streq(text, s_level_names[level])) {
            return level;
        }
    }
    return -1;
}

//  ---------------------------------------------------------------------------
//  Name of a level.

const char *
svc_log_level_name(svc_log_level_t level)
{
    assert((unsigned) level <= SVC_LOG_DEBUG);
    return s_level_names[level];
}

//  --------------------------------------------------------------------------

void
svc_error_set(char **error_out, const char *format, ...)
{
    assert(format);
    if (!error_out) {
        return;
    }
    zstr_free(error_out);
    va_list args;
    va_start(args, format);
    *error_out = zsys_vprintf(format, args);
    va_end(args);
}
