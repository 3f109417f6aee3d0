/* One loader for every module kind (STYLE.md rule 7): open, resolve the one
 * entry symbol, check API version, build signature, kind, struct size and
 * mandatory callbacks, honour disable lists and `enabled = false`, then init.
 *
 * Lifetime: loaded modules live until cardea_modules_unload(); all of this
 * runs on the main thread. After start-up the arrays are read-only, so other
 * threads may read them without a lock.
 */
#ifndef CARDEA_MODULES_H
#define CARDEA_MODULES_H

#include <glib.h>
#include "cardea/plugin.h"
#include "cardea/transport.h"
#include "cardea/auth.h"
#include "cardea/events.h"

typedef struct cardea_loaded_module {
	cardea_module_kind kind;
	char *filename;                 /* owned, e.g. "cardea_plugin_test.so" */
	char *path;                     /* owned */
	char *config_path;              /* owned: <configs>/cardea.<kind>.<name>.jcfg */
	void *dl;                       /* owned dlopen handle */
	const cardea_module_info *info; /* borrowed from the module (static data in dl) */
	/* The module's struct copied up to the size the core knows, with no-op
	 * defaults filled in for optional callbacks (STYLE.md rule 6), so the core
	 * calls through `ops` without NULL checks. */
	union {
		cardea_plugin plugin;
		cardea_transport transport;
		cardea_auth auth;
		cardea_events events;
	} ops;
	gboolean initialized;
} cardea_loaded_module;

const char *cardea_module_kind_name(cardea_module_kind kind);

/* Loads every *.so in `folder` not named in `disable`, initialises it with
 * `core` (the kind's cardea_*_core struct) and appends it to `out`.
 * Broken or foreign .so files are skipped with a clear log line. Returns
 * FALSE with *error set only for fatal problems: a module's own config file
 * is invalid, or a module's init failed (the daemon must not half-start). */
gboolean cardea_modules_load(cardea_module_kind kind, const char *folder, char **disable,
	const void *core, const char *configs_folder, GPtrArray *out, GError **error);

/* Calls destroy on every initialised module of `mods` (reverse order); the
 * code stays mapped. Idempotent. */
void cardea_modules_destroy(GPtrArray *mods);
/* cardea_modules_destroy, then closes them and empties the array. At
 * shutdown close last: objects freed after a module's destroy may still run
 * its code (a transport connection freed with the last session ref, which a
 * plugin's queue thread can drop while the plugin is destroyed). */
void cardea_modules_unload(GPtrArray *mods);

/* Checks a module struct without loading anything (used by the loader, and by
 * unit tests). Returns NULL when acceptable, else a static reason string. */
const char *cardea_module_check(const cardea_module_info *info, cardea_module_kind expected);

#endif
