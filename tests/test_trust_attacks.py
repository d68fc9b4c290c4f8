"""The attack harness on small graphs: a regression here means the model got easier to game."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import attacks  # noqa: E402


def test_sybils_capture_little_and_do_not_grow_with_their_number():
    few = attacks.sybil_scenario(1000, 200, 10, views=3)
    many = attacks.sybil_scenario(1000, 1000, 10, views=3)
    assert few["sybil_share"] <= 0.005 and many["sybil_share"] <= 0.005
    assert many["sybil_share"] <= few["sybil_share"] * 1.2
    assert few["auc"] >= 0.99 and many["auc"] >= 0.99


def test_liars_and_collectives_do_not_raise_bad_deals():
    for model in ("liars", "collective"):
        row = attacks.threat_scenario(600, model, views=3)
        assert row["rise"] <= 0.02, row


def test_slanderers_barely_move_honest_scores():
    row = attacks.slander_scenario(600, views=3)
    assert row["score_move_max"] <= 0.05, row


def test_oscillator_and_newcomer():
    assert 1 <= attacks.oscillator_scenario(600, views=2)["bad_deals_before_drop"] <= 15
    fresh = attacks.whitewash_scenario(300)
    assert fresh["newcomer_uncertainty"] == 1.0 and fresh["newcomer_lower"] < fresh["honest_lower_median"]


def test_camouflaged_collectives_and_spies_gain_little():
    # measured on this small graph: camouflaged 0.011, spies 0.0003 (0.29 and 0.14 at full
    # size before the walk back and the camps)
    for model in ("camouflaged", "spies"):
        row = attacks.threat_scenario(600, model, views=3)
        assert row["rise"] <= 0.02, row
