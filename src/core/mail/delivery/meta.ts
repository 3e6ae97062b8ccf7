/**
 * From a parsed message to what is stored with it: the fields listings sort and search on,
 * and the MIME structure (offsets, types, envelope) that IMAP and JMAP answer from. Header
 * field lists are left out of the stored structure: they are in the body bytes, at the
 * offsets the structure gives.
 */
import { parseMessage, type MimePart, type ParsedMessage } from '../../../lib/mime/index.ts';
import type { MessageMeta } from '../mailstore.ts';

type StoredPart = Omit<MimePart, 'headers' | 'parts' | 'message'> & {
  parts: StoredPart[];
  message: { envelope: ParsedMessage['envelope']; part: StoredPart } | null;
};

function strip(p: MimePart): StoredPart {
  const { headers: _h, parts, message, ...rest } = p;
  return {
    ...rest,
    parts: parts.map(strip),
    message: message ? { envelope: message.envelope, part: strip(message.part) } : null,
  };
}

export interface StoredStructure {
  /** Octets the delivery put in front of the parsed bytes (trace headers): add to offsets. */
  offset: number;
  part: StoredPart;
  envelope: ParsedMessage['envelope'];
  preview: string;
  headerSize: number;
  limits: boolean;
  /** Message-IDs of References, without angle brackets (threading; absent in structures stored before it was kept). */
  references?: string[];
}

export function messageMeta(raw: Uint8Array, offset = 0): MessageMeta {
  const p = parseMessage(raw);
  const structure: StoredStructure = {
    offset, part: strip(p.part), envelope: p.envelope, preview: p.preview, headerSize: p.headerSize, limits: p.limits,
    references: p.references,
  };
  return {
    subject: p.subject || null,
    from: p.from[0] ?? null,
    to: p.to[0] ?? null,
    sentDate: p.sentDate,
    messageId: p.messageId,
    hasAttachment: p.hasAttachment,
    parents: [...new Set([...p.inReplyTo, ...p.references])],
    structure,
  };
}
