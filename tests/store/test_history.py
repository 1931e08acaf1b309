"""store.history: search, pagination, scope, transcripts and visitors on a small hand-made history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from switchboard.store.documents import Conversation, Message, Rating, User, Visitor
from switchboard.store.history import HistoryFilter, HistoryScope, iter_conversations, search_conversations, \
    transcript, visitor_history
from switchboard.store.reports import rebuild
from switchboard.store.search_terms import BUCKETS, bucket_of, terms_of

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
ADMIN = HistoryScope("adm", is_admin=True)
ANN = HistoryScope("a-ann", is_agent=True)  # served c1, c2 (transferred to Bob), c4
BOB = HistoryScope("a-bob", is_agent=True)
SUE = HistoryScope("s-sue", groups=frozenset({"billing"}))  # supervises billing


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def make_history() -> None:
    """Five conversations over three days; c5 shares c4's millisecond (the keyset's tie-break)."""
    User(id="a-ann", roles=["agent"], email="ann@example.com", nickname="Ann").save()
    User(id="a-bob", roles=["agent"], email="bob@example.com", nickname="Bob").save()
    Visitor(id="v-1", email="jo@example.com", name="Jo", channel="widget", created_at=at(-1), seen_at=at(50)).save()
    Visitor(id="v-2", email="max@example.com", name="Max", channel="email", created_at=at(0)).save()
    rows = [
        ("c1", "v-1", "widget", "billing", "a-ann", ["a-ann"], "closed", at(0), at(1)),
        ("c2", "v-2", "email", "sales", "a-bob", ["a-ann", "a-bob"], "closed", at(24), at(25)),
        ("c3", "v-1", "widget", "billing", None, [], "abandoned", at(30), at(30.5)),
        ("c4", "v-2", "email", "billing", "a-ann", ["a-ann"], "assigned", at(48), None),
        ("c5", "v-1", "widget", "sales", None, [], "bot", at(48), None),
    ]
    for cid, visitor, channel, group, agent, participants, phase, created, closed in rows:
        Conversation(id=cid, visitor=visitor, channel=channel, group=group, agent=agent, participants=participants,
                     phase=phase, created_at=created, closed_at=closed, last_seq=3).save()
    texts = {"c1": "My invoice is wrong", "c2": "Where is my order?", "c3": "hello?", "c4": "Refund please",
             "c5": "Opening hours?"}
    for cid, text in texts.items():
        created = next(r[7] for r in rows if r[0] == cid)
        Message(conversation=cid, seq=1, sender_role="visitor", sender_id="", text=text, at=created).save()
        Message(conversation=cid, seq=2, sender_role="bot", text="Let me check.", at=created,
                extra={"decision": "suggest", "sources": [{"document": "faq.yaml"}]}).save()
        Message(conversation=cid, seq=3, sender_role="agent", sender_id="a-ann", kind="note", text="VIP customer",
                at=created).save()
    Conversation.objects(id="c2").update(set__transfers=[{"at": at(24.5).timestamp(), "from_agent": "a-ann",
                                                          "to_agent": "a-bob", "to_group": None}])
    Rating(id="c1", visitor="v-1", agent="a-ann", score=5, comment="great", at=at(1)).save()
    Rating(id="c2", visitor="v-2", agent="a-bob", score=2, comment="=cmd|' /C calc'!A0", at=at(25)).save()
    rebuild()  # the word index, from the raw records (as on a store written before it existed)


def ids(f: HistoryFilter = HistoryFilter(), scope: HistoryScope = ADMIN, **kw: object) -> list[str]:
    return [i["id"] for i in search_conversations(f, scope, **kw).items]  # type: ignore[arg-type]


@pytest.fixture
def history(store: str) -> None:
    make_history()


def test_newest_first_with_ties_broken_by_id(history: None) -> None:
    assert ids() == ["c5", "c4", "c3", "c2", "c1"]


@pytest.mark.parametrize("f, expected", [
    (HistoryFilter(visitor="v-1"), ["c5", "c3", "c1"]),
    (HistoryFilter(email="MAX@example.com"), ["c4", "c2"]),
    (HistoryFilter(email="nobody@example.com"), []),
    (HistoryFilter(agent="a-ann"), ["c4", "c2", "c1"]),
    (HistoryFilter(agent="a-bob"), ["c2"]),
    (HistoryFilter(group="billing"), ["c4", "c3", "c1"]),
    (HistoryFilter(channel="email"), ["c4", "c2"]),
    (HistoryFilter(phase="closed"), ["c2", "c1"]),
    (HistoryFilter(rating=2), ["c2"]),
    (HistoryFilter(q="INVOICE"), ["c1"]),
    (HistoryFilter(q="vip customer"), ["c5", "c4", "c3", "c2", "c1"]),  # notes are searched too
    (HistoryFilter(since=at(24), until=at(48)), ["c3", "c2"]),
    (HistoryFilter(since=at(24), group="billing", q="hello"), ["c3"]),
])
def test_each_filter(history: None, f: HistoryFilter, expected: list[str]) -> None:
    assert ids(f) == expected


def test_pages_follow_the_keyset_without_gaps_or_repeats(history: None) -> None:
    seen: list[str] = []
    page = search_conversations(HistoryFilter(), ADMIN, limit=2)
    while True:
        seen += [i["id"] for i in page.items]
        if page.next is None:
            break
        page = search_conversations(HistoryFilter(), ADMIN, limit=2, after=page.next)
    assert seen == ["c5", "c4", "c3", "c2", "c1"]


def test_a_text_search_without_a_word_scans_at_most_its_budget_and_says_where_to_go_on(history: None) -> None:
    # "?" has no word to look up: the candidates' messages are read, at most `budget` conversations a page
    page = search_conversations(HistoryFilter(q="?"), ADMIN, budget=2)
    assert [i["id"] for i in page.items] == ["c5"] and page.next is not None  # c5 and c4 read
    rest = search_conversations(HistoryFilter(q="?"), ADMIN, budget=2, after=page.next)
    assert [i["id"] for i in rest.items] == ["c3", "c2"] and rest.next is not None
    last = search_conversations(HistoryFilter(q="?"), ADMIN, budget=2, after=rest.next)
    assert last.items == [] and last.next is None


@pytest.mark.parametrize("q, scope, expected", [
    ("refund", ADMIN, ["c4"]),
    ("REFUND Please", ADMIN, ["c4"]),
    ("refund please", BOB, []),  # outside Bob's scope
    ("refun", ADMIN, []),  # whole words only
    ("my", ADMIN, ["c2", "c1"]),
    ("my order", ADMIN, ["c2"]),
    ("order my", ADMIN, []),  # every word is in c2, the phrase is not
])
def test_a_text_search_takes_its_candidates_from_the_word_index(history: None, q: str, scope: HistoryScope,
                                                                 expected: list[str]) -> None:
    assert ids(HistoryFilter(q=q), scope) == expected
    page = search_conversations(HistoryFilter(q=q), scope, limit=1)
    if expected:
        assert page.items[0]["id"] == expected[0] and q.split()[0].lower() in page.items[0]["snippet"].lower()


@pytest.mark.parametrize("scope, expected", [
    (ADMIN, ["c5", "c4", "c3", "c2", "c1"]),
    (ANN, ["c4", "c2", "c1"]),
    (BOB, ["c2"]),
    (SUE, ["c4", "c3", "c1"]),
    (HistoryScope("s-sue", groups=frozenset({"billing"}), is_agent=True), ["c4", "c3", "c1"]),
    (HistoryScope("nobody"), []),
])
def test_each_role_sees_its_scope(history: None, scope: HistoryScope, expected: list[str]) -> None:
    assert ids(scope=scope) == expected
    assert ids(HistoryFilter(agent="a-ann"), scope) == [i for i in expected if i in ("c4", "c2", "c1")]


def test_an_item_has_the_visitor_agent_rating_and_first_visitor_text(history: None) -> None:
    item = search_conversations(HistoryFilter(visitor="v-1", phase="closed"), ADMIN).items[0]
    assert item == {"id": "c1", "visitor": "v-1", "visitor_email": "jo@example.com", "visitor_name": "Jo",
                    "channel": "widget", "group": "billing", "agent": "a-ann", "agent_name": "Ann", "phase": "closed",
                    "created_at": at(0).timestamp(), "closed_at": at(1).timestamp(), "rating": 5, "messages": 3,
                    "snippet": "My invoice is wrong"}


def test_the_export_iterator_reads_every_page_up_to_its_bound(history: None) -> None:
    assert [i["id"] for i in iter_conversations(HistoryFilter(), ADMIN, max_rows=4)] == ["c5", "c4", "c3", "c2"]


def test_a_transcript_holds_every_message_the_transfers_and_the_rating(history: None) -> None:
    found = transcript("c2", ANN)
    assert found is not None
    assert [(m["seq"], m["sender_role"], m["kind"]) for m in found["messages"]] == [
        (1, "visitor", "text"), (2, "bot", "text"), (3, "agent", "note")]
    assert found["messages"][1]["extra"] == {"decision": "suggest", "sources": [{"document": "faq.yaml"}]}
    assert found["messages"][2]["sender_name"] == "Ann"
    assert found["transfers"] == [{"at": at(24.5).timestamp(), "from_agent": "a-ann", "to_agent": "a-bob",
                                   "to_group": None, "from_name": "Ann", "to_name": "Bob"}]
    assert found["rating"] == {"score": 2, "comment": "=cmd|' /C calc'!A0", "at": at(25).timestamp()}
    assert found["conversation"]["participants"] == [{"id": "a-ann", "name": "Ann"}, {"id": "a-bob", "name": "Bob"}]


def test_a_transcript_outside_the_scope_is_as_unknown_as_a_missing_one(history: None) -> None:
    assert transcript("c5", ANN) is None and transcript("c5", SUE) is None and transcript("nope", ADMIN) is None
    assert transcript("c3", SUE) is not None


def test_a_visitor_page_lists_only_the_conversations_in_scope(history: None) -> None:
    found = visitor_history("v-1", ANN)
    assert found is not None
    assert found["visitor"] == {"id": "v-1", "email": "jo@example.com", "name": "Jo", "channel": "widget",
                                "first_seen": at(-1).timestamp(), "last_seen": at(50).timestamp()}
    assert [c["id"] for c in found["conversations"]] == ["c1"]
    admin = visitor_history("v-1", ADMIN)
    assert admin is not None and [c["id"] for c in admin["conversations"]] == ["c5", "c3", "c1"]
    assert visitor_history("v-1", BOB) is None and visitor_history("v-9", ADMIN) is None


@pytest.mark.parametrize("span", [0.0, 3600.0, 30 * 3600.0, 1e9])
def test_a_window_hint_of_any_size_changes_nothing_in_the_pages(history: None, span: float) -> None:
    for f, scope in ((HistoryFilter(), ADMIN), (HistoryFilter(group="billing"), ADMIN), (HistoryFilter(), ANN)):
        seen: list[str] = []
        page = search_conversations(f, scope, limit=1)
        while True:
            seen += [i["id"] for i in page.items]
            if page.next is None:
                break
            page = search_conversations(f, scope, limit=1, after=page.next, span=span)
        assert seen == ids(f, scope)
    for now in (at(-5), at(0.5), at(47.9), at(48), at(1000)):  # a first page's window, anchored anywhere
        assert ids(now=now) == ids() and ids(HistoryFilter(until=at(40)), now=now) == ["c3", "c2", "c1"]


def test_the_indexed_words_are_distinct_case_folded_and_bucketed_the_same_everywhere() -> None:
    assert terms_of("Où est ma COMMANDE? commande n°42, a") == ["où", "est", "ma", "commande", "42"]
    assert terms_of("!") == [] and terms_of("Straße") == ["strasse"]
    assert bucket_of("refund") == 1529615448 % BUCKETS  # CRC-32, not Python's salted hash


def test_a_message_stored_through_the_writer_is_found_once_its_keeper_flushed(history: None) -> None:
    import asyncio

    from switchboard.store.writer import StoreWriter

    async def write() -> None:
        writer = StoreWriter(journal=False)
        await writer.start()
        await writer.add_message({"conversation": "c3", "seq": 4, "sender_role": "visitor", "sender_id": "v-1",
                                  "kind": "text", "text": "Anyone about the chargeback?", "client_id": "m4",
                                  "at": at(30.2).timestamp()})
        await writer.flush_reports()
        assert ids(HistoryFilter(q="chargeback")) == ["c3"]
        await writer.close()

    assert ids(HistoryFilter(q="chargeback")) == []
    asyncio.run(write())
