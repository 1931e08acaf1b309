"""store.groups: groups created and listed, membership stored on the agent, refusals as store facts."""

from __future__ import annotations

import pytest

from switchboard.store.errors import Duplicate, NotFound
from switchboard.store.groups import add_member, insert_group, list_groups, missing_groups, remove_member
from switchboard.store.users import get_user
from tests.store.test_archive import add_agent


def test_a_group_is_stored_once(store: str) -> None:
    group = insert_group("billing", name="Billing", policy="last_agent_first", max_queue=10, last_agent_wait_s=20.0)
    assert (group.id, group.created_at is not None) == ("billing", True)
    with pytest.raises(Duplicate, match="group billing exists"):
        insert_group("billing")
    assert [(g.id, g.name, g.policy, g.max_queue) for g in list_groups()] == [
        ("billing", "Billing", "last_agent_first", 10)]


def test_groups_are_listed_by_id_and_unknown_ones_named_in_the_order_asked(store: str) -> None:
    for group_id in ("sales", "billing"):
        insert_group(group_id)
    assert [g.id for g in list_groups()] == ["billing", "sales"]
    assert missing_groups(["x", "sales", "a"]) == ["x", "a"]
    assert missing_groups([]) == []


def test_joining_and_leaving_say_whether_anything_changed(store: str) -> None:
    insert_group("billing")
    add_agent("a1", "ada@example.com", [])
    assert add_member("billing", "a1") and not add_member("billing", "a1")
    user = get_user("a1")
    assert user is not None and list(user.groups) == ["billing"]
    assert remove_member("billing", "a1") and not remove_member("billing", "a1")


def test_membership_needs_the_group_first_then_the_agent(store: str) -> None:
    insert_group("billing")
    with pytest.raises(NotFound, match="no group nowhere"):
        add_member("nowhere", "a9")
    with pytest.raises(NotFound, match="no agent a9"):
        remove_member("billing", "a9")
