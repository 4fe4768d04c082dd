"""The analysis block on batch experiments and acceptance tests (beyond the reference, as on shadow and
switchback tests): each candidate against the baseline, paired by input, one metric at a time.

A pair is two succeeded runs of the experiment that share input, scenario and repetition (and option set,
for an acceptance test), one on each side. The numbers are ``domain.analysis.paired``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from runyard.domain import acceptance as acceptance_lib
from runyard.domain import analysis as analysis_lib
from runyard.domain import stats
from runyard.domain.errors import Conflict, Invalid
from runyard.services.acceptance import load_acceptance
from runyard.services.apps import load_app
from runyard.services.experiments import load_experiment, refresh
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Experiment, Run

SEED = 0  # every bootstrap of these comparisons; recorded in each metric's block
PairKey = tuple[Any, ...]


def _require_libraries() -> None:
    if not analysis_lib.available():
        raise Conflict("this server cannot analyse: the analysis needs numpy and scipy (pip install 'runyard[analysis]')")


def _runs(s: Any, exp: Experiment) -> list[Run]:
    query = select(Run).where(Run.app_pk == exp.app_pk, Run.experiment_id == exp.id).order_by(Run.created_at, Run.id)
    return list(s.scalars(query))


def _pair_key(run: Run, *, with_option_set: bool) -> PairKey:
    key: PairKey = (run.input_id, run.scenario_id, run.repetition or 0)
    return key + (run.option_set,) if with_option_set else key


def _by_key(runs: Iterable[Run], key: Callable[[Run], PairKey]) -> dict[PairKey, Run]:
    """The first succeeded run of each key (an experiment holds one run per key and side)."""
    out: dict[PairKey, Run] = {}
    for run in runs:
        if run.status == "succeeded":
            out.setdefault(key(run), run)
    return out


def compare(baseline: list[Run], candidate: list[Run], fields: list[str] | None, key: Callable[[Run], PairKey]) -> dict[str, Any]:
    """Per metric, ``paired`` over the keys both sides succeeded on; ``fields`` None means every numeric
    statistic and metric the two sides share."""
    base, cand = _by_key(baseline, key), _by_key(candidate, key)
    keys = [k for k in base if k in cand]
    values = {run.id: _values(run, fields) for run in [*base.values(), *cand.values()]}
    names = fields if fields is not None else sorted(
        set.intersection(*[set(values[r.id]) for k in keys for r in (base[k], cand[k])]) if keys else set())
    metrics = {}
    for name in names:
        pairs = [(values[base[k].id][name], values[cand[k].id][name]) for k in keys
                 if name in values[base[k].id] and name in values[cand[k].id]]
        metrics[name] = analysis_lib.paired([p[0] for p in pairs], [p[1] for p in pairs], seed=SEED)
    return {"pairs": len(keys), "unpaired_runs": len(base) + len(cand) - 2 * len(keys), "metrics": metrics}


def _values(run: Run, fields: list[str] | None) -> dict[str, float]:
    if fields is None:
        return stats.indicator_values(run.statistics, run.metrics)
    row = {"status": run.status, "metrics": run.metrics, "statistics": run.statistics}
    out = {}
    for name in fields:
        found = acceptance_lib.metric_values([row], name)  # metrics first, then statistics, as the verdict reads it
        if found:
            out[name] = found[0]
    return out


def _envelope(exp: Experiment, comparisons: list[dict[str, Any]], paired_by: list[str]) -> dict[str, Any]:
    return {"id": exp.id, "status": exp.status, "alpha": analysis_lib.ALPHA, "power": analysis_lib.POWER,
            "paired_by": paired_by, "comparisons": comparisons}


def acceptance_analysis(platform: Platform, principal: Principal, app_id: str, test_id: str) -> dict[str, Any]:
    """The candidate against the control, paired by input, for each metric the test judges."""
    _require_libraries()
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        test = load_acceptance(s, app, test_id)
        exp = load_experiment(s, app, test.experiment_id)
        refresh(s, exp)
        runs = _runs(s, exp)
        fields = list(dict.fromkeys(m["field"] for m in test.metrics))
        control, candidate = test.control["instance_id"], test.candidate["instance_id"]
        block = compare([r for r in runs if r.instance_id == control], [r for r in runs if r.instance_id == candidate], fields,
                        lambda r: _pair_key(r, with_option_set=True))
        out = _envelope(exp, [{"baseline_instance_id": control, "candidate_instance_id": candidate, **block}],
                        ["input_id", "scenario_id", "repetition", "option_set"])
        out["id"], out["status"] = test.id, test.status
        return out


def batch_analysis(platform: Platform, principal: Principal, app_id: str, exp_id: str, *,
                   baseline_instance_id: str | None = None) -> dict[str, Any]:
    """Every other group (instance, version, option set) against the baseline instance's runs of the same
    option set, paired by input, scenario and repetition, for every numeric statistic and metric."""
    _require_libraries()
    with platform.db.session() as s:
        exp = load_experiment(s, load_app(s, principal, app_id), exp_id)
        refresh(s, exp)
        runs = _runs(s, exp)
        groups: dict[tuple[str, str, str], list[Run]] = {}
        for run in runs:
            groups.setdefault((run.instance_id or "", run.version_id or "", run.option_set or ""), []).append(run)
        instances = list(dict.fromkeys(g[0] for g in groups))
        baseline = baseline_instance_id or (exp.instance_ids or instances or [""])[0]
        if baseline not in instances:
            raise Invalid(f"baseline_instance_id {baseline!r} ran nothing in experiment {exp_id!r}; "
                          f"its instances are {', '.join(i for i in instances if i) or 'none'}")
        comparisons = []
        for (instance, version, option_set), group in groups.items():
            if instance == baseline:
                continue
            base = [r for r in runs if r.instance_id == baseline and (r.option_set or "") == option_set]
            block = compare(base, group, None, lambda r: _pair_key(r, with_option_set=False))
            comparisons.append({"baseline_instance_id": baseline, "candidate_instance_id": instance,
                                "candidate_version_id": version, "option_set": option_set or None, **block})
        return _envelope(exp, comparisons, ["input_id", "scenario_id", "repetition"])
