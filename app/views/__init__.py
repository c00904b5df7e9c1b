"""The dashboard's pages: scripts that ``app/streamlit_app.py`` runs through ``st.navigation``.

They are run by Streamlit, top to bottom as each page looks, and are not meant to be imported.
"""
