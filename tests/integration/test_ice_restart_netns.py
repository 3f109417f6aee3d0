"""ICE restart after the client's address changes (issue 8, "Reconnection").

A real browser (Debian's Chromium, browserpeer.mjs) runs inside the client
network namespace of a NetLab (netns.py) and has an echotest call with the
gateway, which runs in its own namespace. Then the client's address changes
to another subnet, as when a phone goes from Wi-Fi to mobile data (the new
address is added, the old one deleted), so the old 5-tuple is dead and the
echoed video stops. Once the browser sees its new address, it makes an
ICE-restart offer (createOffer({iceRestart: true}), what janus.js does for
iceRestart: true), the test sends it as a plain Janus API re-offer (new
ufrag/pwd in the jsep), applies the answer, and the echoed video must be
decoded again within 2 s of the restart request.

aiortc cannot restart ICE, hence Chromium. Signalling goes through this test
(Janus API over the loopback ports the lab forwards into the gateway's
namespace); only the browser's media lives in the client namespace.

Why another subnet and not NetLab.move_client (same /24): Chromium keys its
networks by interface and prefix, and after an address change inside the
same prefix it offers no candidate at all (measured with Chromium 14x on
Debian 12), so that move cannot be recovered by any restart.

The same move then an ICE restart over WHEP (RFC 9725 4.3.3): Chromium
plays a broadcast channel with a receive-only offer POSTed to /whep, and
after the move sends its restart offer's ufrag/pwd and candidates in a PATCH;
the gateway's new credentials and candidates from the 200 replace those of
its first answer. The publisher (aiortc, netpeer.py) runs inside the
gateway's namespace, so the move does not touch it. The budget is the same.

Both restarts race the same way in Chromium: from its new address it checks
our old candidate with the old credentials while the restart is signalled,
and keeps that pair once it got an answer there; the gateway's new
candidates must be on new ports to be checked at all (core ice.c, and
pc-restart.c for the WHEP/WHIP path).

Needs root and network namespaces; skipped with the reason otherwise (a skip
is reported as a skip by tests/run-all.sh, never as a pass).
"""

import asyncio
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

import gateway as gwmod
from apiclient import open_api, open_admin
from bcutil import CONFIG as BCAST_CONFIG
from netns import IP, PYTHON, NetLab, NetPeer, run
# The echotest plugin folder and the lab (namespaces + relay, closed at teardown).
from test_netem import lab, plugdir  # noqa: F401  (pytest fixtures)

ECHO = "janus.plugin.echotest"
HERE = Path(__file__).resolve().parent
RESUME_S = 2.0        # the budget: restart request -> video decoded again

pytestmark = [pytest.mark.cardea_only,
	pytest.mark.skipif(NetLab.available() is not None, reason=f"netns: {NetLab.available()}")]


async def browser_peer(lab):
	"""Chromium inside the lab's client namespace (killed by lab.close())."""
	p = NetPeer()
	await p.start(["node", str(HERE / "browserpeer.mjs"), "--netns", lab.cl_ns])
	lab.peers.append(p)
	line = await asyncio.wait_for(p.proc.stdout.readline(), 60)
	assert line and json.loads(line).get("ready"), f"browserpeer did not start: {line!r}"
	return p


def move_client_to_other_subnet(lab):
	"""The client's address changes from 10.77.X.2 to 10.78.X.2 (the old one
	is deleted): routes on both sides make the new subnet reachable over the
	same link. Returns the new address."""
	new_net = "10.78." + lab.net.split(".")[2]
	new_ip = f"{new_net}.2"
	cl_dev, gw_dev = f"cnc{lab.tag}", f"cng{lab.tag}"
	run(IP, "-n", lab.gw_ns, "route", "add", f"{new_net}.0/24", "dev", gw_dev)
	run(IP, "-n", lab.cl_ns, "addr", "add", f"{new_ip}/24", "dev", cl_dev)
	run(IP, "-n", lab.cl_ns, "addr", "del", f"{lab.cl_ip}/24", "dev", cl_dev)
	# the old address took its subnet route along
	run(IP, "-n", lab.cl_ns, "route", "add", f"{lab.gw_ip}/32", "dev", cl_dev)
	lab.cl_ip = new_ip
	return new_ip


async def playing_from(peer, ip):
	"""The browser decodes video (10 frames) on a pair from address `ip`."""
	st, _ = await wait_frames(peer, 10, 20)
	assert st["framesDecoded"] > 10, f"no video decoded before the move: {st}"
	assert st["localAddress"] == ip, st


async def move_and_stall(lab, peer):
	"""Moves the client (the video stops), then waits until Chromium knows
	its new address (it enumerates again ~2 s after a change): when an
	application restarts ICE. Returns (new address, browser stats)."""
	new_ip = move_client_to_other_subnet(lab)
	await asyncio.sleep(0.5)        # frames in flight land
	stalled = (await peer.call(cmd="stats"))["framesDecoded"]
	deadline = time.monotonic() + 15
	while (addrs := (await peer.call(cmd="addresses"))["addresses"]) != [new_ip]:
		assert time.monotonic() < deadline, f"Chromium still sees {addrs}, not {new_ip}"
		await asyncio.sleep(0.5)
	st = await peer.call(cmd="stats")
	assert st["framesDecoded"] <= stalled + 2, f"media kept flowing after the move, the old path is not dead: {st}"
	return new_ip, st


def ice_creds(sdp):
	return re.search(r"a=ice-ufrag:(\S+)", sdp).group(1), re.search(r"a=ice-pwd:(\S+)", sdp).group(1)


async def negotiate(api, sid, hid, peer, restart):
	offer = (await peer.call(cmd="offer", restart=restart))["sdp"]
	r = await api.message(sid, hid, {"audio": True, "video": True}, jsep={"type": "offer", "sdp": offer})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
	assert "jsep" in ev, ev
	await peer.call(cmd="answer", sdp=ev["jsep"]["sdp"])
	return offer, ev["jsep"]["sdp"]


async def wait_frames(peer, more_than, timeout, step=0.05):
	"""Polls the browser until it decoded more than `more_than` frames;
	returns (stats, time.monotonic() when seen) or (last stats, None)."""
	t0 = time.monotonic()
	while True:
		st = await peer.call(cmd="stats")
		if st["framesDecoded"] > more_than:
			return st, time.monotonic()
		if time.monotonic() - t0 > timeout:
			return st, None
		await asyncio.sleep(step)


async def ice_info(gw, sid, hid):
	async with open_admin(gw, "http") as admin:
		r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
	return r["info"]["webrtc"]


@pytest.mark.timeout_s(150)
async def test_ice_restart_after_address_change(lab, gateway_factory, plugdir):
	gw = lab.start_gateway(gateway_factory, args=["-P", str(plugdir)])
	api = await open_api(gw, "ws").factory()
	peer = await browser_peer(lab)
	try:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		old_ip = lab.cl_ip
		offer, answer = await negotiate(api, sid, hid, peer, restart=False)
		assert f" {old_ip} " in offer, f"Chromium did not gather on the namespace address:\n{offer}"
		assert f" {lab.gw_ip} " in answer, answer
		await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
		await playing_from(peer, old_ip)

		# The address changes: the old 5-tuple is dead, the echo stops.
		new_ip, st = await move_and_stall(lab, peer)

		# ICE restart, timed from the request (the browser's new offer) to the
		# first echoed frame decoded after it.
		before = st["framesDecoded"]
		t0 = time.monotonic()
		offer2, answer2 = await negotiate(api, sid, hid, peer, restart=True)
		t_signalled = time.monotonic() - t0
		st, seen = await wait_frames(peer, before, 10)
		resumed = None if seen is None else seen - t0
		info = await ice_info(gw, sid, hid)
		report = (f"signalling took {t_signalled:.2f}s; browser {st}; gateway ice {info.get('ice')}"
			f"\n--- restart offer ---\n{offer2}\n--- answer ---\n{answer2}")

		assert ice_creds(offer2) != ice_creds(offer), "Chromium's restart offer must change ufrag/pwd"
		assert ice_creds(answer2) != ice_creds(answer), "the gateway must answer a restart with new credentials"
		assert f" {new_ip} " in offer2, report
		assert seen is not None, "no echoed frame within 10 s of the ICE restart: " + report
		assert resumed < RESUME_S, f"media resumed {resumed:.2f}s after the restart request (> {RESUME_S}s): " + report
		assert st["localAddress"] == new_ip, report
		assert info["ice"]["restarts"] == 1, report

		# And it keeps flowing on the new path.
		st2, _ = await wait_frames(peer, st["framesDecoded"] + 30, 5)
		assert st2["framesDecoded"] > st["framesDecoded"] + 30, f"video stalled after the restart: {st} -> {st2}"
		print(f"ICE restart: echoed video again {resumed:.3f}s after the restart request "
			f"(signalling {t_signalled:.3f}s)")
	finally:
		await peer.close()
		await api.close()
	assert gw.alive()


# ---- WHEP ----------------------------------------------------------------------

SDP = "application/sdp"
FRAG = "application/trickle-ice-sdpfrag"


@pytest.fixture
def bcdir():
	d = Path(tempfile.mkdtemp(prefix="cardea-netns-bc-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_broadcast.so", d)
	yield d
	shutil.rmtree(d, ignore_errors=True)


def first_section(sdp):
	"""The lines of the first m-section (the bundle's, with max-bundle)."""
	lines = sdp.replace("\r\n", "\n").split("\n")
	start = next(i for i, l in enumerate(lines) if l.startswith("m="))
	end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
	return lines[start:end]


def restart_frag(offer):
	"""RFC 9725 4.3.3: the restart offer's ICE credentials and candidates in
	an sdpfrag, under its first m-line."""
	ufrag, pwd = ice_creds(offer)
	sec = first_section(offer)
	mid = next(l for l in sec if l.startswith("a=mid:"))
	cands = [l for l in sec if l.startswith("a=candidate:")]
	return "\r\n".join([f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}", sec[0], mid, *cands,
		"a=end-of-candidates"]) + "\r\n"


def answer_after_restart(answer, frag):
	"""The gateway's first answer with the ICE lines of its PATCH 200: what a
	WHEP client hands to setRemoteDescription after a restart."""
	ufrag, pwd = ice_creds(frag)
	cands = [l for l in frag.replace("\r\n", "\n").split("\n") if l.startswith("a=candidate:")]
	out = []
	for line in answer.replace("\r\n", "\n").split("\n"):
		if line.startswith(("a=candidate:", "a=end-of-candidates")):
			continue
		if line.startswith("a=ice-ufrag:"):
			line = f"a=ice-ufrag:{ufrag}"
		elif line.startswith("a=ice-pwd:"):
			line = f"a=ice-pwd:{pwd}"
		out.append(line)
		if line.startswith("a=mid:"):
			out.extend(cands + ["a=end-of-candidates"])
	return "\r\n".join(out)


async def post_sdp(http, url, sdp):
	async with http.post(url, data=sdp.encode(), headers={"Content-Type": SDP}) as r:
		body = await r.text()
		assert r.status == 201, (url, r.status, body)
		return r.headers["Location"], r.headers["ETag"], body


async def handle_ices(gw):
	"""ICE info of every handle of the gateway."""
	out = []
	async with open_admin(gw, "http") as admin:
		for sid in await admin.list_sessions():
			for hid in (await admin.ok({"janus": "list_handles", "session_id": sid}))["handles"]:
				info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
				out.append(info["info"]["webrtc"]["ice"])
	return out


@pytest.mark.timeout_s(150)
async def test_whep_ice_restart_after_address_change(lab, gateway_factory, bcdir):
	gw = lab.start_gateway(gateway_factory, args=["-P", str(bcdir)], files={"cardea.plugin.broadcast.jcfg": BCAST_CONFIG})
	base = f"http://127.0.0.1:{gw.http_port}"
	# The publisher lives in the gateway's namespace, on its address: the
	# client's move leaves it alone.
	pub = NetPeer()
	await pub.start([IP, "netns", "exec", lab.gw_ns, PYTHON, str(HERE / "netpeer.py"), "--ip", lab.gw_ip])
	lab.peers.append(pub)
	peer = await browser_peer(lab)
	try:
		async with aiohttp.ClientSession() as http:
			_, _, panswer = await post_sdp(http, f"{base}/whip/demo", await pub.offer())
			await pub.answer(panswer)
			old_ip = lab.cl_ip
			offer = (await peer.call(cmd="offer", recvonly=True))["sdp"]
			assert f" {old_ip} " in offer and "a=recvonly" in offer, offer
			location, etag, answer = await post_sdp(http, f"{base}/whep/demo", offer)
			assert f" {lab.gw_ip} " in answer, answer
			await peer.call(cmd="answer", sdp=answer)
			await playing_from(peer, old_ip)

			new_ip, st = await move_and_stall(lab, peer)

			# ICE restart over PATCH, timed from the browser's restart offer
			# to the first frame decoded after it.
			before = st["framesDecoded"]
			t0 = time.monotonic()
			offer2 = (await peer.call(cmd="offer", restart=True))["sdp"]
			frag = restart_frag(offer2)
			async with http.patch(base + location, data=frag.encode(),
					headers={"Content-Type": FRAG, "If-Match": etag}) as r:
				body = await r.text()
				assert r.status == 200, (r.status, body, frag)
				assert r.headers["Content-Type"].startswith(FRAG), r.headers
				etag2 = r.headers["ETag"]
			answer2 = answer_after_restart(answer, body)
			await peer.call(cmd="answer", sdp=answer2)
			t_signalled = time.monotonic() - t0
			st, seen = await wait_frames(peer, before, 10)
			resumed = None if seen is None else seen - t0
			ices = await handle_ices(gw)
			report = (f"signalling took {t_signalled:.2f}s; browser {st}; gateway ice {ices}"
				f"\n--- restart offer ---\n{offer2}\n--- PATCH ---\n{frag}\n--- 200 ---\n{body}")

			assert etag2 != etag, report
			assert ice_creds(body) != ice_creds(answer), report
			assert f" {new_ip} " in frag, report
			old_ports = {int(m) for m in re.findall(r"a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host", answer, re.I)}
			new_ports = {int(m) for m in re.findall(r"a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host", body, re.I)}
			assert old_ports and new_ports and not old_ports & new_ports, \
				"the restart must move the gateway's candidates to new ports: " + report
			assert seen is not None, "no frame played within 10 s of the WHEP ICE restart: " + report
			assert resumed < RESUME_S, f"video resumed {resumed:.2f}s after the restart offer (> {RESUME_S}s): " + report
			assert st["localAddress"] == new_ip, report
			assert sorted(i["restarts"] for i in ices) == [0, 1], report

			st2, _ = await wait_frames(peer, st["framesDecoded"] + 30, 5)
			assert st2["framesDecoded"] > st["framesDecoded"] + 30, f"video stalled after the restart: {st} -> {st2}"
			print(f"WHEP ICE restart: video again {resumed:.3f}s after the restart offer "
				f"(signalling {t_signalled:.3f}s)")
			async with http.delete(base + location) as r:
				assert r.status == 200
	finally:
		await peer.close()
		await pub.close()
	assert gw.alive()
