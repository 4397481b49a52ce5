"""The demo clock: story time per real second, read from the environment without ever failing a DAG parse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from toolkit.devserver.clock import TIME_SCALE_ENV, check_scale, describe_scale, story, story_text, time_scale


def test_real_time_outside_the_story_and_the_scale_inside_it():
    assert time_scale({}) == 1.0
    assert time_scale({TIME_SCALE_ENV: "60"}) == 60.0
    assert story(timedelta(minutes=30), 60) == timedelta(seconds=30)


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "inf", "fast", "601"])
def test_a_bad_scale_runs_in_real_time_and_is_logged(raw, caplog):
    assert time_scale({TIME_SCALE_ENV: raw}) == 1.0
    assert TIME_SCALE_ENV in caplog.text


def test_check_scale_names_the_range():
    with pytest.raises(ValueError, match="between 1 .real time. and 600"):
        check_scale(0.5)


def test_sla_durations_keep_their_natural_unit():
    assert [story_text(timedelta(minutes=45), s) for s in (1, 60, 120)] == ["45m", "45s", "22s"]
    assert story_text(timedelta(hours=2), 1) == "2h" and story_text(timedelta(seconds=1), 600) == "1s"
    assert describe_scale(60) == "1 s = 1 min" and describe_scale(30) == "1 s = 30 s"
    assert describe_scale(1) == "real time"

