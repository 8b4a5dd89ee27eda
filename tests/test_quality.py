"""align/quality.py: ranking distances by how they follow mAP across a zoo, and the held-out quality score."""
import numpy as np
import pytest

from align import quality as q
from core.errors import UserError


def planted(n=12, seed=0, slope=-0.3, noise=0.01):
    """A zoo table where db:area_frac drives mAP, db:cy is noise, kid is weakly related."""
    rng = np.random.default_rng(seed)
    table = {}
    for i in range(n):
        a, c = rng.uniform(0, 1), rng.uniform(0, 1)
        m = 0.5 + slope * a + rng.normal(0, noise)
        table[f"set{i}"] = {"distances": {"db:area_frac": a, "db:cy": c, "kid": a + rng.normal(0, 0.5)}, "map": m}
    return table


def test_ranking_recovers_the_planted_metadata():
    rank = q.rank_metrics(planted(), B=300)
    first = rank[0]
    assert first["metric"] == "db:area_frac" and first["rho"] < -0.9 and first["p"] < 0.01 and first["matters"]
    assert first["ci"][1] < -0.5          # the interval excludes zero
    cy = next(r for r in rank if r["metric"] == "db:cy")
    assert not cy["matters"] and abs(cy["rho"]) < 0.6 and cy["p"] > 0.05


def test_held_out_score_ranks_the_sets_and_reports_kid_beside_it():
    ev = q.evaluate(planted(), B=200)
    assert ev["held_out"]["rho"] < -0.8 and ev["held_out"]["p"] < 0.01 and ev["held_out"]["n"] == 12
    assert ev["kid"]["rho"] > ev["held_out"]["rho"]          # KID alone is the weaker ranker here
    assert max(ev["weights"]["w"], key=ev["weights"]["w"].get) == "db:area_frac"


def test_held_out_weighting_never_sees_the_held_out_set():
    table = planted()
    seen = []

    def spy(sub, metrics=None):
        seen.append(set(sub))
        return q.fit_weights(sub, metrics)
    q.held_out_scores(table, fit=spy)
    assert len(seen) == len(table) and all(len(s) == len(table) - 1 for s in seen)
    assert all(name not in s for name, s in zip(table, seen))
    # behaviour, not only the call: a held-out set's own mAP cannot move its own score
    base = q.held_out_scores(table)
    for name in table:
        poisoned = {k: (dict(v, map=100.0) if k == name else v) for k, v in table.items()}
        assert q.held_out_scores(poisoned)[name] == pytest.approx(base[name])


def test_transfer_and_predicted_ranks():
    w = q.fit_weights(planted(seed=0))
    other = planted(seed=1)
    tr = q.transfer(w, other, B=100)
    assert tr["rho"] < -0.8
    ranks = q.predicted_ranks(w, {"near": {"db:area_frac": 0.05, "db:cy": 0.5, "kid": 0.1},
                                  "far": {"db:area_frac": 0.95, "db:cy": 0.5, "kid": 0.9}, "none": {}})
    assert [r[0] for r in ranks] == ["near", "far", "none"] and ranks[0][2] == 1 and ranks[2][1] is None


def test_weights_without_any_relation_fall_back_to_kid_and_missing_values_are_skipped():
    table = {f"s{i}": {"distances": {"db:cy": float(i), "kid": float(i % 3)}, "map": 0.1} for i in range(5)}
    w = q.fit_weights(table)                                   # constant mAP: no rho, KID alone
    assert w.w == {"kid": 1.0}
    table["s0"]["distances"]["kid"] = None
    assert q.score_set(w, table["s0"]["distances"]) is None
    assert q.rank_metrics(table)[0]["rho"] is None            # constant mAP: no correlation, no crash


def test_distance_row_and_auto_metadata():
    class R:
        def __init__(self, db, w1):
            self.db, self.w1 = db, w1
    row = q.distance_row({"cy": R(0.2, 0.1), "area_frac": R(float("nan"), None)},
                         {"kid": 0.03, "fid": 12.0, "precision": 0.75, "recall": 0.5})
    assert row == {"db:cy": 0.2, "w1:cy": 0.1, "db:area_frac": None, "w1:area_frac": None, "kid": 0.03,
                   "fid": 12.0, "1-precision": 0.25, "1-recall": 0.5}
    zoo = {"ranking": q.rank_metrics(planted(), B=50), "score": {}, "sets": {}}
    assert q.auto_metadata(zoo, "z.json", ["area_frac", "cy"]) == ["area_frac"]
    zoo["ranking"] = [r for r in zoo["ranking"] if r["metric"] != "db:area_frac"]
    with pytest.raises(UserError, match=r"z.json: key 'ranking': no metadata"):
        q.auto_metadata(zoo, "z.json", ["area_frac", "cy"])


def test_load_zoo_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="no zoo.json here"):
        q.load_zoo(tmp_path)
    (tmp_path / "zoo.json").write_text('{"ranking": []}')
    with pytest.raises(UserError, match=r"zoo.json: key 'score': missing"):
        q.load_zoo(tmp_path)


def test_singles_spread_over_the_grid():
    from synthgap.zoo import singles
    assert singles(list(range(10)), 4) == [0, 3, 6, 9]
    assert singles(list(range(3)), 4) == [0, 1, 2] and singles(list(range(5)), 1) == [0]


def test_bh_qvalues():
    assert q.bh_qvalues([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.04, None, 0.04])
    assert q.bh_qvalues([]) == []
