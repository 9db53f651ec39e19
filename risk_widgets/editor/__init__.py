"""The editor without a screen: selection, patch stack, undo/redo, the patch catalog, the live
risk view's payloads, code export and patch diffs. No traitlets, no UI code.
"""
