/*  =========================================================================
    shim_json - JSON with exact numbers, case-insensitive keys and the
    value formats of .NET: GUIDs, decimals, ISO-8601 times (shim_time)

    The number trick (see the header) needs a lexer that knows only where
    strings and number tokens are; jansson still does all the real parsing
    of the rewritten text, so what it accepts is what JSON accepts, plus
    number tokens that the lexer has checked against the grammar itself.
    =========================================================================
*/
#include "shim_classes.h"

#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

//  What a marked number looks like inside dumped JSON: a string that
//  starts with the escape of NUL.
#define S_MARK_ESCAPE "\\u0000"
#define S_MARK_ESCAPE_SIZE 6

//  What the lexer writes around a number token: "\u0000 and ".
#define S_MARK_OVERHEAD (1 + S_MARK_ESCAPE_SIZE + 1)

//  Largest significand and point position an int64 amount can have:
//  19 integer digits, 18 fraction digits.
#define S_AMOUNT_INTEGER_MAX 19
#define S_AMOUNT_PLAIN_SIZE 48

//  Exponents are clamped here while read; far beyond any amount, far
//  below any overflow of long arithmetic with SHIM_NUMBER_MAX digits.
#define S_EXPONENT_CLAMP 100000

//  ---------------------------------------------------------------------
//  True if `c` may continue a number token (the lexer's greedy run; the
//  grammar check decides whether the run is a number).

static bool
s_is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

//  ---------------------------------------------------------------------
//  Count ASCII digits at `text`, at most up to `end`.

static size_t
s_digits(const char *text, const char *end)
{
    const char *at = text;
    while (at < end && *at >= '0' && *at <= '9') {
        at++;
    }
    return (size_t) (at - text);
}

//  ---------------------------------------------------------------------
//  Check the JSON number grammar.

bool
shim_json_number_valid(const char *text, size_t size)
{
    assert(text);
    const char *at = text;
    const char *end = text + size;
    if (at < end && *at == '-') {
        at++;
    }
    size_t count = s_digits(at, end);
    if (count == 0 || (count > 1 && *at == '0')) {
        return false;
    }
    at += count;
    if (at < end && *at == '.') {
        at++;
        count = s_digits(at, end);
        if (count == 0) {
            return false;
        }
        at += count;
    }
    if (at < end && (*at == 'e' || *at == 'E')) {
        at++;
        if (at < end && (*at == '+' || *at == '-')) {
            at++;
        }
        count = s_digits(at, end);
        if (count == 0) {
            return false;
        }
        at += count;
    }
    return at == end;
}

//  ---------------------------------------------------------------------
//  Append `size` bytes to the rewrite, or only count them when `out` is
//  NULL.

static void
s_emit(char *out, size_t *written, const char *bytes, size_t size)
{
    if (out) {
        memcpy(out + *written, bytes, size);
    }
    *written += size;
}

//  ---------------------------------------------------------------------
//  Copy the string that starts at text[*at] (a '"'), escapes and all, and
//  move *at past its closing quote. Refuses "\u0000": a NUL inside a
//  string would look like a marked number. An unterminated string is
//  copied to the end; jansson then reports it.

static int
s_lex_string(
    const char *text, size_t size, size_t *at, char *out, size_t *written, shim_error_t *error)
{
    size_t start = (*at)++;
    while (*at < size && text[*at] != '"') {
        if (text[*at] == '\\') {
            if (*at + S_MARK_ESCAPE_SIZE <= size &&
                memcmp(text + *at, S_MARK_ESCAPE, S_MARK_ESCAPE_SIZE) == 0) {
                shim_error_set(error, SHIM_NOT_JSON, "not JSON: NUL character in a string");
                return -1;
            }
            *at += 2;
        } else {
            (*at)++;
        }
    }
    if (*at < size) {
        (*at)++;
    }
    s_emit(out, written, text + start, (*at > size ? size : *at) - start);
    return 0;
}

//  ---------------------------------------------------------------------
//  Rewrite the number token at text[*at] as a marked string and move *at
//  past it.

static int
s_lex_number(
    const char *text, size_t size, size_t *at, char *out, size_t *written, shim_error_t *error)
{
    size_t start = *at;
    while (*at < size && s_is_number_char(text[*at])) {
        (*at)++;
    }
    size_t length = *at - start;
    if (length > SHIM_NUMBER_MAX) {
        shim_error_set(error, SHIM_TOO_LARGE, "number longer than %d characters", SHIM_NUMBER_MAX);
        return -1;
    }
    if (!shim_json_number_valid(text + start, length)) {
        shim_error_set(error, SHIM_NOT_JSON, "not JSON: malformed number at byte %zu", start);
        return -1;
    }
    s_emit(out, written, "\"" S_MARK_ESCAPE, 1 + S_MARK_ESCAPE_SIZE);
    s_emit(out, written, text + start, length);
    s_emit(out, written, "\"", 1);
    return 0;
}

//  ---------------------------------------------------------------------
//  Rewrite `text` with every number token marked; with `out` NULL only
//  count. Returns 0 and the size in *written, or -1 with `error` set.

static int
s_mark_numbers(const char *text, size_t size, char *out, size_t *written, shim_error_t *error)
{
    *written = 0;
    size_t at = 0;
    while (at < size) {
        char c = text[at];
        int rc = 0;
        if (c == '"') {
            rc = s_lex_string(text, size, &at, out, written, error);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            rc = s_lex_number(text, size, &at, out, written, error);
        } else {
            s_emit(out, written, &c, 1);
            at++;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Parse JSON keeping numbers exact.

json_t *
shim_json_load(const char *text, size_t size, shim_error_t *error)
{
    assert(text || size == 0);
    assert(error);
    if (size > SHIM_BODY_MAX) {
        shim_error_set(error, SHIM_TOO_LARGE, "body of %zu bytes exceeds %d", size, SHIM_BODY_MAX);
        return NULL;
    }
    size_t rewritten = 0;
    if (s_mark_numbers(text, size, NULL, &rewritten, error) != 0) {
        return NULL;
    }
    char *marked = (char *) zmalloc(rewritten + 1);
    size_t again = 0;
    int rc = s_mark_numbers(text, size, marked, &again, error);
    assert(rc == 0 && again == rewritten);

    json_error_t parse_error;
    json_t *root = json_loadb(
        marked, rewritten, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &parse_error);
    freen(marked);
    if (!root) {
        //  jansson's text quotes at most a few bytes of the input near the
        //  error; the position refers to the rewritten text.
        shim_error_set(error, SHIM_NOT_JSON, "not JSON: %s", parse_error.text);
    }
    return root;
}

//  ---------------------------------------------------------------------
//  Writing: one growing buffer, filled by the shim's encoders directly
//  (shim_json_write_*) or by our own walk of a tree (shim_json_dump;
//  jansson's json_dumps, then a pass to unmark numbers, cost three times
//  as much, building the tree as much again: this is on the shim's event
//  path). The output is json_dumps's with JSON_COMPACT: keys in the
//  object's order, strings escaped as JSON requires (", \, control
//  characters; "/" and non-ASCII as they are).

#define S_WRITER_CAPACITY 2048

void
shim_json_writer_init(shim_json_writer_t *self)
{
    assert(self);
    *self = (shim_json_writer_t){.data = malloc(S_WRITER_CAPACITY), .capacity = S_WRITER_CAPACITY};
    assert(self->data);
}

char *
shim_json_writer_take(shim_json_writer_t *self, size_t *size_out)
{
    assert(self);
    assert(size_out);
    char *text = self->data;
    if (self->failed) {
        freen(text);
    } else {
        text[self->size] = '\0';
        *size_out = self->size;
    }
    *self = (shim_json_writer_t){0};
    return text;
}

static void
s_writer_put(shim_json_writer_t *self, const char *bytes, size_t size)
{
    if (self->size + size + 1 > self->capacity) {
        while (self->size + size + 1 > self->capacity) {
            self->capacity *= 2;
        }
        self->data = realloc(self->data, self->capacity);
        assert(self->data);
    }
    memcpy(self->data + self->size, bytes, size);
    self->size += size;
}

static void
s_writer_char(shim_json_writer_t *self, char c)
{
    if (self->size + 2 > self->capacity) {
        s_writer_put(self, &c, 1);
    } else {
        self->data[self->size++] = c;
    }
}

//  Before a value: the comma between elements (none after a key).
static void
s_writer_value_start(shim_json_writer_t *self)
{
    if (self->comma && !self->keyed) {
        s_writer_char(self, ',');
    }
    self->keyed = false;
    self->comma = true;
}

//  Length of the UTF-8 sequence at `at` (before `end`), or 0 if it is
//  not one: a lead byte, its continuation bytes, no overlong form, no
//  surrogate, nothing above U+10FFFF. `at` is not ASCII.
static size_t
s_utf8_sequence(const unsigned char *at, const unsigned char *end)
{
    size_t size = at[0] >= 0xF0 ? 4 : at[0] >= 0xE0 ? 3 : 2;
    if (at[0] < 0xC2 || at[0] > 0xF4 || (size_t) (end - at) < size) {
        return 0; //  a continuation byte, an overlong 2-byte lead, or past U+10FFFF
    }
    uint32_t code = at[0] & (0x7Fu >> size);
    for (size_t index = 1; index < size; index++) {
        if ((at[index] & 0xC0) != 0x80) {
            return 0;
        }
        code = code << 6 | (at[index] & 0x3Fu);
    }
    static const uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < minimum[size] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        return 0;
    }
    return size;
}

//  A string (or key) with its quotes, escaped. Returns 0, or -1 if it is
//  not UTF-8 (what was written of it stays: the writer has failed).
static int
s_writer_string(shim_json_writer_t *self, const char *text, size_t length)
{
    s_writer_char(self, '"');
    const unsigned char *bytes = (const unsigned char *) text;
    size_t start = 0;
    for (size_t at = 0; at < length; at++) {
        unsigned char c = bytes[at];
        if (c >= 0x80) {
            size_t size = s_utf8_sequence(bytes + at, bytes + length);
            if (size == 0) {
                return -1;
            }
            at += size - 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        s_writer_put(self, text + start, at - start);
        char escape[8];
        const char *shortcut = c == '"'    ? "\\\""
                               : c == '\\' ? "\\\\"
                               : c == '\b' ? "\\b"
                               : c == '\f' ? "\\f"
                               : c == '\n' ? "\\n"
                               : c == '\r' ? "\\r"
                               : c == '\t' ? "\\t"
                                           : NULL;
        if (shortcut) {
            s_writer_put(self, shortcut, 2);
        } else {
            int written = snprintf(escape, sizeof escape, "\\u%04X", c);
            s_writer_put(self, escape, (size_t) written);
        }
        start = at + 1;
    }
    s_writer_put(self, text + start, length - start);
    s_writer_char(self, '"');
    return 0;
}

void
shim_json_write_open(shim_json_writer_t *self, char bracket)
{
    assert(self);
    assert(bracket == '{' || bracket == '[');
    s_writer_value_start(self);
    s_writer_char(self, bracket);
    self->comma = false;
}

void
shim_json_write_close(shim_json_writer_t *self, char bracket)
{
    assert(self);
    assert(bracket == '}' || bracket == ']');
    assert(!self->keyed);
    s_writer_char(self, bracket);
    self->comma = true;
}

void
shim_json_write_key(shim_json_writer_t *self, const char *key)
{
    assert(self);
    assert(key);
    assert(!self->keyed);
    if (self->comma) {
        s_writer_char(self, ',');
    }
    int rc = s_writer_string(self, key, strlen(key));
    assert(rc == 0); //  our own names
    s_writer_char(self, ':');
    self->keyed = true;
}

int
shim_json_write_string(shim_json_writer_t *self, const char *text)
{
    assert(self);
    assert(text);
    s_writer_value_start(self);
    if (s_writer_string(self, text, strlen(text)) != 0) {
        self->failed = true;
        return -1;
    }
    return 0;
}

void
shim_json_write_null(shim_json_writer_t *self)
{
    assert(self);
    s_writer_value_start(self);
    s_writer_put(self, "null", 4);
}

//  An integer's digits, by hand rather than snprintf: several per message.
static void
s_writer_integer(shim_json_writer_t *self, int64_t number)
{
    uint64_t magnitude = number < 0 ? 0 - (uint64_t) number : (uint64_t) number;
    char digits[24];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char) ('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (number < 0) {
        digits[--at] = '-';
    }
    s_writer_put(self, digits + at, sizeof digits - at);
}

void
shim_json_write_integer(shim_json_writer_t *self, int64_t value)
{
    assert(self);
    s_writer_value_start(self);
    s_writer_integer(self, value);
}

void
shim_json_write_number(shim_json_writer_t *self, const char *text)
{
    assert(self);
    assert(text);
    size_t length = strlen(text);
    assert(shim_json_number_valid(text, length));
    s_writer_value_start(self);
    s_writer_put(self, text, length);
}

void
shim_json_write_raw(shim_json_writer_t *self, const char *text, size_t size)
{
    assert(self);
    assert(text);
    s_writer_value_start(self);
    s_writer_put(self, text, size);
}

//  Any value of a tree. Returns 0, or -1 for what json_dumps would refuse
//  too.
static int
s_writer_value(shim_json_writer_t *self, const json_t *value)
{
    switch (json_typeof(value)) {
        case JSON_OBJECT: {
            shim_json_write_open(self, '{');
            const char *key;
            json_t *member;
            json_object_foreach((json_t *) value, key, member)
            {
                if (self->comma) {
                    s_writer_char(self, ',');
                }
                if (s_writer_string(self, key, strlen(key)) != 0) {
                    return -1;
                }
                s_writer_char(self, ':');
                self->keyed = true;
                if (s_writer_value(self, member) != 0) {
                    return -1;
                }
            }
            shim_json_write_close(self, '}');
            return 0;
        }
        case JSON_ARRAY:
            shim_json_write_open(self, '[');
            for (size_t index = 0; index < json_array_size(value); index++) {
                if (s_writer_value(self, json_array_get(value, index)) != 0) {
                    return -1;
                }
            }
            shim_json_write_close(self, ']');
            return 0;
        case JSON_STRING: {
            const char *text = json_string_value(value);
            size_t length = json_string_length(value);
            s_writer_value_start(self);
            if (length > 0 && text[0] == '\0') {
                s_writer_put(self, text + 1, length - 1); //  a marked number
                return 0;
            }
            return s_writer_string(self, text, length);
        }
        case JSON_INTEGER:
            shim_json_write_integer(self, json_integer_value(value));
            return 0;
        case JSON_REAL: {
            //  Never written by the shim's encoders; jansson's own format.
            char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!text) {
                return -1;
            }
            shim_json_write_raw(self, text, strlen(text));
            freen(text);
            return 0;
        }
        case JSON_TRUE:
            shim_json_write_raw(self, "true", 4);
            return 0;
        case JSON_FALSE:
            shim_json_write_raw(self, "false", 5);
            return 0;
        case JSON_NULL:
            shim_json_write_null(self);
            return 0;
    }
    return -1;
}

char *
shim_json_dump(const json_t *value, size_t *size_out)
{
    assert(value);
    assert(size_out);
    shim_json_writer_t writer;
    shim_json_writer_init(&writer);
    if (s_writer_value(&writer, value) != 0) {
        writer.failed = true;
    }
    return shim_json_writer_take(&writer, size_out);
}

//  ---------------------------------------------------------------------
//  A number with exactly the given text.

json_t *
shim_json_number(const char *text)
{
    assert(text);
    size_t length = strlen(text);
    assert(shim_json_number_valid(text, length));
    char marked[SHIM_NUMBER_MAX + 2];
    assert(length <= SHIM_NUMBER_MAX);
    marked[0] = '\0';
    memcpy(marked + 1, text, length);
    json_t *value = json_stringn(marked, length + 1);
    assert(value);
    return value;
}

//  ---------------------------------------------------------------------
//  The text of a marked number, or NULL.

const char *
shim_json_number_text(const json_t *value)
{
    if (!json_is_string(value) || json_string_length(value) < 2 ||
        json_string_value(value)[0] != '\0') {
        return NULL;
    }
    return json_string_value(value) + 1;
}

//  ---------------------------------------------------------------------
//  Case-insensitive lookup; JSON null reads as absent.

int
shim_json_get(const json_t *object, const char *key, json_t **value_out)
{
    assert(key);
    assert(value_out);
    *value_out = NULL;
    if (!json_is_object(object)) {
        return 0;
    }
    //  The exact key is the common case and settles it when no other key
    //  differs from it by case only; the walk is needed to know that.
    const char *each_key;
    json_t *each_value;
    json_t *found = NULL;
    size_t matches = 0;
    json_object_foreach((json_t *) object, each_key, each_value)
    {
        if (strcasecmp(each_key, key) == 0) {
            found = each_value;
            matches++;
        }
    }
    if (matches > 1) {
        return -1;
    }
    *value_out = json_is_null(found) ? NULL : found;
    return 0;
}

//  ---------------------------------------------------------------------
//  Find a field for a reader: SHIM_OK with *value_out set or NULL (absent
//  and optional), or a failure naming the field.

static shim_rc_t
s_field(const json_t *object,
        const char *path,
        const char *key,
        bool required,
        json_t **value_out,
        shim_error_t *error)
{
    const char *dot = *path ? "." : "";
    if (shim_json_get(object, key, value_out) != 0) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s%s%s: given twice in different case", path,
                              dot, key);
    }
    if (!*value_out && required) {
        return shim_error_set(error, SHIM_MISSING_FIELD, "%s%s%s: required", path, dot, key);
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  A real (not marked) string's text, or NULL.

static const char *
s_plain_string(const json_t *value)
{
    if (!json_is_string(value) || shim_json_number_text(value)) {
        return NULL;
    }
    return json_string_value(value);
}

//  ---------------------------------------------------------------------
//  Read a bounded string.

shim_rc_t
shim_json_read_text(const json_t *object,
                    const char *path,
                    const char *key,
                    size_t max_size,
                    bool required,
                    const char **text_out,
                    shim_error_t *error)
{
    assert(path && key && text_out && error);
    json_t *value;
    shim_rc_t rc = s_field(object, path, key, required, &value, error);
    if (rc != SHIM_OK || !value) {
        return rc;
    }
    const char *dot = *path ? "." : "";
    const char *text = s_plain_string(value);
    if (!text) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s%s%s: not a string", path, dot, key);
    }
    if (json_string_length(value) > max_size) {
        return shim_error_set(error, SHIM_TOO_LARGE, "%s%s%s: longer than %zu bytes", path, dot,
                              key, max_size);
    }
    *text_out = text;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Copy `count` hex digits from `from` to `to`; false if any is not hex.

static bool
s_copy_hex(char *to, const char *from, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        if (!isxdigit((unsigned char) from[index])) {
            return false;
        }
        to[index] = from[index];
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Parse a GUID: D form, or also N, B and P when lenient.

int
shim_json_uuid_parse(const char *text, bool lenient, svc_uuid_t *uuid_out)
{
    assert(text);
    assert(uuid_out);
    size_t length = strnlen(text, 40);
    if (length == 36) {
        return svc_uuid_parse(text, uuid_out);
    }
    if (!lenient) {
        return -1;
    }
    char d_form[SVC_UUID_TEXT_SIZE];
    if (length == 38 &&
        ((text[0] == '{' && text[37] == '}') || (text[0] == '(' && text[37] == ')'))) {
        memcpy(d_form, text + 1, 36);
        d_form[36] = '\0';
        return svc_uuid_parse(d_form, uuid_out);
    }
    if (length == 32) {
        //  8-4-4-4-12 from 32 digits.
        static const size_t groups[] = {8, 4, 4, 4, 12};
        size_t from = 0;
        size_t to = 0;
        for (size_t group = 0; group < 5; group++) {
            if (!s_copy_hex(d_form + to, text + from, groups[group])) {
                return -1;
            }
            from += groups[group];
            to += groups[group];
            d_form[to++] = group < 4 ? '-' : '\0';
        }
        return svc_uuid_parse(d_form, uuid_out);
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  Read a GUID string.

shim_rc_t
shim_json_read_uuid(const json_t *object,
                    const char *path,
                    const char *key,
                    bool lenient,
                    bool required,
                    svc_uuid_t *uuid_out,
                    shim_error_t *error)
{
    assert(path && key && uuid_out && error);
    json_t *value;
    shim_rc_t rc = s_field(object, path, key, required, &value, error);
    if (rc != SHIM_OK || !value) {
        return rc;
    }
    const char *dot = *path ? "." : "";
    const char *text = s_plain_string(value);
    svc_uuid_t uuid;
    if (!text || strlen(text) != json_string_length(value) ||
        shim_json_uuid_parse(text, lenient, &uuid) != 0) {
        return shim_error_set(error, SHIM_BAD_ID, "%s%s%s: not a GUID", path, dot, key);
    }
    if (svc_uuid_is_nil(&uuid)) {
        if (required) {
            return shim_error_set(error, SHIM_MISSING_FIELD, "%s%s%s: required (nil GUID)", path,
                                  dot, key);
        }
        return SHIM_OK;
    }
    *uuid_out = uuid;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  A decimal split for exact scaling: significant digits without leading
//  or trailing zeros, and how many of them stand before the point.

typedef struct {
    bool negative;      //  a leading '-'
    const char *whole;  //  integer digits, leading zeros skipped
    size_t whole_count; //  how many
    const char *frac;   //  fraction digits
    size_t frac_count;  //  how many, trailing zeros dropped
    long exponent;      //  the e part, clamped to +-S_EXPONENT_CLAMP
} s_decimal_t;

//  ---------------------------------------------------------------------
//  Split a number token (grammar already checked) into an s_decimal_t.

static void
s_decimal_split(const char *text, size_t size, s_decimal_t *decimal)
{
    const char *at = text;
    const char *end = text + size;
    memset(decimal, 0, sizeof *decimal);
    decimal->negative = (*at == '-');
    if (decimal->negative) {
        at++;
    }
    size_t count = s_digits(at, end);
    decimal->whole = at;
    decimal->whole_count = count;
    while (decimal->whole_count > 0 && *decimal->whole == '0') {
        decimal->whole++;
        decimal->whole_count--;
    }
    at += count;
    if (at < end && *at == '.') {
        at++;
        count = s_digits(at, end);
        decimal->frac = at;
        decimal->frac_count = count;
        while (decimal->frac_count > 0 && at[decimal->frac_count - 1] == '0') {
            decimal->frac_count--;
        }
        at += count;
    }
    if (at < end && (*at == 'e' || *at == 'E')) {
        at++;
        bool negative = (*at == '-');
        if (*at == '+' || *at == '-') {
            at++;
        }
        long exponent = 0;
        for (; at < end; at++) {
            exponent = exponent * 10 + (*at - '0');
            if (exponent > S_EXPONENT_CLAMP) {
                exponent = S_EXPONENT_CLAMP;
            }
        }
        decimal->exponent = negative ? -exponent : exponent;
    }
}

//  ---------------------------------------------------------------------
//  Write a split decimal as plain text with at most `digits` fraction
//  digits into `plain` (S_AMOUNT_PLAIN_SIZE bytes).

static svc_money_rc_t
s_decimal_plain(const s_decimal_t *decimal, int digits, char *plain)
{
    //  The significand is whole digits then fraction digits; with no whole
    //  digits, leading zeros of the fraction move the point left.
    char significand[SHIM_NUMBER_MAX + 1];
    size_t length = 0;
    long point = (long) decimal->whole_count + decimal->exponent;
    memcpy(significand, decimal->whole, decimal->whole_count);
    length = decimal->whole_count;
    const char *frac = decimal->frac;
    size_t frac_count = decimal->frac_count;
    if (length == 0) {
        while (frac_count > 0 && *frac == '0') {
            frac++;
            frac_count--;
            point--;
        }
    }
    //  frac is NULL when the number has no fraction.
    if (frac_count > 0) {
        memcpy(significand + length, frac, frac_count);
        length += frac_count;
    }
    while (length > 0 && significand[length - 1] == '0') {
        length--;
    }
    if (length == 0) {
        strcpy(plain, "0");
        return SVC_MONEY_OK;
    }
    if (point > S_AMOUNT_INTEGER_MAX) {
        return SVC_MONEY_OVERFLOW;
    }
    if ((long) length - point > (long) digits) {
        return SVC_MONEY_PRECISION;
    }
    //  Now length <= 19 + 18 and -18 <= point <= 19: it fits the buffer.
    char *out = plain;
    if (decimal->negative) {
        *out++ = '-';
    }
    if (point <= 0) {
        *out++ = '0';
        *out++ = '.';
        memset(out, '0', (size_t) -point);
        out += -point;
        memcpy(out, significand, length);
        out += length;
    } else if ((size_t) point >= length) {
        memcpy(out, significand, length);
        out += length;
        memset(out, '0', (size_t) point - length);
        out += (size_t) point - length;
    } else {
        memcpy(out, significand, (size_t) point);
        out += point;
        *out++ = '.';
        memcpy(out, significand + point, length - (size_t) point);
        out += length - (size_t) point;
    }
    *out = '\0';
    return SVC_MONEY_OK;
}

//  ---------------------------------------------------------------------
//  Parse a decimal amount exactly.

svc_money_rc_t
shim_json_amount_parse(const char *text, int digits, int64_t *minor_out)
{
    assert(text);
    assert(digits >= 0 && digits <= 18);
    assert(minor_out);
    size_t size = strlen(text);
    if (size > SHIM_NUMBER_MAX || !shim_json_number_valid(text, size)) {
        return SVC_MONEY_SYNTAX;
    }
    s_decimal_t decimal;
    s_decimal_split(text, size, &decimal);
    char plain[S_AMOUNT_PLAIN_SIZE];
    svc_money_rc_t rc = s_decimal_plain(&decimal, digits, plain);
    if (rc != SVC_MONEY_OK) {
        return rc;
    }
    return svc_money_parse(plain, digits, minor_out);
}

//  ---------------------------------------------------------------------
//  Read an amount.

shim_rc_t
shim_json_read_amount(const json_t *object,
                      const char *path,
                      const char *key,
                      int digits,
                      bool required,
                      int64_t *minor_out,
                      shim_error_t *error)
{
    assert(path && key && minor_out && error);
    assert(digits >= 0 && digits <= 18);
    json_t *value;
    shim_rc_t rc = s_field(object, path, key, required, &value, error);
    if (rc != SHIM_OK || !value) {
        return rc;
    }
    const char *dot = *path ? "." : "";
    const char *text = shim_json_number_text(value);
    if (!text) {
        text = s_plain_string(value);
        if (text && strlen(text) != json_string_length(value)) {
            text = NULL;
        }
    }
    if (!text) {
        return shim_error_set(error, SHIM_BAD_AMOUNT,
                              "%s%s%s: neither a decimal string nor a number", path, dot, key);
    }
    int64_t minor;
    svc_money_rc_t money_rc = shim_json_amount_parse(text, digits, &minor);
    if (money_rc != SVC_MONEY_OK) {
        return shim_error_set(error, SHIM_BAD_AMOUNT, "%s%s%s: %s", path, dot, key,
                              svc_money_strerror(money_rc));
    }
    if (minor < 0) {
        return shim_error_set(error, SHIM_BAD_AMOUNT, "%s%s%s: negative", path, dot, key);
    }
    *minor_out = minor;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Parse a plain integer text in [min, max]: -?[0-9]+ as JSON writes it.
//  Returns 0 and sets *value_out, or -1.

static int
s_integer_parse(const char *text, int64_t min, int64_t max, int64_t *value_out)
{
    size_t size = strlen(text);
    const char *digits = text + (*text == '-' ? 1 : 0);
    size_t count = strspn(digits, "0123456789");
    if (count == 0 || digits + count != text + size || (count > 1 && *digits == '0')) {
        return -1;
    }
    int64_t value = 0;
    for (size_t index = 0; index < count; index++) {
        int digit = digits[index] - '0';
        //  Accumulate negatively so that INT64_MIN is reachable.
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_sub_overflow(value, digit, &value)) {
            return -1;
        }
    }
    if (*text != '-') {
        if (value == INT64_MIN) {
            return -1;
        }
        value = -value;
    }
    if (value < min || value > max) {
        return -1;
    }
    *value_out = value;
    return 0;
}

//  ---------------------------------------------------------------------
//  Read an integer.

shim_rc_t
shim_json_read_integer(const json_t *object,
                       const char *path,
                       const char *key,
                       int64_t min,
                       int64_t max,
                       bool required,
                       int64_t *value_out,
                       shim_error_t *error)
{
    assert(path && key && value_out && error);
    assert(min <= max);
    json_t *value;
    shim_rc_t rc = s_field(object, path, key, required, &value, error);
    if (rc != SHIM_OK || !value) {
        return rc;
    }
    const char *dot = *path ? "." : "";
    const char *text = shim_json_number_text(value);
    if (!text) {
        text = s_plain_string(value);
        if (text && strlen(text) != json_string_length(value)) {
            text = NULL;
        }
    }
    int64_t parsed;
    if (!text || s_integer_parse(text, min, max, &parsed) != 0) {
        return shim_error_set(error, SHIM_BAD_FIELD,
                              "%s%s%s: not an integer from %" PRId64 " to %" PRId64, path, dot, key,
                              min, max);
    }
    *value_out = parsed;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Read a time.

shim_rc_t
shim_json_read_time(const json_t *object,
                    const char *path,
                    const char *key,
                    bool required,
                    int64_t *us_out,
                    shim_error_t *error)
{
    assert(path && key && us_out && error);
    json_t *value;
    shim_rc_t rc = s_field(object, path, key, required, &value, error);
    if (rc != SHIM_OK || !value) {
        return rc;
    }
    const char *dot = *path ? "." : "";
    const char *text = s_plain_string(value);
    int64_t us;
    if (!text || strlen(text) != json_string_length(value) || shim_time_parse(text, &us) != 0) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s%s%s: not an ISO-8601 time", path, dot,
                              key);
    }
    *us_out = us;
    return SHIM_OK;
}
