"""The hashing embedder's two views of a question: plain vectors rank, topical vectors weigh rare words more."""

from __future__ import annotations

import numpy as np

from switchboard.llm.embedders import MAX_RARITY, HashingEmbedder, rarity
from switchboard.llm.static_vectors import StaticVectors


def test_common_words_are_light_domain_words_heavier_and_unknown_words_heaviest() -> None:
    assert rarity("the") < rarity("how") < rarity("refund") < rarity("derailleur") < rarity("pedalwise") == MAX_RARITY
    assert rarity("?") == 0.0  # punctuation alone carries nothing
    assert rarity("tyre?") == rarity("tyre")


def test_chinese_is_weighed_by_how_common_its_characters_are() -> None:
    assert rarity("的") < rarity("营业时间") < MAX_RARITY


def test_a_question_of_one_word_has_the_same_topical_and_plain_vector() -> None:
    h = HashingEmbedder()
    for text in ["refund", "退"]:
        assert np.allclose(h.embed_topical([text]), h.embed([text]), atol=1e-6)


def test_a_chinese_question_leans_on_its_rarer_characters_too() -> None:
    h = HashingEmbedder()
    returns, hours = h.embed(["退货", "营业时间"])
    question = "请问你们的时间可以退货吗"  # common characters ("请问你们的…可以…吗") around a rare word (退货)
    plain, topical = h.embed([question])[0], h.embed_topical([question])[0]
    assert topical @ returns > plain @ returns
    assert topical @ returns - topical @ hours > plain @ returns - plain @ hours


def test_a_chinese_paraphrase_is_closest_to_the_question_it_paraphrases() -> None:
    h = HashingEmbedder()
    # Split into characters, a paraphrase shares the characters and character pairs of the FAQ's question.
    faq, paraphrase, other = h.embed(["门店营业时间是什么时候？", "星期天你们几点开门营业？", "支持哪些付款方式？"])
    assert paraphrase @ faq > paraphrase @ other


def test_the_topical_vector_leans_on_the_questions_rare_words() -> None:
    h = HashingEmbedder()
    password, tyres = h.embed(["How do I change my password?", "Tyre fitting"])
    question = "how do I change a tyre on my car"
    plain, topical = h.embed([question])[0], h.embed_topical([question])[0]
    # Plainly, "how do I change" makes it a password question; weighted, "tyre" counts for more than all four.
    assert plain @ password > plain @ tyres
    assert topical @ password < plain @ password and topical @ tyres > plain @ tyres


def test_topical_vectors_are_unit_length_and_empty_text_is_zero() -> None:
    vectors = HashingEmbedder().embed_topical(["when is the shop open?", "", "?"])
    assert np.allclose(np.linalg.norm(vectors[0]), 1.0) and not vectors[1].any() and not vectors[2].any()


def test_static_vectors_bring_words_of_related_meaning_together_without_shared_letters() -> None:
    static = StaticVectors()
    postage, shipping, hours = static.embed(["postage cost", "shipping price", "opening hours"])
    assert postage @ shipping > postage @ hours + 0.2


def test_a_paraphrase_in_other_words_scores_higher_with_the_static_part_than_hashing_alone() -> None:
    h = HashingEmbedder()
    q, faq = h.embed(["is postage free if I spend over fifty quid", "Do you offer free shipping on orders over £50?"])
    hashing_alone = (q[:h.buckets] @ faq[:h.buckets]) / (np.linalg.norm(q[:h.buckets]) * np.linalg.norm(faq[:h.buckets]))
    assert q @ faq > hashing_alone + 0.02


def test_a_mostly_english_question_with_a_chinese_word_keeps_its_static_part() -> None:
    static = StaticVectors()
    mixed, english, chinese = static.embed(["refund for my order 订单", "refund for my order", "请问App怎么下载"])
    assert np.isclose(mixed @ english, 1.0) and not chinese.any()


def test_full_width_latin_reads_as_latin() -> None:
    full_width, ascii_ = StaticVectors().embed(["ｒｅｆｕｎｄ ｐｏｌｉｃｙ", "refund policy"])
    assert np.isclose(full_width @ ascii_, 1.0)


def test_punctuation_alone_gets_no_static_vector() -> None:
    assert not StaticVectors().embed(["?", "!!!", ""]).any()


def test_chinese_text_gets_no_static_vector_so_two_chinese_texts_score_their_hashing_cosine() -> None:
    h = HashingEmbedder()
    assert not StaticVectors().embed(["退货要多久？"]).any()
    a, b = h.embed(["退货要多久？", "多久可以退款"])
    assert not a[h.buckets:].any() and np.isclose(np.linalg.norm(a), 1.0)
    assert np.isclose(a @ b, a[:h.buckets] @ b[:h.buckets])


def test_plain_vectors_are_unit_length_with_both_parts() -> None:
    vectors = HashingEmbedder().embed(["when is the shop open?", "refund", "how long does delivery take to Spain"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
