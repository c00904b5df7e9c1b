"""ActCool dashboard entry point: ``streamlit run app`` from the repository root.

Streamlit runs this file as a script with only its own folder on ``sys.path``, so the
repository root is added first; the pages then import ``app``, ``storage`` and
``trainer`` as packages. The store is ``$ACTCOOL_HOME`` (default ``./actcool-data``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import data, ui  # noqa: E402

PAGES = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="ActCool", page_icon=":material/thermostat:", layout="wide")
ui.keep_settings()
page = st.navigation(
    [
        st.Page(PAGES / "design.py", title="Design", icon=":material/draw:"),
        st.Page(PAGES / "launch.py", title="Launch", icon=":material/rocket_launch:"),
        st.Page(PAGES / "runs.py", title="Runs", icon=":material/monitoring:"),
        st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare_arrows:"),
    ],
    position="top",
)
data.check_store()  # first: it creates the store where none is, and nothing else does
ui.sidebar_store_info()
page.run()
