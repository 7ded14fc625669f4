"""The quick scan on a hand-made network whose pairs and groups are known: rarity-weighted scores, reasons in
words, small groups, and hints for tags nobody holds.

The set (N = 12): every initiative holds the decoy interest "community"; hu/it run twin repair cafés
(interests and sector held by those two only: the cross-border pair); node be lists four look-alikes that
share the node's favourite "ghent-hub" and "food-waste" with nl's food initiative; at/nl share mobility;
the rest share nothing but the decoy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from federation.directory import scan, scan_groups, scan_hints, scan_words

COUNTRY = {"be": "BE", "nl": "NL", "hu": "HU", "it": "IT", "at": "AT"}


def item(node: str, ref: str, interests: list, sectors: list, stage: str) -> scan.Item:
    return scan.Item.of(
        {
            "node_id": node,
            "ref": ref,
            "country": COUNTRY[node],
            "name": ref,
            "interests": ["community", *interests],
            "sectors": sectors,
            "stage": stage,
        }
    )


ITEMS = [
    item("hu", "repair-hu", ["circular-economy", "repair"], ["repair"], "pilot"),
    item("it", "repair-it", ["circular-economy", "repair"], ["repair"], "pilot"),
    *(item("be", f"be-{n}", ["ghent-hub", "food-waste"], ["food"], "pilot") for n in (1, 2, 3, 4)),
    item("nl", "food-nl", ["food-waste"], ["food"], "pilot"),
    item("at", "bike-at", ["mobility", "cargo-bikes"], ["mobility"], "idea"),
    item("nl", "share-nl", ["mobility", "car-sharing"], ["mobility"], "planning"),
    item("at", "theatre-at", ["theatre"], ["culture"], "pilot"),
    item("hu", "choir-hu", ["choir"], ["music"], "pilot"),
    item("it", "school-it", ["education"], ["education"], "idea"),
]
BY_REF = {i.ref: i for i in ITEMS}
VOCAB = scan.Vocabulary.of(ITEMS)
W = {n: math.log(13 / n) for n in (1, 2, 4, 5, 12)}  # what a tag held by n of the 12 weighs
W2 = W[2]


def pair(a: str, b: str) -> scan.Match:
    return scan.score(scan.Query.like(BY_REF[a]), BY_REF[b], VOCAB)


def test_weights_follow_rarity_and_the_decoy_counts_little():
    assert VOCAB.weight("interests", "community") == pytest.approx(W[12]) and W[12] < 0.09  # all 12 hold it
    assert VOCAB.weight("interests", "repair") == pytest.approx(W2) and W2 > 20 * W[12]
    assert [VOCAB.rarity("interests", t) for t in ("repair", "ghent-hub", "community")] == ["rare", "", "common"]
    assert VOCAB.weight("interests", "unheard-of") == 0


def test_strongest_pairs_across_nodes_rank_as_worked_out_by_hand():
    found = [(p.a.ref, p.b.ref, p.match.score) for p in scan.pairs(ITEMS, VOCAB) if p.cross_node][:6]
    # repair twins: identical tags, all weighed, shared weight above w2: 55 + 20 + 15 (pilot) + 10 (HU/IT) = 100.
    # bike/share: interests {community, mobility} of three each: S = W12 + W2, W(A) = W(B) = S + W1, evidence 1:
    #   55 * S / (S + W1) = 23.8; sector mobility (2 of 12) 20; idea/planning 7.5; AT/NL 10 => 61.3.
    # be-n/food-nl: S = W12 + W5 (food-waste), W(be) = S + W4 (ghent-hub), W(nl) = S:
    #   55 * S / sqrt(W(be) * S) * S / W2 = 20.8; sector food (5 of 12) 20 * W5 / W2 = 10.2; 15; 10 => 56.0.
    s, wbe = W[12] + W[5], W[12] + W[5] + W[4]
    assert 55 * s / math.sqrt(wbe * s) * s / W2 + 20 * W[5] / W2 + 25 == pytest.approx(56.02, abs=0.01)
    assert found == [
        ("repair-hu", "repair-it", 100),
        ("bike-at", "share-nl", 61),
        ("be-1", "food-nl", 56),
        ("be-2", "food-nl", 56),
        ("be-3", "food-nl", 56),
        ("be-4", "food-nl", 56),
    ]
    assert scan.pairs(ITEMS, VOCAB, minimum=56) == [p for p in scan.pairs(ITEMS, VOCAB) if p.match.score >= 56]
    assert len(scan.pairs(ITEMS, VOCAB, minimum=56)) == 12  # the six above and be's six pairs within the node
    assert pair("repair-hu", "repair-it").points == {"interests": 55, "sectors": 20, "stage": 15, "border": 10}
    assert pair("bike-at", "share-nl").points == {"interests": 24, "sectors": 20, "stage": 8, "border": 10}


def test_the_score_is_symmetric_and_a_border_adds_ten():
    for a, b in [("be-1", "food-nl"), ("bike-at", "share-nl"), ("repair-hu", "school-it"), ("be-1", "be-2")]:
        assert pair(a, b).exact == pytest.approx(pair(b, a).exact)
    same_node = pair("be-1", "be-2")
    assert same_node.points["border"] == 0 and same_node.score == 80  # 55 + 10.2 + 15, no bonus
    twin_abroad = scan.score(
        scan.Query.like(BY_REF["be-1"]), scan.Item.of({**vars(BY_REF["be-2"]), "country": "NL"}), VOCAB
    )
    assert twin_abroad.exact == pytest.approx(same_node.exact + 10)


def test_a_pair_sharing_only_the_decoy_scores_from_stage_and_border_alone():
    m = pair("theatre-at", "choir-hu")
    assert m.points == {"interests": 0, "sectors": 0, "stage": 15, "border": 10} and m.score == 25
    assert [(s.tag, s.held_by, s.rarity) for s in m.shared("interests")] == [("community", 12, "common")]


def test_a_typed_scan_ranks_by_focus_and_names_unknown_tags_nowhere_in_the_score():
    query = scan.Query(frozenset({"food-waste", "ghent-hub", "fod-waste"}))
    matches = scan.rank(query.known(VOCAB), ITEMS, VOCAB, limit=20)
    # be-n holds both known tags (S = W5 + W4, W(be) = S + W12): 100 * S / sqrt(S * W(be)) = 98.4;
    # food-nl holds food-waste: 100 * W5 / sqrt((W5 + W4) * (W5 + W12)) = 64.4. The typo weighs nothing.
    assert [(m.item.ref, m.score) for m in matches] == [
        ("be-1", 98),
        ("be-2", 98),
        ("be-3", 98),
        ("be-4", 98),
        ("food-nl", 64),
    ]


def test_groups_are_small_cross_node_and_never_a_whole_node():
    found = scan_groups.groups(scan.pairs(ITEMS, VOCAB), VOCAB, threshold=50)
    assert [[i.ref for i in g.items] for g in found] == [
        ["repair-hu", "repair-it"],  # mean 100
        ["be-1", "be-2", "food-nl"],  # (56 + 56 + 80) / 3 = 64: a third of be would be more than two of one node
        ["bike-at", "share-nl"],  # 61
    ]
    assert [round(g.mean) for g in found] == [100, 64, 61]
    assert all(2 <= len(g.items) <= scan_groups.MAX_GROUP for g in found)
    assert found[1].common == (("food-waste", 3), ("ghent-hub", 2))  # the decoy is not named as common ground
    assert not any({"be-3", "be-4"} & {i.ref for i in g.items} for g in found)  # their only links: within be
    assert [[i.ref for i in g.items] for g in scan_groups.groups(scan.pairs(ITEMS, VOCAB), VOCAB, 62)] == [
        ["repair-hu", "repair-it"]
    ]


def test_the_devnet_demo_set_forms_small_groups_not_one_giant_component():
    demo = json.loads((Path(scan.__file__).parents[1] / "initiatives" / "demo.json").read_text(encoding="utf-8"))
    countries = {"be-vl": "BE", "nl": "NL", "at": "AT", "it": "IT", "hu": "HU"}
    items = [
        scan.Item.of({**i, "node_id": node, "ref": f"i-{n}", "country": countries[node]})
        for node, listed in demo.items()
        if node in countries
        for n, i in enumerate(listed)
    ]
    vocab = scan.Vocabulary.of(items)
    found = scan_groups.groups(scan.pairs(items, vocab), vocab, threshold=50)
    assert len(items) == 20 and len(found) >= 5
    assert max(len(g.items) for g in found) <= scan_groups.MAX_GROUP
    assert sum(len(g.items) for g in found) <= 17


def test_reasons_in_words_with_the_score_parts(directory_app):
    with directory_app.test_request_context("/", headers={"Accept-Language": "en"}):
        twins = scan_words.match_json(pair("repair-hu", "repair-it"))
        neighbours = scan_words.match_json(pair("bike-at", "share-nl"))
        same_node = scan_words.match_json(pair("be-1", "be-2"))
    assert [(r["part"], r["points"], r["of"], r["text"]) for r in twins["reasons"]] == [
        (
            "interests",
            55,
            55,
            "share the interests 'circular-economy' (rare), 'repair' (rare), and 'community' (common, counts little)",
        ),
        ("sectors", 20, 20, "share the sector 'repair' (rare)"),
        ("stage", 15, 15, "both at the same stage: pilot"),
        ("border", 10, 10, "across a border: Hungary and Italy"),
    ]
    assert twins["reasons"][0]["shared"][0] == {
        "tag": "circular-economy",
        "held_by": 2,
        "weight": 1.872,
        "rarity": "rare",
    }
    assert twins["explanation"] == "; ".join(r["text"] for r in twins["reasons"])
    assert neighbours["reasons"][2]["text"] == "neighbouring stages: idea and planning"
    assert same_node["reasons"][3]["text"] == "listed by the same node (no cross-border bonus)"


def test_nearest_tags_by_edit_distance_prefix_and_word():
    counts = VOCAB.counts["interests"]
    assert scan_hints.nearest("repiar", counts) == (("repair",), True)  # two letters swapped: one edit
    assert scan_hints.nearest("mobilty", counts) == (("mobility",), True)
    assert scan_hints.nearest("circular", counts) == (("circular-economy",), True)  # it begins the tag
    assert scan_hints.nearest("waste", counts) == (("food-waste",), True)  # a word of the tag
    assert scan_hints.nearest("zzz", counts) == (
        ("community", "food-waste", "ghent-hub", "circular-economy", "mobility"),
        False,
    )
    assert scan_hints.edit_distance("kitten", "sitting") == 3 and scan_hints.edit_distance("ab", "ba") == 1


def test_a_scan_that_finds_nothing_says_why():
    def hint(query, items, other=False):
        vocab = scan.Vocabulary.of(items)
        matches = scan.rank(query.known(vocab), items, vocab, other_countries=other)
        return scan_hints.hint(query, items, vocab, matches, other_countries=other)

    typo = hint(scan.Query(frozenset({"repiar"})), ITEMS)
    assert typo.reason == "unknown_tags" and typo.unknown == (
        scan_hints.Unknown("interests", "repiar", ("repair",), True),
    )
    elsewhere = hint(scan.Query(frozenset({"music"})), ITEMS)  # a sector typed as an interest
    assert elsewhere.unknown == (scan_hints.Unknown("interests", "music", ("music",), True, "sectors"),)
    partly = hint(scan.Query(frozenset({"repair", "repiar"})), ITEMS)
    assert partly.reason == "" and [u.tag for u in partly.unknown] == ["repiar"]  # found, and still names the typo
    home = [
        scan.Item.of({"node_id": node, "ref": ref, "country": COUNTRY[node], "name": ref, "interests": tags})
        for node, ref, tags in [("be", "x", ["energy"]), ("be", "y", ["energy"]), ("nl", "z", [])]
    ]
    assert hint(scan.Query.like(home[0]), home, other=True) == scan_hints.Hint("only_same_country", (), 1)
    assert hint(scan.Query.like(home[2]), home).reason == "nothing_shared"
    assert hint(scan.Query.like(home[0]), home[:1]).reason == "nothing_listed"


def test_unknown_tags_offer_links_that_scan_with_the_suggestion(directory_app):
    query = scan.Query(frozenset({"repiar", "community"}), frozenset({"musc"}))
    found = scan_hints.hint(query, ITEMS, VOCAB, [], other_countries=False)
    args = {"interests": "community,repiar", "sectors": "musc", "stage": ""}
    with directory_app.test_request_context("/", headers={"Accept-Language": "en"}):
        out = scan_words.hint_json(found, args)
    assert out is not None
    interest, sector = out["unknown"]
    assert interest["message"] == "No listed initiative holds the interest 'repiar'."
    assert interest["offer"] == "Nearest tags in use:"
    assert interest["suggestions"] == [
        {
            "tag": "repair",
            "field": "interests",
            "page": "/scan?interests=community,repair&sectors=musc",
            "api": "/api/v1/scan?interests=community,repair&sectors=musc",
        }
    ]
    assert sector["message"] == "No listed initiative works in the sector 'musc'."
    assert [s["tag"] for s in sector["suggestions"]] == ["music"]
