"""A stub auth/webhook backend for the auth_http and webhook tests.

Runs an aiohttp server on a free loopback port in its own thread (tests
use asyncio.run per test, so the server needs a loop of its own). Every
request is recorded (path, headers, raw body, parsed JSON, time); what
/auth answers is decided by `auth_handler` (a function of the parsed body
returning (status, body-or-text, delay_s)); /events answers `events_status`
(503 simulates a receiver that is down).
"""

import asyncio
import hashlib
import hmac
import json
import threading
import time

from aiohttp import web

import gateway as gwmod


def sign(secret, raw):
	return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class StubBackend:
	def __init__(self):
		self.port = gwmod.free_port()
		self.url = f"http://127.0.0.1:{self.port}"
		self.requests = []             # dicts: path, headers, raw, json, t
		self.lock = threading.Lock()
		self.auth_handler = lambda body: (200, {"allow": True}, 0)
		self.events_status = 200
		self._loop = None
		self._runner = None
		self._thread = None

	async def _auth(self, request):
		raw = await request.read()
		body = self._record(request, raw)
		status, answer, delay = self.auth_handler(body)
		if delay:
			await asyncio.sleep(delay)
		if isinstance(answer, (dict, list)):
			return web.json_response(answer, status=status)
		return web.Response(text=answer, status=status, content_type="application/json")

	async def _events(self, request):
		raw = await request.read()
		self._record(request, raw, accepted=self.events_status == 200)
		return web.Response(text="ok" if self.events_status == 200 else "down", status=self.events_status)

	def _record(self, request, raw, **extra):
		try:
			parsed = json.loads(raw)
		except ValueError:
			parsed = None
		entry = {"path": request.path, "headers": dict(request.headers), "raw": raw, "json": parsed,
			"t": time.monotonic(), **extra}
		with self.lock:
			self.requests.append(entry)
		return parsed

	def of(self, path, **match):
		with self.lock:
			return [r for r in self.requests if r["path"] == path and all(r.get(k) == v for k, v in match.items())]

	def clear(self):
		with self.lock:
			self.requests.clear()

	def start(self):
		ready = threading.Event()

		def run():
			self._loop = asyncio.new_event_loop()
			asyncio.set_event_loop(self._loop)
			app = web.Application()
			app.router.add_post("/auth", self._auth)
			app.router.add_post("/events", self._events)
			self._runner = web.AppRunner(app, access_log=None)
			self._loop.run_until_complete(self._runner.setup())
			site = web.TCPSite(self._runner, "127.0.0.1", self.port)
			self._loop.run_until_complete(site.start())
			ready.set()
			self._loop.run_forever()
			self._loop.run_until_complete(self._runner.cleanup())
			self._loop.close()

		self._thread = threading.Thread(target=run, daemon=True)
		self._thread.start()
		assert ready.wait(10), "stub backend did not start"
		return self

	def stop(self):
		if self._loop:
			self._loop.call_soon_threadsafe(self._loop.stop)
			self._thread.join(10)
			self._loop = None
