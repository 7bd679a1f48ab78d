"""The working resolution and tiling proposed from the smallest defect to catch."""
from __future__ import annotations

import math

import pytest

from algorithms.geometry_advice import (MIN_CELLS, Proposal, defect_in_pixels, describe_geometry,
                                        propose_geometry)


def test_a_coarse_defect_keeps_the_whole_image_at_the_input_size():
    proposal = propose_geometry(900, 900, 40)
    assert (proposal.working_side, proposal.tiles, proposal.fit_mode) == (0, 1, "pad")
    assert proposal.cells == pytest.approx(40 * 256 / 900 / 8)
    assert proposal.explanation.startswith("The whole image at 256 px: a defect of 40 px spans 1.42")


def test_a_small_defect_gets_the_smallest_working_side_that_spans_a_cell():
    proposal = propose_geometry(900, 900, 12)
    # 12 px must become 8 px (one cell): a scale of 2/3, 600 px on the long side.
    assert proposal.working_side == 600
    assert proposal.cells == pytest.approx(MIN_CELLS)
    assert proposal.tiles == 9  # 3 x 3 tiles of 256 px, 192 px apart, cover 600 px
    assert "600 px in 9 tiles of 256 px" in proposal.explanation


@pytest.mark.parametrize("height, width, defect", [(900, 900, 10), (300, 1280, 14), (2000, 1500, 18),
                                                   (630, 100, 9), (512, 512, 14)])
def test_the_proposal_is_the_smallest_grid_side_that_reaches_a_cell(height, width, defect):
    proposal = propose_geometry(height, width, defect)
    assert proposal.working_side > 256 and proposal.working_side % 8 == 0
    assert proposal.cells >= MIN_CELLS
    smaller = describe_geometry(height, width, defect, proposal.working_side - 8)
    assert smaller.cells < MIN_CELLS, "8 px less would already do"


def test_never_above_the_image_own_resolution():
    proposal = propose_geometry(900, 900, 2)  # would need 2x: enlarging adds no detail
    assert proposal.working_side == 900 and proposal.cells == pytest.approx(0.25)
    assert "may be missed" in proposal.explanation and "under about 8 px" in proposal.explanation
    small = propose_geometry(120, 200, 1)  # smaller than one input: whole, never tiled
    assert (small.working_side, small.tiles) == (0, 1)


def test_not_declared_means_the_whole_image_and_says_what_it_reaches():
    proposal = propose_geometry(900, 900, 0)
    assert (proposal.working_side, proposal.tiles, proposal.smallest_defect_px) == (0, 1, 0.0)
    assert "declare the smallest defect" in proposal.explanation
    assert f"about {8 * 900 / 256:.0f} px" in proposal.explanation


def test_aspect_ratio_kept_tiles_follow_the_long_and_short_side():
    proposal = propose_geometry(300, 1280, 4)  # native 1280 px: 300 px high stays 300 px
    assert proposal.working_side == 1280
    along = math.ceil((1280 - 256) / 192) + 1
    assert proposal.tiles == along * 2  # 300 px high: two rows of tiles


def test_an_overridden_working_side_is_described_honestly():
    coarse = describe_geometry(512, 512, 3, working_side=300)
    assert "even the image's own 512 px would give it only 0.38" in coarse.explanation
    low = describe_geometry(900, 900, 12, working_side=450)
    assert low.cells < MIN_CELLS and "working at 600 px would give it that" in low.explanation
    squeezed = describe_geometry(300, 1280, 0, working_side=512, fit_mode="squeeze")
    assert squeezed.tiles == 9 and "stretched to a square" in squeezed.explanation
    assert describe_geometry(900, 900, 12, working_side=200).working_side == 0, \
        "a working image no larger than one input is the whole image"


def test_config_overrides_are_the_detector_settings():
    proposal = propose_geometry(900, 900, 12)
    assert proposal.config_overrides() == {"image_size": 256, "fit_mode": "pad",
                                           "working_side": 600, "tile_overlap": 0.25,
                                           "smallest_defect_px": 12.0}
    assert isinstance(proposal, Proposal)


def test_millimetres_need_a_scale():
    assert defect_in_pixels(3, "mm", 0.05) == pytest.approx(60)
    assert defect_in_pixels(0.3, "mm", 0.05) == 6.0, "stored as declared, not 5.999999999999999"
    assert defect_in_pixels(4.5) == 4.5
    with pytest.raises(ValueError, match="mm per pixel"):
        defect_in_pixels(3, "mm")
    with pytest.raises(ValueError, match="px or mm"):
        defect_in_pixels(3, "inch", 1.0)


@pytest.mark.parametrize("args, message", [((0, 900, 3), "at least 1 px"),
                                           ((900, 900, -1), "0 \\(not declared\\) or more"),
                                           ((900, 900, float("nan")), "0 \\(not declared\\)")])
def test_bad_input_gets_a_clear_message(args, message):
    with pytest.raises(ValueError, match=message):
        propose_geometry(*args)
    with pytest.raises(ValueError, match="fit mode"):
        describe_geometry(900, 900, 3, 512, fit_mode="stretch")


def test_tile_count_agrees_with_the_geometry_module():
    geometry = pytest.importorskip("algorithms.geometry")
    for height, width, defect in [(900, 900, 12), (300, 1280, 4), (2000, 2000, 10), (630, 140, 3)]:
        proposal = propose_geometry(height, width, defect)
        settings = geometry.Geometry(image_size=proposal.image_size, fit_mode=proposal.fit_mode,
                                     working_side=proposal.working_side,
                                     tile_overlap=proposal.tile_overlap)
        assert geometry.tile_count(height, width, settings) == proposal.tiles
