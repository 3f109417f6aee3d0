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

#endif
