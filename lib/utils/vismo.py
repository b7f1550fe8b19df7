"""Rendering skeleton and mesh motion to videos (spec 06 §4).

The public functions are the original's. The 3D skeleton (``X3D.mp4``) and the mesh views
look like the original's matplotlib figures (same viewpoint, axis limits, bone colours) but
are drawn directly with OpenCV: the joints are projected with the camera matplotlib's 3D axes
use (elevation 12°, azimuth 80°, perspective from distance 10 on the unit cube of the axis
limits), so a frame takes about a millisecond instead of a matplotlib figure (the original's
slowest step). Videos are written with imageio (ffmpeg, H.264).
"""
import copy
import io
import os
import pathlib

import cv2
import imageio
import numpy as np
from tqdm import tqdm

from lib.skeleton import BONE_SIDES, BONES_RENDER_ORDER, JOINT_SIDES, LEFT, MIDDLE, RIGHT

# Colours of the 3D renderer's bones by side (spec 06 §4.2).
BONE_COLORS_3D = {LEFT: "#02315E", RIGHT: "#2F70AF", MIDDLE: "#00457E"}
# 2D renderer (spec 06 §4.4): per-joint and per-limb colour index into the (L, M, R) colours of ``color``
_PALETTE_INDEX = {LEFT: 0, MIDDLE: 1, RIGHT: 2}
JOINT_COLORS_2D = [_PALETTE_INDEX[side] for side in JOINT_SIDES]
LIMB_COLORS_2D = [_PALETTE_INDEX[BONE_SIDES[bone]] for bone in BONES_RENDER_ORDER]

# H.264 of the rendered skeletons: x264's 'veryfast' preset encodes these flat drawings about 1.5x faster than its
# default ('medium') for files about 10 % larger; encoding, not drawing, is most of a render's time
FAST_ENCODING = ["-preset", "veryfast"]
RENDER_SIZE_3D = 960    # X3D.mp4 frames are RENDER_SIZE_3D² pixels
RENDER_SIZE_MESH = 800  # mesh.mp4 frames
MESH_COLOR = (166, 188, 218)  # RGB, drawn with alpha 0.9 (spec 06 §4.3)


def rgb2rgba(color):
    return (color[0], color[1], color[2], 255)


def hex2rgb(hex, number_of_colors=3):
    """``'#F96706#FB8D43#FDB381'`` → ``[(249, 103, 6), (251, 141, 67), (253, 179, 129)]``."""
    groups = hex.replace("#", "")
    colors = []
    for i in range(number_of_colors):
        h = groups[6 * i:6 * i + 6]
        colors.append(tuple(int(h[k:k + 2], 16) for k in (0, 2, 4)))
    return colors


def pixel2world_vis(pose):
    return (pose + 1) * 512 / 2


def pixel2world_vis_motion(motion, dim=2, is_tensor=False):
    """``motion (J, C, T)``: x, y → ``(v + 1)·256``; with ``dim=3`` z → ``z·256``; other channels kept."""
    result = motion.clone() if is_tensor else np.array(motion, dtype=np.float64 if motion.dtype.kind != "f"
                                                       else motion.dtype, copy=True)
    result[:, :2] = (result[:, :2] + 1) * 256
    if dim == 3:
        result[:, 2] = result[:, 2] * 256
    return result


def save_image(image_numpy, image_path):
    from PIL import Image
    Image.fromarray(image_numpy).save(image_path)


def bounding_box(img):
    """(min row, max row, min col, max col) of the non-zero pixels."""
    rows, cols = np.nonzero(img)[:2]
    return rows.min(), rows.max(), cols.min(), cols.max()


def get_img_from_fig(fig, dpi=120):
    """A matplotlib figure as an RGBA uint8 image (tight bounding box, no padding)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0)
    img = cv2.imdecode(np.frombuffer(buf.getvalue(), dtype=np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)


def _frames_dir(save_path):
    return os.path.splitext(save_path)[0] + "-frames"


class _VideoOut:
    """imageio video writer that can also keep every frame as a PNG."""

    def __init__(self, save_path, fps, keep_imgs=False, **writer_options):
        folder = os.path.dirname(os.path.abspath(save_path))
        os.makedirs(folder, exist_ok=True)
        self.writer = imageio.get_writer(save_path, fps=fps, macro_block_size=2, **writer_options)
        self.frames_dir = _frames_dir(save_path) if keep_imgs else None
        if self.frames_dir:
            os.makedirs(self.frames_dir, exist_ok=True)
        self.count = 0

    def append(self, frame):
        self.writer.append_data(frame)
        if self.frames_dir:
            save_image(frame, os.path.join(self.frames_dir, "%04d.png" % self.count))
        self.count += 1

    def close(self):
        self.writer.close()


def write_video(frames, save_path, fps=25, keep_imgs=False, **writer_options):
    """Write the RGB ``frames`` (any iterable) to the video ``save_path``; ``writer_options`` (codec,
    quality, ffmpeg_params, ...) go to ``imageio.get_writer``."""
    out = _VideoOut(save_path, fps, keep_imgs, **writer_options)
    try:
        for frame in frames:
            out.append(frame)
    finally:
        out.close()


def _is_frames_first(shape):
    """Whether a clip of ``shape`` is laid out ``(T, J, D)`` rather than ``(J, D, T)`` (D = 2 or 3).

    The original looked at the last axis only, which takes a ``(J, D, T)`` clip of 2 or 3 frames
    for the other layout; a joint axis (17 joints, 6890 vertices) is never 2 or 3 long, so the
    middle axis tells them apart.
    """
    return shape[-1] in (2, 3) and shape[1] not in (2, 3)


def render_and_save(motion_input, save_path, keep_imgs=False, fps=25, color="#F96706#FB8D43#FDB381",
                    with_conf=False, draw_face=False, progress=None):
    """Render ``(T, J, D)`` (or ``(J, D, T)``) motion to a video: 2D skeleton, 3D skeleton or mesh. ``progress``
    (3D skeletons): a function called once per frame drawn, instead of this function's own bar."""
    os.makedirs(os.path.dirname(os.path.abspath(save_path)), exist_ok=True)
    motion = copy.deepcopy(motion_input)
    if _is_frames_first(motion.shape):
        motion = np.transpose(motion, (1, 2, 0))  # (T, J, D) -> (J, D, T)
    n_joints, dims = motion.shape[:2]
    if dims == 2 or with_conf:
        colors = hex2rgb(color)
        if not with_conf:
            motion = np.concatenate([motion, np.ones((n_joints, 1, motion.shape[-1]))], axis=1)
        motion2video(pixel2world_vis_motion(motion, dim=2), save_path=save_path, colors=colors, fps=fps,
                     save_frame=keep_imgs)
    elif n_joints == 6890:
        motion2video_mesh(motion, save_path=save_path, keep_imgs=keep_imgs, fps=fps, draw_face=draw_face)
    else:
        motion2video_3d(pixel2world_vis_motion(motion, dim=3), save_path=save_path, keep_imgs=keep_imgs, fps=fps,
                        progress=progress)


def vis_data_batch(data_input, data_label, n_render=10, save_path='doodle/vis_train_data/'):
    """Render the first ``n_render`` 2D inputs ``(N, T, 17, 3)`` and 3D labels ``(N, T, 17, 3)`` of a batch."""
    pathlib.Path(save_path).mkdir(parents=True, exist_ok=True)
    for i in range(min(n_render, len(data_input))):
        render_and_save(data_input[i][:, :, :2], os.path.join(save_path, "input_%d.mp4" % i))
        render_and_save(data_label[i], os.path.join(save_path, "gt_%d.mp4" % i))


# ---------------------------------------------------------------- 2D skeleton (spec 06 §4.4)

def joints2image(joints_position, colors, transparency=False, H=1000, W=1000, nr_joints=None, imtype=np.uint8,
                 grayscale=False, bg_color=(255, 255, 255)):
    """One 2D skeleton ``(J, 3)`` (x, y, confidence) on an ``H x W`` canvas (RGB, or RGBA if transparent).

    ``nr_joints`` defaults to J (the original's default, 49, named a layout that is not supported).
    """
    if nr_joints is None:
        nr_joints = len(joints_position)
    if nr_joints != 17:
        raise ValueError(f"only the 17-joint H36M layout is supported (nr_joints={nr_joints}); the original's 49- "
                         f"and 15-joint layouts were never used")
    channels = 4 if transparency else 3
    canvas = np.empty((H, W, channels), dtype=np.uint8)
    canvas[...] = tuple(bg_color[:3]) + ((0,) if transparency else ())
    palette = [rgb2rgba(c) if transparency else tuple(c) for c in colors]
    hips = joints_position[0]
    for i in range(nr_joints):
        if joints_position[i][2] == 0:
            continue
        center = (int(round(joints_position[i][0])), int(round(joints_position[i][1])))
        cv2.circle(canvas, center, 7, palette[JOINT_COLORS_2D[i]], thickness=-1)
    for (a, b), color_idx in zip(BONES_RENDER_ORDER, LIMB_COLORS_2D):
        if joints_position[a][2] == 0 or joints_position[b][2] == 0:
            continue
        xs = (joints_position[a][0], joints_position[b][0])
        ys = (joints_position[a][1], joints_position[b][1])
        length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
        angle = np.degrees(np.arctan2(ys[0] - ys[1], xs[0] - xs[1]))
        polygon = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 2), int(angle), 0, 360, 1)
        limb = canvas.copy()
        cv2.fillConvexPoly(limb, polygon, palette[color_idx])
        canvas = cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)
    if grayscale:
        gray = cv2.cvtColor(canvas[..., :3], cv2.COLOR_RGB2GRAY)
        canvas[..., :3] = gray[..., None]
    return canvas.astype(imtype), hips


def motion2video(motion, save_path, colors, h=512, w=512, bg_color=(255, 255, 255), transparency=False,
                 motion_tgt=None, fps=25, save_frame=False, grayscale=False, show_progress=True, as_array=False):
    """2D skeleton motion ``(J, 3, T)`` (canvas pixels + confidence) to a video.

    ``motion_tgt`` is drawn under it (blended 0.3/0.7); ``save_frame`` keeps PNGs in
    ``<save_path without .mp4>-frames/``; ``as_array`` returns the frames ``(T, h, w, C)``
    instead of writing a video.
    """
    n_joints, n_frames = motion.shape[0], motion.shape[-1]
    out = None if as_array else _VideoOut(save_path, fps, keep_imgs=save_frame)
    frames = []
    for i in tqdm(range(n_frames), desc="render 2D", disable=not show_progress):
        img, _ = joints2image(motion[:, :, i], colors, transparency=transparency, bg_color=bg_color, H=h, W=w,
                              nr_joints=n_joints, grayscale=grayscale)
        if motion_tgt is not None:
            img_tgt, _ = joints2image(motion_tgt[:, :, i], colors, transparency=transparency, bg_color=bg_color,
                                      H=h, W=w, nr_joints=n_joints, grayscale=grayscale)
            img = cv2.addWeighted(img_tgt, 0.3, img, 0.7, 0)
        if as_array:
            frames.append(img)
        else:
            out.append(img)
    if as_array:
        return np.stack(frames)
    out.close()


# ---------------------------------------------------------------- 3D skeleton (spec 06 §4.2)

class _MatplotlibView:
    """The camera of a matplotlib 3D axes: data → unit cube → perspective view, fitted to an image.

    Points are in plot coordinates (X, Y, Z with Z up); the image keeps the cube's aspect.
    """

    def __init__(self, limits, elev, azim, size, dist=10.0, margin=0.03):
        self.lo = np.array([lim[0] for lim in limits], dtype=np.float64)
        self.span = np.array([lim[1] - lim[0] for lim in limits], dtype=np.float64)
        e, a = np.radians(elev), np.radians(azim)
        center = np.full(3, 0.5)
        self.eye = center + dist * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        n = (self.eye - center) / np.linalg.norm(self.eye - center)
        u = np.cross([0.0, 0.0, 1.0], n)
        u /= np.linalg.norm(u)
        self.axes = np.stack([u, np.cross(n, u), n])  # image right, image up, towards the viewer
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
        flat, _ = self._project_unit(corners)
        lo, hi = flat.min(0), flat.max(0)
        self.scale = size * (1 - 2 * margin) / max(hi - lo)
        self.offset = size / 2 - self.scale * (lo + hi) / 2 * np.array([1, -1])
        self.size = size

    def _project_unit(self, q):
        cam = (q - self.eye) @ self.axes.T
        depth = -cam[:, 2]  # distance in front of the eye
        return cam[:, :2] / depth[:, None], depth

    def project(self, points):
        """``(N, 3)`` plot coordinates → ``(N, 2)`` pixel coordinates (float) and depth."""
        flat, depth = self._project_unit((np.asarray(points, dtype=np.float64) - self.lo) / self.span)
        return flat * np.array([1, -1]) * self.scale + self.offset, depth

    def back_panes(self):
        """The three cube faces behind the data (as matplotlib draws its panes), unit coordinates."""
        panes = []
        for axis in range(3):
            side = 0.0 if self.eye[axis] > 0.5 else 1.0
            others = [k for k in range(3) if k != axis]
            quad = []
            for a, b in ((0, 0), (1, 0), (1, 1), (0, 1)):
                q = np.zeros(3)
                q[axis], q[others[0]], q[others[1]] = side, a, b
                quad.append(q)
            panes.append((axis, side, np.array(quad)))
        return panes


def _nice_ticks(lo, hi):
    """Grid positions as matplotlib's default locator would put them (steps of 1, 2, 2.5, 5 x 10^k)."""
    raw = (hi - lo) / 6
    mag = 10 ** np.floor(np.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


def _hex_rgb(color):
    return hex2rgb(color, 1)[0]


class Skeleton3DRenderer:
    """Draws ``(17, 3)`` poses (``pixel2world_vis_motion`` units) as the original's X3D.mp4 frames."""

    # plot-X = -x', plot-Y = -z', plot-Z = -y' with these limits (spec 06 §4.2)
    LIMITS = ((-512, 0), (-256, 256), (-512, 0))
    PANE_COLORS = ((242, 242, 242), (236, 236, 236), (239, 239, 239))  # light grey panes on white
    GRID_COLOR = (222, 222, 222)
    EDGE_COLOR = (180, 180, 180)

    def __init__(self, size=RENDER_SIZE_3D, elev=12, azim=80):
        self.view = _MatplotlibView(self.LIMITS, elev, azim, size)
        self.size = size
        self.line_width = max(1, round(size / 200))
        self.marker_radius = max(2, round(size / 220))
        self.colors = {bone: _hex_rgb(BONE_COLORS_3D[BONE_SIDES[bone]]) for bone in BONES_RENDER_ORDER}
        self.background = self._draw_background()

    def _to_px(self, unit_points):
        points = self.view.lo + np.asarray(unit_points) * self.view.span
        return self.view.project(points)[0]

    def _draw_background(self):
        img = np.full((self.size, self.size, 3), 255, dtype=np.uint8)
        ticks = [_nice_ticks(*lim) for lim in self.LIMITS]
        for axis, side, quad in self.view.back_panes():
            corners = self._to_px(quad)
            cv2.fillConvexPoly(img, np.round(corners * 16).astype(np.int32), self.PANE_COLORS[axis],
                               cv2.LINE_AA, shift=4)
            for other in (k for k in range(3) if k != axis):
                for tick in ticks[other]:
                    pos = (tick - self.view.lo[other]) / self.view.span[other]
                    ends = np.zeros((2, 3))
                    ends[:, axis] = side
                    ends[:, other] = pos
                    ends[:, 3 - axis - other] = (0, 1)
                    a, b = np.round(self._to_px(ends) * 16).astype(np.int32)
                    cv2.line(img, tuple(a), tuple(b), self.GRID_COLOR, 1, cv2.LINE_AA, shift=4)
            cv2.polylines(img, [np.round(corners * 16).astype(np.int32)], True, self.EDGE_COLOR, 1, cv2.LINE_AA,
                          shift=4)
        return img

    def render(self, pose):
        """``pose (17, 3)`` = (x', y', z') → RGB frame."""
        plot = np.stack([-pose[:, 0], -pose[:, 2], -pose[:, 1]], axis=-1)
        px, depth = self.view.project(plot)
        pts = np.round(px * 16).astype(np.int64)
        img = self.background.copy()
        # painter's algorithm: far bones first, as matplotlib sorts 3D lines by depth
        for a, b in sorted(BONES_RENDER_ORDER, key=lambda bone: -(depth[bone[0]] + depth[bone[1]])):
            color = self.colors[(a, b)]
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, self.line_width, cv2.LINE_AA, shift=4)
            for j in (a, b):
                cv2.circle(img, tuple(pts[j]), self.marker_radius * 16, color, -1, cv2.LINE_AA, shift=4)
                cv2.circle(img, tuple(pts[j]), self.marker_radius * 8, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
        return img


def motion2video_3d(motion, save_path, fps=25, keep_imgs=False, progress=None):
    """3D skeleton motion ``(17, 3, T)`` (``pixel2world_vis_motion(·, dim=3)`` units) to a video."""
    renderer = Skeleton3DRenderer()
    out = _VideoOut(save_path, fps, keep_imgs, ffmpeg_params=FAST_ENCODING)
    try:
        for i in tqdm(range(motion.shape[-1]), desc="render 3D", disable=bool(progress)):
            out.append(renderer.render(motion[:, :, i]))
            if progress:
                progress()
    finally:
        out.close()


# ---------------------------------------------------------------- mesh (spec 06 §4.3)

def _orthographic_camera_view(motion, size, margin=0.05):
    """Pixel mapping of the camera view (x right, y down) for the global cube of ``motion (V, 3, T)``."""
    lo, hi = motion.min(axis=(0, 2)), motion.max(axis=(0, 2))
    max_range = max(float((hi - lo).max()) / 2, 1e-9)
    center = (lo + hi) / 2
    scale = size * (1 - 2 * margin) / (2 * max_range)
    return center, scale


def motion2video_mesh(motion, save_path, fps=25, keep_imgs=False, draw_face=True, faces=None):
    """Mesh (or 17-joint) motion ``(V, 3, T)`` seen from the camera (x right, y down) to a video.

    Faces (``faces=None``: the SMPL faces) are filled back to front with Lambert shading in the
    original's colour; ``draw_face=False`` draws the vertices as points; ``V == 17`` draws the
    skeleton in black. One global cube over all frames keeps the scale fixed.
    """
    n_vertices = motion.shape[0]
    if n_vertices != 17 and draw_face and faces is None:
        from lib.utils.utils_smpl import get_smpl_faces  # needs the SMPL model files, so only when used
        faces = get_smpl_faces()
    faces = None if faces is None else np.asarray(faces, dtype=np.int64)
    size = RENDER_SIZE_MESH
    center, scale = _orthographic_camera_view(motion, size)
    base = np.array(MESH_COLOR, dtype=np.float64)
    out = _VideoOut(save_path, fps, keep_imgs)
    try:
        for i in tqdm(range(motion.shape[-1]), desc="render mesh"):
            verts = motion[:, :, i].astype(np.float64)
            px = (verts[:, :2] - center[:2]) * scale + size / 2
            pts = np.round(px * 16).astype(np.int32)
            img = np.full((size, size, 3), 255, dtype=np.uint8)
            if n_vertices == 17:
                for a, b in BONES_RENDER_ORDER:
                    cv2.line(img, tuple(pts[a]), tuple(pts[b]), (0, 0, 0), 2, cv2.LINE_AA, shift=4)
            elif draw_face:
                tri = verts[faces]
                normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
                shade = np.abs(normals[:, 2]) / np.maximum(np.linalg.norm(normals, axis=1), 1e-12)
                colors = 0.9 * base * (0.3 + 0.7 * shade[:, None]) + 0.1 * 255  # alpha 0.9 over white
                order = np.argsort(-tri[:, :, 2].mean(axis=1), kind="stable")  # far (large z) first
                face_pts = pts[faces]
                for f in order:
                    cv2.fillConvexPoly(img, face_pts[f], colors[f].tolist(), cv2.LINE_AA, shift=4)
            else:
                for p in pts:
                    cv2.circle(img, tuple(p), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
                    cv2.circle(img, tuple(p), 3 * 16, (128, 128, 128), 1, cv2.LINE_AA, shift=4)
            out.append(img)
    finally:
        out.close()


# ---------------------------------------------------------------- solids seen by a camera (the demo video)

_SHIFT = 4  # sub-pixel bits of the cv2 drawing calls


def _fixed_point(pixels):
    return np.round(np.asarray(pixels) * (1 << _SHIFT)).astype(np.int32)


def draw_polylines(image, polylines, color):
    """Draw the open ``polylines`` (each ``(n, 2)`` pixels) on ``image`` (in place), anti-aliased, 1 px wide."""
    for line in polylines:
        cv2.polylines(image, [_fixed_point(line)], False, color, 1, cv2.LINE_AA, _SHIFT)


def draw_solids(image, solids, antialias=True, outline_shade=0.55, offset=(0, 0)):
    """Draw flat-coloured ``solids`` with a darker outline on ``image`` (in place), in the order given:
    far to near, the painter's algorithm.

    A solid is ``(kind, pixels (n, 2), radius_px, rgb)``: ``'sphere'``, a disc of ``radius_px`` around
    ``pixels[0]``; ``'capsule'``, the segment ``pixels[0]``-``pixels[1]`` drawn ``2 * radius_px`` wide;
    ``'box'``, the convex hull of its projected corners ``pixels``. The outline is the colour times
    ``outline_shade``. For label masks: ``antialias=False`` draws hard (8-connected) edges and
    ``outline_shade=1`` gives the outline the solid's own colour, so that a solid sets its pixels to exactly
    its colour (a colour may be a 1-tuple on a one-channel image). ``offset`` (whole pixels, x, y) is
    subtracted from every position after the rounding to sub-pixel fixed point, so that a crop drawn
    with its corner as ``offset`` gets exactly the pixels of the full image.
    """
    line_type = cv2.LINE_AA if antialias else cv2.LINE_8
    shift = np.array(offset, dtype=np.int32) << _SHIFT
    for kind, pixels, radius, color in solids:
        outline = tuple(int(c * outline_shade) for c in color)
        fixed = _fixed_point(pixels) - shift
        if kind == "box":
            hull = cv2.convexHull(fixed)
            cv2.fillConvexPoly(image, hull, color, line_type, _SHIFT)
            cv2.polylines(image, [hull], True, outline, 1, line_type, _SHIFT)
        elif kind == "capsule":
            for paint, width in ((outline, 2 * radius + 2), (color, 2 * radius)):
                cv2.line(image, tuple(fixed[0]), tuple(fixed[1]), paint, max(1, round(width)), line_type, _SHIFT)
        elif kind == "sphere":
            radius_fixed = round(radius * (1 << _SHIFT))
            cv2.circle(image, tuple(fixed[0]), radius_fixed + (1 << _SHIFT), outline, -1, line_type, _SHIFT)
            cv2.circle(image, tuple(fixed[0]), radius_fixed, color, -1, line_type, _SHIFT)
        else:
            raise ValueError(f"unknown solid '{kind}' (expected 'sphere', 'capsule' or 'box')")
