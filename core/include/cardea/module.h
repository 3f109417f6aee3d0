/* Cardea SDK: what every loadable module (plugin, transport, auth, events) has
 * in common, plus the small services the core exports to all of them
 * (logging, refcounting).
 *
 * A module is a shared object that exports exactly one symbol,
 * `cardea_module_entry`, returning a pointer to a static struct whose first
 * member is a cardea_module_info. Use CARDEA_MODULE_DEFINE(var) to export it.
 * The core's loader (one loader for all kinds) checks api_version, the build
 * signature, the kind expected for the folder it was found in, struct_size and
 * the mandatory callbacks before calling init.
 */
#ifndef CARDEA_MODULE_H
#define CARDEA_MODULE_H

#include <stdint.h>
#include <stddef.h>
#include <glib.h>
#include "cardea/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions the daemon exports to modules. The core is built with
 * -fvisibility=hidden and exports exactly these (plus a dynamic list). */
#define CARDEA_SDK_API __attribute__((visibility("default")))

typedef enum cardea_module_kind {
	CARDEA_MODULE_PLUGIN = 1,
	CARDEA_MODULE_TRANSPORT = 2,
	CARDEA_MODULE_AUTH = 3,
	CARDEA_MODULE_EVENTS = 4,
} cardea_module_kind;

typedef struct cardea_module_info {
	uint32_t api_version;       /* CARDEA_API_VERSION the module was built with */
	uint32_t struct_size;       /* sizeof the kind struct the module was built with */
	const char *signature;      /* CARDEA_BUILD_SIGNATURE */
	cardea_module_kind kind;
	const char *package;        /* wire name, e.g. "janus.plugin.echotest", "cardea.transport.http" */
	const char *name;           /* short name; config file is cardea.<kind>.<name>.jcfg */
	const char *description;
	const char *author;
	const char *version_string;
	int version;
	void *_reserved[4];
} cardea_module_info;

/* Fills the header fields every module must set. */
#define CARDEA_MODULE_INFO_INIT(kind_, struct_type) \
	.api_version = CARDEA_API_VERSION, \
	.struct_size = sizeof(struct_type), \
	.signature = CARDEA_BUILD_SIGNATURE, \
	.kind = (kind_)

#define CARDEA_MODULE_ENTRY_SYMBOL "cardea_module_entry"
typedef const cardea_module_info *(*cardea_module_entry_fn)(void);

/* Exports the one entry point; `var` is the module's static kind struct. */
#define CARDEA_MODULE_DEFINE(var) \
	__attribute__((visibility("default"))) \
	const cardea_module_info *cardea_module_entry(void) { return &(var).info; }

/* ---- Logging (thread-safe, callable from any thread) ---- */
enum {
	CARDEA_LOG_NONE = 0,
	CARDEA_LOG_FATAL = 1,
	CARDEA_LOG_ERR = 2,
	CARDEA_LOG_WARN = 3,
	CARDEA_LOG_INFO = 4,
	CARDEA_LOG_VERB = 5,
	CARDEA_LOG_HUGE = 6,
	CARDEA_LOG_DBG = 7,
};
CARDEA_SDK_API extern volatile int cardea_log_level;
CARDEA_SDK_API void cardea_log_write(int level, const char *format, ...) G_GNUC_PRINTF(2, 3);
#define CARDEA_LOG(level, ...) \
	do { if ((level) <= cardea_log_level) cardea_log_write((level), __VA_ARGS__); } while (0)

/* ---- Refcounting ----
 * Embed a cardea_refcount in a shared object and give it a free callback that
 * receives the refcount pointer (use cardea_container_of to get the object).
 * The last unref calls free_fn on the thread that dropped the last ref. */
typedef struct cardea_refcount {
	gint count;
	void (*free_fn)(const struct cardea_refcount *);
} cardea_refcount;

#define cardea_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline void cardea_refcount_init(cardea_refcount *r, void (*free_fn)(const cardea_refcount *)) {
	r->count = 1;
	r->free_fn = free_fn;
}
static inline void cardea_refcount_ref(cardea_refcount *r) {
	g_atomic_int_inc(&r->count);
}
static inline void cardea_refcount_unref(cardea_refcount *r) {
	if (g_atomic_int_dec_and_test(&r->count))
		r->free_fn(r);
}

#ifdef __cplusplus
}
#endif
#endif
