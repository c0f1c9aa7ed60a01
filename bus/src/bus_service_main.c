/*  =========================================================================
    bus_service_main - the configuration side of bus_service, and main

    The standard options whose defaults come from the definition
    (HTTP_ADDR, DATABASE_URL, PUB_ENDPOINT, PUBLISHERS) are declared with
    an empty default that means "the definition's", and read with
    svc_config_is_set: svc_config borrows option tables and has no way to
    be handed one to own, so a table built per definition would have
    nobody to free it. --help prints the definition's defaults after the
    option list.

    bus_service_main blocks SIGTERM and SIGINT before any thread starts,
    so every thread inherits the mask, and takes them with sigwait: no
    handler races the wait, and no other thread's poll is interrupted.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "bus_service.h"
#include "bus_service_main.h"

#include <pthread.h>
#include <signal.h>

//  Largest SHUTDOWN_TIMEOUT_MS, BATCH_MAX and MAX_ATTEMPTS accepted.
#define S_SHUTDOWN_MS_MAX 600000
#define S_BATCH_MAX_LIMIT 65536
#define S_ATTEMPTS_MAX 1000

//  The standard options. An empty default of the first five means the
//  definition's (see the file header).
static const svc_option_t s_options[] = {
    {.name = BUS_SERVICE_HTTP_ADDR,
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "HTTP listen address host:port; empty = the service's default"},
    {.name = BUS_SERVICE_DATABASE_URL,
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "libpq connection string; empty = the service's default"},
    {.name = BUS_SERVICE_STREAM,
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Stream id this process publishes; empty = <service>-<REPLICA_INDEX>"},
    {.name = BUS_SERVICE_PUB_ENDPOINT,
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "PUB bind address (replay binds port + 1); empty = the service's default"},
    {.name = BUS_SERVICE_PUBLISHERS,
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Comma list of tcp://host:port to subscribe to; unset = the service's default"},
    {.name = "REPLICA_INDEX",
     .type = SVC_OPT_INT,
     .default_value = "0",
     .help = "This replica's index i, 0..REPLICA_COUNT-1",
     .min = 0,
     .max = BUS_SUBSCRIBER_PARTITIONS_MAX - 1},
    {.name = "REPLICA_COUNT",
     .type = SVC_OPT_INT,
     .default_value = "1",
     .help = "Replicas of this service",
     .min = 1,
     .max = BUS_SUBSCRIBER_PARTITIONS_MAX},
    {.name = "PARTITIONS",
     .type = SVC_OPT_INT,
     .default_value = "64",
     .help = "Partition count P of the deployment",
     .min = 1,
     .max = BUS_SUBSCRIBER_PARTITIONS_MAX},
    {.name = "BATCH_MAX",
     .type = SVC_OPT_INT,
     .default_value = "512",
     .help = "Units of work per writer transaction",
     .min = 1,
     .max = S_BATCH_MAX_LIMIT},
    {.name = "APPLY_BATCH_MAX",
     .type = SVC_OPT_INT,
     .default_value = "256",
     .help = "Events per subscriber transaction",
     .min = 1,
     .max = BUS_SUBSCRIBER_BATCH_MAX_LIMIT},
    {.name = "MAX_ATTEMPTS",
     .type = SVC_OPT_INT,
     .default_value = "5",
     .help = "Handler attempts before an event is dead-lettered",
     .min = 1,
     .max = S_ATTEMPTS_MAX},
    {.name = "READY_LAG",
     .type = SVC_OPT_INT,
     .default_value = "1000",
     .help = "Not ready while a subscribed stream lags more events than this",
     .min = 1,
     .max = INT64_MAX},
    {.name = "RETENTION_EVENTS",
     .type = SVC_OPT_INT,
     .default_value = "0",
     .help = "Newest events of the stream kept; 0 = all",
     .min = 0,
     .max = INT64_MAX},
    {.name = "CURVE_SERVER_SECRET",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Secret cert file of our PUB/ROUTER; empty = no CURVE"},
    {.name = "CURVE_ALLOW_DIR",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Directory of allowed client public certs (with CURVE_SERVER_SECRET)"},
    {.name = "CURVE_CLIENT_SECRET",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Our secret cert as a client of PUBLISHERS; empty = no CURVE"},
    {.name = "CURVE_SERVER_PUBLIC",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "The publishers' public cert (with CURVE_CLIENT_SECRET)"},
    {.name = "SHUTDOWN_TIMEOUT_MS",
     .type = SVC_OPT_INT,
     .default_value = "10000",
     .help = "Longest wait for units in flight at SIGTERM",
     .min = 0,
     .max = S_SHUTDOWN_MS_MAX},
    {.name = NULL}};

//  --------------------------------------------------------------------------
//  Reading the configuration

//  A string option, or `fallback` when it was not set (see the file header).
const char *
bus_service_option_or(const svc_config_t *config, const char *name, const char *fallback)
{
    return svc_config_is_set(config, name) ? svc_config_str(config, name) : fallback;
}

//  A CURVE option: NULL when empty.
const char *
bus_service_option_path(const svc_config_t *config, const char *name)
{
    const char *value = svc_config_str(config, name);
    return *value ? value : NULL;
}

//  The stream id: STREAM, or "<name>-<REPLICA_INDEX>". Caller owns it.
char *
bus_service_stream_of(const bus_service_def_t *def, const svc_config_t *config)
{
    const char *stream = svc_config_str(config, BUS_SERVICE_STREAM);
    if (*stream) {
        return strdup(stream);
    }
    return zsys_sprintf("%s-%" PRId64, def->name, svc_config_int(config, "REPLICA_INDEX"));
}

//  What is wrong with a loaded configuration beyond single values, or NULL.
//  Caller owns return value.
char *
bus_service_config_problem(const bus_service_def_t *def, const svc_config_t *config)
{
    char *stream = bus_service_stream_of(def, config);
    char *problem = NULL;
    if (!bus_envelope_stream_valid(stream)) {
        problem = zsys_sprintf("STREAM: \"%.64s\" is not 1-64 bytes of [a-z0-9._-]", stream);
    } else if (svc_config_int(config, "REPLICA_INDEX") >= svc_config_int(config, "REPLICA_COUNT")) {
        problem = zsys_sprintf("REPLICA_INDEX: must be below REPLICA_COUNT (%" PRId64 ")",
                               svc_config_int(config, "REPLICA_COUNT"));
    } else if (bus_service_option_path(config, "CURVE_SERVER_SECRET") &&
               !bus_service_option_path(config, "CURVE_ALLOW_DIR")) {
        problem = strdup("CURVE_ALLOW_DIR: required with CURVE_SERVER_SECRET");
    } else if (!bus_service_option_path(config, "CURVE_CLIENT_SECRET") !=
               !bus_service_option_path(config, "CURVE_SERVER_PUBLIC")) {
        problem = strdup("CURVE_CLIENT_SECRET and CURVE_SERVER_PUBLIC: set both or neither");
    }
    zstr_free(&stream);
    return problem;
}

//  --------------------------------------------------------------------------
//  Add the standard and common options.

void
bus_service_options_add(svc_config_t *config, const bus_service_def_t *def)
{
    assert(config);
    assert(def);
    svc_config_add(config, s_options);
    svc_config_add(config, svc_config_common_options);
}

//  --------------------------------------------------------------------------
//  bus_service_main

//  After --help: the defaults that come from the definition.
static void
s_print_defaults(const bus_service_def_t *def)
{
    (void) printf("\nDefaults of %s for the options above that say \"the service's default\":\n",
                  def->name);
    (void) printf("  HTTP_ADDR      %s\n", def->http_addr);
    (void) printf("  DATABASE_URL   %s\n", def->database);
    (void) printf("  PUB_ENDPOINT   %s\n", def->pub_endpoint);
    (void) printf("  PUBLISHERS     %s\n",
                  def->publishers && *def->publishers ? def->publishers : "(none)");
    if (def->apply_batch_max > 0) {
        (void) printf("  APPLY_BATCH_MAX %d (not the option's default)\n", def->apply_batch_max);
    }
}

//  Run the loaded configuration until SIGTERM or SIGINT. Both signals are
//  blocked before any thread starts, so every thread inherits the mask
//  and sigwait takes them here: no handler races the wait, and no other
//  thread's poll is interrupted.
static int
s_run(const bus_service_def_t *def, const svc_config_t *config)
{
    char *stream = bus_service_stream_of(def, config);
    const char *instance = svc_config_str(config, "INSTANCE_ID");
    svc_log_t *log = svc_log_new(
        def->name, *instance ? instance : stream,
        (svc_log_level_t) svc_log_level_parse(svc_config_str(config, "LOG_LEVEL")), stdout);
    zstr_free(&stream);
    if (!log) {
        (void) fprintf(stderr, "%s: INSTANCE_ID: not valid UTF-8\n", def->name);
        return SVC_EXIT_CONFIG;
    }
    svc_metrics_t *metrics = svc_metrics_new();
    sigset_t signals, previous;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, &previous);
    int exit_code = SVC_EXIT_OK;
    bus_service_t *service = bus_service_new(def, config, log, metrics, &exit_code);
    if (service) {
        int signal_number = 0;
        //  sigwait fails only for an invalid set, which this is not.
        int waited = sigwait(&signals, &signal_number);
        assert(waited == 0);
        svc_log_info(log, "bus.service.signal", "{s:s}", "signal",
                     signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
        bus_service_destroy(&service);
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    svc_metrics_destroy(&metrics);
    svc_log_destroy(&log);
    return exit_code;
}

int
bus_service_main(const bus_service_def_t *def, int argc, char **argv)
{
    assert(def);
    assert(def->name && def->description);
    assert(argc >= 0);
    zsys_set_logstream(stderr);
    svc_config_t *config = svc_config_new(def->name, def->description);
    bus_service_options_add(config, def);
    if (def->options) {
        svc_config_add(config, def->options);
    }
    int exit_code = SVC_EXIT_OK;
    svc_config_rc_t rc = svc_config_load(config, argc, argv);
    if (rc == SVC_CONFIG_HELP) {
        bool help = false;
        for (int index = 1; index < argc; index++) {
            help = help || streq(argv[index], "--help");
        }
        if (help) {
            s_print_defaults(def);
        }
    } else if (rc == SVC_CONFIG_INVALID) {
        (void) fprintf(stderr, "%s: %s\n", def->name, svc_config_error(config));
        exit_code = SVC_EXIT_CONFIG;
    } else {
        char *problem = bus_service_config_problem(def, config);
        if (problem) {
            (void) fprintf(stderr, "%s: %s\n", def->name, problem);
            zstr_free(&problem);
            exit_code = SVC_EXIT_CONFIG;
        } else {
            exit_code = s_run(def, config);
        }
    }
    svc_config_destroy(&config);
    return exit_code;
}
