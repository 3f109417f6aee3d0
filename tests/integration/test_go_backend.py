"""examples/go-backend built with Debian's Go and exercised against the
gateway: it answers auth_http's signed callbacks from its users file, its
JWTs pass auth_jwt, it receives and verifies the webhook batches, and its
-create-room calls the REST API to create a videoroom room."""

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import gateway as gwmod
from apiclient import expect_error, open_api
from stub_backend import sign

pytestmark = pytest.mark.cardea_only

SRC = gwmod.REPO / "examples" / "go-backend"
HOOK_SECRET = "go-backend-hook-secret"
JWT_SECRET = "go-backend-jwt-secret-0123456789"


@pytest.fixture(scope="module")
def go_binary():
	go = shutil.which("go")
	assert go, "Go is needed (apt-get install -y golang-go; scripts/setup.sh lists it)"
	out = Path(tempfile.mkdtemp(prefix="cardea-go-")) / "go-backend"
	env = dict(os.environ, GOCACHE=str(out.parent / "cache"), GOPATH=str(out.parent / "gopath"),
		GOFLAGS="-mod=mod", CGO_ENABLED="0")
	subprocess.run([go, "build", "-o", str(out), "."], cwd=SRC, env=env, check=True, timeout=300)
	yield out
	shutil.rmtree(out.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def backend(go_binary):
	port = gwmod.free_port()
	log = open(go_binary.parent / "backend.log", "wb")
	proc = subprocess.Popen([str(go_binary), "-listen", f"127.0.0.1:{port}", "-users", str(SRC / "users.json"),
		"-secret", HOOK_SECRET, "-jwt-secret", JWT_SECRET], stdout=log, stderr=subprocess.STDOUT)
	deadline = time.monotonic() + 10
	while not gwmod.port_open(port):
		assert time.monotonic() < deadline and proc.poll() is None, "go-backend did not start"
		time.sleep(0.05)
	b = type("B", (), {})()
	b.url = f"http://127.0.0.1:{port}"
	b.log = lambda: (go_binary.parent / "backend.log").read_text()
	b.binary = go_binary
	yield b
	proc.terminate()
	proc.wait(5)
	log.close()


def get_json(url):
	with urllib.request.urlopen(url, timeout=5) as r:
		return json.loads(r.read())


@pytest.fixture(scope="module")
def wired_gw(module_gateway_factory, backend):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-go-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videoroom.so", tmp)
	files = {
		"cardea.auth.http.jcfg": f'general: {{\n\tenabled = true\n\turl = "{backend.url}/auth"\n\tsecret = "{HOOK_SECRET}"\n\tcache_ttl = 0\n}}\n',
		"cardea.events.webhook.jcfg": f'general: {{\n\tenabled = true\n\turls = [ "{backend.url}/events" ]\n\tsecret = "{HOOK_SECRET}"\n\tbatch_ms = 100\n}}\n',
	}
	gw = module_gateway_factory(files=files, args=["-P", str(tmp)])
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


async def test_static_token_user_allowed_unknown_denied(wired_gw, backend):
	async with open_api(wired_gw, "http") as api:
		sid = await api.create(token="alice-secret-token")
		hid = await api.attach(sid, "janus.plugin.videoroom", token="alice-secret-token")
		assert hid > 0
		await api.destroy(sid)
		expect_error(await api.request({"janus": "create", "token": "nobody"}), 403, "Unauthorized request (unknown user)")
	assert "auth: session.create by alice from 127.0.0.1 allowed" in backend.log()
	assert "auth: session.create denied: unknown token" in backend.log()


async def test_backend_jwt_accepted_by_backend(wired_gw, backend):
	tok = get_json(backend.url + "/token?user=bob")["token"]
	async with open_api(wired_gw, "http") as api:
		sid = await api.create(token=tok)
		await api.destroy(sid)
	assert "auth: session.create by bob from 127.0.0.1 allowed" in backend.log()


async def test_backend_verifies_signatures(backend):
	body = json.dumps({"action": "session.create", "token": "alice-secret-token"}).encode()
	for sig, want in ((sign(HOOK_SECRET, body), 200), (sign("wrong", body), 401), (None, 401)):
		req = urllib.request.Request(backend.url + "/auth", data=body, method="POST")
		if sig:
			req.add_header("X-Cardea-Signature", sig)
		try:
			with urllib.request.urlopen(req, timeout=5) as r:
				status, answer = r.status, json.loads(r.read())
		except urllib.error.HTTPError as e:
			status, answer = e.code, None
		assert status == want, (sig, status)
		if want == 200:
			assert answer["allow"] is True and answer["user_id"] == "alice", answer
			assert answer["permissions"]["rooms"] == [1234, 5678]


async def test_webhooks_reach_backend(wired_gw, backend):
	async with open_api(wired_gw, "http") as api:
		sid = await api.create(token="alice-secret-token")
		await api.destroy(sid)
	deadline = time.monotonic() + 5
	while f"session.created session={sid}" not in backend.log() and time.monotonic() < deadline:
		await asyncio.sleep(0.1)
	assert f"session.created session={sid}" in backend.log()
	assert f"session.destroyed session={sid}" in backend.log()
	assert "events: bad signature" not in backend.log()


def create_room(gw, backend, room):
	r = subprocess.run([str(backend.binary), "-create-room", str(room), "-gateway", gw.http_url,
		"-token", "alice-secret-token"], capture_output=True, text=True, timeout=30)
	assert r.returncode == 0, r.stderr
	answer = json.loads(r.stdout.strip().splitlines()[-1])
	assert answer["plugin"] == "janus.plugin.videoroom", answer
	return answer["data"]


async def test_create_room_over_rest(wired_gw, backend):
	# 5678 is in alice's rooms (users.json): the videoroom asks the backend
	# (videoroom.create) and creates it.
	data = create_room(wired_gw, backend, 5678)
	assert data["videoroom"] == "created" and data["room"] == 5678, data
	# 4321 is not: the backend's answer restricts her to her rooms.
	data = create_room(wired_gw, backend, 4321)
	assert data["error_code"] == 433 and "room not allowed" in data["error"], data


async def test_jwt_from_backend_passes_auth_jwt(gateway_factory, backend):
	cfg = (f'general: {{\n\tenabled = true\n\talg = "HS256"\n\tsecret = "{JWT_SECRET}"\n'
		f'\tissuer = "go-backend"\n\taudience = "cardea"\n}}\n')
	gw = gateway_factory(files={"cardea.auth.jwt.jcfg": cfg})
	tok = get_json(backend.url + "/token?user=alice")["token"]
	async with open_api(gw, "http") as api:
		sid = await api.create(token=tok)
		await api.destroy(sid)
		expect_error(await api.request({"janus": "create", "token": tok[:-2] + "xx"}), 403,
			"Unauthorized request (bad signature)")
