"""The ActCool dashboard (``streamlit run app``): design target curves, launch, watch, compare.

Pages live in ``app/views/`` and are wired up by ``app/streamlit_app.py``. The importable,
Streamlit-free parts are :mod:`app.charts` (figures), :mod:`app.colors` (schedule colours,
shared with the benchmark report), :mod:`app.curve_edit` (curve editing), :mod:`app.configs`
(launch settings) and :mod:`app.summary` (run summaries); :mod:`app.data` holds the cached
store queries.
"""

__all__ = ["charts", "configs", "curve_edit", "summary"]
