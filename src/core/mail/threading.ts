/**
 * RFC 5256 SORT and THREAD helpers, pure (no store, no wire syntax beyond the THREAD payload):
 * the base subject (§2.1), the ORDEREDSUBJECT and REFERENCES threading algorithms (§3), and
 * the thread-list rendering of the THREAD response (§4).
 *
 * Invariants:
 * - Deterministic: the result depends only on the input set, not on its order. Messages are
 *   taken in ascending `id` order, which is mailbox (sequence) order for sequence numbers and
 *   UIDs alike; RFC 5256 §2.2 breaks sent-date ties by that order, and §3 REFERENCES step 1
 *   gives a duplicated Message-ID to the lowest-numbered message.
 * - Every input id appears exactly once in the output (a repeated id is taken once); dummies
 *   (id null) appear only in REFERENCES results, only at the top level, each with at least two
 *   children.
 * - No recursion over message data: reference chains can be as deep as the mailbox is long,
 *   so every traversal keeps its own stack. Parent links never form a loop (each link is
 *   checked before it is made), so walks up the tree end.
 * - Linear in the input (sum of reference list lengths) plus sorting, except the loop check
 *   of RFC 5256 §3 step 1, which walks up from the new parent (its depth) when the new child
 *   already has children of its own.
 */

// ---------------------------------------------------------------------------------------
// Base subject (RFC 5256 §2.1)
// ---------------------------------------------------------------------------------------

export interface BaseSubject {
  /** The base subject: case kept; compare with subjectKey (RFC 5256 §2.1 leaves case to the comparator). */
  base: string;
  /**
   * RFC 5256 §3 (REFERENCES): "A message is considered to be a reply or forward if the base
   * subject extraction rules, applied to the original subject, remove any of the following: a
   * subj-refwd, a "(fwd)" subj-trailer, or a subj-fwd-hdr and subj-fwd-trl."
   */
  isReplyOrForward: boolean;
}

const SP = 0x20;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Whether s[i, end) starts with `lit` (lower-case ASCII), ignoring ASCII case (ABNF strings are case-insensitive, RFC 5234 §2.3). */
function startsWithCi(s: string, i: number, end: number, lit: string): boolean {
  if (i + lit.length > end) return false;
  for (let k = 0; k < lit.length; k++) if (lower(s.charCodeAt(i + k)) !== lit.charCodeAt(k)) return false;
  return true;
}

/**
 * RFC 5256 §5: subj-blob = "[" *BLOBCHAR "]" *WSP. Returns the offset after it, or -1.
 * BLOBCHAR is "any CHAR except '[' and ']'"; non-ASCII text (the subject is UTF-8 by then)
 * counts as BLOBCHAR too, so that "[Liste-Française]" is a blob like "[List]".
 */
function blobAt(s: string, i: number, end: number): number {
  if (i >= end || s.charCodeAt(i) !== LBRACKET) return -1;
  let j = i + 1;
  for (; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === RBRACKET) break;
    if (c === LBRACKET) return -1;
  }
  if (j >= end) return -1;
  j++;
  while (j < end && s.charCodeAt(j) === SP) j++;
  return j;
}

/** RFC 5256 §5: subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". Returns the offset after it, or -1. */
function refwdAt(s: string, i: number, end: number): number {
  let j: number;
  if (startsWithCi(s, i, end, 're')) j = i + 2;
  else if (startsWithCi(s, i, end, 'fwd')) j = i + 3;
  else if (startsWithCi(s, i, end, 'fw')) j = i + 2;
  else return -1;
  while (j < end && s.charCodeAt(j) === SP) j++;
  const b = blobAt(s, j, end);
  if (b >= 0) j = b;
  return j < end && s.charCodeAt(j) === COLON ? j + 1 : -1;
}

/**
 * RFC 5256 §2.1 steps 1-6: the base subject of an already RFC 2047-decoded subject (step 1's
 * decoding is the parser's, ParsedMessage.subject), and whether it marks a reply or forward.
 * Works on offsets into one string: a hostile subject of many "Re:" or "[fwd: ...]" layers
 * costs one pass, not one copy per layer.
 */
export function extractBaseSubject(subject: string): BaseSubject {
  // RFC 5256 §2.1 step 1: "Convert all tabs and continuations to space. Convert all multiple
  // spaces to a single space." (Continuations are CRLF WSP; a bare CR or LF is treated alike.)
  const s = /[\t\r\n]| {2}/.test(subject) ? subject.replace(/[ \t\r\n]+/g, ' ') : subject;
  let a = 0;
  let b = s.length;
  let reply = false;
  for (;;) {
    // RFC 5256 §2.1 step 2: remove subj-trailer = "(fwd)" / WSP from the end, until none is left.
    for (;;) {
      if (b > a && s.charCodeAt(b - 1) === SP) b--;
      else if (b - a >= 5 && startsWithCi(s, b - 5, b, '(fwd)')) {
        b -= 5;
        reply = true;
      } else break;
    }
    // RFC 5256 §2.1 step 5: repeat steps 3 and 4 until no matches remain.
    // A run of blobs not followed by a subj-refwd stays such a run when step 4 removes its
    // first blob, so step 3 need not scan it again: it cannot match before `noLeaderBefore`.
    let noLeaderBefore = -1;
    for (;;) {
      let matched = false;
      // RFC 5256 §2.1 step 3: remove subj-leader = (*subj-blob subj-refwd) / WSP.
      if (a < b && s.charCodeAt(a) === SP) {
        a++;
        matched = true;
      } else if (a >= noLeaderBefore) {
        let j = a;
        for (let k = blobAt(s, j, b); k >= 0; k = blobAt(s, j, b)) j = k;
        const r = refwdAt(s, j, b);
        if (r >= 0) {
          a = r;
          reply = true;
          matched = true;
        } else {
          noLeaderBefore = j + 1;
        }
      }
      // RFC 5256 §2.1 step 4: remove a leading subj-blob if what remains is a non-empty subj-base.
      // The blob ends after its trailing WSP, and trailing WSP is gone (step 2), so anything
      // left begins with NONWSP: non-empty is enough.
      if (!matched) {
        const k = blobAt(s, a, b);
        if (k >= 0 && k < b) {
          a = k;
          matched = true;
        }
      }
      if (!matched) break;
    }
    // RFC 5256 §2.1 step 6: "If the resulting text begins with the subj-fwd-hdr ABNF and ends
    // with the subj-fwd-trl ABNF, remove the subj-fwd-hdr and subj-fwd-trl and repeat from step (2)."
    if (b - a >= 6 && startsWithCi(s, a, b, '[fwd:') && s.charCodeAt(b - 1) === RBRACKET) {
      a += 5;
      b -= 1;
      reply = true;
      continue;
    }
    break;
  }
  return { base: s.slice(a, b), isReplyOrForward: reply };
}

/** RFC 5256 §2.1: the base subject of an RFC 2047-decoded subject. */
export function baseSubject(subject: string): string {
  return extractBaseSubject(subject).base;
}

/**
 * The comparison key of a base subject. RFC 5256 §3 REFERENCES step 5: "Subject comparisons
 * are case-insensitive"; the comparator of RFC 5051 (i;unicode-casemap) is approximated by
 * the simple (one-to-one) upper-case mapping per code point followed by NFKD: "Re: ÉTÉ" and
 * "été" group together, "ß" stays "ß" as i;unicode-casemap's simple titlecase mapping keeps it.
 * Use the same key for SORT SUBJECT so that SORT and THREAD agree.
 */
export function subjectKey(base: string): string {
  // US-ASCII (most subjects): the same mapping, in one native call.
  if (/^[\x00-\x7f]*$/.test(base)) return base.toUpperCase();
  let out = '';
  for (const ch of base) {
    const u = ch.toUpperCase();
    out += [...u].length === 1 ? u : ch;
  }
  return out.normalize('NFKD');
}

// ---------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------

export interface ThreadInput {
  id: number;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  /** The subject, RFC 2047 decoded (ParsedMessage.subject). */
  subject: string;
  /** Sent date, or internal date when absent, epoch ms (RFC 5256 §2.2). */
  date: number;
}

/** id null = a dummy (missing parent) in REFERENCES threads. */
export type ThreadNode = { id: number | null; children: ThreadNode[] };

/** One input message as the algorithms see it. */
interface Msg {
  id: number;
  date: number;
  base: string;
  key: string;
  reply: boolean;
  input: ThreadInput;
}

function prepare(msgs: readonly ThreadInput[]): Msg[] {
  const seen = new Set<number>();
  const out: Msg[] = [];
  const sorted = [...msgs].sort((x, y) => x.id - y.id);
  for (const m of sorted) {
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    const { base, isReplyOrForward } = extractBaseSubject(typeof m.subject === 'string' ? m.subject : '');
    // RFC 5256 §2.2 orders by date; a missing or broken one sorts first rather than poisoning the sort.
    out.push({ id: m.id, date: Number.isFinite(m.date) ? m.date : 0, base, key: subjectKey(base), reply: isReplyOrForward, input: m });
  }
  return out;
}

/** RFC 5256 §2.2: by sent date; "sequence number order" when dates match exactly. */
function byDate(x: { date: number; id: number }, y: { date: number; id: number }): number {
  return x.date - y.date || x.id - y.id;
}

/**
 * RFC 5256 §3 ORDEREDSUBJECT: messages grouped by base subject, each group in sent-date order;
 * the first message is the root of its thread and every other one its child ("there are no
 * grandchildren in ORDEREDSUBJECT threading"); threads in the order of their first message.
 */
export function threadOrderedSubject(msgs: ThreadInput[]): ThreadNode[] {
  const groups = new Map<string, Msg[]>();
  for (const m of prepare(msgs)) {
    let g = groups.get(m.key);
    if (!g) groups.set(m.key, (g = []));
    g.push(m);
  }
  const threads: { first: Msg; node: ThreadNode }[] = [];
  for (const g of groups.values()) {
    g.sort(byDate);
    const node: ThreadNode = { id: g[0].id, children: g.slice(1).map((m) => ({ id: m.id, children: [] })) };
    threads.push({ first: g[0], node });
  }
  threads.sort((x, y) => byDate(x.first, y.first));
  return threads.map((t) => t.node);
}

/** A message or dummy of the REFERENCES algorithm; children are a Set so that unlinking is O(1). */
interface Container {
  msg: Msg | null;
  parent: Container | null;
  children: Set<Container>;
}

function container(msg: Msg | null): Container {
  return { msg, parent: null, children: new Set() };
}

/** Whether `x` is `y` or one of its ancestors; then making x a child of y would close a loop. */
function isAncestorOrSelf(x: Container, y: Container): boolean {
  if (x === y) return true;
  // A node without children is nobody's ancestor: the common case of a new message costs O(1).
  if (x.children.size === 0) return false;
  for (let p = y.parent; p; p = p.parent) if (p === x) return true;
  return false;
}

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.add(child);
}

function unlink(child: Container): void {
  if (child.parent) child.parent.children.delete(child);
  child.parent = null;
}

/**
 * RFC 5256 §3: "Message ID" means a normalised msg-id, so that <"a"@b> and <a@b> are one.
 * Angle brackets and white space go (of a whole field value, the first bracketed id is
 * taken), and a quoted id-left is unquoted. Comparison afterwards
 * is case-sensitive ("Message ID comparisons are case-sensitive"). "" means no valid id.
 */
export function normaliseMessageId(id: string | null | undefined): string {
  if (typeof id !== 'string') return '';
  // The parser hands ids over without brackets or white space: nothing to do for most.
  if (!/[\s<>"]/.test(id)) return id;
  let s = id;
  // A field value as written ("<a@x> (comment) <b@x>"): its first bracketed id.
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    s = gt < 0 ? s.slice(lt + 1) : s.slice(lt + 1, gt);
  }
  s = s.replace(/[\s]+/g, '');
  if (s.startsWith('"')) {
    // RFC 5322 §3.2.4 quoted-string as id-left (obs-id-left): its content, quoted-pairs undone.
    let left = '';
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === '\\' && i + 1 < s.length) left += s[++i];
      else if (c === '"') break;
      else left += c;
    }
    if (i < s.length) s = left + s.slice(i + 1);
  }
  return s.includes('<') || s.includes('>') ? '' : s;
}

/** Post-order (children before their parent) of the tree below `root`, without recursion. */
function postOrder(root: ThreadTree): ThreadTree[] {
  const out: ThreadTree[] = [];
  const stack: { node: ThreadTree; next: number }[] = [{ node: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.node.children.length) {
      stack.push({ node: top.node.children[top.next++], next: 0 });
    } else {
      stack.pop();
      out.push(top.node);
    }
  }
  return out;
}

/** The tree after step 1, with ordered children: what steps 3 to 6 rearrange. */
interface ThreadTree {
  msg: Msg | null;
  children: ThreadTree[];
}

/** RFC 5256 §3 REFERENCES step 4 and 6: a dummy sorts by its first child. */
function sortKey(t: ThreadTree): { date: number; id: number } {
  if (t.msg) return t.msg;
  const first = t.children[0];
  return first ? sortKey(first) : { date: 0, id: 0 };
}

function sortChildren(t: ThreadTree): void {
  if (t.children.length > 1) t.children.sort((x, y) => byDate(sortKey(x), sortKey(y)));
}

/** RFC 5256 §3 REFERENCES step 5.B.i: the thread subject, from the message or a dummy's first child. */
function threadMsg(t: ThreadTree): Msg | null {
  return t.msg ?? t.children[0]?.msg ?? null;
}

/**
 * RFC 5256 §3 REFERENCES: threads from References and In-Reply-To, dummies for missing
 * parents, then threads of the same base subject gathered.
 */
export function threadReferences(msgs: ThreadInput[]): ThreadNode[] {
  const list = prepare(msgs);
  const byId = new Map<string, Container>();
  const own: Container[] = [];
  // RFC 5256 §3 step 1.A: "If a message does not contain a Message-ID header line, or the
  // Message-ID header line does not contain a valid Message ID, then assign a unique Message ID
  // to this message. If two or more messages have the same Message ID, then only use that
  // Message ID in the first (lowest sequence number) message, and assign a unique Message ID to
  // each of the subsequent messages with a duplicate of that Message ID." A unique id is a
  // container outside the map: nothing can refer to it.
  for (const m of list) {
    const c = container(m);
    const mid = normaliseMessageId(m.input.messageId);
    if (mid !== '' && !byId.has(mid)) byId.set(mid, c);
    own.push(c);
  }
  const dummies: Container[] = [];
  const lookup = (mid: string): Container => {
    let c = byId.get(mid);
    if (!c) {
      // RFC 5256 §3 step 1.A: "If no message can be found with a given Message ID, create a
      // dummy message with this ID. Use this dummy message for all subsequent references to this ID."
      c = container(null);
      byId.set(mid, c);
      dummies.push(c);
    }
    return c;
  };
  list.forEach((m, k) => {
    const self = own[k];
    // RFC 5256 §3: the References ids; when there are none (or none valid), "the first (if
    // any) valid Message ID found in the In-Reply-To header line as the only reference".
    const refs: string[] = [];
    for (const r of Array.isArray(m.input.references) ? m.input.references : []) {
      const id = normaliseMessageId(r);
      if (id !== '') refs.push(id);
    }
    if (refs.length === 0) {
      const irt = normaliseMessageId(m.input.inReplyTo);
      if (irt !== '') refs.push(irt);
    }
    // RFC 5256 §3 step 1.A: link each reference as the parent of the next. "If a message
    // already has a parent, don't change the existing link." "Do not create a parent/child
    // link if creating that link would introduce a loop."
    let prev: Container | null = null;
    for (const r of refs) {
      const c = lookup(r);
      if (prev && c.parent === null && !isAncestorOrSelf(c, prev)) link(prev, c);
      prev = c;
    }
    // RFC 5256 §3 step 1.B: the last reference becomes the parent of this message, replacing a
    // parent set from another message's (perhaps truncated) References; no references means
    // no parent. Again no loops.
    if (self.parent !== prev) {
      unlink(self);
      if (prev && !isAncestorOrSelf(self, prev)) link(prev, self);
    }
  });

  // RFC 5256 §3 step 2: every container without a parent becomes a child of the root.
  const toTree = new Map<Container, ThreadTree>();
  const treeOf = (c: Container): ThreadTree => {
    let t = toTree.get(c);
    if (!t) toTree.set(c, (t = { msg: c.msg, children: [] }));
    return t;
  };
  const root: ThreadTree = { msg: null, children: [] };
  for (const c of [...own, ...dummies]) {
    const t = treeOf(c);
    for (const ch of c.children) t.children.push(treeOf(ch));
    if (c.parent === null) root.children.push(t);
  }

  // RFC 5256 §3 step 3: prune dummies. Bottom-up, so that a dummy's children are already
  // pruned when it is looked at: "If it is a dummy message with NO children, delete it. If it
  // is a dummy message with children, delete it, but promote its children to the current
  // level. [...] Do not promote the children if doing so would make them children of the root,
  // unless there is only one child."
  for (const t of postOrder(root)) {
    if (!t.children.some((c) => c.msg === null)) continue;
    const kept: ThreadTree[] = [];
    for (const c of t.children) {
      if (c.msg !== null) kept.push(c);
      else if (c.children.length === 0) continue;
      else if (t !== root || c.children.length === 1) kept.push(...c.children);
      else kept.push(c);
    }
    t.children = kept;
  }

  // RFC 5256 §3 step 4: sort the top level by sent date; a dummy by its first child, its
  // children sorted first. (Only top-level dummies are left after step 3.)
  for (const t of root.children) if (t.msg === null) sortChildren(t);
  sortChildren(root);

  // RFC 5256 §3 step 5: gather threads of the same base subject.
  // 5.A/5.B: the subject table, one thread per base subject.
  const table = new Map<string, ThreadTree>();
  for (const t of root.children) {
    const m = threadMsg(t);
    if (!m || m.base === '') continue; // 5.B.ii: an empty thread subject is skipped
    const cur = table.get(m.key);
    if (!cur) {
      table.set(m.key, t);
    } else if (cur.msg !== null && (t.msg === null || (cur.msg.reply && t.msg !== null && !t.msg.reply))) {
      // 5.B.iv: "if the message in the subject table is not a dummy, AND either the current
      // message is a dummy OR the message in the subject table is a reply or forward and the
      // current message is not, then replace the message in the subject table with the current message."
      table.set(m.key, t);
    }
  }
  // 5.C: merge the threads of one subject into the table's thread. The top level is re-sorted
  // in step 6, so a set (insertion order) is enough; `moved` holds threads already placed
  // below another one before their own turn came.
  const top = new Set<ThreadTree>();
  const moved = new Set<ThreadTree>();
  for (const t of root.children) {
    if (moved.has(t)) continue;
    const m = threadMsg(t);
    const entry = m && m.base !== '' ? table.get(m.key) : undefined;
    if (!m || !entry || entry === t) {
      top.add(t);
      continue;
    }
    if (entry.msg === null && t.msg === null) {
      // "If both messages are dummies, append the current message's children to the children
      // of the message in the subject table [...] and then delete the current message."
      entry.children.push(...t.children);
    } else if (entry.msg === null || (t.msg !== null && t.msg.reply && !entry.msg.reply)) {
      // "If the message in the subject table is a dummy and the current message is not, make
      // the current message a child of the message in the subject table", and likewise "If the
      // current message is a reply or forward and the message in the subject table is not".
      entry.children.push(t);
    } else {
      // "Otherwise, create a new dummy message and make both the current message and the
      // message in the subject table children of the dummy. Then replace the message in the
      // subject table with the dummy message." (t is no dummy here: after 5.B, a subject that
      // has any dummy thread has a dummy in the table.)
      const dummy: ThreadTree = { msg: null, children: [entry, t] };
      top.delete(entry);
      moved.add(entry);
      top.add(dummy);
      table.set(m.key, dummy);
    }
  }
  root.children = [...top];

  // RFC 5256 §3 step 6: sort every set of siblings by sent date, the deepest first, so that a
  // dummy (at the top level only) sorts by its first child.
  for (const t of postOrder(root)) sortChildren(t);

  return toNodes(root.children);
}

/** ThreadTree to the public ThreadNode shape, without recursion. */
function toNodes(trees: readonly ThreadTree[]): ThreadNode[] {
  const out: ThreadNode[] = [];
  const stack: { tree: ThreadTree; into: ThreadNode[] }[] = [];
  for (let i = trees.length - 1; i >= 0; i--) stack.push({ tree: trees[i], into: out });
  while (stack.length > 0) {
    const { tree, into } = stack.pop()!;
    const node: ThreadNode = { id: tree.msg ? tree.msg.id : null, children: [] };
    into.push(node);
    for (let i = tree.children.length - 1; i >= 0; i--) stack.push({ tree: tree.children[i], into: node.children });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// THREAD response (RFC 5256 §4)
// ---------------------------------------------------------------------------------------

/**
 * A node's children as the wire shows them: a dummy below the top level has no number and no
 * list of its own in the syntax, so its children stand in its place.
 */
function shownChildren(n: ThreadNode): ThreadNode[] {
  const out: ThreadNode[] = [];
  const stack: ThreadNode[] = [];
  for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (c.id !== null) out.push(c);
    else for (let i = c.children.length - 1; i >= 0; i--) stack.push(c.children[i]);
  }
  return out;
}

/**
 * The THREAD response payload: 1*thread-list (RFC 5256 §4):
 *   thread-list    = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested  = 2*thread-list
 * A chain of only children is one run of numbers ("(3 6 ...)"), two or more children are
 * nested lists ("(4 23)(44 7 96)"), and a top-level dummy is a list of its children's lists
 * ("((3)(5))"). "" for no threads: the caller writes "* THREAD" with nothing after it.
 */
export function formatThreads(nodes: ThreadNode[]): string {
  let out = '';
  // Work items: a node to render as a thread-list, or literal text.
  const stack: (ThreadNode | string)[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) stack.push(nodes[i]);
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    let kids: ThreadNode[];
    let members = '';
    if (item.id === null) {
      kids = shownChildren(item);
      // A dummy with one shown child is that child's thread; with none, nothing at all.
      if (kids.length === 0) continue;
      if (kids.length === 1) {
        stack.push(kids[0]);
        continue;
      }
    } else {
      members = String(item.id);
      kids = shownChildren(item);
      while (kids.length === 1) {
        members += ` ${kids[0].id}`;
        kids = shownChildren(kids[0]);
      }
    }
    out += `(${members}`;
    if (kids.length > 1) {
      if (members !== '') out += ' ';
      stack.push(')');
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
    } else {
      out += ')';
    }
  }
  return out;
}
