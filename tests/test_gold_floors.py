"""The floors of `make eval` as a regression guard: the real pipeline (run in-process without
Prefect, one run per gold corpus) must keep each corpus's tier-1 precision and recall floors
(bench/eval_gold.py FLOORS). The articles and gold stay in ../shared; without them these tests skip.
"""
from __future__ import annotations

import contextlib
import io

import pytest

from bench import eval_gold


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, eval_gold.CorpusResult]:
    work = tmp_path_factory.mktemp("eval")
    return {corpus: eval_gold.evaluate(eval_gold.SHARED, corpus, work)
            for corpus in eval_gold.CORPORA if not eval_gold.missing_inputs(eval_gold.SHARED, corpus)}


def _result(results: dict, corpus: str) -> eval_gold.CorpusResult:
    if corpus not in results:
        pytest.skip(f"../shared lacks {', '.join(eval_gold.missing_inputs(eval_gold.SHARED, corpus))}")
    return results[corpus]


@pytest.mark.parametrize("corpus", sorted(eval_gold.FLOORS))
def test_floors(results, corpus):
    result = _result(results, corpus)
    missed = [what for what, met in eval_gold.floor_checks(result) if not met]
    assert not missed, "\n".join(missed + eval_gold.corpus_markdown(result))


@pytest.mark.parametrize("corpus", sorted(eval_gold.FLOORS))
def test_totals_are_the_official_scorers(results, corpus):
    """The per-document counting reproduces score_gold.score on the same warehouse exactly."""
    result = _result(results, corpus)
    scorer = eval_gold.load_scorer(eval_gold.SHARED)
    with contextlib.redirect_stdout(io.StringIO()):
        official = scorer.score(result.warehouse, eval_gold.SHARED / eval_gold.CORPORA[corpus][1])
    assert result.prf() == pytest.approx(official, abs=0)
