"""store.canned: replies stored per audience, read as one user's usable set, searched, changed and deleted,
with the records' refusals (a shortcut taken in its audience, a full audience, an unknown id) as store facts."""

from __future__ import annotations

import pytest

from switchboard.store import canned
from switchboard.store.canned import (
    MAX_PER_AUDIENCE, Full, audience_of, delete_reply, get_reply, insert_reply, replies_for, search,
    unknown_variables, update_reply, usable_audiences,
)
from switchboard.store.documents import CannedReply
from switchboard.store.errors import Duplicate, NotFound


def add(scope: str, owner: str, shortcut: str, title: str = "", text: str = "Hello!") -> canned.Canned:
    return insert_reply(scope, owner, shortcut=shortcut, title=title, text=text, by="adm-00000001")


def test_a_reply_is_stored_with_its_audience_and_who_made_it_and_read_back_by_id(store: str) -> None:
    reply = add("group", "billing", "refund", "Refunds", "Refunds take {{team.name}} 5 days.")
    assert reply.id.startswith("cr-") and len(reply.id) == 19
    assert get_reply(reply.id) == reply
    stored = CannedReply.objects(id=reply.id).first()
    assert (stored.scope, stored.owner, stored.audience) == ("group", "billing", "group:billing")
    assert (reply.created_by, reply.created_at is not None, reply.updated_at, reply.updated_by) == \
        ("adm-00000001", True, None, "")
    assert get_reply("cr-0000000000000000") is None


def test_a_user_uses_the_global_replies_their_own_and_their_groups_but_not_anothers_or_other_groups(
        store: str) -> None:
    add("global", "", "hello")
    add("personal", "a-00000001", "mine")
    add("personal", "a-00000002", "theirs")
    add("group", "billing", "refund")
    add("group", "sales", "discount")
    usable = replies_for(usable_audiences("a-00000001", ["billing"]))
    assert [r.shortcut for r in usable] == ["hello", "mine", "refund"]


def test_the_set_is_ordered_by_shortcut_then_the_most_particular_scope_first(store: str) -> None:
    add("global", "", "greet", text="from everyone")
    add("group", "billing", "greet", text="from billing")
    add("personal", "a-00000001", "greet", text="my own")
    add("global", "", "bye")
    usable = replies_for(usable_audiences("a-00000001", ["billing"]))
    assert [(r.shortcut, r.scope) for r in usable] == [("bye", "global"), ("greet", "personal"),
                                                        ("greet", "group"), ("greet", "global")]


def test_a_shortcut_is_unique_within_its_audience_only(store: str) -> None:
    add("group", "billing", "refund")
    with pytest.raises(Duplicate, match="/refund is taken among the replies of group billing"):
        add("group", "billing", "refund")
    add("group", "sales", "refund")
    add("personal", "billing", "refund")  # a user id that looks like the group's is another audience
    assert len(replies_for(["group:billing", "group:sales", "personal:billing"])) == 3


def test_a_change_keeps_scope_and_owner_and_notes_when_and_by_whom(store: str) -> None:
    reply = add("group", "billing", "refund", "Refunds", "Old text")
    changed = update_reply(reply.id, by="s-00000001", text="New text", title="Refund times")
    assert (changed.shortcut, changed.title, changed.text) == ("refund", "Refund times", "New text")
    assert (changed.scope, changed.owner, changed.created_at, changed.created_by) == \
        ("group", "billing", reply.created_at, "adm-00000001")
    assert changed.updated_by == "s-00000001"
    assert changed.updated_at is not None and reply.created_at is not None
    assert changed.updated_at >= reply.created_at  # stored as a date, not a string
    assert update_reply(reply.id, by="x") == changed  # nothing to change: nothing changes


def test_a_change_to_a_shortcut_taken_in_the_audience_is_refused_and_changes_nothing(store: str) -> None:
    add("personal", "a-00000001", "hi")
    other = add("personal", "a-00000001", "bye")
    with pytest.raises(Duplicate, match="/hi is taken among the personal replies of user a-00000001"):
        update_reply(other.id, by="a-00000001", shortcut="hi", text="changed")
    assert get_reply(other.id) == other


def test_changing_or_deleting_an_unknown_reply_is_not_found(store: str) -> None:
    with pytest.raises(NotFound, match="no canned reply cr-0000000000000000"):
        update_reply("cr-0000000000000000", by="x", text="y")
    reply = add("global", "", "hello")
    delete_reply(reply.id)
    assert get_reply(reply.id) is None
    with pytest.raises(NotFound):
        delete_reply(reply.id)


def test_an_audience_holds_at_most_1000_replies(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_PER_AUDIENCE == 1000
    monkeypatch.setattr(canned, "MAX_PER_AUDIENCE", 3)
    for name in ("a", "b", "c"):
        add("global", "", name)
    with pytest.raises(Full, match="the global replies number 3 already"):
        add("global", "", "d")
    add("group", "billing", "d")  # another audience is not full


def test_values_outside_the_bounds_are_a_programming_error_here(store: str) -> None:
    for fields in ({"shortcut": "Greet"}, {"shortcut": "x" * 33}, {"shortcut": ""}, {"title": "x" * 101},
                   {"text": ""}, {"text": "x" * 4001}):
        with pytest.raises(ValueError):
            insert_reply("global", "", **{"shortcut": "ok", "title": "", "text": "t", **fields}, by="x")
    with pytest.raises(ValueError, match="needs an owner"):
        audience_of("group", "")
    with pytest.raises(ValueError, match="not canned reply fields: scope"):
        update_reply("cr-0000000000000000", by="x", scope="global")
    assert replies_for([]) == []


def test_search_is_case_insensitive_and_puts_shortcut_matches_before_titles_before_texts(store: str) -> None:
    add("global", "", "zz", "Delivery times", "Parcels arrive in 2 days.")
    add("global", "", "bye", "Goodbye", "Thanks, and see you soon on DELIVERY day.")
    add("global", "", "delivery", "Where is it", "Let me check.")
    add("global", "", "late-delivery", "Late parcel", "Sorry!")
    add("global", "", "refund", "Refunds", "5 days.")
    every = replies_for(["global"])
    assert [r.shortcut for r in search(every, "DELIV")] == ["delivery", "late-delivery", "zz", "bye"]
    assert [r.shortcut for r in search(every, "  ")] == [r.shortcut for r in every]
    assert search(every, "nowhere") == []


def test_unknown_variables_are_named_once_in_order_and_known_ones_pass() -> None:
    text = "Hi {{visitor.name}}, {{ agent.name }} here ({{team.name}}, {{visitor.email}}). {{visitr.name}} {{x}} {{x}}"
    assert unknown_variables(text) == ["visitr.name", "x"]
    assert unknown_variables("braces { alone } and {{}}") == [""]
    assert unknown_variables("no variables") == []


def test_a_deleted_groups_replies_go_with_it_and_the_others_stay(store: str) -> None:
    CannedReply.objects().delete()
    canned.insert_reply("group", "sales", shortcut="hi", title="", text="Hi from sales", by="boss")
    canned.insert_reply("group", "support", shortcut="hi", title="", text="Hi from support", by="boss")
    canned.insert_reply("global", "", shortcut="bye", title="", text="Bye", by="boss")

    assert canned.delete_group_replies("sales") == 1

    assert sorted(r.text for r in canned.replies_for(["group:sales", "group:support", "global"])) == [
        "Bye", "Hi from support"]
