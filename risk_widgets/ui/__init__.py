"""Jupyter and marimo: the anywidget class, its panels and views, ``%risk_edit`` and the
standalone HTML export. The only layer that knows about traitlets and messages.
"""
