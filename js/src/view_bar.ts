// The bar above the graph (it stays in the standalone HTML page, where the toolbar is
// hidden): the find field, the overlay picker, and the legend of what the colours mean:
// the layer families present, or the shown overlay's colour scale.
import { FindBar, type FindHandlers } from "./find_bar";
import { familyColor, familyFill, familyLabel } from "./families";
import { formatValue, type Scale } from "./overlay";

/** The overlay picker's entry for no overlay (nodes coloured by family). */
export const FAMILY_VIEW = "";

export interface LegendState {
  /** Families present (legend order), when no overlay is shown. */
  families: string[];
  /** The overlay shown and its scale, or null. */
  overlay: { name: string; scale: Scale; count: number } | null;
  bg: string;
  dark: boolean;
}

export class ViewBar {
  readonly el: HTMLElement;
  readonly find: FindBar;
  private picker: HTMLSelectElement;
  private legend: HTMLElement;
  private legendKey = "";

  /** `pick(name)`: the user chose an overlay ("" for the families). */
  constructor(find: FindHandlers, private readonly pick: (name: string) => void) {
    this.el = document.createElement("div");
    this.el.className = "rw-viewbar rw-row";
    this.find = new FindBar(find);
    const label = document.createElement("label");
    label.className = "rw-param";
    label.textContent = "colour by ";
    this.picker = document.createElement("select");
    this.picker.className = "rw-select";
    this.picker.dataset.role = "overlay-select";
    this.picker.title = "colour the layers by their family, or by a number per layer (editor.overlay)";
    this.picker.addEventListener("change", () => this.pick(this.picker.value));
    label.append(this.picker);
    this.legend = document.createElement("span");
    this.legend.className = "rw-family-legend";
    this.legend.dataset.role = "family-legend";
    this.el.append(this.find.el, label, this.legend);
  }

  /** The overlays offered (built-ins first) and the one shown. */
  setChoices(names: string[], shown: string): void {
    const want = [FAMILY_VIEW, ...names];
    const have = [...this.picker.options].map((o) => o.value);
    if (want.join("\u0000") !== have.join("\u0000")) {
      this.picker.replaceChildren(...want.map((n) => {
        const o = document.createElement("option");
        o.value = n;
        o.textContent = n === FAMILY_VIEW ? "layer family" : n;
        return o;
      }));
    }
    const value = want.includes(shown) ? shown : FAMILY_VIEW;
    // Written only when it changes: every refresh comes here, and a write restyles.
    if (this.picker.value !== value) this.picker.value = value;
    if (this.picker.dataset.value !== value) this.picker.dataset.value = value;
  }

  renderLegend(s: LegendState): void {
    const o = s.overlay;
    const key = JSON.stringify([s.families, s.dark, s.bg, o && [o.name, o.scale.min, o.scale.max, o.scale.log, o.count]]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    const L = this.legend;
    if (!o) {
      L.dataset.role = "family-legend";
      delete L.dataset.name;
      L.replaceChildren(...s.families.map((f) => {
        const chip = document.createElement("span");
        chip.className = "rw-chip";
        chip.dataset.family = f;
        chip.dataset.fill = familyFill(f, s.bg, s.dark);
        chip.dataset.color = familyColor(f, s.dark);
        const sw = document.createElement("span");
        sw.className = "rw-swatch";
        sw.style.background = chip.dataset.fill;
        sw.style.borderLeft = `4px solid ${chip.dataset.color}`;
        chip.append(sw, document.createTextNode(familyLabel(f)));
        return chip;
      }));
      return;
    }
    L.dataset.role = "overlay-legend";
    Object.assign(L.dataset, { name: o.name, min: String(o.scale.min), max: String(o.scale.max),
      scale: o.scale.log ? "log" : "linear", count: String(o.count) });
    const bar = document.createElement("span");
    bar.className = "rw-scale";
    bar.style.background = `linear-gradient(to right, ${o.scale.stops.join(", ")})`;
    bar.dataset.stops = o.scale.stops.join(" ");
    const lo = document.createElement("span");
    lo.textContent = formatValue(o.scale.min);
    const hi = document.createElement("span");
    hi.textContent = formatValue(o.scale.max);
    const note = document.createElement("span");
    note.className = "rw-muted";
    note.textContent = `${o.name}${o.scale.log ? " (log scale)" : ""}, ${o.count} node${o.count === 1 ? "" : "s"} shown with a value`;
    L.replaceChildren(lo, bar, hi, note);
  }

  dispose(): void {
    this.find.dispose();
  }
}
