"""The suite finds a server binary the way the README says, or says how to
build one."""

import os
import pathlib
import tempfile

import pytest

from binary import HOW, find_binary


def touch(path: pathlib.Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.utime(path, (mtime, mtime))


def test_the_newest_build_is_used_and_the_variable_wins():
    repo = pathlib.Path(tempfile.mkdtemp())
    release = repo / "target" / "release" / "partnership"
    debug = repo / "target" / "debug" / "partnership"
    touch(release, 2_000_000_000)
    assert find_binary(repo, env={}) == str(release)
    touch(debug, 2_000_000_100)
    assert find_binary(repo, env={}) == str(debug)
    assert find_binary(repo, env={"PARTNERSHIP_BIN": "/opt/p"}) == "/opt/p"


def test_without_a_build_the_error_says_how_to_make_one():
    with pytest.raises(FileNotFoundError) as e:
        find_binary(pathlib.Path(tempfile.mkdtemp()), env={})
    assert str(e.value) == HOW
    assert "cargo build --release" in HOW and "PARTNERSHIP_BIN" in HOW
