"""The world-motion options of ``infer_wild.py`` (and the metric ones of ``stream_wild.py``), and their checks."""
import math

from lib.export import EXPORT_FORMATS, parse_export_formats
from lib.utils.errors import OptionError

DEFAULT_HEIGHT_M = 1.70
HEIGHT_RANGE_M = (0.5, 2.5)
UP_AXES = ("y", "z")


# --pitch: the camera's pitch in degrees (down positive); straight down or up is no view of people walking
PITCH_RANGE_DEG = (-60.0, 89.0)


def check_world_options(height=None, focal=None, fov=None, up="y", pitch=None, center=None):
    """Raise :class:`OptionError` for a height outside 0.5-2.5 m, a focal length or field of view that is
    not positive (fov < 180°), both of them, an unknown up axis, or a pitch outside :data:`PITCH_RANGE_DEG`
    (the ranges that depend on the image size: ``lib.world.camera.check_camera``)."""
    if center is not None and not all(math.isfinite(c) for c in center):
        raise OptionError(f"--center is the principal point in pixels and must be two finite numbers; got "
                          f"{' '.join(f'{c:g}' for c in center)}")
    if pitch is not None and not (math.isfinite(pitch) and PITCH_RANGE_DEG[0] <= pitch <= PITCH_RANGE_DEG[1]):
        raise OptionError(f"--pitch is the camera's pitch in degrees, positive looking down, between "
                          f"{PITCH_RANGE_DEG[0]:g} and {PITCH_RANGE_DEG[1]:g}; got {pitch:g}")
    if height is not None and not (HEIGHT_RANGE_M[0] <= height <= HEIGHT_RANGE_M[1]):
        raise OptionError(f"--height is the person's height in metres, between {HEIGHT_RANGE_M[0]} and "
                          f"{HEIGHT_RANGE_M[1]}; got {height:g}")
    if focal is not None and not (math.isfinite(focal) and focal > 0):
        raise OptionError(f"--focal is the camera's focal length in pixels and must be positive; got {focal:g}")
    if fov is not None and not (math.isfinite(fov) and 0 < fov < 180):
        raise OptionError(f"--fov is the camera's horizontal field of view in degrees, between 0 and 180; "
                          f"got {fov:g}")
    if focal is not None and fov is not None:
        raise OptionError("--focal and --fov both give the focal length: give one of them")
    if up not in UP_AXES:
        raise OptionError(f"--up must be one of {', '.join(UP_AXES)}; got {up!r}")



# the options of add_metric_arguments
METRIC_OPTIONS = ("height", "focal", "fov", "center")


def add_metric_arguments(group):
    """The person's height and the camera: ``--height``, ``--focal``, ``--fov``, ``--center`` (``infer_wild.py``'s
    world motion, ``stream_wild.py``'s metric output); checked by :func:`check_world_options`."""
    group.add_argument("--height", type=float, default=None, metavar="METRES",
                       help=f"the person's height in metres (default {DEFAULT_HEIGHT_M:.2f}, noted as assumed)")
    group.add_argument("--focal", type=float, default=None, metavar="PX",
                       help="the camera's focal length in pixels (default: the image diagonal, noted as assumed)")
    group.add_argument("--fov", type=float, default=None, metavar="DEGREES",
                       help="instead of --focal: the camera's horizontal field of view")
    group.add_argument("--center", type=float, nargs=2, default=None, metavar=("CX", "CY"),
                       help="the principal point in pixels (default: the image centre)")
    return group


def add_world_arguments(parser):
    """``infer_wild.py``'s world-motion options (docs/inference.md, "World motion")."""
    group = add_metric_arguments(
        parser.add_argument_group("world motion (metric, upright; X3D_world.npy and the --export files)"))
    group.add_argument("--up", choices=UP_AXES, default="y", help="the world's up axis (default y; z for "
                                                                   "Z-up tools)")
    group.add_argument("--pitch", type=float, default=None, metavar="DEGREES",
                       help="the camera's pitch in degrees, positive looking down, if known (default: estimated from "
                            "the people's feet and trunks and a prior of 10 +- 12 degrees)")
    group.add_argument("--smooth", action="store_true", help="smooth the poses over time (Savitzky-Golay)")
    group.add_argument("--export", metavar="FORMATS",
                       help=f"comma-separated files to write besides X3D_world.npy: {', '.join(EXPORT_FORMATS)} or "
                            f"none (default: all)")
    group.add_argument("--no_world", "--no-world", action="store_true",
                       help="only the normalised, root-relative outputs (X3D.npy, .json, .mp4)")
    return parser


def check_world_arguments(cli):
    """The export formats to write (None with ``--no_world``); an :class:`OptionError` for a bad option."""
    if cli.no_world:
        given = [f"--{name}" for name in METRIC_OPTIONS + ("pitch",) if getattr(cli, name) is not None]
        given += ["--smooth"] * cli.smooth + ["--up"] * (cli.up != "y")
        given += ["--export"] * (cli.export is not None)
        if given:
            raise OptionError(f"--no_world writes no world motion, so {', '.join(given)} would do nothing: "
                              f"drop them or --no_world")
        return None
    check_world_options(cli.height, cli.focal, cli.fov, cli.up, cli.pitch, cli.center)
    return list(EXPORT_FORMATS) if cli.export is None else parse_export_formats(cli.export)
