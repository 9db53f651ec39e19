// Starts the layout worker from a Blob URL and keeps at most one request in flight (the
// newest waiting one replaces older ones). Falls back to running ELK on the page. Look-ahead
// layouts (lookahead.ts) wait in a queue of their own and go only when no real one waits.
import workerCode from "rw:layout-worker";
import type { Layout, LayoutReply, LayoutRequest } from "./layout";

type Run = (req: LayoutRequest) => Promise<LayoutReply>;

export class LayoutClient {
  private worker: Worker | null = null;
  private url: string | null = null;
  private fallback: Run | null = null;
  private nextId = 1;
  private busy: { id: number; resolve: (l: Layout | null) => void; reject: (e: Error) => void; req: LayoutRequest } | null = null;
  private waiting: { req: LayoutRequest; resolve: (l: Layout | null) => void; reject: (e: Error) => void } | null = null;
  /** Look-ahead inputs not sent yet, and what to call once the last of them is laid out. */
  private ahead: Array<Omit<LayoutRequest, "id">> = [];
  private aheadDone: ((sent: number) => void) | null = null;
  private aheadSent = 0;
  /** "worker" or "main-thread", for tests and diagnostics. */
  mode: "worker" | "main-thread" = "worker";

  constructor() {
    try {
      if (typeof Worker === "undefined") throw new Error("no Worker");
      this.url = URL.createObjectURL(new Blob([workerCode], { type: "text/javascript" }));
      this.worker = new Worker(this.url);
      this.worker.onmessage = (ev: MessageEvent<LayoutReply>) => this.settle(ev.data);
      this.worker.onerror = (ev) => {
        ev.preventDefault?.();
        this.useMainThread();
      };
    } catch {
      this.useMainThread();
    }
  }

  /**
   * Lays out `req` (its `id` is assigned here). Resolves null when a newer request
   * superseded it before it started.
   */
  layout(req: Omit<LayoutRequest, "id">): Promise<Layout | null> {
    return new Promise((resolve, reject) => {
      const full = { ...req, id: this.nextId++ };
      if (this.waiting) this.waiting.resolve(null);
      this.waiting = { req: full, resolve, reject };
      this.pump();
    });
  }

  /**
   * Lays out `inputs` when the worker has nothing else to do, only to fill its level cache
   * (the replies are dropped). Replaces the look-ahead queued before; resolves with how many
   * were laid out once the queue is empty (or superseded).
   */
  lookahead(inputs: Array<Omit<LayoutRequest, "id">>): Promise<number> {
    this.aheadDone?.(this.aheadSent);
    // On the page (no worker) a look-ahead would block the page it is meant to spare.
    this.ahead = this.worker ? [...inputs] : [];
    this.aheadSent = 0;
    return new Promise((resolve) => {
      this.aheadDone = resolve;
      this.pump();
    });
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.waiting?.resolve(null);
    this.busy?.resolve(null);
    this.waiting = this.busy = null;
    this.ahead = [];
    this.aheadDone?.(this.aheadSent);
    this.aheadDone = null;
  }

  private pump(): void {
    if (this.busy) return;
    if (!this.waiting) {
      const next = this.ahead.shift();
      if (!next) {
        this.aheadDone?.(this.aheadSent);
        this.aheadDone = null;
        return;
      }
      this.aheadSent++;
      const req = { ...next, id: this.nextId++ };
      // A failed look-ahead only means a cold layout later: nothing to report.
      this.busy = { id: req.id, resolve: () => {}, reject: () => {}, req };
      this.send(req);
      return;
    }
    const { req, resolve, reject } = this.waiting;
    this.waiting = null;
    this.busy = { id: req.id, resolve, reject, req };
    this.send(req);
  }

  private send(req: LayoutRequest): void {
    if (this.worker) this.worker.postMessage(req);
    else void this.fallback!(req).then((r) => this.settle(r));
  }

  private settle(reply: LayoutReply): void {
    const b = this.busy;
    if (!b || b.id !== reply.id) return;
    this.busy = null;
    if ("error" in reply) b.reject(new Error(`layout failed: ${reply.error}`));
    else b.resolve(reply.layout);
    this.pump();
  }

  private useMainThread(): void {
    this.worker?.terminate();
    this.worker = null;
    this.mode = "main-thread";
    this.ahead = [];
    const g = globalThis as unknown as { __rwLayout?: Run };
    if (!g.__rwLayout) new Function(workerCode)();
    this.fallback = g.__rwLayout!;
    // Re-run whatever was sent to the failed worker.
    const b = this.busy;
    if (b) {
      this.busy = null;
      if (!this.waiting) this.waiting = { req: b.req, resolve: b.resolve, reject: b.reject };
      else b.resolve(null);
    }
    this.pump();
  }
}
