/*  =========================================================================
    ts_service - test support: a service of ours in-process, and its log

    The log file is read with pread from its start, so the test's reading
    never moves the offset the log appends at.
    =========================================================================
*/
#include <czmq.h>
#include <unistd.h>

#undef NDEBUG
#include <assert.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "svc.h"
#include "ts.h"
#include "ts_service.h"

//  The most options a test passes.
#define S_ARGS_MAX 32

//  --------------------------------------------------------------------------
//  Start the service and wait until it is ready.

static bool
s_ready(void *arg)
{
    return bus_service_ready((bus_service_t *) arg);
}

bus_service_t *
ts_service_start(const bus_service_def_t *def,
                 const char *const *args,
                 svc_log_t *log,
                 svc_metrics_t *metrics,
                 svc_config_t **config_out)
{
    assert(def);
    assert(args);
    assert(log);
    assert(metrics);
    assert(config_out);
    char *argv[S_ARGS_MAX + 2] = {(char *) def->name};
    int argc = 1;
    for (const char *const *arg = args; *arg; arg++) {
        assert(argc <= S_ARGS_MAX);
        argv[argc++] = (char *) *arg;
    }
    svc_config_t *config = svc_config_new(def->name, def->description);
    bus_service_options_add(config, def);
    assert_int_equal(svc_config_load(config, argc, argv), SVC_CONFIG_OK);
    int exit_code = -1;
    bus_service_t *service = bus_service_new(def, config, log, metrics, &exit_code);
    assert_non_null(service);
    assert_int_equal(exit_code, SVC_EXIT_OK);
    assert_true(ts_wait_until(s_ready, service, TS_SERVICE_READY_MS));
    *config_out = config;
    return service;
}

//  --------------------------------------------------------------------------
//  Count the log lines with an event and a field's value.

size_t
ts_log_lines(
    FILE *file, const char *event, const char *field, const char *value, json_t **first_out)
{
    assert(file);
    assert(event);
    assert(field);
    assert(value);
    int fd = fileno(file);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = zmalloc((size_t) size + 1);
    assert_int_equal(pread(fd, text, (size_t) size, 0), size);
    size_t found = 0;
    char *saveptr = NULL;
    for (char *line = strtok_r(text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
        json_t *object = json_loads(line, 0, NULL);
        assert_non_null(object);
        const char *line_event = json_string_value(json_object_get(object, "event"));
        const char *line_value = json_string_value(json_object_get(object, field));
        if (line_event && streq(line_event, event) && line_value && streq(line_value, value)) {
            if (found++ == 0 && first_out) {
                *first_out = json_incref(object);
            }
        }
        json_decref(object);
    }
    freen(text);
    return found;
}
