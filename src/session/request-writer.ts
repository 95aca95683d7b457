// The session's command writer: commands go to a link as the client's own bytes, and consecutive
// commands of one client chunk going to the same link are joined into one write — slices of the
// chunk, never copies (a pipeline of 16 commands is one write, or one run handed to the shared link,
// not 16). Whatever is joined is written before anything else reaches a link (`flush`).
import type { Command } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import { BackendLink } from './backend-link.js';
import type { SharedLink, SharedWaiter } from './shared-link.js';
import type { Entry } from './reply-queue.js';
import { type ClientWriter, PAUSE_BACKEND } from './client-writer.js';

type Cmd = Command<CommandSpec>;

export class RequestWriter {
  /** The client chunk being framed: commands sliced from it can be joined. */
  private curIn: Buffer | undefined;
  /** The link the joined range [wStart, wEnd) of `curIn` is due to, not yet written. */
  private wLink: BackendLink | SharedLink | undefined;
  private wStart = 0;
  private wEnd = 0;
  /** For the shared link: the run (queue entry) the joined commands belong to, and how many they are. */
  token: Entry | undefined;
  private wCount = 0;
  /** The session's side of the shared link (shared-lane.ts), set once when the session is made. */
  waiter!: SharedWaiter;

  constructor(private readonly writer: ClientWriter) {}

  /** The client chunk `chunk` is about to be framed. */
  begin(chunk: Buffer): void {
    this.curIn = chunk;
  }

  /** The chunk is framed: what was joined is written. */
  end(): void {
    this.flush();
    this.curIn = undefined;
  }

  /** Writes a command's bytes to a link — for the shared link, as part of the run `token` — joining
   * it to the previous one when both are adjacent slices of the chunk being framed (and of the same
   * run). */
  send(link: BackendLink | SharedLink, cmd: Cmd, token?: Entry): void {
    if (cmd.src !== undefined && cmd.src === this.curIn) {
      const s = cmd.off;
      if (this.wLink === link && this.token === token && this.wEnd === s) {
        this.wEnd = s + cmd.size;
        this.wCount++;
        return;
      }
      this.flush();
      this.wLink = link;
      this.token = token;
      this.wCount = 1;
      this.wStart = s;
      this.wEnd = s + cmd.size;
      return;
    }
    this.flush();
    if (link instanceof BackendLink) {
      if (!link.write(cmd.data)) this.writer.pause(PAUSE_BACKEND);
    } else {
      link.send(this.waiter, token, cmd.data, 1);
    }
  }

  /** Writes what `send` joined so far. */
  flush(): void {
    const link = this.wLink;
    if (link === undefined) return;
    this.wLink = undefined;
    const cur = this.curIn!;
    const bytes = this.wStart === 0 && this.wEnd === cur.length ? cur : cur.subarray(this.wStart, this.wEnd);
    if (link instanceof BackendLink) {
      if (!link.closed && !link.write(bytes)) this.writer.pause(PAUSE_BACKEND);
      return;
    }
    const token = this.token;
    this.token = undefined;
    link.send(this.waiter, token, bytes, this.wCount);
  }
}
