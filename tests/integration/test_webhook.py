"""The webhook events module (docs/events.md): typed core events, batched
and signed POSTs in order, retries while a receiver is down with nothing
lost up to queue_max, counted drops beyond, the type filter, and the Admin
API query_eventhandler."""

import asyncio
import json
import time

import pytest

from apiclient import open_admin, open_api
from stub_backend import StubBackend, sign

pytestmark = pytest.mark.cardea_only

SECRET = "hook-secret"
HANDLER = "cardea.events.webhook"


def hook_cfg(urls, **extra):
	general = {"enabled": True, "urls": urls, "secret": SECRET, "batch_max": 50, "batch_ms": 100,
		"queue_max": 1000, "retry_ms": 100, "retry_max_ms": 800, "timeout_ms": 1000}
	general.update(extra)
	lines = []
	for k, v in general.items():
		if isinstance(v, bool):
			v = "true" if v else "false"
		elif isinstance(v, (str, list)):
			v = json.dumps(v).replace('", "', '", "')
		lines.append(f"\t{k} = {v}")
	return "general: {\n" + "\n".join(lines) + "\n}\n"


@pytest.fixture
def receiver():
	b = StubBackend().start()
	yield b
	b.stop()


def delivered(receiver):
	"""Events of every accepted POST, in arrival order."""
	out = []
	for r in receiver.of("/events", accepted=True):
		out.extend(r["json"])
	return out


async def wait_for(pred, timeout=10):
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		if pred():
			return True
		await asyncio.sleep(0.05)
	return pred()


async def stats(gw):
	async with open_admin(gw, "http") as admin:
		r = await admin.ok({"janus": "query_eventhandler", "handler": HANDLER, "request": {}})
	return r["response"]


async def churn(gw, n):
	"""n sessions created, attached, detached and destroyed: 4 events each."""
	async with open_api(gw, "http") as api:
		for _ in range(n):
			sid = await api.create()
			hid = await api.attach(sid, gw.plugin)
			r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			await api.destroy(sid)


async def test_events_typed_in_order_and_signed(gateway_factory, receiver):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"])})
	async with open_api(gw, "http") as api:
		r = await api.request({"janus": "info"})
		assert r["event_handlers"] is True, r
	await churn(gw, 3)
	assert await wait_for(lambda: len(delivered(receiver)) >= 12), delivered(receiver)
	events = delivered(receiver)
	types = [e["type"] for e in events]
	assert types == ["session.created", "handle.attached", "handle.detached", "session.destroyed"] * 3, types
	ids = [e["id"] for e in events]
	assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
	now_us = time.time() * 1e6
	for e in events:
		assert isinstance(e["timestamp"], int) and abs(now_us - e["timestamp"]) < 60e6, e
		assert isinstance(e["session_id"], int) and e["session_id"] > 0
	attached = [e for e in events if e["type"] == "handle.attached"]
	assert all(e["handle_id"] > 0 for e in attached)
	for r in receiver.of("/events"):
		assert r["headers"]["Content-Type"].startswith("application/json")
		assert r["headers"]["X-Cardea-Signature"] == sign(SECRET, r["raw"]), r["headers"]
	s = await stats(gw)
	assert s["sent"] == 12 and s["dropped"] == 0 and s["queue_length"] == 0, s


async def test_batches_respect_batch_max(gateway_factory, receiver):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"],
		batch_max=3, batch_ms=2000)})
	await churn(gw, 2)
	assert await wait_for(lambda: len(delivered(receiver)) >= 8)
	sizes = [len(r["json"]) for r in receiver.of("/events")]
	assert max(sizes) <= 3 and sum(sizes) == 8, sizes
	# batch_ms is 2 s: full batches of 3 went out before that, so they were size-triggered.
	assert sizes.count(3) >= 2, sizes


async def test_filter(gateway_factory, receiver):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"],
		filter=["session"])})
	await churn(gw, 2)
	assert await wait_for(lambda: len(delivered(receiver)) >= 4)
	await asyncio.sleep(0.4)
	types = [e["type"] for e in delivered(receiver)]
	assert types == ["session.created", "session.destroyed"] * 2, types
	s = await stats(gw)
	assert s["filtered"] == 4, s


@pytest.mark.timeout_s(60)
async def test_receiver_down_then_back_loses_nothing(gateway_factory, receiver):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"])})
	receiver.events_status = 503
	await churn(gw, 5)
	await asyncio.sleep(10)
	failed = receiver.of("/events", accepted=False)
	assert len(failed) >= 3, "the module must keep retrying while the receiver is down"
	gaps = [b["t"] - a["t"] for a, b in zip(failed, failed[1:])]
	assert max(gaps) >= 0.6, f"retries must back off: {gaps}"
	assert delivered(receiver) == []
	receiver.events_status = 200
	assert await wait_for(lambda: len(delivered(receiver)) >= 20, 5)
	events = delivered(receiver)
	assert len(events) == 20, len(events)
	assert [e["id"] for e in events] == sorted(e["id"] for e in events)
	s = await stats(gw)
	assert s["dropped"] == 0 and s["sent"] == 20 and s["failed_posts"] >= 3, s


@pytest.mark.timeout_s(60)
async def test_queue_bound_drops_are_counted(gateway_factory, receiver):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"],
		queue_max=6, batch_max=4)})
	receiver.events_status = 503
	await churn(gw, 5)          # 20 events: 4 in flight, 6 queued, 10 dropped
	s = await stats(gw)
	assert s["in_flight"] + s["queue_length"] + s["dropped"] == 20, s
	assert s["dropped"] >= 10 and s["queue_length"] == 6, s
	async with open_api(gw, "http") as api:
		status, text = await api.get(f"http://127.0.0.1:{gw.admin_http_port}/metrics",
			params={"admin_secret": gw.admin_secret})
	assert f'cardea_events_dropped{{module="{HANDLER}"}} {s["dropped"]}' in text, text
	receiver.events_status = 200
	assert await wait_for(lambda: len(delivered(receiver)) >= 20 - s["dropped"], 5)
	await asyncio.sleep(0.5)
	assert len(delivered(receiver)) == 20 - s["dropped"]


async def test_two_urls_both_get_everything(gateway_factory, receiver):
	other = StubBackend().start()
	try:
		gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg(
			[receiver.url + "/events", other.url + "/events"])})
		await churn(gw, 1)
		assert await wait_for(lambda: len(delivered(receiver)) >= 4 and len(delivered(other)) >= 4)
		assert [e["id"] for e in delivered(receiver)] == [e["id"] for e in delivered(other)]
	finally:
		other.stop()


async def test_bad_config_refuses_to_start(gateway_factory):
	gw = gateway_factory(files={"cardea.events.webhook.jcfg": hook_cfg(["ftp://nope"])}, start=False)
	gw.start(wait=False)
	assert gw.wait_exit(10) != 0
	assert "urls must hold http" in gw.log_text()
