/*  =========================================================================
    ordersctl_table - text tables with aligned columns

    Cells are kept as one flat array of sanitized copies, row-major, and
    widths are measured when printing. Each line is assembled first and
    written once, so trailing blanks can be dropped.
    =========================================================================
*/
#include "ordersctl_classes.h"

//  Cells the array first holds; it doubles from there.
#define S_CELLS_INITIAL 32
//  Gap between columns.
#define S_GAP "  "
//  Marks a cut cell.
#define S_CUT "..."

struct ordersctl_table {
    size_t columns;    //  number of columns
    char **headers;    //  `columns` titles (owned), or NULL
    bool *right;       //  `columns` flags: right-aligned (owned)
    size_t *max_width; //  `columns` limits, 0 = none (owned)
    char **cells;      //  cells, row-major (owned, each owned)
    size_t cell_count; //  cells used
    size_t cell_limit; //  cells allocated
};

//  ---------------------------------------------------------------------
//  Whether byte `c` continues a UTF-8 sequence.

static bool
s_is_continuation(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

//  ---------------------------------------------------------------------
//  Width of UTF-8 text in code points.

size_t
ordersctl_text_width(const char *text)
{
    assert(text);
    size_t width = 0;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (!s_is_continuation(*c)) {
            width++;
        }
    }
    return width;
}

//  ---------------------------------------------------------------------
//  Copy `text`, control characters replaced. C1 controls (U+0080..U+009F)
//  are two bytes in UTF-8 (0xC2 0x80..0x9F) and become one '?'.

char *
ordersctl_text_sanitize(const char *text)
{
    assert(text);
    char *copy = (char *) zmalloc(strlen(text) + 1);
    char *out = copy;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            *out++ = '?';
        } else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
            *out++ = '?';
            c++;
        } else {
            *out++ = (char) *c;
        }
    }
    *out = '\0';
    return copy;
}

//  ---------------------------------------------------------------------
//  Create a table.

ordersctl_table_t *
ordersctl_table_new(size_t columns, const char *const *headers)
{
    assert(columns > 0);
    ordersctl_table_t *self = (ordersctl_table_t *) zmalloc(sizeof *self);
    self->columns = columns;
    if (headers) {
        self->headers = (char **) zmalloc(columns * sizeof *self->headers);
        for (size_t column = 0; column < columns; column++) {
            assert(headers[column]);
            self->headers[column] = ordersctl_text_sanitize(headers[column]);
        }
    }
    self->right = (bool *) zmalloc(columns * sizeof *self->right);
    self->max_width = (size_t *) zmalloc(columns * sizeof *self->max_width);
    self->cell_limit = S_CELLS_INITIAL;
    self->cells = (char **) zmalloc(self->cell_limit * sizeof *self->cells);
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy a table.

void
ordersctl_table_destroy(ordersctl_table_t **self_p)
{
    assert(self_p);
    ordersctl_table_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t index = 0; index < self->cell_count; index++) {
        freen(self->cells[index]);
    }
    freen(self->cells);
    freen(self->max_width);
    freen(self->right);
    if (self->headers) {
        for (size_t column = 0; column < self->columns; column++) {
            freen(self->headers[column]);
        }
        freen(self->headers);
    }
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Right-align a column.

void
ordersctl_table_set_right(ordersctl_table_t *self, size_t column)
{
    assert(self);
    assert(column < self->columns);
    self->right[column] = true;
}

//  ---------------------------------------------------------------------
//  Limit a column's width.

void
ordersctl_table_set_max_width(ordersctl_table_t *self, size_t column, size_t width)
{
    assert(self);
    assert(column < self->columns);
    assert(width > strlen(S_CUT));
    self->max_width[column] = width;
}

//  ---------------------------------------------------------------------
//  Cut `cell` in place to `width` characters when it is wider.

static void
s_cut(char *cell, size_t width)
{
    if (width == 0 || ordersctl_text_width(cell) <= width) {
        return;
    }
    size_t keep = width - strlen(S_CUT);
    size_t characters = 0;
    char *c = cell;
    while (*c && characters < keep) {
        c++;
        while (s_is_continuation((unsigned char) *c)) {
            c++;
        }
        characters++;
    }
    memcpy(c, S_CUT, sizeof S_CUT); //  fits: the cut part had more than 3 bytes
}

//  ---------------------------------------------------------------------
//  Add the next cell.

void
ordersctl_table_add(ordersctl_table_t *self, const char *text)
{
    assert(self);
    if (self->cell_count == self->cell_limit) {
        self->cell_limit *= 2;
        self->cells = (char **) realloc(self->cells, self->cell_limit * sizeof *self->cells);
        assert(self->cells);
    }
    char *cell = ordersctl_text_sanitize(text ? text : "-");
    s_cut(cell, self->max_width[self->cell_count % self->columns]);
    self->cells[self->cell_count++] = cell;
}

//  ---------------------------------------------------------------------
//  Add the next cell from a format.

void
ordersctl_table_addf(ordersctl_table_t *self, const char *format, ...)
{
    assert(self);
    assert(format);
    va_list list;
    va_start(list, format);
    char *text = zsys_vprintf(format, list);
    va_end(list);
    assert(text);
    ordersctl_table_add(self, text);
    zstr_free(&text);
}

//  ---------------------------------------------------------------------
//  Rows so far.

size_t
ordersctl_table_rows(const ordersctl_table_t *self)
{
    assert(self);
    return (self->cell_count + self->columns - 1) / self->columns;
}

//  ---------------------------------------------------------------------
//  Append `count` spaces to the line.

static void
s_pad(zchunk_t *line, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        zchunk_extend(line, " ", 1);
    }
}

//  ---------------------------------------------------------------------
//  Write one row (`cells` has `columns` entries, NULL for empty ones).

static int
s_print_row(const ordersctl_table_t *self,
            char *const *cells,
            const size_t *widths,
            FILE *out,
            size_t indent)
{
    zchunk_t *line = zchunk_new(NULL, 0);
    s_pad(line, indent);
    for (size_t column = 0; column < self->columns; column++) {
        const char *cell = cells[column] ? cells[column] : "";
        size_t fill = widths[column] - ordersctl_text_width(cell);
        if (column > 0) {
            zchunk_extend(line, S_GAP, strlen(S_GAP));
        }
        if (self->right[column]) {
            s_pad(line, fill);
        }
        zchunk_extend(line, cell, strlen(cell));
        if (!self->right[column]) {
            s_pad(line, fill);
        }
    }
    size_t size = zchunk_size(line);
    const char *data = (const char *) zchunk_data(line);
    while (size > 0 && data[size - 1] == ' ') {
        size--;
    }
    int rc = fwrite(data, 1, size, out) == size && fputc('\n', out) != EOF ? 0 : -1;
    zchunk_destroy(&line);
    return rc;
}

//  ---------------------------------------------------------------------
//  Print the table.

int
ordersctl_table_print(const ordersctl_table_t *self, FILE *out, size_t indent)
{
    assert(self);
    assert(out);
    size_t *widths = (size_t *) zmalloc(self->columns * sizeof *widths);
    for (size_t column = 0; column < self->columns; column++) {
        if (self->headers) {
            widths[column] = ordersctl_text_width(self->headers[column]);
        }
    }
    for (size_t index = 0; index < self->cell_count; index++) {
        size_t width = ordersctl_text_width(self->cells[index]);
        size_t column = index % self->columns;
        if (width > widths[column]) {
            widths[column] = width;
        }
    }
    int rc = 0;
    if (self->headers) {
        rc = s_print_row(self, self->headers, widths, out, indent);
    }
    char **row = (char **) zmalloc(self->columns * sizeof *row);
    for (size_t start = 0; rc == 0 && start < self->cell_count; start += self->columns) {
        for (size_t column = 0; column < self->columns; column++) {
            row[column] = start + column < self->cell_count ? self->cells[start + column] : NULL;
        }
        rc = s_print_row(self, row, widths, out, indent);
    }
    freen(row);
    freen(widths);
    return rc;
}
