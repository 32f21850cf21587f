/**
 * Starts the Python server on a fresh database (tests/support/live_server.py) and
 * stops it: the TypeScript client is tested against the real thing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export interface LiveServer {
  address: string;
  stop(): Promise<void>;
}

export async function startLiveServer(): Promise<LiveServer> {
  const python = process.env.SESSIONS_PYTHON ?? `${ROOT}.venv/bin/python`;
  const child: ChildProcess = spawn(python, ["-m", "tests.support.live_server"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(([code]) => {
      throw new Error(`the server helper exited with ${code} before serving`);
    }),
  ])) as [string];
  const { address } = JSON.parse(first) as { address: string };
  return {
    address,
    async stop() {
      const exited = once(child, "exit");
      child.stdin!.end();
      await exited;
    },
  };
}
