/*  =========================================================================
    ts_service - test support: a service of ours in-process, and its log

    A service's in-process test starts it as bus_service_main would (the
    same definition and hooks, options from a command line), with the
    test's own log and metrics, and waits until it is ready; it then reads
    what the service logged from the log's file.

        FILE *log_file = tmpfile();
        svc_log_t *log = svc_log_new("billing", "billing-test", SVC_LOG_INFO, log_file);
        svc_metrics_t *metrics = svc_metrics_new();
        const char *args[] = {"--database-url", db, "--publishers", publishers, NULL};
        svc_config_t *config = NULL;
        bus_service_t *service = ts_service_start(&s_def, args, log, metrics, &config);
        ...
        assert_int_equal(ts_log_lines(log_file, "billing.payment.started", "order_id",
                                      order_text, NULL), 1);
        bus_service_destroy(&service);
        svc_config_destroy(&config);

    For cmocka tests: the helpers check with cmocka's assertions, so a
    failure fails the running case, as an assertion in the case would.
    =========================================================================
*/
#ifndef TS_SERVICE_H_INCLUDED
#define TS_SERVICE_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "bus.h"

//  How long ts_service_start waits for readiness.
#define TS_SERVICE_READY_MS 30000

//  Start `def` with the options `args` (NULL-terminated, what follows
//  argv[0]) over its defaults, the borrowed `log` and `metrics` (they must
//  outlive the service), and wait until it is ready. Fails the test if it
//  does not start or become ready in TS_SERVICE_READY_MS. Returns the
//  service and its configuration in *config_out: caller owns both
//  (bus_service_destroy, then svc_config_destroy).
bus_service_t *ts_service_start(const bus_service_def_t *def,
                                const char *const *args,
                                svc_log_t *log,
                                svc_metrics_t *metrics,
                                svc_config_t **config_out);

//  The log lines in `file` (JSON lines, as svc_log writes them) with
//  "event" `event` and the string `field` equal to `value`. Returns how
//  many; the first in *first_out (caller decrefs) when asked.
size_t ts_log_lines(
    FILE *file, const char *event, const char *field, const char *value, json_t **first_out);

#endif
