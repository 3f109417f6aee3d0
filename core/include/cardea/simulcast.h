/* Cardea SDK: video payload helpers and simulcast for media plugins.
 *
 * Three pieces, usable on their own:
 *  - payload inspection (cardea_video_*, cardea_vp8_*): keyframe detection for
 *    VP8, VP9, H.264 and AV1 from one RTP payload, layer ids, and the VP8
 *    payload descriptor (RFC 7741) read and rewritten in place;
 *  - a rewrite context (cardea_sim_rewriter): one per outgoing video stream.
 *    It turns packets taken from several sources (simulcast substreams, or
 *    different senders) into one stream the receiver sees as continuous:
 *    sequence numbers without holes at a switch (gaps inside a source are
 *    kept so loss still shows), timestamps that keep advancing across a
 *    switch (by the arrival time between the last frame and the new one),
 *    VP8 picture ids and TL0PICIDX that carry on;
 *  - a layer selector (cardea_sim_selector): one per receiver of a simulcast
 *    sender. It holds the receiver's target substream and temporal layer,
 *    switches substreams only at a keyframe of the substream switched to,
 *    drops the temporal layers above the current one, falls back to a lower
 *    substream when the current one stops for `fallback` microseconds, and
 *    says when the current substream or temporal layer changed (for the
 *    Janus `substream`/`temporal` events) and when to ask for a keyframe.
 *
 * The core tells plugins which substream a packet belongs to in
 * cardea_rtp_packet.substream (0 = lowest quality, or the only stream): from
 * the rid header extension ordered by the offer's a=simulcast (with the
 * jsep's `rid_order`, "hml" by default: the first rid is the highest), or
 * from the SSRC's position in a=ssrc-group:SIM (lowest first).
 *
 * Typical use on the media loop thread (see plugins/echotest/echotest.c):
 *
 *     cardea_video_frame_info fi;
 *     bool parsed = cardea_video_parse_rtp(codec, pkt, &fi);
 *     unsigned r = cardea_sim_selector_process(&sel, pkt, parsed ? &fi : NULL, now);
 *     if (r & CARDEA_SIM_NEED_KEYFRAME)  core->send_keyframe_request(app, pkt->mindex);
 *     if (r & (CARDEA_SIM_SUBSTREAM_CHANGED | CARDEA_SIM_TEMPORAL_CHANGED))  tell the client;
 *     if (r & CARDEA_SIM_RELAY) {
 *         if (cardea_sim_rewriter_rewrite(&rw, pkt, pkt->substream, codec, now))
 *             core->relay_rtp(app, pkt);
 *     } else if (r & CARDEA_SIM_SKIPPED) {
 *         cardea_sim_rewriter_skip(&rw, pkt, pkt->substream);
 *     }
 *
 * cardea_sim_forward() does exactly the parse/process/rewrite/skip steps
 * above in one call (echotest and videocall use it).
 *
 * The rewriter changes the packet in place (the incoming packet is the
 * plugin's to change for the duration of incoming_rtp). A plugin sending one
 * incoming packet to several receivers gives each its own copy first
 * (cardea_sim_packet_copy into a stack buffer: no allocation).
 *
 * Memory and threads: no function here allocates, logs or keeps global
 * state; the contexts are plain structs the plugin embeds (zero them or call
 * the init function). A context belongs to one thread at a time (normally
 * the handle's media loop); set targets from elsewhere through your own
 * atomics and apply them on that thread, as the echotest does.
 *
 * Payload parsers take input from the network: every read is bounded by the
 * length given, and a malformed payload makes them return false.
 */
#ifndef CARDEA_SIMULCAST_H
#define CARDEA_SIMULCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cardea/module.h"
#include "cardea/rtp.h"
#include "cardea/sdp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Video codecs ---- */

typedef enum cardea_video_codec {
	CARDEA_VIDEO_CODEC_UNKNOWN = 0,
	CARDEA_VIDEO_CODEC_VP8,
	CARDEA_VIDEO_CODEC_VP9,
	CARDEA_VIDEO_CODEC_H264,
	CARDEA_VIDEO_CODEC_AV1,
} cardea_video_codec;

/* From an a=rtpmap encoding name ("VP8", "h264", ...; case-insensitive). */
CARDEA_SDK_API cardea_video_codec cardea_video_codec_from_name(const char *name);
/* Janus's lower-case name ("vp8", "vp9", "h264", "av1"), as in the
 * `videocodec` member of plugin events; NULL for UNKNOWN. */
CARDEA_SDK_API const char *cardea_video_codec_name(cardea_video_codec codec);

/* What one RTP payload says about the frame it belongs to. */
typedef struct cardea_video_frame_info {
	bool keyframe;       /* first packet of a keyframe: a point to start decoding (or switch) at */
	bool frame_start;    /* first packet of a frame (H.264: of an access unit, when visible) */
	int temporal;        /* temporal layer id, -1 when the payload does not say (H.264, AV1) */
	int spatial;         /* VP9 spatial layer id, -1 when not signalled */
	bool layer_sync;     /* VP8 Y / VP9 U: the frame depends only on lower layers' frames, so
	                      * forwarding may switch up to its temporal layer here */
	int width, height;   /* coded size when a VP8/VP9 keyframe carries it here, else 0 */
} cardea_video_frame_info;

/* Inspects `len` bytes of RTP payload (no RTP header, no padding). False
 * when the payload is empty or malformed for the codec (*out is then
 * zeroed with temporal/spatial -1). Keyframes:
 *  - VP8: start of partition 0 whose payload header has P = 0;
 *  - VP9: start of a frame (B) of spatial layer 0 that is not inter-predicted;
 *  - H.264: a packet carrying an SPS or an IDR slice (single NAL, STAP-A, or
 *    the first fragment of an FU-A);
 *  - AV1: first packet of a coded video sequence (aggregation header N bit,
 *    or a sequence header OBU first). */
CARDEA_SDK_API bool cardea_video_parse(cardea_video_codec codec, const uint8_t *payload, size_t len,
	cardea_video_frame_info *out);
/* The same on a whole packet: skips the header and strips RTP padding. */
CARDEA_SDK_API bool cardea_video_parse_rtp(cardea_video_codec codec, const cardea_rtp_packet *packet,
	cardea_video_frame_info *out);
CARDEA_SDK_API bool cardea_video_is_keyframe(cardea_video_codec codec, const uint8_t *payload, size_t len);

/* ---- VP8 payload descriptor (RFC 7741 section 4.2) ---- */

typedef struct cardea_vp8_descriptor {
	uint8_t size;            /* descriptor bytes: the VP8 payload starts here */
	bool start;              /* S: first packet of a partition */
	uint8_t partition;       /* PID */
	bool non_reference;      /* N */
	bool has_picture_id;     /* I */
	bool picture_id_15;      /* M: 15-bit picture id (else 7-bit) */
	uint16_t picture_id;
	bool has_tl0picidx;      /* L */
	uint8_t tl0picidx;
	bool has_tid;            /* T */
	uint8_t tid;
	bool layer_sync;         /* Y (valid with T) */
	bool has_keyidx;         /* K */
	uint8_t keyidx;
} cardea_vp8_descriptor;

/* Parses the descriptor at the start of a VP8 payload; false if it is
 * truncated or nothing follows it. */
CARDEA_SDK_API bool cardea_vp8_descriptor_parse(const uint8_t *payload, size_t len, cardea_vp8_descriptor *d);
/* Writes d's values (picture id, TL0PICIDX, TID, Y, KEYIDX, N) back into the
 * descriptor at the start of `payload`, which must have the layout parse()
 * found there (same fields present, same picture id width): the payload's
 * length never changes. A picture id is written modulo the field's width.
 * False (nothing written) when the layouts differ. */
CARDEA_SDK_API bool cardea_vp8_descriptor_write(uint8_t *payload, size_t len, const cardea_vp8_descriptor *d);

/* ---- Rewrite context: one continuous outgoing stream ---- */

typedef struct cardea_sim_rewriter {
	uint32_t clock_rate;     /* RTP clock of the stream (90000 for video) */
	/* Everything below is private state. */
	int source;              /* the source of the last packet rewritten, -1 none */
	bool started;            /* something went out */
	bool rebase;             /* the next packet starts a new base (switch or rebase()) */
	bool skipped;            /* skip() dropped a packet of the current source */
	bool vp8_rebase;         /* the next VP8 picture id / TL0PICIDX start a new base */
	uint16_t seq_offset;     /* out = in + seq_offset */
	uint16_t base_seq;       /* first seq taken from the current source: older ones are dropped */
	uint16_t skip_seq;       /* newest seq skip() dropped */
	uint16_t last_seq_out;   /* newest seq sent */
	uint16_t last_seq_in;    /* the input seq it came from */
	uint32_t ts_offset;      /* out = in + ts_offset */
	uint32_t last_ts_out;    /* newest timestamp sent */
	int64_t last_ts_us;      /* when the frame with that timestamp arrived */
	bool picid_valid, tl0_valid;
	uint16_t picid_offset, last_picid_out;   /* 15-bit arithmetic */
	uint8_t tl0_offset, last_tl0_out;
	uint64_t _reserved[4];
} cardea_sim_rewriter;

CARDEA_SDK_API void cardea_sim_rewriter_init(cardea_sim_rewriter *r, uint32_t clock_rate);
/* The next packet continues the outgoing stream as if it came from a new
 * source (e.g. after the plugin stopped forwarding for a while). */
CARDEA_SDK_API void cardea_sim_rewriter_rebase(cardea_sim_rewriter *r);
/* Rewrites `packet` in place (buffer and the parsed fields) as the next
 * packet of the outgoing stream. `source` identifies where it comes from
 * (the substream, or any id of the plugin's); a different source than the
 * last one starts a new base, so call this only with the packet a switch
 * should start from (a keyframe). `now_us` is the arrival time (monotonic)
 * and only matters at a switch. Returns false when the packet must not be
 * sent: it is older than the switch to its source, or than a packet skip()
 * dropped (reordered), or it is not RTP. */
CARDEA_SDK_API bool cardea_sim_rewriter_rewrite(cardea_sim_rewriter *r, cardea_rtp_packet *packet, int source,
	cardea_video_codec codec, int64_t now_us);
/* A packet of the current source is left out on purpose (a temporal layer
 * the receiver does not get): later packets move down by one so the
 * receiver sees no loss. Nothing happens for other sources. */
CARDEA_SDK_API void cardea_sim_rewriter_skip(cardea_sim_rewriter *r, const cardea_rtp_packet *packet, int source);

/* Copies `in` (header fields and bytes) into buf[0..cap) and describes the
 * copy in *out, so each receiver can rewrite its own. False if it does not
 * fit. */
CARDEA_SDK_API bool cardea_sim_packet_copy(const cardea_rtp_packet *in, uint8_t *buf, size_t cap, cardea_rtp_packet *out);

/* ---- Layer selector: which substream and temporal layer a receiver gets ---- */

#define CARDEA_SIM_MAX_SUBSTREAMS 3
#define CARDEA_SIM_DEFAULT_FALLBACK_US 250000
/* NEED_KEYFRAME is raised at most this often while a switch waits for one. */
#define CARDEA_SIM_KEYFRAME_RETRY_US 500000

/* cardea_sim_selector_process() result bits. */
enum {
	CARDEA_SIM_RELAY = 1 << 0,              /* forward this packet (through the rewriter) */
	CARDEA_SIM_SKIPPED = 1 << 1,            /* of the current substream but a temporal layer
	                                         * above the current one: cardea_sim_rewriter_skip() */
	CARDEA_SIM_SUBSTREAM_CHANGED = 1 << 2,  /* `substream` is new (this packet is its keyframe) */
	CARDEA_SIM_TEMPORAL_CHANGED = 1 << 3,   /* `temporal` is new */
	CARDEA_SIM_NEED_KEYFRAME = 1 << 4,      /* a switch waits for a keyframe: ask the sender */
};

typedef struct cardea_sim_selector {
	/* Settings: change them with the setters below. */
	int substream_target;    /* 0..CARDEA_SIM_MAX_SUBSTREAMS-1; default: the highest */
	int temporal_target;     /* 0..2; default 2 (all layers) */
	int64_t fallback_us;     /* a substream silent this long counts as stopped */
	int substreams;          /* how many the sender has, 1..CARDEA_SIM_MAX_SUBSTREAMS */
	/* Current state, to read (e.g. for query_session). */
	int substream;           /* what the receiver gets, -1 before the first keyframe */
	int temporal;            /* -1 while the payload did not tell (or no temporal layers) */
	/* Private. */
	int64_t last_seen_us[CARDEA_SIM_MAX_SUBSTREAMS];
	int64_t start_us;
	int64_t keyframe_asked_us;
	uint64_t _reserved[4];
} cardea_sim_selector;

/* `substreams` as the SDP said (cardea_sim_sdp_answer); targets default to
 * the highest substream and all temporal layers, fallback to 250 ms. */
CARDEA_SDK_API void cardea_sim_selector_init(cardea_sim_selector *s, int substreams);
/* Out-of-range values are clamped; the switch happens at the next keyframe. */
CARDEA_SDK_API void cardea_sim_selector_set_substream(cardea_sim_selector *s, int substream);
CARDEA_SDK_API void cardea_sim_selector_set_temporal(cardea_sim_selector *s, int temporal);
/* <= 0 restores the default. */
CARDEA_SDK_API void cardea_sim_selector_set_fallback(cardea_sim_selector *s, int64_t fallback_us);
/* One incoming packet of the simulcast sender (packet->substream says which
 * substream); `frame` is cardea_video_parse_rtp()'s result, NULL when that
 * failed (padding-only packets: relayed when they belong to the current
 * substream, so the sequence stays whole). `now_us` is monotonic. Returns
 * CARDEA_SIM_* bits. Switching rules:
 *  - the substream aimed at is the highest one at or below the target that
 *    is alive (sent media within `fallback`; one never seen counts as alive
 *    for `fallback` after the first packet, so a start does not settle for
 *    whatever arrived first); when none is, the lowest alive one above;
 *  - the switch to it happens at its next keyframe; until then the current
 *    substream goes on (NEED_KEYFRAME asks for one);
 *  - temporal layers: down at the next frame start, up at a layer sync frame
 *    or a keyframe; frames above the current layer are SKIPPED. */
CARDEA_SDK_API unsigned cardea_sim_selector_process(cardea_sim_selector *s, const cardea_rtp_packet *packet,
	const cardea_video_frame_info *frame, int64_t now_us);

/* The usual glue of the two, for one receiver: parses `packet`'s payload
 * (cardea_video_parse_rtp), runs the selector, and rewrites the packet in
 * place when it goes on (or tells the rewriter of a skipped one). Returns
 * the selector's bits, except that CARDEA_SIM_RELAY is set only when the
 * rewriter accepted the packet: RELAY means "send `packet` now". The caller
 * still acts on NEED_KEYFRAME and on the *_CHANGED bits (events). */
CARDEA_SDK_API unsigned cardea_sim_forward(cardea_sim_selector *s, cardea_sim_rewriter *r, cardea_video_codec codec,
	cardea_rtp_packet *packet, int64_t now_us);

/* ---- SDP ---- */

/* Accepts the simulcast that the offer's m-line `offer` sends, in the
 * answer's m-line `m`: for rid simulcast (a=simulcast:send with the rid
 * header extension offered) one "a=rid:<id> recv" per stream (its first
 * alternative, at most CARDEA_SIM_MAX_SUBSTREAMS), "a=simulcast:recv ..." in
 * the same order and the rid / repaired-rid a=extmap lines with the offer's
 * ids. SSRC simulcast (a=ssrc-group:SIM) needs nothing in the answer.
 * Returns how many substreams the sender will send: 1 without simulcast. */
CARDEA_SDK_API int cardea_sim_sdp_answer(cardea_sdp *answer, cardea_sdp_mline *m, const cardea_sdp_mline *offer);

#ifdef __cplusplus
}
#endif
#endif
