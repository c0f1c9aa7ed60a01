/*  =========================================================================
    svc_config - configuration from environment variables and long flags

    The configuration keeps one entry per declared option: the option (from
    the caller's static table), its flag spelling, and its current text and
    parsed value. svc_config_load resets every entry to its default, applies
    the environment, then the flags, then checks every value against its
    type and rule, so the first error found is the one reported. Nothing is
    kept outside the svc_config_t: there is no global or static state.

    Flag syntax, decided here and stated in --help:
    - `--name value` and `--name=value`. A token that starts with "--" is
      always a flag, never a value, so `--name --other` is a missing value;
      use `--name=--text` for a value that starts with "--".
    - A bool flag alone means true; `--name false` and `--name=off` also work.
    - A flag given twice: the last one wins.
    - `--help` and `--version` win over everything else on the line, so
      they work even when another flag is wrong.
    - Empty environment variables count as set: `ORDER_BATCH_MAX=` is an
      invalid integer, not the default (there are no silent defaults).
    =========================================================================
*/
#include "svc_classes.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <strings.h>

//  At most this many bytes of an offending value are quoted in a message.
#define S_QUOTE_MAX 64

//  The two flags every program answers without an option entry.
#define S_FLAG_HELP "--help"
#define S_FLAG_VERSION "--version"

//  One declared option and its value after the last load.
typedef struct {
    const svc_option_t *option; //  borrowed from the caller's table
    char *flag;                 //  owned: flag without dashes, "order-http-addr"
    char *value;                //  owned: current text, NULL when unset and required
    bool is_set;                //  value came from the environment or a flag
    int64_t number;             //  SVC_OPT_INT: parsed value
    bool truth;                 //  SVC_OPT_BOOL: parsed value
} entry_t;

struct svc_config {
    char *program;      //  owned copy: program name for --help and --version
    char *description;  //  owned copy: one line for --help
    entry_t *entries;   //  owned array of entry_count entries, in order added
    size_t entry_count; //  number of entries
    char *error;        //  owned: why the last load failed, or NULL
};

//  Options every process has.
const svc_option_t svc_config_common_options[] = {
    {.name = "LOG_LEVEL",
     .type = SVC_OPT_STRING,
     .default_value = "info",
     .help = "Lowest level of log line written to stdout",
     .choices = "error|warn|info|debug"},
    {.name = "INSTANCE_ID",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Name of this instance in logs; empty means derive it from the host name"},
    {.name = NULL}};

//  Words accepted for a bool, true and false alternating.
static const char *const s_bool_words[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};

//  ---------------------------------------------------------------------------
//  Create an empty configuration.

svc_config_t *
svc_config_new(const char *program, const char *description)
{
    assert(program);
    assert(description);
    svc_config_t *self = (svc_config_t *) zmalloc(sizeof(svc_config_t));
    self->program = strdup(program);
    self->description = strdup(description);
    assert(self->program && self->description);
    return self;
}

//  ---------------------------------------------------------------------------
//  Destroy a configuration.

void
svc_config_destroy(svc_config_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        svc_config_t *self = *self_p;
        zstr_free(&self->error);
        for (size_t index = 0; index < self->entry_count; index++) {
            freen(self->entries[index].value);
            freen(self->entries[index].flag);
        }
        freen(self->entries);
        freen(self->description);
        freen(self->program);
        freen(self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------------
//  Parse a bool word into `truth`. Returns 0, or -1 if not a bool word.

static int
s_parse_bool(const char *text, bool *truth)
{
    for (size_t index = 0; index < sizeof(s_bool_words) / sizeof(s_bool_words[0]); index++) {
        if (strcasecmp(text, s_bool_words[index]) == 0) {
            *truth = index % 2 == 0;
            return 0;
        }
    }
    return -1;
}

//  ---------------------------------------------------------------------------
//  Parse a whole decimal int64 into `number`. strtoll alone would accept
//  leading blanks and stop at trailing junk, so both are checked here.
//  Returns NULL, or the rule that was broken.

static const char *
s_parse_int(const char *text, int64_t *number)
{
    const char *digits = (*text == '-' || *text == '+') ? text + 1 : text;
    if (*digits < '0' || *digits > '9') {
        return "not an integer";
    }
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (*end != '\0') {
        return "not an integer";
    }
    if (errno == ERANGE) {
        return "out of the 64-bit integer range";
    }
    *number = (int64_t) parsed;
    return NULL;
}

//  ---------------------------------------------------------------------------
//  True if `text` is exactly one of the '|'-separated `choices`.

static bool
s_is_choice(const char *choices, const char *text)
{
    size_t length = strlen(text);
    const char *choice = choices;
    while (true) {
        const char *bar = strchr(choice, '|');
        size_t choice_length = bar ? (size_t) (bar - choice) : strlen(choice);
        if (choice_length == length && strncmp(choice, text, length) == 0) {
            return true;
        }
        if (bar == NULL) {
            return false;
        }
        choice = bar + 1;
    }
}

//  ---------------------------------------------------------------------------
//  Check `text` against the option's type and rule, storing the parsed
//  number or bool in `entry`. Returns NULL, or the rule that was broken;
//  a range rule is written into `rule` (size `rule_size`).

static const char *
s_entry_check(entry_t *entry, const char *text, char *rule, size_t rule_size)
{
    const svc_option_t *option = entry->option;
    if (option->type == SVC_OPT_BOOL) {
        return s_parse_bool(text, &entry->truth) == 0 ? NULL
                                                      : "not a bool (true|false|1|0|yes|no|on|off)";
    }
    if (option->type == SVC_OPT_INT) {
        const char *broken = s_parse_int(text, &entry->number);
        bool ranged = option->min != 0 || option->max != 0;
        if (broken == NULL && ranged &&
            (entry->number < option->min || entry->number > option->max)) {
            (void) snprintf(rule, rule_size, "out of range %" PRId64 "..%" PRId64, option->min,
                            option->max);
            broken = rule;
        }
        return broken;
    }
    if (option->choices && !s_is_choice(option->choices, text)) {
        (void) snprintf(rule, rule_size, "not one of %s", option->choices);
        return rule;
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Find the entry named `name` (environment spelling), or NULL.

static entry_t *
s_find_by_name(const svc_config_t *self, const char *name)
{
    for (size_t index = 0; index < self->entry_count; index++) {
        if (streq(self->entries[index].option->name, name)) {
            return &self->entries[index];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Find the entry whose flag is the `length` bytes at `flag`, or NULL.

static entry_t *
s_find_by_flag(const svc_config_t *self, const char *flag, size_t length)
{
    for (size_t index = 0; index < self->entry_count; index++) {
        const char *candidate = self->entries[index].flag;
        if (strlen(candidate) == length && strncmp(candidate, flag, length) == 0) {
            return &self->entries[index];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Replace the entry's text with a copy of `text` (NULL: unset).

static void
s_entry_set(entry_t *entry, const char *text, bool is_set)
{
    freen(entry->value);
    if (text) {
        entry->value = strdup(text);
        assert(entry->value);
    }
    entry->is_set = is_set;
}

//  ---------------------------------------------------------------------------
//  Flag spelling of an environment name: lower case, '_' -> '-'.
//  Caller owns return value.

static char *
s_flag_from_name(const char *name)
{
    char *flag = strdup(name);
    assert(flag);
    for (char *cursor = flag; *cursor; cursor++) {
        *cursor = (char) (*cursor == '_' ? '-' : tolower((unsigned char) *cursor));
    }
    return flag;
}

//  ---------------------------------------------------------------------------
//  True if `name` is a usable environment name: [A-Z][A-Z0-9_]*.

static bool
s_is_valid_name(const char *name)
{
    if (*name < 'A' || *name > 'Z') {
        return false;
    }
    for (const char *cursor = name; *cursor; cursor++) {
        bool upper = *cursor >= 'A' && *cursor <= 'Z';
        bool digit = *cursor >= '0' && *cursor <= '9';
        if (!upper && !digit && *cursor != '_') {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------------
//  Assert that a declared option is well formed, including its default.

static void
s_assert_option(const svc_config_t *self, const svc_option_t *option)
{
    assert(s_is_valid_name(option->name));
    assert(!streq(option->name, "HELP") && !streq(option->name, "VERSION"));
    assert(s_find_by_name(self, option->name) == NULL); //  same name added twice
    assert(option->type == SVC_OPT_STRING || option->type == SVC_OPT_INT ||
           option->type == SVC_OPT_BOOL);
    assert(option->help);
    assert(option->choices == NULL || option->type == SVC_OPT_STRING);
    assert(option->type != SVC_OPT_INT || option->min <= option->max);
}

//  ---------------------------------------------------------------------------
//  Add a table of options.

void
svc_config_add(svc_config_t *self, const svc_option_t *options)
{
    assert(self);
    assert(options);
    size_t added = 0;
    while (options[added].name) {
        added++;
    }
    entry_t *entries = (entry_t *) zmalloc((self->entry_count + added + 1) * sizeof(entry_t));
    if (self->entry_count > 0) {
        memcpy(entries, self->entries, self->entry_count * sizeof(entry_t));
    }
    freen(self->entries);
    self->entries = entries;
    for (size_t index = 0; index < added; index++) {
        const svc_option_t *option = &options[index];
        s_assert_option(self, option);
        entry_t *entry = &self->entries[self->entry_count++];
        entry->option = option;
        entry->flag = s_flag_from_name(option->name);
        s_entry_set(entry, option->default_value, false);
        if (entry->value) {
            char rule[128];
            const char *broken = s_entry_check(entry, entry->value, rule, sizeof(rule));
            assert(broken == NULL); //  the default breaks its own rule
        }
    }
}

//  ---------------------------------------------------------------------------
//  Record why the load failed. Returns SVC_CONFIG_INVALID.

static svc_config_rc_t s_fail(svc_config_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static svc_config_rc_t
s_fail(svc_config_t *self, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    zstr_free(&self->error);
    self->error = zsys_vprintf(format, args);
    va_end(args);
    assert(self->error);
    return SVC_CONFIG_INVALID;
}

//  ---------------------------------------------------------------------------
//  Reset every entry to its default, then apply the environment.

static void
s_load_environment(svc_config_t *self)
{
    for (size_t index = 0; index < self->entry_count; index++) {
        entry_t *entry = &self->entries[index];
        const char *text = getenv(entry->option->name);
        if (text) {
            s_entry_set(entry, text, true);
        } else {
            s_entry_set(entry, entry->option->default_value, false);
        }
    }
}

//  ---------------------------------------------------------------------------
//  True if `arg` is a flag token (starts with "--").

static bool
s_is_flag(const char *arg)
{
    return strncmp(arg, "--", 2) == 0;
}

//  ---------------------------------------------------------------------------
//  Apply the flags in argv[1..argc-1].

static svc_config_rc_t
s_load_flags(svc_config_t *self, int argc, char **argv)
{
    for (int index = 1; index < argc; index++) {
        const char *arg = argv[index];
        if (!s_is_flag(arg) || arg[2] == '\0') {
            return s_fail(self, "unexpected argument \"%.*s\": options are --name value",
                          S_QUOTE_MAX, arg);
        }
        const char *name = arg + 2;
        const char *equals = strchr(name, '=');
        size_t length = equals ? (size_t) (equals - name) : strlen(name);
        entry_t *entry = s_find_by_flag(self, name, length);
        if (entry == NULL) {
            int shown = length < S_QUOTE_MAX ? (int) length : S_QUOTE_MAX;
            return s_fail(self, "unknown flag --%.*s (see --help)", shown, name);
        }
        const char *value = equals ? equals + 1 : NULL;
        bool has_next = index + 1 < argc && !s_is_flag(argv[index + 1]);
        if (value == NULL && has_next) {
            value = argv[++index];
        } else if (value == NULL && entry->option->type == SVC_OPT_BOOL) {
            value = "true";
        } else if (value == NULL) {
            return s_fail(self, "missing value for --%s (%s)", entry->flag, entry->option->name);
        }
        s_entry_set(entry, value, true);
    }
    return SVC_CONFIG_OK;
}

//  ---------------------------------------------------------------------------
//  Check every value: required ones are set, all obey their rule.

static svc_config_rc_t
s_check_values(svc_config_t *self)
{
    for (size_t index = 0; index < self->entry_count; index++) {
        entry_t *entry = &self->entries[index];
        if (entry->value == NULL) {
            return s_fail(self, "missing required option --%s (%s)", entry->flag,
                          entry->option->name);
        }
        char rule[128];
        const char *broken = s_entry_check(entry, entry->value, rule, sizeof(rule));
        if (broken) {
            bool cut = strlen(entry->value) > S_QUOTE_MAX;
            return s_fail(self, "invalid value \"%.*s%s\" for --%s (%s): %s", S_QUOTE_MAX,
                          entry->value, cut ? "..." : "", entry->flag, entry->option->name, broken);
        }
    }
    return SVC_CONFIG_OK;
}

//  ---------------------------------------------------------------------------
//  Load the environment and flags.

svc_config_rc_t
svc_config_load(svc_config_t *self, int argc, char **argv)
{
    assert(self);
    assert(argc >= 0);
    assert(argc == 0 || argv);
    zstr_free(&self->error);
    for (int index = 1; index < argc; index++) {
        if (streq(argv[index], S_FLAG_HELP)) {
            svc_config_print_help(self, stdout);
            return SVC_CONFIG_HELP;
        }
        if (streq(argv[index], S_FLAG_VERSION)) {
            (void) printf("%s %s\n", self->program, SVC_VERSION);
            return SVC_CONFIG_HELP;
        }
    }
    s_load_environment(self);
    svc_config_rc_t rc = s_load_flags(self, argc, argv);
    if (rc == SVC_CONFIG_OK) {
        rc = s_check_values(self);
    }
    return rc;
}

//  ---------------------------------------------------------------------------
//  The message of the last failed load.

const char *
svc_config_error(const svc_config_t *self)
{
    assert(self);
    return self->error;
}

//  ---------------------------------------------------------------------------
//  Print the second help line of an option: environment name, default
//  and rule.

static void
s_print_rule(const svc_option_t *option, FILE *stream)
{
    (void) fprintf(stream, "        env %s, ", option->name);
    if (option->default_value == NULL) {
        (void) fprintf(stream, "required");
    } else if (option->type == SVC_OPT_STRING) {
        (void) fprintf(stream, "default \"%s\"", option->default_value);
    } else {
        (void) fprintf(stream, "default %s", option->default_value);
    }
    if (option->type == SVC_OPT_INT && (option->min != 0 || option->max != 0)) {
        (void) fprintf(stream, ", range %" PRId64 "..%" PRId64, option->min, option->max);
    }
    if (option->choices) {
        (void) fprintf(stream, ", one of %s", option->choices);
    }
    (void) fprintf(stream, "\n");
}

//  ---------------------------------------------------------------------------
//  Print --help text.

void
svc_config_print_help(const svc_config_t *self, FILE *stream)
{
    assert(self);
    assert(stream);
    static const char *const type_names[] = {
        [SVC_OPT_STRING] = "<string>", [SVC_OPT_INT] = "<int>", [SVC_OPT_BOOL] = "[<bool>]"};
    (void) fprintf(stream, "Usage: %s [--option value | --option=value]...\n", self->program);
    (void) fprintf(stream, "%s\n\n", self->description);
    (void) fprintf(stream, "Each option is taken from its flag, else its environment variable,\n"
                           "else its default. A bool flag alone means true.\n\n");
    for (size_t index = 0; index < self->entry_count; index++) {
        const entry_t *entry = &self->entries[index];
        (void) fprintf(stream, "  --%s %s\n", entry->flag, type_names[entry->option->type]);
        s_print_rule(entry->option, stream);
        (void) fprintf(stream, "        %s\n", entry->option->help);
    }
    (void) fprintf(stream, "  --help\n        print this help and exit\n");
    (void) fprintf(stream, "  --version\n        print the program version and exit\n");
}

//  ---------------------------------------------------------------------------
//  Find an option that must exist with the given type.

static const entry_t *
s_entry_of_type(const svc_config_t *self, const char *name, svc_option_type_t type)
{
    assert(self);
    assert(name);
    const entry_t *entry = s_find_by_name(self, name);
    assert(entry);                       //  option never added
    assert(entry->option->type == type); //  getter of the wrong type
    return entry;
}

//  ---------------------------------------------------------------------------
//  String value of an option.

const char *
svc_config_str(const svc_config_t *self, const char *name)
{
    return s_entry_of_type(self, name, SVC_OPT_STRING)->value;
}

//  ---------------------------------------------------------------------------
//  Integer value of an option.

int64_t
svc_config_int(const svc_config_t *self, const char *name)
{
    return s_entry_of_type(self, name, SVC_OPT_INT)->number;
}

//  ---------------------------------------------------------------------------
//  Bool value of an option.

bool
svc_config_bool(const svc_config_t *self, const char *name)
{
    return s_entry_of_type(self, name, SVC_OPT_BOOL)->truth;
}

//  ---------------------------------------------------------------------------
//  True if the value came from the environment or a flag.

bool
svc_config_is_set(const svc_config_t *self, const char *name)
{
    assert(self);
    assert(name);
    const entry_t *entry = s_find_by_name(self, name);
    assert(entry);
    return entry->is_set;
}
