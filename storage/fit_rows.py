"""One response-model fit per row of the ``fits`` table: what a row may hold, checked once.

A row is a mapping with ``site`` (a site name or ``'mean'``), ``model`` (``'gaussian'`` or
``'weibull'``) and any of ``mu``, ``sigma`` (Gaussian), ``lambda0``, ``k`` (Weibull), ``rmse``,
``n_informative`` and ``reason`` (why there is no fit); what is left out is NULL. A tuple
``(site, mu, sigma, rmse, n_informative)`` is a Gaussian row, as before Weibull fits were stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .validate import count, number

FIT_MODELS = ("gaussian", "weibull")
FIT_FIELDS = ("site", "model", "mu", "sigma", "lambda0", "k", "rmse", "n_informative", "reason")


def fit_columns(rows: Sequence[tuple | Mapping[str, Any]]) -> dict[str, list]:
    """The rows as columns of :data:`FIT_FIELDS`, every value checked.

    Raises:
        ValueError: an unknown field or model, a missing site, or a parameter of the other
            model; TypeError: a reason that is not text.
    """
    columns: dict[str, list] = {name: [] for name in FIT_FIELDS}
    for row in rows:
        if isinstance(row, Mapping):
            fields = dict(row)
        elif isinstance(row, (tuple, list)) and len(row) == 5:
            fields = dict(zip(("site", "mu", "sigma", "rmse", "n_informative"), row, strict=True))
            fields["model"] = "gaussian"
        else:
            raise ValueError(
                "each fit row must be a mapping of "
                f"{', '.join(FIT_FIELDS)} or a tuple (site, mu, sigma, rmse, n_informative), "
                f"got {row!r}"
            )
        unknown = sorted(set(fields) - set(FIT_FIELDS), key=str)
        if unknown:
            raise ValueError(
                f"unknown fit field(s) {unknown}; a fit row has: {', '.join(FIT_FIELDS)}"
            )
        site, model = fields.get("site"), fields.get("model")
        if not isinstance(site, str) or not site:
            raise ValueError(f"fit site must be a site name or 'mean', got {site!r}")
        if model not in FIT_MODELS:
            raise ValueError(f"unknown fit model {model!r}; choose one of: {', '.join(FIT_MODELS)}")
        foreign = ("lambda0", "k") if model == "gaussian" else ("mu", "sigma")
        given = [name for name in foreign if fields.get(name) is not None]
        if given:
            raise ValueError(f"a {model} fit has no {' or '.join(given)}, got {row!r}")
        reason = fields.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"fit reason must be a str or None, got {reason!r}")
        n_inf = fields.get("n_informative")
        columns["site"].append(site)
        columns["model"].append(model)
        for name in ("mu", "sigma", "lambda0", "k", "rmse"):
            columns[name].append(number(fields.get(name), name))
        columns["n_informative"].append(None if n_inf is None else count(n_inf, "n_informative"))
        columns["reason"].append(reason)
    return columns
