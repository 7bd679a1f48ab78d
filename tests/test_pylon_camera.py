"""Basler cameras, tested against the camera emulation shipped in the pypylon wheel.

PYLON_CAMEMU must be set before pypylon is first imported: pylon then offers emulated cameras
0815-0000 and 0815-0001 that take software triggers, serve images from files
(ImageFileMode), fail grabs on request (ForceFailedBuffer) and fire an unplug event
(FirePnPCallback). Frames are kept to 64 x 48 so the whole module takes seconds.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("PYLON_CAMEMU", "2")  # before pypylon is first imported

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from adgui.sources import (HARDWARE, SOFTWARE, ImageError, PylonCamera, SourceError,  # noqa: E402
                           SourceLost, parse_source)
from adgui.sources.pixels import to_display8  # noqa: E402
from adgui.sources.pylon import FrameNumbers  # noqa: E402

pylon = pytest.importorskip("pypylon.pylon")
# pytest-timeout's default SIGALRM method makes a later RetrieveResult in this process wait
# forever past its own timeout (seen with pypylon 26.9 after a forced failed grab); a watchdog
# thread does not disturb pylon.
pytestmark = pytest.mark.timeout(300, method="thread")
SERIAL = "0815-0000"
SMALL = {"serial": SERIAL, "width": 64, "height": 48}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def emulator():
    devices = pylon.TlFactory.GetInstance().EnumerateDevices()
    serials = [device.GetSerialNumber() for device in devices]
    if SERIAL not in serials:
        pytest.skip(f"pylon offers no emulated camera {SERIAL} (PYLON_CAMEMU must be set before "
                    f"pypylon is first imported); cameras found: {serials}")
    return serials


@pytest.fixture
def camera(request):
    """Opens emulated cameras with the given settings; closes them after the test."""
    opened: list[PylonCamera] = []

    def make(trigger=SOFTWARE, **settings) -> PylonCamera:
        source = PylonCamera({**SMALL, "pixel_format": "Mono8", **settings}, trigger)
        source.open()
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def grab(source: PylonCamera, count: int = 1):
    frames = []
    for _ in range(count):
        source.trigger()
        frame = source.read(2.0)
        assert frame is not None, "no frame within 2 s of a software trigger"
        frames.append(frame)
    return frames


def test_module_imports_and_reports_clearly_without_pypylon(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypylon", None)  # as if not installed
    # A fresh copy of the module loads with pypylon missing: only open() needs it.
    path = REPO / "adgui" / "sources" / "pylon.py"
    spec = importlib.util.spec_from_file_location("adgui.sources._pylon_without_sdk", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SourceError, match="Basler cameras need the pypylon package"):
        module.PylonCamera({"serial": "1"}).open()


def test_software_trigger_gives_one_frame_per_trigger_in_order(camera):
    source = camera()
    frames = grab(source, 50)
    for _ in range(12):  # triggers ahead of the reads: frames wait in pylon's buffers, in order
        source.trigger()
    frames += [source.read(2.0) for _ in range(12)]
    assert source.read(0.2) is None  # one frame per trigger, no more
    assert [frame.trigger_number for frame in frames] == list(range(1, 63))
    assert [frame.part_id for frame in frames[:2]] == ["000001", "000002"]
    for frame in frames:
        assert frame.source == f"pylon:{SERIAL}"
        assert frame.image.shape == (48, 64) and frame.image.dtype == np.uint8
        assert frame.bit_depth == 8
        assert frame.trigger_time is not None and frame.trigger_time <= frame.acquired_time


def test_exposure_and_gain_are_written_and_read_back_from_the_device(camera):
    source = camera(exposure_us=2500, gain_db=6.0)
    assert source.read_back("exposure_us") == pytest.approx(2500)
    assert source.read_back("gain_db") == pytest.approx(6.0, abs=0.1)
    assert (source.read_back("width"), source.read_back("height")) == (64, 48)
    source._camera.ExposureTime.Value = 3333.0  # changed on the device behind the settings
    assert source.read_back("exposure_us") == pytest.approx(3333)
    assert source.settings["exposure_us"] == 2500
    source.close()
    source.open()  # the setting is written again on every open
    assert source.read_back("exposure_us") == pytest.approx(2500)


def test_a_setting_outside_the_cameras_range_is_refused_with_the_range():
    source = PylonCamera({**SMALL, "exposure_us": 0.5}, SOFTWARE)
    with pytest.raises(SourceError, match=r"Exposure \(µs\): 0.5 µs is outside .* \(1 to"):
        source.open()
    source.close()


def test_unknown_serial_lists_the_cameras_found():
    with pytest.raises(SourceError, match=f"no Basler camera with serial 1234;.*{SERIAL}") as error:
        PylonCamera({"serial": "1234"}, SOFTWARE).open()
    assert not isinstance(error.value, SourceLost)  # never seen: a mistake, not an outage
    with pytest.raises(SourceError, match="serial number"):
        PylonCamera({}, SOFTWARE).open()


def test_mono8_mono12_mono16_serve_a_known_image(camera, tmp_path):
    rng = np.random.default_rng(3)
    known = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    path = tmp_path / "known.png"
    cv2.imwrite(str(path), known)
    mono8 = grab(camera(pixel_format="Mono8", test_images=str(path)))[0]
    np.testing.assert_array_equal(mono8.image, known)
    for name, bits in (("Mono12", 12), ("Mono16", 16)):
        frame = grab(camera(pixel_format=name, test_images=str(path)))[0]
        assert frame.bit_depth == bits and frame.image.dtype == np.uint16
        # The emulator scales the 8-bit file up to the format's depth: native depth, not 8 bits.
        np.testing.assert_array_equal(frame.image, known.astype(np.uint16) << (bits - 8))
        shown = to_display8(frame.image, frame.bit_depth)
        assert np.abs(shown.astype(int) - known.astype(int)).max() <= 1


def test_bayer_and_rgb_from_the_emulator_come_out_as_the_served_colours(camera, tmp_path):
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.dstack([40 + 2 * x + y, 60 + 2 * y + x, 220 - 2 * x - y]).astype(np.uint8)
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    for name in ("BayerRG8", "BayerGB8", "BayerGR8", "BayerBG8", "BayerRG12", "RGB8", "BGR8"):
        frame = grab(camera(pixel_format=name, test_images=str(path)))[0]
        assert frame.image.shape == (48, 64, 3), name
        shown = to_display8(frame.image, frame.bit_depth)
        error = np.abs(shown[2:-2, 2:-2].astype(int) - rgb[2:-2, 2:-2].astype(int)).max()
        assert error <= 1, f"{name}: colours off by {error}"


def test_a_folder_of_test_images_is_served_in_turn(camera, tmp_path):
    first = np.full((48, 64), 10, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), first)
    cv2.imwrite(str(tmp_path / "b.png"), 255 - first)
    frames = grab(camera(test_images=str(tmp_path)), 2)
    assert {int(frames[0].image[0, 0]), int(frames[1].image[0, 0])} == {10, 245}


def test_camera_destroyed_mid_stream_is_lost_then_reopens(camera):
    source = camera()
    grab(source, 3)
    killer = threading.Timer(0.3, source._camera.DestroyDevice)  # the device vanishes
    killer.start()
    started = time.monotonic()
    with pytest.raises(SourceLost, match="disconnected"):
        while time.monotonic() - started < 5:
            source.read(2.0)
    assert time.monotonic() - started < 1.5  # the waiting read returned at once, not at 2 s
    with pytest.raises(SourceLost):
        source.trigger()
    source.close()
    source.close()  # twice is harmless
    source.open()
    assert [frame.trigger_number for frame in grab(source, 3)] == [1, 2, 3]


def test_unplug_event_is_seen_at_the_next_trigger(camera):
    source = camera()
    grab(source, 2)
    source._camera.FirePnPCallback.Execute()  # pylon's emulated removal of the device
    with pytest.raises(SourceLost, match="disconnected"):
        source.trigger()
    source.close()
    source.open()
    assert grab(source, 1)[0].trigger_number == 1


def test_a_failed_grab_is_one_part_error_and_three_in_a_row_a_lost_camera(camera):
    source = camera()
    grab(source, 2)
    source._camera.ForceFailedBufferCount.Value = 1
    source._camera.ForceFailedBuffer.Execute()
    source.trigger()
    with pytest.raises(ImageError, match="incompletely grabbed") as failed:
        source.read(2.0)
    assert failed.value.part_id == "000003" and failed.value.trigger_number == 3
    assert grab(source, 1)[0].trigger_number == 4  # the run goes on
    source._camera.ForceFailedBufferCount.Value = 3
    source._camera.ForceFailedBuffer.Execute()
    outcomes = []
    for _ in range(3):
        source.trigger()
        try:
            source.read(2.0)
        except SourceLost:
            outcomes.append("lost")
        except ImageError:
            outcomes.append("error")
    assert outcomes == ["error", "error", "lost"]


def test_a_trigger_left_unanswered_counts_as_lost_after_the_timeout(camera):
    source = camera(timeout_ms=150)
    grab(source, 1)
    source._triggers.issue()  # fault injected at the boundary: a trigger the camera never saw
    assert source.read(0.05) is None  # still within the timeout
    time.sleep(0.15)
    with pytest.raises(SourceLost, match="no image within 150 ms of trigger 2"):
        source.read(0.05)


def test_hardware_trigger_waits_quietly_and_takes_no_software_trigger(camera):
    source = camera(trigger=HARDWARE)
    assert source._camera.TriggerSource.Value == "Line1"
    assert source._camera.TriggerMode.Value == "On"
    started = time.monotonic()
    assert source.read(0.2) is None  # no edge, no frame, and not a lost camera
    assert time.monotonic() - started >= 0.15
    with pytest.raises(SourceError, match="no software trigger"):
        source.trigger()


def test_free_run_preview_delivers_without_triggers(camera):
    source = camera(trigger="free", rate=50.0)
    assert source.read_back("rate") == pytest.approx(50.0)
    frames = [source.read(1.0) for _ in range(5)]
    assert all(frame is not None and frame.trigger_time is None for frame in frames)
    numbers = [frame.trigger_number for frame in frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5


def test_source_spec_from_the_command_line():
    spec = parse_source(f"pylon:{SERIAL}", SOFTWARE, exposure_us="1200")
    assert spec.part_mode and spec.resolved()["exposure_us"] == 1200.0
    assert spec.describe() == f"basler camera (pylon) {SERIAL}"
    with pytest.raises(ValueError, match="Pixel format"):
        parse_source(f"pylon:{SERIAL}", SOFTWARE, pixel_format="Mono9")


def test_frame_numbers_follow_block_ids_across_gaps_and_wraps():
    usb = FrameNumbers(first_id=0)
    assert [usb.number(block) for block in (0, 1, 3, 4)] == [1, 2, 4, 5]  # trigger 3 lost
    gige = FrameNumbers(first_id=1, wrap=65_535)
    assert [gige.number(block) for block in (65_534, 65_535, 1, 2)] == [65_534, 65_535,
                                                                        65_536, 65_537]
    unknown = FrameNumbers(first_id=None)
    assert [unknown.number(block) for block in (7, 8, 10)] == [1, 2, 4]
    assert unknown.number(FrameNumbers.NO_ID) == 5  # a broken frame without an ID


def test_close_from_another_thread_ends_a_waiting_read_at_once(camera):
    source = camera()
    grab(source, 1)
    outcome = {}

    def reader():
        started = time.monotonic()
        outcome["frame"] = source.read(5.0)  # waits for a trigger that never comes
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    source.close()
    close_seconds = time.monotonic() - started
    thread.join(5)
    assert not thread.is_alive()
    assert outcome["frame"] is None and outcome["seconds"] < 2.0
    assert close_seconds < 2.0


def test_a_camera_that_worked_and_is_absent_on_reopen_is_lost_not_failed(camera):
    source = camera()
    source.close()
    source.settings["serial"] = "0815-0009"  # as if unplugged: no longer enumerated
    with pytest.raises(SourceLost, match=f"no Basler camera with serial 0815-0009;.*{SERIAL}"):
        source.open()  # worth retrying with backoff, unlike a serial never seen
    source.settings["serial"] = SERIAL
    source.open()
    assert grab(source, 1)[0].trigger_number == 1
