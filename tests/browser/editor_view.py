"""Reads and drives a rendered GraphEditor view in the page (browser tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EditorView:
    """Reads and drives one GraphEditor view through its DOM hooks.

    The graph is drawn on a canvas; its nodes are mirrored in a hidden list
    ``[data-role=node-index] [data-node-id]`` whose ``data-*`` attributes (name, kind,
    class-name, selected, patch, expanded, x/y/w/h in canvas CSS pixels, onscreen) are read
    here. Toolbar buttons are ``[data-action=...]``; other parts ``[data-role=...]``.
    """

    def __init__(self, page: Any, root: Any) -> None:
        self.page = page
        self.root = root  # Locator of the .rw-editor element

    @property
    def canvas(self):
        return self.root.locator("[data-role=graph-canvas]")

    def node_rows(self):
        """Locator of the node-index rows (one per visible node)."""
        return self.root.locator("[data-role=node-index] [data-node-id]")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the view exists and lists at least one laid-out node."""
        from playwright.sync_api import expect

        expect(self.root).to_be_attached(timeout=timeout * 1000)
        expect(self.node_rows().first).to_be_attached(timeout=timeout * 1000)

    def wait_nodes(self, ids: Sequence[str], timeout: float = 30.0) -> None:
        """Wait until the node index lists exactly ``ids`` (in any order)."""
        self.page.wait_for_function(
            """([root, ids]) => {
  const got = [...root.querySelectorAll('[data-role=node-index] [data-node-id]')]
    .map(e => e.dataset.nodeId).sort();
  const want = [...ids].sort();
  return got.length === want.length && got.every((v, i) => v === want[i]);
}""",
            arg=[self.root.element_handle(timeout=timeout * 1000), list(ids)],
            timeout=timeout * 1000,
        )

    def nodes(self) -> list[dict]:
        """Every listed node as a dict: ``id``, ``name``, ``kind``, ``class_name``,
        ``selected`` (bool), ``patch`` (str or None), ``expanded``, ``onscreen``,
        ``x``/``y``/``w``/``h`` (floats, canvas CSS pixels)."""
        rows = self.node_rows().evaluate_all("els => els.map(e => ({...e.dataset}))")
        return [_node_dict(row) for row in rows]

    def node_ids(self) -> list[str]:
        return [n["id"] for n in self.nodes()]

    def node(self, node_id: str) -> dict:
        for n in self.nodes():
            if n["id"] == node_id:
                return n
        raise AssertionError(f"node {node_id!r} is not in the view; listed: {self.node_ids()}")

    def selected(self) -> list[str]:
        return [n["id"] for n in self.nodes() if n["selected"]]

    def point(self, node_id: str, fx: float = 0.5, fy: float = 0.5) -> tuple[float, float]:
        """Page coordinates of a point inside node ``node_id`` (default: its centre)."""
        n = self.node(node_id)
        box = self.canvas.bounding_box()
        if box is None:
            raise AssertionError("the graph canvas is not visible")
        return box["x"] + n["x"] + fx * n["w"], box["y"] + n["y"] + fy * n["h"]

    def click_node(self, node_id: str, *, shift: bool = False) -> None:
        """Click a node on the canvas (shift-click adds to the selection)."""
        self.canvas.scroll_into_view_if_needed()
        x, y = self.point(node_id)
        if shift:
            self.page.keyboard.down("Shift")
        try:
            self.page.mouse.click(x, y)
        finally:
            if shift:
                self.page.keyboard.up("Shift")

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        """Drag on the canvas between two points in canvas CSS pixels (rubber band)."""
        self.canvas.scroll_into_view_if_needed()
        box = self.canvas.bounding_box()
        self.page.mouse.move(box["x"] + start[0], box["y"] + start[1])
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=steps)
        self.page.mouse.up()

    def button(self, action: str):
        """Locator of the toolbar button ``[data-action=<action>]`` (apply, undo, ...)."""
        return self.root.locator(f"[data-action={action}]")

    def click(self, action: str) -> None:
        self.button(action).click()

    def role(self, name: str):
        """Locator of ``[data-role=<name>]`` inside the view (status, patch-kind, ...)."""
        return self.root.locator(f"[data-role={name}]")

    def status(self) -> str:
        return self.role("status").inner_text()


def _node_dict(data: dict) -> dict:
    def num(key: str) -> float | None:
        return float(data[key]) if data.get(key) not in (None, "") else None

    return {
        "id": data.get("nodeId"),
        "name": data.get("name"),
        "kind": data.get("kind"),
        "class_name": data.get("className"),
        "selected": data.get("selected") == "true",
        "patch": data.get("patch") or None,
        "expanded": data.get("expanded") == "true",
        "onscreen": data.get("onscreen") == "true",
        "x": num("x"), "y": num("y"), "w": num("w"), "h": num("h"),
        "toggle_x": num("toggleX"), "toggle_y": num("toggleY"),
    }
