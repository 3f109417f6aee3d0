"""Prometheus /metrics on the admin HTTP listener: the exposition parses,
needs the admin secret, and moves with traffic (sessions, handles, a real
echotest PeerConnection's packets, plugin gauges). The same daemon has the
webhook module, so the PeerConnection's typed events (webrtc.up,
echotest.configured) are checked on the wire too."""

import asyncio
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription  # noqa: F401  (aiortc needed by the helpers below)

import gateway as gwmod
from apiclient import open_admin, open_api
from stub_backend import StubBackend
from test_echotest import negotiate, offer_pc
from test_webhook import delivered, hook_cfg, wait_for

pytestmark = pytest.mark.cardea_only

ECHO = "janus.plugin.echotest"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


@pytest.fixture(scope="module")
def receiver():
	b = StubBackend().start()
	yield b
	b.stop()


@pytest.fixture(scope="module")
def mgw(module_gateway_factory, receiver):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-metrics-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
	gw = module_gateway_factory(sections={"nat": {"ice_enforce_list": "127.0.0.1"}}, args=["-P", str(tmp)],
		files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"])})
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


def parse(text):
	"""{(name, labels-text): value}; asserts the text-format grammar and one TYPE per name."""
	out, typed = {}, set()
	for line in text.splitlines():
		if line.startswith("# TYPE "):
			name = line.split()[2]
			assert name not in typed, f"two TYPE lines for {name}"
			typed.add(name)
			assert line.split()[3] in ("gauge", "counter"), line
			continue
		if line.startswith("#") or not line:
			continue
		m = SAMPLE.match(line)
		assert m, f"not a Prometheus sample: {line!r}"
		out[(m.group(1), m.group(2) or "")] = float(m.group(4))
	return out


async def scrape(gw, **kw):
	async with open_api(gw, "http") as api:
		status, text = await api.get(f"http://127.0.0.1:{gw.admin_http_port}/metrics", **kw)
	return status, text


async def metrics(gw):
	status, text = await scrape(gw, params={"admin_secret": gw.admin_secret})
	assert status == 200, text
	return parse(text)


async def test_metrics_needs_admin_secret(mgw):
	status, _ = await scrape(mgw)
	assert status == 403
	status, _ = await scrape(mgw, params={"admin_secret": "wrong"})
	assert status == 403
	async with open_api(mgw, "http") as api:
		r = await api.http.get(f"http://127.0.0.1:{mgw.admin_http_port}/metrics",
			headers={"Authorization": f"Bearer {mgw.admin_secret}"})
		assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), r
		parse(await r.text())
		# Not on the Janus API listener.
		status, _ = await api.get(f"http://127.0.0.1:{mgw.http_port}/metrics")
		assert status == 404


@pytest.mark.timeout_s(60)
async def test_metrics_move_with_traffic(mgw, receiver):
	m0 = await metrics(mgw)
	assert m0[("cardea_sessions", "")] == 0 and m0[("cardea_handles", "")] == 0, m0
	plugin_label = f'{{plugin="{ECHO}"}}'
	assert m0[("cardea_plugin_sessions", plugin_label)] == 0
	assert ("cardea_auth_decisions_total", '{result="allow"}') in m0
	assert m0[("cardea_events_queue_length", '{module="cardea.events.webhook"}')] >= 0
	async with open_api(mgw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		m1 = await metrics(mgw)
		assert m1[("cardea_sessions", "")] == 1 and m1[("cardea_handles", "")] == 1, m1
		assert m1[("cardea_plugin_sessions", plugin_label)] == 1
		assert m1[("cardea_peerconnections", "")] == 0
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			m2 = await metrics(mgw)
			await asyncio.sleep(1)
			m3 = await metrics(mgw)
			assert m3[("cardea_peerconnections", "")] == 1 and m3[("cardea_peerconnections_up", "")] == 1, m3
			for k in ("packets_in", "packets_out", "bytes_in", "bytes_out"):
				assert m3[(f"cardea_media_{k}", "")] > m2[(f"cardea_media_{k}", "")] > 0, (k, m2, m3)
			assert m3[("cardea_uptime_seconds", "")] >= 1
		finally:
			await pc.close()
		assert await wait_for(lambda: {"webrtc.up", "echotest.configured"} <= {e["type"] for e in delivered(receiver)})
		ev = [e for e in delivered(receiver) if e["type"] == "echotest.configured"][0]
		assert ev["session_id"] == sid and ev["handle_id"] == hid, ev
		assert ev["data"]["plugin"] == ECHO and ev["data"]["data"]["event"] == "configured", ev
		assert ev["data"]["data"]["audio"] is True, ev
		up = [e for e in delivered(receiver) if e["type"] == "webrtc.up"][0]
		assert up["session_id"] == sid and up["handle_id"] == hid, up
		await api.destroy(sid)
	m4 = await metrics(mgw)
	assert m4[("cardea_sessions", "")] == 0 and m4[("cardea_peerconnections", "")] == 0, m4
	assert m4[("cardea_events_sent", '{module="cardea.events.webhook"}')] > 0
