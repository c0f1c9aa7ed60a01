/*  =========================================================================
    svc_log - one JSON line per event on a stream, gated by level

    A logger is created once per process in main and lent to every actor.
    It is immutable after creation, and each line is written with a single
    fwrite + fflush, so actors on different threads may share it.

    Each line is one JSON object:
        {"ts":"2026-11-28T01:02:03.456789Z","level":"info","svc":"order",
         "instance":"order-0","event":"order.created", ...fields}
    `event` is a stable dotted id (bus.frame.malformed, order.created).
    Fields come from a jansson json_pack object format, e.g.
        svc_log_info(log, "order.created", "{s:s, s:I}",
                     "order_id", id, "total_minor", (json_int_t) total);
    and include "msg" when a human sentence helps. The level is checked
    before any formatting (Redis serverLog), so debug lines cost one compare.
    =========================================================================
*/
#ifndef SVC_LOG_H_INCLUDED
#define SVC_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    SVC_LOG_ERROR = 0, //  an operator must act
    SVC_LOG_WARN = 1,  //  degraded or retrying
    SVC_LOG_INFO = 2,  //  lifecycle and business milestones
    SVC_LOG_DEBUG = 3  //  single messages; off by default
} svc_log_level_t;

typedef struct svc_log svc_log_t;

//  Create a logger writing to `stream` (borrowed; stdout in services, a
//  memstream or tmpfile in tests). `svc` and `instance` are copied.
//  Returns NULL if `svc` or `instance` is not valid UTF-8.
//  Caller owns return value and must destroy it with svc_log_destroy.
svc_log_t *svc_log_new(const char *svc, const char *instance, svc_log_level_t level, FILE *stream);

//  Destroy the logger; accepts NULL and nulls the caller's pointer.
void svc_log_destroy(svc_log_t **self_p);

//  True if a line at `level` would be written.
bool svc_log_enabled(const svc_log_t *self, svc_log_level_t level);

//  Write one line. `fields` is a json_pack object format ("{s:s, s:i}") or
//  NULL for none. A format error from the caller is a programmer error and
//  asserts. A value that cannot be encoded (NULL for "s", invalid UTF-8)
//  still writes the line, without the fields and with "fields_error"; use
//  "s?" or "s*" for strings that may be NULL. A field named like one of the
//  five reserved keys is written as "field_<key>". Use the level macros
//  below rather than this function.
void svc_log_write(
    const svc_log_t *self, svc_log_level_t level, const char *event, const char *fields, ...);

//  Parse "error", "warn", "info" or "debug". Returns -1 if unknown.
int svc_log_level_parse(const char *text);

//  Name of a level ("info").
const char *svc_log_level_name(svc_log_level_t level);

//  Give a caller that asked for a message one: when error_out is not NULL,
//  replace *error_out (freed with zstr_free) by the formatted text (caller
//  owns it, zstr_free). For functions that say why they failed through an
//  optional `char **error_out`.
void svc_error_set(char **error_out, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define SVC_LOG_AT_(log, level, ...)                                                               \
    do {                                                                                           \
        if (svc_log_enabled((log), (level))) {                                                     \
            svc_log_write((log), (level), __VA_ARGS__);                                            \
        }                                                                                          \
    } while (0)

#define svc_log_error(log, ...) SVC_LOG_AT_(log, SVC_LOG_ERROR, __VA_ARGS__)
#define svc_log_warn(log, ...) SVC_LOG_AT_(log, SVC_LOG_WARN, __VA_ARGS__)
#define svc_log_info(log, ...) SVC_LOG_AT_(log, SVC_LOG_INFO, __VA_ARGS__)
#define svc_log_debug(log, ...) SVC_LOG_AT_(log, SVC_LOG_DEBUG, __VA_ARGS__)

#endif
