"""Make the exported sample recipe that the station build bundles for its self-test: PaDiM
(fast preset) trained on the bundled good samples, exported and parity-checked (needs torch).

    python scripts/make_sample_recipe.py OUT_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adgui.selftest import make_sample_recipe  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"sample recipe: {make_sample_recipe(Path(sys.argv[1]))}")
