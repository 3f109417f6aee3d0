/* Cardea SDK: recording one media stream to a Janus .mjr file.
 *
 * A recorder writes every RTP packet (or data-channel message) of ONE stream
 * in the format Janus's recorder writes, so Janus's own post-processor
 * (janus-pp-rec, Debian package janus-tools) turns the file into a playable
 * .webm/.opus/.mp4/... (docs/recording.md):
 *
 *   "MJR00002"                      8 bytes, the format version
 *   u16 BE length, JSON info        {"t":"a"|"v"|"d", "c":codec, ["f":fmtp,]
 *                                    "s":created µs, "u":first packet µs}
 *                                    (wall clock); written with the first packet
 *   then per packet:
 *   "MEET", u32 BE ms, u16 BE len   ms since the first packet (monotonic)
 *   len bytes                       the whole RTP packet (header, extensions,
 *                                   payload) as received, SRTP removed; for
 *                                   data: an i64 BE wall-clock µs, then the
 *                                   message (len counts both)
 *
 * A file that never got a packet is just the 8-byte magic, as with Janus.
 *
 * Threads and cost: a recorder is NOT thread-safe; its owner serializes
 * every call (the plugins call save on the media loop thread that got the
 * packet while holding the lock that also guards open/close). Writes go
 * through a stdio FILE with a 64 KiB buffer set at open: a save is a few
 * memcpy's, and one write(2) to the page cache per 64 KiB, no fsync, no
 * allocation. We chose this over a writer thread + ring because writing
 * into the page cache is cheap enough: measured 1.8-7 µs per 1200-byte
 * packet, flushes included (0.14-0.57 M packets/s on the shared 2-core test
 * machine), against ~250 packets/s for a 2.5 Mbps video stream; a ring
 * would cost a copy per packet too, plus a thread.
 * If the disk is slow enough that dirty-page throttling blocks write(2),
 * that is the bound on the media thread; docs/recording.md says so.
 *
 * Errors (open failing, disk full, permission): the first failing write is
 * logged once with the file's path, the file is closed and every later save
 * returns -1 at once; media never stops because of a recorder.
 */
#ifndef CARDEA_RECORD_H
#define CARDEA_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cardea_recorder_type {
	CARDEA_RECORDER_AUDIO = 0,
	CARDEA_RECORDER_VIDEO = 1,
	CARDEA_RECORDER_DATA = 2,
} cardea_recorder_type;

typedef struct cardea_recorder cardea_recorder;

/* The folder recordings go to when a plugin has none configured: the build's
 * $(localstatedir)/lib/cardea/recordings. Borrowed, static. */
CARDEA_SDK_API const char *cardea_recorder_default_dir(void);

/* Checks a client-supplied base name (videoroom/videocall `filename`):
 * non-empty, at most 255 bytes, not absolute, no "." or ".." component, no
 * control characters. Slashes are allowed (a subfolder of the recording
 * folder). FALSE for anything else. */
CARDEA_SDK_API bool cardea_recorder_name_valid(const char *name);

/* Opens `dir`/`name`.mjr for writing (".mjr" is appended unless `name`
 * ends with it; folders are created, mode 0755). `dir` NULL or "": the
 * default folder. An absolute `name` ignores `dir` (plugins pass only
 * names they checked with cardea_recorder_name_valid, or their own).
 * `codec` is the Janus codec name ("opus", "vp8", "h264", ...; "text" or
 * "binary" for data), lower-cased here; `fmtp` may be NULL. The file is
 * created at once (O_EXCL is not used: an existing file is replaced, as
 * Janus does). NULL with *error (G_FILE_ERROR) when it cannot be created. */
CARDEA_SDK_API cardea_recorder *cardea_recorder_open(const char *dir, const char *name,
	cardea_recorder_type type, const char *codec, const char *fmtp, GError **error);

/* Writes one RTP packet (the whole packet: header + payload, plaintext).
 * 0 on success, -1 when the packet is not RTP-shaped (< 12 bytes, or more
 * than 65535) or the recorder has failed/been closed. */
CARDEA_SDK_API int cardea_recorder_save_rtp(cardea_recorder *rec, const uint8_t *packet, size_t len);

/* Writes one data-channel message (DATA recorders). Same returns. */
CARDEA_SDK_API int cardea_recorder_save_data(cardea_recorder *rec, const uint8_t *data, size_t len);

/* Flushes and closes the file and frees the recorder (NULL is fine). */
CARDEA_SDK_API void cardea_recorder_close(cardea_recorder *rec);

/* The full path of the file (borrowed, valid until close). */
CARDEA_SDK_API const char *cardea_recorder_path(const cardea_recorder *rec);

/* Packets written so far. */
CARDEA_SDK_API uint64_t cardea_recorder_packets(const cardea_recorder *rec);

/* TRUE once a write failed (the file is closed then; nothing more is written). */
CARDEA_SDK_API bool cardea_recorder_failed(const cardea_recorder *rec);

#ifdef __cplusplus
}
#endif
#endif
