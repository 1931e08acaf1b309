"""store.users: users found, created and changed on a real embedded store, refusals as store facts."""

from __future__ import annotations

import pytest

from switchboard.store.documents import User
from switchboard.store.errors import Duplicate, NotFound
from switchboard.store.users import (
    DEFAULT_AGENT_NAME, AgentSummary, agent_name, agent_names, agent_summaries, change_password, delete_user,
    deleted_email, get_agent, get_user, get_user_by_email, insert_user, list_agents, list_users,
    replace_password_hash, set_active, set_avatar_url, set_email, update_agent, update_user, user_status,
)
from switchboard.store.visitors import get_visitor
from tests.store.test_archive import add_agent


def test_users_and_visitors_are_found_by_id_and_users_by_email_in_any_case(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    user = get_user_by_email(" Ada@Example.COM ")
    assert user is not None and user.id == "a1"
    assert get_user("a1") is not None and get_user("nobody") is None
    assert get_user_by_email("nobody@example.com") is None
    assert get_visitor("v1") is None


def test_a_new_user_gets_an_id_of_its_role_and_a_normalised_email(store: str) -> None:
    agent = insert_user("agent", " Ann@Example.COM", "hash", nickname="Ann", saturation=3, groups=("billing",))
    admin = insert_user("admin", "root@example.com", "hash", saturation=1)
    assert agent.id.startswith("a-") and len(agent.id) == 10 and admin.id.startswith("adm-")
    stored = get_user(agent.id)
    assert stored is not None
    assert (stored.email, stored.nickname, stored.saturation, list(stored.groups)) == (
        "ann@example.com", "Ann", 3, ["billing"])


def test_a_taken_email_is_a_duplicate_whatever_the_role(store: str) -> None:
    insert_user("agent", "ann@example.com", "hash", saturation=5)
    with pytest.raises(Duplicate, match="a user with email ann@example.com exists"):
        insert_user("admin", "ANN@example.com", "other", saturation=1)
    assert User.objects(email="ann@example.com").count() == 1


def test_an_admin_is_no_agent(store: str) -> None:
    admin = insert_user("admin", "root@example.com", "hash", saturation=1)
    agent = insert_user("agent", "ann@example.com", "hash", saturation=5)
    assert get_agent(admin.id) is None and get_agent(agent.id) is not None
    assert [u.id for u in list_agents()] == [agent.id]
    with pytest.raises(NotFound, match=f"no agent {admin.id}"):
        update_agent(admin.id, saturation=2)


def test_agents_are_listed_by_email_and_summarised_by_nickname_without_contact_details(store: str) -> None:
    add_agent("a2", "b@example.com", ["sales"])
    add_agent("a1", "c@example.com", [])
    User(id="a3", roles=["agent"], email="a@example.com", password_hash="x", nickname="").save()
    assert [u.email for u in list_agents()] == ["a@example.com", "b@example.com", "c@example.com"]
    assert agent_summaries() == [AgentSummary("a1", "A1", ()), AgentSummary("a2", "A2", ("sales",)),
                                 AgentSummary("a3", "", ())]


def test_an_update_returns_the_agent_after_it_and_the_saturation_before_it(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    after, before = update_agent("a1", nickname="Ada", saturation=7)
    assert (after.nickname, after.saturation, before) == ("Ada", 7, 3)
    unchanged, before = update_agent("a1")
    assert (unchanged.nickname, before) == ("Ada", 7)
    with pytest.raises(NotFound, match="no agent a9"):
        update_agent("a9", nickname="Nobody")


def test_a_password_change_wins_only_against_the_token_version_it_was_checked_against(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    assert change_password("a1", 0, "new-hash")
    assert not change_password("a1", 0, "racing-hash")
    user = get_user("a1")
    assert user is not None and (user.password_hash, user.token_version) == ("new-hash", 1)


def test_a_rehash_replaces_only_the_hash_it_was_made_from(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    replace_password_hash("a1", "not-the-hash", "stronger")
    replace_password_hash("a1", "x", "stronger")
    user = get_user("a1")
    assert user is not None and (user.password_hash, user.token_version) == ("stronger", 0)


def test_agents_are_named_by_nickname_else_by_the_default_name_and_unknown_ones_by_id(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    User(id="a2", roles=["agent"], email="b@example.com", password_hash="x", nickname="").save()
    assert (agent_name("a1"), agent_name("a2"), agent_name("a9")) == ("A1", DEFAULT_AGENT_NAME, "a9")
    assert agent_names(["a1", "a2", "a9"]) == {"a1": "A1", "a2": "Agent", "a9": "a9"}


def test_a_deleted_user_keeps_its_nickname_and_frees_its_email(store: str) -> None:
    add_agent("a1", "ada@example.com", ["sales"])
    before = delete_user("a1")
    assert before.email == "ada@example.com"
    user = get_user("a1")
    assert user is not None and user.deleted_at is not None
    assert (user.email, user.password_hash, list(user.groups), user.active, user.token_version) == (
        deleted_email("a1"), "", [], False, 1)
    assert agent_name("a1") == "A1" and user_status(user) == "deleted"
    assert get_agent("a1") is None and list_users() == []
    insert_user("agent", "ada@example.com", "hash", saturation=3)  # free again
    with pytest.raises(NotFound):
        delete_user("a1")


def test_deactivation_bumps_the_token_version_and_reactivation_does_not(store: str) -> None:
    add_agent("a1", "ada@example.com", [])
    assert (set_active("a1", False).active, get_user("a1").token_version) == (False, 1)  # type: ignore[union-attr]
    user = set_active("a1", True)
    assert (user.active, user.token_version, user_status(user)) == (True, 1, "active")


def test_an_update_changes_only_the_fields_given_and_an_email_move_refuses_a_taken_one(store: str) -> None:
    add_agent("a1", "ada@example.com", ["sales"])
    add_agent("a2", "bob@example.com", [])
    before, after = update_user("a1", nickname="", phone="+1 5", roles=["agent", "supervisor"], supervises=["sales"])
    assert (before.nickname, after.nickname, after.phone, list(after.roles), list(after.supervises)) == (
        "A1", "", "+1 5", ["agent", "supervisor"], ["sales"])
    assert list(after.groups) == ["sales"]
    with pytest.raises(Duplicate):
        set_email("a1", "BOB@example.com")
    assert set_email("a1", " New@Example.com").email == "new@example.com"
    assert set_avatar_url("a1", "/api/images/avatar-a1?v=1").avatar_url == "/api/images/avatar-a1?v=1"
    with pytest.raises(NotFound):
        update_user("a9", nickname="x")
