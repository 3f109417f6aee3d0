/* Helpers shared by the libFuzzer targets (header-only: each target is its
 * own program). Inputs that carry several items (a packet sequence, a list
 * of requests) are split into records so the fuzzer can grow and shrink
 * them one at a time. */
#ifndef CARDEA_FUZZ_UTIL_H
#define CARDEA_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct fuzz_reader {
	const uint8_t *p;
	size_t left;
} fuzz_reader;

static inline uint8_t fuzz_u8(fuzz_reader *r) {
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

static inline uint16_t fuzz_u16(fuzz_reader *r) {
	uint16_t hi = fuzz_u8(r);
	return (uint16_t)(hi << 8 | fuzz_u8(r));
}

/* One record: a 16-bit big-endian length, then that many bytes (clipped to
 * what is left). False when the input is used up. */
static inline bool fuzz_record(fuzz_reader *r, const uint8_t **data, size_t *len) {
	if (r->left < 2)
		return false;
	size_t n = fuzz_u16(r);
	if (n > r->left)
		n = r->left;
	*data = r->p;
	*len = n;
	r->p += n;
	r->left -= n;
	return true;
}

/* A packet record of the packet-sequence targets: a flags byte, a clock
 * step in ms (added to *now_us), then the packet. Records shorter than two
 * bytes are skipped. False when the input is used up. */
static inline bool fuzz_packet_record(fuzz_reader *r, uint8_t *flags, int64_t *now_us,
		const uint8_t **packet, size_t *len) {
	const uint8_t *rec;
	size_t rec_len;
	while (fuzz_record(r, &rec, &rec_len)) {
		if (rec_len < 2)
			continue;
		*flags = rec[0];
		*now_us += (int64_t)rec[1] * 1000;
		*packet = rec + 2;
		*len = rec_len - 2;
		return true;
	}
	return false;
}

/* An invariant of the code under test does not hold: crash, so libFuzzer
 * keeps the input. */
#define FUZZ_CHECK(cond) do { if (!(cond)) { __builtin_trap(); } } while (0)

/* In-process gateway for the targets that drive the daemon's threads
 * (fuzz_api, fuzz_whip): define CARDEA_FUZZ_GATEWAY before including. The
 * modules come from the build folder (CARDEA_FUZZ_BUILDDIR, set by
 * Makefile.am), linked into a temporary folder that is also the config
 * folder, so a target can write the modules' .jcfg files there. */
#ifdef CARDEA_FUZZ_GATEWAY
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "gateway.h"
#include "api.h"
#include "log.h"
#include "webrtc/loop.h"
#include "webrtc/dtls.h"
#include "webrtc/srtp.h"
#include "webrtc/sctp.h"

#ifndef CARDEA_FUZZ_BUILDDIR
#define CARDEA_FUZZ_BUILDDIR "."
#endif

static cardea_gateway fuzz_gw;
static char *fuzz_tmp_dir;

/* Symlinks the build's module `rel` (e.g. "plugins/.libs/x.so") into `dir`. */
static inline void fuzz_link_module(const char *dir, const char *rel) {
	char *src = g_build_filename(CARDEA_FUZZ_BUILDDIR, rel, NULL);
	char *dst = g_build_filename(dir, strrchr(rel, '/') + 1, NULL);
	if (symlink(src, dst) != 0)
		fprintf(stderr, "fuzz: cannot link %s: %s\n", src, g_strerror(errno));
	g_free(src);
	g_free(dst);
}

/* Writes `text` as `name` in the temporary (config) folder. */
static inline void fuzz_write_config(const char *name, const char *text) {
	char *p = g_build_filename(fuzz_tmp_dir, name, NULL);
	FUZZ_CHECK(g_file_set_contents(p, text, -1, NULL));
	g_free(p);
}

/* atexit: stops the API thread and removes the temporary folder. */
static inline void fuzz_gateway_cleanup(void) {
	cardea_api_stop();
	if (fuzz_tmp_dir) {
		GDir *d = g_dir_open(fuzz_tmp_dir, 0, NULL);
		const char *name;
		while (d && (name = g_dir_read_name(d)) != NULL) {
			char *p = g_build_filename(fuzz_tmp_dir, name, NULL);
			g_unlink(p);
			g_free(p);
		}
		if (d)
			g_dir_close(d);
		g_rmdir(fuzz_tmp_dir);
	}
}

/* Makes the temporary folder (fuzz_tmp_dir) and starts the core as the
 * daemon does, without modules: settings (2 request workers, one event
 * loop, sessions reclaimed at once), the API thread, media globals. */
static inline void fuzz_gateway_start(const char *tmp_template) {
	GError *error = NULL;
	fuzz_tmp_dir = g_dir_make_tmp(tmp_template, NULL);
	FUZZ_CHECK(fuzz_tmp_dir != NULL);
	cardea_gw = &fuzz_gw;
	cardea_settings_defaults(&fuzz_gw.settings, fuzz_tmp_dir, fuzz_tmp_dir, fuzz_tmp_dir);
	fuzz_gw.settings.request_workers = 2;
	fuzz_gw.settings.event_loops = 1;
	fuzz_gw.settings.reclaim_session_timeout = 0;
	cardea_gateway_init(&fuzz_gw);
	cardea_loops_start(1);
	FUZZ_CHECK(cardea_srtp_global_init(&error) && cardea_dtls_context_init(NULL, NULL, NULL, &error) &&
		cardea_sctp_global_init(&error));
	cardea_api_start();
	atexit(fuzz_gateway_cleanup);
}

/* Loads every module of `kind` from `folder` (the config folder is the
 * temporary one); aborts when loading fails or finds none. */
static inline void fuzz_load_modules(cardea_module_kind kind, const char *folder, const void *core, GPtrArray *into) {
	GError *error = NULL;
	char *none[] = { NULL };
	if (!cardea_modules_load(kind, folder, none, core, fuzz_tmp_dir, into, &error)) {
		fprintf(stderr, "fuzz: loading modules from %s: %s\n", folder, error->message);
		abort();
	}
	if (into->len == 0)
		fprintf(stderr, "fuzz: warning: no module loaded from %s\n", folder);
}

/* The gateway's threads free a request's last bits (the request item, the
 * worker task, a closed session's handles) just after the reply that wakes
 * the target, so an input often returned with more mallocs than frees.
 * libFuzzer takes that as a possible leak: it runs the input again and then
 * scans the whole heap with LeakSanitizer, which took most of each target's
 * time (and after 1000 such inputs it stops checking inputs for leaks at
 * all). The targets therefore wait, at the end of an input, until the
 * process has freed as many blocks as it allocated since the input began,
 * counted with the same sanitizer hooks libFuzzer uses. A block still live
 * after FUZZ_SETTLE_MAX_US (a real leak, or a cache) is left for libFuzzer's
 * own check, exactly as before. Once libFuzzer has given up checking inputs
 * (it no longer runs such an input again), the wait would only cost time
 * (FUZZ_SETTLE_MAX_US for every input that keeps blocks): it stops. */
#include <sanitizer/allocator_interface.h>

/* Those frees came within 1.2 ms of the reply in 3,756 of 3,977 fuzz_whip
 * inputs; the rest stayed live (the live resource's new state, connections
 * MHD keeps until its timeout). */
#define FUZZ_SETTLE_MAX_US 5000
#define FUZZ_SETTLE_POLL_US 50

/* While libFuzzer checks, it runs every such input again: this many in a
 * row without that means it has stopped. */
#define FUZZ_SETTLE_GIVE_UP 20

static gint64 fuzz_live_blocks;        /* mallocs minus frees, process-wide */
static bool fuzz_settle_off;           /* nobody looks at the counts (any more) */
/* The last input that ended with blocks still live, by size and hash (no
 * allocation: libFuzzer counts the harness's own), and how many such inputs
 * in a row libFuzzer did not run again. */
static bool fuzz_leftover_pending;
static size_t fuzz_leftover_size;
static uint64_t fuzz_leftover_hash;
static bool fuzz_input_is_rerun;
static unsigned fuzz_leftovers_not_rerun;

static void fuzz_count_malloc(const volatile void *ptr, size_t size) {
	__atomic_add_fetch(&fuzz_live_blocks, 1, __ATOMIC_RELAXED);
}

static void fuzz_count_free(const volatile void *ptr) {
	__atomic_sub_fetch(&fuzz_live_blocks, 1, __ATOMIC_RELAXED);
}

/* Call once, from LLVMFuzzerInitialize. */
static inline void fuzz_settle_init(int argc, char **argv) {
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-detect_leaks=0") == 0)
			fuzz_settle_off = true;
	/* Without per-input leak checks nobody reads the counts, and every
	 * thread's malloc and free would still bounce the counter's cache line
	 * (6% of fuzz_api's CPU in a perf profile). */
	if (!fuzz_settle_off)
		FUZZ_CHECK(__sanitizer_install_malloc_and_free_hooks(fuzz_count_malloc, fuzz_count_free) != 0);
}

static inline uint64_t fuzz_input_hash(const uint8_t *data, size_t size) {
	uint64_t h = 14695981039346656037ULL;    /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h;
}

/* The live block count when an input begins. */
static inline gint64 fuzz_settle_begin(const uint8_t *data, size_t size) {
	if (fuzz_leftover_pending && !fuzz_settle_off) {
		fuzz_leftover_pending = false;
		fuzz_input_is_rerun = size == fuzz_leftover_size && fuzz_input_hash(data, size) == fuzz_leftover_hash;
		if (fuzz_input_is_rerun)
			fuzz_leftovers_not_rerun = 0;
		else if (++fuzz_leftovers_not_rerun >= FUZZ_SETTLE_GIVE_UP) {
			fuzz_settle_off = true;
			fprintf(stderr, "fuzz: libFuzzer no longer checks inputs for leaks: the end-of-input wait stops\n");
		}
	} else {
		fuzz_input_is_rerun = false;
	}
	return __atomic_load_n(&fuzz_live_blocks, __ATOMIC_RELAXED);
}

/* Waits (bounded) until no more blocks are live than at `begin`. */
static inline void fuzz_settle_wait(gint64 begin, const uint8_t *data, size_t size) {
	if (fuzz_settle_off)
		return;
	gint64 deadline = g_get_monotonic_time() + FUZZ_SETTLE_MAX_US;
	while (__atomic_load_n(&fuzz_live_blocks, __ATOMIC_RELAXED) > begin && g_get_monotonic_time() < deadline)
		g_usleep(FUZZ_SETTLE_POLL_US);
	/* Left for libFuzzer's check: while it checks, it runs this input again
	 * at once (a rerun itself is not followed by another). */
	if (__atomic_load_n(&fuzz_live_blocks, __ATOMIC_RELAXED) > begin && !fuzz_input_is_rerun) {
		fuzz_leftover_pending = true;
		fuzz_leftover_size = size;
		fuzz_leftover_hash = fuzz_input_hash(data, size);
	}
}
#endif /* CARDEA_FUZZ_GATEWAY */

#endif
