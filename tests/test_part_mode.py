"""Part mode in the pipeline itself (no window): every trigger gets exactly one record, in
order; a full queue gives NOT JUDGED records, counted and logged; preview still drops."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from adgui.inspection_log import read_log
from adgui.pipeline.inspection import InspectionResult
from adgui.pipeline.live import LivePipeline
from adgui.records.part import FAIL, NOT_JUDGED, PASS
from adgui.sources import (Frame, Source, SourceEnded, SourceError, SourceSpec, VideoSource,
                           open_source)


class GatedModel:
    """Score = first sample / 100 (of a uint8 image; deeper images arrive in [0, 1]); each
    call waits until the test opens the gate, so the test decides when parts are judged."""

    def __init__(self, delay_s: float = 0.0, gated: bool = False):
        self.delay_s = delay_s
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.entered = threading.Event()
        self.inputs: list[np.ndarray] = []

    def inspect(self, image: np.ndarray) -> InspectionResult:
        self.entered.set()
        self.inputs.append(image)
        self.gate.wait(30)
        time.sleep(self.delay_s)
        first = float(image.flat[0])
        score = first / 100.0 if image.dtype == np.uint8 else first
        return InspectionResult(score, np.full(image.shape[:2], score, np.float32), self.delay_s * 1e3)


class MemoryCamera(Source):
    """A software-triggered camera that delivers one frame of value 10 * n for the n-th trigger."""

    kind, label, address, triggers = "memory", "Memory camera", "", ("software",)

    def __init__(self, frames: list[np.ndarray] | None = None, bit_depth: int = 8):
        super().__init__({}, "software")
        self.settings = {"rate": 0.0, "timeout_ms": 1000}
        self.frames, self.bit_depth = frames, bit_depth
        self.triggered = 0
        self._waiting = 0

    def open(self):
        pass

    def trigger(self):
        self.triggered += 1
        self._waiting += 1

    def read(self, timeout_s):
        if not self._waiting:
            time.sleep(timeout_s)
            return None
        self._waiting -= 1
        image = (self.frames[self.triggered - 1] if self.frames
                 else np.full((16, 16, 3), 10 * self.triggered % 256, np.uint8))
        return Frame(image, "", "memory", self.bit_depth)


class Collector:
    def __init__(self):
        self.parts, self.events = [], []

    def part_judged(self, part):
        self.parts.append(part)

    def source_event(self, run_id, kind, text, level):
        self.events.append((kind, text))


def make_pipeline(model, queue_size=4, source=None):
    listener = Collector()
    opener = (lambda spec: source) if source is not None else open_source
    pipeline = LivePipeline(listener, queue_size=queue_size, open_source_fn=opener)
    pipeline.set_inspector(model, recipe="test")
    return pipeline, listener


def write_images(folder, values):
    folder.mkdir(parents=True, exist_ok=True)
    for index, value in enumerate(values):
        cv2.imwrite(str(folder / f"img_{index:03d}.png"), np.full((24, 32, 3), value, np.uint8))
    return folder


def test_a_folder_read_by_a_slow_model_gives_every_part_in_order(tmp_path):
    values = [20, 80, 30, 90, 10, 70, 40, 60, 50, 55, 5, 95]
    folder = write_images(tmp_path / "parts", values)
    pipeline, listener = make_pipeline(GatedModel(delay_s=0.05), queue_size=2)
    pipeline.recorder.log_path = tmp_path / "log.csv"
    pipeline.start(SourceSpec("folder", {"path": str(folder), "rate": 100.0}))
    assert pipeline.wait_finished(30)
    records = [part.record for part in listener.parts]
    assert [record.part_id for record in records] == [f"img_{i:03d}.png" for i in range(len(values))]
    assert [record.sequence for record in records] == list(range(1, len(values) + 1))
    assert [record.verdict for record in records] == [FAIL if v >= 50 else PASS for v in values]
    counts = pipeline.counts.snapshot()
    assert (counts.triggers, counts.not_judged, counts.judged) == (len(values), 0, len(values))
    assert len(read_log(tmp_path / "log.csv")) == len(values)
    for record in records:
        assert record.trigger_time <= record.acquired_time <= record.verdict_time
        assert record.trigger_to_verdict_ms >= 50.0 * 0.9


@pytest.mark.parametrize("queue_size", [1, 3])
def test_a_full_queue_records_exactly_the_parts_it_could_not_hold(tmp_path, queue_size):
    model = GatedModel(gated=True)
    camera = MemoryCamera()
    pipeline, listener = make_pipeline(model, queue_size, camera)
    pipeline.recorder.log_path = tmp_path / "log.csv"
    pipeline.start(SourceSpec("folder", {}, "plc"))  # the test is the PLC
    pipeline.trigger()
    assert model.entered.wait(10), "the first part reached the model"
    triggers = 10
    for _ in range(triggers - 1):
        pipeline.trigger()
    deadline = time.monotonic() + 10
    while camera.triggered < triggers and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    model.gate.set()
    deadline = time.monotonic() + 10
    while pipeline.counts.snapshot().in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    pipeline.stop()
    expected_lost = triggers - 1 - queue_size  # one in the model, `queue_size` waiting
    counts = pipeline.counts.snapshot()
    assert (counts.triggers, counts.not_judged) == (triggers, expected_lost)
    assert counts.passed + counts.failed + counts.not_judged + counts.errors == counts.triggers
    records = [part.record for part in listener.parts]
    assert [record.sequence for record in records] == list(range(1, triggers + 1))
    lost = [record.sequence for record in records if record.verdict == NOT_JUDGED]
    assert lost == list(range(queue_size + 2, triggers + 1))
    assert all("queue full" in record.reason and record.score is None
               for record in records if record.verdict == NOT_JUDGED)
    rows = read_log(tmp_path / "log.csv")
    assert sum(row["verdict"] == NOT_JUDGED for row in rows) == expected_lost


def test_preview_keeps_only_the_newest_frame_and_records_nothing(tmp_path):
    folder = write_images(tmp_path / "parts", [20, 80, 30, 90])
    model = GatedModel(delay_s=0.1)
    pipeline, listener = make_pipeline(model)
    pipeline.recorder.log_path = tmp_path / "log.csv"
    pipeline.start(SourceSpec("folder", {"path": str(folder), "rate": 100.0, "loop": True}, "free"))
    time.sleep(1.5)
    pipeline.stop()
    pipeline.shutdown()
    counts = pipeline.counts.snapshot()
    assert counts.triggers == counts.judged == 0
    assert counts.preview_dropped > 2 * len(model.inputs) > 0
    assert listener.parts and all(part.preview for part in listener.parts)
    assert not (tmp_path / "log.csv").exists()


def test_deep_frames_reach_the_model_normalised_by_their_real_bit_depth():
    ramp = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 4) % 4096  # 12 bits
    ramp[0, 0] = 4095
    camera = MemoryCamera([ramp], bit_depth=12)
    model = GatedModel()
    pipeline, listener = make_pipeline(model, source=camera)
    pipeline.start(SourceSpec("folder", {}, "plc"), limit=1)
    pipeline.trigger()
    assert pipeline.wait_finished(10)
    seen = model.inputs[0]
    assert seen.dtype == np.float32 and seen.shape == (32, 32), "mono stays mono, full depth"
    assert seen[0, 0] == pytest.approx(1.0) and seen[0, 1] == pytest.approx(4 / 4095)
    shown = listener.parts[0].image
    assert shown.dtype == np.uint8 and shown.shape == (32, 32, 3)
    assert shown[0, 0, 0] == 255 and shown[0, 512 // 32 % 32].max() < 255, "display scaled by 12 bits"
    assert listener.parts[0].record.verdict == FAIL  # score 1.0


def test_a_damaged_video_reports_itself(tmp_path):
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for index in range(20):
        writer.write(np.full((48, 64, 3), index * 10, np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.9)])  # a copy cut short
    video = VideoSource({"path": str(path)})
    video.open()
    with pytest.raises(SourceError, match="damaged: decoding stopped at frame"):
        while True:
            video.read(1.0)
    video.close()

    pipeline, listener = make_pipeline(GatedModel())
    pipeline.start(SourceSpec("video", {"path": str(path)}))
    assert pipeline.wait_finished(20)
    assert ("source_failed",) in [(kind,) for kind, _ in listener.events]
    assert any("damaged" in text for kind, text in listener.events if kind == "source_failed")
    assert len(listener.parts) == pipeline.counts.snapshot().triggers >= 10


def test_an_intact_video_ends_without_complaint(tmp_path):
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for index in range(12):
        writer.write(np.full((48, 64, 3), index * 10, np.uint8))
    writer.release()
    video = VideoSource({"path": str(path)})
    video.open()
    frames = []
    with pytest.raises(SourceEnded):
        while True:
            frames.append(video.read(1.0))
    assert len(frames) == 12 and frames[0].image.shape == (48, 64, 3)


def test_failed_images_stop_before_the_disk_fills_and_records_go_on(tmp_path):
    folder = write_images(tmp_path / "parts", [80, 90, 20])
    pipeline, listener = make_pipeline(GatedModel())
    pipeline.recorder.failed_dir = tmp_path / "failed"
    pipeline.recorder.free_space_floor_mb = 10**12  # more than any disk has
    pipeline.start(SourceSpec("folder", {"path": str(folder)}))
    assert pipeline.wait_finished(20)
    assert [part.record.verdict for part in listener.parts] == [FAIL, FAIL, PASS]
    assert not list((tmp_path / "failed").glob("*.png"))
    warnings = [text for kind, text in listener.events if kind == "record_failed"]
    assert len(warnings) == 1 and "no longer saved" in warnings[0]


def test_a_loaded_model_is_left_out_of_collections_and_a_replaced_one_is_freed():
    import gc
    import weakref

    first = GatedModel()
    first.itself = first  # a reference cycle: only the garbage collector can free it
    pipeline, _ = make_pipeline(first)
    assert not any(obj is first for obj in gc.get_objects()), \
        "what lives on after a load is frozen: no later collection walks it"
    freed = weakref.ref(first)
    del first
    pipeline.set_inspector(GatedModel(), recipe="other")
    assert freed() is None, "the next load collects the replaced model's cycle"
