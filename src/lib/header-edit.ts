/**
 * Removes header fields from a message's header section by a predicate on the field name
 * and (unfolded) value, keeping every other byte as it was. Pure; returns the same Buffer
 * when nothing matched.
 */
export function removeHeaderFields(raw: Buffer, drop: (name: string, value: string) => boolean): Buffer {
  // A message that starts with an empty line has no header section at all.
  if (raw[0] === 0x0d && raw[1] === 0x0a) return raw;
  let end = raw.indexOf('\r\n\r\n');
  const headEnd = end < 0 ? raw.length : end + 2;
  const keep: Buffer[] = [];
  let changed = false;
  let pos = 0;
  while (pos < headEnd) {
    // One field: its first line and every continuation line (starting with SP or HTAB).
    let fieldEnd = pos;
    do {
      const nl = raw.indexOf('\r\n', fieldEnd);
      fieldEnd = nl < 0 || nl >= headEnd ? headEnd : nl + 2;
    } while (fieldEnd < headEnd && (raw[fieldEnd] === 0x20 || raw[fieldEnd] === 0x09));
    const text = raw.subarray(pos, fieldEnd).toString('latin1');
    const colon = text.indexOf(':');
    const name = colon > 0 ? text.slice(0, colon).trim() : '';
    if (name && drop(name, text.slice(colon + 1).replace(/\r\n[ \t]/g, ' ').trim())) changed = true;
    else keep.push(raw.subarray(pos, fieldEnd));
    pos = fieldEnd;
  }
  end = headEnd;
  return changed ? Buffer.concat([...keep, raw.subarray(end)]) : raw;
}
