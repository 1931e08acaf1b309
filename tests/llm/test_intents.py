"""What a message asks of the conversation: a person, or whether it is talking to one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.llm.calibrate import read_questions
from switchboard.llm.intents import asks_about_bot, wants_person

DATA = Path(__file__).resolve().parents[1] / "data"

REQUESTS_EN = ["human", "Agent please", "I want to talk to a real person", "can you connect me with someone",
               "speak to a representative", "human please", "talk to a real person", "can I talk to a real person?",
               "I want a real person", "I need a human", "let me speak with an agent", "live agent",
               "Please transfer me", "could I please speak to someone", "I'd like to talk to a human",
               "get me a real person", "can I speak to your manager", "I wanna talk to a human", "a real person!", "Can I get a human?", "PLEASE, HUMAN"]
REQUESTS_ZH = ["转人工", "人工", "我要人工客服", "人工客服", "人工！", "请转人工", "我要真人", "找人工", "帮我接人工",
               "我想和真人聊聊", "不要机器人，要真人", "换人工", "转真人客服", "有没有人工", "人工服务", "我需要人工", "想找真人说话 不要机器人"]
# A question about the bot together with a clear request is a request.
BOTH = ["你是机器人吗？我要转人工", "Are you a bot? I want a real person", "are you human? human please",
        "am I talking to a bot? can I talk to a person", "is this a bot? a real person, please", "你是真人吗，不是的话帮我转人工", "is this automated? connect me"]

BOT_QUESTIONS_EN = ["Are you a real person?", "am I talking to a bot?", "is this a bot or a human", "are you human",
                    "r u a robot", "is this automated?", "am I chatting with a real agent?", "are you a bot?",
                    "Are you an AI?", "you a robot?", "is it a real person typing?", "am I speaking with a human or "
                    "a machine?", "are you a real human being", "is this an automated reply?", "who am I talking to?",
                    "are you a chatbot", "r u human", "Is this chat answered by a person?", "are you even real?",
                    "Am I talking to a real person right now?", "is this a bot? a person?", "is a human reading this?",
                    "are you a person or a bot", "Are you ChatGPT?"]
BOT_QUESTIONS_ZH = ["你是真人吗", "你是机器人吗", "我是在和机器人聊天吗", "是真人在回复吗", "你是人工还是机器",
                    "你是不是机器人", "你是人还是机器人", "你是ai吗", "这是自动回复吗", "对面是真人吗", "你是智能客服吗",
                    "是机器人在回复吗", "我在跟真人说话吗", "你是真人客服吗", "你是机器人吧", "你到底是不是真人？",
                    "您是人工客服吗", "真人吗？", "你是人工智能吗"]

MENTIONS_EN = ["how are agents assigned to visitors?", "is the human body 60% water",
               "what does a person need to rent a bike", "how are agents assigned?", "do you have human resources jobs?",
               "does the agent get a commission?", "how do I become a sales representative?",
               "can someone else pick up my order?", "who is the operator of this website?",
               "how many people work at your store?", "are your staff trained in first aid?",
               "I need someone to fix my brakes", "is this machine washable?", "is it automatic or manual?",
               "are you open on sundays?", "how do I connect my bike to the app", "I like people who ride bikes",
               "please transfer the refund to my card", "is the bike made by real craftsmen"]
MENTIONS_ZH = ["人工智能是什么", "我想了解人工智能", "维修的人工费多少钱", "你们的人工成本高吗", "你们店里有几个员工",
               "这款车是人工组装的吗", "机器人吸尘器你们卖吗", "你们的客服几点下班", "人工湖附近有门店吗", "真人秀好看吗",
               "这是人气最高的车吗", "这个是电脑包吗", "你们是正品吗", "配送员会打电话吗", "人工降雨对骑车有影响吗"]

FAQ_QUESTIONS = ["How long do I have to return an item?", "Is shipping free?", "do you ship to Canada",
                 "退货要几天", "运费怎么算", "电池保修多久", "你们门店在哪里", "可以开发票吗"]


@pytest.mark.parametrize("text", REQUESTS_EN + REQUESTS_ZH)
def test_asking_for_a_person_in_english_or_chinese_is_a_request(text: str) -> None:
    assert wants_person(text)
    assert not asks_about_bot(text)


@pytest.mark.parametrize("text", BOT_QUESTIONS_EN + BOT_QUESTIONS_ZH)
def test_asking_whether_the_visitor_talks_to_a_bot_is_not_a_request(text: str) -> None:
    assert asks_about_bot(text)
    assert not wants_person(text)


@pytest.mark.parametrize("text", BOTH)
def test_a_question_about_the_bot_with_a_clear_request_is_a_request(text: str) -> None:
    assert wants_person(text)
    assert not asks_about_bot(text)


@pytest.mark.parametrize("text", MENTIONS_EN + MENTIONS_ZH)
def test_merely_mentioning_people_or_machines_is_neither(text: str) -> None:
    assert not wants_person(text)
    assert not asks_about_bot(text)


@pytest.mark.parametrize("text", FAQ_QUESTIONS)
def test_an_ordinary_faq_question_is_neither(text: str) -> None:
    assert not wants_person(text)
    assert not asks_about_bot(text)


def test_no_labelled_question_of_the_english_bot_set_asks_for_a_person_or_about_the_bot() -> None:
    questions = [q for f in ("in_scope_eval.jsonl", "in_scope_calibrate.jsonl", "off_topic_eval.txt",
                             "off_topic_calibrate.txt") for q, _ in read_questions(DATA / "bot" / f)]
    assert [q for q in questions if wants_person(q) or asks_about_bot(q)] == []


def test_full_width_text_reads_like_ascii() -> None:
    assert wants_person("ＨＵＭＡＮ　ＰＬＥＡＳＥ") and asks_about_bot("ＡＲＥ ＹＯＵ Ａ ＢＯＴ？")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises_and_is_never_both(text: str) -> None:
    assert not (wants_person(text) and asks_about_bot(text))


_SPACE = st.text(alphabet=" \t\n\u3000", max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REQUESTS_EN + REQUESTS_ZH + BOTH), _SPACE, _SPACE, st.sampled_from(["", "please ", "please, "]),
       st.sampled_from(["", " please", ", please", "!"]))
def test_surrounding_whitespace_or_a_please_does_not_flip_a_request(request: str, before: str, after: str,
                                                                     lead: str, tail: str) -> None:
    assert wants_person(before + lead + request + tail + after)
