"""The demo's own files: where its DAGs are, and the story home it may wipe."""

from __future__ import annotations

import pytest


def test_the_demo_finds_the_example_dags_of_a_clone():
    """`./dev demo` without --dags: the DAGs folder beside the package (it once looked inside the package)."""
    from pathlib import Path

    from toolkit.devserver.demo import repo_dags_folder
    from toolkit.devserver.story import STORY_FILES

    folder = repo_dags_folder()
    assert folder == Path(__file__).resolve().parents[3] / "dags"
    assert all((folder / name).exists() for name in STORY_FILES)


def test_the_story_home_is_made_afresh_only_when_the_story_made_it(tmp_path):
    from toolkit.devserver.story import MARKER, prepare_home
    from toolkit.errors import BadInput

    home = tmp_path / "story"
    dags = prepare_home(home)
    (home / "airflow.db").write_text("old story")
    assert prepare_home(home) == dags and not (home / "airflow.db").exists() and (home / MARKER).exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    with pytest.raises(BadInput, match="not made by the story"):
        prepare_home(mine)
    assert (mine / "precious.txt").read_text() == "keep"
