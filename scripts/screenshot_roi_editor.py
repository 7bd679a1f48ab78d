"""A screenshot of the ROI editor, for the documentation and for looking at it.

    xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot_roi_editor.py OUT.png [IMAGE]

Without IMAGE it draws on a bundled defective sample. The editor shows an include ellipse
around the part and an exclude rectangle over one region, with the excluded area shaded.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1280, 800)


def capture_roi_editor(out: str | Path, image_path: str | Path | None = None,
                       size: tuple[int, int] = SIZE) -> Path:
    """Open the editor on the image with two regions drawn, save a picture of it at `size`."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from adgui.gui.app import apply_style
    from adgui.gui.roi_editor import RoiEditor

    app = QApplication.instance() or QApplication([])
    apply_style(app)
    path = Path(image_path) if image_path else sorted((ROOT / "resources/samples/bad").glob("*.png"))[0]
    image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    editor = RoiEditor(image, version_text="Recipe 'bottle', version 3 in force: the whole image.")
    editor.add_shape("ellipse", points=[(0.08 * width, 0.08 * height),
                                        (0.92 * width, 0.92 * height)])
    editor.add_shape("rectangle", include=False,
                     points=[(0.55 * width, 0.1 * height), (0.85 * width, 0.35 * height)])
    editor.reason.setText("reflection at the top right is not a defect")
    editor.resize(*size)
    editor.show()
    for _ in range(5):
        app.processEvents()
    editor.box.autoRange(padding=0.01)
    app.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not editor.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    editor.close()
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(capture_roi_editor(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
