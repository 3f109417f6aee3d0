"""The relay hot path across media loops (core/webrtc/relay.c): with
media.event_loops = 2, a VideoRoom publisher and subscribers spread over
both loops; every subscriber gets audio and video, and the relay counters
(/metrics) show that packets crossed loops in batches: fewer hand-offs
than deliveries (packets x subscribers), nothing dropped, and the rings
reused their first slots instead of wrapping through all of them. Then the same
under valgrind memcheck: no error, no definite leak."""

import random
import shutil
import urllib.parse

import pytest

import gateway as gwmod
from apiclient import open_api, open_admin
from test_videoroom import VR, CONFIG, Subscriber, publish, sync
from test_metrics import parse

pytestmark = pytest.mark.cardea_only

SUBSCRIBERS = 6
VALGRIND = shutil.which("valgrind")


def relay_gateway(factory, tmp_path, wrapper=None):
	plugins = tmp_path / "plugins"
	plugins.mkdir()
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videoroom.so", plugins)
	gw = factory(args=["-P", str(plugins)], files={"cardea.plugin.videoroom.jcfg": CONFIG},
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}, "media": {"event_loops": 2}},
		wrapper=wrapper, start=wrapper is None)
	if wrapper:
		gw.start(wait=False)
		gw.wait_ready(timeout=60)
	return gw


async def counters(gw, prefix, keys):
	"""{key: value of the /metrics counter prefix + key + "_total"}."""
	async with open_api(gw, "http") as api:
		q = urllib.parse.urlencode({"admin_secret": gw.admin_secret})
		status, text = await api.get(f"http://127.0.0.1:{gw.admin_http_port}/metrics?{q}")
	assert status == 200, text
	m = parse(text)
	return {k: int(m[(f"{prefix}{k}_total", "")]) for k in keys}


async def gauge(gw, name):
	async with open_api(gw, "http") as api:
		q = urllib.parse.urlencode({"admin_secret": gw.admin_secret})
		status, text = await api.get(f"http://127.0.0.1:{gw.admin_http_port}/metrics?{q}")
	assert status == 200, text
	return int(parse(text)[(name, "")])


async def relay_metrics(gw):
	return await counters(gw, "cardea_relay_", ("handoffs", "targets", "wakeups", "drops"))


async def fan_out(gw, n_subs, frames=3, timeout=10):
	"""One publisher, n_subs subscribers of it; returns (loops of the
	subscribers, loop of the publisher) once every one got media."""
	async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "publishers": 2})
		pc, joined, _ = await publish(api, sid, hp, room, "relay")
		subs = []
		try:
			for _ in range(n_subs):
				s = Subscriber(api, sid, await api.attach(sid, VR))
				await s.join(room, [{"feed": joined["id"]}])
				subs.append(s)
			for s in subs:
				await s.frames("video", n=frames, timeout=timeout)
				await s.frames("audio", n=frames, timeout=timeout)

			async def loop_of(hid):
				info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
				return info["info"]["webrtc"]["loop"]
			sub_loops = [await loop_of(s.hid) for s in subs]
			pub_loop = await loop_of(hp)
		finally:
			for s in subs:
				await s.close()
			await pc.close()
		await api.destroy(sid)
	return sub_loops, pub_loop


@pytest.mark.timeout_s(120)
async def test_relay_batches_across_loops(gateway_factory, tmp_path):
	gw = relay_gateway(gateway_factory, tmp_path)
	before = await relay_metrics(gw)
	sub_loops, pub_loop = await fan_out(gw, SUBSCRIBERS)
	after = await relay_metrics(gw)
	d = {k: after[k] - before[k] for k in after}
	remote = sum(1 for l in sub_loops if l != pub_loop)
	# the least-loaded placement spreads the PCs over both loops
	assert set(sub_loops) == {0, 1} and remote >= 2, (sub_loops, pub_loop)
	# media crossed loops, one hand-off per packet and loop, not per subscriber
	assert d["handoffs"] > 0 and d["targets"] > 0, d
	assert d["handoffs"] < d["targets"], f"no batching: {d} with {remote} subscribers on the other loop"
	assert d["targets"] >= 1.5 * d["handoffs"], f"batches too small: {d} ({remote} remote subscribers)"
	assert d["wakeups"] <= d["handoffs"], d
	assert d["drops"] == 0, d
	assert gw.alive(), gw.log_tail(40)


RING_SLOTS = 512   # CARDEA_RELAY_RING_SLOTS (core/webrtc/relay.h)


@pytest.mark.timeout_s(120)
async def test_relay_ring_restarts_when_empty(gateway_factory, tmp_path):
	"""An empty ring starts again at slot 0 (relay.c ring_rewind), so only
	as many of its 512 slots (~3 KiB each) are ever touched as the deepest
	backlog needed. Without the rewind every hand-off takes the next slot
	and, past 512 hand-offs, the gauge reads 512."""
	gw = relay_gateway(gateway_factory, tmp_path)
	await fan_out(gw, 4, frames=250, timeout=60)
	m = await relay_metrics(gw)
	depth = await gauge(gw, "cardea_relay_ring_depth_max")
	assert m["handoffs"] > RING_SLOTS, f"too little traffic to tell: {m}"
	assert m["drops"] == 0, m
	assert 1 <= depth <= RING_SLOTS // 2, (depth, m)
	assert gw.alive(), gw.log_tail(40)


@pytest.mark.timeout_s(240)
async def test_relay_across_loops_is_memcheck_clean(gateway_factory, tmp_path):
	from test_memcheck import _asan_build
	if _asan_build():
		pytest.skip("ASan build: valgrind cannot run it (the sanitizers check it)")
	assert VALGRIND, "valgrind is not installed (scripts/test.sh installs it)"
	wrapper = ["env", "CARDEA_NO_DLCLOSE=1", VALGRIND, "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30"]
	gw = relay_gateway(gateway_factory, tmp_path, wrapper=wrapper)
	sub_loops, pub_loop = await fan_out(gw, 3, frames=2, timeout=30)
	assert any(l != pub_loop for l in sub_loops), (sub_loops, pub_loop)
	m = await relay_metrics(gw)
	assert m["handoffs"] > 0 and m["targets"] >= m["handoffs"], m
	rc, took = gw.stop(timeout=90)
	gw.assert_valgrind_clean(rc, took)
