"""auth_jwt: local JWT verification (HS256, RS256, ES256) for create and
attach. Expired, not-yet-valid, wrong-signature, wrong issuer/audience,
`alg: none` and algorithm-confusion tokens are refused with 403 and create
nothing; claims carry the user and permissions."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from apiclient import expect_error, open_admin, open_api

pytestmark = pytest.mark.cardea_only

HS_SECRET = "a-long-enough-hs256-secret"
ISS = "https://backend.example"
AUD = "cardea"


def b64(data):
	return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, alg="HS256", key=HS_SECRET, header=None):
	h = {"alg": alg, "typ": "JWT", **(header or {})}
	signing = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(claims).encode())}"
	data = signing.encode()
	if alg == "HS256":
		sig = hmac.new(key.encode() if isinstance(key, str) else key, data, hashlib.sha256).digest()
	elif alg == "RS256":
		sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
	elif alg == "ES256":
		r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
		sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
	else:
		sig = b""
	return f"{signing}.{b64(sig)}"


def claims(**extra):
	now = int(time.time())
	c = {"sub": "alice", "name": "Alice", "iss": ISS, "aud": AUD, "iat": now, "exp": now + 300}
	c.update(extra)
	return {k: v for k, v in c.items() if v is not None}


def jwt_cfg(**general):
	g = {"enabled": "true", "issuer": json.dumps(ISS), "audience": json.dumps(AUD), "leeway": 30}
	g.update(general)
	return "general: {\n" + "\n".join(f"\t{k} = {v}" for k, v in g.items()) + "\n}\n"


@pytest.fixture(scope="module")
def hs_gw(module_gateway_factory):
	return module_gateway_factory(files={"cardea.auth.jwt.jcfg": jwt_cfg(alg='"HS256"', secret=json.dumps(HS_SECRET))})


async def sessions(gw):
	async with open_admin(gw, "http") as admin:
		return set((await admin.ok({"janus": "list_sessions"}))["sessions"])


async def refused(gw, token, why):
	before = await sessions(gw)
	async with open_api(gw, "http") as api:
		msg = {"janus": "create"}
		if token is not None:
			msg["token"] = token
		r = await api.request(msg)
	expect_error(r, 403, f"Unauthorized request ({why})")
	assert await sessions(gw) == before


async def test_valid_hs256_creates_and_attaches(hs_gw, transport):
	tok = make_jwt(claims(permissions={"publish": True, "rooms": [1234]}))
	async with open_api(hs_gw, transport) as api:
		sid = await api.create(token=tok)
		hid = await api.attach(sid, hs_gw.plugin, token=tok)
		assert hid > 0
		await api.destroy(sid)


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "wrong_signature", "alg_none", "wrong_issuer",
	"wrong_audience", "no_exp", "malformed", "missing", "tampered_claims", "alg_rs256_header"])
async def test_bad_tokens_refused(hs_gw, case):
	now = int(time.time())
	good = make_jwt(claims())
	token, why = {
		"expired": (make_jwt(claims(exp=now - 31)), "expired"),
		"not_yet_valid": (make_jwt(claims(nbf=now + 120)), "not yet valid"),
		"wrong_signature": (make_jwt(claims(), key="another-secret-of-length"), "bad signature"),
		"alg_none": (make_jwt(claims(), alg="none"), "algorithm none refused (expected HS256)"),
		"wrong_issuer": (make_jwt(claims(iss="https://evil.example")), "wrong issuer"),
		"wrong_audience": (make_jwt(claims(aud=["other"])), "wrong audience"),
		"no_exp": (make_jwt(claims(exp=None)), "no exp claim"),
		"malformed": ("not.a.jwt.at-all", "malformed token (not three dot-separated parts)"),
		"missing": (None, "no token"),
		"tampered_claims": (good.split(".")[0] + "." + b64(json.dumps(claims(sub="root")).encode()) + "." + good.split(".")[2],
			"bad signature"),
		"alg_rs256_header": (make_jwt(claims(), alg="HS256", header={"alg": "RS256"}), "algorithm RS256 refused (expected HS256)"),
	}[case]
	await refused(hs_gw, token, why)


async def test_clock_skew_leeway(hs_gw):
	now = int(time.time())
	async with open_api(hs_gw, "http") as api:
		sid = await api.create(token=make_jwt(claims(exp=now - 10, nbf=now + 10)))
		await api.destroy(sid)


async def test_actions_claim_limits_use(hs_gw):
	tok = make_jwt(claims(actions=["session.create"]))
	async with open_api(hs_gw, "http") as api:
		sid = await api.create(token=tok)
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": hs_gw.plugin, "token": tok})
		expect_error(r, 403, "Unauthorized request (action not allowed by the token)")
		await api.destroy(sid)
	async with open_admin(hs_gw, "http") as admin:
		stats = (await admin.ok({"janus": "auth_request", "module": "cardea.auth.jwt", "request": {"request": "stats"}}))["response"]
	assert stats["allowed"] >= 1 and stats["denied"] >= 1, stats


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_asymmetric(gateway_factory, tmp_path, alg):
	if alg == "RS256":
		key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
		other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
	else:
		key = ec.generate_private_key(ec.SECP256R1())
		other = ec.generate_private_key(ec.SECP256R1())
	pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
	(tmp_path / "pub.pem").write_bytes(pem)
	gw = gateway_factory(files={"cardea.auth.jwt.jcfg": jwt_cfg(alg=f'"{alg}"', public_key=json.dumps(str(tmp_path / "pub.pem")))})
	async with open_api(gw, "http") as api:
		sid = await api.create(token=make_jwt(claims(), alg=alg, key=key))
		await api.destroy(sid)
	await refused(gw, make_jwt(claims(), alg=alg, key=other), "bad signature")
	await refused(gw, make_jwt(claims(exp=int(time.time()) - 100), alg=alg, key=key), "expired")
	await refused(gw, make_jwt(claims(), alg="none"), f"algorithm none refused (expected {alg})")
	# Algorithm confusion: an HS256 token keyed with the public key PEM.
	await refused(gw, make_jwt(claims(), alg="HS256", key=pem), f"algorithm HS256 refused (expected {alg})")


async def test_short_hs256_secret_refuses_to_start(gateway_factory):
	gw = gateway_factory(files={"cardea.auth.jwt.jcfg": jwt_cfg(alg='"HS256"', secret='"short"')}, start=False)
	gw.start(wait=False)
	assert gw.wait_exit(10) != 0
	assert "16 characters" in gw.log_text()
