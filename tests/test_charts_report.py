"""The charts panel (constant cost per part, drift alarm, hourly bars) and the PDF shift report."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from adgui.gui.charts_panel import ChartsPanel
from adgui.gui.shift_report import write_shift_report
from adgui.pipeline.control_chart import EwmaConfig
from adgui.records import (ERROR, FAIL, NOT_JUDGED, PASS, PartRecord, ShiftPlan, Totals,
                           open_database)

BERLIN = ZoneInfo("Europe/Berlin")
CALIBRATION = np.random.default_rng(3).normal(0.25, 0.05, 40)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def records(count: int, start: float, seed: int = 0, mean: float = 0.25) -> list[PartRecord]:
    rng = np.random.default_rng(seed)
    made = []
    for number in range(1, count + 1):
        score = float(rng.normal(mean, 0.05))
        made.append(PartRecord(f"part-{number}", number, FAIL if score >= 0.5 else PASS, score,
                               0.5, verdict_time=start + number))
    return made


@pytest.fixture
def panel(qtbot) -> ChartsPanel:
    panel = ChartsPanel(None)
    qtbot.addWidget(panel)
    panel.set_calibration(CALIBRATION)
    return panel


def test_panel_costs_the_same_per_part_after_5000_parts(qtbot, panel):
    start = at("2026-06-10 06:00")
    panel.set_hourly([Totals(start + hour * 3600, start + (hour + 1) * 3600) for hour in range(8)])
    parts = records(5000, start)
    blocks = []
    for block in range(5):
        started = time.perf_counter()
        for record in parts[block * 1000:(block + 1) * 1000]:
            panel.add_record(record)
        blocks.append(time.perf_counter() - started)
        panel.redraw()  # what the timer does; not part of the per-part cost
    first, last = blocks[0], blocks[-1]
    assert last <= 1.5 * first + 0.05, blocks
    drawn_x, _ = panel.ewma_curve.getData()
    assert len(drawn_x) == EwmaConfig().history and drawn_x[-1] == 5000


def test_parts_are_drawn_on_the_timer_not_one_by_one(qtbot, panel):
    panel.show()
    parts = records(50, at("2026-06-10 06:00"))
    for record in parts[:10]:
        panel.add_record(record)
    panel.redraw()
    for record in parts[10:]:
        panel.add_record(record)
    assert len(panel.ewma_curve.getData()[0]) == 10  # nothing drawn per part
    qtbot.waitUntil(lambda: len(panel.ewma_curve.getData()[0]) == 50, timeout=2000)


def test_a_drift_raises_the_alarm_signal_and_shows_it(qtbot, panel):
    start = at("2026-06-10 06:00")
    for record in records(200, start):
        panel.add_record(record)
    assert not panel.chart.in_alarm  # the seed's good parts stay in control
    with qtbot.waitSignal(panel.drift_alarm, timeout=1000) as raised:
        for record in records(100, start + 300, seed=1, mean=0.35):  # 2 sigma higher
            panel.add_record(record)
    assert raised.args == [True]
    panel.redraw()
    assert "DRIFT" in panel.alarm_label.text() and panel.alarm_region.isVisible()
    with qtbot.waitSignal(panel.drift_alarm, timeout=1000) as cleared:
        panel.set_calibration(CALIBRATION)  # a new recipe starts a new chart
    assert cleared.args == [False]


def test_chart_pictures_have_the_size_asked_for(qtbot, panel):
    for record in records(300, at("2026-06-10 06:00")):
        panel.add_record(record)
    pictures = panel.chart_images(640, 360)
    assert [title for title, _ in pictures] == ["Yield and fail rate per hour",
                                                "Score control chart (EWMA)"]
    for _, image in pictures:
        ratio = image.devicePixelRatio()
        assert (image.width() / ratio, image.height() / ratio) == (640, 360)


def test_unusable_calibration_shows_why_and_skips_the_chart(qtbot, panel):
    panel.set_calibration([0.3])
    panel.add_record(records(1, 0.0)[0])
    panel.redraw()
    assert panel.chart is None and "at least 2 calibration scores" in panel.alarm_label.text()


def test_hourly_bars_take_the_database_totals_and_count_new_parts(qtbot, panel):
    start = at("2026-06-10 06:00")
    panel.set_hourly([Totals(start, start + 3600, passed=90, failed=10),
                      Totals(start + 3600, start + 7200),
                      Totals(start + 7200, start + 9000, passed=3, not_judged=1)])
    panel.add_record(PartRecord("x", 1, PASS, 0.2, 0.5, verdict_time=start + 3700))
    panel.add_record(PartRecord("y", 2, FAIL, 0.9, 0.5, verdict_time=start + 3800))
    panel.add_record(PartRecord("z", 3, PASS, 0.2, 0.5, verdict_time=start + 9000))  # after
    panel.redraw()
    yields = panel.yield_bars.opts["height"]
    fails = panel.fail_bars.opts["height"]
    np.testing.assert_allclose(yields, [90.0, 50.0, 75.0])
    np.testing.assert_allclose(fails, [10.0, 50.0, 0.0])


# --- the shift report ------------------------------------------------------------------------

PLAN = ShiftPlan(zone="Europe/Berlin")
COUNTS = {PASS: 137, FAIL: 23, NOT_JUDGED: 4, ERROR: 2}


@pytest.fixture
def shift_database(tmp_path):
    """An early shift with known counts; some failed parts have saved images, one a lost one."""
    database = open_database(f"sqlite:///{tmp_path / 'inspections.sqlite3'}", "line-7")
    rng = np.random.default_rng(9)
    verdicts = [verdict for verdict, count in COUNTS.items() for _ in range(count)]
    rng.shuffle(verdicts)
    start = at("2026-06-10 06:00")
    made = []
    for number, verdict in enumerate(verdicts, start=1):
        score = {PASS: rng.uniform(0.1, 0.45), FAIL: rng.uniform(0.5, 1.5)}.get(verdict)
        image = ""
        if verdict == FAIL and number % 2:
            picture = QImage(64, 48, QImage.Format.Format_RGB888)
            picture.fill(QColor(200, 60, 60))
            image = str(tmp_path / f"fail-{number}.png")
            assert picture.save(image)
        made.append(PartRecord(f"cam-{number:04d}", number, verdict,
                               None if score is None else float(score), 0.5, station="line-7",
                               verdict_time=start + 60.0 * number, image_path=image))
    top = max((record for record in made if record.verdict == FAIL), key=lambda r: r.score)
    lost = PartRecord(**{**top.as_dict(), "image_path": str(tmp_path / "gone.png")})
    made[made.index(top)] = lost  # the highest score: its saved image was deleted since
    made.append(PartRecord("next-shift", 999, FAIL, 0.9, 0.5, verdict_time=at("2026-06-10 14:00")))
    database.write(made, [])
    yield database, PLAN.scheduled(at("2026-06-10 09:00")), made
    database.close()


def write_report(qtbot, tmp_path, shift_database) -> Path:
    database, shift, made = shift_database
    panel = ChartsPanel(None)
    qtbot.addWidget(panel)
    panel.set_calibration(CALIBRATION)
    for record in made:
        panel.add_record(record)
    return write_shift_report(tmp_path / "reports" / "early.pdf", database, shift, panel)


def test_shift_report_is_a_pdf_with_a_csv_beside_it(qtbot, tmp_path, shift_database):
    path = write_report(qtbot, tmp_path, shift_database)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) >= 1
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["early.csv", "early.pdf"]
    with open(path.with_suffix(".csv"), newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(COUNTS.values())  # the shift's parts, not the next shift's
    assert {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in COUNTS} == COUNTS
    database, shift, _ = shift_database
    alone = write_shift_report(tmp_path / "alone" / "early.pdf", database, shift, with_csv=False)
    assert [entry.name for entry in alone.parent.iterdir()] == ["early.pdf"]


def test_a_failed_report_leaves_the_previous_file(qtbot, tmp_path, shift_database, monkeypatch):
    path = write_report(qtbot, tmp_path, shift_database)
    before = path.read_bytes()
    database, shift, _ = shift_database

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("adgui.gui.shift_report._draw_pdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_shift_report(path, database, shift)
    assert path.read_bytes() == before
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["early.csv", "early.pdf"]
    with pytest.raises(ValueError, match="PDF"):
        write_shift_report(tmp_path / "report.txt", database, shift)


def test_shift_report_text_has_the_counts(qtbot, tmp_path, shift_database):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (Debian: apt-get install poppler-utils)")
    path = write_report(qtbot, tmp_path, shift_database)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    text = unicodedata.normalize("NFKC", text)  # the font's "ﬁ" ligature reads as "fi"
    total = sum(COUNTS.values())
    assert re.search(rf"Parts inspected \(triggers\)\s+{total}\b", text)
    for caption, verdict in (("Pass", PASS), ("Fail", FAIL), ("Not judged", NOT_JUDGED),
                             ("Errors", ERROR)):
        share = 100.0 * COUNTS[verdict] / total
        assert re.search(rf"^{caption}\s+{COUNTS[verdict]}\s+{share:.2f} %", text, re.M), caption
    assert re.search(rf"^Yield\s+{100.0 * COUNTS[PASS] / total:.2f} %", text, re.M)
    assert "Station line-7" in text and "Shift early: 2026-06-10 06:00 – 2026-06-10 14:00" in text
    _, _, made = shift_database
    failed = sorted((r for r in made[:-1] if r.verdict == FAIL), key=lambda r: -r.score)
    for record in failed[:6]:
        assert f"Part {record.part_id}" in text
    assert f"Part {failed[6].part_id}" not in text
    assert "image file missing" in text and "gone.png" in text
    assert "EWMA control chart of PASS scores: the last" in text


def test_shift_report_first_page_is_not_blank(qtbot, tmp_path, shift_database):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (Debian: apt-get install poppler-utils)")
    path = write_report(qtbot, tmp_path, shift_database)
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(path),
                    str(tmp_path / "page")], check=True, capture_output=True)
    page = QImage(str(next(tmp_path.glob("page*.png"))))
    assert not page.isNull() and page.width() < page.height()  # portrait A4
    gray = page.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(gray.constBits(), dtype=np.uint8).reshape(gray.height(), -1)
    pixels = rows[:, :gray.width()]  # rows are padded to 4 bytes
    assert (pixels < 240).mean() > 0.03  # text, tables and the chart: not an empty page
