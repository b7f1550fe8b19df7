"""tools/demo_baselines.py scores the baselines with the H36M protocol."""
import numpy as np
import pytest

from conftest import write_pose3d_config
from lib.utils.errors import UserError
from lib.utils.tools import get_config
from tools import demo_baselines


def test_baselines_on_the_synthetic_h36m_data(tmp_path):
    args = get_config(write_pose3d_config(tmp_path, "tiny"))
    scores = demo_baselines.score_all(args, checkpoint=None)
    assert set(scores) == {"zero depth", "linear"}
    for errors in scores.values():
        assert np.isfinite(errors["e1"]) and errors["e2"] <= errors["e1"]
    table = demo_baselines.markdown_table(scores)
    assert "| zero depth |" in table and "Walking" in table


def test_linear_fit_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 17, 3))
    weights = rng.normal(size=(52, 51))
    y = (np.concatenate([x.reshape(200, -1), np.ones((200, 1))], 1) @ weights).reshape(200, 17, 3)
    fitted = demo_baselines.fit_linear(x, y)
    np.testing.assert_allclose(demo_baselines.apply_linear(fitted, x), y - y[:, :1], atol=1e-3)


def test_a_fresh_clone_is_told_to_make_the_demo_data(tmp_path):
    config = write_pose3d_config(tmp_path, "nodata", dt_root=str(tmp_path), dt_file="h36m_demo.pkl")
    with pytest.raises(UserError, match=r"demo data not found: .*h36m_demo.pkl; make it first with 'pip install "
                                        r"pybullet && python tools/prepare_demo_data.py'"):
        demo_baselines.main(["--config", config, "--json", str(tmp_path / "scores.json")])
    assert not (tmp_path / "scores.json").exists()
