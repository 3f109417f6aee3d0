/* SDP arena, writer (model -> CRLF text) and builder helpers.
 *
 * The writer emits every field the parser fills, in one canonical order (the
 * order Chromium uses for the known attributes; unknown attributes last, in
 * their original order; candidates at the end of each section so that
 * trickled ones can simply be appended). It never fails: a model built with
 * bad values produces text the parser rejects, which cardea_sdp_copy()
 * reports as NULL.
 */
#include <string.h>

#include "webrtc/sdp-priv.h"

/* ---- Arena ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(CARDEA_SDP_ARENA_DEBUG)
#define SDP_ARENA_EXACT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SDP_ARENA_EXACT 1
#endif
#endif
#ifndef SDP_ARENA_EXACT
#define SDP_ARENA_EXACT 0
#endif

#define SDP_CHUNK_SIZE 8192
#define SDP_ALIGN      16

typedef struct sdp_chunk {
	struct sdp_chunk *next;
	gsize size;
	gsize used;
} sdp_chunk;

/* Keep the data area 16-byte aligned after the header. */
#define SDP_CHUNK_HDR ((sizeof(sdp_chunk) + SDP_ALIGN - 1) & ~(gsize)(SDP_ALIGN - 1))

struct cardea_sdp_arena {
	sdp_chunk *head;                /* owned: the chunk list, head is the one being filled */
};

cardea_sdp_arena *cardea_sdp_arena_new(void) {
	return g_new0(cardea_sdp_arena, 1);
}

void cardea_sdp_arena_free(cardea_sdp_arena *a) {
	sdp_chunk *c, *next;
	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		g_free(c);
	}
	g_free(a);
}

static sdp_chunk *chunk_new(gsize size) {
	sdp_chunk *c;
	if (size > G_MAXSIZE - SDP_CHUNK_HDR)
		g_error("[sdp] arena allocation overflow");
	c = g_malloc0(SDP_CHUNK_HDR + size);
	c->size = size;
	return c;
}

void *cardea_sdp_arena_alloc(cardea_sdp_arena *a, gsize size) {
	sdp_chunk *c;
	gsize rounded;
	if (size > G_MAXSIZE - SDP_ALIGN)
		g_error("[sdp] arena allocation overflow");
	rounded = (size + SDP_ALIGN - 1) & ~(gsize)(SDP_ALIGN - 1);
	if (rounded == 0)
		rounded = SDP_ALIGN;
	if (SDP_ARENA_EXACT || rounded > SDP_CHUNK_SIZE / 4) {
		/* Its own block (exact size under ASan so overruns are caught),
		 * linked behind the chunk being filled. */
		c = chunk_new(SDP_ARENA_EXACT ? (size ? size : 1) : rounded);
		c->used = c->size;
		if (a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			a->head = c;
		}
		return (guint8 *)c + SDP_CHUNK_HDR;
	}
	c = a->head;
	if (c == NULL || c->size - c->used < rounded) {
		c = chunk_new(SDP_CHUNK_SIZE);
		c->next = a->head;
		a->head = c;
	}
	c->used += rounded;
	/* Chunks come from g_malloc0 and memory is never reused: already zero */
	return (guint8 *)c + SDP_CHUNK_HDR + c->used - rounded;
}

char *cardea_sdp_arena_strndup(cardea_sdp_arena *a, const char *s, gsize len) {
	char *d = cardea_sdp_arena_alloc(a, len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *cardea_sdp_arena_strdup(cardea_sdp_arena *a, const char *s) {
	return s != NULL ? cardea_sdp_arena_strndup(a, s, strlen(s)) : NULL;
}

void *cardea_sdp_arena_grow(cardea_sdp_arena *a, void *arr, guint n, gsize elem) {
	gsize cap;
	void *grown;
	/* Capacity implied by length: 4, 8, 16, ... so a full list has a
	 * power-of-two length >= 4. */
	if (!SDP_ARENA_EXACT && n != 0 && (n < 4 || (n & (n - 1)) != 0)) {
		memset((guint8 *)arr + (gsize)n * elem, 0, elem);
		return arr;
	}
	if (n >= G_MAXUINT / 2)
		g_error("[sdp] list too long");
	cap = SDP_ARENA_EXACT ? (gsize)n + 1 : (n == 0 ? 4 : (gsize)n * 2);
	if (!g_size_checked_mul(&cap, cap, elem))
		g_error("[sdp] arena allocation overflow");
	grown = cardea_sdp_arena_alloc(a, cap);
	if (n > 0)
		memcpy(grown, arr, (gsize)n * elem);
	return grown;
}

/* ---- Writer ---- */

static const char *or_default(const char *s, const char *def) {
	return s != NULL ? s : def;
}

static void write_lines(GString *out, const cardea_sdp_line *lines, guint n, const char *types) {
	guint i;
	for (i = 0; i < n; i++) {
		if (strchr(types, lines[i].type) != NULL)
			g_string_append_printf(out, "%c=%s\r\n", lines[i].type, lines[i].value);
	}
}

static void write_connection(GString *out, const cardea_sdp_connection *c) {
	if (c != NULL)
		g_string_append_printf(out, "c=%s %s %s\r\n", or_default(c->nettype, "IN"),
			or_default(c->addrtype, "IP4"), or_default(c->address, "0.0.0.0"));
}

static void write_bandwidths(GString *out, const cardea_sdp_bandwidth *b, guint n) {
	guint i;
	for (i = 0; i < n; i++)
		g_string_append_printf(out, "b=%s:%" G_GUINT64_FORMAT "\r\n", b[i].type, b[i].value);
}

static void write_kv_attrs(GString *out, const cardea_sdp_kv *kv, guint n) {
	guint i;
	for (i = 0; i < n; i++) {
		if (kv[i].value != NULL)
			g_string_append_printf(out, "a=%s:%s\r\n", kv[i].key, kv[i].value);
		else
			g_string_append_printf(out, "a=%s\r\n", kv[i].key);
	}
}

static void write_fingerprints(GString *out, const cardea_sdp_fingerprint *f, guint n) {
	guint i, j;
	for (i = 0; i < n; i++) {
		g_string_append_printf(out, "a=fingerprint:%s ", or_default(f[i].algorithm, cardea_sdp_hash_str(f[i].hash)));
		if (f[i].value != NULL) {
			g_string_append(out, f[i].value);
		} else {
			for (j = 0; j < f[i].digest_len; j++)
				g_string_append_printf(out, j ? ":%02X" : "%02X", f[i].digest[j]);
		}
		g_string_append(out, "\r\n");
	}
}

/* ICE credentials, fingerprints and setup: the same at both levels. */
static void write_transport(GString *out, const char *ufrag, const char *pwd, const char *options,
		const cardea_sdp_fingerprint *f, guint n_f, cardea_sdp_setup setup) {
	if (ufrag != NULL)
		g_string_append_printf(out, "a=ice-ufrag:%s\r\n", ufrag);
	if (pwd != NULL)
		g_string_append_printf(out, "a=ice-pwd:%s\r\n", pwd);
	if (options != NULL)
		g_string_append_printf(out, "a=ice-options:%s\r\n", options);
	write_fingerprints(out, f, n_f);
	if (setup != CARDEA_SDP_SETUP_UNSET)
		g_string_append_printf(out, "a=setup:%s\r\n", cardea_sdp_setup_str(setup));
}

static void write_extmaps(GString *out, const cardea_sdp_extmap *e, guint n) {
	guint i;
	for (i = 0; i < n; i++) {
		g_string_append_printf(out, "a=extmap:%u", e[i].id);
		if (e[i].direction != CARDEA_SDP_DIR_UNSET)
			g_string_append_printf(out, "/%s", cardea_sdp_direction_str(e[i].direction));
		g_string_append_printf(out, " %s", or_default(e[i].uri, cardea_sdp_ext_uri(e[i].ext)));
		if (e[i].attributes != NULL)
			g_string_append_printf(out, " %s", e[i].attributes);
		g_string_append(out, "\r\n");
	}
}

static void write_direction(GString *out, cardea_sdp_direction dir) {
	if (dir != CARDEA_SDP_DIR_UNSET)
		g_string_append_printf(out, "a=%s\r\n", cardea_sdp_direction_str(dir));
}

static void write_fb(GString *out, const char *pt, const cardea_sdp_rtcp_fb *fb, guint n) {
	guint i;
	for (i = 0; i < n; i++) {
		g_string_append_printf(out, "a=rtcp-fb:%s %s", pt, fb[i].type);
		if (fb[i].param != NULL)
			g_string_append_printf(out, " %s", fb[i].param);
		g_string_append(out, "\r\n");
	}
}

static void write_payloads(GString *out, const cardea_sdp_mline *m) {
	guint i;
	char pt[8];
	for (i = 0; i < m->n_payloads; i++) {
		const cardea_sdp_payload *p = &m->payloads[i];
		g_snprintf(pt, sizeof(pt), "%u", p->pt);
		if (p->name != NULL) {
			g_string_append_printf(out, "a=rtpmap:%s %s/%u", pt, p->name, p->clock);
			if (p->channels > 0)
				g_string_append_printf(out, "/%u", p->channels);
			g_string_append(out, "\r\n");
		}
		write_fb(out, pt, p->fb, p->n_fb);
		if (p->fmtp != NULL)
			g_string_append_printf(out, "a=fmtp:%s %s\r\n", pt, p->fmtp);
	}
	write_fb(out, "*", m->fb_all, m->n_fb_all);
}

static void write_ssrcs(GString *out, const cardea_sdp_mline *m) {
	guint i, j;
	for (i = 0; i < m->n_ssrc_groups; i++) {
		g_string_append_printf(out, "a=ssrc-group:%s", m->ssrc_groups[i].semantics);
		for (j = 0; j < m->ssrc_groups[i].n_ssrcs; j++)
			g_string_append_printf(out, " %u", m->ssrc_groups[i].ssrcs[j]);
		g_string_append(out, "\r\n");
	}
	for (i = 0; i < m->n_ssrcs; i++) {
		const cardea_sdp_ssrc *s = &m->ssrcs[i];
		if (s->cname != NULL)
			g_string_append_printf(out, "a=ssrc:%u cname:%s\r\n", s->ssrc, s->cname);
		if (s->msid_stream != NULL) {
			g_string_append_printf(out, "a=ssrc:%u msid:%s", s->ssrc, s->msid_stream);
			if (s->msid_track != NULL)
				g_string_append_printf(out, " %s", s->msid_track);
			g_string_append(out, "\r\n");
		}
		for (j = 0; j < s->n_attrs; j++) {
			g_string_append_printf(out, "a=ssrc:%u %s", s->ssrc, s->attrs[j].key);
			if (s->attrs[j].value != NULL)
				g_string_append_printf(out, ":%s", s->attrs[j].value);
			g_string_append(out, "\r\n");
		}
	}
}

static void write_sc_list(GString *out, const char *dir, const cardea_sdp_simulcast_stream *st, guint n,
		gboolean first) {
	guint i, j;
	if (n == 0)
		return;
	g_string_append_printf(out, "%s%s ", first ? "" : " ", dir);
	for (i = 0; i < n; i++) {
		for (j = 0; j < st[i].n_alts; j++)
			g_string_append_printf(out, "%s%s%s", j ? "," : (i ? ";" : ""), st[i].alts[j].paused ? "~" : "",
				st[i].alts[j].rid);
	}
}

static void write_simulcast(GString *out, const cardea_sdp_mline *m) {
	guint i, j;
	for (i = 0; i < m->n_rids; i++) {
		const cardea_sdp_rid *r = &m->rids[i];
		const char *sep = " ";
		g_string_append_printf(out, "a=rid:%s %s", r->id, r->direction == CARDEA_SDP_RID_RECV ? "recv" : "send");
		for (j = 0; j < r->n_pts; j++)
			g_string_append_printf(out, "%s%u", j ? "," : " pt=", r->pts[j]);
		if (r->n_pts > 0)
			sep = ";";
		for (j = 0; j < r->n_params; j++) {
			g_string_append_printf(out, "%s%s=%s", sep, r->params[j].key, r->params[j].value);
			sep = ";";
		}
		g_string_append(out, "\r\n");
	}
	if (m->simulcast.present) {
		g_string_append(out, "a=simulcast:");
		write_sc_list(out, "send", m->simulcast.send, m->simulcast.n_send, TRUE);
		write_sc_list(out, "recv", m->simulcast.recv, m->simulcast.n_recv, m->simulcast.n_send == 0);
		g_string_append(out, "\r\n");
	}
}

static void write_mline(GString *out, const cardea_sdp_mline *m) {
	guint i;
	g_string_append_printf(out, "m=%s %u", or_default(m->media, cardea_sdp_media_str(m->kind)), m->port);
	if (m->n_ports > 0)
		g_string_append_printf(out, "/%u", m->n_ports);
	g_string_append_printf(out, " %s", m->proto);
	if (m->rtp) {
		for (i = 0; i < m->n_payloads; i++)
			g_string_append_printf(out, " %u", m->payloads[i].pt);
	} else {
		g_string_append_printf(out, " %s", or_default(m->fmt, "webrtc-datachannel"));
	}
	g_string_append(out, "\r\n");
	write_lines(out, m->lines, m->n_lines, "i");
	write_connection(out, m->connection);
	write_bandwidths(out, m->bandwidths, m->n_bandwidths);
	write_lines(out, m->lines, m->n_lines, "k");
	if (m->rtcp_port >= 0) {
		g_string_append_printf(out, "a=rtcp:%d", m->rtcp_port);
		if (m->rtcp_address != NULL)
			g_string_append_printf(out, " %s", m->rtcp_address);
		g_string_append(out, "\r\n");
	}
	write_transport(out, m->ice_ufrag, m->ice_pwd, m->ice_options, m->fingerprints, m->n_fingerprints, m->setup);
	if (m->mid != NULL)
		g_string_append_printf(out, "a=mid:%s\r\n", m->mid);
	write_extmaps(out, m->extmaps, m->n_extmaps);
	write_direction(out, m->direction);
	for (i = 0; i < m->n_msids; i++) {
		g_string_append_printf(out, "a=msid:%s", m->msids[i].stream);
		if (m->msids[i].track != NULL)
			g_string_append_printf(out, " %s", m->msids[i].track);
		g_string_append(out, "\r\n");
	}
	if (m->rtcp_mux)
		g_string_append(out, "a=rtcp-mux\r\n");
	if (m->rtcp_rsize)
		g_string_append(out, "a=rtcp-rsize\r\n");
	if (m->bundle_only)
		g_string_append(out, "a=bundle-only\r\n");
	if (m->extmap_allow_mixed)
		g_string_append(out, "a=extmap-allow-mixed\r\n");
	write_payloads(out, m);
	write_ssrcs(out, m);
	write_simulcast(out, m);
	if (m->sctp_port >= 0)
		g_string_append_printf(out, "a=sctp-port:%d\r\n", m->sctp_port);
	if (m->max_message_size >= 0)
		g_string_append_printf(out, "a=max-message-size:%" G_GINT64_FORMAT "\r\n", m->max_message_size);
	write_kv_attrs(out, m->attributes, m->n_attributes);
	for (i = 0; i < m->n_candidates; i++) {
		g_string_append(out, "a=");
		cardea_sdp_candidate_append(out, &m->candidates[i]);
		g_string_append(out, "\r\n");
	}
	if (m->end_of_candidates)
		g_string_append(out, "a=end-of-candidates\r\n");
}

char *cardea_sdp_write(const cardea_sdp *sdp) {
	const cardea_sdp_origin *o = &sdp->origin;
	GString *out = g_string_sized_new(2048);
	guint i, j;

	g_string_append(out, "v=0\r\n");
	g_string_append_printf(out, "o=%s %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s %s %s\r\n",
		or_default(o->username, "-"), o->sess_id, o->sess_version, or_default(o->nettype, "IN"),
		or_default(o->addrtype, "IP4"), or_default(o->address, "127.0.0.1"));
	g_string_append_printf(out, "s=%s\r\n", or_default(sdp->session_name, "-"));
	write_lines(out, sdp->lines, sdp->n_lines, "iuep");
	write_connection(out, sdp->connection);
	write_bandwidths(out, sdp->bandwidths, sdp->n_bandwidths);
	g_string_append_printf(out, "t=%s\r\n", or_default(sdp->timing, "0 0"));
	write_lines(out, sdp->lines, sdp->n_lines, "rzk");
	for (i = 0; i < sdp->n_groups; i++) {
		g_string_append_printf(out, "a=group:%s", sdp->groups[i].semantics);
		for (j = 0; j < sdp->groups[i].n_mids; j++)
			g_string_append_printf(out, " %s", sdp->groups[i].mids[j]);
		g_string_append(out, "\r\n");
	}
	if (sdp->ice_lite)
		g_string_append(out, "a=ice-lite\r\n");
	write_transport(out, sdp->ice_ufrag, sdp->ice_pwd, sdp->ice_options, sdp->fingerprints, sdp->n_fingerprints,
		sdp->setup);
	write_direction(out, sdp->direction);
	if (sdp->extmap_allow_mixed)
		g_string_append(out, "a=extmap-allow-mixed\r\n");
	if (sdp->msid_semantic != NULL) {
		/* With the space after the colon, as browsers write it */
		g_string_append_printf(out, "a=msid-semantic: %s", sdp->msid_semantic);
		if (sdp->msid_semantic_ids != NULL)
			g_string_append_printf(out, " %s", sdp->msid_semantic_ids);
		g_string_append(out, "\r\n");
	}
	write_extmaps(out, sdp->extmaps, sdp->n_extmaps);
	write_kv_attrs(out, sdp->attributes, sdp->n_attributes);
	if (sdp->end_of_candidates)
		g_string_append(out, "a=end-of-candidates\r\n");
	for (i = 0; i < sdp->n_mlines; i++)
		write_mline(out, sdp->mlines[i]);
	return g_string_free(out, FALSE);
}

cardea_sdp *cardea_sdp_copy(const cardea_sdp *sdp) {
	cardea_sdp_limits unlimited = { G_MAXSIZE, G_MAXUINT, G_MAXUINT, G_MAXUINT };
	char *text = cardea_sdp_write(sdp);
	cardea_sdp *copy = cardea_sdp_parse(text, strlen(text), &unlimited, NULL);
	g_free(text);
	return copy;
}

/* ---- Builder ---- */

cardea_sdp *cardea_sdp_new(void) {
	cardea_sdp_arena *arena = cardea_sdp_arena_new();
	cardea_sdp *sdp = cardea_sdp_arena_alloc(arena, sizeof(*sdp));
	sdp->_arena = arena;
	sdp->origin.username = cardea_sdp_arena_strdup(arena, "-");
	sdp->origin.sess_id = (guint64)g_get_real_time();
	sdp->origin.sess_version = 1;
	sdp->origin.nettype = cardea_sdp_arena_strdup(arena, "IN");
	sdp->origin.addrtype = cardea_sdp_arena_strdup(arena, "IP4");
	sdp->origin.address = cardea_sdp_arena_strdup(arena, "127.0.0.1");
	sdp->session_name = cardea_sdp_arena_strdup(arena, "-");
	sdp->timing = cardea_sdp_arena_strdup(arena, "0 0");
	return sdp;
}

char *cardea_sdp_strdup(cardea_sdp *sdp, const char *str) {
	return cardea_sdp_arena_strdup(sdp->_arena, str);
}

char *cardea_sdp_strdup_printf(cardea_sdp *sdp, const char *format, ...) {
	va_list ap;
	char *tmp, *res;
	va_start(ap, format);
	tmp = g_strdup_vprintf(format, ap);
	va_end(ap);
	res = cardea_sdp_arena_strdup(sdp->_arena, tmp);
	g_free(tmp);
	return res;
}

cardea_sdp_mline *cardea_sdp_mline_add(cardea_sdp *sdp, cardea_sdp_media kind, const char *proto) {
	cardea_sdp_arena *a = sdp->_arena;
	cardea_sdp_mline *m = cardea_sdp_arena_alloc(a, sizeof(*m));
	m->index = sdp->n_mlines;
	m->kind = kind;
	m->media = cardea_sdp_arena_strdup(a, cardea_sdp_media_str(kind));
	m->port = 9;
	if (proto == NULL)
		proto = kind == CARDEA_SDP_MEDIA_APPLICATION ? "UDP/DTLS/SCTP" : "UDP/TLS/RTP/SAVPF";
	m->proto = cardea_sdp_arena_strdup(a, proto);
	m->rtp = strstr(proto, "RTP/") != NULL;
	if (!m->rtp)
		m->fmt = cardea_sdp_arena_strdup(a, "webrtc-datachannel");
	m->connection = cardea_sdp_arena_alloc(a, sizeof(*m->connection));
	m->connection->nettype = cardea_sdp_arena_strdup(a, "IN");
	m->connection->addrtype = cardea_sdp_arena_strdup(a, "IP4");
	m->connection->address = cardea_sdp_arena_strdup(a, "0.0.0.0");
	m->rtcp_port = -1;
	m->sctp_port = -1;
	m->max_message_size = -1;
	sdp->mlines = cardea_sdp_arena_grow(a, sdp->mlines, sdp->n_mlines, sizeof(*sdp->mlines));
	sdp->mlines[sdp->n_mlines++] = m;
	return m;
}

cardea_sdp_payload *cardea_sdp_payload_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint pt, const char *name,
		guint32 clock, guint channels) {
	cardea_sdp_payload *p;
	if (!m->rtp || pt > 127 || cardea_sdp_find_payload(m, pt) != NULL)
		return NULL;
	p = CARDEA_SDP_PUSH(sdp->_arena, m->payloads, m->n_payloads);
	p->pt = pt;
	p->name = cardea_sdp_arena_strdup(sdp->_arena, name);
	p->clock = name != NULL ? clock : 0;
	p->channels = channels;
	p->apt = -1;
	return p;
}

gboolean cardea_sdp_payload_set_fmtp(cardea_sdp *sdp, cardea_sdp_payload *p, const char *fmtp) {
	cardea_sdp_payload tmp = *p;
	if (fmtp == NULL) {
		p->fmtp = NULL;
		p->params = NULL;
		p->n_params = 0;
		p->apt = -1;
		return TRUE;
	}
	if (!cardea_sdp_fmtp_split(sdp->_arena, &tmp, fmtp))
		return FALSE;
	p->params = tmp.params;
	p->n_params = tmp.n_params;
	p->apt = tmp.apt;
	p->fmtp = cardea_sdp_arena_strdup(sdp->_arena, fmtp);
	return TRUE;
}

void cardea_sdp_payload_add_fb(cardea_sdp *sdp, cardea_sdp_payload *p, const char *type, const char *param) {
	cardea_sdp_rtcp_fb *fb = CARDEA_SDP_PUSH(sdp->_arena, p->fb, p->n_fb);
	fb->type = cardea_sdp_arena_strdup(sdp->_arena, type);
	fb->param = cardea_sdp_arena_strdup(sdp->_arena, param);
}

gboolean cardea_sdp_payload_remove(cardea_sdp_mline *m, guint pt) {
	guint i;
	for (i = 0; i < m->n_payloads; i++) {
		if (m->payloads[i].pt == pt) {
			memmove(&m->payloads[i], &m->payloads[i + 1], (m->n_payloads - i - 1) * sizeof(*m->payloads));
			m->n_payloads--;
			return TRUE;
		}
	}
	return FALSE;
}

cardea_sdp_extmap *cardea_sdp_extmap_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint id, const char *uri) {
	cardea_sdp_extmap *e = CARDEA_SDP_PUSH(sdp->_arena, m->extmaps, m->n_extmaps);
	e->id = id;
	e->uri = cardea_sdp_arena_strdup(sdp->_arena, uri);
	e->ext = cardea_sdp_ext_from_uri(uri);
	return e;
}

void cardea_sdp_msid_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *stream, const char *track) {
	cardea_sdp_msid *ms = CARDEA_SDP_PUSH(sdp->_arena, m->msids, m->n_msids);
	ms->stream = cardea_sdp_arena_strdup(sdp->_arena, stream);
	ms->track = cardea_sdp_arena_strdup(sdp->_arena, track);
}

cardea_sdp_ssrc *cardea_sdp_ssrc_add(cardea_sdp *sdp, cardea_sdp_mline *m, guint32 ssrc, const char *cname,
		const char *msid_stream, const char *msid_track) {
	cardea_sdp_ssrc *s = cardea_sdp_find_ssrc(m, ssrc);
	if (s == NULL) {
		s = CARDEA_SDP_PUSH(sdp->_arena, m->ssrcs, m->n_ssrcs);
		s->ssrc = ssrc;
	}
	if (cname != NULL)
		s->cname = cardea_sdp_arena_strdup(sdp->_arena, cname);
	if (msid_stream != NULL) {
		s->msid_stream = cardea_sdp_arena_strdup(sdp->_arena, msid_stream);
		s->msid_track = cardea_sdp_arena_strdup(sdp->_arena, msid_track);
	}
	return s;
}

void cardea_sdp_ssrc_group_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *semantics,
		const guint32 *ssrcs, guint n_ssrcs) {
	cardea_sdp_ssrc_group *g = CARDEA_SDP_PUSH(sdp->_arena, m->ssrc_groups, m->n_ssrc_groups);
	guint i;
	g->semantics = cardea_sdp_arena_strdup(sdp->_arena, semantics);
	for (i = 0; i < n_ssrcs; i++)
		*CARDEA_SDP_PUSH(sdp->_arena, g->ssrcs, g->n_ssrcs) = ssrcs[i];
}

cardea_sdp_rid *cardea_sdp_rid_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *id, cardea_sdp_rid_dir dir) {
	cardea_sdp_rid *r = CARDEA_SDP_PUSH(sdp->_arena, m->rids, m->n_rids);
	r->id = cardea_sdp_arena_strdup(sdp->_arena, id);
	r->direction = dir;
	return r;
}

void cardea_sdp_simulcast_add(cardea_sdp *sdp, cardea_sdp_mline *m, cardea_sdp_rid_dir dir, const char *rid,
		gboolean paused) {
	cardea_sdp_simulcast_stream *st;
	cardea_sdp_simulcast_alt *alt;
	m->simulcast.present = TRUE;
	if (dir == CARDEA_SDP_RID_RECV)
		st = CARDEA_SDP_PUSH(sdp->_arena, m->simulcast.recv, m->simulcast.n_recv);
	else
		st = CARDEA_SDP_PUSH(sdp->_arena, m->simulcast.send, m->simulcast.n_send);
	alt = CARDEA_SDP_PUSH(sdp->_arena, st->alts, st->n_alts);
	alt->rid = cardea_sdp_arena_strdup(sdp->_arena, rid);
	alt->paused = paused;
}

cardea_sdp_candidate *cardea_sdp_candidate_add(cardea_sdp *sdp, cardea_sdp_mline *m, const cardea_sdp_candidate *cand) {
	cardea_sdp_candidate *c = CARDEA_SDP_PUSH(sdp->_arena, m->candidates, m->n_candidates);
	cardea_sdp_candidate_copy_into(sdp->_arena, c, cand);
	return c;
}

cardea_sdp_fingerprint *cardea_sdp_fingerprint_add(cardea_sdp *sdp, cardea_sdp_mline *m, cardea_sdp_hash hash,
		const guint8 *digest, guint digest_len) {
	cardea_sdp_fingerprint *f;
	GString *hex;
	guint i;
	if (digest_len == 0 || digest_len > sizeof(f->digest))
		return NULL;
	if (m != NULL)
		f = CARDEA_SDP_PUSH(sdp->_arena, m->fingerprints, m->n_fingerprints);
	else
		f = CARDEA_SDP_PUSH(sdp->_arena, sdp->fingerprints, sdp->n_fingerprints);
	f->hash = hash;
	f->algorithm = cardea_sdp_arena_strdup(sdp->_arena, cardea_sdp_hash_str(hash));
	memcpy(f->digest, digest, digest_len);
	f->digest_len = digest_len;
	hex = g_string_sized_new(digest_len * 3);
	for (i = 0; i < digest_len; i++)
		g_string_append_printf(hex, i ? ":%02X" : "%02X", digest[i]);
	f->value = cardea_sdp_arena_strdup(sdp->_arena, hex->str);
	g_string_free(hex, TRUE);
	return f;
}

void cardea_sdp_attribute_add(cardea_sdp *sdp, cardea_sdp_mline *m, const char *name, const char *value) {
	cardea_sdp_kv *kv;
	if (m != NULL)
		kv = CARDEA_SDP_PUSH(sdp->_arena, m->attributes, m->n_attributes);
	else
		kv = CARDEA_SDP_PUSH(sdp->_arena, sdp->attributes, sdp->n_attributes);
	kv->key = cardea_sdp_arena_strdup(sdp->_arena, name);
	kv->value = cardea_sdp_arena_strdup(sdp->_arena, value);
}

cardea_sdp_group *cardea_sdp_group_add(cardea_sdp *sdp, const char *semantics) {
	cardea_sdp_group *g = CARDEA_SDP_PUSH(sdp->_arena, sdp->groups, sdp->n_groups);
	g->semantics = cardea_sdp_arena_strdup(sdp->_arena, semantics);
	return g;
}

void cardea_sdp_group_add_mid(cardea_sdp *sdp, cardea_sdp_group *g, const char *mid) {
	*CARDEA_SDP_PUSH(sdp->_arena, g->mids, g->n_mids) = cardea_sdp_arena_strdup(sdp->_arena, mid);
}
