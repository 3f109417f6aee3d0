/* Prometheus text exposition of the gateway's state (served as /metrics by
 * the HTTP transport's admin listener through the Admin API verb "metrics").
 * API thread only: it walks the session tables and asks each live
 * PeerConnection's loop for its counters. */
#ifndef CARDEA_METRICS_H
#define CARDEA_METRICS_H

#include <glib.h>

/* The whole exposition (g_free). */
char *cardea_metrics_text(void);

#endif
