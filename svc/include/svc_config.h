/*  =========================================================================
    svc_config - configuration from environment variables and long flags

    A service declares its options in a table. Each option has one name used
    both ways: the environment variable ORDER_HTTP_ADDR and the flag
    --order-http-addr (lower case, '_' -> '-'). A flag wins over the
    environment, which wins over the default. `--help` lists every option
    with its environment name, default and help text. An invalid value (not
    a number, out of range, not one of the choices, a required option unset,
    an unknown flag) is a clear message, and main exits with SVC_EXIT_CONFIG
    (2); there are no silent defaults.

        static const svc_option_t options[] = {
            {.name = "ORDER_HTTP_ADDR", .type = SVC_OPT_STRING,
             .default_value = "127.0.0.1:8080", .help = "HTTP listen address"},
            {.name = "ORDER_BATCH_MAX", .type = SVC_OPT_INT, .default_value = "256",
             .help = "Largest group-commit batch", .min = 1, .max = 65536},
            {.name = NULL}
        };
        svc_config_t *config = svc_config_new("order-service", "Order service");
        svc_config_add(config, options);
        svc_config_add(config, svc_config_common_options);
        switch (svc_config_load(config, argc, argv)) { ... }
    =========================================================================
*/
#ifndef SVC_CONFIG_H_INCLUDED
#define SVC_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    SVC_OPT_STRING, //  any text; `choices` may restrict it ("a|b|c")
    SVC_OPT_INT,    //  decimal int64 within [min, max]
    SVC_OPT_BOOL    //  true/false, 1/0, yes/no, on/off; a bare --flag means true
} svc_option_type_t;

typedef struct {
    const char *name;          //  environment name, e.g. "ORDER_HTTP_ADDR"; NULL ends a table
    svc_option_type_t type;    //  value type
    const char *default_value; //  default as text; NULL means required
    const char *help;          //  one line for --help
    int64_t min;               //  SVC_OPT_INT: smallest allowed value
    int64_t max;               //  SVC_OPT_INT: largest allowed value (0 and 0: no range check)
    const char *choices;       //  SVC_OPT_STRING: "a|b|c", or NULL for any
} svc_option_t;

typedef enum {
    SVC_CONFIG_OK = 0,     //  loaded; run the service
    SVC_CONFIG_HELP = 1,   //  --help or --version was printed; exit SVC_EXIT_OK
    SVC_CONFIG_INVALID = 2 //  svc_config_error() says why; exit SVC_EXIT_CONFIG
} svc_config_rc_t;

typedef struct svc_config svc_config_t;

//  Options every process has: LOG_LEVEL (error|warn|info|debug, default
//  info) and INSTANCE_ID (default "", meaning main derives the instance
//  name from the host name).
extern const svc_option_t svc_config_common_options[];

//  Create an empty configuration for program `program` (used by --help).
//  Caller owns return value and must destroy it with svc_config_destroy.
svc_config_t *svc_config_new(const char *program, const char *description);

//  Destroy; accepts NULL and nulls the caller's pointer.
void svc_config_destroy(svc_config_t **self_p);

//  Add a NULL-terminated table of options. The table is borrowed and must
//  outlive the configuration (static tables are the norm).
void svc_config_add(svc_config_t *self, const svc_option_t *options);

//  Read the environment, then the flags (`--name value` or `--name=value`;
//  a token starting with "--" is never taken as a value; the last of a
//  repeated flag wins; an empty environment variable counts as set).
//  --help prints the option list to stdout; --version prints the version.
//  Both win over any other argument. Stray positional arguments are invalid.
svc_config_rc_t svc_config_load(svc_config_t *self, int argc, char **argv);

//  The message explaining the last SVC_CONFIG_INVALID (names the option and
//  the rule), valid until the next load or destroy; NULL if the last load
//  did not fail.
const char *svc_config_error(const svc_config_t *self);

//  Print --help text to `stream`.
void svc_config_print_help(const svc_config_t *self, FILE *stream);

//  Typed getters by environment name. Asking for an option that was never
//  added, or with the wrong type, is a programmer error and asserts.
//  Strings are borrowed and valid until destroy.
const char *svc_config_str(const svc_config_t *self, const char *name);
int64_t svc_config_int(const svc_config_t *self, const char *name);
bool svc_config_bool(const svc_config_t *self, const char *name);

//  True if the value came from the environment or a flag, not the default.
bool svc_config_is_set(const svc_config_t *self, const char *name);

#endif
