"""Bundle download over a weak link: resumed with Range, checked against the manifest."""

import hashlib
import os

import pytest
from update_server import UpdateServer

from appliance.update.download import download
from appliance.update.errors import UpdateFailed, UpdateRefused
from appliance.update.manifest import Manifest

BODY = os.urandom(300_000)


def offer(url, body=BODY):
    return Manifest(
        "0.2.0", "cccd-kiosk", "stable", url, hashlib.sha256(body).hexdigest(), len(body)
    )


def test_weak_link_download_resumes_where_it_was_cut(tmp_path):
    with UpdateServer() as srv:
        url = srv.add("/b.raucb", BODY)
        srv.cut_after = 70_000
        path = download(offer(url), tmp_path, retries=10, sleep=lambda s: None)
    assert path.read_bytes() == BODY and path.name.endswith(".raucb")
    ranges = [r for _, r in srv.requests]
    assert ranges[0] == "" and ranges[1] == "bytes=70000-" and ranges[2] == "bytes=140000-"
    assert len(srv.requests) == 5  # 300 000 bytes in cuts of 70 000
    assert not list(tmp_path.glob("*.part"))


def test_a_download_interrupted_by_a_reboot_resumes_from_the_part_file(tmp_path):
    m = offer("http://x/b.raucb")
    (tmp_path / f"{m.sha256}.part").write_bytes(BODY[:123_456])
    with UpdateServer() as srv:
        url = srv.add("/b.raucb", BODY)
        path = download(offer(url), tmp_path, sleep=lambda s: None)
    assert path.read_bytes() == BODY and srv.requests[0][1] == "bytes=123456-"


def test_server_ignoring_range_starts_again_from_zero(tmp_path):
    m = offer("http://x/b.raucb")
    (tmp_path / f"{m.sha256}.part").write_bytes(b"\0" * 1000)  # wrong bytes must not survive
    with UpdateServer() as srv:
        srv.honour_range = False
        url = srv.add("/b.raucb", BODY)
        assert download(offer(url), tmp_path, sleep=lambda s: None).read_bytes() == BODY


def test_wrong_content_is_refused_and_deleted(tmp_path):
    with UpdateServer() as srv:
        url = srv.add("/b.raucb", BODY[:-1] + bytes([BODY[-1] ^ 1]))
        with pytest.raises(UpdateRefused) as exc:
            download(offer(url), tmp_path, sleep=lambda s: None)
    assert exc.value.code == "checksum" and not list(tmp_path.iterdir())


def test_more_bytes_than_the_manifest_says_is_refused(tmp_path):
    with UpdateServer() as srv:
        url = srv.add("/b.raucb", BODY + b"extra")
        with pytest.raises(UpdateRefused):
            download(offer(url), tmp_path, sleep=lambda s: None)


def test_no_server_gives_up_after_the_retries_and_keeps_the_part(tmp_path):
    m = offer("http://127.0.0.1:9/b.raucb")
    (tmp_path / f"{m.sha256}.part").write_bytes(BODY[:5000])
    sleeps = []
    with pytest.raises(UpdateFailed) as exc:
        download(m, tmp_path, retries=3, sleep=sleeps.append)
    assert exc.value.code == "download" and "5000 of 300000" in exc.value.message
    assert sleeps == [2.0, 4.0, 8.0]
    assert (tmp_path / f"{m.sha256}.part").stat().st_size == 5000


def test_an_earlier_release_download_is_cleared(tmp_path):
    (tmp_path / ("cd" * 32 + ".raucb")).write_bytes(b"old release")
    with UpdateServer() as srv:
        url = srv.add("/b.raucb", BODY)
        path = download(offer(url), tmp_path, sleep=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
