"""train.py's H36M evaluation against the original's numbers (h36m_eval fixtures)."""
import io
import json
import re
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
from torch import nn

from conftest import assert_float_close, fixture_path
from lib.data.datareader_h36m import DataReaderH36M
from lib.utils.tools import Config
from lib.utils.utils_data import flip_data

EVAL = np.load(fixture_path("pose3d", "h36m_eval.npz"))
META = json.load(open(fixture_path("pose3d", "h36m_eval.json")))
READER = np.load(fixture_path("pose3d", "h36m_reader.npz"))


class StandIn(nn.Module):
    """Returns pred_P[j] for test clip j and pred_Q[j] for its flipped version (as the fixture's model)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.inputs = torch.from_numpy(READER["s1_sliced_test_data"])
        self.flipped = flip_data(self.inputs)

    def forward(self, x):
        out = []
        for clip in x:
            for table, preds in ((self.inputs, EVAL["pred_P"]), (self.flipped, EVAL["pred_Q"])):
                hit = [j for j in range(len(table)) if torch.equal(table[j], clip)]
                if hit:
                    out.append(torch.from_numpy(preds[hit[0]].copy()))
                    break
            else:
                raise AssertionError("unknown input clip")
        return torch.stack(out)


def reader():
    return DataReaderH36M(n_frames=27, sample_stride=1, data_stride_train=9, data_stride_test=27,
                          dt_root=fixture_path("pose3d"), dt_file="h36m_synthetic.pkl")


def loader():
    data = torch.from_numpy(READER["s1_sliced_test_data"])
    labels = torch.from_numpy(READER["s1_sliced_test_labels"])
    return [(data[i:i + 4], labels[i:i + 4]) for i in range(0, len(data), 4)]


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")  # not the digit of a label such as P1
TABLE_BORDER = re.compile(r"^\+(-+\+)+$")


def printed_layout(text):
    """The printed report as lines of cells: a table border becomes its column count, a row (or any
    other line) its stripped cells with every number replaced by ``#``; plus the numbers in order.

    The numbers are Python's shortest float repr, so their last digit (and with it the column
    widths) depends on the float rounding of the CPU: they are compared separately, with a tolerance.
    """
    layout, numbers = [], []
    for line in text.strip().splitlines():
        if TABLE_BORDER.match(line):
            layout.append(("border", line.count("+")))
            continue
        layout.append(tuple(NUMBER.sub("#", cell.strip()) for cell in line.split("|")))
        numbers += [float(n) for n in NUMBER.findall(line)]
    return layout, numbers


def test_printed_layout_separates_labels_and_numbers():
    wide = "+---+-----+\n| P1 | 33.02266508568132 |\n+---+-----+\nError (MPJPE): 1e-05 mm"
    narrow = "+---+----+\n|  P1  | 33.0226650856813 |\n+---+----+\nError (MPJPE): 1e-05 mm"
    assert printed_layout(wide)[0] == printed_layout(narrow)[0] == [
        ("border", 3), ("", "P1", "#", ""), ("border", 3), ("Error (MPJPE): # mm",)]
    assert printed_layout(wide)[1] == [33.02266508568132, 1e-05]
    assert printed_layout(wide.replace("P1", "P2"))[0] != printed_layout(wide)[0]


@pytest.mark.parity
@pytest.mark.parametrize("run", range(len(META["runs"])))
def test_evaluate_matches_original(run):
    from train import evaluate
    ref = META["runs"][run]
    args = Config(ref["args"])
    out = io.StringIO()
    with redirect_stdout(out):
        e1, e2, results_all = evaluate(args, StandIn(), loader(), reader())
    # float64 errors of float32 predictions, de-normalised in float32
    assert_float_close(e1, ref["e1"], precision=np.float32)
    assert_float_close(e2, ref["e2"], precision=np.float32)
    layout, numbers = printed_layout(out.getvalue())
    ref_layout, ref_numbers = printed_layout(ref["stdout"])
    assert layout == ref_layout  # the same lines, labels and table shape
    assert_float_close(numbers, ref_numbers, precision=np.float32)
    if f"run{run}_results_all" in EVAL:
        np.testing.assert_allclose(results_all, EVAL[f"run{run}_results_all"], rtol=1e-5, atol=1e-3)
