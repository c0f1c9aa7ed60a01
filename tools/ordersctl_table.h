/*  =========================================================================
    ordersctl_table - text tables with aligned columns

    Cells are added left to right, row after row; printing pads every
    column to its widest cell (counted in characters, not bytes), two
    spaces apart, with no trailing blanks. Numbers can be right-aligned and
    long columns cut. Cells come from the services, so every control
    character in them (C0, DEL and C1) is shown as '?': a reply cannot move
    the cursor or change the terminal.

        const char *headers[] = {"SKU", "AVAILABLE"};
        ordersctl_table_t *table = ordersctl_table_new(2, headers);
        ordersctl_table_set_right(table, 1);
        ordersctl_table_add(table, "SKU-1");
        ordersctl_table_addf(table, "%d", 100);
        ordersctl_table_print(table, stdout, 0);
        //  SKU    AVAILABLE
        //  SKU-1        100
        ordersctl_table_destroy(&table);
    =========================================================================
*/
#ifndef ORDERSCTL_TABLE_H_INCLUDED
#define ORDERSCTL_TABLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ordersctl_table ordersctl_table_t;

//  A table of `columns` columns (at least 1). `headers` is an array of
//  `columns` titles (copied), or NULL for a table without a header row.
//  Caller owns return value.
ordersctl_table_t *ordersctl_table_new(size_t columns, const char *const *headers);

//  Free a table; accepts NULL and nulls the caller's pointer.
void ordersctl_table_destroy(ordersctl_table_t **self_p);

//  Right-align `column` (for numbers); its header too.
void ordersctl_table_set_right(ordersctl_table_t *self, size_t column);

//  Cut cells of `column` to at most `width` characters (at least 4), the
//  last three of a cut cell being "...".
void ordersctl_table_set_max_width(ordersctl_table_t *self, size_t column, size_t width);

//  Add the next cell (copied); NULL shows as "-". After the last column the
//  next cell starts a new row.
void ordersctl_table_add(ordersctl_table_t *self, const char *text);

//  Add the next cell from a printf format.
void ordersctl_table_addf(ordersctl_table_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Rows added so far (a started row counts), without the header.
size_t ordersctl_table_rows(const ordersctl_table_t *self);

//  Print the table, each line after `indent` spaces; a row left short
//  prints empty cells. Returns 0, or -1 if writing failed.
int ordersctl_table_print(const ordersctl_table_t *self, FILE *out, size_t indent);

//  The width of UTF-8 `text` in characters (code points; the services'
//  strings are valid UTF-8).
size_t ordersctl_text_width(const char *text);

//  A copy of `text` with every control character (C0, DEL, C1) replaced by
//  '?'. Caller owns return value.
char *ordersctl_text_sanitize(const char *text);

#endif
