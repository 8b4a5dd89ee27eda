"""After the render, before the image is written: photo backgrounds and camera effects (numpy and PIL only).

Nothing here moves a pixel, so the masks, boxes and per-object metadata computed from the render's instance
map stay exact; the per-object statistics (brightness, contrast...) are taken from the finished image.

Photo background (`background: {kind: photo, dir}`). The scene renders with a transparent film: objects
opaque, the support plane a shadow catcher (its alpha is the shadow the objects cast). The photo, scaled to
cover the frame and centre-cropped, goes behind by straight-alpha "over": out = fg * a + photo * (1 - a); the
antialiased object edges carry fractional alpha, so edges blend rather than cut. The photo's mean colour lights
the scene as the world colour (scene.py), so objects take on the room's cast.

Camera effects (`effects`), in this order:
  exposure_ev     x 2**ev on linear light;
  white_balance_k gains kelvin_to_rgb(6500) / kelvin_to_rgb(k) per channel on linear light, normalised to keep
                  mean brightness (k < 6500: bluer, the camera set for warm light; k > 6500: warmer);
  motion_px       motion blur: the image convolved with a straight streak of that length (px, anti-aliased
                  line kernel, unit sum) at an angle drawn uniformly in [0, 180) degrees; on linear light;
  noise_sigma     Gaussian noise, sd in 8-bit levels, drawn from a generator seeded by the scene seed;
  jpeg_quality    the quality the image is saved at (scene.py).
Defocus is the config's `blur_sigma_px` (a Gaussian of that sigma, applied before the effects). Blur spreads an
object's edge over a few pixels but moves nothing: its box stays the box of the object.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NOISE_SEED_SALT = 0x5EED


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def load_photo(path: str | Path, width: int, height: int) -> np.ndarray:
    """uint8 (height, width, 3): the photo scaled to cover width x height, centre-cropped."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        s = max(width / im.width, height / im.height)
        w, h = max(width, round(im.width * s)), max(height, round(im.height * s))
        im = im.resize((w, h), Image.LANCZOS)
        x, y = (w - width) // 2, (h - height) // 2
        return np.asarray(im.crop((x, y, x + width, y + height)), dtype=np.uint8)


def mean_linear_colour(photo: np.ndarray) -> tuple[float, float, float]:
    """The photo's mean colour in linear light (the world colour that lights a photo-background scene)."""
    lin = srgb_to_linear(photo.reshape(-1, 3).astype(np.float64) / 255.0).mean(axis=0)
    return tuple(float(c) for c in lin)


def composite(rgba: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """uint8 RGB: straight-alpha RGBA render over the photo (same height and width)."""
    if rgba.shape[:2] != photo.shape[:2]:
        raise ValueError(f"render {rgba.shape[:2]} and photo {photo.shape[:2]} differ in size")
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    out = rgba[..., :3].astype(np.float64) * a + photo.astype(np.float64) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def white_balance_gains(kelvin: float) -> np.ndarray:
    from render.annotate import kelvin_to_rgb
    g = np.asarray(kelvin_to_rgb(6500.0)) / np.maximum(np.asarray(kelvin_to_rgb(kelvin)), 1e-6)
    return g / g.mean()


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A unit-sum straight streak `length` px long at `angle_deg` (0 = horizontal), anti-aliased."""
    import cv2
    n = int(np.ceil(length)) | 1
    k = np.zeros((n, n), np.float64)
    c, a = (n - 1) / 2.0, np.radians(angle_deg)
    dx, dy = 0.5 * (length - 1) * np.cos(a), -0.5 * (length - 1) * np.sin(a)
    cv2.line(k, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)), 1.0,
             1, cv2.LINE_AA, shift=4)
    return k / k.sum() if k.sum() > 0 else np.ones((1, 1))


def apply_effects(rgb: np.ndarray, exposure_ev: float = 0.0, white_balance_k: float = 6500.0,
                  noise_sigma: float = 0.0, seed: int = 0, motion_px: float = 0.0,
                  motion_angle_deg: float = 0.0) -> np.ndarray:
    """uint8 RGB with exposure, white balance, motion blur and noise applied (module docstring); unchanged when
    all are off."""
    if exposure_ev == 0.0 and white_balance_k == 6500.0 and noise_sigma == 0.0 and motion_px < 1.0:
        return rgb
    out = rgb.astype(np.float64) / 255.0
    if exposure_ev != 0.0 or white_balance_k != 6500.0 or motion_px >= 1.0:
        lin = srgb_to_linear(out) * (2.0 ** exposure_ev) * white_balance_gains(white_balance_k)
        if motion_px >= 1.0:
            import cv2
            lin = cv2.filter2D(lin, -1, motion_kernel(motion_px, motion_angle_deg), borderType=cv2.BORDER_REFLECT)
        out = linear_to_srgb(lin)
    out = out * 255.0
    if noise_sigma > 0.0:
        rng = np.random.default_rng([int(seed) % (2 ** 63), NOISE_SEED_SALT])
        out = out + rng.normal(0.0, noise_sigma, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def sample_effects(effects, rng: np.random.Generator) -> dict:
    """The per-image effect values drawn from an EffectsConfig (for the sidecar)."""
    return {"exposure_ev": round(float(rng.uniform(*effects.exposure_ev)), 4),
            "white_balance_k": round(float(rng.uniform(*effects.white_balance_k)), 1),
            "noise_sigma": round(float(rng.uniform(*effects.noise_sigma)), 3),
            "jpeg_quality": int(rng.integers(int(effects.jpeg_quality[0]), int(effects.jpeg_quality[1]) + 1)),
            **({"motion_px": round(float(rng.uniform(*effects.motion_px)), 3),        # drawn only when set: older
                "motion_angle_deg": round(float(rng.uniform(0.0, 180.0)), 2)}        # configs keep their scenes
               if tuple(effects.motion_px) != (0.0, 0.0) else {})}


# The photo-like look of the bottles realism ladder (one definition): its photo-fx step's camera effects, and
# what its photo-full step adds on top - the best measured look (studies/bottles/RESULTS.md, realism ladder:
# 0.365 mAP50-95 alone vs 0.326 photo-fx, 0.303 without plates): catalogue clutter (one in a target's sight line
# in 30 % of scenes), per-object material jitter and motion blur. `synthgap run`'s photo-like sets use it all.
PHOTO_LIKE_EFFECTS = {"exposure_ev": [-0.5, 0.5], "white_balance_k": [4000, 8000], "noise_sigma": [2, 6],
                      "jpeg_quality": [60, 95]}
PHOTO_FULL = {"clutter": {"count": [2, 5], "occlude": 0.3},
              "materials": {"hue_shift": [-0.05, 0.05], "saturation": [0.7, 1.3], "value": [0.7, 1.3],
                            "roughness": [0.1, 0.8]}}
PHOTO_FULL_MOTION_PX = [0, 2]


def photo_like(config: dict, plates: str | Path, effects: bool = True, full: bool = False) -> dict:
    """A SceneConfig mapping made photo-like: the plates of `plates` behind the objects, OIDN denoising, and
    (effects) the camera effects above; `full` (the ladder's photo-full step, implies effects) adds PHOTO_FULL's
    clutter and materials and motion blur. Geometry, objects and lights are left as they are."""
    import copy
    out = {**config, "background": {"kind": "photo", "dir": str(plates)}, "denoiser": "fast"}
    if effects or full:
        out["effects"] = {k: list(v) for k, v in PHOTO_LIKE_EFFECTS.items()}
    if full:
        out.update(copy.deepcopy(PHOTO_FULL))
        out["effects"]["motion_px"] = list(PHOTO_FULL_MOTION_PX)
    return out
