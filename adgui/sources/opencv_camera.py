"""A UVC camera (webcam, USB microscope) through OpenCV: free-running, so preview only."""
from __future__ import annotations

import cv2
import numpy as np

from .base import FREE, Frame, Option, Source, SourceError, SourceLost

FAILED_READS_LOST = 5  # failed reads in a row before the camera counts as lost


class OpenCvCamera(Source):
    kind = "opencv"
    label = "OpenCV camera (UVC)"
    address = "index"
    triggers = (FREE,)
    options = (Option("index", "int", 0, "Camera", "index of the camera (0 = the first)",
                      minimum=0, maximum=63),
               Option("rate", "float", 0.0, "Rate", "frames per second to ask for; 0 = the "
                      "camera's own", minimum=0.0, maximum=1000.0, zero_label="camera's own"))

    def __init__(self, settings=None, trigger=None):
        super().__init__(settings, trigger)
        self._capture: cv2.VideoCapture | None = None
        self._count = 0
        self._failures = 0

    def open(self) -> None:
        index = int(self.settings["index"])
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            self.close()
            raise SourceError(f"camera {index} cannot be opened: is it connected, and not in use "
                              f"by another program?")
        if self.settings["rate"] > 0:
            self._capture.set(cv2.CAP_PROP_FPS, float(self.settings["rate"]))
        self._failures = 0

    def read(self, timeout_s: float) -> Frame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            self._failures += 1
            if self._failures >= FAILED_READS_LOST:
                raise SourceLost(f"camera {self.settings['index']} stopped delivering images "
                                 f"(disconnected?)")
            return None
        self._failures = 0
        self._count += 1
        rgb = image if image.ndim == 2 else np.ascontiguousarray(image[:, :, 2::-1])
        return Frame(rgb, f"{self._count:06d}", self.name)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
