import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, excluded from the default suite (run with -m slow)")


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    # the fixtures were recorded with one thread; fewer threads also keep CI predictable
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
