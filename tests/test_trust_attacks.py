"""The attack harness on small graphs: a regression here means the model got easier to game.

Each test is a quick version of a row of ``bench/attacks.py`` (the kit is
``trustmesh.testing.scenarios``); the full-size figures are in docs/trust.md.
"""

import pytest

from trustmesh.testing import scenarios as sc


def test_sybils_capture_little_and_do_not_grow_with_their_number():
    few = sc.sybil_scenario(1000, 200, 10, views=3)
    many = sc.sybil_scenario(1000, 1000, 10, views=3)
    assert few["sybil_share"] <= 0.005 and many["sybil_share"] <= 0.005
    assert many["sybil_share"] <= few["sybil_share"] * 1.2
    assert few["auc"] >= 0.99 and many["auc"] >= 0.99


def test_far_communities_are_not_warned_against():
    row = sc.sybil_scenario(1000, 200, 10, views=3, graph="communities100")
    assert row["far_not_warned"] >= 0.99 and row["honest_warned"] <= 0.01, row
    assert row["auc"] >= 0.9, row


def test_far_communities_rank_above_sybils_at_least_as_well_as_sybilrank():
    # 10 communities of 200 joined by 100 bridges, 400 sybils behind 20 attack edges: the
    # converged walk alone reads the sybils as nearer than far communities; the reach cap
    # (trust/reach.py) does not. Measured: auc 0.980, the walk alone 0.714, SybilRank 0.861;
    # the tolerance of 0.01 is for a change of seed, not for this world.
    row = sc.sybil_scenario(2000, 400, 20, views=3, graph="communities100")
    assert row["auc"] >= row["auc_sybilrank"] - 0.01, row
    assert row["auc"] > row["auc_walk"] + 0.1, row


def test_liars_and_collectives_do_not_raise_bad_deals():
    for model in ("liars", "collective"):
        row = sc.threat_scenario(600, model, views=3)
        assert row["rise"] <= 0.02, row


def test_camouflaged_collectives_and_spies_gain_little_even_in_the_tail():
    for model in ("camouflaged", "spies"):
        row = sc.threat_scenario(600, model, views=3)
        assert row["rise"] <= 0.02 and row["max"] <= 0.15, row


def test_a_camouflaged_collective_at_30_percent_is_avoided_by_the_verdict():
    for f in (0.3, 0.5):
        row = sc.threat_scenario(600, "camouflaged", share=0.3, f=f, views=3)
        assert row["rise_verdict"] <= 0.02 and row["max_verdict"] <= 0.15, row
        # by ``lower`` alone a collective member's lucky record wins: the verdict is what pays
        assert row["rise"] >= row["rise_verdict"] + 0.01, row


def test_a_viewer_a_camouflaged_collective_captures_is_not_left_to_it():
    # The grid's 20%, f=0.7 cell at full size (2 s): one viewer's malicious partner leads into
    # the collective, which holds 37% of its walk; with the camps standing aside it took 20.7%
    # bad deals (docs/trust.md, Tails).
    row = sc.threat_scenario(3000, "camouflaged", share=0.2, f=0.7, worlds=2)
    assert row["max_verdict"] <= 0.15 and row["rise_verdict"] <= 0.02, row


@pytest.mark.parametrize("share, rise", [(0.3, 0.02), (0.4, 0.05)])
def test_a_camouflaged_collective_that_serves_well_seven_times_in_ten_is_avoided(share, rise):
    # The grid's f=0.7 cells at 30% and 40% at full size (2 s each): before the camps read both
    # directions of a relation, the 40% cell took +6.6 points and a 30% viewer 10.2% (the
    # targets: +5 and 15%); honest raters' true praise of the collective (7 times in 10) made
    # the two one camp, and the collective's blame of honest members was weighed at its walk
    # back, next to nothing.
    row = sc.threat_scenario(3000, "camouflaged", share=share, f=0.7, worlds=2)
    assert row["rise_verdict"] <= rise and row["max_verdict"] <= 0.15, row


def test_viewers_who_put_their_own_deals_on_record_learn_from_them():
    row = sc.learning_scenario(600, "camouflaged", share=0.2, f=0.7, views=3, worlds=1, rounds=4)
    assert row["rise"] <= 0.02 and row["max_last"] <= 0.15, row


def test_a_scammer_with_sybils_buys_no_top_rank():
    row = sc.scammer_scenario(2000, 200, 30, worlds=1, views=3)
    assert row["in_top10"] == 0.0, row
    assert row["conc_attackers"] > 5 * row["conc_honest"], row      # the metric sees the piling on
    assert row["after_below_line"] == 1.0 and row["after_recommended"] == 0.0, row


def test_slander_ring_is_caught_and_a_lone_negative_is_no_brand():
    row = sc.slander_ring_scenario(600, views=3)
    assert row["move_3plus"] <= 0.05, row
    assert row["move_1_victim"] > 0.1, row      # one victim: cannot be told from a real failure
    assert row["lone_negative_unknown"] == 1.0 and row["bad_supplier_warning"] == 1.0, row


def test_slanderers_without_deals_barely_move_honest_scores():
    row = sc.slander_scenario(600, views=3)
    assert row["score_move_max"] <= 0.05, row


def test_verdicts_are_usable():
    row = sc.verdict_scenario(2000, views=3, sybils=100)
    assert row["recommended_of_good10"] >= 0.8 and row["recommended_of_bad30"] <= 0.02, row
    assert row["newcomer_and_one_praise_unknown"] == 1.0, row
    assert row["good_deals_recommended"] > row["good_deals_no_objection"] > row["good_deals_warning"], row


def test_a_late_payer_keeps_most_of_its_say_on_quality():
    assert sc.late_payer_scenario(600, views=3)["weight_kept"] >= 0.95


def test_oscillator_and_newcomer():
    assert 1 <= sc.oscillator_scenario(600, views=2)["bad_deals_before_drop"] <= 15
    fresh = sc.whitewash_scenario(300)
    assert fresh["newcomer_uncertainty"] == 1.0 and fresh["newcomer_lower"] < fresh["honest_lower_median"]


def test_a_rotated_supplier_keeps_its_rank_and_its_negatives_and_an_unlinked_key_starts_fresh():
    row = sc.rotation_scenario(600, views=2)
    assert row["rotated"] >= 50 and row["bad_rotated"] >= 5, row
    assert row["rank_same"] == 1.0 and row["rank_shift_max"] == 0 and row["score_shift_max"] <= 1e-9, row
    assert row["rank_same_without_link"] <= 0.2, row      # the control: the key chain's map is what keeps it
    assert row["bad_below_line"] == row["bad_below_line_unrotated"] == 1.0, row
    assert row["fresh_unknown"] == 1.0 and row["fresh_uncertainty"] == 1.0 and row["fresh_lower_max"] <= 0.1, row


def test_a_member_its_partners_rightly_blame_is_not_turned_against_them():
    # Poor suppliers (under 30% good deals) as viewers, in the verdicts row's world at 2,000:
    # with their camp taken from their own relations, the worst of 20 warned against 54% of good
    # members (22% on average).
    row = sc.poor_viewer_scenario(2000, views=20, worst=0.3)
    assert row["good_warned_max"] <= 0.01, row
