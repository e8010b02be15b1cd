"""The one vocabulary object: labels <-> model output ids (CTC blank = 0), tokens, text normalisation."""

from __future__ import annotations

import pytest

from speechrnn.data.vocab import check_text
from speechrnn.metrics import word_counts
from speechrnn.model import ModelConfig
from speechrnn.vocab import BLANK, Vocabulary, normalize_text


def test_ctc_label_i_is_output_i_plus_one_and_the_blank_is_zero():
    config = ModelConfig(head="ctc", labels=["no", "yes"])
    vocab = Vocabulary.from_config(config)
    assert BLANK == 0
    assert (vocab.blank, vocab.offset, vocab.size) == (0, 1, config.num_outputs) == (0, 1, 3)
    assert [vocab.id("no"), vocab.id("yes")] == [1, 2]
    assert [vocab.label(1), vocab.label(2)] == ["no", "yes"]
    assert vocab.ids(vocab.tokens("yes  no yes")) == [2, 1, 2]
    assert vocab.text([2, 1]) == "yes no"
    assert "maybe" not in vocab and "yes" in vocab
    with pytest.raises(ValueError, match="blank"):
        vocab.label(0)


def test_classifier_outputs_are_the_labels_themselves():
    config = ModelConfig(head="classify", labels=["down", "up"])
    vocab = Vocabulary.from_config(config)
    assert (vocab.blank, vocab.offset, vocab.size) == (None, 0, config.num_outputs) == (None, 0, 2)
    assert [vocab.id("down"), vocab.label(1)] == [0, "up"]


def test_char_tokens_keep_the_space_and_join_back_to_the_text():
    vocab = Vocabulary((" ", "a", "b"), "ctc", "char")
    ids = vocab.ids(vocab.tokens("ab ba"))
    assert ids == [2, 3, 1, 3, 2]
    assert vocab.text(ids) == "ab ba"


def test_one_normalize_text_lower_cases_and_collapses_white_space_everywhere():
    assert normalize_text("  Two\tTHREE \n") == "two three"
    assert normalize_text(None) == ""
    assert check_text("It's  OK") == "it's ok"
    assert word_counts("Two  three", "two three").errors == 0
