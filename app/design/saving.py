"""Saving the curve by name (asking before replacing one), and the saved curves' list."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from actcool import TargetCurve
from app import data, ui
from app.design.common import CURVE, REPLACING, state


def save_curve(name: str, curve) -> None:
    """Save ``curve`` under ``name`` (replacing one of that name) and say so."""
    try:
        with data.guard():
            data.store().save_curve(name, curve.to_dict())
    except (ValueError, TypeError) as exc:
        st.error(f"Not saved: {exc}")
    else:
        data.clear()
        st.success(f"Saved as '{name}'. Launch it from the Launch page (ActCoolLR target).")


def section(curve: TargetCurve | None) -> None:
    """The curve for the Launch page, then the Save and Saved curves columns."""
    if curve is not None:
        state[CURVE] = curve.to_dict()
    else:
        state.pop(CURVE, None)
    st.divider()
    save_col, saved_col = st.columns(2, gap="medium")
    with save_col:
        st.subheader("Save")
        name = st.text_input("Curve name", placeholder="e.g. hot-start-linear", key="design_name")
        with data.guard():
            existing = set(data.curves()["name"])
        if st.button("Save curve", type="primary", disabled=curve is None, key="do_save_curve"):
            if name.strip() in existing:  # ask before replacing a saved curve
                state[REPLACING] = name.strip()
            else:
                save_curve(name.strip(), curve)
        if curve is not None and state.get(REPLACING) == name.strip() and name.strip() in existing:
            st.warning(
                f"A curve named '{name.strip()}' is saved already. Replace it with this one?",
                icon=":material/warning:",
            )
            replace_col, keep_col, _ = st.columns([1, 1, 2])
            if replace_col.button("Replace it", type="primary", key="do_replace_curve"):
                state.pop(REPLACING, None)
                save_curve(name.strip(), curve)
            if keep_col.button("Keep it", key="do_keep_curve"):
                state.pop(REPLACING, None)
                st.rerun()
    with saved_col:
        with data.guard():
            saved = data.curves()
        st.subheader("Saved curves")
        if len(saved) == 0:
            st.caption("None yet.")
        else:
            listing = pd.DataFrame(
                {
                    "name": saved["name"],
                    "kind": saved["definition"].map(lambda d: d.get("kind")),
                    "saved (UTC)": saved["created_at"].dt.strftime("%Y-%m-%d %H:%M"),
                }
            )
            st.dataframe(listing, hide_index=True, width="stretch")
            ui.drop_stale("design_delete", ["—", *saved["name"].tolist()])
            doomed = st.selectbox(
                "Delete a curve", ["—", *saved["name"].tolist()], key="design_delete"
            )
            if st.button("Delete", disabled=doomed == "—", key="do_delete_curve"):
                try:
                    with data.guard():
                        data.store().delete_curve(doomed)
                except KeyError as exc:
                    st.error(str(exc.args[0]) if exc.args else str(exc))
                else:
                    data.clear()
                    st.rerun()
