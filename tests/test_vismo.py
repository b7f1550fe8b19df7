"""Rendering: helpers, the 3D skeleton video (X3D.mp4), 2D and mesh videos."""
import os

import imageio
import numpy as np
import pytest

from lib.skeleton import BONE_SIDES, BONES_RENDER_ORDER
from lib.utils import vismo
from lib.utils.vismo import (Skeleton3DRenderer, bounding_box, get_img_from_fig, hex2rgb, joints2image, motion2video,
                             motion2video_mesh, pixel2world_vis, pixel2world_vis_motion, render_and_save, rgb2rgba,
                             save_image)

STANDING = np.array([[0, 0, 0], [-.1, 0, 0], [-.1, .4, 0], [-.1, .8, 0], [.1, 0, 0], [.1, .4, 0], [.1, .8, 0],
                     [0, -.25, 0], [0, -.5, 0], [0, -.6, 0], [0, -.7, 0], [.15, -.5, 0], [.2, -.25, 0], [.25, 0, 0],
                     [-.15, -.5, 0], [-.2, -.25, 0], [-.25, 0, 0]], dtype=np.float32)


def video_props(path):
    reader = imageio.get_reader(path, "ffmpeg")
    meta = reader.get_meta_data()
    n = reader.count_frames()
    first = reader.get_data(0)
    reader.close()
    return n, meta["fps"], meta["size"], first


def test_color_and_coordinate_helpers():
    assert hex2rgb("#F96706#FB8D43#FDB381") == [(249, 103, 6), (251, 141, 67), (253, 179, 129)]
    assert hex2rgb("#02315E", 1) == [(2, 49, 94)]
    assert rgb2rgba((1, 2, 3)) == (1, 2, 3, 255)
    np.testing.assert_allclose(pixel2world_vis(np.array([[-1., 1.], [0., 0.]])), [[0, 512], [256, 256]])
    motion = np.zeros((2, 3, 2))  # (joints, x/y/z, frames): x, y in [-1, 1] map onto [0, 512], z onto z·256
    motion[0, :, 0] = [-1.0, 1.0, 0.5]
    motion[1, :, 1] = [0.0, -0.5, -0.25]
    out3 = pixel2world_vis_motion(motion, dim=3)
    np.testing.assert_allclose(out3[0, :, 0], [0, 512, 128])
    np.testing.assert_allclose(out3[1, :, 1], [256, 128, -64])
    np.testing.assert_allclose(out3[1, :, 0], [256, 256, 0])
    conf = motion.copy()
    conf[:, 2] = 0.7
    out2 = pixel2world_vis_motion(conf, dim=2)
    np.testing.assert_allclose(out2[:, 2], 0.7)  # confidence untouched
    import torch
    out_t = pixel2world_vis_motion(torch.from_numpy(motion), dim=3, is_tensor=True)
    np.testing.assert_allclose(out_t.numpy(), out3, rtol=1e-6)


def test_skeleton_colours_are_the_specs():
    L, M, R = 0, 1, 2  # the order of the colours in render_and_save's ``color``
    assert vismo.JOINT_COLORS_2D == [M, R, R, R, L, L, L, M, M, M, M, L, L, L, R, R, R]  # spec 06 §4.4
    assert vismo.LIMB_COLORS_2D == [R, R, R, L, L, L, M, M, M, L, R, M, L, L, R, R]
    colours = {bone: hex2rgb(vismo.BONE_COLORS_3D[BONE_SIDES[bone]], 1)[0] for bone in BONES_RENDER_ORDER}
    assert {bone for bone, c in colours.items() if c == hex2rgb("#02315E", 1)[0]} == {  # spec 06 §4.2
        (8, 11), (11, 12), (12, 13), (0, 4), (4, 5), (5, 6)}
    assert {bone for bone, c in colours.items() if c == hex2rgb("#2F70AF", 1)[0]} == {
        (8, 14), (14, 15), (15, 16), (0, 1), (1, 2), (2, 3)}
    assert {bone for bone, c in colours.items() if c == hex2rgb("#00457E", 1)[0]} == {(0, 7), (7, 8), (8, 9), (9, 10)}


def test_bounding_box_and_save_image(tmp_path):
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    img[5:8, 10:21] = 255
    assert bounding_box(img) == (5, 7, 10, 20)
    save_image(img, str(tmp_path / "x.png"))
    np.testing.assert_array_equal(imageio.v2.imread(str(tmp_path / "x.png")), img)


def test_get_img_from_fig():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(1, 1))
    plt.plot([0, 1], [0, 1])
    img = get_img_from_fig(fig, dpi=50)
    plt.close(fig)
    assert img.dtype == np.uint8 and img.shape[2] == 4 and img.shape[0] <= 60


def test_render_and_save_3d(tmp_path):
    t = np.arange(12)[:, None]
    motion = np.repeat(STANDING[None], 12, axis=0)
    motion[..., 0] += 0.02 * t
    path = str(tmp_path / "sub" / "X3D.mp4")
    render_and_save(motion, path, fps=24, keep_imgs=True)
    n, fps, size, first = video_props(path)
    assert (n, fps, size) == (12, 24.0, (vismo.RENDER_SIZE_3D, vismo.RENDER_SIZE_3D))
    assert len(os.listdir(str(tmp_path / "sub" / "X3D-frames"))) == 12
    # the bone colours of the original are in the picture
    assert np.any(np.all(np.abs(first.astype(int) - (2, 49, 94)) < 25, axis=-1))
    assert np.any(np.all(np.abs(first.astype(int) - (47, 112, 175)) < 25, axis=-1))


def test_3d_view_orientation():
    renderer = Skeleton3DRenderer(size=480)
    world = pixel2world_vis_motion(np.stack([STANDING], axis=-1), dim=3)[..., 0]
    px, depth = renderer.view.project(np.stack([-world[:, 0], -world[:, 2], -world[:, 1]], axis=-1))
    assert px[10, 1] < px[0, 1] < px[3, 1]     # head above pelvis above ankle (image up is up)
    assert px[13, 0] > px[16, 0]               # larger x (the person's left wrist here) is further right
    near = world.copy()
    near[:, 2] = -100                          # smaller depth = closer to the camera
    _, depth_near = renderer.view.project(np.stack([-near[:, 0], -near[:, 2], -near[:, 1]], axis=-1))
    assert (depth_near < depth).all()
    frame = renderer.render(world)
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8


def test_render_and_save_2d(tmp_path):
    motion = np.repeat(STANDING[None, :, :2], 5, axis=0)
    path = str(tmp_path / "2d.mp4")
    render_and_save(motion, path, fps=10)
    n, fps, size, first = video_props(path)
    assert (n, fps, size) == (5, 10.0, (512, 512))
    assert np.any(np.all(np.abs(first.astype(int) - (249, 103, 6)) < 40, axis=-1))


def test_joints2image_and_motion2video_as_array():
    joints = np.concatenate([(STANDING[:, :2] + 1) * 256, np.ones((17, 1))], axis=1)
    joints[3, 2] = 0  # an undetected ankle: no disc, no limb to it
    img, hips = joints2image(joints, hex2rgb("#F96706#FB8D43#FDB381"), H=512, W=512, nr_joints=17)
    assert img.shape == (512, 512, 3) and tuple(hips[:2]) == (256, 256)
    ankle = np.round(joints[3, :2]).astype(int)
    assert (img[ankle[1] - 3:ankle[1] + 3, ankle[0] - 3:ankle[0] + 3] == 255).all()
    with pytest.raises(ValueError, match="17-joint"):
        joints2image(joints, hex2rgb("#F96706#FB8D43#FDB381"), nr_joints=49)
    frames = motion2video(np.stack([joints] * 3, axis=-1), None, hex2rgb("#F96706#FB8D43#FDB381"), as_array=True,
                          show_progress=False)
    assert frames.shape == (3, 512, 512, 3)


def _box_mesh():
    verts = np.array([[x, y, z] for x in (-1, 1) for y in (-2, 2) for z in (-0.5, 0.5)], dtype=np.float64)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                      [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return verts, faces


def test_motion2video_mesh(tmp_path):
    verts, faces = _box_mesh()
    motion = np.stack([verts + [0.1 * t, 0, 0] for t in range(6)], axis=-1)  # (V, 3, T)
    path = str(tmp_path / "mesh.mp4")
    motion2video_mesh(motion, path, fps=12, faces=faces)
    n, fps, size, first = video_props(path)
    assert (n, fps, size) == (6, 12.0, (vismo.RENDER_SIZE_MESH, vismo.RENDER_SIZE_MESH))
    center = first[vismo.RENDER_SIZE_MESH // 2, vismo.RENDER_SIZE_MESH // 2 - 60].astype(int)
    assert np.all(np.abs(center - np.array(vismo.MESH_COLOR)) < 40)  # the box's front face, mesh colour
    # y grows downwards: the box is taller than wide on screen
    rows, _, cols, _ = (lambda b: (b[1] - b[0], None, b[3] - b[2], None))(bounding_box(255 - first))
    assert rows > cols
    motion2video_mesh(motion, str(tmp_path / "pts.mp4"), draw_face=False)
    motion2video_mesh(np.stack([STANDING] * 3, axis=-1), str(tmp_path / "skel.mp4"))
    assert video_props(str(tmp_path / "skel.mp4"))[0] == 3


def test_mesh_faces_default_to_smpl(tmp_path, monkeypatch):
    import lib.utils.utils_smpl as utils_smpl
    verts, faces = _box_mesh()
    monkeypatch.setattr(utils_smpl, "get_smpl_faces", lambda: faces)
    motion2video_mesh(np.stack([verts] * 2, axis=-1), str(tmp_path / "m.mp4"))
    assert video_props(str(tmp_path / "m.mp4"))[0] == 2


def test_vis_data_batch(tmp_path):
    inputs = np.repeat(np.concatenate([STANDING[:, :2], np.ones((17, 1))], axis=1)[None, None], 4, axis=1)
    labels = np.repeat(STANDING[None, None], 4, axis=1)
    vismo.vis_data_batch(np.repeat(inputs, 3, axis=0), np.repeat(labels, 3, axis=0), n_render=2,
                         save_path=str(tmp_path / "vis"))
    assert sorted(os.listdir(tmp_path / "vis")) == ["gt_0.mp4", "gt_1.mp4", "input_0.mp4", "input_1.mp4"]


@pytest.mark.parametrize("n_frames", [2, 3])
def test_short_joints_first_clips_keep_their_layout(tmp_path, monkeypatch, n_frames):
    rendered = []
    monkeypatch.setattr(vismo, "motion2video_3d", lambda motion, **kwargs: rendered.append(motion.shape))
    monkeypatch.setattr(vismo, "motion2video", lambda motion, **kwargs: rendered.append(motion.shape))
    skeleton_3d = np.stack([STANDING] * n_frames, axis=-1)  # (17, 3, T): joints, dims, frames
    render_and_save(skeleton_3d, str(tmp_path / "a.mp4"))
    render_and_save(skeleton_3d[:, :2], str(tmp_path / "b.mp4"))  # (17, 2, T)
    render_and_save(np.moveaxis(skeleton_3d, -1, 0), str(tmp_path / "c.mp4"))  # (T, 17, 3)
    assert rendered == [(17, 3, n_frames), (17, 3, n_frames), (17, 3, n_frames)]


def test_joints2image_defaults_to_the_skeleton_it_is_given():
    joints = np.concatenate([(STANDING[:, :2] + 1) * 256, np.ones((17, 1))], axis=1)
    img, _ = joints2image(joints, hex2rgb("#F96706#FB8D43#FDB381"), H=512, W=512)
    assert img.shape == (512, 512, 3) and (img != 255).any()


def test_draw_solids_and_polylines_far_to_near_and_write_video(tmp_path):
    red, blue, green = (200, 0, 0), (0, 0, 200), (0, 150, 0)
    image = np.full((60, 80, 3), 255, np.uint8)
    vismo.draw_polylines(image, [np.array([[5.0, 55.0], [75.0, 55.0]])], (0, 0, 0))
    vismo.draw_solids(image, [("box", np.array([[10, 10], [30, 10], [30, 30], [10, 30]], float), 0.0, red),
                              ("sphere", np.array([[30.0, 30.0]]), 6.0, blue),  # drawn over the box's corner
                              ("capsule", np.array([[45.0, 10.0], [70.0, 40.0]]), 3.0, green)])
    assert tuple(image[20, 20]) == red and tuple(image[30, 30]) == blue and tuple(image[27, 27]) == blue
    assert tuple(image[25, 57]) == green and tuple(image[10, 70]) == (255, 255, 255)
    assert image[30, 37, :2].max() == 0 and 0 < image[30, 37, 2] < 150  # a darker outline, 1 px outside the disc
    assert image[55, 40].max() < 100 and image[50, 40].min() == 255  # the 1-px line
    with pytest.raises(ValueError, match="unknown solid 'cone'"):
        vismo.draw_solids(image, [("cone", np.zeros((1, 2)), 1.0, red)])
    path = str(tmp_path / "solids.mp4")
    vismo.write_video((image for _ in range(3)), path, fps=5, quality=None, ffmpeg_params=["-crf", "0"])
    n, fps, size, first = video_props(path)
    assert (n, fps, size) == (3, 5.0, (80, 60)) and np.abs(first.astype(int) - image).mean() < 2
