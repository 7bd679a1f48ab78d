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
import copy
import math
import time

import torch
import torch.nn.functional as F

from ..backbones import FeatureExtractor
from ..base import ACTIVATION_FACTOR, Detector, Progress, gaussian_blur, step_budget, sub_progress
from .adaptation import adapt_extractor, feature_distance
from .config import DdadConfig
from .diffusion import NoiseSchedule, NoiseSource, fixed_noise, reconstruct, training_loss
from .unet import UNet

LOSS_REPORT_EVERY = 25  # steps between reading the loss back (a device sync on CUDA)


class Ddad(Detector):
    name = "ddad"
    config_class = DdadConfig
    config: DdadConfig

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
        small = self._shrink(images)  # (B, 3, s, s)
        with self._autocast():
            reconstruction = self.reconstruct(small, small, self.config.w,
                                              fixed_noise(self.config.seed, self.device))
            pixel, feature = self._distances(small, reconstruction)  # (B, S, S) each
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

    def _distances(self, small: torch.Tensor, reconstruction: torch.Tensor):
        """Pixel (L1, channel mean) and feature distances, both (B, S, S) at image size."""
        pixel = (reconstruction - small).abs().mean(dim=1, keepdim=True)  # (B, 1, s, s)
        pixel = self._grow(pixel)[:, 0]
        # Both sides pass through the diffusion size, so neither is sharper than the other.
        feature = feature_distance(self.extractor, self._grow(reconstruction), self._grow(small))
        return pixel.float(), feature.float()

    def _shrink(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.diffusion_size
        if images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="area")

    def _grow(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)

    def _autocast(self):
        """bfloat16 (float16 on older GPUs) on CUDA; full precision on the CPU."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=_cuda_dtype())

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
        # The UNet and the extractor train in place: Detector.fit hands a refit a fresh module.
        config = self.config
        generator = torch.Generator(device=self.device).manual_seed(config.seed)
        small = self._shrink(images)  # (N, 3, s, s) in [0, 1]
        self._train_unet(small * 2 - 1, generator, sub_progress(progress, 0.0, 0.8))

        def random_noise(shape: torch.Size) -> torch.Tensor:
            return torch.randn(shape, generator=generator, device=self.device)

        def reconstruct_toward(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                result = self.reconstruct(self._shrink(x), self._shrink(target), config.da_w,
                                          random_noise)
            return self._grow(result.float())

        if config.da_epochs > 0:
            progress(0.8, "adapting the feature extractor")
            adapt_extractor(self.extractor, self._grow(small), reconstruct_toward,
                            config.da_epochs, config.da_batch_size, config.da_learning_rate,
                            config.da_lambda, generator, sub_progress(progress, 0.8, 0.97))
        self._fit_weighting(small, generator, sub_progress(progress, 0.97, 1.0))

    def _train_unet(self, images: torch.Tensor, generator: torch.Generator,
                    progress: Progress) -> None:
        """DDPM training on (N, 3, s, s) images in [-1, 1] until the epochs or the time run out."""
        config = self.config
        unet = self.unet
        unet.train()
        unet.requires_grad_(True)
        ema = copy.deepcopy(unet).requires_grad_(False) if config.ema_decay > 0 else None
        optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda"
                                      and _cuda_dtype() == torch.float16)
        batch_size = min(config.train_batch_size, len(images))
        steps_per_epoch = max(1, len(images) // batch_size)  # full batches only
        total_steps = step_budget(steps_per_epoch, config.train_epochs, config.min_steps,
                                  config.max_steps)
        warmup = max(1, min(200, total_steps // 20))
        started, step, loss_value = time.perf_counter(), 0, float("nan")
        order = torch.empty(0, dtype=torch.long, device=self.device)
        try:
            while True:
                elapsed = time.perf_counter() - started
                fraction = step / total_steps
                if config.train_seconds:
                    fraction = max(fraction, elapsed / config.train_seconds)
                if fraction >= 1.0:
                    break
                # Linear warm-up, then cosine decay over the steps or the time budget.
                scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * fraction))
                for group in optimizer.param_groups:
                    group["lr"] = config.learning_rate * scale
                if len(order) < batch_size:
                    order = torch.randperm(len(images), generator=generator, device=self.device)
                batch, order = images[order[:batch_size]], order[batch_size:]  # (b, 3, s, s)
                with self._autocast():
                    loss = training_loss(unet, self.schedule, batch, config.train_max_step,
                                         generator)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    # Warm-up of the average so that short trainings are not dominated by init.
                    decay = min(config.ema_decay, (1 + step) / (10 + step))
                    with torch.no_grad():
                        for averaged, current in zip(ema.parameters(), unet.parameters()):
                            averaged.lerp_(current, 1 - decay)
                step += 1
                if step % LOSS_REPORT_EVERY == 1:
                    loss_value = float(loss.detach())
                progress(min(fraction, 1.0), f"training the denoiser: step {step}, "
                                             f"loss {loss_value:.4f}")
        finally:
            if ema is not None:
                unet.load_state_dict(ema.state_dict())
            unet.train(False)
            unet.requires_grad_(False)

    @torch.no_grad()
    def _fit_weighting(self, small: torch.Tensor, generator: torch.Generator,
                       progress: Progress) -> None:
        """max(D_f) and max(D_p) over reconstructions of good training images."""
        config = self.config
        count = min(config.weighting_images, len(small))
        chosen = torch.randperm(len(small), generator=generator, device=self.device)[:count]
        max_pixel, max_feature = 0.0, 0.0
        for start in range(0, count, config.batch_size):
            batch = small[chosen[start:start + config.batch_size]]
            with self._autocast():
                reconstruction = self.reconstruct(batch, batch, config.w,
                                                  fixed_noise(config.seed, self.device))
                pixel, feature = self._distances(batch, reconstruction)
            max_pixel = max(max_pixel, float(pixel.max()))
            max_feature = max(max_feature, float(feature.max()))
            progress(min(start + config.batch_size, count) / count, "weighting the distances")
        self.max_pixel_distance = torch.tensor(max_pixel, device=self.device)
        self.max_feature_distance = torch.tensor(max_feature, device=self.device)


def _cuda_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
