"""The observation-kinds benchmark's grid order, resuming and combining (synthetic cell records;
no training)."""
from __future__ import annotations

import json

import pytest

from postbc_ros.benchmarks import obs_kinds
from postbc_ros.benchmarks.obs_kinds import (CELL_BENCHMARK, Cell, combine, grid, load_cells, markdown_report,
                                             missing_cells, plot_obs_kinds, run_grid, table_rows)

BUDGET = {"steps": 100, "ensemble_steps": 10, "ensemble_size": 4, "eval_episodes": 10,
          "variants": ["bc", "postbc:alpha=auto"], "alpha": 1.0, "horizon": 4, "n_action_steps": 4,
          "batch_size": 32, "hidden": [8], "coverage_states": 10, "coverage_samples": 2}


def cell_record(env, mode, demos, seed, bc, postbc, budget=BUDGET):
    return {"benchmark": CELL_BENCHMARK, "env": env, "obs_mode": mode, "demos": demos, "seed": seed,
            "budget": dict(budget), "wall_seconds": 10.0 + seed, "device": "cpu", "torch_threads": 1,
            "variants": {"bc": {"success": bc, "successes": round(bc * 10), "seconds": 3.0},
                         "postbc:alpha=auto": {"success": postbc, "successes": round(postbc * 10), "seconds": 5.0}}}


def write_cells(tmp_path, records):
    paths = []
    for r in records:
        p = tmp_path / f"{Cell(r['env'], r['obs_mode'], r['demos'], r['seed']).name}.json"
        p.write_text(json.dumps(r))
        paths.append(p)
    return paths


def test_grid_is_seed_major_and_names_are_unique():
    cells = grid(["postbc/A-v0", "postbc/B-v0"], ["state", "markers"], [10, 20], 3)
    assert len(cells) == 24 and len({c.name for c in cells}) == 24
    assert [c.seed for c in cells[:8]] == [0] * 8 and cells[8].seed == 1  # every condition gets seed 0 first
    assert Cell("postbc/UR5ePush-v0", "markers", 20, 2).name == "obs_kinds_UR5ePush_v0_markers_20demos_seed2"


def test_combine_stats_order_and_difference(tmp_path):
    recs = [cell_record("postbc/W-v0", "markers", 10, s, bc, pb)
            for s, (bc, pb) in enumerate([(0.5, 0.7), (0.6, 0.6), (0.4, 0.8)])]
    recs.append(cell_record("postbc/W-v0", "state", 10, 0, 0.9, 0.8))
    res = combine(load_cells(write_cells(tmp_path, recs)), expected_seeds=3)
    assert [c["obs_mode"] for c in res["conditions"]] == ["state", "markers"]  # OBS_KINDS order
    st, mk = res["conditions"]
    assert st["seeds"] == [0] and not st["complete"] and mk["complete"]
    bc, pb = mk["variants"]["bc"]["success"], mk["variants"]["postbc:alpha=auto"]["success"]
    assert bc["mean"] == pytest.approx(0.5) and pb["mean"] == pytest.approx(0.7)
    assert bc["n_episodes"] == 30 and bc["successes"] == 15
    lo, hi = bc["ci95_wilson"]
    assert lo < 0.5 < hi and bc["ci95_seeds"][0] < 0.5 < bc["ci95_seeds"][1]
    assert st["variants"]["bc"]["success"]["ci95_seeds"] is None  # one seed: no t-interval
    d = mk["variants"]["postbc:alpha=auto"]["minus_bc"]
    assert d["mean"] == pytest.approx(0.2) and d["per_seed"] == pytest.approx([0.2, 0.0, 0.4])
    assert "minus_bc" not in mk["variants"]["bc"]
    assert res["cell_wall_seconds_total"] == pytest.approx(10 + 11 + 12 + 10)
    rows = table_rows(res)
    assert len(rows) == 2 + 4 and "| proprio + markers | 10 | postbc:alpha=auto | 3 | 0.70 |" in rows[-1]
    assert plot_obs_kinds(res, tmp_path / "o.png").stat().st_size > 0


def test_combine_refuses_mixed_budgets_duplicates_and_foreign_files(tmp_path):
    a = cell_record("postbc/W-v0", "state", 10, 0, 0.5, 0.5)
    b = cell_record("postbc/W-v0", "state", 10, 1, 0.5, 0.5, budget=dict(BUDGET, steps=200))
    with pytest.raises(ValueError, match=r"budget differs.*\['steps'\]"):
        combine([a, b], 3)
    with pytest.raises(ValueError, match="seed 0 .* appears twice"):
        combine([a, dict(a)], 3)
    with pytest.raises(ValueError, match="no obs-kinds cells"):
        combine([], 3)
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"benchmark": "pretrain"}))
    with pytest.raises(ValueError, match="other.json: not an obs-kinds cell"):
        load_cells([foreign])


def test_run_grid_skips_written_cells_and_stops_at_deadline(tmp_path, monkeypatch):
    ran = []

    def fake_run_cell(cell, budget, log):
        ran.append(cell)
        return cell_record(cell.env, cell.obs_mode, cell.demos, cell.seed, 0.1, 0.2, budget)

    monkeypatch.setattr(obs_kinds, "run_cell", fake_run_cell)
    cells = grid(["postbc/W-v0"], ["state", "markers"], [10], 2)
    write_cells(tmp_path, [cell_record("postbc/W-v0", "state", 10, 0, 0.3, 0.3)])
    written = run_grid(cells, BUDGET, tmp_path, log=lambda m: None)
    assert [c.name for c in ran] == [c.name for c in cells[1:]] and len(written) == 3
    assert not list(tmp_path.glob("*.tmp"))
    ran.clear()
    assert run_grid(grid(["postbc/W-v0"], ["image"], [10], 1), BUDGET, tmp_path, stop_at=0.0,
                    log=lambda m: None) == [] and not ran
    res = combine(load_cells(sorted(tmp_path.glob("obs_kinds_*.json"))), 2)
    missing = missing_cells(grid(["postbc/W-v0"], ["state", "markers", "image"], [10], 2), load_cells(written))
    assert {c.obs_mode for c in missing} == {"state", "image"} and len(missing) == 3
    md = markdown_report(res, missing)
    assert "## Not run" in md and "proprio + image: 2 cells" in md and "policy 100 gradient steps" in md and "Reduced budget: 0% of" in md
    assert "privileged state 10 s; proprio + markers 10 s" in md  # mean cell wall time (10.5 s) per obs kind


def test_report_quotes_marker_error_and_lists_nothing_missing_when_complete(tmp_path):
    recs = [cell_record("postbc/W-v0", "state", 10, s, 0.5, 0.5) for s in range(2)]
    res = combine(load_cells(write_cells(tmp_path, recs)), 2)
    res["markers_twin"] = {"cases": [{"robot": "widowx", "task": "pick_place", "frames": 300,
                                      "pos_error_mm": {"mean": 0.82, "p95": 2.08},
                                      "perception_ms_per_frame": 8.43, "visible_rate": {"object": 0.25}}]}
    md = markdown_report(res, missing_cells(grid(["postbc/W-v0"], ["state"], [10], 2), recs))
    assert "| widowx | pick_place | 300 | 0.82 | 2.08 | 8.4 | object 0.25 |" in md
    assert "Not run" not in md
