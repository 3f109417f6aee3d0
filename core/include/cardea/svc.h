/* Cardea SDK: SVC layer selection for media plugins (VP9 and AV1).
 *
 * One SVC sender sends all its spatial and temporal layers in a single RTP
 * stream (one SSRC). A receiver that wants less gets a subset: the packets of
 * the spatial layers above its spatial_layer and of the temporal layers above
 * its temporal_layer are dropped, and the marker bit moves to the last packet
 * kept of each picture, so the receiver's depacketizer sees whole frames.
 *
 * Three pieces:
 *  - parsers: the VP9 payload descriptor (RFC 9628 section 4.2, with the
 *    scalability structure) and the AV1 Dependency Descriptor RTP header
 *    extension (AV1 RTP specification, appendix A), which needs the template
 *    structure of the last keyframe to name a frame's layers;
 *  - cardea_svc_info: what one packet says about its layers, from either;
 *  - a layer selector (cardea_svc_selector), one per receiver. It holds the
 *    receiver's target spatial and temporal layer and switches:
 *      spatial up   at a keyframe only (NEED_KEYFRAME asks for one): a
 *                   layer frame that uses no earlier picture of its layer
 *                   would do for decoding, but it comes after the layer
 *                   below, which already went out with the picture's marker;
 *      spatial down at the next picture (lower layers never depend on upper
 *                   ones);
 *      temporal up  at a keyframe or a switching-up point (VP9 U bit, AV1
 *                   decode target indication "switch") of the new layer;
 *      temporal down at the next picture;
 *    and falls back to the next lower spatial layer when the chosen one has
 *    sent nothing for `fallback` microseconds (the sender dropped it for
 *    bandwidth), going back up when it returns.
 *
 * Sequence numbers stay continuous through the simulcast rewriter
 * (cardea/simulcast.h): dropped packets go to cardea_sim_rewriter_skip().
 * cardea_svc_forward() does parse, select, marker and rewrite in one call:
 *
 *     unsigned r = cardea_svc_forward(&sel, &rw, codec, pkt, now);
 *     if (r & CARDEA_SIM_NEED_KEYFRAME)  core->send_keyframe_request(...);
 *     if (r & CARDEA_SVC_SPATIAL_CHANGED) tell the client sel.spatial;
 *     if (r & CARDEA_SIM_TEMPORAL_CHANGED) tell the client sel.temporal;
 *     if (r & CARDEA_SIM_RELAY) core->relay_rtp(app, pkt);
 *
 * Memory and threads: nothing here allocates, logs or keeps global state;
 * the selector is a plain struct the plugin embeds, used by one thread at a
 * time (the sender's media loop). Every parser read is bounded by the length
 * given; malformed input makes them return false.
 */
#ifndef CARDEA_SVC_H
#define CARDEA_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cardea/module.h"
#include "cardea/rtp.h"
#include "cardea/simulcast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- VP9 payload descriptor (RFC 9628 section 4.2) ---- */

#define CARDEA_VP9_MAX_SPATIAL 8

typedef struct cardea_vp9_descriptor {
	uint8_t size;             /* descriptor bytes: the VP9 frame data starts here */
	bool has_picture_id;      /* I */
	bool picture_id_15;       /* M */
	uint16_t picture_id;
	bool inter_picture;       /* P: the layer frame references an earlier picture */
	bool has_layers;          /* L: tid/switching_up/sid/inter_layer are valid */
	bool flexible;            /* F */
	bool start;               /* B: first packet of a layer frame */
	bool end;                 /* E: last packet of a layer frame */
	bool has_ss;              /* V: a scalability structure follows */
	bool not_reference;       /* Z: no higher spatial layer of this picture uses it */
	uint8_t tid;              /* 0 when !has_layers */
	bool switching_up;        /* U */
	uint8_t sid;              /* 0 when !has_layers */
	bool inter_layer;         /* D: depends on the lower spatial layer of this picture */
	bool has_tl0picidx;       /* non-flexible mode with L */
	uint8_t tl0picidx;
	uint8_t n_pdiff;          /* flexible mode with P: reference picture id differences */
	uint8_t pdiff[3];
	/* Scalability structure (V). */
	uint8_t ss_spatial;       /* N_S + 1: spatial layers of the stream */
	bool ss_has_size;         /* Y */
	uint16_t ss_width[CARDEA_VP9_MAX_SPATIAL], ss_height[CARDEA_VP9_MAX_SPATIAL];
	uint8_t ss_gof;           /* N_G: pictures in the group of frames description */
} cardea_vp9_descriptor;

/* Parses the descriptor at the start of a VP9 RTP payload. False when it is
 * truncated, inconsistent (a layer id over the scalability structure's
 * count) or no frame data follows it. */
CARDEA_SDK_API bool cardea_vp9_descriptor_parse(const uint8_t *payload, size_t len, cardea_vp9_descriptor *d);

/* ---- AV1 Dependency Descriptor (AV1 RTP specification, appendix A) ---- */

#define CARDEA_AV1_DD_EXT_URI "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
#define CARDEA_AV1_DD_MAX_TEMPLATES 64
#define CARDEA_AV1_DD_MAX_TARGETS 32
#define CARDEA_AV1_DD_MAX_SPATIAL 4

/* The template dependency structure a keyframe's first packet carries: what
 * later descriptors refer to by template id. Only what layer selection
 * needs is kept (fdiffs and chains are read over). */
typedef struct cardea_av1_dd_structure {
	bool valid;
	uint8_t template_id_offset;
	uint8_t n_templates;
	uint8_t n_targets;                                   /* decode targets (DtCnt) */
	uint8_t max_spatial, max_temporal;
	uint8_t spatial[CARDEA_AV1_DD_MAX_TEMPLATES];
	uint8_t temporal[CARDEA_AV1_DD_MAX_TEMPLATES];
	uint32_t switch_mask[CARDEA_AV1_DD_MAX_TEMPLATES];   /* bit t: DTI "switch" for decode target t */
	uint8_t target_spatial[CARDEA_AV1_DD_MAX_TARGETS];   /* the layers each decode target reaches */
	uint8_t target_temporal[CARDEA_AV1_DD_MAX_TARGETS];
	bool has_resolutions;
	uint16_t width[CARDEA_AV1_DD_MAX_SPATIAL], height[CARDEA_AV1_DD_MAX_SPATIAL];
} cardea_av1_dd_structure;

/* One packet's descriptor. */
typedef struct cardea_av1_dd {
	bool start_of_frame, end_of_frame;
	uint8_t template_id;
	uint16_t frame_number;
	bool has_structure;       /* this packet (re)defined the structure: a keyframe */
	int spatial, temporal;    /* the frame's layers, from its template */
	uint32_t switch_mask;     /* decode targets this frame is a switch point of */
	bool has_active_targets;
	uint32_t active_targets;
} cardea_av1_dd;

/* Parses one Dependency Descriptor extension element (its data, `len`
 * bytes). A structure in it replaces *structure; without one the frame is
 * read against *structure. False when the element is malformed or refers to
 * a template the structure does not have (no structure yet included). */
CARDEA_SDK_API bool cardea_av1_dd_parse(const uint8_t *data, size_t len, cardea_av1_dd_structure *structure,
	cardea_av1_dd *out);

/* Finds header extension element `id` (one-byte or two-byte form) in an
 * RTP packet; *data points into packet->buffer. False when absent. */
CARDEA_SDK_API bool cardea_svc_rtp_extension(const cardea_rtp_packet *packet, int id, const uint8_t **data,
	size_t *len);

/* ---- What one packet says about its layers ---- */

typedef struct cardea_svc_info {
	int spatial, temporal;    /* 0 when the stream has no such layers */
	bool keyframe;            /* the picture can be decoded from here on: any layer may start */
	bool layer_start;         /* first packet of this layer frame (VP9 B, AV1 start_of_frame) */
	bool layer_end;           /* last packet of this layer frame (VP9 E, AV1 end_of_frame) */
	bool intra_layer;         /* the layer frame uses no earlier picture of its layer */
	bool switching_up;        /* a temporal switching-up point */
	bool media;               /* false for padding-only packets */
	int n_spatial;            /* spatial layers of the stream when this packet says (VP9 SS,
	                           * AV1 structure), else 0 */
	int switch_temporal;      /* AV1: the highest temporal layer of this frame's spatial layer
	                           * that can be decoded from this frame on (a decode target it is a
	                           * "switch" for: libwebrtc marks T0 frames so, not T1/T2 ones);
	                           * 0 when none above T0, and for VP9 (whose U bit says it) */
} cardea_svc_info;

/* From a VP9 packet (header and padding skipped). False when the payload is
 * not a VP9 descriptor; an empty (padding-only) payload gives true with
 * media = false. */
CARDEA_SDK_API bool cardea_svc_info_vp9(const cardea_rtp_packet *packet, cardea_svc_info *out);
/* From an AV1 packet's Dependency Descriptor (extension id `dd_ext`),
 * keeping *structure up to date. */
CARDEA_SDK_API bool cardea_svc_info_av1(const cardea_rtp_packet *packet, int dd_ext,
	cardea_av1_dd_structure *structure, cardea_svc_info *out);

/* ---- Layer selector ---- */

#define CARDEA_SVC_MAX_SPATIAL 8

/* cardea_svc_selector_process() result bits: the CARDEA_SIM_* bits
 * (RELAY, SKIPPED, TEMPORAL_CHANGED, NEED_KEYFRAME) and this one. */
enum {
	CARDEA_SVC_SPATIAL_CHANGED = 1 << 8,   /* `spatial` is new */
	CARDEA_SVC_MARKER = 1 << 9,            /* relayed, and the last packet of its picture the
	                                        * receiver gets: set the RTP marker bit */
};

typedef struct cardea_svc_selector {
	/* Settings: change them with the setters below. */
	int spatial_target;       /* default: the highest (CARDEA_SVC_MAX_SPATIAL - 1, clamped to what comes) */
	int temporal_target;      /* default: the highest (7) */
	int64_t fallback_us;      /* a spatial layer silent this long counts as stopped */
	int av1_dd_ext;           /* AV1: the Dependency Descriptor's extension id, 0 = none */
	/* Current state, to read. */
	int spatial;              /* -1 before the first keyframe */
	int temporal;             /* -1 before the first keyframe */
	/* Private. */
	int64_t last_seen_us[CARDEA_SVC_MAX_SPATIAL];
	int64_t start_us, keyframe_asked_us;
	bool have_ts;
	uint32_t ssrc;            /* the sender's: another one starts over */
	uint32_t last_ts;         /* the newest picture's timestamp */
	int n_spatial;            /* spatial layers the sender announced, 0 unknown */
	int max_temporal_seen;    /* highest temporal layer seen, -1 none */
	cardea_av1_dd_structure av1;
	uint64_t _reserved[4];
} cardea_svc_selector;

CARDEA_SDK_API void cardea_svc_selector_init(cardea_svc_selector *s);
/* Out-of-range values are clamped; the switch happens at the next point
 * allowed (see above). */
CARDEA_SDK_API void cardea_svc_selector_set_spatial(cardea_svc_selector *s, int spatial);
CARDEA_SDK_API void cardea_svc_selector_set_temporal(cardea_svc_selector *s, int temporal);
/* <= 0 restores the default (CARDEA_SIM_DEFAULT_FALLBACK_US). */
CARDEA_SDK_API void cardea_svc_selector_set_fallback(cardea_svc_selector *s, int64_t fallback_us);
/* One packet (`info` from cardea_svc_info_*, NULL when that failed: the
 * packet is dropped). A packet from another SSRC than the last one starts
 * over (nothing goes out until that sender's next keyframe). Returns
 * CARDEA_SIM_* / CARDEA_SVC_* bits. */
CARDEA_SDK_API unsigned cardea_svc_selector_process(cardea_svc_selector *s, const cardea_rtp_packet *packet,
	const cardea_svc_info *info, int64_t now_us);

/* Parse (VP9 payload, or the AV1 Dependency Descriptor when s->av1_dd_ext
 * is set), select, set the marker bit on the last packet kept of a picture,
 * and rewrite `packet` in place through `r` (source 0), or tell `r` of a
 * dropped one. RELAY means "send `packet` now". A cardea_sim_rewriter_rebase()
 * while the sender stays the same (same SSRC) only restarts the sequence
 * numbers: timestamps keep their offset, so a picture is never split. */
CARDEA_SDK_API unsigned cardea_svc_forward(cardea_svc_selector *s, cardea_sim_rewriter *r, cardea_video_codec codec,
	cardea_rtp_packet *packet, int64_t now_us);

/* ---- Header extension ids across PeerConnections ---- */

/* Swaps header extension ids `a` and `b` in `packet`, in place (one-byte or
 * two-byte form): elements `a` become `b` and elements `b` become `a`. A
 * relay uses it when the receiver negotiated an extension (e.g. the
 * Dependency Descriptor) under another id than the sender: the receiver
 * then reads the element under its id, and whatever the sender had under
 * that id moves to one the receiver did not negotiate, so it is ignored.
 * False (packet untouched) when the packet has no extension block, the
 * block is malformed, or an id does not fit the block's form (one-byte:
 * 1..14). Nothing to do (a == b) is true. */
CARDEA_SDK_API bool cardea_svc_rtp_extension_swap(cardea_rtp_packet *packet, int a, int b);

/* ---- Simulcast of end-to-end encrypted payloads ---- */

/* With insertable streams (janus.js e2ee, SFrame) the frame data is
 * ciphertext, so its keyframe flag (VP8's P bit, H.264 NAL types) cannot be
 * read. What stays clear: the RTP header, header extensions, and the VP8
 * payload descriptor the packetizer adds after encryption. A switch point
 * is taken from, in order:
 *  - the Dependency Descriptor (when the sender sends one: Chrome does when
 *    it is negotiated, for any codec), whose template structure comes with
 *    every keyframe's first packet;
 *  - else a payload-free fallback: the first packet of a new picture (a
 *    newer RTP timestamp) of the substream switched to, followed at once by
 *    a keyframe request (NEED_KEYFRAME): the receiver may show a damaged
 *    picture until that keyframe arrives, about one round trip later,
 *    instead of never switching.
 * Temporal layers come from the VP8 descriptor (clear) or the DD. Lives in
 * the SVC part of the SDK because it shares the DD parser. One per
 * receiver, used by one thread at a time; nothing allocated. */
typedef struct cardea_sim_e2ee {
	int dd_ext;               /* the sender's Dependency Descriptor id, 0 = none */
	/* Private. */
	cardea_av1_dd_structure dd[CARDEA_SIM_MAX_SUBSTREAMS];
	bool dd_seen[CARDEA_SIM_MAX_SUBSTREAMS];
	bool have_ts[CARDEA_SIM_MAX_SUBSTREAMS];
	uint32_t last_ts[CARDEA_SIM_MAX_SUBSTREAMS];
	uint64_t _reserved[4];
} cardea_sim_e2ee;

CARDEA_SDK_API void cardea_sim_e2ee_init(cardea_sim_e2ee *e, int dd_ext);
/* What one packet of an encrypted simulcast stream says (the payload is
 * only read for the VP8 descriptor). False for padding-only or unreadable
 * packets (pass NULL to the selector then). `switch_pending`: the selector
 * is not on packet->substream (the fallback rule claims a keyframe only
 * then). *from_dd tells whether the keyframe flag came from a DD. */
CARDEA_SDK_API bool cardea_sim_e2ee_frame_info(cardea_sim_e2ee *e, cardea_video_codec codec,
	const cardea_rtp_packet *packet, bool switch_pending, cardea_video_frame_info *fi, bool *from_dd);
/* cardea_sim_forward() for encrypted payloads: frame info as above, the
 * selector, the rewriter; NEED_KEYFRAME is added when a switch happened on
 * the fallback rule. */
CARDEA_SDK_API unsigned cardea_sim_e2ee_forward(cardea_sim_e2ee *e, cardea_sim_selector *s, cardea_sim_rewriter *r,
	cardea_video_codec codec, cardea_rtp_packet *packet, int64_t now_us);

#ifdef __cplusplus
}
#endif
#endif
