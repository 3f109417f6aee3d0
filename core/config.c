#include <stdarg.h>
/* .jcfg reading on top of libconfig 1.5 (SDK: cardea/config.h).
 *
 * The file is read into memory by us (bounded, regular files only) and
 * handed to config_read_string(), so the size limit holds and every error
 * names the file exactly as the caller spelled it. Before parsing, a small
 * pre-scan fixes what libconfig 1.5 gets wrong or cannot bound:
 *   - integer literals beyond 32 bits without an `L` suffix are silently
 *     wrapped by libconfig 1.5 (3000000000 reads as -1294967296), so the scan
 *     appends the `L` itself; literals beyond 64 bits are refused;
 *   - `@include` would read other files behind our back (no size limit, and
 *     errors pointing elsewhere), so it is refused;
 *   - a UTF-8 byte-order mark (left by some editors) is skipped, and a
 *     missing final newline added (libconfig 1.5 rejects a comment that
 *     ends the file without one).
 *
 * Values are converted on read, never at parse time: libconfig keeps each
 * scalar's native type and the getters accept the string and number forms
 * alike, as Janus does.
 *
 * Threads: none of this is locked; see config.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "cardea/config.h"
#include "cardea/module.h"


#define CONFIG_MAX_BYTES (4 * 1024 * 1024)
/* How much of an offending value an error message quotes. */
#define CONFIG_QUOTE_MAX 48

struct cardea_config {
	config_t cfg;
	char *path;   /* owned; the name exactly as given, used in every message */
};

GQuark cardea_config_error_quark(void) {
	return g_quark_from_static_string("cardea-config-error-quark");
}

/* ---- Pre-scan ---- */

static gboolean is_name_start(char c) {
	return g_ascii_isalpha(c) || c == '*';
}

static gboolean is_name_char(char c) {
	return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '*';
}

/* Checks one integer literal text[start..end) (no L suffix when !has_l).
 * Returns 1 when it needs an `L` appended, 0 when fine, -1 when it cannot be
 * represented (error set). */
static int check_int_literal(const char *name, int line, const char *text, size_t start, size_t end,
	gboolean has_l, GError **error) {
	char *lit = g_strndup(text + start, end - start);
	const char *digits = lit;
	if (*digits == '+' || *digits == '-')
		digits++;
	gboolean hex = (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'));
	int rc = 0;
	if (hex && digits[2] == '\0') {
		rc = 0;   /* "0x" alone: libconfig reports the syntax error */
	} else if (hex) {
		guint64 v = 0;
		if (!g_ascii_string_to_unsigned(digits + 2, 16, 0, G_MAXUINT64, &v, NULL))
			rc = -1;
		else if (!has_l && v > G_MAXINT32)
			rc = 1;
	} else {
		gint64 v = 0;
		/* g_ascii_string_to_signed does not take a '+' sign. */
		const char *num = (*lit == '+') ? lit + 1 : lit;
		if (!g_ascii_string_to_signed(num, 10, G_MININT64, G_MAXINT64, &v, NULL))
			rc = -1;
		else if (!has_l && (v > G_MAXINT32 || v < G_MININT32))
			rc = 1;
	}
	if (rc < 0)
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_VALUE,
			"%s:%d: integer %s does not fit in 64 bits", name, line, lit);
	g_free(lit);
	return rc;
}

/* Walks the text the way libconfig's lexer splits it (strings, comments,
 * names, numbers) and returns a copy ready for config_read_string(), or NULL
 * with *error set. Only line structure matters here, so anything the lexer
 * would reject is left for libconfig to report. */
static char *prescan(const char *name, const char *text, size_t len, GError **error) {
	GString *out = g_string_sized_new(len + 16);
	size_t i = 0, copied = 0;
	int line = 1;
	gboolean line_start = TRUE;   /* only blanks so far on this line */

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = copied = 3;
	while (i < len) {
		char c = text[i];
		if (c == '\n') {
			line++;
			line_start = TRUE;
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			i++;
			continue;
		}
		gboolean was_line_start = line_start;
		line_start = FALSE;
		if (c == '"') {
			for (i++; i < len && text[i] != '"'; i++) {
				if (text[i] == '\\' && i + 1 < len)
					i++;
				if (text[i] == '\n')
					line++;
			}
			i++;
		} else if (c == '#' || (c == '/' && i + 1 < len && text[i + 1] == '/')) {
			while (i < len && text[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			for (i += 2; i < len && !(text[i] == '*' && i + 1 < len && text[i + 1] == '/'); i++) {
				if (text[i] == '\n')
					line++;
			}
			i += 2;
		} else if (c == '@' && was_line_start && len - i >= 8 && strncmp(text + i, "@include", 8) == 0) {
			g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_SYNTAX,
				"%s:%d: @include is not supported (put the settings in this file)", name, line);
			g_string_free(out, TRUE);
			return NULL;
		} else if (is_name_start(c)) {
			while (i < len && is_name_char(text[i]))
				i++;
		} else if (g_ascii_isdigit(c) || c == '.' || ((c == '+' || c == '-') && i + 1 < len &&
				(g_ascii_isdigit(text[i + 1]) || text[i + 1] == '.'))) {
			size_t start = i;
			gboolean is_float = FALSE;
			if (c == '+' || c == '-')
				i++;
			if (text[i] == '0' && i + 1 < len && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
				for (i += 2; i < len && g_ascii_isxdigit(text[i]); i++)
					;
			} else {
				/* Digits, a dot, an exponent with its sign: enough to tell
				 * a float from an int; the lexer validates the rest. */
				for (; i < len; i++) {
					char d = text[i];
					if (g_ascii_isdigit(d))
						continue;
					if (d == '.' || d == 'e' || d == 'E') {
						is_float = TRUE;
						continue;
					}
					if ((d == '+' || d == '-') && (text[i - 1] == 'e' || text[i - 1] == 'E'))
						continue;
					break;
				}
			}
			size_t end = i;
			gboolean has_l = (i < len && text[i] == 'L');
			while (i < len && text[i] == 'L')
				i++;
			if (!is_float && end > start) {
				int rc = check_int_literal(name, line, text, start, end, has_l, error);
				if (rc < 0) {
					g_string_free(out, TRUE);
					return NULL;
				}
				if (rc > 0) {
					g_string_append_len(out, text + copied, end - copied);
					g_string_append_c(out, 'L');
					copied = end;
				}
			}
		} else {
			i++;
		}
	}
	if (copied < len)
		g_string_append_len(out, text + copied, len - copied);
	/* libconfig 1.5 fails on a comment that ends the file without a newline. */
	if (out->len > 0 && out->str[out->len - 1] != '\n')
		g_string_append_c(out, '\n');
	return g_string_free(out, FALSE);
}

/* ---- Loading ---- */

static cardea_config *parse_text(const char *name, const char *text, size_t len, GError **error) {
	if (len > CONFIG_MAX_BYTES) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO,
			"%s: file is too big (%zu bytes, the limit is %d)", name, len, CONFIG_MAX_BYTES);
		return NULL;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;
		for (const char *p = text; p < nul; p++)
			line += (*p == '\n');
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_SYNTAX,
			"%s:%d: NUL byte in the file (not a text file?)", name, line);
		return NULL;
	}
	char *fixed = prescan(name, text, len, error);
	if (!fixed)
		return NULL;
	cardea_config *config = g_new0(cardea_config, 1);
	config->path = g_strdup(name);
	config_init(&config->cfg);
	if (!config_read_string(&config->cfg, fixed)) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_SYNTAX, "%s:%d: %s", name,
			config_error_line(&config->cfg),
			config_error_text(&config->cfg) ? config_error_text(&config->cfg) : "syntax error");
		cardea_config_free(config);
		config = NULL;
	}
	g_free(fixed);
	return config;
}

/* Reads at most CONFIG_MAX_BYTES + 1 bytes so that a file growing under us,
 * or lying in st_size (procfs), is still bounded. */
static char *read_bounded(const char *path, size_t *len_out, GError **error) {
	/* O_NONBLOCK: opening a FIFO must not hang start-up; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO, "%s: cannot read: %s", path,
			g_strerror(err));
		return NULL;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = g_strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = g_strerror(EISDIR);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (why) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO, "%s: cannot read: %s", path, why);
		close(fd);
		return NULL;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO,
			"%s: file is too big (%lld bytes, the limit is %d)", path, (long long)st.st_size,
			CONFIG_MAX_BYTES);
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = g_malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_BYTES)
				break;
			cap = MIN(cap * 2, (size_t)CONFIG_MAX_BYTES + 1);
			buf = g_realloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO, "%s: cannot read: %s", path,
				g_strerror(err));
			g_free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

cardea_config *cardea_config_load(const char *path, GError **error) {
	g_return_val_if_fail(path != NULL, NULL);
	size_t len = 0;
	char *text = read_bounded(path, &len, error);
	if (!text)
		return NULL;
	cardea_config *config = parse_text(path, text, len, error);
	g_free(text);
	return config;
}

cardea_config *cardea_config_load_string(const char *name, const char *text, GError **error) {
	g_return_val_if_fail(text != NULL, NULL);
	return parse_text(name ? name : "(string)", text, strlen(text), error);
}

void cardea_config_free(cardea_config *config) {
	if (!config)
		return;
	config_destroy(&config->cfg);
	g_free(config->path);
	g_free(config);
}

const char *cardea_config_path(const cardea_config *config) {
	g_return_val_if_fail(config != NULL, NULL);
	return config->path;
}

/* ---- Lookup ---- */

static config_setting_t *root_member(const cardea_config *config, const char *name) {
	return config_setting_get_member(config_root_setting(&config->cfg), name);
}

/* The group named `section`, NULL when absent or not a group. */
static config_setting_t *section_group(const cardea_config *config, const char *section) {
	config_setting_t *s = root_member(config, section);
	return (s && config_setting_is_group(s)) ? s : NULL;
}

/* Finds section.key for a getter. Absent key (or section) gives TRUE with
 * *out NULL; a section that exists but is not a group is an error, since
 * silently treating `general = 5` as "no settings" would hide a mistake. */
static gboolean find_key(const cardea_config *config, const char *section, const char *key,
	config_setting_t **out, GError **error) {
	*out = NULL;
	if (!section) {
		*out = root_member(config, key);
		return TRUE;
	}
	config_setting_t *s = root_member(config, section);
	if (!s)
		return TRUE;
	if (!config_setting_is_group(s)) {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_TYPE,
			"%s:%u: %s must be a group (%s: { ... })", config->path, config_setting_source_line(s),
			section, section);
		return FALSE;
	}
	*out = config_setting_get_member(s, key);
	return TRUE;
}

static char *full_name(const char *section, const char *key) {
	return section ? g_strdup_printf("%s.%s", section, key) : g_strdup(key);
}

static gboolean is_scalar(const config_setting_t *s) {
	return !config_setting_is_aggregate(s);
}

/* The string form of a scalar, as Janus sees every value. */
static char *scalar_to_string(const config_setting_t *s) {
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		return g_strdup_printf("%d", config_setting_get_int(s));
	case CONFIG_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, (gint64)config_setting_get_int64(s));
	case CONFIG_TYPE_FLOAT:
		/* Keep a float recognisable as one: 1.0 reads back as "1.0". */
		g_ascii_formatd(buf, sizeof(buf), "%.15g", config_setting_get_float(s));
		if (strspn(buf, "-0123456789") == strlen(buf))
			return g_strconcat(buf, ".0", NULL);
		return g_strdup(buf);
	case CONFIG_TYPE_BOOL:
		return g_strdup(config_setting_get_bool(s) ? "true" : "false");
	case CONFIG_TYPE_STRING:
		return g_strdup(config_setting_get_string(s));
	default:
		return NULL;
	}
}

/* How a value is shown in "(got ...)": strings quoted, escaped and cut short
 * (a misplaced secret should not end up in full in a log). */
static char *describe_value(const config_setting_t *s) {
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return scalar_to_string(s);
	const char *v = config_setting_get_string(s);
	char *cut = g_utf8_make_valid(v, MIN(strlen(v), CONFIG_QUOTE_MAX));
	char *esc = g_strescape(cut, NULL);
	char *res = g_strdup_printf("\"%s%s\"", esc, strlen(v) > CONFIG_QUOTE_MAX ? "..." : "");
	g_free(esc);
	g_free(cut);
	return res;
}

/* Sets the error for a value that does not fit `expect` ("an integer
 * between 0 and 10"): aggregates are named as such, scalars are quoted. */
static void set_shape_error(const cardea_config *config, const config_setting_t *s, const char *section,
	const char *key, int code, const char *expect, GError **error) {
	char *name = full_name(section, key);
	unsigned line = config_setting_source_line(s);
	if (config_setting_is_group(s)) {
		g_set_error(error, CARDEA_CONFIG_ERROR, code, "%s:%u: %s must be %s, not a group", config->path, line,
			name, expect);
	} else if (!is_scalar(s)) {
		g_set_error(error, CARDEA_CONFIG_ERROR, code, "%s:%u: %s must be %s, not a list", config->path, line,
			name, expect);
	} else {
		char *got = describe_value(s);
		g_set_error(error, CARDEA_CONFIG_ERROR, code, "%s:%u: %s must be %s (got %s)", config->path, line,
			name, expect, got);
		g_free(got);
	}
	g_free(name);
}

/* ---- Listing ---- */

/* Member names of `group`, keeping groups (want_groups TRUE), non-groups
 * (FALSE) or all (-1). */
static gchar **member_names(const config_setting_t *group, int want_groups) {
	GPtrArray *names = g_ptr_array_new();
	int n = group ? config_setting_length(group) : 0;
	for (int i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		if (!name)
			continue;
		if (want_groups >= 0 && (gboolean)config_setting_is_group(m) != (gboolean)want_groups)
			continue;
		g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_add(names, NULL);
	return (gchar **)g_ptr_array_free(names, FALSE);
}

gchar **cardea_config_list_sections(const cardea_config *config) {
	g_return_val_if_fail(config != NULL, NULL);
	return member_names(config_root_setting(&config->cfg), TRUE);
}

gchar **cardea_config_list_keys(const cardea_config *config, const char *section) {
	g_return_val_if_fail(config != NULL, NULL);
	if (!section)
		return member_names(config_root_setting(&config->cfg), FALSE);
	return member_names(section_group(config, section), -1);
}

/* The setting for section/key as has() and line() see it: key NULL means
 * the section itself (a group), section NULL a top-level key. */
static config_setting_t *locate(const cardea_config *config, const char *section, const char *key) {
	if (!section)
		return key ? root_member(config, key) : NULL;
	config_setting_t *g = section_group(config, section);
	if (!g || !key)
		return g;
	return config_setting_get_member(g, key);
}

gboolean cardea_config_has(const cardea_config *config, const char *section, const char *key) {
	g_return_val_if_fail(config != NULL, FALSE);
	return locate(config, section, key) != NULL;
}

int cardea_config_line(const cardea_config *config, const char *section, const char *key) {
	g_return_val_if_fail(config != NULL, 0);
	config_setting_t *s = locate(config, section, key);
	return s ? (int)config_setting_source_line(s) : 0;
}

/* ---- Getters ---- */

gboolean cardea_config_get_string(const cardea_config *config, const char *section, const char *key,
	const char *def, char **out, GError **error) {
	g_return_val_if_fail(config != NULL && key != NULL && out != NULL, FALSE);
	config_setting_t *s;
	if (!find_key(config, section, key, &s, error))
		return FALSE;
	if (!s) {
		*out = g_strdup(def);
		return TRUE;
	}
	if (!is_scalar(s)) {
		set_shape_error(config, s, section, key, CARDEA_CONFIG_ERROR_TYPE, "a string", error);
		return FALSE;
	}
	*out = scalar_to_string(s);
	return TRUE;
}

static char *int_expectation(gint64 min, gint64 max) {
	if (min == G_MININT64 && max == G_MAXINT64)
		return g_strdup("an integer");
	if (max == G_MAXINT64)
		return g_strdup_printf("an integer >= %" G_GINT64_FORMAT, min);
	if (min == G_MININT64)
		return g_strdup_printf("an integer <= %" G_GINT64_FORMAT, max);
	return g_strdup_printf("an integer between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT, min, max);
}

/* Parses a string value as a decimal integer (surrounding blanks allowed).
 * Returns 1 on success, 0 when not an integer, -1 when beyond 64 bits. */
static int parse_int_string(const char *str, gint64 *v) {
	char *t = g_strstrip(g_strdup(str));
	const char *num = (*t == '+') ? t + 1 : t;
	GError *err = NULL;
	int rc = 1;
	if (*num == '-' && num != t)
		rc = 0;   /* "+-5" */
	else if (!g_ascii_string_to_signed(num, 10, G_MININT64, G_MAXINT64, v, &err))
		rc = g_error_matches(err, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS) ? -1 : 0;
	g_clear_error(&err);
	g_free(t);
	return rc;
}

gboolean cardea_config_get_int(const cardea_config *config, const char *section, const char *key,
	gint64 def, gint64 min, gint64 max, gint64 *out, GError **error) {
	g_return_val_if_fail(config != NULL && key != NULL && out != NULL, FALSE);
	config_setting_t *s;
	if (!find_key(config, section, key, &s, error))
		return FALSE;
	if (!s) {
		*out = def;
		return TRUE;
	}
	gint64 v = 0;
	int code = -1;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING: {
		int rc = parse_int_string(config_setting_get_string(s), &v);
		if (rc == 0)
			code = CARDEA_CONFIG_ERROR_TYPE;
		else if (rc < 0)
			code = CARDEA_CONFIG_ERROR_VALUE;
		break;
	}
	default:
		/* Floats, booleans, groups and lists: a float is not rounded
		 * because "1.5 seconds" is more likely a unit mistake. */
		code = CARDEA_CONFIG_ERROR_TYPE;
		break;
	}
	if (code < 0 && (v < min || v > max))
		code = CARDEA_CONFIG_ERROR_VALUE;
	if (code >= 0) {
		char *expect = int_expectation(min, max);
		set_shape_error(config, s, section, key, code, expect, error);
		g_free(expect);
		return FALSE;
	}
	*out = v;
	return TRUE;
}

/* 1 true, 0 false, -1 not a boolean spelling. */
static int parse_bool_string(const char *str) {
	static const char *const yes[] = { "true", "yes", "1", NULL };
	static const char *const no[] = { "false", "no", "0", NULL };
	char *t = g_strstrip(g_strdup(str));
	int rc = -1;
	for (int i = 0; yes[i] && rc < 0; i++) {
		if (g_ascii_strcasecmp(t, yes[i]) == 0)
			rc = 1;
		else if (g_ascii_strcasecmp(t, no[i]) == 0)
			rc = 0;
	}
	g_free(t);
	return rc;
}

gboolean cardea_config_get_bool(const cardea_config *config, const char *section, const char *key,
	gboolean def, gboolean *out, GError **error) {
	g_return_val_if_fail(config != NULL && key != NULL && out != NULL, FALSE);
	config_setting_t *s;
	if (!find_key(config, section, key, &s, error))
		return FALSE;
	if (!s) {
		*out = def;
		return TRUE;
	}
	int v = -1;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_BOOL:
		v = config_setting_get_bool(s) ? 1 : 0;
		break;
	case CONFIG_TYPE_INT:
		if (config_setting_get_int(s) == 0 || config_setting_get_int(s) == 1)
			v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(s) == 0 || config_setting_get_int64(s) == 1)
			v = (int)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING:
		v = parse_bool_string(config_setting_get_string(s));
		break;
	default:
		break;
	}
	if (v < 0) {
		set_shape_error(config, s, section, key, CARDEA_CONFIG_ERROR_TYPE,
			"a boolean (true/false, yes/no, 1/0)", error);
		return FALSE;
	}
	*out = v ? TRUE : FALSE;
	return TRUE;
}

static void add_item(GPtrArray *items, const char *item) {
	char *t = g_strstrip(g_strdup(item));
	if (*t)
		g_ptr_array_add(items, t);
	else
		g_free(t);
}

gboolean cardea_config_get_list(const cardea_config *config, const char *section, const char *key,
	char ***out, GError **error) {
	g_return_val_if_fail(config != NULL && key != NULL && out != NULL, FALSE);
	config_setting_t *s;
	if (!find_key(config, section, key, &s, error))
		return FALSE;
	if (s && config_setting_is_group(s)) {
		set_shape_error(config, s, section, key, CARDEA_CONFIG_ERROR_TYPE,
			"a list (\"a, b\" or [ \"a\", \"b\" ])", error);
		return FALSE;
	}
	GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
	if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
		char **parts = g_strsplit(config_setting_get_string(s), ",", -1);
		for (char **p = parts; *p; p++)
			add_item(items, *p);
		g_strfreev(parts);
	} else if (s && is_scalar(s)) {
		char *v = scalar_to_string(s);
		add_item(items, v);
		g_free(v);
	} else if (s) {
		int n = config_setting_length(s);
		for (int i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			if (!is_scalar(e)) {
				char *name = full_name(section, key);
				g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_TYPE,
					"%s:%u: %s item %d must be a string, not a %s", config->path,
					config_setting_source_line(e), name, i + 1,
					config_setting_is_group(e) ? "group" : "list");
				g_free(name);
				g_ptr_array_free(items, TRUE);
				return FALSE;
			}
			char *v = scalar_to_string(e);
			add_item(items, v);
			g_free(v);
		}
	}
	g_ptr_array_set_free_func(items, NULL);
	g_ptr_array_add(items, NULL);
	*out = (char **)g_ptr_array_free(items, FALSE);
	return TRUE;
}

int cardea_config_warn_unknown(const cardea_config *config, const char *section, const char *const *known) {
	g_return_val_if_fail(config != NULL, 0);
	gchar **keys = cardea_config_list_keys(config, section);
	int count = 0;
	for (gchar **k = keys; *k; k++) {
		if (known && g_strv_contains(known, *k))
			continue;
		count++;
		char *name = full_name(section, *k);
		CARDEA_LOG(CARDEA_LOG_WARN, "[config] %s:%d: unknown key %s (ignored)", config->path,
			cardea_config_line(config, section, *k), name);
		g_free(name);
	}
	g_strfreev(keys);
	return count;
}

/* ---- Writing ---- */

static gboolean write_all(int fd, const char *text, size_t len) {
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		text += n;
		len -= (size_t)n;
	}
	return TRUE;
}

/* A crash or a full disk mid-write must leave either the old file or the new
 * one, never half of each: write a sibling temp file, flush it to disk, then
 * rename it over the target (atomic within one filesystem). A symlinked
 * config is followed so the link itself survives. The temp file is created
 * 0600; an existing file's mode is kept (room configs may hold secrets). */
gboolean cardea_config_write_file(const char *path, const char *text, GError **error) {
	g_return_val_if_fail(path != NULL && text != NULL, FALSE);
	char *target = NULL;
	struct stat st;
	gboolean exists = (lstat(path, &st) == 0);
	if (exists && S_ISLNK(st.st_mode)) {
		char *real = realpath(path, NULL);
		if (real) {
			target = g_strdup(real);
			free(real);
		}
		exists = target && stat(target, &st) == 0;
	}
	if (!target)
		target = g_strdup(path);
	char *dir = g_path_get_dirname(target);
	char *base = g_path_get_basename(target);
	char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	const char *step = "cannot create a temporary file";
	gboolean ok = FALSE;
	int err = 0;
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		step = "cannot write";
		if (exists && S_ISREG(st.st_mode) && fchmod(fd, st.st_mode & 07777) < 0)
			err = errno;
		else if (!write_all(fd, text, strlen(text)))
			err = errno ? errno : EIO;
		else if (fsync(fd) < 0)
			err = errno;
		if (close(fd) < 0 && !err)
			err = errno;
		if (!err && rename(tmp, target) < 0) {
			err = errno;
			step = "cannot replace";
		}
		if (err)
			unlink(tmp);
		else
			ok = TRUE;
	} else {
		err = errno;
	}
	if (ok) {
		/* Make the rename itself durable; failing here loses nothing now. */
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	} else {
		g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO, "%s: %s: %s", path, step,
			g_strerror(err));
	}
	g_free(tmp);
	g_free(base);
	g_free(dir);
	g_free(target);
	return ok;
}

gboolean cardea_config_get_choice(const cardea_config *config, const char *section, const char *key,
		const char *def, const char *const *choices, int *index, GError **error) {
	char *v = NULL;
	if (!cardea_config_get_string(config, section, key, def, &v, error))
		return FALSE;
	for (int i = 0; v && choices[i]; i++) {
		if (g_ascii_strcasecmp(g_strstrip(v), choices[i]) == 0) {
			*index = i;
			g_free(v);
			return TRUE;
		}
	}
	char *list = g_strjoinv(", ", (gchar **)choices);
	char *esc = g_strescape(v ? v : "", NULL);
	cardea_config_set_value_error(error, config, section, key, "must be one of %s (got \"%.48s\")", list, esc);
	g_free(esc);
	g_free(list);
	g_free(v);
	return FALSE;
}

void cardea_config_set_value_error(GError **error, const cardea_config *config,
		const char *section, const char *key, const char *format, ...) {
	va_list ap;
	va_start(ap, format);
	char *what = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_set_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_VALUE, "%s:%d: %s%s%s %s",
		cardea_config_path(config), cardea_config_line(config, section, key),
		section ? section : "", section ? "." : "", key, what);
	g_free(what);
}
