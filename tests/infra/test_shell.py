"""The project's shell scripts pass shellcheck (quoting, word splitting, failed cd …).

Every tracked file that is a shell script (a sh/bash shebang or a .sh name) is checked, with
`source` followed relative to the script (-x -P SCRIPTDIR). shellcheck comes from make deps
(infra/deps.sh); without it this test fails rather than skips.
"""
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+)?(/bin/|/usr/bin/)?(ba)?sh\b")


def shell_scripts():
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True,
                           capture_output=True).stdout.split(b"\0")
    out = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            head = f.readline()
        if path.suffix == ".sh" or SHEBANG.match(head):
            out.append(path)
    return out


def test_the_stack_script_is_among_the_checked():
    names = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    assert {"infra/local/stack", "infra/deps.sh", ".ci/run"} <= names, names


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shellcheck_clean(script):
    assert shutil.which("shellcheck"), "shellcheck is not installed: run make deps"
    p = subprocess.run(["shellcheck", "-x", "-P", "SCRIPTDIR", "-f", "gcc", str(script)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
