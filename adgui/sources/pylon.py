"""Basler GigE Vision and USB3 Vision cameras through pypylon.

pypylon is imported only when a camera opens, so everything else runs without it. Setting
PYLON_CAMEMU=N in the environment before that first import makes pylon offer N emulated
cameras (serials 0815-0000, 0815-0001, ...) that take software triggers and can serve images
from files: the tests and `adgui inspect --source pylon:0815-0000` use them on any PC.

Threads: the station calls `trigger()` and `read()` from its one acquisition thread. They may
be called from two threads (the trigger bookkeeping here is locked), but on a heavily loaded
machine the emulator was seen to leave a frame unanswered for over 10 s that way, so that is not
relied on. `close()` from another thread makes a blocked `read()` return. `read()` must be called steadily while a run lasts: frames
wait in pylon's buffers (MAX_BUFFERS), not in the camera.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from . import pixels
from .base import (FREE, HARDWARE, SOFTWARE, Frame, ImageError, Option, Source, SourceError,
                   SourceLost)

MAX_BUFFERS = 16  # frames pylon holds for `read()`; a steady reader never needs more
FAILED_GRABS_LOST = 3  # failed grabs in a row before the camera counts as lost
RETRIEVE_SLICE_S = 0.05  # longest single wait for an image inside `read()`
KEEP = "camera"  # a pixel format choice: the one set on the camera

# The settings every industrial camera kind declares (the GenICam kind shares them).
SERIAL = Option("serial", "text", "", "Serial", "the camera's serial number (on its label)")
EXPOSURE = Option("exposure_us", "float", 0.0, "Exposure (µs)",
                  "exposure time in microseconds; 0 = as set on the camera",
                  minimum=0.0, maximum=60_000_000.0, device=True)
GAIN = Option("gain_db", "float", 0.0, "Gain (dB)", "analogue gain in decibels (0 = none)",
              minimum=0.0, maximum=60.0, device=True)
PIXEL_FORMAT = Option("pixel_format", "choice", KEEP, "Pixel format",
                      f"how the camera sends pixels; {KEEP} = as set on the camera",
                      choices=(KEEP, *pixels.CHOICES), device=True)
WIDTH = Option("width", "int", 0, "Width", "image width in pixels (a narrower image is "
               "faster); 0 = as set on the camera", minimum=0, maximum=65_535, device=True)
HEIGHT = Option("height", "int", 0, "Height", "image height in pixels; 0 = as set on the camera",
                minimum=0, maximum=65_535, device=True)
RATE = Option("rate", "float", 0.0, "Rate", "free run: frames per second the camera takes; "
              "software trigger: triggers per second the station issues; 0 = as fast as it can",
              minimum=0.0, maximum=10_000.0)
TIMEOUT = Option("timeout_ms", "int", 1000, "Timeout (ms)", "how long a triggered image may "
                 "take to arrive before the camera counts as lost", minimum=10, maximum=600_000)
CAMERA_OPTIONS = (SERIAL, EXPOSURE, GAIN, PIXEL_FORMAT, WIDTH, HEIGHT, RATE, TIMEOUT)

# Feature names: the GenICam standard name first, then the older GigE Vision one.
NODES = {"exposure_us": ("ExposureTime", "ExposureTimeAbs"), "gain_db": ("Gain", "GainAbs"),
         "pixel_format": ("PixelFormat",), "width": ("Width",), "height": ("Height",),
         "rate": ("AcquisitionFrameRate", "AcquisitionFrameRateAbs"),
         "test_images": ("ImageFilename",)}
UNITS = {"exposure_us": "µs", "gain_db": "dB", "width": "pixels", "height": "pixels"}


class FrameNumbers:
    """The camera's frame (block) IDs -> trigger numbers 1, 2, 3, ... for one start.

    The camera counts every frame it takes, so a missing number is a trigger whose image never
    arrived. `first_id` is the ID of the first frame after a start (0 on USB3 Vision and the
    emulator, 1 on GigE Vision; None: take the first frame seen). GigE Vision 1.x IDs run
    1..65535 and start again at 1.
    """

    NO_ID = 2 ** 64 - 1  # what pylon reports when a frame carries no block ID

    def __init__(self, first_id: int | None = 0, wrap: int | None = None):
        self.first_id = first_id
        self.wrap = wrap
        self._last: int | None = None
        self._cycles = 0
        self._number = 0

    def number(self, block_id: int) -> int:
        block_id = int(block_id)
        if block_id == self.NO_ID:
            self._number += 1  # no ID (a broken frame): take it as the next one
            return self._number
        if self.first_id is None:
            self.first_id = block_id
        if self._last is not None and block_id < self._last and self.wrap:
            self._cycles += 1
        self._last = block_id
        period = (self.wrap - self.first_id + 1) if self.wrap else 0
        self._number = self._cycles * period + block_id - self.first_id + 1
        return self._number


class TriggerLog:
    """When each software trigger of this start was issued, until its frame comes (locked:
    `trigger()` and `read()` may run on different threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._times: dict[int, float] = {}
        self.issued = 0

    def issue(self) -> int:
        with self._lock:
            self.issued += 1
            self._times[self.issued] = time.time()
            return self.issued

    def take(self, number: int) -> float | None:
        """The trigger time of frame `number`; older triggers without a frame are forgotten."""
        with self._lock:
            for old in [key for key in self._times if key < number]:
                del self._times[old]
            return self._times.pop(number, None)

    def oldest_waiting(self) -> tuple[int, float] | None:
        with self._lock:
            if not self._times:
                return None
            number = min(self._times)
            return number, self._times[number]


class PylonCamera(Source):
    kind = "pylon"
    label = "Basler camera (pylon)"
    address = "serial"
    triggers = (SOFTWARE, HARDWARE, FREE)
    options = CAMERA_OPTIONS + (
        Option("test_images", "folder", "", "Test images", "pylon camera emulator only: serve "
               "the images of this folder (or this file) instead of a test pattern",
               device=True),)

    def __init__(self, settings=None, trigger=None):
        super().__init__(settings, trigger)
        self._camera: Any = None  # pylon.InstantCamera while open
        self._pylon: Any = None
        self._genicam: Any = None
        self._numbers = FrameNumbers()
        self._triggers = TriggerLog()
        self._failed_grabs = 0
        self._opened_once = False

    @property
    def serial(self) -> str:
        return str(self.settings["serial"]).strip()

    # -- open and configure -------------------------------------------------------------

    def open(self) -> None:
        self.close()
        pylon, genicam = _import_pypylon()
        self._pylon, self._genicam = pylon, genicam
        factory = pylon.TlFactory.GetInstance()
        try:
            devices = factory.EnumerateDevices()
        except genicam.GenericException as error:
            raise SourceError(f"Basler cameras cannot be listed: {_short(error)}") from None
        found = [device.GetSerialNumber() for device in devices]
        if not self.serial:
            raise SourceError(f"enter the Basler camera's serial number; {_found(found)}")
        matches = [device for device in devices if device.GetSerialNumber() == self.serial]
        # Once it has worked, a camera absent or busy is one being reconnected: worth retrying.
        error_class = SourceLost if self._opened_once else SourceError
        if not matches:
            raise error_class(f"no Basler camera with serial {self.serial}; {_found(found)}")
        info = matches[0]
        try:
            camera = pylon.InstantCamera(factory.CreateDevice(info))
            camera.Open()
        except genicam.GenericException as error:
            raise error_class(f"Basler camera {self.serial} cannot be opened (is another program "
                              f"using it?): {_short(error)}") from None
        self._camera = camera
        try:
            self._configure(camera)
            camera.MaxNumBuffer.Value = MAX_BUFFERS
            strategy = (pylon.GrabStrategy_LatestImageOnly if self.trigger_mode == FREE
                        else pylon.GrabStrategy_OneByOne)
            camera.StartGrabbing(strategy)
        except SourceError:
            self.close()
            raise
        except genicam.GenericException as error:
            self.close()
            raise SourceError(f"Basler camera {self.serial} cannot be set up: "
                              f"{_short(error)}") from None
        gige = info.GetDeviceClass() == "BaslerGigE"
        self._numbers = FrameNumbers(first_id=1 if gige else 0, wrap=65_535 if gige else None)
        self._triggers = TriggerLog()
        self._failed_grabs = 0
        self._opened_once = True

    def _configure(self, camera: Any) -> None:
        settings = self.settings
        if settings["test_images"]:
            self._serve_test_images(settings["test_images"])
        else:
            self._set_enum("ImageFileMode", "Off")  # the emulator keeps it from an earlier open
        if settings["pixel_format"] != KEEP:
            self._set_pixel_format(settings["pixel_format"])
        for name in ("width", "height"):
            if settings[name] > 0:
                offset = self._node("OffsetX" if name == "width" else "OffsetY")
                if offset is not None and self._genicam.IsWritable(offset):
                    offset.SetValue(0)  # a full-size image must start at the sensor's corner
                self._write(name, int(settings[name]))
        if settings["exposure_us"] > 0:
            self._set_enum("ExposureAuto", "Off")
            self._write("exposure_us", float(settings["exposure_us"]))
        gain_node = self._node(*NODES["gain_db"])
        if gain_node is not None or settings["gain_db"] > 0:
            self._set_enum("GainAuto", "Off")
            self._write("gain_db", float(settings["gain_db"]))
        self._set_enum("AcquisitionMode", "Continuous")
        self._set_trigger()

    def _set_trigger(self) -> None:
        selector = self._node("TriggerSelector")
        if selector is None or "FrameStart" not in selector.Symbolics:
            if self.trigger_mode == FREE:
                return
            raise SourceError(f"Basler camera {self.serial} has no frame start trigger")
        selector.FromString("FrameStart")
        self._set_enum("TriggerMode", "Off" if self.trigger_mode == FREE else "On")
        rate_enable = self._node("AcquisitionFrameRateEnable")
        if self.trigger_mode == FREE:
            if self.settings["rate"] > 0:
                if rate_enable is not None and self._genicam.IsWritable(rate_enable):
                    rate_enable.SetValue(True)
                self._write("rate", float(self.settings["rate"]))
            return
        if rate_enable is not None and self._genicam.IsWritable(rate_enable):
            rate_enable.SetValue(False)  # a frame rate limit would make triggers wait
        source = "Software" if self.trigger_mode == SOFTWARE else "Line1"
        self._set_enum("TriggerSource", source, required=True)

    def _set_pixel_format(self, wanted: str) -> None:
        node = self._node("PixelFormat")
        offered = list(node.Symbolics) if node is not None else []
        spec = pixels.pixel_format(wanted)
        # The camera may spell it the older way (RGB8Packed for RGB8): same layout, same format.
        for name in offered:
            if pixels.FORMATS.get(name.lower()) is spec:
                node.FromString(name)
                return
        raise SourceError(f"Basler camera {self.serial} cannot send {wanted}; it offers "
                          f"{', '.join(offered) or 'no pixel formats'}")

    def _serve_test_images(self, path: str) -> None:
        mode = self._node("ImageFileMode")
        if mode is None:
            raise SourceError(f"Basler camera {self.serial} is not pylon's camera emulator: it "
                              f"cannot serve test images; clear that setting")
        self._set_enum("TestImageSelector", "Off")  # a test pattern would win over the files
        self._node("ImageFilename").SetValue(str(path))
        mode.FromString("On")

    # -- device settings ------------------------------------------------------------------

    def _node(self, *names: str) -> Any:
        """The first of these features the camera has, or None."""
        nodes = self._camera.GetNodeMap()
        for name in names:
            node = nodes.GetNode(name)
            if self._genicam.IsAvailable(node):
                return node
        return None

    def _set_enum(self, name: str, value: str, required: bool = False) -> None:
        node = self._node(name)
        if node is None or not self._genicam.IsWritable(node) or value not in node.Symbolics:
            if required:
                raise SourceError(f"Basler camera {self.serial} cannot set {name} to {value}")
            return
        node.FromString(value)

    def _write(self, name: str, value: float | int) -> None:
        """Write a device setting; a value out of the camera's range is refused by name."""
        node = self._node(*NODES[name])
        label = next(option.label for option in self.options if option.name == name)
        if node is None or not self._genicam.IsWritable(node):
            raise SourceError(f"Basler camera {self.serial} has no writable setting for "
                              f"{label.lower()}")
        low, high = node.Min, node.Max
        unit = UNITS.get(name, "")
        if not low <= value <= high:
            raise SourceError(f"{label}: {value:g} {unit} is outside what camera {self.serial} "
                              f"takes ({low:g} to {high:g} {unit})".replace("  ", " "))
        step = _increment(node) if isinstance(value, int) else 1
        if step > 1 and (value - low) % step:
            raise SourceError(f"{label}: camera {self.serial} takes {low} + a multiple of "
                              f"{step} {unit}, not {value}".replace("  ", " "))
        node.SetValue(value)

    def read_back(self, name: str) -> Any:
        """A device setting as the camera reports it now (float, int or text)."""
        if name not in NODES:
            return super().read_back(name)
        if self._camera is None:
            raise SourceError(f"open the camera before reading {name} back from it")
        node = self._node(*NODES[name])
        if node is None:
            raise SourceError(f"Basler camera {self.serial} has no setting for {name}")
        return node.GetValue()

    # -- acquisition ------------------------------------------------------------------------

    def trigger(self) -> None:
        """Issue one software trigger; waits (up to the timeout) for the camera to be ready."""
        if self.trigger_mode != SOFTWARE:
            raise SourceError(f"camera {self.serial} runs on a {self.trigger_mode} trigger; it "
                              f"takes no software trigger")
        camera = self._camera
        if camera is None:
            raise SourceLost(f"Basler camera {self.serial} is not open")
        pylon, genicam = self._pylon, self._genicam
        timeout_ms = int(self.settings["timeout_ms"])
        try:
            if camera.IsCameraDeviceRemoved() or not camera.IsPylonDeviceAttached():
                raise SourceLost(f"Basler camera {self.serial} was disconnected")
            if not camera.WaitForFrameTriggerReady(timeout_ms, pylon.TimeoutHandling_Return):
                # With every buffer holding an unread image the camera has nowhere to send one.
                full = camera.NumQueuedBuffers.Value == 0 and camera.NumReadyBuffers.Value > 0
                raise SourceLost(f"Basler camera {self.serial} was not ready for a trigger "
                                 f"within {timeout_ms} ms" + (
                                     f" (all {MAX_BUFFERS} image buffers hold unread images)"
                                     if full else ""))
            self._triggers.issue()
            camera.ExecuteSoftwareTrigger()
        except genicam.GenericException as error:
            raise SourceLost(f"Basler camera {self.serial} stopped responding "
                             f"({_short(error)})") from None

    def read(self, timeout_s: float) -> Frame | None:
        camera = self._camera
        if camera is None:
            return None  # closed (perhaps from another thread while this one waited)
        pylon, genicam = self._pylon, self._genicam
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            # Short waits, asked again: with a trigger issued from another thread, one long
            # RetrieveResult was seen to miss images already waiting (pypylon 26.9 emulator).
            wait_ms = int(max(0.0, min(deadline - time.monotonic(), RETRIEVE_SLICE_S)) * 1000)
            try:
                result = camera.RetrieveResult(wait_ms, pylon.TimeoutHandling_Return)
            except genicam.GenericException as error:
                if self._camera is None:
                    return None
                raise SourceLost(f"Basler camera {self.serial} stopped delivering images "
                                 f"({_short(error)})") from None
            if result is not None and result.IsValid():
                break
            if self._camera is None or time.monotonic() >= deadline:
                return self._nothing_came(camera)
            if not camera.IsGrabbing():
                return self._nothing_came(camera)
        try:
            return self._frame(result, camera)
        finally:
            result.Release()

    def _nothing_came(self, camera: Any) -> None:
        """No frame in the wait: fine, unless the camera is gone or a trigger went unanswered."""
        if self._camera is None:
            return None
        if camera.IsCameraDeviceRemoved() or not camera.IsPylonDeviceAttached() \
                or not camera.IsGrabbing():
            raise SourceLost(f"Basler camera {self.serial} was disconnected")
        waiting = self._triggers.oldest_waiting()
        timeout_ms = int(self.settings["timeout_ms"])
        if waiting is not None and (time.time() - waiting[1]) * 1000 > timeout_ms:
            raise SourceLost(f"Basler camera {self.serial} sent no image within {timeout_ms} ms "
                             f"of trigger {waiting[0]}")
        return None

    def _frame(self, result: Any, camera: Any) -> Frame:
        number = self._numbers.number(result.BlockID)
        trigger_time = self._triggers.take(number) if self.trigger_mode == SOFTWARE else None
        part_id = f"{number:06d}"
        if not result.GrabSucceeded():
            self._failed_grabs += 1
            reason = f"{result.GetErrorDescription()} (code {result.GetErrorCode():#x})"
            if camera.IsCameraDeviceRemoved():
                raise SourceLost(f"Basler camera {self.serial} was disconnected ({reason})")
            if self._failed_grabs >= FAILED_GRABS_LOST:
                raise SourceLost(f"Basler camera {self.serial}: {FAILED_GRABS_LOST} grabs in a "
                                 f"row failed; last: {reason}")
            raise _part_error(f"image {part_id} from camera {self.serial} failed: {reason}",
                              part_id, number)
        self._failed_grabs = 0
        format_name = _pixel_type_name(self._pylon, result.GetPixelType())
        try:
            image, bit_depth = pixels.to_frame(result.GetBuffer(), format_name, result.GetWidth(),
                                               result.GetHeight(), result.GetPaddingX())
        except SourceError as error:
            raise _part_error(f"image {part_id} from camera {self.serial}: {error}", part_id,
                              number) from None
        return Frame(image, part_id, self.name, bit_depth, trigger_time=trigger_time,
                     trigger_number=number)

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        # A camera that is already gone cannot be stopped or closed: nothing is left to free.
        for step in (camera.StopGrabbing, camera.Close, camera.DestroyDevice):
            try:
                step()
            except Exception:  # noqa: BLE001 - pylon raises several types here
                pass


def _part_error(message: str, part_id: str, number: int) -> ImageError:
    """One bad image: that part is recorded as an error and the run goes on."""
    error = ImageError(message)
    error.part_id = part_id
    error.trigger_number = number
    return error


def _increment(node: Any) -> int:
    try:
        return int(node.Inc)
    except Exception:  # noqa: BLE001 - a feature with no fixed step
        return 1


def _import_pypylon():
    try:
        from pypylon import genicam, pylon
    except ImportError as error:
        raise SourceError(f"Basler cameras need the pypylon package ({error})") from None
    return pylon, genicam


_PIXEL_TYPE_NAMES: dict[int, str] = {}


def _pixel_type_name(pylon: Any, pixel_type: int) -> str:
    """pylon's numeric pixel type -> its name (pylon spells them e.g. "RGB8packed")."""
    if not _PIXEL_TYPE_NAMES:
        prefix = "PixelType_"
        for name in dir(pylon):
            if name.startswith(prefix):
                _PIXEL_TYPE_NAMES.setdefault(int(getattr(pylon, name)), name[len(prefix):])
    return _PIXEL_TYPE_NAMES.get(int(pixel_type), f"pixel type {int(pixel_type):#x}")


def _found(serials: list[str]) -> str:
    if not serials:
        return "no camera was found (check the cable, the power and the network settings)"
    return f"cameras found: {', '.join(serials)}"


def _short(error: Exception) -> str:
    """pylon's messages end with the C++ file and line: keep the sentence only."""
    text = str(error).split(" : ")[0].strip()
    return text or type(error).__name__


__all__ = ["CAMERA_OPTIONS", "FrameNumbers", "PylonCamera", "TriggerLog"]
