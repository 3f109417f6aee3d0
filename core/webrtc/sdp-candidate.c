/* ICE candidate lines (RFC 8839 section 5.1): parsing shared by a=candidate
 * in SDP and by trickled candidates, and formatting for both.
 */
#include <string.h>

#include "webrtc/sdp-priv.h"

static gboolean is_candidate_type(const char *s, cardea_sdp_candidate_type *out) {
	static const char *const names[] = { "host", "srflx", "prflx", "relay" };
	guint i;
	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (cardea_sdp_candidate_type)(CARDEA_SDP_CANDIDATE_HOST + i);
			return TRUE;
		}
	}
	return FALSE;
}

/* <foundation> <component> <transport> <priority> <address> <port> typ <type>
 * [raddr <a>] [rport <p>] [tcptype <t>] *(<ext-name> <ext-value>)
 * Shared with trickle. `value` is modified (fields are cut in place). */
gboolean cardea_sdp_candidate_parse_value(cardea_sdp_arena *a, char *value, cardea_sdp_candidate *c) {
	char *v = value, *found = sdp_next_word(&v), *comp = sdp_next_word(&v), *transport = sdp_next_word(&v);
	char *prio = sdp_next_word(&v), *addr = sdp_next_word(&v), *port = sdp_next_word(&v), *typ = sdp_next_word(&v);
	char *type = sdp_next_word(&v), *key;
	guint64 n;

	memset(c, 0, sizeof(*c));
	c->rport = -1;
	if (!sdp_check_chars(found, 32, sdp_is_ice_char) || !sdp_parse_uint(comp, 256, &n) || n == 0)
		return FALSE;
	c->component = (guint)n;
	if (!sdp_check_chars(transport, 16, sdp_is_token_char) || !sdp_parse_uint(prio, G_MAXUINT32, &n))
		return FALSE;
	c->priority = (guint32)n;
	if (!sdp_check_chars(addr, SDP_MAX_NAME, sdp_is_addr_char) || !sdp_parse_uint(port, 65535, &n))
		return FALSE;
	c->port = (guint)n;
	if (typ == NULL || strcmp(typ, "typ") != 0 || type == NULL || !is_candidate_type(type, &c->type))
		return FALSE;
	while ((key = sdp_next_field(&v)) != NULL) {
		char *val = sdp_next_word(&v);
		if (val == NULL || !sdp_check_chars(key, 64, sdp_is_token_char))
			return FALSE;
		if (strcmp(key, "raddr") == 0) {
			if (c->raddr != NULL || !sdp_check_chars(val, SDP_MAX_NAME, sdp_is_addr_char))
				return FALSE;
			c->raddr = cardea_sdp_arena_strdup(a, val);
		} else if (strcmp(key, "rport") == 0) {
			if (c->rport >= 0 || !sdp_parse_uint(val, 65535, &n))
				return FALSE;
			c->rport = (gint)n;
		} else if (strcmp(key, "tcptype") == 0) {
			if (c->tcptype != CARDEA_SDP_TCPTYPE_NONE)
				return FALSE;
			if (strcmp(val, "active") == 0)
				c->tcptype = CARDEA_SDP_TCPTYPE_ACTIVE;
			else if (strcmp(val, "passive") == 0)
				c->tcptype = CARDEA_SDP_TCPTYPE_PASSIVE;
			else if (strcmp(val, "so") == 0)
				c->tcptype = CARDEA_SDP_TCPTYPE_SO;
			else
				return FALSE;
		} else {
			cardea_sdp_kv *kv;
			if (!sdp_check_chars(val, SDP_MAX_NAME, sdp_is_vchar))
				return FALSE;
			kv = CARDEA_SDP_PUSH(a, c->extensions, c->n_extensions);
			kv->key = cardea_sdp_arena_strdup(a, key);
			kv->value = cardea_sdp_arena_strdup(a, val);
		}
	}
	c->foundation = cardea_sdp_arena_strdup(a, found);
	c->transport = cardea_sdp_arena_strdup(a, transport);
	c->address = cardea_sdp_arena_strdup(a, addr);
	return TRUE;
}

cardea_sdp_candidate *cardea_sdp_candidate_parse(const char *line, GError **error) {
	cardea_sdp_arena *arena;
	cardea_sdp_candidate *c;
	char *copy;
	gsize len, i;

	if (line == NULL) {
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX, "missing candidate");
		return NULL;
	}
	if (g_str_has_prefix(line, "a="))
		line += 2;
	if (g_str_has_prefix(line, "candidate:"))
		line += strlen("candidate:");
	len = strnlen(line, CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH + 1);
	if (len > CARDEA_SDP_DEFAULT_MAX_LINE_LENGTH) {
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_LIMIT, "candidate too long");
		return NULL;
	}
	/* Trickle payloads sometimes keep the SDP line end */
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	for (i = 0; i < len; i++) {
		if ((guchar)line[i] < 0x20 || line[i] == 0x7f) {
			g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX, "bad candidate");
			return NULL;
		}
	}
	arena = cardea_sdp_arena_new();
	c = cardea_sdp_arena_alloc(arena, sizeof(*c));
	copy = cardea_sdp_arena_strndup(arena, line, len);
	if (!cardea_sdp_candidate_parse_value(arena, copy, c)) {
		cardea_sdp_arena_free(arena);
		g_set_error(error, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX, "bad candidate");
		return NULL;
	}
	c->_arena = arena;
	return c;
}

void cardea_sdp_candidate_free(cardea_sdp_candidate *cand) {
	if (cand != NULL && cand->_arena != NULL)
		cardea_sdp_arena_free(cand->_arena);
}

void cardea_sdp_candidate_append(GString *out, const cardea_sdp_candidate *c) {
	static const char *const tcptypes[] = { NULL, "active", "passive", "so" };
	guint i;
	g_string_append_printf(out, "candidate:%s %u %s %u %s %u typ %s", c->foundation, c->component,
		c->transport != NULL ? c->transport : "udp", c->priority, c->address, c->port, cardea_sdp_candidate_type_str(c->type));
	if (c->raddr != NULL)
		g_string_append_printf(out, " raddr %s", c->raddr);
	if (c->rport >= 0)
		g_string_append_printf(out, " rport %d", c->rport);
	if (c->tcptype > CARDEA_SDP_TCPTYPE_NONE && c->tcptype <= CARDEA_SDP_TCPTYPE_SO)
		g_string_append_printf(out, " tcptype %s", tcptypes[c->tcptype]);
	for (i = 0; i < c->n_extensions; i++)
		g_string_append_printf(out, " %s %s", c->extensions[i].key, c->extensions[i].value);
}

char *cardea_sdp_candidate_format(const cardea_sdp_candidate *cand) {
	GString *out = g_string_sized_new(128);
	cardea_sdp_candidate_append(out, cand);
	return g_string_free(out, FALSE);
}

void cardea_sdp_candidate_copy_into(cardea_sdp_arena *a, cardea_sdp_candidate *dst, const cardea_sdp_candidate *src) {
	guint i;
	*dst = *src;
	dst->_arena = NULL;
	dst->foundation = cardea_sdp_arena_strdup(a, src->foundation);
	dst->transport = cardea_sdp_arena_strdup(a, src->transport);
	dst->address = cardea_sdp_arena_strdup(a, src->address);
	dst->raddr = cardea_sdp_arena_strdup(a, src->raddr);
	dst->extensions = NULL;
	dst->n_extensions = 0;
	for (i = 0; i < src->n_extensions; i++) {
		cardea_sdp_kv *kv = CARDEA_SDP_PUSH(a, dst->extensions, dst->n_extensions);
		kv->key = cardea_sdp_arena_strdup(a, src->extensions[i].key);
		kv->value = cardea_sdp_arena_strdup(a, src->extensions[i].value);
	}
}
