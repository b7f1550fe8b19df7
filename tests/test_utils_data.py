"""lib/utils/utils_data.py: flip_data against the original's outputs (spec 02 §4.3)."""
import numpy as np
import pytest
import torch

from conftest import fixture_path
from lib.utils.utils_data import flip_data

DATA_UTILS = np.load(fixture_path("pose3d", "data_utils.npz"))


@pytest.mark.parity
@pytest.mark.parametrize("case", ["3d", "4d", "4d_c2"])
def test_flip_data_matches_the_original(case):
    """A permutation and a sign change: exact, for NumPy arrays and torch tensors alike."""
    x, expected = DATA_UTILS[f"flip_in_{case}"], DATA_UTILS[f"flip_out_{case}"]
    out = flip_data(x)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    tensor = torch.from_numpy(x.copy())
    torch.testing.assert_close(flip_data(tensor), torch.from_numpy(expected), rtol=0, atol=0)
    np.testing.assert_array_equal(tensor.numpy(), x)  # the input is not modified
    np.testing.assert_array_equal(flip_data(out), x)
