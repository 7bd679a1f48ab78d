"""Finite sources: a folder (or a list of files) and a video file, each image a part.

In part mode they are read as fast as parts are judged: the station asks for the next image
only when the part queue has room, so no file is ever dropped or skipped. In preview they
play at their rate, looping if asked.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from algorithms.images import IMAGE_EXTENSIONS, ImageError, list_images, read_native

from .base import FREE, SOFTWARE, Frame, Option, Source, SourceEnded, SourceError

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.wmv);;All files (*)"
RATE = Option("rate", "float", 0.0, "Rate", "images per second at most; 0 = as fast as parts are "
              "judged (in preview: 5 per second)", minimum=0.0, maximum=1000.0,
              zero_label="as judged")
LOOP = Option("loop", "bool", False, "Loop", "start again at the end (preview)")


class FolderSource(Source):
    kind = "folder"
    label = "Image folder"
    address = "path"
    finite = True
    triggers = (SOFTWARE, FREE)  # software: the station asks for the next file per part
    options = (Option("path", "folder", "", "Folder", "folder of images to inspect"), RATE, LOOP)

    def __init__(self, settings=None, trigger=None, paths: list[Path] | None = None):
        super().__init__(settings, trigger)
        self._paths = paths
        self._given = paths is not None  # files named on a command line keep their paths as ids
        self._index = 0

    @classmethod
    def of_files(cls, inputs: list[Path]) -> "FolderSource":
        """Files and folders as given on a command line, in that order, as one part stream."""
        paths: list[Path] = []
        for item in inputs:
            if item.is_dir():
                paths.extend(list_images(item))
            else:
                paths.append(item)  # an unreadable one becomes that part's ERROR record
        return cls({"path": ", ".join(str(item) for item in inputs)}, SOFTWARE, paths)

    @property
    def name(self) -> str:
        if self._given:
            return "files"
        return f"folder:{Path(self.settings['path']).name or self.settings['path']}"

    def open(self) -> None:
        if self._paths is None:
            folder = Path(self.settings["path"])
            if not self.settings["path"]:
                raise SourceError("choose a folder of images first")
            if not folder.is_dir():
                raise SourceError(f"{folder} is not a folder")
            self._paths = list_images(folder)
            if not self._paths:
                raise SourceError(f"{folder.name} holds no images "
                                  f"({', '.join(ext[1:] for ext in IMAGE_EXTENSIONS)})")
        self._index = 0

    def read(self, timeout_s: float) -> Frame | None:
        if self._index >= len(self._paths):
            if not (self.settings["loop"] and self.trigger_mode == FREE and self._paths):
                raise SourceEnded()
            self._index = 0
        path = self._paths[self._index]
        self._index += 1
        part_id = str(path) if self._given else path.name
        try:
            image, bit_depth = read_native(path)
        except ImageError as error:
            error.part_id = part_id
            raise
        return Frame(image, part_id, self.name, bit_depth, depth_known=bit_depth == 8)

    def count(self) -> int:
        return len(self._paths or ())


class VideoSource(Source):
    kind = "video"
    label = "Video file"
    address = "path"
    finite = True
    triggers = (SOFTWARE, FREE)
    options = (Option("path", "file", "", "Video", "video file to inspect", file_filter=VIDEO_FILTER),
               RATE, LOOP)

    def __init__(self, settings=None, trigger=None):
        super().__init__(settings, trigger)
        self._capture: cv2.VideoCapture | None = None
        self._index = 0
        self._frames = 0  # as the file's header says; 0 if it does not say

    @property
    def name(self) -> str:
        return f"video:{Path(self.settings['path']).name}"

    def open(self) -> None:
        path = Path(self.settings["path"])
        if not self.settings["path"]:
            raise SourceError("choose a video file first")
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist")
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            self.close()
            raise SourceError(f"{path.name} cannot be opened as a video")
        self._frames = max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._index = 0

    def read(self, timeout_s: float) -> Frame | None:
        ok, image = self._capture.read()
        if not ok:
            self._check_complete()
            if not (self.settings["loop"] and self.trigger_mode == FREE and self._index > 0):
                raise SourceEnded()
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._index = 0
            ok, image = self._capture.read()
            if not ok:
                raise SourceError(f"{self.name}: no frame could be read after rewinding")
        self._index += 1
        return Frame(_video_rgb(image), f"{self._index:06d}", self.name)

    def _check_complete(self) -> None:
        # A damaged file stops early: say so instead of looping or ending silently.
        name = Path(self.settings["path"]).name
        if self._index == 0:
            raise SourceError(f"{name}: no frame could be decoded (damaged or unsupported video)")
        if self._frames and self._index < self._frames - 1:
            raise SourceError(f"{name} is damaged: decoding stopped at frame {self._index} of "
                              f"{self._frames}")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _video_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    return np.ascontiguousarray(image[:, :, 2::-1])  # OpenCV decodes BGR


__all__ = ["FolderSource", "VideoSource"]
