/* tabulate.c — aligned text tables and ANSI colour for svcctl's output. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client/tabulate.h"

struct tab_cellv {
	char *text;
	enum tab_color color;
};

struct tab {
	size_t ncols;
	char **headers;
	bool *right;
	struct tab_cellv *cells; /* nrows * ncols */
	size_t nrows;
	size_t cap;
	size_t cur; /* next column in the current row */
	bool no_header;
};

static const char *const color_seq[] = {
    [TAB_PLAIN] = "",       [TAB_GREEN] = "\033[32m", [TAB_YELLOW] = "\033[33m",
    [TAB_RED] = "\033[31m", [TAB_DIM] = "\033[2m",    [TAB_BOLD] = "\033[1m",
};

enum tab_color
tab_state_color(const char *word)
{
	static const struct {
		const char *word;
		enum tab_color color;
	} map[] = {
	    {"ok", TAB_GREEN},        {"running", TAB_GREEN},
	    {"yes", TAB_GREEN},       {"healthy", TAB_GREEN},
	    {"degraded", TAB_YELLOW}, {"blocked", TAB_YELLOW},
	    {"starting", TAB_YELLOW}, {"stopping", TAB_YELLOW},
	    {"failed", TAB_RED},      {"no", TAB_RED},
	    {"unhealthy", TAB_RED},
	};
	if (!word)
		return TAB_PLAIN;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(word, map[i].word) == 0)
			return map[i].color;
	return TAB_PLAIN;
}

void
tab_colorize(struct buf *out, enum tab_color color, bool use_color,
             const char *s)
{
	if (!use_color || color == TAB_PLAIN) {
		buf_puts(out, s);
		return;
	}
	buf_puts(out, color_seq[color]);
	buf_puts(out, s);
	buf_puts(out, "\033[0m");
}

size_t
tab_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

struct tab *
tab_new(size_t ncols, const char *const headers[])
{
	struct tab *t = xcalloc(1, sizeof(*t));
	t->ncols = ncols;
	t->headers = xcalloc(ncols, sizeof(*t->headers));
	t->right = xcalloc(ncols, sizeof(*t->right));
	for (size_t i = 0; i < ncols; i++)
		t->headers[i] = xstrdup(headers[i]);
	t->cur = ncols;
	return t;
}

void
tab_free(struct tab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		free(t->headers[i]);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->headers);
	free(t->right);
	free(t->cells);
	free(t);
}

void
tab_align_right(struct tab *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

void
tab_row(struct tab *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->cells =
		    xrealloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
	}
	memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof(*t->cells));
	t->nrows++;
	t->cur = 0;
}

void
tab_cell(struct tab *t, enum tab_color color, const char *fmt, ...)
{
	va_list ap;

	if (t->nrows == 0 || t->cur >= t->ncols)
		return;
	struct tab_cellv *c = &t->cells[(t->nrows - 1) * t->ncols + t->cur++];
	va_start(ap, fmt);
	c->text = xvasprintf(fmt, ap);
	va_end(ap);
	/* One line per row: control characters would break the columns. */
	for (char *p = c->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	c->color = color;
}

size_t
tab_rows(const struct tab *t)
{
	return t->nrows;
}

static void
pad(struct buf *out, size_t n)
{
	while (n-- > 0)
		buf_putc(out, ' ');
}

static void
render_cell(struct buf *out, const char *s, enum tab_color color,
            bool use_color, size_t width, bool right, bool last)
{
	size_t w = tab_width(s);
	size_t gap = width > w ? width - w : 0;

	if (right)
		pad(out, gap);
	tab_colorize(out, color, use_color, s);
	if (!right && !last)
		pad(out, gap);
}

void
tab_hide_header(struct tab *t)
{
	t->no_header = true;
}

void
tab_render(const struct tab *t, bool use_color, struct buf *out)
{
	size_t *width = xcalloc(t->ncols, sizeof(*width));

	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = t->no_header ? 0 : tab_width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * t->ncols + c].text;
			size_t w = s ? tab_width(s) : 0;
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t c = 0; c < t->ncols && !t->no_header; c++) {
		if (c)
			buf_puts(out, "  ");
		render_cell(out, t->headers[c], TAB_BOLD, use_color, width[c],
		            t->right[c], c + 1 == t->ncols);
		if (c + 1 == t->ncols)
			buf_putc(out, '\n');
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const struct tab_cellv *cell =
			    &t->cells[r * t->ncols + c];
			if (c)
				buf_puts(out, "  ");
			render_cell(out, cell->text ? cell->text : "",
			            cell->color, use_color, width[c],
			            t->right[c], c + 1 == t->ncols);
		}
		/* An empty last column leaves trailing spaces: trim them. */
		while (out->len && buf_head(out)[out->len - 1] == ' ')
			out->len--;
		buf_putc(out, '\n');
	}
	free(width);
}
