"""The gateway's own TURN relay (nat.turn_server), end to end on loopback:
Debian's coturn runs on a free port with a long-term credential; the gateway
must allocate a relay candidate on it, and media must flow through the relay
when the client only learns the relayed address.

How the relayed path is forced without leaving 127.0.0.1: the test removes
the gateway's host candidates from the answer before aiortc sees it, and
aiortc ignores connectivity checks that do not come from the relayed
address (as if a firewall sat between the two hosts). The only pair that
works is then [relay] on the gateway's side, and every packet crosses coturn
(its allocation and permission are the gateway's: libnice creates the
permission from aiortc's candidates in the offer).
"""

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import aioice.ice
import pytest
from aiortc import RTCSessionDescription

import gateway as gwmod
from apiclient import open_api, open_admin
from test_echotest import ECHO, offer_pc, handle_info
from test_ice_features import echo_gateway, candidates

pytestmark = pytest.mark.cardea_only

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
TURN_USER, TURN_PWD, TURN_REALM = "cardea", "relay-secret", "cardea.test"


class Coturn:
	"""coturn on 127.0.0.1:port (UDP+TCP), relaying on loopback, stopped by PID."""

	def __init__(self):
		self.dir = Path(tempfile.mkdtemp(prefix="cardea-turn-"))
		self.port = gwmod.free_port()
		relay_lo = 49152 + (self.port % 1000) * 10
		self.log = self.dir / "turnserver.log"
		args = [TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
			f"--listening-port={self.port}", f"--min-port={relay_lo}", f"--max-port={relay_lo + 9}",
			"--lt-cred-mech", f"--user={TURN_USER}:{TURN_PWD}", f"--realm={TURN_REALM}",
			"--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
			f"--userdb={self.dir / 'turndb'}", f"--pidfile={self.dir / 'turn.pid'}",
			"--log-file=stdout", "--simple-log", "--verbose"]
		self.out = open(self.log, "w")
		self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
		deadline = time.monotonic() + 10
		while "Total General servers" not in self.log.read_text(errors="replace"):
			assert self.proc.poll() is None, self.log.read_text(errors="replace")[-2000:]
			assert time.monotonic() < deadline, "coturn did not start"
			time.sleep(0.1)

	def text(self):
		return self.log.read_text(errors="replace")

	def stop(self):
		if self.proc.poll() is None:
			self.proc.terminate()
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self.out.close()
		shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def coturn():
	if not Path(TURNSERVER).exists():
		pytest.fail("turnserver (Debian package coturn) is not installed: scripts/setup.sh installs it")
	t = Coturn()
	yield t
	t.stop()


def only_relay_candidates(sdp):
	out = []
	for line in sdp.split("\r\n"):
		if line.startswith("a=candidate:") and " typ relay" not in line:
			continue
		if line:
			out.append(line)
	return "\r\n".join(out) + "\r\n"


class OnlyFrom:
	"""Patches aioice so binding requests from anywhere but `addr` go unanswered
	(all of them while `addr` is None: the gateway starts its checks as soon
	as it has the offer, before the answer tells the test the relay address)."""

	def __init__(self):
		self.addr = None
		self.dropped = 0
		self.orig = aioice.ice.Connection.request_received

	def __enter__(self):
		guard = self

		def request_received(conn, message, addr, protocol, raw_data):
			if tuple(addr[:2]) != guard.addr:
				guard.dropped += 1
				return
			return guard.orig(conn, message, addr, protocol, raw_data)
		aioice.ice.Connection.request_received = request_received
		return self

	def __exit__(self, *exc):
		aioice.ice.Connection.request_received = self.orig


async def relayed_echo(gw, coturn, wrong_password=False):
	async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		guard = OnlyFrom().__enter__()
		try:
			r = await api.message(sid, hid, {"audio": True, "video": True},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert r["janus"] == "ack", r
			ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
			answer = ev["jsep"]["sdp"]
			relays = [c for c in candidates(answer) if " typ relay" in c]
			if wrong_password:
				# A refused allocation leaves no relay candidate; the host ones remain.
				assert relays == [], answer
				assert any(" typ host" in c for c in candidates(answer)), answer
				assert "ALLOCATE processed, success" not in coturn.text()
				assert "error 401" in coturn.text()
				return
			assert relays, f"no relay candidate in the answer:\n{answer}"
			fields = relays[0].split()
			assert fields[4] == "127.0.0.1" and "raddr" in fields, relays
			relay_port = int(fields[5])
			guard.addr = ("127.0.0.1", relay_port)
			await pc.setRemoteDescription(RTCSessionDescription(sdp=only_relay_candidates(answer), type="answer"))
			await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=15)
			for kind in ("audio", "video"):
				for _ in range(3):
					assert await asyncio.wait_for(tracks[kind].recv(), 10) is not None
			# The gateway did try its direct path (and was ignored).
			assert guard.dropped > 0
			ice = (await handle_info(admin, sid, hid))["webrtc"]["ice"]
			assert any(c.endswith("udp relay") for c in ice["local-candidates"]), ice
			local = ice["selected-pair"].split(" <-> ")[0]
			assert local == f"127.0.0.1:{relay_port} [relay,udp]", ice
			# coturn saw the gateway authenticate and relay (its session log).
			text = coturn.text()
			assert f"user <{TURN_USER}>: incoming packet ALLOCATE processed, success" in text, text[-3000:]
			assert "CREATE_PERMISSION processed, success" in text, text[-3000:]
		finally:
			guard.__exit__()
			await pc.close()
		await api.destroy(sid)
		if not wrong_password:
			# The gateway releases its allocation when the PC goes (no 10-minute leftovers).
			deadline = time.monotonic() + 5
			while "REFRESH processed, success" not in coturn.text():
				await asyncio.sleep(0.1)
				if time.monotonic() > deadline:
					open("/tmp/turn-dbg.log", "w").write(coturn.text())
					pytest.fail("the TURN allocation was not released: " + coturn.text()[-2000:])


@pytest.mark.timeout_s(60)
async def test_media_through_gateway_turn_relay(gateway_factory, coturn):
	gw = echo_gateway(gateway_factory, nat={"turn_server": "localhost", "turn_port": coturn.port,
		"turn_type": "udp", "turn_user": TURN_USER, "turn_pwd": TURN_PWD})
	try:
		await relayed_echo(gw, coturn)
	finally:
		shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


@pytest.mark.timeout_s(60)
async def test_turn_wrong_credentials_still_serves(gateway_factory, coturn):
	gw = echo_gateway(gateway_factory, nat={"turn_server": "127.0.0.1", "turn_port": coturn.port,
		"turn_user": TURN_USER, "turn_pwd": "not-the-password"})
	try:
		await relayed_echo(gw, coturn, wrong_password=True)
	finally:
		shutil.rmtree(gw.plugins_tmp, ignore_errors=True)
