"""Golden samples: registered beside the recipe, judged like parts, and while one is judged
wrongly the window refuses Start and the station tells the line it is not ready."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from adgui.golden import BAD, CHECK_EVENT, GOOD, GoldenSet, check
from adgui.outputs.base import RECIPE_FAILED, TRIGGER_REFUSED, wait_until
from adgui.records.database import ALL_STATIONS, open_database

from line_fakes import FakeModel, make_station
from test_gui import (FakeInspector, flat_images, folder, log_in_engineer, make_window,
                      wait_until_drained)
from test_station_control import SlowLine

pytestmark = pytest.mark.usefixtures("adgui_home")


def flat(path, value: int):
    """A flat grey image: the fake models score it value / 100."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((16, 16, 3), value, np.uint8))
    return path


def golden_set(tmp_path, model_path, good=(20,), bad=(80,), copy=False) -> GoldenSet:
    golden = GoldenSet.load(model_path)
    golden.add([flat(tmp_path / "images" / f"good_{value}.png", value) for value in good], GOOD,
               copy)
    golden.add([flat(tmp_path / "images" / f"bad_{value}.png", value) for value in bad], BAD, copy)
    golden.save()
    return golden


# -- the set and its check --------------------------------------------------------------------

def test_a_set_is_kept_beside_the_recipe_and_read_back(tmp_path):
    model = tmp_path / "recipes" / "bottle.adgui"
    golden = golden_set(tmp_path, model, good=(10, 20), bad=(90,), copy=True)
    assert golden.file == tmp_path / "recipes" / "bottle.adgui.golden.json"
    again = GoldenSet.load(model)
    assert again.samples == golden.samples and again.describe() == "2 good, 1 bad"
    copied = [again.image_path(sample) for sample in again.samples]
    assert all(path.is_file() and path.parent.name == "bottle.adgui.golden" for path in copied)
    assert [sample.path.split("/")[0] for sample in again.samples] == ["bottle.adgui.golden"] * 3


def test_bad_input_is_refused_with_a_message(tmp_path):
    model = tmp_path / "bottle.adgui"
    with pytest.raises(ValueError, match="'good' or 'bad'"):
        GoldenSet.load(model).add([flat(tmp_path / "a.png", 10)], "fine")
    with pytest.raises(ValueError, match="not_there.png: file not found"):
        GoldenSet.load(model).add([tmp_path / "not_there.png"], GOOD)
    (tmp_path / "bottle.adgui.golden.json").write_text("{not json")
    with pytest.raises(ValueError, match="golden samples file bottle.adgui.golden.json cannot"):
        GoldenSet.load(model)


def test_the_check_judges_every_sample_as_a_part_is_judged(tmp_path):
    golden = golden_set(tmp_path, tmp_path / "m.adgui", good=(20, 40), bad=(80,))
    report = check(FakeModel(), golden, threshold=0.5)
    assert report.passed and [result.verdict for result in report.results] == ["PASS", "PASS",
                                                                                "FAIL"]
    # A model that lets the defect through (scores it 0.45): the known-bad part passes.
    lenient = check(FakeModel(offset=-0.35), golden, threshold=0.5)
    assert not lenient.passed and [result.path.endswith("bad_80.png")
                                   for result in lenient.wrong] == [True]
    assert "bad_80.png (bad) judged PASS at score 0.450" in lenient.summary()
    # The same set at a threshold above the bad part's score: wrong again.
    assert not check(FakeModel(), golden, threshold=0.85).passed
    # A sample whose image is gone cannot be judged right.
    (tmp_path / "images" / "good_40.png").unlink()
    missing = check(FakeModel(), golden, threshold=0.5)
    assert not missing.passed and "good_40.png: file not found" in missing.summary()


# -- the window ------------------------------------------------------------------------------

def test_a_wrongly_judged_golden_sample_blocks_start_and_a_right_set_unblocks(qtbot, tmp_path):
    model = tmp_path / "recipes" / "fake.adgui"
    # The known bad part scores 0.3, below the threshold 0.5: it would pass.
    golden_set(tmp_path, model, good=(20,), bad=(30,))
    model.write_bytes(b"placeholder: the fake inspector does not read it")  # versions go beside it
    images = flat_images(tmp_path / "parts", [20, 80])
    window = make_window(qtbot, FakeInspector(), model_path=str(model))
    controller = window.controller
    qtbot.waitUntil(lambda: controller.golden_report is not None, timeout=10_000)
    assert not controller.golden_report.passed
    assert not controller.start(folder(images)), "inspection is blocked"
    level, text = window.state.last_message
    assert level == "error" and text.startswith("Start is blocked: golden samples of recipe")
    assert "bad_30.png (bad) judged PASS at score 0.300" in text
    assert window.notice.isVisible() and "Start is blocked" in window.notice.text.text()
    assert window.state.counters.judged == 0

    # The engineer lowers the threshold below the bad part's score: judged again, all right.
    assert controller.apply_threshold(0.25, "the 0.3 scratch must fail")
    qtbot.waitUntil(lambda: not controller.golden_block, timeout=10_000)
    assert controller.golden_report.passed and controller.golden_report.threshold == 0.25
    assert controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert (window.state.counters.passed, window.state.counters.failed) == (1, 1)

    with open_database(None, "any") as database:
        checks = database.events(CHECK_EVENT, station=ALL_STATIONS)
    assert [event.new_value for event in checks] == ["failed", "passed"]
    assert checks[0].reason.startswith("station start: ")
    assert checks[1].reason.startswith("recipe version 2: ")  # the new threshold
    assert checks[0].detail["samples"][1] == {"path": str(tmp_path / "images" / "bad_30.png"),
                                              "expected": "bad", "verdict": "PASS",
                                              "score": pytest.approx(0.3), "problem": ""}


def test_registering_samples_is_an_engineers_recorded_change(qtbot, tmp_path):
    model = tmp_path / "fake.adgui"
    window = make_window(qtbot, FakeInspector(), model_path=str(model), engineer=False)
    controller = window.controller
    good = str(flat(tmp_path / "g.png", 20))
    assert not controller.add_golden([good], GOOD)
    assert "An operator cannot change the recipe" in window.state.last_message[1]
    assert not GoldenSet.load(model).samples

    log_in_engineer(window)
    assert controller.add_golden([good], GOOD, reason="reference part from batch 7")
    assert controller.add_golden([str(flat(tmp_path / "b.png", 90))], BAD)
    assert GoldenSet.load(model).describe() == "1 good, 1 bad"
    qtbot.waitUntil(lambda: controller.golden_report is not None
                    and len(controller.golden_report.results) == 2, timeout=10_000)
    assert controller.golden_report.passed and not controller.golden_block
    dialog = window.open_golden_samples()  # Recipe > Golden samples…
    assert [dialog.samples.item(row).text().split()[0] for row in range(2)] == ["GOOD", "BAD"]
    assert "2 of 2 judged right" in dialog.result.text()
    dialog.close()
    with open_database(None, "any") as database:
        changes = database.events("recipe_changed", station=ALL_STATIONS)
    assert [(event.user, event.old_value, event.new_value, event.reason) for event in changes] == [
        ("erika", "golden samples 0 good, 0 bad", "golden samples 1 good, 0 bad",
         "reference part from batch 7"),
        ("erika", "golden samples 1 good, 0 bad", "golden samples 1 good, 1 bad",
         "golden samples registered")]


def test_a_new_shift_judges_the_samples_again(qtbot, tmp_path):
    model = tmp_path / "fake.adgui"
    window = make_window(qtbot, FakeInspector(), model_path=str(model))
    controller = window.controller
    assert controller.golden_report is not None and controller.golden_report.empty
    golden_set(tmp_path, model, good=(20,), bad=(30,))  # wrong, written behind its back
    assert controller.start_new_shift("next batch")
    qtbot.waitUntil(lambda: controller.golden_report is not None
                    and not controller.golden_report.empty, timeout=10_000)
    assert controller.golden_block.startswith("golden samples of recipe 'fake'")
    assert not controller.start(folder(flat_images(tmp_path / "parts", [20])))


# -- the station and the line -----------------------------------------------------------------

def test_the_station_is_not_ready_while_a_recipes_golden_sample_is_judged_wrongly(tmp_path):
    # Recipe 2 scores everything 0.9 higher: the known good part fails.
    line = SlowLine(capacity=10)
    station, url = make_station(tmp_path, [line], recipes={1: FakeModel(), 2: FakeModel(0.9)})
    station.golden = True
    for number in (1, 2):
        golden_set(tmp_path, tmp_path / f"recipe{number}.adgui", good=(20,), bad=(80,))
    station.open()
    try:
        assert station.start_run() == 0
        assert station.select_recipe(2) == 0
        assert wait_until(lambda: not station.switching, 10)
        state = station.state
        assert not state.ready and state.state == "Error"
        assert state.error_code == RECIPE_FAILED and "good_20.png (good) judged FAIL" in \
            state.error_text
        assert line.states[-1].ready is False, "the line was told"
        assert not station.plc_trigger() and TRIGGER_REFUSED in station.errors
        assert station.start_run() != 0, "Start is refused while not ready"

        assert station.select_recipe(1) == 0
        assert wait_until(lambda: not station.switching, 10)
        assert station.golden_block == ""
        assert station.start_run() == 0
        assert wait_until(lambda: station.state.ready, 5), station.state
        assert station.plc_trigger()
    finally:
        station.close()
    with open_database(url, "line-test") as database:
        checks = database.events(CHECK_EVENT)
    assert [(event.new_value, event.reason.split(":")[0]) for event in checks] == [
        ("failed", "recipe 2"), ("passed", "recipe 1")]
    assert json.loads(json.dumps(checks[0].detail))["samples"][0]["verdict"] == "FAIL"


# -- the command line -------------------------------------------------------------------------

def test_golden_commands_register_list_and_check(tmp_path, monkeypatch, capsys):
    from adgui.cli import main
    from adgui.pipeline.inspection import Inspector

    monkeypatch.setattr(Inspector, "open", staticmethod(lambda path, device: FakeInspector()))
    model = tmp_path / "fake.adgui"
    model.write_bytes(b"a model")
    good, bad = flat(tmp_path / "ok.png", 20), flat(tmp_path / "crack.png", 80)
    assert main(["golden", "add", "--model", str(model), "--good", str(good), "--bad", str(bad),
                 "--copy", "--reason", "reference parts"]) == 0
    assert "2 sample(s) added; 1 good, 1 bad" in capsys.readouterr().out
    assert main(["golden", "list", "--model", str(model)]) == 0
    assert capsys.readouterr().out.splitlines() == ["good\tfake.adgui.golden/ok.png",
                                                    "bad\tfake.adgui.golden/crack.png"]
    assert main(["golden", "check", "--model", str(model)]) == 0
    assert "2 of 2 judged right" in capsys.readouterr().err

    assert main(["golden", "add", "--model", str(model), "--bad",
                 str(flat(tmp_path / "faint.png", 30))]) == 0
    assert main(["golden", "check", "--model", str(model)]) == 1
    out = capsys.readouterr().out
    assert "WRONG\tfaint.png (bad) judged PASS at score 0.300" in out
    assert main(["golden", "check", "--model", str(model), "--threshold", "0.25"]) == 0
    assert main(["golden", "add", "--model", str(tmp_path / "none.adgui"), "--good",
                 str(good)]) == 1
    assert "There is no recipe at" in capsys.readouterr().err

    with open_database(None, "any") as database:
        changes = database.events("recipe_changed", station=ALL_STATIONS)
        checks = database.events(CHECK_EVENT, station=ALL_STATIONS)
    assert [event.new_value for event in changes] == ["golden samples 1 good, 1 bad",
                                                      "golden samples 1 good, 2 bad"]
    assert changes[0].user.endswith("(command line)") and changes[0].reason == "reference parts"
    assert [event.new_value for event in checks] == ["passed", "failed", "passed"]
    assert main(["audit", "verify"]) == 0


def test_a_headless_station_with_a_wrong_golden_set_does_not_inspect(tmp_path, monkeypatch,
                                                                     capsys):
    from adgui.cli import main
    from adgui.pipeline.inspection import Inspector

    monkeypatch.setattr(Inspector, "open", staticmethod(lambda path, device: FakeInspector()))
    parts = [flat(tmp_path / "parts" / f"part_{index:02d}.png", 20) for index in range(3)]
    model = tmp_path / "recipe" / "fake.adgui"
    model.parent.mkdir()
    model.write_bytes(b"a model")
    golden = GoldenSet(model)
    golden.add([parts[0]], BAD)  # a good part (score 0.2) registered as bad
    golden.save()
    url = f"sqlite:///{tmp_path / 'station.db'}"
    command = ["station", "--model", str(model), "--source", f"folder:{tmp_path / 'parts'}",
               "--name", "cli-test", "--db", url, "--count", "3", "--device", "cpu",
               "--threshold", "0.6", "--reason", "trial on batch 7"]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "Not ready: golden samples of recipe 'fake' at threshold 0.6: 0 of 1 judged right; " \
        "wrong: part_00.png (bad) judged PASS at score 0.200" in err
    assert main(command + ["--no-golden"]) == 0
    with open_database(url, "cli-test") as database:
        assert len(database.parts()) == 3, "only the run without golden samples inspected"
        (check_event,) = database.events(CHECK_EVENT)
        recipes = database.events("recipe_changed")
        thresholds = database.events("threshold_changed")
        (outputs,) = database.events("output_changed")
    assert check_event.new_value == "failed" and check_event.detail["threshold"] == 0.6
    assert [(event.old_value, event.new_value) for event in recipes] == [(None, "fake")], \
        "the second run kept the station's recipe: no change"
    assert [(event.new_value, event.reason) for event in thresholds] == [
        ("0.6", "trial on batch 7")] * 2
    assert (outputs.old_value, outputs.new_value) == (None, "none")
    assert all(event.user.endswith("(command line)") and event.detail["role"] == "engineer"
               for event in recipes + thresholds + [outputs])
