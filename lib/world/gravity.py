"""Which way is up: the world's vertical in the camera's axes, from several cues combined with their uncertainty.

Real cameras look down 10-30 degrees, so the camera's own axes are not level, and the feet alone often leave the
floor's plane poorly determined (one foot planted at a time on a treadmill, a straight walk). Each cue gives an
estimate of up as the camera's pitch and roll (:func:`angles_of_up`) with a covariance:

* **contact plane** (:func:`contact_plane_cue`): the plane through the heels and toes (or ankles, for input
  without feet) while they are still, a RANSAC fit refined by ``scipy.optimize.least_squares`` with a robust loss;
  accepted only when the contacts spread over both horizontal directions (:data:`MIN_SPREAD_FRACTION`), and its
  uncertainty grows as the spread along a direction shrinks;
* **trunk** (:func:`trunk_cue`): the mean direction of the pelvis-to-thorax line of a person standing or walking
  (upright within :data:`UPRIGHT_DEG` of the current estimate), uncertain by :data:`TRUNK_SIGMA_DEG` (people lean);
* **camera prior** (:func:`camera_prior`): cameras are held level in roll (0 ± 5°) and pitched down by 10 ± 12°;
  ``--pitch DEGREES`` replaces the pitch prior by the known value (± 0.5°).

:func:`combine_cues` takes their information-weighted mean (a cue more than 3 standard deviations away from the
others is left out, with a note). The combined standard deviation, in degrees of tilt of the up vector, is
reported with the cues used; up is never taken from the camera's axes silently.
"""
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from lib.world.skeleton import JOINT, ROOT, _normalize

# the camera prior (degrees): pitch down, and roll; --pitch: its standard deviation
PITCH_PRIOR_DEG = (10.0, 12.0)
ROLL_PRIOR_DEG = (0.0, 5.0)
GIVEN_PITCH_SIGMA_DEG = 0.5
# trunk: frames within this angle of the current up count as upright; the cue's own uncertainty (lean, model error)
UPRIGHT_DEG = 35.0
TRUNK_SIGMA_DEG = 6.0
# contact plane: inlier distance (fraction of the stature), the smallest spread of the contacts along either
# horizontal direction (standard deviation, fraction of the stature), and a systematic height error of lifted feet
# (fraction of the stature) that no number of frames averages out
PLANE_INLIER_FRACTION = 0.02
MIN_SPREAD_FRACTION = 0.03
PLANE_BIAS_FRACTION = 0.003
MAX_PLANE_SIGMA_DEG = 15.0
OUTLIER_SIGMAS = 3.0


def up_of_angles(pitch_deg, roll_deg):
    """The world's up in camera axes (x right, y down, z forward) for a camera pitched down by ``pitch_deg`` and
    rolled by ``roll_deg`` (positive: the picture turns clockwise, up leans towards the image's right)."""
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    return np.array([math.cos(p) * math.sin(r), -math.cos(p) * math.cos(r), -math.sin(p)])


def angles_of_up(up):
    """``(pitch, roll)`` in degrees of a unit up vector (the inverse of :func:`up_of_angles`)."""
    up = _normalize(np.asarray(up, dtype=np.float64))
    return math.degrees(math.asin(np.clip(-up[2], -1, 1))), math.degrees(math.atan2(up[0], -up[1]))


def _angles_covariance(up, tilt_sigmas_deg, axes):
    """The covariance in (pitch, roll) degrees of an up vector whose tilt towards each unit vector of ``axes``
    (perpendicular to ``up``) has the standard deviation ``tilt_sigmas_deg`` (numerical Jacobian)."""
    base = np.array(angles_of_up(up))
    jacobian = np.zeros((2, len(axes)))
    step = 1e-4
    for k, axis in enumerate(axes):
        tilted = _normalize(up + step * axis)
        jacobian[:, k] = (np.array(angles_of_up(tilted)) - base) / math.degrees(step)
    return jacobian @ np.diag(np.square(tilt_sigmas_deg)) @ jacobian.T


def _isotropic_covariance(up, sigma_deg):
    a = _normalize(np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0]))
    return _angles_covariance(up, [sigma_deg, sigma_deg], [a, np.cross(up, a)])


@dataclass
class UpCue:
    """One estimate of up: ``angles`` (pitch, roll) degrees with their 2 x 2 ``covariance``."""
    name: str
    angles: np.ndarray
    covariance: np.ndarray
    detail: str = ""

    @property
    def up(self):
        return up_of_angles(*self.angles)

    @property
    def sigma_deg(self):
        return float(math.sqrt(np.trace(self.covariance)))

    def describe(self):
        return {"cue": self.name, "pitch_deg": round(float(self.angles[0]), 3),
                "roll_deg": round(float(self.angles[1]), 3),
                "sigma_deg": round(self.sigma_deg, 3), "detail": self.detail}


def camera_prior(pitch=None):
    """The camera prior (:data:`PITCH_PRIOR_DEG`, :data:`ROLL_PRIOR_DEG`), or a known ``pitch`` (``--pitch``)."""
    if pitch is None:
        mean, sigma = PITCH_PRIOR_DEG
        return UpCue("camera prior", np.array([mean, ROLL_PRIOR_DEG[0]]),
                     np.diag([sigma ** 2, ROLL_PRIOR_DEG[1] ** 2]),
                     f"cameras pitched down {mean:g} ± {sigma:g}°, "
                     f"rolled {ROLL_PRIOR_DEG[0]:g} ± {ROLL_PRIOR_DEG[1]:g}°")
    return UpCue("--pitch", np.array([float(pitch), ROLL_PRIOR_DEG[0]]),
                 np.diag([GIVEN_PITCH_SIGMA_DEG ** 2, ROLL_PRIOR_DEG[1] ** 2]),
                 f"pitch given: {pitch:g}° down; roll {ROLL_PRIOR_DEG[0]:g} ± {ROLL_PRIOR_DEG[1]:g}°")


def trunk_cue(joints, up_guess, fps, name="trunk"):
    """Up from the pelvis-to-thorax direction of camera-space ``joints (F, 17, 3)`` in the frames where it is within
    :data:`UPRIGHT_DEG` of ``up_guess``; None when no frame is."""
    trunk = _normalize(joints[:, JOINT["thorax"]] - joints[:, ROOT])
    upright = trunk @ up_guess > math.cos(math.radians(UPRIGHT_DEG))
    if upright.sum() < 3:
        return None
    mean = _normalize(trunk[upright].mean(axis=0))
    spread = math.degrees(math.acos(np.clip(np.mean(trunk[upright] @ mean), -1, 1)))
    n_effective = max(1.0, upright.sum() / max(1.0, 0.5 * fps))  # half a second of lean is one sample
    sigma = math.hypot(TRUNK_SIGMA_DEG, spread / math.sqrt(n_effective))
    return UpCue(name, np.array(angles_of_up(mean)), _isotropic_covariance(mean, sigma),
                 f"{upright.sum()} upright frames")


def _plane_fit(points, threshold, rng):
    """RANSAC plane ``(normal, offset)`` through ``points (n, 3)`` and its inlier mask, or None."""
    best = None
    for _ in range(200):
        sample = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(sample[1] - sample[0], sample[2] - sample[0])
        if np.linalg.norm(normal) < 1e-9:
            continue
        inliers = np.abs((points - sample[0]) @ _normalize(normal)) < threshold
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < 3:
        return None
    inner = points[best]
    centre = inner.mean(axis=0)
    normal = np.linalg.eigh((inner - centre).T @ (inner - centre))[1][:, 0]
    return normal, float(normal @ centre), best


def contact_plane_cue(contacts, up_guess, height_mm, segments, seed=0):
    """Up from the plane through the still foot points ``contacts (n, 3)`` (camera axes, mm): RANSAC, then a robust
    least-squares refinement (soft-L1 loss) of pitch, roll and offset. ``segments``: the number of separate
    contacts (footsteps) they come from, the independent samples. Returns ``(cue or None, reason, inlier rms)``."""
    contacts = np.asarray(contacts, dtype=np.float64)
    if len(contacts) < 6:
        return None, "too few still foot points to fit the floor", float("nan")
    threshold = PLANE_INLIER_FRACTION * height_mm
    fit = _plane_fit(contacts, threshold, np.random.default_rng(seed))
    if fit is None:
        return None, "the still foot points fit no plane", float("nan")
    normal, offset, inliers = fit
    if normal @ up_guess < 0:
        normal, offset = -normal, -offset
    start = np.array([*angles_of_up(normal), offset])

    def residuals(params):
        return contacts[inliers] @ up_of_angles(params[0], params[1]) - params[2]

    result = least_squares(residuals, start, loss="soft_l1", f_scale=threshold)
    up, offset = up_of_angles(*result.x[:2]), float(result.x[2])
    distance = contacts[inliers] @ up - offset
    rms = float(np.sqrt(np.mean(distance ** 2)))
    # the spread of the contacts over the floor: a plane is only fixed by points apart in both directions
    flat = contacts[inliers] - np.outer(contacts[inliers] @ up, up)
    values, vectors = np.linalg.eigh(np.cov(flat.T))
    order = np.argsort(values)[::-1][:2]
    spreads = np.sqrt(np.maximum(values[order], 0.0))
    axes = [vectors[:, k] for k in order]
    if spreads[1] < MIN_SPREAD_FRACTION * height_mm:
        return None, (f"the still foot points lie along a line (spread {spreads[1]:.0f} mm across it, under "
                      f"{MIN_SPREAD_FRACTION * height_mm:.0f} mm): the floor's tilt about it is unknown"), rms
    # tilt towards a direction is fixed by the spread along it: noise over the footsteps, plus a systematic part
    n_effective = max(1, segments)
    sigmas = [math.degrees(math.hypot(rms / (s * math.sqrt(n_effective)), PLANE_BIAS_FRACTION * height_mm / s))
              for s in spreads]
    if max(sigmas) > MAX_PLANE_SIGMA_DEG:
        return None, f"the floor plane is too poorly determined (±{max(sigmas):.0f}°)", rms
    cue = UpCue("contact plane", np.array(angles_of_up(up)), _angles_covariance(up, sigmas, axes),
                f"{int(inliers.sum())} still foot points of {n_effective} contacts, spread {spreads[0]:.0f} x "
                f"{spreads[1]:.0f} mm, rms {rms:.1f} mm")
    return cue, "", rms


@dataclass
class UpEstimate:
    """The combined estimate: up (camera axes), its (pitch, roll) and covariance, the cues used and left out."""
    up: np.ndarray
    angles: np.ndarray
    covariance: np.ndarray
    used: list
    left_out: list = field(default_factory=list)  # (cue, why)

    @property
    def sigma_deg(self):
        return float(math.sqrt(np.trace(self.covariance)))

    def summary(self):
        cues = ", ".join(f"{c.name} (±{c.sigma_deg:.1f}°)" for c in self.used)
        text = (f"up from {cues}: camera pitched {self.angles[0]:.1f}° down, rolled {self.angles[1]:.1f}°, "
                f"uncertain by ±{self.sigma_deg:.1f}°")
        for cue, why in self.left_out:
            text += f"; {cue.name} left out ({why})"
        return text


def combine_cues(cues):
    """The information-weighted mean of ``cues`` (:class:`UpCue`) in (pitch, roll), leaving out, one at a time, a cue
    more than :data:`OUTLIER_SIGMAS` standard deviations from the mean of the others (never the prior)."""
    used, left_out = list(cues), []
    while True:
        information = sum(np.linalg.inv(c.covariance) for c in used)
        covariance = np.linalg.inv(information)
        angles = covariance @ sum(np.linalg.inv(c.covariance) @ c.angles for c in used)
        worst, worst_distance = None, OUTLIER_SIGMAS
        for cue in used[:-1] if len(used) > 2 else []:  # the prior is last and always kept
            others = [c for c in used if c is not cue]
            other_cov = np.linalg.inv(sum(np.linalg.inv(c.covariance) for c in others))
            other_angles = other_cov @ sum(np.linalg.inv(c.covariance) @ c.angles for c in others)
            gap = cue.angles - other_angles
            distance = math.sqrt(gap @ np.linalg.inv(cue.covariance + other_cov) @ gap)
            if distance > worst_distance:
                worst, worst_distance = cue, distance
        if worst is None:
            return UpEstimate(up_of_angles(*angles), angles, covariance, used, left_out)
        used.remove(worst)
        left_out.append((worst, f"{worst_distance:.1f} standard deviations from the other cues"))
