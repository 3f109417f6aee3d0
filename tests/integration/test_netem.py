"""Loss and network faults between an aiortc peer and the gateway.

The daemon runs in its own network namespace, the aiortc peer in another,
joined by an impaired link (netns.py: TUN pair + userspace netem-like relay;
delay, jitter and random loss per direction). The peer publishes numbered
video to janus.plugin.echotest and decodes what comes back, so frame loss is
exact: frames the sender handed to its encoder that the receiver never
decoded (netns.frame_loss). Losses are applied in BOTH directions, so the
gateway has to do both halves of NACK/RTX: ask the publisher for what it
missed (nacks_out / retransmissions_in) and resend from its own buffer what
the subscriber missed (nacks_in / retransmissions_out).

Needs root and network namespaces; skipped with the reason otherwise (a skip
is reported as a skip by tests/run-all.sh, never as a pass).
"""

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import gateway as gwmod
from apiclient import open_api, open_admin
from netns import NetLab, frame_loss

ECHO = "janus.plugin.echotest"

pytestmark = [pytest.mark.cardea_only,
	pytest.mark.skipif(NetLab.available() is not None, reason=f"netns: {NetLab.available()}")]


@pytest.fixture
def plugdir():
	d = Path(tempfile.mkdtemp(prefix="cardea-netem-plugins-"))
	for name in ("echotest",):
		shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / f"cardea_plugin_{name}.so", d)
	yield d
	shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lab(gateway_factory):
	# Requests gateway_factory first so the daemons stop after the lab's
	# teardown (relay, peers, namespaces), which always runs.
	lab = NetLab()
	yield lab
	lab.close()


async def echo_call(lab, gw):
	"""Session + echotest handle + negotiated peer in the client namespace.
	Returns (api, sid, hid, peer); media is flowing (first frames decoded)."""
	api = await open_api(gw, "ws").factory()
	sid = await api.create()
	hid = await api.attach(sid, ECHO)
	peer = await lab.peer()
	offer = await peer.offer()
	assert f"c=IN IP4 {lab.cl_ip}" in offer or lab.cl_ip in offer, offer
	r = await api.message(sid, hid, {"audio": True, "video": True}, jsep={"type": "offer", "sdp": offer})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
	answer = ev["jsep"]["sdp"]
	assert f" {lab.gw_ip} " in answer, f"gateway did not offer its namespace address:\n{answer}"
	await peer.answer(answer)
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
	deadline = time.monotonic() + 20
	while (await peer.stats())["recv"]["video"] < 5:
		assert time.monotonic() < deadline, "no echoed video within 20 s"
		await asyncio.sleep(0.3)
	return api, sid, hid, peer


async def video_info(gw, sid, hid):
	async with open_admin(gw, "http") as admin:
		r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
	return next(m for m in r["info"]["webrtc"]["media"] if m["type"] == "video")


async def hang_up(api, sid, peer):
	await peer.close()
	await api.destroy(sid)
	await api.close()


# Known failing (reported to the lead): the threshold is the and stays.
# Measured 0/601 frames lost in some runs and 6-30% in others on the loaded
# VM; unrepaired holes come from retransmission misses (packets asked for
# after the history window; core/webrtc/pc-rtcp.c now keeps 5 RTT instead of
# 2) and from uplink gaps the gateway repairs later than the subscriber's
# single NACK round (aiortc re-NACKs only on its next gap, then stalls its
# 128-packet jitter buffer ~1.7 s). Not a pass until it passes.
@pytest.mark.xfail(reason="NACK/RTX under 5% loss both ways not yet < 1% frames lost", strict=False)
@pytest.mark.timeout_s(120)
async def test_random_loss_recovered_by_nack(lab, gateway_factory, plugdir):
	"""5% random loss each way and 100 ms RTT: < 1% of the frames lost."""
	gw = lab.start_gateway(gateway_factory, args=["-P", str(plugdir)])
	await lab.impair(dir="both", delay_ms=50)
	api, sid, hid, peer = await echo_call(lab, gw)
	await asyncio.sleep(2)       # NACK/RTX state and RTT estimates settle with clean media
	await lab.impair(dir="both", loss=0.05)
	t0 = time.monotonic()
	await asyncio.sleep(20)
	t1 = time.monotonic()
	relay = await lab.impair(dir="both", loss=0.0)
	await asyncio.sleep(1.5)     # frames sent before t1 get the time to arrive
	st = await peer.stats()
	info = await video_info(gw, sid, hid)
	await hang_up(api, sid, peer)
	lost, expected, missing = frame_loss(st["sent"], st["frames"], t0, t1)
	up, down = relay["up"], relay["down"]
	report = (f"lost {lost}/{expected} frames (missing {missing[:20]}); relay up {up} down {down}; "
		f"gateway video stats {info}")
	# the impairment really happened: about 5% of the packets each way
	for d in (up, down):
		assert 0.03 < d["dropped"] / (d["dropped"] + d["forwarded"]) < 0.08, report
	assert expected > 20 * 25, report      # ~30 fps for 20 s
	# the gateway did both halves of NACK/RTX
	assert info["nacks_out"] > 0 and info["retransmissions_in"] > 0, report
	assert info["nacks_in"] > 0 and info["retransmissions_out"] > 0, report
	assert lost / expected < 0.01, report
	assert gw.alive()


# Known failing: measured 1.5-1.7 s. aiortc asks for a keyframe only when its
# jitter buffer overflows (128 packets); the gateway would have to request
# the keyframe itself when a subscriber's NACKs miss its history.
@pytest.mark.xfail(reason="recovery after a 30% burst takes ~1.5 s, not < 1 s", strict=False)
@pytest.mark.timeout_s(120)
async def test_burst_loss_recovers_via_pli(lab, gateway_factory, plugdir):
	"""A 2 s burst of 30% loss: video decodes again within 1 s after it."""
	gw = lab.start_gateway(gateway_factory, args=["-P", str(plugdir)])
	await lab.impair(dir="both", delay_ms=25)
	api, sid, hid, peer = await echo_call(lab, gw)
	await asyncio.sleep(3)
	before = await video_info(gw, sid, hid)
	await lab.impair(dir="both", loss=0.30)
	await asyncio.sleep(2)
	await lab.impair(dir="both", loss=0.0)
	t_end = time.monotonic()
	await asyncio.sleep(4)
	st = await peer.stats()
	info = await video_info(gw, sid, hid)
	await hang_up(api, sid, peer)
	sent_at = dict(st["sent"])
	# first frame sent after the burst that was decoded, and when
	after = [(n, t) for n, t in st["frames"] if n in sent_at and sent_at[n] >= t_end]
	report = f"decoded after burst: {after[:5]}...; stats before {before} after {info}"
	assert after, "nothing decoded after the burst: " + report
	recovered = after[0][1] - t_end
	assert recovered < 1.0, f"video came back {recovered:.2f}s after the burst; " + report
	# from then on it keeps flowing: nothing sent 1 s after the burst is lost
	lost, expected, missing = frame_loss(st["sent"], st["frames"], t_end + 1.0, st["now"] - 1.0)
	assert expected > 40 and lost == 0, f"lost {missing} of {expected} after recovery; " + report
	# keyframe requests went through the gateway (subscriber PLI -> publisher)
	assert info["keyframe_requests_in"] + info["plis_out"] > before["keyframe_requests_in"] + before["plis_out"], report
	assert gw.alive()


@pytest.mark.timeout_s(120)
async def test_jitter_200ms(lab, gateway_factory, plugdir):
	"""200 ms of jitter (netem `delay 200ms 200ms`: reorders too): the daemon
	keeps running, media keeps flowing and its stats report the jitter."""
	gw = lab.start_gateway(gateway_factory, args=["-P", str(plugdir)])
	api, sid, hid, peer = await echo_call(lab, gw)
	before = (await peer.stats())["recv"]["video"]
	await lab.impair(dir="both", delay_ms=200, jitter_ms=200)
	await asyncio.sleep(8)
	info = await video_info(gw, sid, hid)
	st = await peer.stats()
	await lab.impair(dir="both", delay_ms=0, jitter_ms=0)
	async with open_admin(gw, "http") as admin:
		assert sid in await admin.list_sessions()
	await hang_up(api, sid, peer)
	report = f"gateway video stats {info}; peer inbound {st['inbound']}"
	assert st["recv"]["video"] > before + 30, "video stopped under jitter: " + report
	# RFC 3550 interarrival jitter in 90 kHz units: 200 ms of uniform jitter is
	# tens of ms of it, far above the < 1 ms of the clean link (90 units = 1 ms).
	assert info.get("jitter_in", 0) > 900, report
	assert st["inbound"]["video"]["jitter"] > 0, report
	assert gw.alive()
