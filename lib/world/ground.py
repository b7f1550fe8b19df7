"""The ground: the floor plane fitted to the feet in contact, the upright world frame, foot contacts (steps 4 and 5
of :mod:`lib.world`)."""
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from lib.world.skeleton import _normalize

# Height of the ankle joint above the sole of a standing person (Winter, Biomechanics and Motor
# Control of Human Movement, segment lengths: 0.039 of the body height).
ANKLE_HEIGHT_FRACTION = 0.039
# moving slower than this (body heights per second).
CONTACT_HEIGHT_FRACTION = 0.05
CONTACT_SPEED_FRACTION = 0.3
SPEED_WINDOW_S = 0.1  # speeds are measured over +-this
# Ground fit: RANSAC inlier distance (fraction of the body height), and what makes a fit reliable.
GROUND_INLIER_FRACTION = 0.02
GROUND_MIN_INLIERS = 0.6
GROUND_MAX_RMS_FRACTION = 0.012
GROUND_MIN_STILL = 0.25  # of the frames, with a foot slower than the contact speed


@dataclass
class GroundFit:
    """The floor in camera coordinates: ``up · p = offset`` (``up`` a unit vector); the plane fitted through
    the ankles in contact is ``ankle_height`` above it."""
    up: np.ndarray
    offset: float
    rms: float                 # mm, distance of the inlier ankles to their plane
    inlier_fraction: float
    n_points: int
    reliable: bool
    reason: str = ""

    @property
    def tilt_deg(self):
        """Angle between the estimated up and the camera's up (−y): the camera's tilt over the floor."""
        return math.degrees(math.acos(np.clip(-self.up[1], -1.0, 1.0)))

    def describe(self):
        return {"up_in_camera": [round(float(v), 6) for v in self.up], "tilt_deg": round(self.tilt_deg, 3),
                "rms_mm": round(self.rms, 3), "inlier_fraction": round(self.inlier_fraction, 4),
                "n_points": self.n_points, "reliable": self.reliable, "note": self.reason}


def _speed(points, fps, window_s=SPEED_WINDOW_S):
    """``(F, ..., 3)`` → ``(F, ...)`` speed (units per second) by central differences over ±``window_s`` (at least
    one frame): long enough that the jitter of lifted joints does not look like motion."""
    half = max(1, int(round(window_s * fps)))
    if len(points) < 2:
        return np.zeros(points.shape[:-1])
    padded = np.concatenate([points[:1].repeat(half, 0), points, points[-1:].repeat(half, 0)])
    return np.linalg.norm(padded[2 * half:] - padded[:-2 * half], axis=-1) * fps / (2 * half)


def _plane(points, prior_up, prior_weight):
    """Least-squares plane ``(normal, offset)`` through ``points (n, 3)``; ``prior_weight`` pulls the normal
    towards ``prior_up`` (it decides when the points span less than a plane, e.g. standing still)."""
    centre = points.mean(axis=0)
    scatter = (points - centre).T @ (points - centre) + prior_weight * (np.eye(3) - np.outer(prior_up, prior_up))
    normal = np.linalg.eigh(scatter)[1][:, 0]
    normal = normal if normal @ prior_up >= 0 else -normal
    return normal, float(normal @ centre)


def fit_ground(ankles, heads, fps, height_mm, seed=0):
    """The floor (:class:`GroundFit`) from camera-space ankles ``(F, 2, 3)`` and head tops ``(F, 3)`` (mm); or from
    several people of one camera: lists of such arrays, one per person.

    Candidates: the ankles while they move slower than the contact speed (a foot in the air moves
    faster). RANSAC (inliers within :data:`GROUND_INLIER_FRACTION` of the height), then least
    squares on the inliers, held towards the body's mean up (ankles to head) by a weak prior. Unreliable
    (a moving camera, or too little data): a foot still in fewer than :data:`GROUND_MIN_STILL` of the
    frames, fewer than :data:`GROUND_MIN_INLIERS` inliers or their rms above
    :data:`GROUND_MAX_RMS_FRACTION` of the height; then the camera's up is returned.
    """
    camera_up = np.array([0.0, -1.0, 0.0])
    ankle_height = ANKLE_HEIGHT_FRACTION * height_mm
    if isinstance(ankles, (list, tuple)):  # several people: speeds within each one's frames, then all together
        slow = np.concatenate([_speed(a, fps) for a in ankles]) < CONTACT_SPEED_FRACTION * height_mm
        ankles, heads = np.concatenate(ankles), np.concatenate(heads)
    else:
        slow = _speed(ankles, fps) < CONTACT_SPEED_FRACTION * height_mm
    points = ankles[slow] if slow.sum() >= 3 else ankles.reshape(-1, 3)
    # the body's mean up (ankles to head) decides what the footprints leave open: a straight walk's
    # footprints lie along a line, which fixes no roll about it
    body_up = _normalize(np.mean(_normalize(heads - ankles.mean(axis=1)), axis=0))
    threshold = GROUND_INLIER_FRACTION * height_mm
    prior_weight = len(points) * (0.05 * height_mm) ** 2

    def fallback(reason):
        offset = float(np.percentile(ankles.reshape(-1, 3) @ camera_up, 5)) - ankle_height
        return GroundFit(camera_up, offset, float("nan"), 0.0, len(points), False, reason)

    if len(points) < 3:
        return fallback("too few frames to fit the ground")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(200):
        sample = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(sample[1] - sample[0], sample[2] - sample[0])
        if np.linalg.norm(normal) < 1e-9:
            continue
        normal = _normalize(normal)
        inliers = np.abs((points - sample[0]) @ normal) < threshold
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < 3:
        return fallback("the ankles fit no plane")
    up, offset = _plane(points[best], body_up, prior_weight)
    for _ in range(2):  # refine the inlier set on the least-squares plane
        inliers = np.abs(points @ up - offset) < threshold
        if inliers.sum() >= 3:
            up, offset = _plane(points[inliers], body_up, prior_weight)
    if np.mean(heads @ up - offset) < 0:  # the body stands on the floor, not under it
        up, offset = -up, -offset
    rms = float(np.sqrt(np.mean((points[inliers] @ up - offset) ** 2)))
    fraction = float(inliers.mean())
    fit = GroundFit(up, offset - ankle_height, rms, fraction, len(points), True)
    still = float(slow.any(axis=1).mean())
    if still < GROUND_MIN_STILL:
        unreliable = fallback(f"the feet are still in only {100 * still:.0f}% of the frames (a moving camera, or "
                              f"no steps on the ground): the camera's axes are kept (up = image up), not levelled")
        unreliable.rms, unreliable.inlier_fraction = rms, fraction
        return unreliable
    if fraction < GROUND_MIN_INLIERS or rms > GROUND_MAX_RMS_FRACTION * height_mm:
        unreliable = fallback(f"poor ground plane fit ({100 * fraction:.0f}% of the foot contacts within "
                              f"{threshold:.0f} mm, rms {rms:.0f} mm): a moving camera? The camera's axes are "
                              f"kept (up = image up), not levelled")
        unreliable.rms, unreliable.inlier_fraction = rms, fraction
        return unreliable
    return fit


def world_frame(ground, first_root, up="y"):
    """``(rotation (3, 3), origin (3,))``: world = rotation · (camera − origin). Y (or Z with ``up="z"``) along
    ``ground.up``, X the camera's right along the floor, the origin on the floor below ``first_root``."""
    y = ground.up
    toward_camera = np.array([0.0, 0.0, -1.0])
    z = toward_camera - (toward_camera @ y) * y
    if np.linalg.norm(z) < 1e-6:  # looking straight down: the image's down is "towards the camera"
        z = np.array([0.0, 1.0, 0.0]) - y[1] * y
    z = _normalize(z)
    rotation = np.stack([np.cross(y, z), y, z])
    if up == "z":
        rotation = Z_UP @ rotation
    origin = first_root - (first_root @ ground.up - ground.offset) * ground.up
    return rotation, origin


# Y-up world → Z-up world: (X, Y, Z) → (X, −Z, Y)
Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def foot_contacts(ankles, fps, height_mm, up_axis=1):
    """``(F, 2)`` bool: is each ankle of world-frame ``ankles (F, 2, 3)`` (floor at 0) in contact?

    In contact: at most :data:`CONTACT_HEIGHT_FRACTION` of the height above the ankle's standing height
    and slower than :data:`CONTACT_SPEED_FRACTION` heights per second (over ±0.1 s); a median filter over 0.1 s
    removes single-frame flicker.
    """
    height = ankles[..., up_axis]
    limit = (ANKLE_HEIGHT_FRACTION + CONTACT_HEIGHT_FRACTION) * height_mm
    contact = (height < limit) & (_speed(ankles, fps) < CONTACT_SPEED_FRACTION * height_mm)
    size = max(3, int(round(0.1 * fps)) // 2 * 2 + 1)
    if len(contact) >= size:
        contact = median_filter(contact.astype(np.uint8), size=(size, 1), mode="nearest").astype(bool)
    return contact


def foot_skating(ankles, contacts, up_axis=1):
    """Mean horizontal displacement per frame (mm) of world-frame ``ankles (F, 2, 3)`` over consecutive
    frames both flagged in ``contacts (F, 2)``; nan without such frames."""
    horizontal = [a for a in range(3) if a != up_axis]
    step = np.linalg.norm(np.diff(ankles[..., horizontal], axis=0), axis=-1)
    held = contacts[1:] & contacts[:-1]
    return float(step[held].mean()) if held.any() else float("nan")
