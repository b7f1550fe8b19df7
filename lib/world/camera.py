"""The camera and the root trajectory: pinhole intrinsics, each frame's root translation from the 2D keypoints,
smoothed over time (step 3 of :mod:`lib.world`)."""
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from lib.utils.errors import OptionError

# Root trajectory smoothing: the period (s) below which motion is damped, per camera axis (x, y, z).
# Depth comes from the pose's apparent size and is the noisiest.
TRAJECTORY_CUTOFF_S = (0.1, 0.1, 0.4)


@dataclass
class Intrinsics:
    """A pinhole camera: focal length and principal point in pixels; ``assumed`` when not given."""
    focal: float
    center: tuple
    image_size: tuple
    assumed: bool
    source: str  # how the focal length was obtained

    @property
    def horizontal_fov(self):
        return math.degrees(2 * math.atan(self.image_size[0] / (2 * self.focal)))

    def project(self, points):
        """Camera coordinates ``(..., 3)`` → pixels ``(..., 2)``."""
        return self.focal * points[..., :2] / points[..., 2:3] + np.asarray(self.center)

    def describe(self):
        return {"focal_px": round(self.focal, 3), "principal_point_px": [round(float(c), 3) for c in self.center],
                "image_size": list(self.image_size), "horizontal_fov_deg": round(self.horizontal_fov, 3),
                "assumed": self.assumed, "source": self.source}


# plausible cameras for a picture of a given size: a horizontal field of view of 2-160 degrees (a long telephoto
# lens to a fisheye's rectified picture), the principal point inside the picture
FOV_RANGE_DEG = (2.0, 160.0)


def focal_range(width):
    """``(low, high)`` focal lengths in pixels of :data:`FOV_RANGE_DEG` for a picture ``width`` pixels wide."""
    return tuple(width / (2 * math.tan(math.radians(angle) / 2)) for angle in FOV_RANGE_DEG[::-1])


def check_camera(image_size, focal=None, fov=None, center=None):
    """Raise :class:`OptionError` for camera values impossible for ``image_size = (w, h)`` pictures: a focal length
    (``--focal``) or field of view (``--fov``) outside :data:`FOV_RANGE_DEG`, a principal point (``--center``)
    outside the picture, or values that are not finite."""
    w, h = image_size
    low, high = focal_range(w)
    if focal is not None and not (math.isfinite(focal) and low <= focal <= high):
        raise OptionError(f"--focal {focal:g}: for a {w}x{h} picture the focal length in pixels must be between "
                          f"{low:.0f} and {high:.0f} (a horizontal field of view of {FOV_RANGE_DEG[1]:g} to "
                          f"{FOV_RANGE_DEG[0]:g} degrees)")
    if fov is not None and not (math.isfinite(fov) and FOV_RANGE_DEG[0] <= fov <= FOV_RANGE_DEG[1]):
        raise OptionError(f"--fov {fov:g}: the horizontal field of view must be between {FOV_RANGE_DEG[0]:g} and "
                          f"{FOV_RANGE_DEG[1]:g} degrees")
    if center is not None:
        cx, cy = center
        if not (math.isfinite(cx) and math.isfinite(cy) and 0 <= cx <= w and 0 <= cy <= h):
            raise OptionError(f"--center {cx:g} {cy:g}: the principal point must lie in the {w}x{h} picture "
                              f"(x 0-{w}, y 0-{h}; usually near its centre, {w / 2:g} {h / 2:g})")


def camera_intrinsics(image_size, focal=None, fov=None, center=None):
    """:class:`Intrinsics` of ``image_size = (w, h)`` images: ``focal`` (px), else from the horizontal field
    of view ``fov`` (degrees), else assumed: the image diagonal (53° diagonally), a common guess for an
    unknown camera. The principal point is ``center`` or the image centre."""
    check_camera(image_size, focal, fov, center)
    w, h = image_size
    center = tuple(center) if center is not None else (w / 2.0, h / 2.0)
    if focal is not None:
        return Intrinsics(float(focal), center, (w, h), False, "given (--focal)")
    if fov is not None:
        return Intrinsics(w / (2 * math.tan(math.radians(fov) / 2)), center, (w, h), False, "given (--fov)")
    return Intrinsics(math.hypot(w, h), center, (w, h), True,
                      "assumed: focal length = image diagonal (53.1 degrees diagonal field of view)")


def translations_per_frame(poses, keypoints_px, confidence, intrinsics):
    """Each frame's root translation ``(F, 3)`` (camera, mm) that best projects root-relative ``poses (F, J, 3)``
    (mm) onto ``keypoints_px (F, J, 2)``, and its weight ``(F,)`` (the sum of the confidences).

    For every joint, ``f·(X + tx) = (u − cx)·(Z + tz)`` and the same for y: linear in the translation,
    solved by confidence-weighted least squares (the closed form used for SMPL camera translation,
    ``lib.utils.utils_mesh.estimate_translation_np``, here for all frames at once). Frames without
    confidence get weight 0.
    """
    f, (cx, cy) = intrinsics.focal, intrinsics.center
    u = keypoints_px[..., 0] - cx
    v = keypoints_px[..., 1] - cy
    x, y, z = np.moveaxis(np.asarray(poses, dtype=np.float64), -1, 0)
    w = np.asarray(confidence, dtype=np.float64)
    zeros = np.zeros_like(u)
    rows = np.concatenate([np.stack([np.full_like(u, f), zeros, -u], -1),
                           np.stack([zeros, np.full_like(v, f), -v], -1)], axis=1)  # (F, 2J, 3)
    rhs = np.concatenate([u * z - f * x, v * z - f * y], axis=1)
    weights = np.concatenate([w, w], axis=1)
    normal = np.einsum("fn,fni,fnj->fij", weights, rows, rows)
    weight = w.sum(axis=1)
    solvable = (weight > 0) & (np.linalg.cond(normal + np.eye(3) * (weight <= 0)[:, None, None]) < 1e12)
    normal[~solvable] = np.eye(3)
    translation = np.linalg.solve(normal, np.einsum("fn,fni,fn->fi", weights, rows, rhs)[..., None])[..., 0]
    return np.where(solvable[:, None], translation, 0.0), np.where(solvable, weight, 0.0)


def whittaker(values, weights, cutoff_frames, locks=()):
    """Whittaker smoother of ``values (F, D)``: minimises ``Σ w_t ‖x_t − values_t‖² + λ_d ‖Δ²x‖²`` per column d,
    with ``λ = (cutoff_frames / 2π)⁴`` (the period at which the gain falls to one half; one per column).

    ``locks``: ``(flags (F,) bool, offsets (F, D), weight)`` terms ``weight · Σ ‖(x + offsets)_{t+1} −
    (x + offsets)_t‖²`` over frames t with ``flags[t] and flags[t+1]``: a point ``x + offsets`` (a foot) that
    should stay still while flagged. Frames with weight 0 are interpolated.
    """
    values = np.asarray(values, dtype=np.float64)
    n, columns = values.shape
    weights = np.asarray(weights, dtype=np.float64)
    if n < 3:
        total = max(weights.sum(), 1e-12)
        return np.repeat((weights[:, None] * values).sum(0, keepdims=True) / total, n, axis=0)
    weights = weights / max(weights.mean(), 1e-12)
    second = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    first = sparse.diags([-1.0, 1.0], [0, 1], shape=(n - 1, n))
    base = sparse.diags(weights)
    rhs = weights[:, None] * values
    lock_matrix = sparse.csr_matrix((n, n))
    for flags, offsets, weight in locks:
        held = np.asarray(flags[:-1] & flags[1:], dtype=np.float64)
        step = sparse.diags(held) @ first
        lock_matrix = lock_matrix + weight * (step.T @ step)
        rhs = rhs - weight * (step.T @ (step @ np.asarray(offsets, dtype=np.float64)))
    out = np.empty_like(values)
    for d in range(columns):
        lam = (np.atleast_1d(cutoff_frames)[min(d, np.size(cutoff_frames) - 1)] / (2 * np.pi)) ** 4
        system = (base + lam * (second.T @ second) + lock_matrix).tocsc()
        out[:, d] = spsolve(system, rhs[:, d])
    return out


def root_trajectory(poses, keypoints_px, confidence, intrinsics, fps, locks=()):
    """The smoothed camera-space root trajectory ``(F, 3)`` (mm) of root-relative ``poses (F, 17, 3)`` (mm):
    :func:`translations_per_frame`, then :func:`whittaker` with :data:`TRAJECTORY_CUTOFF_S` (and foot
    ``locks``)."""
    estimate, weight = translations_per_frame(poses, keypoints_px, confidence, intrinsics)
    if not (weight > 0).any():
        raise ValueError("no frame has a keypoint with confidence above 0")
    cutoff = [s * fps for s in TRAJECTORY_CUTOFF_S]
    return whittaker(estimate, weight, cutoff, locks)
