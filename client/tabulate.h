/* tabulate.h — aligned text tables and ANSI colour for svcctl's output. */
#ifndef SVCCTL_TABULATE_H
#define SVCCTL_TABULATE_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/util.h"

enum tab_color {
	TAB_PLAIN = 0,
	TAB_GREEN,
	TAB_YELLOW,
	TAB_RED,
	TAB_DIM,
	TAB_BOLD,
};

/* The colour for a state or status word: ok/running green, ... */
enum tab_color tab_state_color(const char *word);

/* Wrap s in colour escapes when color is true (appends to out). */
void tab_colorize(struct buf *out, enum tab_color color, bool use_color,
                  const char *s);

/* Columns of a table are separated by two spaces; the last is not padded. */
struct tab;

/* headers: ncols strings, copied. */
struct tab *tab_new(size_t ncols, const char *const headers[]);
void tab_free(struct tab *t);
/* Right-align column col (numbers). */
void tab_align_right(struct tab *t, size_t col);
/* Start a new row; then tab_cell once per column (missing cells empty). */
void tab_row(struct tab *t);
void tab_cell(struct tab *t, enum tab_color color, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
size_t tab_rows(const struct tab *t);
/* Render no header line (svcctl --no-headers). */
void tab_hide_header(struct tab *t);
/* Append the table (header line bold when colouring) to out. */
void tab_render(const struct tab *t, bool use_color, struct buf *out);

/* Terminal columns a UTF-8 string takes (one per code point). */
size_t tab_width(const char *s);

#endif
