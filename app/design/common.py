"""The Design page's session state: the keys of the curve being edited, and a new revision
of its points."""

from __future__ import annotations

import pandas as pd
import streamlit as st

state = st.session_state
REV, TABLE, BASE, POINTS, CURVE, FLASH = (
    "design_rev",  # bumps whenever the points are replaced: fresh table and chart widgets
    "design_table",  # the points the table widget starts from (for this revision)
    "design_base",  # the untouched preset's definition, None once edited (a drawn curve)
    "design_points",  # the points as last shown, edits included (what a stroke edits)
    "design_curve",  # the valid curve's definition, read by the Launch page
    "design_flash",  # (kind, text) to show on the next run: ("success", "Stroke applied ...")
)

NO_RUN = ""  # the check-run selectbox's "none" option
REPLACING = "replace_curve"  # session key: the saved curve's name a save would replace


def replace_points(
    points: pd.DataFrame, base: dict | None, message: str | None = None, kind: str = "success"
) -> None:
    """Start a new revision: the table and chart are rebuilt from ``points``."""
    state[TABLE] = points
    state[POINTS] = points
    state[BASE] = base
    state[REV] = state.get(REV, 0) + 1
    if message:
        state[FLASH] = (kind, message)
