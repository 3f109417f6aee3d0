/* Simulcast on the receiving side of a PeerConnection (pc-sim.c): which
 * substream an incoming packet is, for cardea_rtp_packet.substream.
 *
 * Two ways a sender announces simulcast, both mapped to substream numbers
 * where 0 is the lowest quality:
 *  - rids: a=rid:<id> send + a=simulcast:send <id>;<id>;<id>. The order is the
 *    offer's simulcast list, read through the jsep's `rid_order` ("hml", the
 *    default: first = highest; "lmh": first = lowest). Packets carry the rid
 *    (media) or repaired-rid (RTX) header extension until the sender stops
 *    sending it, so each SSRC is learned from its first tagged packet. Used
 *    only when our answer accepted the simulcast (a=simulcast:recv).
 *  - SSRCs: a=ssrc-group:SIM <low> <mid> <high>, RTX SSRCs from FID groups.
 *
 * The core still repairs and reports only the peer's main SSRC (the first
 * one seen; see pc-rtcp.h), so RTX for another substream is dropped here
 * rather than unwrapped onto the main one. Keyframe requests go to every
 * known substream (the plugin asks for the one it switches to).
 *
 * Private to pc*.c (pc-priv.h embeds pc_sim_media in pc_media).
 * Threads: cardea_pc_sim_remote/local run where the SDPs are handled (on a
 * pc_remote / pc_local copy), everything else on the PC's loop thread.
 */
#ifndef CARDEA_WEBRTC_PC_SIM_H
#define CARDEA_WEBRTC_PC_SIM_H

#include <glib.h>
#include <jansson.h>
#include "cardea/sdp.h"
#include "cardea/simulcast.h"
#include "webrtc/rtp.h"

#define PC_SIM_RID_MAX 32

typedef struct pc_sim_media {
	/* From the remote SDP. */
	guint n;                                    /* substreams; 0 or 1: no simulcast */
	gboolean by_rid;                            /* rids (else SSRC groups) */
	char rids[CARDEA_SIM_MAX_SUBSTREAMS][PC_SIM_RID_MAX]; /* rids[i] is substream i */
	guint8 rid_ext_id, rrid_ext_id;
	/* From our answer: rid simulcast is only demultiplexed when accepted. */
	gboolean accepted;
	/* Learned on the loop (or from the SDP for SSRC simulcast). */
	guint32 ssrcs[CARDEA_SIM_MAX_SUBSTREAMS];   /* media SSRC of substream i, 0 unknown */
	guint32 rtx_ssrcs[CARDEA_SIM_MAX_SUBSTREAMS];
	gint64 last_pli_us;
	guint64 unmapped_drops;                     /* rid simulcast, SSRC not learned yet and no rid */
	guint64 rtx_drops;                          /* RTX for a substream the core does not repair */
} pc_sim_media;

struct cardea_pc;

/* The remote SDP's m-line m into *out (zeroed first). `lmh`: the jsep said
 * rid_order "lmh". */
void cardea_pc_sim_remote(const cardea_sdp_mline *m, gboolean lmh, pc_sim_media *out);
/* Our answer's m-line m: sets out->accepted. */
void cardea_pc_sim_local(const cardea_sdp_mline *m, pc_sim_media *out);
/* Loop thread: installs a new remote / local description's part. Learned
 * SSRCs survive a renegotiation that keeps the same substreams. */
void cardea_pc_sim_apply_remote(pc_sim_media *cur, const pc_sim_media *next);
void cardea_pc_sim_apply_local(pc_sim_media *cur, const pc_sim_media *next);

/* Loop thread, for each RTP packet on m-line mi after the m-line lookup and
 * before RTX is unwrapped: the substream (0 without simulcast), or -1 when
 * the packet must be dropped. */
int cardea_pc_sim_substream(struct cardea_pc *pc, int mi, const cardea_rtp_info *info);

/* Loop thread: PLIs (FIR when only that was negotiated) for the substreams
 * other than the main SSRC, which the core's own request covers; at most one
 * round per keyframe interval. */
void cardea_pc_sim_request_keyframe(struct cardea_pc *pc, int mi);

/* Admin handle_info: a "simulcast" member for m-lines with simulcast. */
void cardea_pc_sim_info(const pc_sim_media *sim, json_t *out);

#endif
