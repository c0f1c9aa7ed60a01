/*  =========================================================================
    shim_json - JSON with exact numbers, case-insensitive keys and the
    value formats of .NET: GUIDs, decimals, ISO-8601 times (shim_time)

    jansson reads a JSON number into a double (or an int64), which cannot
    hold 12345678901234.56 or tell 19.99 from its nearest double. MassTransit
    writes decimals as strings, but older versions, Newtonsoft settings and
    CAP write numbers, and money must arrive exact. So shim_json_load lexes
    the text first and turns every number token into a "marked" string: a
    NUL followed by the token's own text ("\u000012345678901234.56"). A
    real JSON string never holds a NUL here (the lexer refuses "\u0000"
    in strings), so a marked string is always a number, and readers parse
    its text exactly. shim_json_dump does the reverse, so a number we write
    is written with exactly the digits we chose (shim_json_number).

    Readers look keys up without regard to case (System.Text.Json and
    Newtonsoft both do) and treat JSON null like an absent key. Every
    reader names the field in its reason: "<path>.<key>: why".

        shim_error_t error;
        json_t *root = shim_json_load(body, size, &error);
        int64_t minor = 0;
        if (root && shim_json_read_amount(root, "message", "total", 2, &minor, &error) == SHIM_OK)
            ...   //  "19.99", 19.99, 1999e-2 all give 1999
        json_decref(root);
    =========================================================================
*/
#ifndef SHIM_JSON_H_INCLUDED
#define SHIM_JSON_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim_rc.h"
#include "svc_money.h"
#include "svc_uuid.h"

//  Largest JSON body read or written, in bytes (256 KiB). An order of
//  BUS_ITEMS_MAX items is about 10 KiB as a MassTransit envelope.
#define SHIM_BODY_MAX 262144

//  Longest number token accepted, in bytes: beyond this no int64 amount or
//  count can be meant, only a lexer's worst case.
#define SHIM_NUMBER_MAX 128

//  Parse `size` bytes of JSON (UTF-8, any value at the root) keeping every
//  number exact as a marked string (see above). Returns NULL with
//  SHIM_TOO_LARGE if size > SHIM_BODY_MAX or a number token is longer than
//  SHIM_NUMBER_MAX, or SHIM_NOT_JSON for anything jansson or the lexer
//  refuses (including "\u0000" in a string and duplicate keys). Caller owns
//  return value; release it with json_decref.
json_t *shim_json_load(const char *text, size_t size, shim_error_t *error);

//  Write `value` as compact UTF-8 JSON (non-ASCII written as is, as
//  MassTransit's relaxed encoder does; otherwise what json_dumps writes
//  with JSON_COMPACT), marked strings as bare numbers, and set *size_out
//  to its length. Returns NULL if a real cannot be written. Caller owns
//  return value; free it with freen (it is NUL-terminated).
char *shim_json_dump(const json_t *value, size_t *size_out);

//  A writer of JSON text straight from values, without a tree: the text
//  shim_json_dump writes for the tree the same calls would build. It
//  places the commas; the caller opens, keys and closes in a valid order
//  (asserted where cheap). It lives on the caller's stack; read it only
//  through the functions below.
//
//      shim_json_writer_t writer;
//      shim_json_writer_init(&writer);
//      shim_json_write_open(&writer, '{');
//      shim_json_write_key(&writer, "total");
//      shim_json_write_number(&writer, "19.99");
//      shim_json_write_close(&writer, '}');
//      size_t size;
//      char *text = shim_json_writer_take(&writer, &size);   //  {"total":19.99}
typedef struct {
    char *data;      //  the text so far (owned)
    size_t size;     //  bytes in it
    size_t capacity; //  bytes allocated
    bool comma;      //  a value was written: the next key or element needs a comma
    bool keyed;      //  a key was written: the next value is its value
    bool failed;     //  a string was not UTF-8 (take returns NULL)
} shim_json_writer_t;

//  Start writing.
void shim_json_writer_init(shim_json_writer_t *self);

//  The text written (NUL-terminated) and its length in *size_out, or NULL
//  if a string was not UTF-8. Either way the writer holds nothing after:
//  init it again to reuse it. Caller owns return value; free it with freen.
char *shim_json_writer_take(shim_json_writer_t *self, size_t *size_out);

//  Open or close an object ('{', '}') or an array ('[', ']').
void shim_json_write_open(shim_json_writer_t *self, char bracket);
void shim_json_write_close(shim_json_writer_t *self, char bracket);

//  The key of the next value in an object (ASCII, written as is).
void shim_json_write_key(shim_json_writer_t *self, const char *key);

//  Values. A string must be UTF-8: else it returns -1 and the writer has
//  failed (take returns NULL); a number's text must follow the JSON number
//  grammar (asserted); raw text must be one JSON value (from
//  shim_json_dump, say), written as is.
int shim_json_write_string(shim_json_writer_t *self, const char *text);
void shim_json_write_null(shim_json_writer_t *self);
void shim_json_write_integer(shim_json_writer_t *self, int64_t value);
void shim_json_write_number(shim_json_writer_t *self, const char *text);
void shim_json_write_raw(shim_json_writer_t *self, const char *text, size_t size);

//  A JSON number with exactly the text `text`, which must follow the JSON
//  number grammar (asserted). Caller owns return value.
json_t *shim_json_number(const char *text);

//  The text of a number (a marked string from shim_json_load or
//  shim_json_number), or NULL if `value` is no such number. Borrowed from
//  `value`.
const char *shim_json_number_text(const json_t *value);

//  True if `text` (`size` bytes) follows the JSON number grammar:
//  -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool shim_json_number_valid(const char *text, size_t size);

//  Look `key` up in `object` without regard to ASCII case. Sets *value_out
//  to the value, or to NULL when the key is absent, its value is JSON null
//  or `object` is not an object. Returns 0, or -1 when two keys match
//  (for example "orderId" and "OrderId"): which one is meant is unknown.
int shim_json_get(const json_t *object, const char *key, json_t **value_out);

//  Readers of one field `key` of `object`; `path` names the object in
//  reasons ("message", "message.items[2]", or "" for the root). A field
//  that is absent or null is SHIM_MISSING_FIELD when `required`, else
//  SHIM_OK with the output untouched, so callers preset defaults.

//  A string of at most `max_size` bytes; *text_out is borrowed from
//  `object`. A number or any other type is SHIM_BAD_FIELD, a longer
//  string SHIM_TOO_LARGE.
shim_rc_t shim_json_read_text(const json_t *object,
                              const char *path,
                              const char *key,
                              size_t max_size,
                              bool required,
                              const char **text_out,
                              shim_error_t *error);

//  A GUID string. `lenient` accepts what .NET's Guid.TryParse takes for
//  envelope ids (the D, N, B and P forms, either case); otherwise only the D
//  form (what System.Text.Json reads in a message). The nil GUID counts as
//  absent: Newtonsoft leaves Guid.Empty out. Anything else is SHIM_BAD_ID.
shim_rc_t shim_json_read_uuid(const json_t *object,
                              const char *path,
                              const char *key,
                              bool lenient,
                              bool required,
                              svc_uuid_t *uuid_out,
                              shim_error_t *error);

//  A non-negative amount with `digits` fraction digits (0..18), as a
//  decimal string or a JSON number, read exactly (shim_json_amount_parse).
//  Anything else is SHIM_BAD_AMOUNT.
shim_rc_t shim_json_read_amount(const json_t *object,
                                const char *path,
                                const char *key,
                                int digits,
                                bool required,
                                int64_t *minor_out,
                                shim_error_t *error);

//  An integer in [min, max], as a JSON number without fraction or
//  exponent, or a string holding one (Newtonsoft reads those). Anything
//  else is SHIM_BAD_FIELD.
shim_rc_t shim_json_read_integer(const json_t *object,
                                 const char *path,
                                 const char *key,
                                 int64_t min,
                                 int64_t max,
                                 bool required,
                                 int64_t *value_out,
                                 shim_error_t *error);

//  An ISO-8601 time (shim_time_parse) as Unix microseconds. Anything
//  else is SHIM_BAD_FIELD.
shim_rc_t shim_json_read_time(const json_t *object,
                              const char *path,
                              const char *key,
                              bool required,
                              int64_t *us_out,
                              shim_error_t *error);

//  Parse a decimal amount exactly into minor units of a currency with
//  `digits` fraction digits (0..18, asserted): the JSON number grammar,
//  so "19.99", "0.1", "1e2" and "1999E-2" are all accepted. Trailing zeros
//  beyond `digits` are accepted (.NET keeps a decimal's scale: 19.990m is
//  "19.990"), other extra digits are SVC_MONEY_PRECISION. Returns
//  SVC_MONEY_OK and sets *minor_out, or SVC_MONEY_SYNTAX, _PRECISION or
//  _OVERFLOW and leaves it untouched.
svc_money_rc_t shim_json_amount_parse(const char *text, int digits, int64_t *minor_out);

//  Parse a GUID as shim_json_read_uuid does (`lenient` as there). Returns
//  0 and sets *uuid_out, or -1.
int shim_json_uuid_parse(const char *text, bool lenient, svc_uuid_t *uuid_out);

#endif
