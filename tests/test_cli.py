"""lib/utils/cli.py: a user error is one 'error:' line and exit code 2; --debug shows the traceback."""
import contextlib
import io
import os
import subprocess
import sys

import pytest

from conftest import REPO
from lib.utils.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, one_line, run_cli
from lib.utils.errors import DataError, UserError


def _run(main, argv=(), env=None):
    """``run_cli(main, argv)`` → (exit code, stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.MonkeyPatch.context() as mp:
        mp.delenv("MOTIONBERT_DEBUG", raising=False)
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        try:
            run_cli(main, list(argv))
        except SystemExit as e:
            return e.code, stderr.getvalue()
    return 0, stderr.getvalue()


def _raiser(error):
    def main(argv):
        raise error
    return main


def test_user_errors_are_one_line_with_exit_code_2():
    code, err = _run(_raiser(DataError("data.pkl: split 'x'\n  is missing")))
    assert code == EXIT_USER_ERROR == 2
    assert err == "error: data.pkl: split 'x' is missing\n"
    for error in (FileNotFoundError("config file not found: c.yaml"), PermissionError("p"), IsADirectoryError("d")):
        code, err = _run(_raiser(error))
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_debug_flag_and_environment_show_the_traceback():
    with pytest.raises(UserError):
        _run(_raiser(UserError("x")), ["--debug"])
    with pytest.raises(UserError):
        _run(_raiser(UserError("x")), env={"MOTIONBERT_DEBUG": "1"})
    assert _run(_raiser(UserError("x")), env={"MOTIONBERT_DEBUG": "0"})[0] == 2


def test_bugs_keep_their_traceback_and_ctrl_c_exits_130():
    with pytest.raises(ZeroDivisionError):
        _run(_raiser(ZeroDivisionError("bug")))
    code, err = _run(_raiser(KeyboardInterrupt()))
    assert code == EXIT_INTERRUPTED == 130 and "interrupted" in err


def test_an_error_raised_in_a_dataloader_worker_keeps_only_its_message():
    wrapped = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                        "last):\n  File \"x.py\", line 3, in f\n    raise DataError(m)\n"
                        "lib.utils.errors.DataError: clip 00000003.pkl has no 2D input")
    assert one_line(wrapped) == "clip 00000003.pkl has no 2D input"


@pytest.mark.parametrize("script, example", [("train.py", "configs/pose3d/"), ("train_action.py", "configs/action/"),
                                             ("train_action_1shot.py", "configs/action/MB_ft_NTU120_oneshot"),
                                             ("train_mesh.py", "configs/mesh/")])
def test_training_help_shows_a_config_of_its_own_task(script, example):
    module = __import__(script[:-3])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.parse_args(["--help"])
    help_text = " ".join(out.getvalue().split())
    assert f"YAML config, e.g. {example}" in help_text and "--debug" in help_text


def test_a_script_run_from_the_shell_prints_one_line():
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "strip_checkpoint.py"), "nope.bin",
                             "out.bin"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and result.stderr == "error: checkpoint not found: nope.bin\n"
