"""The bad-input audit (tests/audit_bad_inputs.py): every script, run as a user runs it, fails cleanly.

The default suite runs the fast subset; ``pytest -m slow`` runs every case.
"""
import pytest

import audit_bad_inputs


def _check(result):
    assert not result["failed"], f"not handled cleanly: {result['failed']}"
    return result


def test_fast_subset_of_the_audit():
    result = _check(audit_bad_inputs.main(["--fast"]))
    assert result["ok"] == result["cases"] >= 16


@pytest.mark.slow
def test_whole_audit():
    result = _check(audit_bad_inputs.main([]))
    assert result["cases"] >= 90
