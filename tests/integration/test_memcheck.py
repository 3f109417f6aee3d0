"""The daemon under valgrind memcheck: start, a full session lifecycle on
both transports (create, attach, sync and async plugin messages, a long poll,
detach, destroy, admin calls), then SIGTERM. Any memory error or any block
definitely lost fails the test. Slow (valgrind), so one run covers it all."""

import shutil

import pytest

from apiclient import HttpApi, WsApi
import gateway as gwmod


VALGRIND = shutil.which("valgrind")


def _asan_build():
	"""An ASan build (configure --enable-sanitizers) cannot run under valgrind."""
	try:
		return b"__asan_init" in (gwmod.PREFIX / "bin" / "cardea").read_bytes()
	except OSError:
		return False


# The asan layer (tests/run-all.sh asan) checks memory errors and leaks there.
pytestmark = pytest.mark.skipif(_asan_build(), reason="ASan build: valgrind cannot run it (the sanitizers check it)")


async def test_lifecycle_is_memcheck_clean(gateway_factory):
	assert VALGRIND, "valgrind is not installed (scripts/test.sh installs it)"
	wrapper = ["env", "CARDEA_NO_DLCLOSE=1", VALGRIND, "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30"]
	gw = gateway_factory(wrapper=wrapper, start=False)
	gw.start(wait=False)
	gw.wait_ready(timeout=60)
	ws = await WsApi.connect(gw.ws_url)
	http = HttpApi(gw.http_url)
	try:
		for api in (ws, http):
			sid = await api.create()
			hid = await api.attach(sid, gw.plugin, opaque_id="memcheck")
			r = await api.message(sid, hid, {"request": "ping"})
			assert r["janus"] == "success" and r["plugindata"]["data"] == {"test": "pong"}, r
			r = await api.message(sid, hid, {"request": "echo", "n": 1})
			assert r["janus"] == "ack", r
			ev = await api.event(sid, timeout=20)
			assert ev["janus"] == "event" and ev["plugindata"]["data"]["test"] == "echo", ev
			r = await api.message(sid, hid, {"request": "fail"})
			assert r["janus"] == "error" and r["error"]["code"] == 462, r
			r = await api.request({"janus": "trickle", "session_id": sid, "handle_id": hid,
				"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}})
			assert r["janus"] == "ack", r
			r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			await api.destroy(sid)
		# a session left open is torn down by the shutdown itself
		sid = await ws.create()
		await ws.attach(sid, gw.plugin)
		r = await ws.request_raw("{not json")
		assert r["janus"] == "error" and r["error"]["code"] == 454, r
	finally:
		await ws.close()
		await http.close()
	rc, took = gw.stop(timeout=60)
	gw.assert_valgrind_clean(rc, took)


@pytest.mark.timeout_s(120)
async def test_media_session_is_memcheck_clean(gateway_factory, tmp_path):
	"""The same for the media path: an aiortc echotest (ICE, DTLS, SRTP,
	RTP/RTCP both ways, hangup, detach) under valgrind, then SIGTERM."""
	from test_echotest import echo_session
	import gateway as gwmod
	assert VALGRIND, "valgrind is not installed (scripts/test.sh installs it)"
	plugins = tmp_path / "plugins"
	plugins.mkdir()
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", plugins)
	wrapper = ["env", "CARDEA_NO_DLCLOSE=1", VALGRIND, "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30"]
	gw = gateway_factory(wrapper=wrapper, start=False, args=["-P", str(plugins)],
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}})
	gw.start(wait=False)
	gw.wait_ready(timeout=60)
	await echo_session(gw, "ws")
	rc, took = gw.stop(timeout=60)
	gw.assert_valgrind_clean(rc, took)
