// A FIFO queue on a growable ring buffer: O(1) push/shift without Array#shift's copying, which
// matters for deep pipelines (10,000 commands in flight in one session).
export class Deque<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private len = 0;

  constructor(capacity = 16) {
    this.buf = new Array(capacity);
  }

  get length(): number {
    return this.len;
  }

  push(v: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & (this.buf.length - 1)] = v;
    this.len++;
  }

  /** Puts `v` at the front (used to put never-sent commands back in order). */
  unshift(v: T): void {
    if (this.len === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = v;
    this.len++;
  }

  peek(): T | undefined {
    return this.len === 0 ? undefined : this.buf[this.head];
  }

  /** The most recently pushed element. */
  last(): T | undefined {
    return this.len === 0 ? undefined : this.buf[(this.head + this.len - 1) & (this.buf.length - 1)];
  }

  at(i: number): T | undefined {
    return i < 0 || i >= this.len ? undefined : this.buf[(this.head + i) & (this.buf.length - 1)];
  }

  shift(): T | undefined {
    if (this.len === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    return v;
  }

  /** Removes and returns the most recently pushed element. */
  pop(): T | undefined {
    if (this.len === 0) return undefined;
    this.len--;
    const i = (this.head + this.len) & (this.buf.length - 1);
    const v = this.buf[i];
    this.buf[i] = undefined;
    return v;
  }

  clear(): void {
    this.buf = new Array(16);
    this.head = 0;
    this.len = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.len; i++) yield this.buf[(this.head + i) & (this.buf.length - 1)] as T;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
