"""ICE features of the PeerConnection, end to end with aiortc and the echotest:
full trickle (server `trickle` events), client trickles (queued before the
SDP, dropped after candidates_timeout), ICE restart on a renegotiation with
new credentials (same credentials: none), ICE-Lite, ICE-TCP candidates,
rtp_port_range, nat_1_1_mapping, STUN server-reflexive candidates, and the
`hangup` "ICE failed" paths: consent lost (the peer's sockets vanish without
a DTLS close) and remote candidates that never answer.

Everything stays on loopback (nat.ice_enforce_list = 127.0.0.1; aioice is
restricted to 127.0.0.1 by test_echotest's import).
"""

import asyncio
import re
import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from aioice import Candidate
from aioice.ice import CandidatePair

import gateway as gwmod
from apiclient import open_api, open_admin
from test_echotest import ECHO, offer_pc, negotiate, handle_info

pytestmark = pytest.mark.cardea_only


def echo_gateway(factory, nat=None, media=None, **general):
	"""A daemon with the echotest plugin, gathering on 127.0.0.1 only."""
	tmp = Path(tempfile.mkdtemp(prefix="cardea-ice-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
	sections = {"nat": {"ice_enforce_list": "127.0.0.1", **(nat or {})}}
	if media:
		sections["media"] = media
	gw = factory(sections=sections, args=["-P", str(tmp)], **general)
	gw.plugins_tmp = tmp
	return gw


@pytest.fixture(scope="module")
def plain_gw(module_gateway_factory):
	gw = echo_gateway(module_gateway_factory)
	yield gw
	shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


def candidates(sdp):
	return [l[2:] for l in sdp.split("\r\n") if l.startswith("a=candidate:")]


def without_candidates(sdp):
	return "".join(l + "\r\n" for l in sdp.split("\r\n")
		if l and not l.startswith("a=candidate:") and l != "a=end-of-candidates")


def sdp_attr(sdp, name):
	m = re.search(rf"^a={name}:(\S+)\r?$", sdp, re.M)
	return m.group(1) if m else None


async def offer_and_answer(api, sid, hid, sdp, jsep_extra=None, timeout=10):
	"""Sends `sdp` as the offer; returns the answer event."""
	r = await api.message(sid, hid, {"audio": True, "video": True},
		jsep={"type": "offer", "sdp": sdp, **(jsep_extra or {})})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=timeout)
	assert ev["jsep"]["type"] == "answer", ev
	return ev


async def frames(tracks, n=3):
	for kind in ("audio", "video"):
		for _ in range(n):
			assert await asyncio.wait_for(tracks[kind].recv(), 10) is not None


async def packets_in(admin, sid, hid):
	info = (await handle_info(admin, sid, hid))["webrtc"]
	return sum(m["packets_in"] for m in info["media"]), info


# ---- full trickle and client trickles ---------------------------------------

@pytest.fixture(scope="module")
def trickle_gw(module_gateway_factory):
	gw = echo_gateway(module_gateway_factory, nat={"full_trickle": True}, candidates_timeout=2)
	yield gw
	shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


@pytest.mark.timeout_s(40)
async def test_full_trickle_server_events(trickle_gw):
	"""The answer does not wait for gathering; every local candidate comes as
	a `trickle` event, then {"completed": true}. aiortc connects using only
	the trickled candidates (those in the SDP are stripped)."""
	async with open_api(trickle_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			ev = await offer_and_answer(api, sid, hid, pc.localDescription.sdp)
			mid = sdp_attr(ev["jsep"]["sdp"], "mid")
			trickled = []
			while True:
				t = await api.event(sid, {"janus": "trickle", "sender": hid}, timeout=10)
				assert set(t) >= {"janus", "session_id", "sender", "candidate"}, t
				assert "transaction" not in t, t
				c = t["candidate"]
				if c.get("completed") is not None:
					assert c == {"completed": True}, t
					break
				assert set(c) == {"sdpMid", "sdpMLineIndex", "candidate"}, t
				assert c["sdpMLineIndex"] == 0 and c["sdpMid"] == mid, t
				assert c["candidate"].startswith("candidate:") and " typ " in c["candidate"], t
				trickled.append(c)
			assert trickled, "no trickled candidate before completed"
			for c in trickled:
				cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
				cand.sdpMid = c["sdpMid"]
				cand.sdpMLineIndex = c["sdpMLineIndex"]
				await pc.addIceCandidate(cand)
			await pc.setRemoteDescription(RTCSessionDescription(
				sdp=without_candidates(ev["jsep"]["sdp"]), type="answer"))
			await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
			await frames(tracks)
		finally:
			await pc.close()
		await api.destroy(sid)


@pytest.mark.timeout_s(30)
async def test_full_trickle_off_for_non_trickling_peer(trickle_gw):
	"""jsep "trickle": false: the answer carries every candidate and
	end-of-candidates, and no `trickle` event is sent."""
	async with open_api(trickle_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, _ = await offer_pc()
		try:
			ev = await offer_and_answer(api, sid, hid, pc.localDescription.sdp, {"trickle": False})
			sdp = ev["jsep"]["sdp"]
			assert candidates(sdp) and "a=end-of-candidates" in sdp, sdp
			await asyncio.sleep(0.5)
			assert not [m for m in api.pending(sid) if m.get("janus") == "trickle"], api.pending(sid)
		finally:
			await pc.close()
		await api.destroy(sid)


@pytest.mark.timeout_s(40)
async def test_client_trickle_and_candidates_timeout(trickle_gw):
	"""Client trickles before the SDP are queued and applied with it, except
	those older than candidates_timeout (2 s here); after the SDP they apply
	at once. The admin API lists what was applied as remote host candidates."""
	async with open_api(trickle_gw, "ws") as api, open_admin(trickle_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			offer = pc.localDescription.sdp
			mid = sdp_attr(offer, "mid")
			real = [c for c in candidates(offer) if " 127.0.0.1 " in c]
			assert real, offer

			async def trickle(c):
				r = await api.request({"janus": "trickle", "session_id": sid, "handle_id": hid,
					"candidate": {"candidate": c, "sdpMid": mid, "sdpMLineIndex": 0}})
				assert r["janus"] == "ack", r

			# Port 9 (discard) and 7 (echo): nobody answers there, but they are
			# listed as remote candidates once applied.
			await trickle("candidate:9 1 udp 2122260223 127.0.0.1 9 typ host")
			await asyncio.sleep(3)
			await trickle("candidate:7 1 udp 2122260223 127.0.0.1 7 typ host")
			await trickle(real[0])
			await offer_and_answer(api, sid, hid, without_candidates(offer))
			for c in real[1:]:
				await trickle(c)
			r = await api.request({"janus": "trickle", "session_id": sid, "handle_id": hid,
				"candidate": {"completed": True}})
			assert r["janus"] == "ack", r
			info = (await handle_info(admin, sid, hid))["webrtc"]["ice"]
			remote = info["remote-candidates"]
			assert "127.0.0.1:7 udp host" in remote, info
			assert "127.0.0.1:9 udp host" not in remote, info
			port = real[0].split()[5]
			assert f"127.0.0.1:{port} udp host" in remote, info
			assert trickle_gw.log_path.read_text().count("candidates_timeout") >= 1
		finally:
			await pc.close()
		await api.destroy(sid)


# ---- ICE restart --------------------------------------------------------------

def ice_connection(pc):
	"""aioice Connection of the bundle transport (first transceiver)."""
	return pc.getTransceivers()[0].sender.transport.transport._connection


@pytest.mark.timeout_s(40)
async def test_ice_restart_keeps_media(plain_gw):
	async with open_api(plain_gw, "ws") as api, open_admin(plain_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			offer = pc.localDescription.sdp
			# Same credentials: a plain renegotiation, same local credentials.
			ev = await offer_and_answer(api, sid, hid, offer)
			ans1 = ev["jsep"]["sdp"]
			info = (await handle_info(admin, sid, hid))["webrtc"]
			assert info["ice"]["restarts"] == 0 and info["webrtcup"], info
			conn = ice_connection(pc)
			old_u, old_p = conn.local_username, conn.local_password
			assert f"a=ice-ufrag:{old_u}" in offer
			# New credentials: ICE restart. aioice cannot restart by itself, so
			# the test plays the offerer's part: new local credentials (any
			# username accepted until the answer), then the gateway's new ones
			# and a nominating check on the pair in use.
			new_u, new_p = "rst" + old_u, "restart" + old_p[7:]
			restart_offer = offer.replace(f"a=ice-ufrag:{old_u}", f"a=ice-ufrag:{new_u}").replace(
				f"a=ice-pwd:{old_p}", f"a=ice-pwd:{new_p}")
			conn.local_username, conn.local_password = new_u, new_p
			conn.remote_username = None
			ev = await offer_and_answer(api, sid, hid, restart_offer)
			ans2 = ev["jsep"]["sdp"]
			assert sdp_attr(ans2, "ice-ufrag") != sdp_attr(ans1, "ice-ufrag"), (ans1, ans2)
			assert sdp_attr(ans2, "ice-pwd") != sdp_attr(ans1, "ice-pwd")
			assert sdp_attr(ans2, "fingerprint") == sdp_attr(ans1, "fingerprint")
			conn.remote_username, conn.remote_password = sdp_attr(ans2, "ice-ufrag"), sdp_attr(ans2, "ice-pwd")
			# A restart the peer asked for gets new local ports (core/webrtc/ice.h):
			# the nominating check goes from our socket to the new candidate.
			old_ports = {Candidate.from_sdp(c[len("candidate:"):]).port for c in candidates(ans1)}
			new = [Candidate.from_sdp(c[len("candidate:"):]) for c in candidates(ans2)]
			assert new and not old_ports & {c.port for c in new}, (ans1, ans2)
			pair = CandidatePair(conn._nominated[1].protocol, new[0])
			conn._check_list.append(pair)
			await conn.check_start(pair)
			deadline = time.monotonic() + 10
			while True:
				n0, info = await packets_in(admin, sid, hid)
				if info["ice"]["state"] == "connected":
					break
				assert time.monotonic() < deadline, info
				await asyncio.sleep(0.2)
			assert info["ice"]["restarts"] == 1 and info["webrtcup"], info
			assert info["dtls"]["state"] == "connected", info
			await asyncio.sleep(1)
			n1, info = await packets_in(admin, sid, hid)
			assert n1 > n0, info
			await frames(tracks)
			assert not [m for m in api.pending(sid) if m.get("janus") == "hangup"], api.pending(sid)
		finally:
			await pc.close()
		await api.destroy(sid)


# ---- failure: hangup "ICE failed" ---------------------------------------------

async def consent_lost(gw):
	"""The peer's UDP sockets close abruptly (no DTLS close_notify): nothing
	arrives any more, consent expires after 30 s (core/webrtc/pc.c
	peer_silent) and the gateway hangs up."""
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			t0 = time.monotonic()
			for t in pc.getTransceivers():
				conn = t.sender.transport.transport._connection
				if conn._query_consent_handle:
					conn._query_consent_handle.cancel()
				for proto in conn._protocols:
					proto.transport.close()
			ev = await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=45)
			assert ev["reason"] == "ICE failed", ev
			took = time.monotonic() - t0
		finally:
			await pc.close()
		await api.destroy(sid)
	return took


async def never_answers(gw):
	"""The offer's only candidate is a port nobody answers on."""
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, _ = await offer_pc()
		await pc.close()
		sdp = without_candidates(pc.localDescription.sdp).replace(
			"a=ice-pwd:", "a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\na=end-of-candidates\r\na=ice-pwd:", 1)
		t0 = time.monotonic()
		await offer_and_answer(api, sid, hid, sdp)
		ev = await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=30)
		assert ev["reason"] == "ICE failed", ev
		took = time.monotonic() - t0
		# the handle survives and negotiates again
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
		finally:
			await pc.close()
		await api.destroy(sid)
	return took


@pytest.mark.timeout_s(75)
async def test_ice_failed_hangups(plain_gw):
	lost, never = await asyncio.gather(consent_lost(plain_gw), never_answers(plain_gw))
	# consent: 30 s of silence, checked every second; not before (a lost
	# check or two must not end a call: test_netem.py blackout test)
	assert 29 <= lost < 35 and never < 30, (lost, never)


# ---- ICE-Lite ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lite_gw(module_gateway_factory):
	gw = echo_gateway(module_gateway_factory, nat={"ice_lite": True})
	yield gw
	shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


@pytest.mark.timeout_s(30)
async def test_ice_lite(lite_gw):
	async with open_api(lite_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		r = await api.request({"janus": "info"})
		assert r["ice-lite"] is True, r
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			assert "a=ice-lite" in pc.remoteDescription.sdp
		finally:
			await pc.close()
		await api.destroy(sid)


# ---- candidates: ICE-TCP, rtp_port_range, nat_1_1_mapping, STUN --------------

class StunServer(asyncio.DatagramProtocol):
	"""Answers every Binding request with a fixed XOR-MAPPED-ADDRESS (a
	made-up public address on another loopback IP), so the gateway learns a
	server-reflexive candidate."""
	MAPPED = ("127.0.0.3", 40999)

	def connection_made(self, transport):
		self.transport = transport
		self.requests = 0

	def datagram_received(self, data, addr):
		if len(data) < 20 or data[0:2] != b"\x00\x01":
			return
		self.requests += 1
		cookie, tid = data[4:8], data[8:20]
		ip = bytes(a ^ b for a, b in zip(socket.inet_aton(self.MAPPED[0]), b"\x21\x12\xa4\x42"))
		port = self.MAPPED[1] ^ 0x2112
		attr = struct.pack("!HHBBH", 0x0020, 8, 0, 1, port) + ip
		self.transport.sendto(struct.pack("!HH", 0x0101, len(attr)) + cookie + tid + attr, addr)


@pytest.mark.timeout_s(40)
async def test_candidates_config(gateway_factory):
	loop = asyncio.get_running_loop()
	stun_transport, stun = await loop.create_datagram_endpoint(StunServer, local_addr=("127.0.0.1", 0))
	stun_port = stun_transport.get_extra_info("sockname")[1]
	lo, hi = 47100, 47199
	gw = echo_gateway(gateway_factory,
		nat={"ice_tcp": True, "nat_1_1_mapping": "127.0.0.2", "stun_server": "127.0.0.1", "stun_port": stun_port},
		media={"rtp_port_range": f"{hi}-{lo}"})
	try:
		async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
			sid = await api.create()
			hid = await api.attach(sid, ECHO)
			pc, tracks = await offer_pc()
			try:
				await negotiate(api, sid, hid, pc, tracks)
				sdp = pc.remoteDescription.sdp
				cands = candidates(sdp)
				hosts = [c.split() for c in cands if " typ host" in c]
				udp = [c for c in hosts if c[2].lower() == "udp"]
				tcp = [c for c in hosts if c[2].lower() == "tcp"]
				assert udp and tcp, cands
				# nat_1_1_mapping: host candidates announce the public IP only
				assert all(c[4] == "127.0.0.2" and "raddr" not in c for c in hosts), cands
				assert all("tcptype" in c for c in tcp), cands
				# rtp_port_range (given reversed: swapped)
				assert all(lo <= int(c[5]) <= hi for c in udp), cands
				assert all(lo <= int(c[5]) <= hi for c in tcp if c[5] != "9"), cands
				# STUN: a server-reflexive candidate with the mapped address
				assert stun.requests > 0
				assert any(f" {StunServer.MAPPED[0]} {StunServer.MAPPED[1]} typ srflx" in c for c in cands), cands
				# the agent itself still uses the private address
				info = (await handle_info(admin, sid, hid))["webrtc"]["ice"]
				local = info["local-candidates"]
				assert any(l.startswith("127.0.0.1:") and l.endswith("udp host") for l in local), info
				assert {int(c[5]) for c in udp} <= {int(l.split()[0].split(":")[1]) for l in local}, info
				# media flows (the gateway's checks make aiortc learn the real address)
				await frames(tracks)
			finally:
				await pc.close()
			await api.destroy(sid)
	finally:
		stun_transport.close()
