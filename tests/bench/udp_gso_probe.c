/* What a loopback UDP datagram costs the sender in CPU, sent alone
 * (sendto) or as one of NSEG same-size segments of a UDP GSO send
 * (UDP_SEGMENT); the receive-side kernel work of loopback runs in the
 * sender's context, so it is counted too. The figures behind the GSO
 * paragraph of core/webrtc/send-batch.h (tests/bench/RESULTS.md,
 * 2026-12-07).
 *
 *   cc -O2 -o /tmp/udp_gso_probe tests/bench/udp_gso_probe.c
 *   /tmp/udp_gso_probe NSEG 0|1 [RECEIVERS]     # 0 sendto, 1 GSO
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define DATAGRAM 1210
#define ROUNDS 20000

static double cpu_seconds(void) {
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
	int nseg = argc > 1 ? atoi(argv[1]) : 5, gso = argc > 2 ? atoi(argv[2]) : 1;
	int nrx = argc > 3 ? atoi(argv[3]) : 4;
	if (nseg < 1 || nseg > 64 || nrx < 1 || nrx > 64) {
		fprintf(stderr, "usage: %s NSEG(1-64) 0|1 [RECEIVERS(1-64)]\n", argv[0]);
		return 2;
	}
	int rx[64];
	struct sockaddr_in to[64];
	for (int i = 0; i < nrx; i++) {
		socklen_t l = sizeof(to[i]);
		rx[i] = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&to[i], 0, sizeof(to[i]));
		to[i].sin_family = AF_INET;
		to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(rx[i], (struct sockaddr *)&to[i], sizeof(to[i])) != 0 ||
				getsockname(rx[i], (struct sockaddr *)&to[i], &l) != 0) {
			perror("receiver");
			return 1;
		}
	}
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	static char buf[64 * DATAGRAM], sink[65536];
	double spent = 0;
	long sent = 0;
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = cpu_seconds();
		for (int r = 0; r < nrx; r++) {
			if (!gso) {
				for (int s = 0; s < nseg; s++)
					if (sendto(tx, buf + s * DATAGRAM, DATAGRAM, 0, (struct sockaddr *)&to[r], sizeof(to[r])) > 0)
						sent++;
				continue;
			}
			struct iovec v = { buf, (size_t)DATAGRAM * nseg };
			union { char b[CMSG_SPACE(sizeof(unsigned short))]; struct cmsghdr align; } control;
			struct msghdr m = { .msg_name = &to[r], .msg_namelen = sizeof(to[r]), .msg_iov = &v, .msg_iovlen = 1,
				.msg_control = control.b, .msg_controllen = sizeof(control.b) };
			struct cmsghdr *c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(unsigned short));
			unsigned short size = DATAGRAM;
			memcpy(CMSG_DATA(c), &size, sizeof(size));
			if (sendmsg(tx, &m, 0) < 0) {
				perror("sendmsg with UDP_SEGMENT");
				return 1;
			}
			sent += nseg;
		}
		spent += cpu_seconds() - t0;
		/* drained outside the measured time, so the buffers never fill */
		for (int r = 0; r < nrx; r++)
			while (recv(rx[r], sink, sizeof(sink), MSG_DONTWAIT) > 0)
				;
	}
	printf("%d segment(s), %s: %.2f us of CPU per datagram (%ld datagrams)\n", nseg, gso ? "GSO" : "sendto",
		spent * 1e6 / (double)sent, sent);
	return 0;
}
