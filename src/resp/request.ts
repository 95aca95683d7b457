// Request framer: finds command boundaries in a client's byte stream without decoding it.
//
// It mirrors Redis's own request parser (src/networking.c, processMultibulkBuffer and
// processInlineBuffer in 7.0) so that the proxy and the node behind it always agree on where a
// command ends, and it answers malformed input with Redis's own wording (see PROTOCOL.md). Bytes
// are forwarded as the client sent them: a command is a slice of the chunk it arrived in, or the
// list of slices when it spanned several chunks. The command name (and the first argument, for
// container commands like CLIENT) is looked up straight from the bytes.

/** Looks a command name up from raw bytes, case-insensitively, without allocating. */
export interface NameLookup<S> {
  lookup(buf: Buffer, start: number, end: number): S | undefined;
}

export interface RequestLimits {
  /** `proto-max-bulk-len` */
  maxBulkBytes: number;
  /** Largest accepted multibulk count (Redis: INT_MAX). */
  maxMultibulkLength: number;
}

/** Redis's PROTO_INLINE_MAX_SIZE: inline requests and `*`/`$` header lines. */
export const INLINE_MAX = 64 * 1024;
/** Before authentication Redis accepts at most this many arguments and bulk bytes. */
export const UNAUTH_MAX_MULTIBULK = 10;
export const UNAUTH_MAX_BULK = 16 * 1024;

export interface Command<S> {
  /** The client's bytes: one slice, or slices of consecutive chunks. */
  data: Buffer | Buffer[];
  size: number;
  argc: number;
  /** What `NameLookup` found for the name; undefined for an unknown command. */
  spec: S | undefined;
  /** First argument after the name (e.g. "SETNAME" of CLIENT SETNAME), when short (≤ 64 bytes);
   * copied, so it stays valid. */
  arg1: Buffer | undefined;
  inline: boolean;
  /** When `data` is one slice of a chunk: that chunk and the offset in it (lets a caller join
   * adjacent commands without looking at buffers); otherwise undefined and -1. */
  src: Buffer | undefined;
  off: number;
}

/** A framed command. Its `data` slice is made on first use: a command forwarded in a run with its
 * neighbours (`src`, `off`, `size`) never needs one. */
class FramedCommand<S> implements Command<S> {
  private d: Buffer | Buffer[] | undefined;
  constructor(
    readonly src: Buffer | undefined,
    readonly off: number,
    readonly size: number,
    readonly argc: number,
    readonly spec: S | undefined,
    readonly arg1: Buffer | undefined,
    readonly inline: boolean,
    parts: Buffer[] | undefined,
  ) {
    this.d = parts;
  }

  get data(): Buffer | Buffer[] {
    return (this.d ??= this.src!.subarray(this.off, this.off + this.size));
  }
}

const CR = 13;
const LF = 10;

const enum St {
  Start, // at a command boundary
  Count, // in `*<count>` digits
  BulkHdr, // expecting `$`
  BulkLen, // in `$<len>` digits
  Body, // in a bulk payload (+ CRLF)
  Inline, // in an inline line
  SkipLF, // after the CR of a header line
  Stuck, // a line with a NUL byte before its end: never ends (see below)
}

/** |LLONG_MIN|: string2ll's bound, for deciding 19-digit header numbers exactly. */
const LLONG_MIN_DIGITS = '9223372036854775808';

export class ProtocolError extends Error {
  constructor(readonly reply: string) {
    super(reply);
  }
}

/**
 * Incremental request framer. `push(chunk, onCommand)` reports every command completed by the
 * chunk, in order; a protocol error stops framing for good (the session answers it and closes).
 */
export class RequestFramer<S> {
  /** Stricter limits before authentication (only when the proxy itself authenticates clients). */
  unauthenticated = false;

  private st: St = St.Start;
  private afterLF: St = St.Start;
  private num = 0;
  private numNeg = false;
  private numDigits = 0;
  private numBad = false;
  /** Digit string compared with LLONG_MIN_DIGITS so far: -1, 0 or 1. */
  private numCmp = 0;
  private hdrLen = 0;
  /** Which header line SkipLF ends (Count or BulkLen), and the first byte of a bulk header. */
  private hdrKind: St = St.Count;
  private hdrFirst = 0;
  /** St.Stuck: bytes of the line so far, and the error once they exceed INLINE_MAX. */
  private stuckLen = 0;
  private stuckMsg = '';
  private argsLeft = 0;
  private argIndex = 0;
  private argc = 0;
  private bodyLeft = 0;
  private argStartChunk = 0; // index into parts (parts.length) where the current arg starts
  private argStartOff = 0;
  private argLen = 0;
  private spec: S | undefined;
  private arg1: Buffer | undefined;
  private failed: ProtocolError | undefined;
  /** Slices of earlier chunks that belong to the command in progress. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private cmdStart = 0;
  private inlineLen = 0;
  /** Scratch for a name or argument that spans chunks. */
  private scratch: Buffer | undefined;
  private scratchLen = 0;

  constructor(
    private readonly names: NameLookup<S>,
    private readonly limits: RequestLimits,
    private readonly subLookup?: (spec: S) => boolean,
  ) {}

  /** Bytes held for a command not yet complete. */
  get bufferedBytes(): number {
    return this.partsBytes;
  }

  get error(): ProtocolError | undefined {
    return this.failed;
  }

  /**
   * Frames `chunk`. Calls `onCommand` for each complete command; returns a ProtocolError (also kept
   * in `error`) when the input is malformed — commands before the error were still reported.
   */
  push(chunk: Buffer, onCommand: (cmd: Command<S>) => void): ProtocolError | undefined {
    if (this.failed) return this.failed;
    const n = chunk.length;
    let i = 0;
    this.cmdStart = 0;
    while (i < n) {
      switch (this.st) {
        case St.Start: {
          const b = chunk[i];
          this.cmdStart = i;
          if (b === 0x2a /* * */) {
            // Fast path: a well-formed command wholly in this chunk (the steady state).
            const end = this.frameWhole(chunk, i, n);
            if (end > 0) {
              this.emit(chunk, end, onCommand, false);
              i = end;
              break;
            }
            this.beginNumber();
            this.st = St.Count;
            i++;
          } else {
            this.inlineLen = 0;
            this.st = St.Inline;
          }
          break;
        }
        case St.Count:
        case St.BulkLen: {
          // Digits until CR. Redis looks for '\r' and parses the line with string2ll.
          const big = this.st === St.Count ? 'too big mbulk count string' : 'too big bulk count string';
          for (; i < n; i++) {
            const b = chunk[i];
            if (b === CR || b === 0) break;
            this.digit(b);
          }
          // FIX: Redis answers "too big" when a header line (type byte included) passes 64 KB before its
          // '\r' shows up; check it whether or not the '\r' is in this chunk, so that the answer does
          // not depend on how the input was split (it was checked only at a chunk's end, from the
          // second byte on).
          if (this.hdrLen + 1 > INLINE_MAX) return this.fail(big);
          if (i === n) break;
          if (chunk[i] === 0) {
            // FIX: Redis finds the '\r' with strchr, which stops at a NUL: the line never ends.
            this.stuck(this.hdrLen + 1, big);
            break;
          }
          i++; // the CR
          this.hdrKind = this.st;
          this.st = St.SkipLF;
          break;
        }
        case St.SkipLF: {
          // Redis skips the byte after '\r' without checking it: so do we.
          i++;
          // FIX: Redis parses a header line only once that byte is in (`*x\r` alone is no error yet).
          const e = this.hdrKind === St.Count ? this.endCount() : this.endBulkLen();
          if (e) return this.fail(e);
          this.st = this.afterLF;
          if (this.st === St.Start) {
            // An empty multibulk (`*0`, `*-1`): ignored, no reply.
            this.dropCommand(chunk, i);
          } else if (this.st === St.Body) {
            this.argStartChunk = this.parts.length;
            this.argStartOff = i;
          }
          break;
        }
        case St.BulkHdr: {
          // FIX: Redis reads the whole line before it checks for '$': `*1\r\nfoo` is no error until
          // the '\r\n' comes, a 64 KB line without '\r' is "too big bulk count string", and a NUL
          // makes the line endless. So the first byte is kept and checked in endBulkLen.
          const b = chunk[i];
          this.beginNumber();
          this.hdrFirst = b;
          this.st = St.BulkLen;
          if (b === 0) this.stuck(0, 'too big bulk count string');
          else if (b !== CR) i++; // a '\r' ends the (empty) line: leave it to BulkLen
          if (b !== 0x24 /* $ */) this.numBad = true;
          break;
        }
        case St.Body: {
          const take = Math.min(this.bodyLeft, n - i);
          i += take;
          this.bodyLeft -= take;
          if (this.bodyLeft > 0) break;
          // Payload and its CRLF are consumed: the argument is complete.
          this.endArg(chunk, i);
          if (--this.argsLeft === 0) {
            this.emit(chunk, i, onCommand, false);
            this.st = St.Start;
          } else {
            this.st = St.BulkHdr;
          }
          break;
        }
        case St.Inline: {
          const nl = chunk.indexOf(LF, i);
          // FIX: Redis finds the '\n' with strchr, which stops at a NUL: such a line never ends
          // (Redis waits until it is over 64 KB). Forwarding it would wedge the node's connection.
          if (chunk.subarray(i, nl < 0 ? n : nl).indexOf(0) >= 0) {
            this.stuck(this.inlineLen, 'too big inline request');
            break;
          }
          if (nl < 0) {
            this.inlineLen += n - i;
            if (this.inlineLen > INLINE_MAX) return this.fail('too big inline request');
            i = n;
            break;
          }
          this.inlineLen += nl - i;
          if (this.inlineLen > INLINE_MAX) return this.fail('too big inline request');
          i = nl + 1;
          const err = this.endInline(chunk, i, onCommand);
          if (err) return this.fail(err);
          this.st = St.Start;
          break;
        }
        case St.Stuck: {
          this.stuckLen += n - i;
          i = n;
          if (this.stuckLen > INLINE_MAX) return this.fail(this.stuckMsg);
          break;
        }
      }
    }
    // Keep the unfinished command's bytes of this chunk.
    if (this.st !== St.Start && this.cmdStart < n) {
      const tail = this.cmdStart === 0 ? chunk : chunk.subarray(this.cmdStart);
      this.parts.push(tail);
      this.partsBytes += tail.length;
    }
    return undefined;
  }

  /**
   * Frames the multibulk command starting at `i` (its `*`) in one pass when it is complete in this
   * chunk and unremarkable: counts and lengths of 1–9 plain digits, `\r\n` after each header, within
   * every limit. Returns the offset after it (argc, spec and arg1 set), or -1 to leave the command
   * to the byte-at-a-time state machine, which handles everything else (partial input, errors,
   * Redis's quirks) — so both paths agree wherever this one answers.
   */
  private frameWhole(chunk: Buffer, i: number, n: number): number {
    let j = i + 1;
    // `*<count>\r\n`
    let c = j < n ? chunk[j] : 0;
    if (c < 0x31 || c > 0x39) return -1;
    let count = 0;
    let digits = 0;
    while (j < n && (c = chunk[j]) >= 0x30 && c <= 0x39) {
      count = count * 10 + (c - 0x30);
      j++;
      if (++digits > 9) return -1;
    }
    if (j + 1 >= n || c !== CR || chunk[j + 1] !== LF) return -1;
    j += 2;
    if (count > this.limits.maxMultibulkLength || (this.unauthenticated && count > UNAUTH_MAX_MULTIBULK)) return -1;
    const maxBulk = this.unauthenticated ? Math.min(UNAUTH_MAX_BULK, this.limits.maxBulkBytes) : this.limits.maxBulkBytes;
    let spec: S | undefined;
    let arg1: Buffer | undefined;
    for (let a = 0; a < count; a++) {
      // `$<len>\r\n<payload>\r\n`
      if (j + 1 >= n || chunk[j] !== 0x24 /* $ */) return -1;
      j++;
      c = chunk[j];
      if (c < 0x30 || c > 0x39) return -1;
      let len = 0;
      digits = 0;
      while (j < n && (c = chunk[j]) >= 0x30 && c <= 0x39) {
        len = len * 10 + (c - 0x30);
        j++;
        if (++digits > 9) return -1;
      }
      if (digits > 1 && chunk[j - digits] === 0x30) return -1; // a leading zero
      if (j + 1 >= n || c !== CR || chunk[j + 1] !== LF) return -1;
      if (len > maxBulk) return -1;
      const s = j + 2;
      j = s + len + 2; // Redis skips the payload's CRLF unchecked, as the state machine does
      if (j > n) return -1;
      if (a === 0) {
        if (len <= 64) spec = this.names.lookup(chunk, s, s + len);
      } else if (a === 1 && len <= 64 && spec !== undefined && this.subLookup?.(spec)) {
        arg1 = Buffer.from(chunk.subarray(s, s + len));
      }
    }
    this.argc = count;
    this.spec = spec;
    this.arg1 = arg1;
    return j;
  }

  private fail(msg: string): ProtocolError {
    this.failed = new ProtocolError(`ERR Protocol error: ${msg}`);
    this.parts = [];
    this.partsBytes = 0;
    return this.failed;
  }

  /** The line being read has a NUL before its end: count its bytes from `len` on, until too big. */
  private stuck(len: number, msg: string): void {
    this.st = St.Stuck;
    this.stuckLen = len;
    this.stuckMsg = msg;
  }

  private beginNumber(): void {
    this.num = 0;
    this.numNeg = false;
    this.numDigits = 0;
    this.numBad = false;
    this.numCmp = 0;
    this.hdrLen = 0;
  }

  // string2ll semantics: optional '-', no leading zeros, no other characters.
  private digit(b: number): void {
    this.hdrLen++;
    if (b >= 0x30 && b <= 0x39) {
      if (this.numDigits === 1 && this.num === 0) this.numBad = true;
      if (this.numCmp === 0 && this.numDigits < 19) this.numCmp = Math.sign(b - LLONG_MIN_DIGITS.charCodeAt(this.numDigits));
      this.num = this.num * 10 + (b - 0x30);
      this.numDigits++;
      // FIX: 19 digits are valid when within a long long (`*-1000000000000000000` is an empty
      // multibulk for Redis, not an error); `num` is approximate there but only compared with limits.
      if (this.numDigits > 19) this.numBad = true;
    } else if (b === 0x2d /* - */ && this.hdrLen === 1) {
      this.numNeg = true;
    } else {
      this.numBad = true;
    }
  }

  private number(): number | undefined {
    if (this.numBad || this.numDigits === 0) return undefined;
    if (this.numNeg && this.num === 0) return undefined; // "-0" is not a valid long long string
    if (this.numDigits === 19 && (this.numNeg ? this.numCmp > 0 : this.numCmp >= 0)) return undefined; // overflow
    return this.numNeg ? -this.num : this.num;
  }

  private endCount(): string | undefined {
    const v = this.number();
    // FIX: the general limit first, then the one before authentication, in Redis's order (the
    // general limit was not checked at all when unauthenticated).
    if (v === undefined || v > 2147483647 || v > this.limits.maxMultibulkLength) return 'invalid multibulk length';
    if (this.unauthenticated && v > UNAUTH_MAX_MULTIBULK) return 'unauthenticated multibulk length';
    if (v <= 0) {
      this.afterLF = St.Start;
      return undefined;
    }
    this.argsLeft = v;
    this.argc = v;
    this.argIndex = 0;
    this.spec = undefined;
    this.arg1 = undefined;
    this.afterLF = St.BulkHdr;
    return undefined;
  }

  private endBulkLen(): string | undefined {
    if (this.hdrFirst !== 0x24 /* $ */) {
      // FIX: Redis's addReplyErrorFormat turns '\r' and '\n' into spaces (a raw CR broke the reply).
      const b = this.hdrFirst;
      return `expected '$', got '${b === CR || b === LF ? ' ' : String.fromCharCode(b)}'`;
    }
    const v = this.number();
    // FIX: Redis checks proto-max-bulk-len before the limit before authentication (see endCount).
    if (v === undefined || v < 0 || v > this.limits.maxBulkBytes) return 'invalid bulk length';
    if (this.unauthenticated && v > UNAUTH_MAX_BULK) return 'unauthenticated bulk length';
    this.argLen = v;
    this.bodyLeft = v + 2;
    this.afterLF = St.Body;
    return undefined;
  }

  /** The argument just finished at `end` (exclusive, after its CRLF): look at the first two. */
  private endArg(chunk: Buffer, end: number): void {
    const idx = this.argIndex++;
    if (idx > 1) return;
    if (idx === 1 && (this.spec === undefined || !this.subLookup?.(this.spec))) return;
    const len = this.argLen;
    // FIX: a long name (idx 0) is no command either: return before gather() copies all of it.
    if (len > 64) return;
    let buf: Buffer;
    let s: number;
    if (this.argStartChunk === this.parts.length) {
      // Contiguous in this chunk: the common case, no copy.
      buf = chunk;
      s = end - 2 - len;
      if (s < 0) {
        // The payload was in this chunk but its CRLF straddled: still contiguous before `end - 2`.
        buf = this.gather(chunk, end, len);
        s = 0;
      }
    } else {
      buf = this.gather(chunk, end, len);
      s = 0;
    }
    if (idx === 0) {
      this.spec = len > 64 ? undefined : this.names.lookup(buf, s, s + len);
    } else {
      this.arg1 = Buffer.from(buf.subarray(s, s + len));
    }
  }

  /** Copies an argument of `len` bytes ending 2 bytes before `end` (across chunks) into scratch. */
  private gather(chunk: Buffer, end: number, len: number): Buffer {
    if (!this.scratch || this.scratch.length < len) this.scratch = Buffer.allocUnsafe(Math.max(len, 64));
    // Walk back from the end: the CRLF, then `len` payload bytes.
    let need = len + 2;
    const pieces: Buffer[] = [...this.parts, chunk.subarray(this.cmdStart, end)];
    const flat: Buffer[] = [];
    for (let p = pieces.length - 1; p >= 0 && need > 0; p--) {
      const piece = pieces[p];
      const take = Math.min(need, piece.length);
      flat.unshift(piece.subarray(piece.length - take));
      need -= take;
    }
    const joined = Buffer.concat(flat);
    joined.copy(this.scratch, 0, 0, len);
    this.scratchLen = len;
    return this.scratch;
  }

  private emit(chunk: Buffer, end: number, onCommand: (cmd: Command<S>) => void, inline: boolean): void {
    let cmd: Command<S>;
    if (this.parts.length === 0) {
      cmd = new FramedCommand(chunk, this.cmdStart, end - this.cmdStart, this.argc, this.spec, this.arg1, inline, undefined);
    } else {
      const parts = [...this.parts, chunk.subarray(0, end)];
      cmd = new FramedCommand<S>(undefined, -1, this.partsBytes + end, this.argc, this.spec, this.arg1, inline, parts);
      this.parts = [];
      this.partsBytes = 0;
    }
    this.cmdStart = end;
    this.spec = undefined;
    this.arg1 = undefined;
    onCommand(cmd);
  }

  private dropCommand(_chunk: Buffer, end: number): void {
    this.parts = [];
    this.partsBytes = 0;
    this.cmdStart = end;
  }

  private endInline(chunk: Buffer, end: number, onCommand: (cmd: Command<S>) => void): string | undefined {
    // Tokenise only to learn the name and argument count; forward the original line.
    const line = this.parts.length === 0 ? chunk.subarray(this.cmdStart, end) : Buffer.concat([...this.parts, chunk.subarray(0, end)]);
    const args = splitInlineArgs(line);
    if (args === undefined) return 'unbalanced quotes in request';
    if (args.length === 0) {
      // Empty line (or only blanks): Redis ignores it.
      this.dropCommand(chunk, end);
      return undefined;
    }
    this.argc = args.length;
    this.spec = this.names.lookup(args[0], 0, args[0].length);
    // FIX: like multibulk commands, arg1 only for commands with subcommands (it was always set).
    const spec = this.spec;
    this.arg1 = args.length > 1 && args[1].length <= 64 && spec !== undefined && this.subLookup?.(spec) ? args[1] : undefined;
    this.emit(chunk, end, onCommand, true);
    return undefined;
  }
}

/**
 * Redis's sdssplitargs (src/sds.c) over one inline request line (with its "\n" or "\r\n"):
 * whitespace-separated words, "double quotes" with \xHH, \n, \r, \t, \b, \a escapes, 'single
 * quotes' with \' only. Returns undefined for unbalanced quotes, as Redis does.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | undefined {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  // sdssplitargs reads a C string: a NUL ends it.
  const z = line.indexOf(0);
  if (z >= 0 && z < end) end = z;
  const args: Buffer[] = [];
  let p = 0;
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
  const hexVal = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
  for (;;) {
    while (p < end && isSpace(line[p])) p++;
    if (p >= end) return args;
    const cur: number[] = [];
    let inq = false;
    let insq = false;
    let done = false;
    while (!done) {
      if (inq) {
        if (p >= end) return undefined;
        const c = line[p];
        if (c === 0x5c /* \ */ && p + 3 < end && line[p + 1] === 0x78 && isHex(line[p + 2]) && isHex(line[p + 3])) {
          cur.push(hexVal(line[p + 2]) * 16 + hexVal(line[p + 3]));
          p += 3;
        } else if (c === 0x5c && p + 1 < end) {
          p++;
          const e = line[p];
          cur.push(e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e === 0x62 ? 8 : e === 0x61 ? 7 : e);
        } else if (c === 0x22 /* " */) {
          // A closing quote must be followed by a space or the end.
          if (p + 1 < end && !isSpace(line[p + 1])) return undefined;
          done = true;
        } else {
          cur.push(c);
        }
      } else if (insq) {
        if (p >= end) return undefined;
        const c = line[p];
        if (c === 0x5c && p + 1 < end && line[p + 1] === 0x27) {
          p++;
          cur.push(0x27);
        } else if (c === 0x27 /* ' */) {
          if (p + 1 < end && !isSpace(line[p + 1])) return undefined;
          done = true;
        } else {
          cur.push(c);
        }
      } else {
        if (p >= end) {
          done = true;
          break;
        }
        const c = line[p];
        // FIX: an unquoted word ends only at ' ', '\n', '\r', '\t' (not '\v', '\f': `ECHO a\vb` has 2 args).
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) done = true;
        else if (c === 0x22) inq = true;
        else if (c === 0x27) insq = true;
        else cur.push(c);
      }
      if (p < end) p++;
    }
    args.push(Buffer.from(cur));
  }
}

/** Decodes a complete multibulk or inline command into its arguments (slow path: state-changing
 * commands such as SELECT, AUTH, HELLO, CLIENT SETNAME, SUBSCRIBE). */
export function commandArgs(cmd: { data: Buffer | Buffer[]; inline: boolean }): Buffer[] {
  const buf = Array.isArray(cmd.data) ? Buffer.concat(cmd.data) : cmd.data;
  if (cmd.inline) return splitInlineArgs(buf) ?? [];
  const args: Buffer[] = [];
  let i = buf.indexOf(CR);
  const count = Number(buf.toString('latin1', 1, i));
  i += 2;
  for (let a = 0; a < count; a++) {
    const cr = buf.indexOf(CR, i);
    const len = Number(buf.toString('latin1', i + 1, cr));
    const s = cr + 2;
    args.push(buf.subarray(s, s + len));
    i = s + len + 2;
  }
  return args;
}
