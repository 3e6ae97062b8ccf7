/**
 * The MIME parser (pure; imports nothing above lib/): parseMessage runs once per message at
 * delivery, and its JSON-safe result answers IMAP ENVELOPE, BODYSTRUCTURE and BODY[section]
 * and JMAP Email properties later. The helpers decode what the parse leaves as written.
 */
export type { Address, Disposition, EmbeddedMessage, Envelope, HeaderField, MimePart, ParsedMessage, ParseOptions } from './types.ts';
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_HEADER_FIELDS, DEFAULT_MAX_PARTS, countLines, parseMessage } from './parse.ts';
export { addrSpecs, parseAddressList } from './address-list.ts';
export { decodeCharset } from './charset.ts';
export { filenameOf, parseContentType, parseDisposition, parseEncoding, parseLanguage, parseParameterised } from './content-header.ts';
export type { ContentType } from './content-header.ts';
export { parseDate } from './date.ts';
export { decodeEncodedWords } from './encoded-word.ts';
export { buildEnvelope, parseMessageIds } from './envelope.ts';
export { getHeader, getHeaders, parseHeaderSection } from './header.ts';
export type { HeaderSection } from './header.ts';
export { PREVIEW_CHARS, buildPreview, hasAttachment, htmlToText } from './preview.ts';
export { decodeBase64, decodeBody, decodeQuotedPrintable } from './transfer-encoding.ts';
export { DEFAULT_MAX_CHARS, DEFAULT_MAX_TOKENS, HEADER_FIELDS, MAX_TOKEN_CHARS, extractText, foldText, indexDocument, searchTokens, type IndexText } from './text.ts';
