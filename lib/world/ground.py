"""The ground: up (:mod:`lib.world.gravity`) and the floor's height, the upright world frame, foot contacts (steps 4
and 5 of :mod:`lib.world`)."""
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from lib.world.gravity import angles_of_up, camera_prior, combine_cues, contact_plane_cue, trunk_cue
from lib.world.skeleton import ANKLE_HEIGHT_FRACTION, FEET, _normalize

# Foot contact: the ankle at most this much (fraction of the body height) above its standing height,
# moving slower than this (body heights per second).
CONTACT_HEIGHT_FRACTION = 0.05
CONTACT_SPEED_FRACTION = 0.3
SPEED_WINDOW_S = 0.1  # speeds are measured over +-this
# the world counts as levelled (GroundFit.reliable) when up is known this well from the people themselves
RELIABLE_SIGMA_DEG = 5.0


@dataclass
class GroundFit:
    """The floor in camera coordinates: ``up · p = offset`` (``up`` a unit vector), and how up was found."""
    up: np.ndarray
    offset: float
    rms: float                 # mm, distance of the still foot points to the fitted plane (nan: no plane)
    inlier_fraction: float
    n_points: int              # still foot points
    reliable: bool             # up known within RELIABLE_SIGMA_DEG from the people (not the prior alone)
    reason: str = ""           # what limited the estimate
    sigma_deg: float = float("nan")  # the estimated uncertainty of up (tilt, degrees)
    cues: list = field(default_factory=list)  # the cues used and left out (lib.world.gravity.UpCue.describe())
    summary: str = ""

    @property
    def tilt_deg(self):
        """Angle between the estimated up and the camera's up (−y): the camera's tilt over the floor."""
        return math.degrees(math.acos(np.clip(-self.up[1], -1.0, 1.0)))

    def describe(self):
        pitch, roll = angles_of_up(self.up)
        return {"up_in_camera": [round(float(v), 6) for v in self.up], "tilt_deg": round(self.tilt_deg, 3),
                "camera_pitch_deg": round(pitch, 3), "camera_roll_deg": round(roll, 3),
                "up_sigma_deg": round(self.sigma_deg, 3), "cues": self.cues,
                "rms_mm": None if math.isnan(self.rms) else round(self.rms, 3),
                "inlier_fraction": round(self.inlier_fraction, 4),
                "n_points": self.n_points, "reliable": self.reliable, "note": self.reason}


def _speed(points, fps, window_s=SPEED_WINDOW_S):
    """``(F, ..., 3)`` → ``(F, ...)`` speed (units per second) by central differences over ±``window_s`` (at least
    one frame): long enough that the jitter of lifted joints does not look like motion."""
    half = max(1, int(round(window_s * fps)))
    if len(points) < 2:
        return np.zeros(points.shape[:-1])
    padded = np.concatenate([points[:1].repeat(half, 0), points, points[-1:].repeat(half, 0)])
    return np.linalg.norm(padded[2 * half:] - padded[:-2 * half], axis=-1) * fps / (2 * half)


def initial_up(people, fps, pitch=None, names=None):
    """Up from the trunks and the camera prior only (before the feet are placed): an :class:`UpEstimate`.
    ``people``: camera-space joints ``(F, 17, 3)`` per person; ``names``: how the cues call them (default 0, 1, ...)."""
    prior = camera_prior(pitch)
    guess = prior.up
    names = range(len(people)) if names is None else names
    trunks = [cue for cue in (trunk_cue(joints, guess, fps, f"trunk of person {name}" if len(people) > 1 else "trunk")
                              for name, joints in zip(names, people)) if cue is not None]
    return combine_cues(trunks + [prior])


def sole_points(joints, feet, from_keypoints, up, height_mm):
    """Per person, points on the soles ``(F, P, 3)``: the heels and toes placed from keypoints where a foot was
    (``from_keypoints (F, 2)``), else the ankle lowered by its height above the sole."""
    points = []
    for side, ankle in enumerate(FEET):
        lowered = joints[:, ankle] - ANKLE_HEIGHT_FRACTION * height_mm * up
        use = from_keypoints[:, side, None]
        points += [np.where(use, feet[:, 2 * side], lowered), np.where(use, feet[:, 2 * side + 1], lowered)]
    return np.stack(points, axis=1)


def _still_runs(still):
    """The number of runs of consecutive True frames, per column of ``still (F, P)``, summed."""
    starts = still[1:] & ~still[:-1]
    return int(still[0].sum() + starts.sum())


def fit_ground(people, soles, fps, height_mm, pitch=None, seed=0, names=None):
    """The floor (:class:`GroundFit`) of one camera from its people: ``people`` their camera-space joints
    ``(F, 17, 3)``, ``soles`` their :func:`sole_points`. Up from the cues of :mod:`lib.world.gravity` (the plane
    through the still sole points, the trunks, the camera prior or ``pitch``), the floor's height from the still
    sole points (the lowest sole points when nobody stands still); ``names`` as :func:`initial_up`."""
    first = initial_up(people, fps, pitch, names)
    speeds = [_speed(s, fps) for s in soles]
    still = [v < CONTACT_SPEED_FRACTION * height_mm for v in speeds]
    contacts = np.concatenate([s[m] for s, m in zip(soles, still)]) if any(m.any() for m in still) else \
        np.zeros((0, 3))
    plane, why, rms = contact_plane_cue(contacts, first.up, height_mm, sum(_still_runs(m) for m in still), seed)
    prior = first.used[-1] if first.used and first.used[-1].name in ("camera prior", "--pitch") else camera_prior(pitch)
    trunks = [c for c in first.used + [c for c, _ in first.left_out] if c.name.startswith("trunk")]
    estimate = combine_cues(([plane] if plane is not None else []) + trunks + [prior])
    up = estimate.up
    every = np.concatenate([s.reshape(-1, 3) for s in soles])
    heights = contacts @ up if len(contacts) >= 3 else every @ up
    offset = float(np.median(heights)) if len(contacts) >= 3 else float(np.percentile(heights, 5))
    threshold = 0.02 * height_mm
    inliers = np.abs(contacts @ up - offset) < threshold if len(contacts) else np.zeros(0, bool)
    from_people = any(c.name not in ("camera prior", "--pitch") for c in estimate.used)
    reliable = from_people and estimate.sigma_deg <= RELIABLE_SIGMA_DEG
    reasons = [why] if why else []
    if not reliable:
        reasons.append(f"up is uncertain (±{estimate.sigma_deg:.1f}°): "
                       + ("the people give no cue to it" if not from_people else "the cues are weak")
                       + "; give the camera's pitch with --pitch if it is known")
    cues = [dict(c.describe(), used=True) for c in estimate.used] + \
        [dict(c.describe(), used=False, why=w) for c, w in estimate.left_out]
    if plane is None:
        cues.append({"cue": "contact plane", "used": False, "why": why})
    return GroundFit(up, offset, rms, float(inliers.mean()) if len(inliers) else 0.0, int(len(contacts)), reliable,
                     "; ".join(reasons), estimate.sigma_deg, cues, estimate.summary())


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
