"""Write the pretraining noise model files ``params/synthetic_noise.pth`` and ``params/d2c_params.pkl``.

The values are the figures of the original's files (spec 02 §4.4.1): per-joint mean/std of
the detector-like 2D offset, the per-joint probability of drawing it from the Gaussian (else
from a uniform of width 0.06), and the distance-to-confidence model ``a, b, m, s``.

    python tools/make_pretrain_params.py [--out params]
"""
import argparse
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_folder  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402

# joint: (mean x, mean y, std x, std y, weight), H36M joint order
NOISE_TABLE = [
    (0.0008132532206415176, 0.0002123957794343385, 0.003662630041640461, 0.0035726057983897614, 0.9987454248783952),
    (-0.00014820766367979008, 0.001997602659830032, 0.0071349284931432454, 0.005109186552172369, 0.9669543010510732),
    (0.002038824210894637, -0.0015100829056781799, 0.006084422689136702, 0.005003425844735228, 0.8896068688589165),
    (0.0009438474570305246, 0.0009083699237753135, 0.00895302418680377, 0.00529317413820226, 0.8938353296160423),
    (0.001867110248528105, -0.0007037034450687731, 0.006716577444309778, 0.005327725905047089, 0.9746202074492064),
    (0.0019328396070487199, -0.005204165804974786, 0.007012923918432476, 0.00492122980480096, 0.876672936095582),
    (0.0008942056436280798, -0.001871771113689443, 0.009505804410684347, 0.005625369112028657, 0.8210062542870395),
    (0.002467694312049389, 0.0023339168741767025, 0.006588318921158009, 0.004967669570185413, 0.9578073863968175),
    (0.0021412224082639135, -0.006508411043969023, 0.005491424744604293, 0.005305329016810842, 0.9183146347407266),
    (0.0016559242552996734, 0.0016551084378241497, 0.005338831246369957, 0.004876642002854535, 0.9679403167247258),
    (0.0008369439689565895, 0.0015929352238531081, 0.00341637764777077, 0.0034922421450041914, 0.9841198119110484),
    (0.0007939353618974142, -0.004621909163123653, 0.008006617254463182, 0.006087204448522537, 0.890993166463285),
    (0.0014993540020391042, 0.00029601713545545814, 0.005167672298473774, 0.00475361500588003, 0.8015561746381451),
    (0.0011591824590848712, 0.0016299643529509432, 0.004990403929579402, 0.005089037811800102, 0.7027702297593045),
    (0.002103820868195803, -0.003166051898485928, 0.007823454557123282, 0.007934266165636946, 0.8808956276567164),
    (0.0016822635945976643, -0.0003300032534713677, 0.006009086297262234, 0.005721288594996581, 0.8246287738293403),
    (0.001663880852602262, 0.0013175154893377186, 0.005370299691147723, 0.005684071647289275, 0.7287476097892377),
]

D2C_PARAMS = {
    "a": 0.028,
    "b": 1.1,
    # float32 values stored by the original, given by their little-endian bytes
    "m": np.frombuffer(bytes.fromhex("9c4396bb"), dtype="<f4")[0],
    "s": np.frombuffer(bytes.fromhex("4c8a123e"), dtype="<f4")[0],
}


def noise_model():
    table = torch.tensor(NOISE_TABLE, dtype=torch.float64)
    return {"mean": table[:, 0:2].clone(), "std": table[:, 2:4].clone(), "weight": table[:, 4].clone()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="params", help="output folder (default: params)")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    check_output_folder(args.out, ["synthetic_noise.pth", "d2c_params.pkl"], option="--out")
    with OutputSet(args.out) as out:
        torch.save(noise_model(), out.path("synthetic_noise.pth"))
        write_pkl(dict(D2C_PARAMS), out.path("d2c_params.pkl"))
    print(f"wrote {args.out}/synthetic_noise.pth and {args.out}/d2c_params.pkl")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
