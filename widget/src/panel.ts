/**
 * The agent's live call card, drawn by the widget in the page. Kommo's `add_call` entries are persisted and
 * cannot change afterwards (kommo-platform.md §2.2), so what a call is *now* (ringing, answered, missed) is
 * shown here: one row per call of this agent, updated in place, gone when the call ends; a missed call stays,
 * in red, until the agent dismisses it. Every tab draws it (like the reload guard), since it is page UI.
 */
import type { CallView } from '../../lambdas/core/protocol';

export interface PanelRow {
  view: CallView;
  /** The matched Kommo contact's name, once looked up. */
  contact?: string;
}

export interface PanelLabels {
  ringing: string;
  answered: string;
  missed: string;
  outbound: string;
  dismiss: string;
}

const COLORS = {
  ringing: { bg: '#e8f3ff', border: '#4c8bf5' },
  answered: { bg: '#e9f8ee', border: '#2e9d57' },
  missed: { bg: '#fdecec', border: '#d93636' },
} as const;

export class CallPanel {
  private root: HTMLElement | undefined;
  private readonly dismissed = new Set<string>();

  constructor(
    private readonly document: Document,
    private readonly labels: () => PanelLabels,
  ) {}

  /** The state a row shows: missed calls as such, an outbound call by its direction. */
  static kind(view: CallView): keyof typeof COLORS | undefined {
    if (view.state === 'ended')
      return view.call.outcome === 'missed' && view.call.direction === 'inbound' ? 'missed' : undefined;
    return view.state;
  }

  render(rows: readonly PanelRow[]): void {
    const visible = rows.filter((r) => CallPanel.kind(r.view) && !this.dismissed.has(r.view.call.id));
    if (visible.length === 0) {
      this.remove();
      return;
    }
    const root = this.ensureRoot();
    const labels = this.labels();
    root.replaceChildren(
      ...visible.map(({ view, contact }) => {
        const kind = CallPanel.kind(view) ?? 'ringing';
        const row = this.document.createElement('div');
        row.className = `callbridge-call callbridge-call--${kind}`;
        row.dataset.callId = view.call.id;
        row.dataset.state = kind;
        row.style.cssText = `display:flex;gap:8px;align-items:flex-start;margin-top:6px;padding:8px 10px;border-radius:6px;background:${COLORS[kind].bg};border-left:4px solid ${COLORS[kind].border};box-shadow:0 2px 8px rgba(0,0,0,.12);font:13px/1.35 system-ui,sans-serif;color:#1f2328`;
        const text = this.document.createElement('div');
        text.style.flex = '1';
        const title = this.document.createElement('b');
        title.className = 'callbridge-call__state';
        title.textContent =
          kind === 'ringing' && view.call.direction === 'outbound' ? labels.outbound : labels[kind];
        const who = this.document.createElement('div');
        who.className = 'callbridge-call__caller';
        // The other party: the caller of an inbound call, the number dialled for an outbound one.
        const number = view.call.direction === 'outbound' ? view.call.to : view.call.from;
        who.textContent = contact ? `${contact} · ${number}` : number;
        text.append(title, who);
        row.append(text);
        if (kind === 'missed') {
          const close = this.document.createElement('button');
          close.type = 'button';
          close.className = 'callbridge-call__dismiss';
          close.textContent = '×';
          close.title = labels.dismiss;
          close.setAttribute('aria-label', labels.dismiss);
          close.style.cssText =
            'border:0;background:none;font-size:16px;line-height:1;cursor:pointer;color:#6b6f76';
          close.addEventListener('click', () => {
            this.dismissed.add(view.call.id);
            this.render(rows);
          });
          row.append(close);
        }
        return row;
      }),
    );
  }

  remove(): void {
    this.root?.remove();
    this.root = undefined;
  }

  private ensureRoot(): HTMLElement {
    if (this.root?.isConnected) return this.root;
    const root = this.document.createElement('div');
    root.className = 'callbridge-calls';
    root.setAttribute('role', 'status');
    root.setAttribute('aria-live', 'polite');
    root.style.cssText = 'position:fixed;left:16px;bottom:44px;z-index:10000;width:280px';
    this.document.body.append(root);
    this.root = root;
    return root;
  }
}
