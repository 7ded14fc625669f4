"""The quick scan ranks known initiatives as worked out by hand, explains each score, and groups across borders."""

from __future__ import annotations

from federation.directory import scan


def item(node_id, ref, country, interests, sectors, stage, name=None) -> scan.Item:
    return scan.Item.of(
        {
            "node_id": node_id,
            "ref": ref,
            "country": country,
            "name": name or ref,
            "interests": interests,
            "sectors": sectors,
            "stage": stage,
        }
    )


KITCHEN = item("be-vl", "kitchen", "BE", ["food", "social-inclusion", "community-building"], ["food"], "pilot")
ITEMS = [
    KITCHEN,
    item("hu", "twin", "HU", ["food", "social-inclusion", "community-building"], ["food", "community"], "pilot"),
    item("it", "market", "IT", ["food", "social-inclusion"], ["food"], "scaling"),
    item("nl", "garden", "NL", ["food"], ["agriculture"], "idea"),
    item("at", "canteen", "AT", ["housing"], ["food"], "pilot"),
    item(
        "be-vl", "neighbour", "BE", ["food", "social-inclusion", "community-building"], ["food", "community"], "pilot"
    ),
    item("hu", "sun", "HU", ["energy"], ["energy"], "idea"),
    item("nl", "wind", "NL", ["energy", "governance"], ["energy"], "idea"),
    item("at", "cohousing-a", "AT", ["housing", "governance"], ["housing"], "pilot"),
    item("at", "cohousing-b", "AT", ["housing", "governance"], ["housing"], "pilot"),
]


def test_like_an_initiative_ranks_by_hand_computed_scores_other_countries_only():
    matches = scan.rank(scan.Query.like(KITCHEN), ITEMS, other_countries=True)
    # twin: interests 3/3 -> 60, sectors 1/sqrt(1*2) -> 17.7, same stage 15 => 92.7
    # market: interests 2/sqrt(3*2) -> 48.99, sectors 25, neighbouring stage 7.5 => 81.49
    # canteen: no interest, sector food 25, same stage 15 => 40
    # garden: interests 1/sqrt(3) -> 34.6, no sector, stages two apart => 34.6
    assert [(m.item.ref, m.score) for m in matches] == [("twin", 93), ("market", 81), ("canteen", 40), ("garden", 35)]
    twin = matches[0]
    assert twin.points == {"interests": 60, "sectors": 18, "stage": 15}
    assert twin.explanation() == (
        "interests shared: community-building, food, social-inclusion (60/60); "
        "sectors shared: food (18/25); same stage (pilot) (15/15)"
    )
    assert matches[1].explanation().endswith("neighbouring stages (pilot and scaling) (8/15)")
    assert matches[3].explanation().endswith("stages far apart (pilot and idea) (0/15)")


def test_same_country_initiatives_count_unless_asked_for_other_countries_only():
    everywhere = scan.rank(scan.Query.like(KITCHEN), ITEMS, limit=2)
    assert [m.item.ref for m in everywhere] == ["neighbour", "twin"]  # equal scores: by name
    assert all(m.item.key != KITCHEN.key for m in scan.rank(scan.Query.like(KITCHEN), ITEMS, limit=50))


def test_a_set_of_interests_is_scored_on_interests_alone():
    matches = scan.rank(scan.Query(frozenset({"energy", "governance"})), ITEMS)
    # wind: 2/sqrt(2*2) = 1 -> 100; cohousing: 1/sqrt(2*2) -> 50; sun: 1/sqrt(2*1) -> 70.7
    assert [(m.item.ref, m.score) for m in matches] == [
        ("wind", 100),
        ("sun", 71),
        ("cohousing-a", 50),
        ("cohousing-b", 50),
    ]
    assert matches[0].points == {"interests": 60} and matches[0].explanation() == (
        "interests shared: energy, governance (60/60)"
    )


def test_nothing_shared_is_not_a_match():
    assert scan.rank(scan.Query(frozenset({"culture"})), ITEMS) == []


def test_groups_link_initiatives_across_countries_only():
    found = scan.groups(ITEMS, threshold=50)
    assert [sorted(i.ref for i in g.items) for g in found] == [
        ["kitchen", "market", "neighbour", "twin"],
        ["sun", "wind"],
    ]
    food, energy = found
    assert food.countries == ("BE", "HU", "IT")
    assert food.common_interests == ("community-building", "food", "social-inclusion")
    assert ("be-vl:kitchen", "be-vl:neighbour") not in {(a, b) for a, b, _ in food.links}  # same country
    assert food.links[0] == ("be-vl:neighbour", "hu:twin", 100)  # alike in every part: the strongest link
    assert energy.common_interests == ("energy",)
    # cohousing-a and -b are alike but both Austrian: no group; garden scores 35 and 42 against the others: alone
    assert scan.groups(ITEMS, threshold=101) == []


def test_a_higher_threshold_splits_groups():
    assert [sorted(i.ref for i in g.items) for g in scan.groups(ITEMS, threshold=90)] == [
        ["kitchen", "neighbour", "twin"]
    ]
