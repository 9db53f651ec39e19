"""Keras model -> graph JSON (nodes, edges, nested groups) and its DOT / SVG drawing.

Reads patch state from ``engine.registry``; imports no patch kind.
"""
