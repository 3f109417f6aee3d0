"""Small asyncio clients for the Janus API and the Admin API, over HTTP
(aiohttp) and WebSocket (websockets 10.x), with one interface so a test can
run unchanged on both transports.

	async with open_api(gw, "ws") as api:          # or "http"
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin)
		r = await api.request({"janus": "message", "session_id": sid,
			"handle_id": hid, "body": {"request": "ping"}})
		ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]})

request() adds a fresh `transaction` unless the message has one (pass
transaction=None to send none) and returns the direct reply: the first
`success`/`error`/`ack`/`server_info`/`pong` carrying that transaction, or,
for requests without one, the next such reply without a transaction. Over
HTTP the ids go into the URL path (/janus/{s}/{h}) and are removed from the
body, as janus.js does; keep_ids=True leaves them in the body too.

event() waits for a session event matching a dict (subset match; nested
dicts match recursively) or a predicate, and removes it from the inbox.
Over HTTP it long-polls GET /janus/{s}?maxev=10. Events that did not match
stay queued for later calls, so waiting for event B does not lose event A.
"""

import asyncio
import itertools
import json
import time

import aiohttp
import websockets

DIRECT_REPLIES = ("success", "error", "ack", "server_info", "pong")
_tx = itertools.count(1)


def new_tx(prefix="t"):
	return f"{prefix}{next(_tx)}-{int(time.monotonic() * 1000) % 100000}"


def matches(msg, want):
	if callable(want):
		return want(msg)
	if want is None:
		return True
	for k, v in want.items():
		if isinstance(v, dict):
			if not isinstance(msg.get(k), dict) or not matches(msg[k], v):
				return False
		elif k not in msg or msg[k] != v or type(msg[k]) is not type(v):
			return False
	return True


def expect_error(reply, code, reason=None):
	"""Asserts `reply` is a Janus error with `code` (and the exact reason
	when given); returns the reason."""
	assert reply.get("janus") == "error", f"expected error {code}, got {reply}"
	err = reply.get("error")
	assert isinstance(err, dict), reply
	assert err.get("code") == code and type(err.get("code")) is int, f"expected error {code}, got {reply}"
	assert isinstance(err.get("reason"), str) and err["reason"], reply
	if reason is not None:
		assert err["reason"] == reason, f"expected reason {reason!r}, got {err['reason']!r}"
	return err["reason"]


def is_core_id(v):
	return type(v) is int and 0 < v < 2 ** 53


class ApiBase:
	kind = None

	async def create(self, **extra):
		r = await self.request({"janus": "create", **extra})
		assert r["janus"] == "success", r
		assert is_core_id(r["data"]["id"]), r
		return r["data"]["id"]

	async def attach(self, sid, plugin, **extra):
		r = await self.request({"janus": "attach", "session_id": sid, "plugin": plugin, **extra})
		assert r["janus"] == "success", r
		assert is_core_id(r["data"]["id"]), r
		return r["data"]["id"]

	async def message(self, sid, hid, body, jsep=None, **extra):
		msg = {"janus": "message", "session_id": sid, "handle_id": hid, "body": body, **extra}
		if jsep is not None:
			msg["jsep"] = jsep
		return await self.request(msg)

	async def destroy(self, sid):
		r = await self.request({"janus": "destroy", "session_id": sid})
		assert r["janus"] == "success", r
		return r

	async def ping(self, timeout=5):
		r = await self.request({"janus": "ping"}, timeout=timeout)
		assert r["janus"] == "pong", r
		return r


class WsApi(ApiBase):
	"""One WebSocket connection. Everything received is kept in an inbox;
	request() and event() take their matches out of it."""
	kind = "ws"

	def __init__(self, ws):
		self.ws = ws
		self.inbox = []
		self._cond = asyncio.Condition()
		self.closed = asyncio.Event()
		self.close_code = None
		self.raw = []  # every frame as text, for tests that inspect the wire
		self._reader = asyncio.ensure_future(self._read())

	@classmethod
	async def connect(cls, url, protocol="janus-protocol", **kw):
		ws = await websockets.connect(url, subprotocols=[protocol] if protocol else None,
			max_size=16 * 2 ** 20, open_timeout=5, close_timeout=2, ping_interval=None, **kw)
		return cls(ws)

	async def _read(self):
		try:
			async for frame in self.ws:
				self.raw.append(frame)
				msg = json.loads(frame)
				async with self._cond:
					self.inbox.append(msg)
					self._cond.notify_all()
		except websockets.ConnectionClosed:
			pass
		finally:
			self.close_code = self.ws.close_code
			self.closed.set()
			async with self._cond:
				self._cond.notify_all()

	async def take(self, want, timeout=5):
		"""Removes and returns the first inbox message matching `want`."""
		deadline = asyncio.get_running_loop().time() + timeout
		async with self._cond:
			while True:
				for i, m in enumerate(self.inbox):
					if matches(m, want):
						return self.inbox.pop(i)
				left = deadline - asyncio.get_running_loop().time()
				if left <= 0:
					raise TimeoutError(f"no message matching {want} within {timeout}s; inbox: {self.inbox}; "
						f"closed: {self.closed.is_set()} ({self.close_code})")
				if self.closed.is_set():
					raise ConnectionError(f"WebSocket closed ({self.close_code}) while waiting for {want}; "
						f"inbox: {self.inbox}")
				try:
					await asyncio.wait_for(self._cond.wait(), left)
				except asyncio.TimeoutError:
					pass

	async def send(self, msg):
		await self.ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))

	async def request(self, msg, timeout=5, transaction=...):
		msg = dict(msg)
		if transaction is not ...:
			if transaction is None:
				msg.pop("transaction", None)
			else:
				msg["transaction"] = transaction
		elif "transaction" not in msg:
			msg["transaction"] = new_tx()
		await self.send(msg)
		tx = msg.get("transaction")
		# Replies to requests rejected before their transaction was read
		# (validation step 2) carry none; on this connection only such a
		# reply can lack it, since requests are sent one at a time.
		return await self.take(lambda m: m.get("janus") in DIRECT_REPLIES
			and ("transaction" not in m or (isinstance(tx, str) and m["transaction"] == tx)), timeout)

	async def request_raw(self, text, timeout=5):
		"""Sends a frame as-is; returns the next reply that has no transaction."""
		await self.send(text)
		return await self.take(lambda m: "transaction" not in m and m.get("janus") in DIRECT_REPLIES, timeout)

	async def event(self, sid, want=None, timeout=5):
		def pred(m):
			return m.get("session_id") == sid and m.get("janus") not in DIRECT_REPLIES and matches(m, want)
		return await self.take(pred, timeout)

	def pending(self, sid=None):
		return [m for m in self.inbox if sid is None or m.get("session_id") == sid]

	async def close(self):
		await self.ws.close()
		self._reader.cancel()
		try:
			await self._reader
		except (asyncio.CancelledError, Exception):
			pass


class HttpApi(ApiBase):
	"""The REST transport. Events are fetched by long poll on demand."""
	kind = "http"

	def __init__(self, base_url, http=None, limit=100):
		self.base = base_url.rstrip("/")
		self.http = http or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))
		self.events_buf = {}

	def path(self, sid=None, hid=None):
		p = self.base
		if sid is not None:
			p += f"/{sid}"
			if hid is not None:
				p += f"/{hid}"
		return p

	async def post(self, url, payload, timeout=10):
		"""POSTs a dict (as JSON), str or bytes. Returns (status, body): body
		is the decoded JSON, or the text when it is not JSON."""
		data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
		async with self.http.post(url, data=data, headers={"Content-Type": "application/json"},
				timeout=aiohttp.ClientTimeout(total=timeout)) as r:
			text = await r.text()
			try:
				return r.status, json.loads(text)
			except ValueError:
				return r.status, text

	async def get(self, url, params=None, timeout=10, allow_redirects=True):
		async with self.http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=timeout),
				allow_redirects=allow_redirects) as r:
			text = await r.text()
			try:
				return r.status, json.loads(text)
			except ValueError:
				return r.status, text

	async def request(self, msg, timeout=10, transaction=..., keep_ids=False):
		msg = dict(msg)
		if transaction is not ...:
			if transaction is None:
				msg.pop("transaction", None)
			else:
				msg["transaction"] = transaction
		elif "transaction" not in msg:
			msg["transaction"] = new_tx()
		sid, hid = msg.get("session_id"), msg.get("handle_id")
		# Only well-formed ids can go into a URL; anything else stays in the body.
		if not is_core_id(sid):
			sid = hid = None
		elif not is_core_id(hid):
			hid = None
		if not keep_ids:
			if sid is not None:
				msg.pop("session_id")
			if hid is not None:
				msg.pop("handle_id")
		status, body = await self.post(self.path(sid, hid), msg, timeout)
		assert status == 200, f"HTTP {status} for {msg}: {body!r}"
		assert isinstance(body, dict), body
		return body

	async def request_raw(self, text, timeout=10, sid=None, hid=None):
		status, body = await self.post(self.path(sid, hid), text, timeout)
		assert status == 200, f"HTTP {status}: {body!r}"
		assert isinstance(body, dict), body
		return body

	async def poll(self, sid, maxev=None, timeout=35, **params):
		q = dict(params)
		if maxev is not None:
			q["maxev"] = str(maxev)
		q.setdefault("rid", str(int(time.time() * 1000)))
		return await self.get(self.path(sid), q, timeout)

	async def event(self, sid, want=None, timeout=5):
		buf = self.events_buf.setdefault(sid, [])
		deadline = time.monotonic() + timeout
		while True:
			for i, m in enumerate(buf):
				if m.get("janus") != "keepalive" and matches(m, want):
					return buf.pop(i)
			left = deadline - time.monotonic()
			if left <= 0:
				raise TimeoutError(f"no event matching {want} within {timeout}s for session {sid}; got {buf}")
			try:
				status, body = await self.poll(sid, maxev=10, timeout=left)
			except asyncio.TimeoutError:
				continue
			assert status == 200, f"long poll of {sid}: HTTP {status} {body!r}"
			assert isinstance(body, list), f"maxev=10 must give an array, got {body!r}"
			buf.extend(m for m in body if m.get("janus") != "keepalive")

	async def close(self):
		await self.http.close()


class AdminApi:
	"""Admin API over HTTP (/admin[/s[/h]]) or WS (janus-admin-protocol).
	request() adds the gateway's admin_secret unless secret= says otherwise
	(secret=None: send none)."""

	def __init__(self, kind, gw, inner):
		self.kind = kind
		self.gw = gw
		self.inner = inner

	async def request(self, msg, secret=..., timeout=10):
		msg = dict(msg)
		if secret is ...:
			secret = self.gw.admin_secret
		if secret is not None:
			msg["admin_secret"] = secret
		if "transaction" not in msg:
			msg["transaction"] = new_tx("adm")
		if self.kind == "ws":
			await self.inner.send(msg)
			tx = msg["transaction"]
			return await self.inner.take(lambda m: m.get("transaction") == tx, timeout)
		sid, hid = msg.pop("session_id", None), msg.pop("handle_id", None)
		url = self.inner.base
		if sid is not None:
			url += f"/{sid}"
			if hid is not None:
				url += f"/{hid}"
		status, body = await self.inner.post(url, msg, timeout)
		assert status == 200, f"admin HTTP {status}: {body!r}"
		return body

	async def ok(self, msg, **kw):
		r = await self.request(msg, **kw)
		assert r.get("janus") == "success", f"admin {msg.get('janus')} failed: {r}"
		return r

	async def list_sessions(self):
		return (await self.ok({"janus": "list_sessions"}))["sessions"]

	async def close(self):
		await self.inner.close()


class _Opener:
	def __init__(self, factory):
		self.factory = factory
		self.obj = None

	async def __aenter__(self):
		self.obj = await self.factory()
		return self.obj

	async def __aexit__(self, *exc):
		await self.obj.close()


def open_api(gw, kind, **kw):
	"""async with open_api(gw, "http"|"ws") as api: ..."""
	async def make():
		if kind == "ws":
			return await WsApi.connect(gw.ws_url, **kw)
		if kind == "http":
			return HttpApi(gw.http_url, **kw)
		raise ValueError(kind)
	return _Opener(make)


def open_admin(gw, kind):
	"""async with open_admin(gw, "http"|"ws") as admin: ..."""
	async def make():
		if kind == "ws":
			return AdminApi("ws", gw, await WsApi.connect(gw.admin_ws_url, protocol="janus-admin-protocol"))
		if kind == "http":
			return AdminApi("http", gw, HttpApi(gw.admin_url))
		raise ValueError(kind)
	return _Opener(make)


def async_probe(gw, tag=1):
	"""A message body the attached plugin answers with ack + one event (used
	as a marker: the next event must be this one)."""
	if gw.plugin == "janus.plugin.echotest":
		return {"audio": True}
	return {"request": "echo", "marker": tag}


async def probe(api, sid, hid, gw, tag=1):
	"""Sends the async probe and waits for its event. Returns the list of
	session events that arrived before it (the caller asserts on those, e.g.
	"no hangup event"): events are delivered in order, so anything caused by
	an earlier request is in that list."""
	r = await api.message(sid, hid, async_probe(gw, tag))
	assert r["janus"] == "ack", r
	before = []
	while True:
		ev = await api.event(sid, None)
		if ev.get("janus") == "event" and ev.get("transaction") == r["transaction"]:
			return before
		before.append(ev)


def core_events(events):
	"""Drops plugin events (janus: event), keeping core ones (hangup, detached...)."""
	return [e for e in events if e.get("janus") != "event"]
