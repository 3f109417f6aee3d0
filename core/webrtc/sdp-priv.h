/* Internals shared by sdp.c (parser), sdp-candidate.c (candidate lines),
 * sdp-write.c (writer, builder, arena) and sdp-util.c (validation, lookups,
 * codec helpers). Not part of any API.
 *
 * The arena: every cardea_sdp owns one. Allocations are bump-allocated from
 * chunks and freed all at once. Lists are arrays whose capacity is implied by
 * their length (4, then powers of two), so the model needs no capacity
 * fields; growing copies into a fresh block and leaves the old one to the
 * arena (at most doubles the space used).
 *
 * Under AddressSanitizer (or with CARDEA_SDP_ARENA_DEBUG) every allocation
 * gets its own malloc block, so out-of-bounds accesses inside the model are
 * caught instead of landing in a neighbouring object.
 */
#ifndef CARDEA_WEBRTC_SDP_PRIV_H
#define CARDEA_WEBRTC_SDP_PRIV_H

#include <string.h>

#include "webrtc/sdp.h"

/* Identifier bounds. A mid or rid travels in a one/two-byte RTP header
 * extension, so it has to stay short; other names are just kept sane. */
#define SDP_MAX_ID   64
#define SDP_MAX_NAME 255

/* ---- Character classes and field scanners, shared by the SDP and the
 * trickle-candidate parsers. Input is always a NUL-terminated copy. ---- */

/* RFC 8866 token-char */
static inline gboolean sdp_is_token_char(guchar c) {
	return g_ascii_isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`{|}~", c) != NULL);
}
/* RFC 8839 ice-char */
static inline gboolean sdp_is_ice_char(guchar c) {
	return g_ascii_isalnum(c) || c == '+' || c == '/';
}
/* RFC 8851 rid-id */
static inline gboolean sdp_is_rid_char(guchar c) {
	return g_ascii_isalnum(c) || c == '-' || c == '_';
}
/* Printable ASCII without space (URIs, ids, cnames). */
static inline gboolean sdp_is_vchar(guchar c) {
	return c > 0x20 && c < 0x7f;
}
/* Host names and IPv4/IPv6 literals. */
static inline gboolean sdp_is_addr_char(guchar c) {
	return g_ascii_isalnum(c) || c == '.' || c == ':' || c == '-' || c == '_';
}
static inline gboolean sdp_is_proto_char(guchar c) {
	return sdp_is_token_char(c) || c == '/';
}

/* TRUE if `s` is 1..max chars, all satisfying `pred`. */
static inline gboolean sdp_check_chars(const char *s, gsize max, gboolean (*pred)(guchar)) {
	gsize i;
	if (s == NULL || *s == '\0')
		return FALSE;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max || !pred((guchar)s[i]))
			return FALSE;
	}
	return TRUE;
}

/* Strict unsigned decimal: digits only, at most 20 of them, value <= max. */
static inline gboolean sdp_parse_uint(const char *s, guint64 max, guint64 *out) {
	guint64 v = 0;
	gsize i;
	if (s == NULL || *s == '\0')
		return FALSE;
	for (i = 0; s[i] != '\0'; i++) {
		guint d;
		if (i >= 20 || !g_ascii_isdigit(s[i]))
			return FALSE;
		d = (guint)(s[i] - '0');
		if (v > (G_MAXUINT64 - d) / 10)
			return FALSE;
		v = v * 10 + d;
	}
	if (v > max)
		return FALSE;
	*out = v;
	return TRUE;
}

/* Splits off the next ' '-separated field: NULL when nothing is left, "" when
 * two separators are adjacent (callers treat "" as malformed). */
static inline char *sdp_next_field(char **cur) {
	char *s = *cur, *sp;
	if (s == NULL)
		return NULL;
	sp = strchr(s, ' ');
	if (sp != NULL) {
		*sp = '\0';
		*cur = sp + 1;
	} else {
		*cur = NULL;
	}
	return s;
}

/* Like sdp_next_field() but NULL for a missing or empty field. */
static inline char *sdp_next_word(char **cur) {
	char *w = sdp_next_field(cur);
	return (w != NULL && *w != '\0') ? w : NULL;
}

static inline char *sdp_trim(char *s) {
	char *e;
	while (*s == ' ')
		s++;
	e = s + strlen(s);
	while (e > s && e[-1] == ' ')
		*--e = '\0';
	return s;
}

typedef struct cardea_sdp_arena cardea_sdp_arena;

cardea_sdp_arena *cardea_sdp_arena_new(void);
void cardea_sdp_arena_free(cardea_sdp_arena *a);
/* Zeroed, 16-byte aligned; never NULL (aborts on OOM like g_malloc). */
void *cardea_sdp_arena_alloc(cardea_sdp_arena *a, gsize size);
char *cardea_sdp_arena_strndup(cardea_sdp_arena *a, const char *s, gsize len);
char *cardea_sdp_arena_strdup(cardea_sdp_arena *a, const char *s);
/* Returns `arr` (or a moved copy) with room for element `n` (zeroed). */
void *cardea_sdp_arena_grow(cardea_sdp_arena *a, void *arr, guint n, gsize elem);

/* Appends a zeroed element to list `arr` of length `n` and returns it. */
#define CARDEA_SDP_PUSH(arena, arr, n) \
	((arr) = cardea_sdp_arena_grow((arena), (arr), (n), sizeof(*(arr))), &(arr)[(n)++])

/* Parses "k=v;k2=v2" into p->params and derives p->apt. FALSE on a
 * malformed list (params/apt then partial). Used by the parser and builder. */
gboolean cardea_sdp_fmtp_split(cardea_sdp_arena *a, cardea_sdp_payload *p, const char *fmtp);

/* Parses one candidate value (after "candidate:") into `c`, allocating from
 * `a`; `value` is cut in place. FALSE if malformed (c is then garbage). */
gboolean cardea_sdp_candidate_parse_value(cardea_sdp_arena *a, char *value, cardea_sdp_candidate *c);

/* Writes "candidate:..." to `out`. */
void cardea_sdp_candidate_append(GString *out, const cardea_sdp_candidate *c);

/* Deep copy of a candidate into arena `a`. */
void cardea_sdp_candidate_copy_into(cardea_sdp_arena *a, cardea_sdp_candidate *dst, const cardea_sdp_candidate *src);

cardea_sdp_ext cardea_sdp_ext_from_uri(const char *uri);

#endif
