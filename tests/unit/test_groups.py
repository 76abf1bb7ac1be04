"""Selector matching and group status, pure."""

from __future__ import annotations

import pytest

from vas_core.selectors import matches
from vas_operator.groups import CameraFacts, GroupFacts, changed, group_status


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
    ],
)
def test_selector(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert matches(selector, labels) is expected  # type: ignore[arg-type]


def cam(name: str, ready: bool, site: str = "x", reason: str = "Mounted") -> CameraFacts:
    return CameraFacts(name, (("site", site),), ready, reason)


def test_group_status_names_the_first_failures() -> None:
    group = GroupFacts("g", "uid", 2, {"matchLabels": {"site": "x"}}, {})
    cams = [cam("b", True), cam("a", False, reason="Timeout"), cam("z", True, site="y")]
    cams += [cam(f"f{i}", False, reason="NotFound") for i in range(4)]
    status = group_status(group, cams)
    assert (status["members"], status["readyMembers"]) == (6, 1)
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "Degraded")
    assert ready["message"] == (
        "5 of 6 cameras are not Ready: a (Timeout), f0 (NotFound), f1 (NotFound) and 2 more"
    )
    assert status["observedGeneration"] == 2


def test_unchanged_group_is_not_rewritten() -> None:
    group = GroupFacts("g", "uid", 1, {}, {})
    first = group_status(group, [cam("a", True)])
    again = group_status(GroupFacts("g", "uid", 1, {}, first), [cam("a", True)])
    assert not changed(first, again)
    assert changed(first, group_status(GroupFacts("g", "uid", 1, {}, first), []))
