/* SDP model, parser, validator and writer for the WebRTC media core.
 *
 * The input comes from clients, i.e. from attackers (STYLE.md rule 18), so the
 * parser is pure (no I/O, no logging, no globals), bounded (size, line length,
 * m-lines and lines per section are capped by cardea_sdp_limits) and does one
 * pass over the text with no recursion. Every parse error names the line:
 * "line 12: bad a=rtpmap". The API layer turns any error into Janus 465.
 *
 * Memory: everything a cardea_sdp points to (strings, lists, m-lines) lives in
 * one arena owned by that cardea_sdp and goes away with cardea_sdp_free().
 * Never g_free() a member. To set a string member use cardea_sdp_strdup() so
 * the copy lives in the same arena; grow lists only through the *_add()
 * helpers below (they know each list's capacity). Pointers to list elements
 * stay valid until the next *_add() or *_remove() on the same list; m-lines
 * themselves never move.
 *
 * Threads: no shared state. A cardea_sdp may be used by one thread at a time;
 * distinct cardea_sdp objects can be used concurrently.
 *
 * The writer is lossless for everything the parser keeps: unknown attributes
 * and lines are stored verbatim, so parse(write(parse(x))) == parse(x). It
 * writes lines in one canonical order, which may differ from the input's.
 */
#ifndef CARDEA_SDP_H
#define CARDEA_SDP_H

#include <glib.h>
#include "cardea/module.h"

/* ---- Errors ---- */
#define CARDEA_SDP_ERROR (cardea_sdp_error_quark())
CARDEA_SDK_API GQuark cardea_sdp_error_quark(void);
typedef enum cardea_sdp_error_code {
	CARDEA_SDP_ERROR_SYNTAX = 1,    /* a line is malformed or misplaced */
	CARDEA_SDP_ERROR_LIMIT,         /* a cardea_sdp_limits bound was exceeded */
	CARDEA_SDP_ERROR_INVALID,       /* well formed, but not acceptable for WebRTC (validate) */
} cardea_sdp_error_code;

/* ---- Limits ----
 * A zero field means "use the default". Trickled candidates (parsed alone)
 * are capped at CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH. Work is linear in the
 * input except a few per-section lookups (ssrc, rid, extmap, mid) that are
 * linear in the section: keep max_attributes in the hundreds. */
typedef struct cardea_sdp_limits {
	gsize max_size;          /* whole SDP in bytes; default 64 KiB */
	guint max_line_length;   /* bytes per line without the EOL; default 4096 */
	guint max_mlines;        /* default 64 */
	guint max_attributes;    /* lines per section (session or one m-section); default 512 */
} cardea_sdp_limits;

#define CARDEA_SDP_DEFAULT_MAX_SIZE        (64 * 1024)
#define CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH 4096
#define CARDEA_SDP_DEFAULT_MAX_MLINES      64
#define CARDEA_SDP_DEFAULT_MAX_ATTRIBUTES  512

/* Fills every field with its default. */
CARDEA_SDK_API void cardea_sdp_limits_init(cardea_sdp_limits *limits);

/* ---- Enums ---- */
typedef enum cardea_sdp_media {
	CARDEA_SDP_MEDIA_OTHER = 0,     /* e.g. "text", "message": kept, never negotiated */
	CARDEA_SDP_MEDIA_AUDIO,
	CARDEA_SDP_MEDIA_VIDEO,
	CARDEA_SDP_MEDIA_APPLICATION,
} cardea_sdp_media;

typedef enum cardea_sdp_direction {
	CARDEA_SDP_DIR_UNSET = 0,       /* no attribute: sendrecv unless the session says otherwise */
	CARDEA_SDP_DIR_SENDRECV,
	CARDEA_SDP_DIR_SENDONLY,
	CARDEA_SDP_DIR_RECVONLY,
	CARDEA_SDP_DIR_INACTIVE,
} cardea_sdp_direction;

typedef enum cardea_sdp_setup {
	CARDEA_SDP_SETUP_UNSET = 0,
	CARDEA_SDP_SETUP_ACTPASS,
	CARDEA_SDP_SETUP_ACTIVE,
	CARDEA_SDP_SETUP_PASSIVE,
	CARDEA_SDP_SETUP_HOLDCONN,
} cardea_sdp_setup;

typedef enum cardea_sdp_hash {
	CARDEA_SDP_HASH_OTHER = 0,      /* parsed and kept, but not accepted by validate */
	CARDEA_SDP_HASH_SHA1,
	CARDEA_SDP_HASH_SHA224,
	CARDEA_SDP_HASH_SHA256,
	CARDEA_SDP_HASH_SHA384,
	CARDEA_SDP_HASH_SHA512,
} cardea_sdp_hash;

/* Header extensions the media core knows by name; anything else is OTHER
 * (kept with its URI). */
typedef enum cardea_sdp_ext {
	CARDEA_SDP_EXT_OTHER = 0,
	CARDEA_SDP_EXT_MID,             /* urn:ietf:params:rtp-hdrext:sdes:mid */
	CARDEA_SDP_EXT_RID,             /* ...:sdes:rtp-stream-id */
	CARDEA_SDP_EXT_REPAIRED_RID,    /* ...:sdes:repaired-rtp-stream-id */
	CARDEA_SDP_EXT_ABS_SEND_TIME,
	CARDEA_SDP_EXT_TRANSPORT_WIDE_CC,
	CARDEA_SDP_EXT_AUDIO_LEVEL,     /* urn:ietf:params:rtp-hdrext:ssrc-audio-level */
	CARDEA_SDP_EXT_VIDEO_ORIENTATION,
	CARDEA_SDP_EXT_PLAYOUT_DELAY,
	CARDEA_SDP_EXT_DEPENDENCY_DESCRIPTOR,
	CARDEA_SDP_EXT_COUNT_,
} cardea_sdp_ext;

typedef enum cardea_sdp_candidate_type {
	CARDEA_SDP_CANDIDATE_HOST = 1,
	CARDEA_SDP_CANDIDATE_SRFLX,
	CARDEA_SDP_CANDIDATE_PRFLX,
	CARDEA_SDP_CANDIDATE_RELAY,
} cardea_sdp_candidate_type;

typedef enum cardea_sdp_tcptype {
	CARDEA_SDP_TCPTYPE_NONE = 0,
	CARDEA_SDP_TCPTYPE_ACTIVE,
	CARDEA_SDP_TCPTYPE_PASSIVE,
	CARDEA_SDP_TCPTYPE_SO,
} cardea_sdp_tcptype;

typedef enum cardea_sdp_rid_dir {
	CARDEA_SDP_RID_SEND = 1,
	CARDEA_SDP_RID_RECV,
} cardea_sdp_rid_dir;

/* ---- Model ----
 * All pointers are borrowed from the owning cardea_sdp's arena. Optional
 * strings are NULL when absent. */

/* A key with an optional value: fmtp parameters, candidate extensions,
 * a=ssrc attributes, unknown a= lines (key = attribute name). */
typedef struct cardea_sdp_kv {
	char *key;
	char *value;                    /* NULL: no value (e.g. "a=foo", or fmtp "111/111") */
} cardea_sdp_kv;

/* A non-attribute line the model has no field for (i=, u=, e=, p=, r=, z=, k=). */
typedef struct cardea_sdp_line {
	char type;
	char *value;
} cardea_sdp_line;

typedef struct cardea_sdp_origin {
	char *username;
	guint64 sess_id;
	guint64 sess_version;
	char *nettype;                  /* "IN" */
	char *addrtype;                 /* "IP4" / "IP6" */
	char *address;
} cardea_sdp_origin;

typedef struct cardea_sdp_connection {
	char *nettype;
	char *addrtype;
	char *address;                  /* as written; may carry "/ttl" */
} cardea_sdp_connection;

typedef struct cardea_sdp_bandwidth {
	char *type;                     /* "AS", "TIAS", ... */
	guint64 value;
} cardea_sdp_bandwidth;

typedef struct cardea_sdp_fingerprint {
	cardea_sdp_hash hash;
	char *algorithm;                /* lower-case as written, e.g. "sha-256" */
	char *value;                    /* colon-separated hex as written */
	guint8 digest[64];
	guint digest_len;
} cardea_sdp_fingerprint;

typedef struct cardea_sdp_group {
	char *semantics;                /* "BUNDLE", "LS", ... */
	char **mids;
	guint n_mids;
} cardea_sdp_group;

typedef struct cardea_sdp_extmap {
	guint id;                       /* 1..255 */
	cardea_sdp_direction direction; /* UNSET when not written */
	char *uri;
	cardea_sdp_ext ext;
	char *attributes;               /* extension attributes after the URI, or NULL */
} cardea_sdp_extmap;

typedef struct cardea_sdp_rtcp_fb {
	char *type;                     /* "nack", "ccm", "goog-remb", "transport-cc", ... */
	char *param;                    /* "pli", "fir", ... or NULL */
} cardea_sdp_rtcp_fb;

typedef struct cardea_sdp_payload {
	guint pt;                       /* 0..127 */
	char *name;                     /* a=rtpmap encoding name; NULL: no rtpmap (static PT) */
	guint32 clock;                  /* 0 when no rtpmap */
	guint channels;                 /* 0 = not written (means 1) */
	char *fmtp;                     /* a=fmtp parameters as written, or NULL */
	cardea_sdp_kv *params;          /* fmtp split at ';' (spaces trimmed) */
	guint n_params;
	cardea_sdp_rtcp_fb *fb;
	guint n_fb;
	gint apt;                       /* fmtp "apt" (rtx): associated PT, -1 when absent */
} cardea_sdp_payload;

typedef struct cardea_sdp_ssrc {
	guint32 ssrc;
	char *cname;
	char *msid_stream;              /* from "a=ssrc:N msid:STREAM [TRACK]" */
	char *msid_track;
	cardea_sdp_kv *attrs;           /* any other a=ssrc attribute, in order */
	guint n_attrs;
} cardea_sdp_ssrc;

typedef struct cardea_sdp_ssrc_group {
	char *semantics;                /* "FID", "SIM", "FEC-FR", ... */
	guint32 *ssrcs;
	guint n_ssrcs;
} cardea_sdp_ssrc_group;

typedef struct cardea_sdp_rid {
	char *id;
	cardea_sdp_rid_dir direction;
	guint *pts;                     /* "pt=" list, may be empty */
	guint n_pts;
	cardea_sdp_kv *params;          /* max-width, max-fps, ... in order */
	guint n_params;
} cardea_sdp_rid;

typedef struct cardea_sdp_simulcast_alt {
	char *rid;
	gboolean paused;                /* written with a leading '~' */
} cardea_sdp_simulcast_alt;

/* One simulcast stream: a ','-separated list of alternative rids. */
typedef struct cardea_sdp_simulcast_stream {
	cardea_sdp_simulcast_alt *alts;
	guint n_alts;
} cardea_sdp_simulcast_stream;

typedef struct cardea_sdp_simulcast {
	gboolean present;
	cardea_sdp_simulcast_stream *send;
	guint n_send;
	cardea_sdp_simulcast_stream *recv;
	guint n_recv;
} cardea_sdp_simulcast;

typedef struct cardea_sdp_msid {
	char *stream;
	char *track;                    /* NULL when not written */
} cardea_sdp_msid;

typedef struct cardea_sdp_candidate {
	char *foundation;
	guint component;                /* 1..256 */
	char *transport;                /* as written: "udp", "UDP", "tcp" */
	guint32 priority;
	char *address;                  /* IPv4, IPv6 or a host name (mDNS) */
	guint port;                     /* 0..65535 */
	cardea_sdp_candidate_type type;
	char *raddr;                    /* NULL when absent */
	gint rport;                     /* -1 when absent */
	cardea_sdp_tcptype tcptype;
	cardea_sdp_kv *extensions;      /* generation, ufrag, network-id, ... in order */
	guint n_extensions;
	void *_arena;                   /* private: owned only by cardea_sdp_candidate_parse() results */
} cardea_sdp_candidate;

typedef struct cardea_sdp_mline {
	guint index;                    /* position in the SDP (sdpMLineIndex) */
	cardea_sdp_media kind;
	char *media;                    /* as written: "audio", "video", "application", ... */
	guint port;                     /* 0 = rejected (unless bundle_only) */
	guint n_ports;                  /* the "/N" of the port, 0 when not written */
	char *proto;                    /* "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ... */
	gboolean rtp;                   /* proto carries RTP: formats are payload types */
	char *fmt;                      /* non-RTP only: the format list as written */
	cardea_sdp_payload *payloads;   /* RTP only: in m= line order */
	guint n_payloads;
	cardea_sdp_connection *connection;
	cardea_sdp_bandwidth *bandwidths;
	guint n_bandwidths;
	char *mid;
	cardea_sdp_direction direction;
	gboolean rtcp_mux;
	gboolean rtcp_rsize;
	gboolean bundle_only;
	gboolean extmap_allow_mixed;
	gboolean end_of_candidates;
	gint rtcp_port;                 /* a=rtcp port, -1 when absent */
	char *rtcp_address;             /* the rest of a=rtcp ("IN IP4 0.0.0.0") or NULL */
	/* Per-section transport settings; NULL/UNSET means the session's applies
	 * (use the cardea_sdp_mline_* accessors). */
	char *ice_ufrag;
	char *ice_pwd;
	char *ice_options;              /* space-separated tokens, e.g. "trickle" */
	cardea_sdp_fingerprint *fingerprints;
	guint n_fingerprints;
	cardea_sdp_setup setup;
	cardea_sdp_rtcp_fb *fb_all;     /* a=rtcp-fb:* lines */
	guint n_fb_all;
	cardea_sdp_extmap *extmaps;
	guint n_extmaps;
	cardea_sdp_msid *msids;
	guint n_msids;
	cardea_sdp_ssrc *ssrcs;
	guint n_ssrcs;
	cardea_sdp_ssrc_group *ssrc_groups;
	guint n_ssrc_groups;
	cardea_sdp_rid *rids;
	guint n_rids;
	cardea_sdp_simulcast simulcast;
	cardea_sdp_candidate *candidates;
	guint n_candidates;
	gint sctp_port;                 /* -1 when absent */
	gint64 max_message_size;        /* -1 when absent */
	cardea_sdp_kv *attributes;      /* unknown a= lines, verbatim, in order */
	guint n_attributes;
	cardea_sdp_line *lines;         /* other unknown lines (i=, k=) in order */
	guint n_lines;
} cardea_sdp_mline;

typedef struct cardea_sdp {
	cardea_sdp_origin origin;
	char *session_name;             /* s= */
	char *timing;                   /* t= as written, "0 0" */
	cardea_sdp_connection *connection;
	cardea_sdp_bandwidth *bandwidths;
	guint n_bandwidths;
	cardea_sdp_group *groups;
	guint n_groups;
	char *msid_semantic;            /* "WMS", or NULL */
	char *msid_semantic_ids;        /* the rest of the line ("*", stream ids), or NULL */
	gboolean extmap_allow_mixed;
	gboolean ice_lite;
	gboolean end_of_candidates;
	char *ice_ufrag;
	char *ice_pwd;
	char *ice_options;
	cardea_sdp_fingerprint *fingerprints;
	guint n_fingerprints;
	cardea_sdp_setup setup;
	cardea_sdp_direction direction;
	cardea_sdp_extmap *extmaps;     /* session-level a=extmap (rare) */
	guint n_extmaps;
	cardea_sdp_kv *attributes;      /* unknown session a= lines, verbatim */
	guint n_attributes;
	cardea_sdp_line *lines;         /* unknown session lines (i=, u=, e=, p=, r=, z=, k=) */
	guint n_lines;
	cardea_sdp_mline **mlines;      /* stable pointers, in SDP order */
	guint n_mlines;
	struct cardea_sdp_arena *_arena;/* private: owns all of the above */
} cardea_sdp;

/* ---- Parsing and writing ---- */

/* Parses `len` bytes of `text` (need not be NUL-terminated; CRLF or LF line
 * ends). `limits` may be NULL for the defaults. Returns a new cardea_sdp
 * (transfer full: free with cardea_sdp_free) or NULL with *error set in
 * CARDEA_SDP_ERROR (SYNTAX or LIMIT). Structure only: it does not check WebRTC
 * requirements; call cardea_sdp_validate_webrtc() for those. */
CARDEA_SDK_API cardea_sdp *cardea_sdp_parse(const char *text, gsize len, const cardea_sdp_limits *limits, GError **error);
CARDEA_SDK_API void cardea_sdp_free(cardea_sdp *sdp);

/* Writes the SDP as CRLF text. Returns a g_malloc'd string (transfer full). */
CARDEA_SDK_API char *cardea_sdp_write(const cardea_sdp *sdp);

/* Deep copy (write then parse, without limits). NULL if a builder left the
 * model in a state the parser would reject (e.g. an empty mid). */
CARDEA_SDK_API cardea_sdp *cardea_sdp_copy(const cardea_sdp *sdp);

/* Checks what a WebRTC offer or answer must carry to be usable here: ICE
 * ufrag/pwd on every active m-line, a fingerprint with sha-256/384/512, a
 * BUNDLE group covering every active m-line, rtcp-mux on every RTP m-line,
 * unique mids, a DTLS-based proto. An m-line is active when its port is not 0
 * or it is bundle-only. CARDEA_SDP_ERROR_INVALID with a message naming the
 * m-line when not. */
CARDEA_SDK_API gboolean cardea_sdp_validate_webrtc(const cardea_sdp *sdp, GError **error);

/* ---- Trickle candidates (sdp-candidate.c) ----
 * Accepts "candidate:...", "a=candidate:..." or the bare value, with or
 * without a trailing CRLF. An empty string is an error: the caller treats
 * an empty/null trickle candidate as end-of-candidates before calling this.
 * Returns a standalone candidate (transfer full: cardea_sdp_candidate_free). */
CARDEA_SDK_API cardea_sdp_candidate *cardea_sdp_candidate_parse(const char *line, GError **error);
CARDEA_SDK_API void cardea_sdp_candidate_free(cardea_sdp_candidate *cand);
/* "candidate:..." (no "a=", no EOL), g_malloc'd. */
CARDEA_SDK_API char *cardea_sdp_candidate_format(const cardea_sdp_candidate *cand);

/* ---- Effective per-m-line settings (m-line value, else the session's) ---- */
CARDEA_SDK_API const char *cardea_sdp_mline_ice_ufrag(const cardea_sdp *sdp, const cardea_sdp_mline *m);
CARDEA_SDK_API const char *cardea_sdp_mline_ice_pwd(const cardea_sdp *sdp, const cardea_sdp_mline *m);
CARDEA_SDK_API const char *cardea_sdp_mline_ice_options(const cardea_sdp *sdp, const cardea_sdp_mline *m);
CARDEA_SDK_API cardea_sdp_setup cardea_sdp_mline_setup(const cardea_sdp *sdp, const cardea_sdp_mline *m);
CARDEA_SDK_API cardea_sdp_direction cardea_sdp_mline_direction(const cardea_sdp *sdp, const cardea_sdp_mline *m);
/* The first fingerprint with a supported hash (sha-256/384/512), or NULL. */
CARDEA_SDK_API const cardea_sdp_fingerprint *cardea_sdp_mline_fingerprint(const cardea_sdp *sdp, const cardea_sdp_mline *m);
CARDEA_SDK_API gboolean cardea_sdp_mline_is_active(const cardea_sdp_mline *m);
/* TRUE if `token` is one of the space-separated ice-options. */
CARDEA_SDK_API gboolean cardea_sdp_ice_options_has(const char *ice_options, const char *token);

/* ---- Lookups ---- */
CARDEA_SDK_API const cardea_sdp_group *cardea_sdp_find_group(const cardea_sdp *sdp, const char *semantics);
CARDEA_SDK_API cardea_sdp_mline *cardea_sdp_find_mid(const cardea_sdp *sdp, const char *mid);
CARDEA_SDK_API cardea_sdp_payload *cardea_sdp_find_payload(const cardea_sdp_mline *m, guint pt);
/* Value of fmtp parameter `key` (case-insensitive), or NULL. */
CARDEA_SDK_API const char *cardea_sdp_payload_param(const cardea_sdp_payload *p, const char *key);
/* TRUE if `m` offers rtcp-fb `type` (with `param`, NULL = none) for payload
 * `p` of it: an a=rtcp-fb line for p's PT or for "*". Case-insensitive. */
CARDEA_SDK_API gboolean cardea_sdp_payload_has_fb(const cardea_sdp_mline *m, const cardea_sdp_payload *p,
	const char *type, const char *param);
/* Encoding name, falling back to the static RTP/AVP table for PTs without
 * a=rtpmap (0 PCMU, 8 PCMA, 9 G722, ...); NULL if unknown. */
CARDEA_SDK_API const char *cardea_sdp_payload_name(const cardea_sdp_payload *p);
CARDEA_SDK_API guint32 cardea_sdp_payload_clock(const cardea_sdp_payload *p);
/* Extmap id for a known extension, 0 when not negotiated. */
CARDEA_SDK_API guint cardea_sdp_find_extmap(const cardea_sdp_mline *m, cardea_sdp_ext ext);
CARDEA_SDK_API const char *cardea_sdp_ext_uri(cardea_sdp_ext ext);
CARDEA_SDK_API cardea_sdp_ssrc *cardea_sdp_find_ssrc(const cardea_sdp_mline *m, guint32 ssrc);
CARDEA_SDK_API const cardea_sdp_ssrc_group *cardea_sdp_find_ssrc_group(const cardea_sdp_mline *m, const char *semantics);
CARDEA_SDK_API const cardea_sdp_rid *cardea_sdp_find_rid(const cardea_sdp_mline *m, const char *id);

/* ---- Codecs ----
 * The first payload named `name` (case-insensitive; "rtx" works too) with
 * clock rate `clock` (0 = any) whose fmtp is compatible with `fmtp` (NULL =
 * any): H.264 needs the same packetization-mode (absent = 0) and the same
 * profile (profile_idc + constraint flags; the level may differ), VP9 the same
 * profile-id, AV1 the same profile, rtx the same apt. Other codecs ignore fmtp.
 * Returns NULL if none. */
CARDEA_SDK_API cardea_sdp_payload *cardea_sdp_find_codec(const cardea_sdp_mline *m, const char *name, guint32 clock,
	const char *fmtp);
/* The rtx payload whose apt is `pt`, or NULL. */
CARDEA_SDK_API cardea_sdp_payload *cardea_sdp_find_rtx(const cardea_sdp_mline *m, guint pt);
/* TRUE if `a` and `b` describe the same codec by the rules above (rtx: by
 * name and clock only; map the apt separately). */
CARDEA_SDK_API gboolean cardea_sdp_codec_match(const cardea_sdp_payload *a, const cardea_sdp_payload *b);

/* H.264 profile-level-id (RFC 6184): 3 bytes as 6 hex digits. */
typedef struct cardea_sdp_h264_plid {
	guint8 profile_idc;
	guint8 profile_iop;             /* constraint_set0..5 flags in the top 6 bits */
	guint8 level_idc;
} cardea_sdp_h264_plid;
/* Parses 6 hex digits; NULL or empty gives the RFC default 42000A. */
CARDEA_SDK_API gboolean cardea_sdp_h264_plid_parse(const char *text, cardea_sdp_h264_plid *out);
/* Same profile_idc and constraint flags (constraint_set3 is ignored for
 * Baseline/Main/Extended, where it only marks level 1b). */
CARDEA_SDK_API gboolean cardea_sdp_h264_same_profile(const cardea_sdp_h264_plid *a, const cardea_sdp_h264_plid *b);
/* TRUE if a stream at `sender`'s profile/level can go to a receiver that
 * declared `receiver`: same profile and sender level <= receiver level. */
CARDEA_SDK_API gboolean cardea_sdp_h264_plid_compatible(const cardea_sdp_h264_plid *sender, const cardea_sdp_h264_plid *receiver);

/* Payload-type translation between two legs. map.pt[x] is the PT on `to`
 * carrying what `from` calls x, or -1. rtx PTs map through their apt. */
typedef struct cardea_sdp_pt_map {
	gint16 pt[128];
} cardea_sdp_pt_map;
CARDEA_SDK_API void cardea_sdp_pt_map_build(cardea_sdp_pt_map *map, const cardea_sdp_mline *from, const cardea_sdp_mline *to);
static inline gint cardea_sdp_pt_map_lookup(const cardea_sdp_pt_map *map, guint pt) {
	return pt < 128 ? map->pt[pt] : -1;
}

/* ---- Building (gateway offers and answers) ----
 * Strings passed in are copied into the SDP's arena. The caller is
 * responsible for passing well-formed values (tokens without spaces or
 * control characters); cardea_sdp_copy()/a re-parse is the check. */
CARDEA_SDK_API cardea_sdp *cardea_sdp_new(void);
CARDEA_SDK_API char *cardea_sdp_strdup(cardea_sdp *sdp, const char *str);
CARDEA_SDK_API char *cardea_sdp_strdup_printf(cardea_sdp *sdp, const char *format, ...) G_GNUC_PRINTF(2, 3);
/* `proto` NULL: UDP/TLS/RTP/SAVPF for audio/video, UDP/DTLS/SCTP (fmt
 * "webrtc-datachannel") for application. Port 9, c=IN IP4 0.0.0.0, index set. */
CARDEA_SDK_API cardea_sdp_mline *cardea_sdp_mline_add(cardea_sdp *sdp, cardea_sdp_media kind, const char *proto);
/* NULL if pt > 127 or already present. */
CARDEA_SDK_API cardea_sdp_payload *cardea_sdp_payload_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint pt, const char *name,
	guint32 clock, guint channels);
/* Replaces the fmtp (NULL removes it) and re-derives params and apt.
 * FALSE (payload unchanged) if `fmtp` is not a valid parameter list. */
CARDEA_SDK_API gboolean cardea_sdp_payload_set_fmtp(cardea_sdp *sdp, cardea_sdp_payload *p, const char *fmtp);
CARDEA_SDK_API void cardea_sdp_payload_add_fb(cardea_sdp *sdp, cardea_sdp_payload *p, const char *type, const char *param);
/* Drops a payload (and nothing else: drop its rtx yourself). FALSE if absent. */
CARDEA_SDK_API gboolean cardea_sdp_payload_remove(cardea_sdp_mline *m, guint pt);
CARDEA_SDK_API cardea_sdp_extmap *cardea_sdp_extmap_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint id, const char *uri);
CARDEA_SDK_API void cardea_sdp_msid_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *stream, const char *track);
CARDEA_SDK_API cardea_sdp_ssrc *cardea_sdp_ssrc_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint32 ssrc, const char *cname,
	const char *msid_stream, const char *msid_track);
CARDEA_SDK_API void cardea_sdp_ssrc_group_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *semantics,
	const guint32 *ssrcs, guint n_ssrcs);
CARDEA_SDK_API cardea_sdp_rid *cardea_sdp_rid_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *id, cardea_sdp_rid_dir dir);
/* Appends a one-alternative stream to the send or recv simulcast list. */
CARDEA_SDK_API void cardea_sdp_simulcast_add(cardea_sdp *sdp, cardea_sdp_mline *m, cardea_sdp_rid_dir dir, const char *rid,
	gboolean paused);
/* Deep-copies `cand` into m's candidate list. */
CARDEA_SDK_API cardea_sdp_candidate *cardea_sdp_candidate_add(cardea_sdp *sdp, cardea_sdp_mline *m, const cardea_sdp_candidate *cand);
/* `m` NULL: session level. `digest_len` must match the hash (32/48/64). */
CARDEA_SDK_API cardea_sdp_fingerprint *cardea_sdp_fingerprint_add(cardea_sdp *sdp, cardea_sdp_mline *m, cardea_sdp_hash hash,
	const guint8 *digest, guint digest_len);
/* `m` NULL: session level. `value` may be NULL. */
CARDEA_SDK_API void cardea_sdp_attribute_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *name, const char *value);
CARDEA_SDK_API cardea_sdp_group *cardea_sdp_group_add(cardea_sdp *sdp, const char *semantics);
CARDEA_SDK_API void cardea_sdp_group_add_mid(cardea_sdp *sdp, cardea_sdp_group *g, const char *mid);
/* Makes the answer's m-line `m` a rejection of the offered `offered`: port
 * 0, inactive, and the offer's first format (an m-line needs one), so the
 * answer keeps one m-line per offered one and the indexes line up. */
CARDEA_SDK_API void cardea_sdp_mline_reject(cardea_sdp *answer, cardea_sdp_mline *m, const cardea_sdp_mline *offered);

/* Names for logs and the writer. */
CARDEA_SDK_API const char *cardea_sdp_direction_str(cardea_sdp_direction dir);
CARDEA_SDK_API const char *cardea_sdp_setup_str(cardea_sdp_setup setup);
CARDEA_SDK_API const char *cardea_sdp_hash_str(cardea_sdp_hash hash);
CARDEA_SDK_API const char *cardea_sdp_candidate_type_str(cardea_sdp_candidate_type type);
CARDEA_SDK_API const char *cardea_sdp_media_str(cardea_sdp_media kind);

#endif
