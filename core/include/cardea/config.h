/* Cardea SDK: reading .jcfg files (libconfig syntax).
 *
 * Used by the core for cardea.jcfg and by every module for its own
 * cardea.<kind>.<name>.jcfg. All errors are reported as one line
 * "FILE:LINE: what is wrong" in a GError (domain CARDEA_CONFIG_ERROR), so an
 * admin can jump straight to the culprit; the caller decides whether the
 * error is fatal (the core and the shipped modules refuse to start).
 *
 * Values follow Janus's conventions: scalars are interchangeable between
 * string and number form ("6" == 6); a boolean accepts true/false, yes/no,
 * 1/0 (case-insensitive, bare or quoted). A key that is absent yields the
 * default; a key that is present with a value of the wrong shape is an error.
 *
 * Thread-safety: a cardea_config is not locked; load it, read it during init
 * on one thread, then free it (or keep it read-only).
 */
#ifndef CARDEA_CONFIG_H
#define CARDEA_CONFIG_H

#include <glib.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cardea_config cardea_config;

#define CARDEA_CONFIG_ERROR (cardea_config_error_quark())
CARDEA_SDK_API GQuark cardea_config_error_quark(void);
typedef enum {
	CARDEA_CONFIG_ERROR_IO,       /* missing/unreadable file */
	CARDEA_CONFIG_ERROR_SYNTAX,   /* libconfig parse error */
	CARDEA_CONFIG_ERROR_TYPE,     /* wrong shape (group where scalar expected, "abc" for an int...) */
	CARDEA_CONFIG_ERROR_VALUE,    /* right shape, unacceptable value (out of range, unknown enum) */
} cardea_config_error_code;

/* Loads and parses a file. Returns NULL and sets *error on failure. */
CARDEA_SDK_API cardea_config *cardea_config_load(const char *path, GError **error);
/* Parses text (tests, fuzzers); `name` stands in for the file name in errors. */
CARDEA_SDK_API cardea_config *cardea_config_load_string(const char *name, const char *text, GError **error);
CARDEA_SDK_API void cardea_config_free(cardea_config *config);
CARDEA_SDK_API const char *cardea_config_path(const cardea_config *config);

/* Top-level groups, in file order (e.g. "general", "room-1234"). The returned
 * array is owned by the caller (g_strfreev); the strings are copies. */
CARDEA_SDK_API gchar **cardea_config_list_sections(const cardea_config *config);
/* Keys inside a section, in file order; NULL section = top-level scalars. */
CARDEA_SDK_API gchar **cardea_config_list_keys(const cardea_config *config, const char *section);
CARDEA_SDK_API gboolean cardea_config_has(const cardea_config *config, const char *section, const char *key);
/* Line number of a key (or of the section when key is NULL), 0 if unknown. */
CARDEA_SDK_API int cardea_config_line(const cardea_config *config, const char *section, const char *key);

/* Typed getters. `section` may be NULL for top-level keys. Each returns TRUE
 * and writes *out (the default when the key is absent), or FALSE with *error
 * set to "FILE:LINE: section.key ..." when the value does not fit. */
CARDEA_SDK_API gboolean cardea_config_get_string(const cardea_config *config, const char *section, const char *key,
	const char *def, char **out, GError **error);      /* *out is g_strdup'd (NULL if def NULL and absent) */
CARDEA_SDK_API gboolean cardea_config_get_int(const cardea_config *config, const char *section, const char *key,
	gint64 def, gint64 min, gint64 max, gint64 *out, GError **error);
CARDEA_SDK_API gboolean cardea_config_get_bool(const cardea_config *config, const char *section, const char *key,
	gboolean def, gboolean *out, GError **error);
/* A list given either as a comma-separated string ("a.so, b.so") or an array
 * of scalars. Items are trimmed, empty items dropped. *out is NULL-terminated,
 * owned by the caller (g_strfreev); an absent key yields an empty list. */
CARDEA_SDK_API gboolean cardea_config_get_list(const cardea_config *config, const char *section, const char *key,
	char ***out, GError **error);

/* A string that must be one of the NULL-terminated `choices` (matched
 * case-insensitively). *index is its position in `choices`, or the position
 * of `def` when the key is absent. The error lists the choices. */
CARDEA_SDK_API gboolean cardea_config_get_choice(const cardea_config *config, const char *section, const char *key,
	const char *def, const char *const *choices, int *index, GError **error);

/* Sets *error to a VALUE error "FILE:LINE: section.key <what>", for checks a
 * module makes beyond the typed getters, so every config error reads alike. */
CARDEA_SDK_API void cardea_config_set_value_error(GError **error, const cardea_config *config,
	const char *section, const char *key, const char *format, ...) G_GNUC_PRINTF(5, 6);

/* Warns (log level WARN, "FILE:LINE: unknown key section.key") about every key
 * of `section` not in the NULL-terminated `known` list. Returns how many. Typos
 * in option names are the commonest admin mistake; they must not pass silently. */
CARDEA_SDK_API int cardea_config_warn_unknown(const cardea_config *config, const char *section, const char *const *known);

/* Writes `text` to `path` safely (temp file in the same folder + fsync + rename). */
CARDEA_SDK_API gboolean cardea_config_write_file(const char *path, const char *text, GError **error);

#ifdef __cplusplus
}
#endif
#endif
