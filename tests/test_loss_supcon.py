"""SupConLoss against the original's values (incl. its NaN for an anchor without positives)."""
import numpy as np
import pytest
import torch

from conftest import fixture_path
from lib.model.loss_supcon import SupConLoss

D = np.load(fixture_path("tasks", "action", "supcon.npz"))

# fixture key -> (constructor kwargs, features key, forward kwargs as fixture keys)
CASES = {
    "loss_all_labels_t007": ({}, "features", {"labels": "labels"}),
    "loss_one_labels_t007": ({"contrast_mode": "one"}, "features", {"labels": "labels"}),
    "loss_all_nolabels_t007": ({}, "features", {}),
    "loss_all_mask_t007": ({}, "features", {"mask": "mask"}),
    "loss_all_labels_t01": ({"temperature": 0.1}, "features", {"labels": "labels"}),
    "loss_all_labels_t05_base007": ({"temperature": 0.5, "base_temperature": 0.07}, "features",
                                    {"labels": "labels"}),
    "loss_all_labels_4d": ({}, "features_4d", {"labels": "labels"}),
    "loss_oneview_pairs_t01": ({"temperature": 0.1}, "features_1view", {"labels": "labels_1view"}),
}


def run(kwargs, features, forward):
    loss = SupConLoss(**kwargs)(torch.from_numpy(D[features]),
                                **{k: torch.from_numpy(D[v]) for k, v in forward.items()})
    assert loss.shape == () and loss.dtype == torch.float32
    return loss


@pytest.mark.parity
@pytest.mark.parametrize("key", list(CASES))
def test_matches_original(key):
    np.testing.assert_allclose(run(*CASES[key]).item(), D[key], rtol=1e-5)


def test_anchor_without_positive_gives_nan_like_the_original():
    assert np.isnan(D["loss_oneview_singleton_t01"])
    loss = run({"temperature": 0.1}, "features_1view", {"labels": "labels_1view_singleton"})
    assert torch.isnan(loss)


def test_gradient_flows():
    features = torch.from_numpy(D["features"]).clone().requires_grad_(True)
    SupConLoss(temperature=0.1)(features, labels=torch.from_numpy(D["labels"])).backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


def test_bad_arguments():
    features = torch.from_numpy(D["features"])
    labels = torch.from_numpy(D["labels"])
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        SupConLoss()(features[:, 0])
    with pytest.raises(ValueError, match="Cannot define both"):
        SupConLoss()(features, labels=labels, mask=torch.from_numpy(D["mask"]))
    with pytest.raises(ValueError, match=r"Num of labels \(5\) does not match num of features \(6\)"):
        SupConLoss()(features, labels=labels[:5])
    with pytest.raises(ValueError, match="Unknown mode"):
        SupConLoss(contrast_mode="two")
