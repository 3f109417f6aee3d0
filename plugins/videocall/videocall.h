/* janus.plugin.videocall: private declarations shared by the plugin's files.
 *
 *  videocall.c   plugin entry points, sessions, the user registry, requests
 *  vc-sdp.c      the callee's offer from the caller's offer, and the
 *                caller's answer from the callee's answer (cardea/sdp.h)
 *  vc-media.c    RTP/RTCP/data relay between the two legs, simulcast
 *
 * Locks, in the order they may be taken (never call the core holding one):
 *  1. vc_state_mutex (videocall.c): the registry and every session's call
 *     state (username, peer, state, pending offer).
 *  2. vc_session.media_mutex: the session's media_peer and fwd[] config,
 *     read by the session's own media loop thread.
 */
#ifndef CARDEA_VIDEOCALL_H
#define CARDEA_VIDEOCALL_H

#include <glib.h>
#include <jansson.h>
#include "cardea/plugin.h"
#include "cardea/sdp.h"
#include "cardea/simulcast.h"

#define VC_PACKAGE "janus.plugin.videocall"
#define VC_MAX_MLINES 16                /* m-lines a call relays (more are rejected) */

extern const cardea_plugin_core *vc_core;
extern cardea_plugin vc_plugin;

/* How what one session SENDS on an m-line goes to its peer. Written on the
 * queue thread when a negotiation completes, copied by the sender's media
 * thread when it sees a new cfg_gen. */
typedef struct vc_fwd_cfg {
	gboolean active;                /* both legs accepted the m-line */
	gboolean video;
	cardea_video_codec codec;       /* of the first payload; UNKNOWN for audio */
	int substreams;                 /* > 1: the sender simulcasts here */
	guint32 pt_ok[4];               /* PTs the receiving leg negotiated (bitmap) */
} vc_fwd_cfg;

/* Media thread state of one m-line of what a session sends. */
typedef struct vc_fwd {
	vc_fwd_cfg cfg;
	cardea_sim_selector sel;
	cardea_sim_rewriter rw;
} vc_fwd;

typedef enum vc_state {
	VC_IDLE = 0,
	VC_CALLING,                     /* caller: offer sent on, waiting for `accept` */
	VC_RINGING,                     /* callee: got `incomingcall`, may `accept` */
	VC_INCALL,
} vc_state;

typedef struct vc_session vc_session;
struct vc_session {
	cardea_plugin_session *app;     /* ref held until the session is freed */
	cardea_refcount ref;
	/* Under vc_state_mutex. */
	char *username;                 /* owned; NULL until `register` */
	vc_session *peer;               /* ref held while in a call */
	vc_state state;
	char *pending_offer;            /* owned: our offer the peer has not answered yet */
	/* What this user sends: relayed (1) or dropped (0); REMB cap (bps, 0 none). */
	volatile gint audio, video, bitrate;
	/* What this user RECEIVES of a simulcast peer (set by `set`); -1 default. */
	volatile gint substream_target, temporal_target, fallback;
	volatile gint sim_gen;          /* bumped on every change of the three above */
	volatile gint substream, temporal;  /* last layer the peer's thread sent us, -1 none */
	/* Under media_mutex: the peer media goes to, and how. */
	GMutex media_mutex;
	vc_session *media_peer;         /* ref held */
	vc_fwd_cfg fwd_cfg[VC_MAX_MLINES];
	volatile gint cfg_gen;          /* bumped (under media_mutex) on any change */
	/* Media loop thread only. */
	gint cfg_applied, peer_sim_applied;
	vc_fwd fwd[VC_MAX_MLINES];
	guint64 relayed, dropped;       /* counters, read racily by query_session */
	/* Recording of what this user sends (videocall.c, docs/recording.md).
	 * rec[] under media_mutex (the media thread writes holding it; files
	 * are opened/closed without it); rec_codec[] under vc_state_mutex,
	 * set when a negotiation completes ("" : nothing to record there). */
	struct cardea_recorder *rec[VC_MAX_MLINES];
	char rec_codec[VC_MAX_MLINES][16];
	gboolean rec_video[VC_MAX_MLINES];
};

void vc_session_ref(vc_session *s);
void vc_session_unref(vc_session *s);

/* ---- vc-sdp.c (queue thread) ---- */

/* The offer the gateway sends the callee, built from the caller's offer:
 * the same m-lines (order, mids, directions), the codecs the core relays
 * with the caller's PTs, fmtp and header extension ids; no simulcast.
 * NULL with *error when nothing in the offer can be relayed. g_free it. */
char *vc_sdp_offer_from(const char *offer_text, const char **error);

/* The gateway's answer to `offer_text` (the offerer's), from the answer the
 * other side gave to the offer vc_sdp_offer_from() built: an m-line is
 * accepted only if the answerer accepted it, with the codecs it chose. Also
 * fills how each side's media is relayed: offerer_fwd for what the offerer
 * sends, answerer_fwd for what the answerer sends (VC_MAX_MLINES each). */
char *vc_sdp_answer_from(const char *offer_text, const char *peer_answer_text,
	vc_fwd_cfg *offerer_fwd, vc_fwd_cfg *answerer_fwd, const char **error);

/* ---- vc-media.c ---- */

/* Starts relaying `s`'s media to `peer` (NULL stops), with `cfg` (NULL:
 * keep the current one). Any thread; takes media_mutex. */
void vc_media_set_peer(vc_session *s, vc_session *peer, const vc_fwd_cfg *cfg);
/* Asks `sender` for a keyframe on every video m-line it relays (its peer
 * just started receiving). */
void vc_media_request_keyframes(vc_session *sender);

void vc_setup_media(cardea_plugin_session *app);
void vc_incoming_rtp(cardea_plugin_session *app, cardea_rtp_packet *packet);
void vc_incoming_keyframe_request(cardea_plugin_session *app, int mindex);
void vc_data_ready(cardea_plugin_session *app);
void vc_incoming_data(cardea_plugin_session *app, cardea_data_packet *packet);

/* ---- recording (videocall.c) ---- */
/* Media thread: writes the packet if s records that m-line. */
void vc_record_rtp(vc_session *s, const cardea_rtp_packet *packet);

#endif
