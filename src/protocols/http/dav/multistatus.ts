/**
 * Building multistatus answers (RFC 4918 §13) and DAV:error bodies (§16), and computing the
 * requested properties of a target into propstat groups.
 */
import { NS, XmlWriter, parseXml, serializeXml, type XmlElement, type XmlNode } from '../../../lib/xml.ts';
import { ALLPROP, LIVE, clark, d, hrefNode, splitClark, x, type PropContext, type Target } from './props.ts';

export type PropRequest =
  | { kind: 'allprop'; include: string[] }
  | { kind: 'propname' }
  | { kind: 'prop'; names: string[] };

const STATUS: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 412: 'Precondition Failed',
  424: 'Failed Dependency', 507: 'Insufficient Storage',
};
export const statusLine = (code: number) => `HTTP/1.1 ${code} ${STATUS[code] ?? ''}`.trimEnd();
const OK = statusLine(200);
const NOT_FOUND = statusLine(404);
const NO_DEAD_PROPS: ReadonlyMap<string, XmlElement> = new Map();

/** Names in a DAV:prop element (Clark notation), in order, without duplicates. */
export function propNames(prop: XmlElement | undefined): string[] {
  if (!prop) return [];
  return [...new Set(prop.children.map((c) => clark(c.ns, c.name)))];
}

/** Dead properties of a collection, parsed back from their stored XML. */
function deadProps(t: Target): ReadonlyMap<string, XmlElement> {
  if (t.kind !== 'collection' || Object.keys(t.coll.props).length === 0) return NO_DEAD_PROPS;
  const out = new Map<string, XmlElement>();
  for (const [k, v] of Object.entries(t.coll.props)) {
    try {
      out.set(k, parseXml(v));
    } catch { /* stored by us, well-formed; a broken one is left out rather than failing the listing */ }
  }
  return out;
}

/**
 * One DAV:response for a target: 200 propstat with the properties found, 404 propstat with
 * those it does not have. `extra` computes report-specific properties (calendar-data,
 * address-data) before the live ones. Synchronous unless a property getter is not (reports
 * answer thousands of these: no promise per property when none is needed).
 */
export function propResponse(t: Target, hrefValue: string, req: PropRequest, ctx: PropContext,
  extra?: (name: string) => XmlNode | null | undefined): PropStats | Promise<PropStats> {
  if (req.kind === 'propname') return propNameResponse(t, hrefValue, ctx);
  const dead = deadProps(t);
  const names = req.kind === 'allprop' ? [...new Set([...ALLPROP, ...dead.keys(), ...req.include])] : req.names;
  // One slot per name, in order: a node found, `null` for missing, or a promise of either.
  const slots: (XmlNode | null | Promise<XmlNode | null>)[] = [];
  let pending = false;
  for (const name of names) {
    const e = extra?.(name);
    if (e !== undefined) { slots.push(e); continue; }
    const getter = LIVE[name];
    if (getter) {
      const v = getter(t, ctx);
      if (v instanceof Promise) {
        pending = true;
        slots.push(v.then((w) => (w === null ? null : xOf(name, w))));
      } else slots.push(v === null ? null : xOf(name, v));
      continue;
    }
    slots.push(dead.get(name) ?? null);
  }
  const finish = (done: (XmlNode | null)[]) => {
    const found: XmlNode[] = [];
    const missing: XmlNode[] = [];
    for (let i = 0; i < done.length; i++) {
      const n = done[i];
      if (n) found.push(n);
      // allprop lists only what the resource has.
      else if (req.kind === 'prop') missing.push(xOf(names[i]));
    }
    return { href: hrefValue, found, missing };
  };
  return pending ? Promise.all(slots).then(finish) : finish(slots as (XmlNode | null)[]);
}

async function propNameResponse(t: Target, hrefValue: string, ctx: PropContext): Promise<PropStats> {
  const found: XmlNode[] = [];
  for (const name of Object.keys(LIVE)) if ((await LIVE[name](t, ctx)) !== null) found.push(xOf(name));
  for (const el of deadProps(t).values()) found.push(x(el.ns, el.name));
  return { href: hrefValue, found, missing: [] };
}

/** A property element from its Clark name. */
function xOf(name: string, content?: XmlNode[] | string): XmlNode {
  const { ns, name: local } = splitClark(name);
  return x(ns, local, content);
}

/**
 * A DAV:response of propstats, written straight into the answer (writeResponse) rather than
 * built as a tree: reports hold thousands.
 */
export interface PropStats {
  readonly href: string;
  readonly found: XmlNode[];
  readonly missing: XmlNode[];
}

/** What a multistatus holds: propstat responses, and any other element (status responses, sync-token). */
export type Answer = PropStats | XmlNode;

function writeResponse(w: XmlWriter, r: PropStats): void {
  w.open(NS.DAV, 'response').leaf(NS.DAV, 'href', r.href);
  const group = (props: XmlNode[], status: string) => {
    w.open(NS.DAV, 'propstat').open(NS.DAV, 'prop');
    for (const p of props) w.node(p);
    w.close(NS.DAV, 'prop').leaf(NS.DAV, 'status', status).close(NS.DAV, 'propstat');
  };
  if (r.found.length || r.missing.length === 0) group(r.found, OK);
  if (r.missing.length) group(r.missing, NOT_FOUND);
  w.close(NS.DAV, 'response');
}

export const statusResponse = (hrefValue: string, code: number) => d('response', [hrefNode(hrefValue), d('status', statusLine(code))]);

/** A multistatus answer written as it is made (reports add thousands of responses). */
export class Multistatus {
  readonly #w = new XmlWriter({ ns: NS.DAV, name: 'multistatus' });

  add(a: Answer): this {
    if ('found' in a) writeResponse(this.#w, a);
    else this.#w.node(a);
    return this;
  }

  /** Adds a response and returns its markup, for addKept() in later answers; null if it cannot be kept (a namespace of this document's own). */
  addKeepable(a: PropStats): string | null {
    const m = this.#w.mark();
    writeResponse(this.#w, a);
    return this.#w.since(m);
  }

  /** A response made by addKeepable before, in the well-known namespaces `ns` (DAV: always). */
  addKept(markup: string, ns: readonly string[]): this {
    this.#w.declare(NS.DAV);
    for (const n of ns) this.#w.declare(n);
    this.#w.raw(markup);
    return this;
  }

  document(extra: XmlNode[] = []): string {
    for (const e of extra) this.#w.node(e);
    return this.#w.document();
  }
}

export function multistatus(responses: Answer[], extra: XmlNode[] = []): string {
  const m = new Multistatus();
  for (const r of responses) m.add(r);
  return m.document(extra);
}

export function errorBody(ns: string, condition: string, content?: XmlNode[]): string {
  return serializeXml(d('error', [x(ns, condition, content)]));
}

/** The PROPFIND body's request (RFC 4918 §9.1: an empty body means allprop). */
export function propRequestOf(root: XmlElement | null): PropRequest {
  if (!root) return { kind: 'allprop', include: [] };
  if (root.ns !== NS.DAV || root.name !== 'propfind') throw new TypeError('the body is not a DAV:propfind');
  for (const c of root.children) {
    if (c.ns !== NS.DAV) continue;
    if (c.name === 'propname') return { kind: 'propname' };
    if (c.name === 'allprop') {
      const inc = root.children.find((e) => e.ns === NS.DAV && e.name === 'include');
      return { kind: 'allprop', include: inc ? propNames(inc) : [] };
    }
    if (c.name === 'prop') return { kind: 'prop', names: propNames(c) };
  }
  throw new TypeError('DAV:propfind needs prop, allprop or propname');
}
