/**
 * Building multistatus answers (RFC 4918 §13) and DAV:error bodies (§16), and computing the
 * requested properties of a target into propstat groups.
 */
import { NS, parseXml, serializeXml, type XmlElement, type XmlNode } from '../../../lib/xml.ts';
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

/** Names in a DAV:prop element (Clark notation), in order, without duplicates. */
export function propNames(prop: XmlElement | undefined): string[] {
  if (!prop) return [];
  return [...new Set(prop.children.map((c) => clark(c.ns, c.name)))];
}

/** Dead properties of a collection, parsed back from their stored XML. */
function deadProps(t: Target): Map<string, XmlElement> {
  const out = new Map<string, XmlElement>();
  if (t.kind !== 'collection') return out;
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
 * address-data) before the live ones.
 */
export async function propResponse(t: Target, hrefValue: string, req: PropRequest, ctx: PropContext,
  extra?: (name: string) => XmlNode | null | undefined): Promise<XmlNode> {
  const found: XmlNode[] = [];
  const missing: XmlNode[] = [];
  const dead = deadProps(t);
  if (req.kind === 'propname') {
    for (const name of Object.keys(LIVE)) {
      if ((await LIVE[name](t, ctx)) !== null) { const { ns, name: n } = splitClark(name); found.push(x(ns, n)); }
    }
    for (const el of dead.values()) found.push(x(el.ns, el.name));
  } else {
    const names = req.kind === 'allprop' ? [...new Set([...ALLPROP, ...dead.keys(), ...req.include])] : req.names;
    for (const name of names) {
      const { ns, name: local } = splitClark(name);
      const e = extra?.(name);
      if (e) { found.push(e); continue; }
      if (e === null) { missing.push(x(ns, local)); continue; }
      const getter = LIVE[name];
      if (getter) {
        const v = await getter(t, ctx);
        if (v === null) { if (req.kind === 'prop') missing.push(x(ns, local)); }
        else found.push(x(ns, local, v));
        continue;
      }
      const deadEl = dead.get(name);
      if (deadEl) found.push(deadEl);
      else if (req.kind === 'prop') missing.push(x(ns, local));
    }
  }
  const stats: XmlNode[] = [];
  if (found.length || missing.length === 0) stats.push(d('propstat', [d('prop', found), d('status', statusLine(200))]));
  if (missing.length) stats.push(d('propstat', [d('prop', missing), d('status', statusLine(404))]));
  return d('response', [hrefNode(hrefValue), ...stats]);
}

export const statusResponse = (hrefValue: string, code: number) => d('response', [hrefNode(hrefValue), d('status', statusLine(code))]);

export function multistatus(responses: XmlNode[], extra: XmlNode[] = []): string {
  return serializeXml(d('multistatus', [...responses, ...extra]));
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
