"""Label rules from the herd records a real farm keeps — never from the simulator's ``gt_events``.

A label is 1.0 (event), 0.0 (confidently no event) or NaN (the records cannot tell: training
should drop or down-weight these rows rather than learn a guess). Labels may look into the
future (that is what a label is) but only through records, which arrive late: a training day
materialised before its pregnancy checks are entered has fewer confirmed labels; the
``labels_as_of`` metadata of ``training_features`` says when the records were read.

* **heat**: every insemination marks a heat the farmer saw (inseminations confirmed by a
  positive pregnancy check are certain; unconfirmed ones are still observed heats), and so does
  a confirmed heat alert. The heat window is ``[at - 18 h, at + 6 h)`` around the insemination
  (farmers inseminate ~12 h after the onset of standing heat; a heat lasts 8–15 h). Heats the
  farmer did *not* inseminate are not labelled 0: where the 21-day cycle (18–24 d) predicts an
  unrecorded heat — one or two cycles after an insemination that a check refuted or that had a
  repeat, or before the first recorded heat of a lactation from 18 d after calving — the rows
  are NaN. After a confirmed conception heats are suppressed, so those rows stay 0.
* **calving**: 1 if a calving (``lactations.calving_at``) falls within
  ``[bucket_start, bucket_start + 12 h)``. The use case alerts "calving within about a day"
  (alerts 6-36 h ahead count), but the score needs hours above its threshold to confirm, so
  a model trained on the last 12 h crosses at ~20 h ahead; trained on the last 24 h it rose as
  the drop began, often 36-72 h early (seed 23: 0.84 -> 0.88 of calvings in the 6-36 h window,
  precision 0.67 -> 0.82, together with the 3-day temperature level features).
* **fever**: from treatments whose diagnosis is a febrile disease (mastitis, metritis,
  pneumonia, fever, ...; not milk fever, which lowers temperature). Farmers diagnose 0–4 days
  after onset: 1 in ``[diagnosed_at - 48 h, diagnosed_at + 24 h)``, NaN in the uncertain margins
  ``[diagnosed_at - 96 h, -48 h)`` and ``[+24 h, +96 h)``, 0 elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.features.buckets import to_ns
from smx_assets.domain.features.profile import FarmRecords

H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)

HEAT_BEFORE, HEAT_AFTER = 18 * H, 6 * H
CYCLE, CYCLE_SLACK = 21 * D, 3 * D
FIRST_HEAT_AFTER_CALVING = 18 * D
CALVING_HORIZON = 12 * H
FEVER_BEFORE, FEVER_AFTER = 48 * H, 24 * H
FEVER_UNCERTAIN_BEFORE, FEVER_UNCERTAIN_AFTER = 96 * H, 96 * H
FEBRILE = ("mastitis", "metritis", "pneumonia", "fever", "infection", "pyrexia", "respiratory", "brd")
NOT_FEBRILE = ("milk_fever", "milk fever", "hypocalc")

LABEL_COLUMNS = ["label_heat", "label_calving", "label_fever"]


def _mark(out: np.ndarray, animal: np.ndarray, ts: np.ndarray, ev_animal: np.ndarray, ev_start: np.ndarray,
          ev_end: np.ndarray, value: float, only_if: float | None = None) -> None:
    """Set ``out`` to ``value`` for rows of the event's animal with ``start <= ts < end``.

    Rows are sorted by (animal, ts), so each event touches one contiguous slice (searchsorted).
    ``only_if``: only overwrite rows currently holding that value (so NaN never overwrites 1).
    """
    keys = animal.astype("int64")
    for a, s, e in zip(ev_animal, ev_start, ev_end):
        lo = np.searchsorted(keys, a, side="left")
        hi = np.searchsorted(keys, a, side="right")
        if lo == hi:
            continue
        i0 = lo + np.searchsorted(ts[lo:hi], s, side="left")
        i1 = lo + np.searchsorted(ts[lo:hi], e, side="left")
        if i1 <= i0:
            continue
        if only_if is None:
            out[i0:i1] = value
        else:
            seg = out[i0:i1]
            seg[seg == only_if] = value


def _heat_events(records: FarmRecords) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observed heats, expected-but-unrecorded heat windows) per animal."""
    ins = records.inseminations[["animal_id", "at", "pregnant"]].rename(columns={"at": "heat_at"})
    fb = records.heat_feedback[["animal_id", "heat_at"]].assign(pregnant=np.nan)
    heats = pd.concat([ins, fb], ignore_index=True).dropna(subset=["heat_at"]).sort_values(["animal_id", "heat_at"])
    expected = []
    calvings = records.lactations[["animal_id", "calving_at"]].sort_values(["animal_id", "calving_at"])
    calv_by_animal = {a: g["calving_at"].tolist() for a, g in calvings.groupby("animal_id")}
    for a, g in heats.groupby("animal_id"):
        times = g["heat_at"].tolist()
        preg = g["pregnant"].tolist()
        calv = calv_by_animal.get(a, [])
        for i, (t, p) in enumerate(zip(times, preg)):
            if p == 1.0:
                continue  # conception: no further heats until the next calving
            nxt = times[i + 1] if i + 1 < len(times) else None
            for k in (1, 2):
                c = t + k * CYCLE
                if nxt is not None and nxt < c + CYCLE_SLACK:
                    break  # the next heat was recorded before or within this expected window
                if any(t < cv <= c for cv in calv):
                    break
                expected.append((a, c - CYCLE_SLACK, c + CYCLE_SLACK))
        # Before the first recorded heat after each calving: cycles back to 18 d post-calving.
        for cv in calv:
            after = [t for t in times if t > cv]
            if not after:
                continue
            c = after[0] - CYCLE
            while c - CYCLE_SLACK > cv + FIRST_HEAT_AFTER_CALVING:
                expected.append((a, c - CYCLE_SLACK, c + CYCLE_SLACK))
                c -= CYCLE
    exp = pd.DataFrame(expected, columns=["animal_id", "start", "end"])
    return heats, exp


def attach_labels(features: pd.DataFrame, records: FarmRecords) -> pd.DataFrame:
    """Add ``label_heat``, ``label_calving``, ``label_fever`` to a feature frame (keys: animal_id, bucket_start)."""
    order = np.lexsort((to_ns(features["bucket_start"]), features["animal_id"].to_numpy()))
    f = features.iloc[order]
    animal = f["animal_id"].to_numpy(dtype="int64")
    ts = to_ns(f["bucket_start"])
    n = len(f)
    ns = lambda s: to_ns(s) if len(s) else np.array([], dtype="int64")  # noqa: E731

    heat = np.zeros(n)
    heats, expected = _heat_events(records)
    if len(expected):
        _mark(heat, animal, ts, expected["animal_id"].to_numpy(), ns(expected["start"]), ns(expected["end"]), np.nan)
    if len(heats):
        hs = ns(heats["heat_at"])
        _mark(heat, animal, ts, heats["animal_id"].to_numpy(), hs - HEAT_BEFORE.value, hs + HEAT_AFTER.value, 1.0)

    calving = np.zeros(n)
    lac = records.lactations
    if len(lac):
        c = ns(lac["calving_at"])
        # bucket_start in (calving - horizon, calving]  <=>  calving in [bucket_start, bucket_start + horizon)
        _mark(calving, animal, ts, lac["animal_id"].to_numpy(), c - CALVING_HORIZON.value + 1, c + 1, 1.0)

    fever = np.zeros(n)
    trt = records.treatments
    if len(trt):
        diag = trt["diagnosis"].fillna("").str.lower()
        febrile = diag.apply(lambda d: any(k in d for k in FEBRILE) and not any(k in d for k in NOT_FEBRILE))
        tf = trt[febrile.to_numpy()]
        if len(tf):
            d_ns = ns(tf["diagnosed_at"])
            aid = tf["animal_id"].to_numpy()
            _mark(fever, animal, ts, aid, d_ns - FEVER_UNCERTAIN_BEFORE.value, d_ns + FEVER_UNCERTAIN_AFTER.value,
                  np.nan, only_if=0.0)
            _mark(fever, animal, ts, aid, d_ns - FEVER_BEFORE.value, d_ns + FEVER_AFTER.value, 1.0)

    out = features.copy()
    for name, arr in (("label_heat", heat), ("label_calving", calving), ("label_fever", fever)):
        col = np.empty(n)
        col[order] = arr
        out[name] = col
    return out
