// Entry point of the anywidget front end: renders the model graph held in the `graph` trait.
import type { AnyModel, RenderProps } from "@anywidget/types";

interface GraphNode {
  id: string;
  name: string;
  class_name: string;
  kind: string;
  parent: string | null;
}

interface WidgetState {
  graph: { name?: string; nodes?: GraphNode[] };
}

function render({ model, el }: RenderProps<WidgetState>): () => void {
  const root = document.createElement("div");
  root.className = "rw-root";
  el.appendChild(root);
  const draw = (m: AnyModel<WidgetState>) => {
    const graph = m.get("graph") ?? {};
    const nodes = (graph.nodes ?? []).filter((n) => n.parent === null);
    root.replaceChildren();
    const title = document.createElement("div");
    title.className = "rw-title";
    title.textContent = graph.name ?? "";
    root.appendChild(title);
    for (const node of nodes) {
      const item = document.createElement("div");
      item.className = "rw-node";
      item.dataset.id = node.id;
      item.textContent = `${node.name} (${node.class_name})`;
      root.appendChild(item);
    }
  };
  draw(model);
  const onChange = () => draw(model);
  model.on("change:graph", onChange);
  return () => model.off("change:graph", onChange);
}

export default { render };
