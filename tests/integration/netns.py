"""Network namespaces with an impaired link, for the loss/fault tests.

Topology (everything is the test's own; nothing touches the host's interfaces):

    root ns (pytest)            ns "gw" (the daemon)           ns "cl" (aiortc peers)
    127.0.0.1:P  --forwarder--> 127.0.0.1:P                    10.77.N.2 (tun "cnc")
                                10.77.N.1 (tun "cng") <--relay--> (the relay owns both tuns)

The link between the two namespaces is a pair of TUN devices driven by one
relay process (this file run as `netns.py relay`). It forwards every IP
packet from one tun to the other after applying netem-like impairments per
direction: fixed delay, uniform jitter (packets may reorder, as with netem),
random loss. Why not veth + `tc qdisc ... netem`: the kernels we run on do
not always ship sch_netem (the CI VM's kernel has neither netem nor
loadable modules), and a userspace relay behaves the same everywhere and can
report how many packets it dropped. Where sch_netem exists the results are
comparable: both drop/delay at the IP layer below the daemon's sockets.

The same relay process forwards TCP from 127.0.0.1:P in the root namespace
to 127.0.0.1:P inside "gw", so the daemon's API listeners (Janus API over
HTTP/WS, admin) keep their usual loopback URLs for the test, while its ICE
only ever sees the tun address (nat.ice_enforce_list). The forwarder binds
its listeners first and then moves itself into "gw" (setns), so every
connection it opens lands there.

aiortc cannot switch namespaces in-process, so peers run as child processes
inside "cl" (`ip netns exec CL /usr/bin/python3 netpeer.py`, see netpeer.py)
and exchange SDPs and counters with the test as JSON lines on stdin/stdout.

Lab usage (root only; NetLab.available() says why not):

	lab = NetLab()                          # names only
	gw = lab.start_gateway(gateway_factory) # namespaces + relay, daemon inside "gw"
	peer = await lab.peer()        # an aiortc peer inside "cl"
	await lab.impair("up", loss=0.05, delay_ms=50)
	lab.close()                    # always (fixture finalizer)
"""

import asyncio
import ctypes
import itertools
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

_lab_seq = itertools.count(1)


def run(*cmd, check=True):
	r = subprocess.run(cmd, capture_output=True, text=True)
	if check and r.returncode != 0:
		raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
	return r


def setns(name):
	"""Moves the calling process (must be single-threaded for the whole
	process to follow) into network namespace `name`."""
	libc = ctypes.CDLL(None, use_errno=True)
	fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
	try:
		if libc.setns(fd, CLONE_NEWNET) != 0:
			e = ctypes.get_errno()
			raise OSError(e, f"setns({name}): {os.strerror(e)}")
	finally:
		os.close(fd)


def open_tun(name):
	fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
	import fcntl
	fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
	return fd


# ---- the relay process -------------------------------------------------------

class Direction:
	"""Impairment of one direction: netem's delay/jitter/loss, uniform jitter,
	and (no netem equivalent) dropping every STUN datagram only."""

	def __init__(self, name):
		self.name = name
		self.delay = 0.0
		self.jitter = 0.0
		self.loss = 0.0
		self.drop_stun = False
		self.forwarded = 0
		self.dropped = 0
		self.stun_dropped = 0
		self.max_delay_seen = 0.0

	def set(self, delay_ms=None, jitter_ms=None, loss=None, drop_stun=None):
		if delay_ms is not None:
			self.delay = delay_ms / 1000.0
		if jitter_ms is not None:
			self.jitter = jitter_ms / 1000.0
		if loss is not None:
			self.loss = loss
		if drop_stun is not None:
			self.drop_stun = bool(drop_stun)

	def state(self):
		return {"delay_ms": self.delay * 1000, "jitter_ms": self.jitter * 1000, "loss": self.loss,
			"drop_stun": self.drop_stun, "forwarded": self.forwarded, "dropped": self.dropped,
			"stun_dropped": self.stun_dropped}


def is_stun(pkt):
	"""An IPv4 UDP datagram whose payload is STUN (RFC 5389: top two bits 0,
	magic cookie at offset 4)."""
	if len(pkt) < 28 or pkt[0] >> 4 != 4 or pkt[9] != 17:
		return False
	ihl = (pkt[0] & 0x0F) * 4
	payload = pkt[ihl + 8:]
	return len(payload) >= 20 and payload[0] < 2 and payload[4:8] == b"\x21\x12\xa4\x42"


async def relay_main(args):
	gw_ns, cl_ns, net = args.gw_ns, args.cl_ns, args.net
	ports = [int(p) for p in args.ports.split(",") if p]
	tun_g, tun_c = f"cng{args.tag}", f"cnc{args.tag}"
	# Both tun fds are opened here in the root namespace and the devices are
	# then moved: an open tun fd stays attached to its device across netns moves.
	fd_g, fd_c = open_tun(tun_g), open_tun(tun_c)
	run(IP, "link", "set", tun_g, "netns", gw_ns)
	run(IP, "link", "set", tun_c, "netns", cl_ns)
	# /24 on both ends: the client may move to another address of the subnet
	# (ICE restart test) and stay routable without touching the gateway side.
	run(IP, "-n", gw_ns, "addr", "add", f"{net}.1/24", "dev", tun_g)
	run(IP, "-n", cl_ns, "addr", "add", f"{net}.2/24", "dev", tun_c)
	for ns, dev in ((gw_ns, tun_g), (cl_ns, tun_c)):
		run(IP, "-n", ns, "link", "set", dev, "mtu", "1500", "up")
		run(IP, "-n", ns, "link", "set", "lo", "up")
	listeners = []
	for p in ports:
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		s.bind(("127.0.0.1", p))
		s.listen(128)
		s.setblocking(False)
		listeners.append((s, p))
	setns(gw_ns)    # from now on new sockets (the forwarders' upstreams) live in "gw"

	loop = asyncio.get_running_loop()
	dirs = {"down": Direction("down"), "up": Direction("up")}   # down: gw -> client
	rng = random.Random(args.seed)

	def pump(src_fd, dst_fd, d):
		while True:
			try:
				pkt = os.read(src_fd, 65536)
			except BlockingIOError:
				return
			except OSError:
				return
			if d.loss > 0 and rng.random() < d.loss:
				d.dropped += 1
				continue
			if d.drop_stun and is_stun(pkt):
				d.stun_dropped += 1
				continue
			delay = d.delay
			if d.jitter > 0:
				delay = max(0.0, delay + rng.uniform(-d.jitter, d.jitter))
			d.forwarded += 1
			if delay <= 0:
				_write(dst_fd, pkt)
			else:
				loop.call_later(delay, _write, dst_fd, pkt)

	def _write(fd, pkt):
		try:
			os.write(fd, pkt)
		except OSError:
			pass    # device gone (namespace deleted) or queue full: a drop like any other

	loop.add_reader(fd_g, pump, fd_g, fd_c, dirs["down"])
	loop.add_reader(fd_c, pump, fd_c, fd_g, dirs["up"])

	async def splice(r, w):
		try:
			while True:
				data = await r.read(65536)
				if not data:
					break
				w.write(data)
				await w.drain()
		except (ConnectionError, OSError):
			pass
		finally:
			try:
				w.close()
			except Exception:
				pass

	def forwarder(port):
		async def handle(cr, cw):
			try:
				ur, uw = await asyncio.open_connection("127.0.0.1", port)
			except OSError:
				cw.close()
				return
			await asyncio.gather(splice(cr, uw), splice(ur, cw))
		return handle

	for s, p in listeners:
		await asyncio.start_server(forwarder(p), sock=s)

	async def listening(port):
		"""Whether something in "gw" accepts on 127.0.0.1:port. The test cannot
		tell from its side: our own listener in the root namespace accepts
		from the start and only then finds the upstream refusing."""
		try:
			_, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
		except (OSError, asyncio.TimeoutError):
			return False
		w.close()
		return True

	# Control: one JSON object per stdin line, one JSON answer per stdout line.
	reader = asyncio.StreamReader()
	await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
	print(json.dumps({"ready": True}), flush=True)
	while True:
		line = await reader.readline()
		if not line:
			break
		try:
			cmd = json.loads(line)
			if "probe" in cmd:
				ans = {"listening": {str(p): await listening(p) for p in cmd["probe"]}}
			else:
				for name in ("up", "down") if cmd.get("dir", "both") == "both" else (cmd["dir"],):
					dirs[name].set(cmd.get("delay_ms"), cmd.get("jitter_ms"), cmd.get("loss"), cmd.get("drop_stun"))
				ans = {name: d.state() for name, d in dirs.items()}
		except Exception as e:
			ans = {"error": f"{type(e).__name__}: {e}"}
		print(json.dumps(ans), flush=True)


# ---- the test side -----------------------------------------------------------

class NetLabError(RuntimeError):
	pass


class NetLab:
	"""Two namespaces joined by the relay; see the module docstring."""

	_unavailable = None

	@classmethod
	def available(cls):
		"""None when namespaces + tun work here, else the reason they do not."""
		if cls._unavailable is not None:
			return cls._unavailable or None
		reason = ""
		if os.geteuid() != 0:
			reason = "network namespaces need root"
		elif not os.path.exists("/dev/net/tun"):
			reason = "no /dev/net/tun"
		else:
			name = f"cardea-probe-{os.getpid()}"
			r = run(IP, "netns", "add", name, check=False)
			if r.returncode != 0:
				reason = f"the kernel refuses network namespaces: {r.stderr.strip()}"
			else:
				run(IP, "netns", "del", name, check=False)
		cls._unavailable = reason
		return reason or None

	def __init__(self, seed=8):
		"""Only picks names; up() creates things."""
		n = next(_lab_seq)
		self.tag = f"{os.getpid() % 100000}{n}"
		self.gw_ns = f"cardea-gw-{self.tag}"
		self.cl_ns = f"cardea-cl-{self.tag}"
		# 10.77.X.0/24, X from the pid and lab number so parallel runs differ
		self.net = f"10.77.{(os.getpid() * 7 + n) % 250 + 1}"
		self.gw_ip, self.cl_ip = f"{self.net}.1", f"{self.net}.2"
		self.seed = seed
		self.relay = None
		self.peers = []
		self.created = []

	def up(self, ports):
		"""Creates both namespaces and starts the relay, forwarding the given
		loopback TCP ports into "gw"."""
		try:
			for ns in (self.gw_ns, self.cl_ns):
				run(IP, "netns", "add", ns)
				self.created.append(ns)
			self.relay = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "relay",
				"--gw-ns", self.gw_ns, "--cl-ns", self.cl_ns, "--net", self.net, "--tag", self.tag,
				"--ports", ",".join(map(str, ports)), "--seed", str(self.seed)],
				stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
			line = self.relay.stdout.readline()
			if not line or not json.loads(line).get("ready"):
				raise NetLabError(f"relay did not start (exit {self.relay.poll()})")
		except BaseException:
			self.close()
			raise
		return self

	def start_gateway(self, factory, sections=None, **kw):
		"""A daemon (through a conftest factory) inside "gw", ICE on the tun
		address only; its API ports are forwarded from the root namespace."""
		sec = {"nat": {"ice_enforce_list": self.gw_ip}}
		for k, v in (sections or {}).items():
			sec.setdefault(k, {}).update(v)
		gw = factory(start=False, wrapper=[IP, "netns", "exec", self.gw_ns], sections=sec, **kw)
		ports = [gw.http_port, gw.admin_http_port, gw.ws_port, gw.admin_ws_port]
		if self.relay is None:
			self.up(ports)
		gw.start(wait=False)
		# gw.wait_ready's "port accepts" checks would only reach the relay's
		# listeners here, which accept at once: a WebSocket opened right
		# after could hit a daemon that was not listening yet. The relay
		# checks from inside "gw" instead, then wait_ready asks /info.
		self.wait_listening(gw, ports)
		gw.wait_ready()
		return gw

	def wait_listening(self, gw, ports, timeout=None):
		"""Until the daemon accepts on every port inside "gw" (asked to the
		relay, which lives there)."""
		from gateway import START_TIMEOUT, GatewayError
		deadline = time.monotonic() + (timeout or START_TIMEOUT)
		while True:
			ans = self.control(probe=ports)["listening"]
			missing = [p for p in ports if not ans[str(p)]]
			if not missing:
				return
			if not gw.alive():
				raise GatewayError(f"daemon exited with {gw.proc.returncode} during start-up:\n{gw.log_tail()}")
			if time.monotonic() > deadline:
				raise GatewayError(f"ports {missing} never opened inside {self.gw_ns}:\n{gw.log_tail()}")
			time.sleep(0.05)

	def control(self, **cmd):
		"""Sets impairments: dir='up'|'down'|'both', delay_ms, jitter_ms, loss
		(0..1), drop_stun (bool). Returns the relay's counters per direction."""
		self.relay.stdin.write(json.dumps(cmd) + "\n")
		self.relay.stdin.flush()
		ans = json.loads(self.relay.stdout.readline())
		if "error" in ans:
			raise NetLabError(ans["error"])
		return ans

	async def impair(self, **cmd):
		return await asyncio.get_running_loop().run_in_executor(None, lambda: self.control(**cmd))

	def counters(self):
		return self.control(dir="both")   # no change, just the state

	async def peer(self):
		"""An aiortc peer (netpeer.py) inside "cl", gathering on the client
		address. Killed by close() at the latest."""
		p = NetPeer()
		await p.start([IP, "netns", "exec", self.cl_ns, PYTHON, str(HERE / "netpeer.py"), "--ip", self.cl_ip])
		self.peers.append(p)
		return p

	def move_client(self, new_ip):
		"""Changes the client's address (the old one disappears): sockets
		bound to it stop working, as when a phone changes network."""
		dev = f"cnc{self.tag}"
		run(IP, "-n", self.cl_ns, "addr", "add", f"{new_ip}/24", "dev", dev)
		run(IP, "-n", self.cl_ns, "addr", "del", f"{self.cl_ip}/24", "dev", dev)
		self.cl_ip = new_ip

	def close(self):
		for p in self.peers:
			p.kill()
		self.peers.clear()
		if self.relay is not None and self.relay.poll() is None:
			self.relay.kill()
			self.relay.wait(5)
		for ns in self.created:
			run(IP, "netns", "del", ns, check=False)
		self.created.clear()


class NetPeer:
	"""Test-side handle of a netpeer.py process (JSON lines over pipes)."""

	async def start(self, cmd):
		self.proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE,
			stdout=asyncio.subprocess.PIPE, limit=16 * 1024 * 1024)
		self._lock = asyncio.Lock()

	async def call(self, timeout=20, **cmd):
		async with self._lock:
			self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
			await self.proc.stdin.drain()
			line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
		if not line:
			raise NetLabError(f"peer exited ({self.proc.returncode}) during {cmd.get('cmd')}")
		ans = json.loads(line)
		if "error" in ans:
			raise NetLabError(f"peer {cmd.get('cmd')}: {ans['error']}")
		return ans

	async def offer(self, audio=True, video=True):
		return (await self.call(cmd="offer", audio=audio, video=video))["sdp"]

	async def answer(self, sdp):
		await self.call(cmd="answer", sdp=sdp)

	async def accept(self, sdp):
		return (await self.call(cmd="accept", sdp=sdp))["sdp"]

	async def stats(self):
		return await self.call(cmd="stats")

	async def close(self):
		if self.proc.returncode is None:
			try:
				await self.call(cmd="close", timeout=5)
			except Exception:
				pass
			self.kill()
		# reaps it inside the loop (else asyncio's transport complains at exit)
		await self.proc.wait()

	def kill(self):
		if self.proc.returncode is None:
			try:
				os.kill(self.proc.pid, 9)   # by PID: works after its event loop is gone too
			except ProcessLookupError:
				pass


def frame_loss(sent, frames, t_from=None, t_to=None):
	"""Frames the receiver never decoded among those the sender handed to
	its encoder between the first and the last number the receiver decoded
	(optionally only those sent in [t_from, t_to], monotonic, same host).
	Returns (lost, expected, missing numbers)."""
	numbers = {n for n, _ in sent}
	got = {n for n, _ in frames if n in numbers}   # a misread barcode is not a frame
	if not got:
		return 0, 0, []
	lo, hi = min(got), max(got)
	want = [n for n, t in sent if lo <= n <= hi and (t_from is None or t >= t_from)
		and (t_to is None or t <= t_to)]
	missing = [n for n in want if n not in got]
	return len(missing), len(want), missing


def main():
	import argparse
	ap = argparse.ArgumentParser()
	sub = ap.add_subparsers(dest="cmd", required=True)
	r = sub.add_parser("relay")
	r.add_argument("--gw-ns", required=True)
	r.add_argument("--cl-ns", required=True)
	r.add_argument("--net", required=True)
	r.add_argument("--tag", required=True)
	r.add_argument("--ports", default="")
	r.add_argument("--seed", type=int, default=8)
	args = ap.parse_args()
	asyncio.run(relay_main(args))


if __name__ == "__main__":
	main()
