"""Abuse resistance (docs/security.md): every cap answers with its error, and
a legitimate client stays fast (API p99 < 100 ms) and keeps its media while

  * one WebSocket connection floods 1,000 invalid-JSON requests a second
    (refused by requests_per_second, counted in /metrics);
  * 5,000 idle WebSocket connections are open, and the server's keepalive
    pings every one of them meanwhile;
  * 50 slowloris HTTP clients send their headers a byte a second (dropped
    by request_timeout, counted in /metrics);
  * RTP, STUN and DTLS datagrams from a stranger hit the PeerConnection's
    port (libnice drops them before DTLS/SRTP: the counters above ICE stay
    still).

Admin listeners bind 127.0.0.1 when nothing is configured. HTTPS and WSS
with a generated certificate are covered by test_http_transport.py
(test_https_listeners) and test_ws_transport.py (test_wss_listeners).

The flooder, the legitimate client and the idle connections run in their
own processes, so what is measured is the gateway, not this test's event
loop (which also runs aiortc's encoders).
"""

import asyncio
import json
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import time

import aiohttp
import pytest
import websockets

from aiortc import RTCSessionDescription

from apiclient import WsApi, open_api, open_admin, expect_error
from test_echotest import ECHO, offer_pc, negotiate, handle_info
from test_ice_features import echo_gateway, frames, packets_in
from test_media_abuse import many_mlines_sdp, media_port_ports

pytestmark = pytest.mark.cardea_only

PY = sys.executable or "/usr/bin/python3"
P99_LIMIT = 0.100

# ---- helper processes ------------------------------------------------------------

# A legitimate Janus API client: N sequential `info` requests, latencies as JSON.
LEGIT = r"""
import asyncio, json, sys, time, websockets
async def main(url, n):
	async with websockets.connect(url, subprotocols=["janus-protocol"], ping_interval=None,
			max_size=None, open_timeout=10) as ws:
		lat = []
		for i in range(n):
			tx = "legit%d" % i
			t0 = time.perf_counter()
			await ws.send(json.dumps({"janus": "info", "transaction": tx}))
			while True:
				r = json.loads(await asyncio.wait_for(ws.recv(), 10))
				if r.get("transaction") == tx:
					break
			assert r["janus"] == "server_info", r
			lat.append(time.perf_counter() - t0)
			await asyncio.sleep(0.025)   # ~35 requests a second: within requests_per_second
	print(json.dumps(lat))
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

# One connection sending `rate` invalid-JSON requests a second for `secs`
# seconds, reading (and counting) whatever comes back.
FLOOD = r"""
import asyncio, json, sys, time, websockets
async def main(url, rate, secs):
	counts = {}
	async with websockets.connect(url, subprotocols=["janus-protocol"], ping_interval=None,
			max_size=None, open_timeout=10) as ws:
		async def reader():
			async for m in ws:
				r = json.loads(m)
				code = str(r.get("error", {}).get("code"))
				counts[code] = counts.get(code, 0) + 1
		rt = asyncio.ensure_future(reader())
		print("flooding", flush=True)
		t0 = time.monotonic()
		sent = 0
		while time.monotonic() - t0 < secs:
			due = int((time.monotonic() - t0) * rate)
			while sent < due:
				await ws.send("{this is not json %d" % sent)
				sent += 1
			await asyncio.sleep(0.002)
		await asyncio.sleep(1)
		rt.cancel()
	print(json.dumps({"sent": sent, "codes": counts}), flush=True)
asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""

# Opens N idle Janus WebSocket connections (handshake only, never reading
# nor answering pings), prints "ready <n>", holds them until stdin closes,
# then prints "pinged <k>": how many got a WebSocket ping (first byte 0x89).
IDLE = r"""
import asyncio, base64, os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
async def one(port, sem, conns):
	async with sem:
		r, w = await asyncio.open_connection("127.0.0.1", port)
		key = base64.b64encode(os.urandom(16)).decode()
		w.write(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n"
			% (port, key)).encode())
		head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
		assert head.startswith(b"HTTP/1.1 101"), head
		conns.append((r, w))
async def main(port, n):
	sem = asyncio.Semaphore(100)
	conns = []
	await asyncio.gather(*(one(port, sem, conns) for _ in range(n)))
	print("ready %d" % len(conns), flush=True)
	await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
	pinged = 0
	for r, w in conns:
		try:
			first = await asyncio.wait_for(r.read(1), 0.5)
		except asyncio.TimeoutError:
			first = b""
		pinged += first == b"\x89"
		w.close()
	print("pinged %d" % pinged, flush=True)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


async def run_py(script, *args, timeout=60):
	proc = await asyncio.create_subprocess_exec(PY, "-c", script, *map(str, args),
		stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	try:
		out, err = await asyncio.wait_for(proc.communicate(), timeout)
	except asyncio.TimeoutError:
		proc.kill()
		await proc.wait()
		raise
	assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
	return out.decode()


async def legit_latencies(gw, n=200):
	"""p99 (and the sorted list) of `n` sequential info requests from a fresh process."""
	lat = sorted(json.loads((await run_py(LEGIT, gw.ws_url, n)).strip().splitlines()[-1]))
	return lat[int(len(lat) * 0.99) - 1], lat


async def metrics(gw):
	"""{(name, label value or ""): value} from the admin /metrics."""
	async with aiohttp.ClientSession() as http:
		async with http.get(f"http://127.0.0.1:{gw.admin_http_port}/metrics",
				params={"admin_secret": gw.admin_secret}, timeout=aiohttp.ClientTimeout(total=10)) as r:
			assert r.status == 200
			text = await r.text()
	out = {}
	for line in text.splitlines():
		m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[a-z_]+="([^"]*)"\})? (\S+)$', line)
		if m:
			out[(m.group(1), m.group(2) or "")] = float(m.group(3))
	return out


WS_T = "cardea.transport.websockets"
HTTP_T = "cardea.transport.http"

# ---- each cap and its error -------------------------------------------------------

@pytest.mark.timeout_s(60)
async def test_caps_and_their_errors(gateway_factory):
	gw = echo_gateway(gateway_factory, media={"max_peerconnections": 1, "max_mlines": 4},
		max_sessions=2, max_handles_per_session=2,
		http={"general": {"max_body_size": 2048}}, ws={"general": {"max_message_size": 4096, "max_connections": 3}})
	try:
		async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
			sid = await api.create()
			other = await api.create()
			# max_sessions
			expect_error(await api.request({"janus": "create"}), 490, "Maximum number of sessions (2) reached")
			await api.destroy(other)
			h1 = await api.attach(sid, ECHO)
			h2 = await api.attach(sid, ECHO)
			# max_handles_per_session
			expect_error(await api.request({"janus": "attach", "session_id": sid, "plugin": ECHO}), 490,
				"Maximum number of handles per session (2) reached")
			# max_mlines (before anything parses the SDP)
			r = await api.message(sid, h1, {"audio": True}, jsep={"type": "offer", "sdp": many_mlines_sdp(5)})
			expect_error(r, 465, "JSEP error: invalid SDP (too many m-lines: 5, at most 4)")
			# max_peerconnections: the first PC is up, a second one is refused...
			pc1, tracks1 = await offer_pc()
			pc2, tracks2 = await offer_pc()
			try:
				await negotiate(api, sid, h1, pc1, tracks1)
				assert (await metrics(gw))[("cardea_peerconnections_live", "")] == 1
				r = await api.message(sid, h2, {"audio": True, "video": True},
					jsep={"type": "offer", "sdp": pc2.localDescription.sdp})
				expect_error(r, 490, "Maximum number of PeerConnections (1) reached")
				# ... until the first one hangs up
				r = await api.request({"janus": "hangup", "session_id": sid, "handle_id": h1})
				assert r["janus"] == "success", r
				await api.event(sid, {"janus": "hangup", "sender": h1}, timeout=10)
				assert (await metrics(gw))[("cardea_peerconnections_live", "")] == 0
				await negotiate(api, sid, h2, pc2, tracks2)
				assert (await metrics(gw))[("cardea_peerconnections_live", "")] == 1
				assert (await handle_info(admin, sid, h2))["webrtc"]["webrtcup"] is True
			finally:
				await pc1.close()
				await pc2.close()
			await api.destroy(sid)
		assert (await metrics(gw))[("cardea_peerconnections_live", "")] == 0
		# max_body_size (HTTP): 454, connection closed
		async with aiohttp.ClientSession() as http:
			body = json.dumps({"janus": "create", "transaction": "big", "pad": "x" * 4000})
			async with http.post(gw.http_url, data=body) as r:
				assert r.status == 200
				expect_error(await r.json(content_type=None), 454)
		# max_message_size (WebSocket): the connection is closed with 1009, others go on
		async with open_api(gw, "ws") as big, open_api(gw, "ws") as small:
			await big.ws.send(json.dumps({"janus": "ping", "transaction": "x", "pad": "y" * 8000}))
			await asyncio.wait_for(big.closed.wait(), 5)
			assert big.close_code == 1009, big.close_code
			await small.ping()
		for _ in range(50):
			if (await metrics(gw))[("cardea_transport_connections", WS_T)] == 0:
				break
			await asyncio.sleep(0.1)
		# max_connections (WebSocket, per listener): the fourth is refused at accept
		async with open_api(gw, "ws") as a, open_api(gw, "ws"), open_api(gw, "ws"):
			with pytest.raises((OSError, websockets.WebSocketException, asyncio.TimeoutError)):
				await WsApi.connect(gw.ws_url)
			await a.ping()
		assert (await metrics(gw))[("cardea_transport_connections_refused", WS_T)] >= 1
	finally:
		shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


@pytest.mark.timeout_s(40)
async def test_request_rate_limit(gateway_factory):
	"""requests_per_second + requests_burst per connection on both transports:
	the excess gets 450 (WS, with its transaction) or HTTP 429, invalid JSON
	counts like anything else, the bucket refills, and /metrics counts it."""
	limit = {"general": {"requests_per_second": 10, "requests_burst": 20}}
	gw = gateway_factory(http=limit, ws=limit)
	async with open_api(gw, "ws") as api:
		for i in range(5):
			await api.ws.send("{broken %d" % i)
		txs = [f"rl{i}" for i in range(40)]
		for tx in txs:
			await api.ws.send(json.dumps({"janus": "ping", "transaction": tx}))
		replies = [await api.take(lambda m, tx=tx: m.get("transaction") == tx) for tx in txs]
		pongs = [r for r in replies if r["janus"] == "pong"]
		refused = [r for r in replies if r["janus"] == "error"]
		# 20 banked, 5 of them spent on bad JSON; a token or two may refill meanwhile
		assert 15 <= len(pongs) <= 18, replies
		assert len(pongs) + len(refused) == 40
		for r in refused:
			expect_error(r, 450, "Too many requests on this connection (requests_per_second)")
		bad_json = [await api.take(lambda m: "transaction" not in m) for _ in range(5)]
		assert all(m["error"]["code"] == 454 for m in bad_json), bad_json
		assert not api.inbox, api.inbox
		# another connection has its own bucket
		async with open_api(gw, "ws") as other:
			await other.ping()
		await asyncio.sleep(1.2)   # ~12 tokens back
		await api.ping()
	# HTTP: one keep-alive connection
	conn = aiohttp.TCPConnector(limit=1)
	statuses = []
	async with aiohttp.ClientSession(connector=conn) as http:
		for i in range(40):
			async with http.post(gw.http_url, data="{not json" if i % 2 else json.dumps(
					{"janus": "ping", "transaction": f"h{i}"})) as r:
				statuses.append(r.status)
				if r.status == 429:
					assert r.headers.get("Retry-After") == "1"
					expect_error(await r.json(content_type=None), 450)
	assert statuses.count(429) >= 15 and statuses.count(200) >= 15, statuses
	m = await metrics(gw)
	assert m[("cardea_transport_requests_rate_limited", WS_T)] >= 22, m
	assert m[("cardea_transport_requests_rate_limited", HTTP_T)] == statuses.count(429), m


# ---- floods while a legitimate client works ----------------------------------------

@pytest.fixture(scope="module")
def flood_gw(module_gateway_factory):
	limit = {"requests_per_second": 50, "requests_burst": 100}
	gw = echo_gateway(module_gateway_factory, ws={"general": limit},
		http={"general": dict(limit, request_timeout=2)})
	yield gw
	shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


async def media_flows(admin, sid, hid, tracks):
	"""Packets keep arriving at the gateway (counted over 300 ms) and echoed
	frames keep arriving here."""
	n0, _ = await packets_in(admin, sid, hid)
	await asyncio.sleep(0.3)
	await frames(tracks)
	n1, info = await packets_in(admin, sid, hid)
	assert n1 > n0 and info["ice"]["state"] == "connected" and info["dtls"]["state"] == "connected", info
	return info


@pytest.mark.timeout_s(90)
async def test_invalid_json_flood(flood_gw):
	gw = flood_gw
	async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			m0 = await metrics(gw)
			flood = await asyncio.create_subprocess_exec(PY, "-c", FLOOD, gw.ws_url, "1000", "10",
				stdout=subprocess.PIPE, stderr=subprocess.PIPE)
			assert (await asyncio.wait_for(flood.stdout.readline(), 15)).strip() == b"flooding"
			await asyncio.sleep(0.5)
			legit = asyncio.ensure_future(legit_latencies(gw))
			while not legit.done():
				await media_flows(admin, sid, hid, tracks)
				await asyncio.sleep(0.2)
			p99, lat = await legit
			out, err = await asyncio.wait_for(flood.communicate(), 30)
			assert flood.returncode == 0, err.decode()[-2000:]
			report = json.loads(out.decode().strip().splitlines()[-1])
			await media_flows(admin, sid, hid, tracks)
			assert not [e for e in api.pending(sid) if e.get("janus") == "hangup"]
		finally:
			await pc.close()
		await api.destroy(sid)
	assert p99 < P99_LIMIT, f"p99 {p99 * 1000:.1f} ms, slowest {[round(x * 1000, 1) for x in lat[-5:]]}"
	sent, codes = report["sent"], report["codes"]
	assert sent >= 9000, report
	# 100 banked + 50/s reach the core (454 each); the rest is refused
	assert codes.get("454", 0) <= 100 + 50 * 12, report
	assert codes.get("450", 0) >= sent - 100 - 50 * 12, report
	m1 = await metrics(gw)
	key = ("cardea_transport_requests_rate_limited", WS_T)
	assert m1[key] - m0.get(key, 0) == codes.get("450", 0), (m0.get(key), m1[key], report)


@pytest.mark.timeout_s(150)
async def test_idle_websockets(gateway_factory):
	"""5,000 idle connections cost a legitimate client nothing: the WebSocket
	transport's event loop is epoll (libev), so a wake-up does not scan every
	descriptor, and its keepalive is O(1) per connection, so the ping round
	(every idle connection is pinged 3 s after it opened, i.e. while the
	legitimate client is measured) does not stall it either."""
	limit = {"requests_per_second": 50, "requests_burst": 100}
	gw = gateway_factory(ws={"general": dict(limit, pingpong_trigger=3, pingpong_timeout=120)})
	assert "[ws] event loop: epoll (libev)" in gw.log_text(), gw.log_tail(40)
	n = 5000
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	assert hard >= n + 500, f"RLIMIT_NOFILE hard limit {hard} is too low for {n} connections"
	assert re.search(r"file descriptor limit (\d+)", gw.log_text()), gw.log_tail(40)
	assert int(re.search(r"file descriptor limit (\d+)", gw.log_text()).group(1)) >= n + 100
	idle = await asyncio.create_subprocess_exec(PY, "-c", IDLE, str(gw.ws_port), str(n),
		stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	try:
		line = await asyncio.wait_for(idle.stdout.readline(), 90)
		assert line.strip() == f"ready {n}".encode(), (line, (await idle.stderr.read())[-2000:])
		m = await metrics(gw)
		assert m[("cardea_transport_connections", WS_T)] >= n, m
		p99, lat = await legit_latencies(gw)
		print(f"idle websockets: p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
		assert p99 < P99_LIMIT, f"p99 {p99 * 1000:.1f} ms, slowest {[round(x * 1000, 1) for x in lat[-5:]]}"
		async with open_api(gw, "http") as api:
			await api.ping()
	finally:
		idle.stdin.close()
		out = await asyncio.wait_for(idle.stdout.read(), 60)
		await asyncio.wait_for(idle.wait(), 30)
	assert out.decode().split() == ["pinged", str(n)], out
	for _ in range(100):
		if (await metrics(gw))[("cardea_transport_connections", WS_T)] < 10:
			break
		await asyncio.sleep(0.1)
	else:
		raise AssertionError("the idle connections were not closed")


@pytest.mark.timeout_s(60)
async def test_slowloris(flood_gw):
	"""50 clients sending their headers a byte a second hold nothing up and
	are dropped once request_timeout (2 s here) is over."""
	gw = flood_gw
	m0 = await metrics(gw)
	head = b"GET /janus/info HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n\r\n"
	ended = []

	async def slow_client_loop():
		# one byte, then a second of listening (EOF: the server dropped us)
		r, w = await asyncio.open_connection("127.0.0.1", gw.http_port)
		t0 = time.monotonic()
		i = 0
		closed = False
		while time.monotonic() - t0 < 15 and i < len(head) - 1:
			try:
				w.write(head[i:i + 1])
				await w.drain()
			except (ConnectionError, OSError):
				closed = True
				break
			i += 1
			try:
				if await asyncio.wait_for(r.read(1), 1.0) == b"":
					closed = True
					break
			except asyncio.TimeoutError:
				pass
			except (ConnectionError, OSError):
				closed = True
				break
		ended.append((closed, time.monotonic() - t0, i))
		w.close()

	slow = [asyncio.ensure_future(slow_client_loop()) for _ in range(50)]
	await asyncio.sleep(0.5)
	# legitimate HTTP requests meanwhile (fresh connections each time)
	lat = []
	async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
		for i in range(40):
			t0 = time.monotonic()
			async with http.post(gw.http_url, json={"janus": "ping", "transaction": f"p{i}"}) as r:
				assert r.status == 200 and (await r.json())["janus"] == "pong"
			lat.append(time.monotonic() - t0)
			await asyncio.sleep(0.05)
	await asyncio.gather(*slow)
	lat.sort()
	p99 = lat[int(len(lat) * 0.99) - 1]
	print(f"slowloris: p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
	assert p99 < P99_LIMIT and lat[-1] < 0.5, lat
	assert all(closed for closed, _, _ in ended), ended
	# dropped after ~2 s (the sweep runs twice a second), long before the headers were complete
	assert all(1.5 < took < 5 and sent < len(head) - 1 for _, took, sent in ended), ended
	m1 = await metrics(gw)
	key = ("cardea_transport_slow_connections_dropped", HTTP_T)
	assert m1[key] - m0.get(key, 0) >= 50, (m0.get(key), m1[key])


def stun_binding_request():
	attr_user = b"\x00\x06" + struct.pack("!H", 9) + b"evil:user" + b"\x00" * 3
	body = attr_user + b"\x00\x08\x00\x14" + os.urandom(20)   # MESSAGE-INTEGRITY (bogus)
	return struct.pack("!HHI", 0x0001, len(body), 0x2112A442) + os.urandom(12) + body


def dtls_client_hello():
	hello = bytes([1]) + struct.pack("!I", 120)[1:] + struct.pack("!HI", 0, 0)[:2] + b"\x00\x00\x00" + \
		struct.pack("!I", 120)[1:] + b"\xfe\xfd" + os.urandom(32) + b"\x00\x00" + os.urandom(80)
	return bytes([0x16, 0xFE, 0xFF, 0, 0]) + os.urandom(6) + struct.pack("!H", len(hello)) + hello


def random_rtp(i):
	return bytes([0x80, 0x60 + (i % 30)]) + struct.pack("!HII", i & 0xFFFF, i * 960, 0xABCD0000 + i % 7) + \
		os.urandom(100 + i % 900)


@pytest.mark.timeout_s(60)
async def test_udp_flood_from_strangers(flood_gw):
	gw = flood_gw
	async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
		sock.bind(("127.0.0.1", 0))
		sock.setblocking(False)
		try:
			await negotiate(api, sid, hid, pc, tracks)
			info = (await handle_info(admin, sid, hid))["webrtc"]
			ports = media_port_ports(info)
			assert ports, info
			n0, before = await packets_in(admin, sid, hid)
			sent = 0

			async def flood():
				nonlocal sent
				t0 = time.monotonic()
				while time.monotonic() - t0 < 4:
					for k in range(20):
						i = sent + k
						d = (random_rtp(i), stun_binding_request(), dtls_client_hello())[i % 3]
						for port in ports:
							try:
								sock.sendto(d, ("127.0.0.1", port))
							except BlockingIOError:
								pass
					sent += 20
					await asyncio.sleep(0.01)

			task = asyncio.ensure_future(flood())
			try:
				while not task.done():
					await media_flows(admin, sid, hid, tracks)
				await task
			finally:
				task.cancel()
			await asyncio.sleep(0.5)
			n1, after = await packets_in(admin, sid, hid)
			assert sent >= 3000, sent
			assert n1 > n0 and after["webrtcup"], after
			# nothing from the stranger reached DTLS or SRTP: dropped before any crypto
			assert after["dtls"]["datagrams_in"] == before["dtls"]["datagrams_in"], (before, after)
			assert after["drops"] == before["drops"], (before, after)
			assert not [e for e in api.pending(sid) if e.get("janus") == "hangup"]
			await frames(tracks)
		finally:
			sock.close()
			await pc.close()
		await api.destroy(sid)


# ---- admin listeners ---------------------------------------------------------------

def test_admin_listeners_default_to_loopback(gateway_factory):
	"""With no admin_ip / admin_ws_ip in the files, both admin listeners bind
	127.0.0.1 only (all of 127/8 is loopback: 127.0.0.2 must not answer)."""
	gw = gateway_factory(start=False)
	del gw.http_cfg["admin"]["admin_ip"]
	del gw.ws_cfg["admin"]["admin_ws_ip"]
	gw.start()
	for port in (gw.admin_http_port, gw.admin_ws_port):
		with socket.create_connection(("127.0.0.1", port), timeout=2):
			pass
		with pytest.raises(OSError):
			socket.create_connection(("127.0.0.2", port), timeout=2).close()
