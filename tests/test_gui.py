"""The inspection window, offscreen: training, live sources, threshold, counters, faults.

The model is either a tiny PaDiM trained on synthetic parts (random backbone) or a fake
inspector whose score is the image's first pixel / 100, so verdicts are known in advance.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from adgui.inspection_log import read_log
from adgui.pipeline.inspection import InspectionResult, ModelInfo
from adgui.pipeline.parts import FrameMailbox
from adgui.sources import Frame, Source, SourceLost, SourceSpec
from adgui.pipeline.userdata import list_recipes, recipe_path, todays_log_path

from conftest import TINY_MODEL, write_parts

pytestmark = pytest.mark.usefixtures("adgui_home")

MAX_STALL_MS = 50.0
# Wall-clock gaps also hold the time the OS gives other processes: on a dedicated PC they stay
# under MAX_STALL_MS; on a shared, overloaded test machine only this looser bound is asserted.
STALL_LIMIT_MS = float(os.environ.get("ADGUI_STALL_LIMIT_MS", 250))


class FakeInspector:
    """Score = first pixel / 100; optionally slow, to be slower than the source."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls = 0
        self.info = ModelInfo("fake", "fake", "none", "CPU (test)", 0.5,
                              np.array([0.05, 0.1, 0.2, 0.3], dtype=np.float32), {})

    def inspect(self, image: np.ndarray) -> InspectionResult:
        self.calls += 1
        time.sleep(self.delay_s)
        score = float(image.flat[0]) / 100.0  # mono or RGB: the first sample
        return InspectionResult(score, np.full(image.shape[:2], score, np.float32), self.delay_s * 1e3)


def flat_images(folder: Path, values: list[int]) -> Path:
    """One flat grey image per value: the fake inspector scores it value / 100."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, value in enumerate(values):
        cv2.imwrite(str(folder / f"img_{index:02d}.png"), np.full((48, 64, 3), value, np.uint8))
    return folder


def make_window(qtbot, inspector=None, model_path: str = "fake.adgui", engineer: bool = True,
                **kwargs):
    """A window with a recipe in force; an engineer logged in, who may change sources and
    thresholds (test_access_window.py tests what an operator may not)."""
    from adgui.gui.app import build_window

    opener = (lambda path, device: inspector) if inspector is not None else None
    window = build_window(**({"open_inspector": opener} if opener else {}), **kwargs)
    qtbot.addWidget(window)
    window.show()
    if engineer:
        log_in_engineer(window)
    if model_path:  # the recipe in force, as the window restores it at start (not a change)
        window.controller.load_model(model_path, restoring=True)
        qtbot.waitUntil(lambda: window.state.model is not None, timeout=30_000)
    return window


def log_in_engineer(window, name: str = "erika", password: str = "a long passphrase") -> None:
    """Set up the station's first engineer (once per user data folder) and log in."""
    users = window.controller.guard.session.users
    if name not in users:
        window.controller.guard.set_password(name, password, "engineer")
    assert window.controller.log_in(name, password)


def folder(path, rate: float = 0.0, trigger: str = "", loop: bool = False) -> SourceSpec:
    return SourceSpec("folder", {"path": str(path), "rate": rate, "loop": loop}, trigger)


def wait_until_drained(qtbot, window, timeout=30_000) -> None:
    """Until the run has ended and every triggered part has its record on screen."""
    state = window.state

    def drained() -> bool:
        counts = window.controller.pipeline.counts.snapshot()
        return (state.run_state == "idle" and counts.in_flight == 0
                and state.counters.judged == counts.judged)
    qtbot.waitUntil(drained, timeout=timeout)


class StallProbe:
    """A 5 ms QTimer on the window's thread. Between two ticks it measures the wall-clock gap
    beyond 5 ms (what an operator feels, including time the OS gave to other processes) and
    the window thread's own CPU time (work our code did on the event loop)."""

    def __init__(self, interval_ms: int = 5):
        self.interval_ms = interval_ms
        self.max_stall_ms = 0.0  # wall clock
        self.max_busy_ms = 0.0  # CPU time of the event-loop thread
        self.ticks = 0
        self._last = self._last_cpu = 0.0
        self._timer = QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.max_stall_ms = max(self.max_stall_ms, (now - self._last) * 1e3 - self.interval_ms)
        self.max_busy_ms = max(self.max_busy_ms, (cpu - self._last_cpu) * 1e3)
        self._last, self._last_cpu = now, cpu
        self.ticks += 1

    def report(self) -> str:
        return (f"max event-loop stall {self.max_stall_ms:.1f} ms wall-clock, "
                f"{self.max_busy_ms:.1f} ms of event-loop work, over {self.ticks} ticks")


# -- training -----------------------------------------------------------------------------

def test_training_through_the_worker_gives_a_listed_recipe(qtbot, tmp_path):
    from adgui.gui.training_dialog import TrainingDialog
    from algorithms import load_detector

    write_parts(tmp_path / "bottle" / "train" / "good", 8)
    dialog = TrainingDialog(str(tmp_path / "bottle" / "train" / "good"), overrides=TINY_MODEL)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("fast")
    assert dialog.name.text() == "bottle", "the product name comes from the MVTec-style folder"
    with qtbot.waitSignal(dialog.recipe_trained, timeout=90_000) as trained:
        assert dialog.start()
    path = Path(trained.args[0])
    assert path == recipe_path("bottle") and path.is_file()
    assert [recipe.name for recipe in list_recipes()] == ["bottle"]
    assert dialog.progress.value() == 1000 and "Saved as recipe 'bottle'" in dialog.status.text()
    caught = load_detector(path, "cpu").meta["synthetic_defects"]["summary"]
    assert caught.startswith("detects ") and f"pasted in, it {caught}." in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.worker is None)
    assert dialog.train_button.isEnabled()


def test_cancelled_training_emits_no_result_and_saves_nothing(qtbot, tmp_path):
    from adgui.gui.workers import TrainJob, TrainWorker

    write_parts(tmp_path / "good", 8)
    out = tmp_path / "cancelled.adgui"
    worker = TrainWorker(TrainJob(str(tmp_path / "good"), "padim", str(out), "fast", "cpu",
                                  overrides=dict(TINY_MODEL)))
    results, progress = [], []
    worker.trained.connect(results.append)
    worker.progress.connect(lambda fraction, message: progress.append(fraction))
    worker.progress.connect(lambda *_: worker.cancel())  # cancel once it is under way
    with qtbot.waitSignal(worker.cancelled, timeout=60_000):
        worker.start()
    worker.wait()
    qtbot.wait(300)
    assert progress, "the cancel came while training ran"
    assert results == [] and not out.exists()


# -- live inspection ----------------------------------------------------------------------

def test_folder_stream_counters_match_the_logged_verdicts(qtbot, tmp_path, tiny_model):
    stream = tmp_path / "stream"
    write_parts(stream, 4, seed=5, prefix="good")
    write_parts(stream, 3, defect=True, seed=6, prefix="bad")
    window = make_window(qtbot, model_path=str(tiny_model))
    window.controller.start(folder(stream, rate=4.0))
    wait_until_drained(qtbot, window)

    counters = window.state.counters
    rows = read_log(todays_log_path())
    assert counters.triggers == counters.judged == len(rows) == 7, "every image is a part"
    assert [row["part_id"] for row in rows] == sorted(path.name for path in stream.iterdir())
    assert counters.failed == sum(row["verdict"] == "FAIL" for row in rows)
    assert counters.passed == sum(row["verdict"] == "PASS" for row in rows)
    assert all((float(row["score"]) >= float(row["threshold"])) == (row["verdict"] == "FAIL")
               for row in rows)
    shown = window.state.shown.record
    assert window.verdict_panel.verdict.text() == shown.verdict.replace("_", " ")
    assert len(window.failure_strip._results) == min(counters.rejected, 12)


def test_a_new_threshold_applies_from_the_next_part_only(qtbot, tmp_path):
    inspector = FakeInspector()
    images = flat_images(tmp_path / "flat", [20, 40, 60, 80])  # scores 0.2 0.4 0.6 0.8
    model = tmp_path / "fake.adgui"
    model.write_bytes(b"placeholder: the fake inspector does not read it")
    window = make_window(qtbot, inspector, model_path=str(model))  # an engineer logged in
    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    state = window.state
    assert (state.counters.judged, state.counters.failed) == (4, 2)
    assert window.verdict_panel.verdict.text() == "FAIL"  # the last image scores 0.8
    calls = inspector.calls

    panel = window.threshold_panel
    panel.slider.setValue(0.3)
    assert "3 of the last 4 parts would have failed (1 part more, 0 parts fewer failing)" in \
        panel.preview.text()
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=2000)
    assert state.threshold == 0.5, "moving the slider applies nothing"
    panel.reason.setText("fewer escapes")
    panel.apply_button.click()  # a new recipe version, recorded
    assert state.threshold == pytest.approx(0.3) and state.model.version == 2
    assert "version 2 in force: threshold 0.30 (differs from the calibrated 0.50)" in \
        panel.version.text()
    assert (state.counters.failed, state.counters.passed) == (2, 2), "decisions made stay made"
    assert window.counters_panel.values["failed"].text() == "2"
    assert len(window.failure_strip._results) == 2
    assert inspector.calls == calls, "no image was inspected again"

    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert (state.counters.failed, state.counters.passed) == (2 + 3, 2 + 1)
    rows = read_log(todays_log_path())
    assert [row["verdict"] for row in rows] == ["PASS", "PASS", "FAIL", "FAIL",
                                                "PASS", "FAIL", "FAIL", "FAIL"]
    assert {row["threshold"] for row in rows[4:]} == {"0.300000"}


def test_a_slow_model_judges_every_file_and_the_event_loop_never_stalls(qtbot, tmp_path):
    inspector = FakeInspector(delay_s=0.15)  # far slower than the rate asked for
    images = flat_images(tmp_path / "flat", [10, 30, 70, 90, 20, 60, 40, 80])
    window = make_window(qtbot, inspector)
    probe = StallProbe()
    probe.start()
    window.controller.start(folder(images, rate=50.0))
    wait_until_drained(qtbot, window)
    probe.stop()
    counters = window.state.counters
    print(f"\nslow model: {counters.judged} parts; {probe.report()}")
    assert (counters.triggers, counters.passed, counters.failed, counters.not_judged) == (8, 4, 4, 0)
    assert [row["part_id"] for row in read_log(todays_log_path())] == \
        [f"img_{index:02d}.png" for index in range(8)]
    assert probe.max_busy_ms < MAX_STALL_MS
    assert probe.max_stall_ms < STALL_LIMIT_MS


def test_preview_drops_frames_and_records_nothing(qtbot, tmp_path):
    inspector = FakeInspector(delay_s=0.2)  # 5 images / s against a 50 / s preview
    images = flat_images(tmp_path / "flat", [10, 30, 70, 90])
    window = make_window(qtbot, inspector)
    window.controller.start(folder(images, rate=50.0, trigger="free", loop=True))
    qtbot.wait(2000)
    window.controller.stop()
    counts = window.controller.pipeline.counts.snapshot()
    assert counts.triggers == counts.judged == 0, "a preview makes no parts"
    assert counts.preview_dropped > 3 * inspector.calls > 0
    assert not todays_log_path().exists() or read_log(todays_log_path()) == []
    assert window.state.shown is not None and window.state.shown.preview
    assert window.verdict_panel.verdict.text() == "PREVIEW"


def test_event_loop_stays_responsive_while_a_real_model_inspects(qtbot, tmp_path, tiny_model):
    from adgui.resources import samples_dir

    window = make_window(qtbot, model_path=str(tiny_model))
    probe = StallProbe()
    probe.start()
    window.controller.start(folder(samples_dir() / "bad", rate=15.0, trigger="free", loop=True))
    qtbot.wait(4000)
    window.controller.stop()
    probe.stop()
    print(f"\nreal model: {probe.report()}")
    assert window.state.shown is not None
    assert probe.max_busy_ms < MAX_STALL_MS
    assert probe.max_stall_ms < STALL_LIMIT_MS


class FlakyCamera(Source):
    """A software-triggered camera that is unplugged after `good` frames and comes back after
    `away_s` seconds: the Source boundary's view of a cable pulled out and pushed back."""

    kind, label, address, triggers = "flaky", "Flaky camera", "", ("software",)

    def __init__(self, good: int, away_s: float, rate: float):
        super().__init__({}, "software")
        self.settings = {"rate": rate, "timeout_ms": 300}
        self.good, self.away_s = good, away_s
        self.frames, self.opens, self.lost_at = 0, 0, None
        self._pending = 0

    def open(self):
        if self.lost_at is not None and time.monotonic() - self.lost_at < self.away_s:
            raise SourceLost("no camera on the cable")
        self.opens += 1

    def trigger(self):
        if self.frames >= self.good and self.opens == 1:
            self.lost_at = self.lost_at or time.monotonic()
            raise SourceLost("the camera stopped answering")
        self._pending += 1

    def read(self, timeout_s):
        if not self._pending:
            time.sleep(timeout_s)
            return None
        self._pending -= 1
        self.frames += 1
        return Frame(np.full((40, 40, 3), 30, np.uint8), "", "flaky")


def test_a_lost_camera_reconnects_and_lost_triggers_are_counted(qtbot):
    camera = FlakyCamera(good=5, away_s=1.2, rate=20.0)
    window = make_window(qtbot, FakeInspector(), open_source_fn=lambda spec: camera)
    messages = []
    window.state.message.connect(lambda level, text: messages.append((level, text)))
    probe = StallProbe()
    probe.start()
    window.controller.start(SourceSpec("folder", {}, ""))
    qtbot.waitUntil(lambda: any("reconnecting" in text for _, text in messages), timeout=10_000)
    assert window.notice.isVisible() and "lost" in window.notice.text.text()
    qtbot.waitUntil(lambda: camera.opens == 2 and camera.frames >= 10, timeout=20_000)
    window.controller.stop()
    probe.stop()
    wait_until_drained(qtbot, window)
    counts = window.state.counters.counts
    rows = read_log(todays_log_path())
    lost = [row for row in rows if row["verdict"] == "NOT_JUDGED"]
    print(f"\ncamera lost: {counts}; {probe.report()}")
    assert counts.triggers == counts.judged == len(rows), "every trigger has one record"
    assert counts.not_judged == len(lost) >= 10, "1.2 s away at 20 triggers / s"
    assert any("camera lost" in row["reason"] for row in lost)
    assert [int(row["sequence"]) for row in rows] == list(range(1, len(rows) + 1))
    assert any("is back" in text for _, text in messages)
    assert probe.max_busy_ms < MAX_STALL_MS
    assert probe.max_stall_ms < STALL_LIMIT_MS


def test_stop_never_waits_for_a_hanging_source(qtbot, tmp_path):
    class HangingCamera(FlakyCamera):
        def read(self, timeout_s):
            time.sleep(5.0)  # a driver call that does not honour its timeout
            return None

    from adgui.sources import open_source

    sources = [HangingCamera(9, 0, 0)]  # the first start gets the hanging camera, later ones real sources
    window = make_window(qtbot, FakeInspector(),
                         open_source_fn=lambda spec: sources.pop() if sources else open_source(spec))
    window.controller.start(SourceSpec("folder", {}, ""))
    qtbot.wait(300)
    started = time.perf_counter()
    window.controller.stop()
    assert (time.perf_counter() - started) < 0.05
    assert window.state.run_state == "idle" and window.source_bar.start_button.isEnabled()
    # Starting again at once works, and events of the abandoned run are ignored.
    images = flat_images(tmp_path / "again", [20])
    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert window.state.counters.passed == 1


def test_a_camera_that_cannot_open_gives_a_message(qtbot):
    window = make_window(qtbot, FakeInspector())
    window.controller.start(SourceSpec("opencv", {"index": 63}, ""))
    qtbot.waitUntil(lambda: window.state.last_message[0] == "error", timeout=10_000)
    assert "camera 63 cannot be opened" in window.state.last_message[1].lower()
    qtbot.waitUntil(lambda: window.state.run_state == "idle")


def test_a_bad_model_file_gives_a_message(qtbot, tmp_path):
    broken = tmp_path / "broken.adgui"
    broken.write_bytes(b"not a model at all")
    window = make_window(qtbot, model_path="")
    window.load_recipe(str(broken))
    qtbot.waitUntil(lambda: window.state.last_message[0] == "error", timeout=10_000)
    assert "could not be loaded" in window.state.last_message[1]
    assert window.state.model is None and window.state.run_state == "idle"


def test_an_unreadable_image_is_that_parts_error_record(qtbot, tmp_path):
    images = flat_images(tmp_path / "mixed", [20, 80])
    (images / "img_99.png").write_bytes(b"\x89PNG truncated")
    window = make_window(qtbot, FakeInspector())
    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    counters = window.state.counters
    assert (counters.triggers, counters.passed, counters.failed, counters.errors) == (3, 1, 1, 1)
    rows = read_log(todays_log_path())
    assert rows[2]["part_id"] == "img_99.png" and rows[2]["verdict"] == "ERROR"
    assert "not a readable image" in rows[2]["reason"] and rows[2]["score"] == ""
    assert window.failure_strip.list.count() == 2, "the error is a reject too"


def test_settings_persist_between_runs(qtbot, tmp_path):
    model = tmp_path / "saved.adgui"
    model.write_bytes(b"placeholder: the fake inspector does not read it")
    images = flat_images(tmp_path / "flat", [20])
    window = make_window(qtbot, FakeInspector(), model_path=str(model))
    window.source_bar.set_spec(folder(images, rate=7.5))
    window.source_bar.queue.setValue(6)
    window.state.set_threshold(0.42)  # not applied as a version: not kept
    window.close()

    again = make_window(qtbot, FakeInspector(), model_path="")
    qtbot.waitUntil(lambda: again.state.model is not None, timeout=10_000)
    assert again.state.model_path == str(model)
    assert again.state.threshold == pytest.approx(0.5), "the recipe version's threshold"
    spec = again.source_bar.spec()
    assert (spec.kind, spec.settings["path"], spec.settings["rate"]) == ("folder", str(images), 7.5)
    assert again.source_bar.queue.value() == 6


def test_the_source_bar_is_built_from_the_declared_options(qtbot):
    from adgui.sources import source_kinds

    window = make_window(qtbot, FakeInspector(), model_path="")
    bar = window.source_bar
    assert [bar.kind.itemData(index) for index in range(bar.kind.count())] == \
        [kind.kind for kind in source_kinds()]
    bar.set_spec(SourceSpec("pylon", {"serial": "0815-0001", "exposure_us": 800.0}, "hardware"))
    spec = bar.spec()
    assert (spec.kind, spec.settings["serial"], spec.settings["exposure_us"], spec.trigger) == \
        ("pylon", "0815-0001", 800.0, "hardware")
    dialog = bar.edit_settings()
    labels = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "xposure" in labels and "ain" in labels, labels
    dialog.reject()


def test_the_mailbox_keeps_only_the_newest_frame():
    mailbox = FrameMailbox()
    frames = [Frame(np.zeros((8, 8, 3), np.uint8), str(index), "test") for index in range(5)]
    for frame in frames:
        mailbox.put(frame)
    assert mailbox.take(0.01) is frames[-1]
    assert (mailbox.dropped, mailbox.take(0.01)) == (4, None)
    got = []
    reader = threading.Thread(target=lambda: got.append(mailbox.take(2.0)))
    reader.start()
    mailbox.put(frames[0])
    reader.join()
    assert got == [frames[0]]


def test_parts_reach_the_database_and_a_damaged_one_is_moved_aside(qtbot, tmp_path, adgui_home):
    from adgui.pipeline.userdata import database_path
    from adgui.records.database import ALL_STATIONS, open_database

    database_path().write_bytes(b"this is not a database" * 100)
    window = make_window(qtbot, FakeInspector())
    assert window.state.last_message[0] in ("warning", "info")
    assert list(adgui_home.glob("*.unusable-*")), "the damaged file is kept beside, not deleted"
    window.controller.start(folder(flat_images(tmp_path / "flat", [20, 80, 30])))
    wait_until_drained(qtbot, window)
    window.close()
    with open_database(None, "any") as database:
        stored = database.parts(station=ALL_STATIONS)
    assert [record.verdict for record in stored] == ["PASS", "FAIL", "PASS"]


def test_a_recipe_brings_its_own_camera_settings(qtbot, tmp_path):
    from adgui.sources.recipe_settings import save_recipe_source

    model = tmp_path / "with_camera.adgui"
    model.write_bytes(b"placeholder: the fake inspector does not read it")
    camera = SourceSpec("pylon", {"serial": "0815-0001", "exposure_us": 1500.0, "gain_db": 3.0},
                        "hardware")
    save_recipe_source(model, camera)
    window = make_window(qtbot, FakeInspector(), model_path=str(model))
    spec = window.source_bar.spec()
    assert (spec.kind, spec.trigger) == ("pylon", "hardware")
    assert (spec.settings["serial"], spec.settings["exposure_us"], spec.settings["gain_db"]) == \
        ("0815-0001", 1500.0, 3.0)

    window.source_bar.set_spec(SourceSpec("folder", {"path": str(tmp_path)}, ""))
    window.keep_source_with_recipe()
    window.load_recipe(str(model))
    qtbot.waitUntil(lambda: window.source_bar.spec().kind == "folder", timeout=10_000)


def test_shift_totals_survive_a_restart_and_a_new_shift_needs_a_reason(qtbot, tmp_path):
    from adgui.records.database import open_database

    images = flat_images(tmp_path / "flat", [20, 80, 30, 90, 10])
    window = make_window(qtbot, FakeInspector())
    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    before = window.state.counters.counts
    assert (before.passed, before.failed) == (3, 2)
    window.close()

    again = make_window(qtbot, FakeInspector(), engineer=False)
    assert again.state.counters.counts == before, "read back from the database"
    assert again.counters_panel.shift.text().startswith("Shift ")
    assert not again.controller.start_new_shift("changeover"), "an operator may not"
    assert "engineer" in again.state.last_message[1]
    assert not again.controller.log_in("erika", "wrong")
    assert again.controller.log_in("erika", "a long passphrase")
    assert again.status_panel.role.text() == "Role: engineer (erika)"
    assert not again.controller.start_new_shift("   "), "a reason is required"
    assert again.state.counters.counts == before
    assert again.controller.start_new_shift("changeover to the next batch")
    assert again.state.counters.judged == 0
    again.close()

    third = make_window(qtbot, FakeInspector())
    assert third.state.counters.judged == 0, "the new shift is kept across a restart"
    with open_database(None, "any") as database:
        from adgui.records.database import ALL_STATIONS as ALL
        assert len(database.parts(station=ALL)) == 5, "nothing was deleted"
        assert [event.reason for event in database.events("shift_started", station=ALL)] == \
            ["changeover to the next batch"]
    from adgui.cli import main

    assert main(["audit", "verify"]) == 0, "the shift change is in an unbroken audit trail"


@pytest.mark.parametrize("content", [bytes(range(256)) * 8, b"[recipe]\npath=/nowhere\n"
                                     b"threshold=abc\n[source]\nkind=zzz\nqueue_size=many\n"
                                     b"folder\\rate=fast\n[window]\ngeometry=@ByteArray(zz)\n"
                                     b"[shifts]\nstarts=25:00\n"])
def test_a_damaged_settings_file_gives_a_message_and_a_working_window(qtbot, tmp_path, adgui_home,
                                                                     content):
    from adgui.pipeline.userdata import settings_path

    settings_path().write_bytes(content)
    window = make_window(qtbot, FakeInspector(), model_path="")
    level, message = window.state.last_message
    assert window.isVisible() and window.source_bar.spec().kind == "folder"
    moved = list(adgui_home.glob("settings.ini.unusable-*"))
    if b"\x00" in content:
        assert moved and moved[0].read_bytes() == content, "kept, not deleted"
    window.load_recipe("fake.adgui")
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=10_000)
    window.controller.start(folder(flat_images(tmp_path / "flat", [20])))
    wait_until_drained(qtbot, window)
    assert window.state.counters.passed == 1
    if moved:
        assert level == "warning" and "could not be read" in message and moved[0].name in message


def test_the_shift_report_holds_the_parts_judged(qtbot, tmp_path):
    images = flat_images(tmp_path / "flat", [20, 80, 30, 90, 10])
    window = make_window(qtbot, FakeInspector())
    window.controller.start(folder(images))
    wait_until_drained(qtbot, window)
    window.views.setCurrentWidget(window.charts_panel)
    report = window.export_shift_report(str(tmp_path / "report.pdf"))
    assert report is not None and report.read_bytes().startswith(b"%PDF")
    rows = read_log(report.with_suffix(".csv"))
    assert sorted(row["verdict"] for row in rows) == ["FAIL", "FAIL", "PASS", "PASS", "PASS"]
