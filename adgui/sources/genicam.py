"""Any GenICam camera (GigE Vision, USB3 Vision, CoaXPress...) through harvesters and the
GenTL producer (.cti file) its maker ships.

harvesters is imported only when a camera opens. The producer is loaded afresh on each open
and released on close, so a lost camera can be reopened. Threads: as for the Basler kind,
`trigger()` and `read()` may run on two threads; `read()` must be called steadily.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import pixels
from .base import (FREE, HARDWARE, SOFTWARE, Frame, ImageError, Option, Source, SourceError,
                   SourceLost)
from .pylon import (EXPOSURE, GAIN, HEIGHT, KEEP, NODES, PIXEL_FORMAT, RATE, SERIAL, TIMEOUT,
                    UNITS, WIDTH, FrameNumbers, TriggerLog)

BUFFERS = 16  # frames the producer holds for `read()`
CTI = Option("cti", "file", "", "GenTL producer", "the camera maker's GenTL producer file "
             "(.cti), installed with its camera software", file_filter="GenTL producers (*.cti)")


class GenicamCamera(Source):
    kind = "genicam"
    label = "GenICam camera (GenTL)"
    address = "serial"
    triggers = (SOFTWARE, HARDWARE, FREE)
    options = (SERIAL, CTI, EXPOSURE, GAIN, PIXEL_FORMAT, WIDTH, HEIGHT, RATE, TIMEOUT)

    def __init__(self, settings=None, trigger=None):
        super().__init__(settings, trigger)
        self._harvester: Any = None
        self._acquirer: Any = None  # harvesters ImageAcquirer while open
        self._genapi: Any = None
        self._numbers = FrameNumbers()
        self._triggers = TriggerLog()
        self._opened_once = False

    @property
    def serial(self) -> str:
        return str(self.settings["serial"]).strip()

    # -- open and configure -------------------------------------------------------------

    def open(self) -> None:
        self.close()
        cti = check_cti(self.settings["cti"])
        Harvester, genapi = _import_harvesters()
        self._genapi = genapi
        harvester = Harvester()
        self._harvester = harvester
        try:
            harvester.add_file(str(cti), check_existence=True, check_validity=True)
            harvester.update()
        except Exception as error:  # noqa: BLE001 - a foreign library raises anything here
            self.close()
            raise SourceError(f"{cti.name} cannot be loaded as a GenTL producer: "
                              f"{_short(error)}") from None
        devices = list(harvester.device_info_list)
        found = [str(device.serial_number) for device in devices]
        if not self.serial:
            self.close()
            raise SourceError(f"enter the camera's serial number; {_found(found, cti)}")
        matches = [device for device in devices if str(device.serial_number) == self.serial]
        # Once it has worked, a camera absent or busy is one being reconnected: worth retrying.
        error_class = SourceLost if self._opened_once else SourceError
        if not matches:
            self.close()
            raise error_class(f"no camera with serial {self.serial} through {cti.name}; "
                              f"{_found(found, cti)}")
        try:
            self._acquirer = harvester.create({"serial_number": self.serial})
        except Exception as error:  # noqa: BLE001
            self.close()
            raise error_class(f"camera {self.serial} cannot be opened (is another program "
                              f"using it?): {_short(error)}") from None
        try:
            self._configure()
            self._acquirer.num_buffers = max(self._acquirer.min_num_buffers, BUFFERS)
            self._acquirer.start()
        except SourceError:
            self.close()
            raise
        except Exception as error:  # noqa: BLE001
            self.close()
            raise SourceError(f"camera {self.serial} cannot be set up: {_short(error)}") from None
        tl_type = str(matches[0].tl_type)
        if tl_type == "GEV":
            self._numbers = FrameNumbers(first_id=1, wrap=65_535)
        else:
            self._numbers = FrameNumbers(first_id=0 if tl_type == "U3V" else None)
        self._triggers = TriggerLog()
        self._opened_once = True

    def _configure(self) -> None:
        settings = self.settings
        if settings["pixel_format"] != KEEP:
            self._set_pixel_format(settings["pixel_format"])
        for name in ("width", "height"):
            if settings[name] > 0:
                self._set_enum_or_value("OffsetX" if name == "width" else "OffsetY", 0)
                self._write(name, int(settings[name]))
        if settings["exposure_us"] > 0:
            self._set_enum_or_value("ExposureAuto", "Off")
            self._write("exposure_us", float(settings["exposure_us"]))
        if self._node(*NODES["gain_db"]) is not None or settings["gain_db"] > 0:
            self._set_enum_or_value("GainAuto", "Off")
            self._write("gain_db", float(settings["gain_db"]))
        self._set_enum_or_value("AcquisitionMode", "Continuous")
        self._set_trigger()

    def _set_trigger(self) -> None:
        selector = self._node("TriggerSelector")
        mode = self._node("TriggerMode")
        if self.trigger_mode == FREE:
            if selector is not None and "FrameStart" in selector.symbolics:
                selector.value = "FrameStart"
                self._set_enum_or_value("TriggerMode", "Off")
            if self.settings["rate"] > 0:
                self._set_enum_or_value("AcquisitionFrameRateEnable", True)
                self._write("rate", float(self.settings["rate"]))
            return
        if mode is None or (selector is not None and "FrameStart" not in selector.symbolics):
            raise SourceError(f"camera {self.serial} has no frame start trigger (TriggerMode); "
                              f"run it free, as a preview")
        if selector is not None:
            selector.value = "FrameStart"
        mode.value = "On"
        self._set_enum_or_value("AcquisitionFrameRateEnable", False)
        source = "Software" if self.trigger_mode == SOFTWARE else "Line1"
        source_node = self._node("TriggerSource")
        if source_node is None or source not in source_node.symbolics:
            raise SourceError(f"camera {self.serial} cannot take a trigger from {source}")
        source_node.value = source
        if self.trigger_mode == SOFTWARE and self._node("TriggerSoftware") is None:
            raise SourceError(f"camera {self.serial} has no software trigger (TriggerSoftware)")

    def _set_pixel_format(self, wanted: str) -> None:
        node = self._node("PixelFormat")
        offered = list(node.symbolics) if node is not None else []
        spec = pixels.pixel_format(wanted)
        for name in offered:  # the camera may spell it the older way (RGB8Packed for RGB8)
            if pixels.FORMATS.get(name.lower()) is spec:
                node.value = name
                return
        raise SourceError(f"camera {self.serial} cannot send {wanted}; it offers "
                          f"{', '.join(offered) or 'no pixel formats'}")

    # -- device settings ------------------------------------------------------------------

    def _node(self, *names: str) -> Any:
        """The first of these features the camera has, or None."""
        node_map = self._acquirer.remote_device.node_map
        for name in names:
            if node_map.has_node(name):
                node = node_map.get_node(name)
                if self._genapi.is_available(node):
                    return node
        return None

    def _set_enum_or_value(self, name: str, value: Any) -> None:
        """Set a feature if the camera has it writable (a convenience, never required)."""
        node = self._node(name)
        if node is None or not self._genapi.is_writable(node):
            return
        if isinstance(value, str) and value not in getattr(node, "symbolics", (value,)):
            return
        node.value = value

    def _write(self, name: str, value: float | int) -> None:
        node = self._node(*NODES[name])
        label = next(option.label for option in self.options if option.name == name)
        if node is None or not self._genapi.is_writable(node):
            raise SourceError(f"camera {self.serial} has no writable setting for {label.lower()}")
        low, high = node.min, node.max
        unit = UNITS.get(name, "")
        if not low <= value <= high:
            raise SourceError(f"{label}: {value:g} {unit} is outside what camera {self.serial} "
                              f"takes ({low:g} to {high:g} {unit})".replace("  ", " "))
        step = int(getattr(node, "inc", 1) or 1) if isinstance(value, int) else 1
        if step > 1 and (value - low) % step:
            raise SourceError(f"{label}: camera {self.serial} takes {low} + a multiple of "
                              f"{step} {unit}, not {value}".replace("  ", " "))
        node.value = value

    def read_back(self, name: str) -> Any:
        """A device setting as the camera reports it now."""
        if name not in NODES:
            return super().read_back(name)
        if self._acquirer is None:
            raise SourceError(f"open the camera before reading {name} back from it")
        node = self._node(*NODES[name])
        if node is None:
            raise SourceError(f"camera {self.serial} has no setting for {name}")
        return node.value

    # -- acquisition ------------------------------------------------------------------------

    def trigger(self) -> None:
        if self.trigger_mode != SOFTWARE:
            raise SourceError(f"camera {self.serial} runs on a {self.trigger_mode} trigger; it "
                              f"takes no software trigger")
        if self._acquirer is None:
            raise SourceLost(f"camera {self.serial} is not open")
        try:
            node = self._node("TriggerSoftware")
            self._triggers.issue()
            node.execute()
        except Exception as error:  # noqa: BLE001 - GenTL errors of a vanished device
            raise SourceLost(f"camera {self.serial} stopped responding "
                             f"({_short(error)})") from None

    def read(self, timeout_s: float) -> Frame | None:
        acquirer = self._acquirer
        if acquirer is None:
            return None  # closed, perhaps from another thread while this one waited
        try:
            buffer = acquirer.try_fetch(timeout=max(timeout_s, 0.001))
        except Exception as error:  # noqa: BLE001
            if self._acquirer is None:
                return None
            raise SourceLost(f"camera {self.serial} stopped delivering images "
                             f"({_short(error)})") from None
        if buffer is None:
            return self._nothing_came(acquirer)
        try:
            return self._frame(buffer)
        finally:
            try:
                buffer.queue()  # give the buffer back to the producer
            except Exception:  # noqa: BLE001 - a camera gone meanwhile; reported on next read
                pass

    def _nothing_came(self, acquirer: Any) -> None:
        if self._acquirer is None:
            return None
        if not acquirer.is_valid() or not acquirer.is_acquiring():
            raise SourceLost(f"camera {self.serial} stopped acquiring (disconnected?)")
        waiting = self._triggers.oldest_waiting()
        timeout_ms = int(self.settings["timeout_ms"])
        if waiting is not None and (time.time() - waiting[1]) * 1000 > timeout_ms:
            raise SourceLost(f"camera {self.serial} sent no image within {timeout_ms} ms of "
                             f"trigger {waiting[0]}")
        return None

    def _frame(self, buffer: Any) -> Frame:
        number = self._numbers.number(buffer.frame_id)
        trigger_time = self._triggers.take(number) if self.trigger_mode == SOFTWARE else None
        part_id = f"{number:06d}"
        component = buffer.payload.components[0]
        try:
            image, bit_depth = pixels.to_frame(component.data, component.data_format,
                                               component.width, component.height,
                                               component.x_padding)
        except SourceError as error:
            image_error = ImageError(f"image {part_id} from camera {self.serial}: {error}")
            image_error.part_id = part_id
            image_error.trigger_number = number
            raise image_error from None
        return Frame(image, part_id, self.name, bit_depth, trigger_time=trigger_time,
                     trigger_number=number)

    def close(self) -> None:
        acquirer, self._acquirer = self._acquirer, None
        harvester, self._harvester = self._harvester, None
        # A camera that is already gone cannot be stopped: nothing is left to free.
        for step in ((acquirer.stop, acquirer.destroy) if acquirer is not None else ()):
            try:
                step()
            except Exception:  # noqa: BLE001
                pass
        if harvester is not None:
            try:
                harvester.reset()  # unloads the producer, so the next open starts clean
            except Exception:  # noqa: BLE001
                pass


def check_cti(value: str) -> Path:
    """The GenTL producer file the user chose, or SourceError saying what is wrong with it."""
    if not str(value).strip():
        raise SourceError("choose the camera maker's GenTL producer (a .cti file)")
    path = Path(str(value).strip()).expanduser()
    if not path.exists():
        raise SourceError(f"GenTL producer {path} not found")
    if not path.is_file():
        raise SourceError(f"GenTL producer {path} is not a file (choose the .cti file itself)")
    if path.suffix.lower() != ".cti":
        raise SourceError(f"{path.name} is not a GenTL producer: its name must end in .cti")
    return path


def _import_harvesters():
    try:
        from genicam import genapi
        from harvesters.core import Harvester
    except ImportError as error:
        raise SourceError(f"GenICam cameras need the harvesters package ({error})") from None
    return Harvester, genapi


def _found(serials: list[str], cti: Path) -> str:
    if not serials:
        return f"{cti.name} found no camera (check the cable, the power and the network)"
    return f"cameras found: {', '.join(serials)}"


def _short(error: Exception) -> str:
    text = str(error).split(" : ")[0].strip()
    return text or type(error).__name__


__all__ = ["GenicamCamera", "check_cti"]
