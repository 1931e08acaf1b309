"""What a visitor's message asks of the conversation itself, rather than of the knowledge base.

Pure recognisers over the text, no I/O: :mod:`.policy` asks them before retrieval. Two intents:

* :func:`wants_person`: the visitor asks to be handed to a person ("human please", "talk to a real
  person", "转人工", "人工客服").
* :func:`asks_about_bot`: the visitor asks *about* whom they are talking to ("Are you a real person?",
  "am I talking to a bot?", "你是真人吗", "是真人在回复吗"). That is a question, not a request: handing
  off on it would drop a visitor who only wanted to know, and the words it shares with a request ("real
  person", "真人", "人工") are exactly the cues a request is recognised by.

The rule, in the order it is checked:

1. An *explicit request* asks for a person wherever it stands: a wish or an order aimed at a person
   ("I want a real person", "can I talk to a human", "connect me", "我要人工", "转人工"). A message holding
   both a question about the bot and a request ("你是机器人吗？我要转人工") is a request.
2. Otherwise a *question about the bot* wins: the message is not a request, even though it names a person.
3. Otherwise a *cue* is enough: a person named the way only a request names one ("a real person", "live
   agent", "真人", "人工客服", or a message that is nothing but "human" / "人工").

So the two never both hold: ``asks_about_bot`` is true only for a message that is not a request. Mentions
("how are agents assigned?", "human resources", "人工智能", "人工费") are neither. Text is compared
NFKC-normalised (full-width letters and punctuation fold to ASCII) and lower-cased.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["wants_person", "asks_about_bot"]

# -- English pieces ------------------------------------------------------------------------------------------------

# A person the visitor could be handed to. "human" in "human resources", "human body", ... is not one.
_PERSON = (r"(?:human(?!\s+(?:resources?|rights?|body|bodies|error|nature|race|anatomy))(?:\s+being)?"
           r"|person|agent|someone|somebody|representative|rep|operator|people|staff|employee|manager|supervisor)")
# The persons a wish or a question names: "I need someone to fix my bike" is not a request for a person.
_HUMAN = r"(?:human(?:\s+being)?|person|agent|representative|rep|operator|man|woman)"
_REAL = r"(?:real|live|actual|proper)"
_ARTICLE = r"(?:a|an|the|some|your|one\s+of\s+your)"
_TALK = r"(?:talk|speak|chat|connect|transfer|put)"
_TO = r"(?:to|with|through\s+to)"
# Where a clause begins: the start of the message or after a sentence's (or a comma's) end.
_CLAUSE = r"(?:^|[.!?,;:]\s*)"
_PLEASE = r"(?:please|pls|plz)"
# What a bot is: the other half of "a bot or a human". Not "automatic" or "machine washable" (a bike's gears).
_MACHINE = r"(?:bot|robot|chat\s*bot|ai|a\.i\.?|machine|computer|program|automated(?:\s+(?:reply|response|message|answer|system|chat|service))?|auto[- ]?reply|llm|chatgpt|gpt)"
_BEING = rf"(?:{_MACHINE}|(?:{_REAL}\s+)?{_HUMAN}|real)"
# A question about a being ends there, or goes on to what it is doing: "is this a bot or a human",
# "is it a real person typing"; "is this machine washable" and "are you an agent of Trek" go on otherwise.
_BEING_ENDS = (r"(?=\s*(?:$|[?.!,;]|or\b|and\b|(?:right|though|too|then|here|there|behind|on\s+the\s+other)\b"
               r"|(?:typing|answering|replying|responding|talking|chatting|writing|reading)\b))")
_YOU = r"(?:you|u|ya)"
_BARE_PERSON = (rf"(?:{_PLEASE}[\s,]*)*(?:a\s+)?(?:{_REAL}\s+)?(?:human|agent|operator|representative|person)"
                r"")

_ENGLISH_REQUESTS = [
    # A wish: "I want a human", "I'd like to talk to a real person", "i need an agent".
    re.compile(rf"\bi(?:\s*'d|\s+would)?\s+(?:really\s+|just\s+)?(?:want|need|wanna|prefer|demand|request|like)\s+"
               rf"(?:to\s+(?:{_TALK}|have|get)\w*\s+(?:{_TO}\s+)?)?(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_HUMAN}\b"),
    # A plea: "can I talk to a human", "could you put me through to an agent", "can you connect me with someone".
    re.compile(rf"\b(?:can|could|may|might|would|will)\s+(?:i|we|you|u)\s+(?:please\s+)?(?:\w+\s+)?(?:me\s+)?"
               rf"{_TALK}\w*\s+(?:me\s+)?{_TO}\s+(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_PERSON}\b"),
    re.compile(rf"\b(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:get|have)\s+(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?"
               rf"{_HUMAN}\b"),
    re.compile(rf"\blet\s+me\s+{_TALK}\w*\s+{_TO}\s+(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_PERSON}\b"),
    # An order at the start of a clause: "talk to a real person", "please speak to a representative".
    re.compile(rf"{_CLAUSE}(?:{_PLEASE}[\s,]*)?(?:just\s+)?{_TALK}\w*\s+(?:me\s+)?{_TO}\s+(?:{_ARTICLE}\s+)?"
               rf"(?:{_REAL}\s+)?{_PERSON}\b"),
    re.compile(rf"{_CLAUSE}(?:{_PLEASE}[\s,]*)?(?:get|give|find)\s+me\s+(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_HUMAN}\b"),
    # A message, or a last clause, that is nothing but a person: "human", "Agent please", "are you a bot? a real
    # person!" (but not "is this a bot? a person?": a last clause asking is the question going on).
    re.compile(rf"^{_BARE_PERSON}(?:[\s,.!?]|{_PLEASE})*+$"),
    # "connect me", "transfer me please" (but not "connect me to the wifi").
    re.compile(r"\b(?:connect|transfer|put)\s+me\b(?!\s+(?:to|with|on|onto)\s+(?:the\s+|my\s+|your\s+)?"
               r"(?:wi-?fi|internet|network|bluetooth|app|phone|account|bike|e-?bike|charger|printer)\b)"),
]

_ENGLISH_CUES = [
    # A person named the way requests name one: "a real person", "live agent".
    re.compile(rf"\b{_REAL}\s+{_PERSON}\b"),
    # "how do I talk to a human": talking to a person, though not phrased as a wish.
    re.compile(rf"\b{_TALK}\w*\s+(?:me\s+)?{_TO}\s+(?:{_ARTICLE}\s+)?{_PERSON}\b"),
]

_ENGLISH_BOT_QUESTIONS = [
    # "are you a real person?", "r u a robot", "are you human", "are you even real", "you a bot?"
    re.compile(rf"(?:\b(?:are|r)\s+{_YOU}|{_CLAUSE}{_YOU})\s+(?:even\s+|really\s+|actually\s+|just\s+)?"
               rf"(?:{_ARTICLE}\s+)?{_BEING}{_BEING_ENDS}"),
    # "am I talking to a bot?", "am I chatting with a real agent?", "are we speaking to a machine"
    re.compile(rf"\b(?:am\s+i|are\s+we|i'm|im)\s+(?:\w+\s+)?(?:talking|chatting|speaking|texting|messaging|writing)"
               rf"\s+(?:to|with)\s+(?:{_ARTICLE}\s+)?{_BEING}{_BEING_ENDS}"),
    # "is this a bot or a human", "is this automated?", "is it a real person typing"
    re.compile(rf"\b(?:is|isn't)\s+(?:this|it|that|this\s+chat|this\s+reply|this\s+answer)\s+(?:really\s+|even\s+)?"
               rf"(?:{_ARTICLE}\s+)?{_BEING}{_BEING_ENDS}"),
    # "is this chat answered by a human?", "is a bot answering me"
    re.compile(rf"\b(?:is|are)\s+(?:this|these|it)\s+(?:\w+\s+)?(?:answered|written|run|sent|typed|handled)\s+by\s+"
               rf"(?:{_ARTICLE}\s+)?{_BEING}\b"),
    re.compile(rf"\bis\s+(?:a|an)\s+(?:{_MACHINE}|{_HUMAN})\s+(?:answering|replying|typing|writing|responding|reading)\b"),
    # "who am I talking to?", "what am I chatting with"
    re.compile(r"\b(?:who|what)\s+am\s+i\s+(?:talking|chatting|speaking|texting)\s+(?:to|with)\b"),
]

# -- Chinese pieces ------------------------------------------------------------------------------------------------

# "人工" as a person, not as in 人工智能 (AI), 人工费 (labour), 人工湖, 人工降雨 ...
_RENGONG = r"人工(?!智能|费|成本|湖|降雨|合成|呼吸|心脏|晶体|耳蜗|培育|养殖|草|林|岛|造|制)"
_ZHENREN = r"真人(?!秀|版|cs|电影|游戏|手办|尺寸|大小)"
# "人" alone only as the whole answer to the question: 你是人吗, 你是人还是机器人 (not 这是人气最高的车吗).
_REN = r"人(?=吗|嘛|么|吧|呢|还是|啊|呀|[?？]|$)"
_HUMAN_ZH = rf"(?:{_ZHENREN}|{_RENGONG}|活人|人类|{_REN})"
_MACHINE_ZH = r"(?:机器人|机器|ai|智能客服|自动回复|人工智能|chatgpt|gpt|bot)"
_BEING_ZH = rf"(?:{_MACHINE_ZH}|{_HUMAN_ZH})(?=客服|吗|嘛|么|吧|呢|还是|或|在|回|啊|呀|对吧|[?？,，。]|$)"

_BARE_PERSON_ZH = (rf"(?:请|{_PLEASE}[\s,]*)*(?:{_RENGONG}|{_ZHENREN}|客服)(?:客服|服务)?"
                   r"")

_CHINESE_REQUESTS = [
    # Hand me over: 转人工, 接人工, 找人工, 换人工, 切人工, 转真人, 转接客服
    re.compile(rf"(?:转|接|找|换|切|叫|呼叫)(?:接)?(?:一下|个)?(?:{_RENGONG}|{_ZHENREN}|客服|活人)"),
    # A wish: 我要人工, 我想和真人聊, 我需要人工客服, 给我人工, 请帮我转人工
    re.compile(rf"(?:我要|我想|我需要|我希望|让我|给我|帮我|麻烦)(?:找|和|跟|与|转|接|换)?(?:个|一个|一下)?"
               rf"(?:{_RENGONG}|{_ZHENREN}|活人|客服人员)"),
    re.compile(rf"(?:要|需要)(?:{_RENGONG}|{_ZHENREN})(?:客服|服务)?(?:[!！。.]|$)"),
    # A message, or a last clause, that is nothing but a person: 人工, 人工！, 你是机器人吗？人工客服
    re.compile(rf"^{_BARE_PERSON_ZH}(?:[\s,.!?！？。]|{_PLEASE}|谢谢)*+$"),
]

_CHINESE_CUES = [
    re.compile(rf"{_ZHENREN}|{_RENGONG}(?:客服|服务|坐席|座席|接待)|有没有{_RENGONG}|有{_RENGONG}吗"),
]

_CHINESE_BOT_QUESTIONS = [
    # 你是真人吗, 你是机器人吗, 你是不是机器人, 你是人工还是机器, 您是ai吗, 对面是真人吗, 这是自动回复吗
    re.compile(rf"(?:你|您|你们|对面|那边|这边|这|这个|这里|回复的|回答的|客服)(?:到底|真的|究竟)?"
               rf"(?:是|是不是|不是)(?:个|一个)?(?:真的)?{_BEING_ZH}"),
    # 我是在和机器人聊天吗, 我在跟真人说话吗, 我们是在和ai对话吗
    re.compile(rf"(?:我|我们)(?:现在)?(?:是)?(?:在)?(?:和|跟|与|同)(?:一个|个)?(?:{_MACHINE_ZH}|{_HUMAN_ZH})"
               rf"(?:客服)?(?:在)?(?:聊天|聊|说话|对话|沟通|交流|讲话)"),
    # 是真人在回复吗, 是机器人回答的吗, 是人工在回吗
    re.compile(rf"是(?:{_MACHINE_ZH}|{_HUMAN_ZH})(?:客服)?(?:在)?(?:回复|回答|回|聊|打字|说话|答复|接待)"),
    # 你是人吗 / 真人吗 / 机器人吧 standing alone as the question
    re.compile(rf"^(?:请问)?(?:{_MACHINE_ZH}|{_HUMAN_ZH})(?:吗|嘛|么|吧|呢)[?？]*$"),
]


# A last clause that is nothing but a person: "are you a bot? a real person!", "你是机器人吗？人工客服". Searched in the
# message's tail only: a bare clause is short, and searching a long text for it would take quadratic time.
_LAST_CLAUSES = [re.compile(rf"[.!?,;:]\s*{_BARE_PERSON}(?:[\s,.!]|{_PLEASE})*+$"),
                 re.compile(rf"[.!?,;:。！？，；：]\s*{_BARE_PERSON_ZH}(?:[\s,.!！。]|{_PLEASE}|谢谢)*+$")]
_TAIL = 80


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").strip()


def _is_request(t: str) -> bool:
    return (any(p.search(t) for p in _ENGLISH_REQUESTS) or any(p.search(t) for p in _CHINESE_REQUESTS)
            or any(p.search(t[-_TAIL:]) for p in _LAST_CLAUSES))


def _is_bot_question(t: str) -> bool:
    return any(p.search(t) for p in _ENGLISH_BOT_QUESTIONS) or any(p.search(t) for p in _CHINESE_BOT_QUESTIONS)


def _has_cue(t: str) -> bool:
    return any(p.search(t) for p in _ENGLISH_CUES) or any(p.search(t) for p in _CHINESE_CUES)


def wants_person(text: str) -> bool:
    """True when the message asks for a person, not merely mentions one ("how are agents assigned?") or
    asks whether it is talking to one ("are you a real person?"): see the module's rule."""
    t = _normalise(text)
    if _is_request(t):
        return True
    return not _is_bot_question(t) and _has_cue(t)


def asks_about_bot(text: str) -> bool:
    """True when the message asks whether it is talking to a bot or a person ("are you human?", "你是真人吗")
    and does not also ask for a person (then it is a request: :func:`wants_person`)."""
    t = _normalise(text)
    return _is_bot_question(t) and not _is_request(t)
