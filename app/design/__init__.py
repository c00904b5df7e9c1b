"""The Design page's sections (``app/views/design.py`` runs them, top to bottom).

:mod:`~app.design.common`: the session keys of the curve being edited; :mod:`~app.design.source`:
where the response model of the implied rate comes from; :mod:`~app.design.presets`: the
sidebar's presets and the ramp's warm-up; :mod:`~app.design.points`: the lasso stroke, the control
points and the curve's chart; :mod:`~app.design.implied`: the implied learning rate and the range
test; :mod:`~app.design.saving`: saving, listing and deleting curves.
"""
