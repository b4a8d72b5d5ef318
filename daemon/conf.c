/*
 * conf.c — svcd's configuration: built-in defaults, the INI parser (inih)
 * and the running configuration.
 */
#include "conf.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static struct conf *running;

struct conf *
conf_defaults(void)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	c->socket = xstrdup("/run/svcd/svcd.sock");
	c->log_level = LOGL_INFO;
	c->shutdown_timeout = 30;
	c->init_timeout = 30;
	c->stop_timeout = 10;
	c->max_request = 1 << 20;
	c->max_clients = 1024;
	c->output_soft = 1 << 20;
	c->output_hard = 8 << 20;
	c->queue_size = 65536;
	c->history = 1024;
	c->batch = 256;
	c->listener_timeout = 30;
	c->health_interval = 30;
	c->heartbeat = 5;
	c->heartbeat_event = false;
	return c;
}

void
conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->socket);
	free(c->group);
	free(c->emit_group);
	free(c->admin_group);
	for (struct conf_timer *t = c->timers, *n; t; t = n) {
		n = t->next;
		free(t->name);
		free(t->emit);
		free(t->data);
		free(t);
	}
	for (struct conf_hook *h = c->hooks, *n; h; h = n) {
		n = h->next;
		free(h->name);
		free(h->on);
		for (char **a = h->argv; a && *a; a++)
			free(*a);
		free(h->argv);
		free(h);
	}
	free(c);
}

const struct conf *
conf_get(void)
{
	if (!running)
		running = conf_defaults();
	return running;
}

void
conf_set(struct conf *c)
{
	if (c == running)
		return;
	conf_free(running);
	running = c;
}

void
conf_cleanup(void)
{
	conf_free(running);
	running = NULL;
}
