/*
 * conf.h — svcd's configuration (conf/svcd.conf, INI read with inih).
 *
 * conf_load() parses a file into a struct conf; every unknown section or key
 * and every bad value is an error "FILE:LINE: ..." naming the key. The
 * running configuration is a process-wide pointer (conf_get), swapped on
 * reload only once the new file validated.
 */
#ifndef SVCD_CONF_H
#define SVCD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_timer {
	char *name;      /* the NAME of [timer.NAME] */
	bool periodic;   /* every = D (true) or after = D (false) */
	double interval; /* seconds */
	char *emit;      /* event name */
	char *data;      /* compact JSON object text, "{}" by default */
	int line;        /* line of the section header */
	struct conf_timer *next;
};

/* [hook.NAME] — parsed now so the file format is stable; used by `hooks`. */
struct conf_hook {
	char *name;
	char *on;             /* pattern */
	char **argv;          /* NULL-terminated, split without a shell */
	double timeout;       /* seconds, default 30 */
	unsigned concurrency; /* default 1 */
	unsigned retries;     /* default 0 */
	double backoff;       /* first retry delay, doubling; default 1 s */
	int line;
	struct conf_hook *next;
};

enum conf_journal_sync {
	CONF_SYNC_OFF,    /* acknowledged at once; written when convenient */
	CONF_SYNC_BATCH,  /* acknowledged at once; group commits */
	CONF_SYNC_ALWAYS, /* acknowledged once durable */
};

enum conf_journal_damage {
	CONF_DAMAGE_REFUSE,   /* lost history or a corrupt db: do not start */
	CONF_DAMAGE_CONTINUE, /* start anyway, loudly, never reusing a seq */
};

struct conf {
	char *path; /* the file it came from, NULL for built-in defaults */

	/* [daemon] */
	char *socket;            /* default /run/svcd/svcd.sock */
	int log_level;           /* enum log_level; default info */
	double shutdown_timeout; /* default 30 s */
	double init_timeout;     /* per-service default, 30 s */
	double stop_timeout;     /* per-service default, 10 s */

	/* [control] */
	uint64_t max_request; /* default 1 MiB */
	unsigned max_clients; /* default 1024 */
	uint64_t output_soft; /* per-client output soft limit, default 1 MiB */
	uint64_t output_hard; /* hard limit, default 8 MiB */
	char *group;          /* socket group, NULL = daemon's group */
	char *emit_group;     /* may emit/schedule/cancel; NULL = none */
	char *admin_group;    /* may shutdown/reload; NULL = none */
	size_t max_tasks;     /* tasks `schedule` may create, default 1024 */
	uint64_t max_task_data; /* a scheduled task's data, default 64 KiB */

	/* [bus] */
	size_t queue_size;       /* default 65536 */
	size_t history;          /* default 1024 */
	size_t batch;            /* default 256 */
	double listener_timeout; /* default 30 s */

	/* [health] */
	double health_interval; /* default 30 s */

	/* [app] */
	double heartbeat;     /* default 5 s */
	bool heartbeat_event; /* emit `heartbeat` events; default false */

	/* [journal] — enabled when the section is present */
	bool journal;
	char *journal_path;        /* default /var/lib/svcd/journal.db */
	int journal_sync;          /* enum conf_journal_sync; default batch */
	size_t journal_keep_count; /* retention_count; 0 = no limit */
	double journal_keep_age;   /* retention_age, seconds; 0 = no limit */
	int journal_on_damage; /* enum conf_journal_damage; default refuse */

	/* [bridge] (services/bridge.h); bridge_url NULL: no bridge */
	char *bridge_url;        /* redis://HOST[:PORT][/DB], unix:///PATH */
	char **bridge_publish;   /* NULL-terminated patterns; NULL: none */
	char **bridge_subscribe; /* NULL-terminated patterns; NULL: none */
	char *bridge_channel;    /* channel prefix, default "svcd" */
	size_t bridge_buffer;    /* outbound events held, default 10000 */
	double bridge_reconnect_min; /* first retry delay, default 100 ms */
	double bridge_reconnect_max; /* longest retry delay, default 30 s */

	struct conf_timer *timers; /* in file order */
	struct conf_hook *hooks;   /* in file order */
};

/* Built-in defaults (every field set). Caller frees with conf_free. */
struct conf *conf_defaults(void);
/*
 * Parse path over the defaults. NULL with *cause ("svcd.conf:12: unknown key
 * 'queu_size' in [bus]") on any error; all errors found are reported, one
 * per line, in *cause.
 */
struct conf *conf_load(const char *path, char **cause);
void conf_free(struct conf *c);

/*
 * On reload: set *cause to a warning listing the keys that changed but only
 * take effect after a restart ("socket changed; takes effect after a
 * restart", one per line), or NULL when there are none (caller frees).
 * Never fails: returns 0.
 */
int conf_check_reload(const struct conf *old, const struct conf *new,
                      char **cause);
/*
 * Copy the keys that only take effect after a restart ([daemon] socket,
 * [control] group, [bus] queue_size, history, batch, listener_timeout) from
 * old into c, so that a reloaded configuration still says what is in effect.
 */
void conf_keep_fixed(struct conf *c, const struct conf *old);

/* The running configuration: never NULL (defaults until conf_set). */
const struct conf *conf_get(void);
/* Install c as the running configuration (takes ownership, frees the old). */
void conf_set(struct conf *c);
/* Free the running configuration (at exit). */
void conf_cleanup(void);

#endif
