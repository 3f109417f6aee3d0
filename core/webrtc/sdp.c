/* SDP parser: text -> cardea_sdp model. See sdp.h for the contract.
 *
 * One pass over the input, one line at a time, each line copied into a
 * bounded scratch buffer and NUL-terminated there, so the field scanners can
 * never run past the line. No recursion; every loop is bounded by the line
 * length or by the limits. Anything not understood is either kept verbatim
 * (unknown a= attributes, i=/k=/... lines) or rejected with the line number:
 * never silently dropped.
 */
#include <string.h>

#include "webrtc/sdp-priv.h"

G_DEFINE_QUARK(cardea-sdp-error-quark, cardea_sdp_error)

void cardea_sdp_limits_init(cardea_sdp_limits *limits) {
	limits->max_size = CARDEA_SDP_DEFAULT_MAX_SIZE;
	limits->max_line_length = CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH;
	limits->max_mlines = CARDEA_SDP_DEFAULT_MAX_MLINES;
	limits->max_attributes = CARDEA_SDP_DEFAULT_MAX_ATTRIBUTES;
}

/* ---- Parser state ---- */

typedef struct sdp_parser {
	cardea_sdp *sdp;
	cardea_sdp_arena *arena;
	cardea_sdp_limits lim;
	GError **error;
	guint line;                     /* 1-based number of the line being parsed */
	cardea_sdp_mline *m;            /* current m-section, NULL at session level */
	guint section_lines;
	gboolean seen_v, seen_o, seen_s, seen_t, seen_c;
	gboolean seen_direction, seen_setup, seen_mid, seen_rtcp;
	gint16 pt_index[128];           /* current m-section: PT -> payload index, -1 */
	guint simulcast_line;           /* line of the section's a=simulcast, 0 if none */
} sdp_parser;

static gboolean fail(sdp_parser *p, cardea_sdp_error_code code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(sdp_parser *p, cardea_sdp_error_code code, const char *fmt, ...) {
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(p->error, CARDEA_SDP_ERROR, code, "line %u: %s", p->line, msg);
	g_free(msg);
	return FALSE;
}

/* "line N: bad a=NAME (why)". `name` is always one of our constants, never
 * input text, so nothing the client sent is echoed into logs. */
static gboolean bad_attr(sdp_parser *p, const char *name, const char *why) {
	if (why != NULL)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad a=%s (%s)", name, why);
	return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad a=%s", name);
}

static char *pdup(sdp_parser *p, const char *s) {
	return cardea_sdp_arena_strdup(p->arena, s);
}

static cardea_sdp_payload *pt_lookup(sdp_parser *p, const char *s) {
	guint64 pt;
	gint16 idx;
	if (!sdp_parse_uint(s, 127, &pt))
		return NULL;
	idx = p->pt_index[pt];
	return idx < 0 ? NULL : &p->m->payloads[idx];
}

/* ---- Shared sub-parsers ---- */

static gboolean parse_direction(const char *s, cardea_sdp_direction *out) {
	static const struct { const char *name; cardea_sdp_direction dir; } dirs[] = {
		{ "sendrecv", CARDEA_SDP_DIR_SENDRECV }, { "sendonly", CARDEA_SDP_DIR_SENDONLY },
		{ "recvonly", CARDEA_SDP_DIR_RECVONLY }, { "inactive", CARDEA_SDP_DIR_INACTIVE },
	};
	guint i;
	for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
		if (strcmp(s, dirs[i].name) == 0) {
			*out = dirs[i].dir;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean parse_connection(sdp_parser *p, char *v, cardea_sdp_connection **out) {
	cardea_sdp_connection *c;
	char *net = sdp_next_word(&v), *atype = sdp_next_word(&v), *addr = sdp_next_word(&v);
	if (v != NULL || !sdp_check_chars(net, 16, sdp_is_token_char) || !sdp_check_chars(atype, 16, sdp_is_token_char) ||
			!sdp_check_chars(addr, SDP_MAX_NAME, sdp_is_vchar))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad c= line");
	c = cardea_sdp_arena_alloc(p->arena, sizeof(*c));
	c->nettype = pdup(p, net);
	c->addrtype = pdup(p, atype);
	c->address = pdup(p, addr);
	*out = c;
	return TRUE;
}

static gboolean parse_bandwidth(sdp_parser *p, char *v, cardea_sdp_bandwidth **list, guint *n) {
	char *colon = strchr(v, ':');
	guint64 bw;
	cardea_sdp_bandwidth *b;
	if (colon == NULL)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad b= line");
	*colon = '\0';
	if (!sdp_check_chars(v, 32, sdp_is_token_char) || !sdp_parse_uint(colon + 1, G_MAXUINT32, &bw))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad b= line");
	b = CARDEA_SDP_PUSH(p->arena, *list, *n);
	b->type = pdup(p, v);
	b->value = bw;
	return TRUE;
}

static gboolean parse_origin(sdp_parser *p, char *v) {
	cardea_sdp_origin *o = &p->sdp->origin;
	char *user = sdp_next_word(&v), *id = sdp_next_word(&v), *ver = sdp_next_word(&v);
	char *net = sdp_next_word(&v), *atype = sdp_next_word(&v), *addr = sdp_next_word(&v);
	if (v != NULL || !sdp_check_chars(user, SDP_MAX_NAME, sdp_is_vchar) || !sdp_parse_uint(id, G_MAXUINT64, &o->sess_id) ||
			!sdp_parse_uint(ver, G_MAXUINT64, &o->sess_version) || !sdp_check_chars(net, 16, sdp_is_token_char) ||
			!sdp_check_chars(atype, 16, sdp_is_token_char) || !sdp_check_chars(addr, SDP_MAX_NAME, sdp_is_vchar))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad o= line");
	o->username = pdup(p, user);
	o->nettype = pdup(p, net);
	o->addrtype = pdup(p, atype);
	o->address = pdup(p, addr);
	return TRUE;
}

static gboolean parse_timing(sdp_parser *p, char *v) {
	char *copy = pdup(p, v), *start = sdp_next_word(&v), *stop = sdp_next_word(&v);
	guint64 n;
	if (v != NULL || !sdp_parse_uint(start, G_MAXUINT64, &n) || !sdp_parse_uint(stop, G_MAXUINT64, &n))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad t= line");
	p->sdp->timing = copy;
	return TRUE;
}

/* m=<media> <port>[/<n>] <proto> <fmt> ... */
static gboolean parse_mline(sdp_parser *p, char *v) {
	cardea_sdp *sdp = p->sdp;
	cardea_sdp_mline *m;
	char *media = sdp_next_word(&v), *port = sdp_next_word(&v), *proto = sdp_next_word(&v), *slash, *fmt;
	guint64 n;

	if (sdp->n_mlines >= p->lim.max_mlines)
		return fail(p, CARDEA_SDP_ERROR_LIMIT, "too many m-lines (max %u)", p->lim.max_mlines);
	if (!sdp_check_chars(media, 32, sdp_is_token_char) || port == NULL || !sdp_check_chars(proto, 64, sdp_is_proto_char) ||
			v == NULL || *v == '\0')
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line");
	m = cardea_sdp_arena_alloc(p->arena, sizeof(*m));
	m->index = sdp->n_mlines;
	m->media = pdup(p, media);
	if (strcmp(media, "audio") == 0)
		m->kind = CARDEA_SDP_MEDIA_AUDIO;
	else if (strcmp(media, "video") == 0)
		m->kind = CARDEA_SDP_MEDIA_VIDEO;
	else if (strcmp(media, "application") == 0)
		m->kind = CARDEA_SDP_MEDIA_APPLICATION;
	slash = strchr(port, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (!sdp_parse_uint(slash + 1, 65535, &n) || n == 0)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
		m->n_ports = (guint)n;
	}
	if (!sdp_parse_uint(port, 65535, &n))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
	m->port = (guint)n;
	m->proto = pdup(p, proto);
	m->rtp = strstr(proto, "RTP/") != NULL;
	m->rtcp_port = -1;
	m->sctp_port = -1;
	m->max_message_size = -1;
	memset(p->pt_index, 0xff, sizeof(p->pt_index));
	if (m->rtp) {
		while ((fmt = sdp_next_field(&v)) != NULL) {
			cardea_sdp_payload *pl;
			if (!sdp_parse_uint(fmt, 127, &n))
				return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line (payload type)");
			if (p->pt_index[n] >= 0)
				return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line (duplicate payload type)");
			p->pt_index[n] = (gint16)m->n_payloads;
			pl = CARDEA_SDP_PUSH(p->arena, m->payloads, m->n_payloads);
			pl->pt = (guint)n;
			pl->apt = -1;
		}
	} else {
		char *copy = pdup(p, v);
		while ((fmt = sdp_next_field(&v)) != NULL) {
			if (!sdp_check_chars(fmt, SDP_MAX_NAME, sdp_is_token_char))
				return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad m= line (format)");
		}
		m->fmt = copy;
	}
	sdp->mlines = cardea_sdp_arena_grow(p->arena, sdp->mlines, sdp->n_mlines, sizeof(*sdp->mlines));
	sdp->mlines[sdp->n_mlines++] = m;
	p->m = m;
	p->section_lines = 0;
	p->seen_c = p->seen_direction = p->seen_setup = p->seen_mid = p->seen_rtcp = FALSE;
	p->simulcast_line = 0;
	return TRUE;
}

/* ---- Attribute handlers. `v` is the value after ':' (NULL when none). ---- */

typedef gboolean (*attr_fn)(sdp_parser *p, char *v);

/* Session-or-media targets for attributes allowed at both levels. */
#define TARGET(field) (p->m != NULL ? &p->m->field : &p->sdp->field)

static gboolean a_direction(sdp_parser *p, const char *name) {
	cardea_sdp_direction d = CARDEA_SDP_DIR_UNSET;
	parse_direction(name, &d);
	if (p->seen_direction)
		return bad_attr(p, name, "more than one direction");
	p->seen_direction = TRUE;
	*TARGET(direction) = d;
	return TRUE;
}
static gboolean a_sendrecv(sdp_parser *p, char *v) { return a_direction(p, "sendrecv"); }
static gboolean a_sendonly(sdp_parser *p, char *v) { return a_direction(p, "sendonly"); }
static gboolean a_recvonly(sdp_parser *p, char *v) { return a_direction(p, "recvonly"); }
static gboolean a_inactive(sdp_parser *p, char *v) { return a_direction(p, "inactive"); }

static gboolean a_rtcp_mux(sdp_parser *p, char *v) { p->m->rtcp_mux = TRUE; return TRUE; }
static gboolean a_rtcp_rsize(sdp_parser *p, char *v) { p->m->rtcp_rsize = TRUE; return TRUE; }
static gboolean a_bundle_only(sdp_parser *p, char *v) { p->m->bundle_only = TRUE; return TRUE; }
static gboolean a_ice_lite(sdp_parser *p, char *v) { p->sdp->ice_lite = TRUE; return TRUE; }
static gboolean a_extmap_allow_mixed(sdp_parser *p, char *v) { *TARGET(extmap_allow_mixed) = TRUE; return TRUE; }
static gboolean a_end_of_candidates(sdp_parser *p, char *v) { *TARGET(end_of_candidates) = TRUE; return TRUE; }

static gboolean a_mid(sdp_parser *p, char *v) {
	guint i;
	if (p->seen_mid)
		return bad_attr(p, "mid", "more than one in the section");
	if (!sdp_check_chars(v, SDP_MAX_ID, sdp_is_token_char))
		return bad_attr(p, "mid", NULL);
	for (i = 0; i + 1 < p->sdp->n_mlines; i++) {
		if (p->sdp->mlines[i]->mid != NULL && strcmp(p->sdp->mlines[i]->mid, v) == 0)
			return bad_attr(p, "mid", "duplicate mid");
	}
	p->seen_mid = TRUE;
	p->m->mid = pdup(p, v);
	return TRUE;
}

static gboolean a_ice_ufrag(sdp_parser *p, char *v) {
	char **t = TARGET(ice_ufrag);
	if (*t != NULL)
		return bad_attr(p, "ice-ufrag", "more than one in the section");
	if (!sdp_check_chars(v, 256, sdp_is_ice_char))
		return bad_attr(p, "ice-ufrag", NULL);
	*t = pdup(p, v);
	return TRUE;
}

static gboolean a_ice_pwd(sdp_parser *p, char *v) {
	char **t = TARGET(ice_pwd);
	if (*t != NULL)
		return bad_attr(p, "ice-pwd", "more than one in the section");
	if (!sdp_check_chars(v, 256, sdp_is_ice_char))
		return bad_attr(p, "ice-pwd", NULL);
	*t = pdup(p, v);
	return TRUE;
}

static gboolean a_ice_options(sdp_parser *p, char *v) {
	char **t = TARGET(ice_options), *copy = pdup(p, v), *w;
	if (*t != NULL)
		return bad_attr(p, "ice-options", "more than one in the section");
	while ((w = sdp_next_field(&v)) != NULL) {
		if (!sdp_check_chars(w, 64, sdp_is_token_char))
			return bad_attr(p, "ice-options", NULL);
	}
	*t = copy;
	return TRUE;
}

static gint hex_val(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	c = g_ascii_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static const struct { const char *name; cardea_sdp_hash hash; guint len; } hashes[] = {
	{ "sha-1", CARDEA_SDP_HASH_SHA1, 20 }, { "sha-224", CARDEA_SDP_HASH_SHA224, 28 },
	{ "sha-256", CARDEA_SDP_HASH_SHA256, 32 }, { "sha-384", CARDEA_SDP_HASH_SHA384, 48 },
	{ "sha-512", CARDEA_SDP_HASH_SHA512, 64 },
};

const char *cardea_sdp_hash_str(cardea_sdp_hash hash) {
	guint i;
	for (i = 0; i < G_N_ELEMENTS(hashes); i++) {
		if (hashes[i].hash == hash)
			return hashes[i].name;
	}
	return "unknown";
}

static gboolean a_fingerprint(sdp_parser *p, char *v) {
	cardea_sdp_fingerprint *f, tmp;
	char *alg = sdp_next_word(&v), *hex = sdp_next_word(&v), *c;
	guint i, expect = 0;
	if (v != NULL || !sdp_check_chars(alg, 32, sdp_is_token_char) || hex == NULL)
		return bad_attr(p, "fingerprint", NULL);
	memset(&tmp, 0, sizeof(tmp));
	for (i = 0; i < G_N_ELEMENTS(hashes); i++) {
		if (g_ascii_strcasecmp(alg, hashes[i].name) == 0) {
			tmp.hash = hashes[i].hash;
			expect = hashes[i].len;
		}
	}
	/* "XX:XX:...": exactly two hex digits per byte, ':' between bytes */
	for (c = hex; ; c += 3) {
		gint hi = hex_val(c[0]), lo = hi < 0 ? -1 : hex_val(c[1]);
		if (lo < 0 || tmp.digest_len >= sizeof(tmp.digest))
			return bad_attr(p, "fingerprint", NULL);
		tmp.digest[tmp.digest_len++] = (guint8)(hi << 4 | lo);
		if (c[2] == '\0')
			break;
		if (c[2] != ':')
			return bad_attr(p, "fingerprint", NULL);
	}
	if (expect != 0 && tmp.digest_len != expect)
		return bad_attr(p, "fingerprint", "wrong length for the hash");
	if (p->m != NULL)
		f = CARDEA_SDP_PUSH(p->arena, p->m->fingerprints, p->m->n_fingerprints);
	else
		f = CARDEA_SDP_PUSH(p->arena, p->sdp->fingerprints, p->sdp->n_fingerprints);
	*f = tmp;
	f->algorithm = pdup(p, alg);
	f->value = pdup(p, hex);
	return TRUE;
}

static gboolean a_setup(sdp_parser *p, char *v) {
	static const char *const names[] = { "actpass", "active", "passive", "holdconn" };
	guint i;
	if (p->seen_setup)
		return bad_attr(p, "setup", "more than one in the section");
	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		if (strcmp(v, names[i]) == 0) {
			*TARGET(setup) = (cardea_sdp_setup)(CARDEA_SDP_SETUP_ACTPASS + i);
			p->seen_setup = TRUE;
			return TRUE;
		}
	}
	return bad_attr(p, "setup", NULL);
}

/* a=extmap:<id>[/<direction>] <uri>[ <extension attributes>] */
static gboolean a_extmap(sdp_parser *p, char *v) {
	cardea_sdp_extmap *list = p->m != NULL ? p->m->extmaps : p->sdp->extmaps, *e;
	guint n = p->m != NULL ? p->m->n_extmaps : p->sdp->n_extmaps, i;
	char *idw = sdp_next_word(&v), *uri = sdp_next_word(&v), *slash;
	cardea_sdp_direction dir = CARDEA_SDP_DIR_UNSET;
	guint64 id;
	if (idw == NULL || !sdp_check_chars(uri, SDP_MAX_NAME, sdp_is_vchar) || (v != NULL && *v == '\0'))
		return bad_attr(p, "extmap", NULL);
	slash = strchr(idw, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (!parse_direction(slash + 1, &dir))
			return bad_attr(p, "extmap", "direction");
	}
	if (!sdp_parse_uint(idw, 255, &id) || id == 0)
		return bad_attr(p, "extmap", "id");
	for (i = 0; i < n; i++) {
		if (list[i].id == id)
			return bad_attr(p, "extmap", "duplicate id");
	}
	if (p->m != NULL)
		e = CARDEA_SDP_PUSH(p->arena, p->m->extmaps, p->m->n_extmaps);
	else
		e = CARDEA_SDP_PUSH(p->arena, p->sdp->extmaps, p->sdp->n_extmaps);
	e->id = (guint)id;
	e->direction = dir;
	e->uri = pdup(p, uri);
	e->ext = cardea_sdp_ext_from_uri(uri);
	e->attributes = v != NULL ? pdup(p, v) : NULL;
	return TRUE;
}

/* a=rtpmap:<pt> <name>/<clock>[/<channels>] */
static gboolean a_rtpmap(sdp_parser *p, char *v) {
	char *ptw = sdp_next_word(&v), *enc = sdp_next_word(&v), *clock, *chans;
	cardea_sdp_payload *pl;
	guint64 n;
	if (ptw == NULL || enc == NULL || v != NULL)
		return bad_attr(p, "rtpmap", NULL);
	if ((pl = pt_lookup(p, ptw)) == NULL)
		return bad_attr(p, "rtpmap", "payload type not in the m= line");
	if (pl->name != NULL)
		return bad_attr(p, "rtpmap", "duplicate");
	clock = strchr(enc, '/');
	if (clock == NULL)
		return bad_attr(p, "rtpmap", NULL);
	*clock++ = '\0';
	chans = strchr(clock, '/');
	if (chans != NULL) {
		*chans++ = '\0';
		if (!sdp_parse_uint(chans, 255, &n) || n == 0)
			return bad_attr(p, "rtpmap", "channels");
		pl->channels = (guint)n;
	}
	if (!sdp_check_chars(enc, 32, sdp_is_token_char) || !sdp_parse_uint(clock, G_MAXUINT32, &n) || n == 0)
		return bad_attr(p, "rtpmap", NULL);
	pl->clock = (guint32)n;
	pl->name = pdup(p, enc);
	return TRUE;
}

gboolean cardea_sdp_fmtp_split(cardea_sdp_arena *a, cardea_sdp_payload *p, const char *fmtp) {
	char *copy = cardea_sdp_arena_strdup(a, fmtp), *seg, *next;
	p->params = NULL;
	p->n_params = 0;
	p->apt = -1;
	for (seg = copy; seg != NULL; seg = next) {
		char *eq, *key, *value = NULL;
		cardea_sdp_kv *kv;
		next = strchr(seg, ';');
		if (next != NULL)
			*next++ = '\0';
		seg = sdp_trim(seg);
		if (*seg == '\0')
			continue;   /* tolerate "a;;b" and a trailing ';' */
		eq = strchr(seg, '=');
		if (eq != NULL) {
			*eq = '\0';
			value = sdp_trim(eq + 1);
			if (*value == '\0')
				return FALSE;
		}
		key = sdp_trim(seg);
		if (!sdp_check_chars(key, SDP_MAX_NAME, eq != NULL ? sdp_is_token_char : sdp_is_vchar))
			return FALSE;
		if (g_ascii_strcasecmp(key, "apt") == 0) {
			guint64 apt;
			if (p->apt >= 0 || !sdp_parse_uint(value, 127, &apt))
				return FALSE;
			p->apt = (gint)apt;
		}
		kv = CARDEA_SDP_PUSH(a, p->params, p->n_params);
		kv->key = key;
		kv->value = value;
	}
	return TRUE;
}

/* a=fmtp:<pt> <parameters> */
static gboolean a_fmtp(sdp_parser *p, char *v) {
	char *ptw = sdp_next_word(&v);
	cardea_sdp_payload *pl;
	if (ptw == NULL || v == NULL || *v == '\0')
		return bad_attr(p, "fmtp", NULL);
	if ((pl = pt_lookup(p, ptw)) == NULL)
		return bad_attr(p, "fmtp", "payload type not in the m= line");
	if (pl->fmtp != NULL)
		return bad_attr(p, "fmtp", "duplicate");
	if (!cardea_sdp_fmtp_split(p->arena, pl, v))
		return bad_attr(p, "fmtp", "parameters");
	pl->fmtp = pdup(p, v);
	return TRUE;
}

/* a=rtcp-fb:<pt|*> <type>[ <parameters>] */
static gboolean a_rtcp_fb(sdp_parser *p, char *v) {
	char *ptw = sdp_next_word(&v), *type = sdp_next_word(&v);
	cardea_sdp_rtcp_fb *fb;
	if (ptw == NULL || !sdp_check_chars(type, 64, sdp_is_token_char) || (v != NULL && *v == '\0'))
		return bad_attr(p, "rtcp-fb", NULL);
	if (strcmp(ptw, "*") == 0) {
		fb = CARDEA_SDP_PUSH(p->arena, p->m->fb_all, p->m->n_fb_all);
	} else {
		cardea_sdp_payload *pl = pt_lookup(p, ptw);
		if (pl == NULL)
			return bad_attr(p, "rtcp-fb", "payload type not in the m= line");
		if (pl->n_fb >= 64)
			return bad_attr(p, "rtcp-fb", "too many for one payload type");
		fb = CARDEA_SDP_PUSH(p->arena, pl->fb, pl->n_fb);
	}
	fb->type = pdup(p, type);
	fb->param = v != NULL ? pdup(p, v) : NULL;
	return TRUE;
}

/* a=rtcp:<port>[ <nettype> <addrtype> <address>] */
static gboolean a_rtcp(sdp_parser *p, char *v) {
	char *port = sdp_next_word(&v);
	guint64 n;
	if (p->seen_rtcp)
		return bad_attr(p, "rtcp", "more than one in the section");
	if (!sdp_parse_uint(port, 65535, &n))
		return bad_attr(p, "rtcp", NULL);
	if (v != NULL) {
		char *rest = pdup(p, v);
		char *net = sdp_next_word(&v), *atype = sdp_next_word(&v), *addr = sdp_next_word(&v);
		if (v != NULL || !sdp_check_chars(net, 16, sdp_is_token_char) || !sdp_check_chars(atype, 16, sdp_is_token_char) ||
				!sdp_check_chars(addr, SDP_MAX_NAME, sdp_is_vchar))
			return bad_attr(p, "rtcp", NULL);
		p->m->rtcp_address = rest;
	}
	p->seen_rtcp = TRUE;
	p->m->rtcp_port = (gint)n;
	return TRUE;
}

static cardea_sdp_ssrc *ssrc_get(sdp_parser *p, guint32 id) {
	cardea_sdp_ssrc *s = cardea_sdp_find_ssrc(p->m, id);
	if (s == NULL) {
		s = CARDEA_SDP_PUSH(p->arena, p->m->ssrcs, p->m->n_ssrcs);
		s->ssrc = id;
	}
	return s;
}

/* "<stream>[ <track>]" as in a=msid and a=ssrc:N msid: */
static gboolean split_msid(char *v, char **stream, char **track) {
	*stream = sdp_next_word(&v);
	*track = NULL;
	if (!sdp_check_chars(*stream, SDP_MAX_NAME, sdp_is_vchar))
		return FALSE;
	if (v == NULL)
		return TRUE;
	*track = sdp_next_word(&v);
	return v == NULL && sdp_check_chars(*track, SDP_MAX_NAME, sdp_is_vchar);
}

/* a=ssrc:<ssrc> <attribute>[:<value>] */
static gboolean a_ssrc(sdp_parser *p, char *v) {
	char *idw = sdp_next_word(&v), *name, *value = NULL, *colon;
	cardea_sdp_ssrc *s;
	guint64 id;
	if (!sdp_parse_uint(idw, G_MAXUINT32, &id) || v == NULL)
		return bad_attr(p, "ssrc", NULL);
	name = v;
	colon = strchr(v, ':');
	if (colon != NULL) {
		*colon = '\0';
		value = colon + 1;
		if (*value == '\0')
			return bad_attr(p, "ssrc", NULL);
	}
	if (!sdp_check_chars(name, 64, sdp_is_token_char))
		return bad_attr(p, "ssrc", NULL);
	s = ssrc_get(p, (guint32)id);
	if (strcmp(name, "cname") == 0) {
		if (!sdp_check_chars(value, SDP_MAX_NAME, sdp_is_vchar) || s->cname != NULL)
			return bad_attr(p, "ssrc", "cname");
		s->cname = pdup(p, value);
	} else if (strcmp(name, "msid") == 0) {
		char *stream, *track;
		if (value == NULL || s->msid_stream != NULL || !split_msid(value, &stream, &track))
			return bad_attr(p, "ssrc", "msid");
		s->msid_stream = pdup(p, stream);
		s->msid_track = track != NULL ? pdup(p, track) : NULL;
	} else {
		cardea_sdp_kv *kv = CARDEA_SDP_PUSH(p->arena, s->attrs, s->n_attrs);
		kv->key = pdup(p, name);
		kv->value = value != NULL ? pdup(p, value) : NULL;
	}
	return TRUE;
}

/* a=ssrc-group:<semantics> <ssrc> ... */
static gboolean a_ssrc_group(sdp_parser *p, char *v) {
	char *sem = sdp_next_word(&v), *w;
	cardea_sdp_ssrc_group *g;
	if (!sdp_check_chars(sem, 32, sdp_is_token_char) || v == NULL)
		return bad_attr(p, "ssrc-group", NULL);
	g = CARDEA_SDP_PUSH(p->arena, p->m->ssrc_groups, p->m->n_ssrc_groups);
	g->semantics = pdup(p, sem);
	while ((w = sdp_next_field(&v)) != NULL) {
		guint64 id;
		if (!sdp_parse_uint(w, G_MAXUINT32, &id))
			return bad_attr(p, "ssrc-group", NULL);
		*CARDEA_SDP_PUSH(p->arena, g->ssrcs, g->n_ssrcs) = (guint32)id;
	}
	/* FID and FEC-FR pair exactly one media SSRC with one repair SSRC */
	if ((strcmp(sem, "FID") == 0 || strcmp(sem, "FEC-FR") == 0) && g->n_ssrcs != 2)
		return bad_attr(p, "ssrc-group", "needs two SSRCs");
	return TRUE;
}

static gboolean a_msid(sdp_parser *p, char *v) {
	char *stream, *track;
	cardea_sdp_msid *ms;
	if (!split_msid(v, &stream, &track))
		return bad_attr(p, "msid", NULL);
	ms = CARDEA_SDP_PUSH(p->arena, p->m->msids, p->m->n_msids);
	ms->stream = pdup(p, stream);
	ms->track = track != NULL ? pdup(p, track) : NULL;
	return TRUE;
}

/* a=rid:<id> <send|recv>[ pt=<fmt>,...;<key>=<value>;...] */
static gboolean a_rid(sdp_parser *p, char *v) {
	char *id = sdp_next_word(&v), *dir = sdp_next_word(&v), *seg, *next;
	cardea_sdp_rid *r;
	gboolean seen_pt = FALSE;
	if (!sdp_check_chars(id, SDP_MAX_ID, sdp_is_rid_char) || dir == NULL || (v != NULL && *v == '\0'))
		return bad_attr(p, "rid", NULL);
	if (cardea_sdp_find_rid(p->m, id) != NULL)
		return bad_attr(p, "rid", "duplicate id");
	r = CARDEA_SDP_PUSH(p->arena, p->m->rids, p->m->n_rids);
	r->id = pdup(p, id);
	if (strcmp(dir, "send") == 0)
		r->direction = CARDEA_SDP_RID_SEND;
	else if (strcmp(dir, "recv") == 0)
		r->direction = CARDEA_SDP_RID_RECV;
	else
		return bad_attr(p, "rid", "direction");
	for (seg = v; seg != NULL; seg = next) {
		char *eq;
		next = strchr(seg, ';');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(seg, '=');
		if (eq == NULL || eq == seg || eq[1] == '\0')
			return bad_attr(p, "rid", "parameters");
		*eq = '\0';
		if (strcmp(seg, "pt") == 0) {
			char *pt, *pts = eq + 1, *comma;
			if (seen_pt)
				return bad_attr(p, "rid", "parameters");
			seen_pt = TRUE;
			for (pt = pts; pt != NULL; pt = comma) {
				cardea_sdp_payload *pl;
				comma = strchr(pt, ',');
				if (comma != NULL)
					*comma++ = '\0';
				if ((pl = pt_lookup(p, pt)) == NULL)
					return bad_attr(p, "rid", "payload type not in the m= line");
				*CARDEA_SDP_PUSH(p->arena, r->pts, r->n_pts) = pl->pt;
			}
		} else {
			cardea_sdp_kv *kv;
			if (!sdp_check_chars(seg, 64, sdp_is_token_char) || !sdp_check_chars(eq + 1, SDP_MAX_NAME, sdp_is_vchar))
				return bad_attr(p, "rid", "parameters");
			kv = CARDEA_SDP_PUSH(p->arena, r->params, r->n_params);
			kv->key = pdup(p, seg);
			kv->value = pdup(p, eq + 1);
		}
	}
	return TRUE;
}

/* One simulcast direction's list: "a;b,~c" = streams a and (b or paused c). */
static gboolean parse_sc_list(sdp_parser *p, char *list, cardea_sdp_simulcast_stream **streams, guint *n) {
	char *st, *next_st;
	if (*n > 0)
		return FALSE;   /* the same direction twice */
	for (st = list; st != NULL; st = next_st) {
		cardea_sdp_simulcast_stream *s;
		char *alt, *next_alt;
		next_st = strchr(st, ';');
		if (next_st != NULL)
			*next_st++ = '\0';
		s = CARDEA_SDP_PUSH(p->arena, *streams, *n);
		for (alt = st; alt != NULL; alt = next_alt) {
			cardea_sdp_simulcast_alt *a;
			gboolean paused = FALSE;
			next_alt = strchr(alt, ',');
			if (next_alt != NULL)
				*next_alt++ = '\0';
			if (*alt == '~') {
				paused = TRUE;
				alt++;
			}
			if (!sdp_check_chars(alt, SDP_MAX_ID, sdp_is_rid_char))
				return FALSE;
			a = CARDEA_SDP_PUSH(p->arena, s->alts, s->n_alts);
			a->rid = pdup(p, alt);
			a->paused = paused;
		}
	}
	return TRUE;
}

/* a=simulcast:<send|recv> <list>[ <send|recv> <list>] */
static gboolean a_simulcast(sdp_parser *p, char *v) {
	cardea_sdp_simulcast *sc = &p->m->simulcast;
	guint i;
	if (sc->present)
		return bad_attr(p, "simulcast", "more than one in the section");
	sc->present = TRUE;
	for (i = 0; i < 2; i++) {
		char *dir = sdp_next_word(&v), *list = sdp_next_word(&v);
		gboolean ok;
		if (dir == NULL || list == NULL)
			return bad_attr(p, "simulcast", NULL);
		if (strcmp(dir, "send") == 0)
			ok = parse_sc_list(p, list, &sc->send, &sc->n_send);
		else if (strcmp(dir, "recv") == 0)
			ok = parse_sc_list(p, list, &sc->recv, &sc->n_recv);
		else
			ok = FALSE;
		if (!ok)
			return bad_attr(p, "simulcast", NULL);
		if (v == NULL)
			break;
	}
	if (v != NULL)
		return bad_attr(p, "simulcast", NULL);
	p->simulcast_line = p->line;
	return TRUE;
}

static gboolean a_candidate(sdp_parser *p, char *v) {
	cardea_sdp_candidate tmp;
	if (!cardea_sdp_candidate_parse_value(p->arena, v, &tmp))
		return bad_attr(p, "candidate", NULL);
	*CARDEA_SDP_PUSH(p->arena, p->m->candidates, p->m->n_candidates) = tmp;
	return TRUE;
}

static gboolean a_sctp_port(sdp_parser *p, char *v) {
	guint64 n;
	if (p->m->sctp_port >= 0 || !sdp_parse_uint(v, 65535, &n))
		return bad_attr(p, "sctp-port", NULL);
	p->m->sctp_port = (gint)n;
	return TRUE;
}

static gboolean a_max_message_size(sdp_parser *p, char *v) {
	guint64 n;
	if (p->m->max_message_size >= 0 || !sdp_parse_uint(v, G_MAXINT64, &n))
		return bad_attr(p, "max-message-size", NULL);
	p->m->max_message_size = (gint64)n;
	return TRUE;
}

/* a=group:<semantics>[ <mid> ...] */
static gboolean a_group(sdp_parser *p, char *v) {
	char *sem = sdp_next_word(&v), *mid;
	cardea_sdp_group *g;
	if (!sdp_check_chars(sem, 32, sdp_is_token_char))
		return bad_attr(p, "group", NULL);
	g = CARDEA_SDP_PUSH(p->arena, p->sdp->groups, p->sdp->n_groups);
	g->semantics = pdup(p, sem);
	while ((mid = sdp_next_field(&v)) != NULL) {
		if (!sdp_check_chars(mid, SDP_MAX_ID, sdp_is_token_char))
			return bad_attr(p, "group", NULL);
		*CARDEA_SDP_PUSH(p->arena, g->mids, g->n_mids) = pdup(p, mid);
	}
	return TRUE;
}

/* a=msid-semantic: WMS [<id> ...] -- browsers put a space after the colon. */
static gboolean a_msid_semantic(sdp_parser *p, char *v) {
	char *sem, *id, *rest;
	if (p->sdp->msid_semantic != NULL)
		return bad_attr(p, "msid-semantic", "more than one");
	if (*v == ' ')
		v++;
	sem = sdp_next_word(&v);
	if (!sdp_check_chars(sem, 32, sdp_is_token_char))
		return bad_attr(p, "msid-semantic", NULL);
	rest = v != NULL ? pdup(p, v) : NULL;
	while ((id = sdp_next_field(&v)) != NULL) {
		if (!sdp_check_chars(id, SDP_MAX_NAME, sdp_is_vchar))
			return bad_attr(p, "msid-semantic", NULL);
	}
	p->sdp->msid_semantic = pdup(p, sem);
	p->sdp->msid_semantic_ids = rest;
	return TRUE;
}

enum { AT_SESSION = 1, AT_MEDIA = 2, AT_BOTH = 3, AT_FLAG = 4 };

static const struct {
	const char *name;
	attr_fn fn;
	guint flags;        /* where it may appear; AT_FLAG: takes no value */
} attributes[] = {
	{ "candidate", a_candidate, AT_MEDIA },
	{ "rtpmap", a_rtpmap, AT_MEDIA },
	{ "rtcp-fb", a_rtcp_fb, AT_MEDIA },
	{ "fmtp", a_fmtp, AT_MEDIA },
	{ "extmap", a_extmap, AT_BOTH },
	{ "ssrc", a_ssrc, AT_MEDIA },
	{ "ssrc-group", a_ssrc_group, AT_MEDIA },
	{ "mid", a_mid, AT_MEDIA },
	{ "msid", a_msid, AT_MEDIA },
	{ "rid", a_rid, AT_MEDIA },
	{ "simulcast", a_simulcast, AT_MEDIA },
	{ "rtcp", a_rtcp, AT_MEDIA },
	{ "rtcp-mux", a_rtcp_mux, AT_MEDIA | AT_FLAG },
	{ "rtcp-rsize", a_rtcp_rsize, AT_MEDIA | AT_FLAG },
	{ "bundle-only", a_bundle_only, AT_MEDIA | AT_FLAG },
	{ "sendrecv", a_sendrecv, AT_BOTH | AT_FLAG },
	{ "sendonly", a_sendonly, AT_BOTH | AT_FLAG },
	{ "recvonly", a_recvonly, AT_BOTH | AT_FLAG },
	{ "inactive", a_inactive, AT_BOTH | AT_FLAG },
	{ "ice-ufrag", a_ice_ufrag, AT_BOTH },
	{ "ice-pwd", a_ice_pwd, AT_BOTH },
	{ "ice-options", a_ice_options, AT_BOTH },
	{ "ice-lite", a_ice_lite, AT_SESSION | AT_FLAG },
	{ "fingerprint", a_fingerprint, AT_BOTH },
	{ "setup", a_setup, AT_BOTH },
	{ "end-of-candidates", a_end_of_candidates, AT_BOTH | AT_FLAG },
	{ "extmap-allow-mixed", a_extmap_allow_mixed, AT_BOTH | AT_FLAG },
	{ "sctp-port", a_sctp_port, AT_MEDIA },
	{ "max-message-size", a_max_message_size, AT_MEDIA },
	{ "group", a_group, AT_SESSION },
	{ "msid-semantic", a_msid_semantic, AT_SESSION },
};

static gboolean parse_attribute(sdp_parser *p, char *v) {
	char *colon = strchr(v, ':'), *value = NULL;
	guint i, where = p->m != NULL ? AT_MEDIA : AT_SESSION;
	cardea_sdp_kv *kv;
	if (colon != NULL) {
		*colon = '\0';
		value = colon + 1;
	}
	if (!sdp_check_chars(v, 64, sdp_is_token_char))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad attribute name");
	for (i = 0; i < G_N_ELEMENTS(attributes); i++) {
		if (strcmp(v, attributes[i].name) != 0)
			continue;
		if (!(attributes[i].flags & where))
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "a=%s is not allowed at %s level", attributes[i].name,
				p->m != NULL ? "media" : "session");
		if ((attributes[i].flags & AT_FLAG) && value != NULL)
			return bad_attr(p, attributes[i].name, "takes no value");
		if (!(attributes[i].flags & AT_FLAG) && (value == NULL || *value == '\0'))
			return bad_attr(p, attributes[i].name, "missing value");
		return attributes[i].fn(p, value);
	}
	/* Unknown: keep it verbatim so the writer can reproduce it */
	if (p->m != NULL)
		kv = CARDEA_SDP_PUSH(p->arena, p->m->attributes, p->m->n_attributes);
	else
		kv = CARDEA_SDP_PUSH(p->arena, p->sdp->attributes, p->sdp->n_attributes);
	kv->key = pdup(p, v);
	kv->value = value != NULL ? pdup(p, value) : NULL;
	return TRUE;
}

/* Checks that need the whole m-section. */
static gboolean finish_section(sdp_parser *p) {
	cardea_sdp_mline *m = p->m;
	guint d, i, j;
	if (m == NULL || !m->simulcast.present)
		return TRUE;
	for (d = 0; d < 2; d++) {
		cardea_sdp_simulcast_stream *st = d == 0 ? m->simulcast.send : m->simulcast.recv;
		guint n = d == 0 ? m->simulcast.n_send : m->simulcast.n_recv;
		for (i = 0; i < n; i++) {
			for (j = 0; j < st[i].n_alts; j++) {
				const cardea_sdp_rid *r = cardea_sdp_find_rid(m, st[i].alts[j].rid);
				if (r == NULL || r->direction != (d == 0 ? CARDEA_SDP_RID_SEND : CARDEA_SDP_RID_RECV)) {
					p->line = p->simulcast_line;
					return bad_attr(p, "simulcast", "rid not declared by an a=rid line in that direction");
				}
			}
		}
	}
	return TRUE;
}

static gboolean check_session_complete(sdp_parser *p) {
	if (!p->seen_o)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "missing o= line");
	if (!p->seen_s)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "missing s= line");
	if (!p->seen_t)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "missing t= line");
	return TRUE;
}

static gboolean parse_line(sdp_parser *p, char *text, gsize len) {
	char type, *v;
	cardea_sdp_line *ln;
	if (len < 2 || text[1] != '=' || !g_ascii_islower(text[0]))
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "bad line syntax");
	type = text[0];
	v = text + 2;
	if (!p->seen_v) {
		if (type != 'v' || strcmp(v, "0") != 0)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "the SDP must start with v=0");
		p->seen_v = TRUE;
		return TRUE;
	}
	if (++p->section_lines > p->lim.max_attributes)
		return fail(p, CARDEA_SDP_ERROR_LIMIT, "too many lines in one section (max %u)", p->lim.max_attributes);
	if (p->m != NULL && strchr("vostuepzr", type) != NULL)
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "%c= is not allowed in a media section", type);
	switch (type) {
	case 'a':
		return parse_attribute(p, v);
	case 'm':
		if (!check_session_complete(p) || !finish_section(p))
			return FALSE;
		return parse_mline(p, v);
	case 'o':
		if (p->seen_o)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "duplicate o= line");
		p->seen_o = TRUE;
		return parse_origin(p, v);
	case 's':
		if (p->seen_s)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "duplicate s= line");
		p->seen_s = TRUE;
		p->sdp->session_name = pdup(p, v);
		return TRUE;
	case 't':
		if (p->seen_t)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "duplicate t= line");
		p->seen_t = TRUE;
		return parse_timing(p, v);
	case 'c':
		if (p->seen_c)
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "duplicate c= line");
		p->seen_c = TRUE;
		return parse_connection(p, v, TARGET(connection));
	case 'b':
		if (p->m != NULL)
			return parse_bandwidth(p, v, &p->m->bandwidths, &p->m->n_bandwidths);
		return parse_bandwidth(p, v, &p->sdp->bandwidths, &p->sdp->n_bandwidths);
	case 'i': case 'k': case 'u': case 'e': case 'p': case 'r': case 'z':
		if (p->m != NULL)
			ln = CARDEA_SDP_PUSH(p->arena, p->m->lines, p->m->n_lines);
		else
			ln = CARDEA_SDP_PUSH(p->arena, p->sdp->lines, p->sdp->n_lines);
		ln->type = type;
		ln->value = pdup(p, v);
		return TRUE;
	case 'v':
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "duplicate v= line");
	default:
		return fail(p, CARDEA_SDP_ERROR_SYNTAX, "unknown line type %c=", type);
	}
}

static gboolean parse_all(sdp_parser *p, const char *text, gsize len, char *scratch) {
	gsize pos = 0;
	guint blank_line = 0;
	while (pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		gsize n = nl != NULL ? (gsize)(nl - start) : len - pos, i;
		pos += n + (nl != NULL ? 1 : 0);
		p->line++;
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > p->lim.max_line_length)
			return fail(p, CARDEA_SDP_ERROR_LIMIT, "line too long (max %u bytes)", p->lim.max_line_length);
		memcpy(scratch, start, n);
		scratch[n] = '\0';
		/* Trailing blanks are harmless and common in hand-written SDP */
		while (n > 0 && (scratch[n - 1] == ' ' || scratch[n - 1] == '\t'))
			scratch[--n] = '\0';
		if (n == 0) {
			/* Empty lines are tolerated only at the very end */
			if (blank_line == 0)
				blank_line = p->line;
			continue;
		}
		if (blank_line != 0) {
			p->line = blank_line;
			return fail(p, CARDEA_SDP_ERROR_SYNTAX, "empty line");
		}
		for (i = 0; i < n; i++) {
			guchar c = (guchar)scratch[i];
			if (c < 0x20 || c == 0x7f)
				return fail(p, CARDEA_SDP_ERROR_SYNTAX, "control character in line");
		}
		if (!parse_line(p, scratch, n))
			return FALSE;
	}
	if (!p->seen_v) {
		g_set_error(p->error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX, "empty SDP");
		return FALSE;
	}
	return check_session_complete(p) && finish_section(p);
}

cardea_sdp *cardea_sdp_parse(const char *text, gsize len, const cardea_sdp_limits *limits, GError **error) {
	sdp_parser p;
	cardea_sdp_arena *arena;
	char *scratch;
	gboolean ok;

	memset(&p, 0, sizeof(p));
	cardea_sdp_limits_init(&p.lim);
	if (limits != NULL) {
		if (limits->max_size)
			p.lim.max_size = limits->max_size;
		if (limits->max_line_length)
			p.lim.max_line_length = limits->max_line_length;
		if (limits->max_mlines)
			p.lim.max_mlines = limits->max_mlines;
		if (limits->max_attributes)
			p.lim.max_attributes = limits->max_attributes;
	}
	if (text == NULL || len == 0) {
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX, "empty SDP");
		return NULL;
	}
	if (len > p.lim.max_size) {
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_LIMIT, "SDP too large (%" G_GSIZE_FORMAT
			" bytes, max %" G_GSIZE_FORMAT ")", len, p.lim.max_size);
		return NULL;
	}
	/* A line can't be longer than the text; don't allocate more than needed */
	if (p.lim.max_line_length > len)
		p.lim.max_line_length = (guint)len;
	arena = cardea_sdp_arena_new();
	p.sdp = cardea_sdp_arena_alloc(arena, sizeof(*p.sdp));
	p.sdp->_arena = arena;
	p.arena = arena;
	p.error = error;
	scratch = g_malloc((gsize)p.lim.max_line_length + 1);
	ok = parse_all(&p, text, len, scratch);
	g_free(scratch);
	if (!ok) {
		cardea_sdp_arena_free(arena);
		return NULL;
	}
	return p.sdp;
}

void cardea_sdp_free(cardea_sdp *sdp) {
	if (sdp != NULL)
		cardea_sdp_arena_free(sdp->_arena);
}
