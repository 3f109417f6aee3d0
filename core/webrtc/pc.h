/* PeerConnection glue: ties one handle's ICE agent, DTLS-SRTP session and
 * negotiated m-lines to the Janus API (jsep in and out, trickle, hangup,
 * webrtcup) and to the plugin's media callbacks.
 *
 * Ownership: a handle owns at most one cardea_pc (h->pc), created by the
 * first client offer or plugin offer (pc-offer.c) and kept across hangups (a new offer after a hangup
 * gets fresh ICE/DTLS in the same struct). cardea_pc_destroy() (detach)
 * closes the transport; the struct itself is freed with the handle
 * (cardea_pc_free from the handle's last unref), so whoever holds a handle
 * ref may call any function here.
 *
 * Threads: the ICE agent, DTLS, SRTP and the per-m-line table belong to the
 * PC's media loop thread (loop.h) and are touched only there. Other threads
 * hand work over with cardea_loop_invoke(); hangup, destroy and info wait for
 * the loop to finish that work (never while holding a lock the loop takes),
 * so when they return no plugin media callback for that transport runs any
 * more. The gathering results are shared with the thread that builds the
 * local SDP under pc->mutex.
 */
#ifndef CARDEA_WEBRTC_PC_H
#define CARDEA_WEBRTC_PC_H

#include <glib.h>
#include <jansson.h>
#include "cardea/plugin.h"
#include "cardea/transport.h"

struct cardea_handle;
typedef struct cardea_pc cardea_pc;

/* API thread, after check_jsep accepted `jsep`: parses and validates the SDP
 * (465 with the parser's message), creates or re-arms the PC on a loop, sets
 * the remote ICE credentials/candidates and the DTLS role/fingerprint, and
 * applies trickles queued on the handle. An answer must match the pending
 * gateway offer (469 without one, 465 when it does not fit); an offer while
 * one of ours is pending is glare (471). 0, or an error code with *reason
 * (g_free). */
int cardea_pc_process_remote(struct cardea_handle *h, json_t *jsep, char **reason);

/* Any thread (plugin push_event): turns the plugin's SDP in `jsep` (an
 * answer, or an offer: see pc-offer.c) into the full local SDP (ICE
 * credentials, candidates after a bounded wait for gathering, fingerprint,
 * setup, BUNDLE, rtcp-mux, ssrc/msid). Returns a new jsep (new reference)
 * or NULL with *reason (g_free). */
json_t *cardea_pc_local_jsep(struct cardea_handle *h, json_t *jsep, char **reason);

/* API thread: a validated trickle candidate object ({"candidate",...} or
 * {"completed":true}). FALSE when there is no live PC yet: queue it. */
gboolean cardea_pc_trickle(struct cardea_handle *h, json_t *candidate);

/* Any thread: closes the PC's transport if one is up, calls the plugin's
 * hangup_media and sends a `hangup` event with `reason`. No-op otherwise. */
void cardea_pc_hangup(struct cardea_handle *h, const char *reason);

/* API thread, on detach (after `stopped` is set, before the plugin's
 * destroy_session): like hangup but without the event. */
void cardea_pc_destroy(struct cardea_handle *h);

/* Frees the struct (handle's last unref). Transport must be gone. */
void cardea_pc_free(cardea_pc *pc);

/* Admin handle_info "webrtc" member (new reference; JSON null without a PC). */
json_t *cardea_pc_info(struct cardea_handle *h);

/* cardea_transport_core.ice_restart (transport.h): an ICE restart with the
 * peer's new credentials and no SDP (WHIP/WHEP PATCH). pc-restart.c. */
int cardea_pc_transport_ice_restart(cardea_transport_session *ts, guint64 session_id, guint64 handle_id,
	const char *ufrag, const char *pwd, json_t **local);

/* The plugin_core media services (see plugin.h). */
void cardea_pc_relay_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet);
void cardea_pc_send_keyframe_request(cardea_plugin_session *app, int mindex);
void cardea_pc_relay_data(cardea_plugin_session *app, const cardea_data_packet *packet);
void cardea_pc_send_remb(cardea_plugin_session *app, uint32_t bitrate);

#endif
