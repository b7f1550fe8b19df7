"""SMPL body model wrapper (49 joints, H36M regressor) and a chumpy-free model-file reader (spec 05 §1).

The official ``SMPL_NEUTRAL.pkl`` is a Python-2 pickle holding chumpy arrays and old-scipy
sparse matrices; chumpy does not import on Python ≥ 3.11 / NumPy 2, so :func:`load_smpl_model`
reads such files with a restricted unpickler that rebuilds plain NumPy/SciPy objects. Plain
pickles and ``.npz`` files with the same keys are read too.
"""
import os
import pickle
import zipfile

import numpy as np
import scipy.sparse
import smplx
import torch
from smplx.lbs import vertices2joints
from smplx.utils import SMPLOutput, Struct

from lib.utils.errors import UserError

# name → index into the 54 joints (24 SMPL + 21 vertex joints + 9 J_regressor_extra joints)
JOINT_MAP = {
    'OP Nose': 24, 'OP Neck': 12, 'OP RShoulder': 17,
    'OP RElbow': 19, 'OP RWrist': 21, 'OP LShoulder': 16,
    'OP LElbow': 18, 'OP LWrist': 20, 'OP MidHip': 0,
    'OP RHip': 2, 'OP RKnee': 5, 'OP RAnkle': 8,
    'OP LHip': 1, 'OP LKnee': 4, 'OP LAnkle': 7,
    'OP REye': 25, 'OP LEye': 26, 'OP REar': 27,
    'OP LEar': 28, 'OP LBigToe': 29, 'OP LSmallToe': 30,
    'OP LHeel': 31, 'OP RBigToe': 32, 'OP RSmallToe': 33, 'OP RHeel': 34,
    'Right Ankle': 8, 'Right Knee': 5, 'Right Hip': 45,
    'Left Hip': 46, 'Left Knee': 4, 'Left Ankle': 7,
    'Right Wrist': 21, 'Right Elbow': 19, 'Right Shoulder': 17,
    'Left Shoulder': 16, 'Left Elbow': 18, 'Left Wrist': 20,
    'Neck (LSP)': 47, 'Top of Head (LSP)': 48,
    'Pelvis (MPII)': 49, 'Thorax (MPII)': 50,
    'Spine (H36M)': 51, 'Jaw (H36M)': 52,
    'Head (H36M)': 53, 'Nose': 24, 'Left Eye': 26,
    'Right Eye': 25, 'Left Ear': 28, 'Right Ear': 27,
}
# order of the 49 output joints: 25 OpenPose joints, then 24 ground-truth joints
JOINT_NAMES = [
    'OP Nose', 'OP Neck', 'OP RShoulder', 'OP RElbow', 'OP RWrist', 'OP LShoulder', 'OP LElbow', 'OP LWrist',
    'OP MidHip', 'OP RHip', 'OP RKnee', 'OP RAnkle', 'OP LHip', 'OP LKnee', 'OP LAnkle', 'OP REye', 'OP LEye',
    'OP REar', 'OP LEar', 'OP LBigToe', 'OP LSmallToe', 'OP LHeel', 'OP RBigToe', 'OP RSmallToe', 'OP RHeel',
    'Right Ankle', 'Right Knee', 'Right Hip', 'Left Hip', 'Left Knee', 'Left Ankle', 'Right Wrist',
    'Right Elbow', 'Right Shoulder', 'Left Shoulder', 'Left Elbow', 'Left Wrist', 'Neck (LSP)',
    'Top of Head (LSP)', 'Pelvis (MPII)', 'Thorax (MPII)', 'Spine (H36M)', 'Jaw (H36M)', 'Head (H36M)', 'Nose',
    'Left Eye', 'Right Eye', 'Left Ear', 'Right Ear',
]
JOINT_IDS = {name: i for i, name in enumerate(JOINT_NAMES)}
SMPL_MODEL_DIR = 'data/mesh'
H36M_TO_J17 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9]
H36M_TO_J14 = H36M_TO_J17[:14]

NUM_SMPL_JOINTS = 24
NUM_POSE_BASIS = 9 * (NUM_SMPL_JOINTS - 1)
MIN_SHAPE_COEFFS = 10
J_REGRESSOR_EXTRA = 'J_regressor_extra.npy'
J_REGRESSOR_H36M = 'J_regressor_h36m_correct.npy'
SMPL_MEAN_PARAMS = 'smpl_mean_params.npz'
_SPIN_DATA = "the SPIN project's data (https://github.com/nkolot/SPIN, scripts/fetch_data.sh)"


class SMPLModelFileError(UserError, ValueError):
    """An SMPL model, regressor or mean-parameter file is unreadable or has the wrong content."""


def smpl_model_filename(gender='neutral'):
    return f'SMPL_{gender.upper()}.pkl'


def smpl_file_sources(gender='neutral'):
    """File name → what it is and where it comes from, for every file expected in the SMPL folder."""
    if gender == 'neutral':
        model_source = ('SMPL neutral body model: download it from https://smpl.is.tue.mpg.de (registration and '
                        'licence required) and rename basicModel_neutral_lbs_10_207_0_v1.0.0.pkl to SMPL_NEUTRAL.pkl '
                        '(the official chumpy pickle and plain pickles both work, as does SMPL_NEUTRAL.npz with the '
                        'same keys)')
    else:
        model_source = f'SMPL {gender} body model from https://smpl.is.tue.mpg.de (registration and licence required)'
    return {
        smpl_model_filename(gender): model_source,
        J_REGRESSOR_EXTRA: f'(9, 6890) regressor of the extra joints, from {_SPIN_DATA}',
        J_REGRESSOR_H36M: f'(17, 6890) Human3.6M joint regressor, from {_SPIN_DATA}',
        SMPL_MEAN_PARAMS: f'mean SMPL pose (6D) and shape, from {_SPIN_DATA}',
    }


def find_smpl_model_file(model_dir, gender='neutral'):
    """Path of the body model in ``model_dir``: ``SMPL_<GENDER>.pkl``, else an ``.npz`` of the same name."""
    pkl = os.path.join(model_dir, smpl_model_filename(gender))
    npz = os.path.splitext(pkl)[0] + '.npz'
    return npz if not os.path.isfile(pkl) and os.path.isfile(npz) else pkl


def check_smpl_files(model_dir, required, gender='neutral'):
    """Raise one ``FileNotFoundError`` listing every expected file if any of ``required`` is missing."""
    model_dir = os.fspath(model_dir)
    present = {name: os.path.isfile(os.path.join(model_dir, name)) for name in smpl_file_sources(gender)}
    present[smpl_model_filename(gender)] = os.path.isfile(find_smpl_model_file(model_dir, gender))
    if all(present[name] for name in required):
        return
    if os.path.isfile(model_dir):
        where = f"'{model_dir}' is a file; pass the folder that holds the SMPL files"
    elif not os.path.isdir(model_dir):
        where = f"the SMPL folder '{model_dir}' does not exist"
    else:
        where = f"files are missing in the SMPL folder '{model_dir}'"
    lines = [f"SMPL data not found: {where}. Expected files (args.data_root, 'data/mesh' in the configs):"]
    for name, source in smpl_file_sources(gender).items():
        status = 'ok     ' if present[name] else 'MISSING'
        lines.append(f"  [{status}] {name}: {source}")
    raise FileNotFoundError("\n".join(lines))


class _ChumpyArray:
    """Stands in for ``chumpy.ch.Ch`` while unpickling; the array is its state's ``x``."""

    def __setstate__(self, state):
        self.state = state


class _LegacySparse:
    """Stands in for old-scipy ``scipy.sparse.csc``/``csr`` matrices; rebuilt from their instance dict."""
    format = None

    def __setstate__(self, state):
        self.state = state


class _LegacyCSC(_LegacySparse):
    format = 'csc'


class _LegacyCSR(_LegacySparse):
    format = 'csr'


_LEGACY_CLASSES = {
    ('chumpy.ch', 'Ch'): _ChumpyArray,
    ('scipy.sparse.csc', 'csc_matrix'): _LegacyCSC,
    ('scipy.sparse.csr', 'csr_matrix'): _LegacyCSR,
}
# globals a body-model pickle may reference (anything else is refused: unpickling runs code)
_ALLOWED_GLOBALS = {
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
    ('scipy.sparse._csc', 'csc_matrix'), ('scipy.sparse._csr', 'csr_matrix'), ('scipy.sparse._coo', 'coo_matrix'),
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'object'), ('__builtin__', 'set'),
    ('__builtin__', 'frozenset'), ('__builtin__', 'object'), ('copyreg', '_reconstructor'),
    ('copy_reg', '_reconstructor'),
}
_NUMPY_CORE = 'numpy._core' if hasattr(np, '_core') else 'numpy.core'


class _SMPLUnpickler(pickle.Unpickler):
    """Unpickler for body-model files: chumpy/old-scipy stand-ins, NumPy 1/2 module names, an allow-list."""

    def find_class(self, module, name):
        if (module, name) in _LEGACY_CLASSES:
            return _LEGACY_CLASSES[module, name]
        if module.split('.')[0] == 'chumpy':
            raise pickle.UnpicklingError(f"chumpy object {module}.{name} cannot be rebuilt without chumpy "
                                         f"(only chumpy.ch.Ch arrays are supported)")
        canonical = module.replace('numpy._core', 'numpy.core')
        if (canonical, name) in _ALLOWED_GLOBALS or canonical == 'numpy.dtypes':
            if canonical.startswith('numpy.core'):
                module = _NUMPY_CORE + canonical[len('numpy.core'):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} (not part of an SMPL model file)")


def _plain(value):
    """Replace chumpy / old-scipy stand-ins (also inside dicts and lists) by NumPy arrays / SciPy matrices."""
    if isinstance(value, _ChumpyArray):
        if 'x' not in value.state:
            raise pickle.UnpicklingError("a chumpy array without its value 'x'")
        return np.asarray(_plain(value.state['x']))
    if isinstance(value, _LegacySparse):
        s = value.state
        matrix = scipy.sparse.csc_matrix if value.format == 'csc' else scipy.sparse.csr_matrix
        return matrix((s['data'], s['indices'], s['indptr']), shape=tuple(s.get('_shape', s.get('shape'))))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _shape(array):
    return tuple(getattr(array, 'shape', ()))


def validate_smpl_model(model, path):
    """Raise ``SMPLModelFileError`` naming ``path`` unless ``model`` is a 24-joint SMPL model with ≥ 10 betas."""
    required = ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights', 'kintree_table', 'f')
    missing = [k for k in required if k not in model]
    if missing:
        raise SMPLModelFileError(f"SMPL model file {path} lacks the entries {missing} (found {sorted(model)}); "
                                 f"it is not an SMPL body model")
    num_verts = _shape(model['v_template'])[0] if len(_shape(model['v_template'])) == 2 else None
    joints = _shape(model['kintree_table'])
    if len(joints) != 2 or joints[1] != NUM_SMPL_JOINTS or _shape(model['J_regressor'])[:1] != (NUM_SMPL_JOINTS,):
        raise SMPLModelFileError(
            f"SMPL model file {path} has {joints[-1] if joints else '?'} joints (kintree_table {joints}, "
            f"J_regressor {_shape(model['J_regressor'])}); an SMPL body model has {NUM_SMPL_JOINTS} "
            f"(SMPL-H / SMPL-X / MANO files are not supported)")
    shapedirs = _shape(model['shapedirs'])
    if len(shapedirs) != 3 or shapedirs[2] < MIN_SHAPE_COEFFS:
        raise SMPLModelFileError(f"SMPL model file {path} has shapedirs of shape {shapedirs}: expected "
                                 f"(vertices, 3, ≥{MIN_SHAPE_COEFFS} shape coefficients)")
    expected = {'v_template': (num_verts, 3), 'shapedirs': (num_verts, 3),
                'posedirs': (num_verts, 3, NUM_POSE_BASIS), 'weights': (num_verts, NUM_SMPL_JOINTS),
                'J_regressor': (NUM_SMPL_JOINTS, num_verts)}
    for key, shape in expected.items():
        if num_verts is None or _shape(model[key])[:len(shape)] != shape:
            raise SMPLModelFileError(f"SMPL model file {path}: '{key}' has shape {_shape(model[key])}, expected "
                                     f"{shape} for a model with v_template {_shape(model['v_template'])}")
    faces = np.asarray(model['f'])
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0 or faces.max() >= num_verts:
        raise SMPLModelFileError(f"SMPL model file {path}: faces 'f' of shape {faces.shape} do not index the "
                                 f"{num_verts} vertices of the model")


def load_smpl_model(path):
    """Read an SMPL model file (official chumpy pickle, plain pickle or ``.npz``) into a dict of arrays.

    ``J_regressor`` may be a SciPy sparse matrix (as in the official file). The content is
    validated (:func:`validate_smpl_model`).
    """
    path = os.fspath(path)
    try:
        if zipfile.is_zipfile(path):
            with np.load(path, allow_pickle=False) as npz:
                model = {k: npz[k] for k in npz.files}
        else:
            with open(path, 'rb') as f:
                model = _plain(_SMPLUnpickler(f, encoding='latin1').load())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            zipfile.BadZipFile, UnicodeDecodeError, MemoryError) as e:
        raise SMPLModelFileError(f"cannot read SMPL model file {path}: it is corrupt or not an SMPL model "
                                 f"({type(e).__name__}: {e})") from e
    if not isinstance(model, dict):
        raise SMPLModelFileError(f"SMPL model file {path} holds a {type(model).__name__}, expected a dict of arrays")
    validate_smpl_model(model, path)
    return model


def load_regressor(path, num_joints, num_verts):
    """A ``(num_joints, num_verts)`` joint regressor from a ``.npy`` file, as float32."""
    try:
        regressor = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise SMPLModelFileError(f"cannot read joint regressor {path}: it is corrupt or not a .npy array "
                                 f"({type(e).__name__}: {e})") from e
    if not isinstance(regressor, np.ndarray):
        regressor.close()
        raise SMPLModelFileError(f"joint regressor {path} is an .npz archive, expected a single .npy array")
    if regressor.shape != (num_joints, num_verts):
        raise SMPLModelFileError(f"joint regressor {path} has shape {regressor.shape}, expected "
                                 f"({num_joints}, {num_verts}): {num_joints} joints × the {num_verts} vertices "
                                 f"of the SMPL model")
    return torch.tensor(regressor, dtype=torch.float32)


class SMPL(smplx.SMPL):
    """smplx's SMPL plus the SPIN/H36M joint regressors; ``forward`` returns 49 joints (``JOINT_NAMES``).

    ``model_path`` is the SMPL folder (``args.data_root``). Other arguments go to ``smplx.SMPL``
    (e.g. ``batch_size``, ``create_transl``, ``gender``, and ``vertex_ids`` for a mesh whose
    vertex numbering differs from SMPL's). The body model is read with :func:`load_smpl_model`,
    so chumpy is not needed.
    """

    def __init__(self, model_path, *args, **kwargs):
        model_path = os.fspath(model_path)
        gender = kwargs.get('gender', 'neutral')
        preloaded = kwargs.get('data_struct') is not None
        required = [J_REGRESSOR_EXTRA, J_REGRESSOR_H36M] + ([] if preloaded else [smpl_model_filename(gender)])
        check_smpl_files(model_path, required, gender)
        model_file = find_smpl_model_file(model_path, gender)
        if not preloaded:
            kwargs['data_struct'] = Struct(**load_smpl_model(model_file))
        super().__init__(model_path, *args, **kwargs)

        num_verts = self.get_num_verts()
        vertex_joint_ids = self.vertex_joint_selector.extra_joints_idxs
        if len(vertex_joint_ids) and int(vertex_joint_ids.max()) >= num_verts:
            raise SMPLModelFileError(
                f"the vertex ids of the extra joints (nose, eyes, ears, toes, heels, finger tips; max "
                f"{int(vertex_joint_ids.max())}) do not exist in the {num_verts}-vertex model {model_file}; "
                f"pass vertex_ids=... that index this mesh")
        self.smpl_mean_params = os.path.join(model_path, SMPL_MEAN_PARAMS)
        self.register_buffer('J_regressor_extra', load_regressor(os.path.join(model_path, J_REGRESSOR_EXTRA),
                                                                 9, num_verts))
        self.register_buffer('J_regressor_h36m', load_regressor(os.path.join(model_path, J_REGRESSOR_H36M),
                                                                17, num_verts))
        # not persistent: released checkpoints do not hold it, but it must follow the model's device
        self.register_buffer('joint_map', torch.tensor([JOINT_MAP[name] for name in JOINT_NAMES], dtype=torch.long),
                             persistent=False)

    def forward(self, *args, **kwargs):
        smpl_output = super().forward(*args, **kwargs)
        extra_joints = vertices2joints(self.J_regressor_extra, smpl_output.vertices)
        joints = torch.cat([smpl_output.joints, extra_joints], dim=1)
        joints = joints[:, self.joint_map, :]
        return SMPLOutput(vertices=smpl_output.vertices, global_orient=smpl_output.global_orient,
                          body_pose=smpl_output.body_pose, joints=joints, betas=smpl_output.betas,
                          full_pose=smpl_output.full_pose)


def get_smpl_faces(model_dir=SMPL_MODEL_DIR, gender='neutral'):
    """Triangle faces ``(F, 3)`` of the SMPL model in ``model_dir`` ((13776, 3) for SMPL), as stored in the file."""
    check_smpl_files(model_dir, [smpl_model_filename(gender)], gender)
    return load_smpl_model(find_smpl_model_file(model_dir, gender))['f']
