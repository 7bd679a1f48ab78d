"""Screenshots of the run screen, and the verdict colours as a deuteranope sees them.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py OUT_FOLDER
    xvfb-run -s "-screen 0 1920x1080x24" python scripts/screenshots.py OUT_FOLDER

Builds the window in a throw-away user folder at 1280x800 and 1920x1080 and writes, for each
size: the operator's screen with a PASS, a FAIL and a NOT JUDGED part, the operator's screen
with a reject under review beside the live part, and the engineer's screen. Then the verdict
boxes as painted, beside the same pixels through the Machado 2009 deuteranopia matrix
(severity 1.0, on linear RGB), and `contrast.json` / `contrast.txt` with the contrast ratios
measured on the palette and on the painted pixels.

The parts are the bundled sample images; their anomaly maps are the blurred difference from
the mean good sample, scaled so the good samples stay under the threshold. The verdict of each
part follows from its score as at the station (records.part.decide).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

SIZES = ((1280, 800), (1920, 1080))


def sample_parts(threshold: float = 0.5):
    """JudgedParts from the bundled samples: the good ones, the bad ones, one not judged."""
    from adgui.pipeline.live import JudgedPart, thumbnail
    from adgui.records.part import NOT_JUDGED, PartRecord, decide
    from adgui.render import overlay
    from adgui.resources import samples_dir

    def read(path: Path) -> np.ndarray:
        return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()  # (H, W, 3) RGB

    good = [read(path) for path in sorted((samples_dir() / "good").glob("*.png"))]
    bad = [read(path) for path in sorted((samples_dir() / "bad").glob("*.png"))]
    mean = np.mean(good, axis=0)

    def difference(image: np.ndarray) -> np.ndarray:
        raw = np.abs(image.astype(np.float32) - mean).mean(axis=2)  # (H, W)
        return cv2.GaussianBlur(raw, (0, 0), 4.0)

    scale = 0.4 / max(float(difference(image).max()) for image in good)  # good stays under 0.5
    sequence = iter(range(1, 1000))

    def judged(image: np.ndarray, name: str) -> JudgedPart:
        anomaly_map = difference(image) * scale
        score = float(anomaly_map.max())
        record = PartRecord(name, next(sequence), decide(score, threshold), score, threshold,
                            source="samples", verdict_time=time.time(), latency_ms=38.0)
        picture = overlay(image, anomaly_map, threshold)
        return JudgedPart(record, image, anomaly_map, picture, thumbnail(picture))

    goods = [judged(image, f"good_{index:02d}.png") for index, image in enumerate(good)]
    bads = [judged(image, f"bad_{index:02d}.png") for index, image in enumerate(bad)]
    unjudged = JudgedPart(PartRecord("trigger 0412", next(sequence), NOT_JUDGED, None, threshold,
                                     source="samples", verdict_time=time.time(),
                                     reason="not judged in time (queue full)"))
    return goods, bads, unjudged


def grab(widget, path: Path) -> np.ndarray:
    """Save the widget as a PNG; return its pixels as (H, W, 3) RGB."""
    from PySide6.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    if not image.save(str(path)):
        raise OSError(f"could not write {path}")
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())
    return data[:, :3 * width].reshape(height, width, 3).copy()


def settle(app, seconds: float = 0.15) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["ADGUI_HOME"] = tempfile.mkdtemp(prefix="adgui-screens-")

    from PySide6.QtWidgets import QApplication

    from adgui.gui.app import apply_style, build_window
    from adgui.gui.palette import (LOOKS, contrast_ratio, delta_e76, simulate_deuteranopia,
                                   simulate_image, text_contrast, to_hex)
    from adgui.pipeline.inspection import ModelInfo
    from adgui.pipeline.parts import Counts
    from adgui.records.part import FAIL, NOT_JUDGED, PASS

    app = QApplication.instance() or QApplication([])
    apply_style(app)
    window = build_window()
    window.settings.setValue("window/ask_before_quit", False)
    state = window.state
    state.set_model(ModelInfo("ring", "patchcore", "mobilenetv2_100", "CPU", 0.5,
                              np.linspace(-0.3, 0.4, 50).astype(np.float32), {}), "ring.adgui")
    goods, bads, unjudged = sample_parts()
    parts = {PASS: goods[0], FAIL: bads[1], NOT_JUDGED: unjudged}
    written, verdict_pixels = [], {}
    window.showNormal()
    for width, height in SIZES:
        window.resize(width, height)
        settle(app)
        state.set_role("", "operator")
        state.clear_recent()
        for part in bads[:1] + goods[1:3]:  # some history in the counters and the strip
            state.add_part(part)
            settle(app, 0.3)  # parts a few tenths of a second apart, as on a line
        # The counters as a morning's shift would show them (they are the database's counts).
        window.controller.pipeline.counts.reset(Counts(1412, 1371, 35, 4, 2))
        state.set_counts(window.controller.pipeline.counts.snapshot())
        for verdict, part in parts.items():
            state.add_part(part)
            settle(app)
            name = f"operator_{width}x{height}_{verdict.lower()}.png"
            grab(window, out / name)
            written.append(name)
            if width == SIZES[-1][0]:
                verdict_pixels[verdict] = grab(window.verdict_panel.verdict,
                                               out / f"verdict_{verdict.lower()}.png")
        state.review(bads[0])
        state.add_part(goods[1])  # the line goes on while the reject is reviewed
        settle(app)
        name = f"operator_{width}x{height}_review.png"
        grab(window, out / name)
        written.append(name)
        state.back_to_live()
        state.set_role("erika", "engineer")
        state.add_part(bads[2])
        settle(app)
        name = f"engineer_{width}x{height}.png"
        grab(window, out / name)
        written.append(name)
        window.views.setCurrentWidget(window.threshold_panel)
        settle(app)
        name = f"engineer_{width}x{height}_threshold.png"
        grab(window, out / name)
        written.append(name)
        window.views.setCurrentIndex(0)
        if (window.width(), window.height()) != (width, height):  # a layout wider than the screen
            print(f"the engineer's screen needs {window.width()}x{window.height()}, "
                  f"more than {width}x{height}")
        share = window.verdict_panel.verdict.height() / height
        print(f"{width}x{height}: verdict box {window.verdict_panel.verdict.height()} px "
              f"= {share:.1%} of the height (engineer view)")
        state.set_role("", "operator")
        settle(app)
        share = window.verdict_panel.verdict.height() / height
        print(f"{width}x{height}: verdict box {window.verdict_panel.verdict.height()} px "
              f"= {share:.1%} of the height (operator view)")

    report = colour_report(verdict_pixels, LOOKS, contrast_ratio, delta_e76,
                           simulate_deuteranopia, text_contrast, to_hex)
    rows = [np.hstack([pixels, simulate_image(pixels)]) for pixels in verdict_pixels.values()]
    widest = max(row.shape[1] for row in rows)
    sheet = np.vstack([np.pad(row, ((4, 4), (0, widest - row.shape[1]), (0, 0))) for row in rows])
    cv2.imwrite(str(out / "deuteranopia_verdicts.png"), sheet[:, :, ::-1])
    written.append("deuteranopia_verdicts.png")
    (out / "contrast.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "contrast.txt").write_text(report_text(report), encoding="utf-8")
    print(report_text(report))
    print(f"written to {out}: " + ", ".join(written))
    window.close()
    return 0


def colour_report(pixels: dict, looks, contrast_ratio, delta_e76, simulate, text_contrast,
                  to_hex) -> dict:
    """Contrast ratios from the palette, and the painted background colour read back from the
    pixels (the box's most common colour), normal and simulated."""
    from adgui.records.part import FAIL, PASS

    verdicts = {}
    for verdict, image in pixels.items():
        colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
        painted = to_hex(colours[np.argmax(counts)] / 255.0)
        style = looks[verdict]
        verdicts[verdict] = {
            "background": style.background, "painted_background": painted,
            "text": style.text, "text_contrast": round(text_contrast(verdict), 2),
            "text_contrast_on_painted": round(contrast_ratio(style.text, painted), 2),
            "deuteranopia_background": simulate(style.background),
            "deuteranopia_text_contrast": round(min(  # against each stripe where hatched
                contrast_ratio(simulate(style.text), simulate(background))
                for background in [style.background] + ([style.hatch] if style.hatch else [])), 2),
        }
    first, second = looks[PASS].background, looks[FAIL].background
    seen_first, seen_second = simulate(first), simulate(second)
    return {
        "verdicts": verdicts,
        "pass_vs_fail": {
            "contrast": round(contrast_ratio(first, second), 2),
            "delta_e76": round(delta_e76(first, second), 1),
            "deuteranopia_contrast": round(contrast_ratio(seen_first, seen_second), 2),
            "deuteranopia_delta_e76": round(delta_e76(seen_first, seen_second), 1),
        },
        "previous_green_red": {
            "contrast": round(contrast_ratio("#2EA043", "#DA3633"), 2),
            "deuteranopia": [simulate("#2EA043"), simulate("#DA3633")],
            "deuteranopia_delta_e76": round(delta_e76(simulate("#2EA043"), simulate("#DA3633")), 1),
        },
    }


def report_text(report: dict) -> str:
    lines = ["verdict     background (painted)   text   text contrast  deuteranopia bg  its text contrast"]
    for verdict, row in report["verdicts"].items():
        lines.append(f"{verdict:<11} {row['background']} ({row['painted_background']})  "
                     f"{row['text']}  {row['text_contrast']:>5.2f} ({row['text_contrast_on_painted']:.2f})"
                     f"   {row['deuteranopia_background']}          {row['deuteranopia_text_contrast']:.2f}")
    pair, old = report["pass_vs_fail"], report["previous_green_red"]
    lines.append(f"PASS vs FAIL backgrounds: contrast {pair['contrast']}, dE76 {pair['delta_e76']}; "
                 f"under deuteranopia contrast {pair['deuteranopia_contrast']}, "
                 f"dE76 {pair['deuteranopia_delta_e76']}")
    lines.append(f"previous green/red: contrast {old['contrast']}, under deuteranopia "
                 f"{old['deuteranopia'][0]} vs {old['deuteranopia'][1]}, dE76 {old['deuteranopia_delta_e76']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
