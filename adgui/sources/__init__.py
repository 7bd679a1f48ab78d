"""Where images come from: folders, video files, OpenCV cameras and industrial cameras.

Each kind is a class registered here; camera SDKs are imported only when a camera opens,
so a missing SDK disables that kind alone.
"""
from .base import (FREE, HARDWARE, PLC, SOFTWARE, TRIGGERS, Frame, ImageError, Option, Source,
                   SourceEnded, SourceError, SourceLost)
from .files import FolderSource, VideoSource
from .genicam import GenicamCamera
from .opencv_camera import OpenCvCamera
from .pylon import PylonCamera
from .registry import SOURCES, SourceSpec, open_source, parse_source, register, source_class, source_kinds

for _kind in (FolderSource, VideoSource, OpenCvCamera, PylonCamera, GenicamCamera):
    register(_kind)

__all__ = ["FREE", "HARDWARE", "PLC", "SOFTWARE", "SOURCES", "TRIGGERS", "FolderSource", "Frame",
           "GenicamCamera", "ImageError", "OpenCvCamera", "Option", "PylonCamera", "Source",
           "SourceEnded", "SourceError", "SourceLost", "SourceSpec", "VideoSource", "open_source",
           "parse_source", "register", "source_class", "source_kinds"]
