/* Per-leg RTCP feedback for the PeerConnection glue (pc-rtcp.c): NACK
 * generation and retransmission (RTX or plain), transport-wide CC feedback,
 * REMB with a plugin-set cap, the peer's bandwidth estimate for the plugin
 * (REMB or transport-cc based, webrtc/bwe.h), keyframe-request rate
 * limiting, and the `media` / `slowlink` events.
 *
 * Private to pc*.c, like pc-priv.h (which embeds the two structs below and
 * includes this file).
 *
 * Ownership: the pointers in pc_rtcp_media and pc_rtcp are owned by the PC.
 * They are allocated when our answer is applied on the loop (never per
 * packet) and freed by cardea_pc_rtcp_stop() (transport teardown) or, as a
 * last resort, cardea_pc_rtcp_free() (the PC's free).
 *
 * Threads: everything here runs on the PC's loop thread, except
 * cardea_pc_rtcp_answer_mline() (the thread building the local SDP; it only
 * touches the SDP and the pc_media copy it is given), cardea_pc_rtcp_free()
 * (the handle's last unref, when no loop callback can run any more) and
 * cardea_pc_send_remb() (any thread; hands over to the loop).
 */
#ifndef CARDEA_WEBRTC_PC_RTCP_H
#define CARDEA_WEBRTC_PC_RTCP_H

#include <glib.h>
#include <jansson.h>
#include "webrtc/rtp.h"
#include "webrtc/rtcp.h"
#include "webrtc/nack.h"
#include "webrtc/bwe.h"
#include "cardea/sdp.h"

#define PC_RTCP_MAX_RTX 8           /* rtx payload types remembered per m-line */

/* Per m-line. The "negotiated" part is filled from our answer by
 * cardea_pc_rtcp_answer_mline() and copied onto the loop by
 * cardea_pc_rtcp_apply_local(); the rest is loop state. */
typedef struct pc_rtcp_media {
	/* Touched by every packet relayed to the peer (first: see pc_media). */
	cardea_rtx_buffer *history;         /* owned: what we sent, for NACKs (NULL: no nack or not sending) */
	guint16 newest_seq_out;             /* highest RTP seq sent (history kept) */
	gboolean have_seq_out;
	/* negotiated (what our answer says) */
	gboolean nack, pli, fir, remb, twcc;
	guint8 rtx_pt[PC_RTCP_MAX_RTX];     /* rtx PT ... */
	guint8 rtx_apt[PC_RTCP_MAX_RTX];    /* ... and the PT it repairs */
	guint n_rtx;
	guint32 local_rtx_ssrc;             /* our RTX SSRC (a=ssrc-group:FID), 0 = plain retransmission */
	guint8 twcc_ext_id, abs_send_time_ext_id;
	/* loop state */
	cardea_nack_tracker *tracker;       /* owned: gaps in what the peer sends (NULL: not receiving) */
	cardea_rtx_stream rtx_out;
	cardea_keyframe_limiter kf;         /* PLI/FIR we send */
	gboolean kf_init;
	gboolean receiving;                 /* `media` receiving:true was sent */
	gint64 last_rtp_us;                 /* last media packet from the peer */
	guint window_lost_in, window_nacked_in; /* slowlink: this window's losses, both directions */
	/* counters */
	guint64 nacks_out, nack_packets_out;     /* seqs we asked for (retries included), packets */
	guint64 nacks_in, nack_packets_in;       /* seqs the peer asked for, packets */
	guint64 retransmissions_out;             /* packets resent for the peer's NACKs */
	guint64 retransmissions_in;              /* repaired packets received (RTX or late) */
	guint64 rtx_probes_in;                   /* RTX we did not ask for (padding, copies), dropped */
	guint64 rtx_misses;                      /* NACKed seqs we could not resend */
	guint64 lost_in;                         /* seqs found missing when they should have arrived */
	guint64 plis_out, firs_out;               /* keyframe requests we sent, by kind */
	guint64 slowlinks;
	/* NACKs for packets we can no longer resend: the plugin is asked for a
	 * keyframe for this peer, at most once per CARDEA_PC_KEYFRAME_INTERVAL_US. */
	gint64 lost_kf_us;                       /* last such request, 0 = never */
	guint64 lost_kf_requests;                /* such requests made */
	/* A run of the peer's NACKs with no gap of LOSS_QUIET longer (pc-rtcp.c
	 * loss_episode_end): when heavy, a keyframe is asked for as it ends. */
	gint64 episode_last_nack_us;             /* 0 = no episode open */
	guint episode_nack_packets;
	guint64 episode_packets_out_start;       /* packets_out when it began */
	gboolean episode_kf_pending;             /* heavy and over: a request is due */
	gint64 episode_heavy_until_us;           /* an episode ending before this counts as heavy */
	guint16 episode_holes[8];                /* NACKed seqs we had not sent (repair upstream pending) */
	guint episode_n_holes;
	guint16 episode_nacked[64];              /* the episode's last NACKed seqs (a ring) */
	guint episode_n_nacked;                  /* seqs written to it in this episode */
	guint64 loss_episode_resends;            /* packets resent once more as a heavy episode ended */
	guint64 loss_episode_kf_requests;        /* such requests made */
} pc_rtcp_media;

/* Per PeerConnection (loop thread). */
typedef struct pc_rtcp {
	struct cardea_loop_tick *tick;      /* feedback tick while the transport exists */
	cardea_twcc_recorder *twcc;         /* owned: incoming transport-wide seqs (NULL: not negotiated) */
	guint8 twcc_ext_id;                 /* transport-cc / abs-send-time ids of our answer (0: none) */
	guint8 abs_send_time_ext_id;
	guint16 twcc_seq_out;               /* our transport-wide seq on what we send */
	gint64 last_twcc_us, last_remb_us, last_window_us;
	guint32 remb_cap;                   /* plugin cap, bps; 0 = none */
	guint32 auth_cap;                   /* the auth module's max_bitrate for the handle; 0 = none */
	gboolean remb_lift;                 /* the cap was removed: tell the peer once */
	guint64 remb_in;                    /* the peer's last REMB estimate, bps */
	guint64 twcc_feedback_out, twcc_feedback_in, remb_out, remb_packets_in;
	/* What the peer can take of what we send (the plugin's
	 * incoming_bitrate_estimate): from transport-cc feedback when a sending
	 * m-line negotiated it, else from the peer's REMB. */
	cardea_twcc_bwe *bwe;               /* owned: NULL when no sending m-line negotiated transport-cc */
	cardea_bwe_gate bwe_gate;           /* what the plugin was told last */
	guint64 bwe_reports;                /* calls to incoming_bitrate_estimate */
} pc_rtcp;

struct cardea_pc;
struct pc_media;

/* Transport created / torn down (loop thread). stop() frees what apply_local
 * allocated; the negotiated flags stay. */
void cardea_pc_rtcp_start(struct cardea_pc *pc);
void cardea_pc_rtcp_stop(struct cardea_pc *pc);
/* The PC's free: anything stop() could not free (loop gone). */
void cardea_pc_rtcp_free(struct cardea_pc *pc);

/* Local SDP thread, for each active RTP m-line of our answer after the core
 * added its SSRC: reads what the answer negotiates into lm->fb and, when we
 * send and an rtx payload is there, adds our RTX SSRC and its FID group. */
void cardea_pc_rtcp_answer_mline(cardea_sdp *sdp, cardea_sdp_mline *m, struct pc_media *lm, guint32 rtx_ssrc);
/* Loop thread: our answer's negotiated part for m-line i (from lm). */
void cardea_pc_rtcp_apply_local(struct cardea_pc *pc, int i, const struct pc_media *lm);

/* Incoming RTP (loop thread), after SRTP and parsing:
 *  - twcc_in: every packet, before anything may drop it (probes count too);
 *  - unwrap: after the m-line lookup; RTX packets become the original in
 *    place (*len and *info updated, *repaired set). FALSE: drop the packet;
 *  - rtp_in: a packet of the peer's main stream on m-line mi, after the
 *    receive stats: NACK tracking, `media` events. */
void cardea_pc_rtcp_twcc_in(struct cardea_pc *pc, const cardea_rtp_info *info, gint64 now);
gboolean cardea_pc_rtcp_unwrap(struct cardea_pc *pc, int mi, guint8 *buf, gsize *len, cardea_rtp_info *info,
	gboolean *repaired);
void cardea_pc_rtcp_rtp_in(struct cardea_pc *pc, int mi, const cardea_rtp_info *info, gboolean repaired, gint64 now);
/* Outgoing RTP in pc->scratch (plain, our SSRC set): rewrites the transport
 * seq / abs-send-time we negotiated and keeps a copy for NACKs. */
void cardea_pc_rtcp_rtp_out(struct cardea_pc *pc, int mi, guint8 *buf, gsize len, gint64 now);
/* Incoming RTCP packet other than SR/RR: TRUE when handled here (NACK,
 * TWCC, REMB); PLI/FIR are counted and left to the caller (FALSE). */
gboolean cardea_pc_rtcp_feedback_in(struct cardea_pc *pc, const cardea_rtcp_pkt *p);
/* A PLI (or FIR when only that was negotiated) for what the peer sends on
 * m-line mi, at most one per CARDEA_PC_KEYFRAME_INTERVAL_US; requests in
 * between are sent when the interval ends. */
void cardea_pc_rtcp_request_keyframe(struct cardea_pc *pc, int mi);
#define CARDEA_PC_KEYFRAME_INTERVAL_US (500 * 1000)

/* Pure: whether the tracker still waits for seq (missing, or newer than
 * anything seen); the tracker is not changed. An RTX packet for any other
 * seq is a probe, not a repair. */
gboolean cardea_pc_rtcp_tracker_wants(const cardea_nack_tracker *t, guint16 seq);

/* Admin handle_info additions (loop thread). */
void cardea_pc_rtcp_info_media(struct cardea_pc *pc, int mi, json_t *out);
void cardea_pc_rtcp_info(struct cardea_pc *pc, json_t *out);

#endif
