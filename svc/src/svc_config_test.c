/*  =========================================================================
    svc_config_test - precedence, flag syntax, validation and --help

    Every test sets only environment variables named SVCT_* (plus the two
    common ones), and the teardown unsets them all, so the tests neither see
    the runner's environment nor leak into each other.
    =========================================================================
*/
#include "svc_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

//  The options of an imaginary order service, one of each kind.
static const svc_option_t s_order_options[] = {
    {.name = "SVCT_HTTP_ADDR",
     .type = SVC_OPT_STRING,
     .default_value = "127.0.0.1:8080",
     .help = "HTTP listen address"},
    {.name = "SVCT_BATCH_MAX",
     .type = SVC_OPT_INT,
     .default_value = "256",
     .help = "Largest group-commit batch",
     .min = 1,
     .max = 65536},
    {.name = "SVCT_OFFSET", .type = SVC_OPT_INT, .default_value = "-5", .help = "Any integer"},
    {.name = "SVCT_VERBOSE", .type = SVC_OPT_BOOL, .default_value = "false", .help = "Chatty"},
    {.name = "SVCT_MODE",
     .type = SVC_OPT_STRING,
     .default_value = "fast",
     .help = "Commit mode",
     .choices = "fast|safe|paranoid"},
    {.name = NULL}};

//  An option without a default.
static const svc_option_t s_required_options[] = {
    {.name = "SVCT_DB_URL", .type = SVC_OPT_STRING, .help = "PostgreSQL connection URI"},
    {.name = NULL}};

//  Reuses a name already in s_order_options.
static const svc_option_t s_clashing_options[] = {
    {.name = "SVCT_MODE", .type = SVC_OPT_STRING, .default_value = "x", .help = "Clash"},
    {.name = NULL}};

//  A default that breaks its own range.
static const svc_option_t s_bad_default_options[] = {{.name = "SVCT_BAD",
                                                      .type = SVC_OPT_INT,
                                                      .default_value = "0",
                                                      .help = "Bad",
                                                      .min = 1,
                                                      .max = 9},
                                                     {.name = NULL}};

//  Every environment variable a test may set.
static const char *const s_test_variables[] = {"SVCT_HTTP_ADDR", "SVCT_BATCH_MAX", "SVCT_OFFSET",
                                               "SVCT_VERBOSE",   "SVCT_MODE",      "SVCT_DB_URL",
                                               "LOG_LEVEL",      "INSTANCE_ID"};

//  ---------------------------------------------------------------------------
//  Unset every test variable (setup and teardown).

static int
s_clean_environment(void **state)
{
    (void) state;
    for (size_t index = 0; index < sizeof(s_test_variables) / sizeof(s_test_variables[0]);
         index++) {
        unsetenv(s_test_variables[index]);
    }
    return 0;
}

//  ---------------------------------------------------------------------------
//  A configuration with the order options. Caller owns return value.

static svc_config_t *
s_order_config(void)
{
    svc_config_t *config = svc_config_new("order-service", "Order service");
    svc_config_add(config, s_order_options);
    return config;
}

//  ---------------------------------------------------------------------------
//  Load `args` (a NULL-terminated list after the program name).

static svc_config_rc_t
s_load(svc_config_t *config, ...)
{
    char *argv[16] = {"order-service"};
    int argc = 1;
    va_list args;
    va_start(args, config);
    char *arg;
    while ((arg = va_arg(args, char *)) != NULL) {
        assert_true(argc < 15);
        argv[argc++] = arg;
    }
    va_end(args);
    return svc_config_load(config, argc, argv);
}

//  ---------------------------------------------------------------------------
//  Assert that loading `arg` alone fails with a message containing `part`.

static void
s_assert_invalid(const char *arg, const char *part)
{
    svc_config_t *config = s_order_config();
    assert_int_equal(s_load(config, arg, NULL), SVC_CONFIG_INVALID);
    const char *error = svc_config_error(config);
    assert_non_null(error);
    if (strstr(error, part) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", error, part);
    }
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  True if `body` aborts (a failed assert) in a child process.

static bool
s_aborts(void (*body)(void))
{
    (void) fflush(stdout);
    (void) fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        //  The assert message is expected; keep the test output clean.
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(3);
        }
        body();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

//  ---------------------------------------------------------------------------
//  Usage: declare, add, load, read typed values.

static void
test_usage_example(void **state)
{
    (void) state;
    svc_config_t *config = svc_config_new("order-service", "Order service");
    svc_config_add(config, s_order_options);
    svc_config_add(config, svc_config_common_options);
    setenv("SVCT_HTTP_ADDR", "0.0.0.0:9000", 1);
    char *argv[] = {"order-service", "--svct-batch-max", "512", "--log-level=debug"};
    assert_int_equal(svc_config_load(config, 4, argv), SVC_CONFIG_OK);
    assert_null(svc_config_error(config));

    assert_string_equal(svc_config_str(config, "SVCT_HTTP_ADDR"), "0.0.0.0:9000");
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 512);
    assert_int_equal(svc_config_int(config, "SVCT_OFFSET"), -5);
    assert_false(svc_config_bool(config, "SVCT_VERBOSE"));
    assert_string_equal(svc_config_str(config, "SVCT_MODE"), "fast");
    assert_int_equal(svc_log_level_parse(svc_config_str(config, "LOG_LEVEL")), SVC_LOG_DEBUG);
    assert_true(svc_config_is_set(config, "SVCT_HTTP_ADDR"));
    assert_true(svc_config_is_set(config, "SVCT_BATCH_MAX"));
    assert_false(svc_config_is_set(config, "SVCT_MODE"));
    svc_config_destroy(&config);
    assert_null(config);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  A flag beats the environment, which beats the default.

static void
test_precedence(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 256);
    assert_false(svc_config_is_set(config, "SVCT_BATCH_MAX"));

    setenv("SVCT_BATCH_MAX", "100", 1);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 100);
    assert_true(svc_config_is_set(config, "SVCT_BATCH_MAX"));

    assert_int_equal(s_load(config, "--svct-batch-max", "7", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 7);

    //  A valid flag hides an invalid environment value.
    setenv("SVCT_BATCH_MAX", "lots", 1);
    assert_int_equal(s_load(config, "--svct-batch-max=8", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 8);

    //  Each load starts again from the defaults.
    unsetenv("SVCT_BATCH_MAX");
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 256);
    assert_false(svc_config_is_set(config, "SVCT_BATCH_MAX"));
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  `--flag value` and `--flag=value`; '=' in values; repeats.

static void
test_flag_syntaxes(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    assert_int_equal(s_load(config, "--svct-http-addr", "10.0.0.1:80", "--svct-mode=safe", NULL),
                     SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_HTTP_ADDR"), "10.0.0.1:80");
    assert_string_equal(svc_config_str(config, "SVCT_MODE"), "safe");

    assert_int_equal(s_load(config, "--svct-http-addr=a=b", NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_HTTP_ADDR"), "a=b");

    assert_int_equal(s_load(config, "--svct-http-addr=", NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_HTTP_ADDR"), "");
    assert_true(svc_config_is_set(config, "SVCT_HTTP_ADDR"));

    //  A value that starts with "--" needs the '=' form.
    assert_int_equal(s_load(config, "--svct-http-addr=--odd", NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_HTTP_ADDR"), "--odd");

    //  Negative numbers are values, not flags.
    assert_int_equal(s_load(config, "--svct-offset", "-42", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_OFFSET"), -42);

    //  The last of a repeated flag wins.
    assert_int_equal(s_load(config, "--svct-mode", "safe", "--svct-mode=paranoid", NULL),
                     SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_MODE"), "paranoid");
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Every bool spelling, bare flags, and a non-bool.

static void
test_bool_forms(void **state)
{
    (void) state;
    const char *truths[] = {"true", "1", "yes", "on", "TRUE", "Yes", "ON"};
    const char *lies[] = {"false", "0", "no", "off", "False", "NO", "Off"};
    svc_config_t *config = s_order_config();
    for (size_t index = 0; index < sizeof(truths) / sizeof(truths[0]); index++) {
        setenv("SVCT_VERBOSE", truths[index], 1);
        assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
        assert_true(svc_config_bool(config, "SVCT_VERBOSE"));
        setenv("SVCT_VERBOSE", lies[index], 1);
        assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
        assert_false(svc_config_bool(config, "SVCT_VERBOSE"));
    }
    unsetenv("SVCT_VERBOSE");

    assert_int_equal(s_load(config, "--svct-verbose", NULL), SVC_CONFIG_OK);
    assert_true(svc_config_bool(config, "SVCT_VERBOSE"));
    assert_int_equal(s_load(config, "--svct-verbose", "--svct-mode", "safe", NULL), SVC_CONFIG_OK);
    assert_true(svc_config_bool(config, "SVCT_VERBOSE"));
    assert_string_equal(svc_config_str(config, "SVCT_MODE"), "safe");
    assert_int_equal(s_load(config, "--svct-verbose", "off", NULL), SVC_CONFIG_OK);
    assert_false(svc_config_bool(config, "SVCT_VERBOSE"));
    assert_int_equal(s_load(config, "--svct-verbose=no", NULL), SVC_CONFIG_OK);
    assert_false(svc_config_bool(config, "SVCT_VERBOSE"));

    //  A bare flag beats a false environment value.
    setenv("SVCT_VERBOSE", "false", 1);
    assert_int_equal(s_load(config, "--svct-verbose", NULL), SVC_CONFIG_OK);
    assert_true(svc_config_bool(config, "SVCT_VERBOSE"));
    svc_config_destroy(&config);

    s_assert_invalid("--svct-verbose=maybe",
                     "invalid value \"maybe\" for --svct-verbose (SVCT_VERBOSE): not a bool");
    s_assert_invalid("--svct-verbose=", "invalid value \"\" for --svct-verbose (SVCT_VERBOSE)");
    s_assert_invalid("--svct-verbose=2", "for --svct-verbose (SVCT_VERBOSE): not a bool");
}

//  ---------------------------------------------------------------------------
//  Integers: whole decimal text only, inside the range when one is set.

static void
test_int_validation(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    assert_int_equal(s_load(config, "--svct-batch-max=1", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 1);
    assert_int_equal(s_load(config, "--svct-batch-max=65536", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 65536);
    assert_int_equal(s_load(config, "--svct-batch-max=+12", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_BATCH_MAX"), 12);

    //  min and max both 0: any int64.
    assert_int_equal(s_load(config, "--svct-offset=9223372036854775807", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_OFFSET"), INT64_MAX);
    assert_int_equal(s_load(config, "--svct-offset=-9223372036854775808", NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_config_int(config, "SVCT_OFFSET"), INT64_MIN);
    svc_config_destroy(&config);

    const char *range = "for --svct-batch-max (SVCT_BATCH_MAX): out of range 1..65536";
    s_assert_invalid("--svct-batch-max=0", range);
    s_assert_invalid("--svct-batch-max=65537", range);
    s_assert_invalid("--svct-batch-max=-1", range);
    const char *junk = "for --svct-batch-max (SVCT_BATCH_MAX): not an integer";
    s_assert_invalid("--svct-batch-max=12abc", junk);
    s_assert_invalid("--svct-batch-max=", junk);
    s_assert_invalid("--svct-batch-max= 12", junk);
    s_assert_invalid("--svct-batch-max=12 ", junk);
    s_assert_invalid("--svct-batch-max=0x10", junk);
    s_assert_invalid("--svct-batch-max=1.5", junk);
    s_assert_invalid("--svct-batch-max=-", junk);
    s_assert_invalid("--svct-offset=9223372036854775808",
                     "for --svct-offset (SVCT_OFFSET): out of the 64-bit integer range");

    //  The environment is checked the same way.
    setenv("SVCT_BATCH_MAX", "", 1);
    s_assert_invalid("--svct-mode=safe", "invalid value \"\" for --svct-batch-max");
    unsetenv("SVCT_BATCH_MAX");
}

//  ---------------------------------------------------------------------------
//  Strings with choices accept exactly one of them.

static void
test_string_choices(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    const char *modes[] = {"fast", "safe", "paranoid"};
    for (size_t index = 0; index < 3; index++) {
        setenv("SVCT_MODE", modes[index], 1);
        assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
        assert_string_equal(svc_config_str(config, "SVCT_MODE"), modes[index]);
    }
    svc_config_destroy(&config);

    const char *rule = "for --svct-mode (SVCT_MODE): not one of fast|safe|paranoid";
    s_assert_invalid("--svct-mode=slow", rule);
    s_assert_invalid("--svct-mode=saf", rule);
    s_assert_invalid("--svct-mode=safer", rule);
    s_assert_invalid("--svct-mode=FAST", rule);
    s_assert_invalid("--svct-mode=", rule);
    s_assert_invalid("--svct-mode=fast|safe", rule);
}

//  ---------------------------------------------------------------------------
//  An option without default must come from the environment or a flag.

static void
test_required_option(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    svc_config_add(config, s_required_options);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_INVALID);
    assert_string_equal(svc_config_error(config),
                        "missing required option --svct-db-url (SVCT_DB_URL)");

    setenv("SVCT_DB_URL", "postgresql:///orders", 1);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_null(svc_config_error(config));
    assert_string_equal(svc_config_str(config, "SVCT_DB_URL"), "postgresql:///orders");
    unsetenv("SVCT_DB_URL");

    assert_int_equal(s_load(config, "--svct-db-url", "postgresql://db/o", NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_DB_URL"), "postgresql://db/o");
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Unknown flags, stray arguments and missing values are invalid.

static void
test_bad_arguments(void **state)
{
    (void) state;
    s_assert_invalid("--svct-bogus=1", "unknown flag --svct-bogus");
    s_assert_invalid("--SVCT-MODE=safe", "unknown flag --SVCT-MODE");
    s_assert_invalid("--svct_mode=safe", "unknown flag --svct_mode");
    s_assert_invalid("stray", "unexpected argument \"stray\"");
    s_assert_invalid("-v", "unexpected argument \"-v\"");
    s_assert_invalid("--", "unexpected argument \"--\"");
    s_assert_invalid("--svct-mode", "missing value for --svct-mode (SVCT_MODE)");

    svc_config_t *config = s_order_config();
    assert_int_equal(s_load(config, "--svct-mode", "--svct-verbose", NULL), SVC_CONFIG_INVALID);
    assert_string_equal(svc_config_error(config), "missing value for --svct-mode (SVCT_MODE)");
    assert_int_equal(s_load(config, "--svct-mode", "safe", "extra", NULL), SVC_CONFIG_INVALID);
    assert_string_equal(svc_config_error(config),
                        "unexpected argument \"extra\": options are --name value");
    //  A successful load clears the message.
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_null(svc_config_error(config));
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  The message names the option both ways, the value and the rule.

static void
test_error_message_format(void **state)
{
    (void) state;
    static const svc_option_t options[] = {{.name = "ORDER_BATCH_MAX",
                                            .type = SVC_OPT_INT,
                                            .default_value = "256",
                                            .help = "Largest group-commit batch",
                                            .min = 1,
                                            .max = 65536},
                                           {.name = NULL}};
    svc_config_t *config = svc_config_new("order-service", "Order service");
    svc_config_add(config, options);
    assert_int_equal(s_load(config, "--order-batch-max", "abc", NULL), SVC_CONFIG_INVALID);
    assert_string_equal(svc_config_error(config),
                        "invalid value \"abc\" for --order-batch-max (ORDER_BATCH_MAX): "
                        "not an integer");

    //  A long value is cut in the message.
    char long_value[200];
    memset(long_value, '9', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    long_value[100] = 'x';
    assert_int_equal(s_load(config, "--order-batch-max", long_value, NULL), SVC_CONFIG_INVALID);
    assert_true(strlen(svc_config_error(config)) < 160);
    assert_non_null(strstr(svc_config_error(config), "...\" for --order-batch-max"));
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  --help lists every option with flag, environment name, type, default
//  or "required", range or choices, and help.

static void
test_help_lists_every_option(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    svc_config_add(config, s_required_options);
    svc_config_add(config, svc_config_common_options);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    svc_config_print_help(config, stream);
    assert_int_equal(fclose(stream), 0);

    const char *expected[] = {
        "Usage: order-service [--option value | --option=value]...\nOrder service\n",
        "  --svct-http-addr <string>\n"
        "        env SVCT_HTTP_ADDR, default \"127.0.0.1:8080\"\n"
        "        HTTP listen address\n",
        "  --svct-batch-max <int>\n"
        "        env SVCT_BATCH_MAX, default 256, range 1..65536\n"
        "        Largest group-commit batch\n",
        "  --svct-offset <int>\n"
        "        env SVCT_OFFSET, default -5\n"
        "        Any integer\n",
        "  --svct-verbose [<bool>]\n"
        "        env SVCT_VERBOSE, default false\n"
        "        Chatty\n",
        "  --svct-mode <string>\n"
        "        env SVCT_MODE, default \"fast\", one of fast|safe|paranoid\n"
        "        Commit mode\n",
        "  --svct-db-url <string>\n"
        "        env SVCT_DB_URL, required\n"
        "        PostgreSQL connection URI\n",
        "  --log-level <string>\n"
        "        env LOG_LEVEL, default \"info\", one of error|warn|info|debug\n",
        "  --instance-id <string>\n"
        "        env INSTANCE_ID, default \"\"\n"
        "        Name of this instance in logs; empty means derive it from the host name\n",
        "  --help\n",
        "  --version\n",
    };
    for (size_t index = 0; index < sizeof(expected) / sizeof(expected[0]); index++) {
        if (strstr(text, expected[index]) == NULL) {
            fail_msg("help text lacks:\n%s\nin:\n%s", expected[index], text);
        }
    }
    freen(text);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  --help and --version stop the load, even next to bad arguments.

static void
test_help_and_version_flags(void **state)
{
    (void) state;
    svc_config_t *config = s_order_config();
    svc_config_add(config, s_required_options);
    assert_int_equal(s_load(config, "--help", NULL), SVC_CONFIG_HELP);
    assert_int_equal(s_load(config, "--svct-bogus", "--version", NULL), SVC_CONFIG_HELP);
    assert_int_equal(s_load(config, "stray", "--help", NULL), SVC_CONFIG_HELP);
    assert_null(svc_config_error(config));
    //  As a value after '=' it is just text.
    assert_int_equal(s_load(config, "--svct-db-url=--help", NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "SVCT_DB_URL"), "--help");
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  The common options: LOG_LEVEL and INSTANCE_ID.

static void
test_common_options(void **state)
{
    (void) state;
    svc_config_t *config = svc_config_new("billing-service", "Billing service");
    svc_config_add(config, svc_config_common_options);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_string_equal(svc_config_str(config, "LOG_LEVEL"), "info");
    assert_string_equal(svc_config_str(config, "INSTANCE_ID"), "");

    setenv("LOG_LEVEL", "warn", 1);
    setenv("INSTANCE_ID", "billing-2", 1);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_OK);
    assert_int_equal(svc_log_level_parse(svc_config_str(config, "LOG_LEVEL")), SVC_LOG_WARN);
    assert_string_equal(svc_config_str(config, "INSTANCE_ID"), "billing-2");

    setenv("LOG_LEVEL", "verbose", 1);
    assert_int_equal(s_load(config, NULL), SVC_CONFIG_INVALID);
    assert_string_equal(svc_config_error(config),
                        "invalid value \"verbose\" for --log-level (LOG_LEVEL): "
                        "not one of error|warn|info|debug");
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Adds the same name twice (run in a child process).

static void
s_add_clashing_table(void)
{
    svc_config_t *config = s_order_config();
    svc_config_add(config, s_clashing_options);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Adds the common table twice (run in a child process).

static void
s_add_common_twice(void)
{
    svc_config_t *config = svc_config_new("p", "d");
    svc_config_add(config, svc_config_common_options);
    svc_config_add(config, svc_config_common_options);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Adds an option whose default breaks its range (run in a child process).

static void
s_add_bad_default(void)
{
    svc_config_t *config = svc_config_new("p", "d");
    svc_config_add(config, s_bad_default_options);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Asks for an option never added (run in a child process).

static void
s_get_unknown(void)
{
    svc_config_t *config = s_order_config();
    const char *value = svc_config_str(config, "SVCT_NOPE");
    (void) value;
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Reads an int option as a string (run in a child process).

static void
s_get_wrong_type(void)
{
    svc_config_t *config = s_order_config();
    const char *value = svc_config_str(config, "SVCT_BATCH_MAX");
    (void) value;
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Adds the order and common tables correctly (run in a child process).

static void
s_add_correctly(void)
{
    svc_config_t *config = s_order_config();
    svc_config_add(config, svc_config_common_options);
    svc_config_destroy(&config);
}

//  ---------------------------------------------------------------------------
//  Programmer errors assert.

static void
test_programmer_errors_assert(void **state)
{
    (void) state;
    assert_true(s_aborts(s_add_clashing_table));
    assert_true(s_aborts(s_add_common_twice));
    assert_true(s_aborts(s_add_bad_default));
    assert_true(s_aborts(s_get_unknown));
    assert_true(s_aborts(s_get_wrong_type));
    assert_false(s_aborts(s_add_correctly));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_example, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_precedence, s_clean_environment, s_clean_environment),
        cmocka_unit_test_setup_teardown(test_flag_syntaxes, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_bool_forms, s_clean_environment, s_clean_environment),
        cmocka_unit_test_setup_teardown(test_int_validation, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_string_choices, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_required_option, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_bad_arguments, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_error_message_format, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_help_lists_every_option, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_help_and_version_flags, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_common_options, s_clean_environment,
                                        s_clean_environment),
        cmocka_unit_test_setup_teardown(test_programmer_errors_assert, s_clean_environment,
                                        s_clean_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
