/* Batched UDP sends for the media loops: one io_uring_enter per burst
 * instead of one sendto per packet.
 *
 * Why: a publisher packet fanned out to N subscribers is N datagrams on N
 * different sockets (libnice binds one per PeerConnection), so sendmmsg,
 * which batches on ONE socket, cannot merge them; io_uring can (one
 * IORING_OP_SENDMSG per packet, any fd, one system call for all). On this
 * project's VM a 1200-byte loopback send cost 3.8 us of CPU with sendto and
 * 1.5-1.9 us in bursts of 50 through io_uring (tests/bench/RESULTS.md,
 * 2026-12-05 20:00).
 *
 * GSO: datagrams of one round to the same socket and address (a frame's
 * packets to one subscriber, several publishers' packets to one mesh
 * participant, several speakers' audio to one listener) leave as one
 * sendmsg with UDP_SEGMENT when they are the same size (the last may be
 * shorter): the kernel walks its send path once for all of them. A 1210-byte loopback datagram cost 2.9-3.0 us of CPU alone
 * and 1.85 / 1.33 / 0.94 us in GSO sends of 2 / 3 / 5 on this project's VM
 * (tests/bench/RESULTS.md, 2026-12-07). CARDEA_SEND_GSO=0 turns it off; the
 * first GSO send the kernel refuses (EIO: a device that cannot checksum
 * UDP; EINVAL: a kernel before 4.18) turns it off for the process.
 *
 * When: only on a media loop thread (cardea_loop_current() != NULL), whose
 * relay ring source flushes the batch before the loop polls again
 * (relay.c), so a packet waits at most for the rest of the current loop
 * iteration. Other threads, datagrams larger than a slot, a kernel without
 * io_uring (or with it disabled) and CARDEA_SEND_BATCH=0 send at once.
 *
 * A datagram that goes alone is an IORING_OP_SEND with its address (no
 * msghdr or iovec for the kernel to copy in) where the kernel has it
 * (6.0; taken from 6.3's feature flag); CARDEA_SEND_SENDTO=0 keeps
 * SENDMSG for every send.
 *
 * Semantics: a queued datagram counts as sent (as a UDP send into a full
 * socket buffer, a failure is a drop); sends with MSG_DONTWAIT, so a full
 * buffer never blocks the loop. Packets to one socket keep their order.
 *
 * Threads: the batch is per thread; the fd must stay open until the next
 * flush on that thread (cardea_ice flushes before it drops a socket).
 */
#ifndef CARDEA_WEBRTC_SEND_BATCH_H
#define CARDEA_WEBRTC_SEND_BATCH_H

#include <glib.h>
#include <sys/socket.h>

/* TRUE: queued on this thread's batch (sent by the next flush); FALSE: the
 * caller must send it itself. */
gboolean cardea_send_batch_add(int fd, const struct sockaddr *addr, socklen_t addrlen, const guint8 *buf, gsize len);
/* Sends what this thread queued (no-op when nothing is). */
void cardea_send_batch_flush(void);

/* Totals since start (any thread, relaxed). */
typedef struct cardea_send_batch_counters {
	guint64 flushes;    /* io_uring_enter rounds */
	guint64 packets;    /* datagrams sent through them */
	guint64 errors;     /* datagrams the kernel refused (full buffer, unreachable...) */
	guint64 gso_sends;  /* sends that carried several datagrams (UDP_SEGMENT) */
	guint64 gso_packets; /* datagrams in those */
	guint64 sendtos;    /* datagrams sent alone as IORING_OP_SEND with an address */
} cardea_send_batch_counters;
void cardea_send_batch_get_counters(cardea_send_batch_counters *out);

#endif
