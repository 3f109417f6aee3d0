/* Private to the PeerConnection glue (pc.c, pc-local.c, pc-offer.c, ...): the struct and
 * the few helpers both files need. See pc.h for ownership and threads. */
#ifndef CARDEA_WEBRTC_PC_PRIV_H
#define CARDEA_WEBRTC_PC_PRIV_H

#include <string.h>
#include "webrtc/pc.h"
#include "webrtc/loop.h"
#include "webrtc/ice.h"
#include "webrtc/sdp.h"
#include "webrtc/dtls.h"
#include "webrtc/srtp.h"
#include "webrtc/rtp.h"
#include "webrtc/rtcp.h"
#include "webrtc/sctp.h"
#include "webrtc/pc-rtcp.h"
#include "webrtc/pc-sim.h"
#include "session.h"
#include "gateway.h"
#include "log.h"

#define PC_MAX_MLINES 16
#define PC_MAX_SSRCS 8          /* remote SSRCs remembered per m-line (media + rtx + learned; simulcast: 3 + 3) */
#define PC_MAX_PTS 32
#define PC_GATHER_WAIT_US (3 * G_USEC_PER_SEC)   /* half-trickle: bounded wait for our candidates */
#define PC_GATHER_SLICE_US (50 * 1000)           /* ... re-checking that the PC is still open */
#define PC_PEER_SILENCE_US (30 * G_USEC_PER_SEC) /* RFC 7675's consent expiry */
#define PC_SCRATCH (CARDEA_RTP_PACKET_MAX + CARDEA_SRTP_MAX_OVERHEAD)

/* The data channel m-line of one SDP (pc-data.c). */
typedef struct pc_data_sdp {
	gboolean present;               /* an active m=application ... DTLS/SCTP line */
	guint16 port;                   /* a=sctp-port */
	gsize max_message;              /* a=max-message-size, capped; what that side accepts */
} pc_data_sdp;

/* One m-line. Remote fields come from the client's SDP, local ones from the
 * SDP we sent; both are applied on the loop thread (the only reader). */
typedef struct pc_media {
	/* What every packet relayed to the peer reads or writes (relay.c
	 * send_rtp_loop), first and together, then fb whose first fields are
	 * the same kind: 3 cache lines per packet where the declaration order
	 * took 7. Scenario c of tests/bench forwards each speaker's packet to
	 * 200 of these, whose lines the other speakers' packets have evicted
	 * by the time the next one comes. */
	gboolean active;        /* accepted (port != 0) in our SDP */
	gboolean send;          /* we send on it */
	gboolean video;
	guint32 local_ssrc;
	guint n_local_pts;
	gboolean sstats_init;
	guint8 local_pts[PC_MAX_PTS];  /* PTs our SDP accepted: anything else (rtx...) is dropped */
	/* counters (loop thread writes, info reads on the loop too) */
	guint64 packets_out, bytes_out;
	cardea_rtp_send_stats sstats;   /* RTCP SRs (RFC 3550) for what we send */
	pc_rtcp_media fb;               /* NACK/RTX/TWCC/REMB state (pc-rtcp.h) */
	gboolean present;
	char mid[32];
	/* remote */
	guint32 remote_ssrcs[PC_MAX_SSRCS];
	guint n_remote_ssrcs;
	guint32 remote_ssrc;    /* the peer's main SSRC (first packet seen): PLI target */
	guint8 pts[PC_MAX_PTS];
	guint n_pts;
	char codec[16];
	guint64 packets_in, bytes_in;
	guint64 keyframe_requests_in, keyframe_requests_out;
	cardea_rtp_recv_stats rstats;   /* RR blocks for what we receive */
	gint64 rtt_us;                  /* from the peer's report blocks, -1 unknown */
	pc_sim_media sim;               /* simulcast substreams the peer sends (pc-sim.h) */
} pc_media;

struct cardea_pc {
	struct cardea_handle *handle;   /* borrowed: the handle owns us and outlives us */
	cardea_loop *loop;              /* one "user" held for the PC's life */
	guint64 sid, hid;               /* for logs */
	volatile gint active;           /* 1 from a remote offer/answer until hangup */

	/* Shared with the thread building the local SDP. */
	GMutex mutex;
	GCond cond;
	gboolean gathering_done;
	char *local_ufrag, *local_pwd;  /* owned */
	GPtrArray *local_candidates;    /* owned char* ("candidate:...") */
	guint n_mlines;                 /* m-lines of the last remote SDP */
	guint bundle_index;             /* the m-line whose transport we use */
	char mids[PC_MAX_MLINES][32];
	guint32 local_ssrcs[PC_MAX_MLINES];
	guint32 local_rtx_ssrcs[PC_MAX_MLINES]; /* our RTX SSRC per m-line, offered when the answer has rtx */
	cardea_dtls_role role;          /* our DTLS role for the current negotiation */
	gboolean remote_mixed;          /* the peer offered a=extmap-allow-mixed */
	gboolean full_trickle;          /* nat.full_trickle and the peer trickles: candidates as events */
	char *remote_ufrag, *remote_pwd;/* owned: the peer's ICE credentials, to detect ICE restarts */
	guint64 sdp_sess_id, sdp_version;/* o= of our descriptions: one session, growing version */
	/* Gateway offers (pc-offer.c): from the plugin's offer until the answer
	 * (or the end of the PC). */
	gboolean offer_pending;
	gboolean offer_fresh;           /* that offer started a new transport: the answer brings DTLS */
	gboolean offer_restart;         /* it restarted ICE: the answer brings new remote credentials */
	cardea_sdp *offer;              /* owned: the completed offer as sent (NULL until written) */
	pc_data_sdp offer_data;         /* its data channel line */

	/* Loop thread only. */
	cardea_ice *ice;
	cardea_dtls *dtls;
	GSource *dtls_timer;
	cardea_loop_tick *rtcp_tick;    /* periodic SR/RR while the transport exists */
	GSource *teardown;              /* pending deferred teardown (hangup from a callback) */
	gboolean ice_connected, dtls_connected, up;
	gint64 last_in_us;              /* last RTP/RTCP that unprotected, 0 none yet (consent, pc.c peer_silent) */
	guint8 mid_ext_id;
	/* One entry per m-line index any applied SDP had: grown (never shrunk)
	 * by cardea_pc_priv_media_reserve when a description with more m-lines
	 * is applied, so a 2-m-line subscriber pays for 2, not PC_MAX_MLINES.
	 * Growing moves the array: no pointer into it outlives a loop callback. */
	pc_media *media;                /* owned */
	guint n_media;
	pc_rtcp fb;                     /* transport-wide feedback state (pc-rtcp.h) */
	guint64 srtp_drops, rtp_invalid, rtp_unknown, rtcp_invalid, early_drops;
	guint64 pt_drops;               /* relayed with a payload type the peer did not accept */
	/* Data channels (pc-data.c). */
	pc_data_sdp data_remote, data_local;
	cardea_sctp *sctp;              /* owned: from DTLS connected (both SDPs have data) to teardown */
	gboolean data_ready_sent;
	guint64 data_dropped_out, data_early_drops, data_write_failures;
	guint8 scratch[PC_SCRATCH];     /* relay_rtp / RTCP output buffer */
};

/* One local description's media half, computed where the SDP is built and
 * applied on the loop (cardea_pc_priv_apply_local). */
typedef struct pc_local {
	cardea_pc *pc;
	struct cardea_handle *handle;   /* ref */
	pc_media media[PC_MAX_MLINES];  /* local fields only */
	guint n_media;                  /* m-lines of that description */
	pc_data_sdp data;
} pc_local;

/* One remote description, parsed on the API thread, applied on the loop. */
typedef struct pc_remote {
	cardea_pc *pc;
	struct cardea_handle *handle;   /* ref: the pc lives as long as its handle */
	gboolean fresh;                 /* new transport (first offer or after a hangup) */
	gboolean restart;               /* ICE restart of the live transport (new remote credentials) */
	gboolean controlling;
	char *ufrag, *pwd;
	char *local_ufrag, *local_pwd;  /* fresh or restart: the credentials our SDP announces */
	char *fp_alg, *fp_value;
	cardea_dtls_role role;
	GPtrArray *candidates;          /* owned char* */
	gboolean end_of_candidates;
	guint8 mid_ext_id;
	pc_media media[PC_MAX_MLINES];  /* remote fields only */
	guint n_media;                  /* m-lines of that description */
	pc_data_sdp data;
	/* An answer to our offer: */
	gboolean create_dtls;           /* our offer made the transport: DTLS starts now */
	gboolean set_credentials;       /* the peer's (new) ICE credentials go to the agent */
	pc_local *local;                /* owned: our negotiated half, applied right after */
} pc_remote;

/* Our side of a negotiation as the SDP builder sees it (pc->mutex copy). */
typedef struct pc_snapshot {
	gboolean complete;              /* every candidate is in (end-of-candidates) */
	char *ufrag, *pwd;              /* owned */
	GPtrArray *candidates;          /* owned char* */
	guint n_mlines;
	char mids[PC_MAX_MLINES][32];
	guint32 ssrcs[PC_MAX_MLINES], rtx_ssrcs[PC_MAX_MLINES];
	cardea_dtls_role role;
	gboolean mixed;
	guint64 sess_id, sess_version;
} pc_snapshot;

/* The handle's PC or NULL (installed once, see cardea_pc_priv_get). */
static inline cardea_pc *pc_of(cardea_handle *h) {
	return h ? g_atomic_pointer_get(&h->pc) : NULL;
}
/* Loop thread: makes pc->media hold at least n entries (new ones zeroed). */
void cardea_pc_priv_media_reserve(cardea_pc *pc, guint n);
/* Runs fn(data) on the PC's loop and waits for it (at once when already there). */
void cardea_pc_priv_run_sync(cardea_pc *pc, GSourceFunc fn, gpointer data);
/* The handle's PC, created on first use (any thread; one wins a race). */
cardea_pc *cardea_pc_priv_get(cardea_handle *h);
guint32 cardea_pc_priv_new_ssrc(void);
/* Loop thread: a transport for our own offer (controlling ICE, gathering;
 * DTLS waits for the answer). GSourceFunc with the pc. */
gboolean cardea_pc_priv_offer_transport(gpointer pc);
/* Loop thread: ICE restart for our own offer (pc->local_* are the new
 * credentials). GSourceFunc with the pc. */
gboolean cardea_pc_priv_offer_restart(gpointer pc);
/* Loop thread: applies a pc_local (GSourceFunc) / frees it. */
gboolean cardea_pc_priv_apply_local(gpointer l);
void cardea_pc_priv_local_free(gpointer l);
/* Ends the PC (hangup event with `reason`, plugin hangup_media). */
void cardea_pc_priv_end(cardea_pc *pc, const char *reason);

/* Local SDP building blocks (pc-local.c). snapshot_take waits (bounded)
 * for gathering unless full trickle; FALSE with *reason when the PC died. */
gboolean cardea_pc_priv_snapshot_take(cardea_pc *pc, pc_snapshot *snap, char **reason);
void cardea_pc_priv_snapshot_clear(pc_snapshot *snap);
/* Transport attributes of one active m-line (ICE, candidates, setup, rtcp-mux). */
void cardea_pc_priv_mline_transport(cardea_sdp *sdp, cardea_sdp_mline *m, const pc_snapshot *snap,
	cardea_sdp_setup setup);
/* Session-level completion: fingerprint, msid-semantic, ice-options, o=,
 * BUNDLE of the active mids when the plugin wrote none. FALSE without a
 * certificate. */
gboolean cardea_pc_priv_session_complete(cardea_sdp *sdp, const pc_snapshot *snap, char **reason);
/* Our SSRC (+ msid when the plugin gave none) on a sending m-line. */
void cardea_pc_priv_mline_ssrc(cardea_sdp *sdp, cardea_sdp_mline *m, guint index, guint32 ssrc);

/* Gateway offers (pc-offer.c). */
json_t *cardea_pc_offer_local(cardea_handle *h, json_t *jsep, char **reason);
/* API thread, from process_remote: checks an answer against the pending
 * offer and fills r's answer fields. 0 or a Janus error code with *reason. */
int cardea_pc_offer_answer(cardea_pc *pc, const cardea_sdp *answer, pc_remote *r, char **reason);
/* The PC ended: forget a pending offer. */
void cardea_pc_offer_reset(cardea_pc *pc);

/* Data channels (pc-data.c). Parsing runs where the SDP is handled; the
 * rest on the loop thread. */
void cardea_pc_data_remote_sdp(const cardea_sdp *sdp, pc_data_sdp *out);
/* Our answer's data m-line: fills a=sctp-port/a=max-message-size the plugin left out. */
void cardea_pc_data_local_mline(cardea_sdp *sdp, cardea_sdp_mline *m, pc_data_sdp *out);
/* Starts the association once DTLS is connected and both SDPs have data. */
void cardea_pc_data_maybe_start(cardea_pc *pc);
/* cardea_dtls_callbacks.data: decrypted application data = SCTP packets. */
void cardea_pc_data_dtls_in(cardea_dtls *dtls, const guint8 *buf, gsize len, gpointer user_data);
/* Transport teardown, before DTLS is freed. */
void cardea_pc_data_teardown(cardea_pc *pc);
json_t *cardea_pc_data_info(cardea_pc *pc);

#endif
