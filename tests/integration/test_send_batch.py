"""Batched sends on the media loops (core/webrtc/send-batch.c): a VideoRoom
publisher fanned out to several subscribers on one loop reaches every
subscriber while the datagrams go out in io_uring rounds of more than one
(the send-batch counters in /metrics); with CARDEA_SEND_BATCH=0 the same
media flows with no round at all (one sendto per packet); with
CARDEA_SEND_GSO=0 the rounds stay but no send carries several datagrams
(UDP GSO; tests/bench/smoke.sh checks that GSO sends happen when frames
are several same-size packets, with no loss and no SRTP error). A datagram
that goes alone is a send with its address on Linux 6.3 and later, and a
sendmsg with CARDEA_SEND_SENDTO=0."""

import os
import re

import pytest

from test_relay import counters, fan_out, relay_gateway

pytestmark = pytest.mark.cardea_only

SUBSCRIBERS = 4


async def batch_metrics(gw):
	return await counters(gw, "cardea_send_batch_", ("flushes", "packets", "errors"))


@pytest.mark.timeout_s(120)
async def test_fan_out_is_sent_in_batches(gateway_factory, tmp_path):
	gw = relay_gateway(gateway_factory, tmp_path)
	before = await batch_metrics(gw)
	await fan_out(gw, SUBSCRIBERS)
	after = await batch_metrics(gw)
	d = {k: after[k] - before[k] for k in after}
	if d["flushes"] == 0 and "io_uring unavailable" in gw.log_text():
		# a kernel or seccomp profile without io_uring: the gateway said so
		# and fell back to sendto (test_batching_off_still_delivers covers it)
		pytest.skip("io_uring is unavailable here: " + gw.log_tail(200).split("io_uring unavailable", 1)[1][:80])
	# every subscriber got audio and video (fan_out waits for it), and what
	# the loops sent went out in rounds of more than one datagram
	assert d["packets"] > 0 and d["flushes"] > 0, d
	assert d["packets"] >= 1.5 * d["flushes"], f"rounds too small: {d}"
	assert d["errors"] == 0, d
	assert gw.alive(), gw.log_tail(40)


@pytest.mark.timeout_s(120)
async def test_batching_off_still_delivers(gateway_factory, tmp_path, monkeypatch):
	monkeypatch.setenv("CARDEA_SEND_BATCH", "0")
	gw = relay_gateway(gateway_factory, tmp_path)
	await fan_out(gw, 2)
	m = await batch_metrics(gw)
	assert m == {"flushes": 0, "packets": 0, "errors": 0}, m
	assert gw.alive(), gw.log_tail(40)


@pytest.mark.timeout_s(120)
async def test_gso_off_still_batches(gateway_factory, tmp_path, monkeypatch):
	monkeypatch.setenv("CARDEA_SEND_GSO", "0")
	gw = relay_gateway(gateway_factory, tmp_path)
	before = await counters(gw, "cardea_send_", ("batch_packets", "batch_errors", "gso_sends", "gso_packets"))
	await fan_out(gw, SUBSCRIBERS)
	after = await counters(gw, "cardea_send_", ("batch_packets", "batch_errors", "gso_sends", "gso_packets"))
	d = {k: after[k] - before[k] for k in after}
	if d["batch_packets"] == 0 and "io_uring unavailable" in gw.log_text():
		pytest.skip("io_uring is unavailable here")
	assert d["batch_packets"] > 0 and d["batch_errors"] == 0, d
	assert after["gso_sends"] == 0 and after["gso_packets"] == 0, after
	assert gw.alive(), gw.log_tail(40)


def kernel_has_sendto():
	"""Linux 6.3 or later: the ring feature send-batch.c takes as the sign
	that IORING_OP_SEND carries an address."""
	m = re.match(r"(\d+)\.(\d+)", os.uname().release)
	return m is not None and (int(m.group(1)), int(m.group(2))) >= (6, 3)


async def sendto_run(gateway_factory, tmp_path):
	gw = relay_gateway(gateway_factory, tmp_path)
	keys = ("batch_packets", "batch_errors", "sendto")
	before = await counters(gw, "cardea_send_", keys)
	await fan_out(gw, SUBSCRIBERS)
	after = await counters(gw, "cardea_send_", keys)
	d = {k: after[k] - before[k] for k in after}
	if d["batch_packets"] == 0 and "io_uring unavailable" in gw.log_text():
		pytest.skip("io_uring is unavailable here")
	assert d["batch_packets"] > 0 and d["batch_errors"] == 0, d
	assert gw.alive(), gw.log_tail(40)
	return gw, d


@pytest.mark.timeout_s(120)
async def test_lone_datagrams_go_with_their_address(gateway_factory, tmp_path):
	gw, d = await sendto_run(gateway_factory, tmp_path)
	if not kernel_has_sendto():
		# an older kernel: every datagram must stay a sendmsg
		assert d["sendto"] == 0, d
		return
	# audio packets and lone video packets: some, never more than were sent
	assert 0 < d["sendto"] <= d["batch_packets"], d
	assert "refused a send with an address" not in gw.log_text()


@pytest.mark.timeout_s(120)
async def test_sendto_off(gateway_factory, tmp_path, monkeypatch):
	monkeypatch.setenv("CARDEA_SEND_SENDTO", "0")
	_, d = await sendto_run(gateway_factory, tmp_path)
	assert d["sendto"] == 0, d
