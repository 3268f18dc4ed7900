/* metrics.h - Prometheus /metrics (text exposition format 0.0.4) over libevent's evhttp.
 *
 * Served on worker 0's event loop at metrics_listen ("host:port"; restart-only), so a scrape is
 * answered from a snapshot with worker 0 as origin: the reply is sent when every worker has
 * filled its part (evhttp keeps the request alive until then). Other paths get 404. */
#ifndef PGPIN_METRICS_H
#define PGPIN_METRICS_H

#include "proxy.h"
#include "snapshot.h"

#include <event2/buffer.h>

typedef struct Metrics Metrics;

/* Listen on w->cfg->metrics_listen with w's event base. NULL with the reason logged (bad
 * address, port taken, out of memory). Freed with metrics_free after w's thread stopped. */
Metrics *metrics_start(Proxy *w);
void metrics_free(Metrics *m);

/* The exposition text of a finished snapshot, appended to out. */
void metrics_render(struct evbuffer *out, const Snapshot *s);
/* A label value escaped for the text format (\\, \", \n), appended to out. */
void metrics_escape_label(struct evbuffer *out, const char *value);

#endif
