/* SDP model helpers: WebRTC validation, effective per-m-line settings,
 * lookups, codec matching (H.264 profile-level-id) and payload-type remapping
 * between legs. All functions are pure reads of the model.
 */
#include <string.h>

#include "webrtc/sdp-priv.h"

/* ---- Names ---- */

static const char *const ext_uris[CARDEA_SDP_EXT_COUNT_] = {
	[CARDEA_SDP_EXT_OTHER] = NULL,
	[CARDEA_SDP_EXT_MID] = "urn:ietf:params:rtp-hdrext:sdes:mid",
	[CARDEA_SDP_EXT_RID] = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
	[CARDEA_SDP_EXT_REPAIRED_RID] = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
	[CARDEA_SDP_EXT_ABS_SEND_TIME] = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
	[CARDEA_SDP_EXT_TRANSPORT_WIDE_CC] = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
	[CARDEA_SDP_EXT_AUDIO_LEVEL] = "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
	[CARDEA_SDP_EXT_VIDEO_ORIENTATION] = "urn:3gpp:video-orientation",
	[CARDEA_SDP_EXT_PLAYOUT_DELAY] = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
	[CARDEA_SDP_EXT_DEPENDENCY_DESCRIPTOR] =
		"https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
};

cardea_sdp_ext cardea_sdp_ext_from_uri(const char *uri) {
	guint i;
	for (i = 1; i < CARDEA_SDP_EXT_COUNT_; i++) {
		if (strcmp(uri, ext_uris[i]) == 0)
			return (cardea_sdp_ext)i;
	}
	return CARDEA_SDP_EXT_OTHER;
}

const char *cardea_sdp_ext_uri(cardea_sdp_ext ext) {
	return (guint)ext < CARDEA_SDP_EXT_COUNT_ ? ext_uris[ext] : NULL;
}

const char *cardea_sdp_direction_str(cardea_sdp_direction dir) {
	switch (dir) {
	case CARDEA_SDP_DIR_SENDRECV: return "sendrecv";
	case CARDEA_SDP_DIR_SENDONLY: return "sendonly";
	case CARDEA_SDP_DIR_RECVONLY: return "recvonly";
	case CARDEA_SDP_DIR_INACTIVE: return "inactive";
	default: return "unset";
	}
}

const char *cardea_sdp_setup_str(cardea_sdp_setup setup) {
	switch (setup) {
	case CARDEA_SDP_SETUP_ACTPASS: return "actpass";
	case CARDEA_SDP_SETUP_ACTIVE: return "active";
	case CARDEA_SDP_SETUP_PASSIVE: return "passive";
	case CARDEA_SDP_SETUP_HOLDCONN: return "holdconn";
	default: return "unset";
	}
}

const char *cardea_sdp_candidate_type_str(cardea_sdp_candidate_type type) {
	switch (type) {
	case CARDEA_SDP_CANDIDATE_HOST: return "host";
	case CARDEA_SDP_CANDIDATE_SRFLX: return "srflx";
	case CARDEA_SDP_CANDIDATE_PRFLX: return "prflx";
	case CARDEA_SDP_CANDIDATE_RELAY: return "relay";
	default: return "host";
	}
}

const char *cardea_sdp_media_str(cardea_sdp_media kind) {
	switch (kind) {
	case CARDEA_SDP_MEDIA_AUDIO: return "audio";
	case CARDEA_SDP_MEDIA_VIDEO: return "video";
	case CARDEA_SDP_MEDIA_APPLICATION: return "application";
	default: return "unknown";
	}
}

/* ---- Effective settings ---- */

const char *cardea_sdp_mline_ice_ufrag(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	return m->ice_ufrag != NULL ? m->ice_ufrag : sdp->ice_ufrag;
}

const char *cardea_sdp_mline_ice_pwd(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	return m->ice_pwd != NULL ? m->ice_pwd : sdp->ice_pwd;
}

const char *cardea_sdp_mline_ice_options(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	return m->ice_options != NULL ? m->ice_options : sdp->ice_options;
}

cardea_sdp_setup cardea_sdp_mline_setup(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	return m->setup != CARDEA_SDP_SETUP_UNSET ? m->setup : sdp->setup;
}

cardea_sdp_direction cardea_sdp_mline_direction(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	if (m->direction != CARDEA_SDP_DIR_UNSET)
		return m->direction;
	return sdp->direction != CARDEA_SDP_DIR_UNSET ? sdp->direction : CARDEA_SDP_DIR_SENDRECV;
}

static gboolean hash_supported(cardea_sdp_hash h) {
	return h == CARDEA_SDP_HASH_SHA256 || h == CARDEA_SDP_HASH_SHA384 || h == CARDEA_SDP_HASH_SHA512;
}

/* Media-level fingerprints replace (not extend) the session-level ones. */
const cardea_sdp_fingerprint *cardea_sdp_mline_fingerprint(const cardea_sdp *sdp, const cardea_sdp_mline *m) {
	const cardea_sdp_fingerprint *f = m->n_fingerprints > 0 ? m->fingerprints : sdp->fingerprints;
	guint i, n = m->n_fingerprints > 0 ? m->n_fingerprints : sdp->n_fingerprints;
	for (i = 0; i < n; i++) {
		if (hash_supported(f[i].hash))
			return &f[i];
	}
	return NULL;
}

gboolean cardea_sdp_mline_is_active(const cardea_sdp_mline *m) {
	return m->port != 0 || m->bundle_only;
}

gboolean cardea_sdp_ice_options_has(const char *ice_options, const char *token) {
	gsize tlen = strlen(token);
	const char *s = ice_options;
	if (s == NULL || tlen == 0)
		return FALSE;
	while (*s != '\0') {
		const char *e = strchr(s, ' ');
		gsize len = e != NULL ? (gsize)(e - s) : strlen(s);
		if (len == tlen && strncmp(s, token, len) == 0)
			return TRUE;
		if (e == NULL)
			break;
		s = e + 1;
	}
	return FALSE;
}

/* ---- Validation ---- */

static gboolean invalid(GError **error, const cardea_sdp_mline *m, const char *what) {
	if (m != NULL && m->mid != NULL)
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_INVALID, "m-line %u (mid %s): %s", m->index, m->mid, what);
	else if (m != NULL)
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_INVALID, "m-line %u: %s", m->index, what);
	else
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_INVALID, "%s", what);
	return FALSE;
}

static gboolean group_has(const cardea_sdp_group *g, const char *mid) {
	guint i;
	for (i = 0; g != NULL && i < g->n_mids; i++) {
		if (strcmp(g->mids[i], mid) == 0)
			return TRUE;
	}
	return FALSE;
}

/* DTLS-SRTP for media, DTLS-SCTP for data; nothing in the clear. */
static gboolean proto_ok(const cardea_sdp_mline *m) {
	if (m->rtp)
		return g_str_has_suffix(m->proto, "/SAVPF") || g_str_has_suffix(m->proto, "/SAVP");
	return m->kind == CARDEA_SDP_MEDIA_APPLICATION && g_str_has_suffix(m->proto, "DTLS/SCTP");
}

static gboolean validate_mline(const cardea_sdp *sdp, const cardea_sdp_mline *m, const cardea_sdp_group *bundle,
		GError **error) {
	const char *ufrag = cardea_sdp_mline_ice_ufrag(sdp, m), *pwd = cardea_sdp_mline_ice_pwd(sdp, m);
	if (m->mid == NULL)
		return invalid(error, m, "no a=mid");
	if (!proto_ok(m))
		return invalid(error, m, "unsupported transport protocol (DTLS-SRTP or DTLS-SCTP needed)");
	/* RFC 8839 lengths: ufrag 4..256, pwd 22..256 (the parser checked the upper bound) */
	if (ufrag == NULL || strlen(ufrag) < 4)
		return invalid(error, m, "missing or too short a=ice-ufrag");
	if (pwd == NULL || strlen(pwd) < 22)
		return invalid(error, m, "missing or too short a=ice-pwd");
	if (cardea_sdp_mline_fingerprint(sdp, m) == NULL)
		return invalid(error, m, "no a=fingerprint with sha-256, sha-384 or sha-512");
	if (m->rtp && !m->rtcp_mux)
		return invalid(error, m, "no a=rtcp-mux");
	if (m->rtp && m->n_payloads == 0)
		return invalid(error, m, "no payload types");
	if (!group_has(bundle, m->mid))
		return invalid(error, m, "not in the BUNDLE group");
	return TRUE;
}

gboolean cardea_sdp_validate_webrtc(const cardea_sdp *sdp, GError **error) {
	const cardea_sdp_group *bundle = cardea_sdp_find_group(sdp, "BUNDLE");
	guint i, j;
	if (sdp->n_mlines == 0)
		return invalid(error, NULL, "no m-lines");
	for (i = 0; i < sdp->n_mlines; i++) {
		const cardea_sdp_mline *m = sdp->mlines[i];
		for (j = 0; m->mid != NULL && j < i; j++) {
			if (sdp->mlines[j]->mid != NULL && strcmp(sdp->mlines[j]->mid, m->mid) == 0)
				return invalid(error, m, "duplicate mid");
		}
		if (cardea_sdp_mline_is_active(m) && !validate_mline(sdp, m, bundle, error))
			return FALSE;
	}
	for (i = 0; bundle != NULL && i < bundle->n_mids; i++) {
		if (cardea_sdp_find_mid(sdp, bundle->mids[i]) == NULL)
			return invalid(error, NULL, "the BUNDLE group names a mid no m-line has");
	}
	return TRUE;
}

/* ---- Lookups ---- */

const cardea_sdp_group *cardea_sdp_find_group(const cardea_sdp *sdp, const char *semantics) {
	guint i;
	for (i = 0; i < sdp->n_groups; i++) {
		if (g_ascii_strcasecmp(sdp->groups[i].semantics, semantics) == 0)
			return &sdp->groups[i];
	}
	return NULL;
}

cardea_sdp_mline *cardea_sdp_find_mid(const cardea_sdp *sdp, const char *mid) {
	guint i;
	for (i = 0; mid != NULL && i < sdp->n_mlines; i++) {
		if (sdp->mlines[i]->mid != NULL && strcmp(sdp->mlines[i]->mid, mid) == 0)
			return sdp->mlines[i];
	}
	return NULL;
}

cardea_sdp_payload *cardea_sdp_find_payload(const cardea_sdp_mline *m, guint pt) {
	guint i;
	for (i = 0; i < m->n_payloads; i++) {
		if (m->payloads[i].pt == pt)
			return &m->payloads[i];
	}
	return NULL;
}

const char *cardea_sdp_payload_param(const cardea_sdp_payload *p, const char *key) {
	guint i;
	for (i = 0; i < p->n_params; i++) {
		if (g_ascii_strcasecmp(p->params[i].key, key) == 0)
			return p->params[i].value;
	}
	return NULL;
}

static gboolean fb_in(const cardea_sdp_rtcp_fb *list, guint n, const char *type, const char *param) {
	for (guint k = 0; k < n; k++)
		if (list[k].type && g_ascii_strcasecmp(list[k].type, type) == 0 &&
				(param == NULL ? list[k].param == NULL :
					list[k].param != NULL && g_ascii_strcasecmp(list[k].param, param) == 0))
			return TRUE;
	return FALSE;
}

gboolean cardea_sdp_payload_has_fb(const cardea_sdp_mline *m, const cardea_sdp_payload *p,
		const char *type, const char *param) {
	return (p && fb_in(p->fb, p->n_fb, type, param)) || (m && fb_in(m->fb_all, m->n_fb_all, type, param));
}

/* RFC 3551 static payload types still met in WebRTC offers. */
static const struct { guint pt; const char *name; guint32 clock; } static_pts[] = {
	{ 0, "PCMU", 8000 }, { 3, "GSM", 8000 }, { 4, "G723", 8000 }, { 8, "PCMA", 8000 },
	{ 9, "G722", 8000 }, { 13, "CN", 8000 }, { 18, "G729", 8000 },
};

const char *cardea_sdp_payload_name(const cardea_sdp_payload *p) {
	guint i;
	if (p->name != NULL)
		return p->name;
	for (i = 0; i < G_N_ELEMENTS(static_pts); i++) {
		if (static_pts[i].pt == p->pt)
			return static_pts[i].name;
	}
	return NULL;
}

guint32 cardea_sdp_payload_clock(const cardea_sdp_payload *p) {
	guint i;
	if (p->name != NULL)
		return p->clock;
	for (i = 0; i < G_N_ELEMENTS(static_pts); i++) {
		if (static_pts[i].pt == p->pt)
			return static_pts[i].clock;
	}
	return 0;
}

guint cardea_sdp_find_extmap(const cardea_sdp_mline *m, cardea_sdp_ext ext) {
	guint i;
	for (i = 0; ext != CARDEA_SDP_EXT_OTHER && i < m->n_extmaps; i++) {
		if (m->extmaps[i].ext == ext)
			return m->extmaps[i].id;
	}
	return 0;
}

cardea_sdp_ssrc *cardea_sdp_find_ssrc(const cardea_sdp_mline *m, guint32 ssrc) {
	guint i;
	for (i = 0; i < m->n_ssrcs; i++) {
		if (m->ssrcs[i].ssrc == ssrc)
			return &m->ssrcs[i];
	}
	return NULL;
}

const cardea_sdp_ssrc_group *cardea_sdp_find_ssrc_group(const cardea_sdp_mline *m, const char *semantics) {
	guint i;
	for (i = 0; i < m->n_ssrc_groups; i++) {
		if (strcmp(m->ssrc_groups[i].semantics, semantics) == 0)
			return &m->ssrc_groups[i];
	}
	return NULL;
}

const cardea_sdp_rid *cardea_sdp_find_rid(const cardea_sdp_mline *m, const char *id) {
	guint i;
	for (i = 0; i < m->n_rids; i++) {
		if (strcmp(m->rids[i].id, id) == 0)
			return &m->rids[i];
	}
	return NULL;
}

/* ---- H.264 profile-level-id ---- */

gboolean cardea_sdp_h264_plid_parse(const char *text, cardea_sdp_h264_plid *out) {
	guint8 b[3];
	guint i;
	if (text == NULL || *text == '\0') {
		/* RFC 6184: absent means Baseline, level 1.0 */
		out->profile_idc = 0x42;
		out->profile_iop = 0x00;
		out->level_idc = 0x0A;
		return TRUE;
	}
	for (i = 0; i < 6; i++) {
		if (!g_ascii_isxdigit(text[i]))
			return FALSE;
	}
	if (text[6] != '\0')
		return FALSE;
	for (i = 0; i < 3; i++)
		b[i] = (guint8)(g_ascii_xdigit_value(text[2 * i]) << 4 | g_ascii_xdigit_value(text[2 * i + 1]));
	out->profile_idc = b[0];
	out->profile_iop = b[1];
	out->level_idc = b[2];
	return TRUE;
}

/* Baseline (66), Main (77) and Extended (88) use constraint_set3 together
 * with level_idc 11 to signal level 1b, so it is not a profile flag there. */
static gboolean h264_set3_is_level(guint8 profile_idc) {
	return profile_idc == 66 || profile_idc == 77 || profile_idc == 88;
}

static guint8 h264_profile_flags(const cardea_sdp_h264_plid *p) {
	guint8 flags = p->profile_iop & 0xFC;   /* the low 2 bits are reserved */
	if (h264_set3_is_level(p->profile_idc))
		flags &= (guint8)~0x10;
	return flags;
}

/* Orders levels, slotting 1b between 1.0 and 1.1. */
static guint h264_level_rank(const cardea_sdp_h264_plid *p) {
	if (p->level_idc == 9 || (p->level_idc == 11 && h264_set3_is_level(p->profile_idc) && (p->profile_iop & 0x10)))
		return 21;
	return (guint)p->level_idc * 2;
}

gboolean cardea_sdp_h264_same_profile(const cardea_sdp_h264_plid *a, const cardea_sdp_h264_plid *b) {
	return a->profile_idc == b->profile_idc && h264_profile_flags(a) == h264_profile_flags(b);
}

gboolean cardea_sdp_h264_plid_compatible(const cardea_sdp_h264_plid *sender, const cardea_sdp_h264_plid *receiver) {
	return cardea_sdp_h264_same_profile(sender, receiver) && h264_level_rank(sender) <= h264_level_rank(receiver);
}

/* ---- Codec matching ---- */

/* Integer fmtp parameter with a default; -1 if present but not a number. */
static gint64 param_int(const cardea_sdp_payload *p, const char *key, gint64 def) {
	const char *v = cardea_sdp_payload_param(p, key);
	guint64 n;
	if (v == NULL)
		return def;
	if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT32, &n, NULL))
		return -1;
	return (gint64)n;
}

/* The fmtp rules of cardea_sdp_find_codec(); `name` is a's encoding name. */
static gboolean fmtp_match(const char *name, const cardea_sdp_payload *a, const cardea_sdp_payload *b) {
	if (g_ascii_strcasecmp(name, "H264") == 0) {
		cardea_sdp_h264_plid pa, pb;
		if (param_int(a, "packetization-mode", 0) != param_int(b, "packetization-mode", 0))
			return FALSE;
		if (!cardea_sdp_h264_plid_parse(cardea_sdp_payload_param(a, "profile-level-id"), &pa) ||
				!cardea_sdp_h264_plid_parse(cardea_sdp_payload_param(b, "profile-level-id"), &pb))
			return FALSE;
		return cardea_sdp_h264_same_profile(&pa, &pb);
	}
	if (g_ascii_strcasecmp(name, "VP9") == 0)
		return param_int(a, "profile-id", 0) == param_int(b, "profile-id", 0);
	if (g_ascii_strcasecmp(name, "AV1") == 0)
		return param_int(a, "profile", 0) == param_int(b, "profile", 0);
	return TRUE;
}

gboolean cardea_sdp_codec_match(const cardea_sdp_payload *a, const cardea_sdp_payload *b) {
	const char *na = cardea_sdp_payload_name(a), *nb = cardea_sdp_payload_name(b);
	if (na == NULL || nb == NULL || g_ascii_strcasecmp(na, nb) != 0)
		return FALSE;
	if (cardea_sdp_payload_clock(a) != cardea_sdp_payload_clock(b))
		return FALSE;
	if (MAX(a->channels, 1) != MAX(b->channels, 1))
		return FALSE;
	return fmtp_match(na, a, b);
}

cardea_sdp_payload *cardea_sdp_find_codec(const cardea_sdp_mline *m, const char *name, guint32 clock,
		const char *fmtp) {
	cardea_sdp_arena *arena = NULL;
	cardea_sdp_payload want, *found = NULL;
	guint i;
	memset(&want, 0, sizeof(want));
	want.apt = -1;
	if (fmtp != NULL) {
		arena = cardea_sdp_arena_new();
		if (!cardea_sdp_fmtp_split(arena, &want, fmtp)) {
			cardea_sdp_arena_free(arena);
			return NULL;
		}
	}
	for (i = 0; i < m->n_payloads && found == NULL; i++) {
		cardea_sdp_payload *p = &m->payloads[i];
		const char *pname = cardea_sdp_payload_name(p);
		if (pname == NULL || g_ascii_strcasecmp(pname, name) != 0)
			continue;
		if (clock != 0 && cardea_sdp_payload_clock(p) != clock)
			continue;
		if (fmtp != NULL && g_ascii_strcasecmp(name, "rtx") == 0 && want.apt >= 0 && p->apt != want.apt)
			continue;
		if (fmtp != NULL && !fmtp_match(name, p, &want))
			continue;
		found = p;
	}
	cardea_sdp_arena_free(arena);
	return found;
}

cardea_sdp_payload *cardea_sdp_find_rtx(const cardea_sdp_mline *m, guint pt) {
	guint i;
	for (i = 0; i < m->n_payloads; i++) {
		const char *name = cardea_sdp_payload_name(&m->payloads[i]);
		if (m->payloads[i].apt == (gint)pt && name != NULL && g_ascii_strcasecmp(name, "rtx") == 0)
			return &m->payloads[i];
	}
	return NULL;
}

static gboolean is_rtx(const cardea_sdp_payload *p) {
	return p->name != NULL && g_ascii_strcasecmp(p->name, "rtx") == 0;
}

void cardea_sdp_pt_map_build(cardea_sdp_pt_map *map, const cardea_sdp_mline *from, const cardea_sdp_mline *to) {
	guint i, j;
	for (i = 0; i < G_N_ELEMENTS(map->pt); i++)
		map->pt[i] = -1;
	for (i = 0; i < from->n_payloads; i++) {
		const cardea_sdp_payload *f = &from->payloads[i];
		if (is_rtx(f) || f->pt > 127)
			continue;
		for (j = 0; j < to->n_payloads; j++) {
			if (!is_rtx(&to->payloads[j]) && cardea_sdp_codec_match(f, &to->payloads[j])) {
				map->pt[f->pt] = (gint16)to->payloads[j].pt;
				break;
			}
		}
	}
	/* rtx follows the codec it repairs */
	for (i = 0; i < from->n_payloads; i++) {
		const cardea_sdp_payload *f = &from->payloads[i], *t;
		if (!is_rtx(f) || f->pt > 127 || f->apt < 0 || f->apt > 127 || map->pt[f->apt] < 0)
			continue;
		t = cardea_sdp_find_rtx(to, (guint)map->pt[f->apt]);
		if (t != NULL)
			map->pt[f->pt] = (gint16)t->pt;
	}
}

void cardea_sdp_mline_reject(cardea_sdp *answer, cardea_sdp_mline *m, const cardea_sdp_mline *offered) {
	if (answer == NULL || m == NULL || offered == NULL)
		return;
	m->port = 0;
	/* The accessors give static payload types (0 PCMU, ...) their name and
	 * clock even when the offer had no a=rtpmap for them. */
	if (m->rtp && offered->n_payloads > 0)
		cardea_sdp_payload_add(answer, m, offered->payloads[0].pt, cardea_sdp_payload_name(&offered->payloads[0]),
			cardea_sdp_payload_clock(&offered->payloads[0]), offered->payloads[0].channels);
	else if (!m->rtp)
		m->fmt = cardea_sdp_strdup(answer, offered->fmt ? offered->fmt : "webrtc-datachannel");
	m->direction = CARDEA_SDP_DIR_INACTIVE;
}
