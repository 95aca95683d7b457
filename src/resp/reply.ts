// Reply framer: finds where each top-level reply ends in a node's byte stream, for RESP2 and RESP3,
// without decoding it, so replies can be forwarded byte for byte while the session still knows
// which request each belongs to.
//
// RESP3 (https://github.com/redis/redis-specification/blob/master/protocol/RESP3.md): an attribute
// (`|`) precedes the reply it annotates and is not a reply of its own; a push (`>`) answers no
// request. Bulk payloads are skipped by length, so a 100 MB value costs no copying: the framer only
// counts bytes. For the few replies the session must understand (errors, pub/sub frames) it keeps
// a short prefix: the error code, or the first element of an array/push.

export interface ReplyInfo {
  /** The type byte of the reply: '+', '-', ':', '$', '*', '>', '%', ... */
  type: number;
  /** For `-` and `!` replies: the error code (first word), e.g. "READONLY", "UNBLOCKED". */
  errorCode: string | undefined;
  /** For `*` and `>` replies when `inspectArrays` (always for `>`): the first element when it is a
   * short string (e.g. "message", "subscribe", "pong"). */
  head: string | undefined;
  /** A top-level null: `*-1`, `$-1` or `_` (e.g. the EXEC of a transaction whose WATCH failed). */
  nil: boolean;
}

const CR = 13;

const enum St {
  Type, // expecting a type byte
  Line, // in a simple line (+ - : _ , # ( ) until CR
  Number, // in a length/count line until CR
  SkipLF,
  Body, // skipping a bulk payload + CRLF
}

const HEAD_MAX = 32;

/** Thrown into the session when a node sends bytes that are not RESP: the link is cut. */
export class ReplyProtocolError extends Error {}

export class ReplyFramer {
  /** Capture the first element of `*` replies (pub/sub mode); `>` pushes are always inspected. */
  inspectArrays = false;

  private st: St = St.Type;
  /** Remaining element counts of open aggregates, innermost last; `isAttr` marks attributes. */
  private stack: number[] = [];
  private isAttr: boolean[] = [];
  private curType = 0;
  private num = 0;
  private neg = false;
  private bodyLeft = 0;
  /** What the scalar being read is captured as: 0 nothing, 1 the error code, 2 the head. */
  private capture: 0 | 1 | 2 = 0;
  private capBuf = Buffer.allocUnsafe(HEAD_MAX);
  private capLen = 0;
  /** 0: no head wanted; 1: the next element at depth 1 is the head; 2: head seen. */
  private headState: 0 | 1 | 2 = 0;
  /** A top-level attribute is done and the reply it annotates has not come yet. */
  private attrPending = false;
  private readonly info: ReplyInfo = { type: 0, errorCode: undefined, head: undefined, nil: false };

  /**
   * Frames `chunk`; calls `onReply(end, info)` for each top-level reply completed, where `end` is
   * the offset just past it in this chunk. `info` is reused between calls: copy what you keep.
   * Throws ReplyProtocolError on bytes that are not RESP.
   */
  push(chunk: Buffer, onReply: (end: number, info: ReplyInfo) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.st) {
        case St.Type: {
          const t = chunk[i++];
          const depth = this.stack.length;
          if (depth === 0) {
            this.info.type = t;
            this.info.errorCode = undefined;
            this.info.head = undefined;
            this.info.nil = t === 0x5f;
            this.headState = t === 0x3e /* > */ || (t === 0x2a /* * */ && this.inspectArrays) ? 1 : 0;
          }
          this.curType = t;
          // The first element of an inspected top-level array, when it is a string, is its head.
          let capture: 0 | 1 | 2 = 0;
          // FIX: an attribute before the first element is not the element (it left head undefined).
          if (depth === 1 && this.headState === 1 && !this.isAttr[0] && t !== 0x7c /* | */) {
            this.headState = 2;
            if (t === 0x2b || t === 0x24) capture = 2;
          } else if (depth === 0 && (t === 0x2d || t === 0x21)) {
            capture = 1;
          }
          this.capture = capture;
          this.capLen = 0;
          switch (t) {
            case 0x2b: // + simple string
            case 0x2d: // - error
            case 0x3a: // : integer
            case 0x5f: // _ null
            case 0x2c: // , double
            case 0x23: // # boolean
            case 0x28: // ( big number
              this.st = St.Line;
              break;
            case 0x24: // $ bulk
            case 0x21: // ! blob error
            case 0x3d: // = verbatim
            case 0x2a: // * array
            case 0x25: // % map
            case 0x7e: // ~ set
            case 0x3e: // > push
            case 0x7c: // | attribute
              this.num = 0;
              this.neg = false;
              this.st = St.Number;
              break;
            default:
              throw new ReplyProtocolError(`unexpected reply type byte 0x${t.toString(16)}`);
          }
          break;
        }
        case St.Line: {
          const cr = chunk.indexOf(CR, i);
          const stop = cr < 0 ? n : cr;
          if (this.capture !== 0) this.captureBytes(chunk, i, stop);
          if (cr < 0) {
            i = n;
            break;
          }
          i = cr + 1;
          this.st = St.SkipLF;
          break;
        }
        case St.Number: {
          for (; i < n; i++) {
            const b = chunk[i];
            if (b === CR) break;
            if (b === 0x2d) this.neg = true;
            else if (b >= 0x30 && b <= 0x39) this.num = this.num * 10 + (b - 0x30);
            else throw new ReplyProtocolError('invalid length in reply');
          }
          if (i === n) break;
          i++;
          this.st = St.SkipLF;
          break;
        }
        case St.SkipLF: {
          i++;
          this.st = St.Type;
          const t = this.curType;
          if (this.neg && this.stack.length === 0 && (t === 0x2a || t === 0x24)) this.info.nil = true;
          if (t === 0x24 || t === 0x21 || t === 0x3d) {
            if (this.neg) {
              // `$-1`: the RESP2 null bulk string.
              if (this.endItem()) onReply(i, this.info);
            } else {
              this.bodyLeft = this.num + 2;
              this.st = St.Body;
            }
          } else if (t === 0x2a || t === 0x25 || t === 0x7e || t === 0x3e || t === 0x7c) {
            let count = this.neg ? 0 : this.num;
            if (t === 0x25 || t === 0x7c) count *= 2;
            if (count === 0) {
              if (t !== 0x7c) {
                if (this.endItem()) onReply(i, this.info);
              } else if (this.stack.length === 0) {
                this.attrPending = true; // `|0` is an (empty) attribute too
              }
            } else {
              this.stack.push(count);
              this.isAttr.push(t === 0x7c);
            }
          } else if (this.endItem()) {
            onReply(i, this.info);
          }
          break;
        }
        case St.Body: {
          const take = Math.min(this.bodyLeft, n - i);
          if (this.capture !== 0 && this.bodyLeft > 2) {
            this.captureBytes(chunk, i, i + Math.min(take, this.bodyLeft - 2));
          }
          i += take;
          this.bodyLeft -= take;
          if (this.bodyLeft > 0) break;
          this.st = St.Type;
          if (this.endItem()) onReply(i, this.info);
          break;
        }
      }
    }
  }

  /** True while no reply is partially framed (a reply boundary). */
  get atBoundary(): boolean {
    // FIX: not after a top-level attribute: its bytes belong to the reply that follows.
    return this.st === St.Type && this.stack.length === 0 && !this.attrPending;
  }

  private captureBytes(chunk: Buffer, s: number, e: number): void {
    const take = Math.min(HEAD_MAX - this.capLen, e - s);
    if (take > 0) {
      chunk.copy(this.capBuf, this.capLen, s, s + take);
      this.capLen += take;
    }
  }

  /**
   * An item (scalar or completed aggregate) ended: pop finished aggregates. Returns true when a
   * whole top-level reply is complete. A finished attribute does not count as an item of its
   * parent: the item it annotates follows.
   */
  private endItem(): boolean {
    if (this.capture === 1) {
      const line = this.capBuf.toString('latin1', 0, this.capLen);
      const sp = line.indexOf(' ');
      this.info.errorCode = sp < 0 ? line : line.slice(0, sp);
      this.capture = 0;
    } else if (this.capture === 2) {
      this.info.head = this.capBuf.toString('latin1', 0, this.capLen).toLowerCase();
      this.capture = 0;
    }
    const st = this.stack;
    for (;;) {
      const depth = st.length;
      if (depth === 0) {
        this.attrPending = false;
        return true;
      }
      if (--st[depth - 1] > 0) return false;
      st.pop();
      if (this.isAttr.pop()) {
        // The attribute is done; the annotated item has yet to come.
        if (depth === 1) this.attrPending = true;
        return false;
      }
    }
  }
}
