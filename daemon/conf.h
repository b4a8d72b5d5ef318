/*
 * conf.h — the configuration engine: an INI file (conf/svcd.conf, read with
 * inih) parsed into the options structs of the services of a table.
 *
 * The engine knows no service. Each service's descriptor (daemon/service.h)
 * lists the sections it owns (struct svc_conf_section): typed items, each
 * parsed into the service's own options struct at an offset. Loading a file
 * finds the owner of every [section] and key among the table's
 * descriptors, parses each value with the item's type, fills defaults from
 * the items' default text (parsed by the same type), runs each section's
 * check and each descriptor's check. Every unknown section or key and every
 * bad value is an error "FILE:LINE: ..." naming the key; all errors found
 * are reported, sorted by line.
 *
 * The running configuration lives with the graph (svc_graph_set_conf); a
 * service reads its struct with svc_options(self).
 */
#ifndef SVCD_CONF_H
#define SVCD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/service.h"

struct svc_conf_item;
/* The parser, passed to section checks and to types: where errors go. */
struct svc_conf_ctx;

struct svc_conf_type {
	const char *name; /* "duration", "size", ... (docs) */
	/*
	 * Parse v into dst (it holds limits and args); write dst only on
	 * success. -1 with *cause set to the reason without "FILE:LINE:
	 * key: " (the engine adds "bad value for 'KEY' in [SECTION]: "), or
	 * -1 with *cause NULL after reporting a message of its own with
	 * svc_conf_error (cx is NULL when parsing defaults or overrides).
	 */
	int (*parse)(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
	             const char *v, void *dst, char **cause);
	size_t size;                                 /* bytes at dst */
	void (*free)(void *dst);                     /* NULL: nothing owned */
	bool (*equal)(const void *a, const void *b); /* NULL: memcmp(size) */
	void (*copy)(void *dst, const void *src);    /* NULL: memcpy(size) */
};

/*
 * Stock types. Limits: it->min / it->max as text in the type's own syntax
 * ("1K", "1h", "1000000"); NULL is the type's natural bound (a duration is
 * always more than 0). Messages quote them as "(1K..1G)", "at most 1h".
 */
extern const struct svc_conf_type svc_conf_duration; /* double seconds */
extern const struct svc_conf_type svc_conf_size;     /* uint64_t bytes */
extern const struct svc_conf_type svc_conf_uint;     /* unsigned */
extern const struct svc_conf_type svc_conf_count;    /* size_t */
extern const struct svc_conf_type svc_conf_bool;     /* bool */
extern const struct svc_conf_type svc_conf_string;   /* char * (owned) */
extern const struct svc_conf_type svc_conf_path;     /* char *, not empty */
extern const struct svc_conf_type svc_conf_socket;   /* char *, a sun_path */
extern const struct svc_conf_type svc_conf_group;    /* char *; "" = NULL */
extern const struct svc_conf_type svc_conf_enum;     /* int; see below */
extern const struct svc_conf_type svc_conf_patterns; /* char **, see below */
/* char **: blank- or comma-separated words, NULL-terminated; NULL if none */
extern const struct svc_conf_type svc_conf_words;
extern const struct svc_conf_type svc_conf_pattern;     /* char *, one */
extern const struct svc_conf_type svc_conf_event;       /* char *, event name */
extern const struct svc_conf_type svc_conf_level;       /* int, log level */
extern const struct svc_conf_type svc_conf_json_object; /* char *, compact */

/* svc_conf_enum's it->arg: NULL-terminated, in the order messages list
 * them ("'x' is not always, batch or off"). */
struct svc_conf_enum {
	const char *name;
	int value;
};

/* svc_conf_patterns: blank- or comma-separated event patterns (NAME,
 * PREFIX.* or *), NULL-terminated; NULL when none. */
void svc_conf_strv_free(char **v);
/* For a service's own char ** types (NULL-terminated, owned): free, equal
 * and copy at dst. */
void svc_conf_strv_free_at(void *dst);
bool svc_conf_strv_equal(const void *a, const void *b);
void svc_conf_strv_copy(void *dst, const void *src);
/* For a service's own char * types: free, equal and copy of a string. */
void svc_conf_str_free(void *dst);
bool svc_conf_str_equal(const void *a, const void *b);
void svc_conf_str_copy(void *dst, const void *src);

#define SVC_CONF_RESTART 0x1u /* a reload keeps the old value, warns */

struct svc_conf_item {
	const char *key;
	const struct svc_conf_type *type;
	size_t off;       /* offsetof in the options (or instance) struct */
	const char *dflt; /* default as text; NULL: zero / NULL;
	                   * %p in it is the program's name, %% a % (see
	                   * svc_conf_set_program) */
	const char *min, *max;
	const void *arg; /* type-specific (enum names) */
	unsigned flags;  /* SVC_CONF_RESTART */
	const char *doc; /* one line */
};

/* The first member of a named section's instance struct. */
struct svc_conf_instance {
	char *name; /* the NAME of [section.NAME] */
	int line;   /* of its header */
};

/* The instances of a named section, in file order (in the options). */
struct svc_conf_list {
	size_t n;
	void **v; /* each an instance struct, first member svc_conf_instance */
};

/*
 * A section. Plain: [name], the items point into the service's options
 * struct; several services may own items of one plain section. Named
 * (named = true): any number of [name.NAME] sections (NAME 1-64
 * characters of A-Z a-z 0-9 _ . : -), each an instance struct of
 * inst_size listed in the struct svc_conf_list at list_off of the options.
 * present_off (has_present): a bool in the options set when the section
 * appears in the file.
 */
struct svc_conf_section {
	const char *name;
	const struct svc_conf_item *items;
	size_t nitems;
	bool named;
	size_t inst_size, list_off; /* named sections */
	bool has_present;
	size_t present_off;
	unsigned flags; /* SVC_CONF_RESTART: the whole section */
	/*
	 * Rules over the whole section (options or instance), run when the
	 * section ends: report with svc_conf_error (svc_conf_key_line finds
	 * where a key was given) and return -1, or return 0.
	 */
	int (*check)(struct svc_conf_ctx *cx, void *target);
	const char *doc;
};

/* Items table helper: .items = X, .nitems = SVC_ARRAY_SIZE(X). */
#define SVC_CONF_ITEMS(a) .items = (a), .nitems = SVC_ARRAY_SIZE(a)
/* Descriptor helper: .conf = SVC_CONF_SECTIONS(&a, &b). */
#define SVC_CONF_SECTIONS(...)                                                 \
	((const struct svc_conf_section *const[]){__VA_ARGS__, NULL})

/* For checks and types: report an error at line (0: the section header). */
void svc_conf_error(struct svc_conf_ctx *cx, int line, const char *fmt, ...)
    SVC_PRINTF_LIKE(3, 4);
/* The line a key was given on in the current section, 0 if it was not. */
int svc_conf_key_line(const struct svc_conf_ctx *cx, const char *key);
/* The line being parsed. */
int svc_conf_lineno(const struct svc_conf_ctx *cx);
/* The NAME of the current [section.NAME], or the section's name. */
const char *svc_conf_section_name(const struct svc_conf_ctx *cx);
/* The descriptor named name in the table being loaded, or NULL (for checks
 * of keys that name services). */
const struct svc_desc *svc_conf_service(const struct svc_conf_ctx *cx,
                                        const char *name);
/* The service of the table being loaded whose descriptor's tasks list
 * has task, or NULL. */
const struct svc_desc *svc_conf_task_owner(const struct svc_conf_ctx *cx,
                                           const char *task);
/* s quoted short for a message (valid for the next few calls). */
const char *svc_conf_quote(struct svc_conf_ctx *cx, const char *s);

/* A loaded configuration: the options struct of every service of a table
 * (a service with no conf_size has none). */
struct svc_conf;
/*
 * Parse path (NULL: the built-in defaults) for the services of table. NULL
 * with *cause ("svcd.conf:12: unknown key 'queu_size' in [x]", one error
 * per line, at most 100) on any error. The descriptors are borrowed.
 */
struct svc_conf *svc_conf_load(const char *path,
                               const struct svc_desc *const *table, size_t n,
                               char **cause);
void svc_conf_free(struct svc_conf *c);
/* An override (command line): section/key = value, as if in the file. */
int svc_conf_set(struct svc_conf *c, const char *section, const char *key,
                 const char *value, char **cause);
/* The options struct of service (NULL: not in c's table or no options). */
const void *svc_conf_options(const struct svc_conf *c, const char *service);
/* The value of section/key (the item's type says what it points to), NULL
 * when no service of c's table owns that key. */
const void *svc_conf_lookup(const struct svc_conf *c, const char *section,
                            const char *key);
/*
 * The built-in defaults of d's options (NULL without conf_size), built on
 * first use and kept for the process: for a constructor called without
 * options (bus_new(loop, NULL)), so that its defaults are the items'.
 */
const void *svc_conf_desc_defaults(const struct svc_desc *d);
/* The file it came from; NULL for the built-in defaults. */
const char *svc_conf_file(const struct svc_conf *c);

/*
 * The program's name, which "%p" in an item's default stands for (default
 * "svcd"), so a developer's daemon gets its own default paths: svcd_main
 * sets it to argv[0]'s basename before reading any configuration, e.g.
 * "/run/%p/%p.sock" is /run/svcd/svcd.sock for svcd and
 * /run/exampled/exampled.sock for exampled. Set it before the first
 * configuration is read: the built-in defaults are kept once built.
 */
void svc_conf_set_program(const char *name);
const char *svc_conf_program(void);
/* it's default with %p and %% replaced (allocated), or NULL if it has none. */
char *svc_conf_default(const struct svc_conf_item *it);

/*
 * Every section and key the services of table own, written to f as a
 * configuration file that changes nothing: each section header and key
 * commented out (the key at its default), after its one-line doc, type,
 * range and whether a reload takes it (svcd --help-config). section: only that
 * one (NULL: all); -1 when no service owns it.
 */
int svc_conf_print_schema(FILE *f, const struct svc_desc *const *table,
                          size_t n, const char *section);

/*
 * Reload, step 1: for every service of new that old has too, a changed
 * restart-only item (or section) keeps its old value in new and is listed
 * in *warn ("KEY changed; takes effect after a restart", "[SECTION]
 * changed; ...", "[SECTION.NAME] sections changed; ...", one per line; NULL
 * when none, caller frees).
 */
void svc_conf_keep_restart(struct svc_conf *new, const struct svc_conf *old,
                           char **warn);
/* Step 2: whether anything of service differs between old and new. */
bool svc_conf_changed(const struct svc_conf *old, const struct svc_conf *new,
                      const char *service);
/* Step 3, when service refused new: put back its old options in new. */
void svc_conf_keep_service(struct svc_conf *new, const struct svc_conf *old,
                           const char *service);

#endif
