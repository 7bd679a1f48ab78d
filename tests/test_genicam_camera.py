"""GenICam cameras through harvesters and a GenTL producer (.cti).

The only producer that runs on a PC without cameras here is the test producer shipped in the
`genicam` wheel (viky.cti: three simulated cameras, serials 0, 1, 2). It runs free only: it
has no trigger features, so acquisition is tested in free run and the triggered modes are
tested for their refusal; a software-trigger test runs when a producer with triggers is given
in ADGUI_TEST_CTI / ADGUI_TEST_CTI_SERIAL, and skips with the reason otherwise.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adgui.sources import FREE, HARDWARE, SOFTWARE, GenicamCamera, SourceError, SourceLost

pytestmark = pytest.mark.timeout(300, method="thread")  # signals do not interrupt GenTL waits


def viky_cti() -> Path | None:
    try:
        import genicam
    except ImportError:
        return None
    path = Path(genicam.__file__).parent / "viky.cti"
    return path if path.is_file() else None


@pytest.fixture
def cti() -> Path:
    pytest.importorskip("harvesters.core")
    path = viky_cti()
    if path is None:
        pytest.skip("the genicam wheel's test producer viky.cti is not installed")
    return path


@pytest.fixture
def camera(cti):
    opened: list[GenicamCamera] = []

    def make(trigger=FREE, **settings) -> GenicamCamera:
        source = GenicamCamera({"serial": "1", "cti": str(cti), **settings}, trigger)
        source.open()
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def test_module_imports_and_reports_clearly_without_harvesters(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "harvesters", None)  # as if not installed
    path = Path(__file__).resolve().parents[1] / "adgui" / "sources" / "genicam.py"
    spec = importlib.util.spec_from_file_location("adgui.sources._genicam_without_sdk", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    producer = tmp_path / "maker.cti"
    producer.write_bytes(b"")
    with pytest.raises(SourceError, match="GenICam cameras need the harvesters package"):
        module.GenicamCamera({"serial": "1", "cti": str(producer)}).open()


@pytest.mark.parametrize("value,message", [
    ("", "choose the camera maker's GenTL producer"),
    ("{tmp}/absent.cti", "absent.cti not found"),
    ("{tmp}", "is not a file"),
    ("{tmp}/producer.dll", "producer.dll is not a GenTL producer: its name must end in .cti"),
    ("{tmp}/broken.cti", "broken.cti cannot be loaded as a GenTL producer"),
])
def test_missing_or_bad_producer_is_refused_clearly(tmp_path, value, message):
    (tmp_path / "producer.dll").write_bytes(b"MZ")
    (tmp_path / "broken.cti").write_text("not a shared library")
    pytest.importorskip("harvesters.core")
    source = GenicamCamera({"serial": "1", "cti": value.format(tmp=tmp_path)}, FREE)
    with pytest.raises(SourceError, match=message):
        source.open()
    source.close()  # after a failed open: harmless


def test_unknown_serial_lists_the_cameras_found(cti):
    with pytest.raises(SourceError, match=r"no camera with serial 9 through viky.cti; "
                                          r"cameras found: 0, 1, 2"):
        GenicamCamera({"serial": "9", "cti": str(cti)}, FREE).open()


def test_free_run_acquires_mono8_at_the_size_set(camera):
    source = camera(pixel_format="Mono8", width=128, height=100, rate=100.0)
    assert source.read_back("pixel_format") == "Mono8"
    assert (source.read_back("width"), source.read_back("height")) == (128, 100)
    assert source.read_back("rate") == pytest.approx(100.0)
    frames = [source.read(2.0) for _ in range(5)]
    assert all(frame is not None for frame in frames)
    assert [frame.trigger_number for frame in frames] == [1, 2, 3, 4, 5]
    for frame in frames:
        assert frame.image.shape == (100, 128) and frame.image.dtype == np.uint8
        assert frame.bit_depth == 8 and frame.source == "genicam:1"
        assert frame.image.flags.writeable  # a copy: the producer reuses its buffer
    assert len({frame.image.tobytes() for frame in frames}) > 1  # the scene moves


def test_rgba_becomes_rgb(camera):
    source = camera(pixel_format="RGBa8", width=120, height=100)
    assert source.read_back("pixel_format") == "RGBa8"
    frame = source.read(2.0)
    assert frame.image.shape == (100, 120, 3) and frame.image.dtype == np.uint8


def test_a_format_the_camera_lacks_is_refused_with_what_it_offers(camera):
    with pytest.raises(SourceError, match="cannot send BayerRG8; it offers RGBa8, Mono8"):
        camera(pixel_format="BayerRG8")


def test_exposure_on_a_camera_without_it_is_refused(camera):
    with pytest.raises(SourceError, match="no writable setting for exposure"):
        camera(exposure_us=1000.0)


@pytest.mark.parametrize("trigger", [SOFTWARE, HARDWARE])
def test_triggered_modes_need_trigger_features(camera, trigger):
    with pytest.raises(SourceError, match="has no frame start trigger"):
        camera(trigger=trigger)


def test_producer_gone_mid_stream_is_lost_then_reopens(camera):
    source = camera(pixel_format="Mono8", width=128, height=100)
    assert source.read(2.0) is not None
    acquirer = source._acquirer
    threading.Timer(0.2, acquirer.destroy).start()  # the device handle vanishes
    started = time.monotonic()
    with pytest.raises(SourceLost):
        while time.monotonic() - started < 5:
            source.read(0.5)
    source.close()
    source.open()
    assert source.read(2.0).trigger_number == 1


def test_software_trigger_through_a_producer_with_triggers():
    cti, serial = os.environ.get("ADGUI_TEST_CTI"), os.environ.get("ADGUI_TEST_CTI_SERIAL")
    if not (cti and serial):
        pytest.skip("no GenTL producer with a software trigger here: viky.cti (the genicam "
                    "wheel's, the only one found) has no TriggerMode/TriggerSoftware; set "
                    "ADGUI_TEST_CTI and ADGUI_TEST_CTI_SERIAL to run this test")
    with GenicamCamera({"serial": serial, "cti": cti}, SOFTWARE) as source:
        frames = []
        for _ in range(20):
            source.trigger()
            frames.append(source.read(2.0))
    assert [frame.trigger_number for frame in frames] == list(range(1, 21))
    assert all(frame.trigger_time <= frame.acquired_time for frame in frames)


def test_a_size_outside_the_cameras_range_is_refused_with_the_range(camera):
    with pytest.raises(SourceError, match=r"Width: 64 pixels is outside what camera 1 takes "
                                          r"\(100 to 800 pixels\)"):
        camera(width=64)
