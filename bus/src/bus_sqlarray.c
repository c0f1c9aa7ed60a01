/*  =========================================================================
    bus_sqlarray - a PostgreSQL array literal, built element by element

    The text grows by doubling from BUS_SQLARRAY_CAPACITY and is kept
    without its closing brace, so adding is an append; bus_sqlarray_text
    writes the brace and the NUL behind the last element without counting
    them, so more can be added after. An element needs at most twice its
    length (every byte escaped) plus its quotes and the separator; NULL
    needs the separator and four bytes.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_sqlarray.h"

#include <inttypes.h>

//  Room an element of `length` bytes may take: ',' or '{', two quotes,
//  every byte escaped, and the closing brace and NUL of bus_sqlarray_text
//  (also enough for NULL).
#define S_ELEMENT_ROOM(length) (2 * (length) + 8)

//  Longest decimal text of an int64, with its NUL.
#define S_INT_TEXT_SIZE 24

//  --------------------------------------------------------------------------
//  Make room for `more` bytes after those used.

static void
s_reserve(bus_sqlarray_t *self, size_t more)
{
    if (self->size + more <= self->capacity) {
        return;
    }
    size_t capacity = self->capacity ? self->capacity : BUS_SQLARRAY_CAPACITY;
    while (capacity < self->size + more) {
        capacity *= 2;
    }
    self->text = realloc(self->text, capacity);
    assert(self->text); //  out of memory aborts, as zmalloc does
    self->capacity = capacity;
}

//  --------------------------------------------------------------------------
//  Add an element, quoted and escaped; NULL is SQL NULL.

void
bus_sqlarray_add(bus_sqlarray_t *self, const char *value)
{
    assert(self);
    size_t length = value ? strlen(value) : 0;
    s_reserve(self, S_ELEMENT_ROOM(length));
    self->text[self->size++] = self->count++ ? ',' : '{';
    if (!value) {
        memcpy(self->text + self->size, "NULL", 4);
        self->size += 4;
        return;
    }
    self->text[self->size++] = '"';
    for (size_t index = 0; index < length; index++) {
        if (value[index] == '"' || value[index] == '\\') {
            self->text[self->size++] = '\\';
        }
        self->text[self->size++] = value[index];
    }
    self->text[self->size++] = '"';
}

void
bus_sqlarray_add_int(bus_sqlarray_t *self, int64_t value)
{
    assert(self);
    char text[S_INT_TEXT_SIZE];
    (void) snprintf(text, sizeof text, "%" PRId64, value);
    bus_sqlarray_add(self, text);
}

void
bus_sqlarray_add_uuid(bus_sqlarray_t *self, const svc_uuid_t *uuid)
{
    assert(self);
    assert(uuid);
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(uuid, text);
    bus_sqlarray_add(self, text);
}

size_t
bus_sqlarray_count(const bus_sqlarray_t *self)
{
    assert(self);
    return self->count;
}

//  --------------------------------------------------------------------------
//  Close the literal behind the last element, without counting the brace.

const char *
bus_sqlarray_text(bus_sqlarray_t *self)
{
    assert(self);
    s_reserve(self, 3);
    if (self->count == 0) {
        memcpy(self->text, "{}", 3);
    } else {
        self->text[self->size] = '}';
        self->text[self->size + 1] = '\0';
    }
    return self->text;
}

void
bus_sqlarray_reset(bus_sqlarray_t *self)
{
    assert(self);
    freen(self->text);
    memset(self, 0, sizeof *self);
}
