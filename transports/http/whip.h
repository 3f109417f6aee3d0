/* WHIP (RFC 9725) ingest and WHEP playback on the HTTP transport's Janus API
 * port, for cardea.plugin.broadcast channels:
 *   POST   {prefix}/whip/{channel}     SDP offer -> 201 + answer, Location, ETag
 *   POST   {prefix}/whep/{channel}     the same for a viewer (recvonly offer)
 *   PATCH  {prefix}/whip/resource/{id} application/trickle-ice-sdpfrag: trickle
 *                                      (204) or ICE restart (200, new ETag)
 *   DELETE {prefix}/whip/resource/{id} ends the session
 *   OPTIONS on any of them             CORS preflight, Accept-Post
 * (/whep/resource/{id} is the same resource table.)
 *
 * Each resource is a Janus API client living inside the transport: a gateway
 * session on a transport session of its own (so its replies and events come
 * back to whip.c, not to the long-poll queues), one handle attached to the
 * broadcast plugin, kept alive by a timer until DELETE or a hangup.
 *
 * Threads: routing runs on the MHD workers; replies and events arrive on core
 * threads (cardea_whip_message); the keepalive timer runs on the transport's
 * timer thread. The resource table has its own leaf lock (never held while
 * calling the core or MHD).
 */
#ifndef CARDEA_HTTP_WHIP_H
#define CARDEA_HTTP_WHIP_H

#include <stdbool.h>
#include "http-priv.h"

/* Reads the `whip` section of the transport's config (enabled, prefix).
 * Main thread, after cardea_http_poll_init(). False on a bad config. */
bool cardea_whip_init(const char *config_path);
/* Ends every resource's session; main thread, before the listeners stop. */
void cardea_whip_shutdown(void);
/* After the HTTP daemons stopped: frees what a late request could still read. */
void cardea_whip_free(void);
/* True when `url` is a WHIP/WHEP path (and WHIP is enabled). */
bool cardea_whip_matches(const char *url);
/* MHD worker: the whole request is in. */
enum MHD_Result cardea_whip_route(http_req *req, const char *url, const char *method);
/* MHD worker, after a resume: sends what cardea_whip stored in `reply` (stolen). */
enum MHD_Result cardea_whip_send(http_req *req, json_t *reply, unsigned int status);
/* Core threads: what the core sends to WHIP's own transport session. */
bool cardea_whip_owns(cardea_transport_session *ts);
int cardea_whip_message(void *request_id, json_t *message);
void cardea_whip_session_over(guint64 session_id);

#endif
