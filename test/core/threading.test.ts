/**
 * RFC 5256 base subject, ORDEREDSUBJECT and REFERENCES threading, and the THREAD payload
 * (src/core/mail/threading.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type ThreadInput, type ThreadNode, baseSubject, extractBaseSubject, formatThreads, normaliseMessageId, subjectKey,
  threadOrderedSubject, threadReferences,
} from '../../src/core/mail/threading.ts';

const T0 = Date.UTC(2024, 0, 1);

/** A message; `date` in minutes after T0 (default: its id, so id order is date order). */
function msg(id: number, o: Partial<Omit<ThreadInput, 'id' | 'date'>> & { date?: number } = {}): ThreadInput {
  return {
    id,
    messageId: o.messageId === undefined ? `${id}@example.org` : o.messageId,
    inReplyTo: o.inReplyTo ?? null,
    references: o.references ?? [],
    subject: o.subject ?? `subject ${id}`,
    date: T0 + (o.date ?? id) * 60_000,
  };
}

/** A reply to the chain `refs` (ids of earlier messages, oldest first). */
function reply(id: number, refs: number[], o: Partial<Omit<ThreadInput, 'id' | 'date'>> & { date?: number } = {}): ThreadInput {
  return msg(id, { references: refs.map((r) => `<${r}@example.org>`), ...o });
}

const refs = (ms: ThreadInput[]) => formatThreads(threadReferences(ms));
const ordered = (ms: ThreadInput[]) => formatThreads(threadOrderedSubject(ms));

describe('baseSubject (RFC 5256 §2.1)', () => {
  it.each<[string, string, boolean]>([
    ['test', 'test', false],
    ['Re: test', 'test', true],
    ['RE: re: Re: test', 'test', true],
    ['re : test', 'test', true],
    ['Re:test', 'test', true],
    ['Fw: test', 'test', true],
    ['FWD: test', 'test', true],
    ['Re[2]: test', 'test', true],
    ['Re [2] : test', 'test', true],
    ['fwd[3]: test', 'test', true],
    ['[list] Re: test', 'test', true],
    ['[a] [b] Re: test', 'test', true],
    ['Re: [list] test', 'test', true],
    ['[list] test', 'test', false],
    ['[a][b]', '[b]', false],
    ['[list]', '[list]', false],
    ['Re: [list]', '[list]', true],
    // step 2: subj-trailer
    ['test (fwd)', 'test', true],
    ['test(FWD) (fwd)  ', 'test', true],
    ['(fwd)', '', true],
    // step 6: subj-fwd-hdr and subj-fwd-trl
    ['[fwd: test]', 'test', true],
    ['[Fwd: Re: test]', 'test', true],
    ['[fwd: [fwd: test]]', 'test', true],
    ['Re: [fwd: Re: test] (fwd)', 'test', true],
    ['[fwd:]', '', true],
    ['[fwd: [b] x]', 'x', true],
    // the fwd trailer "]" is not there any more for a blob to end with
    ['[fwd: [x]', '[x', true],
    // step 4 takes "[fwd: x] " as a blob when something follows it
    ['[fwd: x] tail', 'tail', false],
    // step 1: white space
    ['  multiple   spaces\tand\r\n tabs  ', 'multiple spaces and tabs', false],
    ['Re:', '', true],
    ['', '', false],
    // not reply markers
    ['Regarding the meeting', 'Regarding the meeting', false],
    ['Fwiw: x', 'Fwiw: x', false],
    ['Antw: x', 'Antw: x', false],
    ['Rex: x', 'Rex: x', false],
    ['test (fwd) tail', 'test (fwd) tail', false],
    // non-ASCII text is BLOBCHAR and NONWSP
    ['Re: [Liste-Française] Été', 'Été', true],
    ['AW: 会議', 'AW: 会議', false],
  ])('%j -> %j (reply %s)', (subject, base, isReply) => {
    expect(extractBaseSubject(subject)).toEqual({ base, isReplyOrForward: isReply });
    expect(baseSubject(subject)).toBe(base);
  });

  it('is one pass on hostile subjects', () => {
    const t = performance.now();
    expect(baseSubject(`${'Re: '.repeat(100_000)}x`)).toBe('x');
    expect(baseSubject(`${'[a]'.repeat(100_000)} x`)).toBe('x');
    expect(baseSubject(`${'[a]'.repeat(100_000)}`)).toBe('[a]');
    expect(baseSubject(`${'[fwd: '.repeat(50_000)}x${']'.repeat(50_000)}`)).toBe('x');
    expect(baseSubject(`x${' (fwd)'.repeat(100_000)}`)).toBe('x');
    expect(baseSubject(`${'['.repeat(100_000)}`)).toBe('['.repeat(100_000));
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('is idempotent and leaves no outer or double spaces', () => {
    const piece = fc.constantFrom('Re:', 're', 'fw', 'Fwd', ':', '[', ']', '[x]', '[fwd:', '(fwd)', ' ', '\t', 'a', 'é', 'b c');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }).map((a) => a.join('')), (s) => {
        const b = baseSubject(s);
        expect(baseSubject(b)).toBe(b);
        expect(b).not.toMatch(/^ | $|  |\t/);
      }),
      { numRuns: 5000 },
    );
  });

  it('subjectKey ignores case, also beyond ASCII (RFC 5256 §3 step 5)', () => {
    expect(subjectKey('ÉTÉ à Paris')).toBe(subjectKey('été À PARIS'));
    expect(subjectKey('Straße')).toBe(subjectKey('STRAßE'));
    expect(subjectKey('abc')).not.toBe(subjectKey('abd'));
  });
});

describe('formatThreads (RFC 5256 §4)', () => {
  const n = (id: number | null, ...children: ThreadNode[]): ThreadNode => ({ id, children });

  it('renders the RFC 5256 §4 examples', () => {
    // "(2)(3 6 (4 23)(44 7 96))"
    const tree = [n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))];
    expect(formatThreads(tree)).toBe('(2)(3 6 (4 23)(44 7 96))');
    // "((3)(5))": 3 and 5 are siblings under a dummy parent.
    expect(formatThreads([n(null, n(3), n(5))])).toBe('((3)(5))');
  });

  it('renders no threads as the empty string', () => {
    expect(formatThreads([])).toBe('');
  });

  it('shows a dummy below the top level through its children', () => {
    expect(formatThreads([n(1, n(null, n(2), n(3)))])).toBe('(1 (2)(3))');
    expect(formatThreads([n(1, n(null, n(2, n(4))))])).toBe('(1 2 4)');
    expect(formatThreads([n(null, n(7))])).toBe('(7)');
    expect(formatThreads([n(null)])).toBe('');
    expect(formatThreads([n(null, n(null, n(1), n(2)), n(3))])).toBe('((1)(2)(3))');
  });

  it('renders a deep chain without recursion', () => {
    let node = n(20_000);
    for (let i = 19_999; i >= 1; i--) node = n(i, node);
    const s = formatThreads([node]);
    expect(s.length).toBeGreaterThan(100_000);
    expect(s.startsWith('(1 2 3 ')).toBe(true);
    expect(s.endsWith(' 19999 20000)')).toBe(true);
  });
});

describe('threadOrderedSubject (RFC 5256 §3 ORDEREDSUBJECT)', () => {
  it('reproduces the shape of the RFC 5256 example response', () => {
    // From "* THREAD ... (174 (175)(176)(178)(181)(180))(179) ... (194 195)(196 (197)(198)) ...":
    // children follow their sent date (181 before 180), threads their first message's date.
    const ms = [
      msg(174, { subject: 'Meeting', date: 1 }),
      msg(175, { subject: 'Re: Meeting', date: 2 }),
      msg(176, { subject: 're: meeting', date: 3 }),
      msg(178, { subject: 'Re: [list] Meeting', date: 4 }),
      msg(180, { subject: 'Fwd: Meeting', date: 7 }),
      msg(181, { subject: 'Meeting (fwd)', date: 6 }),
      msg(179, { subject: 'Lunch', date: 5 }),
      msg(194, { subject: 'Budget', date: 8 }),
      msg(195, { subject: 'RE: Budget', date: 9 }),
      msg(196, { subject: 'Plans', date: 10 }),
      msg(197, { subject: 'Re: Plans', date: 11 }),
      msg(198, { subject: 'Re: Re: Plans', date: 12 }),
    ];
    expect(ordered(ms)).toBe('(174 (175)(176)(178)(181)(180))(179)(194 195)(196 (197)(198))');
  });

  it('ignores references and breaks date ties by id', () => {
    const ms = [msg(3, { subject: 'x', date: 5 }), reply(2, [3], { subject: 'x', date: 5 }), msg(1, { subject: 'y', date: 5 })];
    expect(ordered(ms)).toBe('(1)(2 3)');
  });

  it('threads empty subjects together', () => {
    expect(ordered([msg(1, { subject: '' }), msg(2, { subject: 'Re:' }), msg(3, { subject: 'z' })])).toBe('(1 2)(3)');
  });
});

describe('threadReferences (RFC 5256 §3 REFERENCES)', () => {
  it('builds the RFC 5256 §4 example "(2)(3 6 (4 23)(44 7 96))" from References', () => {
    const ms = [
      msg(2, { subject: 'Other', date: 1 }),
      msg(3, { subject: 'Topic', date: 2 }),
      reply(6, [3], { subject: 'Re: Topic', date: 3 }),
      reply(4, [3, 6], { subject: 'Re: Topic', date: 4 }),
      reply(23, [3, 6, 4], { subject: 'Re: Topic', date: 5 }),
      reply(44, [3, 6], { subject: 'Re: Topic', date: 6 }),
      reply(7, [3, 6, 44], { subject: 'Re: Topic', date: 7 }),
      reply(96, [3, 6, 44, 7], { subject: 'Re: Topic', date: 8 }),
    ];
    expect(refs(ms)).toBe('(2)(3 6 (4 23)(44 7 96))');
  });

  it('keeps a top-level dummy with several children, as in the RFC 5256 example "((170)(179))"', () => {
    const ms = [
      reply(170, [1], { subject: 'Re: lost', date: 1 }),
      msg(171, { subject: 'other', date: 2 }),
      reply(179, [1], { subject: 'Re: lost', date: 3 }),
    ];
    expect(refs(ms)).toBe('((170)(179))(171)');
  });

  it('drops a dummy with one child and dummies without children (step 3)', () => {
    // 5 -> dummy m2 -> dummy m1: both dummies go; 6 refers to a missing message only.
    const ms = [
      msg(5, { references: ['<m1@x>', '<m2@x>'] }),
      msg(6, { inReplyTo: '<m9@x>' }),
    ];
    expect(refs(ms)).toBe('(5)(6)');
    expect(threadReferences(ms)).toEqual([{ id: 5, children: [] }, { id: 6, children: [] }]);
  });

  it('splices the children of an inner dummy into its parent (step 3)', () => {
    // 1 <- missing m <- 2, 3
    const ms = [msg(1), msg(2, { references: ['<1@example.org>', '<m@x>'] }), msg(3, { references: ['<1@example.org>', '<m@x>'] })];
    expect(refs(ms)).toBe('(1 (2)(3))');
  });

  it('sorts a top-level dummy by its first child (steps 4 and 6)', () => {
    const ms = [
      msg(1, { subject: 'first', date: 5 }),
      reply(2, [99], { subject: 'a', date: 3 }),
      reply(3, [99], { subject: 'b', date: 9 }),
      msg(4, { subject: 'last', date: 10 }),
    ];
    expect(refs(ms)).toBe('((2)(3))(1)(4)');
  });

  it('uses In-Reply-To when there are no (valid) References', () => {
    expect(refs([msg(1), msg(2, { inReplyTo: '<1@example.org>' })])).toBe('(1 2)');
    expect(refs([msg(1), msg(2, { inReplyTo: '<1@example.org>', references: ['', '  '] })])).toBe('(1 2)');
    // With References present, In-Reply-To is not used.
    expect(refs([msg(1), msg(2), msg(3, { inReplyTo: '<1@example.org>', references: ['<2@example.org>'] })])).toBe('(1)(2 3)');
  });

  it('normalises quoting in Message-IDs and compares them case-sensitively', () => {
    expect(refs([msg(1, { messageId: '<"01KF8JCEOCBS0045PS"@xxx.yyy.com>' }), msg(2, { references: ['01KF8JCEOCBS0045PS@xxx.yyy.com'] })])).toBe('(1 2)');
    expect(refs([msg(1, { messageId: 'ABC@x' }), msg(2, { references: ['abc@x'] })])).toBe('(1)(2)');
    expect(normaliseMessageId('< a b@c >')).toBe('ab@c');
    expect(normaliseMessageId('"a\\"b"@c')).toBe('a"b@c');
    expect(normaliseMessageId(null)).toBe('');
    // A whole In-Reply-To value as written: its first id.
    expect(normaliseMessageId('<a@x> (comment) <b@x>')).toBe('a@x');
    expect(refs([msg(1), msg(2, { inReplyTo: '<1@example.org> <9@example.org>' })])).toBe('(1 2)');
  });

  it('gives a duplicated Message-ID to the lowest-numbered message only (step 1.A)', () => {
    const ms = [
      msg(1, { messageId: 'dup@x', subject: 'one' }),
      msg(2, { messageId: 'dup@x', subject: 'two' }),
      msg(3, { references: ['<dup@x>'], subject: 'three' }),
    ];
    expect(refs(ms)).toBe('(1 3)(2)');
    // Whatever order they come in.
    expect(refs([ms[2], ms[1], ms[0]])).toBe('(1 3)(2)');
  });

  it('treats messages without a Message-ID as unique', () => {
    const ms = [msg(1, { messageId: null, subject: 'a' }), msg(2, { messageId: '', subject: 'b' }), msg(3, { references: [''], subject: 'c' })];
    expect(refs(ms)).toBe('(1)(2)(3)');
  });

  it('does not make loops (step 1.A and 1.B)', () => {
    // Each claims the other as its parent: the first link made wins, the second would close a loop.
    expect(refs([msg(1, { references: ['<2@example.org>'] }), msg(2, { references: ['<1@example.org>'] })])).toBe('(2 1)');
    // A message referring to itself.
    expect(refs([msg(1, { references: ['<1@example.org>'] })])).toBe('(1)');
    // References with a cycle inside, "1 2 1": 2 -> 1 would close a loop; 3's parent is its last reference, 1.
    expect(refs([msg(1), msg(2), msg(3, { references: ['<1@example.org>', '<2@example.org>', '<1@example.org>'] })])).toBe('(1 (2)(3))');
    // Three messages in a ring.
    expect(refs([
      msg(1, { references: ['<3@example.org>'] }), msg(2, { references: ['<1@example.org>'] }), msg(3, { references: ['<2@example.org>'] }),
    ])).toBe('(3 1 2)');
  });

  it('does not change a parent set by 1.A, but 1.B replaces it with the message\'s own last reference', () => {
    // 2 says 9 (missing) is the parent of 3; 3 itself says its parent is 1, and wins (1.B).
    const ms = [msg(1, { date: 1 }), msg(2, { references: ['<9@x>', '<3@example.org>'], date: 3 }), msg(3, { references: ['<1@example.org>'], date: 2 })];
    expect(refs(ms)).toBe('(1 3 2)');
    // 1.A: the first link made for 5 stays, whatever later References say.
    const ms2 = [msg(1), msg(2), msg(3, { references: ['<1@example.org>', '<5@x>'] }), msg(4, { references: ['<2@example.org>', '<5@x>'] })];
    expect(refs(ms2)).toBe('(1 (3)(4))(2)');
  });

  it('a message without references loses a parent given by others (step 1.B)', () => {
    // 1 claims 2 is the child of 3, but 2 has no references itself and is processed later.
    const ms = [msg(1, { references: ['<3@example.org>', '<2@example.org>'] }), msg(2, { subject: 'x' }), msg(3, { subject: 'y' })];
    expect(refs(ms)).toBe('(2 1)(3)');
  });

  describe('subject grouping (step 5)', () => {
    it('puts a reply below a non-reply of the same base subject', () => {
      expect(refs([msg(1, { subject: 'Hello' }), msg(2, { subject: 'Re: hello' })])).toBe('(1 2)');
    });

    it('prefers the non-reply as the table entry, even when it comes later (5.B.iv)', () => {
      expect(refs([msg(1, { subject: 'Re: Hello' }), msg(2, { subject: 'Hello' })])).toBe('(2 1)');
    });

    it('makes a dummy for two non-replies (or two replies) of one subject', () => {
      expect(refs([msg(1, { subject: 'Hello' }), msg(2, { subject: 'hello' }), msg(3, { subject: 'Other' })])).toBe('((1)(2))(3)');
      expect(refs([msg(1, { subject: 'Re: Hello' }), msg(2, { subject: 'Fwd: hello' })])).toBe('((1)(2))');
      // A third one joins the dummy.
      expect(refs([msg(1, { subject: 'Hello' }), msg(2, { subject: 'hello' }), msg(3, { subject: 'HELLO' })])).toBe('((1)(2)(3))');
    });

    it('merges into a dummy thread of the same subject', () => {
      // 2 and 3 under a missing parent; the dummy's subject is its first child's.
      const ms = [reply(2, [99], { subject: 'Re: Topic' }), reply(3, [99], { subject: 'Re: Topic' }), msg(4, { subject: 'Topic' })];
      expect(refs(ms)).toBe('((2)(3)(4))');
    });

    it('merges two dummy threads of the same subject', () => {
      const ms = [
        reply(1, [98], { subject: 'Re: Topic' }), reply(2, [98], { subject: 'Re: Topic' }),
        reply(3, [99], { subject: 'Re: Topic' }), reply(4, [99], { subject: 'Re: Topic' }),
      ];
      expect(refs(ms)).toBe('((1)(2)(3)(4))');
    });

    it('keeps whole threads together when merging', () => {
      const ms = [msg(1, { subject: 'Plan' }), reply(2, [1], { subject: 'Re: Plan' }), msg(3, { subject: 'Re: Plan' }), reply(4, [3], { subject: 'Re: Plan' })];
      expect(refs(ms)).toBe('(1 (2)(3 4))');
    });

    it('does not group empty subjects', () => {
      expect(refs([msg(1, { subject: '' }), msg(2, { subject: 'Re:' })])).toBe('(1)(2)');
    });

    it('groups only at the top level', () => {
      const ms = [msg(1, { subject: 'A' }), reply(2, [1], { subject: 'Hello' }), msg(3, { subject: 'Hello' })];
      expect(refs(ms)).toBe('(1 2)(3)');
    });
  });

  it('sorts every set of siblings by date, ties by id (step 6)', () => {
    const ms = [msg(1, { date: 1 }), reply(4, [1], { date: 5 }), reply(3, [1], { date: 5 }), reply(2, [1], { date: 9 })];
    expect(refs(ms)).toBe('(1 (3)(4)(2))');
  });

  it('handles a chain as long as a mailbox without recursion', () => {
    const ms: ThreadInput[] = [msg(1, { subject: 'long' })];
    for (let i = 2; i <= 20_000; i++) {
      ms.push(msg(i, { subject: 'Re: long', inReplyTo: `<${i - 1}@example.org>`, references: i > 3 ? [`<1@example.org>`, `<${i - 2}@example.org>`, `<${i - 1}@example.org>`] : [] }));
    }
    const t = performance.now();
    const s = refs(ms);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(s).toBe(`(${Array.from({ length: 20_000 }, (_, i) => i + 1).join(' ')})`);
    expect(ordered(ms).startsWith('(1 (2)(3)')).toBe(true);
  });
});

describe('threading properties', () => {
  const pool = ['a@x', 'b@x', 'c@x', 'd@x', 'e@x', '"a"@x', 'A@x', ''];
  const input = fc
    .uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 30 })
    .chain((ids) =>
      fc.tuple(
        ...ids.map((id) =>
          fc.record({
            id: fc.constant(id),
            messageId: fc.oneof(fc.constant(null), fc.constantFrom(...pool), fc.constant(`${id}@m`)),
            inReplyTo: fc.oneof(fc.constant(null), fc.constantFrom(...pool), fc.integer({ min: 1, max: 60 }).map((n) => `<${n}@m>`)),
            references: fc.array(fc.oneof(fc.constantFrom(...pool), fc.integer({ min: 1, max: 60 }).map((n) => `<${n}@m>`)), { maxLength: 6 }),
            subject: fc.constantFrom('', 'Hello', 'Re: Hello', 'hello (fwd)', '[fwd: Hello]', 'Other', 'Re: other', 'x'),
            date: fc.integer({ min: 0, max: 5 }).map((d) => T0 + d),
          }),
        ),
      ),
    );

  function ids(nodes: ThreadNode[]): (number | null)[] {
    const out: (number | null)[] = [];
    const stack = [...nodes];
    while (stack.length > 0) {
      const n = stack.pop()!;
      out.push(n.id);
      stack.push(...n.children);
    }
    return out;
  }

  function numbersIn(s: string): number[] {
    return (s.match(/\d+/g) ?? []).map(Number).sort((a, b) => a - b);
  }

  function balanced(s: string): boolean {
    let depth = 0;
    for (const c of s) {
      if (c === '(') depth++;
      else if (c === ')' && --depth < 0) return false;
    }
    return depth === 0 && !s.includes('()');
  }

  it('every id appears exactly once, in both algorithms and in the payload', () => {
    fc.assert(
      fc.property(input, (ms) => {
        const want = ms.map((m) => m.id).sort((a, b) => a - b);
        for (const algo of [threadReferences, threadOrderedSubject]) {
          const out = algo(ms);
          const got = ids(out).filter((x): x is number => x !== null).sort((a, b) => a - b);
          expect(got).toEqual(want);
          const s = formatThreads(out);
          expect(numbersIn(s)).toEqual(want);
          expect(balanced(s)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('REFERENCES: dummies only at the top level, each with at least two children', () => {
    fc.assert(
      fc.property(input, (ms) => {
        for (const top of threadReferences(ms)) {
          if (top.id === null) expect(top.children.length).toBeGreaterThanOrEqual(2);
          expect(ids(top.children)).not.toContain(null);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('ORDEREDSUBJECT: no grandchildren', () => {
    fc.assert(
      fc.property(input, (ms) => {
        for (const top of threadOrderedSubject(ms)) {
          expect(top.id).not.toBeNull();
          for (const c of top.children) expect(c.children).toEqual([]);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('does not depend on the order of the input', () => {
    fc.assert(
      fc.property(input, fc.integer(), (ms, seed) => {
        const shuffled = [...ms].sort((a, b) => ((a.id * 7919 + seed) % 101) - ((b.id * 7919 + seed) % 101));
        expect(refs(shuffled)).toBe(refs(ms));
        expect(ordered(shuffled)).toBe(ordered(ms));
      }),
      { numRuns: 1000 },
    );
  });

  it('takes a repeated id once', () => {
    const out = threadReferences([msg(1), msg(1, { subject: 'again' }), msg(2)]);
    expect(formatThreads(out)).toBe('(1)(2)');
  });
});
