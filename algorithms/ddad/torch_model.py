"""DDAD (Mousakhan et al. 2023): anomaly detection with conditioned denoising diffusion models.

A denoising UNet learns good images (DDPM). A test image is noised to an intermediate step
and denoised with DDIM, each step guided toward the test image itself, so normal regions
come back as they were and anomalies come back as a good part. The anomaly map compares
the input with its reconstruction in pixels (D_p, L1) and in the features of two shallow
stages of a pretrained backbone (D_f, cosine), fine-tuned beforehand by domain adaptation:

    D = v * max(D_f) / max(D_p) * D_p + D_f,   blurred; the image score is its maximum.

The paper takes both maxima over the whole test set; here they come from good training
images at fit time, so a single live frame is scored on its own.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..backbones import FeatureExtractor
from ..base import ACTIVATION_FACTOR, Detector, Progress, gaussian_blur
from .adaptation import feature_distance
from .config import DdadConfig
from .diffusion import NoiseSchedule, NoiseSource, fixed_noise, reconstruct
from .trainer import DdadTrainer
from .unet import UNet

class Ddad(Detector):
    name = "ddad"
    config_class = DdadConfig
    config: DdadConfig
    # No tiles: the UNet learns whole images (a tile's reconstruction would lack its context)
    # and a reverse diffusion per tile would multiply the slowest detector's latency.
    tiles = False

    def __init__(self, config: DdadConfig):
        super().__init__(config)
        if config.diffusion_size > config.image_size:
            raise ValueError("diffusion_size cannot be larger than image_size")
        if not 0 < config.test_start_step <= config.diffusion_steps or config.skip < 1:
            raise ValueError("test_start_step must be in 1..diffusion_steps and skip at least 1")
        self.unet = UNet(config.diffusion_size, config.unet_channels, tuple(config.unet_multipliers),
                         config.unet_res_blocks, tuple(config.attention_resolutions),
                         config.attention_heads, config.dropout)
        self.schedule = NoiseSchedule(config.diffusion_steps, config.beta_start, config.beta_end)
        # Fine-tuned by domain adaptation, so its weights are part of the fitted state.
        self.extractor = FeatureExtractor(config.backbone, config.layers, config.weights)
        # The paper's max(D_f) and max(D_p), from good training images.
        self.register_buffer("max_feature_distance", torch.tensor(1.0))
        self.register_buffer("max_pixel_distance", torch.tensor(1.0))

    # ---- inference ------------------------------------------------------------------------

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        small = self.shrink(images)  # (B, 3, s, s)
        with self.autocast():
            reconstruction = self.reconstruct(small, small, self.config.w,
                                              fixed_noise(self.config.seed, self.device))
            pixel, feature = self.distances(small, reconstruction)  # (B, S, S) each
        ratio = self.max_feature_distance / self.max_pixel_distance.clamp_min(1e-12)
        maps = gaussian_blur(self.config.v * ratio * pixel + feature, self.config.blur_sigma)
        return maps.flatten(1).amax(dim=1), maps

    def reconstruct(self, small: torch.Tensor, target: torch.Tensor, w: float,
                    noise: NoiseSource) -> torch.Tensor:
        """Conditioned reconstruction at the diffusion size: (B, 3, s, s) in [0, 1]."""
        config = self.config
        result = reconstruct(self.unet, self.schedule, small * 2 - 1, target * 2 - 1,
                             config.test_start_step, config.skip, w, config.eta, noise)
        return (result + 1) / 2

    def distances(self, small: torch.Tensor, reconstruction: torch.Tensor):
        """Pixel (L1, channel mean) and feature distances, both (B, S, S) at image size."""
        pixel = (reconstruction - small).abs().mean(dim=1, keepdim=True)  # (B, 1, s, s)
        pixel = self.grow(pixel)[:, 0]
        # Both sides pass through the diffusion size, so neither is sharper than the other.
        feature = feature_distance(self.extractor, self.grow(reconstruction), self.grow(small))
        return pixel.float(), feature.float()

    def shrink(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.diffusion_size
        if images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="area")

    def grow(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)

    def autocast(self):
        """bfloat16 (float16 on older GPUs) on CUDA; full precision on the CPU."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype())

    @staticmethod
    def autocast_dtype() -> torch.dtype:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # ---- fitting --------------------------------------------------------------------------

    def estimate_fit_memory(self, train_images: int) -> int:
        config = self.config
        parameters = sum(p.numel() for p in self.unet.parameters()) * 4
        # Weights, gradients, AdamW's two moments and the moving average; the activations
        # autograd keeps for a batch, measured on shapes alone; the images at both sizes.
        denoiser = 5 * parameters + config.train_batch_size * self._unet_activation_bytes()
        small = train_images * 3 * config.diffusion_size ** 2 * 4
        adaptation = 2 * config.da_batch_size * 3 * config.image_size ** 2 * 4 * ACTIVATION_FACTOR
        return super().estimate_fit_memory(train_images) + small + max(denoiser, adaptation)

    def _unet_activation_bytes(self) -> int:
        """Bytes autograd saves in one training forward of the UNet for one image."""
        config = self.config
        with torch.device("meta"):  # shapes only: no memory, no arithmetic
            unet = UNet(config.diffusion_size, config.unet_channels, tuple(config.unet_multipliers),
                        config.unet_res_blocks, tuple(config.attention_resolutions),
                        config.attention_heads, config.dropout)
            x = torch.empty(1, 3, config.diffusion_size, config.diffusion_size)
            t = torch.ones(1, dtype=torch.long)
        saved: dict[int, int] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            saved[id(tensor)] = tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            unet(x, t)
        return sum(saved.values())

    def memory_advice(self) -> str:
        advice = "use a smaller train_batch_size or diffusion_size"
        return advice + ("" if self.device.type == "cuda" else "; on a computer without a GPU "
                         "use the 'cpu' preset")

    def _fit(self, images: torch.Tensor, progress: Progress) -> None:
        # Trains in place: Detector.fit hands a refit a fresh module.
        DdadTrainer(self.config).fit(self, images, progress)
