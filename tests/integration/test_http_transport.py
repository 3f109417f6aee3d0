"""HTTP transport specifics (janus-api.md §4 and §6): long-poll shapes and
timing, keepalive/302 paths, CORS, body limits, bad paths and methods, static
files, HTTPS, JSON styles and shutdown with parked requests.

Tests not marked cardea_only also pass against Janus 1.1.2
(CARDEA_TEST_TARGET=janus), which is how their assumptions were checked.
"""

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import time

import aiohttp
import pytest

from apiclient import HttpApi, WsApi, expect_error, open_admin, open_api
from gateway import REPO, free_port

KEEPALIVE = {"janus": "keepalive"}


# ---- helpers -------------------------------------------------------------------

async def raw_http(port, data, timeout=5, ssl_ctx=None, check_close=False):
	"""Sends raw bytes and reads one response. Returns (status, headers (lower-
	case keys), body bytes, closed) where `closed` (only with check_close,
	which costs up to a second) says whether the server closed the connection
	after the response. A HEAD request gets no body."""
	reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
	try:
		try:
			writer.write(data)
			await writer.drain()
		except (ConnectionError, OSError):
			pass
		head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
		lines = head.decode("latin-1").split("\r\n")
		status = int(lines[0].split()[1])
		headers = {}
		for line in lines[1:]:
			if ":" in line:
				k, v = line.split(":", 1)
				headers[k.strip().lower()] = v.strip()
		body = b""
		n = int(headers.get("content-length", "0"))
		if n and not data.startswith(b"HEAD "):
			body = await asyncio.wait_for(reader.readexactly(n), timeout)
		if not check_close:
			return status, headers, body, None
		try:
			rest = await asyncio.wait_for(reader.read(1), 1.0)
			closed = rest == b""
		except asyncio.TimeoutError:
			closed = False
		except (ConnectionError, OSError):
			closed = True
		return status, headers, body, closed
	finally:
		writer.close()


def request_bytes(method, path, body=b"", headers=None):
	"""A raw HTTP/1.1 request; a header given as None is left out (e.g. no
	Content-Length for a chunked body)."""
	h = {"Host": "127.0.0.1", **(headers or {})}
	if body or method == "POST":
		h.setdefault("Content-Length", str(len(body)))
	head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()
		if v is not None) + "\r\n"
	return head.encode() + body


async def new_session(api, gw, attach=True):
	sid = await api.create()
	hid = await api.attach(sid, gw.plugin) if attach else None
	return sid, hid


async def fire_events(api, gw, sid, hid, n):
	"""Makes the plugin emit `n` session events (the test plugin's "events"
	request, or n echotest messages against Janus). Returns their count."""
	if gw.plugin == "janus.plugin.echotest":
		for _ in range(n):
			r = await api.message(sid, hid, {"audio": True})
			assert r["janus"] == "ack", r
	else:
		r = await api.message(sid, hid, {"request": "events", "count": n})
		assert r["janus"] == "ack", r
	return n


async def drain(api, sid, want, maxev=10, timeout=5):
	"""Polls until `want` non-keepalive events were seen; returns them."""
	got = []
	deadline = time.monotonic() + timeout
	while len(got) < want and time.monotonic() < deadline:
		status, body = await api.poll(sid, maxev=maxev, timeout=5)
		assert status == 200, (status, body)
		got.extend(m for m in (body if isinstance(body, list) else [body]) if m != KEEPALIVE)
	return got


@pytest.fixture(scope="module")
def fast_gw(module_gateway_factory):
	"""Long polls answer a keepalive after 1 s (Cardea's long_poll_timeout)."""
	return module_gateway_factory(http={"general": {"long_poll_timeout": 1}})


# ---- long poll -------------------------------------------------------------------

async def test_poll_shapes(gateway):
	"""maxev absent/0/1 -> one object; maxev > 1 -> always an array (§4.2)."""
	gw = gateway
	async with open_api(gw, "http") as api:
		sid, hid = await new_session(api, gw)
		await fire_events(api, gw, sid, hid, 5)
		await asyncio.sleep(0.3)  # let all five be queued
		status, body = await api.poll(sid, maxev=3)
		assert status == 200 and isinstance(body, list) and len(body) == 3, body
		assert all(m["janus"] == "event" and m["session_id"] == sid for m in body), body
		status, body = await api.poll(sid)               # maxev absent
		assert status == 200 and isinstance(body, dict) and body["janus"] == "event", body
		status, body = await api.poll(sid, maxev=0)      # < 1 counts as 1
		assert status == 200 and isinstance(body, dict) and body["janus"] == "event", body
		# nothing queued now: park, then be woken by the next event
		poll = asyncio.ensure_future(api.poll(sid, maxev=5))
		await asyncio.sleep(0.3)
		assert not poll.done()
		await fire_events(api, gw, sid, hid, 1)
		status, body = await asyncio.wait_for(poll, 5)
		assert status == 200 and isinstance(body, list) and body and body[0]["janus"] == "event", body


@pytest.mark.cardea_only
async def test_poll_keepalive_after_timeout(fast_gw):
	async with open_api(fast_gw, "http") as api:
		sid = await api.create()
		t0 = time.monotonic()
		status, body = await api.poll(sid)
		took = time.monotonic() - t0
		assert status == 200 and body == KEEPALIVE, body
		assert 0.8 < took < 3, took
		status, body = await api.poll(sid, maxev=10)
		assert status == 200 and body == [KEEPALIVE], body


@pytest.mark.cardea_only
async def test_every_parked_poll_is_completed(fast_gw):
	"""One event, two parked polls: the first gets it, the second a keepalive
	(not left waiting for the timeout)."""
	gw = fast_gw
	async with open_api(gw, "http") as api, open_api(gw, "http") as api2:
		sid, hid = await new_session(api, gw)
		p1 = asyncio.ensure_future(api.poll(sid, maxev=5))
		await asyncio.sleep(0.2)
		p2 = asyncio.ensure_future(api2.poll(sid))
		await asyncio.sleep(0.2)
		t0 = time.monotonic()
		r = await api.message(sid, hid, {"request": "echo"})
		assert r["janus"] == "ack"
		(s1, b1), (s2, b2) = await asyncio.wait_for(asyncio.gather(p1, p2), 5)
		assert time.monotonic() - t0 < 0.8
		assert s1 == 200 and isinstance(b1, list) and b1[0]["transaction"] == r["transaction"], b1
		assert s2 == 200 and b2 == KEEPALIVE, b2


async def test_poll_unknown_and_non_http_sessions(gateway):
	gw = gateway
	async with open_api(gw, "http") as api, open_api(gw, "ws") as ws:
		status, _ = await api.poll(123456789, timeout=5)
		assert status == 404
		wsid = await ws.create()          # lives on the WebSocket: no HTTP queue
		status, _ = await api.poll(wsid, timeout=5)
		assert status == 404
		await ws.destroy(wsid)


@pytest.mark.cardea_only
async def test_claim_moves_the_queue(fast_gw):
	"""A WS session claimed over HTTP gets a long-poll queue; claimed back over
	WS, the HTTP queue ends (parked poll answered at once, then 404)."""
	gw = fast_gw
	async with open_api(gw, "http") as api, open_api(gw, "ws") as ws:
		sid = await ws.create()
		hid = await ws.attach(sid, gw.plugin)
		r = await api.request({"janus": "claim", "session_id": sid})
		assert r["janus"] == "success" and r["session_id"] == sid, r
		r = await api.message(sid, hid, {"request": "echo"})
		ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]})
		assert ev["sender"] == hid
		poll = asyncio.ensure_future(api.poll(sid, maxev=1))
		await asyncio.sleep(0.2)
		r = await ws.request({"janus": "claim", "session_id": sid})
		assert r["janus"] == "success", r
		status, body = await asyncio.wait_for(poll, 0.8)
		assert status == 200 and body == KEEPALIVE, body
		status, _ = await api.poll(sid, timeout=5)
		assert status == 404
		await ws.destroy(sid)


@pytest.mark.cardea_only
async def test_destroy_completes_parked_polls(gateway):
	gw = gateway
	async with open_api(gw, "http") as api, open_api(gw, "http") as api2:
		sid, _ = await new_session(api, gw)
		p1 = asyncio.ensure_future(api.poll(sid, maxev=1))
		p2 = asyncio.ensure_future(api2.poll(sid, maxev=5))
		await asyncio.sleep(0.3)
		await api.destroy(sid)
		(s1, b1), (s2, b2) = await asyncio.wait_for(asyncio.gather(p1, p2), 2)
		assert (s1, b1) == (200, KEEPALIVE), b1
		assert (s2, b2) == (200, [KEEPALIVE]), b2
		status, _ = await api.poll(sid, timeout=5)
		assert status == 404


@pytest.mark.cardea_only
@pytest.mark.timeout_s(30)
async def test_timeout_event_reaches_parked_and_later_polls(gateway_factory):
	"""The `timeout` event is queued before the session ends: a parked poll
	gets it, and so does a poll that comes after the session is gone."""
	gw = gateway_factory(session_timeout=2, http={"general": {"long_poll_timeout": 20}})
	async with open_api(gw, "http") as api:
		a = await api.create()
		b = await api.create()
		status, body = await api.poll(a, maxev=5, timeout=15)    # parked until the timeout
		assert status == 200 and body == [{"janus": "timeout", "session_id": a}], body
		await asyncio.sleep(1.0)                                   # b is gone by now too
		status, body = await api.poll(b, timeout=5)
		assert status == 200 and body == {"janus": "timeout", "session_id": b}, body
		for sid in (a, b):
			status, _ = await api.poll(sid, timeout=5)
			assert status == 404


async def test_handle_get_is_keepalive_and_redirect(gateway):
	gw = gateway
	async with open_api(gw, "http") as api:
		sid, hid = await new_session(api, gw)
		status, headers, body, _ = await raw_http(gw.http_port, request_bytes("GET", f"/janus/{sid}/{hid}"))
		assert status == 302 and headers["location"] == f"/janus/{sid}", headers
		await api.destroy(sid)


async def test_get_info(gateway):
	gw = gateway
	async with open_api(gw, "http") as api:
		status, body = await api.get(gw.http_url + "/info")
		assert status == 200 and body["janus"] == "server_info" and body["transaction"], body
		status, body = await api.get(gw.admin_url + "/info")
		assert status == 200 and body["janus"] == "server_info", body


async def test_long_poll_many_sessions(gateway):
	"""200 parked polls on 200 sessions, woken together by their events."""
	gw = gateway
	async with open_api(gw, "http", limit=300) as api:
		ids = await asyncio.gather(*(new_session(api, gw) for _ in range(200)))
		polls = [asyncio.ensure_future(api.poll(sid, maxev=5, timeout=20)) for sid, _ in ids]
		await asyncio.sleep(0.5)
		assert not any(p.done() for p in polls)
		await asyncio.gather(*(fire_events(api, gw, sid, hid, 1) for sid, hid in ids))
		results = await asyncio.wait_for(asyncio.gather(*polls), 20)
		for (sid, _), (status, body) in zip(ids, results):
			assert status == 200 and isinstance(body, list), body
			assert body[0]["janus"] == "event" and body[0]["session_id"] == sid, body
		await asyncio.gather(*(api.destroy(sid) for sid, _ in ids))


# ---- paths and methods -------------------------------------------------------------

@pytest.mark.cardea_only     # Janus 1.1.2 hangs up without a reply on some of these
async def test_paths_and_methods(gateway):
	gw = gateway
	p = gw.http_port
	async with open_api(gw, "http") as api:
		sid = await api.create()
		cases = [
			("GET", "/janus", 404),
			("GET", "/janus/abc", 404),
			("GET", "/janus/0", 404),
			("GET", "/janus/1/2/3", 404),
			("POST", "/janus/1/2/3", 404),
			("GET", "/elsewhere", 404),
			("POST", "/janus/info", 400),
			("OPTIONS", "/janus", 200),
			("OPTIONS", f"/janus/{sid}", 200),
		]
		for method, path, want in cases:
			body = b"{}" if method == "POST" else b""
			status, _, data, _ = await raw_http(p, request_bytes(method, path, body))
			assert status == want, (method, path, status, data)
		for method in ("PUT", "DELETE", "PATCH"):
			status, headers, data, _ = await raw_http(p, request_bytes(method, f"/janus/{sid}", b"{}",
				{"Content-Length": "2"}))
			assert status == 200 and headers["content-type"].startswith("application/json")
			expect_error(json.loads(data), 450, f"Unsupported method {method}")
		# a trailing slash is the same path
		status, body = await api.post(gw.http_url + "/", {"janus": "ping", "transaction": "x"})
		assert status == 200 and body["janus"] == "pong", body
		await api.destroy(sid)


async def test_admin_paths(gateway):
	gw = gateway
	p = gw.admin_http_port
	status, _, data, _ = await raw_http(p, request_bytes("POST", "/admin/info", b"{}"))
	assert status == 200
	expect_error(json.loads(data), 450)
	status, _, data, _ = await raw_http(p, request_bytes("GET", "/admin"))
	assert status == 200
	expect_error(json.loads(data), 454)
	status, _, _, _ = await raw_http(p, request_bytes("POST", "/janus", b"{}"))
	assert status == 404
	# and the public port has no admin path
	status, _, _, _ = await raw_http(gw.http_port, request_bytes("POST", "/admin", b"{}"))
	assert status == 404


@pytest.mark.cardea_only     # Janus 1.1.2 hangs up without a reply
async def test_empty_post(gateway):
	async with open_api(gateway, "http") as api:
		status, body = await api.post(gateway.http_url, b"")
		assert status == 200
		expect_error(body, 454)


# ---- CORS --------------------------------------------------------------------------

async def test_cors_default(gateway):
	gw = gateway
	status, h, _, _ = await raw_http(gw.http_port, request_bytes("OPTIONS", "/janus", headers={
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "content-type, x-extra"}))
	assert status == 200
	assert h["access-control-allow-origin"] == "*"
	assert h["access-control-max-age"] == "86400"
	assert h["access-control-allow-methods"] == "POST"
	assert h["access-control-allow-headers"] == "content-type, x-extra"
	assert "access-control-allow-credentials" not in h
	status, h, _, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus",
		b'{"janus":"ping","transaction":"c"}', {"Origin": "https://app.example"}))
	assert status == 200 and h["access-control-allow-origin"] == "*"


@pytest.mark.cardea_only
async def test_cors_allow_origin_and_enforce(gateway_factory):
	gw = gateway_factory(http={"cors": {"allow_origin": "https://app.example", "enforce_cors": True}})
	ping = b'{"janus":"ping","transaction":"c"}'
	status, h, body, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus", ping,
		{"Origin": "https://app.example"}))
	assert status == 200 and json.loads(body)["janus"] == "pong"
	assert h["access-control-allow-origin"] == "https://app.example"
	assert h["access-control-allow-credentials"] == "true"
	assert h["vary"] == "Origin"
	status, h, body, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus", ping,
		{"Origin": "https://evil.example"}))
	assert status == 403 and body == b""
	# non-browser clients send no Origin
	status, _, body, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus", ping))
	assert status == 200 and json.loads(body)["janus"] == "pong"


# ---- body limit ------------------------------------------------------------------

@pytest.mark.cardea_only
async def test_body_over_limit(gateway):
	"""2 MiB against the default 1 MiB limit: a JSON error naming the limit,
	the connection closed, and the daemon keeps serving."""
	gw = gateway
	big = b'{"janus":"ping","transaction":"' + b"x" * (2 * 1024 * 1024) + b'"}'
	status, h, body, closed = await raw_http(gw.http_port, request_bytes("POST", "/janus", big), check_close=True)
	assert status == 200 and h["content-type"].startswith("application/json")
	reason = expect_error(json.loads(body), 454)
	assert "1048576" in reason, reason
	assert closed
	# the same through a client library
	async with open_api(gw, "http") as api:
		status, body = await api.post(gw.http_url, big)
		assert status == 200
		expect_error(body, 454)
		assert (await api.request({"janus": "ping"}))["janus"] == "pong"


@pytest.mark.cardea_only
async def test_body_limit_chunked_and_exact(gateway_factory):
	gw = gateway_factory(http={"general": {"max_body_size": 4096}})
	# exactly at the limit: accepted
	msg = b'{"janus":"ping","transaction":"e"}'
	exact = msg + b" " * (4096 - len(msg))
	status, _, body, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus", exact))
	assert status == 200 and json.loads(body)["janus"] == "pong"
	status, _, body, closed = await raw_http(gw.http_port, request_bytes("POST", "/janus", exact + b" "),
		check_close=True)
	assert "4096" in expect_error(json.loads(body), 454) and closed
	# chunked, no Content-Length: read (and dropped) to the end, then refused
	chunk = b"y" * 1000
	chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6)) + b"0\r\n\r\n"
	status, _, body, closed = await raw_http(gw.http_port, request_bytes("POST", "/janus", chunked,
		{"Transfer-Encoding": "chunked", "Content-Length": None}), check_close=True)
	assert status == 200 and "4096" in expect_error(json.loads(body), 454) and closed
	# a client that waits for "100 Continue" is refused before it sends anything
	status, _, body, closed = await raw_http(gw.http_port, request_bytes("POST", "/janus", b"",
		{"Content-Length": "50000", "Expect": "100-continue"}), check_close=True)
	assert status == 200 and "4096" in expect_error(json.loads(body), 454) and closed
	async with open_api(gw, "http") as api:
		assert (await api.request({"janus": "ping"}))["janus"] == "pong"


# ---- static files ------------------------------------------------------------------

STATIC_FILES = {
	"index.html": ("<html>root</html>", "text/html"),
	"app.js": ("console.log(1)", "text/javascript"),
	"style.css": ("body{}", "text/css"),
	"pic.png": ("\x89PNG", "image/png"),
	"logo.svg": ("<svg/>", "image/svg+xml"),
	"data.json": ("{}", "application/json"),
	"sub/index.html": ("<html>sub</html>", "text/html"),
}


def make_static(gw, path="/"):
	root = gw.dir / "www"
	for name, (text, _) in STATIC_FILES.items():
		f = root / name
		f.parent.mkdir(parents=True, exist_ok=True)
		f.write_bytes(text.encode("latin-1"))
	(root / ".secret").write_text("hidden")
	(root / "escape.txt").symlink_to(gw.dir / "cardea.jcfg")
	(root / "janus").mkdir()                       # must not shadow the API
	(root / "janus" / "info").write_text("not the API")
	gw.http_cfg["static"] = {"enabled": True, "folder": str(root), "path": path}
	return root


@pytest.mark.cardea_only
async def test_static_files(gateway_factory):
	gw = gateway_factory(start=False)
	make_static(gw)
	gw.start()
	p = gw.http_port
	for name, (text, ctype) in STATIC_FILES.items():
		status, h, body, _ = await raw_http(p, request_bytes("GET", "/" + name))
		assert status == 200 and body.decode("latin-1") == text, (name, status)
		assert h["content-type"].startswith(ctype), (name, h)
	for path, want in [("/", b"<html>root</html>"), ("/sub/", b"<html>sub</html>")]:
		status, _, body, _ = await raw_http(p, request_bytes("GET", path))
		assert status == 200 and body == want, (path, status)
	status, h, _, _ = await raw_http(p, request_bytes("GET", "/sub"))
	assert status == 301 and h["location"] == "/sub/"
	for path in ["/missing.js", "/.secret", "/../cardea.jcfg", "/%2e%2e/cardea.jcfg", "/sub/../../cardea.jcfg",
			"/escape.txt", "/sub/..%2f..%2fcardea.jcfg", "/..%5ccardea.jcfg"]:
		status, _, body, _ = await raw_http(p, request_bytes("GET", path))
		assert status == 404, (path, status, body[:100])
	# the API wins over a file at the same path, and the admin port serves no files
	status, _, body, _ = await raw_http(p, request_bytes("GET", "/janus/info"))
	assert status == 200 and json.loads(body)["janus"] == "server_info"
	status, _, _, _ = await raw_http(gw.admin_http_port, request_bytes("GET", "/index.html"))
	assert status == 404
	status, h, body, _ = await raw_http(p, request_bytes("HEAD", "/app.js"))
	assert status == 200 and h["content-length"] == str(len("console.log(1)")) and body == b""


@pytest.mark.cardea_only
async def test_static_under_a_path(gateway_factory):
	gw = gateway_factory(start=False)
	make_static(gw, path="/demo/")
	gw.start()
	p = gw.http_port
	status, h, _, _ = await raw_http(p, request_bytes("GET", "/demo"))
	assert status == 301 and h["location"] == "/demo/"
	status, _, body, _ = await raw_http(p, request_bytes("GET", "/demo/"))
	assert status == 200 and body == b"<html>root</html>"
	status, _, body, _ = await raw_http(p, request_bytes("GET", "/demo/app.js"))
	assert status == 200 and body == b"console.log(1)"
	for path in ["/", "/app.js", "/demox/app.js"]:
		status, _, _, _ = await raw_http(p, request_bytes("GET", path))
		assert status == 404, path


# ---- HTTPS, JSON styles, config ------------------------------------------------------

def make_cert(folder, password=None):
	key, cert = folder / "key.pem", folder / "cert.pem"
	cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(cert),
		"-days", "1", "-subj", "/CN=localhost"]
	cmd += ["-passout", f"pass:{password}"] if password else ["-nodes"]
	subprocess.run(cmd, check=True, capture_output=True)
	return cert, key


@pytest.mark.cardea_only
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
@pytest.mark.parametrize("password", [None, "s3cret"], ids=["plain-key", "encrypted-key"])
async def test_https_listeners(gateway_factory, password):
	gw = gateway_factory(start=False)
	cert, key = make_cert(gw.dir, password)
	sp, asp = free_port(), free_port()
	gw.http_cfg["general"].update({"https": True, "secure_port": sp, "long_poll_timeout": 1})
	gw.http_cfg["admin"].update({"admin_https": True, "admin_secure_port": asp})
	gw.http_cfg["certificates"] = {"cert_pem": str(cert), "cert_key": str(key), "cert_pwd": password}
	gw.start()
	ctx = ssl.create_default_context()
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	async with aiohttp.ClientSession() as http:
		async with http.get(f"https://127.0.0.1:{sp}/janus/info", ssl=ctx) as r:
			assert r.status == 200 and (await r.json())["janus"] == "server_info"
		async with http.post(f"https://127.0.0.1:{sp}/janus", json={"janus": "create", "transaction": "c"},
				ssl=ctx) as r:
			sid = (await r.json())["data"]["id"]
		async with http.get(f"https://127.0.0.1:{sp}/janus/{sid}", params={"maxev": "2"}, ssl=ctx,
				timeout=aiohttp.ClientTimeout(total=10)) as r:
			assert r.status == 200 and await r.json() == [KEEPALIVE]
		async with http.post(f"https://127.0.0.1:{asp}/admin",
				json={"janus": "list_sessions", "transaction": "a", "admin_secret": gw.admin_secret}, ssl=ctx) as r:
			assert sid in (await r.json())["sessions"]


@pytest.mark.cardea_only
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_https_bad_key_refuses_start(gateway_factory):
	gw = gateway_factory(start=False)
	cert, key = make_cert(gw.dir, "right")
	gw.http_cfg["general"].update({"https": True, "secure_port": free_port()})
	gw.http_cfg["certificates"] = {"cert_pem": str(cert), "cert_key": str(key), "cert_pwd": "wrong"}
	gw.start(wait=False)
	assert gw.wait_exit(10) == 1, gw.log_tail(20)
	assert "cannot start the https listener" in gw.log_text()


@pytest.mark.cardea_only
@pytest.mark.parametrize("style", ["indented", "plain", "compact"])
async def test_json_styles(gateway_factory, style):
	gw = gateway_factory(http={"general": {"json": style}})
	status, _, body, _ = await raw_http(gw.http_port, request_bytes("POST", "/janus",
		b'{"janus":"ping","transaction":"j"}'))
	text = body.decode()
	assert json.loads(text) == {"janus": "pong", "transaction": "j"}
	# Janus's three styles are jansson's JSON_COMPACT, JSON_INDENT(3) and
	# JSON_INDENT(0) (one line, with spaces after separators).
	if style == "compact":
		assert text == '{"janus":"pong","transaction":"j"}', text
	elif style == "indented":
		assert text.startswith('{\n   "janus": "pong",'), text
	else:
		assert text == '{"janus": "pong", "transaction": "j"}', text


@pytest.mark.cardea_only
@pytest.mark.parametrize("section,key,value", [
	("general", "json", "fancy"),
	("general", "max_body_size", 12),
	("general", "base_path", "janus"),
	("admin", "admin_ip", "not-an-ip"),
	("general", "https", True),          # no certificate configured
], ids=["json", "body-size", "base-path", "admin-ip", "https-no-cert"])
def test_bad_config_values(gateway_factory, section, key, value):
	gw = gateway_factory(start=False, http={section: {key: value}})
	gw.start(wait=False)
	assert gw.wait_exit(10) == 1, gw.log_tail(20)
	log = gw.log_text()
	assert "cardea.transport.http.jcfg:" in log, log[-2000:]
	want = "cert_pem" if key == "https" else f"{section}.{key}"
	assert want in log, log[-2000:]


@pytest.mark.cardea_only
def test_sample_config_runs(gateway_factory):
	"""conf/cardea.transport.http.jcfg.sample works as shipped (only the ports
	and the bind address changed): static demo pages on, admin on loopback."""
	sample = (REPO / "conf" / "cardea.transport.http.jcfg.sample").read_text()
	gw = gateway_factory(start=False)
	text = sample.replace("port = 8088", f"port = {gw.http_port}")
	text = text.replace("admin_port = 7088", f"admin_port = {gw.admin_http_port}")
	text = text.replace('#ip = "192.0.2.10"', 'ip = "127.0.0.1"')
	assert text.count(str(gw.http_port)) == 1 and text.count(str(gw.admin_http_port)) == 1
	gw.files["cardea.transport.http.jcfg"] = text
	gw.start()
	log = gw.log_text()
	assert "unknown" not in log.lower(), log
	assert "static serving disabled" not in log, log
	import urllib.request
	with urllib.request.urlopen(f"http://127.0.0.1:{gw.http_port}/", timeout=5) as r:
		assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")


@pytest.mark.cardea_only
async def test_thread_pool(gateway_factory):
	gw = gateway_factory(http={"general": {"threads": 4, "long_poll_timeout": 1}})
	async with open_api(gw, "http", limit=100) as api:
		ids = await asyncio.gather(*(new_session(api, gw) for _ in range(40)))
		polls = [asyncio.ensure_future(api.poll(sid, maxev=2, timeout=10)) for sid, _ in ids]
		await asyncio.sleep(0.2)
		await asyncio.gather(*(fire_events(api, gw, sid, hid, 1) for sid, hid in ids))
		for (sid, _), (status, body) in zip(ids, await asyncio.gather(*polls)):
			assert status == 200 and body[0]["session_id"] == sid, body
		status, body = await api.poll(ids[0][0])
		assert (status, body) == (200, KEEPALIVE)


@pytest.mark.cardea_only
async def test_ipv6_bind(gateway_factory):
	import socket
	try:
		s = socket.socket(socket.AF_INET6)
		s.bind(("::1", 0))
		s.close()
	except OSError:
		pytest.skip("no IPv6 loopback")
	gw = gateway_factory(start=False, http={"general": {"ip": "::1"}})
	gw.start(wait=False)      # wait_ready() would look on 127.0.0.1
	deadline = time.monotonic() + 20
	while time.monotonic() < deadline:
		try:
			reader, writer = await asyncio.open_connection("::1", gw.http_port)
		except OSError:
			await asyncio.sleep(0.1)
			continue
		writer.write(request_bytes("GET", "/janus/info"))
		head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
		writer.close()
		assert head.startswith(b"HTTP/1.1 200"), head
		return
	pytest.fail("no answer on [::1]:%d\n%s" % (gw.http_port, gw.log_tail(20)))


# ---- robustness ----------------------------------------------------------------------

@pytest.mark.cardea_only
async def test_client_gone_before_the_answer(gateway):
	"""The client hangs up while the core is still working on its request:
	the late answer is dropped and everything keeps working."""
	gw = gateway
	async with open_api(gw, "http") as api:
		sid, hid = await new_session(api, gw)
		for _ in range(5):
			with pytest.raises(asyncio.TimeoutError):
				await api.post(api.path(sid, hid), {"janus": "message", "transaction": "s",
					"body": {"request": "sleep", "ms": 600}}, timeout=0.1)
		await asyncio.sleep(1.0)
		r = await api.message(sid, hid, {"request": "ping"})
		assert r["janus"] == "success", r
		await api.destroy(sid)


@pytest.mark.cardea_only
async def test_query_transport(gateway):
	async with open_admin(gateway, "http") as admin:
		r = await admin.ok({"janus": "query_transport", "transport": "cardea.transport.http", "request": {}})
		res = r["response"]
		assert res["listeners"]["http"]["port"] == gateway.http_port
		assert res["listeners"]["admin_http"]["admin"] is True
		assert "parked_polls" in res


@pytest.mark.cardea_only
async def test_stop_with_parked_requests_is_quick(gateway_factory):
	gw = gateway_factory()
	api = HttpApi(gw.http_url)
	try:
		sid, hid = await new_session(api, gw)
		polls = [asyncio.ensure_future(api.poll(sid, maxev=5, timeout=10)) for _ in range(3)]
		slow = asyncio.ensure_future(api.post(api.path(sid, hid), {"janus": "message", "transaction": "z",
			"body": {"request": "sleep", "ms": 3000}}, timeout=10))
		await asyncio.sleep(0.3)
		rc, took = await asyncio.get_running_loop().run_in_executor(None, gw.stop)
		assert rc == 0 and took < 4.5, (rc, took)
		for f in polls + [slow]:
			try:
				await asyncio.wait_for(f, 2)
			except asyncio.TimeoutError:
				pytest.fail("a parked request was left hanging after the daemon stopped")
			except Exception:
				pass          # cut by the shutdown: fine
		assert "[http] stopped" in gw.log_text()
	finally:
		await api.close()


@pytest.mark.cardea_only
async def test_stop_while_clients_keep_polling(gateway_factory):
	"""Long-poll clients answered by the shutdown poll again at once on their
	kept-alive connections, some on WHIP/WHEP paths, until the listeners are
	gone: those late requests must not reach state already freed (this was a
	SIGSEGV in cardea_whip_matches)."""
	for _ in range(4):
		gw = gateway_factory()
		api = HttpApi(gw.http_url)
		stop = False
		try:
			sid, _ = await new_session(api, gw)

			async def hammer(whip):
				async with aiohttp.ClientSession() as s:
					while not stop:
						url = f"{gw.http_url.rsplit('/janus', 1)[0]}/whep/demo" if whip else \
							f"{gw.http_url}/{sid}?maxev=1"
						try:
							async with s.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
								await r.read()
						except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
							await asyncio.sleep(0.005)

			tasks = [asyncio.ensure_future(hammer(i % 2 == 1)) for i in range(6)]
			await asyncio.sleep(0.3)
			rc, _ = await asyncio.get_running_loop().run_in_executor(None, gw.stop)
			stop = True
			await asyncio.gather(*tasks)
			assert rc == 0, (rc, gw.log_tail())
		finally:
			stop = True
			await api.close()
