"""CFlow-AD (Gudovskiy et al., WACV 2022): conditional normalizing flows on encoder features.

A frozen pretrained encoder gives feature maps at several scales. Each scale has its own
decoder, a conditional normalizing flow that maps a feature vector (a "fibre": one grid
position of one image) to a standard normal, conditioned on a 2-D positional encoding of
where the fibre sits. The decoders are trained by maximum likelihood on random batches of
good fibres. A test fibre's anomaly is its low likelihood: per scale, the log-likelihoods
are shifted by a constant, exponentiated, upsampled to the image and summed over scales;
the map is the fused probability turned upside down and the image score is its maximum.

The paper (and anomalib) shift by the maximum over the whole test set; here the constant is
the maximum over the training fibres, so a single live image is scored on its own.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import FeatureExtractor
from ..base import Detector, Progress
from .config import CflowConfig
from .flow import ConditionalFlow, positional_encoding_2d
from .trainer import CflowTrainer

EVAL_CHUNK = 16384  # fibres per pass when scoring the training set after fitting


class Cflow(Detector):
    name = "cflow"
    config_class = CflowConfig
    config: CflowConfig

    def __init__(self, config: CflowConfig):
        super().__init__(config)
        self.backbone = FeatureExtractor(config.backbone, config.layers, config.weights)
        self.decoders = self.new_decoders()
        # Per scale, the largest per-dimension log-likelihood of a training fibre.
        self.register_buffer("log_prob_max", torch.zeros(len(config.layers)))
        # Inference-only cache of each block's projected positional encoding, per scale.
        self._projected: dict[int, list[torch.Tensor]] = {}
        self.register_load_state_dict_post_hook(lambda module, keys: module._projected.clear())

    def new_decoders(self) -> nn.ModuleList:
        """Freshly initialised decoders, the same for the same seed."""
        generator = torch.Generator().manual_seed(self.config.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return nn.ModuleList(
                ConditionalFlow(channels, self.config.condition_dim, self.config.coupling_blocks,
                                self.config.clamp_alpha, generator)
                for channels in self.backbone.channels)

    def encoding(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """(height * width, P) positional encoding, row-major like the flattened feature grid."""
        encoding = positional_encoding_2d(self.config.condition_dim, height, width)
        return encoding.flatten(1).T.contiguous().to(device)

    # ---- fitting (the loop itself is CflowTrainer's) ------------------------------------

    def _fit(self, images: torch.Tensor, progress: Progress) -> None:
        CflowTrainer(self.config).fit(self, images, progress)

    def install_decoders(self, decoders: nn.ModuleList, log_prob_max: torch.Tensor) -> None:
        """Take trained decoders and their training maxima (scales,) as the fitted state."""
        self.decoders = decoders
        self.log_prob_max = log_prob_max
        self._projected.clear()

    def estimate_fit_memory(self, train_images: int) -> int:
        side = self.config.image_size
        fibres = sum(math.ceil(side / stride) ** 2 * channels
                     for stride, channels in zip(self.backbone.strides, self.backbone.channels))
        # Every training fibre of every tile is kept (float32); the flows' batches are small.
        inputs = train_images * self.inputs_per_image()
        return super().estimate_fit_memory(train_images) + inputs * fibres * 4

    @torch.no_grad()
    def training_fibres(self, images: torch.Tensor, progress: Progress) -> list[torch.Tensor]:
        """Per scale, every training fibre: (N, H, W, C), computed once (the encoder is frozen)."""
        per_scale: list[list[torch.Tensor]] = [[] for _ in self.config.layers]
        batch_size = self.config.batch_size
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].float()  # float16 inputs too
            features = self.backbone(self.backbone.normalize(batch))
            for store, feature in zip(per_scale, features):
                store.append(feature.permute(0, 2, 3, 1).contiguous())  # (B, H, W, C)
            progress(min(start + batch_size, len(images)) / len(images), "extracting features")
        return [torch.cat(store) for store in per_scale]

    @torch.no_grad()
    def max_log_likelihood(self, decoders: nn.ModuleList, fibres: list[torch.Tensor]) -> torch.Tensor:
        """(scales,) the largest per-dimension log-likelihood over the training fibres."""
        maxima = []
        for decoder, scale_fibres in zip(decoders, fibres):
            _, height, width, channels = scale_fibres.shape
            flat = scale_fibres.view(len(scale_fibres), -1, channels)  # (N, HW, C)
            projected = decoder.project(self.encoding(height, width, flat.device))  # (HW, hidden)
            best = -math.inf
            step = max(1, EVAL_CHUNK // (height * width))
            for start in range(0, len(flat), step):
                log_prob = decoder.log_likelihood(flat[start:start + step], projected)
                best = max(best, float(log_prob.max()))
            maxima.append(best)
        return torch.tensor(maxima, device=self.device)

    # ---- inference ------------------------------------------------------------------------

    def _conditions(self, index: int, height: int, width: int, device: torch.device) -> list[torch.Tensor]:
        """Each block's projected encoding for one scale: fixed once trained, so cached."""
        if torch.is_grad_enabled():  # training or gradients wanted: no cache
            return self.decoders[index].project(self.encoding(height, width, device))
        cached = self._projected.get(index)
        if cached is None or cached[0].shape[0] != height * width or cached[0].device != device:
            cached = self.decoders[index].project(self.encoding(height, width, device))
            self._projected[index] = cached
        return cached

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(self.backbone.normalize(images))
        size = images.shape[-2:]
        likelihood = images.new_zeros(images.shape[0], 1, *size)  # (B, 1, S, S)
        for index, (feature, decoder) in enumerate(zip(features, self.decoders)):
            batch, _, height, width = feature.shape  # (B, C, h, w)
            fibres = feature.flatten(2).transpose(1, 2)  # (B, hw, C), all positions in one pass
            log_prob = decoder.log_likelihood(fibres, self._conditions(index, height, width,
                                                                       feature.device))  # (B, hw)
            probability = torch.exp(log_prob - self.log_prob_max[index]).view(batch, 1, height, width)
            likelihood += F.interpolate(probability, size=size, mode="bilinear", align_corners=False)
        # A training fibre at its scale's maximum contributes 1; anomalies contribute about 0.
        maps = len(self.decoders) - likelihood.squeeze(1)  # (B, S, S)
        return maps.flatten(1).amax(dim=1), maps
