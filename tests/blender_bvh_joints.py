"""Run under Blender's Python (the ``bpy`` package): import a BVH file with Blender's own importer and save the
world positions of every bone's head, frame by frame (tests/test_export.py, the Blender round trip).

    python blender_bvh_joints.py motion.bvh out.npz N_FRAMES
"""
import sys

import bpy
import numpy as np

bvh_path, out_path, n_frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
bpy.ops.wm.read_factory_settings(use_empty=True)
# axis_forward Y / axis_up Z: Blender's own axes, so no conversion; scale 1: the file's units (mm)
bpy.ops.import_anim.bvh(filepath=bvh_path, global_scale=1.0, axis_forward="Y", axis_up="Z", rotate_mode="NATIVE",
                        update_scene_fps=True, frame_start=1)
armature = bpy.context.object
names = [bone.name for bone in armature.pose.bones]
heads = np.zeros((n_frames, len(names), 3))
for frame in range(n_frames):
    bpy.context.scene.frame_set(frame + 1)
    for k, bone in enumerate(armature.pose.bones):
        heads[frame, k] = armature.matrix_world @ bone.head
np.savez(out_path, heads=heads, names=np.array(names), fps=bpy.context.scene.render.fps / bpy.context.scene.render.fps_base)
