/*  =========================================================================
    bus_sqlarray - a PostgreSQL array literal, built element by element

    Set-based SQL (bus_statements.h) sends a whole batch as a few arrays,
    one per column, unnested on the server: still parameters, never
    spliced into the statement. This builds such a parameter in
    PostgreSQL's text form, {"a","b",NULL}: every element is quoted, with
    '"' and '\' escaped, so any text (a SKU or a reason from another
    service) arrives intact, and the same form casts to text[], uuid[],
    bigint[], boolean[] or timestamptz[] on the server.

    The struct is the caller's (on the stack or inside its own struct), so
    a batch's columns cost no allocation of their own. Zeroed, it is an
    empty array; bus_sqlarray_reset frees what it grew and makes it empty
    again, ready for reuse.

        bus_sqlarray_t skus = {0};
        bus_sqlarray_add(&skus, "SKU-1");
        bus_sqlarray_add(&skus, NULL);              //  SQL NULL
        const char *values[] = {bus_sqlarray_text(&skus)};   //  {"SKU-1",NULL}
        ... bus_statements_exec(statements, conn, S_LOCK, values, &error) ...
        bus_sqlarray_reset(&skus);
    =========================================================================
*/
#ifndef BUS_SQLARRAY_H_INCLUDED
#define BUS_SQLARRAY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "svc_uuid.h"

//  Bytes allocated at the first add; doubled as the literal grows.
#define BUS_SQLARRAY_CAPACITY 256

//  One array literal. Zero it before the first use ({0}); read it only
//  through the functions below.
typedef struct {
    char *text;      //  the literal so far, without its closing brace (owned)
    size_t size;     //  bytes used in text
    size_t capacity; //  bytes allocated for text
    size_t count;    //  elements added
} bus_sqlarray_t;

//  Add an element: `value` is copied; NULL adds SQL NULL.
void bus_sqlarray_add(bus_sqlarray_t *self, const char *value);

//  Add an integer element, in decimal.
void bus_sqlarray_add_int(bus_sqlarray_t *self, int64_t value);

//  Add a UUID element, in its text form (it casts to uuid[]).
void bus_sqlarray_add_uuid(bus_sqlarray_t *self, const svc_uuid_t *uuid);

//  How many elements were added since the zeroing or the last reset.
size_t bus_sqlarray_count(const bus_sqlarray_t *self);

//  The literal: "{}" when empty. Borrowed: valid until the next add or
//  the reset.
const char *bus_sqlarray_text(bus_sqlarray_t *self);

//  Free the text and make the array empty again (reusable). Safe on a
//  zeroed array and when called twice.
void bus_sqlarray_reset(bus_sqlarray_t *self);

#endif
